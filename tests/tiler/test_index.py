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
