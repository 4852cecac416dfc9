"""Level-of-detail plan: what each tile shows and its geometric error (REPLACE refinement).

Leaves show the full LoD2 geometry of their units. Every other tile shows the *blocks*
(LoD1-style prisms, :mod:`citymodel.tiler.blocks`) of units below it, chosen by importance
within a per-tile budget: directly above the leaves that is usually every unit, higher up only
the largest ones, so the root of a whole city stays within a few MB. Refinement is REPLACE
throughout: a tile's content is a subset of the units below it and tiles of one level have
disjoint subtrees, so a building is drawn at most once whatever the camera does, and exactly
once at the leaves (correctness.md T3D-4).

Selection: a tile's candidates are the units its children show (a leaf: all its units; an
inner tile: its selected blocks); units without a block drop out. Candidates are ordered by
``importance`` (descending; index row breaks ties) and the longest prefix whose block
triangles and stored block bytes fit the budget is taken. A unit a child could not afford
could not be afforded by the parent either (same budget, more competition), so this equals
selecting from all units below the tile, at ``O(n log n)`` cost overall.

Geometric error (metres; T3D-4: the error if this tile is rendered and its children are not)::

    ge(leaf)  = 0
    ge(tile)  = max( min_error,
                     max over children c of ge(c),
                     max over shown units u of deviation(u),
                     max over units u below the tile but not shown of importance(u) )
    ge(tileset) = max( ge(root), diagonal of the root region )

with ``deviation`` the block deviation (how far the full geometry is from its block) and
``importance`` the unit's size, ``max(height, horizontal diameter)``: the error of leaving it
out. Parents therefore never have a smaller error than their children, and the tileset error
is that of showing nothing at all. A tile refines when its screen-space error
``ge * viewport_height / (distance * 2 * tan(fovy / 2))`` exceeds CesiumJS's 16 px: with a
1080 px viewport and 60° field of view, a tile of ge 4 m is replaced by its children closer
than ~234 m.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from citymodel._typing import Float64Array, IndexArray
from citymodel.errors import TilingError
from citymodel.tiler.blocks import Blocks, block_mesh, block_meshes
from citymodel.tiler.index import FeatureIndex
from citymodel.tiler.partition import TileTree

__all__ = [
    "Blocks",
    "ContentKind",
    "LodPlan",
    "LodPolicy",
    "assign_lod",
    "block_mesh",
    "block_meshes",
]

_EARTH_RADIUS = 6_371_008.8
"""Mean Earth radius, metres (converts the root region's extent to metres)."""


class ContentKind(IntEnum):
    """What a tile shows."""

    NONE = 0
    """No content (an inner tile whose units have no affordable block)."""
    FULL = 1
    """The full LoD2 geometry of the tile's units (leaves)."""
    BLOCKS = 2
    """The blocks of the selected units."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LodPolicy:
    """Budgets and error floor for inner tiles.

    Attributes
    ----------
    max_triangles
        Block triangles per inner tile. Blocks have 12–40 triangles, so 100 000 triangles
        show ~3 000–8 000 buildings: a whole-city root stays a few MB uncompressed
        (≈ 1 MB meshopt-compressed).
    max_bytes
        Stored block bytes (scratch-store ``block_length``) per inner tile; ~0.5–1 KB per
        block including the building's attributes, so 2 MiB ≈ 2 500–4 000 blocks.
    min_error
        Floor of an inner tile's geometric error, metres. Blocks of flat-roofed boxes have
        deviation 0, yet the leaves still add the parts, semantics and attributes; an error
        of 0 would stop CesiumJS from ever refining to them.
    """

    max_triangles: int = 100_000
    max_bytes: int = 2 * 1024 * 1024
    min_error: float = 1.0

    def __post_init__(self) -> None:
        if self.max_triangles < 0 or self.max_bytes < 0:
            raise ValueError("max_triangles and max_bytes must not be negative")
        if not (math.isfinite(self.min_error) and self.min_error > 0):
            raise ValueError(f"min_error must be a positive number of metres, got {self.min_error}")


@dataclass(frozen=True, slots=True)
class LodPlan:
    """Content and geometric error of every node of a :class:`TileTree`.

    Attributes
    ----------
    tree
        The partition.
    policy
        The policy the plan was made with.
    geometric_error
        ``(N,)`` float64 metres per node.
    content
        ``(N,)`` uint8 :class:`ContentKind` per node.
    unit_offsets, units
        CSR lists: node ``i`` shows the index rows ``units[unit_offsets[i]:unit_offsets[i+1]]``
        (sorted), full geometry for leaves, blocks otherwise.
    tileset_geometric_error
        Metres, ``>= geometric_error[0]``.
    refine
        Always ``"REPLACE"``.
    """

    tree: TileTree
    policy: LodPolicy
    geometric_error: Float64Array
    content: npt.NDArray[np.uint8]
    unit_offsets: IndexArray
    units: IndexArray
    tileset_geometric_error: float
    refine: Literal["REPLACE"] = "REPLACE"

    def content_rows(self, node: int) -> IndexArray:
        """Index rows whose geometry (full for leaves, blocks otherwise) ``node`` shows."""
        return self.units[int(self.unit_offsets[node]) : int(self.unit_offsets[node + 1])]

    def implicit_root_error(self) -> float:
        """Root error for implicit tiling, where level ``L`` gets ``root / 2**L`` (T3D-5).

        The smallest root error for which every node's implied error is at least its planned
        one.
        """
        scaled = self.geometric_error * np.exp2(self.tree.level.astype(np.float64))
        return float(max(scaled.max(), self.geometric_error[0]))

    def check(self, index: FeatureIndex) -> None:
        """Verify the plan's invariants; raise :class:`TilingError` naming the first failures.

        Checked (T3D-4): leaves show all their units in full with error 0; inner tiles show
        blocks of distinct units below them within the budget; tiles of one level show
        disjoint units; errors never grow from parent to child; an inner tile's error covers
        the deviation of every block it shows, the importance of every unit below it that it
        does not show, and ``min_error``; the tileset error covers the root's.
        """
        problems = _plan_problems(self, index)
        if problems:
            raise TilingError("invalid level-of-detail plan: " + "; ".join(problems[:5]))


def assign_lod(tree: TileTree, index: FeatureIndex, policy: LodPolicy | None = None) -> LodPlan:
    """Plan the content and geometric error of every node of ``tree`` (module docstring).

    Parameters
    ----------
    tree
        The partition of ``index``.
    index
        Supplies ``importance``, ``deviation``, ``block_triangle_count`` and
        ``block_length`` of the units.
    policy
        Budgets and error floor of inner tiles; defaults to :class:`LodPolicy()`.
    """
    pol = policy or LodPolicy()
    count = len(tree)
    # native dtypes: float32 values keep their order and extremes; sums accumulate in int64
    importance, deviation = index.importance, index.deviation
    block_tris, block_bytes = index.block_triangle_count, index.block_length
    error = np.zeros(count)
    content = np.zeros(count, dtype=np.uint8)
    # Inner tiles' selections only: a leaf shows all its units, sorted on demand, so the plan
    # never holds the leaves' lists twice.
    shown: list[IndexArray | None] = [None] * count
    leaf = tree.is_leaf

    def shown_by(node: int) -> IndexArray:
        rows = shown[node]
        return np.sort(tree.rows(node)) if rows is None else rows

    # Children have larger node numbers than their parents (breadth-first order).
    for node in range(count - 1, -1, -1):
        if leaf[node]:
            content[node] = ContentKind.FULL
            continue
        kids = tree.child_nodes(node).tolist()
        candidates = np.concatenate([shown_by(k) for k in kids])
        child_error = max(float(error[k]) for k in kids)
        has_block = block_tris[candidates] > 0
        dropped = candidates[~has_block]
        candidates = candidates[has_block]
        ranked = candidates[np.lexsort((candidates, -importance[candidates]))]
        fits = min(
            int(
                np.searchsorted(
                    np.cumsum(block_tris[ranked], dtype=np.int64), pol.max_triangles, side="right"
                )
            ),
            int(
                np.searchsorted(
                    np.cumsum(block_bytes[ranked], dtype=np.int64), pol.max_bytes, side="right"
                )
            ),
        )
        chosen = ranked[:fits]
        terms = [pol.min_error, child_error]
        if chosen.size:
            terms.append(float(deviation[chosen].max()))
        if fits < ranked.shape[0]:
            terms.append(float(importance[ranked[fits]]))
        if dropped.size:
            terms.append(float(importance[dropped].max()))
        error[node] = max(terms)
        shown[node] = np.sort(chosen)
        content[node] = ContentKind.BLOCKS if chosen.size else ContentKind.NONE
    sizes = np.array(
        [tree.stop[k] - tree.start[k] if s is None else s.shape[0] for k, s in enumerate(shown)],
        dtype=np.int64,
    )
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    units = np.empty(int(offsets[-1]), dtype=np.int64)
    for node in range(count):  # one copy of each list, released as it is placed
        units[offsets[node] : offsets[node + 1]] = shown_by(node)
        shown[node] = None
    return LodPlan(
        tree=tree,
        policy=pol,
        geometric_error=error,
        content=content,
        unit_offsets=offsets,
        units=units,
        tileset_geometric_error=max(float(error[0]), _diagonal_m(tree)),
    )


def _diagonal_m(tree: TileTree) -> float:
    """Diagonal of the root's region in metres (horizontal extent and height range)."""
    west, south, east, north, low, high = tree.regions[0].tolist()
    mid = 0.5 * (south + north)
    dx = (east - west) * math.cos(mid) * _EARTH_RADIUS
    dy = (north - south) * _EARTH_RADIUS
    return math.sqrt(dx * dx + dy * dy + (high - low) ** 2)


def _plan_problems(plan: LodPlan, index: FeatureIndex) -> list[str]:
    """The broken invariants of ``plan`` (see :meth:`LodPlan.check`).

    "Below a node" is tested on positions in ``tree.order`` (a node's units are the range
    ``start:stop`` of it), so the check holds a few bytes per unit: the position of every unit
    (int32), the units' importance in that order (float32) and one level's units at a time.
    """
    tree, pol = plan.tree, plan.policy
    problems: list[str] = []
    if plan.refine != "REPLACE":
        problems.append(f"refine is {plan.refine!r}, expected 'REPLACE'")
    if plan.tileset_geometric_error < plan.geometric_error[0]:
        problems.append("tileset geometric error is below the root's")
    n, count = len(index), len(tree)
    units, offsets = plan.units, plan.unit_offsets
    if (
        offsets.shape != (count + 1,)
        or offsets[0] != 0
        or offsets[-1] != units.shape[0]
        or (np.diff(offsets) < 0).any()
    ):
        return [*problems, "the content lists are malformed"]
    if units.size and (int(units.min()) < 0 or int(units.max()) >= n):
        return [*problems, "a tile shows a row that is not in the index"]
    problems += _repeated_units(plan)

    kind = np.dtype(np.int32 if n < 2**31 else np.int64)
    position: npt.NDArray[np.signedinteger[Any]] = np.full(n, -1, dtype=kind)
    position[tree.order] = np.arange(n, dtype=kind)
    importance = index.importance[tree.order]  # by position: a node's units are a range
    leaf = tree.is_leaf
    for node in range(count):
        ge = float(plan.geometric_error[node])
        rows = plan.content_rows(node)
        first, stop = int(tree.start[node]), int(tree.stop[node])
        at = position[rows]
        inside = (at >= first) & (at < stop)
        if leaf[node]:
            if plan.content[node] != ContentKind.FULL or ge != 0.0:
                problems.append(f"leaf {node} must show full geometry with error 0")
            if rows.size != stop - first or not inside.all():  # rows are distinct (above)
                problems.append(f"leaf {node} does not show exactly its units")
            continue
        if not inside.all():
            problems.append(f"node {node} shows a unit that is not below it")
        expected = ContentKind.BLOCKS if rows.size else ContentKind.NONE
        if plan.content[node] != expected:
            problems.append(
                f"node {node} has content kind {plan.content[node]}, expected {expected}"
            )
        block_tris = index.block_triangle_count[rows]
        if (block_tris == 0).any():
            problems.append(f"node {node} shows a unit without a block")
        if int(block_tris.sum(dtype=np.int64)) > pol.max_triangles:
            problems.append(f"node {node} exceeds the block triangle budget")
        if int(index.block_length[rows].sum(dtype=np.int64)) > pol.max_bytes:
            problems.append(f"node {node} exceeds the block byte budget")
        kids = tree.child_nodes(node)
        if ge < pol.min_error or ge < float(plan.geometric_error[kids].max()):
            problems.append(f"node {node} error {ge} is below a child's or min_error")
        if rows.size and ge < float(index.deviation[rows].max()):
            problems.append(f"node {node} error {ge} is below a shown block's deviation")
        hidden = importance[first:stop].copy()  # the units below it it does not show
        hidden[at[inside] - first] = -np.inf
        if stop > first and ge < float(hidden.max()):
            problems.append(f"node {node} error {ge} is below the size of a unit it leaves out")
    return problems


def _repeated_units(plan: LodPlan) -> list[str]:
    """Units a tile lists twice or out of order, or that two tiles of one level show.

    The lists are sorted, so a list is fine when it strictly increases; a level's units are
    sorted together to find a unit shown by two of its tiles (the details are worked out only
    when something is wrong).
    """
    tree, units, offsets = plan.tree, plan.units, plan.unit_offsets
    problems: list[str] = []
    rising = np.ones(units.shape[0], dtype=bool)
    rising[1:] = units[1:] > units[:-1]
    rising[offsets[:-1][offsets[:-1] < units.shape[0]]] = True  # each list starts afresh
    for node in np.unique(np.searchsorted(offsets, np.flatnonzero(~rising), side="right") - 1):
        rows = plan.content_rows(int(node))
        if np.unique(rows).shape[0] != rows.shape[0]:
            problems.append(f"node {node} shows a unit twice")
        else:
            problems.append(f"node {node} lists its units out of order")
    for level in np.unique(tree.level).tolist():
        ids = np.flatnonzero(tree.level == level)
        shown = np.concatenate([plan.content_rows(int(k)) for k in ids])
        shown.sort()
        twice = np.unique(shown[1:][shown[1:] == shown[:-1]])
        if twice.size == 0:
            continue
        owners = [int(k) for k in ids if np.isin(plan.content_rows(int(k)), twice).any()]
        problems += [
            f"node {node} shows a unit another tile of its level shows" for node in owners[1:]
        ]
    return problems
