"""The ``tile`` tool: city model files -> a 3D Tiles tileset (folder or 3TZ), in bounded memory.

Pipeline (design guide §3.4), on a pool of ``jobs`` worker processes started with
``forkserver`` (``spawn`` where unavailable) — never ``fork``, so no worker inherits threads or
PROJ state; each worker registers the PROJ grid folders in its initializer (GEO-1):

1. **Pass 1**, one task per input file (a ``.zip`` is one input): reader -> chunks of
   top-level features -> :func:`~citymodel.meshing.mesh_features` (source CRS) ->
   :func:`~citymodel.placement.to_ecef_checked` (ECEF, EPSG:4978, with the geoid grid) ->
   :class:`~citymodel.tiler.store.ShardWriter` (one scratch shard per task). A task returns
   its index rows, its job report (skips, warnings, counts: plain data, so nothing is lost at
   the process boundary) and the property types of its rows, merged into one metadata schema
   for every tile. A file-level error (broken XML, no CRS, missing grid) stops the job.
2. **Plan** (parent, pure): :func:`~citymodel.tiler.partition.partition` by leaf budgets, then
   :func:`~citymodel.tiler.lod.assign_lod` (explicit tilesets: REPLACE, simplified blocks in
   inner tiles) or :func:`~citymodel.tiler.implicit_plan.plan_implicit` (implicit tilesets:
   ADD, each building in the deepest tile whose computed cell contains it, T3D-5); every plan
   is checked.
3. **Pass 2**, one task per tile with content: read its units (full geometry) or blocks from
   the scratch store -> GLB (3D Tiles 1.1, EXT_mesh_features + EXT_structural_metadata with
   the shared schema) or b3dm (1.0) -> a file in the staging folder. Tasks return placement and
   counts, never the bytes.
4. **Tileset**: explicit trees get tight ``region`` volumes computed from the written content
   (union of own content and children, so every vertex lies inside its tile's and all
   ancestors' volumes, T3D-3), each content tile its own ENU ``transform`` (T3D-2), the plan's
   geometric errors (T3D-4) and external tilesets when the JSON grows large; implicit trees
   get binary subtrees and one shared ENU frame (T3D-5). 3D Tiles 1.1 tilesets carry the
   metadata schema of the contents at the top level.

Output is atomic: everything is written into a staging folder beside the output
(``.<name>.partial-<pid>``, ``tileset.json`` last) and renamed into place at the end (a ``.3tz``
output is packed from it); an existing tileset folder is replaced only once the new one is
complete. The scratch store lives in a temporary folder beside the output (or below
``scratch_dir``) and is deleted at the end, as is the staging folder when the job fails.

Both passes keep at most ``2 * jobs`` tasks in flight. A pass with a single task, or too small
to pay for starting the workers (input bytes, content triangles), runs in this process instead
(:mod:`citymodel.tiler._dispatch`; same tasks, byte-identical output). With ``--replace`` the
design models are read first, their footprints taken while they are tiled, and the city
after them (each design is read once, :mod:`citymodel.tiler.replace`).

Memory is bounded by one chunk of buildings per reading worker (``chunk_size``), the largest tile per writing worker and the
index in this process (94 bytes per building), whatever the size of the city. The report's
``peak_rss_mb`` gives this process's peak and the largest peak of any worker (measured by the
workers themselves: forkserver workers are not children of this process).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from citymodel._pool import default_jobs
from citymodel.converters._citygml_chunks import (
    DEFAULT_CHUNK_BYTES,
    ChunkNotes,
    ChunkReading,
    DocumentChunk,
    document_notes,
    misplaced_chunks,
    objects_before,
    plan_chunks,
)
from citymodel.converters.gltf import (
    PropertySpec,
    SemanticMaterials,
    infer_property_types,
    merge_property_types,
)
from citymodel.converters.gltf_compression import COMPRESSIONS, Compression, meshopt_codec
from citymodel.converters.gltf_draco import draco_codec
from citymodel.converters.pipeline import (
    count_written,
    georeferencer,
    meshed_chunks,
    reader_options,
    source_crs,
)
from citymodel.converters.texture_encoding import TextureEncoding
from citymodel.crs import VerticalMode, geodetic_to_ecef
from citymodel.errors import OutputError, TilingError
from citymodel.mesh import MeshBatch, select_rows
from citymodel.ops.frames import enu_to_ecef_matrix, to_gltf_matrix
from citymodel.placement import GCG2016_CREDIT
from citymodel.remote import InputStaging, RemoteFile
from citymodel.report import JobReport
from citymodel.sources import InputFile, Inputs, expand_sources
from citymodel.sources import open as open_source
from citymodel.tiler import _dispatch
from citymodel.tiler._output import OutputTarget, scratch_folder
from citymodel.tiler.content import TileContent, encode_tile_b3dm, encode_tile_glb
from citymodel.tiler.executor import EXECUTORS, Executor, Runner, open_runner
from citymodel.tiler.implicit import DEFAULT_CONTENT_URI, expand_template, write_implicit
from citymodel.tiler.implicit_plan import ImplicitPlan, implicit_root, plan_implicit
from citymodel.tiler.index import FeatureIndex, ShardIndexCollector
from citymodel.tiler.lod import ContentKind, LodPlan, LodPolicy, assign_lod
from citymodel.tiler.partition import PartitionOptions, partition
from citymodel.tiler.replace import (
    FootprintCollector,
    FootprintPart,
    ReplacePlan,
    ReplaceRule,
    collect_footprints,
    complete_replacement,
    finish_replacement,
    hide_replaced,
    pending_replacement,
    replacement_inputs,
)
from citymodel.tiler.store import Locations, ShardWriter, read_blocks, read_units, shard_path
from citymodel.tiler.texture_atlas import DEFAULT_ATLAS_SIZE
from citymodel.tiler.tileset import Tile, TilesetVersion, relative_transform, write_tileset
from citymodel.tiler.volumes import BoundingVolume, Region, union_all

__all__ = ["TileOptions", "TileProgress", "build_tileset", "default_jobs"]

log = logging.getLogger(__name__)

TileProgress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)``: stage ``"read"`` counts input files, ``"write"``
counts tile contents; ``"buildings"`` (total 0: not known in advance) gives the buildings read
so far, just before each ``"read"`` call."""

_MAX_SHARDS = 0x10000
_SCHEMA_ID = "citymodel"
_CLASS_NAME = "building"


@dataclass(frozen=True, slots=True, kw_only=True)
class TileOptions:
    """Options of :func:`build_tileset`.

    Attributes
    ----------
    jobs
        Worker processes (default: the CPUs available); 1 runs everything in this process.
        With ``executor="dask"``: the workers of the local Dask cluster (ignored with a
        ``scheduler``, whose cluster runs as many tasks as it has worker threads).
    executor
        Where the tasks of both passes run: ``"local"`` (process pool) or ``"dask"`` (Dask
        distributed; needs the ``distributed`` extra; see
        :mod:`citymodel.tiler.executor`). The tileset is byte-identical either way.
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``) for ``executor="dask"``;
        None starts a local cluster of ``jobs`` single-threaded worker processes.
    implicit
        Write implicit tiling (binary subtrees, 3D Tiles 1.1 only) instead of an explicit tree.
    tiles_version
        ``"1.1"`` (GLB contents with EXT_mesh_features / EXT_structural_metadata) or ``"1.0"``
        (b3dm contents with batch tables).
    in_crs, vertical_mode, grids, lod, types, strict, materials, chunk_size
        As for ``convert`` (:class:`citymodel.converters.convert.ConvertOptions`).
    partition
        Leaf budgets (triangles, stored bytes, buildings per leaf).
    lod_policy
        Budgets and error floor of inner tiles (explicit tilesets: their simplified blocks;
        implicit tilesets: only ``min_error``).
    scratch_dir
        Folder for the temporary scratch store (default: beside the output); a fresh
        sub-folder is made and removed at the end. With a remote Dask cluster it must be on
        storage every worker mounts at the same path, like the output's folder.
    subtree_levels
        ``subtreeLevels`` of implicit tilesets.
    max_json_bytes
        Largest tileset JSON file; larger explicit trees are split into external tilesets.
    compress
        Geometry compression of the contents: ``"none"``, ``"meshopt"`` (positions on a
        16-bit grid moved by at most 1 cm, 8-bit normals, ``EXT_meshopt_compression``; see
        :mod:`citymodel.converters.gltf_compression`) or ``"draco"``
        (``KHR_draco_mesh_compression``, positions within 1 cm; see
        :mod:`citymodel.converters.gltf_draco`); both need the ``compress`` extra. With
        compression the report also gives the bytes the contents would take without it.
    atlas_size
        Texture pixel budget of one content: its atlas and images hold at most
        ``atlas_size**2`` pixels, the atlas at most ``atlas_size`` on a side
        (:mod:`citymodel.tiler.texture_atlas`).
    textures
        Image format of the textures: JPEG/PNG (``auto``, the default), or KTX2 with Basis
        Universal (``KHR_texture_basisu``), encoded in the workers
        (:mod:`citymodel.converters.texture_encoding`).
    reader_options
        Format-specific reader options as picklable ``(name, value)`` pairs, passed to every
        input's reader in pass 1 (e.g. ``(("origin", (x, y, z, rotation_deg)),)`` for an IFC
        model without georeferencing; ``in_crs`` is passed anyway).
    replace
        Design models tiled in place of the city buildings they stand on (``--replace``;
        see :mod:`citymodel.tiler.replace`): each rule's model is added to the inputs and the
        buildings under its footprint (or listed by id) are left out in pass 1;
        ``report.extra["replaced"]`` lists them.
    split_bytes
        Plain CityGML files of at least twice this size are read in chunks of about this
        many bytes, one pass-1 task each, so that one big file uses every worker
        (:mod:`citymodel.converters._citygml_chunks`); 0 reads every file in one task. The
        tileset does not depend on it.
    """

    jobs: int = field(default_factory=default_jobs)
    executor: Executor = "local"
    scheduler: str | None = None
    implicit: bool = False
    tiles_version: TilesetVersion = "1.1"
    in_crs: str | None = None
    vertical_mode: VerticalMode = "auto"
    grids: tuple[Path, ...] = ()
    lod: str | None = None
    types: tuple[str, ...] | None = None
    strict: bool = False
    partition: PartitionOptions = field(default_factory=PartitionOptions)
    lod_policy: LodPolicy = field(default_factory=LodPolicy)
    scratch_dir: Path | None = None
    materials: SemanticMaterials | None = None
    chunk_size: int = 512
    subtree_levels: int = 5
    max_json_bytes: int = 2_000_000
    compress: Compression = "none"
    reader_options: tuple[tuple[str, Any], ...] = ()
    replace: tuple[ReplaceRule, ...] = ()
    split_bytes: int = DEFAULT_CHUNK_BYTES
    atlas_size: int = DEFAULT_ATLAS_SIZE
    textures: TextureEncoding = field(default_factory=TextureEncoding)

    def __post_init__(self) -> None:
        problems = []
        if self.compress not in COMPRESSIONS:
            problems.append(
                f"compress must be one of {', '.join(COMPRESSIONS)}, got {self.compress!r}"
            )
        if self.jobs < 1:
            problems.append(f"jobs must be >= 1, got {self.jobs}")
        if self.executor not in EXECUTORS:
            problems.append(
                f"executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}"
            )
        elif self.scheduler is not None and self.executor != "dask":
            problems.append("a scheduler address needs executor 'dask'")
        if self.tiles_version not in ("1.0", "1.1"):
            problems.append(f"tiles_version must be '1.0' or '1.1', got {self.tiles_version!r}")
        elif self.implicit and self.tiles_version != "1.1":
            problems.append("implicit tiling needs 3D Tiles 1.1 (tiles_version '1.1')")
        if self.vertical_mode not in ("auto", "ellipsoidal-as-is"):
            problems.append(f"unknown vertical_mode {self.vertical_mode!r}")
        if self.chunk_size < 1 or self.subtree_levels < 1 or self.max_json_bytes < 1:
            problems.append("chunk_size, subtree_levels and max_json_bytes must be positive")
        if problems:
            raise ValueError("; ".join(problems))


# -- pass 1: read, mesh, georeference, spill ------------------------------------------------


@dataclass(frozen=True, slots=True)
class _IndexTask:
    shard: int
    paths: tuple[InputFile, ...]
    scratch: Path
    in_crs: str | None
    vertical_mode: VerticalMode
    lod: str | None
    types: tuple[str, ...] | None
    strict: bool
    chunk_size: int
    reader_options: tuple[tuple[str, Any], ...] = ()
    replace: ReplacePlan | None = None
    chunk: DocumentChunk | None = None
    """A part of one big local CityGML file (``paths`` is that file), or None: whole files."""
    position_offset: int | None = None
    """Top-level objects before ``chunk`` when the plan's count proved wrong."""


@dataclass(frozen=True, slots=True)
class _IndexResult:
    shard: int
    index: FeatureIndex
    report: JobReport
    properties: dict[str, PropertySpec]
    grids: tuple[str, ...]
    buildings: int
    rss_kb: int
    replaced: tuple[dict[str, Any], ...] = ()
    notes: ChunkNotes | None = None
    footprints: tuple[FootprintPart, ...] = ()


def _stored_only(batch: MeshBatch, skipped: Sequence[str]) -> MeshBatch:
    """The rows of ``batch`` whose building was stored (not in ``skipped``)."""
    if not skipped:
        return batch
    gone = set(skipped)
    keep = np.array([b not in gone for b in batch.features.column("building_id")], dtype=bool)
    return select_rows(batch, keep)


def _index_inputs(task: _IndexTask) -> _IndexResult:
    """Pass-1 task: read, mesh and georeference the task's files into shard ``task.shard``."""
    report = JobReport(strict=task.strict)
    parts: list[FeatureIndex] = []
    properties: dict[str, PropertySpec] = {}
    grids: set[str] = set()
    buildings = 0
    replaced: list[dict[str, Any]] = []
    footprints: list[FootprintPart] = []
    # An executor may run a task again (Dask, after the worker died): shard ids are unique per
    # job, so an existing shard can only be the partial output of an earlier attempt.
    shard_path(task.scratch, task.shard).unlink(missing_ok=True)
    chunk_reading: ChunkReading | None = None
    with ShardWriter(task.scratch, task.shard) as writer, InputStaging(report) as staging:
        for path in staging.files(task.paths):  # a remote file: a local copy while it is read
            if task.chunk is None or task.chunk.index == 0:
                report.inputs.append(str(path))
            options = reader_options(task.in_crs, task.reader_options)
            if task.replace is not None:  # a design model's own options (--replace)
                options = task.replace.reader_options(path, options)
            if task.chunk is not None:  # one part of a big CityGML file
                chunk_reading = ChunkReading(
                    task.chunk, position_offset=task.position_offset, **options
                )
            with chunk_reading or open_source(path, **options) as reader:
                resolved = source_crs(reader.srs_name, in_crs=task.in_crs, path=path, report=report)
                georef = georeferencer(
                    resolved, vertical_mode=task.vertical_mode, path=path, report=report
                )
                grids.update(georef.grids)
                # a design model of --replace: its footprint is taken as it is read
                collector = FootprintCollector.for_input(task.replace, path, resolved)
                for chunk, batch in meshed_chunks(
                    hide_replaced(
                        task.replace,
                        collector.collect(
                            reader.features(
                                report=report,
                                types=task.types
                                if task.replace is None
                                else task.replace.types_for(path, task.types),
                            )
                        ),
                        path=path,
                        crs=resolved,
                        lod=task.lod,
                        report=report,
                        replaced=replaced,
                    ),
                    chunk_size=task.chunk_size,
                    lod=task.lod,
                    georef=georef,
                    report=report,
                ):
                    buildings += len(chunk)
                    if batch.features.row_count == 0:
                        continue
                    stored = writer.append_batch(batch)
                    for building in stored.skipped_ids:
                        report.skip("no triangles to store", id=building, file=str(path))
                    batch = _stored_only(batch, stored.skipped_ids)
                    if batch.features.row_count == 0:
                        continue
                    parts.append(stored.index)
                    properties = merge_property_types(
                        properties, infer_property_types(batch.features)
                    )
                    count_written(chunk, batch, report)
                if (part := collector.part()) is not None:
                    footprints.append(part)
    return _IndexResult(
        shard=task.shard,
        index=FeatureIndex.concat(parts),
        report=report,
        properties=properties,
        grids=tuple(sorted(grids)),
        buildings=buildings + len(replaced),
        rss_kb=_rss_kb(),
        replaced=tuple(replaced),
        notes=chunk_reading.notes() if chunk_reading is not None else None,
        footprints=tuple(footprints),
    )


# -- pass 2: tile contents ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ContentShared:
    """What every pass-2 task of a job needs (frame: column-major local -> ECEF, or None)."""

    scratch: Path
    staging: Path
    version: TilesetVersion
    frame: tuple[float, ...] | None
    properties: Mapping[str, PropertySpec] | None
    materials: SemanticMaterials | None
    extras: Mapping[str, Any] | None
    compression: Compression = "none"
    atlas_size: int = DEFAULT_ATLAS_SIZE
    textures: TextureEncoding | None = None


@dataclass(frozen=True, slots=True)
class _ContentTask:
    node: int
    uri: str
    full: bool
    locations: Locations
    shared: _ContentShared


@dataclass(frozen=True, slots=True)
class _Written:
    """Placement and size of one written content (ECEF frame, radians / ellipsoidal metres)."""

    node: int
    uri: str
    transform: tuple[float, ...]
    region: Region
    triangles: int
    nbytes: int
    rss_kb: int
    nbytes_uncompressed: int


def _encode_content(
    batch: MeshBatch, shared: _ContentShared, compression: Compression
) -> TileContent:
    frame = None if shared.frame is None else _matrix(shared.frame)
    if shared.version == "1.1":
        return encode_tile_glb(
            batch,
            frame=frame,
            properties=shared.properties,
            materials=shared.materials,
            extras=shared.extras,
            schema_id=_SCHEMA_ID,
            class_name=_CLASS_NAME,
            compression=compression,
            atlas_size=shared.atlas_size,
            textures=shared.textures,
        )
    return encode_tile_b3dm(
        batch,
        frame=frame,
        materials=shared.materials,
        extras=shared.extras,
        compression=compression,
        atlas_size=shared.atlas_size,
        textures=shared.textures,
    )


def _write_content(task: _ContentTask) -> _Written:
    """Pass-2 task: read a tile's units (or blocks), encode them, write the content file.

    With compression the content is also encoded without it, to report what it saves.
    """
    shared = task.shared
    read = read_units if task.full else read_blocks
    batch = read(shared.scratch, task.locations)
    content = _encode_content(batch, shared, shared.compression)
    uncompressed = len(content.data)
    if shared.compression != "none":
        uncompressed = len(_encode_content(batch, shared, "none").data)
    path = shared.staging / task.uri
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.data)
    except OSError as err:
        raise OutputError(f"{path}: cannot write the tile content: {err.strerror or err}") from err
    return _Written(
        node=task.node,
        uri=task.uri,
        transform=content.transform,
        region=content.region,
        triangles=content.triangles,
        nbytes=len(content.data),
        rss_kb=_rss_kb(),
        nbytes_uncompressed=uncompressed,
    )


# -- tilesets -------------------------------------------------------------------------------


def _matrix(column_major: Sequence[float]) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.asarray(column_major, dtype=np.float64).reshape(4, 4).T


def _explicit_root(plan: LodPlan, written: Mapping[int, _Written]) -> Tile:
    """The explicit REPLACE tree: content regions united upwards, ENU transforms chained."""
    tree = plan.tree
    count = len(tree)
    worlds: list[np.ndarray[Any, np.dtype[np.float64]] | None] = [None] * count
    for node in range(count):  # breadth-first: parents before children
        parent = int(tree.parent[node])
        content = written.get(node)
        inherited = worlds[parent] if parent >= 0 else None
        worlds[node] = _matrix(content.transform) if content is not None else inherited
    tiles: dict[int, Tile] = {}
    for node in range(count - 1, -1, -1):
        kids = [tiles.pop(k) for k in tree.child_nodes(node).tolist()]
        content = written.get(node)
        parts: list[BoundingVolume] = [t.bounding_volume for t in kids]
        if content is not None:
            parts.append(content.region)
        if not parts:
            raise TilingError(f"tile {tree.key(node).path} has neither content nor children")
        parent = int(tree.parent[node])
        world = worlds[node]
        transform = None
        if content is not None and world is not None:
            transform = relative_transform(worlds[parent] if parent >= 0 else None, world)
        tiles[node] = Tile(
            bounding_volume=union_all(parts),
            geometric_error=float(plan.geometric_error[node]),
            refine=plan.refine if node == 0 else None,
            content_uri=None if content is None else content.uri,
            content_bounding_volume=content.region if content is not None and kids else None,
            transform=transform,
            children=kids,
            key=tree.key(node),
        )
    return tiles[0]


def _implicit_frame(root: Region) -> tuple[float, ...]:
    """ENU frame at the centre of the implicit root region, column-major (T3D-2)."""
    lon = math.degrees(0.5 * (root.west + root.east))
    lat = math.degrees(0.5 * (root.south + root.north))
    height = 0.5 * (root.min_height + root.max_height)
    origin = geodetic_to_ecef(np.array([[lon, lat, height]]))[0]
    return tuple(to_gltf_matrix(enu_to_ecef_matrix(lon, lat, origin)))


def _schema(properties: Mapping[str, PropertySpec]) -> dict[str, Any]:
    """The metadata schema every content's EXT_structural_metadata uses (T3D-7)."""
    return {
        "id": _SCHEMA_ID,
        "classes": {_CLASS_NAME: {"properties": {s.name: s.schema() for s in properties.values()}}},
    }


def _rss_kb() -> int:
    """Peak resident set size of this process, KiB (0 where unknown)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


# -- the tool -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Stats:
    """What the report's ``tiling`` entry is made of."""

    timings: dict[str, float] = field(default_factory=dict)
    buildings_in: int = 0
    worker_rss_kb: int = 0
    buildings_written: int = 0
    tiles: int = 0
    depth: int = 0
    geometric_error: dict[str, float] = field(default_factory=dict)
    content_bytes: int = 0
    content_bytes_uncompressed: int = 0
    output_bytes: int = 0
    triangles: int = 0
    contents_per_level: Counter[int] = field(default_factory=Counter)

    def timed(self, stage: str, start: float) -> None:
        self.timings[stage] = round(time.perf_counter() - start, 3)


def _pass1_tasks(
    paths: Sequence[InputFile], scratch: Path, opts: TileOptions, replace: ReplacePlan | None = None
) -> list[_IndexTask]:
    """One task per input file (grouped beyond 65,536 shards), largest first.

    Shard numbers follow the input order (results are merged in that order, so the output does
    not depend on scheduling); submitting the largest inputs first keeps the last worker from
    starting a big file while the others idle.
    """
    per_task = max(1, math.ceil(len(paths) / _MAX_SHARDS))
    units: list[tuple[tuple[InputFile, ...], DocumentChunk | None]] = [
        (tuple(paths[start : start + per_task]), None) for start in range(0, len(paths), per_task)
    ]
    if per_task == 1 and opts.split_bytes > 0:
        # big local CityGML files: one task per chunk, so that one file keeps every worker busy
        split: list[list[tuple[tuple[InputFile, ...], DocumentChunk | None]]] = [
            [(unit, chunk) for chunk in plan_chunks(unit[0], chunk_bytes=opts.split_bytes)]
            if isinstance(unit[0], Path)
            else []
            for unit, _ in units
        ]
        if sum(len(s) or 1 for s in split) <= _MAX_SHARDS:
            units = [
                pair
                for unit, file_units in zip(units, split, strict=True)
                for pair in (file_units or [unit])
            ]
    tasks = [
        _IndexTask(
            shard=number,
            paths=unit_paths,
            scratch=scratch,
            in_crs=opts.in_crs,
            vertical_mode=opts.vertical_mode,
            lod=opts.lod,
            types=opts.types,
            strict=opts.strict,
            chunk_size=opts.chunk_size,
            reader_options=opts.reader_options,
            replace=replace,
            chunk=chunk,
        )
        for number, (unit_paths, chunk) in enumerate(units)
    ]
    return sorted(tasks, key=_task_bytes, reverse=True)


def _task_bytes(task: _IndexTask) -> int:
    if task.chunk is not None:
        return task.chunk.end - task.chunk.start
    return sum(_size(p) for p in task.paths)


def _file_notes(
    by_shard: Mapping[int, _IndexTask], results: Sequence[_IndexResult], path: Path
) -> list[ChunkNotes]:
    """The chunk notes of ``path`` in chunk order (``results`` in shard order)."""
    return [
        r.notes or ChunkNotes()
        for r in results
        if (c := by_shard[r.shard].chunk) is not None and c.path == path
    ]


def _redo_misplaced(
    runner: Runner,
    tasks: Sequence[_IndexTask],
    results: list[_IndexResult],
    rows: ShardIndexCollector,
) -> list[_IndexResult]:
    """Results (shard order) with chunks whose generated ids were misnumbered read again.

    A chunk numbers objects without gml:id from the member tags the plan counted before it;
    when a member held another number of objects, the later chunks that generated ids are
    read again with the count the earlier chunks really saw (rare: objects without ids in a
    file whose members do not hold one object each).
    """
    by_shard = {t.shard: t for t in tasks}
    files: dict[Path, list[tuple[DocumentChunk, _IndexResult]]] = {}
    for result in results:
        chunk = by_shard[result.shard].chunk
        if chunk is not None:
            files.setdefault(chunk.path, []).append((chunk, result))
    again: list[_IndexTask] = []
    for pairs in files.values():
        notes = [r.notes or ChunkNotes() for _, r in pairs]
        for index in misplaced_chunks([c for c, _ in pairs], notes):
            task = by_shard[pairs[index][1].shard]
            again.append(dataclasses.replace(task, position_offset=objects_before(notes, index)))
    if not again:
        return results
    redone = {r.shard: _collected(r, rows) for r in runner.map(_index_inputs, again)}
    return [redone.get(r.shard, r) for r in results]


_NO_ROWS = FeatureIndex.empty()


def _collected(result: _IndexResult, rows: ShardIndexCollector) -> _IndexResult:
    """``result`` without its index rows, which go into ``rows``.

    The main process keeps one copy of the index only: each shard's rows are copied into the
    collector as they arrive and the shard's own arrays are released at once.
    """
    rows.add(result.shard, result.index)
    return dataclasses.replace(result, index=_NO_ROWS)


def _designs_first(
    tasks: Sequence[_IndexTask], plan: ReplacePlan
) -> tuple[list[_IndexTask], list[_IndexTask]]:
    """(tasks reading only design models whose footprints are collected, the other tasks)."""
    designs: list[_IndexTask] = []
    others: list[_IndexTask] = []
    for task in tasks:
        only_designs = all(isinstance(p, Path) and plan.collects(p) for p in task.paths)
        (designs if only_designs else others).append(task)
    return designs, others


def _size(path: InputFile) -> int:
    if isinstance(path, RemoteFile):
        return path.size
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _note_oversized_units(index: FeatureIndex, budget: PartitionOptions, report: JobReport) -> None:
    """Warn about top-level objects larger than the leaf tile budget (e.g. a city-wide TIN).

    Such an object keeps a leaf tile of its own (its volume fitted to it, however large), which
    viewers load in one piece; the warning names its position, size and the budget.
    """
    over = (index.triangle_count > budget.max_triangles) | (index.length > budget.max_bytes)
    rows = np.flatnonzero(over)
    for row in rows[:10].tolist():
        report.warn(
            f"an object at lon {math.degrees(index.lon[row]):.6f}, "
            f"lat {math.degrees(index.lat[row]):.6f} has "
            f"{int(index.triangle_count[row]):,} triangles / {int(index.length[row]):,} bytes, "
            f"more than a leaf tile's budget ({budget.max_triangles:,} triangles, "
            f"{budget.max_bytes:,} bytes): it gets a tile of its own, loaded in one piece"
        )
    if rows.size > 10:
        report.warn(f"{rows.size - 10} more objects exceed the leaf tile budget")


def build_tileset(
    inputs: Inputs,
    output: str | os.PathLike[str],
    *,
    options: TileOptions | None = None,
    report: JobReport | None = None,
    progress: TileProgress | None = None,
) -> JobReport:
    """Tile city model files into a 3D Tiles tileset folder or ``.3tz`` archive.

    Parameters
    ----------
    inputs
        Files, folders or glob patterns (CityGML ``.gml``/``.xml``/``.gml.gz``/``.zip``).
    output
        Output folder (``tileset.json`` and contents below it) or a ``.3tz`` file. Written
        atomically: it appears (or replaces an existing tileset) only when complete.
    options
        See :class:`TileOptions`.
    report
        Collects inputs, CRS, counts, skipped features with reasons and warnings; the tiling
        summary (buildings, tiles per level, bytes, timings per stage, peak memory) goes to
        ``report.extra["tiling"]``. A new one is made when None.
    progress
        Optional callback ``progress(stage, done, total)`` (see :data:`TileProgress`).

    Returns
    -------
    JobReport

    Raises
    ------
    InputError, CRSError
        For an input that stops the job (unreadable file, unknown CRS, missing grid, ...).
    StrictModeError
        In strict mode, at the first feature that would be skipped.
    TilingError
        When there is nothing to tile or a plan check fails.
    OutputError
        When the output cannot be written.
    MissingDependencyError
        For ``compress="meshopt"`` or ``"draco"`` without the ``meshopt`` or ``DracoPy``
        package (extra ``compress``).
    """
    opts = options or TileOptions()
    if opts.compress == "meshopt":
        meshopt_codec()  # fail before reading anything
    elif opts.compress == "draco":
        draco_codec()
    report = report if report is not None else JobReport(strict=opts.strict)
    paths = expand_sources(inputs)
    replace = pending_replacement(opts.replace)  # footprints: collected in pass 1
    if opts.replace:
        paths = _with_designs(paths, opts)
    target = OutputTarget.prepare(output, local_base=opts.scratch_dir)
    scratch: Path | None = None
    try:
        scratch = scratch_folder(opts.scratch_dir, target.output)
        if opts.executor == "dask":  # remote workers do not share this working folder
            paths = [p.absolute() if isinstance(p, Path) else p for p in paths]
            scratch = scratch.absolute()
        job = _Job(opts, report, progress, scratch, target, replace=replace)
        with open_runner(
            opts.executor,
            jobs=opts.jobs,
            grids=opts.grids,
            scheduler=opts.scheduler,
            shared=(scratch, target.staging),
            inputs=[p for p in paths if isinstance(p, Path)],  # remote files: read by URL
        ) as runner:
            index, properties, grids = job.read_inputs(runner, paths)
            plan = job.plan(index)
            written = job.write_contents(runner, plan, index, properties, grids)
        job.write_tileset(plan, written, properties)
    except BaseException:
        target.discard()
        raise
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    report.outputs.append(target.location)
    report.extra["tiling"] = job.summary()
    return report


def _with_designs(paths: Sequence[InputFile], opts: TileOptions) -> list[InputFile]:
    """``paths`` plus the design models of ``--replace`` that are not among them already."""
    local = [p for p in paths if isinstance(p, Path)]
    return [*paths, *replacement_inputs(local, opts.replace)[len(local) :]]


@dataclass(slots=True)
class _Job:
    """One run of the tool: its options, report, scratch store, output and statistics."""

    opts: TileOptions
    report: JobReport
    progress: TileProgress | None
    scratch: Path
    target: OutputTarget
    stats: _Stats = field(default_factory=_Stats)
    replace: ReplacePlan | None = None

    def read_inputs(
        self, runner: Runner, paths: Sequence[InputFile]
    ) -> tuple[FeatureIndex, dict[str, PropertySpec], set[str]]:
        """Pass 1: index rows of all inputs (input order), one property schema, grids used."""
        start = time.perf_counter()
        stats = self.stats
        opts = self.opts
        sizes = (_size(p) for p in paths)
        _dispatch.start_early(runner, opts.executor, opts.jobs, sizes, opts.split_bytes)
        tasks = _pass1_tasks(paths, self.scratch, self.opts, self.replace)
        results: list[_IndexResult] = []
        rows = ShardIndexCollector()
        if self.replace is not None and self.replace.collect:
            # --replace: the design models first, their footprints taken as they are tiled,
            # then the city with the complete plan (each design is read once)
            designs, others = _designs_first(tasks, self.replace)
            self._read(runner, designs, results, rows, len(tasks))
            self.replace = self._complete_replacement(others, results)
            others = [dataclasses.replace(t, replace=self.replace) for t in others]
            tasks = [*designs, *others]
            self._read(runner, others, results, rows, len(tasks))
        else:
            self._read(runner, tasks, results, rows, len(tasks))
        results.sort(key=lambda r: r.shard)
        results = _redo_misplaced(runner, tasks, results, rows)
        by_shard = {t.shard: t for t in tasks}
        properties: dict[str, PropertySpec] = {}
        grids: set[str] = set()
        replaced: list[dict[str, Any]] = []
        for result in results:
            self.report.merge(result.report)
            replaced.extend(result.replaced)
            properties = merge_property_types(properties, result.properties)
            grids.update(result.grids)
            stats.buildings_in += result.buildings
            stats.worker_rss_kb = max(stats.worker_rss_kb, result.rss_kb)
            chunk = by_shard[result.shard].chunk
            if chunk is not None and chunk.last:  # the notes of a file read in chunks
                document_notes(chunk.path, _file_notes(by_shard, results, chunk.path), self.report)
        finish_replacement(self.replace, replaced, self.report)
        index = rows.build()
        if len(index) == 0:
            skipped = len(self.report.skipped)
            if stats.buildings_in == 0 and not skipped:
                raise TilingError("nothing to tile: the inputs hold no city objects")
            raise TilingError(
                "nothing to tile: no city object could be converted"
                + (f" ({skipped} skipped, see the report)" if skipped else "")
            )
        stats.timed("pass1", start)
        log.info("pass 1: %d buildings from %d files", len(index), len(paths))
        return index, properties, grids

    def _read(
        self,
        runner: Runner,
        tasks: Sequence[_IndexTask],
        results: list[_IndexResult],
        rows: ShardIndexCollector,
        total: int,
    ) -> None:
        """Run pass-1 ``tasks`` (here when too small for workers), appending to ``results``.

        The index rows of each result go into ``rows`` as it arrives (:func:`_collected`).
        """
        opts = self.opts
        parallel = _dispatch.in_workers(
            opts.executor, opts.jobs, (_task_bytes(t) for t in tasks), _dispatch.PASS1_MIN_BYTES
        )
        buildings = sum(r.buildings for r in results)
        for result in _dispatch.run_pass(runner, _index_inputs, tasks, parallel=parallel):
            results.append(_collected(result, rows))
            if self.progress is not None:
                buildings += result.buildings
                self.progress("buildings", buildings, 0)
                self.progress("read", len(results), total)

    def _complete_replacement(
        self, others: Sequence[_IndexTask], results: Sequence[_IndexResult]
    ) -> ReplacePlan:
        """The replace plan with the footprints collected from the designs' ``results``.

        A design model that shares a task with other inputs (only beyond 65,536 input files)
        has its footprint read on its own first.
        """
        plan = self.replace
        if plan is None:  # pragma: no cover - called with a plan only
            raise TilingError("no replace plan")
        parts = [part for r in sorted(results, key=lambda r: r.shard) for part in r.footprints]
        shared = [p for t in others for p in t.paths if isinstance(p, Path) and plan.collects(p)]
        if shared:
            options = reader_options(self.opts.in_crs, self.opts.reader_options)
            parts += collect_footprints(
                plan, shared, in_crs=self.opts.in_crs, reader_options=options
            )
        return complete_replacement(plan, self.opts.replace, parts, report=self.report)

    def plan(self, index: FeatureIndex) -> LodPlan | ImplicitPlan:
        """Partition and level-of-detail plan (explicit: REPLACE with blocks; implicit: ADD)."""
        start = time.perf_counter()
        opts = self.opts
        plan: LodPlan | ImplicitPlan
        if opts.implicit:
            # The partition grid is the implicit root: cell keys are implicit coordinates (T3D-5).
            root = implicit_root(index, square=opts.partition.square)
            west, south, east, north, low, high = root.to_json()
            tree = partition(index, opts.partition, grid=(west, south, east, north, low, high))
            tree.check(index, opts.partition)
            plan = plan_implicit(tree, index, min_error=opts.lod_policy.min_error)
            root_error = plan.root_geometric_error
        else:
            tree = partition(index, opts.partition)
            tree.check(index, opts.partition)
            plan = assign_lod(tree, index, opts.lod_policy)
            root_error = float(plan.geometric_error[0])
        plan.check(index)
        _note_oversized_units(index, opts.partition, self.report)
        stats = self.stats
        stats.buildings_written = len(index)
        stats.tiles = len(tree)
        stats.depth = tree.depth
        stats.geometric_error = {"tileset": plan.tileset_geometric_error, "root": root_error}
        stats.timed("plan", start)
        log.info("plan: %d tiles, depth %d, refine %s", len(tree), tree.depth, plan.refine)
        return plan

    def write_contents(
        self,
        runner: Runner,
        plan: LodPlan | ImplicitPlan,
        index: FeatureIndex,
        properties: Mapping[str, PropertySpec],
        grids: set[str],
    ) -> dict[int, _Written]:
        """Pass 2: every tile with content, leaves first, encoded by the workers."""
        start = time.perf_counter()
        stats = self.stats
        frame = _implicit_frame(plan.root) if isinstance(plan, ImplicitPlan) else None
        extras = {"copyright": GCG2016_CREDIT} if "de_bkg_gcg2016.tif" in grids else None
        shared = _ContentShared(
            scratch=self.scratch,
            staging=self.target.staging,
            version=self.opts.tiles_version,
            frame=frame,
            properties=properties if self.opts.tiles_version == "1.1" else None,
            materials=self.opts.materials,
            extras=extras,
            compression=self.opts.compress,
            atlas_size=self.opts.atlas_size,
            textures=self.opts.textures,
        )
        nodes = [n for n in range(len(plan.tree) - 1, -1, -1) if plan.content_rows(n).size]
        tasks = (_content_task(plan, node, index, shared) for node in nodes)
        parallel = _dispatch.in_workers(
            self.opts.executor,
            self.opts.jobs,
            (_content_triangles(plan, node, index) for node in nodes),
            _dispatch.PASS2_MIN_TRIANGLES,
        )
        written: dict[int, _Written] = {}
        contents = _dispatch.run_pass(runner, _write_content, tasks, parallel=parallel)
        for done, item in enumerate(contents, 1):
            written[item.node] = item
            stats.worker_rss_kb = max(stats.worker_rss_kb, item.rss_kb)
            stats.content_bytes += item.nbytes
            stats.content_bytes_uncompressed += item.nbytes_uncompressed
            stats.triangles += item.triangles
            stats.contents_per_level[int(plan.tree.level[item.node])] += 1
            if self.progress is not None:
                self.progress("write", done, len(nodes))
        stats.timed("pass2", start)
        log.info("pass 2: %d contents, %d bytes", len(written), stats.content_bytes)
        return written

    def write_tileset(
        self,
        plan: LodPlan | ImplicitPlan,
        written: Mapping[int, _Written],
        properties: Mapping[str, PropertySpec],
    ) -> None:
        """Subtrees (implicit) and tileset JSON files (``tileset.json`` last), then publish."""
        start = time.perf_counter()
        opts, staging = self.opts, self.target.staging
        if isinstance(plan, ImplicitPlan):
            keys = [plan.tree.key(int(n)) for n in plan.content_nodes()]
            root = write_implicit(
                staging,
                root_volume=plan.root,
                available=keys,
                content=keys,
                subtree_levels=opts.subtree_levels,
                geometric_error=plan.root_geometric_error,
                refine=plan.refine,
                transform=_implicit_frame(plan.root),
            ).root
        else:
            root = _explicit_root(plan, written)
        write_tileset(
            root,
            staging,
            version=opts.tiles_version,
            geometric_error=plan.tileset_geometric_error,
            schema=_schema(properties) if opts.tiles_version == "1.1" and properties else None,
            max_json_bytes=opts.max_json_bytes,
        )
        self.stats.output_bytes = self.target.publish()
        self.stats.timed("write", start)

    def compression_summary(self) -> dict[str, Any]:
        """Content bytes (in total and per written building) with and without compression."""
        stats, written = self.stats, self.stats.buildings_written
        compressed, plain = stats.content_bytes, stats.content_bytes_uncompressed
        return {
            "method": self.opts.compress,
            "contents": compressed,
            "contents_uncompressed": plain,
            "ratio": round(compressed / plain, 4) if plain else None,
            "per_building": round(compressed / written, 1) if written else None,
            "per_building_uncompressed": round(plain / written, 1) if written else None,
        }

    def summary(self) -> dict[str, Any]:
        """``report.extra["tiling"]``: what was tiled, how big, how long, how much memory."""
        opts, stats, report = self.opts, self.stats, self.report
        written = stats.buildings_written
        reasons = Counter(s.reason.split(":", 1)[0] for s in report.skipped)
        return {
            "output": self.target.location,
            "format": "3tz" if self.target.archive else "folder",
            "tiles_version": opts.tiles_version,
            "implicit": opts.implicit,
            "refine": "ADD" if opts.implicit else "REPLACE",
            "jobs": opts.jobs,
            "executor": opts.executor,
            "crs": sorted({str(v.get("source")) for v in report.crs.values()}),
            "buildings": {
                "in": stats.buildings_in,
                "written": written,
                "skipped_records": len(report.skipped),
                "skip_reasons": dict(reasons.most_common()),
            },
            "tiles": {
                "total": stats.tiles,
                "with_content": sum(stats.contents_per_level.values()),
                "contents_per_level": {
                    str(k): v for k, v in sorted(stats.contents_per_level.items())
                },
                "depth": stats.depth,
            },
            "geometric_error": stats.geometric_error,
            "triangles": stats.triangles,
            "bytes": {
                "total": stats.output_bytes,
                "contents": stats.content_bytes,
                "per_building": round(stats.output_bytes / written, 1) if written else None,
            },
            "compression": self.compression_summary(),
            "timings_s": stats.timings,
            "peak_rss_mb": {
                "main": round(_rss_kb() / 1024, 1),
                "worker_max": round(stats.worker_rss_kb / 1024, 1),
            },
        }


def _is_full(plan: LodPlan | ImplicitPlan, node: int) -> bool:
    """Whether the content of ``node`` holds full geometry (else simplified blocks)."""
    return isinstance(plan, ImplicitPlan) or plan.content[node] == ContentKind.FULL


def _content_triangles(plan: LodPlan | ImplicitPlan, node: int, index: FeatureIndex) -> int:
    """Triangles of the content of ``node`` (the work of its pass-2 task)."""
    rows = plan.content_rows(node)
    counts = index.triangle_count if _is_full(plan, node) else index.block_triangle_count
    return int(counts[rows].sum())


def _content_task(
    plan: LodPlan | ImplicitPlan, node: int, index: FeatureIndex, shared: _ContentShared
) -> _ContentTask:
    key = plan.tree.key(node)
    uri = expand_template(DEFAULT_CONTENT_URI, key)
    if shared.version == "1.0":
        uri = uri.removesuffix(".glb") + ".b3dm"
    full = _is_full(plan, node)
    return _ContentTask(
        node=node,
        uri=uri,
        full=full,
        locations=Locations.of(index, plan.content_rows(node)),
        shared=shared,
    )
