"""City -> IFC4 on a generated city: selection, round trip within 1 mm, georeferencing, validity.

Every written file is re-read with ifcopenshell, independently of the writer
(``tests/converters/ifc_readback.py``): same number of buildings (and parts), every vertex
of every building within 1 mm of the CityGML input after applying the placements and the
IfcMapConversion, the geometry kernel processes every element, and ``ifcopenshell.validate``
(with EXPRESS rules) reports nothing.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import ifcopenshell
import numpy as np
import pyproj
import pytest
from click.testing import CliRunner

from citymodel.cli.main import cli
from citymodel.converters.convert import ConvertOptions, convert
from citymodel.converters.ifc_writer import CityToIfcOptions, write_city_ifc
from citymodel.converters.selection import BBox2D, FeatureSelection
from citymodel.errors import InputError, MissingDependencyError, OutputError
from citymodel.model import Feature
from citymodel.report import JobReport
from citymodel.synthetic import SyntheticCityOptions, write_city
from tests.converters.ifc_readback import (
    building_points,
    farthest,
    kernel_points,
    map_conversion,
    max_mismatch,
    pset,
    read_features,
    source_points,
    top_level_buildings,
    validation_statements,
)

BOX = (356000.0, 5645000.0, 356260.0, 5645240.0)
"""A box over the first parcels of the generated city (EPSG:25832 metres)."""


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("city") / "city.gml"
    write_city(
        path, SyntheticCityOptions(n_buildings=120, seed=11, tile_size_m=500, courtyard_ratio=0.2)
    )
    return path


@pytest.fixture(scope="module")
def features(city: Path) -> list[Feature]:
    return read_features([city])


def in_box(features: list[Feature], box: tuple[float, float, float, float]) -> set[str]:
    """Ids whose vertices' 2D extent touches ``box`` (computed here, not by the writer)."""
    out = set()
    for feature in features:
        xy = np.concatenate([g.vertices[:, :2] for f, _ in feature.walk() for g in f.geometries])
        low, high = xy.min(axis=0), xy.max(axis=0)
        if low[0] <= box[2] and high[0] >= box[0] and low[1] <= box[3] and high[1] >= box[1]:
            out.add(feature.id)
    return out


@pytest.fixture(scope="module")
def boxed(city: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, JobReport]:
    out = tmp_path_factory.mktemp("ifc") / "context.ifc"
    report = write_city_ifc(
        city,
        out,
        options=CityToIfcOptions(selection=FeatureSelection(bbox=BBox2D(*BOX))),
    )
    return out, report


def assert_round_trip(
    out: Path, features: list[Feature], ids: set[str], lod: str | None = None
) -> None:
    """Building count, parts and every vertex within 1 mm (both ways)."""
    f = ifcopenshell.open(str(out))
    tops = top_level_buildings(f)
    assert {pset(b)["gml_id"].wrappedValue for b in tops} == ids
    by_id = {f.id: f for f in features}
    read = building_points(out)
    expected: dict[str, np.ndarray] = {}
    for top_id in ids:
        expected.update(source_points(by_id[top_id], lod))
    assert set(read) == set(expected)
    worst = max(max_mismatch(read[k], expected[k]) for k in expected)
    assert worst < 1e-3, f"largest vertex deviation {worst * 1000:.3f} mm"


def test_bbox_selects_the_buildings_touching_the_box(
    boxed: tuple[Path, JobReport], features: list[Feature]
) -> None:
    out, report = boxed
    expected = in_box(features, BOX)
    assert 5 <= len(expected) < len(features)
    assert_round_trip(out, features, expected)
    parts = sum(len(f.children) for f in features if f.id in expected)
    f = ifcopenshell.open(str(out))
    assert sum(b.CompositionType == "PARTIAL" for b in f.by_type("IfcBuilding")) == parts
    assert report.written["Building"] == len(expected)
    assert report.written["BuildingPart"] == parts
    assert report.read["Building"] == len(features)
    assert report.outputs == [str(out)]


def test_output_is_valid_ifc4(boxed: tuple[Path, JobReport]) -> None:
    out, _ = boxed
    assert ifcopenshell.open(str(out)).schema == "IFC4"
    assert validation_statements(out) == []


def test_geometry_kernel_reads_every_element(
    boxed: tuple[Path, JobReport], features: list[Feature]
) -> None:
    out, report = boxed
    shapes, points = kernel_points(out)
    assert shapes == report.extra["ifc"]["elements"]
    expected: dict[str, np.ndarray] = {}
    for feature in features:
        expected.update(source_points(feature))
    assert set(points) <= set(expected)
    for gml_id, vertices in points.items():
        assert max_mismatch(vertices, expected[gml_id]) < 1e-3


def test_map_conversion_and_projected_crs(boxed: tuple[Path, JobReport]) -> None:
    out, report = boxed
    f = ifcopenshell.open(str(out))
    conversion = map_conversion(f)
    # the origin: the box's lower corner rounded down to 100 m, heights to 1 m
    assert (conversion.eastings, conversion.northings) == (356000.0, 5645000.0)
    assert conversion.height == math.floor(conversion.height)
    assert (conversion.abscissa, conversion.ordinate, conversion.scale) == (1.0, 0.0, 1.0)
    (crs,) = f.by_type("IfcProjectedCRS")
    assert crs.Name == "EPSG:25832"
    assert crs.VerticalDatum == "EPSG:7837"
    assert crs.MapUnit.Name == "METRE" and crs.MapUnit.Prefix is None
    assert crs.MapZone == "32N"
    (mc,) = f.by_type("IfcMapConversion")
    assert mc.SourceCRS.is_a("IfcGeometricRepresentationContext")
    assert mc.SourceCRS.ContextType == "Model"
    units = {u.UnitType: u for u in f.by_type("IfcProject")[0].UnitsInContext.Units}
    assert units["LENGTHUNIT"].Name == "METRE" and units["LENGTHUNIT"].Prefix is None
    georef = report.extra["ifc"]["georeferencing"]
    assert georef["crs"] == "EPSG:25832" and georef["eastings"] == 356000.0
    assert "DHHN2016" in report.extra["ifc"]["heights"]


def test_true_north_and_site_position(boxed: tuple[Path, JobReport]) -> None:
    """TrueNorth = grid north turned by the meridian convergence (IFC-3), from pyproj."""
    out, _ = boxed
    f = ifcopenshell.open(str(out))
    conversion = map_conversion(f)
    (context,) = [
        c
        for c in f.by_type("IfcGeometricRepresentationContext")
        if not c.is_a("IfcGeometricRepresentationSubContext")
    ]
    x, y = context.TrueNorth.DirectionRatios
    to_geo = pyproj.Transformer.from_crs(25832, 4326, always_xy=True)
    lon, lat = to_geo.transform(conversion.eastings, conversion.northings)
    convergence = pyproj.Proj("EPSG:25832").get_factors(lon, lat).meridian_convergence
    # Köln lies west of the zone's central meridian (9° E): true north is east of grid north
    assert x > 0
    assert math.degrees(math.atan2(x, y)) == pytest.approx(-convergence, abs=1e-3)
    (site,) = f.by_type("IfcSite")

    def degrees(parts: tuple[int, ...]) -> float:
        d, m, s, micro = [*parts, 0][:4]
        return d + m / 60 + (s + micro / 1e6) / 3600

    assert degrees(site.RefLatitude) == pytest.approx(lat, abs=1e-7)
    assert degrees(site.RefLongitude) == pytest.approx(lon, abs=1e-7)
    assert site.RefElevation == conversion.height


def test_ifcopenshell_geolocation_agrees(boxed: tuple[Path, JobReport]) -> None:
    """ifcopenshell's own map-conversion helper gives the same E, N, H as the read-back."""
    import ifcopenshell.util.geolocation as geolocation

    out, _ = boxed
    f = ifcopenshell.open(str(out))
    point = np.array([[12.5, 40.25, 7.125]])
    e, n, h = geolocation.auto_xyz2enh(f, *point[0])
    assert (e, n, h) == pytest.approx(tuple(map_conversion(f).apply(point)[0]), abs=1e-9)


def test_attributes_and_address(boxed: tuple[Path, JobReport], features: list[Feature]) -> None:
    out, _ = boxed
    f = ifcopenshell.open(str(out))
    by_id = {feat.id: feat for feat, _ in (x for top in features for x in top.walk())}
    checked = 0
    for building in f.by_type("IfcBuilding"):
        values = pset(building)
        feature = by_id[values["gml_id"].wrappedValue]
        assert values["object_type"].wrappedValue == feature.type
        for name, value in feature.attributes.items():
            if value is None:
                continue
            written = values[name]
            if name == "measuredHeight":
                assert written.is_a("IfcLengthMeasure")
            if hasattr(value, "isoformat"):
                assert written.is_a("IfcDate") and written.wrappedValue == value.isoformat()
            else:
                assert written.wrappedValue == value
            checked += 1
        if feature.attributes.get("address_street"):
            address = building.BuildingAddress
            assert address.is_a("IfcPostalAddress")
            assert address.AddressLines[0].startswith(str(feature.attributes["address_street"]))
            assert building.LongName
    assert checked > 20


def test_surfaces_become_ifc_classes_with_holes(boxed: tuple[Path, JobReport]) -> None:
    out, report = boxed
    f = ifcopenshell.open(str(out))
    assert f.by_type("IfcRoof") and f.by_type("IfcWall")
    slabs = f.by_type("IfcSlab")
    assert slabs and {s.PredefinedType for s in slabs} == {"BASESLAB"}
    assert f.by_type("IfcIndexedPolygonalFaceWithVoids"), "courtyard holes are kept as voids"
    for element in f.by_type("IfcBuildingElement"):
        (rel,) = element.ContainedInStructure
        assert rel.RelatingStructure.is_a("IfcBuilding")
        assert element.Tag == pset(rel.RelatingStructure)["gml_id"].wrappedValue
    assert len(f.by_type("IfcBuildingElement")) == report.extra["ifc"]["elements"]


def test_global_ids_are_stable(city: Path, boxed: tuple[Path, JobReport], tmp_path: Path) -> None:
    again = tmp_path / "again.ifc"
    write_city_ifc(
        city, again, options=CityToIfcOptions(selection=FeatureSelection(bbox=BBox2D(*BOX)))
    )

    def guids(path: Path) -> list[str]:
        return sorted(e.GlobalId for e in ifcopenshell.open(str(path)).by_type("IfcRoot"))

    first = guids(boxed[0])
    assert first == guids(again)
    assert len(set(first)) == len(first)


def test_bbox_in_wgs84(city: Path, features: list[Feature], tmp_path: Path) -> None:
    """A box in EPSG:4326 (lon/lat) selects what its densified UTM outline touches."""
    to_geo = pyproj.Transformer.from_crs(25832, 4326, always_xy=True)
    lon0, lat0 = to_geo.transform(356100.0, 5645050.0)
    lon1, lat1 = to_geo.transform(356330.0, 5645300.0)
    out = tmp_path / "wgs84.ifc"
    box = BBox2D(lon0, lat0, lon1, lat1, crs="EPSG:4326")
    write_city_ifc(city, out, options=CityToIfcOptions(selection=FeatureSelection(bbox=box)))
    utm = pyproj.Transformer.from_crs(4326, 25832, always_xy=True).transform_bounds(
        lon0, lat0, lon1, lat1, densify_pts=21
    )
    expected = in_box(features, utm)
    assert expected
    assert_round_trip(out, features, expected)


def test_ids_and_ids_file(city: Path, features: list[Feature], tmp_path: Path) -> None:
    wanted = [features[3], features[40], next(f for f in features if f.children)]
    # a part's id selects its whole building
    ids = frozenset({wanted[0].id, wanted[1].id, wanted[2].children[0].id, "DENW_NOT_THERE"})
    out = tmp_path / "ids.ifc"
    report = write_city_ifc(
        city, out, options=CityToIfcOptions(selection=FeatureSelection(ids=ids))
    )
    assert_round_trip(out, features, {f.id for f in wanted})
    assert any("DENW_NOT_THERE" in w for w in report.warnings)

    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(f"# context\n{wanted[0].id}\n\n  {wanted[1].id}  \n", encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        ["convert", str(city), "--ids-file", str(ids_file), "-o", str(tmp_path / "cli.ifc")],
    )
    assert result.exit_code == 0, result.output
    assert_round_trip(tmp_path / "cli.ifc", features, {wanted[0].id, wanted[1].id})


def test_bbox_and_ids_both_narrow(city: Path, features: list[Feature], tmp_path: Path) -> None:
    boxed_ids = sorted(in_box(features, BOX))
    outside = next(f.id for f in features if f.id not in boxed_ids)
    selection = FeatureSelection(bbox=BBox2D(*BOX), ids=frozenset({boxed_ids[0], outside}))
    out = tmp_path / "both.ifc"
    write_city_ifc(city, out, options=CityToIfcOptions(selection=selection))
    assert_round_trip(out, features, {boxed_ids[0]})


def test_cli_bbox_to_ifc(city: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli_box.ifc"
    report_path = tmp_path / "report.json"
    box = ",".join(f"{v:.1f}" for v in BOX)
    result = CliRunner().invoke(
        cli, ["convert", str(city), "--bbox", box, "-o", str(out), "--report", str(report_path)]
    )
    assert result.exit_code == 0, result.output
    assert out.is_file() and report_path.is_file()
    bad = CliRunner().invoke(cli, ["convert", str(city), "--bbox", "1,2,x,4", "-o", str(out)])
    assert bad.exit_code == 2 and "--bbox" in bad.output


def test_glb_output_uses_the_selection_too(
    city: Path, features: list[Feature], tmp_path: Path
) -> None:
    out = tmp_path / "box.glb"
    report = convert(
        city, out, options=ConvertOptions(selection=FeatureSelection(bbox=BBox2D(*BOX)))
    )
    assert report.written["Building"] == len(in_box(features, BOX))
    assert report.read["Building"] == len(features)


def test_nothing_selected_writes_nothing(city: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty.ifc"
    selection = FeatureSelection(bbox=BBox2D(0.0, 0.0, 10.0, 10.0))
    with pytest.raises(InputError, match="no object matches"):
        write_city_ifc(city, out, options=CityToIfcOptions(selection=selection))
    assert list(tmp_path.iterdir()) == []


def test_inputs_in_different_crss_are_refused(city: Path, tmp_path: Path) -> None:
    other = tmp_path / "zone33.gml"
    write_city(
        other,
        SyntheticCityOptions(n_buildings=2, seed=1, srs_name="urn:ogc:def:crs:EPSG::25833"),
    )
    with pytest.raises(InputError, match="different CRSs"):
        write_city_ifc([city, other], tmp_path / "mixed.ifc")
    assert not (tmp_path / "mixed.ifc").exists()


def test_lod_without_geometry_is_skipped_and_reported(city: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="LoD 3"):
        write_city_ifc(
            city,
            tmp_path / "lod3.ifc",
            options=CityToIfcOptions(selection=FeatureSelection(bbox=BBox2D(*BOX)), lod="3"),
        )


def test_missing_ifcopenshell_names_the_extra(
    city: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ifcopenshell", None)
    with pytest.raises(MissingDependencyError, match=r"citymodel\[ifc\]"):
        write_city_ifc(city, tmp_path / "x.ifc")


def test_wrong_suffix(city: Path, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"\.ifc"):
        write_city_ifc(city, tmp_path / "x.ifcxml")


def test_bbox_parsing() -> None:
    assert BBox2D.parse("1,2,3,4") == BBox2D(1.0, 2.0, 3.0, 4.0)
    urn = "urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::5783"
    assert BBox2D.parse(f"1,2,3,4,{urn}").crs == urn
    for bad in ("1,2,3", "1,2,x,4", "3,2,1,4", "1,2,3,nan"):
        with pytest.raises(ValueError):
            BBox2D.parse(bad)


def test_validation_catches_a_broken_file(boxed: tuple[Path, JobReport], tmp_path: Path) -> None:
    """The validity check above can fail: a mandatory attribute removed is reported."""
    f = ifcopenshell.open(str(boxed[0]))
    f.by_type("IfcMapConversion")[0].Eastings = None
    broken = tmp_path / "broken.ifc"
    f.write(str(broken))
    assert [s["level"] for s in validation_statements(broken, express_rules=False)] == ["error"]


def test_the_project_ifc_reader_places_it_back(
    boxed: tuple[Path, JobReport], features: list[Feature]
) -> None:
    """Read back through citymodel's own IFC reader: IfcMapConversion, EPSG:25832+7837, 1 mm."""
    from citymodel.sources import open as open_source

    out, report = boxed
    expected: dict[str, np.ndarray] = {}
    for feature in features:
        expected.update(source_points(feature))
    read = JobReport()
    with open_source(out) as reader:
        assert reader.srs_name == "EPSG:25832+7837"
        elements = list(reader.features(report=read))
    assert read.crs[str(out)]["georeferencing"]["method"] == "IfcMapConversion"
    assert len(elements) == report.extra["ifc"]["elements"]
    assert not read.skipped
    for element in elements:
        vertices = element.geometries[0].vertices
        assert farthest(vertices, expected[str(element.attributes["Tag"])]) < 1e-3
