"""CityGML appearances: texture coordinates on the right vertices, materials, themes, GLB output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from citymodel.converters.citygml import CityGMLReader
from citymodel.converters.convert import ConvertOptions, convert
from citymodel.meshing import mesh_features
from citymodel.model import Feature
from citymodel.report import JobReport
from tests.converters.appearance_fixtures import (
    REFERENCE_POINT_TEXTURE,
    ROOF,
    ROOF_UV,
    WALL,
    WALL_UV,
    E,
    N,
    assert_glb_corner_colours,
    assert_missing_image_reported_once,
    assert_passes_khronos_validator,
    pos_list,
    quadrant_png,
    read_one,
    reference_point_image,
    uv_text,
)
from tests.gltf_reader import read_file

_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<core:CityModel xmlns:core="http://www.opengis.net/citygml/2.0"
  xmlns:bldg="http://www.opengis.net/citygml/building/2.0"
  xmlns:app="http://www.opengis.net/citygml/appearance/2.0"
  xmlns:gml="http://www.opengis.net/gml">
"""

_BUILDING = """<core:cityObjectMember>
 <bldg:Building gml:id="b1">
  {local}
  <bldg:lod2MultiSurface>
   <gml:MultiSurface gml:id="ms1" srsName="urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::7837"
     srsDimension="3">
    <gml:surfaceMember><gml:Polygon gml:id="p1"><gml:exterior>
     <gml:LinearRing gml:id="p1_r"><gml:posList>{wall}</gml:posList></gml:LinearRing>
    </gml:exterior></gml:Polygon></gml:surfaceMember>
    <gml:surfaceMember><gml:Polygon gml:id="p2"><gml:exterior>
     <gml:LinearRing gml:id="p2_r"><gml:posList>{roof}</gml:posList></gml:LinearRing>
    </gml:exterior></gml:Polygon></gml:surfaceMember>
   </gml:MultiSurface>
  </bldg:lod2MultiSurface>
 </bldg:Building>
</core:cityObjectMember>
"""


def _appearance(
    theme: str, image: str, uv: str, material: str = "0.2 0.4 0.6", transparency: str = "0.25"
) -> str:
    return f"""<app:Appearance>
  <app:theme>{theme}</app:theme>
  <app:surfaceDataMember><app:ParameterizedTexture>
   <app:imageURI>{image}</app:imageURI>
   <app:wrapMode>wrap</app:wrapMode>
   <app:target uri="#p1"><app:TexCoordList>
    <app:textureCoordinates ring="#p1_r">{uv}</app:textureCoordinates>
   </app:TexCoordList></app:target>
  </app:ParameterizedTexture></app:surfaceDataMember>
  <app:surfaceDataMember><app:X3DMaterial>
   <app:diffuseColor>{material}</app:diffuseColor>
   <app:transparency>{transparency}</app:transparency>
   <app:target>#ms1</app:target>
  </app:X3DMaterial></app:surfaceDataMember>
 </app:Appearance>"""


def _document(
    tmp_path: Path,
    *,
    placement: str = "end",
    themes: tuple[str, ...] = ("photo",),
    uv: str | None = None,
    image: str = "tex/quadrants.png",
    transparency: str = "0.25",
) -> Path:
    (tmp_path / "tex").mkdir(exist_ok=True)
    quadrant_png(tmp_path / "tex" / "quadrants.png")
    coordinates = uv if uv is not None else uv_text(WALL_UV)
    members = "".join(
        "<app:appearanceMember>"
        f"{_appearance(t, image, coordinates, transparency=transparency)}"
        "</app:appearanceMember>"
        for t in themes
    )
    local = ""
    if placement == "local":
        local = "".join(
            f"<app:appearance>{_appearance(t, image, coordinates, transparency=transparency)}"
            "</app:appearance>"
            for t in themes
        )
    building = _BUILDING.format(local=local, wall=pos_list(WALL), roof=pos_list(ROOF))
    body = {
        "end": building + members,
        "start": members + building,
        "local": building,
    }[placement]
    path = tmp_path / "textured.gml"
    path.write_text(_HEAD + body + "</core:CityModel>\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("placement", ["end", "start", "local"])
def test_texture_coordinates_land_on_their_vertices(tmp_path: Path, placement: str) -> None:
    feature, report = read_one(_document(tmp_path, placement=placement))
    geometry = feature.geometries[0]
    a = geometry.appearance
    assert a is not None and a.theme == "photo"
    assert a.textures[0].image == str(tmp_path / "tex" / "quadrants.png")
    assert a.textures[0].wrap == "wrap"
    assert a.polygon_texture.tolist() == [0, -1]
    # the closing coordinate is dropped with the closing vertex: one (s, t) per ring vertex
    wall = geometry.vertices[geometry.ring_offsets[0] : geometry.ring_offsets[1]]
    uv = a.uv[geometry.ring_offsets[0] : geometry.ring_offsets[1]]
    expected = {(x, z): st for (x, _, z), st in zip(WALL, WALL_UV, strict=True)}
    for vertex, st in zip(wall, uv, strict=True):
        assert tuple(st) == expected[(round(vertex[0] - E), round(vertex[2]))]
    assert np.isnan(a.uv[geometry.ring_offsets[1] :]).all()
    # the material targets the MultiSurface: both polygons get it
    assert a.polygon_material.tolist() == [0, 0]
    assert a.materials[0].diffuse == (0.2, 0.4, 0.6)
    assert a.materials[0].transparency == 0.25
    assert report.extra["appearance"]["textured_polygons"] == 1


def test_themes_default_to_the_first_and_can_be_chosen(tmp_path: Path) -> None:
    path = _document(tmp_path, themes=("photo", "winter"))
    feature, report = read_one(path)
    assert feature.geometries[0].appearance is not None
    assert feature.geometries[0].appearance.theme == "photo"
    assert any("'winter'" in w and "--theme" in w for w in report.warnings)
    chosen, _ = read_one(path, theme="winter")
    assert chosen.geometries[0].appearance is not None
    assert chosen.geometries[0].appearance.theme == "winter"
    absent, report = read_one(path, theme="summer")
    assert absent.geometries[0].appearance is None
    assert any("'summer' not found" in w for w in report.warnings)
    assert CityGMLReader(path).metadata().details["appearance_themes"] == ["photo", "winter"]


def test_mismatched_coordinates_leave_the_polygon_untextured(tmp_path: Path) -> None:
    feature, report = read_one(_document(tmp_path, uv="0 0 1 0 1 1"))
    a = feature.geometries[0].appearance
    assert a is not None  # the material is still there
    assert a.polygon_texture.tolist() == [-1, -1]
    assert any("do not match" in s.reason and s.id == "b1" for s in report.skipped)


def test_meshing_carries_coordinates_to_the_triangles(tmp_path: Path) -> None:
    feature, _ = read_one(_document(tmp_path))
    batch = mesh_features([feature])
    a = batch.mesh.appearance
    assert a is not None
    textured = a.triangle_texture >= 0
    assert textured.sum() == 2  # the wall's two triangles
    corners = batch.mesh.triangles[textured].ravel()
    for v in corners.tolist():
        x, _, z = batch.mesh.positions[v]
        st = dict(zip([(p[0], p[2]) for p in WALL], WALL_UV, strict=True))[(round(x - E), round(z))]
        assert tuple(a.uv[v]) == st
    assert (a.triangle_material == 0).all()


def test_glb_texture_shows_the_right_colour_at_each_corner(tmp_path: Path) -> None:
    doc = assert_glb_corner_colours(_document(tmp_path), tmp_path / "wall.glb")
    assert doc["samplers"][0]["minFilter"] == 9987  # LINEAR_MIPMAP_LINEAR
    assert doc["samplers"][0]["wrapS"] == 10497  # REPEAT for wrapMode wrap


def test_missing_image_is_reported_once_and_geometry_written(tmp_path: Path) -> None:
    document = _document(tmp_path, image="tex/absent.png")
    assert_missing_image_reported_once(
        document, tmp_path / "tex" / "absent.png", tmp_path / "w.glb"
    )


@pytest.mark.node
def test_textured_glb_passes_the_khronos_validator(tmp_path: Path) -> None:
    assert_passes_khronos_validator(_document(tmp_path), tmp_path / "wall.glb")


@pytest.mark.parametrize("placement", ["end", "local"])
def test_a_fully_transparent_material_is_reported_once(tmp_path: Path, placement: str) -> None:
    path = _document(tmp_path, placement=placement, transparency="1")
    feature, report = read_one(path)
    assert feature.geometries[0].appearance is not None
    assert feature.geometries[0].appearance.materials[0].transparency == 1.0  # kept as given
    invisible = [w for w in report.warnings if "transparency 1.0" in w]
    assert len(invisible) == 1
    assert "1 X3DMaterial(s)" in invisible[0] and "1 target surface(s) invisible" in invisible[0]
    assert str(path) in invisible[0]
    by_file = report.extra["appearance"]["invisible_materials"]
    ((key, targets),) = by_file[str(path)].items()
    assert key.startswith("at line ") and targets == 1


def test_a_partly_transparent_material_is_not_reported(tmp_path: Path) -> None:
    _, report = read_one(_document(tmp_path, transparency="0.999"))
    assert not [w for w in report.warnings if "transparency" in w]
    assert "invisible_materials" not in report.extra["appearance"]


@pytest.mark.realdata
def test_geores_and_berlin_read_textures(shared_data: Path) -> None:
    geores = shared_data / "citygml" / "geores_textured" / "geoRES_testdata.xml"
    report = JobReport()
    textured = 0
    images: set[str] = set()
    for feature in CityGMLReader(geores).features(report=report):
        for part, _ in feature.walk():
            for g in part.geometries:
                if g.appearance is not None:
                    textured += int((g.appearance.polygon_texture >= 0).sum())
                    images.update(t.image for t in g.appearance.textures)
    assert textured > 500
    # the file's 16 X3DMaterials with transparency 1.0 are reported in one warning
    (invisible,) = [w for w in report.warnings if "transparency 1.0" in w]
    assert invisible.split(": ", 1)[1].startswith("16 X3DMaterial(s)")
    assert len(report.extra["appearance"]["invisible_materials"][str(geores)]) == 16
    assert all(Path(i).parent.name == "appearances" for i in images)
    berlin = shared_data / "citygml" / "berlin_lod2_textured_noimages" / "3890_5819.gml"
    report = JobReport()
    features = list(CityGMLReader(berlin).features(report=report))
    assert len(features) == 40
    # document-level members at the end of the file reach the buildings before them
    assert report.extra["appearance"]["textured_polygons"] > 1000


@pytest.mark.realdata
def test_berlin_without_images_converts_untextured(shared_data: Path, tmp_path: Path) -> None:
    berlin = shared_data / "citygml" / "berlin_lod2_textured_noimages" / "3890_5819.gml"
    out = tmp_path / "berlin.glb"
    report = convert([berlin], out, options=ConvertOptions())
    assert sum(report.written.values()) == 40
    missing = report.extra["appearance"]["missing_images"]
    assert len(missing) == len(set(missing)) > 500  # once per image
    assert "images" not in read_file(out).document


def _roof_document(tmp_path: Path, surface_data: str) -> Path:
    building = _BUILDING.format(local="", wall=pos_list(WALL), roof=pos_list(ROOF))
    member = (
        "<app:appearanceMember><app:Appearance><app:theme>ortho</app:theme>"
        f"<app:surfaceDataMember>{surface_data}</app:surfaceDataMember>"
        "</app:Appearance></app:appearanceMember>"
    )
    path = tmp_path / "roof.gml"
    path.write_text(_HEAD + building + member + "</core:CityModel>\n", encoding="utf-8")
    return path


def _roof_uv(feature: Feature) -> dict[tuple[int, int], tuple[float, float]]:
    g = feature.geometries[0]
    a = g.appearance
    assert a is not None and a.polygon_texture.tolist() == [-1, 0]
    roof = slice(int(g.ring_offsets[1]), int(g.ring_offsets[2]))
    return {
        (round(v[0] - E), round(v[1] - N)): (round(float(st[0]), 6), round(float(st[1]), 6))
        for v, st in zip(g.vertices[roof], a.uv[roof], strict=True)
    }


def test_georeferenced_texture_from_a_world_file(tmp_path: Path) -> None:
    Image.new("RGB", (10, 10), (10, 200, 10)).save(tmp_path / "ortho.jpg")
    # 1 m pixels; C, F = centre of the upper-left pixel
    (tmp_path / "ortho.jgw").write_text(f"1\n0\n0\n-1\n{E + 0.5}\n{N + 9.5}\n")
    data = (
        "<app:GeoreferencedTexture><app:imageURI>ortho.jpg</app:imageURI>"
        "<app:target>#p2</app:target></app:GeoreferencedTexture>"
    )
    feature, report = read_one(_roof_document(tmp_path, data))
    assert not report.skipped
    assert _roof_uv(feature) == ROOF_UV


def test_georeferenced_texture_with_reference_point(tmp_path: Path) -> None:
    reference_point_image(tmp_path)
    feature, _ = read_one(_roof_document(tmp_path, REFERENCE_POINT_TEXTURE))
    assert _roof_uv(feature) == ROOF_UV


def test_tex_coord_gen_projects_world_coordinates(tmp_path: Path) -> None:
    quadrant_png(tmp_path / "q.png")
    # s = (x - E) / 10, t = (y - N) / 10
    matrix = f"0.1 0 0 {-E / 10} 0 0.1 0 {-N / 10} 0 0 0 1"
    data = (
        "<app:ParameterizedTexture><app:imageURI>q.png</app:imageURI>"
        f'<app:target uri="#p2"><app:TexCoordGen><app:worldToTexture>{matrix}'
        "</app:worldToTexture></app:TexCoordGen></app:target></app:ParameterizedTexture>"
    )
    feature, _ = read_one(_roof_document(tmp_path, data))
    assert _roof_uv(feature) == ROOF_UV


def test_tileset_content_has_the_texture(tmp_path: Path) -> None:
    from citymodel.tiler.build import TileOptions, build_tileset

    out = tmp_path / "tiles"
    report = JobReport()
    build_tileset([_document(tmp_path)], out, options=TileOptions(jobs=1), report=report)
    contents = sorted(out.rglob("*.glb"))
    assert contents
    textured = [read_file(c) for c in contents if "images" in read_file(c).document]
    assert len(textured) == 1
    doc = textured[0].document
    assert doc["samplers"][0]["minFilter"] == 9987
    assert any("TEXCOORD_0" in p["attributes"] for p in textured[0].primitives())


def test_cli_lists_themes_and_converts_with_the_chosen_one(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from citymodel.cli.main import cli

    path = _document(tmp_path, themes=("photo", "winter"))
    info = CliRunner().invoke(cli, ["info", str(path)])
    assert info.exit_code == 0, info.output
    assert "themes:      'photo', 'winter'" in info.output
    out = tmp_path / "winter.glb"
    result = CliRunner().invoke(cli, ["convert", str(path), "-o", str(out), "--theme", "winter"])
    assert result.exit_code == 0, result.output
    assert "images" in read_file(out).document
    plain = tmp_path / "plain.glb"
    result = CliRunner().invoke(cli, ["convert", str(path), "-o", str(plain), "--theme", "none"])
    assert result.exit_code == 0, result.output
    assert "images" not in read_file(plain).document
