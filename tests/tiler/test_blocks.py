"""Block (LoD1 prism) geometry and deviation: closed, outward, analytically known errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from citymodel.mesh import Mesh
from citymodel.model.semantics import SurfaceType as S
from citymodel.tiler.blocks import block_mesh, block_meshes
from tests.tiler.unit_city import Polygon, gable_polygons, polygons_to_mesh


def _solid(mesh: Mesh) -> trimesh.Trimesh:
    # trimesh merges coincident vertices (process=True): watertight then means closed.
    return trimesh.Trimesh(mesh.positions, mesh.triangles.astype(np.int64), process=True)


def _box_polygons(
    x0: float, y0: float, x1: float, y1: float, z0: float, z1: float, roof: S = S.ROOF
) -> list[Polygon]:
    return [
        ([(x0, y0, z0), (x0, y1, z0), (x1, y1, z0), (x1, y0, z0)], S.GROUND),
        ([(x0, y0, z0), (x1, y0, z0), (x1, y0, z1), (x0, y0, z1)], S.WALL),
        ([(x1, y0, z0), (x1, y1, z0), (x1, y1, z1), (x1, y0, z1)], S.WALL),
        ([(x1, y1, z0), (x0, y1, z0), (x0, y1, z1), (x1, y1, z1)], S.WALL),
        ([(x0, y1, z0), (x0, y0, z0), (x0, y0, z1), (x0, y1, z1)], S.WALL),
        ([(x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1)], roof),
    ]


def test_gable_box_block_is_closed_outward_with_analytic_deviation() -> None:
    length, width, eave, ridge = 20.0, 10.0, 6.0, 10.0
    mesh = polygons_to_mesh(gable_polygons(0.0, 0.0, length, width, eave, ridge))
    assert _solid(mesh).is_watertight  # the input itself is a closed solid

    block, deviation = block_mesh(mesh)

    top = (eave + ridge) / 2  # midpoint of the roof's z range minimises max |z_roof - top|
    assert deviation == pytest.approx(ridge - top, abs=1e-9)  # ridge-to-top = 2 m
    assert deviation == pytest.approx(2.0, abs=1e-9)
    solid = _solid(block)
    assert solid.is_watertight
    assert solid.is_winding_consistent
    assert solid.volume == pytest.approx(length * width * top, rel=1e-9)  # > 0: normals outward
    assert block.positions[:, 2].min() == 0.0
    assert block.positions[:, 2].max() == pytest.approx(top)
    # Roof cap, ground cap, four walls of two triangles.
    types = block.surface_types.tolist()
    assert types.count(S.ROOF) == 2 and types.count(S.GROUND) == 2 and types.count(S.WALL) == 8
    # Vertices are not shared between the caps and walls (flat shading, as Mesh requires).
    walls = np.flatnonzero(block.surface_types == S.WALL)
    caps = np.flatnonzero(block.surface_types != S.WALL)
    assert not np.intersect1d(block.triangles[walls].ravel(), block.triangles[caps].ravel()).size


def test_wall_normals_point_away_from_the_footprint() -> None:
    mesh = polygons_to_mesh(_box_polygons(0, 0, 10, 4, 0, 3))
    block, _ = block_mesh(mesh)
    tris = block.positions[block.triangles.astype(np.int64)]
    normals = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    centres = tris.mean(axis=1)
    walls = block.surface_types == S.WALL
    outward = np.einsum("ij,ij->i", normals[walls][:, :2], centres[walls][:, :2] - [5.0, 2.0])
    assert (outward > 0).all()
    assert (normals[block.surface_types == S.ROOF][:, 2] > 0).all()
    assert (normals[block.surface_types == S.GROUND][:, 2] < 0).all()


def test_flat_box_is_reproduced_exactly() -> None:
    mesh = polygons_to_mesh(_box_polygons(2, 3, 12, 9, 1, 7))
    block, deviation = block_mesh(mesh)
    assert deviation == 0.0
    assert _solid(block).volume == pytest.approx(10 * 6 * 6)


def test_courtyard_hole_gets_inner_walls() -> None:
    # A 30 x 30 block with a 10 x 10 courtyard; ground as four trapezoids around the hole.
    o, i = [(0, 0), (30, 0), (30, 30), (0, 30)], [(10, 10), (20, 10), (20, 20), (10, 20)]
    polys = []
    for k in range(4):
        a, b = o[k], o[(k + 1) % 4]
        c, d = i[(k + 1) % 4], i[k]
        polys.append(([(*a, 0.0), (*d, 0.0), (*c, 0.0), (*b, 0.0)], S.GROUND))  # facing down
        polys.append(([(*a, 5.0), (*b, 5.0), (*c, 5.0), (*d, 5.0)], S.ROOF))
    block, deviation = block_mesh(polygons_to_mesh(polys))
    solid = _solid(block)
    assert solid.is_watertight
    assert solid.volume == pytest.approx((900 - 100) * 5.0)
    assert deviation == 0.0
    assert (block.surface_types == S.WALL).sum() == 2 * 8  # 4 outer + 4 courtyard walls


def _balanced(mesh: Mesh) -> bool:
    """Every directed edge (after welding) has its reverse as often: closed and oriented."""
    _, weld = np.unique(np.round(mesh.positions, 6), axis=0, return_inverse=True)
    t = weld.ravel()[mesh.triangles.astype(np.int64)]
    edges = np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]]).tolist()
    counts: dict[tuple[int, int], int] = {}
    for a, b in edges:
        counts[(a, b)] = counts.get((a, b), 0) + 1
    return all(counts.get((b, a), 0) == n for (a, b), n in counts.items())


def test_overlapping_ground_polygons_still_close_the_prism() -> None:
    # Two ground polygons covering the same 4 x 4 m corner of a 10 x 8 m box (bad data).
    polys = _box_polygons(0, 0, 10, 8, 0, 3)
    polys.append(([(0, 0, 0), (0, 4, 0), (4, 4, 0), (4, 0, 0)], S.GROUND))
    block, deviation = block_mesh(polygons_to_mesh(polys))
    assert _balanced(block)
    assert deviation == 0.0


def test_sliver_in_the_ground_is_ignored() -> None:
    # A ground ring with a vertex 0.1 mm off the middle of its south edge: the fan from the
    # first corner yields a sliver of 0.5 cm² whose orientation is meaningless.
    ring = [(0, 0, 0), (5, 1e-4, 0), (10, 0, 0), (10, 6, 0), (0, 6, 0)]
    polys = [p for p in _box_polygons(0, 0, 10, 6, 0, 4) if p[1] != S.GROUND]
    polys.append((ring, S.GROUND))
    block, _ = block_mesh(polygons_to_mesh(polys))
    assert _balanced(block)
    assert (block.surface_types == S.WALL).sum() == 4 * 2  # four walls, no sliver walls
    assert _solid(block).volume == pytest.approx(10 * 6 * 4)


def test_parts_get_separate_prisms_and_the_unit_the_larger_deviation() -> None:
    low = polygons_to_mesh(gable_polygons(0, 0, 10, 8, 4, 6), feature_id=1)
    high = polygons_to_mesh(gable_polygons(10, 0, 10, 8, 9, 15), feature_id=2)
    mesh = Mesh.concat([low, high])
    blocks = block_meshes(mesh)
    assert blocks.has_block.tolist() == [False, True, True]  # row 0 has no geometry
    assert blocks.deviation.tolist() == pytest.approx([0.0, 1.0, 3.0])
    for row, top in ((1, 5.0), (2, 12.0)):
        part = slice(blocks.vertex_offsets[row], blocks.vertex_offsets[row + 1])
        assert blocks.mesh.positions[part, 2].max() == pytest.approx(top)
        assert (blocks.mesh.feature_ids[part] == row).all()
    assert block_mesh(mesh)[1] == pytest.approx(3.0)


def test_roof_overhang_counts_horizontally() -> None:
    # Box 10 x 10 x 3 with a flat roof reaching 1 m beyond the walls on one side.
    polys = _box_polygons(0, 0, 10, 10, 0, 3)
    polys[-1] = ([(0, 0, 3), (11, 0, 3), (11, 10, 3), (0, 10, 3)], S.ROOF)
    _, deviation = block_mesh(polygons_to_mesh(polys))
    assert deviation == pytest.approx(1.0)


def test_without_ground_semantics_downward_faces_are_the_footprint() -> None:
    polys = [(ring, S.UNKNOWN) for ring, _ in gable_polygons(0, 0, 8, 6, 3, 5)]
    block, deviation = block_mesh(polygons_to_mesh(polys))
    # Without roof semantics the top is the midpoint of the upward faces' z range.
    assert deviation == pytest.approx(1.0)
    assert _solid(block).volume == pytest.approx(8 * 6 * 4)


def test_open_shell_falls_back_to_the_convex_hull() -> None:
    # Only walls and roof, no bottom: the footprint is the hull of all vertices.
    polys = [p for p in gable_polygons(0, 0, 8, 6, 3, 5) if p[1] != S.GROUND]
    block, deviation = block_mesh(polygons_to_mesh(polys))
    assert _solid(block).is_watertight
    assert _solid(block).volume == pytest.approx(8 * 6 * 4)
    assert deviation == pytest.approx(1.0)


def test_flat_feature_gets_no_block_and_its_size_as_deviation() -> None:
    ground_only = polygons_to_mesh([([(0, 0, 0), (0, 4, 0), (3, 4, 0), (3, 0, 0)], S.GROUND)])
    blocks = block_meshes(ground_only)
    assert not blocks.has_block[0]
    assert blocks.mesh.triangle_count == 0
    assert blocks.deviation[0] == pytest.approx(5.0)  # horizontal diameter


def test_empty_mesh() -> None:
    block, deviation = block_mesh(Mesh.empty())
    assert block.triangle_count == 0 and deviation == 0.0


@settings(max_examples=40, deadline=None)
@given(
    length=st.floats(2, 60),
    width=st.floats(2, 30),
    eave=st.floats(2, 20),
    rise=st.floats(0.1, 10),
    yaw=st.floats(0, 2 * math.pi),
    east=st.floats(-500, 500),
)
def test_rotated_gable_houses(
    length: float, width: float, eave: float, rise: float, yaw: float, east: float
) -> None:
    mesh = polygons_to_mesh(
        gable_polygons(-length / 2, -width / 2, length, width, eave, eave + rise)
    )
    c, s = math.cos(yaw), math.sin(yaw)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    moved = Mesh(
        positions=mesh.positions @ rot.T + [east, 0.0, 40.0],
        triangles=mesh.triangles,
        feature_ids=mesh.feature_ids,
        surface_types=mesh.surface_types,
    )
    block, deviation = block_mesh(moved)
    assert deviation == pytest.approx(rise / 2, abs=1e-6)
    solid = _solid(block)
    assert solid.is_watertight and solid.is_winding_consistent
    assert solid.volume == pytest.approx(length * width * (eave + rise / 2), rel=1e-6)
