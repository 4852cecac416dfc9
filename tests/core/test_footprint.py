"""Raster footprints (ops.footprint): areas, unions, holes, windows, batching."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citymodel.model import SurfaceGeometry
from citymodel.ops import footprint
from citymodel.ops.footprint import RasterGrid, footprint_triangles, rasterize_triangles

coordinate = st.floats(-40.0, 40.0, allow_nan=False)


@settings(deadline=None, max_examples=60)
@given(st.lists(coordinate, min_size=6, max_size=6), st.sampled_from([0.1, 0.25, 0.5]))
def test_triangle_area_within_the_boundary_band(values: list[float], cell: float) -> None:
    """|raster area - exact area| <= perimeter x cell + 4 cell² (cells cut by the edges)."""
    tri = np.array(values, dtype=np.float64).reshape(1, 3, 2)
    a, b, c = tri[0]
    exact = 0.5 * abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
    perimeter = sum(np.hypot(*(q - p)) for p, q in ((a, b), (b, c), (c, a)))
    grid = RasterGrid.covering(-40.0, -40.0, 40.0, 40.0, min_cell=cell)
    area = rasterize_triangles(tri, grid).sum() * cell**2
    assert abs(area - exact) <= perimeter * cell + 4 * cell**2


def test_square_of_two_triangles_is_exact() -> None:
    grid = RasterGrid(0.0, 0.0, 0.5, 40, 40)
    square = np.array([[[2, 3], [12, 3], [12, 11]], [[2, 3], [12, 11], [2, 11]]], dtype=float)
    mask = rasterize_triangles(square, grid)
    assert mask.sum() * 0.25 == pytest.approx(80.0)
    rows, cols = np.nonzero(mask)
    assert (cols.min(), cols.max(), rows.min(), rows.max()) == (4, 23, 6, 21)


def test_overlapping_triangles_count_once_and_vertical_faces_nothing() -> None:
    grid = RasterGrid(0.0, 0.0, 0.1, 200, 200)
    one = np.array([[[1, 1], [15, 1], [1, 15]]], dtype=float)
    assert (
        rasterize_triangles(np.concatenate([one, one]), grid).sum()
        == rasterize_triangles(one, grid).sum()
    )
    wall = np.array([[[1, 1, 0], [15, 1, 0], [15, 1, 10]]], dtype=float)  # xy collinear
    assert rasterize_triangles(wall, grid).sum() == 0


def test_batches_give_the_same_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    tri = rng.uniform(0, 50, (300, 1, 2)) + rng.uniform(-3, 3, (300, 3, 2))
    grid = RasterGrid.covering(-3, -3, 53, 53)
    whole = rasterize_triangles(tri, grid)
    monkeypatch.setattr(footprint, "BATCH_CELLS", 97)
    assert np.array_equal(rasterize_triangles(tri, grid), whole)


def test_triangles_outside_the_grid_are_ignored() -> None:
    grid = RasterGrid(0.0, 0.0, 1.0, 10, 10)
    tri = np.array([[[-20, -20], [-11, -20], [-20, -11]], [[8, 8], [30, 8], [8, 30]]], dtype=float)
    mask = rasterize_triangles(tri, grid)
    assert mask.sum() == 4  # the four cells 8..10 x 8..10 (their centres lie below x + y = 38)


def test_courtyard_hole_stays_empty() -> None:
    outer = np.array([[0, 0, 5], [20, 0, 5], [20, 20, 5], [0, 20, 5]], dtype=float)
    hole = np.array([[5, 5, 5], [5, 15, 5], [15, 15, 5], [15, 5, 5]], dtype=float)
    geom = SurfaceGeometry.from_polygons([[outer, hole]], [1], lod="2")
    tri = footprint_triangles([geom])
    grid = RasterGrid.covering(0, 0, 20, 20, min_cell=0.5)
    mask = rasterize_triangles(tri, grid)
    assert mask.sum() * 0.25 == pytest.approx(400 - 100)
    i, j = round((10 - grid.x0) / 0.5 - 0.5), round((10 - grid.y0) / 0.5 - 0.5)
    assert not mask[j, i]


def test_grid_covering_limits_cells() -> None:
    fine = RasterGrid.covering(0, 0, 100, 50)
    assert fine.cell == footprint.MIN_CELL
    coarse = RasterGrid.covering(0, 0, 5000, 100)
    assert coarse.nx <= footprint.MAX_GRID_CELLS + 2
    assert coarse.x0 < 0 and coarse.x0 + coarse.nx * coarse.cell > 5000


def test_take_a_window_reaching_outside() -> None:
    grid = RasterGrid(100.0, 200.0, 0.5, 8, 6)
    mask = np.arange(48).reshape(6, 8) % 3 == 0
    window = grid.aligned_window(98.7, 201.2, 101.9, 204.4)
    assert grid.offset_of(window) == (-3, 2)
    part = grid.take(mask, window)
    assert part.shape == (window.ny, window.nx)
    assert not part[:, :3].any()  # columns left of the grid
    assert np.array_equal(part[: 6 - 2, 3:], mask[2:, : window.nx - 3])
