"""The skeleton of an IFC4 file written by citymodel: header, units, contexts, project, site.

:func:`new_document` makes an :class:`IfcDocument`: an ``ifcopenshell.file`` (schema IFC4)
with metre/square metre/cubic metre/radian units, one 3D ``Model`` context with a ``Body``
sub-context (all geometry is written there), an ``IfcProject`` and one ``IfcSite`` at the
origin of the project's engineering frame. Georeferencing is added by
:mod:`citymodel.converters._ifc_georef`. GlobalIds are derived from stable keys (uuid5), so the
same selection written twice gets the same GlobalIds (BIM tools match re-imported objects by
GlobalId).

Only imported by :mod:`citymodel.converters.ifc_writer` after ifcopenshell was found.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ifcopenshell
import ifcopenshell.guid

__all__ = ["IfcDocument", "new_document"]

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://citymodel/ifc/globalid")
_PRECISION = 1e-5
"""Model context precision (m): below the 1 mm round trip promised for coordinates."""
_VIEW_DEFINITION = "ViewDefinition [ReferenceView_V1.2]"
"""Tessellated geometry only: the IFC4 Reference View (no parametric solids)."""


@dataclass(slots=True)
class IfcDocument:
    """An IFC4 file under construction.

    Attributes
    ----------
    file
        The ``ifcopenshell.file``.
    context
        The 3D ``Model`` IfcGeometricRepresentationContext (SourceCRS of the map conversion).
    body
        Its ``Body`` sub-context; every shape representation refers to it.
    project, site
        The IfcProject and the one IfcSite (aggregated by the project).
    site_placement
        IfcLocalPlacement of the site (the engineering frame's origin).
    identity
        A shared IfcAxis2Placement3D at (0, 0, 0) with default axes.
    length_unit
        The IfcSIUnit metre (also the map unit of the IfcProjectedCRS).
    """

    file: ifcopenshell.file
    context: ifcopenshell.entity_instance
    body: ifcopenshell.entity_instance
    project: ifcopenshell.entity_instance
    site: ifcopenshell.entity_instance
    site_placement: ifcopenshell.entity_instance
    identity: ifcopenshell.entity_instance
    length_unit: ifcopenshell.entity_instance
    _guids: set[str] = field(default_factory=set)

    def create(self, ifc_class: str, **attributes: Any) -> ifcopenshell.entity_instance:
        """Create an entity by class name with attributes by name."""
        return self.file.create_entity(ifc_class, **attributes)

    def guid(self, *key: str) -> str:
        """A GlobalId derived from ``key`` (stable across runs); unique within the file.

        A key met twice (e.g. the same gml:id in two inputs) gets a numbered variant.
        """
        text = "\x1f".join(key)
        value: str = ifcopenshell.guid.compress(uuid.uuid5(_NAMESPACE, text).hex)
        number = 1
        while value in self._guids:
            number += 1
            value = ifcopenshell.guid.compress(uuid.uuid5(_NAMESPACE, f"{text}#{number}").hex)
        self._guids.add(value)
        return value

    def placement(self, relative_to: ifcopenshell.entity_instance) -> ifcopenshell.entity_instance:
        """A new IfcLocalPlacement coinciding with ``relative_to`` (identity transform)."""
        return self.create(
            "IfcLocalPlacement", PlacementRelTo=relative_to, RelativePlacement=self.identity
        )

    def aggregate(
        self,
        whole: ifcopenshell.entity_instance,
        parts: Sequence[ifcopenshell.entity_instance],
        key: str,
    ) -> None:
        """IfcRelAggregates: ``parts`` decompose ``whole``."""
        if parts:
            self.create(
                "IfcRelAggregates",
                GlobalId=self.guid("aggregates", key),
                RelatingObject=whole,
                RelatedObjects=list(parts),
            )

    def contain(
        self,
        structure: ifcopenshell.entity_instance,
        elements: Sequence[ifcopenshell.entity_instance],
        key: str,
    ) -> None:
        """IfcRelContainedInSpatialStructure: ``elements`` are contained in ``structure``."""
        if elements:
            self.create(
                "IfcRelContainedInSpatialStructure",
                GlobalId=self.guid("contains", key),
                RelatingStructure=structure,
                RelatedElements=list(elements),
            )

    def to_bytes(self) -> bytes:
        """The STEP physical file (ISO 10303-21) as bytes (the format is 7-bit ASCII)."""
        text: str = self.file.to_string()
        return text.encode("ascii")


def _units(
    f: ifcopenshell.file,
) -> tuple[ifcopenshell.entity_instance, ifcopenshell.entity_instance]:
    metre = f.create_entity("IfcSIUnit", UnitType="LENGTHUNIT", Name="METRE")
    others = [
        f.create_entity("IfcSIUnit", UnitType=unit_type, Name=name)
        for unit_type, name in (
            ("AREAUNIT", "SQUARE_METRE"),
            ("VOLUMEUNIT", "CUBIC_METRE"),
            ("PLANEANGLEUNIT", "RADIAN"),
        )
    ]
    return metre, f.create_entity("IfcUnitAssignment", Units=[metre, *others])


def new_document(
    *,
    project_name: str,
    site_name: str,
    file_name: str,
    application: str,
    true_north: tuple[float, float],
    key: Iterable[str],
) -> IfcDocument:
    """A new IFC4 document with units, contexts, project and site (see the module docstring).

    Parameters
    ----------
    project_name, site_name
        Names of the IfcProject and the IfcSite.
    file_name
        Name written into the STEP header (``FILE_NAME``).
    application
        ``originating_system`` of the header (e.g. ``"citymodel 0.1.0"``).
    true_north
        Unit 2D direction of geographic north in the engineering frame (x = grid east,
        y = grid north): the context's ``TrueNorth`` (IFC-3: informative only; placement
        follows the map conversion).
    key
        Strings identifying the content (e.g. the selected ids): the seed of the project's
        and site's GlobalIds.
    """
    f = ifcopenshell.file(schema="IFC4")
    header = f.header
    header.file_description.description = (_VIEW_DEFINITION,)
    header.file_name.name = file_name
    header.file_name.time_stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    header.file_name.originating_system = application
    header.file_name.preprocessor_version = f"IfcOpenShell {ifcopenshell.version}"
    metre, units = _units(f)
    origin = f.create_entity("IfcCartesianPoint", Coordinates=(0.0, 0.0, 0.0))
    identity = f.create_entity("IfcAxis2Placement3D", Location=origin)
    north = f.create_entity("IfcDirection", DirectionRatios=true_north)
    context = f.create_entity(
        "IfcGeometricRepresentationContext",
        ContextIdentifier=None,
        ContextType="Model",
        CoordinateSpaceDimension=3,
        Precision=_PRECISION,
        WorldCoordinateSystem=identity,
        TrueNorth=north,
    )
    body = f.create_entity(
        "IfcGeometricRepresentationSubContext",
        ContextIdentifier="Body",
        ContextType="Model",
        ParentContext=context,
        TargetView="MODEL_VIEW",
    )
    seed = "\x1f".join(sorted(key))
    doc = IfcDocument(
        file=f,
        context=context,
        body=body,
        project=f.create_entity("IfcProject"),
        site=f.create_entity("IfcSite"),
        site_placement=f.create_entity("IfcLocalPlacement", RelativePlacement=identity),
        identity=identity,
        length_unit=metre,
    )
    doc.project.GlobalId = doc.guid("project", seed)
    doc.project.Name = project_name
    doc.project.RepresentationContexts = [context]
    doc.project.UnitsInContext = units
    doc.site.GlobalId = doc.guid("site", seed)
    doc.site.Name = site_name
    doc.site.ObjectPlacement = doc.site_placement
    doc.site.CompositionType = "ELEMENT"
    doc.aggregate(doc.project, [doc.site], f"project/{seed}")
    return doc
