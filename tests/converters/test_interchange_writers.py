"""CityJSON/CityJSONSeq and CityGML 2.0/3.0 writers: round trips on generated cities, bad cases.

Round trips (issue 7) compare the Feature trees read back with the ones read from the source:
ids, types, children, attributes with their types, per-polygon semantic types, rings/holes
and vertices within 1 mm (``tests/converters/feature_compare.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from lxml import etree

import citymodel
from citymodel.cli.main import cli
from citymodel.converters._cityjson_encode import Quantizer, choose_scale
from citymodel.converters.citygml_writer import CityGMLWriter
from citymodel.converters.cityjson_writer import CityJSONWriter
from citymodel.converters.convert import ConvertOptions, convert
from citymodel.crs import parse_srs_name
from citymodel.errors import InputError, OutputError, UnsupportedFormatError
from citymodel.model import Feature, SurfaceGeometry, SurfaceType
from citymodel.report import JobReport
from citymodel.synthetic import SyntheticCityOptions, write_city
from tests.converters.feature_compare import compare_trees

GML2 = "http://www.opengis.net/gml"
GML32 = "http://www.opengis.net/gml/3.2"
UTM32_DHHN2016 = "urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::7837"
ORIGIN = np.array([356000.0, 5645000.0, 0.0])


def _read(path: Path) -> list[Feature]:
    with citymodel.open(path) as reader:
        return list(reader.features())


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated CityGML 2.0 LoD2 city with parts, courtyards (holes) and AdV attributes."""
    path = tmp_path_factory.mktemp("interchange") / "city.gml"
    write_city(path, SyntheticCityOptions(n_buildings=60, seed=7, courtyard_ratio=0.2))
    return path


@pytest.fixture(scope="module")
def city_features(city: Path) -> list[Feature]:
    features = _read(city)
    # the round trips below must cover holes, parts and several surface types
    geoms = [g for f in features for x, _ in f.walk() for g in x.geometries]
    assert any(len(g.ring_offsets) - 1 > g.polygon_count for g in geoms), "no holes"
    assert any(f.children for f in features), "no BuildingParts"
    assert {SurfaceType.ROOF, SurfaceType.WALL, SurfaceType.GROUND} <= {
        SurfaceType(int(c)) for g in geoms for c in np.unique(g.surface_types)
    }
    return features


def _convert(src: Path, out: Path, **options: object) -> JobReport:
    report = JobReport()
    convert([src], out, options=ConvertOptions(**options), report=report)  # type: ignore[arg-type]
    return report


# -- transform scale --------------------------------------------------------------------------


def test_scale_keeps_the_source_decimals() -> None:
    mm = np.array([[356123.456, 5645000.001, 50.5], [356124.0, 5645001.25, 51.125]])
    assert choose_scale(mm) == (1e-3, True)
    assert choose_scale(mm + 0.0001) == (1e-4, True)  # 0.1 mm digits are kept
    noisy = mm + np.array([[1e-7 * np.pi, 0, 0], [0, 0, 0]])
    step, exact = choose_scale(noisy)
    assert not exact and step <= 1e-6  # never coarser than the data needs, 1 mm at most


def test_quantizer_round_trip_error_is_below_half_a_step() -> None:
    rng = np.random.default_rng(1)
    pts = rng.uniform([350000, 5640000, 0], [360000, 5650000, 200], size=(1000, 3))
    q = Quantizer.for_sample(pts, scale=1e-3)
    ints, error = q.quantize(pts)
    back = ints * 1e-3 + np.asarray(q.translate)
    assert error <= 0.5e-3 + 1e-9
    assert np.abs(back - pts).max() == pytest.approx(error)


# -- round trips on a generated city ---------------------------------------------------------


def test_citygml2_to_cityjsonseq_to_citygml2(
    city: Path, city_features: list[Feature], tmp_path: Path
) -> None:
    seq = tmp_path / "city.city.jsonl"
    report = _convert(city, seq)
    assert not report.skipped
    lines = seq.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["type"] == "CityJSON" and header["version"] == "2.0"
    assert header["CityObjects"] == {} and header["vertices"] == []
    assert header["transform"]["scale"] == [0.001] * 3
    assert header["metadata"]["referenceSystem"] == (
        "https://www.opengis.net/def/crs-compound?1=https://www.opengis.net/def/crs/EPSG/0/"
        "25832&2=https://www.opengis.net/def/crs/EPSG/0/7837"
    )
    features = [json.loads(line) for line in lines[1:]]
    assert [f["type"] for f in features] == ["CityJSONFeature"] * len(city_features)
    assert [f["id"] for f in features] == [f.id for f in city_features]
    # the project's own CityJSONSeq reader gives back the same trees (exact: mm data, mm scale)
    assert compare_trees(city_features, _read(seq), tolerance=1e-9, dates_as_text=True) == []

    back = tmp_path / "back.gml"
    report = _convert(seq, back)
    assert not report.skipped
    assert report.written == report.read
    # CityJSON has no date type: a generic dateAttribute comes back as its ISO text
    assert compare_trees(city_features, _read(back), tolerance=1e-9, dates_as_text=True) == []


def test_cityjson_document_round_trip(
    city: Path, city_features: list[Feature], tmp_path: Path
) -> None:
    doc = tmp_path / "city.city.json"
    _convert(city, doc)
    data = json.loads(doc.read_text(encoding="utf-8"))
    assert data["type"] == "CityJSON"
    n_vertices = len(data["vertices"])
    for obj in data["CityObjects"].values():
        for geom in obj.get("geometry", ()):
            flat = np.array(
                [i for shell in geom["boundaries"] for surf in shell for ring in surf for i in ring]
                if geom["type"] == "Solid"
                else [i for surf in geom["boundaries"] for ring in surf for i in ring]
            )
            assert flat.min() >= 0 and flat.max() < n_vertices
    extent = data["metadata"]["geographicalExtent"]
    verts = np.concatenate(
        [g.vertices for f in city_features for x, _ in f.walk() for g in x.geometries]
    )
    np.testing.assert_allclose(extent, [*verts.min(axis=0), *verts.max(axis=0)], atol=1e-9)
    parts = [o for o in data["CityObjects"].values() if o["type"] == "BuildingPart"]
    assert parts and all(len(o["parents"]) == 1 for o in parts)
    assert compare_trees(city_features, _read(doc), tolerance=1e-9, dates_as_text=True) == []


def test_citygml3_output_is_well_formed_with_ids_and_envelope(city: Path, tmp_path: Path) -> None:
    out = tmp_path / "city3.gml"
    _convert(city, out, citygml_version="3.0")
    tree = etree.parse(str(out))
    root = tree.getroot()
    assert root.tag == "{http://www.opengis.net/citygml/3.0}CityModel"
    envelope = root.find(f"{{{GML32}}}boundedBy/{{{GML32}}}Envelope")
    assert envelope is not None and envelope.get("srsName") == UTM32_DHHN2016
    assert envelope.get("srsDimension") == "3"
    polygons = list(root.iter(f"{{{GML32}}}Polygon"))
    assert polygons and all(p.get(f"{{{GML32}}}id") for p in polygons)
    buildings = list(root.iter("{http://www.opengis.net/citygml/building/3.0}Building"))
    assert buildings and all(b.get(f"{{{GML32}}}id") for b in buildings)
    ids = [el.get(f"{{{GML32}}}id") for el in root.iter() if el.get(f"{{{GML32}}}id")]
    assert len(ids) == len(set(ids))  # gml:id values are unique in the document


def _reads_citygml3(tmp_path: Path) -> bool:
    """Whether ``citymodel.open`` reads CityGML 3.0 (the reader is built separately)."""
    probe = tmp_path / "probe3.gml"
    feature = Feature(id="probe", type="Building")
    with CityGMLWriter(probe, crs=None, report=JobReport(), version="3.0") as writer:
        writer.write(feature)
    try:
        _read(probe)
    except UnsupportedFormatError:
        return False
    return True


def test_citygml2_to_citygml3_round_trip(
    city: Path, city_features: list[Feature], tmp_path: Path
) -> None:
    """Runs as soon as the CityGML 3.0 reader exists; then it must match exactly."""
    if not _reads_citygml3(tmp_path):
        pytest.skip("citymodel.open does not read CityGML 3.0 yet")
    out = tmp_path / "city3.gml"
    _convert(city, out, citygml_version="3.0")
    back = _read(out)
    # CityGML 3.0 has no yearOfConstruction: it is a generic attribute, which the reader
    # names gen_yearOfConstruction (a core attribute name)
    expected = [
        _rename_attributes(f, {"yearOfConstruction": "gen_yearOfConstruction"})
        for f in city_features
    ]
    assert compare_trees(expected, back, tolerance=1e-9) == []


def _rename_attributes(feature: Feature, names: dict[str, str]) -> Feature:
    from dataclasses import replace

    attributes = {names.get(k, k): v for k, v in feature.attributes.items()}
    children = tuple(_rename_attributes(c, names) for c in feature.children)
    return replace(feature, attributes=attributes, children=children)


# -- attributes, addresses, CRS axis order ----------------------------------------------------


def _square(lod: str = "2", *, z: float = 10.0, stype: int = 1) -> SurfaceGeometry:
    ring = np.array([[0, 0, z], [10, 0, z], [10, 10, z], [0, 10, z]], dtype=np.float64)
    hole = np.array([[2, 2, z], [2, 4, z], [4, 4, z], [4, 2, z]], dtype=np.float64)
    return SurfaceGeometry.from_polygons([[ring + ORIGIN, hole + ORIGIN]], [stype], lod=lod)


TYPED = {
    "function": "31001_1000",
    "measuredHeight": 12.5,
    "storeysAboveGround": 3,
    "yearOfConstruction": 1985,
    "creationDate": dt.date(2021, 3, 1),
    "name": "Haus A; Haus B",
    "address_street": "Domkloster",
    "address_number": "4",
    "address_postcode": "50667",
    "address_city": "Köln",
    "address_country": "Deutschland",
    "height_source": "lidar",
    "floors_mean": 2.75,
    "rooms": 14,
    "surveyed": dt.date(2020, 7, 1),
    "gen_function": "generic function",
}


@pytest.mark.parametrize("version", ["2.0", "3.0"])
def test_attribute_types_survive_citygml(tmp_path: Path, version: str) -> None:
    feature = Feature(id="B1", type="Building", attributes=dict(TYPED), geometries=(_square(),))
    out = tmp_path / "a.gml"
    report = JobReport()
    with CityGMLWriter(
        out, crs=parse_srs_name(UTM32_DHHN2016), report=report, version=version
    ) as w:
        w.write(feature)
    if version == "3.0" and not _reads_citygml3(tmp_path):
        pytest.skip("citymodel.open does not read CityGML 3.0 yet")
    (back,) = _read(out)
    if version == "2.0":
        assert dict(back.attributes) == TYPED
    else:  # 3.0 has no yearOfConstruction: it stays a generic attribute of the same name
        expected = _rename_attributes(feature, {"yearOfConstruction": "gen_yearOfConstruction"})
        assert compare_trees([expected], [back]) == []
    assert back.geometries[0].polygon_count == 1
    assert len(back.geometries[0].ring_offsets) == 3  # exterior + hole


def test_attribute_types_survive_cityjson(tmp_path: Path) -> None:
    attributes = {**TYPED, "flag": True, "missing": None, "ratio": 0.5}
    feature = Feature(id="B1", type="Building", attributes=attributes, geometries=(_square(),))
    out = tmp_path / "a.city.json"
    with CityJSONWriter(out, crs=parse_srs_name(UTM32_DHHN2016), report=JobReport()) as w:
        w.write(feature)
    obj = json.loads(out.read_text(encoding="utf-8"))["CityObjects"]["B1"]
    assert obj["attributes"]["flag"] is True and obj["attributes"]["missing"] is None
    assert obj["attributes"]["rooms"] == 14 and obj["attributes"]["ratio"] == 0.5
    assert obj["address"] == [
        {
            "ThoroughfareName": "Domkloster",
            "ThoroughfareNumber": "4",
            "PostalCodeNumber": "50667",
            "LocalityName": "Köln",
            "CountryName": "Deutschland",
        }
    ]
    (back,) = _read(out)
    assert compare_trees([feature], [back], dates_as_text=True) == []


def test_booleans_and_nulls_in_citygml_are_reported(tmp_path: Path) -> None:
    feature = Feature(
        id="B1", type="Building", attributes={"flag": True, "gone": None}, geometries=(_square(),)
    )
    report = JobReport()
    with CityGMLWriter(tmp_path / "b.gml", crs=None, report=report) as w:
        w.write(feature)
    text = " ".join(report.warnings)
    assert "'flag' is boolean" in text and "'gone' is null" in text
    assert "no srsName" in text
    (back,) = _read(tmp_path / "b.gml")
    assert dict(back.attributes) == {"flag": "true"}


def test_geographic_crs_is_written_latitude_first(tmp_path: Path) -> None:
    ring = np.array([[6.95, 50.94, 60.0], [6.96, 50.94, 60.0], [6.96, 50.95, 60.0]])
    geom = SurfaceGeometry.from_polygons([[ring]], [0], lod="1")
    out = tmp_path / "g.gml"
    crs = parse_srs_name("urn:ogc:def:crs:EPSG::4979")
    with CityGMLWriter(out, crs=crs, report=JobReport()) as w:
        w.write(Feature(id="B", type="Building", geometries=(geom,)))
    pos = etree.parse(str(out)).getroot().find(f".//{{{GML2}}}posList")
    assert pos is not None and pos.text is not None
    assert [float(v) for v in pos.text.split()[:2]] == [50.94, 6.95]  # AX-3: lat/lon order
    (back,) = _read(out)
    np.testing.assert_array_equal(back.geometries[0].vertices, ring)


# -- bad cases ------------------------------------------------------------------------------


def test_types_a_format_cannot_hold_are_reported(tmp_path: Path) -> None:
    relief = Feature(
        id="R1",
        type="ReliefFeature",
        children=(Feature(id="T1", type="TINRelief", geometries=(_square(stype=0),)),),
    )
    odd = Feature(
        id="Q1",
        type="Quay",
        children=(Feature(id="Q1a", type="BuildingPart", geometries=(_square(),)),),
    )
    building = Feature(id="B1", type="Building", geometries=(_square(),))
    report = JobReport()
    with CityJSONWriter(tmp_path / "x.city.jsonl", crs=None, report=report) as w:
        w.write(relief)
        w.write(odd)
        w.write(building)
    assert [(s.id, s.reason) for s in report.skipped] == [
        ("Q1", "Quay has no CityJSON type; not written (with its 1 child object(s))")
    ]
    # a ReliefFeature has no CityJSON type, its TINRelief has: written top-level, and noted
    assert any("1 ReliefFeature object(s)" in m for m in report.warnings)
    assert [(f.id, f.type) for f in _read(tmp_path / "x.city.jsonl")] == [
        ("T1", "TINRelief"),
        ("B1", "Building"),
    ]

    report = JobReport()
    with CityGMLWriter(tmp_path / "x.gml", crs=None, report=report) as w:
        w.write(Feature(id="X1", type="+NoiseBarrier", geometries=(_square(),)))
        w.write(building)
    assert [s.id for s in report.skipped] == ["X1"]
    assert "no mapping" in report.skipped[0].reason


def test_lods_that_collide_in_citygml_are_reported(tmp_path: Path) -> None:
    feature = Feature(id="B1", type="Building", geometries=(_square("1.2"), _square("1.3", z=12)))
    report = JobReport()
    with CityGMLWriter(tmp_path / "l.gml", crs=None, report=report) as w:
        w.write(feature)
    assert len(report.skipped) == 1 and "LoD 1.2 geometry not written" in report.skipped[0].reason
    assert any("LoD 1.3 written as CityGML LoD 1" in m for m in report.warnings)
    (back,) = _read(tmp_path / "l.gml")
    assert [g.lod for g in back.geometries] == ["1"]
    assert back.geometries[0].vertices[0, 2] == 12


def test_nothing_to_write_leaves_no_file(city: Path, tmp_path: Path) -> None:
    out = tmp_path / "none.city.jsonl"
    with pytest.raises(InputError, match="nothing to write"):
        _convert(city, out, types=("Bridge",))
    assert not out.exists() and not list(tmp_path.iterdir())


def test_plain_json_suffix_is_refused(city: Path, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"\.city\.json"):
        _convert(city, tmp_path / "x.json")


def test_inputs_in_different_crs_are_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a.gml", tmp_path / "b.gml"
    write_city(a, SyntheticCityOptions(n_buildings=2))
    write_city(b, SyntheticCityOptions(n_buildings=2, srs_name="urn:ogc:def:crs:EPSG::25833"))
    report = JobReport()
    with pytest.raises(InputError, match="differs"):
        convert([a, b], tmp_path / "ab.city.jsonl", report=report)
    assert not (tmp_path / "ab.city.jsonl").exists()


def test_lod_selection(tmp_path: Path) -> None:
    feature = Feature(id="B1", type="Building", geometries=(_square("1"), _square("2", z=12)))
    src = tmp_path / "two.city.json"
    with CityJSONWriter(src, crs=parse_srs_name(UTM32_DHHN2016), report=JobReport()) as w:
        w.write(feature)
    out = tmp_path / "lod2.gml"
    _convert(src, out, lod="2")
    (back,) = _read(out)
    assert [g.lod for g in back.geometries] == ["2"]


def test_cli_converts_between_formats(city: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    seq = tmp_path / "c.city.jsonl"
    result = runner.invoke(cli, ["convert", str(city), "-o", str(seq)])
    assert result.exit_code == 0, result.output
    gml3 = tmp_path / "c3.gml"
    result = runner.invoke(cli, ["convert", str(seq), "-o", str(gml3), "--citygml-version", "3.0"])
    assert result.exit_code == 0, result.output
    assert etree.parse(str(gml3)).getroot().tag == "{http://www.opengis.net/citygml/3.0}CityModel"
    result = runner.invoke(
        cli, ["convert", str(seq), "-o", str(tmp_path / "x.gml"), "--citygml-version", "1.0"]
    )
    assert result.exit_code == 2


# -- streaming ------------------------------------------------------------------------------


def _generated(n: int) -> Iterator[Feature]:
    """``n`` buildings made on the fly (a box of 6 quads each, 10 m apart)."""
    box = np.array(
        [
            [[0, 0, 0], [0, 8, 0], [8, 8, 0], [8, 0, 0]],
            [[0, 0, 9], [8, 0, 9], [8, 8, 9], [0, 8, 9]],
            [[0, 0, 0], [8, 0, 0], [8, 0, 9], [0, 0, 9]],
            [[8, 0, 0], [8, 8, 0], [8, 8, 9], [8, 0, 9]],
            [[8, 8, 0], [0, 8, 0], [0, 8, 9], [8, 8, 9]],
            [[0, 8, 0], [0, 0, 0], [0, 0, 9], [0, 8, 9]],
        ],
        dtype=np.float64,
    )
    for i in range(n):
        shift = ORIGIN + np.array([10.0 * (i % 100), 10.0 * (i // 100), 0.0])
        geom = SurfaceGeometry.from_polygons(
            [[quad + shift] for quad in box], [3, 1, 2, 2, 2, 2], lod="2", solid=True
        )
        yield Feature(id=f"B{i}", type="Building", attributes={"n": i}, geometries=(geom,))


@pytest.mark.parametrize("name", ["s.city.jsonl", "s.city.json", "s.gml"])
def test_writers_stream_with_bounded_memory(tmp_path: Path, name: str) -> None:
    """Written features are let go: at most the transform sample (512 objects) is alive."""
    path = tmp_path / name
    alive: list[weakref.ref[np.ndarray]] = []
    most = 0
    writer_cls = CityGMLWriter if path.suffix == ".gml" else CityJSONWriter
    with writer_cls(path, crs=parse_srs_name(UTM32_DHHN2016), report=JobReport()) as w:
        for n, feature in enumerate(_generated(1200)):
            alive.append(weakref.ref(feature.geometries[0].vertices))
            w.write(feature)
            del feature
            if n % 100 == 99:
                alive = [ref for ref in alive if ref() is not None]
                most = max(most, len(alive))
    assert most <= (512 if path.suffix != ".gml" else 1)
    back = _read(path)
    assert len(back) == 1200 and back[-1].id == "B1199"


def test_road_traffic_areas_round_trip_through_citygml2(tmp_path: Path) -> None:
    """CityJSON semantics TrafficArea/AuxiliaryTrafficArea <-> CityGML 2.0 TrafficArea objects."""
    geom = SurfaceGeometry.from_polygons(
        [[_square().vertices[:4]], [_square(z=11).vertices[:4]], [_square(z=12).vertices[:4]]],
        [int(SurfaceType.TRAFFIC_AREA), int(SurfaceType.AUXILIARY_TRAFFIC_AREA), 12],
        lod="2",
    )
    road = Feature(id="R1", type="Road", attributes={"function": "1000"}, geometries=(geom,))
    src = tmp_path / "road.city.json"
    with CityJSONWriter(src, crs=parse_srs_name(UTM32_DHHN2016), report=JobReport()) as w:
        w.write(road)
    gml = tmp_path / "road.gml"
    _convert(src, gml)
    root = etree.parse(str(gml)).getroot()
    tran = "{http://www.opengis.net/citygml/transportation/2.0}"
    assert len(list(root.iter(f"{tran}TrafficArea"))) == 2  # one per run of polygons
    assert len(list(root.iter(f"{tran}AuxiliaryTrafficArea"))) == 1
    back = tmp_path / "back.city.json"
    report = _convert(gml, back)
    assert any("TrafficArea semantic surfaces of their parent" in m for m in report.warnings)
    assert compare_trees([road], _read(back)) == []


def test_compound_crs_is_named_by_its_epsg_code(tmp_path: Path) -> None:
    rd_nap = parse_srs_name("urn:ogc:def:crs,crs:EPSG::28992,crs:EPSG::5709")
    feature = Feature(id="B1", type="Building", geometries=(_square(),))
    with CityJSONWriter(tmp_path / "nl.city.jsonl", crs=rd_nap, report=JobReport()) as w:
        w.write(feature)
    header = json.loads((tmp_path / "nl.city.jsonl").read_text(encoding="utf-8").split("\n")[0])
    assert header["metadata"]["referenceSystem"] == "https://www.opengis.net/def/crs/EPSG/0/7415"
    with CityGMLWriter(tmp_path / "nl.gml", crs=rd_nap, report=JobReport()) as w:
        w.write(feature)
    with citymodel.open(tmp_path / "nl.gml") as reader:
        assert reader.srs_name == "urn:ogc:def:crs:EPSG::7415"
        assert reader.metadata().vertical_crs == "EPSG:5709"
