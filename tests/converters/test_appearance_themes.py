"""Several appearance themes per model: readers keep every theme, interchange writers write them
all (CityJSON, CityGML 2.0 and 3.0), meshing renders the chosen one (``--theme``).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from citymodel.converters.citygml import CityGMLReader
from citymodel.converters.cityjson import CityJSONReader
from citymodel.converters.interchange import write_interchange
from citymodel.meshing import mesh_features
from citymodel.model import Feature, SurfaceGeometry
from citymodel.model.appearance import Material
from citymodel.report import JobReport
from tests.conftest import SHARED
from tests.converters.appearance_fixtures import (
    ROOF,
    WALL,
    WALL_UV,
    pos_list,
    quadrant_png,
    uv_text,
)
from tests.converters.test_appearance_citygml import _BUILDING, _HEAD, _appearance
from tests.converters.test_interchange_appearance import _assert_same_look

THEMES = {"photo": ("tex/photo.png", "0.2 0.4 0.6"), "winter": ("tex/snow.png", "0.9 0.9 1.0")}


def _two_themes(tmp_path: Path, placement: str = "end") -> Path:
    """One building, a textured wall and a roof material in each of two themes."""
    (tmp_path / "tex").mkdir(exist_ok=True)
    quadrant_png(tmp_path / "tex" / "photo.png")
    shutil.copy(tmp_path / "tex" / "photo.png", tmp_path / "tex" / "snow.png")
    uv = uv_text(WALL_UV)
    looks = [_appearance(theme, image, uv, color) for theme, (image, color) in THEMES.items()]
    local = "".join(f"<app:appearance>{a}</app:appearance>" for a in looks)
    members = "".join(f"<app:appearanceMember>{a}</app:appearanceMember>" for a in looks)
    building = _BUILDING.format(
        local=local if placement == "local" else "", wall=pos_list(WALL), roof=pos_list(ROOF)
    )
    path = tmp_path / "themes.gml"
    body = building + (members if placement == "end" else "")
    path.write_text(_HEAD + body + "</core:CityModel>\n", encoding="utf-8")
    return path


def _read(path: Path, **options: object) -> list[Feature]:
    reader = (CityJSONReader if path.name.endswith(".city.json") else CityGMLReader)(
        path,
        **options,  # type: ignore[arg-type]
    )
    with reader:
        return list(reader.features(report=JobReport()))


def _geometry(features: list[Feature]) -> SurfaceGeometry:
    (feature,) = features
    (geometry,) = feature.geometries
    return geometry


@pytest.mark.parametrize("placement", ["end", "local"])
def test_citygml_reader_keeps_every_theme_and_renders_one(tmp_path: Path, placement: str) -> None:
    path = _two_themes(tmp_path, placement)
    g = _geometry(_read(path))
    assert g.appearance is not None and g.appearance.theme == "photo"
    assert [a.theme for a in g.appearances] == ["photo", "winter"]
    by_theme = {a.theme: a for a in g.appearances}
    assert by_theme["photo"] is g.appearance
    assert [Path(t.image).name for t in by_theme["winter"].textures] == ["snow.png"]
    assert [m.diffuse for m in by_theme["winter"].materials] == [(0.9, 0.9, 1.0)]
    chosen = _geometry(_read(path, theme="winter"))
    assert chosen.appearance is not None and chosen.appearance.theme == "winter"
    assert [a.theme for a in chosen.appearances] == ["photo", "winter"]
    one = _geometry(_read(path, theme="winter", all_themes=False))
    assert one.themes == () and [a.theme for a in one.appearances] == ["winter"]


def test_meshing_renders_the_chosen_theme_only(tmp_path: Path) -> None:
    path = _two_themes(tmp_path)
    for theme, (image, color) in THEMES.items():
        mesh = mesh_features(_read(path, theme=theme)).mesh
        assert mesh.appearance is not None
        assert [Path(t.image).name for t in mesh.appearance.textures] == [Path(image).name]
        diffuse = tuple(float(c) for c in color.split())
        assert [m.diffuse for m in mesh.appearance.materials] == [diffuse]


def test_two_themes_round_trip_citygml2_cityjson_citygml2(tmp_path: Path) -> None:
    source = _read(_two_themes(tmp_path))
    cj = tmp_path / "out" / "themes.city.json"
    cj.parent.mkdir()
    report = JobReport()
    write_interchange([tmp_path / "themes.gml"], cj, report=report)
    assert not report.skipped
    doc = json.loads(cj.read_text(encoding="utf-8"))
    (obj,) = doc["CityObjects"].values()
    (geometry,) = obj["geometry"]
    assert list(geometry["texture"]) == ["photo", "winter"]
    assert list(geometry["material"]) == ["photo", "winter"]
    assert doc["appearance"]["default-theme-texture"] == "photo"
    assert doc["appearance"]["default-theme-material"] == "photo"
    assert len(doc["appearance"]["textures"]) == 2 and len(doc["appearance"]["materials"]) == 2
    assert _assert_same_look(source, _read(cj), names=False) == 2
    gml = tmp_path / "out" / "back.gml"
    write_interchange([cj], gml, report=JobReport())
    assert gml.read_bytes().count(b"<app:theme>") == 2
    assert _assert_same_look(source, _read(gml), names=False) == 2


def test_two_themes_round_trip_cityjson_citygml3_cityjson(tmp_path: Path) -> None:
    cj = tmp_path / "themes.city.json"
    write_interchange([_two_themes(tmp_path)], cj, report=JobReport())
    source = _read(cj)
    gml = tmp_path / "themes3.gml"
    report = JobReport()
    write_interchange([cj], gml, report=report, citygml_version="3.0")
    assert not report.skipped and not any("not written" in w for w in report.warnings)
    text = gml.read_text(encoding="utf-8")
    assert text.count("<core:appearance>") == 2 and text.count("<app:TextureAssociation>") == 2
    back = tmp_path / "back.city.json"
    write_interchange([gml], back, report=JobReport())
    assert _assert_same_look(source, _read(back), names=False) == 2
    # the theme chosen for rendering comes back as the CityJSON default theme, and first in
    # CityGML (whose readers render the first theme they meet)
    chosen = tmp_path / "winter.city.json"
    write_interchange([gml], chosen, report=JobReport(), extra_reader_options=[("theme", "winter")])
    look = json.loads(chosen.read_text(encoding="utf-8"))["appearance"]
    assert (look["default-theme-texture"], look["default-theme-material"]) == ("winter", "winter")
    winter = tmp_path / "winter.gml"
    write_interchange([chosen], winter, report=JobReport(), citygml_version="3.0")
    g = _geometry(_read(winter))
    assert g.appearance is not None and g.appearance.theme == "winter"
    assert [a.theme for a in g.appearances] == ["winter", "photo"]


@pytest.mark.realdata
def test_cityjson_with_texture_and_material_themes_keeps_them_all(
    shared_data: Path, tmp_path: Path
) -> None:
    """appearance_complete: texture themes day/night, material themes warm/cool."""
    src = SHARED / "data" / "cityjson" / "corpus_conformance" / "appearance_complete.city.json"
    source = _read(src)
    themes = {a.theme for f in source for g in f.geometries for a in g.appearances}
    assert themes == {"day-textures", "night-textures", "warm", "cool"}
    # the rendered look combines the default texture theme with the default material theme
    rendered = [g.appearance for f in source for g in f.geometries if g.appearance is not None]
    assert rendered and all(a.theme == "day-textures" for a in rendered)
    assert any(a.materials for a in rendered)
    out = tmp_path / "out.city.json"
    write_interchange([src], out, report=JobReport())
    look = json.loads(out.read_text(encoding="utf-8"))["appearance"]
    assert (look["default-theme-texture"], look["default-theme-material"]) == (
        "day-textures",
        "warm",
    )
    assert _assert_same_look(source, _read(out)) > 0


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "version"), [("geores.gml", "2.0"), ("geores.gml", "3.0"), ("geores.city.json", "")]
)
def test_geores_textures_survive_interchange_output(
    shared_data: Path, tmp_path: Path, name: str, version: str
) -> None:
    """Real textured CityGML (geoRES, 44 textures) -> CityGML 2.0/3.0, CityJSON -> reader."""
    src = SHARED / "data" / "citygml" / "geores_textured" / "geoRES_testdata.xml"
    source = _read_all(src)
    out = tmp_path / name
    report = JobReport()
    write_interchange([src], out, report=report, citygml_version=version or "2.0")
    assert (b"ParameterizedTexture" in out.read_bytes()) == bool(version)
    assert not any("appearance" in w and "not written" in w for w in report.warnings)
    looks = _looks(source)
    assert sum(n for (_, _, _, images, _, _), n in looks.items() for i in images if i) > 500
    assert _looks(_read_all(out)) == looks


def _read_all(path: Path) -> list[Feature]:
    reader = (CityJSONReader if path.name.endswith(".city.json") else CityGMLReader)(path)
    with reader:
        return list(reader.features(report=JobReport()))


def _unnamed(material: Material) -> Material:
    """CityGML keeps no material names, CityJSON needs one (``material-<n>`` when none)."""
    return replace(material, name=None)


_TRANSPORTATION = frozenset(
    {"Road", "Railway", "Track", "Square", "TrafficArea", "AuxiliaryTrafficArea"}
)


def _looks(features: list[Feature]) -> Counter[tuple[object, ...]]:
    """Per geometry and theme: sizes, images and materials per polygon, texture coordinates.

    A multiset, so that it does not depend on generated ids (geoRES objects have none).
    Transportation objects are left out: the writer gives their traffic areas' polygons to
    the road (:func:`test_textured_traffic_areas_keep_their_look_as_road_surfaces`).
    """
    out: Counter[tuple[object, ...]] = Counter()
    for top in features:
        for feature, _ in top.walk():
            if feature.type in _TRANSPORTATION:
                continue
            for g in feature.geometries:
                for a in g.appearances:
                    textured = np.isfinite(a.uv).all(axis=1)
                    out[
                        (
                            a.theme,
                            g.vertex_count,
                            g.polygon_count,
                            tuple(
                                a.textures[t].image if t >= 0 else None for t in a.polygon_texture
                            ),
                            tuple(
                                _unnamed(a.materials[m]) if m >= 0 else None
                                for m in a.polygon_material
                            ),
                            round(float(a.uv[textured].astype(np.float64).sum()), 4),
                        )
                    ] += 1
    return out
