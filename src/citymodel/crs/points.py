"""(N, 3) point batches through a chain of PROJ transformers: one PROJ call per step, in place.

Axis order (AX-3): x = east / longitude, y = north / latitude, z = height (pyproj
``always_xy``). Rows PROJ cannot transform (outside a grid, GEO-4) come back as ``inf`` in all
three columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyproj
from pyproj.enums import TransformDirection

from citymodel._typing import Float64Array

__all__ = ["run_chain"]


def _as_points(xyz: npt.ArrayLike, name: str) -> Float64Array:
    pts = np.asarray(xyz, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {pts.shape}")
    return pts


def run_chain(
    chain: Sequence[pyproj.Transformer],
    xyz: npt.ArrayLike,
    *,
    name: str,
    inverse: bool = False,
) -> Float64Array:
    """Points through a chain of transformers, on one (3, N) buffer in place.

    Parameters
    ----------
    chain
        Transformers, each one's target CRS the next one's source CRS.
    xyz
        (N, 3) in the source CRS of the first transformer; with ``inverse``, in the target CRS
        of the last one.
    name
        Name of ``xyz`` in the shape error message.
    inverse
        Run the chain backwards: last transformer first, each one inverted.

    Returns
    -------
    numpy.ndarray
        (N, 3) float64 in the target CRS of the last transformer (with ``inverse``: the source
        CRS of the first one); ``inf`` rows where PROJ failed.

    Raises
    ------
    ValueError
        If ``xyz`` is not (N, 3).
    """
    pts = _as_points(xyz, name)
    steps = chain[::-1] if inverse else chain
    direction = TransformDirection.INVERSE if inverse else TransformDirection.FORWARD
    buf = np.array(pts.T, dtype=np.float64, order="C")
    if buf.shape[1]:
        for transformer in steps:
            transformer.transform(buf[0], buf[1], buf[2], inplace=True, direction=direction)
    out = np.ascontiguousarray(buf.T)
    bad = ~np.isfinite(out).all(axis=1)
    if bad.any():
        # GEO-4: PROJ returns inf for points outside a grid; make the whole row non-finite.
        out[bad] = np.inf
    return out
