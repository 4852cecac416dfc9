"""Appearances through the CityJSON writer (issue 7, scope 5): materials, textures and texture
coordinates read from CityJSON are written back and read again with the same look.

Compared per polygon: the image file (same absolute path after resolution), the material
values, and the texture coordinate of every ring vertex of a textured polygon (within 1e-6).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

import citymodel
from citymodel.converters.citygml_writer import CityGMLWriter
from citymodel.converters.cityjson_writer import CityJSONWriter
from citymodel.converters.interchange import write_interchange
from citymodel.crs import parse_srs_name
from citymodel.model import Feature, SurfaceGeometry
from citymodel.model.appearance import NO_INDEX, Material, SurfaceAppearance, Texture
from citymodel.report import JobReport
from tests.conftest import SHARED

CITYJSON_DIR = SHARED / "data" / "cityjson"
TEXTURED = [
    "corpus_conformance/appearance_complete.city.json",
    "corpus_conformance/geometry_texture_solid.city.json",
    "rotterdam_textured/rotterdam_one_v11.city.json",
    "rotterdam_textured/rotterdam_subset_v2.city.json",
]


def _read(path: Path) -> list[Feature]:
    with citymodel.open(path) as reader:
        return list(reader.features())


def _geometries(features: list[Feature]) -> dict[tuple[str, int], SurfaceGeometry]:
    return {
        (f.id, n): g for top in features for f, _ in top.walk() for n, g in enumerate(f.geometries)
    }


def _named(material: Material, names: bool) -> Material:
    return material if names else replace(material, name=None)


def _assert_same_look(
    source: list[Feature], back: list[Feature], *, names: bool = True, rendered: bool = True
) -> int:
    """Same appearance per polygon in every theme; returns the textured polygons compared.

    ``names``: compare material names too (CityGML keeps none); ``rendered``: compare the
    rendered appearance too (CityGML has no default theme: the first one met is rendered).
    """
    a, b = _geometries(source), _geometries(back)
    assert a.keys() == b.keys()
    textured = 0
    for key, ga in a.items():
        gb = b[key]
        themes_a = {t.theme: t for t in ga.appearances}
        themes_b = {t.theme: t for t in gb.appearances}
        assert themes_a.keys() == themes_b.keys(), key
        for theme, la in themes_a.items():
            _assert_same_theme(ga, la, themes_b[theme], key, names)
            textured += int((la.polygon_texture >= 0).sum())
        if rendered:
            assert (ga.appearance is None) == (gb.appearance is None), key
            if ga.appearance is not None and gb.appearance is not None:
                assert ga.appearance.theme == gb.appearance.theme
                _assert_same_theme(ga, ga.appearance, gb.appearance, key, names)
    return textured


def _assert_same_theme(
    ga: SurfaceGeometry,
    la: SurfaceAppearance,
    lb: SurfaceAppearance,
    key: tuple[str, int],
    names: bool,
) -> None:
    images_a = [la.textures[t].image if t >= 0 else None for t in la.polygon_texture]
    images_b = [lb.textures[t].image if t >= 0 else None for t in lb.polygon_texture]
    assert images_a == images_b, key
    mats_a = [_named(la.materials[m], names) if m >= 0 else None for m in la.polygon_material]
    mats_b = [_named(lb.materials[m], names) if m >= 0 else None for m in lb.polygon_material]
    assert mats_a == mats_b, key
    poly = np.repeat(
        np.repeat(np.arange(ga.polygon_count), np.diff(ga.polygon_offsets)),
        np.diff(ga.ring_offsets),
    )
    mask = la.polygon_texture[poly] >= 0
    assert np.array_equal(mask, lb.polygon_texture[poly] >= 0)
    np.testing.assert_allclose(lb.uv[mask], la.uv[mask], atol=1e-6, rtol=0)


@pytest.mark.realdata
@pytest.mark.parametrize("name", TEXTURED)
@pytest.mark.parametrize("suffix", [".city.json", ".city.jsonl"])
def test_textured_cityjson_round_trips(
    shared_data: Path, tmp_path: Path, name: str, suffix: str
) -> None:
    src = CITYJSON_DIR / name
    source = _read(src)
    assert any(g.appearance is not None for g in _geometries(source).values())
    out = tmp_path / "sub" / ("out" + suffix)
    out.parent.mkdir()
    report = JobReport()
    write_interchange([src], out, report=report, in_crs="EPSG:7415")
    assert not report.skipped
    back = _read(out)
    assert _assert_same_look(source, back) > 0
    # images are referenced relative to the output, never copied
    text = out.read_text(encoding="utf-8")
    assert not (tmp_path / "sub" / f"{out.name}.textures").exists()
    images = (
        {
            t["image"]
            for line in text.splitlines()
            for t in json.loads(line).get("appearance", {}).get("textures", [])
        }
        if suffix == ".city.jsonl"
        else {t["image"] for t in json.loads(text)["appearance"].get("textures", [])}
    )
    assert images and all(not Path(i).is_absolute() for i in images)
    expected = {
        t.image for g in _geometries(source).values() for a in g.appearances for t in a.textures
    }
    assert {str((out.parent / i).resolve()) for i in images} == {
        str(Path(i).resolve()) for i in expected
    }


@pytest.mark.realdata
def test_moved_output_with_its_images_keeps_its_textures(shared_data: Path, tmp_path: Path) -> None:
    """Relative references: the output and its images can be moved together."""
    folder = CITYJSON_DIR / "rotterdam_textured"
    work = tmp_path / "work"
    shutil.copytree(folder / "appearances", work / "appearances")
    shutil.copy(folder / "rotterdam_one_v11.city.json", work)
    write_interchange(
        [work / "rotterdam_one_v11.city.json"], work / "out.city.json", report=JobReport()
    )
    moved = tmp_path / "moved"
    shutil.copytree(work, moved)
    shutil.rmtree(work)
    back = _read(moved / "out.city.json")
    images = {
        t.image for g in _geometries(back).values() if g.appearance for t in g.appearance.textures
    }
    present = [i for i in images if Path(i).is_file()]
    assert present == [str(moved / "appearances" / "0320_4_15.jpg")]


def _textured_solid(*, closed_rings: bool) -> Feature:
    """A unit cube (solid), a texture on two faces, materials on five; rings closed or open."""
    corners = np.array(
        [[x, y, z] for z in (0.0, 1.0) for x, y in ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))]
    )
    faces = [[0, 3, 2, 1], [4, 5, 6, 7], [0, 1, 5, 4], [1, 2, 6, 5], [2, 3, 7, 6], [3, 0, 4, 7]]
    order = [f + f[:1] if closed_rings else f for f in faces]
    origin = np.array([356000.0, 5645000.0, 40.0])
    geom = SurfaceGeometry.from_polygons(
        [[corners[f] + origin] for f in order], [0] * 6, lod="2", solid=True
    )
    uv = np.concatenate(
        [
            np.c_[corners[f, 0] * 0.5 + 0.25 * k, corners[f, 1] * 0.3 + corners[f, 2] * 0.7]
            if k >= 4
            else np.full((len(f), 2), np.nan)
            for k, f in enumerate(order)
        ]
    ).astype(np.float32)
    look = SurfaceAppearance(
        theme="photo",
        uv=uv,
        polygon_texture=np.array([-1, -1, -1, -1, 0, 1], np.int32),
        polygon_material=np.array([0, 0, 1, 1, NO_INDEX, 0], np.int32),
        textures=(
            Texture(image=str(SHARED / "x" / "a.png")),
            Texture(image="https://example.org/b.jpg", wrap="wrap"),
        ),
        materials=(
            Material(diffuse=(0.1, 0.2, 0.3), name="red"),
            Material(transparency=0.5, name="glass"),
        ),
    )
    return Feature(id="B1", type="Building", geometries=(replace(geom, appearance=look),))


@pytest.mark.parametrize("suffix", [".city.json", ".city.jsonl"])
@pytest.mark.parametrize("closed_rings", [False, True])
def test_solid_appearance_round_trips(tmp_path: Path, suffix: str, closed_rings: bool) -> None:
    out = tmp_path / ("cube" + suffix)
    with CityJSONWriter(out, crs=None, report=JobReport()) as writer:
        writer.write(_textured_solid(closed_rings=closed_rings))
    back = _read(out)
    assert _assert_same_look([_textured_solid(closed_rings=False)], back) == 2
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    look = lines[-1]["appearance"] if suffix == ".city.jsonl" else lines[0]["appearance"]
    assert len(look["vertices-texture"]) == 8  # distinct (s, t) pairs only
    assert [t["image"] for t in look["textures"]][1] == "https://example.org/b.jpg"
    assert look["textures"][1]["wrapMode"] == "wrap"
    geometry = next(iter(lines[-1]["CityObjects"].values()))["geometry"][0]
    assert geometry["material"]["photo"]["values"] == [[0, 0, 1, 1, None, 0]]
    assert geometry["texture"]["photo"]["values"][0][0] == [[None]]


def test_texture_vertices_continue_across_document_objects(tmp_path: Path) -> None:
    """Document output: the second object's texture indices point past the first's rows."""
    first = _textured_solid(closed_rings=False)
    second = replace(first, id="B2")
    out = tmp_path / "two.city.json"
    with CityJSONWriter(out, crs=None, report=JobReport()) as writer:
        writer.write(first)
        writer.write(second)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert len(doc["appearance"]["vertices-texture"]) == 16
    assert len(doc["appearance"]["textures"]) == 2  # equal textures stored once
    back = _read(out)
    assert _assert_same_look([first, second], back) == 4


@pytest.mark.realdata
@pytest.mark.parametrize("name", TEXTURED)
@pytest.mark.parametrize("version", ["2.0", "3.0"])
def test_textured_cityjson_round_trips_through_citygml(
    shared_data: Path, tmp_path: Path, name: str, version: str
) -> None:
    """CityJSON -> CityGML 2.0/3.0 (local appearances) -> CityJSON keeps every theme."""
    src = CITYJSON_DIR / name
    source = _read(src)
    gml = tmp_path / "sub" / "out.gml"
    gml.parent.mkdir()
    report = JobReport()
    write_interchange([src], gml, report=report, in_crs="EPSG:7415", citygml_version=version)
    assert not report.skipped
    assert b"app:ParameterizedTexture" in gml.read_bytes()
    assert (b"app:TextureAssociation" in gml.read_bytes()) == (version == "3.0")
    back_json = tmp_path / "back.city.json"
    write_interchange([gml], back_json, report=JobReport())
    several = len({t.theme for g in _geometries(source).values() for t in g.appearances}) > 1
    back = _read(back_json)
    assert _assert_same_look(source, back, names=False, rendered=not several) > 0


@pytest.mark.parametrize("closed_rings", [False, True])
def test_solid_appearance_round_trips_through_citygml2(tmp_path: Path, closed_rings: bool) -> None:
    gml = tmp_path / "cube.gml"
    with CityGMLWriter(gml, crs=parse_srs_name("EPSG:25832"), report=JobReport()) as writer:
        writer.write(_textured_solid(closed_rings=closed_rings))
    root = etree.parse(str(gml)).getroot()
    app = "{http://www.opengis.net/citygml/appearance/2.0}"
    assert len(list(root.iter(f"{app}X3DMaterial"))) == 2
    assert len(list(root.iter(f"{app}ParameterizedTexture"))) == 2
    coords = [(el.text or "").split() for el in root.iter(f"{app}textureCoordinates")]
    assert [len(c) for c in coords] == [10, 10]  # 4 vertices + the closing one, (s, t) each
    assert _assert_same_look([_textured_solid(closed_rings=False)], _read(gml), names=False) == 2


@pytest.mark.parametrize("closed_rings", [False, True])
def test_solid_appearance_round_trips_through_citygml3(tmp_path: Path, closed_rings: bool) -> None:
    """CityGML 3.0: core:appearance, app:surfaceData, TextureAssociation targets by gml:id."""
    gml = tmp_path / "cube.gml"
    report = JobReport()
    crs = parse_srs_name("EPSG:25832")
    with CityGMLWriter(gml, crs=crs, report=report, version="3.0") as writer:
        writer.write(_textured_solid(closed_rings=closed_rings))
    assert not report.warnings and not report.skipped
    root = etree.parse(str(gml)).getroot()
    app = "{http://www.opengis.net/citygml/appearance/3.0}"
    core = "{http://www.opengis.net/citygml/3.0}"
    assert len(list(root.iter(f"{core}appearance"))) == 1
    assert len(list(root.iter(f"{app}X3DMaterial"))) == 2
    associations = list(root.iter(f"{app}TextureAssociation"))
    assert len(associations) == 2
    ids = {el.get("{http://www.opengis.net/gml/3.2}id") for el in root.iter()}
    for association in associations:
        assert association.findtext(f"{app}target", "").removeprefix("#") in ids
        rings = [el.text or "" for el in association.iter(f"{app}ring")]
        assert rings and all(r.removeprefix("#") in ids for r in rings)
    coords = [(el.text or "").split() for el in root.iter(f"{app}textureCoordinates")]
    assert [len(c) for c in coords] == [10, 10]
    assert _assert_same_look([_textured_solid(closed_rings=False)], _read(gml), names=False) == 2


@pytest.mark.parametrize("suffix", [".city.json", ".city.jsonl"])
def test_images_on_another_drive_are_copied_next_to_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    """No relative path reaches the images (``relpath`` fails across drives): they are copied,
    two images of one name into two files."""
    features = []
    for n in range(2):
        image = tmp_path / f"elsewhere{n}" / "a.png"
        image.parent.mkdir()
        image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([n]))
        feature = _textured_solid(closed_rings=False)
        geometry = feature.geometries[0]
        assert geometry.appearance is not None
        look = replace(geometry.appearance, textures=(Texture(image=str(image)),) * 2)
        geometry = replace(geometry, appearance=look)
        features.append(replace(feature, id=f"B{n}", geometries=(geometry,)))

    def no_relpath(path: str, start: str | None = None) -> str:
        raise ValueError("path is on mount 'D:', start on mount 'C:'")

    monkeypatch.setattr("os.path.relpath", no_relpath)
    out = tmp_path / "out" / ("cube" + suffix)
    out.parent.mkdir()
    report = JobReport()
    with CityJSONWriter(out, crs=None, report=report) as writer:
        for feature in features:
            writer.write(feature)
    monkeypatch.undo()
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    written = [t["image"] for line in lines for t in line.get("appearance", {}).get("textures", [])]
    assert written == [f"{out.name}.textures/0_a.png", f"{out.name}.textures/1_a.png"]
    assert [(out.parent / w).read_bytes()[-1] for w in written] == [0, 1]
    assert sum("copied to" in w for w in report.warnings) == 2
    back = _read(out)
    for top in back:
        look = top.geometries[0].appearance
        assert look is not None and all(Path(t.image).is_file() for t in look.textures)


def test_textured_traffic_areas_keep_their_look_as_road_surfaces(tmp_path: Path) -> None:
    """CityGML TrafficArea objects become semantic surfaces of the road, textures included."""
    cube = _textured_solid(closed_rings=False).geometries[0]
    area = replace(cube, solid=False)
    road = Feature(
        id="R1",
        type="Road",
        geometries=(replace(area, appearance=None),),
        children=(Feature(id="T1", type="TrafficArea", geometries=(area,)),),
    )
    out = tmp_path / "road.city.json"
    with CityJSONWriter(out, crs=None, report=JobReport()) as writer:
        writer.write(road)
    [back] = _read(out)
    g = back.geometries[0]
    assert g.polygon_count == 12 and g.appearance is not None
    assert g.appearance.polygon_texture.tolist() == [-1] * 10 + [0, 1]
    np.testing.assert_allclose(g.appearance.uv[-8:], area.appearance.uv[-8:], atol=1e-6)  # type: ignore[union-attr]
