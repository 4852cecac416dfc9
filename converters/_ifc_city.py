"""One city object (a Building with its BuildingParts) -> IfcBuilding(s) with elements.

A top-level Building becomes an ``IfcBuilding`` (CompositionType ELEMENT) aggregated by the
site; each BuildingPart becomes an ``IfcBuilding`` with CompositionType PARTIAL aggregated by
its parent (IFC's building sections). Each IfcBuilding contains the elements made from its own
surfaces (:mod:`citymodel.converters._ifc_geometry`) and carries its attributes in the
``CityGML_Attributes`` property set (:mod:`citymodel.converters._ifc_properties`), including
``gml_id``, ``object_type``, ``lod`` and ``source_file``.

IfcBuilding attributes: Name = the CityGML name (else the gml:id), LongName = the address
line, Description = the CityGML description (else "CityGML <type>, LoD <lod>"),
ElevationOfRefHeight = the engineering frame's origin height (height 0 of the placement),
ElevationOfTerrain = the lowest vertex of the object's ground surfaces (else of the object),
BuildingAddress from the ``address_*`` attributes. Heights are in the source's vertical
datum, metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ifcopenshell
import numpy as np

from citymodel._typing import AttributeValue
from citymodel.converters._ifc_document import IfcDocument
from citymodel.converters._ifc_geometry import element_groups, face_set
from citymodel.converters._ifc_georef import MapFrame
from citymodel.converters._ifc_properties import add_property_set, address_line, postal_address
from citymodel.model import Feature, SurfaceGeometry, SurfaceType

__all__ = ["CityObjectResult", "add_city_object"]


@dataclass(slots=True)
class CityObjectResult:
    """What one top-level object turned into.

    Attributes
    ----------
    building
        The top-level IfcBuilding, or None when nothing of the object had geometry.
    written
        ``(id, type)`` of every object (Building, BuildingParts) written with geometry.
    elements, polygons, degenerate
        Elements written, polygons written, polygons left out as degenerate.
    """

    building: ifcopenshell.entity_instance | None = None
    written: list[tuple[str, str]] = field(default_factory=list)
    elements: int = 0
    polygons: int = 0
    degenerate: int = 0


def _terrain_height(geometry: SurfaceGeometry) -> float:
    ground = np.flatnonzero(geometry.surface_types == SurfaceType.GROUND)
    if ground.size == 0:
        return float(geometry.vertices[:, 2].min())
    first = geometry.ring_offsets[geometry.polygon_offsets[ground]]
    last = geometry.ring_offsets[geometry.polygon_offsets[ground + 1]]
    return float(min(geometry.vertices[a:b, 2].min() for a, b in zip(first, last, strict=True)))


def _elements(
    doc: IfcDocument,
    feature: Feature,
    geometry: SurfaceGeometry,
    placement: ifcopenshell.entity_instance,
    frame: MapFrame,
    result: CityObjectResult,
) -> list[ifcopenshell.entity_instance]:
    elements = []
    for number, (spec, polygons) in enumerate(element_groups(geometry)):
        faces = face_set(doc, geometry, polygons, frame)
        if faces is None:
            result.degenerate += int(polygons.shape[0])
            continue
        result.degenerate += faces.degenerate
        result.polygons += faces.polygons
        representation = doc.create(
            "IfcShapeRepresentation",
            ContextOfItems=doc.body,
            RepresentationIdentifier="Body",
            RepresentationType="Tessellation",
            Items=[faces.entity],
        )
        attributes: dict[str, object] = {
            "GlobalId": doc.guid("element", feature.id, spec.label, str(number)),
            "Name": spec.label,
            "Description": f"CityGML {spec.label} of {feature.type} {feature.id}",
            "ObjectType": spec.label,
            "ObjectPlacement": placement,
            "Representation": doc.create(
                "IfcProductDefinitionShape", Representations=[representation]
            ),
            "Tag": feature.id,
        }
        if spec.predefined_type is not None:
            attributes["PredefinedType"] = spec.predefined_type
        elements.append(doc.create(spec.ifc_class, **attributes))
    result.elements += len(elements)
    return elements


def _building(
    doc: IfcDocument,
    feature: Feature,
    parent: Feature | None,
    *,
    relative_to: ifcopenshell.entity_instance,
    frame: MapFrame,
    lod: str | None,
    source_label: str,
    result: CityObjectResult,
) -> ifcopenshell.entity_instance | None:
    """IfcBuilding of ``feature`` (recursing into its children); None if nothing has geometry."""
    placement = doc.placement(relative_to)
    geometry = feature.geometry(lod)
    elements: list[ifcopenshell.entity_instance] = []
    if geometry is not None and geometry.polygon_count:
        elements = _elements(doc, feature, geometry, placement, frame, result)
    children = [
        child_building
        for child in feature.children
        if (
            child_building := _building(
                doc,
                child,
                feature,
                relative_to=placement,
                frame=frame,
                lod=lod,
                source_label=source_label,
                result=result,
            )
        )
        is not None
    ]
    if not elements and not children:
        return None
    if elements:
        result.written.append((feature.id, feature.type))
    attrs = feature.attributes
    name = attrs.get("name")
    description = attrs.get("description")
    building = doc.create(
        "IfcBuilding",
        GlobalId=doc.guid("building", feature.id),
        Name=str(name) if name else feature.id,
        Description=" ".join(str(description).split())
        if description
        else f"CityGML {feature.type}" + (f", LoD {geometry.lod}" if geometry is not None else ""),
        LongName=address_line(attrs),
        ObjectPlacement=placement,
        CompositionType="ELEMENT" if parent is None else "PARTIAL",
        ElevationOfRefHeight=frame.orthogonal_height,
        ElevationOfTerrain=_terrain_height(geometry) if geometry is not None and elements else None,
        BuildingAddress=postal_address(doc, attrs),
    )
    doc.contain(building, elements, feature.id)
    doc.aggregate(building, children, feature.id)
    values: dict[str, AttributeValue] = {
        "gml_id": feature.id,
        "object_type": feature.type,
        "lod": geometry.lod if geometry is not None else None,
        "source_file": source_label,
        "parent_id": parent.id if parent is not None else None,
    }
    values.update((k, v) for k, v in attrs.items() if k not in values)
    add_property_set(doc, building, values, key=feature.id)
    return building


def add_city_object(
    doc: IfcDocument,
    feature: Feature,
    *,
    frame: MapFrame,
    lod: str | None,
    source_label: str,
) -> CityObjectResult:
    """Write a top-level city object (with its children); the caller aggregates it by the site.

    Parameters
    ----------
    doc
        The document.
    feature
        Top-level feature, geometry in the source CRS (metres).
    frame
        The engineering frame (origin subtracted from every vertex).
    lod
        LoD to write (matching as :meth:`~citymodel.model.Feature.geometry`); None = highest.
    source_label
        The input file name, for the ``source_file`` property.
    """
    result = CityObjectResult()
    result.building = _building(
        doc,
        feature,
        None,
        relative_to=doc.site_placement,
        frame=frame,
        lod=lod,
        source_label=source_label,
        result=result,
    )
    return result
