"""Batched triangulation of planar polygons with holes (CGML-5).

:func:`triangulate_polygons` takes many polygons at once in the ragged layout of
:class:`~citymodel.model.SurfaceGeometry` (all features of a chunk concatenated) and returns
triangles as indices into the input vertices, so callers gather the original float64 3D
coordinates: nothing is moved, only connected. Per polygon (CGML-5):

1. consecutive duplicate vertices (closer than ``duplicate_tolerance``, 1 mm) are dropped,
   cyclically, so a repeated closing point disappears too; a vertex is compared with its original
   successor, so a run of sub-millimetre steps collapses to its last point;
2. the exterior ring's Newell normal defines the polygon plane and orientation; polygons with fewer
   than 3 distinct exterior vertices or an area (exterior minus holes) below ``min_area``
   (1e-4 m²) are not triangulated and reported as failures; degenerate holes are ignored with
   a warning;
3. vertices are projected onto the best-fit plane (the Newell normal through the vertex
   centroid) in a frame whose third axis is that normal, relative to the polygon's first vertex
   so UTM-sized coordinates keep their precision; polygons deviating more than
   ``planarity_tolerance`` (0.1 m, a clearly visible fold for LoD2 roofs, whose usual mm–cm
   deviations stay silent) are triangulated all the same and reported as warnings;
4. triangles and hole-free polygons that are star-shaped from their first vertex (all convex
   ones, tested in the projected 2D frame) are fanned in numpy; everything else goes through
   earcut one polygon at a time;
5. every triangle is oriented counter-clockwise in the projected frame, i.e. its normal agrees
   with the polygon's Newell normal: the orientation of the input ring is kept (a closed solid
   given inside-out is fixed later, by volume, see :mod:`citymodel.meshing`); zero-area
   triangles (from collinear vertices) are dropped; an earcut result whose area differs from the
   polygon's (self-intersecting or overlapping rings) is kept but reported as a failure.

Failure and warning reasons start with one of the prefixes :data:`DEGENERATE`, :data:`INVALID`,
:data:`EARCUT_FAILED` (failures) or :data:`NON_PLANAR`, :data:`DEGENERATE_HOLE` (warnings) so
callers can count them by kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import mapbox_earcut
import numpy as np

from citymodel._typing import BoolArray, Float64Array, IndexArray, UInt32Array
from citymodel.errors import GeometryError
from citymodel.ops.polygons import (
    areas_from_ring_normals,
    newell_from_edges,
    newell_normals,
    offsets_from_sizes,
    polygon_areas,
    ring_edges,
    ring_neighbours,
    segment_ids,
)

__all__ = [
    "DEGENERATE",
    "DEGENERATE_HOLE",
    "DUPLICATE_TOLERANCE",
    "EARCUT_FAILED",
    "INVALID",
    "MIN_POLYGON_AREA",
    "NON_PLANAR",
    "PLANARITY_TOLERANCE",
    "Triangulation",
    "newell_normals",
    "polygon_areas",
    "triangulate_polygons",
]

DUPLICATE_TOLERANCE = 1e-3
"""Consecutive vertices closer than this (metres) are merged (CGML-5)."""
MIN_POLYGON_AREA = 1e-4
"""Polygons with a smaller area (m², exterior minus holes) are skipped as degenerate (CGML-5)."""
PLANARITY_TOLERANCE = 0.1
"""Polygons deviating more than this (metres) from their best-fit plane are reported."""

DEGENERATE = "degenerate polygon"
INVALID = "invalid polygon"
EARCUT_FAILED = "earcut failed"
NON_PLANAR = "non-planar polygon"
DEGENERATE_HOLE = "degenerate hole"

_FLAT_HEIGHT = 1e-8
_FLAT_RATIO = 1e-10
"""A triangle lower than ``_FLAT_HEIGHT + _FLAT_RATIO * L`` metres over its longest edge ``L`` has
zero area: a few ulps of UTM-sized coordinates (~1e-9 m) above collinear. Such triangles are
dropped, and a fan may contain them with either orientation."""
_AREA_RTOL = 1e-6
_AREA_ATOL = 1e-9
_MAX_VERTICES = 2**32 - 1


@dataclass(frozen=True, slots=True)
class Triangulation:
    """Triangles of a batch of polygons.

    Attributes
    ----------
    triangles
        ``(M, 3)`` uint32 indices into the **input** vertices, counter-clockwise seen from the side
        the polygon's Newell normal points to. Triangles of one polygon are contiguous and
        polygons appear in input order.
    polygon_index
        ``(M,)`` int64 input polygon of each triangle.
    failures
        ``(polygon, reason)`` of polygons that were not (fully) triangulated, sorted by polygon.
    warnings
        ``(polygon, reason)`` of polygons triangulated with a caveat (non-planar, ignored hole).
    """

    triangles: UInt32Array
    polygon_index: IndexArray
    failures: tuple[tuple[int, str], ...] = ()
    warnings: tuple[tuple[int, str], ...] = ()

    @property
    def triangle_count(self) -> int:
        """Number of triangles."""
        return int(self.triangles.shape[0])


@dataclass(frozen=True, slots=True)
class _Cleaned:
    """The polygons that can be triangulated, compacted (sound rings and vertices only)."""

    source: IndexArray  # (n,) input vertex index of each kept vertex
    vertices: Float64Array  # (n, 3)
    ring_offsets: IndexArray  # (r + 1,)
    polygon_offsets: IndexArray  # (k + 1,)
    polygons: IndexArray  # (k,) input polygon index
    normals: Float64Array  # (k, 3) unit Newell normals of the exteriors
    areas: Float64Array  # (k,) m², exterior minus kept holes
    next_vertex: IndexArray  # (n,) cyclic successor of each vertex in its ring


def triangulate_polygons(
    vertices: Float64Array,
    ring_offsets: IndexArray,
    polygon_offsets: IndexArray,
    *,
    duplicate_tolerance: float = DUPLICATE_TOLERANCE,
    min_area: float = MIN_POLYGON_AREA,
    planarity_tolerance: float = PLANARITY_TOLERANCE,
    fan: bool = True,
) -> Triangulation:
    """Triangulate a batch of planar polygons with holes (CGML-5).

    Parameters
    ----------
    vertices
        ``(N, 3)`` float64 ring vertices in metres in any Cartesian CRS (e.g. UTM easting,
        northing, height); rings open (no repeated closing point; one is tolerated and dropped as
        a duplicate).
    ring_offsets
        ``(R + 1,)`` int64 offsets of the rings into ``vertices``.
    polygon_offsets
        ``(P + 1,)`` int64 offsets of the polygons into the rings; exterior ring first.
    duplicate_tolerance
        Distance (m) below which consecutive vertices are merged.
    min_area
        Polygons with a smaller area (m²) are skipped and reported as degenerate.
    planarity_tolerance
        Polygons deviating more (m) from their best-fit plane are reported as warnings.
    fan
        Fan hole-free polygons that are star-shaped from their first vertex (all convex ones) in
        numpy (fast); False sends every polygon with more than
        three vertices or with holes through earcut.

    Returns
    -------
    Triangulation
        Triangles indexing ``vertices``, their polygons, and the reported problems.

    Raises
    ------
    GeometryError
        When the arrays do not describe a valid ragged layout.

    Examples
    --------
    >>> square = np.array([[0, 0, 0], [2, 0, 0], [2, 2, 0], [0, 2, 0]], dtype=np.float64)
    >>> tri = triangulate_polygons(square, np.array([0, 4]), np.array([0, 1]))
    >>> tri.triangles.tolist()
    [[0, 1, 2], [0, 2, 3]]
    """
    verts, ring_offsets, polygon_offsets = _checked_layout(vertices, ring_offsets, polygon_offsets)
    failures: list[tuple[int, str]] = []
    warnings: list[tuple[int, str]] = []
    cleaned = _clean(
        verts,
        ring_offsets,
        polygon_offsets,
        duplicate_tolerance=duplicate_tolerance,
        min_area=min_area,
        failures=failures,
        warnings=warnings,
    )
    if cleaned.polygons.shape[0] == 0:
        return _result(
            np.zeros((0, 3), np.int64), np.zeros(0, np.int64), cleaned, failures, warnings
        )

    x, y, height = _project(cleaned)
    _check_planarity(cleaned, height, planarity_tolerance, warnings)
    fanned, keep = _plan_fans(cleaned, x, y, fan=fan)
    fan_tris, fan_polys = _fan_triangles(cleaned, np.flatnonzero(fanned), keep)
    ear_polys = np.flatnonzero(~fanned)
    if ear_polys.shape[0] == 0:
        return _result(fan_tris, fan_polys, cleaned, failures, warnings)
    ear_tris, ear_tri_polys = _earcut_triangles(cleaned, x, y, ear_polys)
    ear_tris, ear_tri_polys, covered = _orient_and_filter(ear_tris, ear_tri_polys, x, y, cleaned)
    _check_earcut_areas(cleaned, ear_polys, covered, failures)
    triangles = np.concatenate([fan_tris, ear_tris])
    tri_polys = np.concatenate([fan_polys, ear_tri_polys])
    order = np.argsort(tri_polys, kind="stable")  # two sorted runs: a linear merge
    return _result(np.take(triangles, order, axis=0), tri_polys[order], cleaned, failures, warnings)


def _checked_layout(
    vertices: Float64Array, ring_offsets: IndexArray, polygon_offsets: IndexArray
) -> tuple[Float64Array, IndexArray, IndexArray]:
    verts = np.ascontiguousarray(vertices, dtype=np.float64)
    rings = np.asarray(ring_offsets, dtype=np.int64)
    polys = np.asarray(polygon_offsets, dtype=np.int64)
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise GeometryError(f"vertices must have shape (N, 3), got {verts.shape}")
    if verts.shape[0] > _MAX_VERTICES:
        raise GeometryError(f"too many vertices for uint32 indices: {verts.shape[0]}")
    for name, offsets, total in (
        ("ring_offsets", rings, verts.shape[0]),
        ("polygon_offsets", polys, rings.shape[0] - 1),
    ):
        if offsets.ndim != 1 or offsets.shape[0] == 0:
            raise GeometryError(f"{name} must be a non-empty 1-D array")
        if offsets[0] != 0 or offsets[-1] != total or np.any(np.diff(offsets) < 0):
            raise GeometryError(
                f"{name} must rise from 0 to {total} without decreasing, "
                f"got {offsets[0]}..{offsets[-1]}"
            )
    return verts, rings, polys


def _clean(
    verts: Float64Array,
    ring_offsets: IndexArray,
    polygon_offsets: IndexArray,
    *,
    duplicate_tolerance: float,
    min_area: float,
    failures: list[tuple[int, str]],
    warnings: list[tuple[int, str]],
) -> _Cleaned:
    """Drop duplicate vertices, degenerate holes and degenerate or invalid polygons (CGML-5).

    Row gathers use ``np.take(..., axis=0)`` and ``np.repeat``: on ``(n, 3)`` arrays they are
    several times faster than fancy indexing. Without anything to drop, nothing is copied.
    """
    n = verts.shape[0]
    n_rings = ring_offsets.shape[0] - 1
    n_polys = polygon_offsets.shape[0] - 1
    ring_polygon = segment_ids(polygon_offsets)
    vertex_ring = segment_ids(ring_offsets)
    has_rings: BoolArray = np.diff(polygon_offsets) > 0
    polygon_ok: BoolArray = has_rings.copy()
    failures.extend((p, f"{INVALID}: no rings") for p in np.flatnonzero(~has_rings).tolist())

    if not np.isfinite(verts).all():
        finite: BoolArray = np.logical_and.reduce(np.isfinite(verts), axis=1)
        bad = np.unique(ring_polygon[vertex_ring[~finite]])
        failures.extend((p, f"{INVALID}: non-finite coordinates") for p in bad.tolist())
        polygon_ok[bad] = False
        verts = np.where(finite[:, None], verts, 0.0)

    # one pass over the edges serves the duplicate test and, when nothing is dropped (the
    # usual case), the Newell normals
    nxt, _ = ring_neighbours(ring_offsets)
    here, there = ring_edges(verts, ring_offsets, nxt)
    (px, py, pz), (qx, qy, qz) = here, there
    step2 = np.square(qx - px) + np.square(qy - py) + np.square(qz - pz)
    keep: BoolArray = step2 >= duplicate_tolerance**2  # a vertex equal to the next one goes
    if not polygon_ok.all():
        keep &= np.take(np.take(polygon_ok, ring_polygon), vertex_ring)
    if keep.all():
        kept = np.arange(n, dtype=np.int64)
        kept_vertices = verts
        ring_sizes = np.diff(ring_offsets)
        kept_ring_offsets = ring_offsets
        kept_next: IndexArray | None = nxt
        ring_normals = newell_from_edges(here, there, ring_offsets)
    else:
        kept = np.flatnonzero(keep)
        kept_vertices = np.take(verts, kept, axis=0)
        ring_sizes = np.bincount(np.take(vertex_ring, kept), minlength=n_rings).astype(np.int64)
        kept_ring_offsets = offsets_from_sizes(ring_sizes)
        kept_next = None
        ring_normals = newell_normals(kept_vertices, kept_ring_offsets)
    areas, normals, ring_areas = areas_from_ring_normals(ring_normals, polygon_offsets)

    exterior = polygon_offsets[:-1][has_rings]
    is_hole = np.ones(n_rings, dtype=np.bool_)
    is_hole[exterior] = False
    exterior_sizes = np.zeros(n_polys, dtype=np.int64)
    exterior_sizes[has_rings] = ring_sizes[exterior]
    too_few = polygon_ok & (exterior_sizes < 3)
    failures.extend(
        (p, f"{DEGENERATE}: fewer than 3 distinct vertices")
        for p in np.flatnonzero(too_few).tolist()
    )
    polygon_ok &= ~too_few

    hole_few = is_hole & (ring_sizes < 3)
    hole_small = is_hole & ~hole_few & (ring_areas < min_area)
    dropped_holes: BoolArray = hole_few | hole_small
    if dropped_holes.any():
        # areas_from_ring_normals subtracted every hole; give the ignored ones back.
        areas = areas + np.bincount(
            ring_polygon[dropped_holes], weights=ring_areas[dropped_holes], minlength=n_polys
        )
    small = polygon_ok & (areas < min_area)
    failures.extend(
        (p, f"{DEGENERATE}: area {areas[p]:.3g} m² below {min_area:g} m²")
        for p in np.flatnonzero(small).tolist()
    )
    polygon_ok &= ~small
    for r in np.flatnonzero(dropped_holes & polygon_ok[ring_polygon]).tolist():
        p = int(ring_polygon[r])
        what = (
            "fewer than 3 distinct vertices"
            if hole_few[r]
            else f"area {ring_areas[r]:.3g} m² below {min_area:g} m²"
        )
        warnings.append(
            (p, f"{DEGENERATE_HOLE}: ring {r - int(polygon_offsets[p])} has {what}; ignored")
        )

    ring_ok: BoolArray = np.take(polygon_ok, ring_polygon) & ~dropped_holes
    if polygon_ok.all() and ring_ok.all():
        return _Cleaned(
            source=kept,
            vertices=kept_vertices,
            ring_offsets=kept_ring_offsets,
            polygon_offsets=polygon_offsets,
            polygons=np.arange(n_polys, dtype=np.int64),
            normals=normals,
            areas=areas,
            next_vertex=kept_next
            if kept_next is not None
            else ring_neighbours(kept_ring_offsets)[0],
        )
    vertex_ok = np.repeat(ring_ok, ring_sizes)
    kept_rings = np.flatnonzero(ring_ok)
    kept_polygons = np.flatnonzero(polygon_ok)
    rings_per_polygon = np.bincount(ring_polygon[kept_rings], minlength=n_polys).astype(np.int64)
    final_ring_offsets = offsets_from_sizes(ring_sizes[kept_rings])
    return _Cleaned(
        source=kept[vertex_ok],
        vertices=kept_vertices[vertex_ok],
        ring_offsets=final_ring_offsets,
        next_vertex=ring_neighbours(final_ring_offsets)[0],
        polygon_offsets=offsets_from_sizes(rings_per_polygon[kept_polygons]),
        polygons=kept_polygons,
        normals=np.take(normals, kept_polygons, axis=0),
        areas=areas[kept_polygons],
    )


def _polygon_vertex_offsets(cleaned: _Cleaned) -> IndexArray:
    """``(k + 1,)`` offsets of each compact polygon's vertices (all its rings)."""
    return cleaned.ring_offsets[cleaned.polygon_offsets]


def _project(cleaned: _Cleaned) -> tuple[Float64Array, Float64Array, Float64Array]:
    """Project onto each polygon's plane: in-plane ``x``, ``y`` and the height, ``(n,)`` each.

    The frame ``(u, w, normal)`` is right-handed, so a ring counter-clockwise around the normal
    is counter-clockwise in ``(u, w)``; its origin is the polygon's first vertex (metres).
    """
    normals = cleaned.normals
    helper = np.zeros_like(normals)
    steep = np.abs(normals[:, 2]) < 0.9
    helper[steep, 2] = 1.0
    helper[~steep, 0] = 1.0
    u = np.cross(helper, normals)
    u /= np.sqrt(np.einsum("ij,ij->i", u, u))[:, None]
    w = np.cross(normals, u)
    basis = np.stack([u, w, normals], axis=1)  # (k, 3, 3): rows u, w, normal
    vertex_offsets = _polygon_vertex_offsets(cleaned)
    counts = np.diff(vertex_offsets)
    origin = np.take(cleaned.vertices, vertex_offsets[:-1], axis=0)
    local = cleaned.vertices - np.repeat(origin, counts, axis=0)
    uvh = np.einsum("ikj,ij->ki", np.repeat(basis, counts, axis=0), local)
    return uvh[0], uvh[1], uvh[2]


def _check_planarity(
    cleaned: _Cleaned, height: Float64Array, tolerance: float, warnings: list[tuple[int, str]]
) -> None:
    offsets = _polygon_vertex_offsets(cleaned)
    counts = np.diff(offsets)
    mean = np.add.reduceat(height, offsets[:-1]) / counts
    deviation = np.maximum.reduceat(np.abs(height - np.repeat(mean, counts)), offsets[:-1])
    warnings.extend(
        (
            int(cleaned.polygons[k]),
            (
                f"{NON_PLANAR}: deviates up to {deviation[k]:.3g} m from its best-fit plane "
                f"(tolerance {tolerance:g} m); triangulated in that plane"
            ),
        )
        for k in np.flatnonzero(deviation > tolerance).tolist()
    )


def _plan_fans(
    cleaned: _Cleaned, x: Float64Array, y: Float64Array, *, fan: bool
) -> tuple[BoolArray, BoolArray]:
    """Choose the polygons to fan from their first vertex, and the fan triangles to keep.

    Fanned are triangles and, when ``fan``, hole-free rings that are star-shaped from their first
    vertex (every convex ring, many concave ones). The fan ``(0, i, i + 1)`` triangulates a ring
    exactly when none of its triangles is clockwise (beyond the zero-area tolerance) and their
    angles at vertex 0 add up to less than one revolution: the triangles then lie in disjoint
    wedges around vertex 0. Rings winding twice (a pentagram) are rejected. A quadrilateral's
    two wedges reach a revolution only when both are flat, i.e. when its area is zero, which
    was rejected before: the angle sum is needed from five vertices on.

    Returns
    -------
    tuple
        ``(fanned (k,), keep (n,))``: ``keep[i]`` tells whether the fan triangle
        ``(first vertex, i, next(i))`` has an area; flat ones (collinear vertices) are dropped.
    """
    po, ro = cleaned.polygon_offsets, cleaned.ring_offsets
    single: BoolArray = np.diff(po) == 1
    vertex_offsets = ro[po]
    starts = vertex_offsets[:-1]
    counts = np.diff(vertex_offsets)
    exterior_sizes = ro[po[:-1] + 1] - starts
    apex = np.repeat(starts, counts)
    # triangle (apex, i, next(i)); all zero for i = apex and for next(i) = apex
    ax = x - np.take(x, apex)
    ay = y - np.take(y, apex)
    bx = np.take(ax, cleaned.next_vertex)
    by = np.take(ay, cleaned.next_vertex)
    cross = ax * by - ay * bx
    # the flat limit of _flat_limit over the two apex edges only: no larger than over all three
    longest = np.sqrt(np.maximum(ax * ax + ay * ay, bx * bx + by * by))
    flat = (_FLAT_HEIGHT + _FLAT_RATIO * longest) * longest
    keep: BoolArray = cross > flat
    fanned: BoolArray = single & (exterior_sizes == 3)
    if not fan:
        return fanned, keep
    not_clockwise = np.logical_and.reduceat(cross >= -flat, starts)
    star: BoolArray = single & (exterior_sizes > 3) & not_clockwise
    long = star & (exterior_sizes > 4)
    if long.any():
        in_long = np.repeat(long, counts)
        lc = cross[in_long]
        dot = ax[in_long] * bx[in_long] + ay[in_long] * by[in_long]
        # i or next(i) is the apex: no wedge (and atan2(0, -0) would be π)
        angle = np.where((lc == 0) & (dot == 0), 0.0, np.arctan2(lc, dot))
        long_offsets = offsets_from_sizes(counts[long])
        wedge = np.add.reduceat(angle, long_offsets[:-1])
        star[np.flatnonzero(long)[wedge >= 2 * np.pi]] = False
    return fanned | star, keep


def _fan_triangles(
    cleaned: _Cleaned, polygons: IndexArray, keep: BoolArray
) -> tuple[IndexArray, IndexArray]:
    """Fan triangles ``(first, i, i + 1)`` of single-ring polygons with an area (compact indices)."""
    ro, po = cleaned.ring_offsets, cleaned.polygon_offsets
    first = ro[po[polygons]]
    counts = ro[po[polygons] + 1] - first - 2
    tri_polys = np.repeat(polygons, counts)
    base = np.repeat(first, counts)
    middle = (
        base
        + 1
        + np.arange(tri_polys.shape[0], dtype=np.int64)
        - np.repeat(offsets_from_sizes(counts)[:-1], counts)
    )
    with_area = np.take(keep, middle)
    if not with_area.all():
        base, middle, tri_polys = base[with_area], middle[with_area], tri_polys[with_area]
    return np.stack([base, middle, middle + 1], axis=1), tri_polys


def _earcut_triangles(
    cleaned: _Cleaned, x: Float64Array, y: Float64Array, polygons: IndexArray
) -> tuple[IndexArray, IndexArray]:
    """Earcut, one polygon at a time, in the projected frame (compact indices)."""
    if polygons.shape[0] == 0:
        return np.zeros((0, 3), np.int64), np.zeros(0, np.int64)
    xy = np.column_stack([x, y])  # C-contiguous (n, 2): each polygon's slice is too
    ro_arr, po_arr = cleaned.ring_offsets, cleaned.polygon_offsets
    # each ring's end relative to its polygon's first vertex: earcut's ring_end_indices
    polygon_start = ro_arr[po_arr[:-1]]
    ring_ends = (ro_arr[1:] - np.repeat(polygon_start, np.diff(po_arr))).astype(np.uint32)
    ro = ro_arr.tolist()
    po = po_arr.tolist()
    triangulate = mapbox_earcut.triangulate_float64
    pieces: list[UInt32Array] = []
    counts: list[int] = []
    for k in polygons.tolist():
        r0, r1 = po[k], po[k + 1]
        indices = triangulate(xy[ro[r0] : ro[r1]], ring_ends[r0:r1])
        pieces.append(indices)
        counts.append(indices.shape[0])
    flat = np.concatenate(pieces).astype(np.int64)
    flat += np.repeat(polygon_start[polygons], counts)
    return flat.reshape(-1, 3), np.repeat(polygons, np.array(counts, dtype=np.int64) // 3)


def _flat_limit(
    abx: Float64Array, aby: Float64Array, acx: Float64Array, acy: Float64Array
) -> Float64Array:
    """Twice the area below which triangles with edge vectors ``ab``, ``ac`` are flat."""
    bcx = acx - abx
    bcy = acy - aby
    longest2 = np.maximum(
        np.maximum(abx * abx + aby * aby, acx * acx + acy * acy), bcx * bcx + bcy * bcy
    )
    longest = np.sqrt(longest2)
    limit: Float64Array = (_FLAT_HEIGHT + _FLAT_RATIO * longest) * longest
    return limit


def _orient_and_filter(
    triangles: IndexArray,
    tri_polys: IndexArray,
    x: Float64Array,
    y: Float64Array,
    cleaned: _Cleaned,
) -> tuple[IndexArray, IndexArray, Float64Array]:
    """Make earcut's triangles counter-clockwise in 2D, drop zero-area ones, sum their areas.

    Returns the kept triangles, their polygons and the covered area of each polygon (m²).
    """
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    xa, ya = np.take(x, a), np.take(y, a)
    abx, aby = np.take(x, b) - xa, np.take(y, b) - ya
    acx, acy = np.take(x, c) - xa, np.take(y, c) - ya
    double_area = abx * acy - aby * acx
    clockwise = double_area < 0
    if clockwise.any():
        triangles[clockwise] = triangles[clockwise][:, [0, 2, 1]]
        double_area = np.abs(double_area)
    keep: BoolArray = double_area > _flat_limit(abx, aby, acx, acy)
    covered: Float64Array = 0.5 * np.bincount(
        tri_polys[keep], weights=double_area[keep], minlength=cleaned.polygons.shape[0]
    ).astype(np.float64)
    if keep.all():
        return triangles, tri_polys, covered
    kept_triangles: IndexArray = triangles[keep]
    kept_polys: IndexArray = tri_polys[keep]
    return kept_triangles, kept_polys, covered


def _check_earcut_areas(
    cleaned: _Cleaned,
    polygons: IndexArray,
    covered: Float64Array,
    failures: list[tuple[int, str]],
) -> None:
    """Report earcut results that do not cover exactly the polygon (self-intersections...)."""
    expected = cleaned.areas[polygons]
    got = covered[polygons]
    bad = np.abs(got - expected) > _AREA_RTOL * expected + _AREA_ATOL
    for k, want, have in zip(polygons[bad].tolist(), expected[bad], got[bad], strict=True):
        reason = (
            f"{EARCUT_FAILED}: no triangles (self-intersecting or overlapping rings?)"
            if have == 0
            else f"{EARCUT_FAILED}: triangles cover {have:.6g} m² of {want:.6g} m² "
            "(self-intersecting or overlapping rings?); triangles kept"
        )
        failures.append((int(cleaned.polygons[k]), reason))


def _result(
    triangles: IndexArray,
    tri_polys: IndexArray,
    cleaned: _Cleaned,
    failures: list[tuple[int, str]],
    warnings: list[tuple[int, str]],
) -> Triangulation:
    return Triangulation(
        triangles=np.take(cleaned.source, triangles).astype(np.uint32).reshape(-1, 3),
        polygon_index=np.take(cleaned.polygons, tri_polys),
        failures=tuple(sorted(failures)),
        warnings=tuple(sorted(warnings)),
    )
