"""``citymodel tile`` for point clouds: LAS/LAZ/COPC -> a 3D Tiles point tileset, out of core.

Pipeline (on the job's runner: a ``forkserver`` process pool that registers the PROJ grids in
every worker, GEO-1, or a Dask cluster; see :mod:`citymodel.tiler.executor`):

0. **Scan**: each file's header, CRS (``--in-crs``, GEO-5 defaults, LAS-1) and
   georeferencer (missing grids fail here, GEO-3), attributes, colour depth (LAS-2); the
   dataset's ENU frame and octree cube from the header bounds
   (:class:`~citymodel.tiler.points.frame.OctreeFrame`). On the workers, or — with no more
   files than workers of a local pool — here, while the workers start (:class:`_WarmUp`).
1. **Spill** (workers, :mod:`~citymodel.tiler.points.spill`): one task per range of about
   ``task_points`` records, so a single large file uses every core. Points are georeferenced
   to ECEF, coded and stored sorted by code in the scratch store. Header bounds are only
   trusted so far: if any point falls outside the cube (a header that disagrees with its
   points), the job says so and spills again with the measured bounds.
2. **Plan** (here, :func:`~citymodel.tiler.points.octree.plan_chunks`): the tree's root and
   its *chunks* — subtrees of at most ``chunk_points`` points — from per-cell counts.
3. **Index** (workers, :func:`~citymodel.tiler.points.nodes.index_chunks`): each chunk is
   split by ``points_per_tile`` and sampled bottom-up; contents are written as they are final.
4. **Upper levels** (workers, level by level, :func:`~citymodel.tiler.points.nodes.build_upper`):
   the nodes above the chunks take their samples from the chunk roots.
5. **Tileset** (here): tight frame-aligned boxes (each tile's box holds its content and its
   children's, T3D-3), geometric errors of 4 × the point spacing (T3D-4, see
   :mod:`~citymodel.tiler.points.octree`), ADD refinement, the
   dataset's ENU frame as the root ``transform`` (T3D-2); explicit trees are split into
   external tilesets beyond ``max_json_bytes``; ``implicit`` writes octree subtrees instead.

Every input point that the reader delivers (after ``classes``) and that can be georeferenced
is written exactly once: ``report.extra["tiling"]["points"]`` has ``in == written + skipped``.
Memory is bounded whatever the input size: one read chunk per spilling worker, one chunk per
indexing worker, and here only per-cell counts and one small record per tile. Output is
atomic (:class:`~citymodel.tiler._output.OutputTarget`); the scratch store is removed at the
end, also on failure.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from citymodel._pool import TaskRunner
from citymodel.crs import VerticalMode
from citymodel.errors import TilingError
from citymodel.ops.frames import local_to_ecef
from citymodel.placement import GCG2016_CREDIT
from citymodel.report import JobReport
from citymodel.sources import POINT_SUFFIXES, Inputs, expand_inputs
from citymodel.tiler._output import OutputTarget, scratch_folder
from citymodel.tiler._pool import default_jobs
from citymodel.tiler.executor import EXECUTORS, Executor, Runner, open_runner
from citymodel.tiler.implicit import write_implicit
from citymodel.tiler.points import WORKER_MODULES
from citymodel.tiler.points.content import PointContentSpec
from citymodel.tiler.points.frame import OctreeFrame
from citymodel.tiler.points.nodes import (
    ChunkResult,
    ChunkTask,
    NodeInfo,
    Pending,
    Shared,
    UpperResult,
    UpperTask,
    build_upper,
    content_uri,
    index_chunks,
    relative_key,
)
from citymodel.tiler.points.octree import (
    ChunkPlan,
    count_pyramid,
    geometric_error,
    plan_chunks,
    root_of,
)
from citymodel.tiler.points.records import RecordLayout
from citymodel.tiler.points.scan import (
    ScannedInput,
    ScanSettings,
    ScanTask,
    prime_worker,
    scan_task,
)
from citymodel.tiler.points.spill import (
    Block,
    ProcessUsage,
    SpillResult,
    SpillTask,
    merge_cell_counts,
    node_range,
    scan_node_children,
    spill_range,
)
from citymodel.tiler.tileset import Tile, TilesetVersion, write_tileset
from citymodel.tiler.volumes import PADDING, OrientedBox, union_all

__all__ = [
    "PointProgress",
    "PointTileOptions",
    "build_point_tileset",
]

log = logging.getLogger(__name__)

PointProgress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)``: ``"read"`` counts points stored, ``"index"``
chunk tasks, ``"merge"`` nodes above the chunks."""

_Item = TypeVar("_Item")

_CELL_LEVEL = 8
"""Grid level of the per-cell counts pass 1 returns (256 cells per cube edge)."""
_MAX_CHUNKS_PER_TASK = 64
_RELATIVE_PADDING = 2e-3
_MIN_PADDING = 0.5
_MIN_TASK_POINTS = 200_000
_TAPER_ROUNDS = 2
"""Times the last pass-1 ranges are halved (:func:`_taper_tail`)."""
_LOOSE_FACTOR = 16.0
"""A cube this many times larger than the points (4 empty octree levels) is made again."""
_CONTENT_TEMPLATE = "content/{level}/{x}/{y}/{z}"
_SUBTREE_TEMPLATE = "subtrees/{level}/{x}/{y}/{z}.subtree"


@dataclass(frozen=True, slots=True, kw_only=True)
class PointTileOptions:
    """Options of :func:`build_point_tileset`.

    Attributes
    ----------
    jobs
        Worker processes (default: the CPUs available); 1 runs everything in this process.
    executor, scheduler
        Where tasks run: ``"local"`` (process pool) or ``"dask"`` (a Dask cluster; scheduler
        address or None for a local one), as for the city model tiler.
    tiles_version
        ``"1.1"``: glTF points with per-point property attributes (EXT_structural_metadata);
        ``"1.0"``: ``pnts`` with a per-point batch table.
    implicit
        Write implicit octree tiling (3D Tiles 1.1) instead of an explicit tree.
    in_crs, vertical_mode, grids
        As for city models: the CRS of files without one (or overriding theirs), how heights
        are made ellipsoidal, extra PROJ grid folders.
    classes
        Classification codes to keep (None: all points).
    extra_dims
        Extra dimensions to carry into the contents (ExtraBytes or LAS fields such as
        ``gps_time``); every input must have them.
    points_per_tile
        Most points in a leaf tile. The default 50,000 gives contents of at most 1.8 MB
        (36 bytes per point as glTF with colours, 20 as pnts): small enough to stream in a
        fraction of a second, large enough that a billion points make some 30,000 tiles, not
        millions. Inner tiles hold 16-33k points with a ``sample_grid`` of 128 on airborne
        (2.5D) data, so tiles of every level are of similar size (10M generated city
        points: 345 tiles, 29k points on average).
    sample_grid
        Sampling voxels per node edge (a power of two, 8..1024): a parent keeps one point
        per voxel, so its point spacing is its edge / ``sample_grid`` (geometric error: 4 ×
        the spacing).
    chunk_points
        Most points one worker indexes in memory (about 200 bytes per point of working
        memory); subtrees are planned to stay within it.
    read_chunk
        Points read, georeferenced and stored per batch in pass 1.
    task_points
        Most points per pass-1 task (ranges of large files are split).
    scratch_dir
        Folder for the temporary scratch store (default: beside the output); it needs room
        for about 40 bytes per point.
    subtree_levels
        ``subtreeLevels`` of implicit tilesets.
    max_json_bytes
        Largest tileset JSON file; larger explicit trees are split into external tilesets.
    strict
        Fail instead of skipping points that cannot be georeferenced.
    """

    jobs: int = field(default_factory=default_jobs)
    executor: Executor = "local"
    scheduler: str | None = None
    tiles_version: TilesetVersion = "1.1"
    implicit: bool = False
    in_crs: str | None = None
    vertical_mode: VerticalMode = "auto"
    grids: tuple[Path, ...] = ()
    classes: tuple[int, ...] | None = None
    extra_dims: tuple[str, ...] = ()
    points_per_tile: int = 50_000
    sample_grid: int = 128
    chunk_points: int = 1_500_000
    read_chunk: int = 500_000
    task_points: int = 4_000_000
    scratch_dir: Path | None = None
    subtree_levels: int = 3
    max_json_bytes: int = 2_000_000
    strict: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.jobs < 1:
            problems.append(f"jobs must be >= 1, got {self.jobs}")
        if self.executor not in EXECUTORS:
            problems.append(f"executor must be one of {', '.join(EXECUTORS)}")
        if self.tiles_version not in ("1.0", "1.1"):
            problems.append(f"tiles_version must be '1.0' or '1.1', got {self.tiles_version!r}")
        elif self.implicit and self.tiles_version != "1.1":
            problems.append("implicit tiling needs 3D Tiles 1.1 (tiles_version '1.1')")
        if self.vertical_mode not in ("auto", "ellipsoidal-as-is"):
            problems.append(f"unknown vertical_mode {self.vertical_mode!r}")
        if self.classes is not None and any(not 0 <= c <= 255 for c in self.classes):
            problems.append(f"classes must be codes 0..255, got {self.classes}")
        g = self.sample_grid
        if not (8 <= g <= 1024 and g & (g - 1) == 0):
            problems.append(f"sample_grid must be a power of two in 8..1024, got {g}")
        if self.points_per_tile < 1:
            problems.append(f"points_per_tile must be >= 1, got {self.points_per_tile}")
        if self.chunk_points < self.points_per_tile:
            problems.append("chunk_points must be >= points_per_tile")
        if min(self.read_chunk, self.task_points, self.subtree_levels, self.max_json_bytes) < 1:
            problems.append("read_chunk, task_points, subtree_levels, max_json_bytes must be >= 1")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def grid_bits(self) -> int:
        """``log2(sample_grid)``."""
        return self.sample_grid.bit_length() - 1


# -- inputs --------------------------------------------------------------------------------


# -- scan ----------------------------------------------------------------------------------


def _job_layout(inputs: Sequence[ScannedInput], report: JobReport) -> RecordLayout:
    """The union of the files' attributes; files lacking one are reported."""
    layout = RecordLayout()
    for item in inputs:
        layout = layout.union(item.layout)
    for item in inputs:
        missing = [layout.get(m) for m in layout.missing_in(item.layout)]
        if missing:
            filled = ", ".join(f"{m.name} = {m.fill}" for m in missing if m is not None)
            report.warn(f"{item.path}: lacks attributes other inputs have; written as {filled}")
    return layout


def _padding(edge: float) -> float:
    return max(_MIN_PADDING, _RELATIVE_PADDING * edge)


def _frame_of(samples: np.ndarray[Any, np.dtype[np.float64]]) -> OctreeFrame:
    """The frame around ECEF samples with the cube padded for curvature and rounding."""
    rough = OctreeFrame.around(samples)
    enu = rough.to_enu(samples)
    return OctreeFrame.from_bounds(
        rough.matrix, enu.min(axis=0), enu.max(axis=0), padding=_padding(rough.edge)
    )


def _measured_frame(old: OctreeFrame, results: Sequence[SpillResult]) -> OctreeFrame:
    """A new frame around the points' measured bounds (after a header disagreed with them)."""
    lower = np.min([r.lower for r in results if r.stored], axis=0)
    upper = np.max([r.upper for r in results if r.stored], axis=0)
    corners = np.array(
        [[(lower, upper)[(i >> k) & 1][k] for k in range(3)] for i in range(8)], dtype=np.float64
    )
    return _frame_of(local_to_ecef(corners, old.enu_to_ecef))


def _halve_tail(
    ranges: Sequence[tuple[_Item, int, int]], jobs: int
) -> list[tuple[_Item, int, int]]:
    """The record ranges with the last ``jobs`` of them split in two halves.

    The workers run the ranges in order; the last ones finish at different times, and one
    core idles until the slowest is done. Halving them halves that idle tail for the price
    of ``jobs`` more tasks. Ranges below ``2 * _MIN_TASK_POINTS`` records stay whole.
    """
    if jobs < 2 or len(ranges) <= 1:
        return list(ranges)
    tail = len(ranges) - min(jobs, len(ranges))
    out = list(ranges[:tail])
    for item, a, b in ranges[tail:]:
        if b - a < 2 * _MIN_TASK_POINTS:
            out.append((item, a, b))
            continue
        middle = (a + b) // 2
        out.extend([(item, a, middle), (item, middle, b)])
    return out


def _taper_tail(
    ranges: Sequence[tuple[_Item, int, int]], jobs: int, rounds: int = _TAPER_ROUNDS
) -> list[tuple[_Item, int, int]]:
    """The record ranges with a tail of ever smaller ranges (:func:`_halve_tail`, repeated).

    Two rounds make the last ranges halves, then quarters: the idle tail of pass 1 (one
    core waiting for the other's last task, before pass 2 can be planned) becomes about
    an eighth of a range, for ``3 * jobs`` more tasks of which each costs little (an open
    file and the rest of one LAZ chunk decoded in vain).
    """
    out = list(ranges)
    for _ in range(rounds):
        out = _halve_tail(out, jobs)
    return out


# -- the job -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Stats:
    timings: dict[str, float] = field(default_factory=dict)
    points_read: int = 0
    points_dropped: int = 0
    points_written: int = 0
    contents: int = 0
    content_bytes: int = 0
    output_bytes: int = 0
    tiles: int = 0
    depth: int = 0
    chunks: int = 0
    respilled: bool = False
    workers: dict[int, ProcessUsage] = field(default_factory=dict)
    contents_per_level: Counter[int] = field(default_factory=Counter)
    geometric_error: dict[str, float] = field(default_factory=dict)

    def timed(self, stage: str, start: float) -> None:
        self.timings[stage] = round(time.perf_counter() - start, 3)

    def note(self, usage: ProcessUsage | None) -> None:
        """Keep the latest usage report of each worker process (not this one)."""
        if usage is not None and usage.pid != os.getpid():
            known = self.workers.get(usage.pid)
            if known is None or usage.cpu_s >= known.cpu_s:
                self.workers[usage.pid] = usage


class _WarmUp:
    """Start the workers of a local pool and prime their reader caches, in the background.

    :meth:`~citymodel._pool.TaskRunner.start` starts the workers (the ``forkserver``, the
    preloaded modules, grid registration); a thread then hands the pool one
    :func:`~citymodel.tiler.points.scan.prime_worker` task per worker, which reads the files'
    LAZ chunk tables into the worker's reader cache. Both overlap with whatever this process
    does meanwhile (the scan). Leaving the block waits for the priming; a failed priming is
    only logged (the tasks that follow report any real problem).
    """

    def __init__(self, runner: TaskRunner, paths: Sequence[Path]) -> None:
        self._runner = runner
        self._tasks = [tuple(paths)] * runner.jobs
        self._thread = threading.Thread(target=self._prime, name="citymodel-prime", daemon=True)

    def _prime(self) -> None:
        try:
            workers = set(self._runner.map(prime_worker, self._tasks))
            log.debug("%d workers primed", len(workers))
        except Exception:  # only priming: the real tasks report failures
            log.debug("worker priming failed", exc_info=True)

    def __enter__(self) -> _WarmUp:
        self._runner.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join()


def build_point_tileset(
    inputs: Inputs,
    output: str | os.PathLike[str],
    *,
    options: PointTileOptions | None = None,
    report: JobReport | None = None,
    progress: PointProgress | None = None,
) -> JobReport:
    """Tile LAS/LAZ/COPC point clouds into a 3D Tiles tileset folder or ``.3tz`` archive.

    Parameters
    ----------
    inputs
        Files, folders or glob patterns of ``.las`` / ``.laz`` / ``.copc.laz`` files.
    output
        Output folder (``tileset.json`` and ``content/``) or a ``.3tz`` file; written
        atomically (it appears, or replaces an existing tileset, only when complete).
    options
        See :class:`PointTileOptions`.
    report
        Collects inputs, CRS and operations, warnings, points that could not be
        georeferenced; the summary (points in/written, tiles per level, bytes, timings per
        stage, points per second, peak memory) goes to ``report.extra["tiling"]``.
    progress
        Optional ``progress(stage, done, total)`` (see :data:`PointProgress`).

    Returns
    -------
    JobReport

    Raises
    ------
    InputError, CRSError
        For an input that stops the job (unreadable or truncated file, no CRS, CRS that does
        not fit the coordinates, missing grid, unknown extra dimension).
    StrictModeError
        In strict mode, when points cannot be georeferenced.
    TilingError
        When there is nothing to tile.
    OutputError
        When the output or the scratch store cannot be written.
    """
    opts = options or PointTileOptions()
    report = report if report is not None else JobReport(strict=opts.strict)
    started = time.perf_counter()
    paths = expand_inputs(inputs, suffixes=POINT_SUFFIXES)
    target = OutputTarget.prepare(output)
    scratch: Path | None = None
    try:
        scratch = scratch_folder(opts.scratch_dir, target.output)
        job = _Job(opts, report, progress, scratch, target)
        with open_runner(
            opts.executor,
            jobs=opts.jobs,
            grids=opts.grids,
            scheduler=opts.scheduler,
            shared=(scratch, target.staging),
            inputs=paths,
            preload=WORKER_MODULES,
        ) as runner:
            scanned = job.scan(runner, paths)
            results = job.spill(runner, scanned)
            chunks = job.plan(results)
            nodes = job.index(runner, chunks, results)
        job.write_tileset(nodes)
    except BaseException:
        target.discard()
        raise
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    report.outputs.append(str(target.output))
    job.stats.timed("total", started)
    report.extra["tiling"] = job.summary()
    return report


@dataclass(slots=True)
class _Job:
    """One run: options, report, scratch store, output, frame and statistics."""

    opts: PointTileOptions
    report: JobReport
    progress: PointProgress | None
    scratch: Path
    target: OutputTarget
    stats: _Stats = field(default_factory=_Stats)
    frame: OctreeFrame | None = None
    layout: RecordLayout = field(default_factory=RecordLayout)
    grids: set[str] = field(default_factory=set)
    root: tuple[int, int] = (0, 0)
    blocks: tuple[Block, ...] = ()
    chunk_target: int = 1

    # -- 0: scan ---------------------------------------------------------------------------

    def scan(self, runner: Runner, paths: Sequence[Path]) -> list[ScannedInput]:
        """Headers, CRSs and attributes of every file (on the workers), then the frame."""
        start = time.perf_counter()
        opts = self.opts
        settings = ScanSettings(
            in_crs=opts.in_crs,
            vertical_mode=opts.vertical_mode,
            extra_dims=opts.extra_dims,
            strict=opts.strict,
        )
        tasks = [ScanTask(n, path, settings) for n, path in enumerate(paths)]
        if isinstance(runner, TaskRunner) and runner.jobs > 1 and len(tasks) <= runner.jobs:
            # Few files: scan them here while the workers start (their start-up is the
            # longer of the two), instead of starting them first and scanning after.
            with _WarmUp(runner, paths):
                found = [scan_task(task) for task in tasks]
        else:
            found = sorted(runner.map(scan_task, tasks), key=lambda s: s.number)
        for result in found:
            self.report.merge(result.report)
        scanned = [r.item for r in found if r.item is not None]
        if not scanned:
            raise TilingError("nothing to tile: the inputs hold no points")
        self.layout = _job_layout(scanned, self.report)
        for item in scanned:
            self.grids.update(item.grids)
        samples = np.concatenate([s.samples for s in scanned])
        if samples.shape[0] == 0:
            raise TilingError(
                "cannot place the point clouds: neither the header bounds nor the first point "
                "of any input could be georeferenced (check the CRS, e.g. with --in-crs)"
            )
        self.frame = _frame_of(samples)
        self.stats.timed("scan", start)
        return scanned

    # -- 1: spill --------------------------------------------------------------------------

    def _tasks(
        self, scanned: Sequence[ScannedInput], frame: OctreeFrame, runs: Path
    ) -> list[SpillTask]:
        opts = self.opts
        total = sum(s.count for s in scanned)
        size = min(opts.task_points, max(_MIN_TASK_POINTS, -(-total // (4 * opts.jobs))))
        ranges: list[tuple[ScannedInput, int, int]] = []
        for item in scanned:
            pieces = max(1, -(-item.count // size))
            edges = np.linspace(0, item.count, pieces + 1).round().astype(np.int64)
            ranges.extend(
                (item, a, b) for a, b in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True)
            )
        tasks: list[SpillTask] = []
        for item, a, b in _taper_tail(ranges, opts.jobs):
            tasks.append(
                SpillTask(
                    number=len(tasks),
                    path=item.path,
                    start=a,
                    stop=b,
                    source=item.source,
                    vertical_mode=opts.vertical_mode,
                    frame=frame,
                    layout=self.layout,
                    classes=opts.classes,
                    extra_dims=opts.extra_dims,
                    chunk_size=opts.read_chunk,
                    cell_level=_CELL_LEVEL,
                    run=runs / f"{len(tasks)}.run",
                    color_depth=item.color_depth,
                )
            )
        return tasks

    def _spill_once(
        self, runner: Runner, scanned: Sequence[ScannedInput], frame: OctreeFrame
    ) -> list[SpillResult]:
        runs = self.scratch / "runs"
        shutil.rmtree(runs, ignore_errors=True)
        runs.mkdir(parents=True)
        tasks = self._tasks(scanned, frame, runs)
        total = sum(t.stop - t.start for t in tasks)
        done = 0
        results: list[SpillResult] = []
        for result in runner.map(spill_range, tasks):
            results.append(result)
            task = tasks[result.number]
            done += task.stop - task.start
            self.stats.note(result.usage)
            if self.progress is not None:
                self.progress("read", done, total)
        results.sort(key=lambda r: r.number)
        return results

    def spill(self, runner: Runner, scanned: Sequence[ScannedInput]) -> list[SpillResult]:
        """Pass 1, repeated once with measured bounds when a header disagrees with its points."""
        start = time.perf_counter()
        assert self.frame is not None
        results = self._spill_once(runner, scanned, self.frame)
        if self._misplaced(results):
            self.frame = _measured_frame(self.frame, results)
            self.stats.respilled = True
            results = self._spill_once(runner, scanned, self.frame)
            if any(r.outside for r in results):
                raise TilingError(
                    "points moved outside their measured bounds between two reads; "
                    "are the input files being changed?"
                )
        stats, report = self.stats, self.report
        for result in results:
            stats.points_read += result.read
            stats.points_dropped += result.dropped
            report.read["points"] += result.read
        dropped: Counter[Path] = Counter()
        for result in results:
            dropped[result.path] += result.dropped
        for path, n in dropped.items():
            if n:
                report.skip(
                    f"{n:,} points could not be georeferenced (outside the area of the "
                    "CRS transformation or its grids, GEO-4); they are not written",
                    file=str(path),
                )
        self.blocks = tuple(b for r in results for b in r.blocks)
        if not self.blocks:
            raise TilingError(
                "nothing to tile: no point was selected"
                + (f" (classes {list(self.opts.classes)})" if self.opts.classes else "")
                + (
                    f", {stats.points_dropped:,} could not be georeferenced"
                    if stats.points_dropped
                    else ""
                )
            )
        stats.timed("spill", start)
        log.info("pass 1: %d points stored from %d files", stats.points_read, len(scanned))
        return results

    def _misplaced(self, results: Sequence[SpillResult]) -> bool:
        """True (and reported) when the header bounds misled the cube.

        That is: points outside it, or a cube so much larger than the points that the tree
        would start with levels of almost empty tiles.
        """
        assert self.frame is not None
        outside = [r for r in results if r.outside]
        per_file: dict[Path, list[SpillResult]] = defaultdict(list)
        for r in outside:
            per_file[r.path].append(r)
        for path, rs in per_file.items():
            self.report.warn(
                f"{path}: {sum(r.outside for r in rs):,} points lie up to "
                f"{max(r.excess for r in rs):,.1f} m outside the header bounds; the header "
                "is wrong, the points were read again with their measured bounds"
            )
        stored = [r for r in results if r.stored]
        if outside or not stored:
            return bool(outside)
        extent = float(
            (
                np.max([r.upper for r in stored], axis=0)
                - np.min([r.lower for r in stored], axis=0)
            ).max()
        )
        if self.frame.edge > _LOOSE_FACTOR * max(extent, 1.0):
            self.report.warn(
                f"the header bounds span {self.frame.edge:,.0f} m, the points only "
                f"{extent:,.1f} m; the points were read again with their measured bounds"
            )
            return True
        return False

    # -- 2: plan ---------------------------------------------------------------------------

    def plan(self, results: Sequence[SpillResult]) -> list[ChunkPlan]:
        start = time.perf_counter()
        opts = self.opts
        cells, counts = merge_cell_counts([r.cells for r in results], [r.counts for r in results])
        first = min(b.first_code for b in self.blocks)
        last = max(b.last_code for b in self.blocks)
        self.root = root_of(first, last)
        root_level, root_prefix = self.root
        total = int(counts.sum())
        pyramid = count_pyramid(cells, counts, _CELL_LEVEL, min(root_level, _CELL_LEVEL))
        target = min(opts.chunk_points, max(4 * opts.points_per_tile, -(-total // (4 * opts.jobs))))
        self.chunk_target = target
        chunks = plan_chunks(
            pyramid,
            root_level=root_level,
            root_prefix=root_prefix,
            target=target,
            limit=opts.chunk_points,
            finer=lambda level, prefix: scan_node_children(self.blocks, level, prefix),
        )
        if sum(c.count for c in chunks) != total:
            raise TilingError(f"chunk plan covers {sum(c.count for c in chunks)} of {total} points")
        self.stats.chunks = len(chunks)
        self.stats.timed("plan", start)
        return chunks

    # -- 3, 4: index and upper levels -----------------------------------------------------

    def _shared(self) -> Shared:
        assert self.frame is not None
        credit = GCG2016_CREDIT if "de_bkg_gcg2016.tif" in self.grids else None
        pending = self.scratch / "pending"
        pending.mkdir(parents=True, exist_ok=True)
        return Shared(
            frame=self.frame,
            content=PointContentSpec(self.opts.tiles_version, self.layout, credit),
            staging=self.target.staging,
            pending=pending,
            root_level=self.root[0],
            root_prefix=self.root[1],
            budget=self.opts.points_per_tile,
            grid_bits=self.opts.grid_bits,
        )

    def _chunk_tasks(
        self, chunks: Sequence[ChunkPlan], shared: Shared, target: int
    ) -> Iterable[ChunkTask]:
        """Consecutive chunks grouped up to ``target`` points, with the blocks they read."""
        if len(chunks) == 1 and (chunks[0].level, chunks[0].prefix) == self.root:
            yield ChunkTask(tuple(chunks), self.blocks, shared, is_root=True)
            return
        group: list[ChunkPlan] = []
        points = 0
        for chunk in [*chunks, None]:
            if group and (
                chunk is None or points + chunk.count > target or len(group) >= _MAX_CHUNKS_PER_TASK
            ):
                first = node_range(group[0].level, group[0].prefix)[0]
                end = node_range(group[-1].level, group[-1].prefix)[1]
                blocks = tuple(
                    b for b in self.blocks if b.last_code >= first and b.first_code < end
                )
                yield ChunkTask(tuple(group), blocks, shared)
                group, points = [], 0
            if chunk is not None:
                group.append(chunk)
                points += chunk.count

    def index(
        self, runner: Runner, chunks: Sequence[ChunkPlan], results: Sequence[SpillResult]
    ) -> dict[tuple[int, int], NodeInfo]:
        start = time.perf_counter()
        shared = self._shared()
        # Largest first: the last tasks to finish are small ones, so the workers finish
        # together instead of one core idling while the other indexes a large chunk.
        tasks = sorted(
            self._chunk_tasks(chunks, shared, self.chunk_target),
            key=lambda t: -sum(c.count for c in t.chunks),
        )
        nodes: dict[tuple[int, int], NodeInfo] = {}
        pending: dict[tuple[int, int], Pending] = {}
        for done, result in enumerate(runner.map(index_chunks, tasks), 1):
            self._collect(result, nodes)
            for p in result.pending:
                pending[(p.level, p.prefix)] = p
            if self.progress is not None:
                self.progress("index", done, len(tasks))
        self.stats.timed("index", start)
        start = time.perf_counter()
        self._upper_levels(runner, shared, nodes, pending)
        self.stats.timed("upper", start)
        return nodes

    def _collect(
        self, result: ChunkResult | UpperResult, nodes: dict[tuple[int, int], NodeInfo]
    ) -> None:
        stats = self.stats
        stats.note(result.usage)
        for info in result.nodes:
            nodes[(info.level, info.prefix)] = info
            if info.count:
                stats.points_written += info.count
                stats.contents += 1
                stats.content_bytes += info.nbytes
                stats.contents_per_level[info.level - self.root[0]] += 1

    def _upper_levels(
        self,
        runner: Runner,
        shared: Shared,
        nodes: dict[tuple[int, int], NodeInfo],
        pending: dict[tuple[int, int], Pending],
    ) -> None:
        """Nodes above the chunks, deepest level first; each takes its children's sample."""
        root_level, root_prefix = self.root
        total = sum(1 for _ in self._upper_nodes(pending))
        done = 0
        while pending:
            deepest = max(level for level, _ in pending)
            if deepest <= root_level:
                raise TilingError("internal error: pending points at the root level")
            parents: dict[int, list[Pending]] = defaultdict(list)
            for (level, prefix), item in sorted(pending.items()):
                if level == deepest:
                    parents[prefix >> 3].append(item)
            for level, prefix in [k for k in pending if k[0] == deepest]:
                del pending[(level, prefix)]
            tasks = [
                UpperTask(
                    level=deepest - 1,
                    prefix=parent,
                    children=tuple(kids),
                    shared=shared,
                    is_root=(deepest - 1, parent) == (root_level, root_prefix),
                )
                for parent, kids in sorted(parents.items())
            ]
            for result in runner.map(build_upper, tasks):
                self._collect(result, nodes)
                if result.pending is not None:
                    p = result.pending
                    pending[(p.level, p.prefix)] = p
                done += 1
                if self.progress is not None:
                    self.progress("merge", done, max(total, done))

    def _upper_nodes(self, pending: dict[tuple[int, int], Pending]) -> set[tuple[int, int]]:
        """Every node above the chunk roots (for progress totals)."""
        found: set[tuple[int, int]] = set()
        for level, prefix in pending:
            while level > self.root[0]:
                level, prefix = level - 1, prefix >> 3
                found.add((level, prefix))
        return found

    # -- 5: tileset ------------------------------------------------------------------------

    def write_tileset(self, nodes: dict[tuple[int, int], NodeInfo]) -> None:
        start = time.perf_counter()
        opts, stats, frame = self.opts, self.stats, self.frame
        assert frame is not None
        if stats.points_written != stats.points_read - stats.points_dropped:
            raise TilingError(
                f"internal error: {stats.points_written} points written of "
                f"{stats.points_read - stats.points_dropped}"
            )
        shared = self._shared()
        root_level, root_prefix = self.root
        children: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
        for key in nodes:
            if key != self.root:
                children[(key[0] - 1, key[1] >> 3)].append(key)
        tiles: dict[tuple[int, int], Tile] = {}
        for key in sorted(nodes, key=lambda k: (-k[0], k[1])):
            level, prefix = key
            info = nodes[key]
            kids = [tiles.pop(k) for k in sorted(children.get(key, [])) if k in tiles]
            content = None
            if info.count and info.lower is not None and info.upper is not None:
                content = OrientedBox.from_min_max(info.lower, info.upper, padding=PADDING)
            if content is None and not kids:
                continue
            volumes = [t.bounding_volume for t in kids] + ([content] if content else [])
            is_root = key == self.root
            tiles[key] = Tile(
                bounding_volume=union_all(volumes),
                geometric_error=geometric_error(frame, level, opts.grid_bits),
                refine="ADD" if is_root else None,
                content_uri=content_uri(level, prefix, shared) if content else None,
                content_bounding_volume=content if content is not None and kids else None,
                transform=frame.matrix if is_root else None,
                children=kids,
                key=relative_key(level, prefix, shared),
            )
        root = tiles[self.root]
        kept = root.walk()
        stats.tiles = len(kept)
        stats.depth = max(t.key.level for t in kept if t.key is not None)
        root_error = geometric_error(frame, root_level, opts.grid_bits)
        tileset_error = frame.node_edge(root_level)  # nothing drawn: the whole cube is missing
        stats.geometric_error = {"tileset": tileset_error, "root": root_error}
        if opts.implicit:
            lower = frame.node_min(root_level, np.uint64(root_prefix))
            edge = frame.node_edge(root_level)
            root = write_implicit(
                self.target.staging,
                root_volume=OrientedBox.from_min_max(lower, lower + edge),
                available=[t.key for t in kept if t.key is not None],
                content=[t.key for t in kept if t.key is not None and t.content_uri],
                subtree_levels=opts.subtree_levels,
                geometric_error=root_error,
                refine="ADD",
                transform=frame.matrix,
                content_uri=_CONTENT_TEMPLATE + shared.content.suffix,
                subtree_uri=_SUBTREE_TEMPLATE,
            ).root
        write_tileset(
            root,
            self.target.staging,
            version=opts.tiles_version,
            geometric_error=tileset_error,
            max_json_bytes=opts.max_json_bytes,
        )
        stats.output_bytes = self.target.publish()
        self.report.written["points"] += stats.points_written
        stats.timed("tileset", start)

    def summary(self) -> dict[str, Any]:
        """``report.extra["tiling"]``: points, tiles, bytes, timings, memory."""
        opts, stats = self.opts, self.stats
        written = stats.points_written
        total_s = stats.timings.get("total", 0.0)
        main = ProcessUsage.now()
        workers = list(stats.workers.values())
        worker_cpu = sum(u.cpu_s for u in workers)
        return {
            "output": str(self.target.output),
            "format": "3tz" if self.target.archive else "folder",
            "kind": "points",
            "tiles_version": opts.tiles_version,
            "implicit": opts.implicit,
            "refine": "ADD",
            "jobs": opts.jobs,
            "crs": sorted({str(v.get("source")) for v in self.report.crs.values()}),
            "points": {
                "in": stats.points_read,
                "written": written,
                "skipped": stats.points_dropped,
                "classes": list(opts.classes) if opts.classes is not None else None,
                "attributes": list(self.layout.names),
            },
            "tiles": {
                "total": stats.tiles,
                "with_content": stats.contents,
                "contents_per_level": {
                    str(k): v for k, v in sorted(stats.contents_per_level.items())
                },
                "depth": stats.depth,
                "chunks": stats.chunks,
                "points_per_tile": opts.points_per_tile,
            },
            "geometric_error": stats.geometric_error,
            "bytes": {
                "total": stats.output_bytes,
                "contents": stats.content_bytes,
                "per_point": round(stats.content_bytes / written, 2) if written else None,
            },
            "header_bounds_wrong": stats.respilled,
            "timings_s": stats.timings,
            "points_per_s": round(stats.points_read / total_s) if total_s > 0 else None,
            "cpu_s": {"main": round(main.cpu_s, 2), "workers": round(worker_cpu, 2)},
            "peak_rss_mb": {
                "main": round(main.rss_kb / 1024, 1),
                "worker_max": round(max((u.rss_kb for u in workers), default=0) / 1024, 1),
            },
        }
