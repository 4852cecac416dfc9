"""The compact unit index: size per unit, batched building, save / load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from citymodel.errors import TilingError
from citymodel.tiler.index import (
    INDEX_COLUMNS,
    FeatureIndex,
    FeatureIndexBuilder,
    ShardIndexCollector,
    round_down_f32,
    round_up_f32,
)
from tests.tiler.strategies import synthetic_index


def _equal(a: FeatureIndex, b: FeatureIndex) -> bool:
    return all(np.array_equal(a.column(n), b.column(n)) for n, _ in INDEX_COLUMNS)


def test_at_most_100_bytes_per_unit_in_ram() -> None:
    index = synthetic_index(10_000)
    assert FeatureIndex.BYTES_PER_UNIT == 94
    assert index.nbytes / len(index) <= 100
    assert index.nbytes == 94 * len(index)


def test_builder_grows_amortised_and_matches_concat() -> None:
    parts = [synthetic_index(n, seed=n) for n in (0, 1, 7, 300, 2, 1500)]
    builder = FeatureIndexBuilder(capacity=4)
    for part in parts:
        builder.append(part)
    assert len(builder) == sum(len(p) for p in parts)
    built = builder.build()
    assert _equal(built, FeatureIndex.concat(parts))
    assert built.nbytes == 94 * len(built)  # trimmed, no spare capacity kept


def test_builder_hands_over_full_columns_and_empties() -> None:
    part = synthetic_index(64, seed=1)
    builder = FeatureIndexBuilder(capacity=64)
    builder.append(part)
    column = builder._arrays["west"]
    built = builder.build()
    assert built.west is column  # a full builder's columns are moved out, not copied
    assert len(builder) == 0 and len(builder.build()) == 0
    builder.append(part)
    assert _equal(builder.build(), part)  # usable again after build


def test_shard_collector_builds_in_shard_order_whatever_the_arrival() -> None:
    parts = {shard: synthetic_index(n, seed=shard) for shard, n in enumerate((5, 0, 300, 17, 1))}
    expected = FeatureIndex.concat(parts[s] for s in sorted(parts))
    for arrival in ([0, 1, 2, 3, 4], [2, 4, 0, 3, 1], [4, 3, 2, 1, 0]):
        collector = ShardIndexCollector(block_rows=64)  # shards span blocks
        for shard in arrival:
            collector.add(shard, parts[shard])
        assert len(collector) == len(expected)
        assert _equal(collector.build(), expected)
        assert len(collector) == 0


def test_shard_collector_keeps_the_last_rows_of_a_shard_run_twice() -> None:
    first, again, other = synthetic_index(9, seed=1), synthetic_index(4, seed=2), synthetic_index(3)
    collector = ShardIndexCollector(block_rows=5)
    collector.add(1, first)
    collector.add(0, other)
    collector.add(1, again)
    assert len(collector) == 7
    assert _equal(collector.build(), FeatureIndex.concat([other, again]))


def test_builder_needs_every_column() -> None:
    columns = synthetic_index(3).columns()
    del columns["lon"]
    with pytest.raises(ValueError, match="lon"):
        FeatureIndexBuilder().append_columns(columns)


@pytest.mark.parametrize("mmap", [False, True])
def test_save_and_load(tmp_path: Path, mmap: bool) -> None:
    index = synthetic_index(500, seed=5)
    index.save(tmp_path / "index")
    loaded = FeatureIndex.load(tmp_path / "index", mmap=mmap)
    assert _equal(index, loaded)
    assert not loaded.west.flags.writeable


def test_load_refuses_incomplete_or_foreign(tmp_path: Path) -> None:
    with pytest.raises(TilingError, match="no complete"):
        FeatureIndex.load(tmp_path)
    synthetic_index(3).save(tmp_path)
    (tmp_path / "index.json").write_text('{"format": "x", "version": 9}', encoding="utf-8")
    with pytest.raises(TilingError, match="unsupported"):
        FeatureIndex.load(tmp_path)


def test_columns_are_read_only_and_validated() -> None:
    index = synthetic_index(4)
    with pytest.raises(ValueError, match="read-only"):
        index.west[0] = 0.0
    columns = index.columns()
    columns["triangle_count"] = np.array([1, 2, -3, 4])
    with pytest.raises(ValueError, match="outside the range"):
        FeatureIndex(**columns)
    columns["triangle_count"] = np.array([1.5, 2, 3, 4])
    with pytest.raises(TypeError, match="uint32"):
        FeatureIndex(**columns)
    columns = index.columns()
    columns["lat"] = columns["lat"][:3]
    with pytest.raises(ValueError, match="rows"):
        FeatureIndex(**columns)


def test_take_and_region() -> None:
    index = synthetic_index(50, seed=2)
    rows = np.array([3, 1, 40])
    sub = index.take(rows)
    assert np.array_equal(sub.lon, index.lon[rows])
    west, _, _, north, low, high = index.region(rows)
    assert west == index.west[rows].min() and north == index.north[rows].max()
    assert low == index.min_height[rows].min() and high == index.max_height[rows].max()
    with pytest.raises(TilingError):
        index.region(np.zeros(0, np.int64))


def test_float32_rounding_is_outward() -> None:
    values = np.array([0.1, 49.93130000001, -3.3, 1e-40, 7.0])
    down, up = round_down_f32(values), round_up_f32(values)
    assert (down.astype(np.float64) <= values).all()
    assert (up.astype(np.float64) >= values).all()
    assert (up.astype(np.float64) - down.astype(np.float64) <= np.spacing(np.float32(50))).all()
