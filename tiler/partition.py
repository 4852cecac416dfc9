"""Quadtree partition of the units of a :class:`~citymodel.tiler.index.FeatureIndex` (pure).

Units are assigned to cells by their centroid (longitude / latitude in radians), never split
nor duplicated: a Building and its BuildingParts always land in one leaf. The grid is the
quadtree of a root region in longitude / latitude (``x`` east, ``y`` north, the conventions of
3D Tiles implicit tiling, correctness.md T3D-5), squared in metres at its centre latitude by
default so that cells are about square on the ground.

Algorithm (tyler's design, split top-down): every centroid gets the Morton code of its cell at
``max_depth``; sorting by that code makes every quadtree cell a contiguous range of the sorted
units, so the triangle, byte and unit totals of any cell are differences of prefix sums and
the children of a cell are found by binary search. The tree is built level by level with
numpy over all nodes of a level at once: ``O(n log n)`` for the sort, ``O(nodes)`` after.

A node is split while its units exceed any budget (triangles, stored bytes, units), unless it
holds a single unit (a unit larger than the budget stays alone in its leaf) or sits at
``max_depth`` (many units with centroids in one cell of ~2 cm stay together). Empty children
are dropped. Each node's region is refit to the union of its members' regions (pg2b3dm), so
it is tight and contains all member geometry even where units stick out of their cell;
parents' regions are the union of their children's (correctness.md T3D-3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from citymodel._typing import Float64Array, IndexArray
from citymodel.errors import TilingError
from citymodel.tiler.index import FeatureIndex, Region
from citymodel.tiler.keys import TileKey, morton_encode_2d

__all__ = [
    "PartitionOptions",
    "TileNode",
    "TileTree",
    "grid_region",
    "partition",
    "tree_to_geojson",
]

_EARTH_RADIUS = 6_371_008.8
"""Mean Earth radius (metres), only to make the root grid about square on the ground."""
_MIN_SPAN = 1e-9
"""Smallest root grid extent (radians, ~6 mm) so that a single point still has a grid."""
_MAX_DEPTH = 30
"""Deepest allowed quadtree level (Morton codes of level + 1 must fit 64 bits)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionOptions:
    """Leaf budgets of the quadtree partition.

    A node is split while its units exceed any of the budgets.

    Attributes
    ----------
    max_triangles
        Triangles of full LoD2 geometry per leaf. 300 000 triangles are ~8–20 MB of
        uncompressed glTF (positions, normals, feature ids, 32-bit indices) and ~1.5–3 MB once
        quantised and meshopt-compressed: CesiumJS streams tiles of a few MB comfortably, and
        detailed LoD2 cities (300–600 triangles per building) get leaves of 500–1000 buildings.
    max_bytes
        Stored bytes (the scratch-store ``length`` of the units) per leaf. Stored geometry is
        ~14 bytes per vertex + ~7 per triangle + the attribute text, about half the size of
        the uncompressed glTF content, so 4 MiB stored ≈ 8 MB uncompressed per leaf.
    max_units
        Units (buildings) per leaf, ``None`` for no limit. 1000 (pg2b3dm's default) bounds the
        property table and picking cost per tile and keeps leaves of simple LoD2 (NRW: ~40
        triangles per building) at ~1 km² or less in dense areas, where the other two budgets
        would allow several thousand buildings.
    max_depth
        Deepest quadtree level (0..30). At 20 a cell of a 20 km city is ~2 cm wide: only
        units with (almost) identical centroids are kept together by this guard.
    square
        Widen the root grid to a square on the ground (at its centre latitude) so cells are
        about square; otherwise the grid is the bounding rectangle of all units.
    """

    max_triangles: int = 300_000
    max_bytes: int = 4 * 1024 * 1024
    max_units: int | None = 1000
    max_depth: int = 20
    square: bool = True

    def __post_init__(self) -> None:
        if self.max_triangles < 1 or self.max_bytes < 1:
            raise ValueError("max_triangles and max_bytes must be positive")
        if self.max_units is not None and self.max_units < 1:
            raise ValueError("max_units must be positive or None")
        if not 0 <= self.max_depth <= _MAX_DEPTH:
            raise ValueError(f"max_depth must be in 0..{_MAX_DEPTH}, got {self.max_depth}")


@dataclass(frozen=True, slots=True)
class TileNode:
    """One node of a :class:`TileTree` (a view; built on demand by :meth:`TileTree.node`).

    Attributes
    ----------
    index
        Position of the node in the tree (nodes are in breadth-first, Morton order).
    key
        ``(level, x, y)`` of its grid cell.
    rows
        Index rows of all units below the node (for a leaf: the units it holds).
    region
        Union of its units' regions: radians, metres above the WGS84 ellipsoid.
    children
        Indices of its children (empty for a leaf).
    parent
        Index of its parent, ``None`` for the root.
    triangles, nbytes
        Totals of ``triangle_count`` and stored ``length`` over ``rows``.
    """

    index: int
    key: TileKey
    rows: IndexArray
    region: Region
    children: tuple[int, ...]
    parent: int | None
    triangles: int
    nbytes: int

    @property
    def is_leaf(self) -> bool:
        """True when the node has no children (it holds full-detail content)."""
        return not self.children


@dataclass(frozen=True, slots=True)
class TileTree:
    """A quadtree partition of the units of an index, as a struct of arrays over nodes.

    Nodes are numbered breadth-first (all of level ``L`` before level ``L + 1``), in Morton
    order within a level; node 0 is the root. Node ``i`` covers the units
    ``order[start[i]:stop[i]]`` and its children are ``children[child_offsets[i]:
    child_offsets[i + 1]]`` (consecutive node numbers).

    Attributes
    ----------
    grid
        The root cell of the key grid ``(west, south, east, north, min_h, max_h)``; cell
        ``(L, x, y)`` is the ``x``-th of ``2**L`` equal longitude slices and the ``y``-th latitude
        slice (radians; heights are not subdivided).
    order
        ``(n,)`` int64 index rows sorted by cell (Morton order).
    level, x, y
        ``(N,)`` int64 keys of the nodes.
    start, stop
        ``(N,)`` int64 range of each node in ``order``.
    parent
        ``(N,)`` int64 parent node, -1 for the root.
    child_offsets, children
        CSR lists of child nodes.
    regions
        ``(N, 6)`` float64 refit regions (union of members).
    triangles, nbytes
        ``(N,)`` int64 totals of ``triangle_count`` and ``length`` of each node's units.
    max_depth
        The depth guard the tree was built with.
    """

    grid: Region
    order: IndexArray
    level: IndexArray
    x: IndexArray
    y: IndexArray
    start: IndexArray
    stop: IndexArray
    parent: IndexArray
    child_offsets: IndexArray
    children: IndexArray
    regions: Float64Array
    triangles: IndexArray
    nbytes: IndexArray
    max_depth: int

    def __len__(self) -> int:
        return int(self.level.shape[0])

    @property
    def is_leaf(self) -> npt.NDArray[np.bool_]:
        """``(N,)`` bool: nodes without children."""
        result: npt.NDArray[np.bool_] = np.diff(self.child_offsets) == 0
        return result

    @property
    def depth(self) -> int:
        """Deepest level present."""
        return int(self.level.max())

    def leaves(self) -> IndexArray:
        """Node indices of the leaves, in Morton order."""
        return np.flatnonzero(self.is_leaf)

    def rows(self, node: int) -> IndexArray:
        """Index rows of the units below ``node``."""
        return self.order[int(self.start[node]) : int(self.stop[node])]

    def child_nodes(self, node: int) -> IndexArray:
        """Node indices of the children of ``node``."""
        return self.children[int(self.child_offsets[node]) : int(self.child_offsets[node + 1])]

    def key(self, node: int) -> TileKey:
        """Grid key of ``node``."""
        return TileKey(int(self.level[node]), int(self.x[node]), int(self.y[node]))

    def node(self, node: int) -> TileNode:
        """A :class:`TileNode` view of ``node``."""
        parent = int(self.parent[node])
        r = self.regions[node]
        return TileNode(
            index=node,
            key=self.key(node),
            rows=self.rows(node),
            region=(float(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5])),
            children=tuple(self.child_nodes(node).tolist()),
            parent=None if parent < 0 else parent,
            triangles=int(self.triangles[node]),
            nbytes=int(self.nbytes[node]),
        )

    def cell_region(self, node: int) -> Region:
        """The grid cell of ``node`` (not refit): radians, and the grid's heights."""
        west, south, east, north, low, high = self.grid
        n = 1 << int(self.level[node])
        dx, dy = (east - west) / n, (north - south) / n
        x, y = int(self.x[node]), int(self.y[node])
        return (west + x * dx, south + y * dy, west + (x + 1) * dx, south + (y + 1) * dy, low, high)

    def check(self, index: FeatureIndex, options: PartitionOptions | None = None) -> None:
        """Verify the partition invariants; raise :class:`TilingError` naming the first failure.

        Checked: every unit in exactly one leaf; keys nest (child = parent * 2 + bit); a
        node's units are its children's units; regions contain their units' regions and their
        children's regions; with ``options``, leaf budgets hold unless the leaf has a single
        unit or sits at ``max_depth``.
        """
        problems = _tree_problems(self, index, options)
        if problems:
            raise TilingError("invalid tile tree: " + "; ".join(problems[:5]))


def grid_region(index: FeatureIndex, *, square: bool = True) -> Region:
    """The root cell for partitioning ``index``: the union of its regions, optionally squared.

    Returns
    -------
    Region
        ``(west, south, east, north, min_h, max_h)``: radians, metres above the ellipsoid. With
        ``square``, the shorter side (in metres at the centre latitude) is widened about the
        centre to match the longer one.
    """
    west, south, east, north, low, high = index.region()
    centre_lon, centre_lat = 0.5 * (west + east), 0.5 * (south + north)
    half_w = max(0.5 * (east - west), 0.5 * _MIN_SPAN)
    half_h = max(0.5 * (north - south), 0.5 * _MIN_SPAN)
    if square:
        cos_lat = max(math.cos(centre_lat), 1e-6)
        half_m = max(half_w * cos_lat, half_h) * _EARTH_RADIUS
        half_w = max(half_w, half_m / (_EARTH_RADIUS * cos_lat))
        half_h = max(half_h, half_m / _EARTH_RADIUS)
    return (
        centre_lon - half_w,
        centre_lat - half_h,
        centre_lon + half_w,
        centre_lat + half_h,
        low,
        high,
    )


_CODE_BATCH = 1 << 16
"""Units per batch of :func:`_cell_codes` (bounds its temporaries to a few MB)."""


def _cell_codes(index: FeatureIndex, grid: Region, depth: int) -> npt.NDArray[np.uint64]:
    """Morton code of each unit's centroid cell at ``depth``.

    Computed in batches so that the float and bit-interleaving temporaries stay a few MB
    whatever the number of units: the result is the only ``(n,)`` array made.
    """
    west, south, east, north = grid[:4]
    cells = float(1 << depth)
    top = cells - 1
    n = len(index)
    codes = np.empty(n, dtype=np.uint64)
    for first in range(0, n, _CODE_BATCH):
        part = slice(first, first + _CODE_BATCH)
        gx = np.floor((index.lon[part] - west) / (east - west) * cells)
        gy = np.floor((index.lat[part] - south) / (north - south) * cells)
        codes[part] = morton_encode_2d(
            np.clip(gx, 0, top).astype(np.uint64), np.clip(gy, 0, top).astype(np.uint64)
        )
    return codes


def partition(
    index: FeatureIndex,
    options: PartitionOptions | None = None,
    *,
    grid: Region | None = None,
) -> TileTree:
    """Build the quadtree partition of all units of ``index``.

    Parameters
    ----------
    index
        The units (at least one).
    options
        Leaf budgets and depth guard; defaults to :class:`PartitionOptions()`.
    grid
        Root cell of the key grid (radians, metres); defaults to :func:`grid_region`. Units
        whose centroid lies outside are put in the nearest border cell.

    Returns
    -------
    TileTree

    Raises
    ------
    TilingError
        When the index is empty.
    """
    opts = options or PartitionOptions()
    n = len(index)
    if n == 0:
        raise TilingError("there are no buildings to tile")
    root = grid if grid is not None else grid_region(index, square=opts.square)
    depth = opts.max_depth
    codes = _cell_codes(index, root, depth)
    order = np.argsort(codes, kind="stable")
    codes.sort()  # in place: the same values as codes[order], without a second (n,) array
    tri_sum = _prefix(index.triangle_count[order])
    byte_sum = _prefix(index.length[order])
    max_units = opts.max_units if opts.max_units is not None else n + 1

    levels: list[dict[str, IndexArray]] = []
    cur = {
        "start": np.zeros(1, np.int64),
        "stop": np.full(1, n, np.int64),
        "x": np.zeros(1, np.int64),
        "y": np.zeros(1, np.int64),
        "parent": np.full(1, -1, np.int64),
    }
    first_id = 0
    for lvl in range(depth + 1):
        start, stop = cur["start"], cur["stop"]
        count = stop - start
        over = (
            (tri_sum[stop] - tri_sum[start] > opts.max_triangles)
            | (byte_sum[stop] - byte_sum[start] > opts.max_bytes)
            | (count > max_units)
        )
        split = np.flatnonzero(over & (count > 1) & (lvl < depth))
        cur["split"] = split
        levels.append(cur)
        if split.size == 0:
            break
        shift = np.uint64(2 * (depth - lvl - 1))
        prefix = morton_encode_2d(
            cur["x"][split].astype(np.uint64), cur["y"][split].astype(np.uint64)
        )
        quads = prefix[:, None] * np.uint64(4) + np.arange(5, dtype=np.uint64)[None, :]
        bounds = np.searchsorted(codes, quads << shift, side="left").astype(np.int64)
        bounds[:, 0] = start[split]
        bounds[:, 4] = stop[split]
        c_start, c_stop = bounds[:, :4], bounds[:, 1:]
        keep = c_stop > c_start
        q = np.broadcast_to(np.arange(4), keep.shape)[keep]
        parent_ids = np.broadcast_to((first_id + split)[:, None], keep.shape)[keep]
        px = np.broadcast_to(cur["x"][split][:, None], keep.shape)[keep]
        py = np.broadcast_to(cur["y"][split][:, None], keep.shape)[keep]
        first_id += start.shape[0]
        cur = {
            "start": c_start[keep],
            "stop": c_stop[keep],
            "x": 2 * px + (q & 1),
            "y": 2 * py + (q >> 1),
            "parent": parent_ids,
        }

    del codes
    return _finish(index, root, order, levels, tri_sum, byte_sum, depth)


def _region_columns(index: FeatureIndex) -> tuple[npt.NDArray[Any], ...]:
    """The index columns of a region, in region order (west, south, east, north, heights)."""
    return (index.west, index.south, index.east, index.north, index.min_height, index.max_height)


def _prefix(values: npt.NDArray[Any]) -> IndexArray:
    out = np.zeros(values.shape[0] + 1, dtype=np.int64)
    np.cumsum(values, out=out[1:])
    return out


def _finish(
    index: FeatureIndex,
    grid: Region,
    order: IndexArray,
    levels: list[dict[str, IndexArray]],
    tri_sum: IndexArray,
    byte_sum: IndexArray,
    depth: int,
) -> TileTree:
    """Assemble the node arrays, child lists and refit regions."""
    sizes = [lv["start"].shape[0] for lv in levels]
    base = np.concatenate([[0], np.cumsum(sizes)])
    level = np.repeat(np.arange(len(levels), dtype=np.int64), sizes)
    start = np.concatenate([lv["start"] for lv in levels])
    stop = np.concatenate([lv["stop"] for lv in levels])
    parent = np.concatenate([lv["parent"] for lv in levels])
    total = int(base[-1])
    child_count = np.bincount(parent[parent >= 0], minlength=total)
    child_offsets = _prefix(child_count)
    children = np.flatnonzero(parent >= 0)  # breadth-first: children of a node are consecutive

    regions = np.empty((total, 6))
    leaf = child_count == 0
    leaf_ids = np.flatnonzero(leaf)
    leaf_ids = leaf_ids[np.argsort(start[leaf_ids], kind="stable")]
    for k, column in enumerate(_region_columns(index)):
        ufunc = np.minimum if k in (0, 1, 4) else np.maximum
        # native dtype: the float32 heights' extremes are exact after the cast to float64
        regions[leaf_ids, k] = ufunc.reduceat(column[order], start[leaf_ids])
    for lvl in range(len(levels) - 1, 0, -1):
        ids = np.arange(base[lvl], base[lvl + 1])
        up = parent[ids]
        first = children[child_offsets[up]] == ids  # the first child initialises the parent
        regions[up[first]] = regions[ids[first]]
        rest = ids[~first]
        for k in range(6):
            ufunc = np.minimum if k in (0, 1, 4) else np.maximum
            ufunc.at(regions[:, k], parent[rest], regions[rest, k])

    return TileTree(
        grid=grid,
        order=order,
        level=level,
        x=np.concatenate([lv["x"] for lv in levels]),
        y=np.concatenate([lv["y"] for lv in levels]),
        start=start,
        stop=stop,
        parent=parent,
        child_offsets=child_offsets,
        children=children,
        regions=regions,
        triangles=tri_sum[stop] - tri_sum[start],
        nbytes=byte_sum[stop] - byte_sum[start],
        max_depth=depth,
    )


def _member_extremes(tree: TileTree, index: FeatureIndex) -> Float64Array:
    """``(N, 6)`` union of the member regions of every node, from the index columns.

    Every node's members are the contiguous range ``order[start:stop]``, so one ``reduceat``
    per column covers all nodes: its index list holds ``start, stop`` pairs by descending
    ``start``, which makes every in-between entry a single value (ignored). Memory: one
    ``(n,)`` column at a time, never the ``(n, 6)`` regions.
    """
    n, count = len(index), len(tree)
    nodes = np.argsort(-tree.start, kind="stable")
    bounds = np.empty(2 * count, dtype=np.int64)
    bounds[0::2] = tree.start[nodes]
    bounds[1::2] = tree.stop[nodes]
    out = np.empty((count, 6))
    for k, column in enumerate(_region_columns(index)):
        values = np.empty(n + 1, dtype=column.dtype)  # + a sentinel for stop == n
        np.take(column, tree.order, out=values[:n], mode="clip")
        values[n] = values[0]
        ufunc = np.minimum if k in (0, 1, 4) else np.maximum
        out[nodes, k] = ufunc.reduceat(values, bounds)[0::2]
    return out


def _tree_problems(
    tree: TileTree, index: FeatureIndex, options: PartitionOptions | None
) -> list[str]:
    """The broken invariants of ``tree`` (see :meth:`TileTree.check`), vectorised over nodes.

    Node membership is checked on positions in ``order`` (a node's units are a contiguous
    range of it): ``order`` a permutation of the rows, leaf ranges covering every position
    once, children's ranges tiling their parent's. Memory: a few bytes per unit (one column
    and a coverage count at a time), so checking a city-wide tree costs no more than the
    index.
    """
    problems: list[str] = []
    n, count = len(index), len(tree)
    order, start, stop = tree.order, tree.start, tree.stop
    if order.shape != (n,) or (n and (int(order.min()) < 0 or int(order.max()) >= n)):
        return ["order is not a permutation of the index rows"]
    seen = np.zeros(n, dtype=bool)
    seen[order] = True
    if not seen.all():
        problems.append("order is not a permutation of the index rows")
    del seen
    if count == 0 or (start < 0).any() or (stop > n).any() or (stop < start).any():
        return [*problems, "node ranges lie outside the index rows"]
    empty = np.flatnonzero(stop == start)
    problems += [f"node {node} is empty" for node in empty[:5].tolist()]
    if empty.size:
        return problems

    leaves = tree.leaves()
    cover = np.zeros(n + 1, dtype=np.int32)
    np.add.at(cover, start[leaves], 1)
    np.add.at(cover, stop[leaves], -1)
    np.cumsum(cover, out=cover)
    bad = np.flatnonzero(cover[:n] != 1)
    if bad.size:
        first = int(bad[0])
        problems.append(f"unit {int(order[first])} is in {int(cover[first])} leaves")
    del cover

    r, tol = tree.regions, 1e-12
    m = _member_extremes(tree, index)
    outside = (
        (m[:, 0] < r[:, 0] - tol)
        | (m[:, 1] < r[:, 1] - tol)
        | (m[:, 2] > r[:, 2] + tol)
        | (m[:, 3] > r[:, 3] + tol)
        | (m[:, 4] < r[:, 4])
        | (m[:, 5] > r[:, 5])
    )
    problems += [
        f"node {node} region does not contain its units" for node in np.flatnonzero(outside)
    ]
    loose = ~outside & ~(m == r).all(axis=1)
    problems += [
        f"node {node} region is not the union of its units' regions"
        for node in np.flatnonzero(loose)
    ]

    kids = tree.children
    parent_of = np.repeat(np.arange(count), np.diff(tree.child_offsets))
    if kids.size:
        ranked = np.lexsort((start[kids], parent_of))
        k, p = kids[ranked], parent_of[ranked]
        first_kid = np.ones(k.shape[0], dtype=bool)
        first_kid[1:] = p[1:] != p[:-1]
        last_kid = np.ones(k.shape[0], dtype=bool)
        last_kid[:-1] = first_kid[1:]
        previous_stop = np.empty_like(start[k])
        previous_stop[1:] = stop[k][:-1]
        torn = (
            (first_kid & (start[k] != start[p]))
            | (~first_kid & (start[k] != previous_stop))
            | (last_kid & (stop[k] != stop[p]))
        )
        problems += [
            f"node {node}'s units differ from its children's"
            for node in np.unique(p[torn]).tolist()
        ]
        rk, rp = r[k], r[p]
        escapes = (
            (rk[:, 0] < rp[:, 0])
            | (rk[:, 1] < rp[:, 1])
            | (rk[:, 2] > rp[:, 2])
            | (rk[:, 3] > rp[:, 3])
            | (rk[:, 4] < rp[:, 4])
            | (rk[:, 5] > rp[:, 5])
        )
        problems += [
            f"node {node} region does not contain child {child}"
            for node, child in zip(p[escapes].tolist(), k[escapes].tolist(), strict=True)
        ]
        unnested = (
            (tree.level[k] != tree.level[p] + 1)
            | (tree.x[k] >> 1 != tree.x[p])
            | (tree.y[k] >> 1 != tree.y[p])
        )
        problems += [
            f"child {child} key does not nest in node {node}"
            for node, child in zip(p[unnested].tolist(), k[unnested].tolist(), strict=True)
        ]

    if options is not None:
        units = stop - start
        over = (tree.triangles > options.max_triangles) | (tree.nbytes > options.max_bytes)
        if options.max_units is not None:
            over |= units > options.max_units
        busted = tree.is_leaf & (units > 1) & (tree.level < tree.max_depth) & over
        problems += [f"leaf {node} exceeds the budget" for node in np.flatnonzero(busted)]
    return problems


def tree_to_geojson(
    tree: TileTree,
    *,
    cells: bool = False,
    properties: Mapping[str, Sequence[Any] | npt.NDArray[Any]] | None = None,
) -> dict[str, Any]:
    """The partition as a GeoJSON FeatureCollection (like tyler's ``--grid-export``).

    Parameters
    ----------
    tree
        The partition.
    cells
        Draw the grid cells instead of the refit regions.
    properties
        Extra per-node values to attach (e.g. ``{"geometric_error": plan.geometric_error}``),
        one entry per node.

    Returns
    -------
    dict
        RFC 7946 FeatureCollection: one Polygon per node, coordinates in degrees (longitude,
        latitude); properties ``key``, ``level``, ``x``, ``y``, ``leaf``, ``units``,
        ``triangles``, ``bytes``, ``min_height``, ``max_height`` (metres above the ellipsoid).
    """
    extra = {name: list(np.asarray(values).tolist()) for name, values in (properties or {}).items()}
    for name, values in extra.items():
        if len(values) != len(tree):
            raise ValueError(f"property {name!r} has {len(values)} values for {len(tree)} nodes")
    leaf = tree.is_leaf
    features = []
    for node in range(len(tree)):
        west, south, east, north, low, high = (
            tree.cell_region(node) if cells else tuple(tree.regions[node].tolist())
        )
        w, s, e, n = (math.degrees(v) for v in (west, south, east, north))
        props: dict[str, Any] = {
            "key": tree.key(node).path,
            "level": int(tree.level[node]),
            "x": int(tree.x[node]),
            "y": int(tree.y[node]),
            "leaf": bool(leaf[node]),
            "units": int(tree.stop[node] - tree.start[node]),
            "triangles": int(tree.triangles[node]),
            "bytes": int(tree.nbytes[node]),
            "min_height": float(low),
            "max_height": float(high),
        }
        for name, values in extra.items():
            props[name] = values[node]
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]],
                },
                "properties": props,
            }
        )
    return {"type": "FeatureCollection", "features": features}
