"""Quadtree partition: every unit in one leaf, budgets, refit regions, keys, GeoJSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citymodel.errors import TilingError
from citymodel.tiler.index import FeatureIndex
from citymodel.tiler.keys import TileKey
from citymodel.tiler.partition import (
    PartitionOptions,
    TileTree,
    grid_region,
    partition,
    tree_to_geojson,
)
from tests.tiler.strategies import indexes, synthetic_index

options_strategy = st.builds(
    PartitionOptions,
    max_triangles=st.integers(1, 200_000),
    max_bytes=st.integers(1, 4_000_000),
    max_units=st.none() | st.integers(1, 100),
    max_depth=st.integers(0, 24),
    square=st.booleans(),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=indexes(), options=options_strategy)
def test_partition_invariants(index: FeatureIndex, options: PartitionOptions) -> None:
    tree = partition(index, options)
    tree.check(index, options)  # regions, nesting, budgets (see TileTree.check)
    leaves = tree.leaves()
    assigned = np.concatenate([tree.rows(int(leaf)) for leaf in leaves])
    assert np.sort(assigned).tolist() == list(range(len(index)))
    # A leaf over budget holds a single unit or sits at the depth guard.
    for leaf in leaves.tolist():
        node = tree.node(leaf)
        over = node.triangles > options.max_triangles or node.nbytes > options.max_bytes
        if over:
            assert node.rows.size == 1 or node.key.level == options.max_depth
    # Keys are unique and every unit's centroid lies in its leaf's grid cell.
    keys = {tree.key(i) for i in range(len(tree))}
    assert len(keys) == len(tree)
    for leaf in leaves.tolist():
        west, south, east, north = tree.cell_region(leaf)[:4]
        rows = tree.rows(leaf)
        eps = 1e-12
        inside = (
            (index.lon[rows] >= west - eps)
            & (index.lon[rows] <= east + eps)
            & (index.lat[rows] >= south - eps)
            & (index.lat[rows] <= north + eps)
        )
        assert inside.all()


def test_single_oversized_unit_stays_alone() -> None:
    index = synthetic_index(200, seed=1, huge_every=50)
    options = PartitionOptions(max_triangles=50_000, max_units=None)
    tree = partition(index, options)
    tree.check(index, options)
    for row in np.flatnonzero(index.triangle_count > options.max_triangles).tolist():
        leaf = next(i for i in tree.leaves().tolist() if row in tree.rows(i))
        assert tree.rows(leaf).tolist() == [row]


def test_identical_centroids_stop_at_the_depth_guard() -> None:
    base = synthetic_index(10, seed=2).columns()
    for name in ("lon", "lat"):
        base[name] = np.full(10, base[name][0])
    index = FeatureIndex(**base)
    tree = partition(index, PartitionOptions(max_units=1, max_depth=12))
    assert tree.depth == 12
    assert len(tree.leaves()) == 1
    assert tree.rows(int(tree.leaves()[0])).size == 10


def test_root_only_when_everything_fits() -> None:
    index = synthetic_index(30, seed=3)
    tree = partition(index, PartitionOptions(max_triangles=10**9, max_bytes=10**9))
    assert len(tree) == 1
    node = tree.node(0)
    assert node.key == TileKey(0, 0, 0) and node.is_leaf and node.parent is None
    assert node.region == index.region()


def test_budgets_split_a_realistic_city() -> None:
    index = synthetic_index(20_000, seed=4, spread_m=8000)
    options = PartitionOptions()
    tree = partition(index, options)
    tree.check(index, options)
    leaves = tree.leaves()
    assert options.max_units is not None
    assert len(leaves) >= len(index) / options.max_units
    assert (tree.stop[leaves] - tree.start[leaves]).max() <= options.max_units
    assert tree.triangles[0] == int(index.triangle_count.astype(np.int64).sum())


def test_children_are_in_morton_order_and_nodes_breadth_first() -> None:
    index = synthetic_index(3000, seed=5)
    tree = partition(index, PartitionOptions(max_units=100))
    assert (np.diff(tree.level) >= 0).all()
    for node in range(len(tree)):
        kids = tree.child_nodes(node)
        mortons = [tree.key(int(k)).morton for k in kids]
        assert mortons == sorted(mortons)
        assert all(tree.key(int(k)).parent() == tree.key(node) for k in kids)


def test_grid_is_square_on_the_ground() -> None:
    index = synthetic_index(500, seed=6, spread_m=5000)
    west, south, east, north, _, _ = grid_region(index)
    width = (east - west) * math.cos((south + north) / 2)
    assert width == pytest.approx(north - south, rel=1e-9)
    w2, s2, e2, n2, *_ = index.region()
    assert west <= w2 and east >= e2 and south <= s2 and north >= n2
    assert grid_region(index, square=False)[:4] == pytest.approx(index.region()[:4])


def test_partition_is_deterministic() -> None:
    index = synthetic_index(2000, seed=7)
    a, b = partition(index), partition(index)
    assert np.array_equal(a.order, b.order) and np.array_equal(a.regions, b.regions)


def test_empty_index_and_bad_options() -> None:
    with pytest.raises(TilingError, match="no buildings"):
        partition(FeatureIndex.empty())
    with pytest.raises(ValueError):
        PartitionOptions(max_triangles=0)
    with pytest.raises(ValueError):
        PartitionOptions(max_depth=31)
    with pytest.raises(ValueError):
        PartitionOptions(max_units=0)


def test_check_detects_a_broken_tree() -> None:
    index = synthetic_index(500, seed=8)
    tree = partition(index, PartitionOptions(max_units=50))
    regions = tree.regions.copy()
    regions[0, 2] -= 1e-6  # the root no longer contains its east-most unit
    broken = TileTree(**{**{f: getattr(tree, f) for f in tree.__slots__}, "regions": regions})
    with pytest.raises(TilingError, match="region"):
        broken.check(index)


def _with(tree: TileTree, **fields: object) -> TileTree:
    return TileTree(**{**{f: getattr(tree, f) for f in tree.__slots__}, **fields})


def test_check_detects_broken_membership() -> None:
    index = synthetic_index(600, seed=8)
    options = PartitionOptions(max_units=50)
    tree = partition(index, options)
    tree.check(index, options)
    order = tree.order.copy()
    order[1] = order[0]  # one row twice, another never
    with pytest.raises(TilingError, match="permutation"):
        _with(tree, order=order).check(index)
    leaf = int(tree.leaves()[0])
    stop = tree.stop.copy()
    stop[leaf] -= 1  # the leaf's last unit falls out of every leaf and out of its parent's kids
    with pytest.raises(TilingError, match=r"in 0 leaves|differ from its children"):
        _with(tree, stop=stop).check(index)
    start = tree.start.copy()
    start[leaf] = tree.stop[leaf]
    with pytest.raises(TilingError, match="empty"):
        _with(tree, start=start).check(index)
    x = tree.x.copy()
    x[leaf] += 2
    with pytest.raises(TilingError, match="does not nest"):
        _with(tree, x=x).check(index)
    regions = tree.regions.copy()
    regions[leaf, 0] -= 1e-6  # still contains its units, but is no longer tight
    with pytest.raises(TilingError, match="not the union"):
        _with(tree, regions=regions).check(index)
    with pytest.raises(TilingError, match="exceeds the budget"):
        tree.check(index, PartitionOptions(max_units=10))


def test_geojson_export() -> None:
    index = synthetic_index(800, seed=9)
    tree = partition(index, PartitionOptions(max_units=100))
    collection = tree_to_geojson(tree, properties={"error": np.arange(len(tree)) * 0.5})
    json.dumps(collection)
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == len(tree)
    root = collection["features"][0]
    assert root["properties"]["key"] == "0/0/0"
    assert root["properties"]["units"] == 800
    ring = root["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1]
    assert ring[0][0] == pytest.approx(math.degrees(tree.regions[0, 0]))
    assert collection["features"][3]["properties"]["error"] == 1.5
    cells = tree_to_geojson(tree, cells=True)
    assert cells["features"][0]["geometry"]["coordinates"][0][0][0] == pytest.approx(
        math.degrees(tree.grid[0])
    )
    with pytest.raises(ValueError, match="values"):
        tree_to_geojson(tree, properties={"x": [1]})
