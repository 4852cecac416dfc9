"""Implicit tiling plan: units in the deepest computed cell that contains them (T3D-4, T3D-5)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citymodel.errors import TilingError
from citymodel.tiler.implicit import implicit_volume
from citymodel.tiler.implicit_plan import ImplicitPlan, implicit_root, plan_implicit
from citymodel.tiler.index import FeatureIndex
from citymodel.tiler.partition import PartitionOptions, partition
from citymodel.tiler.volumes import Region
from tests.tiler.strategies import indexes, synthetic_index


def make_plan(index: FeatureIndex, max_units: int, min_error: float = 1.0) -> ImplicitPlan:
    root = implicit_root(index)
    west, south, east, north, low, high = root.to_json()
    tree = partition(
        index, PartitionOptions(max_units=max_units), grid=(west, south, east, north, low, high)
    )
    return plan_implicit(tree, index, min_error=min_error)


def inside(region: np.ndarray, cell: Region) -> bool:
    return bool(
        region[0] >= cell.west
        and region[1] >= cell.south
        and region[2] <= cell.east
        and region[3] <= cell.north
        and region[4] >= cell.min_height
        and region[5] <= cell.max_height
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=indexes(), max_units=st.integers(1, 60), min_error=st.floats(0.01, 5))
def test_plan_invariants(index: FeatureIndex, max_units: int, min_error: float) -> None:
    plan = make_plan(index, max_units, min_error)
    plan.check(index)
    tree = plan.tree
    assert plan.refine == "ADD"
    assert sorted(plan.units.tolist()) == list(range(len(index)))  # each unit exactly once
    regions = index.regions()
    for node in plan.content_nodes().tolist():
        cell = implicit_volume(plan.root, tree.key(node))
        assert isinstance(cell, Region)
        for row in plan.content_rows(node).tolist():
            assert inside(regions[row], cell), f"unit {row} outside its cell (T3D-5)"
    for node in range(len(tree)):
        assert plan.geometric_error(node) >= plan.need[node]
        for child in tree.child_nodes(node).tolist():
            assert plan.geometric_error(child) == plan.geometric_error(node) / 2
    assert plan.tileset_geometric_error >= plan.root_geometric_error


def test_units_crossing_a_border_move_up_the_others_stay_in_their_leaf() -> None:
    index = synthetic_index(3000, seed=3, spread_m=4000.0)
    plan = make_plan(index, max_units=50)
    plan.check(index)
    tree = plan.tree
    leaf_of = np.empty(len(index), dtype=np.int64)
    for leaf in tree.leaves().tolist():
        leaf_of[tree.rows(leaf)] = leaf
    moved = plan.node_of_unit != leaf_of
    assert 0 < moved.sum() < len(index) // 2
    # A moved unit does not fit the cell of its centroid leaf.
    regions = index.regions()
    for row in np.flatnonzero(moved)[:50].tolist():
        cell = implicit_volume(plan.root, tree.key(int(leaf_of[row])))
        assert isinstance(cell, Region)
        assert not inside(regions[row], cell)


def test_need_is_the_largest_unit_left_out_below() -> None:
    index = synthetic_index(800, seed=5)
    plan = make_plan(index, max_units=30, min_error=0.5)
    tree = plan.tree
    importance = index.importance.astype(np.float64)
    for node in range(len(tree)):
        below = [
            row
            for d in range(len(tree))
            if d != node and _is_descendant(tree, d, node)
            for row in plan.content_rows(d).tolist()
        ]
        expected = max(0.5, importance[below].max()) if below else 0.0
        assert plan.need[node] == pytest.approx(expected)


def _is_descendant(tree: object, node: int, ancestor: int) -> bool:
    parent = int(tree.parent[node])  # type: ignore[attr-defined]
    while parent >= 0:
        if parent == ancestor:
            return True
        parent = int(tree.parent[parent])  # type: ignore[attr-defined]
    return False


def test_check_catches_a_unit_outside_its_cell() -> None:
    index = synthetic_index(1500, seed=9)
    plan = make_plan(index, max_units=40)
    tree = plan.tree
    moved = np.flatnonzero(plan.node_of_unit != 0)
    row = int(moved[0])
    # Put the unit into a leaf on the other side of the city.
    leaf = next(
        n
        for n in tree.leaves().tolist()
        if not inside(index.regions()[row], implicit_volume(plan.root, tree.key(n)))  # type: ignore[arg-type]
    )
    node_of_unit = plan.node_of_unit.copy()
    node_of_unit[row] = leaf
    order = np.lexsort((np.arange(len(index)), node_of_unit))
    offsets = np.zeros(len(tree) + 1, dtype=np.int64)
    np.cumsum(np.bincount(node_of_unit, minlength=len(tree)), out=offsets[1:])
    bad = dataclasses.replace(plan, node_of_unit=node_of_unit, units=order, unit_offsets=offsets)
    with pytest.raises(TilingError, match="outside"):
        bad.check(index)


def test_root_must_contain_every_unit() -> None:
    index = synthetic_index(50, seed=2)
    tree = partition(index, PartitionOptions(max_units=10))  # grid not padded
    shrunk = dataclasses.replace(tree, grid=(tree.grid[0] + 1e-6, *tree.grid[1:]))
    with pytest.raises(TilingError, match="root region"):
        plan_implicit(shrunk, index)
