"""Appearances of implicit-geometry templates: every placement keeps the template's texture and
material, with texture coordinates on the right vertices (also under a mirroring matrix)."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from citymodel.converters._citygml_implicit import concat_geometries
from citymodel.converters.citygml import CityGMLReader
from citymodel.converters.cityjson import CityJSONReader
from citymodel.converters.convert import ConvertOptions, convert
from citymodel.meshing import mesh_features
from citymodel.model import Feature, SurfaceGeometry
from citymodel.model.appearance import NO_INDEX, Material, SurfaceAppearance, Texture
from citymodel.report import JobReport
from tests.converters.appearance_fixtures import (
    ROOF,
    WALL,
    WALL_UV,
    E,
    N,
    quadrant_png,
    texel,
    uv_text,
)
from tests.gltf_reader import read_file

IDENTITY = "1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1"
SCALED = "0 -0.5 0 0 0.5 0 0 0 0 0 0.5 0 0 0 0 1"  # 90 degrees about z, half size
MIRRORED = "-1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1"  # x -> -x: det < 0
PLACEMENTS = {"L1": (IDENTITY, (0, 0)), "L2": (SCALED, (30, 0)), "L3": (MIRRORED, (60, 0))}
"""Street lamps: matrix and reference point (metres from (E, N)) of each placement."""

_NS2 = {
    "core": "http://www.opengis.net/citygml/2.0",
    "frn": "http://www.opengis.net/citygml/cityfurniture/2.0",
    "app": "http://www.opengis.net/citygml/appearance/2.0",
}
_NS3 = {
    "core": "http://www.opengis.net/citygml/3.0",
    "frn": "http://www.opengis.net/citygml/cityfurniture/3.0",
    "app": "http://www.opengis.net/citygml/appearance/3.0",
}


def _ring(points: list[tuple[int, int, int]]) -> str:
    """A closed ``gml:posList`` of template points (local metres)."""
    return " ".join(f"{x} {y} {z}" for x, y, z in [*points, points[0]])


def _template(v3: bool) -> str:
    """The inline template: wall ``w`` (textured) and roof ``r`` (material), local metres."""
    tag = "core:relativeGeometry" if v3 else "core:relativeGMLGeometry"
    return f"""<{tag}>
 <gml:MultiSurface gml:id="tpl" srsDimension="3">
  <gml:surfaceMember><gml:Polygon gml:id="w"><gml:exterior>
   <gml:LinearRing gml:id="w_r"><gml:posList>{_ring(WALL)}</gml:posList></gml:LinearRing>
  </gml:exterior></gml:Polygon></gml:surfaceMember>
  <gml:surfaceMember><gml:Polygon gml:id="r"><gml:exterior>
   <gml:LinearRing gml:id="r_r"><gml:posList>{_ring(ROOF)}</gml:posList></gml:LinearRing>
  </gml:exterior></gml:Polygon></gml:surfaceMember>
 </gml:MultiSurface>
</{tag}>"""


def _texture(v3: bool) -> str:
    if v3:
        return f"""<app:Appearance><app:theme>rgb</app:theme>
 <app:surfaceData><app:ParameterizedTexture>
  <app:imageURI>quad.png</app:imageURI><app:wrapMode>wrap</app:wrapMode>
  <app:textureParameterization><app:TextureAssociation><app:target>#w</app:target>
   <app:textureParameterization><app:TexCoordList>
    <app:textureCoordinates ring="#w_r">{uv_text(WALL_UV)}</app:textureCoordinates>
   </app:TexCoordList></app:textureParameterization>
  </app:TextureAssociation></app:textureParameterization>
 </app:ParameterizedTexture></app:surfaceData>
</app:Appearance>"""
    return f"""<app:Appearance><app:theme>rgb</app:theme>
 <app:surfaceDataMember><app:ParameterizedTexture>
  <app:imageURI>quad.png</app:imageURI><app:wrapMode>wrap</app:wrapMode>
  <app:target uri="#w"><app:TexCoordList>
   <app:textureCoordinates ring="#w_r">{uv_text(WALL_UV)}</app:textureCoordinates>
  </app:TexCoordList></app:target>
 </app:ParameterizedTexture></app:surfaceDataMember>
</app:Appearance>"""


def _material(v3: bool) -> str:
    data = "app:surfaceData" if v3 else "app:surfaceDataMember"
    return f"""<app:Appearance><app:theme>rgb</app:theme>
 <{data}><app:X3DMaterial>
  <app:diffuseColor>0.9 0.1 0.1</app:diffuseColor><app:transparency>0.25</app:transparency>
  <app:target>#r</app:target>
 </app:X3DMaterial></{data}>
</app:Appearance>"""


def _lamp(gml_id: str, v3: bool, *, in_implicit: bool = False) -> str:
    """One lamp; L1 defines the template (and holds its texture), the others refer to it.

    ``in_implicit``: the texture is the ImplicitGeometry's own ``core:appearance`` (3.0).
    """
    matrix, (dx, dy) = PLACEMENTS[gml_id]
    relative_tag = "core:relativeGeometry" if v3 else "core:relativeGMLGeometry"
    relative = _template(v3) if gml_id == "L1" else f'<{relative_tag} xlink:href="#tpl"/>'
    owner = "core" if v3 else "app"
    local = f"<{owner}:appearance>{_texture(v3)}</{owner}:appearance>" if gml_id == "L1" else ""
    inner = ""
    if in_implicit:
        local, inner = "", local
    implicit = "core:lod2ImplicitRepresentation" if v3 else "frn:lod2ImplicitRepresentation"
    return f"""<core:cityObjectMember><frn:CityFurniture gml:id="{gml_id}">
 {local}
 <{implicit}><core:ImplicitGeometry>
  <core:transformationMatrix>{matrix}</core:transformationMatrix>
  {relative}
  <core:referencePoint><gml:Point srsDimension="3">
   <gml:pos>{E + dx} {N + dy} 0</gml:pos></gml:Point></core:referencePoint>
  {inner}
 </core:ImplicitGeometry></{implicit}>
</frn:CityFurniture></core:cityObjectMember>"""


def _document(tmp_path: Path, *, v3: bool = False, in_implicit: bool = False) -> Path:
    """Three lamps placing one template: a textured wall and a roof with an X3DMaterial.

    The texture is a local appearance of the object defining the template; the material is a
    document-level appearance. CityGML 2.0 or 3.0.
    """
    quadrant_png(tmp_path / "quad.png")
    ns = _NS3 if v3 else _NS2
    declared = " ".join(f'xmlns:{k}="{v}"' for k, v in ns.items())
    member = "core:appearanceMember" if v3 else "app:appearanceMember"
    body = "\n".join(_lamp(i, v3, in_implicit=in_implicit) for i in PLACEMENTS)
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<core:CityModel {declared} xmlns:gml="http://www.opengis.net/gml{"/3.2" if v3 else ""}"
  xmlns:xlink="http://www.w3.org/1999/xlink">
<gml:boundedBy><gml:Envelope srsName="urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::7837"
  srsDimension="3"><gml:lowerCorner>{E - 20} {N - 20} 0</gml:lowerCorner>
  <gml:upperCorner>{E + 80} {N + 20} 20</gml:upperCorner></gml:Envelope></gml:boundedBy>
{body}
<{member}>{_material(v3)}</{member}>
</core:CityModel>"""
    path = tmp_path / ("lamps3.gml" if v3 else "lamps.gml")
    path.write_text(text, encoding="utf-8")
    return path


def _read(path: Path) -> tuple[dict[str, Feature], JobReport]:
    report = JobReport()
    with CityGMLReader(path) as reader:
        features = {f.id: f for f in reader.features(report=report)}
    return features, report


def _template_points(feature_id: str, placed: np.ndarray) -> np.ndarray:
    """Placed vertices (source CRS metres) back in template coordinates."""
    matrix, (dx, dy) = PLACEMENTS[feature_id]
    m = np.array(matrix.split(), dtype=float).reshape(4, 4)
    local = placed - np.array([E + dx, N + dy, 0.0]) - m[:3, 3]
    out: np.ndarray = local @ np.linalg.inv(m[:3, :3]).T
    return out


_WALL_UV = {tuple(p): uv for p, uv in zip(WALL, WALL_UV, strict=True)}


def _expected_uv(feature_id: str, placed: np.ndarray) -> list[tuple[float, float]]:
    local = np.round(_template_points(feature_id, placed)).astype(int)
    return [_WALL_UV[(int(x), int(y), int(z))] for x, y, z in local]


def _check_geometry(feature_id: str, g: SurfaceGeometry) -> None:
    a = g.appearance
    assert a is not None and a.theme == "rgb"
    assert a.polygon_texture.tolist() == [0, NO_INDEX]  # the wall
    assert a.polygon_material.tolist() == [NO_INDEX, 0]  # the roof
    assert a.textures[0].image.endswith("quad.png")
    assert a.materials[0].transparency == 0.25
    wall = slice(int(g.ring_offsets[0]), int(g.ring_offsets[1]))
    got = [tuple(map(float, uv)) for uv in a.uv[wall]]
    assert got == _expected_uv(feature_id, g.vertices[wall])
    assert np.isnan(a.uv[int(g.ring_offsets[1]) :]).all()


@pytest.mark.parametrize(
    ("v3", "in_implicit"),
    [(False, False), (True, False), (True, True)],
    ids=["citygml2", "citygml3", "citygml3-implicit-appearance"],
)
def test_every_placement_keeps_the_template_appearance(
    tmp_path: Path, v3: bool, in_implicit: bool
) -> None:
    features, report = _read(_document(tmp_path, v3=v3, in_implicit=in_implicit))
    assert sorted(features) == sorted(PLACEMENTS)
    assert not report.skipped
    for fid, feature in features.items():
        (g,) = feature.geometries
        _check_geometry(fid, g)


def test_mirrored_placement_reverses_rings_with_their_texture_coordinates(
    tmp_path: Path,
) -> None:
    features, _ = _read(_document(tmp_path))
    original, mirrored = features["L1"].geometries[0], features["L3"].geometries[0]
    wall = slice(0, 4)
    # mirrored: the ring runs the other way round; each corner keeps its own (s, t)
    local = _template_points("L3", mirrored.vertices[wall])
    np.testing.assert_allclose(local, np.array(WALL, dtype=float)[::-1], atol=1e-9)
    assert mirrored.appearance is not None and original.appearance is not None
    np.testing.assert_array_equal(mirrored.appearance.uv[wall], original.appearance.uv[wall][::-1])


def test_meshing_gives_every_placement_its_texture_coordinates(tmp_path: Path) -> None:
    features, _ = _read(_document(tmp_path))
    for fid, feature in features.items():
        batch = mesh_features([feature])
        a = batch.mesh.appearance
        assert a is not None
        textured = a.triangle_texture >= 0
        assert int(textured.sum()) == 2  # the wall's two triangles
        corners = np.unique(batch.mesh.triangles[textured].ravel())
        got = [tuple(map(float, uv)) for uv in a.uv[corners]]
        assert got == _expected_uv(fid, batch.mesh.positions[corners])
        assert (a.triangle_material[~textured] == 0).all()


def test_glb_shows_the_texture_on_every_placement(tmp_path: Path) -> None:
    out = tmp_path / "lamps.glb"
    report = convert([_document(tmp_path)], out, options=ConvertOptions())
    assert not report.skipped and sum(report.written.values()) == 3
    gltf = read_file(out)
    doc = gltf.document
    image = Image.open(io.BytesIO(gltf.view_bytes(doc["images"][0]["bufferView"])))
    textured = [p for p in gltf.primitives() if "TEXCOORD_0" in p["attributes"]]
    assert textured
    colours: list[tuple[int, ...]] = []
    for prim in textured:
        uv = gltf.accessor(prim["attributes"]["TEXCOORD_0"])
        used = np.unique(gltf.accessor(prim["indices"]))
        for u, t in uv[used]:
            inside = (0.25 + 0.5 * (u > 0.5), 0.25 + 0.5 * (t > 0.5))
            colours.append(texel(image, *inside))
    # each placement's wall shows all four quadrants once: 3 x 4 textured corners
    assert sorted(colours) == sorted([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)] * 3)
    blended = [m for m in doc["materials"] if m.get("alphaMode") == "BLEND"]
    assert blended  # the roofs' X3DMaterial (transparency 0.25)


# ---------------------------------------------------------------------------------------------
# CityJSON: ``geometry-templates`` with ``texture``/``material`` indexing the document appearance


def _cityjson(tmp_path: Path, *, appearance: bool = True) -> dict[str, Any]:
    """The same three lamps as CityJSON 2.0: one template, three GeometryInstances."""
    quadrant_png(tmp_path / "quad.png")
    objects: dict[str, Any] = {}
    vertices: list[list[float]] = []
    for fid, (matrix, (dx, dy)) in PLACEMENTS.items():
        vertices.append([E + dx, N + dy, 0.0])
        objects[fid] = {
            "type": "CityFurniture",
            "geometry": [
                {
                    "type": "GeometryInstance",
                    "template": 0,
                    "boundaries": [len(vertices) - 1],
                    "transformationMatrix": [float(v) for v in matrix.split()],
                }
            ],
        }
    template: dict[str, Any] = {
        "type": "MultiSurface",
        "lod": "2",
        "boundaries": [[[0, 1, 2, 3]], [[4, 5, 6, 7]]],
    }
    doc: dict[str, Any] = {
        "type": "CityJSON",
        "version": "2.0",
        "transform": {"scale": [0.001, 0.001, 0.001], "translate": [0.0, 0.0, 0.0]},
        "metadata": {"referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/25832"},
        "CityObjects": objects,
        "vertices": [[round(c * 1000) for c in v] for v in vertices],
        "geometry-templates": {
            "templates": [template],
            "vertices-templates": [list(map(float, p)) for p in [*WALL, *ROOF]],
        },
    }
    # texture values: the texture index, then one vertices-texture index per ring vertex
    template["texture"] = {"rgb": {"values": [[[0, 0, 1, 2, 3]], [[None]]]}}
    template["material"] = {"rgb": {"values": [None, 0]}}
    if appearance:
        doc["appearance"] = {
            "materials": [{"name": "lamp", "diffuseColor": [0.9, 0.1, 0.1], "transparency": 0.25}],
            "textures": [{"type": "PNG", "image": "quad.png", "wrapMode": "wrap"}],
            "vertices-texture": [list(uv) for uv in WALL_UV],
        }
    return doc


def _read_cityjson(path: Path) -> tuple[dict[str, Feature], JobReport]:
    report = JobReport()
    with CityJSONReader(path) as reader:
        features = {f.id: f for f in reader.features(report=report)}
    return features, report


def test_cityjson_template_appearance_on_every_placement(tmp_path: Path) -> None:
    path = tmp_path / "lamps.city.json"
    path.write_text(json.dumps(_cityjson(tmp_path)), encoding="utf-8")
    features, report = _read_cityjson(path)
    assert sorted(features) == sorted(PLACEMENTS) and not report.skipped
    for fid, feature in features.items():
        (g,) = feature.geometries
        _check_geometry(fid, g)


def _seq(tmp_path: Path, tables: str) -> Path:
    """The lamps as CityJSONSeq; ``tables``: where the appearance tables are.

    ``header``: in the header line only; ``feature``: in every feature line only (the
    templates' indices then refer to the tables of the feature placing them); ``both``: the
    header's for the templates, and every feature has tables of its own (another material).
    """
    doc = _cityjson(tmp_path)
    appearance = doc.pop("appearance")
    header = {k: v for k, v in doc.items() if k not in ("CityObjects", "vertices")}
    header |= {"CityObjects": {}, "vertices": []}
    if tables in ("header", "both"):
        header["appearance"] = appearance
    lines = [json.dumps(header)]
    for fid, obj in doc["CityObjects"].items():
        k = obj["geometry"][0]["boundaries"][0]
        obj["geometry"][0]["boundaries"] = [0]
        line: dict[str, Any] = {
            "type": "CityJSONFeature",
            "id": fid,
            "CityObjects": {fid: obj},
            "vertices": [doc["vertices"][k]],
        }
        if tables == "feature":
            line["appearance"] = appearance
        elif tables == "both":
            line["appearance"] = {"materials": [{"name": "other", "diffuseColor": [0, 0, 1]}]}
        lines.append(json.dumps(line))
    path = tmp_path / "lamps.city.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("tables", ["header", "feature", "both"])
def test_cityjsonseq_templates_use_the_right_tables(tmp_path: Path, tables: str) -> None:
    features, report = _read_cityjson(_seq(tmp_path, tables))
    assert sorted(features) == sorted(PLACEMENTS) and not report.skipped
    for fid, feature in features.items():
        _check_geometry(fid, feature.geometries[0])


def test_cityjson_template_appearance_problem_is_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "lamps.city.json"
    path.write_text(json.dumps(_cityjson(tmp_path, appearance=False)), encoding="utf-8")
    features, report = _read_cityjson(path)
    assert len(features) == 3  # placed, untextured
    assert all(f.geometries[0].appearance is None for f in features.values())
    reasons = [s.reason for s in report.skipped]
    expected = (
        "geometry template 0: appearance left out (no appearance tables for its "
        "texture/material); its placements are written untextured"
    )
    assert reasons == [expected]


# ---------------------------------------------------------------------------------------------
# tiles and interchange formats


def test_tiles_of_placed_templates_are_textured_and_valid(tmp_path: Path) -> None:
    from citymodel.tiler.build import TileOptions, build_tileset
    from tests.tiler.conftest import assert_check_tileset_passes

    out = tmp_path / "tiles"
    report = JobReport()
    build_tileset([_document(tmp_path)], out, options=TileOptions(jobs=1), report=report)
    assert not report.skipped
    textured = [g for g in map(read_file, sorted(out.rglob("*.glb"))) if "images" in g.document]
    assert textured
    corners = 0
    for gltf in textured:
        for prim in gltf.primitives():
            if "TEXCOORD_0" in prim["attributes"]:
                corners += len(np.unique(gltf.accessor(prim["indices"])))
    assert corners >= 3 * 4  # every lamp's wall, four textured corners each
    assert_check_tileset_passes(out)


@pytest.mark.parametrize(
    ("suffix", "version"),
    [(".city.json", "2.0"), (".city.jsonl", "2.0"), (".gml", "2.0"), (".gml", "3.0")],
)
def test_interchange_keeps_the_appearance_of_every_placement(
    tmp_path: Path, suffix: str, version: str
) -> None:
    """Placed templates are written as explicit geometry with their textures and materials."""
    from citymodel.converters.interchange import write_interchange

    out = tmp_path / "sub" / ("out" + suffix)
    out.parent.mkdir()
    report = JobReport()
    write_interchange([_document(tmp_path)], out, report=report, citygml_version=version)
    assert not report.skipped
    if suffix == ".gml":
        features, back_report = _read(out)
    else:
        features, back_report = _read_cityjson(out)
    assert sorted(features) == sorted(PLACEMENTS) and not back_report.skipped
    for fid, feature in features.items():
        (g,) = feature.geometries
        assert g.appearance is not None
        assert Path(g.appearance.textures[0].image).resolve() == (tmp_path / "quad.png").resolve()
        _check_geometry(fid, g)


@pytest.mark.realdata
def test_geores_trees_and_street_furniture_keep_their_template_appearance(
    shared_data: Path,
) -> None:
    """geoRES places 9 templates 66 times (trees, street furniture), all with appearances."""
    geores = shared_data / "citygml" / "geores_textured" / "geoRES_testdata.xml"
    report = JobReport()
    placed: dict[str, list[SurfaceGeometry]] = {}
    with CityGMLReader(geores) as reader:
        for feature in reader.features(report=report):
            for part, _ in feature.walk():
                if part.type in ("SolitaryVegetationObject", "CityFurniture"):
                    placed.setdefault(part.type, []).extend(part.geometries)
    trees, furniture = placed["SolitaryVegetationObject"], placed["CityFurniture"]
    assert len(trees) == 3 * 13 and len(furniture) == 3 * 9
    for g in trees:  # every tree polygon is textured (billboards and crowns)
        assert g.appearance is not None
        assert (g.appearance.polygon_texture != NO_INDEX).all()
        textured = np.repeat(
            g.appearance.polygon_texture != NO_INDEX, np.diff(g.polygon_offsets)
        )  # per ring
        ring_sizes = np.diff(g.ring_offsets)
        assert not np.isnan(g.appearance.uv[np.repeat(textured, ring_sizes)]).any()
    for g in furniture:
        a = g.appearance
        assert a is not None
        coloured = (a.polygon_texture != NO_INDEX) | (a.polygon_material != NO_INDEX)
        assert coloured.mean() > 0.9
    images = {t.image for g in trees + furniture if g.appearance for t in g.appearance.textures}
    assert images and all(Path(i).is_file() for i in images)


def test_image_with_a_colour_profile_is_embedded_as_plain_srgb(tmp_path: Path) -> None:
    """Tree textures often carry an ICC profile: glTF wants plain sRGB (validator warning)."""
    from PIL import ImageCms

    from citymodel.converters.gltf_textures import load_image

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = Image.new("RGBA", (4, 4), (200, 120, 40, 128))
    path = tmp_path / "tree.png"
    source.save(path, icc_profile=srgb)
    with Image.open(path) as saved:
        assert saved.info.get("icc_profile")
    image = load_image(str(path))
    written = Image.open(io.BytesIO(image.data))
    assert "icc_profile" not in written.info and image.has_alpha
    assert np.abs(np.asarray(written, int) - np.asarray(source, int)).max() <= 1


# ---------------------------------------------------------------------------------------------
# merging placed templates with the object's other geometry of the same LoD


def _square(x: float, look: dict[str, tuple[int, int]] | None) -> SurfaceGeometry:
    """A unit square at ``x``; ``look``: per theme (texture index, material index)."""
    g = SurfaceGeometry.from_polygons(
        [[np.array([(x, 0, 0), (x + 1, 0, 0), (x + 1, 1, 0), (x, 1, 0)], float)]], [0], lod="2"
    )
    if not look:
        return g
    texture, material = Texture(image="/t.png"), Material(diffuse=(1.0, 0.0, 0.0))
    built = [
        SurfaceAppearance(
            theme=name,
            uv=np.array(WALL_UV, np.float32) if t >= 0 else np.full((4, 2), np.nan, np.float32),
            polygon_texture=np.array([t], np.int32),
            polygon_material=np.array([m], np.int32),
            textures=(texture,) if t >= 0 else (),
            materials=(material,) if m >= 0 else (),
        )
        for name, (t, m) in look.items()
    ]
    themes = tuple(built) if len(built) > 1 else ()
    return replace(g, appearance=built[0], themes=themes)


def test_concatenation_keeps_every_theme_and_leaves_others_bare() -> None:
    own = _square(0, {"rgb": (0, -1), "winter": (-1, 0)})
    bare = _square(5, None)
    other = _square(9, {"rgb": (-1, 0)})
    merged = concat_geometries([own, bare, other], lod="2")
    a = merged.appearance
    assert a is not None and a.theme == "rgb"
    assert a.polygon_texture.tolist() == [0, NO_INDEX, NO_INDEX]
    assert a.polygon_material.tolist() == [NO_INDEX, NO_INDEX, 0]
    np.testing.assert_array_equal(a.uv[:4], np.array(WALL_UV, np.float32))
    assert np.isnan(a.uv[4:]).all()
    assert [t.theme for t in merged.themes] == ["rgb", "winter"]
    winter = merged.themes[1]
    assert winter.polygon_material.tolist() == [0, NO_INDEX, NO_INDEX]
    only_bare = concat_geometries([bare, _square(3, None)], lod="2")
    assert only_bare.appearance is None and only_bare.themes == ()
    # a theme that is not the rendered one is kept even when it is the only one
    winter_only = concat_geometries([bare, _square(3, {"winter": (-1, 0)})], lod="2")
    assert [t.theme for t in winter_only.appearances] == ["winter"]
