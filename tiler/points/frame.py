"""The octree's frame: one east-north-up frame per dataset and the cube its grid divides.

Every point of a job is georeferenced to ECEF (EPSG:4978) and then expressed in one float64
ENU frame anchored at the centre of the dataset (correctness.md T3D-2): east, north, up in
metres, so the octree's cells are axis-aligned cubes in a frame where "up" is up, and the
tileset needs a single root ``transform`` (ENU -> ECEF). Within a city- or region-sized
dataset the ENU axes stay within a degree of the local vertical (0.09° at 10 km), so
frame-aligned boxes remain tight bounding volumes (T3D-3).

The **cube** is an axis-aligned cube in that frame holding every point. It is divided into
``2**21`` steps per axis: each point gets a 63-bit Morton code (:func:`citymodel.tiler.keys.
morton_encode_3d`, x in bit 0) of its step coordinates. The code of the octree node at
``level`` holding a point is ``code >> 3 * (21 - level)``, so sorting points by code sorts
them by node at every level at once, and any node (or any sampling voxel) is a contiguous
run of sorted points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from citymodel._typing import Float64Array
from citymodel.crs import ecef_to_geodetic
from citymodel.ops.frames import ecef_to_local, enu_to_ecef_matrix
from citymodel.tiler.keys import MAX_LEVEL_OCTREE, morton_decode_3d
from citymodel.tiler.points.kernels import COMPILED

__all__ = [
    "CACHE_POINTS",
    "CODE_LEVELS",
    "Encoded",
    "OctreeFrame",
    "UInt64Array",
    "code_shift",
    "column_bounds",
]

UInt64Array = npt.NDArray[np.uint64]

CODE_LEVELS = MAX_LEVEL_OCTREE
"""Levels resolved by a point code (21: three 21-bit coordinates in 63 bits)."""

_STEPS = float(1 << CODE_LEVELS)
CACHE_POINTS = 32_768
"""Points per slice of vectorised loops: their temporaries stay in the CPU cache."""
_SPREAD_BITS = 11
_SPREAD = tuple(
    np.array(
        [
            sum(((v >> b) & 1) << (3 * b + axis) for b in range(_SPREAD_BITS))
            for v in range(1 << _SPREAD_BITS)
        ],
        dtype=np.uint64,
    )
    for axis in range(3)
)
"""Per axis: 11 bits -> spread to every third bit from bit ``axis`` (Morton interleaving by
table; two look-ups per 21-bit coordinate, 48 KiB of tables that stay in the CPU cache)."""
_LOW_BITS = np.uint32((1 << _SPREAD_BITS) - 1)
_HIGH_SHIFT = np.uint64(3 * _SPREAD_BITS)
_MIN_EDGE = 1.0
"""Smallest cube edge, metres (a single point or a flat set still gets a real cube)."""


def column_bounds(values: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Per-column minimum and maximum of an (N, k) array, N >= 1.

    Column by column: numpy's ``min(axis=0)`` over a narrow C-ordered array is several times
    slower.
    """
    lo = np.array([values[:, i].min() for i in range(values.shape[1])], dtype=values.dtype)
    hi = np.array([values[:, i].max() for i in range(values.shape[1])], dtype=values.dtype)
    return lo, hi


def code_shift(level: int) -> np.uint64:
    """Right shift turning a point code into the code of its node at ``level`` (0..21)."""
    if not 0 <= level <= CODE_LEVELS:
        raise ValueError(f"octree level {level} outside [0, {CODE_LEVELS}]")
    return np.uint64(3 * (CODE_LEVELS - level))


@dataclass(frozen=True, slots=True)
class Encoded:
    """Octree codes of a batch of ENU positions, their bounds, and the points beyond the cube.

    Attributes
    ----------
    codes
        (N,) uint64 point codes (points beyond the cube get the nearest step's).
    lower, upper
        (3,) ENU bounds of the positions, metres (``inf``/``-inf`` for no points).
    outside
        Points beyond the cube.
    excess
        The largest distance of a point beyond the cube, metres (0 when none is).
    """

    codes: UInt64Array
    lower: Float64Array
    upper: Float64Array
    outside: int
    excess: float


@dataclass(frozen=True, slots=True)
class OctreeFrame:
    """The dataset's ENU frame and the octree cube in it.

    Attributes
    ----------
    matrix
        16 floats, column-major: ENU -> ECEF (EPSG:4978), metres — the root tile's
        ``transform`` (T3D-2).
    cube_min
        Lower corner of the cube, ENU metres.
    edge
        Edge length of the cube, metres.
    """

    matrix: tuple[float, ...]
    cube_min: tuple[float, float, float]
    edge: float

    def __post_init__(self) -> None:
        if len(self.matrix) != 16 or not all(math.isfinite(v) for v in self.matrix):
            raise ValueError("matrix must be 16 finite numbers (column-major 4x4)")
        if not (math.isfinite(self.edge) and self.edge > 0.0):
            raise ValueError(f"cube edge must be positive, got {self.edge}")

    @classmethod
    def around(cls, ecef_points: npt.ArrayLike, *, padding: float = 0.0) -> OctreeFrame:
        """The frame at the centre of ECEF points and the cube around them.

        Parameters
        ----------
        ecef_points
            (N, 3) ECEF positions (EPSG:4978), metres, e.g. samples of the input files'
            header bounds.
        padding
            Metres added on every side of the points' ENU bounds before the cube is taken.

        Raises
        ------
        ValueError
            For no points or non-finite points.
        """
        p = np.asarray(ecef_points, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 3 or p.shape[0] == 0 or not np.isfinite(p).all():
            raise ValueError("the octree frame needs at least one finite ECEF point")
        centre = (p.min(axis=0) + p.max(axis=0)) / 2.0
        lon, lat, _ = np.asarray(ecef_to_geodetic(centre[None, :]), dtype=np.float64)[0]
        m = enu_to_ecef_matrix(float(lon), float(lat), centre)
        matrix = tuple(float(v) for v in m.T.ravel())
        enu = ecef_to_local(p, m)
        return cls.from_bounds(matrix, enu.min(axis=0), enu.max(axis=0), padding=padding)

    @classmethod
    def from_bounds(
        cls,
        matrix: tuple[float, ...],
        lower: npt.ArrayLike,
        upper: npt.ArrayLike,
        *,
        padding: float = 0.0,
    ) -> OctreeFrame:
        """The cube around ENU bounds ``lower``..``upper`` (metres) grown by ``padding``."""
        lo = np.asarray(lower, dtype=np.float64) - padding
        hi = np.asarray(upper, dtype=np.float64) + padding
        edge = max(float((hi - lo).max()), _MIN_EDGE)
        centre = (lo + hi) / 2.0
        corner = centre - edge / 2.0
        return cls(
            matrix=matrix,
            cube_min=(float(corner[0]), float(corner[1]), float(corner[2])),
            edge=edge,
        )

    @property
    def enu_to_ecef(self) -> Float64Array:
        """The (4, 4) ENU -> ECEF matrix."""
        return np.asarray(self.matrix, dtype=np.float64).reshape(4, 4).T

    def to_enu(self, ecef: npt.ArrayLike) -> Float64Array:
        """ECEF (EPSG:4978) -> this frame's ENU, metres, float64."""
        return ecef_to_local(ecef, self.enu_to_ecef)

    def codes(self, enu: Float64Array) -> tuple[UInt64Array, Float64Array | None]:
        """Point codes of ENU positions, and how far points lie outside the cube.

        Points outside the cube get the code of the nearest cube step (they are clamped), so
        the caller decides whether that is acceptable. The codes equal
        :func:`citymodel.tiler.keys.morton_encode_3d` of the steps; they are built with a
        table of spread bits, in cache-sized slices.

        Returns
        -------
        tuple
            ``(codes, excess)``: (N,) uint64 Morton codes; None when every point is inside
            the cube, else (N,) float64 metres outside the cube (0 inside).
        """
        lo = np.asarray(self.cube_min, dtype=np.float64)
        scale = _STEPS / self.edge
        n = enu.shape[0]
        codes = np.empty(n, dtype=np.uint64)
        excess: Float64Array | None = None
        for start in range(0, n, CACHE_POINTS):
            stop = min(n, start + CACHE_POINTS)
            steps = (enu[start:stop] - lo) * scale
            if steps.size and (steps.min() < 0.0 or steps.max() > _STEPS):
                if excess is None:
                    excess = np.zeros(n)
                beyond = np.maximum(np.maximum(-steps, steps - _STEPS), 0.0)
                excess[start:stop] = beyond.max(axis=1) * (self.edge / _STEPS)
            # Truncating non-negative steps is their floor.
            q = np.clip(steps, 0.0, _STEPS - 1.0).astype(np.uint32)
            code = codes[start:stop]
            for axis, table in enumerate(_SPREAD):
                v = q[:, axis]
                part = table[v & _LOW_BITS]
                part |= table[v >> _SPREAD_BITS] << _HIGH_SHIFT
                if axis:
                    code |= part
                else:
                    code[...] = part
        return codes, excess

    def encode(self, enu: Float64Array) -> Encoded | None:
        """:meth:`codes` and bounds of (N, 3) ENU positions; None when one is not finite.

        The compiled kernel when built (one loop over the points), else :meth:`codes` and
        :func:`column_bounds`; both give the same results.
        """
        enu = np.ascontiguousarray(enu, dtype=np.float64)
        n = enu.shape[0]
        if COMPILED is not None:
            codes = np.empty(n, dtype=np.uint64)
            lx, ly, lz = self.cube_min
            finite, lo, hi, outside, excess = COMPILED.encode(
                enu, lx, ly, lz, _STEPS / self.edge, self.edge, codes
            )
            if not finite or lo is None or hi is None:
                return None
            return Encoded(codes, np.array(lo), np.array(hi), outside, excess)
        if not np.isfinite(enu).all():
            return None
        if n == 0:
            return Encoded(
                np.zeros(0, np.uint64), np.full(3, math.inf), np.full(3, -math.inf), 0, 0.0
            )
        codes, beyond = self.codes(enu)
        lower, upper = column_bounds(enu)
        if beyond is None:
            return Encoded(codes, lower, upper, 0, 0.0)
        return Encoded(codes, lower, upper, int((beyond > 0.0).sum()), float(beyond.max()))

    def node_edge(self, level: int) -> float:
        """Edge length of a node at ``level``, metres."""
        return self.edge / float(1 << level)

    def node_min(self, level: int, prefix: npt.ArrayLike) -> Float64Array:
        """Lower corners (ENU metres) of the nodes ``prefix`` (codes at ``level``); (..., 3)."""
        x, y, z = morton_decode_3d(np.asarray(prefix, dtype=np.uint64))
        index = np.stack([x, y, z], axis=-1).astype(np.float64)
        out: Float64Array = np.asarray(self.cube_min) + index * self.node_edge(level)
        return out

    def node_centre(self, level: int, prefix: npt.ArrayLike) -> Float64Array:
        """Centres (ENU metres) of the nodes ``prefix`` at ``level``; (..., 3)."""
        out: Float64Array = self.node_min(level, prefix) + 0.5 * self.node_edge(level)
        return out
