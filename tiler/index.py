"""The compact per-unit index built in pass 1: one row per top-level building (a *unit*).

A unit is a Building together with its BuildingParts; it is never split between tiles. The
index keeps only what partitioning and level-of-detail planning need, as a struct of arrays
(one contiguous numpy array per column): 94 bytes per unit, so ten million buildings take
under a gigabyte. Identifiers and attributes are not kept here; they live in the scratch store
(:mod:`citymodel.tiler.store`) at the unit's location.

Columns (all arrays have one entry per unit):

============================  =======  ====================================================
column                        dtype    meaning
============================  =======  ====================================================
``west south east north``     float64  region of all unit and block vertices, radians (WGS84)
``min_height max_height``     float32  ellipsoidal heights in metres, rounded outward
``lon lat``                   float64  centroid (centre of the ECEF bounding box), radians
``triangle_count``            uint32   triangles of the full LoD2 geometry
``vertex_count``              uint32   vertices of the full LoD2 geometry
``block_triangle_count``      uint32   triangles of the simplified block (0: no block)
``deviation``                 float32  block deviation in metres, rounded up (see ``blocks``)
``importance``                float32  omission error in metres, rounded up: the size of the
                                       unit, ``max(height, horizontal diameter)``
``shard``                     uint16   scratch shard file holding the unit
``offset``                    uint64   byte offset of the unit's record in the shard
``block_length``              uint32   bytes of the record's block section (at ``offset``)
``length``                    uint32   bytes of the record's full-geometry section (at
                                       ``offset + block_length``); the stored byte size
============================  =======  ====================================================

Regions follow 3D Tiles: radians and metres above the WGS84 ellipsoid (correctness.md T3D-3).
Regions never cross the antimeridian (``west <= east``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from citymodel._typing import Float32Array, Float64Array, IndexArray, PathLike, UInt32Array
from citymodel.errors import TilingError

__all__ = [
    "INDEX_COLUMNS",
    "FeatureIndex",
    "FeatureIndexBuilder",
    "Region",
    "ShardIndexCollector",
    "round_down_f32",
    "round_up_f32",
]

logger = logging.getLogger(__name__)

Region = tuple[float, float, float, float, float, float]
"""A 3D Tiles region ``(west, south, east, north, min_height, max_height)``: radians, metres."""

INDEX_COLUMNS: tuple[tuple[str, np.dtype[Any]], ...] = (
    ("west", np.dtype(np.float64)),
    ("south", np.dtype(np.float64)),
    ("east", np.dtype(np.float64)),
    ("north", np.dtype(np.float64)),
    ("min_height", np.dtype(np.float32)),
    ("max_height", np.dtype(np.float32)),
    ("lon", np.dtype(np.float64)),
    ("lat", np.dtype(np.float64)),
    ("triangle_count", np.dtype(np.uint32)),
    ("vertex_count", np.dtype(np.uint32)),
    ("block_triangle_count", np.dtype(np.uint32)),
    ("deviation", np.dtype(np.float32)),
    ("importance", np.dtype(np.float32)),
    ("shard", np.dtype(np.uint16)),
    ("offset", np.dtype(np.uint64)),
    ("block_length", np.dtype(np.uint32)),
    ("length", np.dtype(np.uint32)),
)
"""Name and dtype of every index column, in storage order."""

_MANIFEST = "index.json"
_FORMAT = "citymodel-feature-index"
_VERSION = 1


def round_down_f32(values: Float64Array) -> Float32Array:
    """Round float64 values to the nearest float32 that is not larger (for lower bounds)."""
    out = values.astype(np.float32)
    too_big = out.astype(np.float64) > values
    out[too_big] = np.nextafter(out[too_big], np.float32(-np.inf))
    return out


def round_up_f32(values: Float64Array) -> Float32Array:
    """Round float64 values to the nearest float32 that is not smaller (for upper bounds)."""
    out = values.astype(np.float32)
    too_small = out.astype(np.float64) < values
    out[too_small] = np.nextafter(out[too_small], np.float32(np.inf))
    return out


def _coerce(name: str, array: npt.NDArray[Any], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """Cast a column to its dtype, refusing casts that would change integer values."""
    if array.dtype == dtype:
        return array
    if dtype.kind in "ui" and array.size:
        if array.dtype.kind not in "uib":
            raise TypeError(f"index column {name!r} must be {dtype}, got {array.dtype}")
        info = np.iinfo(dtype)
        if int(array.min()) < info.min or int(array.max()) > info.max:
            raise ValueError(f"index column {name!r} has values outside the range of {dtype}")
    return array.astype(dtype)


@dataclass(frozen=True, slots=True)
class FeatureIndex:
    """Struct-of-arrays index with one row per unit; see the module docstring for the columns.

    Construction coerces every column to its dtype (a copy only when needed), checks that all
    columns have the same length and makes the arrays read-only.
    """

    west: Float64Array
    south: Float64Array
    east: Float64Array
    north: Float64Array
    min_height: Float32Array
    max_height: Float32Array
    lon: Float64Array
    lat: Float64Array
    triangle_count: UInt32Array
    vertex_count: UInt32Array
    block_triangle_count: UInt32Array
    deviation: Float32Array
    importance: Float32Array
    shard: npt.NDArray[np.uint16]
    offset: npt.NDArray[np.uint64]
    block_length: UInt32Array
    length: UInt32Array

    BYTES_PER_UNIT: ClassVar[int] = sum(dtype.itemsize for _, dtype in INDEX_COLUMNS)
    """Bytes of index per unit (94)."""

    def __post_init__(self) -> None:
        count: int | None = None
        for name, dtype in INDEX_COLUMNS:
            array = _coerce(name, np.asarray(getattr(self, name)), dtype)
            if array.ndim != 1:
                raise ValueError(f"index column {name!r} must be 1-D, got shape {array.shape}")
            if count is None:
                count = int(array.shape[0])
            elif array.shape[0] != count:
                raise ValueError(
                    f"index column {name!r} has {array.shape[0]} rows, expected {count}"
                )
            if array.flags.writeable:
                if array.base is not None or not array.flags.owndata:
                    array = array.copy()
                array.flags.writeable = False
            object.__setattr__(self, name, array)

    def __len__(self) -> int:
        return int(self.west.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the column arrays."""
        return sum(int(getattr(self, name).nbytes) for name, _ in INDEX_COLUMNS)

    def column(self, name: str) -> npt.NDArray[Any]:
        """Return a column by name."""
        if name not in _COLUMN_NAMES:
            raise KeyError(name)
        array: npt.NDArray[Any] = getattr(self, name)
        return array

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        """Return all columns by name, in storage order."""
        return {name: getattr(self, name) for name, _ in INDEX_COLUMNS}

    @classmethod
    def empty(cls) -> FeatureIndex:
        """An index with no rows."""
        return cls(**{name: np.zeros(0, dtype) for name, dtype in INDEX_COLUMNS})

    @classmethod
    def concat(cls, parts: Iterable[FeatureIndex]) -> FeatureIndex:
        """Concatenate indexes (e.g. the rows returned by pass-1 workers), keeping their order."""
        parts = list(parts)
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(
            **{name: np.concatenate([getattr(p, name) for p in parts]) for name, _ in INDEX_COLUMNS}
        )

    def take(self, rows: IndexArray) -> FeatureIndex:
        """Return the rows ``rows`` (int indices) as a new index."""
        return FeatureIndex(**{name: getattr(self, name)[rows] for name, _ in INDEX_COLUMNS})

    def regions(self) -> Float64Array:
        """Return ``(N, 6)`` float64 regions ``(west, south, east, north, min_h, max_h)``."""
        return np.stack(
            [
                self.west,
                self.south,
                self.east,
                self.north,
                self.min_height.astype(np.float64),
                self.max_height.astype(np.float64),
            ],
            axis=1,
        )

    def region(self, rows: IndexArray | None = None) -> Region:
        """Return the union of the regions of ``rows`` (all rows when ``None``).

        Raises
        ------
        TilingError
            When no rows are selected.
        """
        sel = slice(None) if rows is None else rows
        west = self.west[sel]
        if west.shape[0] == 0:
            raise TilingError("the region of an empty set of units is undefined")
        return (
            float(west.min()),
            float(self.south[sel].min()),
            float(self.east[sel].max()),
            float(self.north[sel].max()),
            float(self.min_height[sel].min()),
            float(self.max_height[sel].max()),
        )

    def save(self, directory: PathLike) -> Path:
        """Write one ``<column>.npy`` per column and an ``index.json`` manifest (written last).

        Parameters
        ----------
        directory
            Folder to write into (created when missing). Existing index files are replaced.

        Returns
        -------
        Path
            The folder.
        """
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / _MANIFEST).unlink(missing_ok=True)
        for name, _ in INDEX_COLUMNS:
            np.save(folder / f"{name}.npy", getattr(self, name), allow_pickle=False)
        manifest = {
            "format": _FORMAT,
            "version": _VERSION,
            "count": len(self),
            "columns": {name: dtype.str for name, dtype in INDEX_COLUMNS},
        }
        tmp = folder / (_MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        tmp.replace(folder / _MANIFEST)
        return folder

    @classmethod
    def load(cls, directory: PathLike, *, mmap: bool = False) -> FeatureIndex:
        """Read an index written by :meth:`save`.

        Parameters
        ----------
        directory
            The folder given to :meth:`save`.
        mmap
            Memory-map the columns read-only instead of reading them into RAM.

        Raises
        ------
        TilingError
            When the folder holds no complete index or one of another format version.
        """
        folder = Path(directory)
        try:
            manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise TilingError(f"{folder} holds no complete feature index ({_MANIFEST})") from err
        if manifest.get("format") != _FORMAT or manifest.get("version") != _VERSION:
            raise TilingError(
                f"{folder / _MANIFEST}: unsupported index format "
                f"{manifest.get('format')!r} version {manifest.get('version')!r}"
            )
        arrays: dict[str, npt.NDArray[Any]] = {}
        for name, dtype in INDEX_COLUMNS:
            array = np.load(folder / f"{name}.npy", mmap_mode="r" if mmap else None)
            if array.dtype != dtype or array.shape != (manifest["count"],):
                raise TilingError(f"{folder / name}.npy does not match {folder / _MANIFEST}")
            arrays[name] = array
        return cls(**arrays)


_COLUMN_NAMES = frozenset(name for name, _ in INDEX_COLUMNS)


class FeatureIndexBuilder:
    """Accumulates index rows in batches with amortised growth (capacity doubles when full).

    Examples
    --------
    >>> builder = FeatureIndexBuilder()
    >>> builder.append(FeatureIndex.empty())
    >>> len(builder.build())
    0
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._size = 0
        self._arrays: dict[str, npt.NDArray[Any]] = {
            name: np.empty(max(capacity, 1), dtype) for name, dtype in INDEX_COLUMNS
        }

    def __len__(self) -> int:
        return self._size

    def _reserve(self, needed: int) -> None:
        capacity = next(iter(self._arrays.values())).shape[0]
        if needed <= capacity:
            return
        new_capacity = max(needed, 2 * capacity)
        for name, array in self._arrays.items():
            grown = np.empty(new_capacity, array.dtype)
            grown[: self._size] = array[: self._size]
            self._arrays[name] = grown

    def append(self, rows: FeatureIndex) -> None:
        """Append all rows of ``rows``."""
        self.append_columns(rows.columns())

    def append_columns(self, columns: dict[str, npt.NDArray[Any]]) -> None:
        """Append rows given as one array per column (every column, equal lengths)."""
        missing = _COLUMN_NAMES - columns.keys()
        if missing:
            raise ValueError(f"missing index columns: {sorted(missing)}")
        counts = {np.shape(columns[name])[0] for name in _COLUMN_NAMES}
        if len(counts) != 1:
            raise ValueError(f"index columns differ in length: {sorted(counts)}")
        count = counts.pop()
        self._reserve(self._size + count)
        for name, array in self._arrays.items():
            array[self._size : self._size + count] = columns[name]
        self._size += count

    def build(self) -> FeatureIndex:
        """Return the rows appended so far as a :class:`FeatureIndex`; the builder is left empty.

        Columns are moved out one at a time (a full column as it is, else a trimmed copy) and
        each of the builder's arrays is released before the next column is made, so building
        needs memory for the rows plus one column, never a second copy of the index.
        """
        size = self._size
        columns: dict[str, npt.NDArray[Any]] = {}
        for name, dtype in INDEX_COLUMNS:
            array = self._arrays.pop(name)
            columns[name] = array if array.shape[0] == size else array[:size].copy()
            self._arrays[name] = np.empty(1, dtype)
            del array
        self._size = 0
        return FeatureIndex(**columns)


_BLOCK_ROWS = 1 << 16
"""Rows per storage block of :class:`ShardIndexCollector` (0.5 MB per 8-byte column)."""


class ShardIndexCollector:
    """Index rows of pass-1 shards, collected as they arrive (in any order).

    Each shard's rows are copied at once into fixed-size blocks (one array per column and
    block), so the caller can drop the shard's own arrays. Blocks are never grown or copied
    while rows arrive: growing one array by doubling leaves the freed generations in the heap
    and costs up to twice the index in resident memory. :meth:`build` returns the index in
    shard order (the output must not depend on which worker finished first), moving one
    column at a time out of the blocks and releasing them, so the main process holds the
    index once plus one column. A shard collected again replaces its earlier rows (a task
    run a second time).

    Examples
    --------
    >>> collector = ShardIndexCollector()
    >>> collector.add(1, FeatureIndex.empty())
    >>> len(collector.build())
    0
    """

    def __init__(self, *, block_rows: int = _BLOCK_ROWS) -> None:
        if block_rows < 1:
            raise ValueError(f"block_rows must be positive, got {block_rows}")
        self._block_rows = block_rows
        self._blocks: dict[str, list[npt.NDArray[Any]]] = {name: [] for name, _ in INDEX_COLUMNS}
        self._stored = 0
        self._spans: dict[int, tuple[int, int]] = {}

    def __len__(self) -> int:
        return sum(count for _, count in self._spans.values())

    def add(self, shard: int, rows: FeatureIndex) -> None:
        """Copy the rows of ``shard`` in (replacing rows collected for it before)."""
        start, count = self._stored, len(rows)
        columns = rows.columns()
        done = 0
        while done < count:
            block, offset = divmod(self._stored, self._block_rows)
            if block == len(self._blocks["west"]):
                for name, dtype in INDEX_COLUMNS:
                    self._blocks[name].append(np.empty(self._block_rows, dtype))
            take = min(count - done, self._block_rows - offset)
            for name, blocks in self._blocks.items():
                blocks[block][offset : offset + take] = columns[name][done : done + take]
            done += take
            self._stored += take
        self._spans[shard] = (start, count)

    def build(self) -> FeatureIndex:
        """The collected rows in shard order; the collector is left empty."""
        spans = [self._spans[shard] for shard in sorted(self._spans)]
        total = sum(count for _, count in spans)
        columns: dict[str, npt.NDArray[Any]] = {}
        for name, dtype in INDEX_COLUMNS:
            blocks = self._blocks[name]
            out = np.empty(total, dtype)
            at = 0
            for start, count in spans:
                self._copy_out(blocks, start, out[at : at + count])
                at += count
            columns[name] = out
            blocks.clear()  # this column's blocks are released before the next is made
        self._stored = 0
        self._spans = {}
        return FeatureIndex(**columns)

    def _copy_out(self, blocks: list[npt.NDArray[Any]], start: int, out: npt.NDArray[Any]) -> None:
        """Copy the stored rows ``start : start + len(out)`` of one column into ``out``."""
        done = 0
        while done < out.shape[0]:
            block, offset = divmod(start + done, self._block_rows)
            take = min(out.shape[0] - done, self._block_rows - offset)
            out[done : done + take] = blocks[block][offset : offset + take]
            done += take
