"""Split an ECEF mesh batch into *units* and measure them for the index (pass 1).

A unit is one top-level building: the rows of a Building and its BuildingParts, which share
the ``building_id`` column and are contiguous in the feature table. Each unit is measured in
its own east-north-up frame (origin: the centre of its ECEF bounding box), where its block
(:mod:`citymodel.tiler.blocks`) is built; everything handed back is in ECEF (EPSG:4978) metres,
and regions in radians / metres above the WGS84 ellipsoid (correctness.md T3D-3).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from citymodel._typing import BoolArray, Float64Array, IndexArray
from citymodel.crs import ecef_to_geodetic
from citymodel.errors import TilingError
from citymodel.mesh import FeatureTable, Mesh, MeshBatch, select_rows
from citymodel.ops.frames import enu_rotation
from citymodel.tiler._enu import ecef_to_enu, enu_to_ecef
from citymodel.tiler.block_colours import block_appearance
from citymodel.tiler.blocks import block_meshes

__all__ = ["PreparedUnits", "prepare_units", "unit_row_offsets"]

logger = logging.getLogger(__name__)


def unit_row_offsets(features: FeatureTable) -> IndexArray:
    """Return ``(U + 1,)`` row offsets of the units: maximal runs of equal ``building_id``.

    Rows without a ``building_id`` (``None``) form a unit of their own each.

    Raises
    ------
    TilingError
        When the column is missing or a ``building_id`` occurs in two separate runs (the rows
        of a unit must be contiguous).
    """
    count = features.row_count
    if count == 0:
        return np.zeros(1, np.int64)
    try:
        ids = features.column("building_id")
    except KeyError as err:
        raise TilingError("the feature table has no 'building_id' column") from err
    starts = [0]
    starts.extend(i for i in range(1, count) if ids[i] is None or ids[i] != ids[i - 1])
    seen: set[object] = set()
    for start in starts:
        head = ids[start]
        if head is None:
            continue
        if head in seen:
            raise TilingError(
                f"the rows of building {head!r} are not contiguous in the feature table; "
                "a building and its parts must be emitted together"
            )
        seen.add(head)
    return np.append(starts, count).astype(np.int64)


@dataclass(frozen=True, slots=True)
class PreparedUnits:
    """The units of one batch with everything the store and the index need.

    All arrays are ordered by unit; unit ``u`` owns rows ``row_offsets[u]:row_offsets[u+1]`` of
    ``batch.features``, vertices ``vertex_offsets[u]:...`` and triangles
    ``triangle_offsets[u]:...`` of ``batch.mesh`` (vertex indices are global), and likewise for
    ``block`` with ``block_vertex_offsets`` / ``block_triangle_offsets``.

    Attributes
    ----------
    batch
        The input, with vertices and triangles sorted by unit (ECEF float64 metres) and units
        without triangles removed.
    row_offsets, vertex_offsets, triangle_offsets
        ``(U + 1,)`` int64.
    anchors
        ``(U, 3)`` float64 ECEF centre of each unit's bounding box, metres.
    block
        Blocks of all units, ECEF float64 metres; ``feature_ids`` are rows of ``batch.features``.
    block_vertex_offsets, block_triangle_offsets
        ``(U + 1,)`` int64.
    main_rows
        ``(U,)`` int64 row (of ``batch.features``) describing the unit in parent tiles: the row
        whose ``gml_id`` equals its ``building_id``, else its first row.
    regions
        ``(U, 6)`` float64 ``(west, south, east, north, min_h, max_h)`` of the unit and its
        block: radians, metres above the WGS84 ellipsoid.
    centroids
        ``(U, 2)`` float64 longitude, latitude of ``anchors`` in radians.
    deviation
        ``(U,)`` float64 largest block deviation of the unit's rows, metres.
    importance
        ``(U,)`` float64 size of the unit, ``max(height, horizontal diameter)`` in its ENU frame,
        metres: the error of leaving it out of a tile.
    skipped_ids
        ``building_id`` of units dropped because they have no triangles.
    """

    batch: MeshBatch
    row_offsets: IndexArray
    vertex_offsets: IndexArray
    triangle_offsets: IndexArray
    anchors: Float64Array
    block: Mesh
    block_vertex_offsets: IndexArray
    block_triangle_offsets: IndexArray
    main_rows: IndexArray
    regions: Float64Array
    centroids: Float64Array
    deviation: Float64Array
    importance: Float64Array
    skipped_ids: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.anchors.shape[0])


def _offsets(counts: IndexArray) -> IndexArray:
    out = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _segment_extreme(values: Float64Array, offsets: IndexArray, *, maximum: bool) -> Float64Array:
    """Min or max of ``values`` over non-empty segments given by ``offsets``."""
    ufunc = np.maximum if maximum else np.minimum
    result: Float64Array = ufunc.reduceat(values, offsets[:-1], axis=0)
    return result


def _sort_by_unit(mesh: Mesh, vertex_unit: IndexArray) -> tuple[Mesh, IndexArray]:
    """Reorder vertices and triangles so that each unit's are contiguous (stable)."""
    if vertex_unit.size == 0 or bool(np.all(vertex_unit[1:] >= vertex_unit[:-1])):
        vorder = None
    else:
        vorder = np.argsort(vertex_unit, kind="stable")
    if vorder is not None:
        new_index = np.empty_like(vorder)
        new_index[vorder] = np.arange(vorder.shape[0])
        triangles = new_index[mesh.triangles.astype(np.int64)]
        vertex_unit = vertex_unit[vorder]
        positions = mesh.positions[vorder]
        feature_ids = mesh.feature_ids[vorder]
    else:
        triangles = mesh.triangles.astype(np.int64)
        positions, feature_ids = mesh.positions, mesh.feature_ids
    tri_unit = vertex_unit[triangles[:, 0]] if triangles.size else np.zeros(0, np.int64)
    surface_types = mesh.surface_types
    torder = None
    if tri_unit.size and not bool(np.all(tri_unit[1:] >= tri_unit[:-1])):
        torder = np.argsort(tri_unit, kind="stable")
        triangles, surface_types = triangles[torder], surface_types[torder]
    appearance = mesh.appearance
    if appearance is not None and (vorder is not None or torder is not None):
        appearance = appearance.take(
            np.arange(mesh.vertex_count) if vorder is None else vorder,
            np.arange(mesh.triangle_count) if torder is None else torder,
        )
    sorted_mesh = Mesh(
        positions=positions,
        triangles=triangles.astype(np.uint32),
        feature_ids=feature_ids,
        surface_types=surface_types,
        appearance=appearance,
    )
    return sorted_mesh, vertex_unit


def _drop_units(
    batch: MeshBatch, row_offsets: IndexArray, keep_unit: BoolArray
) -> tuple[MeshBatch, IndexArray]:
    """Remove whole units (their rows, vertices and triangles) from ``batch``."""
    keep_rows = np.repeat(keep_unit, np.diff(row_offsets))
    kept = select_rows(batch, keep_rows)
    return kept, _offsets(np.diff(row_offsets)[keep_unit])


def _main_rows(features: FeatureTable, row_offsets: IndexArray) -> IndexArray:
    starts = row_offsets[:-1].copy()
    gml = features.columns.get("gml_id")
    building = features.columns.get("building_id")
    if gml is None or building is None:
        return starts
    multi = np.flatnonzero(np.diff(row_offsets) > 1)
    for u in multi.tolist():
        for row in range(int(row_offsets[u]), int(row_offsets[u + 1])):
            if gml[row] is not None and gml[row] == building[row]:
                starts[u] = row
                break
    return starts


def prepare_units(batch: MeshBatch, *, weld_tolerance: float = 1e-3) -> PreparedUnits:
    """Split ``batch`` into units, build their blocks and measure them.

    Parameters
    ----------
    batch
        Meshes in ECEF (EPSG:4978) float64 metres with a ``building_id`` column; the rows of a
        unit are contiguous.
    weld_tolerance
        Passed to :func:`~citymodel.tiler.blocks.block_meshes`, metres.

    Returns
    -------
    PreparedUnits
        Units without triangles are dropped and their ids listed in ``skipped_ids``.
    """
    row_offsets = unit_row_offsets(batch.features)
    unit_count = row_offsets.shape[0] - 1
    mesh = batch.mesh
    row_unit = np.repeat(np.arange(unit_count, dtype=np.int64), np.diff(row_offsets))
    tri_unit = row_unit[mesh.feature_ids[mesh.triangles[:, 0]]] if mesh.triangle_count else None
    has_tris = (
        np.bincount(tri_unit, minlength=unit_count) > 0
        if tri_unit is not None
        else np.zeros(unit_count, dtype=bool)
    )
    skipped: tuple[str, ...] = ()
    if not has_tris.all():
        ids = batch.features.columns.get("building_id", [None] * batch.features.row_count)
        skipped = tuple(str(ids[int(row_offsets[u])]) for u in np.flatnonzero(~has_tris))
        logger.debug("%d units without triangles skipped", len(skipped))
        batch, row_offsets = _drop_units(batch, row_offsets, has_tris)
        unit_count = row_offsets.shape[0] - 1
        row_unit = np.repeat(np.arange(unit_count, dtype=np.int64), np.diff(row_offsets))
        mesh = batch.mesh

    mesh, vertex_unit = _sort_by_unit(mesh, row_unit[mesh.feature_ids])
    batch = MeshBatch(mesh=mesh, features=batch.features, crs=batch.crs)
    vertex_offsets = _offsets(np.bincount(vertex_unit, minlength=unit_count))
    tri_unit_sorted = vertex_unit[mesh.triangles[:, 0]] if mesh.triangle_count else vertex_unit[:0]
    triangle_offsets = _offsets(np.bincount(tri_unit_sorted, minlength=unit_count))
    if unit_count == 0:
        return _empty(batch, skipped)

    lo = _segment_extreme(mesh.positions, vertex_offsets, maximum=False)
    hi = _segment_extreme(mesh.positions, vertex_offsets, maximum=True)
    anchors = 0.5 * (lo + hi)
    lon0, lat0, _ = _geodetic_radians(anchors).T
    rotations = enu_rotation(lon0, lat0)
    local = ecef_to_enu(mesh.positions, anchors, rotations, vertex_unit)
    local_mesh = Mesh(
        positions=local,
        triangles=mesh.triangles,
        feature_ids=mesh.feature_ids,
        surface_types=mesh.surface_types,
    )
    blocks = block_meshes(local_mesh, weld_tolerance=weld_tolerance)
    block_unit = row_unit[blocks.mesh.feature_ids]
    block_positions = enu_to_ecef(blocks.mesh.positions, anchors, rotations, block_unit)
    block = Mesh(
        positions=block_positions,
        triangles=blocks.mesh.triangles,
        feature_ids=blocks.mesh.feature_ids,
        surface_types=blocks.mesh.surface_types,
    )
    if mesh.appearance is not None and block.triangle_count:
        block_colours = block_appearance(
            mesh,
            tri_unit_sorted,
            block,
            block_unit[block.triangles[:, 0].astype(np.int64)],
            unit_count,
        )
        block = replace(block, appearance=block_colours)
    block_vertex_offsets = blocks.vertex_offsets[row_offsets]
    block_triangle_offsets = blocks.triangle_offsets[row_offsets]

    extent = _segment_extreme(local, vertex_offsets, maximum=True) - _segment_extreme(
        local, vertex_offsets, maximum=False
    )
    importance = np.maximum(extent[:, 2], np.hypot(extent[:, 0], extent[:, 1]))
    deviation = np.maximum.reduceat(blocks.deviation, row_offsets[:-1])

    return PreparedUnits(
        batch=batch,
        row_offsets=row_offsets,
        vertex_offsets=vertex_offsets,
        triangle_offsets=triangle_offsets,
        anchors=anchors,
        block=block,
        block_vertex_offsets=block_vertex_offsets,
        block_triangle_offsets=block_triangle_offsets,
        main_rows=_main_rows(batch.features, row_offsets),
        regions=_regions(mesh.positions, vertex_offsets, block_positions, block_vertex_offsets),
        centroids=np.column_stack([lon0, lat0]),
        deviation=deviation,
        importance=importance,
        skipped_ids=skipped,
    )


def _geodetic_radians(ecef: Float64Array) -> Float64Array:
    """``(N, 3)`` longitude, latitude (radians) and ellipsoidal height (metres) of ECEF points."""
    geo = np.array(ecef_to_geodetic(ecef), dtype=np.float64)
    geo[:, :2] = np.radians(geo[:, :2])
    return geo


def _regions(
    positions: Float64Array,
    vertex_offsets: IndexArray,
    block_positions: Float64Array,
    block_offsets: IndexArray,
) -> Float64Array:
    """Per-unit geodetic extremes over the unit's vertices and its block's vertices."""
    geo = _geodetic_radians(positions)
    lo = _segment_extreme(geo, vertex_offsets, maximum=False)
    hi = _segment_extreme(geo, vertex_offsets, maximum=True)
    if block_positions.shape[0]:
        bgeo = _geodetic_radians(block_positions)
        units = np.flatnonzero(np.diff(block_offsets) > 0)
        starts = block_offsets[units]
        lo[units] = np.minimum(lo[units], np.minimum.reduceat(bgeo, starts, axis=0))
        hi[units] = np.maximum(hi[units], np.maximum.reduceat(bgeo, starts, axis=0))
    return np.column_stack([lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1], lo[:, 2], hi[:, 2]])


def _empty(batch: MeshBatch, skipped: tuple[str, ...]) -> PreparedUnits:
    none = np.zeros(1, np.int64)
    return PreparedUnits(
        batch=batch,
        row_offsets=none,
        vertex_offsets=none,
        triangle_offsets=none,
        anchors=np.zeros((0, 3)),
        block=Mesh.empty(),
        block_vertex_offsets=none,
        block_triangle_offsets=none,
        main_rows=np.zeros(0, np.int64),
        regions=np.zeros((0, 6)),
        centroids=np.zeros((0, 2)),
        deviation=np.zeros(0),
        importance=np.zeros(0),
        skipped_ids=skipped,
    )
