"""How one :class:`~citymodel.model.SurfaceGeometry` is laid out in CityGML.

The CityGML reader takes, per LoD, the polygons of the thematic (boundary) surfaces when there
are any, with their class, and marks the geometry a solid when a ``lodNSolid`` references
exactly those polygons (the AdV pattern). The writer produces that pattern:

* polygons with a semantic class go into boundary surfaces, one surface element per run of
  consecutive polygons of one class (so the polygon order is kept), each polygon with a
  ``gml:id``; Window/Door polygons become openings of the boundary surface before them;
* a solid becomes ``lodNSolid`` whose members reference those polygons (``xlink:href``), with
  polygons without a class inline;
* polygons without a class of a non-solid geometry go into ``lodNMultiSurface``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from citymodel.converters._citygml_write_tables import SurfaceKind, WriteVocabulary
from citymodel.converters._interchange_names import semantic_names
from citymodel.model import SurfaceGeometry

__all__ = ["BoundaryRun", "GeometryPlan", "plan_geometry"]


@dataclass(slots=True)
class BoundaryRun:
    """One boundary surface element: its class and polygons, and its openings."""

    kind: SurfaceKind
    polygons: list[int]
    openings: list[tuple[SurfaceKind, list[int]]] = field(default_factory=list)


@dataclass(slots=True)
class GeometryPlan:
    """What is written for one geometry at one integer LoD."""

    lod: str
    geometry: SurfaceGeometry
    boundaries: list[BoundaryRun]
    plain: list[int]
    """Polygons written inline in the plain geometry property."""
    referenced: list[int]
    """All polygons of the solid in order (inline or by reference); empty for non-solids."""
    untyped_classes: set[str]
    """Class names this version cannot write (written without class)."""


def plan_geometry(
    geometry: SurfaceGeometry,
    lod: str,
    vocab: WriteVocabulary,
    *,
    boundaries: bool,
    only: Collection[str] | None = None,
) -> GeometryPlan:
    """Lay out ``geometry`` at integer LoD ``lod``.

    ``boundaries``: polygons may go into boundary surfaces (of the classes in ``only``, when
    given).
    """
    names = semantic_names()
    codes = geometry.surface_types.tolist()
    runs: list[BoundaryRun] = []
    plain: list[int] = []
    lost: set[str] = set()
    current: BoundaryRun | None = None
    # CityGML 3.0 spaces have no lod1MultiSurface: unclassified LoD1 surfaces are written as
    # generic thematic boundary surfaces
    generic = (
        vocab.surfaces.get("GenericThematicSurface")
        if vocab.version == "3.0" and lod == "1" and not geometry.solid and boundaries
        else None
    )
    for p, code in enumerate(codes):
        name = names.get(code)
        kind = (
            vocab.surfaces.get(name)
            if name is not None and boundaries and (only is None or name in only)
            else None
        )
        if name is not None and kind is None:
            lost.add(name)
        if kind is not None and kind.opening:
            host = current if current is not None else (runs[-1] if runs else None)
            if host is None or (vocab.version == "2.0" and lod not in ("3", "4")):
                lost.add(str(name))
                kind = None
            if kind is not None and host is not None:
                if host.openings and host.openings[-1][0] is kind:
                    host.openings[-1][1].append(p)
                else:
                    host.openings.append((kind, [p]))
                continue
        if kind is None and generic is not None:
            kind = generic
        if kind is None:
            plain.append(p)
            current = None
            continue
        if current is not None and current.kind is kind and not current.openings:
            current.polygons.append(p)
        else:
            current = BoundaryRun(kind, [p])
            runs.append(current)
    referenced = list(range(len(codes))) if geometry.solid else []
    return GeometryPlan(lod, geometry, runs, plain, referenced, lost)
