"""Many east-north-up frames at once: one frame per unit, vectorised over all vertices.

ECEF is EPSG:4978 (metres); frame origins are given by their geodetic longitude / latitude in
radians (the up axis is the ellipsoid normal, as in :func:`citymodel.ops.frames.enu_to_ecef_matrix`,
which builds a single frame).
"""

from __future__ import annotations

import numpy as np

from citymodel._typing import Float64Array, IndexArray

__all__ = ["ecef_to_enu", "enu_rotation", "enu_to_ecef"]


def enu_rotation(lon: Float64Array, lat: Float64Array) -> Float64Array:
    """Return ``(N, 3, 3)`` rotations whose rows are the east, north and up unit vectors.

    Parameters
    ----------
    lon, lat
        ``(N,)`` float64 geodetic longitude and latitude of the frame origins, radians.

    Returns
    -------
    ndarray
        ``R`` with ``enu = R @ (ecef - origin)`` and ``ecef = R.T @ enu + origin``.
    """
    sl, cl = np.sin(lon), np.cos(lon)
    sp, cp = np.sin(lat), np.cos(lat)
    zero = np.zeros_like(lon)
    east = np.stack([-sl, cl, zero], axis=-1)
    north = np.stack([-sp * cl, -sp * sl, cp], axis=-1)
    up = np.stack([cp * cl, cp * sl, sp], axis=-1)
    return np.stack([east, north, up], axis=-2)


def ecef_to_enu(
    xyz: Float64Array, origins: Float64Array, rotations: Float64Array, frame: IndexArray
) -> Float64Array:
    """Express ECEF positions in per-point ENU frames.

    Parameters
    ----------
    xyz
        ``(N, 3)`` float64 ECEF positions, metres.
    origins
        ``(F, 3)`` float64 ECEF frame origins, metres.
    rotations
        ``(F, 3, 3)`` :func:`enu_rotation` of each frame.
    frame
        ``(N,)`` int64 frame of each point.

    Returns
    -------
    ndarray
        ``(N, 3)`` float64 east, north, up in metres.
    """
    result: Float64Array = np.einsum("nij,nj->ni", rotations[frame], xyz - origins[frame])
    return result


def enu_to_ecef(
    enu: Float64Array, origins: Float64Array, rotations: Float64Array, frame: IndexArray
) -> Float64Array:
    """Inverse of :func:`ecef_to_enu` (same argument conventions); returns ECEF metres."""
    result: Float64Array = np.einsum("nji,nj->ni", rotations[frame], enu) + origins[frame]
    return result
