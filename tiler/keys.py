"""Tile addresses in a quadtree or octree and their Morton (Z-order) codes.

A :class:`TileKey` names one cell of an implicit-tiling style tree: ``level`` 0 is the root,
and at level ``L`` the coordinates ``x``, ``y`` (and ``z`` for an octree) run from 0 to
``2**L - 1``. ``x`` grows east / along the root volume's first axis, ``y`` north / along the
second, ``z`` up / along the third (3D Tiles ``ImplicitTiling`` conventions).

Morton codes interleave the coordinate bits with ``x`` in the least significant position
(``x0 y0 x1 y1 ...`` for quadtrees, ``x0 y0 z0 x1 ...`` for octrees), which is the order of the
availability bitstreams of implicit tiling (correctness.md T3D-5). The array functions work on
whole numpy batches; the scalar helpers wrap them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_LEVEL_OCTREE",
    "MAX_LEVEL_QUADTREE",
    "TileKey",
    "morton_decode_2d",
    "morton_decode_3d",
    "morton_encode_2d",
    "morton_encode_3d",
]

UInt64Array: TypeAlias = npt.NDArray[np.uint64]

MAX_LEVEL_QUADTREE = 32
"""Deepest quadtree level whose Morton codes fit 64 bits (32 bits per coordinate)."""
MAX_LEVEL_OCTREE = 21
"""Deepest octree level whose Morton codes fit 64 bits (21 bits per coordinate)."""

_U = np.uint64


def _spread_2(v: UInt64Array) -> UInt64Array:
    """Insert one zero bit between the low 32 bits of each value."""
    v = v & _U(0x00000000FFFFFFFF)
    v = (v | (v << _U(16))) & _U(0x0000FFFF0000FFFF)
    v = (v | (v << _U(8))) & _U(0x00FF00FF00FF00FF)
    v = (v | (v << _U(4))) & _U(0x0F0F0F0F0F0F0F0F)
    v = (v | (v << _U(2))) & _U(0x3333333333333333)
    return (v | (v << _U(1))) & _U(0x5555555555555555)


def _compact_2(v: UInt64Array) -> UInt64Array:
    """Inverse of :func:`_spread_2`: gather every second bit."""
    v = v & _U(0x5555555555555555)
    v = (v | (v >> _U(1))) & _U(0x3333333333333333)
    v = (v | (v >> _U(2))) & _U(0x0F0F0F0F0F0F0F0F)
    v = (v | (v >> _U(4))) & _U(0x00FF00FF00FF00FF)
    v = (v | (v >> _U(8))) & _U(0x0000FFFF0000FFFF)
    return (v | (v >> _U(16))) & _U(0x00000000FFFFFFFF)


def _spread_3(v: UInt64Array) -> UInt64Array:
    """Insert two zero bits between the low 21 bits of each value."""
    v = v & _U(0x1FFFFF)
    v = (v | (v << _U(32))) & _U(0x1F00000000FFFF)
    v = (v | (v << _U(16))) & _U(0x1F0000FF0000FF)
    v = (v | (v << _U(8))) & _U(0x100F00F00F00F00F)
    v = (v | (v << _U(4))) & _U(0x10C30C30C30C30C3)
    return (v | (v << _U(2))) & _U(0x1249249249249249)


def _compact_3(v: UInt64Array) -> UInt64Array:
    """Inverse of :func:`_spread_3`: gather every third bit."""
    v = v & _U(0x1249249249249249)
    v = (v | (v >> _U(2))) & _U(0x10C30C30C30C30C3)
    v = (v | (v >> _U(4))) & _U(0x100F00F00F00F00F)
    v = (v | (v >> _U(8))) & _U(0x1F0000FF0000FF)
    v = (v | (v >> _U(16))) & _U(0x1F00000000FFFF)
    return (v | (v >> _U(32))) & _U(0x1FFFFF)


def _as_u64(values: npt.ArrayLike, limit_bits: int, name: str) -> UInt64Array:
    arr = np.asarray(values)
    if arr.dtype.kind not in "ui":
        raise TypeError(f"{name} must be integers, got dtype {arr.dtype}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= 1 << limit_bits):
        raise ValueError(f"{name} must lie in [0, 2**{limit_bits})")
    return arr.astype(np.uint64)


def morton_encode_2d(x: npt.ArrayLike, y: npt.ArrayLike) -> UInt64Array:
    """Interleave ``x`` and ``y`` (each < 2**32) into quadtree Morton codes (``x`` in bit 0)."""
    out: UInt64Array = _spread_2(_as_u64(x, 32, "x")) | (_spread_2(_as_u64(y, 32, "y")) << _U(1))
    return out


def morton_decode_2d(code: npt.ArrayLike) -> tuple[UInt64Array, UInt64Array]:
    """Split quadtree Morton codes into ``(x, y)``."""
    c = np.asarray(code).astype(np.uint64)
    return _compact_2(c), _compact_2(c >> _U(1))


def morton_encode_3d(x: npt.ArrayLike, y: npt.ArrayLike, z: npt.ArrayLike) -> UInt64Array:
    """Interleave ``x``, ``y``, ``z`` (each < 2**21) into octree Morton codes (``x`` in bit 0)."""
    out: UInt64Array = (
        _spread_3(_as_u64(x, 21, "x"))
        | (_spread_3(_as_u64(y, 21, "y")) << _U(1))
        | (_spread_3(_as_u64(z, 21, "z")) << _U(2))
    )
    return out


def morton_decode_3d(code: npt.ArrayLike) -> tuple[UInt64Array, UInt64Array, UInt64Array]:
    """Split octree Morton codes into ``(x, y, z)``."""
    c = np.asarray(code).astype(np.uint64)
    return _compact_3(c), _compact_3(c >> _U(1)), _compact_3(c >> _U(2))


@dataclass(frozen=True, slots=True, order=True)
class TileKey:
    """The address of one tile: ``level`` and its cell coordinates at that level.

    ``z`` is ``None`` for quadtree keys and an integer for octree keys.

    Raises
    ------
    ValueError
        When the level is out of range or a coordinate does not fit ``[0, 2**level)``.

    Examples
    --------
    >>> key = TileKey(2, 3, 1)
    >>> key.morton, key.path, key.parent()
    (7, '2/3/1', TileKey(level=1, x=1, y=0, z=None))
    >>> TileKey.from_morton(2, 7) == key
    True
    """

    level: int
    x: int
    y: int
    z: int | None = None

    def __post_init__(self) -> None:
        max_level = MAX_LEVEL_QUADTREE if self.z is None else MAX_LEVEL_OCTREE
        if not 0 <= self.level <= max_level:
            raise ValueError(f"tile level {self.level} outside [0, {max_level}]")
        size = 1 << self.level
        coords = (self.x, self.y) if self.z is None else (self.x, self.y, self.z)
        if any(not 0 <= c < size for c in coords):
            raise ValueError(f"tile coordinates {coords} outside [0, {size}) at level {self.level}")

    @property
    def is_octree(self) -> bool:
        """True for octree keys (``z`` set)."""
        return self.z is not None

    @property
    def branching(self) -> int:
        """Number of children: 4 (quadtree) or 8 (octree)."""
        return 4 if self.z is None else 8

    @classmethod
    def root(cls, *, octree: bool = False) -> TileKey:
        """The level-0 key of a quadtree (or an octree)."""
        return cls(0, 0, 0, 0 if octree else None)

    @property
    def morton(self) -> int:
        """Morton index of the tile within its level."""
        if self.z is None:
            return int(morton_encode_2d(self.x, self.y))
        return int(morton_encode_3d(self.x, self.y, self.z))

    @classmethod
    def from_morton(cls, level: int, index: int, *, octree: bool = False) -> TileKey:
        """The key at ``level`` whose Morton index is ``index``."""
        if octree:
            x, y, z = morton_decode_3d(np.uint64(index))
            return cls(level, int(x), int(y), int(z))
        x2, y2 = morton_decode_2d(np.uint64(index))
        return cls(level, int(x2), int(y2))

    def parent(self) -> TileKey | None:
        """The key one level up, ``None`` for the root."""
        if self.level == 0:
            return None
        return TileKey(
            self.level - 1, self.x >> 1, self.y >> 1, None if self.z is None else self.z >> 1
        )

    def ancestor(self, level: int) -> TileKey:
        """The key containing this one at ``level`` (``<= self.level``)."""
        if not 0 <= level <= self.level:
            raise ValueError(f"ancestor level {level} outside [0, {self.level}]")
        shift = self.level - level
        z = None if self.z is None else self.z >> shift
        return TileKey(level, self.x >> shift, self.y >> shift, z)

    def children(self) -> tuple[TileKey, ...]:
        """The 4 (or 8) keys one level down, in Morton order."""
        level, x, y = self.level + 1, self.x << 1, self.y << 1
        if self.z is None:
            return tuple(TileKey(level, x + (i & 1), y + (i >> 1)) for i in range(4))
        z = self.z << 1
        return tuple(
            TileKey(level, x + (i & 1), y + ((i >> 1) & 1), z + (i >> 2)) for i in range(8)
        )

    def relative_to(self, ancestor: TileKey) -> TileKey:
        """Return this key relative to the subtree rooted at ``ancestor`` (levels counted from it).

        Raises
        ------
        ValueError
            When ``ancestor`` does not contain this key.
        """
        if (ancestor.z is None) != (self.z is None) or self.ancestor(ancestor.level) != ancestor:
            raise ValueError(f"{ancestor} is not an ancestor of {self}")
        shift = self.level - ancestor.level
        z = None if self.z is None or ancestor.z is None else self.z - (ancestor.z << shift)
        return TileKey(shift, self.x - (ancestor.x << shift), self.y - (ancestor.y << shift), z)

    @property
    def path(self) -> str:
        """``"{level}/{x}/{y}"`` (``"/{z}"`` appended for octrees), for file names and URIs."""
        base = f"{self.level}/{self.x}/{self.y}"
        return base if self.z is None else f"{base}/{self.z}"

    @property
    def stem(self) -> str:
        """``"{level}_{x}_{y}"`` (``"_{z}"`` appended for octrees), for flat file names."""
        return self.path.replace("/", "_")
