"""The point octree: splitting by a point budget, uniform parent samples, chunk planning.

**Structure.** A node is a cube of the job's grid (:class:`~citymodel.tiler.points.frame.
OctreeFrame`), named by its level and Morton prefix. A node is split into its (non-empty)
children while the points below it exceed ``points_per_tile``; the others are leaves.

**Sampling (ADD refinement, no duplicates).** Built bottom-up as Potree 2 and Entwine do: a
parent's points are *moved up* from its children, so every input point ends in exactly one
content and ``points in == sum over contents`` holds exactly (T3D-4: with ADD nothing is
drawn twice). Each node has a sampling grid of ``2**grid_bits`` voxels per edge; the voxels
of a node at level ``L`` are exactly the grid cells at level ``L + grid_bits``, so a voxel is a
contiguous run of code-sorted points. The parent takes from the current points of its
children, per occupied voxel, the one point closest to the voxel centre (ties: the first in
code order — the result does not depend on scheduling). The children keep the rest. A parent
therefore shows the data at a spacing of one voxel edge, and parent + child together show the
child's own spacing: every level doubles the density on screen.

**Geometric error.** Rendering a node without its children leaves gaps of its point spacing
``edge(L) / 2**grid_bits`` (the voxel edge). The geometric error is 4 × that spacing,
halving per level: a client at the default screen-space error of 16 px refines a tile when
its points would lie 4 px apart, so the view stays dense (the same as Entwine's cube width /
32 for its 128-voxel nodes; the bare spacing would show gaps of 16 px). Leaves use the same
formula at their level (small, consistent with their parents, and usable by clients that size
points by geometric error). The tileset's error — what is lost when nothing is drawn — is the
root's cube edge, so the whole cloud shows as soon as it fits the view.

**Out of core.** Pass 1 stores points in the scratch store sorted by code; :func:`plan_chunks`
cuts the tree into *chunks* — subtrees small enough to be indexed in memory by one worker
(:func:`index_subtree`) — from per-cell point counts alone. The nodes above the chunks are
built afterwards from the chunks' roots (:func:`sample_parent`), level by level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from citymodel._typing import Float64Array, IndexArray
from citymodel.tiler.points.frame import CODE_LEVELS, OctreeFrame, UInt64Array, code_shift
from citymodel.tiler.points.kernels import COMPILED

__all__ = [
    "ERROR_PER_SPACING",
    "ChunkPlan",
    "Subtree",
    "closest_per_voxel",
    "count_pyramid",
    "geometric_error",
    "index_subtree",
    "plan_chunks",
    "root_of",
    "sample_parent",
]

_U8 = np.uint64(8)


ERROR_PER_SPACING = 4.0
"""Geometric error of a node in units of its point spacing (see the module docstring)."""


def geometric_error(frame: OctreeFrame, level: int, grid_bits: int) -> float:
    """Geometric error of a node at ``level``: 4 × its point spacing, metres (T3D-4).

    The spacing is the node's edge / ``2**grid_bits`` (one sampled point per voxel).
    """
    return ERROR_PER_SPACING * frame.node_edge(level) / float(1 << grid_bits)


def root_of(first_code: int, last_code: int) -> tuple[int, int]:
    """The deepest node holding every point with codes in ``first_code..last_code``.

    Returns
    -------
    tuple
        ``(level, prefix)``: the longest common prefix of the two codes in whole levels.
    """
    level = CODE_LEVELS
    while level > 0 and (first_code >> (3 * (CODE_LEVELS - level))) != (
        last_code >> (3 * (CODE_LEVELS - level))
    ):
        level -= 1
    return level, first_code >> (3 * (CODE_LEVELS - level))


def closest_per_voxel(
    codes: UInt64Array, enu: Float64Array, frame: OctreeFrame, voxel_level: int
) -> IndexArray:
    """Index of the point closest to its voxel's centre, one per occupied voxel.

    Parameters
    ----------
    codes
        (N,) point codes, sorted (non-decreasing).
    enu
        (N, 3) positions, ENU metres.
    frame
        The job's frame (voxel centres).
    voxel_level
        Grid level of the voxels (<= 21).

    Returns
    -------
    numpy.ndarray
        Increasing indices into the inputs; the first closest point per voxel.

    Notes
    -----
    The compiled kernel when built (one loop over the points), else numpy; both compute the
    same squared distances, so they pick the same points.
    """
    n = codes.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    factor = float(1 << voxel_level) / frame.edge
    if COMPILED is not None:
        found = np.empty(n, dtype=np.int64)
        lx, ly, lz = frame.cube_min
        m = COMPILED.closest_per_voxel(
            np.ascontiguousarray(codes, dtype=np.uint64),
            np.ascontiguousarray(enu, dtype=np.float64),
            lx, ly, lz, factor, int(code_shift(voxel_level)), found,
        )  # fmt: skip
        return found[:m].copy()
    keys = codes >> code_shift(voxel_level)
    change = keys[1:] != keys[:-1]
    starts = np.flatnonzero(np.r_[True, change])
    # Offsets from the voxel centres in voxel units, straight from the positions (the voxel
    # of a point is the floor of its scaled position, as in its code).
    scaled = (enu - np.asarray(frame.cube_min)) * factor
    scaled -= np.floor(scaled)
    scaled -= 0.5
    d2 = scaled[:, 0] * scaled[:, 0] + scaled[:, 1] * scaled[:, 1] + scaled[:, 2] * scaled[:, 2]
    run = np.cumsum(np.r_[0, change])
    best = np.minimum.reduceat(d2, starts)
    hits = np.flatnonzero(d2 == best[run])
    first = np.r_[True, run[hits[1:]] != run[hits[:-1]]]
    out: IndexArray = hits[first].astype(np.int64)
    return out


@dataclass(frozen=True, slots=True)
class Subtree:
    """An indexed subtree: its nodes and which node each point went to.

    Node 0 is the subtree's root; nodes are in breadth-first order (parents before children).

    Attributes
    ----------
    level, prefix
        (M,) level and Morton prefix of every node.
    parent
        (M,) index of the parent node, -1 for node 0.
    leaf
        (M,) True for leaves.
    owner
        (N,) node index of every point (the content it belongs to).
    """

    level: npt.NDArray[np.int64]
    prefix: UInt64Array
    parent: IndexArray
    leaf: npt.NDArray[np.bool_]
    owner: IndexArray

    def groups(self) -> tuple[IndexArray, IndexArray]:
        """Points grouped by owner node, each group in input (code) order.

        Returns ``(order, bounds)``: node ``i``'s points are ``order[bounds[i]:bounds[i + 1]]``.
        """
        order = np.argsort(self.owner, kind="stable")
        counts = np.bincount(self.owner, minlength=self.level.shape[0])
        bounds: IndexArray = np.r_[0, np.cumsum(counts)].astype(np.int64)
        return order.astype(np.int64), bounds


def _split(
    codes: UInt64Array, level: int, prefixes: UInt64Array
) -> tuple[UInt64Array, IndexArray, IndexArray, IndexArray]:
    """The non-empty children of nodes at ``level``: prefixes, parents (index), start, end."""
    child_shift = code_shift(level + 1)
    firsts = (prefixes[:, None] * _U8 + np.arange(9, dtype=np.uint64)[None, :]) << child_shift
    bounds = np.searchsorted(codes, firsts.ravel()).reshape(-1, 9)
    lo, hi = bounds[:, :-1], bounds[:, 1:]
    keep = hi > lo
    parent_of, child = np.nonzero(keep)
    child_prefix = prefixes[parent_of] * _U8 + child.astype(np.uint64)
    return child_prefix, parent_of.astype(np.int64), lo[keep], hi[keep]


def index_subtree(
    codes: UInt64Array,
    enu: Float64Array,
    frame: OctreeFrame,
    *,
    level: int,
    prefix: int,
    budget: int,
    grid_bits: int,
) -> Subtree:
    """Split a node's points by ``budget`` and sample the inner nodes bottom-up.

    Parameters
    ----------
    codes
        (N,) sorted codes of all points below the node.
    enu
        (N, 3) their ENU positions, metres.
    frame
        The job's frame.
    level, prefix
        The subtree's root node.
    budget
        Most points in a leaf (a leaf at level 21 may hold more: points closer than one
        code step are not split).
    grid_bits
        Sampling voxels per node edge: ``2**grid_bits``.

    Returns
    -------
    Subtree
        With every point owned by exactly one node; the root owns its sample (or all points
        when it is a leaf).
    """
    n = codes.shape[0]
    levels: list[npt.NDArray[np.int64]] = [np.array([level], dtype=np.int64)]
    prefixes: list[UInt64Array] = [np.array([prefix], dtype=np.uint64)]
    parents: list[IndexArray] = [np.array([-1], dtype=np.int64)]
    los: list[IndexArray] = [np.array([0], dtype=np.int64)]
    his: list[IndexArray] = [np.array([n], dtype=np.int64)]
    leaves: list[npt.NDArray[np.bool_]] = []
    first = 0
    current = level
    while True:
        count = his[-1] - los[-1]
        split = (count > budget) & (current < CODE_LEVELS)
        leaves.append(~split)
        if not split.any():
            break
        idx = np.flatnonzero(split)
        child_prefix, parent_of, lo, hi = _split(codes, current, prefixes[-1][idx])
        parents.append(first + idx[parent_of])
        first += levels[-1].shape[0]
        current += 1
        levels.append(np.full(child_prefix.shape[0], current, dtype=np.int64))
        prefixes.append(child_prefix)
        los.append(lo.astype(np.int64))
        his.append(hi.astype(np.int64))
    node_level = np.concatenate(levels)
    node_parent = np.concatenate(parents)
    node_leaf = np.concatenate(leaves)
    node_lo, node_hi = np.concatenate(los), np.concatenate(his)
    leaf_ids = np.flatnonzero(node_leaf)
    leaf_ids = leaf_ids[np.argsort(node_lo[leaf_ids], kind="stable")]
    sizes = node_hi[leaf_ids] - node_lo[leaf_ids]
    owner = np.repeat(leaf_ids, sizes).astype(np.int64)
    # Depth of each point's owner below the subtree root, kept next to ``owner`` so the
    # candidates of a level are found by one comparison instead of a gather per level.
    depth = np.repeat((node_level[leaf_ids] - level).astype(np.int8), sizes)
    for parent_level in range(current - 1, level - 1, -1):
        candidates = np.flatnonzero(depth == parent_level + 1 - level)
        if candidates.size == 0:
            continue
        voxel_level = min(parent_level + grid_bits, CODE_LEVELS)
        picked = closest_per_voxel(
            np.take(codes, candidates), np.take(enu, candidates, axis=0), frame, voxel_level
        )
        chosen = candidates[picked]
        owner[chosen] = node_parent[owner[chosen]]
        depth[chosen] -= 1
    return Subtree(
        level=node_level,
        prefix=np.concatenate(prefixes),
        parent=node_parent,
        leaf=node_leaf,
        owner=owner,
    )


def sample_parent(
    codes: UInt64Array, enu: Float64Array, frame: OctreeFrame, *, level: int, grid_bits: int
) -> IndexArray:
    """The points a node at ``level`` takes from its children's current points.

    ``codes`` / ``enu`` are the children's points concatenated in child (Morton) order, so
    codes are sorted. Returns increasing indices of the chosen points.
    """
    return closest_per_voxel(codes, enu, frame, min(level + grid_bits, CODE_LEVELS))


# -- planning from counts ------------------------------------------------------------------


def count_pyramid(
    cells: UInt64Array, counts: npt.NDArray[np.int64], cell_level: int, top_level: int
) -> dict[int, tuple[UInt64Array, npt.NDArray[np.int64]]]:
    """Point counts per occupied node for every level ``top_level..cell_level``.

    ``cells`` are sorted, unique node codes at ``cell_level`` with their ``counts``.
    """
    out = {cell_level: (cells, counts)}
    for lvl in range(cell_level - 1, top_level - 1, -1):
        below, below_counts = out[lvl + 1]
        parent = below >> np.uint64(3)
        starts = np.flatnonzero(np.r_[True, parent[1:] != parent[:-1]])
        out[lvl] = (parent[starts], np.add.reduceat(below_counts, starts))
    return out


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """A subtree to index in memory: its root node and how many points are below it."""

    level: int
    prefix: int
    count: int


def plan_chunks(
    pyramid: dict[int, tuple[UInt64Array, npt.NDArray[np.int64]]],
    *,
    root_level: int,
    root_prefix: int,
    target: int,
    limit: int,
    finer: Callable[[int, int], tuple[UInt64Array, npt.NDArray[np.int64]]],
) -> list[ChunkPlan]:
    """Cut the tree into chunks of at most ``target`` points (``limit`` where unavoidable).

    Top-down from the root: a node holding at most ``target`` points is a chunk; a larger
    one is split into its children using the counts of the ``pyramid`` (levels up to its
    cell level). Below the cell level, a node of at most ``limit`` points is a chunk; a larger
    one asks ``finer(level, prefix)`` for its children's counts (a scan of its stored
    points). At level 21 a node is a chunk whatever its size.

    Returns
    -------
    list[ChunkPlan]
        Chunks in Morton order.
    """
    cell_level = max(pyramid)
    if root_level > cell_level:
        total = int(pyramid[cell_level][1].sum())
    else:
        cells, counts = pyramid[root_level]
        at = int(np.searchsorted(cells, np.uint64(root_prefix)))
        total = int(counts[at]) if at < cells.shape[0] and int(cells[at]) == root_prefix else 0
    chunks: list[ChunkPlan] = []
    stack = [(root_level, root_prefix, total)]
    while stack:
        level, prefix, count = stack.pop()
        if count == 0:
            continue
        if count <= target or level == CODE_LEVELS or (level >= cell_level and count <= limit):
            chunks.append(ChunkPlan(level, prefix, count))
            continue
        if level < cell_level:
            cells, counts = pyramid[level + 1]
            lo = int(np.searchsorted(cells, np.uint64(prefix * 8)))
            hi = int(np.searchsorted(cells, np.uint64(prefix * 8 + 8)))
            kids, kid_counts = cells[lo:hi], counts[lo:hi]
        else:
            kids, kid_counts = finer(level, prefix)
        stack.extend(
            (level + 1, int(k), int(c))
            for k, c in sorted(zip(kids.tolist(), kid_counts.tolist(), strict=True), reverse=True)
        )
    return chunks
