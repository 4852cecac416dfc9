"""What the CityGML writer writes, per version: namespaces, object types, surfaces, attributes.

Everything the writer emits is looked up here by the model's type name and
:class:`~citymodel.model.SurfaceType` class name, so types and surface classes added to the
model reach the output through a table row, not through code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "CITYGML_2",
    "CITYGML_3",
    "ObjectKind",
    "SurfaceKind",
    "WriteVocabulary",
    "write_vocabulary",
]

XLINK: Final = "http://www.w3.org/1999/xlink"
XAL2: Final = "urn:oasis:names:tc:ciq:xsdschema:xAL:2.0"
XAL3: Final = "urn:oasis:names:tc:ciq:xal:3"


@dataclass(frozen=True, slots=True)
class ObjectKind:
    """How one object type is written.

    Attributes
    ----------
    module
        Namespace prefix of its module (``bldg``).
    element
        Element name (``Building``).
    style
        ``construction`` (lodNSolid/lodNMultiSurface, boundary surfaces, parts),
        ``geometry`` (lodNGeometry), ``surfaces`` (lodNMultiSurface only), ``water``
        (CityGML 2.0 WaterBody: lod0/1MultiSurface, lodNSolid, then ``boundedBy``), ``relief``
        (``dem:lod`` and relief components), ``tin`` (``dem:tin`` triangles).
    parent_property
        Property of the parent object holding an object of this type
        (``consistsOfBuildingPart``, ``outerBuildingInstallation``); None: top-level only.
    lods
        LoDs with a geometry property.
    attributes
        Module attributes, in schema order (``class``, ``function`` ...).
    """

    module: str
    element: str
    style: str
    parent_property: str | None = None
    lods: tuple[str, ...] = ("1", "2", "3", "4")
    attributes: tuple[str, ...] = ("class", "function", "usage")
    early: bool = False
    """CityGML 2.0: the parent property comes before the parent's ``boundedBy``."""


@dataclass(frozen=True, slots=True)
class SurfaceKind:
    """How one semantic surface class is written: ``<property><module:element>``."""

    module: str
    element: str
    property_module: str
    property: str
    geometry_suffix: str = "MultiSurface"
    opening: bool = False


@dataclass(frozen=True, slots=True)
class WriteVocabulary:
    """The namespaces and tables of one CityGML version."""

    version: str
    namespaces: Mapping[str, str]
    objects: Mapping[str, ObjectKind]
    surfaces: Mapping[str, SurfaceKind]
    opening_property: str
    schema_locations: str

    def ns(self, prefix: str, local: str) -> str:
        """Clark tag ``{namespace}local`` of ``prefix:local``."""
        return f"{{{self.namespaces[prefix]}}}{local}"


_BUILDING_ATTRIBUTES: Final = (
    "class",
    "function",
    "usage",
    "yearOfConstruction",
    "yearOfDemolition",
    "roofType",
    "measuredHeight",
    "storeysAboveGround",
    "storeysBelowGround",
    "storeyHeightsAboveGround",
    "storeyHeightsBelowGround",
)
_BRIDGE_ATTRIBUTES: Final = ("class", "function", "usage", "yearOfConstruction", "yearOfDemolition")


def _v2_objects() -> dict[str, ObjectKind]:
    all_lods = ("0", "1", "2", "3", "4")
    lods = ("1", "2", "3", "4")
    outer = ("2", "3", "4")
    inner = ("4",)

    def kind(
        module: str,
        element: str,
        style: str,
        parent: str | None = None,
        lods: tuple[str, ...] = lods,
        attrs: tuple[str, ...] = ("class", "function", "usage"),
        early: bool = False,
    ) -> ObjectKind:
        return ObjectKind(module, element, style, parent, lods, attrs, early)

    return {
        "Building": kind("bldg", "Building", "construction", None, all_lods, _BUILDING_ATTRIBUTES),
        "BuildingPart": kind(
            "bldg",
            "BuildingPart",
            "construction",
            "consistsOfBuildingPart",
            all_lods,
            _BUILDING_ATTRIBUTES,
        ),
        "BuildingInstallation": kind(
            "bldg",
            "BuildingInstallation",
            "geometry",
            "outerBuildingInstallation",
            outer,
            early=True,
        ),
        "BuildingRoom": kind("bldg", "Room", "construction", "interiorRoom", inner),
        "BuildingFurniture": kind(
            "bldg", "BuildingFurniture", "geometry", "interiorFurniture", inner
        ),
        "Bridge": kind("brid", "Bridge", "construction", None, lods, _BRIDGE_ATTRIBUTES),
        "BridgePart": kind(
            "brid", "BridgePart", "construction", "consistsOfBridgePart", lods, _BRIDGE_ATTRIBUTES
        ),
        "BridgeInstallation": kind(
            "brid", "BridgeInstallation", "geometry", "outerBridgeInstallation", outer, early=True
        ),
        "BridgeConstructiveElement": kind(
            "brid",
            "BridgeConstructionElement",
            "geometry",
            "outerBridgeConstruction",
            lods,
            early=True,
        ),
        "BridgeRoom": kind("brid", "BridgeRoom", "construction", "interiorBridgeRoom", inner),
        "BridgeFurniture": kind("brid", "BridgeFurniture", "geometry", "interiorFurniture", inner),
        "Tunnel": kind("tun", "Tunnel", "construction", None, lods, _BRIDGE_ATTRIBUTES),
        "TunnelPart": kind(
            "tun", "TunnelPart", "construction", "consistsOfTunnelPart", lods, _BRIDGE_ATTRIBUTES
        ),
        "TunnelInstallation": kind(
            "tun", "TunnelInstallation", "geometry", "outerTunnelInstallation", outer, early=True
        ),
        "TunnelHollowSpace": kind(
            "tun", "HollowSpace", "construction", "interiorHollowSpace", inner
        ),
        "TunnelFurniture": kind("tun", "TunnelFurniture", "geometry", "interiorFurniture", inner),
        "GenericCityObject": kind("gen", "GenericCityObject", "geometry", None, all_lods),
        "CityFurniture": kind("frn", "CityFurniture", "geometry"),
        "SolitaryVegetationObject": kind("veg", "SolitaryVegetationObject", "geometry"),
        "PlantCover": kind("veg", "PlantCover", "surfaces"),
        "LandUse": kind("luse", "LandUse", "surfaces", None, all_lods),
        "Road": kind("tran", "Road", "surfaces"),
        "Railway": kind("tran", "Railway", "surfaces"),
        "Track": kind("tran", "Track", "surfaces"),
        "Square": kind("tran", "Square", "surfaces"),
        "TransportSquare": kind("tran", "Square", "surfaces"),
        "TrafficArea": kind(
            "tran",
            "TrafficArea",
            "surfaces",
            "trafficArea",
            outer,
            ("class", "function", "usage", "surfaceMaterial"),
            early=True,
        ),
        "AuxiliaryTrafficArea": kind(
            "tran",
            "AuxiliaryTrafficArea",
            "surfaces",
            "auxiliaryTrafficArea",
            outer,
            ("class", "function", "usage", "surfaceMaterial"),
            early=True,
        ),
        "WaterBody": kind("wtr", "WaterBody", "water", None, all_lods),
        "ReliefFeature": kind("dem", "ReliefFeature", "relief", None, all_lods, ()),
        "TINRelief": kind("dem", "TINRelief", "tin", "reliefComponent", all_lods, ()),
    }


def _v3_objects() -> dict[str, ObjectKind]:
    lods = ("0", "1", "2", "3")
    building = (
        "class",
        "function",
        "usage",
        "roofType",
        "measuredHeight",
        "storeysAboveGround",
        "storeysBelowGround",
        "storeyHeightsAboveGround",
        "storeyHeightsBelowGround",
    )

    def space(
        module: str,
        element: str,
        parent: str | None = None,
        attrs: tuple[str, ...] = ("class", "function", "usage"),
    ) -> ObjectKind:
        return ObjectKind(module, element, "construction", parent, lods, attrs)

    return {
        "Building": space("bldg", "Building", None, building),
        "BuildingPart": space("bldg", "BuildingPart", "buildingPart", building),
        "BuildingInstallation": space("bldg", "BuildingInstallation", "buildingInstallation"),
        "BuildingConstructiveElement": space(
            "bldg", "BuildingConstructiveElement", "buildingConstructiveElement"
        ),
        "BuildingRoom": space("bldg", "BuildingRoom", "buildingRoom"),
        "BuildingFurniture": space("bldg", "BuildingFurniture", "buildingFurniture"),
        "BuildingStorey": space("bldg", "Storey", "buildingSubdivision"),
        "BuildingUnit": space("bldg", "BuildingUnit", "buildingSubdivision"),
        "Bridge": space("brid", "Bridge"),
        "BridgePart": space("brid", "BridgePart", "bridgePart"),
        "BridgeInstallation": space("brid", "BridgeInstallation", "bridgeInstallation"),
        "BridgeConstructiveElement": space(
            "brid", "BridgeConstructiveElement", "bridgeConstructiveElement"
        ),
        "BridgeRoom": space("brid", "BridgeRoom", "bridgeRoom"),
        "BridgeFurniture": space("brid", "BridgeFurniture", "bridgeFurniture"),
        "Tunnel": space("tun", "Tunnel"),
        "TunnelPart": space("tun", "TunnelPart", "tunnelPart"),
        "TunnelInstallation": space("tun", "TunnelInstallation", "tunnelInstallation"),
        "TunnelConstructiveElement": space(
            "tun", "TunnelConstructiveElement", "tunnelConstructiveElement"
        ),
        "TunnelHollowSpace": space("tun", "HollowSpace", "hollowSpace"),
        "TunnelFurniture": space("tun", "TunnelFurniture", "tunnelFurniture"),
        "OtherConstruction": space("con", "OtherConstruction"),
        "GenericCityObject": space("gen", "GenericOccupiedSpace"),
        "GenericOccupiedSpace": space("gen", "GenericOccupiedSpace"),
        "CityFurniture": space("frn", "CityFurniture"),
        "SolitaryVegetationObject": space("veg", "SolitaryVegetationObject"),
        "PlantCover": space("veg", "PlantCover"),
        "Road": space("tran", "Road"),
        "Railway": space("tran", "Railway"),
        "Track": space("tran", "Track"),
        "Square": space("tran", "Square"),
        "TransportSquare": space("tran", "Square"),
        "Waterway": space("tran", "Waterway"),
        "WaterBody": space("wtr", "WaterBody"),
        "LandUse": ObjectKind("luse", "LandUse", "surfaces", None, lods),
        "ReliefFeature": ObjectKind("dem", "ReliefFeature", "relief", None, lods, ()),
        "TINRelief": ObjectKind("dem", "TINRelief", "tin", "reliefComponent", lods, ()),
    }


def _v2_surfaces() -> dict[str, SurfaceKind]:
    out: dict[str, SurfaceKind] = {}
    for name in (
        "RoofSurface",
        "WallSurface",
        "GroundSurface",
        "ClosureSurface",
        "OuterCeilingSurface",
        "OuterFloorSurface",
        "InteriorWallSurface",
        "CeilingSurface",
        "FloorSurface",
    ):
        out[name] = SurfaceKind("", name, "", "boundedBy")
    out["Window"] = SurfaceKind("", "Window", "", "opening", opening=True)
    out["Door"] = SurfaceKind("", "Door", "", "opening", opening=True)
    out["TrafficArea"] = SurfaceKind("tran", "TrafficArea", "tran", "trafficArea")
    out["AuxiliaryTrafficArea"] = SurfaceKind(
        "tran", "AuxiliaryTrafficArea", "tran", "auxiliaryTrafficArea"
    )
    for name in ("WaterSurface", "WaterGroundSurface", "WaterClosureSurface"):
        out[name] = SurfaceKind("wtr", name, "wtr", "boundedBy", geometry_suffix="Surface")
    return out


def _v3_surfaces() -> dict[str, SurfaceKind]:
    out: dict[str, SurfaceKind] = {}
    for name in (
        "RoofSurface",
        "WallSurface",
        "GroundSurface",
        "OuterCeilingSurface",
        "OuterFloorSurface",
        "InteriorWallSurface",
        "CeilingSurface",
        "FloorSurface",
    ):
        out[name] = SurfaceKind("con", name, "core", "boundary")
    out["ClosureSurface"] = SurfaceKind("core", "ClosureSurface", "core", "boundary")
    out["WaterClosureSurface"] = out["ClosureSurface"]
    out["Window"] = SurfaceKind("con", "WindowSurface", "con", "fillingSurface", opening=True)
    out["Door"] = SurfaceKind("con", "DoorSurface", "con", "fillingSurface", opening=True)
    for name, element in (
        ("TrafficArea", "TrafficArea"),
        ("AuxiliaryTrafficArea", "AuxiliaryTrafficArea"),
        ("TransportationMarking", "Marking"),
        ("Marking", "Marking"),
        ("TransportationHole", "HoleSurface"),
        ("HoleSurface", "HoleSurface"),
    ):
        out[name] = SurfaceKind("tran", element, "core", "boundary")
    for name in ("WaterSurface", "WaterGroundSurface"):
        out[name] = SurfaceKind("wtr", name, "core", "boundary")
    out["GenericThematicSurface"] = SurfaceKind("gen", "GenericThematicSurface", "core", "boundary")
    return out


_V2_MODULES: Final = {
    "app": "appearance",
    "bldg": "building",
    "brid": "bridge",
    "tun": "tunnel",
    "gen": "generics",
    "frn": "cityfurniture",
    "veg": "vegetation",
    "luse": "landuse",
    "tran": "transportation",
    "wtr": "waterbody",
    "dem": "relief",
}
_V3_MODULES: Final = {
    "app": "appearance",
    "bldg": "building",
    "brid": "bridge",
    "tun": "tunnel",
    "gen": "generics",
    "frn": "cityfurniture",
    "veg": "vegetation",
    "luse": "landuse",
    "tran": "transportation",
    "wtr": "waterbody",
    "con": "construction",
    "dem": "relief",
}

CITYGML_2: Final = WriteVocabulary(
    version="2.0",
    namespaces={
        "core": "http://www.opengis.net/citygml/2.0",
        "gml": "http://www.opengis.net/gml",
        "xlink": XLINK,
        "xAL": XAL2,
        **{p: f"http://www.opengis.net/citygml/{m}/2.0" for p, m in _V2_MODULES.items()},
    },
    objects=_v2_objects(),
    surfaces=_v2_surfaces(),
    opening_property="opening",
    schema_locations=" ".join(
        f"http://www.opengis.net/citygml/{m}/2.0 http://schemas.opengis.net/citygml/{m}/2.0/{m}.xsd"
        for m in sorted(set(_V2_MODULES.values()))
    ),
)
CITYGML_3: Final = WriteVocabulary(
    version="3.0",
    namespaces={
        "core": "http://www.opengis.net/citygml/3.0",
        "gml": "http://www.opengis.net/gml/3.2",
        "xlink": XLINK,
        "xAL": XAL3,
        **{p: f"http://www.opengis.net/citygml/{m}/3.0" for p, m in _V3_MODULES.items()},
    },
    objects=_v3_objects(),
    surfaces=_v3_surfaces(),
    opening_property="fillingSurface",
    schema_locations=" ".join(
        f"http://www.opengis.net/citygml/{m}/3.0 https://schemas.opengis.net/citygml/{m}/3.0/{m}.xsd"
        for m in sorted(set(_V3_MODULES.values()))
    ),
)


def write_vocabulary(version: str) -> WriteVocabulary:
    """The tables of CityGML ``version`` (``"2.0"`` or ``"3.0"``).

    Raises
    ------
    ValueError
        For other versions.
    """
    for vocab in (CITYGML_2, CITYGML_3):
        if vocab.version == version:
            return vocab
    raise ValueError(f"CityGML version {version!r} cannot be written; use 2.0 or 3.0")
