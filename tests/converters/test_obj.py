"""OBJ + MTL writer: vertices (y-up), groups per building, materials per surface type."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import trimesh

from citymodel.converters.materials import SemanticMaterials, linear_to_srgb
from citymodel.converters.obj import write_obj
from citymodel.mesh import FeatureTable
from citymodel.model.semantics import SurfaceType
from tests.box_city import box_mesh, grid_boxes


@dataclass
class Obj:
    mtllib: str | None = None
    vertices: list[tuple[float, float, float]] = field(default_factory=list)
    normals: list[tuple[float, float, float]] = field(default_factory=list)
    # (group, material, (v1, v2, v3) 0-based, (n1, n2, n3) 0-based)
    faces: list[tuple[str | None, str | None, tuple[int, ...], tuple[int, ...]]] = field(
        default_factory=list
    )
    groups: list[str] = field(default_factory=list)


def parse_obj(path: Path) -> Obj:
    obj = Obj()
    group = material = None
    for line in path.read_text("utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        key, *rest = line.split()
        if key == "mtllib":
            obj.mtllib = rest[0]
        elif key == "v":
            obj.vertices.append(tuple(float(x) for x in rest))
        elif key == "vn":
            obj.normals.append(tuple(float(x) for x in rest))
        elif key == "g":
            assert len(rest) == 1, f"group name with whitespace: {line!r}"
            group = rest[0]
            obj.groups.append(group)
        elif key == "usemtl":
            material = rest[0]
        elif key == "f":
            assert len(rest) == 3
            corners = [tuple(int(x) for x in c.split("//")) for c in rest]
            obj.faces.append(
                (
                    group,
                    material,
                    tuple(c[0] - 1 for c in corners),
                    tuple(c[1] - 1 for c in corners),
                )
            )
        else:
            raise AssertionError(f"unexpected OBJ line {line!r}")
    return obj


def parse_mtl(path: Path) -> dict[str, dict[str, list[float]]]:
    materials: dict[str, dict[str, list[float]]] = {}
    current: dict[str, list[float]] = {}
    for line in path.read_text("utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        key, *rest = line.split()
        if key == "newmtl":
            current = materials[rest[0]] = {}
        else:
            current[key] = [float(x) for x in rest]
    return materials


def city() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, FeatureTable]:
    # features 0 and 1 form one building (a part), 2..4 are buildings; one id with spaces
    boxes = grid_boxes(5, seed=7)
    table = FeatureTable()
    table.add_row({"gml_id": "DEHHALKAÄ2", "building_id": "DEHHALKAÄ2"})
    table.add_row({"gml_id": "DEHHALKAÄ2_p", "building_id": "DEHHALKAÄ2"})
    table.add_row({"gml_id": "b 2", "building_id": "b 2\tx"})
    table.add_row({"gml_id": "b3", "building_id": None})
    table.add_row({"gml_id": "b4", "building_id": "b4"})
    return boxes.positions, boxes.triangles, boxes.feature_ids, boxes.surface_types, table


def test_vertices_are_written_y_up_with_4_decimals(tmp_path: Path) -> None:
    positions, triangles, fids, types, table = city()
    write_obj(tmp_path / "c.obj", positions, triangles, fids, types, table)
    obj = parse_obj(tmp_path / "c.obj")
    got = np.array(obj.vertices)
    assert got.shape == positions.shape
    expected = np.stack([positions[:, 0], positions[:, 2], -positions[:, 1]], axis=1)
    np.testing.assert_allclose(got, expected, atol=0.5e-4 + 1e-9)


def test_groups_per_building_and_materials_per_surface_type(tmp_path: Path) -> None:
    positions, triangles, fids, types, table = city()
    write_obj(tmp_path / "c.obj", positions, triangles, fids, types, table)
    obj = parse_obj(tmp_path / "c.obj")
    assert obj.groups == ["DEHHALKAÄ2", "b_2_x", "feature_3", "b4"]
    assert len(obj.faces) == len(triangles)
    # every input triangle appears once, in the group of its building and with its material
    written = {tuple(sorted(f[2])): f for f in obj.faces}
    assert len(written) == len(triangles)
    group_of_row = ["DEHHALKAÄ2", "DEHHALKAÄ2", "b_2_x", "feature_3", "b4"]
    for tri, code in zip(triangles.tolist(), types.tolist(), strict=True):
        group, material, corners, _ = written[tuple(sorted(tri))]
        assert corners == tuple(tri)  # orientation kept
        assert group == group_of_row[fids[tri[0]]]
        assert material == SurfaceType(code).name.lower()
    # faces of one group are contiguous; within it one run per material
    runs = [(f[0], f[1]) for f in obj.faces]
    compressed = [r for i, r in enumerate(runs) if i == 0 or r != runs[i - 1]]
    assert len(compressed) == len(set(compressed)) == 4 * 3


def test_normals_point_outwards_in_y_up(tmp_path: Path) -> None:
    boxes = box_mesh(np.array([[0.0, 0.0, 0.0]]), np.array([4.0, 3.0, 2.0]))
    table = FeatureTable()
    table.add_row({"building_id": "one"})
    write_obj(
        tmp_path / "b.obj",
        boxes.positions,
        boxes.triangles,
        boxes.feature_ids,
        boxes.surface_types,
        table,
    )
    obj = parse_obj(tmp_path / "b.obj")
    assert len(obj.normals) == 6  # de-duplicated
    normals = np.array(obj.normals)
    for _, material, corners, nidx in obj.faces:
        assert len(set(nidx)) == 1
        expected = boxes.normals[corners[0]]
        np.testing.assert_allclose(normals[nidx[0]], [expected[0], expected[2], -expected[1]])
        if material == "roof":
            np.testing.assert_allclose(normals[nidx[0]], [0, 1, 0])


def test_mtl_next_to_obj_with_srgb_colours(tmp_path: Path) -> None:
    positions, triangles, fids, types, table = city()
    palette = SemanticMaterials.from_mapping({"roof": "#8b3a2b", "wall": "#d9d9d980"})
    write_obj(tmp_path / "c.obj", positions, triangles, fids, types, table, materials=palette)
    obj = parse_obj(tmp_path / "c.obj")
    assert obj.mtllib == "c.mtl"
    mtl = parse_mtl(tmp_path / "c.mtl")
    assert set(mtl) == {"roof", "wall", "ground"}
    np.testing.assert_allclose(mtl["roof"]["Kd"], [0x8B / 255, 0x3A / 255, 0x2B / 255], atol=1e-6)
    assert mtl["roof"]["d"] == [1.0]
    np.testing.assert_allclose(mtl["wall"]["d"], [128 / 255], atol=1e-6)
    ground = palette.color(SurfaceType.GROUND)
    np.testing.assert_allclose(
        mtl["ground"]["Kd"], [linear_to_srgb(c) for c in ground[:3]], atol=1e-6
    )


def test_trimesh_reads_the_obj(tmp_path: Path) -> None:
    positions, triangles, fids, types, table = city()
    write_obj(tmp_path / "c.obj", positions, triangles, fids, types, table)
    scene = trimesh.load(tmp_path / "c.obj", force="scene", process=False, group_material=False)
    assert sum(len(g.faces) for g in scene.geometry.values()) == len(triangles)
    assert sum(len(g.vertices) for g in scene.geometry.values()) >= len(np.unique(triangles))


def test_group_column_and_missing_column(tmp_path: Path) -> None:
    positions, triangles, fids, types, table = city()
    write_obj(tmp_path / "a.obj", positions, triangles, fids, types, table, group_column="gml_id")
    assert parse_obj(tmp_path / "a.obj").groups == ["DEHHALKAÄ2", "DEHHALKAÄ2_p", "b_2", "b3", "b4"]
    write_obj(tmp_path / "b.obj", positions, triangles, fids, types, table, group_column="nope")
    assert parse_obj(tmp_path / "b.obj").groups == [f"feature_{i}" for i in range(5)]


def test_empty_mesh(tmp_path: Path) -> None:
    write_obj(
        tmp_path / "e.obj",
        np.zeros((0, 3)),
        np.zeros((0, 3), np.uint32),
        np.zeros(0, np.uint32),
        np.zeros(0, np.uint8),
        FeatureTable(),
    )
    obj = parse_obj(tmp_path / "e.obj")
    assert obj.vertices == [] and obj.faces == [] and obj.mtllib == "e.mtl"
    assert parse_mtl(tmp_path / "e.mtl") == {}


def test_bad_input_is_rejected_and_nothing_written(tmp_path: Path) -> None:
    positions, triangles, fids, types, table = city()
    bad = triangles.copy()
    bad[0, 0] = len(positions)
    with pytest.raises(ValueError, match="triangle indices"):
        write_obj(tmp_path / "x.obj", positions, bad, fids, types, table)
    with pytest.raises(ValueError, match="feature ids"):
        write_obj(tmp_path / "x.obj", positions, triangles, fids + 10, types, table)
    with pytest.raises(ValueError, match="NaN"):
        write_obj(tmp_path / "x.obj", positions * np.nan, triangles, fids, types, table)
    assert list(tmp_path.iterdir()) == []


def test_large_mesh_is_written_in_chunks(tmp_path: Path) -> None:
    boxes = grid_boxes(3000, seed=2)  # 72,000 vertices > one formatting chunk
    table = FeatureTable(columns={"building_id": [f"B{i}" for i in range(3000)]}, row_count=3000)
    write_obj(
        tmp_path / "l.obj",
        boxes.positions,
        boxes.triangles,
        boxes.feature_ids,
        boxes.surface_types,
        table,
    )
    obj = parse_obj(tmp_path / "l.obj")
    assert len(obj.vertices) == len(boxes.positions)
    assert len(obj.faces) == len(boxes.triangles)
    assert len(obj.groups) == 3000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.mtl", "l.obj"]
