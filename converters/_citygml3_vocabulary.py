"""CityGML 3.0 namespaces and tag tables (CGML-1): the space/boundary model of all modules.

CityGML 3.0 (OGC 20-010, GML 3.2 encoding) differs from 1.0/2.0 in where things sit, not in
what a feature is:

* geometry properties live in ``core:`` for every module (``core:lod2Solid``,
  ``core:lod2MultiSurface``, ``core:lod0MultiCurve``, ``core:lod1ImplicitRepresentation``);
* thematic surfaces hang below ``core:boundary`` (``con:WallSurface``, ``tran:TrafficArea``,
  ``wtr:WaterSurface``, ``core:ClosureSurface`` ...), openings below ``con:fillingSurface``
  (``con:WindowSurface``/``con:DoorSurface``);
* nested city objects (``bldg:buildingPart``, ``tran:section``, ``tran:trafficSpace``,
  ``dem:reliefComponent`` ...) are properties holding an object of a known class.

:class:`Vocabulary3` extends the 2.0 :class:`~citymodel.converters._citygml_vocabulary.Vocabulary`
(so the header scan and the document loop take it as they are) with these tables. Feature type
names follow CityJSON where CityJSON names the same class differently (``tran:Square`` ->
``TransportSquare``, ``bldg:Storey`` -> ``BuildingStorey``, ``tun:HollowSpace`` ->
``TunnelHollowSpace``); every other class keeps its CityGML name.
"""

from __future__ import annotations

from typing import Final

from citymodel.converters._citygml_vocabulary import CityGMLVersion, ObjectClass, Vocabulary
from citymodel.model.semantics import default_surface_type, surface_type_from_name

__all__ = [
    "APPEARANCE_NOTE",
    "BOUNDARY3",
    "CITYGML3_TYPES",
    "CITYGML_3_0",
    "CURVE3",
    "ENVELOPE3",
    "GEOMETRY3",
    "IMPLICIT3",
    "NS",
    "POINTS3",
    "POINT_CLOUD3",
    "RELIEF_LOD3",
    "TIN3",
    "XAL3_NS",
    "Vocabulary3",
    "vocabulary3",
]

GML32_NS: Final = "http://www.opengis.net/gml/3.2"
XAL3_NS: Final = "urn:oasis:names:tc:ciq:xal:3"
_BASE: Final = "http://www.opengis.net/citygml/"

NS: Final[dict[str, str]] = {
    "core": f"{_BASE}3.0",
    "app": f"{_BASE}appearance/3.0",
    "bldg": f"{_BASE}building/3.0",
    "brid": f"{_BASE}bridge/3.0",
    "con": f"{_BASE}construction/3.0",
    "dem": f"{_BASE}relief/3.0",
    "dyn": f"{_BASE}dynamizer/3.0",
    "frn": f"{_BASE}cityfurniture/3.0",
    "gen": f"{_BASE}generics/3.0",
    "grp": f"{_BASE}cityobjectgroup/3.0",
    "luse": f"{_BASE}landuse/3.0",
    "pcl": f"{_BASE}pointcloud/3.0",
    "tran": f"{_BASE}transportation/3.0",
    "tun": f"{_BASE}tunnel/3.0",
    "veg": f"{_BASE}vegetation/3.0",
    "vers": f"{_BASE}versioning/3.0",
    "wtr": f"{_BASE}waterbody/3.0",
}
"""Namespace of each CityGML 3.0 module, by its usual prefix."""

CITYGML_3_0: Final = CityGMLVersion(
    "3.0",
    core=NS["core"],
    building=NS["bldg"],
    generics=NS["gen"],
    gml=GML32_NS,
)

# city object classes: prefix -> local names (CityJSON spelling where it differs: _TYPE_ALIAS)
_OBJECT_CLASSES: Final[dict[str, tuple[str, ...]]] = {
    "bldg": (
        "Building",
        "BuildingPart",
        "BuildingInstallation",
        "BuildingConstructiveElement",
        "BuildingRoom",
        "BuildingFurniture",
        "Storey",
        "BuildingUnit",
    ),
    "brid": (
        "Bridge",
        "BridgePart",
        "BridgeInstallation",
        "BridgeConstructiveElement",
        "BridgeRoom",
        "BridgeFurniture",
    ),
    "tun": (
        "Tunnel",
        "TunnelPart",
        "TunnelInstallation",
        "TunnelConstructiveElement",
        "HollowSpace",
        "TunnelFurniture",
    ),
    "con": ("OtherConstruction", "Window", "Door"),
    "tran": (
        "Road",
        "Railway",
        "Track",
        "Square",
        "Waterway",
        "Section",
        "Intersection",
        "TrafficSpace",
        "AuxiliaryTrafficSpace",
        "ClearanceSpace",
        "Hole",
    ),
    "veg": ("SolitaryVegetationObject", "PlantCover"),
    "wtr": ("WaterBody",),
    "frn": ("CityFurniture",),
    "luse": ("LandUse",),
    "dem": ("ReliefFeature", "TINRelief", "MassPointRelief", "BreaklineRelief", "RasterRelief"),
    "gen": ("GenericOccupiedSpace", "GenericUnoccupiedSpace", "GenericLogicalSpace"),
    "grp": ("CityObjectGroup",),
}
_TYPE_ALIAS: Final = {
    "Square": "TransportSquare",
    "Storey": "BuildingStorey",
    "HollowSpace": "TunnelHollowSpace",
}

CITYGML3_TYPES: Final[tuple[str, ...]] = tuple(
    sorted({_TYPE_ALIAS.get(n, n) for names in _OBJECT_CLASSES.values() for n in names})
)
"""Feature type names the CityGML 3.0 reader produces."""

# thematic surface class -> SurfaceType name (surface_type_from_name) where they differ
_SURFACE_ALIAS: Final = {"WindowSurface": "Window", "DoorSurface": "Door"}

# object classes whose own polygons are openings (3.0 Window/Door spaces); the polygons of
# other classes get default_surface_type(class)
_OBJECT_SURFACES: Final = {"Window": "Window", "Door": "Door"}

APPEARANCE_NOTE: Final = "Appearance (materials/textures are not read by this reader)"
"""Noted when a reader has no appearance reader attached (``DocumentReader.appearances``)."""

# kinds of object children (Vocabulary3.object_children); other tags: attributes or nested
# objects, told apart by what they hold
BOUNDARY3, GEOMETRY3, IMPLICIT3, CURVE3, POINTS3 = range(5)
ENVELOPE3, TIN3, POINT_CLOUD3, RELIEF_LOD3 = range(5, 9)


class Vocabulary3(Vocabulary):
    """Clark tags and dispatch tables of CityGML 3.0 (GML 3.2 names in ``gml``).

    The inherited attributes serve the document loop (``members``, ``members_array``,
    ``gml``, ``version``, ``classes``) and the implicit geometry reader; the ``*3`` tables
    and :attr:`object_children` drive the 3.0 object reader.
    """

    def __init__(self) -> None:
        super().__init__(CITYGML_3_0)
        core = NS["core"]

        def c(local: str) -> str:
            return f"{{{core}}}{local}"

        self.version_members: frozenset[str] = frozenset(
            (c("versionMember"), c("versionTransitionMember"))
        )
        """Versioning members (``vers:Version``, ``vers:VersionTransition``): counted, reported."""
        self.appearance_member = c("appearanceMember")
        self.members = (
            c("cityObjectMember"),
            f"{{{GML32_NS}}}featureMember",
            *sorted(self.version_members),
            self.appearance_member,
        )

        children: dict[str, tuple[int, str | None]] = {
            c("boundary"): (BOUNDARY3, None),
            self.gml.bounded_by: (ENVELOPE3, None),
            c("pointCloud"): (POINT_CLOUD3, None),
            f"{{{NS['dem']}}}tin": (TIN3, None),
            f"{{{NS['dem']}}}lod": (RELIEF_LOD3, None),
        }
        for n in "0123":
            children[c(f"lod{n}MultiSurface")] = (GEOMETRY3, n)
            children[c(f"lod{n}MultiCurve")] = (CURVE3, n)
            children[c(f"lod{n}Point")] = (POINTS3, n)
        for n in "123":
            children[c(f"lod{n}Solid")] = (GEOMETRY3, n)
            children[c(f"lod{n}ImplicitRepresentation")] = (IMPLICIT3, n)
            children[c(f"lod{n}TerrainIntersectionCurve")] = (CURVE3, n)
        for local in ("reliefPoints", "ridgeOrValleyLines", "breaklines", "grid"):
            children[f"{{{NS['dem']}}}{local}"] = (POINTS3, None)
        self.object_children = children
        self.classes = {}
        for prefix, names in _OBJECT_CLASSES.items():
            for local in names:
                name = _TYPE_ALIAS.get(local, local)
                own = _OBJECT_SURFACES.get(name)
                surface = surface_type_from_name(own) if own else default_surface_type(name)
                self.classes[f"{{{NS[prefix]}}}{local}"] = ObjectClass(
                    type=name, children=children, default_surface=int(surface)
                )
        self.object_types: dict[object, str] = {t: c.type for t, c in self.classes.items()}
        """Clark tag of every city object class -> feature type name."""
        self.solid3: frozenset[str] = frozenset(c(f"lod{n}Solid") for n in "123")
        self.surface_lods3: dict[str, str] = {c(f"lod{n}MultiSurface"): n for n in "0123"}
        self.curve_lods3: frozenset[str] = frozenset(c(f"lod{n}MultiCurve") for n in "0123")
        self.filling_surface = f"{{{NS['con']}}}fillingSurface"
        self.relief_lod = f"{{{NS['dem']}}}lod"
        self.related_to = c("relatedTo")
        self.point_file = f"{{{NS['pcl']}}}pointFile"
        self.point_file_srs = f"{{{NS['pcl']}}}pointFileSrsName"
        self.mime_type = f"{{{NS['pcl']}}}mimeType"
        self.inline_points = f"{{{NS['pcl']}}}points"
        # implicit geometry as the 2.0 reader reads it (relativeGMLGeometry became relativeGeometry)
        self.implicit_geometry = c("ImplicitGeometry")
        self.transformation_matrix = c("transformationMatrix")
        self.reference_point = c("referencePoint")
        self.relative_geometry = c("relativeGeometry")
        self.library_object = c("libraryObject")
        self.appearance_property = c("appearance")
        """``core:appearance``: read by the appearance reader (``DocumentReader.appearances``)."""
        self.not_geometry: dict[str, str] = {
            self.appearance_property: APPEARANCE_NOTE,
            c("dynamizer"): "Dynamizer",
            c("generalizesTo"): "generalizesTo",
        }
        """Object properties that hold no geometry: reported once per document by name."""
        self._surfaces: dict[str, int] = {}

    def surface_type(self, tag: str) -> int:
        """SurfaceType code of a thematic surface class (``con:RoofSurface``); UNKNOWN if none.

        Names, never codes: the one mapping is
        :func:`citymodel.model.semantics.surface_type_from_name`.
        """
        code = self._surfaces.get(tag)
        if code is None:
            local = tag.rpartition("}")[2]
            code = self._surfaces[tag] = int(
                surface_type_from_name(_SURFACE_ALIAS.get(local, local))
            )
        return code


_VOCABULARY: list[Vocabulary3] = []


def vocabulary3() -> Vocabulary3:
    """The (cached) CityGML 3.0 tag tables."""
    if not _VOCABULARY:
        _VOCABULARY.append(Vocabulary3())
    return _VOCABULARY[0]
