"""CityJSON / CityJSONSeq reader on small generated documents (no shared data needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import citymodel
from citymodel.converters.cityjson import CITYJSON_FORMAT, CityJSONReader, sniff
from citymodel.errors import ParseError, UnsupportedFormatError
from citymodel.formats import format_for, supported_types
from citymodel.model import Feature, SurfaceType
from citymodel.report import JobReport

SCALE = [0.001, 0.001, 0.01]
TRANSLATE = [85000.0, 446000.0, -2.0]

# a unit cube (integers of the transform: 1000 = 1 m in x/y, 100 = 1 m in z)
CUBE_VERTICES = [
    [0, 0, 0],
    [1000, 0, 0],
    [1000, 1000, 0],
    [0, 1000, 0],
    [0, 0, 100],
    [1000, 0, 100],
    [1000, 1000, 100],
    [0, 1000, 100],
]
CUBE_SHELL = [
    [[0, 3, 2, 1]],  # ground
    [[4, 5, 6, 7]],  # roof
    [[0, 1, 5, 4]],
    [[1, 2, 6, 5]],
    [[2, 3, 7, 6]],
    [[3, 0, 4, 7]],
]


def _doc(objects: dict[str, Any], vertices: list[list[int]], **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": "CityJSON",
        "version": "2.0",
        "transform": {"scale": SCALE, "translate": TRANSLATE},
        "metadata": {"referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/7415"},
        "CityObjects": objects,
        "vertices": vertices,
    }
    doc.update(extra)
    return doc


def _write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _solid(lod: str = "2.2", semantics: bool = True) -> dict[str, Any]:
    geom: dict[str, Any] = {"type": "Solid", "lod": lod, "boundaries": [CUBE_SHELL]}
    if semantics:
        geom["semantics"] = {
            "surfaces": [
                {"type": "GroundSurface"},
                {"type": "RoofSurface"},
                {"type": "WallSurface"},
            ],
            "values": [[0, 1, 2, 2, 2, None]],
        }
    return geom


def _decoded(raw: list[list[int]]) -> np.ndarray:
    return np.asarray(raw, dtype=np.float64) * SCALE + TRANSLATE


def _read(path: Path, **kwargs: Any) -> tuple[list[Feature], JobReport]:
    report = JobReport()
    with CityJSONReader(path, **kwargs) as reader:
        return list(reader.features(report=report)), report


def test_transform_semantics_and_solid(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "a.city.json",
        _doc({"b1": {"type": "Building", "geometry": [_solid()]}}, CUBE_VERTICES),
    )
    (feature,), report = _read(path)
    assert not report.skipped
    geom = feature.geometry("2.2")
    assert geom is not None and geom.lod == "2.2" and geom.solid
    assert geom.polygon_count == 6
    expected = _decoded(CUBE_VERTICES)[np.array(CUBE_SHELL).reshape(-1)]
    np.testing.assert_allclose(geom.vertices, expected, rtol=0, atol=1e-9)
    assert geom.surface_types.tolist() == [
        SurfaceType.GROUND,
        SurfaceType.ROOF,
        SurfaceType.WALL,
        SurfaceType.WALL,
        SurfaceType.WALL,
        SurfaceType.UNKNOWN,
    ]


def test_holes_and_closing_vertex(tmp_path: Path) -> None:
    vertices = [
        [0, 0, 0],
        [4000, 0, 0],
        [4000, 4000, 0],
        [0, 4000, 0],
        [1000, 1000, 0],
        [1000, 2000, 0],
        [2000, 2000, 0],
    ]
    surface = [[0, 1, 2, 3, 0], [4, 5, 6]]  # exterior repeats its first vertex, one hole
    geom = {"type": "MultiSurface", "lod": 1, "boundaries": [surface]}
    path = _write(
        tmp_path / "h.city.json",
        _doc({"g": {"type": "GenericCityObject", "geometry": [geom]}}, vertices),
    )
    (feature,), _ = _read(path)
    g = feature.geometries[0]
    assert g.lod == "1"  # CityJSON 1.0 writes numeric LoDs
    assert g.ring_offsets.tolist() == [0, 4, 7]
    assert g.polygon_offsets.tolist() == [0, 2]
    assert not g.solid


def test_parents_children_and_groups(tmp_path: Path) -> None:
    objects = {
        "b": {"type": "Building", "children": ["p1", "p2"], "attributes": {"h": 3.5}},
        "p1": {"type": "BuildingPart", "parents": ["b"], "geometry": [_solid()]},
        "p2": {"type": "BuildingPart", "parents": ["b"], "children": ["i1", "missing-child"]},
        "i1": {"type": "BuildingInstallation", "parents": ["p2", "missing-parent"]},
        "grp": {"type": "CityObjectGroup", "children": ["road"]},
        "road": {"type": "Road", "parents": ["grp"], "geometry": [_solid("1", semantics=False)]},
        "loop1": {"type": "GenericCityObject", "parents": ["loop2"]},
        "loop2": {"type": "GenericCityObject", "parents": ["loop1"]},
    }
    path = _write(tmp_path / "h.city.json", _doc(objects, CUBE_VERTICES))
    features, report = _read(path)
    by_id = {f.id: f for f in features}
    assert set(by_id) == {"b", "grp", "road"}  # group membership does not nest
    assert [c.id for c in by_id["b"].children] == ["p1", "p2"]
    assert [c.id for c in by_id["b"].children[1].children] == ["i1"]
    assert by_id["b"].attributes == {"h": 3.5}
    reasons = {(s.id, s.reason.split(" ")[0]) for s in report.skipped}
    assert ("p2", "child") in reasons and ("i1", "parent") in reasons
    assert {s.id for s in report.skipped if "cycle" in s.reason} == {"loop1", "loop2"}
    # every object is either yielded or reported
    yielded = {f.id for top in features for f, _ in top.walk()}
    assert yielded | {"loop1", "loop2"} == set(objects)
    with CityJSONReader(path) as reader:
        assert [f.id for f in reader.features(types={"Road"})] == ["road"]
        meta = reader.metadata()
    assert meta.format == "CityJSON" and meta.version == "2.0"
    assert meta.counts["BuildingPart"] == 2 and sum(meta.counts.values()) == len(objects)
    assert meta.lods == {"1": 1, "2.2": 1}
    assert meta.horizontal_crs == "EPSG:28992" and meta.vertical_crs == "EPSG:5709"


def test_geometry_template_is_expanded(tmp_path: Path) -> None:
    templates = {
        "templates": [
            {
                "type": "MultiSurface",
                "lod": "2",
                "boundaries": [[[0, 1, 2]]],
                "semantics": {"surfaces": [{"type": "RoofSurface"}], "values": [0]},
            }
        ],
        "vertices-templates": [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]],
    }
    matrix = [2.0, 0, 0, 1.0, 0, 2.0, 0, 0, 0, 0, 3.0, 0, 0, 0, 0, 1.0]
    geom = {
        "type": "GeometryInstance",
        "template": 0,
        "boundaries": [1],
        "transformationMatrix": matrix,
    }
    bad = {
        "type": "GeometryInstance",
        "template": 5,
        "boundaries": [0],
        "transformationMatrix": matrix,
    }
    path = _write(
        tmp_path / "t.city.json",
        _doc(
            {"tree": {"type": "SolitaryVegetationObject", "geometry": [geom, bad]}},
            [[0, 0, 0], [1000, 2000, 300]],
            **{"geometry-templates": templates},
        ),
    )
    (feature,), report = _read(path)
    g = feature.geometries[0]
    reference = _decoded([[1000, 2000, 300]])[0]
    tv = np.array(templates["vertices-templates"])
    expected = tv * [2.0, 2.0, 3.0] + [1.0, 0.0, 0.0] + reference
    np.testing.assert_allclose(g.vertices, expected, atol=1e-9)
    assert g.lod == "2" and g.surface_types.tolist() == [SurfaceType.ROOF]
    assert [s.reason for s in report.skipped] == [
        "geometry 1 skipped: GeometryInstance template 5 does not exist (1 templates)"
    ]


def test_object_level_problems_are_skipped(tmp_path: Path) -> None:
    objects = {
        "ok": {"type": "Building", "geometry": [_solid()]},
        "oob": {
            "type": "Building",
            "geometry": [{"type": "MultiSurface", "lod": "1", "boundaries": [[[0, 1, 99]]]}],
        },
        "notype": {"type": "Building", "geometry": [{"lod": "1", "boundaries": [[[0, 1, 2]]]}]},
        "empty": {
            "type": "Building",
            "geometry": [{"type": "MultiSurface", "lod": "1", "boundaries": []}],
        },
        "points": {
            "type": "GenericCityObject",
            "geometry": [{"type": "MultiPoint", "lod": "1", "boundaries": [0, 1]}],
        },
        "untyped": {"geometry": []},
    }
    path = _write(tmp_path / "p.city.json", _doc(objects, CUBE_VERTICES))
    features, report = _read(path)
    assert [f.id for f in features] == ["ok", "oob", "notype", "empty", "points"]
    reasons = {s.id: s.reason for s in report.skipped}
    assert "out of range" in reasons["oob"] and "99" in reasons["oob"]
    assert 'without "type"' in reasons["notype"]
    assert "no surfaces" in reasons["empty"]
    assert "MultiPoint" in reasons["points"] and "skipped for meshing" in reasons["points"]
    assert 'without "type"' in reasons["untyped"]


def test_attributes_are_flattened(tmp_path: Path) -> None:
    obj = {
        "type": "Building",
        "attributes": {
            "a": 1,
            "nested": {"x": "y", "deep": {"z": True}},
            "list": [1, 2],
            "none": None,
            "big": 2**70,
        },
        "address": [
            {
                "ThoroughfareName": "Dorpsstraat",
                "ThoroughfareNumber": "5",
                "location": {"type": "MultiPoint"},
            }
        ],
    }
    path = _write(tmp_path / "a.city.json", _doc({"b": obj}, []))
    (feature,), _ = _read(path)
    attrs = dict(feature.attributes)
    assert attrs.pop("address.location.type") == "MultiPoint"
    assert attrs == {
        "a": 1,
        "nested.x": "y",
        "nested.deep.z": True,
        "list": "[1,2]",
        "none": None,
        "big": str(2**70),
        "address_street": "Dorpsstraat",
        "address_number": "5",
    }


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("", "empty file"),
        ('{"type": "CityJSON", "CityObjects": {}', "invalid JSON"),
        ('{"type": "CityJSON", "CityObjects": {}}\n{"type": "CityJSONFeature"}', "CityJSONSeq"),
        ('{"type": "Feature", "CityObjects": {}}', "\"type\" is 'Feature'"),
        ('{"CityObjects": {}, "vertices": []}', '"type" is missing'),
        ('{"type": "CityJSON", "vertices": []}', '"CityObjects" missing'),
        ('{"type": "CityJSON", "CityObjects": {}, "vertices": [[1, 2]]}', "[x, y, z]"),
        (
            '{"type": "CityJSON", "version": "0.8", "CityObjects": {}, "vertices": []}',
            "0.8 is not supported",
        ),
        (
            '{"type": "CityJSON", "CityObjects": {}, "vertices": [], "transform": {"scale": [1, 1, 1], "translate": [1e999, 0, 0]}}',
            "float64",
        ),
    ],
)
def test_file_level_problems_raise(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.city.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises((ParseError, UnsupportedFormatError)) as info:
        list(CityJSONReader(path).features())
    assert needle in str(info.value) and str(path) in str(info.value)


def test_invalid_json_error_has_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.city.json"
    path.write_text(
        '{\n "type": "CityJSON",\n "CityObjects": {\n  "a": {"type" "Building"}\n }\n}\n'
    )
    with pytest.raises(ParseError) as info:
        list(CityJSONReader(path).features())
    assert info.value.line == 4 and "column" in str(info.value)


def _seq(tmp_path: Path, lines: list[Any], name: str = "s.city.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def _header() -> dict[str, Any]:
    doc = _doc({}, [])
    return doc


def _feature_line(fid: str, vertices: list[list[int]] = CUBE_VERTICES) -> dict[str, Any]:
    return {
        "type": "CityJSONFeature",
        "id": fid,
        "CityObjects": {
            fid: {"type": "Building", "children": [f"{fid}-0"]},
            f"{fid}-0": {"type": "BuildingPart", "parents": [fid], "geometry": [_solid()]},
        },
        "vertices": vertices,
    }


def test_cityjsonseq_streams_lines(tmp_path: Path) -> None:
    shifted = [[x + 5000, y, z] for x, y, z in CUBE_VERTICES]
    path = _seq(
        tmp_path,
        [
            _header(),
            _feature_line("a"),
            "{broken",
            _feature_line("b", shifted),
            _feature_line("c", [[0, 0]]),
        ],
    )
    features, report = _read(path)
    assert [f.id for f in features] == ["a", "b"]
    part = features[1].children[0]
    assert part.source is not None and part.source.line == 4
    geom = part.geometries[0]
    np.testing.assert_allclose(geom.vertices[0], _decoded(shifted)[0], atol=1e-9)
    assert {(s.line, s.reason.split(":")[0]) for s in report.skipped} == {
        (3, "line skipped"),
        (5, "feature skipped (2 objects)"),
    }
    with CityJSONReader(path) as reader:
        assert reader.srs_name == "https://www.opengis.net/def/crs/EPSG/0/7415"
        meta = reader.metadata()
    assert meta.format == "CityJSONSeq" and meta.counts == {"Building": 2, "BuildingPart": 2}
    assert meta.extent is not None and meta.extent[0] == pytest.approx(85000.0)
    assert meta.extent[3] == pytest.approx(85006.0)


def test_headerless_and_pretty_printed_seq(tmp_path: Path) -> None:
    line = _feature_line("a")
    path = _seq(tmp_path, [line])
    features, report = _read(path)
    assert [f.id for f in features] == ["a"]
    assert any("no CityJSON header line" in w and "--in-crs" in w for w in report.warnings)
    assert any("integers" in w for w in report.warnings)  # raw integers: a transform is missing
    # the header may come from a separate document
    header = _write(tmp_path / "meta.city.json", _header())
    features, report = _read(path, header=header)
    np.testing.assert_allclose(
        features[0].children[0].geometries[0].vertices[0], _decoded(CUBE_VERTICES)[0], atol=1e-9
    )
    assert not report.warnings
    pretty = tmp_path / "pretty.city.jsonl"
    pretty.write_text(json.dumps(_header(), indent=2) + "\n" + json.dumps(line, indent=2) + "\n")
    features, report = _read(pretty)
    assert [f.id for f in features] == ["a"]
    assert features[0].source is not None and features[0].source.line is not None
    assert any("not line-delimited" in w for w in report.warnings)


def test_seq_bad_header_line(tmp_path: Path) -> None:
    path = _seq(tmp_path, ['{"type": "CityJSON", "transform": {', _feature_line("a")])
    with pytest.raises(ParseError) as info:
        list(CityJSONReader(path).features())
    assert info.value.line == 1
    path = _seq(tmp_path, [{"type": "Something"}], name="x.city.jsonl")
    with pytest.raises(ParseError, match="first line must be"):
        list(CityJSONReader(path).features())


def test_sniff_and_registry(tmp_path: Path) -> None:
    doc = _write(tmp_path / "plain.json", _doc({}, []))
    seq = _seq(tmp_path, [_header()], name="plain.jsonl")
    other = tmp_path / "other.json"
    other.write_text('{"type": "FeatureCollection", "features": []}')
    assert sniff(doc) and sniff(seq) and not sniff(other)
    assert format_for(doc) is CITYJSON_FORMAT and format_for(seq) is CITYJSON_FORMAT
    with citymodel.open(doc) as reader:
        assert isinstance(reader, CityJSONReader)
    assert {"Building", "Road", "TINRelief", "SolitaryVegetationObject"} <= set(supported_types())


@pytest.mark.parametrize(
    "srs",
    [
        "urn:ogc:def:crs:EPSG::7415",
        "https://www.opengis.net/def/crs/EPSG/0/7415",
        "http://www.opengis.net/def/crs/EPSG/0/7415",
        "EPSG:7415",
    ],
)
def test_reference_system_forms_resolve(tmp_path: Path, srs: str) -> None:
    doc = _doc({}, [])
    doc["metadata"]["referenceSystem"] = srs
    with CityJSONReader(_write(tmp_path / "c.city.json", doc)) as reader:
        meta = reader.metadata()
    assert meta.srs_name == srs
    assert (meta.horizontal_crs, meta.vertical_crs) == ("EPSG:28992", "EPSG:5709")


def test_cli_convert_selects_cityjson_types(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from citymodel.cli.main import cli

    doc = _doc(
        {
            "b": {"type": "Building", "geometry": [_solid()]},
            "r": {"type": "Road", "geometry": [_solid("1", semantics=False)]},
        },
        CUBE_VERTICES,
        transform={"scale": SCALE, "translate": [356500.0, 5645500.0, 50.0]},
    )
    doc["metadata"]["referenceSystem"] = "https://www.opengis.net/def/crs/EPSG/0/25832"
    path = _write(tmp_path / "city.city.json", doc)
    report = tmp_path / "report.json"
    args = ["convert", str(path), "-o", str(tmp_path / "r.glb"), "--types", "Road"]
    result = CliRunner().invoke(cli, [*args, "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text())["counts"]["written"] == {"Road": 1}
    bad = CliRunner().invoke(cli, [*args[:-1], "Road,Spaceship"])
    assert bad.exit_code == 2 and "Spaceship" in bad.output
    info = CliRunner().invoke(cli, ["info", str(path)])
    assert info.exit_code == 0 and "CityJSON 2.0" in info.output and "Road 1" in info.output


@pytest.mark.parametrize(
    ("boundaries", "needle"),
    [
        ([[[]]], "all rings are empty"),
        ([[]], "non-empty list of rings"),
        ([[5]], "a ring must be a list"),
        ([[[0, 1, "x"]]], "must be integers"),
        ([[[0, 1, 2.5]]], "must be integers"),
        ([[[0, 1, -1]]], "out of range"),
        (7, "nested lists"),
    ],
)
def test_malformed_boundaries_are_skipped(tmp_path: Path, boundaries: Any, needle: str) -> None:
    geom = {"type": "MultiSurface", "lod": "2", "boundaries": boundaries}
    path = _write(
        tmp_path / "m.city.json",
        _doc({"o": {"type": "Building", "geometry": [geom]}}, CUBE_VERTICES),
    )
    (feature,), report = _read(path)
    assert feature.geometries == ()
    assert len(report.skipped) == 1 and needle in report.skipped[0].reason, report.skipped


def _big_seq(path: Path, n: int) -> Path:
    with path.open("w") as out:
        out.write(json.dumps(_header()) + "\n")
        for i in range(n):
            out.write(json.dumps(_feature_line(f"b{i}")) + "\n")
    return path


def test_cityjsonseq_memory_is_flat(tmp_path: Path) -> None:
    import tracemalloc

    peaks = []
    for n in (150, 1200):
        path = _big_seq(tmp_path / f"{n}.city.jsonl", n)
        tracemalloc.start()
        with CityJSONReader(path) as reader:
            count = sum(1 for _ in reader.features())
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert count == n
    assert peaks[1] < 1.5 * peaks[0] + 200_000, peaks  # 8x the lines, about the same peak


def test_folder_inputs_pick_up_cityjson_by_name(tmp_path: Path) -> None:
    from citymodel.sources import expand_inputs

    _write(tmp_path / "a.city.json", _doc({}, []))
    _seq(tmp_path, [_header()], name="b.city.jsonl")
    (tmp_path / "tileset.json").write_text("{}")  # other JSON in the folder is left alone
    assert [p.name for p in expand_inputs(tmp_path)] == ["a.city.json", "b.city.jsonl"]


def test_generated_city_as_cityjsonseq_matches_citygml(tmp_path: Path) -> None:
    """The bench's CityGML -> CityJSONSeq copy of the synthetic city reads back the same (1 mm)."""
    import importlib.util

    from citymodel.converters.citygml import CityGMLReader
    from citymodel.synthetic import SyntheticCityOptions, write_city

    bench = Path(__file__).resolve().parents[2] / "bench" / "bench_cityjson.py"
    spec = importlib.util.spec_from_file_location("bench_cityjson", bench)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    gml = tmp_path / "city.gml"
    write_city(gml, SyntheticCityOptions(n_buildings=40, part_ratio=0.3, courtyard_ratio=0.2))
    seq = tmp_path / "city.city.jsonl"
    module.citygml_to_cityjsonseq(gml, seq)
    with CityGMLReader(gml) as reader:
        expected = list(reader.features())
    report = JobReport()
    with CityJSONReader(seq) as reader:
        got = list(reader.features(report=report))
    assert not report.skipped and not report.warnings
    assert len(got) == len(expected) == 40
    holes = 0
    for a, b in zip(got, expected, strict=True):
        for (fa, _), (fb, _) in zip(a.walk(), b.walk(), strict=True):
            assert (fa.id, fa.type) == (fb.id, fb.type)
            for ga, gb in zip(fa.geometries, fb.geometries, strict=True):
                assert ga.lod == gb.lod
                np.testing.assert_allclose(ga.vertices, gb.vertices, rtol=0, atol=0.0005)
                assert np.array_equal(ga.ring_offsets, gb.ring_offsets)
                assert np.array_equal(ga.polygon_offsets, gb.polygon_offsets)
                assert np.array_equal(ga.surface_types, gb.surface_types)
                holes += int((np.diff(ga.polygon_offsets) > 1).sum())
    assert holes > 0  # courtyard roofs and grounds have holes
