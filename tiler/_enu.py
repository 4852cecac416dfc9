"""Many east-north-up frames at once: one frame per unit, vectorised over all vertices.

ECEF is EPSG:4978 (metres); the frames' rotations are
:func:`citymodel.ops.frames.enu_rotation` of their origins.
"""

from __future__ import annotations

import numpy as np

from citymodel._typing import Float64Array, IndexArray

__all__ = ["ecef_to_enu", "enu_to_ecef"]


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
        ``(F, 3, 3)`` :func:`~citymodel.ops.frames.enu_rotation` of each frame.
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
