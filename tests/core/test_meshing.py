"""Features -> MeshBatch (CGML-2 feature granularity, CGML-5 orientation, T3D-6 feature ids)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from citymodel._typing import AttributeValue
from citymodel.errors import StrictModeError
from citymodel.mesh import MeshBatch
from citymodel.meshing import RESERVED_COLUMNS, mesh_features, signed_volume
from citymodel.model import Feature, SourceRef, SurfaceGeometry, SurfaceType
from citymodel.report import JobReport

ORIGIN = np.array([356_000.0, 5_645_000.0, 50.0])


def box_faces(lo: np.ndarray, size: np.ndarray) -> list[tuple[np.ndarray, SurfaceType]]:
    """The six faces of an axis-aligned box, counter-clockwise seen from outside."""
    unit = {
        SurfaceType.GROUND: [[0, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 0]],
        SurfaceType.ROOF: [[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]],
    }
    walls = [
        [[0, 0, 0], [1, 0, 0], [1, 0, 1], [0, 0, 1]],
        [[0, 1, 0], [0, 1, 1], [1, 1, 1], [1, 1, 0]],
        [[0, 0, 0], [0, 0, 1], [0, 1, 1], [0, 1, 0]],
        [[1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 0, 1]],
    ]
    faces = [(np.array(r, float), t) for t, r in unit.items()]
    faces += [(np.array(r, float), SurfaceType.WALL) for r in walls]
    return [(lo + ring * size, t) for ring, t in faces]


def box(
    lo: tuple[float, float, float] = (0, 0, 0),
    size: tuple[float, float, float] = (10, 8, 6),
    *,
    lod: str = "2",
    solid: bool = False,
    inside_out: bool = False,
) -> SurfaceGeometry:
    faces = box_faces(ORIGIN + np.asarray(lo, float), np.asarray(size, float))
    polygons = [[ring[::-1] if inside_out else ring] for ring, _ in faces]
    return SurfaceGeometry.from_polygons(polygons, [int(t) for _, t in faces], lod=lod, solid=solid)


def building(
    id_: str = "DENW01",
    *,
    geometries: tuple[SurfaceGeometry, ...] = (),
    children: tuple[Feature, ...] = (),
    attributes: dict[str, AttributeValue] | None = None,
    type_: str = "Building",
    line: int = 10,
) -> Feature:
    return Feature(
        id=id_,
        type=type_,
        attributes=attributes or {},
        geometries=geometries,
        children=children,
        source=SourceRef("tile.gml", line),
    )


def rows(batch: MeshBatch) -> list[dict[str, object]]:
    table = batch.features
    return [{name: col[i] for name, col in table.columns.items()} for i in range(table.row_count)]


def triangle_normals(batch: MeshBatch) -> np.ndarray:
    p = batch.mesh.positions
    t = batch.mesh.triangles.astype(np.int64)
    return np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]])


def house_with_parts() -> Feature:
    part_a = building(
        "DENW01_A",
        type_="BuildingPart",
        geometries=(box((0, 0, 0)),),
        attributes={"measuredHeight": 6.0, "roofType": "1000", "function": None},
        line=20,
    )
    part_b = building(
        "DENW01_B",
        type_="BuildingPart",
        geometries=(box((10, 0, 0), (5, 8, 3)),),
        attributes={"measuredHeight": 3.0, "function": "31001_2463"},
        line=40,
    )
    return building(
        attributes={"function": "31001_1000", "name": "Rathaus", "lod": "attribute"},
        children=(part_a, part_b),
    )


# --- feature table ------------------------------------------------------------------------------


def test_building_parts_become_rows_with_inherited_attributes() -> None:
    report = JobReport()
    batch = mesh_features([house_with_parts()], report=report)
    got = rows(batch)
    assert [r["gml_id"] for r in got] == ["DENW01_A", "DENW01_B"]
    assert all(r["building_id"] == "DENW01" for r in got)
    assert all(r["object_type"] == "BuildingPart" and r["lod"] == "2" for r in got)
    assert all(r["source_file"] == "tile.gml" for r in got)
    a, b = got
    assert a["name"] == b["name"] == "Rathaus"  # inherited
    assert a["function"] == "31001_1000"  # None counts as lacking: inherited
    assert b["function"] == "31001_2463"  # own value wins
    assert a["measuredHeight"] == 6.0 and b["measuredHeight"] == 3.0
    assert a["roofType"] == "1000" and b["roofType"] is None
    assert list(batch.features.columns)[: len(RESERVED_COLUMNS)] == list(RESERVED_COLUMNS)
    assert report.skipped == [] and batch.crs is None


def test_building_with_own_geometry_and_parts() -> None:
    part = building("P1", type_="BuildingPart", geometries=(box((10, 0, 0)),))
    top = building("B1", geometries=(box(),), children=(part,), attributes={"name": "x"})
    got = rows(mesh_features([top]))
    assert [(r["gml_id"], r["building_id"], r["object_type"]) for r in got] == [
        ("B1", "B1", "Building"),
        ("P1", "B1", "BuildingPart"),
    ]
    assert got[1]["name"] == "x"


def test_nested_parts_inherit_through_the_tree() -> None:
    inner = building("C", type_="BuildingPart", geometries=(box(),))
    middle = building("M", type_="BuildingPart", children=(inner,), attributes={"storeys": 3})
    top = building("T", children=(middle,), attributes={"name": "n"})
    (row,) = rows(mesh_features([top]))
    assert row["gml_id"] == "C" and row["building_id"] == "T"
    assert row["storeys"] == 3 and row["name"] == "n"


# --- geometry -----------------------------------------------------------------------------------


def test_feature_ids_per_vertex_and_surface_types_per_triangle() -> None:
    batch = mesh_features([house_with_parts(), building("DENW02", geometries=(box((0, 20, 0)),))])
    mesh = batch.mesh
    ids = batch.features.column("gml_id")
    assert ids == ["DENW01_A", "DENW01_B", "DENW02"]
    # 3 boxes x 6 quads: 4 own vertices per quad (never shared), 2 triangles per quad
    assert mesh.vertex_count == 3 * 6 * 4 and mesh.triangle_count == 3 * 6 * 2
    assert mesh.positions.dtype == np.float64 and mesh.feature_ids.dtype == np.uint32
    tri_ids = mesh.feature_ids[mesh.triangles]
    assert np.all(tri_ids == tri_ids[:, :1])  # constant over each triangle
    # each vertex's id is the object whose box contains it
    expected = np.where(
        mesh.positions[:, 1] >= ORIGIN[1] + 20,
        2,
        np.where(mesh.positions[:, 0] > ORIGIN[0] + 10, 1, 0),
    )
    on_shared_wall = np.isclose(mesh.positions[:, 0], ORIGIN[0] + 10) & (
        mesh.positions[:, 1] < ORIGIN[1] + 20
    )
    assert np.array_equal(mesh.feature_ids[~on_shared_wall], expected[~on_shared_wall])
    # surface types follow the faces: roofs face up, grounds down, walls sideways
    normals = triangle_normals(batch)
    nz = normals[:, 2] / np.linalg.norm(normals, axis=1)
    types = mesh.surface_types
    assert np.all(nz[types == SurfaceType.ROOF] > 0.99)
    assert np.all(nz[types == SurfaceType.GROUND] < -0.99)
    assert np.all(np.abs(nz[types == SurfaceType.WALL]) < 1e-9)
    assert np.bincount(types).tolist() == [0, 6, 24, 6]


def test_positions_are_the_source_coordinates() -> None:
    geom = box()
    batch = mesh_features([building(geometries=(geom,))])
    assert {tuple(p) for p in batch.mesh.positions} == {tuple(p) for p in geom.vertices}
    assert np.array_equal(np.unique(batch.mesh.positions, axis=0), np.unique(geom.vertices, axis=0))


def test_lod_choice() -> None:
    lod1 = box(size=(10, 8, 4), lod="1")
    lod2 = box(lod="2")
    both = building("both", geometries=(lod1, lod2))
    only1 = building("only1", geometries=(box((0, 30, 0), lod="1"),))
    only3 = building("only3", geometries=(box((0, 60, 0), lod="3"),))

    assert [r["lod"] for r in rows(mesh_features([both]))] == ["2"]  # highest by default
    assert [r["lod"] for r in rows(mesh_features([both], lod="1"))] == ["1"]

    report = JobReport()
    got = rows(mesh_features([both, only1, only3], lod="2", report=report))
    assert [(r["gml_id"], r["lod"]) for r in got] == [("both", "2"), ("only1", "1")]
    assert report.extra["meshing"]["lod_fallbacks"] == 1
    assert any("LoD 2" in w for w in report.warnings)
    assert [(s.id, s.reason) for s in report.skipped] == [("only3", "no LoD 2 geometry")]


def test_lod_integer_part_matches() -> None:
    geom = box(lod="2.2")
    (row,) = rows(mesh_features([building(geometries=(geom,))], lod="2"))
    assert row["lod"] == "2.2"


# --- CGML-5 orientation -------------------------------------------------------------------------


@pytest.mark.parametrize("inside_out", [False, True])
def test_closed_solid_is_oriented_outward(inside_out: bool) -> None:
    report = JobReport()
    batch = mesh_features(
        [building(geometries=(box(solid=True, inside_out=inside_out),))], report=report
    )
    mesh = batch.mesh
    assert signed_volume(mesh.positions, mesh.triangles) == pytest.approx(480.0, rel=1e-9)
    centre = ORIGIN + np.array([5.0, 4.0, 3.0])
    tri_centres = mesh.positions[mesh.triangles].mean(axis=1)
    assert np.all(np.einsum("ij,ij->i", triangle_normals(batch), tri_centres - centre) > 0)
    assert report.extra["meshing"]["flipped_solids"] == int(inside_out)


def test_inside_out_surfaces_without_solid_flag_are_kept() -> None:
    batch = mesh_features([building(geometries=(box(inside_out=True),))])
    assert signed_volume(batch.mesh.positions, batch.mesh.triangles) == pytest.approx(
        -480.0, rel=1e-9
    )


def test_solids_are_oriented_independently() -> None:
    good = building("good", geometries=(box(solid=True),))
    bad = building("bad", geometries=(box((20, 0, 0), solid=True, inside_out=True),))
    batch = mesh_features([good, bad])
    mesh = batch.mesh
    for row in range(2):
        tris = mesh.triangles[mesh.feature_ids[mesh.triangles[:, 0]] == row]
        assert signed_volume(mesh.positions, tris) == pytest.approx(480.0, rel=1e-9)


def test_signed_volume_at_utm_magnitudes() -> None:
    # a 12.5 cm cube at northing 5.6e6 m (sizes exact in binary): no cancellation error
    geom = box(size=(0.125, 0.125, 0.125), solid=True)
    batch = mesh_features([building(geometries=(geom,))])
    assert signed_volume(batch.mesh.positions, batch.mesh.triangles) == pytest.approx(
        0.125**3, rel=1e-12
    )


# --- skip and report ----------------------------------------------------------------------------


def test_object_without_geometry_is_skipped_and_reported() -> None:
    report = JobReport()
    batch = mesh_features([building("empty", line=77), house_with_parts()], report=report)
    assert [r["gml_id"] for r in rows(batch)] == ["DENW01_A", "DENW01_B"]
    (record,) = report.skipped
    assert (record.id, record.file, record.line, record.reason) == (
        "empty",
        "tile.gml",
        77,
        "no geometry",
    )


def test_only_objects_without_geometry_give_an_empty_batch() -> None:
    report = JobReport()
    batch = mesh_features([building("a"), building("b")], report=report)
    assert batch.mesh.vertex_count == 0 and batch.features.row_count == 0
    assert [s.id for s in report.skipped] == ["a", "b"]
    assert mesh_features([]).features.row_count == 0


def degenerate_ring() -> np.ndarray:
    return ORIGIN + np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2]], float)


def test_all_polygons_degenerate_is_a_skip() -> None:
    geom = SurfaceGeometry.from_polygons(
        [[degenerate_ring()], [degenerate_ring()]], [1, 2], lod="2"
    )
    report = JobReport()
    batch = mesh_features([building("flat", geometries=(geom,))], report=report)
    assert batch.features.row_count == 0
    assert [(s.id, s.reason) for s in report.skipped] == [("flat", "all polygons degenerate")]
    assert report.extra["meshing"]["degenerate_polygons"] == 2


def test_degenerate_polygons_are_dropped_and_counted_not_skipped() -> None:
    faces = box_faces(ORIGIN, np.array([10.0, 8.0, 6.0]))
    polygons = [[r] for r, _ in faces]
    polygons.insert(2, [degenerate_ring()])
    geom = SurfaceGeometry.from_polygons(polygons, [1] * len(polygons), lod="2")
    part = building("part", type_="BuildingPart", geometries=(geom,), line=30)
    report = JobReport()
    batch = mesh_features([building("top", children=(part,))], report=report)
    assert batch.mesh.triangle_count == 12  # the sound polygons are kept
    assert report.skipped == []  # a zero-area polygon loses nothing visible (CGML-5)
    assert report.extra["meshing"]["degenerate_polygons"] == 1
    assert any("degenerate polygons" in w for w in report.warnings)


def test_lost_polygons_are_reported_per_object() -> None:
    faces = box_faces(ORIGIN, np.array([10.0, 8.0, 6.0]))
    polygons = [[r] for r, _ in faces] + [[degenerate_ring()]] * 5
    polygons.append([ORIGIN + np.array([[0, 0, 0], [4, 4, 0], [4, 0, 0], [0, 2, 0]], float)])
    geom = SurfaceGeometry.from_polygons(polygons, [1] * len(polygons), lod="2")
    part = building("part", type_="BuildingPart", geometries=(geom,), line=30)
    report = JobReport()
    mesh_features([building("top", children=(part,))], report=report)
    (record,) = report.skipped
    assert (record.id, record.line) == ("part", 30)
    assert record.reason.startswith("1 of 12 LoD 2 polygons not triangulated: polygon 11: earcut")
    stats = report.extra["meshing"]
    assert (stats["degenerate_polygons"], stats["failed_polygons"], stats["polygons"]) == (5, 1, 12)


def test_non_planar_polygons_are_counted_and_warned() -> None:
    roof = ORIGIN + np.array([[0, 0, 6], [10, 0, 6], [10, 8, 9.5], [0, 8, 9]], float)
    geom = SurfaceGeometry.from_polygons([[roof]], [int(SurfaceType.ROOF)], lod="2")
    report = JobReport()
    batch = mesh_features([building(geometries=(geom,))], report=report)
    assert batch.mesh.triangle_count == 2 and report.skipped == []
    assert report.extra["meshing"]["nonplanar_polygons"] == 1
    assert any("best-fit plane" in w for w in report.warnings)


def test_strict_mode_raises_on_skip() -> None:
    with pytest.raises(StrictModeError):
        mesh_features([building("empty")], report=JobReport(strict=True))


def test_without_report_skips_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        batch = mesh_features([building("empty")])
    assert batch.features.row_count == 0
    assert "empty" in caplog.text and "no geometry" in caplog.text


def test_counters_accumulate_over_calls() -> None:
    report = JobReport()
    mesh_features([building(geometries=(box(),))], report=report)
    mesh_features([building(geometries=(box(),))], report=report)
    assert report.extra["meshing"]["polygons"] == 12 and report.extra["meshing"]["triangles"] == 24


def test_batches_concatenate() -> None:
    a = mesh_features([house_with_parts()])
    b = mesh_features([building("X", geometries=(box((0, 40, 0)),))])
    both = MeshBatch.concat([a, b])
    assert both.features.column("gml_id") == ["DENW01_A", "DENW01_B", "X"]
    assert set(np.unique(both.mesh.feature_ids).tolist()) == {0, 1, 2}
