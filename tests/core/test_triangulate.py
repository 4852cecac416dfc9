"""Triangulation of polygons with holes (CGML-5): properties and the real-world gotchas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from citymodel.errors import GeometryError
from citymodel.model import SurfaceGeometry
from citymodel.ops.triangulate import (
    DEGENERATE,
    DEGENERATE_HOLE,
    EARCUT_FAILED,
    INVALID,
    NON_PLANAR,
    Triangulation,
    newell_normals,
    polygon_areas,
    triangulate_polygons,
)

UTM = np.array([356_123.25, 5_645_678.5, 52.75])


# --- helpers ------------------------------------------------------------------------------------


def layout(polygons: list[list[np.ndarray]]) -> SurfaceGeometry:
    """Ragged layout of polygons given as lists of (n, 3) rings, exterior first."""
    rings = [[np.asarray(r, dtype=np.float64) for r in poly] for poly in polygons]
    return SurfaceGeometry.from_polygons(rings, [0] * len(rings), lod="2")


def triangulate(
    polygons: list[list[np.ndarray]], *, fan: bool = True
) -> tuple[SurfaceGeometry, Triangulation]:
    geom = layout(polygons)
    return geom, triangulate_polygons(
        geom.vertices, geom.ring_offsets, geom.polygon_offsets, fan=fan
    )


def triangle_vectors(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(M, 3) cross products (2 × area × unit normal), computed relative to the first vertex."""
    a = vertices[triangles[:, 0]]
    return np.cross(vertices[triangles[:, 1]] - a, vertices[triangles[:, 2]] - a)


def triangle_areas(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    return 0.5 * np.linalg.norm(triangle_vectors(vertices, triangles), axis=1)


def shoelace(ring2d: np.ndarray) -> float:
    x, y = ring2d[:, 0], ring2d[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def assert_normals_agree(vertices: np.ndarray, tri: Triangulation, normals: np.ndarray) -> None:
    """Every triangle's normal points to the side of its polygon's Newell normal.

    (A triangle only nanometres high may have a noisy direction, so the angle is not checked.)
    """
    vec = triangle_vectors(vertices, tri.triangles.astype(np.int64))
    unit = normals[tri.polygon_index] / np.linalg.norm(normals[tri.polygon_index], axis=1)[:, None]
    cos = np.einsum("ij,ij->i", vec, unit) / np.linalg.norm(vec, axis=1)
    assert np.all(cos > 0), cos.min()


def rotation_matrix(q: tuple[float, float, float, float]) -> np.ndarray:
    w, x, y, z = np.asarray(q) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def place(ring2d: np.ndarray, rot: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Lift a 2D ring into z=0, rotate it and move it to UTM-sized coordinates."""
    flat = np.column_stack([ring2d, np.zeros(len(ring2d))])
    return flat @ rot.T + shift


def square(size: float = 1.0, origin: np.ndarray = UTM) -> np.ndarray:
    return np.array([[0, 0, 0], [size, 0, 0], [size, size, 0], [0, size, 0]], float) + origin


# --- strategies ---------------------------------------------------------------------------------


@st.composite
def star_polygons(draw: st.DrawFn, min_vertices: int = 3, max_vertices: int = 24) -> np.ndarray:
    """A simple polygon, counter-clockwise: vertices at distinct angles around the origin."""
    n = draw(st.integers(min_vertices, max_vertices))
    degrees = sorted(draw(st.lists(st.integers(0, 359), min_size=n, max_size=n, unique=True)))
    gaps = np.diff([*degrees, degrees[0] + 360])
    assume(gaps.max() < 175)  # a gap of 180° or more would let the closing edge cross others
    radii = draw(st.lists(st.floats(1.0, 60.0), min_size=n, max_size=n))
    angles = np.radians(degrees)
    return np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])


@st.composite
def rotations(draw: st.DrawFn) -> np.ndarray:
    q = draw(st.tuples(*[st.floats(-1.0, 1.0)] * 4))
    assume(np.linalg.norm(q) > 0.1)
    return rotation_matrix(q)


utm_offsets = st.builds(
    lambda x, y, z: np.array([x, y, z]),
    st.floats(2e5, 8e5),
    st.floats(5.2e6, 6.1e6),
    st.floats(-50.0, 3000.0),
)


@st.composite
def polygons_with_holes(draw: st.DrawFn) -> tuple[np.ndarray, list[np.ndarray]]:
    """An exterior containing the disk of radius 0.7 r around the origin, and 1–2 holes in it."""
    r = draw(st.floats(5.0, 50.0))
    n = draw(st.integers(6, 20))
    step = 2 * np.pi / n
    jitter = np.array(draw(st.lists(st.floats(0.0, 0.5), min_size=n, max_size=n)))
    angles = (np.arange(n) + jitter) * step  # gaps <= 1.5 step <= 90°
    radii = np.array(draw(st.lists(st.floats(r, 3 * r), min_size=n, max_size=n)))
    outer = np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])

    def hole(centre: tuple[float, float], max_radius: float) -> np.ndarray:
        k = draw(st.integers(4, 10))
        hstep = 2 * np.pi / k
        hj = np.array(draw(st.lists(st.floats(0.0, 0.5), min_size=k, max_size=k)))
        ha = (np.arange(k) + hj) * hstep  # gaps <= 1.5 × 90°
        hr = np.array(
            draw(st.lists(st.floats(0.2 * max_radius, max_radius), min_size=k, max_size=k))
        )
        ring = np.column_stack([hr * np.cos(ha), hr * np.sin(ha)]) + centre
        return ring[::-1] if draw(st.booleans()) else ring  # holes of either orientation

    if draw(st.booleans()):
        holes = [hole((0.0, 0.0), 0.5 * r)]
    else:
        holes = [hole((-0.35 * r, 0.0), 0.3 * r), hole((0.35 * r, 0.0), 0.3 * r)]
    return outer, holes


# --- properties ---------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(poly=star_polygons(), rot=rotations(), shift=utm_offsets)
def test_area_and_orientation_preserved(
    poly: np.ndarray, rot: np.ndarray, shift: np.ndarray
) -> None:
    ring = place(poly, rot, shift)
    geom, tri = triangulate([[ring]])
    expected = shoelace(poly)
    assert tri.failures == () and tri.warnings == ()
    assert math.isclose(
        triangle_areas(ring, tri.triangles).sum(), expected, rel_tol=1e-9, abs_tol=1e-6
    )
    assert math.isclose(
        polygon_areas(geom.vertices, geom.ring_offsets, geom.polygon_offsets)[0],
        expected,
        rel_tol=1e-9,
        abs_tol=1e-6,
    )
    normal = newell_normals(geom.vertices, geom.ring_offsets)
    assert np.allclose(normal[0] / np.linalg.norm(normal[0]), rot[:, 2], atol=1e-9)
    assert_normals_agree(ring, tri, normal)
    assert tri.triangle_count == len(poly) - 2 - _straight_vertices(poly)


def _straight_vertices(poly: np.ndarray) -> int:
    """Vertices with collinear neighbours (each removes one zero-area triangle)."""
    a = poly - np.roll(poly, 1, axis=0)
    b = np.roll(poly, -1, axis=0) - poly
    cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    scale = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return int(np.sum(np.abs(cross) <= 1e-9 * scale))


@settings(max_examples=100, deadline=None)
@given(shape=polygons_with_holes(), rot=rotations(), shift=utm_offsets)
def test_holes_are_subtracted(
    shape: tuple[np.ndarray, list[np.ndarray]], rot: np.ndarray, shift: np.ndarray
) -> None:
    outer, holes = shape
    rings = [place(outer, rot, shift)] + [place(h, rot, shift) for h in holes]
    geom, tri = triangulate([rings])
    expected = shoelace(outer) - sum(abs(shoelace(h)) for h in holes)
    assert tri.failures == () and tri.warnings == ()
    got = triangle_areas(geom.vertices, tri.triangles).sum()
    assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(
        polygon_areas(geom.vertices, geom.ring_offsets, geom.polygon_offsets)[0],
        expected,
        rel_tol=1e-9,
        abs_tol=1e-6,
    )
    normals = newell_normals(geom.vertices, geom.ring_offsets)[geom.polygon_offsets[:-1]]
    assert_normals_agree(geom.vertices, tri, normals)
    # every hole vertex is used: holes are bridged into the exterior, not dropped
    assert set(np.unique(tri.triangles)) == set(range(geom.vertex_count))


@st.composite
def convex_polygons(draw: st.DrawFn) -> np.ndarray:
    """Points on a circle (any angles: always convex), optionally with a collinear edge midpoint."""
    n = draw(st.integers(3, 30))
    degrees = sorted(draw(st.lists(st.integers(0, 359), min_size=n, max_size=n, unique=True)))
    radius = draw(st.floats(0.5, 80.0))
    angles = np.radians(degrees)
    ring = radius * np.column_stack([np.cos(angles), np.sin(angles)])
    if draw(st.booleans()):
        ring = np.insert(ring, 1, 0.5 * (ring[0] + ring[1]), axis=0)
    return ring


@settings(max_examples=100, deadline=None)
@given(poly=convex_polygons(), rot=rotations(), shift=utm_offsets)
def test_convex_fan_and_earcut_agree(poly: np.ndarray, rot: np.ndarray, shift: np.ndarray) -> None:
    ring = place(poly, rot, shift)
    assume(abs(shoelace(poly)) > 1e-3)
    geom, fan = triangulate([[ring]])
    _, ear = triangulate([[ring]], fan=False)
    assert fan.failures == ear.failures == ()
    if len(poly) > 3:
        # the convex path was taken: a fan from the first vertex
        assert np.all(np.any(fan.triangles == 0, axis=1))
    fan_area = triangle_areas(ring, fan.triangles).sum()
    ear_area = triangle_areas(ring, ear.triangles).sum()
    assert math.isclose(fan_area, ear_area, rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(fan_area, shoelace(poly), rel_tol=1e-9, abs_tol=1e-6)
    normals = newell_normals(geom.vertices, geom.ring_offsets)
    assert_normals_agree(ring, fan, normals)
    assert_normals_agree(ring, ear, normals)


@settings(max_examples=50, deadline=None)
@given(
    polys=st.lists(
        st.tuples(star_polygons(max_vertices=12), rotations(), utm_offsets), min_size=1, max_size=12
    ),
)
def test_batch_equals_polygon_by_polygon(
    polys: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> None:
    rings = [[place(p, rot, shift)] for p, rot, shift in polys]
    geom, tri = triangulate(rings)
    assert tri.failures == ()
    assert np.all(np.diff(tri.polygon_index) >= 0)  # grouped by polygon, in input order
    areas = np.bincount(
        tri.polygon_index,
        weights=triangle_areas(geom.vertices, tri.triangles),
        minlength=len(polys),
    )
    for i, (p, _, _) in enumerate(polys):
        assert math.isclose(areas[i], shoelace(p), rel_tol=1e-9, abs_tol=1e-6)
        # triangles only use the vertices of their own polygon
        mine = tri.triangles[tri.polygon_index == i]
        lo, hi = geom.ring_offsets[i], geom.ring_offsets[i + 1]
        assert mine.min() >= lo and mine.max() < hi


# --- CGML-5 gotchas -----------------------------------------------------------------------------


def test_consecutive_duplicates_are_dropped() -> None:
    ring = square(4.0)
    ring = np.array(
        [ring[0], ring[1], ring[1], ring[1] + [0, 0.0005, 0], ring[2], ring[3], ring[0]]
    )
    geom, tri = triangulate([[ring]])
    assert tri.failures == () and tri.triangle_count == 2
    # whichever vertex of a duplicate run is kept, the shape moves by less than 1 mm
    assert math.isclose(triangle_areas(geom.vertices, tri.triangles).sum(), 16.0, abs_tol=2e-3)
    used = set(np.unique(tri.triangles).tolist())
    assert len(used) == 4 and len(used & {0, 6}) == 1  # one of the closing pair is kept
    assert len(used & {1, 2, 3}) == 1  # exactly one vertex of the duplicate run


def test_near_duplicate_in_a_concave_ring_is_no_earcut_failure() -> None:
    # a U shape (earcut path) with a corner given twice, 0.9 mm apart: the area check compares
    # earcut's triangles with the area of the ring as deduplicated
    u_shape = [[0, 0, 0], [6, 0, 0], [6.0009, 0, 0], [6, 4, 0], [4, 4, 0], [4, 1, 0], [2, 1, 0]]
    u_shape += [[2, 4, 0], [0, 4, 0]]
    geom, tri = triangulate([[np.array(u_shape) + UTM]])
    assert tri.failures == ()
    assert math.isclose(triangle_areas(geom.vertices, tri.triangles).sum(), 18.0, abs_tol=5e-3)


def test_close_but_distinct_vertices_are_kept() -> None:
    ring = square(4.0)
    # a 2 mm notch: beyond the 1 mm duplicate tolerance, so the vertex stays
    ring = np.array([ring[0], ring[1], ring[1] + [-0.002, 0.002, 0], ring[2], ring[3]])
    geom, tri = triangulate([[ring]])
    assert 2 in tri.triangles
    assert math.isclose(
        triangle_areas(geom.vertices, tri.triangles).sum(), 16.0 - 0.5 * 4 * 0.002, rel_tol=1e-9
    )


def test_collinear_vertices_give_no_zero_area_triangles() -> None:
    corners = [
        [0, 0, 0],
        [2, 0, 0],
        [4, 0, 0],
        [4, 1, 0],
        [4, 2, 0],
        [2, 2, 0],
        [0, 2, 0],
        [0, 1, 0],
    ]
    ring = np.array(corners, float) + UTM
    for fan in (True, False):
        geom, tri = triangulate([[ring]], fan=fan)
        areas = triangle_areas(geom.vertices, tri.triangles)
        assert tri.failures == ()
        assert math.isclose(areas.sum(), 8.0, rel_tol=1e-12)
        assert areas.min() > 0.1
        assert_normals_agree(geom.vertices, tri, newell_normals(geom.vertices, geom.ring_offsets))


@pytest.mark.parametrize(
    ("ring", "reason"),
    [
        ([[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3]], "area 0 m²"),  # collinear: zero area
        ([[0, 0, 0], [5, 0, 0], [0, 0, 0.0004]], "fewer than 3 distinct vertices"),
        ([[0, 0, 0], [1, 0, 0]], "fewer than 3 distinct vertices"),
        ([[0, 0, 0], [0.005, 0, 0], [0.005, 0.005, 0], [0, 0.005, 0]], "below 0.0001 m²"),  # 25 mm²
        ([[0, 0, 0], [100, 0, 0], [50, 1e-6, 0]], "below 0.0001 m²"),  # sliver, 0.5 cm²
    ],
)
def test_degenerate_polygons_are_reported_not_triangulated(
    ring: list[list[float]], reason: str
) -> None:
    good = square()
    _, tri = triangulate([[np.asarray(ring, float) + UTM], [good]])
    assert len(tri.failures) == 1
    polygon, message = tri.failures[0]
    assert polygon == 0 and message.startswith(DEGENERATE) and reason in message
    assert np.all(tri.polygon_index == 1) and tri.triangle_count == 2


def test_sliver_above_min_area_is_triangulated() -> None:
    ring = np.array([[0, 0, 0], [100, 0, 0], [50, 1e-5, 1e-5]]) + UTM  # 7 cm², 14 µm high
    geom, tri = triangulate([[ring]])
    assert tri.failures == () and tri.triangle_count == 1
    # (1e-5 m at northing 5.6e6 is only representable to ~1e-4 relative)
    area = triangle_areas(geom.vertices, tri.triangles).sum()
    assert math.isclose(area, 50 * math.sqrt(2e-10), rel_tol=1e-3)
    assert math.isclose(
        area, polygon_areas(geom.vertices, geom.ring_offsets, geom.polygon_offsets)[0], rel_tol=1e-9
    )


def test_non_planar_roof_is_triangulated_and_reported() -> None:
    roof = np.array([[0, 0, 10], [8, 0, 10], [8, 6, 14], [0, 6, 14]], float) + UTM
    slightly = roof.copy()
    slightly[2, 2] += 0.02  # cm deviations are normal in LoD2 roofs: silent
    _, tri = triangulate([[slightly]])
    assert tri.warnings == () and tri.triangle_count == 2
    folded = roof.copy()
    folded[2, 2] += 0.6
    geom, tri = triangulate([[folded]])
    assert tri.failures == () and tri.triangle_count == 2
    assert len(tri.warnings) == 1 and tri.warnings[0][1].startswith(NON_PLANAR)
    assert_normals_agree(geom.vertices, tri, newell_normals(geom.vertices, geom.ring_offsets))


def test_inverted_orientation_is_kept_per_polygon() -> None:
    clockwise = square(3.0)[::-1]  # seen from above: clockwise, so the polygon faces down
    geom, tri = triangulate([[clockwise]])
    normals = triangle_vectors(geom.vertices, tri.triangles.astype(np.int64))
    assert np.all(normals[:, 2] < 0)
    assert newell_normals(geom.vertices, geom.ring_offsets)[0, 2] < 0


@pytest.mark.parametrize("reverse_hole", [False, True])
def test_hole_of_either_orientation(reverse_hole: bool) -> None:
    hole = square(2.0, UTM + np.array([1, 1, 0]))
    hole = hole if reverse_hole else hole[::-1]
    geom, tri = triangulate([[square(4.0), hole]])
    assert tri.failures == ()
    assert math.isclose(triangle_areas(geom.vertices, tri.triangles).sum(), 12.0, rel_tol=1e-12)
    assert polygon_areas(geom.vertices, geom.ring_offsets, geom.polygon_offsets)[
        0
    ] == pytest.approx(12.0)


def test_degenerate_hole_is_ignored_with_a_warning() -> None:
    hole = np.array([[1, 1, 0], [2, 1, 0], [2, 1, 0.0002]]) + UTM  # two distinct vertices
    geom, tri = triangulate([[square(4.0), hole]])
    assert tri.failures == ()
    assert len(tri.warnings) == 1 and tri.warnings[0][1].startswith(DEGENERATE_HOLE)
    assert "ring 1" in tri.warnings[0][1]
    assert math.isclose(triangle_areas(geom.vertices, tri.triangles).sum(), 16.0, rel_tol=1e-12)


def test_self_intersecting_ring_is_reported() -> None:
    # a figure eight with lobes of different size: the signed area is their difference
    ring = np.array([[0, 0, 0], [4, 4, 0], [4, 0, 0], [0, 2, 0]], float) + UTM
    _, tri = triangulate([[ring], [square()]])
    assert [p for p, _ in tri.failures] == [0]
    assert tri.failures[0][1].startswith(EARCUT_FAILED)
    assert 1 in tri.polygon_index


def test_overlapping_holes_are_reported() -> None:
    hole = square(2.0, UTM + np.array([0.5, 0.5, 0]))[::-1]
    _, tri = triangulate([[square(4.0), hole, hole + np.array([0.5, 0.5, 0])]])
    assert len(tri.failures) == 1 and tri.failures[0][1].startswith(EARCUT_FAILED)


def test_non_finite_and_ringless_polygons_are_reported() -> None:
    bad = square()
    bad[2, 1] = np.nan
    geom = layout([[bad], [square()]])
    polygon_offsets = np.array([0, 0, 1, 2])  # polygon 0 has no rings
    tri = triangulate_polygons(geom.vertices, geom.ring_offsets, polygon_offsets)
    assert [(p, r.split(":")[0]) for p, r in tri.failures] == [(0, INVALID), (1, INVALID)]
    assert "non-finite" in tri.failures[1][1]
    assert np.all(tri.polygon_index == 2) and tri.triangle_count == 2


def test_empty_batch() -> None:
    tri = triangulate_polygons(np.zeros((0, 3)), np.zeros(1, np.int64), np.zeros(1, np.int64))
    assert tri.triangles.shape == (0, 3) and tri.triangles.dtype == np.uint32
    assert tri.polygon_index.shape == (0,) and tri.failures == ()


@pytest.mark.parametrize(
    ("vertices", "rings", "polygons"),
    [
        (np.zeros((4, 2)), [0, 4], [0, 1]),  # 2D vertices
        (np.zeros((4, 3)), [0, 3], [0, 1]),  # rings do not cover the vertices
        (np.zeros((4, 3)), [0, 3, 2, 4], [0, 3]),  # decreasing
        (np.zeros((4, 3)), [0, 4], [0, 2]),  # more rings than exist
        (np.zeros((4, 3)), [], [0]),
    ],
)
def test_invalid_layout_raises(vertices: np.ndarray, rings: list[int], polygons: list[int]) -> None:
    with pytest.raises(GeometryError):
        triangulate_polygons(vertices, np.array(rings, np.int64), np.array(polygons, np.int64))


def test_mixed_batch_keeps_polygon_order() -> None:
    l_shape = (
        np.array([[0, 0, 0], [2, 0, 0], [2, 1, 0], [1, 1, 0], [1, 2, 0], [0, 2, 0]], float) + UTM
    )
    wall = np.array([[0, 0, 0], [5, 0, 0], [5, 0, 3], [2.5, 0, 5], [0, 0, 3]], float) + UTM
    triangle = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 1]], float) + UTM
    polys = [
        [l_shape],
        [wall],
        [square(4.0), square(2.0, UTM + np.array([1, 1, 0]))],
        [triangle],
        [l_shape],
    ]
    geom, tri = triangulate(polys)
    assert tri.polygon_index.tolist() == [0] * 4 + [1] * 3 + [2] * 8 + [3] + [4] * 4
    for p in range(len(polys)):
        lo = geom.ring_offsets[geom.polygon_offsets[p]]
        hi = geom.ring_offsets[geom.polygon_offsets[p + 1]]
        mine = tri.triangles[tri.polygon_index == p]
        assert mine.min() >= lo and mine.max() < hi
    normals = newell_normals(geom.vertices, geom.ring_offsets)[geom.polygon_offsets[:-1]]
    assert_normals_agree(geom.vertices, tri, normals)


def test_triangulation_does_not_modify_read_only_input() -> None:
    geom = layout([[square(2.0)], [square(2.0)[::-1]]])
    before = geom.vertices.copy()
    triangulate_polygons(geom.vertices, geom.ring_offsets, geom.polygon_offsets)
    assert np.array_equal(geom.vertices, before)


def test_empty_rings() -> None:
    outer = square(4.0)
    vertices = np.concatenate([outer, square()])
    ring_offsets = np.array([0, 4, 4, 4, 8])  # polygon 0: exterior + an empty hole; 1: empty
    polygon_offsets = np.array([0, 2, 3, 4])  # polygon 2: the unit square
    tri = triangulate_polygons(vertices, ring_offsets, polygon_offsets)
    assert [(p, r.split(":")[0]) for p, r in tri.failures] == [(1, DEGENERATE)]
    assert [(p, r.split(":")[0]) for p, r in tri.warnings] == [(0, DEGENERATE_HOLE)]
    assert tri.polygon_index.tolist() == [0, 0, 2, 2]
    areas = triangle_areas(vertices, tri.triangles)
    assert math.isclose(areas[:2].sum(), 16.0) and math.isclose(areas[2:].sum(), 1.0)
    assert polygon_areas(vertices, ring_offsets, polygon_offsets).tolist() == pytest.approx(
        [16, 0, 1]
    )
