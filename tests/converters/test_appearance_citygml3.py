"""CityGML 3.0 appearances: TextureAssociation targets, materials, themes, GLB output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from citymodel.converters.citygml import CityGMLReader
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

_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<core:CityModel xmlns:core="http://www.opengis.net/citygml/3.0"
  xmlns:bldg="http://www.opengis.net/citygml/building/3.0"
  xmlns:con="http://www.opengis.net/citygml/construction/3.0"
  xmlns:app="http://www.opengis.net/citygml/appearance/3.0"
  xmlns:gml="http://www.opengis.net/gml/3.2">
"""

# a WallSurface (polygon p1) and a RoofSurface (p2), each in a MultiSurface with a gml:id
_BUILDING = """<core:cityObjectMember>
 <bldg:Building gml:id="b1">
  {local}
  <core:boundary><con:WallSurface gml:id="wall">
   <core:lod2MultiSurface>
    <gml:MultiSurface gml:id="ms1" srsName="urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::7837"
      srsDimension="3">
     <gml:surfaceMember><gml:Polygon gml:id="p1"><gml:exterior>
      <gml:LinearRing gml:id="p1_r"><gml:posList>{wall}</gml:posList></gml:LinearRing>
     </gml:exterior></gml:Polygon></gml:surfaceMember>
    </gml:MultiSurface>
   </core:lod2MultiSurface>
  </con:WallSurface></core:boundary>
  <core:boundary><con:RoofSurface gml:id="roof">
   <core:lod2MultiSurface>
    <gml:MultiSurface gml:id="ms2" srsName="urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::7837"
      srsDimension="3">
     <gml:surfaceMember><gml:Polygon gml:id="p2"><gml:exterior>
      <gml:LinearRing gml:id="p2_r"><gml:posList>{roof}</gml:posList></gml:LinearRing>
     </gml:exterior></gml:Polygon></gml:surfaceMember>
    </gml:MultiSurface>
   </core:lod2MultiSurface>
  </con:RoofSurface></core:boundary>
 </bldg:Building>
</core:cityObjectMember>
"""


def _tex_coord_list(uv: str, ring_elements: bool) -> str:
    if ring_elements:  # rings named by app:ring elements, matched by position
        return (
            f"<app:TexCoordList><app:textureCoordinates>{uv}</app:textureCoordinates>"
            "<app:ring>#p1_r</app:ring></app:TexCoordList>"
        )
    return (
        f'<app:TexCoordList><app:textureCoordinates ring="#p1_r">{uv}'
        "</app:textureCoordinates></app:TexCoordList>"
    )


def _appearance(theme: str, image: str, uv: str, *, ring_elements: bool = False) -> str:
    return f"""<app:Appearance>
  <app:theme>{theme}</app:theme>
  <app:surfaceData><app:ParameterizedTexture>
   <app:imageURI>{image}</app:imageURI>
   <app:mimeType>image/png</app:mimeType>
   <app:wrapMode>wrap</app:wrapMode>
   <app:textureParameterization><app:TextureAssociation>
    <app:target>#p1</app:target>
    <app:textureParameterization>{_tex_coord_list(uv, ring_elements)}</app:textureParameterization>
   </app:TextureAssociation></app:textureParameterization>
  </app:ParameterizedTexture></app:surfaceData>
  <app:surfaceData><app:X3DMaterial>
   <app:diffuseColor>0.2 0.4 0.6</app:diffuseColor>
   <app:transparency>0.25</app:transparency>
   <app:target>#ms2</app:target>
  </app:X3DMaterial></app:surfaceData>
 </app:Appearance>"""


def _document(
    tmp_path: Path,
    *,
    placement: str = "end",
    themes: tuple[str, ...] = ("photo",),
    uv: str | None = None,
    image: str = "tex/quadrants.png",
    ring_elements: bool = False,
) -> Path:
    (tmp_path / "tex").mkdir(exist_ok=True)
    quadrant_png(tmp_path / "tex" / "quadrants.png")
    coordinates = uv if uv is not None else uv_text(WALL_UV)
    looks = [_appearance(t, image, coordinates, ring_elements=ring_elements) for t in themes]
    members = "".join(f"<core:appearanceMember>{a}</core:appearanceMember>" for a in looks)
    local = ""
    if placement == "local":
        local = "".join(f"<core:appearance>{a}</core:appearance>" for a in looks)
    building = _BUILDING.format(local=local, wall=pos_list(WALL), roof=pos_list(ROOF))
    body = {"end": building + members, "start": members + building, "local": building}
    path = tmp_path / "textured3.gml"
    path.write_text(_HEAD + body[placement] + "</core:CityModel>\n", encoding="utf-8")
    return path


def _wall_and_roof(feature: Feature) -> tuple[int, int]:
    """Polygon indexes of the wall (p1, from z 0) and the roof (p2, flat at z 10)."""
    g = feature.geometries[0]
    lowest = [
        g.vertices[
            g.ring_offsets[g.polygon_offsets[k]] : g.ring_offsets[g.polygon_offsets[k] + 1], 2
        ].min()
        for k in range(g.polygon_count)
    ]
    roof = int(np.argmax(lowest))
    return 1 - roof, roof


@pytest.mark.parametrize(
    ("placement", "ring_elements"),
    [("end", False), ("start", False), ("local", False), ("end", True)],
)
def test_texture_coordinates_land_on_their_vertices(
    tmp_path: Path, placement: str, ring_elements: bool
) -> None:
    feature, report = read_one(
        _document(tmp_path, placement=placement, ring_elements=ring_elements)
    )
    assert not report.skipped
    assert not [w for w in report.warnings if "Appearance" in w]
    geometry = feature.geometries[0]
    assert geometry.polygon_count == 2
    wall, roof = _wall_and_roof(feature)
    a = geometry.appearance
    assert a is not None and a.theme == "photo"
    assert a.textures[0].image == str(tmp_path / "tex" / "quadrants.png")
    assert a.textures[0].wrap == "wrap"
    assert a.textures[0].mime_type == "image/png"
    assert a.polygon_texture[wall] == 0 and a.polygon_texture[roof] == -1
    # one (s, t) per ring vertex, each on the vertex it was written for
    r0, r1 = int(geometry.ring_offsets[wall]), int(geometry.ring_offsets[wall + 1])
    expected = {(x, z): st for (x, _, z), st in zip(WALL, WALL_UV, strict=True)}
    for vertex, st in zip(geometry.vertices[r0:r1], a.uv[r0:r1], strict=True):
        assert tuple(st) == expected[(round(vertex[0] - E), round(vertex[2]))]
    q0, q1 = int(geometry.ring_offsets[roof]), int(geometry.ring_offsets[roof + 1])
    assert np.isnan(a.uv[q0:q1]).all()
    # the material targets the roof's MultiSurface (ms2): the roof polygon gets it
    assert a.polygon_material[roof] == 0 and a.polygon_material[wall] == -1
    assert a.materials[0].diffuse == (0.2, 0.4, 0.6)
    assert a.materials[0].transparency == 0.25
    assert report.extra["appearance"]["textured_polygons"] == 1


def test_themes_default_to_the_first_and_can_be_chosen(tmp_path: Path) -> None:
    path = _document(tmp_path, themes=("photo", "winter"))
    feature, report = read_one(path)
    a = feature.geometries[0].appearance
    assert a is not None and a.theme == "photo"
    assert any("'winter'" in w and "--theme" in w for w in report.warnings)
    chosen, _ = read_one(path, theme="winter")
    b = chosen.geometries[0].appearance
    assert b is not None and b.theme == "winter"
    _, missing = read_one(path, theme="summer")
    assert any("'summer' not found" in w for w in missing.warnings)


def test_themes_are_listed_by_info(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from citymodel.cli.main import cli

    info = CliRunner().invoke(cli, ["info", str(_document(tmp_path, themes=("photo", "winter")))])
    assert info.exit_code == 0, info.output
    assert "themes:      'photo', 'winter'" in info.output


def test_mismatched_coordinates_leave_the_polygon_untextured(tmp_path: Path) -> None:
    feature, report = read_one(_document(tmp_path, uv="0 0 1 0 1 1"))
    a = feature.geometries[0].appearance
    assert a is not None and (a.polygon_texture == -1).all()  # the material stays
    assert any("do not match" in s.reason and s.id == "b1" for s in report.skipped)


def test_association_without_target_is_reported(tmp_path: Path) -> None:
    path = _document(tmp_path, placement="local")
    path.write_text(
        path.read_text(encoding="utf-8").replace("<app:target>#p1</app:target>", ""),
        encoding="utf-8",
    )
    feature, report = read_one(path)
    a = feature.geometries[0].appearance
    assert a is not None and (a.polygon_texture == -1).all()
    assert any("TextureAssociation without app:target" in s.reason for s in report.skipped)


def _roof_document(tmp_path: Path, surface_data: str) -> Path:
    building = _BUILDING.format(local="", wall=pos_list(WALL), roof=pos_list(ROOF))
    member = (
        "<core:appearanceMember><app:Appearance><app:theme>ortho</app:theme>"
        f"<app:surfaceData>{surface_data}</app:surfaceData>"
        "</app:Appearance></core:appearanceMember>"
    )
    path = tmp_path / "roof3.gml"
    path.write_text(_HEAD + building + member + "</core:CityModel>\n", encoding="utf-8")
    return path


def _roof_uv(feature: Feature) -> dict[tuple[int, int], tuple[float, float]]:
    g = feature.geometries[0]
    wall, roof = _wall_and_roof(feature)
    a = g.appearance
    assert a is not None and a.polygon_texture[roof] == 0 and a.polygon_texture[wall] == -1
    span = slice(int(g.ring_offsets[roof]), int(g.ring_offsets[roof + 1]))
    return {
        (round(v[0] - E), round(v[1] - N)): (round(float(st[0]), 6), round(float(st[1]), 6))
        for v, st in zip(g.vertices[span], a.uv[span], strict=True)
    }


def test_georeferenced_texture_with_reference_point(tmp_path: Path) -> None:
    reference_point_image(tmp_path)
    feature, report = read_one(_roof_document(tmp_path, REFERENCE_POINT_TEXTURE))
    assert not report.skipped
    assert _roof_uv(feature) == ROOF_UV


def test_tex_coord_gen_in_a_texture_association(tmp_path: Path) -> None:
    quadrant_png(tmp_path / "q.png")
    # s = (x - E) / 10, t = (y - N) / 10
    matrix = f"0.1 0 0 {-E / 10} 0 0.1 0 {-N / 10} 0 0 0 1"
    data = (
        "<app:ParameterizedTexture><app:imageURI>q.png</app:imageURI>"
        "<app:textureParameterization><app:TextureAssociation><app:target>#p2</app:target>"
        "<app:textureParameterization><app:TexCoordGen><app:worldToTexture>"
        f"{matrix}</app:worldToTexture></app:TexCoordGen></app:textureParameterization>"
        "</app:TextureAssociation></app:textureParameterization></app:ParameterizedTexture>"
    )
    feature, report = read_one(_roof_document(tmp_path, data))
    assert not report.skipped
    assert _roof_uv(feature) == ROOF_UV


def test_glb_texture_shows_the_right_colour_at_each_corner(tmp_path: Path) -> None:
    assert_glb_corner_colours(_document(tmp_path), tmp_path / "wall.glb")


def test_missing_image_is_reported_once_and_geometry_written(tmp_path: Path) -> None:
    document = _document(tmp_path, image="tex/absent.png")
    assert_missing_image_reported_once(
        document, tmp_path / "tex" / "absent.png", tmp_path / "w.glb"
    )


@pytest.mark.node
def test_textured_glb_passes_the_khronos_validator(tmp_path: Path) -> None:
    assert_passes_khronos_validator(_document(tmp_path), tmp_path / "wall.glb")


@pytest.mark.realdata
def test_real_3_0_files_read_as_before_and_report_no_appearance_notes(
    shared_data: Path,
) -> None:
    """The OGC 3.0 samples declare the appearance namespace but hold no appearance."""
    files = sorted((shared_data / "citygml3").rglob("*.gml"))
    assert files, "no CityGML 3.0 samples in ../shared/data/citygml3"
    declared = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        has_appearance = "Appearance>" in text
        declared += "citygml/appearance/3.0" in text
        report = JobReport()
        features = list(CityGMLReader(path).features(report=report))
        assert features, path.name
        textured = sum(
            g.appearance is not None for f in features for c, _ in f.walk() for g in c.geometries
        )
        assert not [w for w in report.warnings if "Appearance" in w], path.name
        if not has_appearance:
            assert textured == 0, path.name
            assert report.extra.get("appearance", {}).get("textured_polygons", 0) == 0
        else:  # a sample with appearances (none in the current set): something is textured
            assert textured > 0, path.name
    assert declared > 0  # the appearance scan runs on these files
