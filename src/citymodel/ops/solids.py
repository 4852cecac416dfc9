"""Signed volumes of triangle shells, used to orient closed solids outward (CGML-5)."""

from __future__ import annotations

import numpy as np

from citymodel._typing import Float64Array, IndexArray, UInt32Array

__all__ = ["signed_volume", "signed_volumes"]


def signed_volume(positions: Float64Array, triangles: UInt32Array | IndexArray) -> float:
    """Signed volume enclosed by a closed triangle shell (m³).

    Positive when the triangles are counter-clockwise seen from outside (normals point out),
    negative for a shell given inside-out. For an open shell the value depends on the reference
    point and means little.

    Parameters
    ----------
    positions
        ``(N, 3)`` float64 vertex positions, metres, any Cartesian CRS (UTM-sized coordinates are
        fine: products are formed relative to the shell's centre).
    triangles
        ``(M, 3)`` vertex indices.

    Examples
    --------
    >>> corner = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
    >>> faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    >>> round(signed_volume(corner, faces), 12)
    0.166666666667
    """
    faces: IndexArray = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
    groups = np.zeros(faces.shape[0], dtype=np.int64)
    return float(signed_volumes(positions, faces, groups, 1)[0])


def signed_volumes(
    positions: Float64Array,
    triangles: UInt32Array | IndexArray,
    groups: IndexArray,
    group_count: int,
) -> Float64Array:
    """Signed volume (m³) of several shells at once; see :func:`signed_volume`.

    Parameters
    ----------
    positions
        ``(N, 3)`` float64 vertex positions (metres).
    triangles
        ``(M, 3)`` vertex indices.
    groups
        ``(M,)`` shell of each triangle, ``0 <= groups < group_count``.
    group_count
        Number of shells.

    Returns
    -------
    Float64Array
        ``(group_count,)`` signed volumes; 0 for shells without triangles.
    """
    positions = np.asarray(positions, dtype=np.float64)
    triangles = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
    groups = np.asarray(groups, dtype=np.int64)
    a = np.take(positions, triangles[:, 0], axis=0)
    counts = np.bincount(groups, minlength=group_count).astype(np.float64)
    centre = np.zeros((group_count, 3), dtype=np.float64)
    nonempty = counts > 0
    for axis in range(3):
        sums = np.bincount(groups, weights=a[:, axis], minlength=group_count)
        centre[nonempty, axis] = sums[nonempty] / counts[nonempty]
    origin = np.take(centre, groups, axis=0)
    a = a - origin
    b = np.take(positions, triangles[:, 1], axis=0) - origin
    c = np.take(positions, triangles[:, 2], axis=0) - origin
    tetra = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0
    return np.bincount(groups, weights=tetra, minlength=group_count).astype(np.float64)
