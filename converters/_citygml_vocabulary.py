"""CityGML namespaces and tag tables, one per version (CGML-1, CGML-2).

CityGML 1.0 and 2.0 share their structure (GML 3.1.1, ``<module>:boundedBy`` thematic surfaces,
parts and installations as properties holding nested objects); CityGML 3.0 moves geometry
properties to ``core:`` and boundary surfaces to ``con:`` and uses GML 3.2
(:mod:`citymodel.converters._citygml3_vocabulary`).

Every city object class of the thematic modules (building, bridge, tunnel, transportation,
vegetation, waterbody, landuse, relief, cityfurniture, generics, cityobjectgroup) has an
:class:`ObjectClass`: its feature type name and a table from child tag to what the child is
(attribute, boundary surfaces, geometry of a LoD, nested object, implicit geometry, curve ...).
Type names follow CityJSON where it names a class differently (``tran:Square`` ->
``TransportSquare``, ``bldg:Room`` -> ``BuildingRoom``, ``tun:HollowSpace`` ->
``TunnelHollowSpace``, ``brid:BridgeConstructionElement`` -> ``BridgeConstructiveElement``,
``Int*Installation`` -> ``*Installation``), so CityGML and CityJSON inputs give the same
features.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from citymodel._typing import AttributeValue
from citymodel.converters._citygml_attributes import (
    MODULE_ATTRIBUTES,
    AttributeVocabulary,
    PlainShape,
)
from citymodel.converters._gml import GML_NS, GmlNames
from citymodel.model import SurfaceType
from citymodel.model.semantics import default_surface_type, surface_type_from_name

__all__ = [
    "ATTRIBUTE",
    "BOUNDARY",
    "CITYGML_1_0",
    "CITYGML_2_0",
    "CITYGML_3_0_CORE",
    "COUNTED",
    "CURVE",
    "ENVELOPE",
    "GEOMETRY",
    "GROUP_MEMBER",
    "IMPLICIT",
    "NAMESPACE_MARK",
    "NOT_MESHED",
    "PART",
    "RELIEF_LOD",
    "TOP_LEVEL_TYPES",
    "UNKNOWN",
    "VERSIONS",
    "CityGMLVersion",
    "ObjectClass",
    "Vocabulary",
    "vocabulary",
]


@dataclass(frozen=True, slots=True)
class CityGMLVersion:
    """The namespaces of one CityGML version (CGML-1).

    ``modules`` names the thematic module namespaces by their usual prefix (``tran``, ``veg``,
    ``brid`` ...); the building module is ``building``. CityGML 3.0 has its own tables
    (:mod:`citymodel.converters._citygml3_vocabulary`) and leaves ``modules`` empty.
    """

    version: str
    core: str
    building: str
    generics: str
    gml: str = GML_NS
    modules: tuple[tuple[str, str], ...] = ()


def _modules(version: str, names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (prefix, f"http://www.opengis.net/citygml/{_MODULE_PATH[prefix]}/{version}")
        for prefix in names
    )


_MODULE_PATH: Final = {
    "brid": "bridge",
    "tun": "tunnel",
    "tran": "transportation",
    "veg": "vegetation",
    "wtr": "waterbody",
    "luse": "landuse",
    "dem": "relief",
    "frn": "cityfurniture",
    "grp": "cityobjectgroup",
}
_MODULES_1_0: Final = ("tran", "veg", "wtr", "luse", "dem", "frn", "grp")
"""CityGML 1.0 has no bridge and tunnel modules (they came with 2.0)."""

CITYGML_1_0: Final = CityGMLVersion(
    "1.0",
    core="http://www.opengis.net/citygml/1.0",
    building="http://www.opengis.net/citygml/building/1.0",
    generics="http://www.opengis.net/citygml/generics/1.0",
    modules=_modules("1.0", _MODULES_1_0),
)
CITYGML_2_0: Final = CityGMLVersion(
    "2.0",
    core="http://www.opengis.net/citygml/2.0",
    building="http://www.opengis.net/citygml/building/2.0",
    generics="http://www.opengis.net/citygml/generics/2.0",
    modules=_modules("2.0", ("brid", "tun", *_MODULES_1_0)),
)
VERSIONS: Final = {v.core: v for v in (CITYGML_1_0, CITYGML_2_0)}
CITYGML_3_0_CORE: Final = "http://www.opengis.net/citygml/3.0"
NAMESPACE_MARK: Final = b"http://www.opengis.net/citygml/"

# kinds of object child elements (ObjectClass.children)
ATTRIBUTE, BOUNDARY, GEOMETRY, PART, ENVELOPE, COUNTED, IMPLICIT, CURVE, NOT_MESHED = range(9)
GROUP_MEMBER, RELIEF_LOD = 9, 10
UNKNOWN: Final = int(SurfaceType.UNKNOWN)

TOP_LEVEL_TYPES: Final[tuple[str, ...]] = (
    "Bridge",
    "Building",
    "CityFurniture",
    "CityObjectGroup",
    "GenericCityObject",
    "LandUse",
    "PlantCover",
    "Railway",
    "ReliefFeature",
    "Road",
    "SolitaryVegetationObject",
    "Track",
    "TransportSquare",
    "TransportationComplex",
    "Tunnel",
    "WaterBody",
)
"""Feature types of the top-level objects of CityGML 1.0/2.0 documents (``--types``)."""

_TYPE_ALIAS: Final = {
    "Square": "TransportSquare",
    "Room": "BuildingRoom",
    "HollowSpace": "TunnelHollowSpace",
    "BridgeConstructionElement": "BridgeConstructiveElement",
    "IntBuildingInstallation": "BuildingInstallation",
    "IntBridgeInstallation": "BridgeInstallation",
    "IntTunnelInstallation": "TunnelInstallation",
}

_SURFACES: Final = (
    "RoofSurface",
    "WallSurface",
    "GroundSurface",
    "ClosureSurface",
    "OuterCeilingSurface",
    "OuterFloorSurface",
    "InteriorWallSurface",
    "CeilingSurface",
    "FloorSurface",
)
_WATER_SURFACES: Final = ("WaterSurface", "WaterGroundSurface", "WaterClosureSurface")


@dataclass(frozen=True, slots=True)
class ObjectClass:
    """One city object class of CityGML 1.0/2.0.

    Attributes
    ----------
    type
        Feature type name (CityJSON spelling, see the module docstring).
    children
        Child element tag -> ``(kind, argument)``: ``ATTRIBUTE`` (handler), ``BOUNDARY``,
        ``GEOMETRY`` (LoD, or None: the LoD is the object's ``dem:lod``), ``PART`` (nested
        objects), ``IMPLICIT`` (LoD), ``CURVE`` (what it is), ``NOT_MESHED`` (what it is),
        ``ENVELOPE``, ``COUNTED`` (class name), ``GROUP_MEMBER`` (attribute name),
        ``RELIEF_LOD`` (``dem:lod``, the LoD of a relief component's geometry).
    default_surface
        :class:`~citymodel.model.SurfaceType` code of polygons without a thematic class
        (:func:`~citymodel.model.semantics.default_surface_type`).
    """

    type: str
    children: Mapping[Any, tuple[int, Any]]
    default_surface: int


class Vocabulary:
    """Clark tags and dispatch tables of one CityGML version."""

    def __init__(self, v: CityGMLVersion) -> None:
        self.version = v
        self.gml = GmlNames.for_namespace(v.gml)
        core, bldg = v.core, v.building
        ns = dict(v.modules)
        self.namespaces: dict[str, str] = {"core": core, "bldg": bldg, "gen": v.generics, **ns}

        def b(local: str) -> str:
            return f"{{{bldg}}}{local}"

        self.members: tuple[str, ...] = (f"{{{core}}}cityObjectMember", f"{{{v.gml}}}featureMember")
        self.members_array = f"{{{v.gml}}}featureMembers"
        self.building = b("Building")
        self.building_part = b("BuildingPart")
        self.attributes = AttributeVocabulary(
            core_ns=core, building_ns=bldg, generics_ns=v.generics, gml_ns=v.gml
        )
        self.surface_types: dict[object, int] = {}
        self.surface_lods: dict[object, str] = {}
        self.openings: frozenset[object] = frozenset()
        self.opening_types: dict[object, int] = {}
        self.implicit: frozenset[object] = frozenset()
        self.solid_properties: frozenset[object] = frozenset()
        self.classes: dict[object, ObjectClass] = {}
        """Clark tag of every city object class read -> its :class:`ObjectClass`."""
        self.plain_attributes: dict[object, PlainShape] = {}
        """Attribute handler -> its plain shape (:attr:`AttributeVocabulary.plain`)."""
        self._add_construction("bldg", bldg)
        for prefix in ("brid", "tun"):
            if prefix in ns:
                self._add_construction(prefix, ns[prefix])
        for prefix, add in (
            ("tran", self._add_transportation),
            ("veg", self._add_vegetation),
            ("wtr", self._add_waterbody),
            ("luse", self._add_landuse),
            ("dem", self._add_relief),
            ("frn", self._add_furniture),
            ("grp", self._add_group),
        ):
            if prefix in ns:
                add(ns[prefix])
        if "grp" in ns:  # a version with the thematic modules also has generic objects
            self._add_generic(v.generics)
        self.building_children = self.classes[self.building].children
        core_ns = core
        self.implicit_geometry = f"{{{core_ns}}}ImplicitGeometry"
        self.transformation_matrix = f"{{{core_ns}}}transformationMatrix"
        self.relative_geometry = f"{{{core_ns}}}relativeGMLGeometry"
        self.reference_point = f"{{{core_ns}}}referencePoint"
        self.library_object = f"{{{core_ns}}}libraryObject"
        self.control_point = f"{{{v.gml}}}controlPoint"

    # -- tables ----------------------------------------------------------------------------

    def _attributes(self, module_ns: str, module: str) -> dict[object, tuple[int, Any]]:
        v = self.version
        extra: dict[str, Callable[[str], AttributeValue]] = MODULE_ATTRIBUTES.get(module, {})
        vocab = (
            self.attributes
            if module_ns == v.building
            else AttributeVocabulary(
                core_ns=v.core,
                building_ns=module_ns,
                generics_ns=v.generics,
                gml_ns=v.gml,
                extra=extra,
            )
        )
        self.plain_attributes.update(vocab.plain)
        return {tag: (ATTRIBUTE, handler) for tag, handler in vocab.handlers.items()}

    def _add(self, ns: str, local: str, children: dict[object, tuple[int, Any]]) -> None:
        name = _TYPE_ALIAS.get(local, local)
        self.classes[f"{{{ns}}}{local}"] = ObjectClass(
            type=name, children=children, default_surface=int(default_surface_type(name))
        )

    def _common(
        self, ns: str, module: str, *, boundary: bool = False
    ) -> dict[object, tuple[int, Any]]:
        table = self._attributes(ns, module)
        table[self.gml.bounded_by] = (ENVELOPE, None)
        if boundary:
            table[f"{{{ns}}}boundedBy"] = (BOUNDARY, None)
        return table

    @staticmethod
    def _geometry(
        table: dict[object, tuple[int, Any]], ns: str, pattern: str, lods: str, kind: int = GEOMETRY
    ) -> None:
        for n in lods:
            table[f"{{{ns}}}{pattern.format(n)}"] = (kind, n)

    def _add_construction(self, prefix: str, ns: str) -> None:
        """Building, Bridge or Tunnel with parts, installations, rooms and furniture."""
        module = {"bldg": "building", "brid": "bridge", "tun": "tunnel"}[prefix]
        top = {"bldg": "Building", "brid": "Bridge", "tun": "Tunnel"}[prefix]

        def t(local: str) -> str:
            return f"{{{ns}}}{local}"

        self.surface_types.update({t(n): int(surface_type_from_name(n)) for n in _SURFACES})
        self.surface_lods.update({t(f"lod{n}MultiSurface"): n for n in "234"})
        self.openings = self.openings | {t("opening")}
        self.opening_types[t("Window")] = int(SurfaceType.WINDOW)
        self.opening_types[t("Door")] = int(SurfaceType.DOOR)
        self.implicit = self.implicit | {t(f"lod{n}ImplicitRepresentation") for n in "34"}
        self.solid_properties = self.solid_properties | {t(f"lod{n}Solid") for n in "1234"}

        main = self._common(ns, module, boundary=True)
        self._geometry(main, ns, "lod{}Solid", "1234")
        self._geometry(main, ns, "lod{}MultiSurface", "1234")
        self._geometry(main, ns, "lod{}MultiCurve", "234", CURVE)
        if prefix == "bldg":
            main[t("lod0FootPrint")] = (GEOMETRY, "0")
            main[t("lod0RoofEdge")] = (GEOMETRY, "0")
        parts = {
            "bldg": (
                "consistsOfBuildingPart",
                "outerBuildingInstallation",
                "interiorBuildingInstallation",
                "interiorRoom",
            ),
            "brid": (
                "consistsOfBridgePart",
                "outerBridgeInstallation",
                "interiorBridgeInstallation",
                "interiorBridgeRoom",
                "outerBridgeConstruction",
            ),
            "tun": (
                "consistsOfTunnelPart",
                "outerTunnelInstallation",
                "interiorTunnelInstallation",
                "interiorHollowSpace",
            ),
        }[prefix]
        for local in parts:
            main[t(local)] = (PART, None)
        self._add(ns, top, main)
        self._add(ns, f"{top}Part", main)

        installation = self._common(ns, module, boundary=True)
        self._geometry(installation, ns, "lod{}Geometry", "234")
        self._geometry(installation, ns, "lod{}ImplicitRepresentation", "234", IMPLICIT)
        self._add(ns, f"{top}Installation", installation)
        interior = self._common(ns, module, boundary=True)
        self._geometry(interior, ns, "lod{}Geometry", "4")
        self._geometry(interior, ns, "lod{}ImplicitRepresentation", "4", IMPLICIT)
        self._add(ns, f"Int{top}Installation", interior)
        furniture = self._common(ns, module)
        self._geometry(furniture, ns, "lod{}Geometry", "4")
        self._geometry(furniture, ns, "lod{}ImplicitRepresentation", "4", IMPLICIT)
        self._add(ns, f"{top}Furniture", furniture)
        room = self._common(ns, module, boundary=True)
        self._geometry(room, ns, "lod{}Solid", "4")
        self._geometry(room, ns, "lod{}MultiSurface", "4")
        room_parts = {
            "bldg": ("interiorFurniture", "roomInstallation"),
            "brid": ("interiorFurniture", "bridgeRoomInstallation"),
            "tun": ("interiorFurniture", "hollowSpaceInstallation"),
        }[prefix]
        for local in room_parts:
            room[t(local)] = (PART, None)
        self._add(ns, {"bldg": "Room", "brid": "BridgeRoom", "tun": "HollowSpace"}[prefix], room)
        if prefix == "brid":
            element = self._common(ns, module, boundary=True)
            self._geometry(element, ns, "lod{}Geometry", "1234")
            self._geometry(element, ns, "lod{}ImplicitRepresentation", "1234", IMPLICIT)
            self._add(ns, "BridgeConstructionElement", element)

    def _add_transportation(self, ns: str) -> None:
        table = self._common(ns, "transportation")
        self._geometry(table, ns, "lod{}MultiSurface", "1234")
        table[f"{{{ns}}}lod0Network"] = (CURVE, "lod0Network")
        table[f"{{{ns}}}trafficArea"] = (PART, None)
        table[f"{{{ns}}}auxiliaryTrafficArea"] = (PART, None)
        for local in ("TransportationComplex", "Road", "Railway", "Track", "Square"):
            self._add(ns, local, table)
        area = self._common(ns, "transportation")
        self._geometry(area, ns, "lod{}MultiSurface", "234")
        self._add(ns, "TrafficArea", area)
        self._add(ns, "AuxiliaryTrafficArea", area)

    def _add_vegetation(self, ns: str) -> None:
        solitary = self._common(ns, "vegetation")
        self._geometry(solitary, ns, "lod{}Geometry", "1234")
        self._geometry(solitary, ns, "lod{}ImplicitRepresentation", "1234", IMPLICIT)
        self._add(ns, "SolitaryVegetationObject", solitary)
        cover = self._common(ns, "vegetation")
        self._geometry(cover, ns, "lod{}MultiSurface", "1234")
        self._geometry(cover, ns, "lod{}MultiSolid", "1234")
        self._add(ns, "PlantCover", cover)

    def _add_waterbody(self, ns: str) -> None:
        def w(local: str) -> str:
            return f"{{{ns}}}{local}"

        self.surface_types.update({w(n): int(surface_type_from_name(n)) for n in _WATER_SURFACES})
        self.surface_lods.update({w(f"lod{n}Surface"): n for n in "234"})
        self.solid_properties = self.solid_properties | {w(f"lod{n}Solid") for n in "1234"}
        table = self._common(ns, "waterbody", boundary=True)
        self._geometry(table, ns, "lod{}MultiSurface", "01")
        self._geometry(table, ns, "lod{}Solid", "1234")
        self._geometry(table, ns, "lod{}MultiCurve", "01", CURVE)
        self._add(ns, "WaterBody", table)

    def _add_landuse(self, ns: str) -> None:
        table = self._common(ns, "landuse")
        self._geometry(table, ns, "lod{}MultiSurface", "01234")
        self._add(ns, "LandUse", table)

    def _common_relief(self, ns: str) -> dict[object, tuple[int, Any]]:
        table = self._common(ns, "relief")
        table[f"{{{ns}}}lod"] = (RELIEF_LOD, None)
        return table

    def _add_relief(self, ns: str) -> None:
        feature = self._common_relief(ns)
        feature[f"{{{ns}}}reliefComponent"] = (PART, None)
        self._add(ns, "ReliefFeature", feature)
        tin = self._common_relief(ns)
        tin[f"{{{ns}}}tin"] = (GEOMETRY, None)
        self._add(ns, "TINRelief", tin)
        points = self._common_relief(ns)
        points[f"{{{ns}}}reliefPoints"] = (NOT_MESHED, "mass points (dem:reliefPoints)")
        self._add(ns, "MassPointRelief", points)
        lines = self._common_relief(ns)
        lines[f"{{{ns}}}ridgeOrValleyLines"] = (NOT_MESHED, "ridge or valley lines")
        lines[f"{{{ns}}}breaklines"] = (NOT_MESHED, "break lines")
        self._add(ns, "BreaklineRelief", lines)
        raster = self._common_relief(ns)
        raster[f"{{{ns}}}grid"] = (NOT_MESHED, "a raster grid (dem:grid)")
        self._add(ns, "RasterRelief", raster)

    def _add_furniture(self, ns: str) -> None:
        table = self._common(ns, "cityfurniture")
        self._geometry(table, ns, "lod{}Geometry", "1234")
        self._geometry(table, ns, "lod{}ImplicitRepresentation", "1234", IMPLICIT)
        self._add(ns, "CityFurniture", table)

    def _add_generic(self, ns: str) -> None:
        table = self._common(ns, "generics")
        self._geometry(table, ns, "lod{}Geometry", "01234")
        self._geometry(table, ns, "lod{}ImplicitRepresentation", "01234", IMPLICIT)
        self._add(ns, "GenericCityObject", table)

    def _add_group(self, ns: str) -> None:
        table = self._common(ns, "cityobjectgroup")
        table[f"{{{ns}}}groupMember"] = (GROUP_MEMBER, "members")
        table[f"{{{ns}}}parent"] = (GROUP_MEMBER, "group_parent")
        table[f"{{{ns}}}geometry"] = (NOT_MESHED, "group geometry (grp:geometry)")
        self._add(ns, "CityObjectGroup", table)


_VOCABULARIES: dict[str, Vocabulary] = {}


def vocabulary(version: CityGMLVersion) -> Vocabulary:
    """The (cached) tag tables of ``version``."""
    vocab = _VOCABULARIES.get(version.core)
    if vocab is None:
        vocab = _VOCABULARIES[version.core] = Vocabulary(version)
    return vocab
