"""Point cloud fixtures and an independent reader of point tilesets for the point tiler tests.

The reader shares no code with the writer: it parses ``tileset.json`` (following external
tilesets), decodes GLB point contents with ``tests/gltf_reader.py`` (POSITION, the root node
matrix, property attributes) and ``pnts`` from the 3D Tiles 1.0 layout, and returns positions
in the tileset's root frame (ENU metres) with the per-point attributes.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import laspy
import numpy as np
import numpy.typing as npt
import pyproj

from tests.gltf_reader import read_glb

HAMBURG_UTM = (566000.0, 5935000.0, 10.0)
"""ETRS89 / UTM 32N easting, northing and DHHN2016 height (m) of the test area (GEO-2)."""

Y_UP_TO_Z_UP = np.array(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)
_BATCH_DTYPES = {
    "BYTE": "<i1",
    "UNSIGNED_BYTE": "<u1",
    "SHORT": "<i2",
    "UNSIGNED_SHORT": "<u2",
    "INT": "<i4",
    "UNSIGNED_INT": "<u4",
    "FLOAT": "<f4",
    "DOUBLE": "<f8",
}
_TYPE_SIZES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


def city_points(
    n: int, *, seed: int = 0, size: tuple[float, float] = (400.0, 300.0)
) -> dict[str, Any]:
    """An airborne-like cloud over Hamburg: terrain, box buildings, some vegetation.

    Returns xyz (UTM 32N + DHHN2016 metres), classification (2 ground, 5 vegetation, 6
    building), intensity, 16-bit RGB and gps_time = point index (a unique id per point).
    """
    rng = np.random.default_rng(seed)
    x = rng.random(n) * size[0]
    y = np.sort(rng.random(n)) * size[1]  # flight-strip-like record order
    z = HAMBURG_UTM[2] + 3.0 * np.sin(x / 70.0) + 2.0 * np.cos(y / 50.0)
    building = ((x % 60.0) < 25.0) & ((y % 50.0) < 20.0)
    vegetation = ~building & (rng.random(n) < 0.2)
    z = z + building * 12.0 + vegetation * rng.random(n) * 15.0
    classification = np.where(building, 6, np.where(vegetation, 5, 2)).astype(np.uint8)
    rgb = np.stack([rng.integers(0, 65536, n) for _ in range(3)], axis=1).astype(np.uint16)
    return {
        "xyz": np.c_[HAMBURG_UTM[0] + x, HAMBURG_UTM[1] + y, z],
        "classification": classification,
        "intensity": rng.integers(0, 4096, n).astype(np.uint16),
        "rgb": rgb,
        "gps_time": np.arange(n, dtype=np.float64),
        "return_number": np.ones(n, dtype=np.uint8),
        "number_of_returns": np.ones(n, dtype=np.uint8),
    }


def write_cloud(
    path: Path,
    cloud: Mapping[str, Any],
    *,
    crs: str | None = "EPSG:25832+7837",
    start: int = 0,
    stop: int | None = None,
    extra: Mapping[str, npt.NDArray[Any]] | None = None,
    header_bounds: tuple[float, ...] | None = None,
) -> Path:
    """Write points ``start..stop`` of ``cloud`` as LAS 1.4 point format 7 (``.laz``: LAZ).

    The CRS goes into an OGC WKT record; ``extra`` arrays become ExtraBytes dimensions;
    ``header_bounds`` (xmin, ymin, zmin, xmax, ymax, zmax) overwrites the computed header
    bounds (a header that disagrees with its points).
    """
    end = len(cloud["xyz"]) if stop is None else stop
    part = slice(start, end)
    xyz = np.asarray(cloud["xyz"][part])
    header = laspy.LasHeader(point_format=7, version="1.4")
    header.scales = np.array([0.001, 0.001, 0.001])
    header.offsets = np.floor(xyz.min(axis=0))
    if crs is not None:
        header.add_crs(pyproj.CRS.from_user_input(crs))
    for name, values in (extra or {}).items():
        header.add_extra_dim(laspy.ExtraBytesParams(name=name, type=np.asarray(values).dtype))
    data = laspy.LasData(header)
    data.x, data.y, data.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    data.classification = cloud["classification"][part]
    data.intensity = cloud["intensity"][part]
    data.return_number = cloud["return_number"][part]
    data.number_of_returns = cloud["number_of_returns"][part]
    rgb = cloud["rgb"][part]
    data.red, data.green, data.blue = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    data.gps_time = cloud["gps_time"][part]
    for name, values in (extra or {}).items():
        data[name] = np.asarray(values)[part]
    data.write(path)
    if header_bounds is not None:
        _patch_bounds(path, header_bounds)
    return path


def _patch_bounds(path: Path, bounds: tuple[float, ...]) -> None:
    """Overwrite the header's bounds (LAS 1.x: max x, min x, max y, min y, max z, min z)."""
    x0, y0, z0, x1, y1, z1 = bounds
    with path.open("r+b") as f:
        f.seek(179)
        f.write(struct.pack("<6d", x1, x0, y1, y0, z1, z0))


# -- reading tilesets back ------------------------------------------------------------------


@dataclass
class PointTile:
    """One tile as a client sees it (boxes in the root frame: no transforms below the root)."""

    box: npt.NDArray[np.float64]  # (12,)
    geometric_error: float
    refine: str
    content: Path | None
    content_box: npt.NDArray[np.float64] | None = None
    children: list[PointTile] = field(default_factory=list)

    def walk(self) -> Iterator[PointTile]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class PointTileset:
    document: dict[str, Any]
    transform: npt.NDArray[np.float64]  # (4, 4) root frame -> ECEF
    root: PointTile


def _tile(node: dict[str, Any], base: Path, refine: str, depth: int) -> PointTile:
    refine = node.get("refine", refine)
    uri = node.get("content", {}).get("uri")
    if uri is not None and uri.endswith(".json"):
        external = json.loads((base / uri).read_text(encoding="utf-8"))
        assert "transform" not in external["root"] or depth == 0
        assert external["geometricError"] <= node["geometricError"]
        return _tile(external["root"], (base / uri).parent, refine, depth)
    if depth > 0:
        assert "transform" not in node, "only the root tile carries the ENU frame"
    content_box = node.get("content", {}).get("boundingVolume", {}).get("box")
    tile = PointTile(
        box=np.asarray(node["boundingVolume"]["box"], dtype=np.float64),
        geometric_error=float(node["geometricError"]),
        refine=refine,
        content=None if uri is None else (base / uri).resolve(),
        content_box=None if content_box is None else np.asarray(content_box, dtype=np.float64),
    )
    tile.children = [_tile(c, base, refine, depth + 1) for c in node.get("children", [])]
    return tile


def read_tileset(folder: Path) -> PointTileset:
    """Parse ``folder/tileset.json`` (explicit trees, external tilesets)."""
    document = json.loads((folder / "tileset.json").read_text(encoding="utf-8"))
    root = document["root"]
    transform = np.asarray(root["transform"], dtype=np.float64).reshape(4, 4).T
    return PointTileset(document, transform, _tile(root, folder, "", 0))


def _node_matrix(node: dict[str, Any]) -> npt.NDArray[np.float64]:
    return np.asarray(node.get("matrix", np.eye(4).T.ravel()), dtype=np.float64).reshape(4, 4).T


def decode_glb(path: Path) -> tuple[npt.NDArray[np.float64], dict[str, npt.NDArray[Any]]]:
    """Positions (root frame, metres) and per-point properties of a GLB point content."""
    gltf = read_glb(path.read_bytes())
    doc = gltf.document
    (primitive,) = doc["meshes"][0]["primitives"]
    assert primitive["mode"] == 0
    local = gltf.accessor(primitive["attributes"]["POSITION"]).astype(np.float64)
    matrix = Y_UP_TO_Z_UP @ _node_matrix(doc["nodes"][doc["scenes"][0]["nodes"][0]])
    enu = local @ matrix[:3, :3].T + matrix[:3, 3]
    values: dict[str, npt.NDArray[Any]] = {}
    if "COLOR_0" in primitive["attributes"]:
        values["COLOR_0"] = gltf.accessor(primitive["attributes"]["COLOR_0"])
    meta = doc.get("extensions", {}).get("EXT_structural_metadata")
    if meta is not None:
        (index,) = primitive["extensions"]["EXT_structural_metadata"]["propertyAttributes"]
        table = meta["propertyAttributes"][index]
        for name, prop in table["properties"].items():
            column = gltf.accessor(primitive["attributes"][prop["attribute"]])
            column = column[:, 0] if column.shape[1] == 1 else column
            if "offset" in prop:
                column = column.astype(np.float64) + prop["offset"]
            values[name] = column
    return enu, values


def decode_pnts(path: Path) -> tuple[npt.NDArray[np.float64], dict[str, npt.NDArray[Any]]]:
    """Positions (root frame, metres) and batch table of a pnts content (T3D-9 layout checks)."""
    data = path.read_bytes()
    magic, version, length, ft_json, ft_bin, bt_json, bt_bin = struct.unpack_from("<4sIIIIII", data)
    assert magic == b"pnts" and version == 1 and length == len(data)
    assert length % 8 == 0
    offset = 28
    assert (offset + ft_json) % 8 == 0 and (offset + ft_json + ft_bin) % 8 == 0
    feature = json.loads(data[offset : offset + ft_json])
    body = data[offset + ft_json : offset + ft_json + ft_bin]
    n = feature["POINTS_LENGTH"]
    rtc = np.asarray(feature["RTC_CENTER"], dtype=np.float64)
    local = np.frombuffer(body, "<f4", n * 3, feature["POSITION"]["byteOffset"]).reshape(n, 3)
    values: dict[str, npt.NDArray[Any]] = {}
    if "RGB" in feature:
        values["RGB"] = np.frombuffer(body, "u1", n * 3, feature["RGB"]["byteOffset"]).reshape(n, 3)
    start = offset + ft_json + ft_bin
    if bt_json:
        assert (start + bt_json) % 8 == 0 and (start + bt_json + bt_bin) % 8 == 0
        batch = json.loads(data[start : start + bt_json])
        blob = data[start + bt_json : start + bt_json + bt_bin]
        for name, ref in batch.items():
            dtype = np.dtype(_BATCH_DTYPES[ref["componentType"]])
            width = _TYPE_SIZES[ref["type"]]
            assert ref["byteOffset"] % dtype.itemsize == 0
            column = np.frombuffer(blob, dtype, n * width, ref["byteOffset"])
            values[name] = column.reshape(n, width) if width > 1 else column
    return local.astype(np.float64) + rtc, values


def decode(path: Path) -> tuple[npt.NDArray[np.float64], dict[str, npt.NDArray[Any]]]:
    """:func:`decode_glb` or :func:`decode_pnts` by the file's magic."""
    with path.open("rb") as f:
        magic = f.read(4)
    return decode_pnts(path) if magic == b"pnts" else decode_glb(path)


def box_excess(box: npt.NDArray[np.float64], points: npt.NDArray[np.float64]) -> float:
    """Largest distance (metres) of points outside an oriented box (12 numbers)."""
    centre, axes = box[:3], box[3:].reshape(3, 3)
    lengths = np.linalg.norm(axes, axis=1)
    units = axes / np.where(lengths > 0, lengths, 1.0)[:, None]
    offsets = np.abs((points - centre) @ units.T)
    return float((offsets - lengths).max(initial=-np.inf))
