"""Simplified *block* geometry (LoD1-style footprint extrusions) and its deviation.

Parent tiles show blocks instead of the full LoD2 geometry (REPLACE refinement, see
:mod:`citymodel.tiler.lod`). Every feature row with geometry (a Building or a BuildingPart)
gets its own prism, so a church with a tower becomes two blocks of different heights.

Input and output coordinates are in a local metric frame with ``z`` up (ENU metres); several
features may use different frames as long as each feature's vertices share one.

Footprint of a feature, first that exists:

1. its GroundSurface triangles (``SurfaceType.GROUND``) with a horizontal area;
2. its downward-facing triangles (normal ``z < 0``), for data without semantics;
3. the 2D convex hull of all its vertices.

Footprint vertices closer than ``weld_tolerance`` (1 mm) are merged, triangles thinner than it
(slivers along straight edges) are dropped, the others are oriented counter-clockwise seen from
above, exact duplicates are dropped, and the footprint boundary is
the set of edges used by exactly one triangle (holes such as courtyards included; edges shared
by two ground polygons, e.g. between adjacent rooms of one part, vanish). Precisely, each edge
counts ``c(a->b) - c(b->a)`` times in its net direction, which equals the above for proper
footprints and still yields a closed prism where ground polygons overlap.

Prism: bottom ``b`` = lowest vertex of the feature; top ``t`` = midpoint of the z range of the
roof vertices (vertices of ROOF triangles; without roof semantics the upward-facing triangles;
without those, ``t`` = highest vertex). The midpoint minimises ``max |z_roof - t|``, hence the
deviation below; for a gable roof it equals the area-weighted mean roof height. The block has
a top cap (footprint triangles at ``t``, ROOF), a bottom cap (reversed, at ``b``, GROUND) and one
quad per boundary edge (WALL), normals outward. An object without building surfaces whose
triangles carry a class of their own (terrain, traffic area, water, vegetation) keeps that
class on all its block triangles, so parent tiles show it in its colour. Caps share their
vertices, each wall quad has its own four (flat shading, as :class:`~citymodel.mesh.Mesh`
requires).

Deviation (metres) of a feature: the largest distance from one of its original vertices ``v`` to
the surface of its block, and at least the roof misfit::

    deviation = max( max_{v in roof} |z_v - t|,  max_{v} dist(v, block surface) )

    dist(v) = z_v - t                            v above the top, inside the footprint
            = min(d_xy(v), t - z_v, z_v - b)     v inside the prism
            = hypot(d_xy(v), max(z_v - t, 0))    v outside the footprint (overhangs)

with ``d_xy`` the horizontal distance to the footprint boundary. For a gable-roof box with eaves
at ``e`` and ridge at ``r`` this is ``(r - e) / 2``. A feature that gets no block (no footprint
with area, or less than 1 cm high) has deviation ``max(height, horizontal diameter)``: the error
of leaving it out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from citymodel._typing import BoolArray, Float64Array, IndexArray
from citymodel.mesh import Mesh
from citymodel.model.semantics import SurfaceType

__all__ = ["Blocks", "block_mesh", "block_meshes"]

_MIN_AREA = 1e-6
"""Triangles with a horizontal area below this (m²) do not count as footprint / roof."""
_MIN_HEIGHT = 0.01
"""Prisms lower than this (m) are not built."""
_PAIR_CHUNK = 1 << 20
"""Point-edge pairs evaluated at once when measuring the deviation."""


@dataclass(frozen=True, slots=True)
class Blocks:
    """Blocks of all features of a mesh, grouped by feature row.

    Attributes
    ----------
    mesh
        All prisms, in the local frame(s) of the input (metres, z up); ``feature_ids`` is the
        input feature row. Feature ``g``'s vertices are
        ``mesh.positions[vertex_offsets[g]:vertex_offsets[g + 1]]`` and likewise its triangles;
        triangle indices are global.
    vertex_offsets, triangle_offsets
        ``(G + 1,)`` int64, ``G`` = number of feature rows of the input.
    deviation
        ``(G,)`` float64 metres (see the module docstring); 0 for rows without triangles.
    has_block
        ``(G,)`` bool, whether the row got a prism.
    """

    mesh: Mesh
    vertex_offsets: IndexArray
    triangle_offsets: IndexArray
    deviation: Float64Array
    has_block: BoolArray


@dataclass(frozen=True, slots=True)
class _Prisms:
    """Footprint boundaries and heights of the prisms of ``G`` groups (local metres, z up).

    Attributes
    ----------
    wxy
        ``(W, 2)`` welded footprint corners.
    b_from, b_to
        ``(E,)`` boundary edges (indices into ``wxy``), sorted by group.
    b_group
        ``(E,)`` group of each boundary edge.
    top, bottom
        ``(G,)`` heights of the top and bottom caps.
    has_block
        ``(G,)`` whether the group has boundary edges (gets a prism).
    """

    wxy: Float64Array
    b_from: IndexArray
    b_to: IndexArray
    b_group: IndexArray
    top: Float64Array
    bottom: Float64Array
    has_block: BoolArray


def block_mesh(mesh: Mesh, *, weld_tolerance: float = 1e-3) -> tuple[Mesh, float]:
    """Return the block of one unit (one prism per feature row) and its deviation.

    Parameters
    ----------
    mesh
        The unit's full geometry in a local metric frame with ``z`` up (ENU metres), with
        ``surface_types`` per triangle.
    weld_tolerance
        Footprint vertices closer than this (metres) are merged.

    Returns
    -------
    tuple
        ``(block, deviation_m)``: the prisms (``feature_ids`` = the input rows) and the largest
        deviation of the unit's rows in metres.
    """
    blocks = block_meshes(mesh, weld_tolerance=weld_tolerance)
    deviation = float(blocks.deviation.max()) if blocks.deviation.size else 0.0
    return blocks.mesh, deviation


def _offsets(counts: IndexArray) -> IndexArray:
    out = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _unique_rows(keys: npt.NDArray[np.int64]) -> tuple[IndexArray, IndexArray]:
    """Unique rows of an ``(n, k)`` int64 array, numbered in lexicographic column order.

    Returns ``(inverse, first)``: the unique id of every row and, per unique id, one row
    holding it. Rows are packed into one int64 when their value ranges allow (one 1-D sort),
    else sorted with ``lexsort``.
    """
    n = keys.shape[0]
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lo = keys.min(axis=0)
    span = (keys.max(axis=0) - lo + 1).tolist()
    if math.prod(span) < 2**62:
        packed = np.zeros(n, dtype=np.int64)
        for j, width in enumerate(span):
            packed = packed * width + (keys[:, j] - lo[j])
        _, first, inverse = np.unique(packed, return_index=True, return_inverse=True)
        return inverse.astype(np.int64), first.astype(np.int64)
    order = np.lexsort(keys.T[::-1])
    ordered = keys[order]
    new = np.ones(n, dtype=bool)
    new[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return inverse, order[new]


def _weld(xy: Float64Array, group: IndexArray, tolerance: float) -> tuple[IndexArray, IndexArray]:
    """Merge ``(n, 2)`` points of the same group closer than ``tolerance`` (grid snapping).

    Returns ``(inverse, first)`` as :func:`_unique_rows`; ids are ordered by group.
    """
    q = np.rint(xy / tolerance).astype(np.int64)
    return _unique_rows(np.column_stack([group, q]))


def _cross2(u: Float64Array, v: Float64Array) -> Float64Array:
    result: Float64Array = u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]
    return result


def _hull_triangles(
    positions: Float64Array, feature_ids: IndexArray, groups: IndexArray
) -> tuple[Float64Array, IndexArray]:
    """Fan-triangulated 2D convex hulls (Andrew's monotone chain) of the vertices of ``groups``.

    This is the last-resort footprint, used only for features without ground or downward
    faces, so the per-point loop of the chain does not sit in the common path.
    """
    order = np.argsort(feature_ids, kind="stable")
    starts = np.searchsorted(feature_ids[order], groups, side="left")
    stops = np.searchsorted(feature_ids[order], groups, side="right")
    triangles: list[Float64Array] = []
    owners: list[IndexArray] = []
    for group, start, stop in zip(groups.tolist(), starts.tolist(), stops.tolist(), strict=True):
        pts = np.unique(positions[order[start:stop], :2], axis=0)
        hull = _monotone_chain(pts)
        if hull.shape[0] < 3:
            continue
        fan = np.stack([np.repeat(hull[:1], hull.shape[0] - 2, axis=0), hull[1:-1], hull[2:]], 1)
        keep = _cross2(fan[:, 1] - fan[:, 0], fan[:, 2] - fan[:, 0]) > 2 * _MIN_AREA
        triangles.append(fan[keep])
        owners.append(np.full(int(keep.sum()), group, dtype=np.int64))
    if not triangles:
        return np.zeros((0, 3, 2)), np.zeros(0, np.int64)
    return np.concatenate(triangles), np.concatenate(owners)


def _monotone_chain(pts: Float64Array) -> Float64Array:
    """Counter-clockwise convex hull of lexicographically sorted unique 2D points."""
    if pts.shape[0] < 3:
        return pts
    rows = pts.tolist()

    def half(points: list[list[float]]) -> list[list[float]]:
        chain: list[list[float]] = []
        for p in points:
            while len(chain) >= 2:
                o, a = chain[-2], chain[-1]
                if (a[0] - o[0]) * (p[1] - o[1]) - (a[1] - o[1]) * (p[0] - o[0]) > 0:
                    break
                chain.pop()
            chain.append(p)
        return chain

    lower = half(rows)
    upper = half(rows[::-1])
    return np.asarray(lower[:-1] + upper[:-1], dtype=np.float64).reshape(-1, 2)


def _group_extreme(
    values: Float64Array, groups: IndexArray, count: int, *, maximum: bool
) -> Float64Array:
    """Per-group max (or min) of ``values``; ``-inf`` (``inf``) for groups without values."""
    ufunc = np.maximum if maximum else np.minimum
    out = np.full(count, -np.inf if maximum else np.inf)
    if groups.size == 0:
        return out
    if bool(np.all(groups[1:] >= groups[:-1])):
        # Sorted groups (the usual layout): one reduceat instead of a scattered ufunc.at.
        starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        out[groups[starts]] = ufunc.reduceat(values, starts)
    else:
        ufunc.at(out, groups, values)
    return out


def _footprint_distance(
    points: Float64Array,
    point_group: IndexArray,
    edge_a: Float64Array,
    edge_b: Float64Array,
    edge_offsets: IndexArray,
) -> tuple[Float64Array, BoolArray]:
    """Distance of 2D points to their group's footprint boundary and whether they lie inside.

    ``edge_a``/``edge_b`` are the ``(E, 2)`` boundary edge endpoints sorted by group,
    ``edge_offsets`` ``(G + 1,)``; every point's group has at least one edge. Inside-ness is
    the non-zero winding rule over all boundary loops (outer loops counter-clockwise, holes
    clockwise).
    """
    count = points.shape[0]
    dmin = np.empty(count)
    inside = np.empty(count, dtype=bool)
    edges_per_point = edge_offsets[point_group + 1] - edge_offsets[point_group]
    cumulative = np.cumsum(edges_per_point)
    start = 0
    while start < count:
        done = int(cumulative[start - 1]) if start else 0
        stop = max(int(np.searchsorted(cumulative, done + _PAIR_CHUNK, side="right")), start + 1)
        counts = edges_per_point[start:stop]
        seg = _offsets(counts)[:-1]
        total = int(counts.sum())
        pi = np.repeat(np.arange(start, stop), counts)
        ei = edge_offsets[point_group[pi]] + (np.arange(total) - np.repeat(seg, counts))
        p, a, b = points[pi], edge_a[ei], edge_b[ei]
        d = b - a
        w = p - a
        length2 = np.einsum("ij,ij->i", d, d)
        t = np.clip(np.einsum("ij,ij->i", w, d) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
        dist = np.hypot(w[:, 0] - t * d[:, 0], w[:, 1] - t * d[:, 1])
        dmin[start:stop] = np.minimum.reduceat(dist, seg)
        side = d[:, 0] * w[:, 1] - d[:, 1] * w[:, 0]  # > 0: point left of the edge
        up = (a[:, 1] <= p[:, 1]) & (b[:, 1] > p[:, 1]) & (side > 0)
        down = (b[:, 1] <= p[:, 1]) & (a[:, 1] > p[:, 1]) & (side < 0)
        winding = up.astype(np.int64) - down.astype(np.int64)
        inside[start:stop] = np.add.reduceat(winding, seg) != 0
        start = stop
    return dmin, inside


def _object_class(
    types: npt.NDArray[np.uint8], groups: IndexArray, group_count: int
) -> npt.NDArray[np.uint8] | None:
    """Per group, the surface type its block takes instead of roof/wall/ground (0: none).

    A terrain, road, water or vegetation object (no building surfaces, but a class of its own
    such as ``TERRAIN``) would otherwise show roof and wall colours in parent tiles; its block
    takes the highest such code among its own triangles. None when no group has one.
    """
    building = (types > SurfaceType.UNKNOWN) & (types < SurfaceType.TRAFFIC_AREA)
    kind = np.zeros(group_count, dtype=np.uint8)
    np.maximum.at(kind, groups, np.where(building, 0, types).astype(np.uint8))
    kind[np.bincount(groups[building], minlength=group_count) > 0] = 0
    return kind if kind.any() else None


def block_meshes(mesh: Mesh, *, weld_tolerance: float = 1e-3) -> Blocks:
    """Build the block (prism) of every feature row of ``mesh`` at once.

    Parameters
    ----------
    mesh
        Full geometry in local metric frame(s) with ``z`` up (ENU metres); all vertices of one
        feature row share a frame. ``surface_types`` drive the footprint and roof choice.
    weld_tolerance
        Footprint vertices closer than this (metres) are merged.

    Returns
    -------
    Blocks
        Prisms grouped by feature row, with per-row deviations (module docstring).
    """
    if not weld_tolerance > 0:
        raise ValueError(f"weld_tolerance must be positive, got {weld_tolerance}")
    pos = mesh.positions
    tri = mesh.triangles.astype(np.int64)
    fid = mesh.feature_ids.astype(np.int64)
    stype = mesh.surface_types
    group_count = int(fid.max()) + 1 if fid.size else 0
    if tri.shape[0] == 0:
        return _no_blocks(group_count)

    tgroup = fid[tri[:, 0]]
    p0, p1, p2 = pos[tri[:, 0]], pos[tri[:, 1]], pos[tri[:, 2]]
    nz = _cross2(p1[:, :2] - p0[:, :2], p2[:, :2] - p0[:, :2])
    flat = np.abs(nz) > 2 * _MIN_AREA
    has_tris = np.bincount(tgroup, minlength=group_count) > 0
    referenced = np.zeros(pos.shape[0], dtype=bool)
    referenced[tri.ravel()] = True
    rv = np.flatnonzero(referenced)
    z = pos[:, 2]

    # Footprint triangles: ground, else downward-facing, else the convex hull.
    ground = flat & (stype == SurfaceType.GROUND)
    down = flat & (nz < 0)
    has_ground = np.bincount(tgroup[ground], minlength=group_count) > 0
    has_down = np.bincount(tgroup[down], minlength=group_count) > 0
    use = np.where(has_ground[tgroup], ground, down)
    foot = np.stack([p0[use, :2], p1[use, :2], p2[use, :2]], axis=1)
    foot_group = tgroup[use]
    need_hull = has_tris & ~has_ground & ~has_down
    if need_hull.any():
        hull, hull_group = _hull_triangles(pos[rv], fid[rv], np.flatnonzero(need_hull))
        foot = np.concatenate([foot, hull])
        foot_group = np.concatenate([foot_group, hull_group])

    # Roof vertices, top and bottom heights.
    roof = stype == SurfaceType.ROOF
    has_roof = np.bincount(tgroup[roof], minlength=group_count) > 0
    roof_sel = np.where(has_roof[tgroup], roof, flat & (nz > 0))
    roof_v = tri[roof_sel].ravel()
    roof_lo = _group_extreme(z[roof_v], fid[roof_v], group_count, maximum=False)
    roof_hi = _group_extreme(z[roof_v], fid[roof_v], group_count, maximum=True)
    has_roof_set = np.isfinite(roof_lo)
    zmin = _group_extreme(z[rv], fid[rv], group_count, maximum=False)
    zmax = _group_extreme(z[rv], fid[rv], group_count, maximum=True)
    roof_lo = np.where(has_roof_set, roof_lo, 0.0)
    roof_hi = np.where(has_roof_set, roof_hi, 0.0)
    top = np.where(has_roof_set, 0.5 * (roof_lo + roof_hi), zmax)
    bottom = zmin
    tall = has_tris & (top - bottom >= _MIN_HEIGHT)

    # Orient counter-clockwise from above; weld footprint corners and the vertices of the
    # candidate features in one go, so that both share ids; drop degenerate and duplicate
    # footprint triangles.
    # Slivers thinner than the weld tolerance (collinear corners left by triangulating rings
    # with vertices on straight edges) have no reliable orientation: drop them.
    area2 = _cross2(foot[:, 1] - foot[:, 0], foot[:, 2] - foot[:, 0])
    longest = np.linalg.norm(foot[:, [1, 2, 0]] - foot, axis=2).max(axis=1)
    keep = tall[foot_group] & (np.abs(area2) >= weld_tolerance * longest)
    foot, foot_group = foot[keep], foot_group[keep]
    flip = area2[keep] < 0
    foot[flip] = foot[flip][:, [0, 2, 1]]
    corners = foot_group.shape[0] * 3
    verts = rv[tall[fid[rv]]]
    all_xy = np.concatenate([foot.reshape(-1, 2), pos[verts, :2]])
    all_group = np.concatenate([np.repeat(foot_group, 3), fid[verts]])
    inverse, first = _weld(all_xy, all_group, weld_tolerance)
    weld_xy, weld_group = all_xy[first], all_group[first]
    wid = inverse[:corners].reshape(-1, 3)
    proper = (wid[:, 0] != wid[:, 1]) & (wid[:, 1] != wid[:, 2]) & (wid[:, 2] != wid[:, 0])
    wid, foot_group = wid[proper], foot_group[proper]
    _, unique_tris = _unique_rows(np.sort(wid, axis=1))
    unique_tris.sort()
    wid, foot_group = wid[unique_tris], foot_group[unique_tris]
    used = np.unique(wid.ravel())
    compact = np.full(weld_xy.shape[0], -1, dtype=np.int64)
    compact[used] = np.arange(used.shape[0])
    wid = compact[wid]
    wxy, wgroup = weld_xy[used], weld_group[used]

    # Boundary: every edge with its net direction count, c(a->b) - c(b->a). For a proper
    # footprint this is the set of edges used by exactly one triangle; where footprint
    # triangles overlap (duplicated ground polygons) it still closes the prism.
    e_from = wid.ravel()
    e_to = wid[:, [1, 2, 0]].ravel()
    n_weld = max(int(wxy.shape[0]), 1)
    lo, hi = np.minimum(e_from, e_to), np.maximum(e_from, e_to)
    _, first_edge, key_inv = np.unique(lo * n_weld + hi, return_index=True, return_inverse=True)
    net = np.bincount(key_inv, weights=np.where(e_from < e_to, 1.0, -1.0)).astype(np.int64)
    reps = np.abs(net)
    b_from = np.repeat(np.where(net > 0, lo[first_edge], hi[first_edge]), reps)
    b_to = np.repeat(np.where(net > 0, hi[first_edge], lo[first_edge]), reps)
    b_group = wgroup[b_from]
    edge_order = np.argsort(b_group, kind="stable")
    b_from, b_to, b_group = b_from[edge_order], b_to[edge_order], b_group[edge_order]
    tri_order = np.argsort(foot_group, kind="stable")
    wid, foot_group = wid[tri_order], foot_group[tri_order]
    has_block = np.bincount(b_group, minlength=group_count) > 0

    # Deviation: vertices on a footprint boundary corner are at horizontal distance 0; only
    # the others (ridges, overhangs, inner roof points) are measured against the edges.
    # One extra False slot: vertices that are no footprint corner have compact id -1.
    on_boundary = np.zeros(wxy.shape[0] + 1, dtype=bool)
    on_boundary[b_from] = on_boundary[b_to] = True
    vert_weld = inverse[corners:]
    prisms = _Prisms(
        wxy=wxy,
        b_from=b_from,
        b_to=b_to,
        b_group=b_group,
        top=top,
        bottom=bottom,
        has_block=has_block,
    )
    deviation = _deviation(
        prisms,
        pos=pos,
        verts=verts[has_block[fid[verts]]],
        vert_weld=vert_weld[has_block[fid[verts]]],
        vert_on_boundary=on_boundary[compact[vert_weld]][has_block[fid[verts]]],
        weld_xy=weld_xy,
        weld_group=weld_group,
        fid=fid,
        lost=has_tris & ~has_block,
        lost_size=lambda: _size(pos, fid, rv, group_count, zmin, zmax),
        roof_misfit=np.where(has_roof_set, 0.5 * (roof_hi - roof_lo), 0.0),
    )
    return _assemble(
        prisms,
        group_count=group_count,
        wgroup=wgroup,
        wid=wid,
        foot_group=foot_group,
        deviation=deviation,
        object_class=_object_class(stype, tgroup, group_count),
    )


def _no_blocks(group_count: int) -> Blocks:
    return Blocks(
        mesh=Mesh.empty(),
        vertex_offsets=np.zeros(group_count + 1, np.int64),
        triangle_offsets=np.zeros(group_count + 1, np.int64),
        deviation=np.zeros(group_count),
        has_block=np.zeros(group_count, dtype=bool),
    )


def _assemble(
    prisms: _Prisms,
    *,
    group_count: int,
    wgroup: IndexArray,
    wid: IndexArray,
    foot_group: IndexArray,
    deviation: Float64Array,
    object_class: npt.NDArray[np.uint8] | None = None,
) -> Blocks:
    """Lay out caps and walls group by group: vertices [top cap, bottom cap, walls].

    ``object_class`` (per group, 0: none) replaces the roof/ground/wall types of a group's
    block triangles (:func:`_object_class`).

    ``wgroup`` is the group of each corner of ``prisms.wxy``, ``wid`` ``(K, 3)`` the corners
    of the footprint triangles and ``foot_group`` their groups.
    """
    b_group, top, bottom, has_block = prisms.b_group, prisms.top, prisms.bottom, prisms.has_block
    # Groups without boundary edges (nothing left after cleaning) get no prism at all.
    wkeep = has_block[wgroup]
    tkeep = has_block[foot_group]
    remap = np.cumsum(wkeep) - 1
    wxy, wgroup = prisms.wxy[wkeep], wgroup[wkeep]
    wid, foot_group = remap[wid[tkeep]], foot_group[tkeep]
    b_from, b_to = remap[prisms.b_from], remap[prisms.b_to]

    wcount = np.bincount(wgroup, minlength=group_count)
    kcount = np.bincount(foot_group, minlength=group_count)
    ecount = np.bincount(b_group, minlength=group_count)
    voff = _offsets(2 * wcount + 4 * ecount)
    toff = _offsets(2 * kcount + 2 * ecount)
    positions = np.empty((int(voff[-1]), 3))
    triangles = np.empty((int(toff[-1]), 3), dtype=np.int64)
    stypes = np.empty(int(toff[-1]), dtype=np.uint8)

    wlocal = np.arange(wgroup.shape[0]) - _offsets(wcount)[wgroup]
    top_idx = voff[wgroup] + wlocal
    bottom_idx = top_idx + wcount[wgroup]
    positions[top_idx, :2] = wxy
    positions[top_idx, 2] = top[wgroup]
    positions[bottom_idx, :2] = wxy
    positions[bottom_idx, 2] = bottom[wgroup]

    elocal = np.arange(b_group.shape[0]) - _offsets(ecount)[b_group]
    base = voff[b_group] + 2 * wcount[b_group] + 4 * elocal
    t_e, b_e = top[b_group], bottom[b_group]
    for k, (ends, height) in enumerate(((b_from, b_e), (b_to, b_e), (b_to, t_e), (b_from, t_e))):
        positions[base + k, :2] = wxy[ends]
        positions[base + k, 2] = height

    klocal = np.arange(foot_group.shape[0]) - _offsets(kcount)[foot_group]
    tbase = toff[foot_group] + klocal
    cap = voff[foot_group][:, None] + (wid - _offsets(wcount)[foot_group][:, None])
    triangles[tbase] = cap
    stypes[tbase] = SurfaceType.ROOF
    triangles[tbase + kcount[foot_group]] = (cap + wcount[foot_group][:, None])[:, [0, 2, 1]]
    stypes[tbase + kcount[foot_group]] = SurfaceType.GROUND
    wall = toff[b_group] + 2 * kcount[b_group] + 2 * elocal
    triangles[wall] = np.column_stack([base, base + 1, base + 2])
    triangles[wall + 1] = np.column_stack([base, base + 2, base + 3])
    stypes[wall] = stypes[wall + 1] = SurfaceType.WALL
    if object_class is not None:
        keep = np.repeat(object_class, np.diff(toff))
        stypes[keep > 0] = keep[keep > 0]

    block = Mesh(
        positions=positions,
        triangles=triangles.astype(np.uint32),
        feature_ids=np.repeat(np.arange(group_count, dtype=np.uint32), np.diff(voff)),
        surface_types=stypes,
    )
    return Blocks(
        mesh=block,
        vertex_offsets=voff,
        triangle_offsets=toff,
        deviation=deviation,
        has_block=has_block,
    )


def _size(
    pos: Float64Array,
    fid: IndexArray,
    rv: IndexArray,
    group_count: int,
    zmin: Float64Array,
    zmax: Float64Array,
) -> Float64Array:
    """``max(height, horizontal diameter)`` of every group (0 for groups without vertices)."""
    g = fid[rv]
    span = [
        _group_extreme(pos[rv, k], g, group_count, maximum=True)
        - _group_extreme(pos[rv, k], g, group_count, maximum=False)
        for k in range(2)
    ]
    size = np.maximum(zmax - zmin, np.hypot(span[0], span[1]))
    return np.where(np.isfinite(size), size, 0.0)


def _deviation(
    prisms: _Prisms,
    *,
    pos: Float64Array,
    verts: IndexArray,
    vert_weld: IndexArray,
    vert_on_boundary: BoolArray,
    weld_xy: Float64Array,
    weld_group: IndexArray,
    fid: IndexArray,
    lost: BoolArray,
    lost_size: Callable[[], Float64Array],
    roof_misfit: Float64Array,
) -> Float64Array:
    """Per-group deviation (module docstring formula).

    ``verts`` are the vertices of groups with a block, ``vert_weld`` their welded ids (into
    ``weld_xy`` / ``weld_group``) and ``vert_on_boundary`` whether they sit on a footprint boundary corner.
    """
    top, bottom, has_block = prisms.top, prisms.bottom, prisms.has_block
    group_count = top.shape[0]
    deviation = np.where(lost, lost_size(), 0.0) if lost.any() else np.zeros(group_count)
    deviation[has_block] = roof_misfit[has_block]
    if not has_block.any():
        return deviation
    vgroup = fid[verts]
    zv = pos[verts, 2]
    t, b = top[vgroup], bottom[vgroup]
    above = np.maximum(zv - t, 0.0)
    dist = above.copy()
    off = ~vert_on_boundary
    if off.any():
        points, point_of_vert = np.unique(vert_weld[off], return_inverse=True)
        edge_offsets = _offsets(np.bincount(prisms.b_group, minlength=group_count))
        d_xy, inside = _footprint_distance(
            weld_xy[points],
            weld_group[points],
            prisms.wxy[prisms.b_from],
            prisms.wxy[prisms.b_to],
            edge_offsets,
        )
        d_xy, inside = d_xy[point_of_vert], inside[point_of_vert]
        z_off, t_off = zv[off], t[off]
        within = np.minimum(np.minimum(d_xy, t_off - z_off), z_off - b[off])
        dist[off] = np.where(
            inside, np.where(z_off > t_off, above[off], within), np.hypot(d_xy, above[off])
        )
    return np.maximum(deviation, _group_extreme(dist, vgroup, group_count, maximum=True))
