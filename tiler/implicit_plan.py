"""Content plan of implicit tilesets: each unit in the deepest tile whose cell contains it (T3D-5).

Implicit tile volumes are exact subdivisions of the root volume and cannot be refit, so a
building assigned to a cell by its centroid sticks out of that cell's volume when it straddles
a cell border (correctness.md T3D-5). Clients cull such content too early, and the containment
checks (``validate.py``, check-tileset) rightly report it.

This plan therefore attaches every unit to the deepest tile on its centroid's path whose cell
contains the unit's whole region with a margin of :data:`~citymodel.tiler.volumes.PADDING`
(1 cm, more than float32 rounding of the written positions): most units stay in their
partition leaf, units crossing a border move up to the smallest cell around them (a loose
quadtree). Every vertex then lies inside its tile's computed volume and, since cells nest, in
every ancestor's.

A unit shown by an inner tile cannot also be shown by a descendant (no descendant cell holds
it), so REPLACE refinement — where children hide their parent's content — would make it vanish
once the parent refines. The plan uses **ADD** refinement: every unit is drawn by exactly one
tile, with its full geometry, and tiles below add to what their ancestors show (T3D-4's ADD
rule: each building in exactly one content). The simplified parent blocks of the explicit
REPLACE plan (:mod:`citymodel.tiler.lod`) are not used.

Geometric error (metres): a tile rendered without its children omits every unit attached
below it, so it needs ``need(t) = max importance(u)`` over those units (0 for a tile with
nothing below), floored at ``min_error``. Implicit tiling halves the error per level (T3D-5),
so the root error is ``max over tiles of need(t) * 2**level(t)`` and the tileset error covers
the root's and the diagonal of the whole region (the error of drawing nothing).

Regions are radians and metres above the WGS 84 ellipsoid (correctness.md T3D-3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from citymodel._typing import BoolArray, Float32Array, Float64Array, IndexArray
from citymodel.errors import TilingError
from citymodel.tiler.implicit import implicit_volume
from citymodel.tiler.index import FeatureIndex
from citymodel.tiler.lod import _diagonal_m
from citymodel.tiler.partition import TileTree, grid_region
from citymodel.tiler.volumes import PADDING, Region

__all__ = ["ImplicitPlan", "implicit_root", "plan_implicit"]

_MIN_RADIUS = 6_335_439.0
"""Smallest radius of curvature of the WGS 84 ellipsoid, metres (a length divided by it is an
angle at least as large as the true one, so margins are never smaller than asked)."""


@dataclass(frozen=True, slots=True)
class ImplicitPlan:
    """Which tile shows which unit in an implicit (ADD) tileset, and the root geometric error.

    Attributes
    ----------
    tree
        The partition; its grid is the implicit root region and its node keys are the implicit
        tile coordinates.
    root
        The implicit root volume (``tree.grid``): radians, metres above the ellipsoid.
    node_of_unit
        ``(n,)`` int64: the node showing each index row.
    unit_offsets, units
        CSR lists: node ``i`` shows the index rows ``units[unit_offsets[i]:unit_offsets[i+1]]``
        (sorted), with their full geometry.
    need
        ``(N,)`` float64 metres: the error each node must at least have (module docstring).
    root_geometric_error
        Metres; level ``L`` gets ``root_geometric_error / 2**L``.
    tileset_geometric_error
        Metres, ``>= root_geometric_error``.
    refine
        Always ``"ADD"``.
    """

    tree: TileTree
    root: Region
    node_of_unit: IndexArray
    unit_offsets: IndexArray
    units: IndexArray
    need: Float64Array
    root_geometric_error: float
    tileset_geometric_error: float
    refine: Literal["ADD"] = "ADD"

    def content_rows(self, node: int) -> IndexArray:
        """Index rows ``node`` shows (full geometry)."""
        return self.units[int(self.unit_offsets[node]) : int(self.unit_offsets[node + 1])]

    def content_nodes(self) -> IndexArray:
        """Nodes that show at least one unit, in node order."""
        return np.flatnonzero(np.diff(self.unit_offsets) > 0)

    def geometric_error(self, node: int) -> float:
        """The error clients give ``node``: the root error halved per level (T3D-5)."""
        return self.root_geometric_error / float(1 << int(self.tree.level[node]))

    def check(self, index: FeatureIndex) -> None:
        """Verify the plan; raise :class:`TilingError` naming the first failures.

        Checked: every unit is shown by exactly one tile, an ancestor of (or) its centroid
        leaf; each unit's region lies inside the computed volume of its tile (T3D-5); the
        implied error of every tile covers its ``need``; the tileset error covers the root's.
        """
        problems = _plan_problems(self, index)
        if problems:
            raise TilingError("invalid implicit tiling plan: " + "; ".join(problems[:5]))


def implicit_root(index: FeatureIndex, *, square: bool = True) -> Region:
    """The implicit root volume for ``index``: the partition grid, padded by 1 cm (T3D-3).

    Partition with ``partition(index, options, grid=tuple(root.to_json()))`` so the tree's
    cell keys are the implicit tile coordinates (T3D-5).
    """
    return Region.from_bounds(*grid_region(index, square=square), padding=PADDING)


def _leaf_of_rows(tree: TileTree, count: int) -> IndexArray:
    """The leaf node holding each index row."""
    leaves = tree.leaves()
    leaves = leaves[np.argsort(tree.start[leaves], kind="stable")]
    out = np.empty(count, dtype=np.int64)
    out[tree.order] = np.repeat(leaves, tree.stop[leaves] - tree.start[leaves])
    return out


def _cell_bounds(root: Region, level: int, cx: IndexArray, cy: IndexArray) -> Float64Array:
    """``(m, 4)`` west, south, east, north of cells, computed as :func:`implicit_volume` does."""
    n = 1 << level
    dlon = (root.east - root.west) / n
    dlat = (root.north - root.south) / n
    west = root.west + cx * dlon
    south = root.south + cy * dlat
    east = np.where(cx + 1 < n, root.west + (cx + 1) * dlon, root.east)
    north = np.where(cy + 1 < n, root.south + (cy + 1) * dlat, root.north)
    return np.stack([west, south, east, north], axis=1)


def _fits(
    bounds: Float64Array, index: FeatureIndex, rows: IndexArray, dlon: float, dlat: float
) -> BoolArray:
    """Regions (radians) of the units ``rows`` inside cell bounds shrunk by the margins."""
    out: BoolArray = (
        (index.west[rows] >= bounds[:, 0] + dlon)
        & (index.south[rows] >= bounds[:, 1] + dlat)
        & (index.east[rows] <= bounds[:, 2] - dlon)
        & (index.north[rows] <= bounds[:, 3] - dlat)
    )
    return out


_BATCH = 1 << 14
"""Units per batch of the per-unit cell tests (bounds their temporaries to about 2 MB)."""


def plan_implicit(
    tree: TileTree, index: FeatureIndex, *, min_error: float = 1.0, margin: float = PADDING
) -> ImplicitPlan:
    """Attach every unit to the deepest tile whose implicit cell contains it (module docstring).

    Parameters
    ----------
    tree
        A partition of ``index`` whose ``grid`` is the implicit root region (build it with
        ``partition(index, grid=...)``); it must contain every unit's region.
    index
        The units.
    min_error
        Floor of the error of tiles with units below them, metres.
    margin
        Metres a unit must stay inside a cell border to belong to the cell.

    Raises
    ------
    TilingError
        When a unit lies outside the root region.
    """
    root = Region(*tree.grid)
    count = len(index)
    west, south, east, north, low, high = index.region()
    if (
        west < root.west
        or south < root.south
        or east > root.east
        or north > root.north
        or low < root.min_height
        or high > root.max_height
    ):
        raise TilingError("the implicit root region does not contain every building")
    leaf = _leaf_of_rows(tree, count)
    leaf_level = tree.level[leaf].astype(np.int8)  # levels <= 30
    dlat = margin / _MIN_RADIUS
    cos_lat = max(math.cos(max(abs(root.south), abs(root.north))), 1e-6)
    dlon = dlat / cos_lat
    attach = np.zeros(count, dtype=np.int8)
    for level in range(1, int(leaf_level.max()) + 1):
        candidates = np.flatnonzero((leaf_level >= level) & (attach == level - 1))
        if candidates.size == 0:
            break
        for first in range(0, candidates.shape[0], _BATCH):
            rows = candidates[first : first + _BATCH]
            shift = leaf_level[rows].astype(np.int64) - level
            cx = tree.x[leaf[rows]] >> shift
            cy = tree.y[leaf[rows]] >> shift
            inside = _fits(_cell_bounds(root, level, cx, cy), index, rows, dlon, dlat)
            attach[rows[inside]] = level
    node = leaf.copy()
    for _ in range(int(leaf_level.max())):
        up = tree.level[node] > attach
        if not up.any():
            break
        node[up] = tree.parent[node[up]]
    order = np.argsort(node, kind="stable")  # by node, then row
    sizes = np.bincount(node, minlength=len(tree))
    offsets = np.zeros(len(tree) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    need = _need(tree, node, index.importance, min_error)
    scaled = need * np.exp2(tree.level.astype(np.float64))
    root_error = float(scaled.max()) if scaled.size else 0.0
    return ImplicitPlan(
        tree=tree,
        root=root,
        node_of_unit=node,
        unit_offsets=offsets,
        units=order.astype(np.int64, copy=False),
        need=need,
        root_geometric_error=root_error,
        tileset_geometric_error=max(root_error, _diagonal_m(tree)),
    )


def _need(
    tree: TileTree, node_of_unit: IndexArray, importance: Float32Array, floor: float
) -> Float64Array:
    """Per node: the largest importance of the units attached strictly below it (floored)."""
    count = len(tree)
    own = np.zeros(count)
    np.maximum.at(own, node_of_unit, importance)
    has_own = np.bincount(node_of_unit, minlength=count) > 0
    below = np.zeros(count)
    has_below = np.zeros(count, dtype=bool)
    # Breadth-first numbering: children come after their parent; sweep levels bottom-up.
    for level in range(int(tree.level.max()), 0, -1):
        ids = np.flatnonzero(tree.level == level)
        parents = tree.parent[ids]
        np.maximum.at(below, parents, np.maximum(own[ids], below[ids]))
        np.logical_or.at(has_below, parents, has_own[ids] | has_below[ids])
    return np.where(has_below, np.maximum(below, floor), 0.0)


def _plan_problems(plan: ImplicitPlan, index: FeatureIndex) -> list[str]:
    tree = plan.tree
    problems: list[str] = []
    count = len(index)
    if plan.units.size and (int(plan.units.min()) < 0 or int(plan.units.max()) >= count):
        return ["a tile shows a row that is not in the index"]
    shown = np.bincount(plan.units, minlength=count)
    if (shown != 1).any():
        bad = int(np.flatnonzero(shown != 1)[0])
        problems.append(f"unit {bad} is shown by {int(shown[bad])} tiles")
    del shown
    for node in range(len(tree)):
        if (plan.node_of_unit[plan.content_rows(node)] != node).any():
            problems.append("the content lists disagree with node_of_unit")
            break
    leaf = _leaf_of_rows(tree, count)
    for first in range(0, count, _BATCH):  # batches: a few MB of temporaries at any size
        part = slice(first, first + _BATCH)
        shown_by, leaf_of = plan.node_of_unit[part], leaf[part]
        level, leaf_level = tree.level[shown_by], tree.level[leaf_of]
        shift = np.maximum(leaf_level - level, 0)
        on_path = (
            (level <= leaf_level)
            & (tree.x[leaf_of] >> shift == tree.x[shown_by])
            & (tree.y[leaf_of] >> shift == tree.y[shown_by])
        )
        if not on_path.all():
            problems.append(
                f"unit {first + int(np.flatnonzero(~on_path)[0])} is shown outside the path "
                "of its centroid cell"
            )
            break
    del leaf
    for node in np.flatnonzero(np.diff(plan.unit_offsets) > 0).tolist():
        cell = implicit_volume(plan.root, tree.key(node))
        if not isinstance(cell, Region):  # pragma: no cover - the root is a region
            problems.append("implicit cells must be regions")
            break
        rows = plan.content_rows(node)
        if (
            (index.west[rows] < cell.west).any()
            or (index.south[rows] < cell.south).any()
            or (index.east[rows] > cell.east).any()
            or (index.north[rows] > cell.north).any()
            or (index.min_height[rows] < cell.min_height).any()
            or (index.max_height[rows] > cell.max_height).any()
        ):
            problems.append(f"node {node} shows a unit outside its implicit volume (T3D-5)")
    implied = plan.root_geometric_error / np.exp2(tree.level.astype(np.float64))
    if (implied < plan.need * (1.0 - 1e-12)).any():
        problems.append("a tile's implied geometric error is below what it needs")
    if plan.tileset_geometric_error < plan.root_geometric_error:
        problems.append("tileset geometric error is below the root's")
    return problems
