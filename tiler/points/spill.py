"""Pass 1 of the point tiler: read, georeference, code and spill points to the scratch store.

A task is a range of point records of one input file (:class:`SpillTask`), so one large file
keeps every worker busy. It streams the range in chunks (bounded memory) and per chunk

1. georeferences the source coordinates to ECEF (EPSG:4978) with the file's
   :class:`~citymodel.crs.Georeferencer` (the geoid grid applies, GEO-1..4); rows PROJ cannot
   transform (outside a grid) are dropped and counted;
2. expresses them in the dataset's ENU frame and computes their octree codes
   (:class:`~citymodel.tiler.points.frame.OctreeFrame`);
3. sorts the chunk by code and appends it to the task's **run file** as one *block*.

A task returns its blocks (offset, count, first and last code), the number of points per
occupied grid cell at ``cell_level`` (what the chunk planning needs), the bounds of its
points and its counts; never the points. Pass 2 finds the points of any octree node as one
contiguous slice per block (:func:`read_node`), by binary search on the blocks' codes.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import numpy.typing as npt

from citymodel.crs import Georeferencer, ResolvedCRS, VerticalMode
from citymodel.errors import OutputError
from citymodel.model import PointChunk
from citymodel.tiler.points.frame import (
    CODE_LEVELS,
    OctreeFrame,
    UInt64Array,
    code_shift,
)
from citymodel.tiler.points.georef import LatticeGeoreferencer
from citymodel.tiler.points.records import (
    PointColumns,
    RecordLayout,
    read_block,
    read_codes,
    write_block,
)

__all__ = [
    "Block",
    "ProcessUsage",
    "SpillResult",
    "SpillTask",
    "merge_cell_counts",
    "node_range",
    "read_node",
    "scan_node_children",
    "spill_range",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SpillTask:
    """Pass-1 work: records ``start``..``stop`` of one file into run file ``run``.

    Attributes
    ----------
    number
        Task number (orders the results; names nothing).
    path
        The input file.
    start, stop
        Record range.
    source
        The file's CRS (defaults applied).
    vertical_mode
        As for :meth:`citymodel.crs.Georeferencer.create`.
    frame
        The job's frame and cube.
    layout
        The job's record layout.
    classes
        Classification codes to keep (None: all).
    extra_dims
        Extra dimensions to read (the file's names).
    chunk_size
        Records read per block.
    cell_level
        Grid level of the returned cell counts.
    run
        The run file to write (created).
    color_depth
        The file's colour depth as the scan found it (``"auto"``: the reader samples it).
    """

    number: int
    path: Path
    start: int
    stop: int
    source: ResolvedCRS
    vertical_mode: VerticalMode
    frame: OctreeFrame
    layout: RecordLayout
    classes: tuple[int, ...] | None
    extra_dims: tuple[str, ...]
    chunk_size: int
    cell_level: int
    run: Path
    color_depth: Literal["auto", 8, 16] = "auto"


@dataclass(frozen=True, slots=True)
class Block:
    """A code-sorted block of points in a run file: byte offset, count, code range."""

    run: Path
    offset: int
    count: int
    first_code: int
    last_code: int


@dataclass(frozen=True, slots=True)
class SpillResult:
    """What a pass-1 task found and stored.

    Attributes
    ----------
    number
        The task's number.
    path
        The input file.
    blocks
        The stored blocks.
    cells, counts
        Occupied grid cells at the task's ``cell_level`` (sorted codes) and their points.
    read
        Points the reader delivered (after the class filter).
    dropped
        Points that could not be georeferenced (not stored).
    outside, excess
        Points outside the frame's cube and the largest distance outside, metres.
    lower, upper
        ENU bounds of the stored points, metres (``inf``/``-inf`` when none).
    usage
        The worker's resources after the task.
    """

    number: int
    path: Path
    blocks: tuple[Block, ...]
    cells: UInt64Array
    counts: npt.NDArray[np.int64]
    read: int
    dropped: int
    outside: int
    excess: float
    lower: tuple[float, float, float]
    upper: tuple[float, float, float]
    usage: ProcessUsage | None = None

    @property
    def stored(self) -> int:
        """Points written to the run file."""
        return sum(b.count for b in self.blocks)


@dataclass(frozen=True, slots=True)
class ProcessUsage:
    """Resources a process used so far: its id, peak resident memory (KiB), CPU seconds.

    Workers send theirs with every result (forkserver workers are no children of the main
    process, so it cannot ask the system), so a job can report its peak memory per process
    and its CPU time over all processes.
    """

    pid: int
    rss_kb: int
    cpu_s: float

    @classmethod
    def now(cls) -> ProcessUsage:
        """The usage of the calling process (zeros without the ``resource`` module)."""
        try:
            import resource
        except ImportError:  # pragma: no cover - Windows
            return cls(os.getpid(), 0, 0.0)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(os.getpid(), int(usage.ru_maxrss), usage.ru_utime + usage.ru_stime)


@dataclass(slots=True)
class _Bounds:
    lower: npt.NDArray[np.float64] = field(default_factory=lambda: np.full(3, math.inf))
    upper: npt.NDArray[np.float64] = field(default_factory=lambda: np.full(3, -math.inf))

    def add(self, lo: npt.NDArray[np.float64], hi: npt.NDArray[np.float64]) -> None:
        np.minimum(self.lower, lo, out=self.lower)
        np.maximum(self.upper, hi, out=self.upper)


def _triple(v: npt.NDArray[np.float64]) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))


def _chunks(task: SpillTask) -> Iterator[PointChunk]:
    """The task's points as the LAS reader delivers them."""
    from citymodel.converters.las import open_point_cloud

    with open_point_cloud(task.path, color_depth=task.color_depth) as reader:
        yield from reader.read(
            task.start,
            task.stop,
            chunk_size=task.chunk_size,
            classes=task.classes,
            extra_dims=task.extra_dims,
        )


def spill_range(task: SpillTask, chunks: Iterator[PointChunk] | None = None) -> SpillResult:
    """Pass-1 task: store the points of ``task`` in its run file (see the module docstring).

    Parameters
    ----------
    task
        What to read and where to store it.
    chunks
        The points, when they do not come from the task's file (tests, other readers).

    Raises
    ------
    InputError
        For a file that cannot be read (from the reader).
    OutputError
        When the run file cannot be written.
    """
    georef = Georeferencer.create(task.source, vertical_mode=task.vertical_mode)
    frame = task.frame
    lattice = LatticeGeoreferencer(georef, frame.enu_to_ecef)
    shift = code_shift(task.cell_level)
    blocks: list[Block] = []
    cells: list[UInt64Array] = []
    counts: list[npt.NDArray[np.int64]] = []
    bounds = _Bounds()
    read = dropped = outside = 0
    excess = 0.0
    offset = 0
    try:
        run = task.run.open("wb")
    except OSError as err:
        raise OutputError(f"{task.run}: cannot create a scratch file: {err.strerror}") from err
    with run:
        for chunk in chunks if chunks is not None else _chunks(task):
            read += len(chunk)
            enu = lattice.to_enu(chunk.xyz)
            encoded = frame.encode(enu)
            if encoded is None:  # rows PROJ could not transform (GEO-4)
                finite = np.asarray(np.isfinite(enu).all(axis=1), dtype=bool)
                dropped += int((~finite).sum())
                chunk = chunk.select(finite)
                enu = enu[finite]
                encoded = frame.encode(enu)
                assert encoded is not None
            if len(chunk) == 0:
                continue
            outside += encoded.outside
            excess = max(excess, encoded.excess)
            bounds.add(encoded.lower, encoded.upper)
            order = np.argsort(encoded.codes, kind="stable")
            columns = task.layout.columns_of(encoded.codes, enu, chunk.attributes).take(order)
            size = write_block(run, columns, task.layout, task.run)
            sorted_codes = columns.codes
            blocks.append(
                Block(task.run, offset, len(columns), int(sorted_codes[0]), int(sorted_codes[-1]))
            )
            offset += size
            keys = sorted_codes >> shift
            starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
            cells.append(keys[starts])
            counts.append(np.diff(np.r_[starts, keys.shape[0]]).astype(np.int64))
    merged_cells, merged_counts = merge_cell_counts(cells, counts)
    return SpillResult(
        number=task.number,
        path=task.path,
        blocks=tuple(blocks),
        cells=merged_cells,
        counts=merged_counts,
        read=read,
        dropped=dropped,
        outside=outside,
        excess=excess,
        lower=_triple(bounds.lower),
        upper=_triple(bounds.upper),
        usage=ProcessUsage.now(),
    )


def merge_cell_counts(
    cells: Sequence[UInt64Array], counts: Sequence[npt.NDArray[np.int64]]
) -> tuple[UInt64Array, npt.NDArray[np.int64]]:
    """Sum per-cell counts of several lists into one sorted, unique list."""
    if not cells:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    all_cells = np.concatenate(cells)
    all_counts = np.concatenate(counts)
    unique, inverse = np.unique(all_cells, return_inverse=True)
    summed = np.bincount(inverse, weights=all_counts, minlength=unique.shape[0])
    return unique, np.rint(summed).astype(np.int64)


# -- pass 2 reading ------------------------------------------------------------------------


def node_range(level: int, prefix: int) -> tuple[int, int]:
    """The point codes ``[first, end)`` of the node ``prefix`` at ``level``."""
    shift = 3 * (CODE_LEVELS - level)
    return prefix << shift, (prefix + 1) << shift


def _slices(blocks: Collection[Block], first: int, end: int) -> Iterator[tuple[Block, int, int]]:
    """Per block overlapping codes ``[first, end)``: the block and the slice within it."""
    for block in blocks:
        if block.last_code < first or block.first_code >= end:
            continue
        codes = read_codes(block.run, block.offset, block.count)
        lo = int(np.searchsorted(codes, np.uint64(first)))
        hi = int(np.searchsorted(codes, np.uint64(end - 1), side="right"))
        del codes
        if hi > lo:
            yield block, lo, hi


def read_node(
    blocks: Collection[Block],
    layout: RecordLayout,
    level: int,
    prefix: int,
    *,
    sort: bool = True,
) -> PointColumns:
    """All stored points of the node ``prefix`` at ``level``, sorted by code (stable).

    Points with equal codes keep the order of the blocks given (task order, then read
    order), so the result does not depend on scheduling. ``sort=False`` returns the slices
    of the blocks one after another (each sorted; see :meth:`PointColumns.code_order`).
    """
    first, end = node_range(level, prefix)
    parts: list[PointColumns] = []
    files: dict[Path, BinaryIO] = {}
    try:
        for block, lo, hi in _slices(blocks, first, end):
            file = files.get(block.run)
            if file is None:
                file = files[block.run] = block.run.open("rb")
            parts.append(read_block(file, layout, block.offset, block.count, lo, hi))
    finally:
        for file in files.values():
            file.close()
    if not parts:
        return layout.empty()
    points = PointColumns.concat(parts)
    return points.sorted_by_code() if sort else points


def scan_node_children(
    blocks: Collection[Block], level: int, prefix: int
) -> tuple[UInt64Array, npt.NDArray[np.int64]]:
    """Points per non-empty child of a node, by reading only the node's stored codes.

    For nodes too large to plan from the cell counts; memory stays at one block's codes.

    Returns
    -------
    tuple
        Sorted child prefixes (at ``level + 1``) and their point counts.
    """
    first, end = node_range(level, prefix)
    shift = code_shift(level + 1)
    totals = np.zeros(8, dtype=np.int64)
    for block, lo, hi in _slices(blocks, first, end):
        codes = read_codes(block.run, block.offset, block.count)[lo:hi]
        child = (np.asarray(codes) >> shift) & np.uint64(7)
        totals += np.bincount(child.astype(np.int64), minlength=8)
    occupied = np.flatnonzero(totals)
    return (np.uint64(prefix * 8) + occupied.astype(np.uint64)), totals[occupied]
