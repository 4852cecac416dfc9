"""Per-feature colours (the ``color`` column, e.g. IFC surface styles) in the glTF writer."""

from __future__ import annotations

import numpy as np
import pytest

from citymodel.converters.gltf import GltfMesh, encode_glb
from citymodel.converters.materials import (
    FEATURE_COLOR_COLUMN,
    SemanticMaterials,
    apply_feature_colors,
    parse_color,
)
from citymodel.mesh import FeatureTable
from citymodel.model import SurfaceType
from tests.gltf_reader import read_glb


def _mesh(rows: int) -> GltfMesh:
    """One triangle per feature row, all WALL."""
    positions = np.array([[i, 0, 0] for i in range(rows) for _ in range(3)], dtype=np.float32)
    positions[1::3, 1] = 1.0
    positions[2::3, 2] = 1.0
    triangles = np.arange(3 * rows, dtype=np.uint32).reshape(-1, 3)
    return GltfMesh(
        positions=positions,
        triangles=triangles,
        feature_ids=np.repeat(np.arange(rows, dtype=np.uint32), 3),
        surface_types=np.full(rows, int(SurfaceType.WALL), dtype=np.uint8),
    )


def _table(colors: list[object]) -> FeatureTable:
    table = FeatureTable()
    for i, color in enumerate(colors):
        table.add_row({"gml_id": f"f{i}", FEATURE_COLOR_COLUMN: color})  # type: ignore[dict-item]
    return table


def _materials_by_triangle(colors: list[object]) -> list[dict[str, object]]:
    gltf = read_glb(encode_glb(_mesh(len(colors)), _table(colors)))
    materials = gltf.document["materials"]
    out: list[dict[str, object]] = [{} for _ in colors]
    for primitive in gltf.primitives():
        triangles = gltf.accessor(primitive["indices"]).reshape(-1, 3)
        for first in triangles[:, 0].tolist():
            out[first // 3] = materials[primitive["material"]]
    return out


def test_colored_features_get_their_own_material() -> None:
    materials = _materials_by_triangle(["#ff0000", None, "#00ff0080", "not a colour", "#ff0000"])
    red, plain, green, bad, red_again = materials
    assert red["name"] == "#ff0000" and red is red_again
    assert red["pbrMetallicRoughness"]["baseColorFactor"] == [1.0, 0.0, 0.0, 1.0]
    wall = SemanticMaterials.default_palette().gltf_material(int(SurfaceType.WALL))
    assert plain == wall and bad == wall
    assert green["alphaMode"] == "BLEND"
    assert green["pbrMetallicRoughness"]["baseColorFactor"][3] == pytest.approx(128 / 255, abs=1e-6)


def test_without_the_column_nothing_changes() -> None:
    mesh = _mesh(2)
    table = FeatureTable()
    table.add_row({"gml_id": "a"})
    table.add_row({"gml_id": "b"})
    gltf = read_glb(encode_glb(mesh, table))
    assert [m["name"] for m in gltf.document["materials"]] == ["wall"]


def test_more_colours_than_codes_fall_back_to_the_palette() -> None:
    colors: list[object] = [f"#{i:06x}" for i in range(300)]
    surface = np.full(300, int(SurfaceType.ROOF), dtype=np.uint8)
    codes, materials = apply_feature_colors(
        surface, np.arange(300, dtype=np.uint32), colors, SemanticMaterials.default_palette()
    )
    assert len(set(codes.tolist())) == 224 + 1
    assert (codes[224:] == int(SurfaceType.ROOF)).all()
    assert materials.color(int(codes[5])) == parse_color("#000005")
