"""Shared pieces of the CityGML 2.0 and 3.0 appearance tests.

Both versions describe the same building: a 10 m x 10 m wall (textured with a 2 x 2 quadrant
image) and a flat roof (X3DMaterial, transparency 0.25), in EPSG:25832 + DHHN2016 around
(E, N). The version-specific documents are written by the test modules; the geometry, the
expected texture coordinates and the checks of the written GLB live here.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from citymodel.converters.citygml import CityGMLReader
from citymodel.converters.convert import ConvertOptions, convert
from citymodel.model import Feature
from citymodel.report import JobReport
from tests.gltf_reader import read_file

E, N = 500000.0, 5700000.0
"""Easting and northing (metres, EPSG:25832) of the building's corner."""

# A 10 m x 10 m wall in the x/z plane (counter-clockwise seen from -y) and a flat roof.
WALL = [(0, 0, 0), (10, 0, 0), (10, 0, 10), (0, 0, 10)]
WALL_UV = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
ROOF = [(0, 0, 10), (10, 0, 10), (10, 10, 10), (0, 10, 10)]
ROOF_UV = {(0, 0): (0.0, 0.0), (10, 0): (1.0, 0.0), (10, 10): (1.0, 1.0), (0, 10): (0.0, 1.0)}
"""Texture coordinates of the roof corners (metres from (E, N)) of a 10 m texture."""

REFERENCE_POINT_TEXTURE = (
    "<app:GeoreferencedTexture><app:imageURI>ortho.png</app:imageURI>"
    f"<app:referencePoint><gml:Point><gml:pos>{E + 0.25} {N + 9.75}</gml:pos></gml:Point>"
    "</app:referencePoint><app:orientation>0.5 0 0 -0.5</app:orientation>"
    "<app:target>#p2</app:target></app:GeoreferencedTexture>"
)
"""A GeoreferencedTexture on the roof (p2): 0.5 m pixels of ``ortho.png`` (20 x 20) from its
upper-left corner; the same element in CityGML 2.0 and 3.0."""

_CORNER_COLOURS = {
    (False, False): (255, 0, 0),
    (True, False): (0, 255, 0),
    (True, True): (0, 0, 255),
    (False, True): (255, 255, 255),
}
"""Quadrant colour by (east half, upper half) of the wall."""


def pos_list(points: list[tuple[int, int, int]]) -> str:
    """A closed ``gml:posList`` of points given in metres from (E, N)."""
    closed = [*points, points[0]]
    return " ".join(f"{E + x} {N + y} {z}" for x, y, z in closed)


def uv_text(uv: list[tuple[float, float]]) -> str:
    """Closed texture coordinates as ``app:textureCoordinates`` text."""
    closed = [*uv, uv[0]]
    return " ".join(f"{u} {v}" for u, v in closed)


def quadrant_png(path: Path) -> None:
    """2x2 texels: t=0 row (image bottom) red, green; t=1 row (image top) white, blue."""
    img = Image.new("RGB", (2, 2))
    img.putpixel((0, 1), (255, 0, 0))
    img.putpixel((1, 1), (0, 255, 0))
    img.putpixel((1, 0), (0, 0, 255))
    img.putpixel((0, 0), (255, 255, 255))
    img.save(path)


def reference_point_image(folder: Path) -> None:
    """The 20 x 20 image :data:`REFERENCE_POINT_TEXTURE` names."""
    Image.new("RGB", (20, 20), (10, 200, 10)).save(folder / "ortho.png")


def read_one(path: Path, **options: str) -> tuple[Feature, JobReport]:
    """The single feature of ``path`` and the reader's report."""
    report = JobReport()
    features = list(CityGMLReader(path, **options).features(report=report))  # type: ignore[arg-type]
    assert len(features) == 1
    return features[0], report


def texel(image: Image.Image, u: float, v: float) -> tuple[int, ...]:
    """Colour at glTF texture coordinate (u, v): v runs down the image (the writer flips t)."""
    x = min(max(int(u * image.width), 0), image.width - 1)
    y = min(max(int(v * image.height), 0), image.height - 1)
    return tuple(image.convert("RGB").getpixel((x, y)))  # type: ignore[arg-type]


def assert_glb_corner_colours(document: Path, out: Path) -> dict[str, object]:
    """Convert ``document`` to ``out`` and check each wall corner shows its quadrant's colour.

    Also checked: one textured primitive, and the roof's X3DMaterial (transparency 0.25)
    blended. Returns the glTF JSON document for version-specific checks.
    """
    report = convert([document], out, options=ConvertOptions())
    assert not report.skipped
    gltf = read_file(out)
    doc = gltf.document
    image = Image.open(io.BytesIO(gltf.view_bytes(doc["images"][0]["bufferView"])))
    (prim,) = [p for p in gltf.primitives() if "TEXCOORD_0" in p["attributes"]]
    positions = gltf.accessor(prim["attributes"]["POSITION"])
    uv = gltf.accessor(prim["attributes"]["TEXCOORD_0"])
    used = np.unique(gltf.accessor(prim["indices"]))
    east, up = positions[used, 0], positions[used, 2]  # z-up local frame
    for i, v in enumerate(used.tolist()):
        key = (bool(east[i] > east.mean()), bool(up[i] > up.mean()))
        u, t = uv[v]
        inside = (0.25 + 0.5 * (u > 0.5), 0.25 + 0.5 * (t > 0.5))  # texel centre, no edge
        assert texel(image, *inside) == _CORNER_COLOURS[key]
    material = doc["materials"][prim["material"]]
    assert "baseColorTexture" in material["pbrMetallicRoughness"]
    x3d = [m for m in doc["materials"] if m["name"].startswith("material_")]
    assert x3d and x3d[0]["alphaMode"] == "BLEND"  # the roof: X3DMaterial, transparency 0.25
    return doc


def assert_missing_image_reported_once(document: Path, image: Path, out: Path) -> None:
    """A missing texture image is one warning; the building is written untextured."""
    report = convert([document], out, options=ConvertOptions())
    expected = f"texture image {image}: file not found; its polygons are written untextured"
    assert [w for w in report.warnings if image.name in w] == [expected]
    gltf = read_file(out)
    assert "images" not in gltf.document
    assert sum(report.written.values()) == 1


def assert_passes_khronos_validator(document: Path, out: Path) -> None:
    """The textured GLB of ``document`` has no unexpected Khronos validator issues."""
    from tests.gltf_validator import unexpected_issues, validate_gltf

    convert([document], out, options=ConvertOptions())
    assert "images" in read_file(out).document  # the textured wall is validated
    assert unexpected_issues(validate_gltf(out)) == []
