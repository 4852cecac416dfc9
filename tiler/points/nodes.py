"""Pass 2 of the point tiler: index chunks in memory, build the upper levels, write contents.

Two kinds of tasks run on the worker pool, both returning only small descriptions of what
they wrote (:class:`NodeInfo`, :class:`Pending`), never points:

- :func:`index_chunks` — for each chunk (a subtree planned by
  :func:`~citymodel.tiler.points.octree.plan_chunks`): read its records from the scratch
  store, split and sample it (:func:`~citymodel.tiler.points.octree.index_subtree`) and write
  the content of every node. The chunk's root keeps its points in a *pending* file: its
  parent, built later, takes its sample from them.
- :func:`build_upper` — for one node above the chunks: read the pending points of its
  children, take the node's sample (:func:`~citymodel.tiler.points.octree.sample_parent`),
  write the children's final contents and leave its own points pending for its parent. The
  tree's root writes its own content too.

Contents are written to ``content/{level}/{x}/{y}/{z}.glb`` (or ``.pnts``) below the staging
folder, with levels and coordinates relative to the tree's root.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from citymodel.errors import OutputError
from citymodel.tiler.keys import TileKey
from citymodel.tiler.points.content import PointContentSpec, encode_points
from citymodel.tiler.points.frame import OctreeFrame
from citymodel.tiler.points.octree import ChunkPlan, index_subtree, sample_parent
from citymodel.tiler.points.records import PointColumns, read_block, write_block
from citymodel.tiler.points.spill import Block, ProcessUsage, read_node

__all__ = [
    "ChunkResult",
    "ChunkTask",
    "NodeInfo",
    "Pending",
    "Shared",
    "UpperTask",
    "build_upper",
    "content_uri",
    "index_chunks",
    "relative_key",
]


@dataclass(frozen=True, slots=True)
class Shared:
    """What every pass-2 task of a job needs.

    Attributes
    ----------
    frame
        The job's frame and cube.
    content
        Content format and record layout.
    staging
        The output's staging folder (contents go below it).
    pending
        Scratch folder of the pending points.
    root_level, root_prefix
        The tree's root node (content keys are relative to it).
    budget
        Most points per leaf.
    grid_bits
        Sampling voxels per node edge: ``2**grid_bits``.
    """

    frame: OctreeFrame
    content: PointContentSpec
    staging: Path
    pending: Path
    root_level: int
    root_prefix: int
    budget: int
    grid_bits: int


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node whose points are final: its content (if any) and the bounds of the content.

    Attributes
    ----------
    level, prefix
        The node (absolute level and Morton prefix of the job's grid).
    count
        Points in its content (0: no content).
    lower, upper
        Bounds of the written positions, ENU metres (None without content).
    nbytes
        Size of the content file.
    """

    level: int
    prefix: int
    count: int
    lower: tuple[float, float, float] | None = None
    upper: tuple[float, float, float] | None = None
    nbytes: int = 0


@dataclass(frozen=True, slots=True)
class Pending:
    """Points of a node waiting for its parent to take its sample from them."""

    level: int
    prefix: int
    count: int
    path: Path


@dataclass(frozen=True, slots=True)
class ChunkTask:
    """Chunks to index (consecutive in Morton order) and the stored blocks they overlap.

    ``is_root`` marks the single chunk that is the whole tree: it writes its root content.
    """

    chunks: tuple[ChunkPlan, ...]
    blocks: tuple[Block, ...]
    shared: Shared
    is_root: bool = False


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """Every node of the task's chunks, the chunk roots' pending points, worker memory."""

    nodes: tuple[NodeInfo, ...]
    pending: tuple[Pending, ...]
    points: int
    usage: ProcessUsage


@dataclass(frozen=True, slots=True)
class UpperTask:
    """A node above the chunks and the pending points of its children (Morton order)."""

    level: int
    prefix: int
    children: tuple[Pending, ...]
    shared: Shared
    is_root: bool = False


@dataclass(frozen=True, slots=True)
class UpperResult:
    """The children's final nodes, the node itself (root) or its pending points."""

    nodes: tuple[NodeInfo, ...]
    pending: Pending | None
    usage: ProcessUsage


def relative_key(level: int, prefix: int, shared: Shared) -> TileKey:
    """The tile key of a node relative to the tree's root (level 0 = the root)."""
    depth = level - shared.root_level
    local = prefix - (shared.root_prefix << (3 * depth))
    return TileKey.from_morton(depth, local, octree=True)


def content_uri(level: int, prefix: int, shared: Shared) -> str:
    """``content/{level}/{x}/{y}/{z}.glb`` (or ``.pnts``) of a node, relative to the output."""
    return f"content/{relative_key(level, prefix, shared).path}{shared.content.suffix}"


def _write_content(points: PointColumns, level: int, prefix: int, shared: Shared) -> NodeInfo:
    """Encode and write a node's final points (none: a node without content)."""
    if len(points) == 0:
        return NodeInfo(level, prefix, 0)
    encoded = encode_points(points, shared.content)
    path = shared.staging / content_uri(level, prefix, shared)
    try:
        try:
            path.write_bytes(encoded.data)
        except FileNotFoundError:  # the first content of its folder
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encoded.data)
    except OSError as err:
        raise OutputError(f"{path}: cannot write tile content: {err.strerror}") from err
    return NodeInfo(level, prefix, encoded.count, encoded.lower, encoded.upper, len(encoded.data))


def _write_pending(points: PointColumns, level: int, prefix: int, shared: Shared) -> Pending:
    path = shared.pending / f"{level}_{prefix}.bin"
    try:
        with path.open("wb") as file:
            write_block(file, points, shared.content.layout, path)
    except OSError as err:
        raise OutputError(f"{path}: cannot write scratch data: {err.strerror}") from err
    return Pending(level, prefix, len(points), path)


def _read_pending(pending: Pending, shared: Shared) -> PointColumns:
    with pending.path.open("rb") as file:
        return read_block(file, shared.content.layout, 0, pending.count, 0, pending.count)


def index_chunks(task: ChunkTask) -> ChunkResult:
    """Pass-2 task: index each chunk of ``task`` and write its contents (see module docs)."""
    shared = task.shared
    layout = shared.content.layout
    nodes: list[NodeInfo] = []
    pending: list[Pending] = []
    total = 0
    for chunk in task.chunks:
        points = read_node(task.blocks, layout, chunk.level, chunk.prefix, sort=False)
        if len(points) != chunk.count:
            raise OutputError(
                f"the scratch store holds {len(points)} points for octree node "
                f"{chunk.level}/{chunk.prefix}, expected {chunk.count}; the scratch folder "
                "was changed during the run"
            )
        total += len(points)
        # Sort codes and positions for indexing; the attributes are gathered once, at the end.
        codes, xyz, by_code = points.codes, points.xyz, points.code_order()
        if by_code is not None:
            codes, xyz = np.take(codes, by_code), np.take(xyz, by_code, axis=0)
        subtree = index_subtree(
            codes,
            xyz,
            shared.frame,
            level=chunk.level,
            prefix=chunk.prefix,
            budget=shared.budget,
            grid_bits=shared.grid_bits,
        )
        order, bounds = subtree.groups()
        grouped = points.take(order if by_code is None else by_code[order])
        for node in range(subtree.level.shape[0]):
            level, prefix = int(subtree.level[node]), int(subtree.prefix[node])
            own = grouped.slice(int(bounds[node]), int(bounds[node + 1]))
            if node == 0 and not task.is_root:
                pending.append(_write_pending(own, level, prefix, shared))
            else:
                nodes.append(_write_content(own, level, prefix, shared))
    return ChunkResult(tuple(nodes), tuple(pending), total, ProcessUsage.now())


def build_upper(task: UpperTask) -> UpperResult:
    """Pass-2 task: sample one node above the chunks from its children's pending points."""
    shared = task.shared
    parts = [_read_pending(child, shared) for child in task.children]
    points = PointColumns.concat(parts)
    chosen = sample_parent(
        points.codes, points.xyz, shared.frame, level=task.level, grid_bits=shared.grid_bits
    )
    taken = np.zeros(len(points), dtype=bool)
    taken[chosen] = True
    nodes: list[NodeInfo] = []
    start = 0
    for child, part in zip(task.children, parts, strict=True):
        stop = start + len(part)
        kept = np.flatnonzero(~taken[start:stop])
        nodes.append(_write_content(part.take(kept), child.level, child.prefix, shared))
        start = stop
    own = points.take(chosen)
    if task.is_root:
        nodes.append(_write_content(own, task.level, task.prefix, shared))
        return UpperResult(tuple(nodes), None, ProcessUsage.now())
    return UpperResult(
        tuple(nodes), _write_pending(own, task.level, task.prefix, shared), ProcessUsage.now()
    )
