"""WGS 84 ECEF and geodetic coordinates: the target CRSs and the exact conversions between them.

:data:`ECEF` (EPSG:4978) is the frame of 3D Tiles; :data:`GEODETIC_3D` (EPSG:4979) is used as
longitude, latitude (degrees), ellipsoidal height (metres) in that order (AX-3).
"""

from __future__ import annotations

import numpy.typing as npt
import pyproj

from citymodel._typing import Float64Array
from citymodel.crs.caches import cleared_with_grids
from citymodel.crs.points import run_chain

__all__ = ["ECEF", "GEODETIC_3D", "ecef_to_geodetic", "geodetic_to_ecef"]

ECEF: pyproj.CRS = pyproj.CRS.from_epsg(4978)
"""WGS 84 geocentric (EPSG:4978): X, Y, Z in metres. The frame of 3D Tiles."""

GEODETIC_3D: pyproj.CRS = pyproj.CRS.from_epsg(4979)
"""WGS 84 geographic 3D (EPSG:4979), used here as longitude, latitude (degrees), ellipsoidal
height (metres) in that order (``always_xy``)."""


_CONVERSIONS: dict[tuple[int, int], pyproj.Transformer] = cleared_with_grids({})


def _conversion(src: int, dst: int) -> pyproj.Transformer:
    key = (src, dst)
    transformer = _CONVERSIONS.get(key)
    if transformer is None:
        transformer = pyproj.Transformer.from_crs(
            pyproj.CRS.from_epsg(src),
            pyproj.CRS.from_epsg(dst),
            always_xy=True,
            allow_ballpark=False,
        )
        _CONVERSIONS[key] = transformer
    return transformer


def geodetic_to_ecef(lon_lat_h: npt.ArrayLike) -> Float64Array:
    """WGS 84 geodetic -> ECEF (an exact conversion, no datum change).

    Parameters
    ----------
    lon_lat_h
        (N, 3) longitude (degrees), latitude (degrees), ellipsoidal height (metres) on WGS 84
        (EPSG:4979 values in x = longitude order).

    Returns
    -------
    numpy.ndarray
        (N, 3) float64 X, Y, Z in EPSG:4978, metres.
    """
    return run_chain([_conversion(4979, 4978)], lon_lat_h, name="lon_lat_h")


def ecef_to_geodetic(xyz: npt.ArrayLike) -> Float64Array:
    """ECEF -> WGS 84 geodetic (an exact conversion, no datum change).

    Parameters
    ----------
    xyz
        (N, 3) X, Y, Z in EPSG:4978, metres.

    Returns
    -------
    numpy.ndarray
        (N, 3) float64 longitude (degrees), latitude (degrees), ellipsoidal height (metres).
    """
    return run_chain([_conversion(4979, 4978)], xyz, name="xyz", inverse=True)
