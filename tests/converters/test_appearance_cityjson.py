"""CityJSON appearances: themes, texture coordinates per ring, materials, broken input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from citymodel.converters.cityjson import CityJSONReader
from citymodel.model import Feature
from citymodel.report import JobReport

_DOC: dict[str, Any] = {
    "type": "CityJSON",
    "version": "2.0",
    "transform": {"scale": [1.0, 1.0, 1.0], "translate": [0.0, 0.0, 0.0]},
    "metadata": {"referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/7415"},
    "CityObjects": {
        "b1": {
            "type": "Building",
            "geometry": [
                {
                    "type": "MultiSurface",
                    "lod": "2",
                    # a wall (x/z plane) with a closing vertex written out, and a roof
                    "boundaries": [[[0, 1, 2, 3, 0]], [[3, 2, 4, 5]]],
                    "texture": {
                        "photo": {"values": [[[0, 3, 2, 1, 0, 3]], [[None]]]},
                        "winter": {"values": [[[1, 0, 1, 2, 3, 0]], [[None]]]},
                    },
                    "material": {"photo": {"values": [None, 0]}},
                }
            ],
        }
    },
    "vertices": [[0, 0, 0], [10, 0, 0], [10, 0, 10], [0, 0, 10], [10, 10, 10], [0, 10, 10]],
    "appearance": {
        "materials": [{"name": "roofred", "diffuseColor": [0.8, 0.1, 0.1], "transparency": 0.0}],
        "textures": [
            {"type": "PNG", "image": "img/summer.png", "wrapMode": "clamp"},
            {"type": "JPG", "image": "img/winter.jpg"},
        ],
        "vertices-texture": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
        "default-theme-texture": "photo",
    },
}


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "model.city.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _read(path: Path, **options: str) -> tuple[Feature, JobReport]:
    report = JobReport()
    features = list(CityJSONReader(path, **options).features(report=report))  # type: ignore[arg-type]
    assert len(features) == 1
    return features[0], report


def test_texture_coordinates_follow_the_ring_vertices(tmp_path: Path) -> None:
    feature, report = _read(_write(tmp_path, _DOC))
    assert not report.skipped
    g = feature.geometries[0]
    a = g.appearance
    assert a is not None and a.theme == "photo"
    assert [t.image for t in a.textures] == [str(tmp_path / "img" / "summer.png")]
    assert a.textures[0].wrap == "clamp" and a.textures[0].mime_type == "image/png"
    assert a.polygon_texture.tolist() == [0, -1]
    assert a.polygon_material.tolist() == [-1, 0]
    assert a.materials[0].diffuse == (0.8, 0.1, 0.1)
    wall = slice(int(g.ring_offsets[0]), int(g.ring_offsets[1]))
    assert g.vertices[wall].shape == (4, 3)  # the closing vertex is dropped ...
    # ... and so is its texture coordinate: vertex k gets uv index [3, 2, 1, 0][k]
    expected = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(a.uv[wall], expected)
    assert np.isnan(a.uv[int(g.ring_offsets[1]) :]).all()


def test_theme_option_selects_another_theme(tmp_path: Path) -> None:
    feature, _ = _read(_write(tmp_path, _DOC), theme="winter")
    a = feature.geometries[0].appearance
    assert a is not None
    assert [Path(t.image).name for t in a.textures] == ["winter.jpg"]
    assert a.polygon_material.tolist() == [-1, -1]  # no "winter" materials


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["texture"]["photo"]["values"][0][0].__setitem__(0, 7),
            "texture 7 out of range",
        ),
        (lambda d: d["texture"]["photo"]["values"][0][0].__setitem__(1, 2.5), "must be integers"),
        (lambda d: d["texture"]["photo"]["values"][0][0].append(1), "texture coordinates for 5"),
        (lambda d: d["material"]["photo"].__setitem__("values", [0, 3]), "material 3 out of range"),
        (lambda d: d["texture"]["photo"]["values"][0][0].__setitem__(2, 99), "index out of range"),
    ],
)
def test_broken_appearance_is_reported_and_geometry_kept(
    tmp_path: Path, change: Any, message: str
) -> None:
    doc = copy.deepcopy(_DOC)
    change(doc["CityObjects"]["b1"]["geometry"][0])
    feature, report = _read(_write(tmp_path, doc))
    assert feature.geometries and feature.geometries[0].polygon_count == 2
    assert feature.geometries[0].appearance is None
    [skip] = report.skipped
    assert skip.id == "b1" and message in skip.reason and "untextured" in skip.reason


@pytest.mark.parametrize(("transparency", "warned"), [(1.0, True), (0.999, False)])
def test_a_fully_transparent_material_is_reported(
    tmp_path: Path, transparency: float, warned: bool
) -> None:
    doc = copy.deepcopy(_DOC)
    doc["appearance"]["materials"][0]["transparency"] = transparency
    feature, report = _read(_write(tmp_path, doc))
    appearance = feature.geometries[0].appearance
    assert appearance is not None and appearance.materials[0].transparency == transparency
    invisible = [w for w in report.warnings if "transparency 1.0" in w]
    assert len(invisible) == warned
    if warned:
        assert "1 material(s) with transparency 1.0 (index 0)" in invisible[0]


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("cjval_texture1.city.json", "texture 1 out of range"),
        ("cjval_texture2.city.json", "texture coordinates for 3 vertices"),
        ("cjval_texture6.city.json", "must be integers"),
        ("cjval_material2.city.json", "material 3 out of range"),
    ],
)
def test_cjval_broken_files_give_per_object_messages(
    shared_data: Path, name: str, message: str
) -> None:
    report = JobReport()
    path = shared_data / "broken" / "cityjson" / name
    features = list(CityJSONReader(path).features(report=report))
    assert features and all(f.geometries for f in features)
    assert any(message in s.reason and s.id for s in report.skipped), report.skipped


@pytest.mark.realdata
def test_rotterdam_textures_and_conformance_cases(shared_data: Path) -> None:
    path = shared_data / "cityjson" / "rotterdam_textured" / "rotterdam_subset_v2.city.json"
    reader = CityJSONReader(path)
    textured = sum(
        int((g.appearance.polygon_texture >= 0).sum())
        for f in reader.features()
        for part, _ in f.walk()
        for g in part.geometries
        if g.appearance is not None
    )
    assert textured > 200
    assert reader.themes == ["rgbTexture"]
    case = shared_data / "cityjson" / "corpus_conformance" / "appearance_complete.city.json"
    reader = CityJSONReader(case)
    looks = [g.appearance for f in reader.features() for g in f.geometries]
    assert looks[0] is not None and looks[0].theme == "day-textures"
    assert looks[0].materials[0].name == "warm" and looks[0].materials[0].transparency == 0.9


def test_cityjsonseq_features_use_header_tables_and_their_own_coordinates(
    tmp_path: Path,
) -> None:
    header = {k: v for k, v in _DOC.items() if k not in ("CityObjects", "vertices")}
    header["appearance"] = {k: v for k, v in _DOC["appearance"].items() if k != "vertices-texture"}
    header["CityObjects"] = {}
    header["vertices"] = []
    feature = {
        "type": "CityJSONFeature",
        "id": "b1",
        "CityObjects": _DOC["CityObjects"],
        "vertices": _DOC["vertices"],
        "appearance": {"vertices-texture": _DOC["appearance"]["vertices-texture"]},
    }
    path = tmp_path / "model.city.jsonl"
    path.write_text(json.dumps(header) + "\n" + json.dumps(feature) + "\n", encoding="utf-8")
    (read,) = list(CityJSONReader(path).features())
    a = read.geometries[0].appearance
    assert a is not None and a.polygon_texture.tolist() == [0, -1]
    g = read.geometries[0]
    np.testing.assert_array_equal(
        a.uv[int(g.ring_offsets[0]) : int(g.ring_offsets[1])],
        np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]], dtype=np.float32),
    )
