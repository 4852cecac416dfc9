"""Main-process memory of planning: what each stage holds beyond the index, per unit.

The index (94 bytes per unit) is the only per-building state the main process must keep; the
plan stages may add their own arrays (the tree's order, the plan's lists) and short-lived
temporaries, but never copies of the index or Python objects per unit. tracemalloc sees
numpy's buffers, so these bounds hold for every city size (the stages are vectorised).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from citymodel.tiler.implicit_plan import implicit_root, plan_implicit
from citymodel.tiler.index import INDEX_COLUMNS, FeatureIndex, ShardIndexCollector
from citymodel.tiler.lod import LodPolicy, assign_lod
from citymodel.tiler.partition import PartitionOptions, partition
from tests.tiler.strategies import synthetic_index

UNITS = 60_000
STAGE_BYTES_PER_UNIT = 80
"""Peak a planning stage may allocate beyond what is held when it starts, per unit."""


@pytest.fixture(scope="module")
def index() -> FeatureIndex:
    return synthetic_index(UNITS, seed=21, spread_m=12_000.0, clusters=60)


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    yield
    tracemalloc.stop()


def _peak_per_unit(stage: Callable[[], Any]) -> tuple[Any, float]:
    tracemalloc.reset_peak()
    held = tracemalloc.get_traced_memory()[0]
    result = stage()
    return result, (tracemalloc.get_traced_memory()[1] - held) / UNITS


@pytest.mark.usefixtures("traced")
def test_explicit_planning_stages_stay_small(index: FeatureIndex) -> None:
    options = PartitionOptions()
    tree, partition_peak = _peak_per_unit(lambda: partition(index, options))
    _, tree_check_peak = _peak_per_unit(lambda: tree.check(index, options))
    plan, lod_peak = _peak_per_unit(lambda: assign_lod(tree, index, LodPolicy()))
    _, plan_check_peak = _peak_per_unit(lambda: plan.check(index))
    peaks = {
        "partition": partition_peak,
        "tree.check": tree_check_peak,
        "assign_lod": lod_peak,
        "plan.check": plan_check_peak,
    }
    assert max(peaks.values()) <= STAGE_BYTES_PER_UNIT, peaks
    assert max(tree_check_peak, plan_check_peak) <= 32, peaks  # checks: a few columns at most


@pytest.mark.usefixtures("traced")
def test_implicit_planning_stages_stay_small(index: FeatureIndex) -> None:
    options = PartitionOptions()
    west, south, east, north, low, high = implicit_root(index).to_json()
    tree = partition(index, options, grid=(west, south, east, north, low, high))
    plan, plan_peak = _peak_per_unit(lambda: plan_implicit(tree, index))
    _, check_peak = _peak_per_unit(lambda: plan.check(index))
    assert plan_peak <= STAGE_BYTES_PER_UNIT and check_peak <= 32, (plan_peak, check_peak)


@pytest.mark.usefixtures("traced")
def test_collected_shards_are_built_without_a_second_index(index: FeatureIndex) -> None:
    collector = ShardIndexCollector()
    shards = np.array_split(np.arange(UNITS), 150)
    for shard in np.random.default_rng(3).permutation(len(shards)).tolist():
        collector.add(shard, index.take(shards[shard]))  # as pass-1 results arrive
    built, peak = _peak_per_unit(collector.build)
    # the gather makes one column (8 bytes) and the row order (8 bytes) at a time
    assert peak <= 2 * 8 + 2, peak
    assert all(np.array_equal(built.column(n), index.column(n)) for n, _ in INDEX_COLUMNS)
