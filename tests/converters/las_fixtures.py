"""Small LAS/LAZ files written with laspy for the reader tests (CRS records, colours, damage)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import laspy
import numpy as np
import numpy.typing as npt
import pyproj

GeoKey = tuple[int, int]
"""(key id, value) of a GeoTIFF key stored in the directory itself (tag location 0)."""


def geokey_vlr(keys: Sequence[GeoKey]) -> laspy.VLR:
    """A GeoKeyDirectory record (``LASF_Projection`` 34735) of short-valued keys."""
    directory = struct.pack("<4H", 1, 1, 0, len(keys)) + b"".join(
        struct.pack("<4H", key, 0, 1, value) for key, value in keys
    )
    return laspy.VLR("LASF_Projection", 34735, "GeoKeyDirectory", directory)


def wkt_vlr(wkt: str) -> laspy.VLR:
    """An OGC WKT record (``LASF_Projection`` 2112), NUL-terminated."""
    return laspy.VLR("LASF_Projection", 2112, "OGC WKT", wkt.encode() + b"\0")


def write_las(
    path: Path,
    xyz: npt.ArrayLike,
    *,
    point_format: int = 3,
    version: str = "1.2",
    scale: float = 0.001,
    vlrs: Sequence[laspy.VLR] = (),
    wkt_bit: bool = False,
    rgb: npt.ArrayLike | None = None,
    classification: npt.ArrayLike | None = None,
    intensity: npt.ArrayLike | None = None,
    returns: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
) -> Path:
    """Write points (N, 3) with the given records; ``.laz`` compresses."""
    pts = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    header = laspy.LasHeader(point_format=point_format, version=version)
    header.scales = np.array([scale, scale, scale])
    header.offsets = np.floor(pts.min(axis=0)) if len(pts) else np.zeros(3)
    header.vlrs.extend(vlrs)
    if wkt_bit:
        header.global_encoding.wkt = True
    data = laspy.LasData(header)
    data.x, data.y, data.z = pts[:, 0], pts[:, 1], pts[:, 2]
    if classification is not None:
        data.classification = np.asarray(classification, dtype=np.uint8)
    if intensity is not None:
        data.intensity = np.asarray(intensity, dtype=np.uint16)
    if returns is not None:
        data.return_number = np.asarray(returns[0], dtype=np.uint8)
        data.number_of_returns = np.asarray(returns[1], dtype=np.uint8)
    if rgb is not None:
        colours = np.asarray(rgb, dtype=np.uint16).reshape(-1, 3)
        data.red, data.green, data.blue = colours[:, 0], colours[:, 1], colours[:, 2]
    data.write(path)
    return path


def write_wkt_las(path: Path, xyz: npt.ArrayLike, crs: str, *, point_format: int = 6) -> Path:
    """LAS 1.4 with the CRS as OGC WKT (laspy's add_crs: WKT VLR + WKT bit)."""
    pts = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    header = laspy.LasHeader(point_format=point_format, version="1.4")
    header.scales = np.array([0.001, 0.001, 0.001])
    header.offsets = np.floor(pts.min(axis=0))
    header.add_crs(pyproj.CRS.from_user_input(crs))
    data = laspy.LasData(header)
    data.x, data.y, data.z = pts[:, 0], pts[:, 1], pts[:, 2]
    data.write(path)
    return path


def patch_bytes(path: Path, offset: int, data: bytes) -> None:
    """Overwrite bytes of a file in place."""
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(data)
