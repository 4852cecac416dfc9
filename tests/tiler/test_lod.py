"""Level-of-detail plan: REPLACE invariants, budgets and the geometric-error formula (T3D-4)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citymodel.errors import TilingError
from citymodel.tiler.index import FeatureIndex
from citymodel.tiler.lod import ContentKind, LodPlan, LodPolicy, assign_lod
from citymodel.tiler.partition import PartitionOptions, partition
from tests.tiler.strategies import indexes, synthetic_index


def _path_units(plan: LodPlan, leaf: int) -> list[list[int]]:
    """Units shown along the path from the root to ``leaf`` (one list per tile)."""
    tree = plan.tree
    path = [leaf]
    while tree.parent[path[-1]] >= 0:
        path.append(int(tree.parent[path[-1]]))
    return [plan.content_rows(n).tolist() for n in reversed(path)]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=indexes(),
    max_units=st.integers(1, 60),
    max_triangles=st.integers(0, 3000),
    max_bytes=st.integers(0, 60_000),
    min_error=st.floats(0.01, 5),
)
def test_plan_invariants(
    index: FeatureIndex, max_units: int, max_triangles: int, max_bytes: int, min_error: float
) -> None:
    tree = partition(index, PartitionOptions(max_units=max_units))
    policy = LodPolicy(max_triangles=max_triangles, max_bytes=max_bytes, min_error=min_error)
    plan = assign_lod(tree, index, policy)
    plan.check(index)
    error = plan.geometric_error
    for node in range(len(tree)):
        for child in tree.child_nodes(node).tolist():
            assert error[node] >= error[child]  # monotone: parent >= child
    assert plan.tileset_geometric_error >= error[0]
    assert plan.refine == "REPLACE"
    for leaf in tree.leaves().tolist():
        assert error[leaf] == 0.0
        shown = _path_units(plan, leaf)
        # A unit is shown at most once per tile; tiles of one path are nested subsets of
        # the subtree, and the leaf shows its units in full.
        for rows in shown:
            assert len(rows) == len(set(rows))
        assert sorted(shown[-1]) == sorted(tree.rows(leaf).tolist())


def test_level_above_leaves_shows_every_block_when_it_fits() -> None:
    index = synthetic_index(400, seed=1)
    tree = partition(index, PartitionOptions(max_units=50))
    plan = assign_lod(tree, index, LodPolicy(max_triangles=10**7, max_bytes=10**9))
    plan.check(index)
    has_block = index.block_triangle_count > 0
    for node in np.flatnonzero(~tree.is_leaf).tolist():
        rows = tree.rows(node)
        assert plan.content[node] == ContentKind.BLOCKS
        assert plan.content_rows(node).tolist() == np.sort(rows[has_block[rows]]).tolist()
        lost = rows[~has_block[rows]]
        expected = max(
            1.0,
            float(index.deviation[rows[has_block[rows]]].max()),
            float(index.importance[lost].max()) if lost.size else 0.0,
            float(plan.geometric_error[tree.child_nodes(node)].max()),
        )
        assert plan.geometric_error[node] == pytest.approx(expected)


def _toy_index(
    importance: list[float], deviation: list[float], block_tris: list[int]
) -> FeatureIndex:
    n = len(importance)
    base = synthetic_index(n, seed=0).columns()
    base["importance"] = np.array(importance, np.float32)
    base["deviation"] = np.array(deviation, np.float32)
    base["block_triangle_count"] = np.array(block_tris, np.uint32)
    base["block_length"] = np.full(n, 100, np.uint32)
    return FeatureIndex(**base)


def test_budget_keeps_the_largest_and_error_is_the_largest_left_out() -> None:
    # Five units under one root with one leaf each pair; block budget for three blocks.
    index = _toy_index(
        importance=[10.0, 50.0, 30.0, 40.0, 20.0],
        deviation=[1.0, 2.5, 3.0, 0.5, 7.0],
        block_tris=[12, 12, 12, 12, 12],
    )
    tree = partition(index, PartitionOptions(max_units=1, max_depth=30))
    plan = assign_lod(tree, index, LodPolicy(max_triangles=36, max_bytes=10**6, min_error=0.25))
    plan.check(index)
    assert plan.content_rows(0).tolist() == [1, 2, 3]  # importance 50, 40, 30
    # max(largest left out: 20, shown deviations: 3.0, children's errors)
    children_max = float(plan.geometric_error[tree.child_nodes(0)].max())
    assert plan.geometric_error[0] == pytest.approx(max(20.0, 3.0, children_max))
    assert plan.geometric_error[0] >= 20.0


def test_a_tile_without_affordable_blocks_is_empty() -> None:
    index = _toy_index([10.0, 20.0], [1.0, 1.0], [12, 12])
    tree = partition(index, PartitionOptions(max_units=1, max_depth=30))
    plan = assign_lod(tree, index, LodPolicy(max_triangles=5))
    plan.check(index)
    assert plan.content[0] == ContentKind.NONE
    assert plan.geometric_error[0] == pytest.approx(20.0)


def test_min_error_floors_flat_blocks() -> None:
    index = _toy_index([10.0, 12.0], [0.0, 0.0], [12, 12])
    tree = partition(index, PartitionOptions(max_units=1, max_depth=30))
    plan = assign_lod(tree, index, LodPolicy(min_error=0.7))
    assert plan.geometric_error[0] == pytest.approx(0.7)


def test_tileset_error_and_implicit_root_error() -> None:
    index = synthetic_index(5000, seed=2, spread_m=4000)
    tree = partition(index, PartitionOptions(max_units=200))
    plan = assign_lod(tree, index)
    west, south, east, north = tree.regions[0, :4]
    r = 6_371_008.8
    diagonal = math.hypot((east - west) * math.cos((south + north) / 2) * r, (north - south) * r)
    assert plan.tileset_geometric_error >= diagonal
    implicit = plan.implicit_root_error()
    assert (implicit / np.exp2(tree.level) >= plan.geometric_error - 1e-9).all()
    assert implicit >= plan.geometric_error[0]


def test_check_detects_double_rendering() -> None:
    index = synthetic_index(300, seed=3)
    tree = partition(index, PartitionOptions(max_units=20))
    plan = assign_lod(tree, index)
    inner = int(np.flatnonzero(tree.level == 1)[0])
    units = plan.units.copy()
    # Show a unit of another subtree in this tile.
    outside = np.setdiff1d(np.arange(len(index)), tree.rows(inner))[0]
    units[plan.unit_offsets[inner]] = outside
    broken = LodPlan(
        tree=tree,
        policy=plan.policy,
        geometric_error=plan.geometric_error,
        content=plan.content,
        unit_offsets=plan.unit_offsets,
        units=units,
        tileset_geometric_error=plan.tileset_geometric_error,
    )
    with pytest.raises(TilingError, match=r"not below it|another tile"):
        broken.check(index)
    error = plan.geometric_error.copy()
    error[0] = 0.0
    lowered = LodPlan(
        tree=tree,
        policy=plan.policy,
        geometric_error=error,
        content=plan.content,
        unit_offsets=plan.unit_offsets,
        units=plan.units,
        tileset_geometric_error=plan.tileset_geometric_error,
    )
    with pytest.raises(TilingError, match="error"):
        lowered.check(index)


def test_check_detects_repeated_and_missing_units() -> None:
    index = synthetic_index(400, seed=4)
    tree = partition(index, PartitionOptions(max_units=20))
    plan = assign_lod(tree, index)
    plan.check(index)
    leaf = int(tree.leaves()[0])
    first, stop = int(plan.unit_offsets[leaf]), int(plan.unit_offsets[leaf + 1])
    units = plan.units.copy()
    units[first + 1] = units[first]  # a leaf lists a unit twice and loses another
    with pytest.raises(TilingError, match="twice"):
        dataclasses.replace(plan, units=units).check(index)
    units = plan.units.copy()
    units[first:stop] = units[first:stop][::-1].copy()
    with pytest.raises(TilingError, match="out of order"):
        dataclasses.replace(plan, units=units).check(index)
    siblings = [int(n) for n in tree.leaves() if tree.level[n] == tree.level[leaf] and n != leaf]
    other = siblings[0]
    units = plan.units.copy()
    units[first] = plan.content_rows(other)[0]  # a unit of a sibling leaf, shown twice
    units[first:stop] = np.sort(units[first:stop])
    with pytest.raises(TilingError, match="another tile of its level"):
        dataclasses.replace(plan, units=units).check(index)
    flat = dataclasses.replace(plan, geometric_error=np.zeros(len(tree)))
    with pytest.raises(TilingError, match=r"leaves out|min_error"):
        flat.check(index)


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        LodPolicy(min_error=0.0)
    with pytest.raises(ValueError):
        LodPolicy(max_triangles=-1)
