"""Pass-1 unit preparation: unit runs, regions (T3D-3), blocks in ECEF, frames."""

from __future__ import annotations

import numpy as np
import pytest

from citymodel.crs import ecef_to_geodetic
from citymodel.errors import TilingError
from citymodel.mesh import FeatureTable, Mesh, MeshBatch
from citymodel.ops.frames import enu_rotation, enu_to_ecef_matrix
from citymodel.tiler._enu import ecef_to_enu, enu_to_ecef
from citymodel.tiler.units import prepare_units, unit_row_offsets
from tests.tiler.unit_city import city_batch, gable_polygons, polygons_to_mesh
from tests.tiler.unit_city import enu_to_ecef as city_enu_to_ecef


def _table(ids: list[str | None]) -> FeatureTable:
    table = FeatureTable()
    for i in ids:
        table.add_row({"gml_id": f"g{len(table.columns.get('gml_id', []))}", "building_id": i})
    return table


def test_unit_runs() -> None:
    offsets = unit_row_offsets(_table(["a", "a", "b", None, None, "c", "c", "c"]))
    assert offsets.tolist() == [0, 2, 3, 4, 5, 8]
    assert unit_row_offsets(FeatureTable()).tolist() == [0]


def test_split_units_are_refused() -> None:
    with pytest.raises(TilingError, match=r"'a'.*not contiguous"):
        unit_row_offsets(_table(["a", "b", "a"]))
    with pytest.raises(TilingError, match="building_id"):
        unit_row_offsets(FeatureTable(columns={"gml_id": ["x"]}, row_count=1))


def test_regions_contain_every_vertex_and_block_vertex() -> None:
    batch = city_batch(30, seed=4)
    units = prepare_units(batch)
    assert len(units) == 30
    for positions, offsets in (
        (units.batch.mesh.positions, units.vertex_offsets),
        (units.block.positions, units.block_vertex_offsets),
    ):
        geo = np.asarray(ecef_to_geodetic(positions))
        lon, lat, h = np.radians(geo[:, 0]), np.radians(geo[:, 1]), geo[:, 2]
        for u in range(len(units)):
            sl = slice(offsets[u], offsets[u + 1])
            west, south, east, north, low, high = units.regions[u]
            assert (lon[sl] >= west).all() and (lon[sl] <= east).all()
            assert (lat[sl] >= south).all() and (lat[sl] <= north).all()
            assert (h[sl] >= low).all() and (h[sl] <= high).all()
    # Tight: the full geometry reaches the region's bounds (blocks lie within it).
    geo = np.asarray(ecef_to_geodetic(units.batch.mesh.positions[: units.vertex_offsets[1]]))
    assert units.regions[0, 5] == pytest.approx(geo[:, 2].max(), abs=1e-6)
    # Ellipsoidal heights: the synthetic city sits 45 m above the ellipsoid.
    assert 44.0 < units.regions[:, 4].min() < 46.0


def test_centroids_importance_and_deviation() -> None:
    batch = city_batch(9, seed=6)
    units = prepare_units(batch)
    west, south, east, north = units.regions[:, :4].T
    lon, lat = units.centroids.T
    assert ((lon > west) & (lon < east) & (lat > south) & (lat < north)).all()
    heights = np.array(batch.features.column("measuredHeight"), dtype=float)
    starts = units.row_offsets[:-1]
    # Houses are longer than tall: the size is the horizontal diameter or the height.
    assert (units.importance >= heights[starts] - 1e-6).all()
    assert (units.deviation > 0).all() and (units.deviation < units.importance).all()
    # Unit 2 is a Building with two parts: its main row is the Building's own row.
    assert batch.features.column("gml_id")[units.main_rows[2]] == "DEHH_Gebäude_2"
    assert units.main_rows[2] == units.row_offsets[2]


def test_block_of_a_single_house_in_ecef() -> None:
    local = polygons_to_mesh(gable_polygons(0, 0, 20, 10, 6, 10))
    positions = city_enu_to_ecef(local.positions)
    table = FeatureTable()
    table.add_row({"gml_id": "h", "building_id": "h"})
    units = prepare_units(
        MeshBatch(Mesh(positions, local.triangles, local.feature_ids, local.surface_types), table)
    )
    # The unit's frame sits at its bbox centre, 11 m from the frame the house was built in:
    # the verticals differ by 11 m / 6371 km, tilting the roof by ~2e-5 m.
    assert units.deviation[0] == pytest.approx(2.0, abs=1e-4)
    # The block's top is 8 m above its bottom (ellipsoidal heights; curvature < 1 cm).
    heights = np.asarray(ecef_to_geodetic(units.block.positions))[:, 2]
    assert heights.max() - heights.min() == pytest.approx(8.0, abs=0.01)
    assert units.importance[0] == pytest.approx(np.hypot(20, 10), abs=1e-4)


def test_vertex_order_does_not_matter() -> None:
    batch = city_batch(6, seed=8)
    mesh = batch.mesh
    perm = np.random.default_rng(0).permutation(mesh.vertex_count)
    inverse = np.empty_like(perm)
    inverse[perm] = np.arange(perm.size)
    shuffled = Mesh(
        mesh.positions[perm],
        inverse[mesh.triangles].astype(np.uint32),
        mesh.feature_ids[perm],
        mesh.surface_types,
    )
    a = prepare_units(batch)
    b = prepare_units(MeshBatch(shuffled, batch.features, batch.crs))
    np.testing.assert_allclose(a.regions, b.regions, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.deviation, b.deviation, atol=1e-9)
    assert np.diff(b.vertex_offsets).tolist() == np.diff(a.vertex_offsets).tolist()


def test_enu_frames_match_the_core_frame() -> None:
    rng = np.random.default_rng(3)
    lon = np.radians(rng.uniform(5, 15, 4))
    lat = np.radians(rng.uniform(47, 55, 4))
    rotations = enu_rotation(lon, lat)
    origins = rng.normal(0, 1, (4, 3)) + 4e6
    for k in range(4):
        core = enu_to_ecef_matrix(np.degrees(lon[k]), np.degrees(lat[k]), origins[k])
        np.testing.assert_allclose(rotations[k].T, core[:3, :3], atol=1e-15)
    frame = rng.integers(0, 4, 100)
    points = rng.normal(0, 100, (100, 3)) + origins[frame]
    local = ecef_to_enu(points, origins, rotations, frame)
    np.testing.assert_allclose(enu_to_ecef(local, origins, rotations, frame), points, atol=1e-8)
