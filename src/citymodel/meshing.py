"""Features -> one triangle mesh with a feature table (CGML-2, CGML-5, T3D-6).

:func:`mesh_features` turns a chunk of top-level features (Buildings with their nested
BuildingParts) into a single :class:`~citymodel.mesh.MeshBatch`, triangulating all their polygons
in one batched call (:func:`~citymodel.ops.triangulate.triangulate_polygons`).

Feature granularity (CGML-2): every object of a feature tree that has geometry at the chosen LoD
(a Building with its own geometry, each BuildingPart with geometry) is one feature-table row and
one feature id. A Building without own geometry whose parts have some (the usual AdV layout)
gets no row of its own; its attributes reach the parts by inheritance: an object takes every
attribute it lacks (absent or None) from its parent, recursively up to the top-level object.

LoD choice: ``lod=None`` takes each object's highest LoD. ``lod="2"`` takes the geometry of that
LoD (``"2"`` also matches ``"2.2"``); an object without it but with a lower LoD uses its highest
lower LoD (counted as ``lod_fallbacks`` and warned once); objects with only higher LoDs get no
row.

Columns: ``gml_id`` (the object's id), ``building_id`` (the top-level object's id),
``object_type`` (:attr:`Feature.type`), ``lod`` (the LoD used), ``source_file`` and the
(inherited) attributes; an attribute named like one of these columns is overridden by it.

Orientation (CGML-5): triangles follow the rings' orientation; a geometry flagged ``solid`` whose
shell has a negative signed volume is inside-out and all its triangles are flipped.

Pre-triangulated geometries (:attr:`SurfaceGeometry.triangulated`, e.g. IFC meshes) keep their
triangles exactly as given; only the other polygons of a chunk go through triangulation.

Nothing is dropped silently (skip-and-report): a top-level object that yields no triangle is
recorded with :meth:`JobReport.skip` (``"no geometry"``, ``"no LoD 2 geometry"``,
``"all polygons degenerate"`` or the triangulation failures); an object that lost some polygons
gets one skip record listing them (object id, its polygon indices within the chosen geometry,
reasons). Counts go to ``report.extra["meshing"]``: ``polygons``, ``triangles``,
``degenerate_polygons``, ``failed_polygons``, ``nonplanar_polygons``, ``ignored_holes``,
``flipped_solids`` and ``lod_fallbacks``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import repeat

import numpy as np

from citymodel._typing import (
    AttributeValue,
    BoolArray,
    Float64Array,
    IndexArray,
    UInt8Array,
)
from citymodel.mesh import FeatureTable, Mesh, MeshBatch
from citymodel.model import Feature, SurfaceGeometry
from citymodel.ops.appearance import mesh_appearance
from citymodel.ops.polygons import offsets_from_sizes
from citymodel.ops.solids import signed_volume, signed_volumes
from citymodel.ops.triangulate import (
    DEGENERATE,
    DEGENERATE_HOLE,
    NON_PLANAR,
    PLANARITY_TOLERANCE,
    Triangulation,
    triangulate_polygons,
)
from citymodel.report import JobReport

__all__ = ["RESERVED_COLUMNS", "mesh_features", "signed_volume"]

log = logging.getLogger(__name__)

RESERVED_COLUMNS = ("gml_id", "building_id", "object_type", "lod", "source_file")
"""Columns every feature-table row has, in this order, before the attributes."""

_LISTED_FAILURES = 3
"""A skip record lists at most this many polygons; beyond, it summarises counts by kind."""


@dataclass(frozen=True, slots=True)
class _Part:
    """One object of a feature tree with the geometry chosen for it."""

    feature: Feature
    top: Feature
    geometry: SurfaceGeometry
    attributes: Mapping[str, AttributeValue]


@dataclass(frozen=True, slots=True)
class _Top:
    """A top-level feature and its parts ``parts[first:end]``."""

    feature: Feature
    first: int
    end: int
    any_geometry: bool


@dataclass(frozen=True, slots=True)
class _Batch:
    """The chosen geometries of all parts, concatenated into one ragged layout."""

    vertices: Float64Array
    ring_offsets: IndexArray
    polygon_offsets: IndexArray
    surface_types: UInt8Array
    polygon_part: IndexArray  # (P,) part of each polygon
    polygon_start: IndexArray  # (parts,) first polygon of each part
    vertex_part: IndexArray  # (N,) part of each vertex


def mesh_features(
    features: Sequence[Feature],
    *,
    lod: str | None = None,
    report: JobReport | None = None,
) -> MeshBatch:
    """Triangulate top-level features and their children into one mesh batch.

    Parameters
    ----------
    features
        Top-level features (e.g. Buildings with nested BuildingParts); geometry float64 metres
        in the source CRS.
    lod
        LoD to use (``"1"``, ``"2"``, ``"2.2"``); None takes each object's highest LoD.
    report
        Receives skip records and counters; a throw-away report (whose skips are still logged)
        when None. In strict mode the first skip raises
        :class:`~citymodel.errors.StrictModeError`.

    Returns
    -------
    MeshBatch
        Positions float64 metres in the source CRS (``crs`` left None for the caller to set),
        triangles counter-clockwise seen from outside, one feature id per vertex (vertices are
        never shared between polygons or features), one surface type per triangle, and one
        feature-table row per object with triangles.
    """
    report = report if report is not None else JobReport()
    parts, tops, fallbacks = _collect(features, lod)
    if fallbacks:
        report.warn(
            f"objects without LoD {lod} geometry use their highest lower LoD "
            "(counted in meshing.lod_fallbacks)"
        )
    if not parts:
        _report_empty_tops(tops, np.zeros(len(tops)), {}, lod, report)
        _count(report, lod_fallbacks=fallbacks)
        return MeshBatch(mesh=Mesh.empty(), features=FeatureTable())

    batch = _concatenate([p.geometry for p in parts])
    result = _triangulate(batch, parts)
    tri_part = np.take(batch.polygon_part, result.polygon_index)
    part_triangles = np.bincount(tri_part, minlength=len(parts))
    triangles = result.triangles.astype(np.int64)
    flipped = _orient_solids(batch.vertices, triangles, tri_part, parts)

    failures = _failures_by_part(result, batch)
    top_of_part = np.repeat(np.arange(len(tops)), [t.end - t.first for t in tops])
    top_triangles: Float64Array = np.bincount(
        top_of_part, weights=part_triangles, minlength=len(tops)
    ).astype(np.float64)
    _report_empty_tops(tops, top_triangles, failures, lod, report)
    _report_part_failures(parts, top_of_part, top_triangles, failures, report)
    _report_warnings(result, batch, parts, report)
    degenerate = sum(reason.startswith(DEGENERATE) for _, reason in result.failures)
    if degenerate:
        report.warn(
            "degenerate polygons (area below 1e-4 m² or fewer than 3 distinct vertices) were "
            "dropped (counted in meshing.degenerate_polygons)"
        )
    _count(
        report,
        polygons=int(batch.polygon_part.shape[0]),
        triangles=int(triangles.shape[0]),
        degenerate_polygons=degenerate,
        failed_polygons=len(result.failures) - degenerate,
        flipped_solids=flipped,
        lod_fallbacks=fallbacks,
    )

    with_triangles = np.flatnonzero(part_triangles > 0)
    part_row = np.full(len(parts), -1, dtype=np.int64)
    part_row[with_triangles] = np.arange(with_triangles.shape[0])
    labels: dict[str, str] = {}
    table = _table([_row(parts[i], labels) for i in with_triangles.tolist()])
    mesh = _gather_mesh(batch, triangles, result.polygon_index, part_row)
    if any(p.geometry.appearance is not None for p in parts):
        mesh = _with_appearance(mesh, parts, batch, triangles, result.polygon_index)
    return MeshBatch(mesh=mesh, features=table)


def _collect(features: Sequence[Feature], lod: str | None) -> tuple[list[_Part], list[_Top], int]:
    """Choose the geometry of every object; return parts, top-level entries, fallback count."""
    parts: list[_Part] = []
    tops: list[_Top] = []
    fallbacks = 0
    for top in features:
        first = len(parts)
        any_geometry = False
        for feature, attributes in _walk_with_inherited_attributes(top):
            if not feature.geometries:
                continue
            usable = [g for g in feature.geometries if g.polygon_offsets.shape[0] > 1]
            any_geometry = any_geometry or bool(usable)
            geometry, fallback = _choose_geometry(feature, usable, lod)
            if geometry is not None:
                fallbacks += fallback
                parts.append(_Part(feature, top, geometry, attributes))
        tops.append(_Top(top, first, len(parts), any_geometry))
    return parts, tops, fallbacks


def _walk_with_inherited_attributes(
    top: Feature,
) -> Iterator[tuple[Feature, Mapping[str, AttributeValue]]]:
    """Yield every object of the tree with its attributes completed from its ancestors."""
    if not top.children:
        yield top, top.attributes
        return
    effective: dict[int, Mapping[str, AttributeValue]] = {}
    for feature, parent in top.walk():
        if parent is None:
            attributes = feature.attributes
        else:
            merged = dict(effective[id(parent)])
            for name, value in feature.attributes.items():
                if value is not None or name not in merged:
                    merged[name] = value
            attributes = merged
        effective[id(feature)] = attributes
        yield feature, attributes


def _lod_value(lod: str) -> float | None:
    try:
        return float(lod)
    except ValueError:
        return None


def _choose_geometry(
    feature: Feature, usable: list[SurfaceGeometry], lod: str | None
) -> tuple[SurfaceGeometry | None, bool]:
    """Pick the geometry for ``lod``; return it and whether it is a lower-LoD fallback."""
    if not usable:
        return None, False
    if lod is None:
        if len(usable) == 1:
            return usable[0], False
        return max(usable, key=lambda g: _lod_value(g.lod) or 0.0), False
    for geometry in usable:
        if geometry.lod == lod or geometry.lod.split(".")[0] == lod:
            return geometry, False
    wanted = _lod_value(lod)
    if wanted is None:
        return None, False
    lower = [(v, g) for g in usable if (v := _lod_value(g.lod)) is not None and v < wanted]
    if not lower:
        return None, False
    chosen = max(lower, key=lambda vg: vg[0])[1]
    log.debug("feature %s: no LoD %s, using LoD %s", feature.id, lod, chosen.lod)
    return chosen, True


def _concatenate(geometries: list[SurfaceGeometry]) -> _Batch:
    n = len(geometries)
    vertex_counts = np.fromiter((g.vertices.shape[0] for g in geometries), np.int64, count=n)
    ring_counts = np.fromiter((g.ring_offsets.shape[0] - 1 for g in geometries), np.int64, count=n)
    polygon_counts = np.fromiter(
        (g.polygon_offsets.shape[0] - 1 for g in geometries), np.int64, count=n
    )
    vertex_start = offsets_from_sizes(vertex_counts)
    ring_start = offsets_from_sizes(ring_counts)
    polygon_start = offsets_from_sizes(polygon_counts)
    # shift every geometry's offsets by its start, all at once
    ring_offsets = np.zeros(ring_start[-1] + 1, dtype=np.int64)
    ring_offsets[1:] = np.concatenate([g.ring_offsets[1:] for g in geometries])
    ring_offsets[1:] += np.repeat(vertex_start[:-1], ring_counts)
    polygon_offsets = np.zeros(polygon_start[-1] + 1, dtype=np.int64)
    polygon_offsets[1:] = np.concatenate([g.polygon_offsets[1:] for g in geometries])
    polygon_offsets[1:] += np.repeat(ring_start[:-1], polygon_counts)
    part_ids = np.arange(n, dtype=np.int64)
    return _Batch(
        vertices=np.concatenate([g.vertices for g in geometries]),
        ring_offsets=ring_offsets,
        polygon_offsets=polygon_offsets,
        surface_types=np.concatenate([g.surface_types for g in geometries]).astype(np.uint8),
        polygon_part=np.repeat(part_ids, polygon_counts),
        polygon_start=polygon_start[:-1],
        vertex_part=np.repeat(part_ids, vertex_counts),
    )


def _triangulate(batch: _Batch, parts: list[_Part]) -> Triangulation:
    """Triangulate the batch; polygons of ``triangulated`` geometries are taken as they are.

    Pre-triangulated geometries (e.g. IFC meshes) skip the polygon pipeline entirely: no
    duplicate merging, no minimum area, no re-orientation, since their triangles are already
    final (small BIM details would otherwise be dropped as degenerate).
    """
    ready = np.fromiter((p.geometry.triangulated for p in parts), np.bool_, count=len(parts))
    if not ready.any():
        return triangulate_polygons(batch.vertices, batch.ring_offsets, batch.polygon_offsets)
    polygon_ready = ready[batch.polygon_part]
    taken = np.flatnonzero(polygon_ready)
    starts = batch.ring_offsets[batch.polygon_offsets[taken]]
    triangles = starts[:, None] + np.arange(3, dtype=np.int64)
    if polygon_ready.all():
        return Triangulation(triangles=triangles.astype(np.uint32), polygon_index=taken)
    rest = np.flatnonzero(~polygon_ready)
    sub = _sub_batch(batch, rest)
    result = triangulate_polygons(sub.vertices, sub.ring_offsets, sub.polygon_offsets)
    tri = np.concatenate([triangles, sub.source[result.triangles.astype(np.int64)]])
    polygon_index = np.concatenate([taken, rest[result.polygon_index]])
    order = np.argsort(polygon_index, kind="stable")
    return Triangulation(
        triangles=tri[order].astype(np.uint32),
        polygon_index=polygon_index[order],
        failures=tuple((int(rest[p]), reason) for p, reason in result.failures),
        warnings=tuple((int(rest[p]), reason) for p, reason in result.warnings),
    )


@dataclass(frozen=True, slots=True)
class _SubBatch:
    """Some polygons of a batch in their own ragged layout; ``source``: batch vertex index."""

    vertices: Float64Array
    ring_offsets: IndexArray
    polygon_offsets: IndexArray
    source: IndexArray


def _sub_batch(batch: _Batch, polygons: IndexArray) -> _SubBatch:
    """The ragged layout of ``polygons`` (batch polygon indices, ascending) alone."""
    first_ring = batch.polygon_offsets[polygons]
    ring_counts = batch.polygon_offsets[polygons + 1] - first_ring
    rings = np.repeat(first_ring - offsets_from_sizes(ring_counts)[:-1], ring_counts) + np.arange(
        int(ring_counts.sum()), dtype=np.int64
    )
    first_vertex = batch.ring_offsets[rings]
    vertex_counts = batch.ring_offsets[rings + 1] - first_vertex
    vertex_offsets = offsets_from_sizes(vertex_counts)
    source = np.repeat(first_vertex - vertex_offsets[:-1], vertex_counts) + np.arange(
        int(vertex_offsets[-1]), dtype=np.int64
    )
    return _SubBatch(
        vertices=batch.vertices[source],
        ring_offsets=vertex_offsets,
        polygon_offsets=offsets_from_sizes(ring_counts),
        source=source,
    )


def _orient_solids(
    vertices: Float64Array, triangles: IndexArray, tri_part: IndexArray, parts: list[_Part]
) -> int:
    """Flip, in place, the triangles of solids with a negative signed volume (CGML-5)."""
    solid = np.fromiter((p.geometry.solid for p in parts), np.bool_, count=len(parts))
    if not solid.any():
        return 0
    in_solid = solid[tri_part]
    volumes = signed_volumes(vertices, triangles[in_solid], tri_part[in_solid], len(parts))
    inside_out: BoolArray = solid & (volumes < 0)
    flip = inside_out[tri_part]
    triangles[flip] = triangles[flip][:, [0, 2, 1]]
    for i in np.flatnonzero(inside_out).tolist():
        log.debug(
            "feature %s: solid given inside-out (volume %.3g m³), flipped",
            parts[i].feature.id,
            volumes[i],
        )
    return int(inside_out.sum())


def _gather_mesh(
    batch: _Batch, triangles: IndexArray, polygon_index: IndexArray, part_row: IndexArray
) -> Mesh:
    """Keep the vertices used by triangles (not shared: each polygon has its own)."""
    used = np.zeros(batch.vertices.shape[0], dtype=np.bool_)
    used[triangles.ravel()] = True
    if used.all():
        positions = batch.vertices
        new_triangles = triangles
        vertex_part = batch.vertex_part
    else:
        used_index = np.flatnonzero(used)
        new_index = np.cumsum(used) - 1
        positions = np.take(batch.vertices, used_index, axis=0)
        new_triangles = np.take(new_index, triangles)
        vertex_part = np.take(batch.vertex_part, used_index)
    return Mesh(
        positions=positions,
        triangles=new_triangles.astype(np.uint32).reshape(-1, 3),
        feature_ids=np.take(part_row, vertex_part).astype(np.uint32),
        surface_types=np.take(batch.surface_types, polygon_index),
    )


def _with_appearance(
    mesh: Mesh, parts: list[_Part], batch: _Batch, triangles: IndexArray, polygon_index: IndexArray
) -> Mesh:
    """``mesh`` with texture coordinates and materials carried over (as in _gather_mesh)."""
    used = np.zeros(batch.vertices.shape[0], dtype=np.bool_)
    used[triangles.ravel()] = True
    vertex_index = None if used.all() else np.flatnonzero(used)
    appearance = mesh_appearance([p.geometry for p in parts], vertex_index, polygon_index)
    return replace(mesh, appearance=appearance)


def _table(rows: list[dict[str, AttributeValue]]) -> FeatureTable:
    """A feature table from rows; columns in order of first appearance, missing values None."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    get = dict.get
    columns = {name: list(map(get, rows, repeat(name))) for name in names}
    return FeatureTable(columns=columns, row_count=len(rows))


def _row(part: _Part, labels: dict[str, str]) -> dict[str, AttributeValue]:
    """The table row of ``part``; ``labels`` caches ``SourceRef.label`` per source path."""
    feature = part.feature
    source = feature.source or part.top.source
    label = None
    if source is not None:
        label = labels.get(source.path)
        if label is None:
            label = labels[source.path] = source.label
    reserved: dict[str, AttributeValue] = {
        "gml_id": feature.id,
        "building_id": part.top.id,
        "object_type": feature.type,
        "lod": part.geometry.lod,
        "source_file": label,
    }
    row = {**reserved, **part.attributes}
    if len(row) != len(reserved) + len(part.attributes):
        row.update(reserved)  # an attribute named like a reserved column: the column wins
    return row


def _failures_by_part(result: Triangulation, batch: _Batch) -> dict[int, list[tuple[int, str]]]:
    """Triangulation failures grouped by part, with polygon indices local to its geometry."""
    grouped: dict[int, list[tuple[int, str]]] = {}
    for polygon, reason in result.failures:
        part = int(batch.polygon_part[polygon])
        grouped.setdefault(part, []).append((polygon - int(batch.polygon_start[part]), reason))
    return grouped


def _kind(reason: str) -> str:
    return reason.split(":", 1)[0]


def _describe(failures: list[tuple[int, str]], polygon_count: int, lod: str) -> str:
    listed = "; ".join(f"polygon {i}: {reason}" for i, reason in failures[:_LISTED_FAILURES])
    head = f"{len(failures)} of {polygon_count} LoD {lod} polygons not triangulated"
    if len(failures) <= _LISTED_FAILURES:
        return f"{head}: {listed}"
    kinds = Counter(_kind(reason) for _, reason in failures)
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    return f"{head} ({summary}); first: {listed}"


def _skip(report: JobReport, feature: Feature, fallback: Feature, reason: str) -> None:
    source = feature.source or fallback.source
    report.skip(
        reason,
        id=feature.id,
        file=source.path if source is not None else None,
        line=source.line if source is not None else None,
    )


def _report_empty_tops(
    tops: list[_Top],
    top_triangles: Float64Array,
    failures: dict[int, list[tuple[int, str]]],
    lod: str | None,
    report: JobReport,
) -> None:
    """Skip records for top-level objects that yield no triangle at all."""
    for t in np.flatnonzero(top_triangles == 0).tolist():
        top = tops[t]
        if top.end == top.first:
            no_lod = lod is not None and top.any_geometry
            reason = f"no LoD {lod} geometry" if no_lod else "no geometry"
        else:
            lost = [f for i in range(top.first, top.end) for f in failures.get(i, [])]
            if lost and all(reason.startswith(DEGENERATE) for _, reason in lost):
                reason = "all polygons degenerate"
            else:
                shown = "; ".join(r for _, r in lost[:_LISTED_FAILURES])
                reason = f"no polygon could be triangulated: {shown}"
        _skip(report, top.feature, top.feature, reason)


def _report_part_failures(
    parts: list[_Part],
    top_of_part: IndexArray,
    top_triangles: Float64Array,
    failures: dict[int, list[tuple[int, str]]],
    report: JobReport,
) -> None:
    """One skip record per object that lost real polygons (unless its whole tree was skipped).

    Degenerate polygons (zero area, fewer than 3 distinct vertices) carry no visible geometry:
    they are dropped and counted (``meshing.degenerate_polygons``, CGML-5), not reported as
    skips; a building that has nothing but degenerate polygons is still reported as skipped.
    """
    for i in sorted(failures):
        if top_triangles[top_of_part[i]] == 0:
            continue
        lost = [(p, r) for p, r in failures[i] if not r.startswith(DEGENERATE)]
        if not lost:
            continue
        part = parts[i]
        reason = _describe(lost, part.geometry.polygon_count, part.geometry.lod)
        _skip(report, part.feature, part.top, reason)


def _report_warnings(
    result: Triangulation, batch: _Batch, parts: list[_Part], report: JobReport
) -> None:
    nonplanar = [p for p, reason in result.warnings if reason.startswith(NON_PLANAR)]
    holes = sum(reason.startswith(DEGENERATE_HOLE) for _, reason in result.warnings)
    for polygon, reason in result.warnings:
        part = parts[int(batch.polygon_part[polygon])]
        local = polygon - int(batch.polygon_start[batch.polygon_part[polygon]])
        log.debug("feature %s, polygon %d: %s", part.feature.id, local, reason)
    if nonplanar:
        report.warn(
            f"some polygons deviate more than {PLANARITY_TOLERANCE:g} m from their best-fit plane; "
            "they were triangulated in that plane (counted in meshing.nonplanar_polygons)"
        )
    _count(report, nonplanar_polygons=len(nonplanar), ignored_holes=holes)


def _count(report: JobReport, **counts: int) -> None:
    stats: dict[str, int] = report.extra.setdefault("meshing", {})
    for name, n in counts.items():
        stats[name] = stats.get(name, 0) + int(n)
