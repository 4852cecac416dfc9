"""City surfaces -> IFC4 building elements with tessellated geometry (IfcPolygonalFaceSet).

Each CityGML boundary-surface class becomes the closest IFC element class
(:data:`ELEMENT_CLASSES`); the polygons of one class of one Building (or BuildingPart) form one
element, except windows and doors, which are one element per polygon (CityGML openings are
one polygon each in LoD3 data). Geometry is an ``IfcPolygonalFaceSet`` (not closed): one
``IfcIndexedPolygonalFace`` per polygon, ``IfcIndexedPolygonalFaceWithVoids`` for polygons
with holes, over one ``IfcCartesianPointList3D`` of the element's distinct vertices, in the
project's engineering frame (metres relative to the map-conversion origin). The vertices are
the source vertices minus the origin: nothing is moved or triangulated.

Polygons left with fewer than three distinct vertices (after merging exactly equal
neighbours) are left out and counted; a hole that degenerates is dropped from its polygon.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import ifcopenshell
import numpy as np

from citymodel._typing import Float64Array, IndexArray
from citymodel.converters._ifc_document import IfcDocument
from citymodel.converters._ifc_georef import MapFrame
from citymodel.model import SurfaceGeometry, SurfaceType

__all__ = ["ELEMENT_CLASSES", "ElementClass", "FaceSet", "element_groups", "face_set"]


@dataclass(frozen=True, slots=True)
class ElementClass:
    """How one surface type is written.

    Attributes
    ----------
    ifc_class
        IFC4 entity name.
    predefined_type
        ``PredefinedType`` value, or None to leave it unset.
    label
        The CityGML class name (element Name and ObjectType).
    per_polygon
        One element per polygon (openings) instead of one per building and class.
    """

    ifc_class: str
    predefined_type: str | None
    label: str
    per_polygon: bool = False


ELEMENT_CLASSES: dict[SurfaceType, ElementClass] = {
    SurfaceType.ROOF: ElementClass("IfcRoof", None, "RoofSurface"),
    SurfaceType.WALL: ElementClass("IfcWall", None, "WallSurface"),
    SurfaceType.GROUND: ElementClass("IfcSlab", "BASESLAB", "GroundSurface"),
    SurfaceType.OUTER_FLOOR: ElementClass("IfcSlab", "FLOOR", "OuterFloorSurface"),
    SurfaceType.FLOOR: ElementClass("IfcSlab", "FLOOR", "FloorSurface"),
    SurfaceType.CEILING: ElementClass("IfcCovering", "CEILING", "CeilingSurface"),
    SurfaceType.INTERIOR_WALL: ElementClass("IfcWall", None, "InteriorWallSurface"),
    SurfaceType.WINDOW: ElementClass("IfcWindow", None, "Window", per_polygon=True),
    SurfaceType.DOOR: ElementClass("IfcDoor", None, "Door", per_polygon=True),
    SurfaceType.OUTER_CEILING: ElementClass(
        "IfcBuildingElementProxy", "USERDEFINED", "OuterCeilingSurface"
    ),
    SurfaceType.CLOSURE: ElementClass("IfcBuildingElementProxy", "USERDEFINED", "ClosureSurface"),
    SurfaceType.UNKNOWN: ElementClass("IfcBuildingElementProxy", "USERDEFINED", "BuildingSurface"),
}
"""Surface type -> IFC element class. Surfaces without a semantic class (e.g. a bare
``lod2Solid`` or LoD1 block) become one IfcBuildingElementProxy ``BuildingSurface``."""


def element_groups(geometry: SurfaceGeometry) -> Iterator[tuple[ElementClass, IndexArray]]:
    """``(class, polygon indices)`` for each element to write, in surface-type order."""
    types = geometry.surface_types
    for code in np.unique(types):
        spec = ELEMENT_CLASSES.get(SurfaceType(int(code)), ELEMENT_CLASSES[SurfaceType.UNKNOWN])
        polygons = np.flatnonzero(types == code)
        if spec.per_polygon:
            for p in polygons:
                yield spec, polygons[polygons == p]
        else:
            yield spec, polygons


@dataclass(frozen=True, slots=True)
class FaceSet:
    """An IfcPolygonalFaceSet and what went into it."""

    entity: ifcopenshell.entity_instance
    polygons: int
    vertices: int
    degenerate: int


def _distinct_rows(xyz: Float64Array) -> tuple[Float64Array, IndexArray]:
    """Distinct rows (exactly equal coordinates merged) and the row of each input row.

    Compares the 24 bytes of each row (``-0.0`` folded into ``0.0`` first): several times
    faster than ``np.unique(axis=0)`` on the small arrays of one element.
    """
    rows = np.ascontiguousarray(xyz + 0.0)
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * 3))).reshape(-1)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return rows[first], inverse.reshape(-1).astype(np.int64)


def _ring_indices(inverse: IndexArray, start: int, stop: int) -> list[int] | None:
    """1-based point indices of a ring without repeated neighbours; None if degenerate."""
    idx = inverse[start:stop]
    if idx.shape[0] > 1:
        idx = idx[idx != np.roll(idx, 1)]
    if np.unique(idx).shape[0] < 3:
        return None
    ring: list[int] = (idx + 1).tolist()
    return ring


def _all_indices(kept: list[tuple[list[int], list[list[int]]]]) -> Iterator[int]:
    for exterior, voids in kept:
        yield from exterior
        for hole in voids:
            yield from hole


def face_set(
    doc: IfcDocument, geometry: SurfaceGeometry, polygons: IndexArray, frame: MapFrame
) -> FaceSet | None:
    """An IfcPolygonalFaceSet of ``polygons`` of ``geometry``, or None if all are degenerate.

    Parameters
    ----------
    doc
        The document to create the entities in.
    geometry
        Source geometry (source CRS, metres).
    polygons
        Indices of the polygons to include.
    frame
        The engineering frame (:meth:`~citymodel.converters._ifc_georef.MapFrame.to_local`
        is applied to every vertex).
    """
    ring_offsets, polygon_offsets = geometry.ring_offsets, geometry.polygon_offsets
    ring_ranges = [
        (int(polygon_offsets[p]), int(polygon_offsets[p + 1])) for p in polygons.tolist()
    ]
    rings = np.concatenate([np.arange(a, b) for a, b in ring_ranges])
    starts, stops = ring_offsets[rings], ring_offsets[rings + 1]
    vertex_index = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops, strict=True)])
    points, inverse = _distinct_rows(frame.to_local(geometry.vertices[vertex_index]))
    local_starts = np.zeros(len(rings) + 1, dtype=np.int64)
    np.cumsum(stops - starts, out=local_starts[1:])
    kept: list[tuple[list[int], list[list[int]]]] = []
    degenerate = 0
    ring_no = 0
    for first, last in ring_ranges:
        exterior = _ring_indices(
            inverse, int(local_starts[ring_no]), int(local_starts[ring_no + 1])
        )
        holes = [
            _ring_indices(inverse, int(local_starts[r]), int(local_starts[r + 1]))
            for r in range(ring_no + 1, ring_no + last - first)
        ]
        ring_no += last - first
        if exterior is None:
            degenerate += 1
            continue
        kept.append((exterior, [h for h in holes if h is not None]))
    if not kept:
        return None
    used = np.unique(np.fromiter(_all_indices(kept), dtype=np.int64))
    remap = np.zeros(points.shape[0] + 1, dtype=np.int64)
    remap[used] = np.arange(1, used.shape[0] + 1)  # only referenced points are written
    faces = []
    for exterior, voids in kept:
        coord_index = remap[exterior].tolist()
        if voids:
            faces.append(
                doc.create(
                    "IfcIndexedPolygonalFaceWithVoids",
                    CoordIndex=coord_index,
                    InnerCoordIndices=[remap[h].tolist() for h in voids],
                )
            )
        else:
            faces.append(doc.create("IfcIndexedPolygonalFace", CoordIndex=coord_index))
    point_list = doc.create("IfcCartesianPointList3D", CoordList=points[used - 1].tolist())
    entity = doc.create("IfcPolygonalFaceSet", Coordinates=point_list, Closed=False, Faces=faces)
    return FaceSet(
        entity=entity,
        polygons=len(faces),
        vertices=int(used.shape[0]),
        degenerate=degenerate,
    )
