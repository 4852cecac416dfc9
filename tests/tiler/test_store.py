"""Scratch store: exact round trips of geometry and rows, read order, format guards."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citymodel._typing import AttributeValue
from citymodel.errors import TilingError
from citymodel.mesh import FeatureTable, Mesh, MeshBatch, select_rows
from citymodel.model.semantics import SurfaceType as S
from citymodel.tiler.index import FeatureIndex
from citymodel.tiler.store import (
    FORMAT_VERSION,
    Locations,
    ShardWriter,
    StoredUnit,
    decode_rows,
    encode_rows,
    read_blocks,
    read_units,
    shard_path,
)
from tests.tiler.unit_city import city_batch, enu_to_ecef, gable_polygons, polygons_to_mesh


def _rows(table: FeatureTable) -> list[dict[str, object]]:
    return [
        {name: col[i] for name, col in table.columns.items() if col[i] is not None}
        for i in range(table.row_count)
    ]


def _unit_slices(batch: MeshBatch) -> list[MeshBatch]:
    """Split a city batch into one batch per building (rows renumbered from 0)."""
    ids = batch.features.column("building_id")
    starts = [0] + [i for i in range(1, len(ids)) if ids[i] != ids[i - 1]] + [len(ids)]
    out = []
    for r0, r1 in itertools.pairwise(starts):
        keep = np.zeros(batch.features.row_count, dtype=bool)
        keep[r0:r1] = True
        out.append(select_rows(batch, keep))
    return out


@pytest.fixture(scope="module")
def city() -> MeshBatch:
    return city_batch(60, seed=3)


@pytest.fixture
def stored(tmp_path: Path, city: MeshBatch) -> tuple[Path, FeatureIndex]:
    with ShardWriter(tmp_path, 7) as writer:
        result = writer.append_batch(city)
    assert result.skipped_ids == ()
    return tmp_path, result.index


def test_round_trip_is_exact(stored: tuple[Path, FeatureIndex], city: MeshBatch) -> None:
    store, index = stored
    assert len(index) == 60
    batch = read_units(store, Locations.of(index, np.arange(len(index))))
    assert batch.crs == "EPSG:4978"
    # Micrometre quantisation: at most 0.5 µm per axis (< 1e-6 m in 3D).
    assert np.abs(batch.mesh.positions - city.mesh.positions).max() <= 5.0e-7 + 1e-9
    assert np.linalg.norm(batch.mesh.positions - city.mesh.positions, axis=1).max() < 1e-6
    np.testing.assert_array_equal(batch.mesh.triangles, city.mesh.triangles)
    np.testing.assert_array_equal(batch.mesh.feature_ids, city.mesh.feature_ids)
    np.testing.assert_array_equal(batch.mesh.surface_types, city.mesh.surface_types)
    assert _rows(batch.features) == _rows(city.features)
    first = batch.features.columns
    assert first["gml_id"][0] == "DEHH_Gebäude_0"
    assert isinstance(first["creationDate"][0], dt.date)
    assert first["note"][0] is None


def test_reads_keep_the_requested_order(stored: tuple[Path, FeatureIndex], city: MeshBatch) -> None:
    store, index = stored
    rng = np.random.default_rng(1)
    order = rng.permutation(len(index))[:25]
    batch = read_units(store, Locations.of(index, order))
    units = _unit_slices(city)
    expected = MeshBatch.concat([units[i] for i in order])
    assert np.abs(batch.mesh.positions - expected.mesh.positions).max() < 1e-6
    np.testing.assert_array_equal(batch.mesh.triangles, expected.mesh.triangles)
    np.testing.assert_array_equal(batch.mesh.feature_ids, expected.mesh.feature_ids)
    assert _rows(batch.features) == _rows(expected.features)


def test_blocks_carry_the_main_row(stored: tuple[Path, FeatureIndex]) -> None:
    store, index = stored
    rows = np.array([2, 0, 5])  # unit 2 and 5 are Buildings with two parts
    blocks = read_blocks(store, Locations.of(index, rows))
    assert blocks.features.row_count == 3
    assert blocks.features.column("gml_id") == [
        "DEHH_Gebäude_2",
        "DEHH_Gebäude_0",
        "DEHH_Gebäude_5",
    ]
    assert blocks.features.column("object_type") == ["Building"] * 3
    counts = np.bincount(blocks.mesh.feature_ids, minlength=3)
    assert blocks.mesh.triangle_count == int(index.block_triangle_count[rows].sum())
    assert (counts > 0).all()
    # Parent tiles read far less than leaves.
    assert int(index.block_length.sum()) < int(index.length.sum())


def test_block_columns_can_be_restricted(tmp_path: Path, city: MeshBatch) -> None:
    with ShardWriter(tmp_path, 0, block_columns=["gml_id", "measuredHeight", "absent"]) as w:
        index = w.append_batch(city).index
    blocks = read_blocks(tmp_path, Locations.of(index, [0, 2]))
    assert list(blocks.features.columns) == ["gml_id", "measuredHeight"]
    full = read_units(tmp_path, Locations.of(index, [0]))
    assert "function" in full.features.columns  # the unit section keeps every column


def test_index_rows_describe_the_stored_units(
    stored: tuple[Path, FeatureIndex], city: MeshBatch
) -> None:
    _, index = stored
    assert int(index.triangle_count.sum()) == city.mesh.triangle_count
    assert int(index.vertex_count.sum()) == city.mesh.vertex_count
    assert (index.shard == 7).all()
    ends = index.offset.astype(np.int64) + index.block_length + index.length
    assert (index.offset[1:].astype(np.int64) == ends[:-1]).all()  # records are contiguous
    assert shard_path(stored[0], 7).stat().st_size == int(ends[-1])


def test_several_shards(tmp_path: Path) -> None:
    first, second = city_batch(5, seed=1), city_batch(4, seed=2)
    with ShardWriter(tmp_path, 0) as a, ShardWriter(tmp_path, 1) as b:
        ia = a.append_batch(first).index
        ib = b.append_batch(second).index
    index = FeatureIndex.concat([ia, ib])
    rows = np.array([6, 0, 8, 3])
    batch = read_units(tmp_path, Locations.of(index, rows))
    ids = batch.features.column("gml_id")
    expected_first = [first.features.column("gml_id"), second.features.column("gml_id")]
    assert str(ids[0]).startswith("DEHH_Gebäude_1") and ids[0] in expected_first[1]
    assert ids[-1] in expected_first[0]


def test_append_single_unit_and_special_values(tmp_path: Path) -> None:
    local = polygons_to_mesh(gable_polygons(0, 0, 10, 6, 3, 5))
    positions = enu_to_ecef(local.positions)
    mesh = Mesh(positions, local.triangles, local.feature_ids, local.surface_types)
    table = FeatureTable()
    values: dict[str, AttributeValue] = {
        "gml_id": "Äußeres_Ö",
        "big": 2**70,
        "neg_zero": -0.0,
        "tiny": 5e-324,
        "nan": math.nan,
        "inf": -math.inf,
        "when": dt.datetime(2021, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC),
        "day": dt.date(1999, 12, 31),
        "flag": False,
        "looks_like_date": '{"$date": "2020-01-01"}',
        "empty": "",
    }
    table.add_row(values)
    block = Mesh(
        positions[:4],
        np.array([[0, 1, 2], [0, 2, 3]], np.uint32),
        np.zeros(4, np.uint32),
        np.array([S.ROOF, S.ROOF], np.uint8),
    )
    with ShardWriter(tmp_path, 3) as writer:
        location = writer.append(StoredUnit(MeshBatch(mesh, table, "EPSG:4978"), block))
    loc = Locations(
        shard=np.array([3], np.uint16),
        offset=np.array([location.offset], np.uint64),
        block_length=np.array([location.block_length], np.uint32),
        length=np.array([location.length], np.uint32),
    )
    back = read_units(tmp_path, loc)
    row = {name: col[0] for name, col in back.features.columns.items()}
    nan = row.pop("nan")
    assert isinstance(nan, float) and math.isnan(nan)
    expected = dict(values)
    expected.pop("nan")
    assert row == expected
    assert str(row["neg_zero"]) == "-0.0"
    assert type(row["when"]) is dt.datetime and type(row["day"]) is dt.date
    assert np.abs(back.mesh.positions - positions).max() <= 5.0e-7 + 1e-9
    blocks = read_blocks(tmp_path, loc)
    assert blocks.mesh.triangle_count == 2
    assert np.abs(blocks.mesh.positions - positions[:4]).max() < 1e-6


def test_far_vertices_fall_back_to_float64(tmp_path: Path) -> None:
    # A "unit" spanning 5 km: micrometre integers would overflow int32.
    local = polygons_to_mesh(
        [
            ([(0, 0, 0), (5000, 0, 0), (5000, 10, 0)], S.ROOF),
            ([(0, 0, 0), (5000, 10, 0), (0, 10, 0)], S.ROOF),
        ]
    )
    positions = enu_to_ecef(local.positions)
    table = FeatureTable()
    table.add_row({"gml_id": "long", "building_id": "long"})
    batch = MeshBatch(
        Mesh(positions, local.triangles, local.feature_ids, local.surface_types), table
    )
    with ShardWriter(tmp_path, 0) as writer:
        index = writer.append_batch(batch).index
    back = read_units(tmp_path, Locations.of(index, [0]))
    np.testing.assert_array_equal(back.mesh.positions, positions)


def test_large_units_use_wide_indices(tmp_path: Path) -> None:
    # 70 000 vertices: triangle indices no longer fit uint16.
    count = 70_002
    angle = np.linspace(0, 2 * np.pi, count, endpoint=False)
    local = np.column_stack([50 * np.cos(angle), 50 * np.sin(angle), np.zeros(count)])
    tris = np.column_stack([np.zeros(count - 2), np.arange(1, count - 1), np.arange(2, count)])
    mesh = Mesh(
        enu_to_ecef(local),
        tris.astype(np.uint32),
        np.zeros(count, np.uint32),
        np.full(count - 2, S.ROOF, np.uint8),
    )
    table = FeatureTable()
    table.add_row({"gml_id": "disc", "building_id": "disc"})
    with ShardWriter(tmp_path, 0) as writer:
        index = writer.append_batch(MeshBatch(mesh, table)).index
    back = read_units(tmp_path, Locations.of(index, [0]))
    np.testing.assert_array_equal(back.mesh.triangles, mesh.triangles)


def test_units_without_triangles_are_reported(tmp_path: Path) -> None:
    batch = city_batch(3)
    table = batch.features
    table.add_row({"gml_id": "leer", "building_id": "leer", "object_type": "Building"})
    with ShardWriter(tmp_path, 0) as writer:
        result = writer.append_batch(MeshBatch(batch.mesh, table, batch.crs))
    assert result.skipped_ids == ("leer",)
    assert len(result.index) == 3


def test_existing_shard_is_refused(tmp_path: Path) -> None:
    ShardWriter(tmp_path, 4).close()
    with pytest.raises(TilingError, match="exists"):
        ShardWriter(tmp_path, 4)
    with pytest.raises(ValueError, match="shard id"):
        ShardWriter(tmp_path, 70_000)


def test_corrupt_or_foreign_shards_are_detected(
    stored: tuple[Path, FeatureIndex],
) -> None:
    store, index = stored
    path = shard_path(store, 7)
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[: len(data) - 10]))
    with pytest.raises(TilingError, match="truncated"):
        read_units(store, Locations.of(index, [len(index) - 1]))
    data[8] = FORMAT_VERSION + 1
    path.write_bytes(bytes(data))
    with pytest.raises(TilingError, match="format version"):
        read_units(store, Locations.of(index, [0]))
    with pytest.raises(TilingError, match="missing"):
        read_units(store / "nowhere", Locations.of(index, [0]))
    data[8] = FORMAT_VERSION
    path.write_bytes(bytes(data))
    wrong = Locations.of(index, [1])
    shifted = Locations(wrong.shard, wrong.offset, wrong.block_length, wrong.length - np.uint32(1))
    with pytest.raises(TilingError, match="expected"):
        read_units(store, shifted)


def test_empty_read(stored: tuple[Path, FeatureIndex]) -> None:
    store, index = stored
    batch = read_units(store, Locations.of(index, np.zeros(0, np.int64)))
    assert batch.mesh.vertex_count == 0 and batch.features.row_count == 0


attribute = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    st.dates(),
    # xs:dateTime carries fixed UTC offsets only (never named zones with DST history).
    st.datetimes(
        timezones=st.none()
        | st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
    ),
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.dictionaries(st.text(min_size=1), attribute, max_size=6), min_size=1, max_size=5)
)
def test_rows_round_trip(rows: list[dict[str, AttributeValue]]) -> None:
    table = FeatureTable()
    for row in rows:
        table.add_row(row)
    names, values = decode_rows(encode_rows(table.columns, 0, table.row_count))
    assert len(values) == len(rows)
    for row, back in zip(rows, values, strict=True):
        restored = {n: v for n, v in zip(names, back, strict=True) if v is not None}
        assert restored == {k: v for k, v in row.items() if v is not None}
        for k, v in restored.items():
            assert type(v) is type(row[k])
