"""CityGML 1.0/2.0 reader: structure, geometry and semantics on tiny inline documents."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citymodel.converters.citygml import CITYGML_FORMAT, CityGMLReader, sniff
from citymodel.model import Feature, SurfaceGeometry, SurfaceType
from citymodel.report import JobReport
from tests.citygml_docs import (
    SRS,
    Point,
    box_faces,
    building,
    city_model,
    envelope,
    href_member,
    lod1_box,
    multi_surface,
    part,
    polygon,
    pos_list,
    thematic_box,
    write,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def read(path: Path, report: JobReport | None = None) -> list[Feature]:
    with CityGMLReader(path) as reader:
        return list(reader.features(report=report or JobReport()))


def read_text(tmp_path: Path, text: str, report: JobReport | None = None) -> list[Feature]:
    return read(write(tmp_path / "t.gml", text), report)


def rings(geom: SurfaceGeometry, p: int) -> list[np.ndarray]:
    r0, r1 = geom.polygon_offsets[p], geom.polygon_offsets[p + 1]
    return [geom.vertices[geom.ring_offsets[r] : geom.ring_offsets[r + 1]] for r in range(r0, r1)]


def signed_area_xy(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return float(0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


# -- versions and structure (CGML-1, CGML-2) ---------------------------------------------------


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_both_versions_read_the_same_building(tmp_path: Path, version: str) -> None:
    doc = city_model(
        [building("<bldg:function>31001_1000</bldg:function>" + thematic_box("p"))],
        version=version,
    )
    path = write(tmp_path / f"v{version}.gml", doc)
    with CityGMLReader(path) as reader:
        assert reader.version == version
        (feat,) = reader.features()
    assert feat.id == "B1" and feat.type == "Building"
    assert feat.attributes == {"function": "31001_1000"}
    (geom,) = feat.geometries
    assert geom.lod == "2" and geom.polygon_count == 6 and geom.vertex_count == 24
    assert geom.surface_types.tolist() == [
        SurfaceType.GROUND,
        SurfaceType.ROOF,
        *[SurfaceType.WALL] * 4,
    ]
    np.testing.assert_array_equal(geom.vertices[:4], box_faces()["ground"])


def test_building_parts_are_nested_recursively(tmp_path: Path) -> None:
    inner = part(
        '<bldg:measuredHeight uom="urn:adv:uom:m">3.5</bldg:measuredHeight>'
        + lod1_box(x=30, h=3.5),
        "P2a",
    )
    doc = city_model(
        [
            building(
                "<bldg:function>31001_1000</bldg:function>"
                + part(
                    '<bldg:measuredHeight uom="urn:adv:uom:m">6</bldg:measuredHeight>'
                    + thematic_box("p1")
                    + inner,
                    "P1",
                )
                + part(
                    '<bldg:measuredHeight uom="urn:adv:uom:m">9</bldg:measuredHeight>'
                    + thematic_box("p2", x=12, h=9),
                    "P2",
                )
            )
        ]
    )
    path = write(tmp_path / "parts.gml", doc)
    with CityGMLReader(path) as reader:
        (feat,) = reader.features()
        meta = reader.metadata()
    assert feat.geometries == ()  # CGML-2: the geometry belongs to the parts
    assert [c.id for c in feat.children] == ["P1", "P2"]
    p1, p2 = feat.children
    assert p1.type == p2.type == "BuildingPart"
    assert p1.attributes["measuredHeight"] == 6.0 and p2.attributes["measuredHeight"] == 9.0
    assert [c.id for c in p1.children] == ["P2a"]
    assert p1.children[0].geometries[0].lod == "1"
    assert [(f.id, parent.id if parent else None) for f, parent in feat.walk()] == [
        ("B1", None),
        ("P1", "B1"),
        ("P2a", "P1"),
        ("P2", "B1"),
    ]
    assert meta.counts == {"Building": 1, "BuildingPart": 3}
    assert meta.lods == {"1": 1, "2": 2}


def test_lod_geometries_are_sorted_and_selectable(tmp_path: Path) -> None:
    doc = city_model([building(lod1_box() + thematic_box("p", lod=3) + thematic_box("q"))])
    (feat,) = read_text(tmp_path, doc)
    assert [g.lod for g in feat.geometries] == ["1", "2", "3"]
    geom3 = feat.geometry("3")
    assert geom3 is not None and geom3.polygon_count == 6
    assert feat.geometry() is geom3


# -- xlink and "never render twice" (CGML-3) --------------------------------------------------


def test_solid_referencing_thematic_polygons_renders_the_surfaces_once() -> None:
    (feat,) = read(DATA / "citygml2_lod2_xlink_solid.gml")
    (geom,) = feat.geometries
    # 6 thematic polygons; the lod2Solid references the same 6 and adds nothing
    assert geom.polygon_count == 6
    assert geom.solid  # the solid consists of exactly these polygons
    assert sorted(geom.surface_types.tolist()) == sorted(
        [SurfaceType.GROUND, SurfaceType.ROOF] + [SurfaceType.WALL] * 4
    )


def test_solid_only_building_uses_the_solid(tmp_path: Path) -> None:
    (feat,) = read_text(tmp_path, city_model([building(lod1_box())]))
    (geom,) = feat.geometries
    assert geom.lod == "1" and geom.polygon_count == 6 and geom.solid
    assert set(geom.surface_types.tolist()) == {SurfaceType.UNKNOWN}


def test_solid_with_inline_polygons_is_not_rendered_next_to_thematic_surfaces(
    tmp_path: Path,
) -> None:
    # both representations inline (different ids): only the thematic one is used (CGML-3)
    doc = city_model(
        [
            building(
                "<bldg:lod2Solid><gml:Solid><gml:exterior><gml:CompositeSurface>"
                + "".join(
                    f"<gml:surfaceMember>{polygon(p, gml_id=f's_{k}')}</gml:surfaceMember>"
                    for k, p in box_faces().items()
                )
                + "</gml:CompositeSurface></gml:exterior></gml:Solid></bldg:lod2Solid>"
                + thematic_box("t")
            )
        ]
    )
    (feat,) = read_text(tmp_path, doc)
    (geom,) = feat.geometries
    assert geom.polygon_count == 6
    assert SurfaceType.UNKNOWN not in geom.surface_types.tolist()
    assert not geom.solid  # the solid's polygons are not the rendered ones


def test_polygon_reached_twice_is_added_once(tmp_path: Path) -> None:
    faces = box_faces()
    roof = polygon(faces["roof"], gml_id="roof1")
    doc = city_model(
        [
            building(
                "<bldg:boundedBy><bldg:RoofSurface><bldg:lod2MultiSurface>"
                + multi_surface([roof, href_member("roof1")])
                + "</bldg:lod2MultiSurface></bldg:RoofSurface></bldg:boundedBy>"
                "<bldg:boundedBy><bldg:RoofSurface><bldg:lod2MultiSurface>"
                + multi_surface([href_member("roof1")])
                + "</bldg:lod2MultiSurface></bldg:RoofSurface></bldg:boundedBy>"
            )
        ]
    )
    (feat,) = read_text(tmp_path, doc)
    assert feat.geometries[0].polygon_count == 1


def test_xlink_to_a_multisurface_and_forward_reference(tmp_path: Path) -> None:
    faces = box_faces()
    doc = city_model(
        [
            building(
                # the property references a MultiSurface defined later in the object
                '<bldg:lod2MultiSurface xlink:href="#ms"/>'
                "<bldg:lod3MultiSurface>"
                + multi_surface(
                    [polygon(faces["roof"], gml_id="r1"), polygon(faces["ground"])], gml_id="ms"
                )
                + "</bldg:lod3MultiSurface>"
            )
        ]
    )
    (feat,) = read_text(tmp_path, doc)
    assert [(g.lod, g.polygon_count) for g in feat.geometries] == [("2", 2), ("3", 2)]
    np.testing.assert_array_equal(feat.geometries[0].vertices, feat.geometries[1].vertices)


def test_dangling_xlink_is_reported_and_the_rest_kept(tmp_path: Path) -> None:
    faces = box_faces()
    doc = city_model(
        [
            building(
                "<bldg:lod2MultiSurface>"
                + multi_surface(
                    [
                        polygon(faces["roof"], gml_id="r1"),
                        href_member("nowhere"),
                        '<gml:surfaceMember xlink:href="other.gml#r9"/>',
                    ]
                )
                + "</bldg:lod2MultiSurface>"
            )
        ]
    )
    report = JobReport()
    path = write(tmp_path / "dangling.gml", doc)
    (feat,) = read(path, report)
    assert feat.geometries[0].polygon_count == 1
    assert len(report.skipped) == 2
    first, second = report.skipped
    assert first.id == "B1" and first.file == str(path) and first.line == 4
    assert "'#nowhere'" in first.reason and "cannot be resolved" in first.reason
    assert "another document" in second.reason


def test_xlink_cycle_terminates(tmp_path: Path) -> None:
    doc = city_model(
        [
            building(
                "<bldg:lod2MultiSurface>"
                '<gml:OrientableSurface gml:id="o1" orientation="-">'
                '<gml:baseSurface xlink:href="#o2"/></gml:OrientableSurface>'
                "</bldg:lod2MultiSurface>"
                "<bldg:lod3MultiSurface>"
                '<gml:OrientableSurface gml:id="o2" orientation="-">'
                '<gml:baseSurface xlink:href="#o1"/></gml:OrientableSurface>'
                "</bldg:lod3MultiSurface>"
            )
        ]
    )
    report = JobReport()
    (feat,) = read_text(tmp_path, doc, report)
    assert feat.geometries == ()
    assert [s.reason.split(" leads")[0] for s in report.skipped] == [
        "xlink:href '#o2'",
        "xlink:href '#o1'",
    ]
    assert all("reference cycle" in s.reason for s in report.skipped)


def test_orientable_surface_minus_reverses_its_base(tmp_path: Path) -> None:
    faces = box_faces()
    doc = city_model(
        [
            building(
                "<bldg:boundedBy><bldg:WallSurface><bldg:lod2MultiSurface>"
                + multi_surface([polygon(faces["south"], gml_id="w1")])
                + "</bldg:lod2MultiSurface></bldg:WallSurface></bldg:boundedBy>"
                + part(
                    "<bldg:boundedBy><bldg:WallSurface><bldg:lod2MultiSurface><gml:MultiSurface>"
                    '<gml:surfaceMember><gml:OrientableSurface orientation="-">'
                    '<gml:baseSurface xlink:href="#w1"/></gml:OrientableSurface></gml:surfaceMember>'
                    '<gml:surfaceMember><gml:OrientableSurface orientation="+">'
                    f"<gml:baseSurface>{polygon(faces['north'])}</gml:baseSurface>"
                    "</gml:OrientableSurface></gml:surfaceMember>"
                    "</gml:MultiSurface></bldg:lod2MultiSurface></bldg:WallSurface></bldg:boundedBy>",
                    "garage",
                )
            )
        ]
    )
    (feat,) = read_text(tmp_path, doc)
    wall = feat.geometries[0].vertices
    garage = feat.children[0].geometries[0]
    assert garage.polygon_count == 2
    assert garage.surface_types.tolist() == [SurfaceType.WALL, SurfaceType.WALL]
    np.testing.assert_array_equal(rings(garage, 0)[0], wall[::-1])  # reversed
    np.testing.assert_array_equal(rings(garage, 1)[0], faces["north"])  # "+" unchanged


# -- coordinates and rings (CGML-4) -----------------------------------------------------------


def test_polygon_with_hole_keeps_the_interior_ring(tmp_path: Path) -> None:
    outer = [(0, 0, 5), (20, 0, 5), (20, 10, 5), (0, 10, 5)]
    hole = [(5, 2, 5), (5, 8, 5), (15, 8, 5), (15, 2, 5)]
    (feat,) = read(DATA / "citygml2_lod2_courtyard_hole.gml")
    geom = feat.geometries[0]
    assert geom.polygon_count == 1
    ext, inner = rings(geom, 0)
    np.testing.assert_array_equal(ext, outer)  # closing point dropped
    np.testing.assert_array_equal(inner, hole)
    area = abs(signed_area_xy(ext)) - abs(signed_area_xy(inner))
    assert area == pytest.approx(200 - 60)
    assert geom.surface_types.tolist() == [SurfaceType.ROOF]
    del tmp_path


def test_srs_dimension_only_on_the_envelope(tmp_path: Path) -> None:
    roof = box_faces()["roof"]
    doc = city_model(
        [
            building(
                "<bldg:lod2MultiSurface>"
                + multi_surface([polygon(roof, dim=None)])
                + "</bldg:lod2MultiSurface>"
            )
        ],
        header=envelope(dim=3),
    )
    (feat,) = read_text(tmp_path, doc)
    np.testing.assert_array_equal(feat.geometries[0].vertices, roof)


def test_srs_dimension_on_an_ancestor_geometry(tmp_path: Path) -> None:
    roof = box_faces()["roof"]
    doc = city_model(
        [
            building(
                '<bldg:lod2MultiSurface><gml:MultiSurface srsDimension="3">'
                f"<gml:surfaceMember>{polygon(roof, dim=None)}</gml:surfaceMember>"
                "</gml:MultiSurface></bldg:lod2MultiSurface>"
            )
        ],
        header=envelope(dim=None),
    )
    (feat,) = read_text(tmp_path, doc)
    np.testing.assert_array_equal(feat.geometries[0].vertices, roof)


def test_two_dimensional_coordinates_are_an_error_for_that_polygon(tmp_path: Path) -> None:
    flat = (
        "<gml:Polygon><gml:exterior><gml:LinearRing>"
        '<gml:posList srsDimension="2">0 0 10 0 10 10 0 10 0 0</gml:posList>'
        "</gml:LinearRing></gml:exterior></gml:Polygon>"
    )
    doc = city_model(
        [
            building(
                "<bldg:lod2MultiSurface>"
                + multi_surface([flat, polygon(box_faces()["roof"])])
                + "</bldg:lod2MultiSurface>"
            )
        ]
    )
    report = JobReport()
    (feat,) = read_text(tmp_path, doc, report)
    assert feat.geometries[0].polygon_count == 1
    (skip,) = report.skipped
    assert "srsDimension 2" in skip.reason and skip.id == "B1" and skip.line == 4


def test_envelope_dimension_two_applies_to_geometry_without_its_own(tmp_path: Path) -> None:
    # GML semantics: srsDimension is inherited; 2D coordinates cannot be read as 3D
    doc = city_model(
        [
            building(
                "<bldg:lod2MultiSurface>"
                + multi_surface([polygon(box_faces()["roof"], dim=None)])
                + "</bldg:lod2MultiSurface>"
            )
        ],
        header=envelope(dim=2, lower="0 0", upper="1 1"),
    )
    report = JobReport()
    (feat,) = read_text(tmp_path, doc, report)
    assert feat.geometries == ()
    assert "srsDimension 2" in report.skipped[0].reason


def test_coordinate_count_not_a_multiple_of_three(tmp_path: Path) -> None:
    odd = (
        '<gml:Polygon gml:id="odd"><gml:exterior><gml:LinearRing>'
        "<gml:posList>0 0 0 1 0 0 1 1 0 0 1</gml:posList>"
        "</gml:LinearRing></gml:exterior></gml:Polygon>"
    )
    doc = city_model(
        [building("<bldg:lod2MultiSurface>" + multi_surface([odd]) + "</bldg:lod2MultiSurface>")]
    )
    report = JobReport()
    (feat,) = read_text(tmp_path, doc, report)
    assert feat.geometries == ()
    (skip,) = report.skipped
    assert "polygon odd" in skip.reason and "11 coordinate values" in skip.reason


def test_not_numbers_and_degenerate_rings_are_reported(tmp_path: Path) -> None:
    bad = (
        '<gml:Polygon gml:id="text"><gml:exterior><gml:LinearRing>'
        "<gml:posList>0 0 0 a 0 0 1 1 0 0 0 0</gml:posList>"
        "</gml:LinearRing></gml:exterior></gml:Polygon>"
    )
    line = polygon([(0, 0, 0), (1, 1, 1)], gml_id="line")
    doc = city_model(
        [
            building(
                "<bldg:lod2MultiSurface>"
                + multi_surface([bad, line, polygon(box_faces()["roof"])])
                + "</bldg:lod2MultiSurface>"
            )
        ]
    )
    report = JobReport()
    (feat,) = read_text(tmp_path, doc, report)
    assert feat.geometries[0].polygon_count == 1
    reasons = sorted(s.reason for s in report.skipped)
    assert "not a list of numbers" in reasons[1] and "2 distinct points" in reasons[0]


def test_gml_pos_sequence(tmp_path: Path) -> None:
    roof = box_faces()["roof"]
    pos = "".join(f"<gml:pos>{x} {y} {z}</gml:pos>" for x, y, z in [*roof, roof[0]])
    doc = city_model(
        [
            building(
                "<bldg:lod2MultiSurface><gml:MultiSurface><gml:surfaceMember><gml:Polygon>"
                f"<gml:exterior><gml:LinearRing>{pos}</gml:LinearRing></gml:exterior>"
                "</gml:Polygon></gml:surfaceMember></gml:MultiSurface></bldg:lod2MultiSurface>"
            )
        ]
    )
    (feat,) = read_text(tmp_path, doc)
    np.testing.assert_array_equal(feat.geometries[0].vertices, roof)


@pytest.mark.parametrize(
    ("attrs", "text"),
    [
        ("", "0,0,6 10,0,6 10,8,6 0,8,6 0,0,6"),
        (' cs=";" ts="|" decimal=","', "0;0;6|10,0;0;6|10;8;6|0;8;6|0;0;6"),
    ],
)
def test_legacy_gml_coordinates(tmp_path: Path, attrs: str, text: str) -> None:
    doc = city_model(
        [
            building(
                "<bldg:lod2MultiSurface><gml:MultiSurface><gml:surfaceMember><gml:Polygon>"
                f"<gml:exterior><gml:LinearRing><gml:coordinates{attrs}>{text}</gml:coordinates>"
                "</gml:LinearRing></gml:exterior>"
                "</gml:Polygon></gml:surfaceMember></gml:MultiSurface></bldg:lod2MultiSurface>"
            )
        ]
    )
    (feat,) = read_text(tmp_path, doc)
    np.testing.assert_array_equal(
        feat.geometries[0].vertices, [(0, 0, 6), (10, 0, 6), (10, 8, 6), (0, 8, 6)]
    )


def test_unclosed_ring_is_accepted_with_a_warning(tmp_path: Path) -> None:
    roof = box_faces()["roof"]
    doc = city_model(
        [
            building(
                "<bldg:lod2MultiSurface>"
                + multi_surface([polygon(roof, close=False, gml_id="open")])
                + "</bldg:lod2MultiSurface>"
            )
        ]
    )
    report = JobReport()
    (feat,) = read_text(tmp_path, doc, report)
    np.testing.assert_array_equal(feat.geometries[0].vertices, roof)  # all 4 points kept
    assert not report.skipped
    (warning,) = report.warnings
    assert "1 ring(s) without closing point" in warning and "polygon open" in warning


def test_triangulated_surface_and_composite_solid(tmp_path: Path) -> None:
    tri = "<gml:Triangle><gml:exterior><gml:LinearRing>{}</gml:LinearRing></gml:exterior></gml:Triangle>"
    tin = (
        "<bldg:lod1MultiSurface><gml:TriangulatedSurface><gml:trianglePatches>"
        + tri.format(pos_list([(0, 0, 0), (1, 0, 0), (0, 1, 0)]))
        + tri.format(pos_list([(1, 0, 0), (1, 1, 0), (0, 1, 0)]))
        + "</gml:trianglePatches></gml:TriangulatedSurface></bldg:lod1MultiSurface>"
    )
    solids = "".join(
        "<gml:solidMember><gml:Solid><gml:exterior><gml:CompositeSurface>"
        + "".join(
            f"<gml:surfaceMember>{polygon(p)}</gml:surfaceMember>" for p in box_faces(x=x).values()
        )
        + "</gml:CompositeSurface></gml:exterior></gml:Solid></gml:solidMember>"
        for x in (0, 10)
    )
    doc = city_model(
        [
            building(tin, gml_id="T"),
            building(
                f"<bldg:lod2Solid><gml:CompositeSolid>{solids}</gml:CompositeSolid></bldg:lod2Solid>",
                gml_id="C",
            ),
        ]
    )
    tin_feat, solid_feat = read_text(tmp_path, doc)
    assert tin_feat.geometries[0].polygon_count == 2
    assert tin_feat.geometries[0].vertex_count == 6
    assert solid_feat.geometries[0].polygon_count == 12 and solid_feat.geometries[0].solid


def test_surface_member_without_polygon_is_reported(tmp_path: Path) -> None:
    # the defect of val3dity's invalid_citygml_1.gml, in a Building
    broken = (
        "<gml:surfaceMember><gml:exterior><gml:LinearRing>"
        f"{pos_list(box_faces()['ground'])}</gml:LinearRing></gml:exterior></gml:surfaceMember>"
    )
    doc = city_model(
        [
            building(
                "<bldg:lod2MultiSurface>"
                + multi_surface([broken, polygon(box_faces()["roof"])])
                + "</bldg:lod2MultiSurface>"
            )
        ]
    )
    report = JobReport()
    (feat,) = read_text(tmp_path, doc, report)
    assert feat.geometries[0].polygon_count == 1
    (skip,) = report.skipped
    assert "exterior found where a GML surface or solid was expected" in skip.reason


# -- semantics ------------------------------------------------------------------------------


def test_lod3_openings_keep_window_and_door_semantics(tmp_path: Path) -> None:
    wall = [(0, 0, 0), (10, 0, 0), (10, 0, 6), (0, 0, 6)]
    window = [(2, 0, 2), (2, 0, 4), (4, 0, 4), (4, 0, 2)]
    door = [(6, 0, 0), (6, 0, 2), (7, 0, 2), (7, 0, 0)]
    doc = city_model(
        [
            building(
                "<bldg:boundedBy><bldg:WallSurface><bldg:lod3MultiSurface>"
                + multi_surface([polygon(wall, holes=[window])])
                + "</bldg:lod3MultiSurface>"
                "<bldg:opening><bldg:Window><bldg:lod3MultiSurface>"
                + multi_surface([polygon(window[::-1])])
                + "</bldg:lod3MultiSurface></bldg:Window></bldg:opening>"
                "<bldg:opening><bldg:Door><bldg:lod3MultiSurface>"
                + multi_surface([polygon(door[::-1])])
                + "</bldg:lod3MultiSurface></bldg:Door></bldg:opening>"
                "</bldg:WallSurface></bldg:boundedBy>"
                "<bldg:boundedBy><bldg:OuterCeilingSurface><bldg:lod3MultiSurface>"
                + multi_surface([polygon(box_faces()["roof"])])
                + "</bldg:lod3MultiSurface></bldg:OuterCeilingSurface></bldg:boundedBy>"
            )
        ]
    )
    (feat,) = read_text(tmp_path, doc)
    geom = feat.geometries[0]
    assert geom.lod == "3"
    assert geom.surface_types.tolist() == [
        SurfaceType.WALL,
        SurfaceType.WINDOW,
        SurfaceType.DOOR,
        SurfaceType.OUTER_CEILING,
    ]
    assert len(rings(geom, 0)) == 2  # the wall keeps its window hole


def test_lod0_footprint_and_roof_edge(tmp_path: Path) -> None:
    faces = box_faces()
    doc = city_model(
        [
            building(
                f"<bldg:lod0FootPrint>{multi_surface([polygon(faces['ground'])])}</bldg:lod0FootPrint>"
                f"<bldg:lod0RoofEdge>{multi_surface([polygon(faces['roof'])])}</bldg:lod0RoofEdge>"
            )
        ]
    )
    (feat,) = read_text(tmp_path, doc)
    (geom,) = feat.geometries
    assert geom.lod == "0" and geom.polygon_count == 2 and not geom.solid


# -- identifiers, lines, CRS ------------------------------------------------------------------


def test_missing_gml_id_gets_a_stable_generated_id(tmp_path: Path) -> None:
    doc = city_model(
        [
            building(lod1_box(), gml_id="A"),
            building(lod1_box() + part(lod1_box(), None), gml_id=None),
        ]
    )
    report = JobReport()
    path = write(tmp_path / "noid.gml", doc)
    first, second = read(path, report)
    assert first.id == "A"
    assert second.id == "noid.gml#2"
    assert second.children[0].id == "noid.gml#2.1"
    assert any("2 feature(s) without gml:id" in w for w in report.warnings)


def test_source_lines_point_at_the_feature(tmp_path: Path) -> None:
    doc = city_model([building(lod1_box(), gml_id="A"), building(lod1_box(), gml_id="B")])
    doc = doc.replace("<core:cityObjectMember>", "\n<core:cityObjectMember>\n")
    path = write(tmp_path / "lines.gml", doc)
    feats = read(path)
    lines = doc.splitlines()
    for feat in feats:
        assert feat.source is not None and feat.source.path == str(path)
        assert feat.source.line is not None
        assert f'gml:id="{feat.id}"' in lines[feat.source.line - 1]


def test_srs_name_from_envelope_and_from_geometry(tmp_path: Path) -> None:
    in_envelope = write(tmp_path / "env.gml", city_model([building(lod1_box())]))
    assert CityGMLReader(in_envelope).srs_name == SRS
    on_geometry = city_model(
        [building(lod1_box().replace("<gml:Solid>", '<gml:Solid srsName="EPSG:25833">'))],
        header="",
    )
    reader = CityGMLReader(write(tmp_path / "geom.gml", on_geometry))
    assert reader.srs_name == "EPSG:25833"
    assert reader.metadata().horizontal_crs == "EPSG:25833"


def test_srs_name_on_each_building_envelope(tmp_path: Path) -> None:
    # the Berlin export style: no dataset envelope, one per building
    inner = envelope(srs="urn:ogc:def:crs:EPSG::25833") + lod1_box()
    doc = city_model([building(inner, gml_id="A"), building(inner, gml_id="B")], header="")
    reader = CityGMLReader(write(tmp_path / "b.gml", doc))
    assert reader.srs_name == "urn:ogc:def:crs:EPSG::25833"
    assert len(list(reader.features())) == 2


def test_geometry_in_another_crs_is_left_out(tmp_path: Path) -> None:
    other = lod1_box().replace("<gml:Solid>", '<gml:Solid srsName="EPSG:31467">')
    same_crs_other_spelling = lod1_box().replace(
        "<gml:Solid>", '<gml:Solid srsName="EPSG:25832+7837">'
    )
    doc = city_model([building(other, gml_id="A"), building(same_crs_other_spelling, gml_id="B")])
    report = JobReport()
    a, b = read_text(tmp_path, doc, report)
    assert a.geometries == () and b.geometries[0].polygon_count == 6
    (skip,) = report.skipped
    assert skip.id == "A" and "EPSG:31467" in skip.reason


def test_lat_lon_geographic_crs_is_returned_lon_lat(tmp_path: Path) -> None:
    # AX-3: EPSG:4979 URN axis order is latitude, longitude, height
    lat_lon = [(53.55, 9.99, 10), (53.55, 10.0, 10), (53.56, 10.0, 10), (53.56, 9.99, 10)]
    doc = city_model(
        [
            building(
                "<bldg:lod2MultiSurface>"
                + multi_surface([polygon(lat_lon)])
                + "</bldg:lod2MultiSurface>"
            )
        ],
        header=envelope(
            srs="urn:ogc:def:crs:EPSG::4979", lower="53.55 9.99 10", upper="53.56 10.0 10"
        ),
    )
    path = write(tmp_path / "geo.gml", doc)
    (feat,) = read(path)
    np.testing.assert_array_equal(feat.geometries[0].vertices, [(y, x, z) for x, y, z in lat_lon])
    extent = CityGMLReader(path).metadata().extent
    assert extent == (9.99, 53.55, 10.0, 10.0, 53.56, 10.0)


def test_types_filter_and_counts_per_type(tmp_path: Path) -> None:
    generic = (
        '<gen:GenericCityObject gml:id="g1"><gen:lod1Geometry>'
        + multi_surface([polygon(box_faces()["roof"])])
        + "</gen:lod1Geometry></gen:GenericCityObject>"
    )
    path = write(tmp_path / "mixed.gml", city_model([generic, building(lod1_box())]))
    with CityGMLReader(path) as reader:
        assert [f.id for f in reader.features()] == ["g1", "B1"]
        assert [f.id for f in reader.features(types={"GenericCityObject"})] == ["g1"]
        assert [f.id for f in reader.features(types=["Building"])] == ["B1"]
        assert list(reader.features(types=["Road"])) == []
        meta = reader.metadata()
    assert meta.counts == {"Building": 1, "GenericCityObject": 1}
    assert meta.format == "CityGML" and meta.version == "2.0" and meta.srs_name == SRS
    assert meta.horizontal_crs == "EPSG:25832" and meta.vertical_crs == "EPSG:7837"
    assert meta.extent == (0.0, 0.0, 0.0, 10.0, 8.0, 6.0)


def test_format_plugin(tmp_path: Path) -> None:
    path = write(tmp_path / "a.xml", city_model([building(lod1_box())]))
    assert CITYGML_FORMAT.name == "citygml"
    assert ".gml" in CITYGML_FORMAT.suffixes and ".zip" in CITYGML_FORMAT.suffixes
    assert CITYGML_FORMAT.sniff(path) and sniff(path)
    reader = CITYGML_FORMAT.open(path, in_crs="EPSG:25833")
    assert isinstance(reader, CityGMLReader) and reader.in_crs == "EPSG:25833"
    assert reader.metadata().horizontal_crs == "EPSG:25833"
    not_gml = write(tmp_path / "b.xml", "<kml xmlns='http://www.opengis.net/kml/2.2'/>")
    assert not sniff(not_gml)
    assert not sniff(tmp_path / "missing.gml")


def test_nan_and_empty_coordinates_are_reported_without_shifting_others(tmp_path: Path) -> None:
    roof = box_faces()["roof"]
    nan_ring = (
        '<gml:Polygon gml:id="nan"><gml:exterior><gml:LinearRing>'
        "<gml:posList>0 0 0 1 0 NaN 1 1 0 0 0 0</gml:posList>"
        "</gml:LinearRing></gml:exterior></gml:Polygon>"
    )
    empty = (
        '<gml:Polygon gml:id="empty"><gml:exterior><gml:LinearRing>'
        "<gml:posList>  </gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>"
    )
    doc = city_model(
        [
            building(
                "<bldg:lod2MultiSurface>"
                + multi_surface([polygon(roof), nan_ring, empty, polygon(box_faces()["ground"])])
                + "</bldg:lod2MultiSurface>"
            )
        ]
    )
    report = JobReport()
    (feat,) = read_text(tmp_path, doc, report)
    geom = feat.geometries[0]
    assert geom.polygon_count == 2
    np.testing.assert_array_equal(rings(geom, 0)[0], roof)
    np.testing.assert_array_equal(rings(geom, 1)[0], box_faces()["ground"])
    reasons = {s.reason.split(":")[0]: s.reason for s in report.skipped}
    assert "non-finite" in reasons["polygon nan"]
    assert "0 distinct points" in reasons["polygon empty"]


ring_points = st.lists(
    st.tuples(
        st.integers(-10_000, 10_000).map(lambda v: v / 8),
        st.integers(-10_000, 10_000).map(lambda v: v / 8),
        st.integers(0, 4000).map(lambda v: v / 16),
    ),
    min_size=3,
    max_size=7,
    unique=True,
)
polygon_spec = st.tuples(
    st.lists(ring_points, min_size=1, max_size=3),  # exterior + holes
    st.booleans(),  # closed
    st.booleans(),  # flipped (OrientableSurface orientation="-")
)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(polygon_spec, min_size=1, max_size=4), min_size=1, max_size=4))
def test_ragged_arrays_round_trip(
    buildings: list[list[tuple[list[list[Point]], bool, bool]]],
) -> None:
    members = []
    for b, polys in enumerate(buildings):
        surfaces = []
        for ring_list, closed, flipped in polys:
            poly = polygon(ring_list[0], holes=ring_list[1:], close=closed)
            if flipped:
                poly = f'<gml:OrientableSurface orientation="-"><gml:baseSurface>{poly}</gml:baseSurface></gml:OrientableSurface>'
            surfaces.append(f"<gml:surfaceMember>{poly}</gml:surfaceMember>")
        members.append(
            building(
                f"<bldg:lod2MultiSurface><gml:MultiSurface>{''.join(surfaces)}</gml:MultiSurface></bldg:lod2MultiSurface>",
                gml_id=f"B{b}",
            )
        )
    with tempfile.TemporaryDirectory() as tmp:
        feats = read(write(Path(tmp) / "rt.gml", city_model(members)))
    assert [f.id for f in feats] == [f"B{b}" for b in range(len(buildings))]
    for feat, polys in zip(feats, buildings, strict=True):
        (geom,) = feat.geometries
        assert geom.polygon_count == len(polys)
        for p, (ring_list, _closed, flipped) in enumerate(polys):
            got = rings(geom, p)
            assert len(got) == len(ring_list)
            for ring, expected in zip(got, ring_list, strict=True):
                want = np.array(expected[::-1] if flipped else expected, dtype=np.float64)
                np.testing.assert_array_equal(ring, want)


def test_feature_member_and_unresolved_thematic_reference(tmp_path: Path) -> None:
    # CityModel is a gml:FeatureCollection: gml:featureMember(s) hold objects too
    dangling = '<bldg:boundedBy xlink:href="#elsewhere"/>'
    members = (
        f"<gml:featureMember>{building(lod1_box(), gml_id='A')}</gml:featureMember>"
        f"<gml:featureMembers>{building(lod1_box(), gml_id='B')}"
        f"{building(dangling + lod1_box(), gml_id='C')}"
        "</gml:featureMembers>"
    )
    report = JobReport()
    feats = read_text(tmp_path, city_model(members), report)
    assert [f.id for f in feats] == ["A", "B", "C"]
    assert all(f.geometries[0].polygon_count == 6 for f in feats)
    (skip,) = report.skipped
    assert skip.id == "C" and "'#elsewhere'" in skip.reason


def test_lines_beyond_65535(tmp_path: Path) -> None:
    # libxml2 keeps 16-bit line numbers; past 65535 a line is approximate or unknown, never wrong
    pad = "\n" * 70000
    pretty = building("\n      " + lod1_box(), gml_id="pretty")
    compact = building(lod1_box(), gml_id="compact")
    doc = city_model(f"{pad}<core:cityObjectMember>\n{pretty}</core:cityObjectMember>")
    doc = doc.replace(
        "</core:CityModel>",
        f"<core:cityObjectMember>{compact}</core:cityObjectMember></core:CityModel>",
    )
    path = write(tmp_path / "long.gml", doc)
    pretty_feat, compact_feat = read(path)
    true_line = (
        doc.splitlines().index(next(s for s in doc.splitlines() if 'gml:id="pretty"' in s)) + 1
    )
    assert pretty_feat.source is not None and compact_feat.source is not None
    assert pretty_feat.source.line == true_line
    assert compact_feat.source.line is None
