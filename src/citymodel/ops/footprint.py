"""2D footprints on a raster: the union of projected triangles, and overlap shares.

A footprint is the set of raster cells whose **centre** lies in at least one of the given
triangles projected to the xy plane (vertical faces project to nothing). Sampling cell centres
makes the area estimate unbiased; its error is of the order of perimeter × cell / 2 at worst
and far less on average (a 10 m × 10 m square on a 0.1 m grid: exact up to the 0.1 m
alignment of its edges). Unions of any shapes (concave, disjoint, with courtyards) come for
free, which exact polygon clipping would need a full polygon library for.

Rasterizing is vectorised: for each triangle the cells of its bounding box are enumerated in
batches of at most :data:`BATCH_CELLS` candidates and tested against the three edge
functions at once (no Python loop per triangle or cell).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from citymodel._typing import BoolArray, Float64Array
from citymodel.model import SurfaceGeometry
from citymodel.ops.triangulate import triangulate_polygons

__all__ = [
    "BATCH_CELLS",
    "MAX_GRID_CELLS",
    "MIN_CELL",
    "RasterGrid",
    "footprint_triangles",
    "rasterize_triangles",
]

MIN_CELL = 0.1
"""Finest raster cell edge (m)."""
MAX_GRID_CELLS = 2048
"""Largest number of cells along one edge of a grid chosen by :meth:`RasterGrid.covering`."""
BATCH_CELLS = 1 << 20
"""Candidate cells tested per batch while rasterizing (bounds the temporary arrays)."""

_FLAT = 1e-12
"""Triangles whose doubled xy area (m²) is below this cover nothing (vertical faces)."""


@dataclass(frozen=True, slots=True)
class RasterGrid:
    """A raster of square cells: cell ``(j, i)`` spans ``x0 + i·cell .. x0 + (i+1)·cell``.

    Attributes
    ----------
    x0, y0
        Lower-left corner (m, in the CRS of the coordinates rasterized).
    cell
        Cell edge (m).
    nx, ny
        Number of columns (x) and rows (y).
    """

    x0: float
    y0: float
    cell: float
    nx: int
    ny: int

    def __post_init__(self) -> None:
        if not (self.cell > 0 and self.nx >= 1 and self.ny >= 1):
            raise ValueError(f"invalid grid {self}")

    @classmethod
    def covering(
        cls,
        xmin: float,
        ymin: float,
        xmax: float,
        ymax: float,
        *,
        min_cell: float = MIN_CELL,
        max_cells: int = MAX_GRID_CELLS,
    ) -> RasterGrid:
        """The grid covering a box with one cell of margin, as fine as allowed.

        The cell is ``min_cell``, or coarser so that no edge has more than ``max_cells``
        cells.
        """
        extent = max(xmax - xmin, ymax - ymin, 0.0)
        cell = max(min_cell, extent / max(1, max_cells - 2))
        x0, y0 = xmin - cell, ymin - cell
        nx = math.ceil((xmax - x0) / cell) + 1
        ny = math.ceil((ymax - y0) / cell) + 1
        return cls(x0, y0, cell, nx, ny)

    def aligned_window(self, xmin: float, ymin: float, xmax: float, ymax: float) -> RasterGrid:
        """A grid on the same cell lattice covering the given box (may reach outside this one)."""
        i0 = math.floor((xmin - self.x0) / self.cell)
        j0 = math.floor((ymin - self.y0) / self.cell)
        i1 = math.floor((xmax - self.x0) / self.cell)
        j1 = math.floor((ymax - self.y0) / self.cell)
        return RasterGrid(
            self.x0 + i0 * self.cell, self.y0 + j0 * self.cell, self.cell, i1 - i0 + 1, j1 - j0 + 1
        )

    def offset_of(self, other: RasterGrid) -> tuple[int, int]:
        """``(di, dj)``: cell ``(j, i)`` of ``other`` is cell ``(j + dj, i + di)`` of this grid."""
        return (
            round((other.x0 - self.x0) / self.cell),
            round((other.y0 - self.y0) / self.cell),
        )

    def take(self, mask: BoolArray, window: RasterGrid) -> BoolArray:
        """The cells of ``mask`` (on this grid) under ``window`` (same lattice); False outside."""
        out = np.zeros((window.ny, window.nx), dtype=np.bool_)
        di, dj = self.offset_of(window)
        i_lo, j_lo = max(0, -di), max(0, -dj)
        i_hi, j_hi = min(window.nx, self.nx - di), min(window.ny, self.ny - dj)
        if i_lo < i_hi and j_lo < j_hi:
            out[j_lo:j_hi, i_lo:i_hi] = mask[j_lo + dj : j_hi + dj, i_lo + di : i_hi + di]
        return out


def rasterize_triangles(triangles: Float64Array, grid: RasterGrid) -> BoolArray:
    """Cells of ``grid`` whose centre lies in one of the triangles (boundary included).

    Parameters
    ----------
    triangles
        ``(M, 3, 2)`` or ``(M, 3, 3)`` float64 corners, metres in the grid's CRS (z ignored).
    grid
        The raster.

    Returns
    -------
    numpy.ndarray
        ``(ny, nx)`` bool.
    """
    mask = np.zeros((grid.ny, grid.nx), dtype=np.bool_)
    tri = np.asarray(triangles, dtype=np.float64)[:, :, :2]
    if tri.shape[0] == 0:
        return mask
    # local coordinates in cells, cell centres at integer + 0.5
    local = (tri - np.array([grid.x0, grid.y0])) / grid.cell
    a, b, c = local[:, 0], local[:, 1], local[:, 2]
    area2 = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    keep = np.abs(area2) * grid.cell**2 > _FLAT
    local, area2 = local[keep], area2[keep]
    if local.shape[0] == 0:
        return mask
    low = np.floor(local.min(axis=1) - 0.5).astype(np.int64) + 1
    high = np.floor(local.max(axis=1) - 0.5).astype(np.int64)
    i0 = np.clip(low[:, 0], 0, grid.nx)
    j0 = np.clip(low[:, 1], 0, grid.ny)
    i1 = np.clip(high[:, 0], -1, grid.nx - 1)
    j1 = np.clip(high[:, 1], -1, grid.ny - 1)
    width = np.maximum(i1 - i0 + 1, 0)
    height = np.maximum(j1 - j0 + 1, 0)
    counts = width * height
    ends = np.cumsum(counts)
    start = 0
    while start < local.shape[0]:
        base = int(ends[start - 1]) if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + BATCH_CELLS, side="right")))
        _fill(
            mask,
            local[start:stop],
            area2[start:stop],
            i0[start:stop],
            j0[start:stop],
            width[start:stop],
            counts[start:stop],
        )
        start = stop
    return mask


def _fill(
    mask: BoolArray,
    local: Float64Array,
    area2: Float64Array,
    i0: np.ndarray,
    j0: np.ndarray,
    width: np.ndarray,
    counts: np.ndarray,
) -> None:
    total = int(counts.sum())
    if total == 0:
        return
    tri = np.repeat(np.arange(local.shape[0]), counts)
    first = np.cumsum(counts) - counts
    k = np.arange(total) - np.repeat(first, counts)
    w = width[tri]
    ii = i0[tri] + k % w
    jj = j0[tri] + k // w
    px, py = ii + 0.5, jj + 0.5
    sign = np.sign(area2)[tri]
    inside = np.ones(total, dtype=np.bool_)
    for e in range(3):
        p, q = local[tri, e], local[tri, (e + 1) % 3]
        edge = (q[:, 0] - p[:, 0]) * (py - p[:, 1]) - (q[:, 1] - p[:, 1]) * (px - p[:, 0])
        inside &= edge * sign >= 0
    mask[jj[inside], ii[inside]] = True


def footprint_triangles(geometries: Iterable[SurfaceGeometry]) -> Float64Array:
    """``(M, 3, 3)`` triangles of the polygons of ``geometries`` (for their 2D footprint).

    Triangulated geometries are used as they are; others go through
    :func:`~citymodel.ops.triangulate.triangulate_polygons` (polygons that cannot be
    triangulated contribute nothing). Coordinates unchanged (source CRS, metres).
    """
    parts = []
    for geom in geometries:
        if geom.vertex_count == 0:
            continue
        if geom.triangulated:
            parts.append(geom.vertices.reshape(-1, 3, 3))
            continue
        result = triangulate_polygons(geom.vertices, geom.ring_offsets, geom.polygon_offsets)
        if result.triangle_count:
            parts.append(geom.vertices[result.triangles.astype(np.int64)])
    if not parts:
        return np.zeros((0, 3, 3), dtype=np.float64)
    return np.concatenate(parts)
