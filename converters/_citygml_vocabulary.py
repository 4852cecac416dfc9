"""CityGML namespaces and tag tables, one per version (CGML-1, CGML-2).

CityGML 1.0 and 2.0 share their structure (GML 3.1.1, ``bldg:boundedBy`` thematic surfaces,
``bldg:consistsOfBuildingPart``); CityGML 3.0 moves geometry properties to ``core:`` and
boundary surfaces to ``con:`` and uses GML 3.2, so it will need its own :class:`Vocabulary`
building table next to the one here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from citymodel.converters._citygml_attributes import AttributeVocabulary
from citymodel.converters._gml import GML_NS, GmlNames
from citymodel.model import SurfaceType
from citymodel.model.semantics import surface_type_from_name

__all__ = [
    "ATTRIBUTE",
    "BOUNDARY",
    "CITYGML_1_0",
    "CITYGML_2_0",
    "CITYGML_3_0_CORE",
    "COUNTED",
    "ENVELOPE",
    "GEOMETRY",
    "NAMESPACE_MARK",
    "PART",
    "UNKNOWN",
    "VERSIONS",
    "CityGMLVersion",
    "Vocabulary",
    "vocabulary",
]


@dataclass(frozen=True, slots=True)
class CityGMLVersion:
    """The namespaces of one CityGML version (CGML-1).

    CityGML 3.0 moves geometry properties to ``core:`` and boundary surfaces to ``con:`` and
    uses GML 3.2: it needs its own entry here and its own building structure table in
    :class:`Vocabulary`.
    """

    version: str
    core: str
    building: str
    generics: str
    gml: str = GML_NS


CITYGML_1_0: Final = CityGMLVersion(
    "1.0",
    core="http://www.opengis.net/citygml/1.0",
    building="http://www.opengis.net/citygml/building/1.0",
    generics="http://www.opengis.net/citygml/generics/1.0",
)
CITYGML_2_0: Final = CityGMLVersion(
    "2.0",
    core="http://www.opengis.net/citygml/2.0",
    building="http://www.opengis.net/citygml/building/2.0",
    generics="http://www.opengis.net/citygml/generics/2.0",
)
VERSIONS: Final = {v.core: v for v in (CITYGML_1_0, CITYGML_2_0)}
CITYGML_3_0_CORE: Final = "http://www.opengis.net/citygml/3.0"
NAMESPACE_MARK: Final = b"http://www.opengis.net/citygml/"

# kinds of building child elements (Vocabulary.building_children)
ATTRIBUTE, BOUNDARY, GEOMETRY, PART, ENVELOPE, COUNTED = range(6)
UNKNOWN: Final = int(SurfaceType.UNKNOWN)


class Vocabulary:
    """Clark tags and dispatch tables of one CityGML version."""

    def __init__(self, v: CityGMLVersion) -> None:
        self.version = v
        self.gml = GmlNames.for_namespace(v.gml)
        core, bldg = v.core, v.building

        def b(local: str) -> str:
            return f"{{{bldg}}}{local}"

        self.members = (f"{{{core}}}cityObjectMember", f"{{{v.gml}}}featureMember")
        self.members_array = f"{{{v.gml}}}featureMembers"
        self.building = b("Building")
        self.building_part = b("BuildingPart")
        self.attributes = AttributeVocabulary(
            core_ns=core, building_ns=bldg, generics_ns=v.generics, gml_ns=v.gml
        )
        children: dict[object, tuple[int, Any]] = {
            tag: (ATTRIBUTE, handler) for tag, handler in self.attributes.handlers.items()
        }
        children[b("boundedBy")] = (BOUNDARY, None)
        children[b("consistsOfBuildingPart")] = (PART, None)
        children[self.gml.bounded_by] = (ENVELOPE, None)
        children[b("outerBuildingInstallation")] = (COUNTED, "BuildingInstallation")
        children[b("interiorBuildingInstallation")] = (COUNTED, "BuildingInstallation")
        children[b("interiorRoom")] = (COUNTED, "Room")
        self.solid_properties: frozenset[object] = frozenset(b(f"lod{n}Solid") for n in "1234")
        for n in "1234":
            children[b(f"lod{n}Solid")] = (GEOMETRY, n)
            children[b(f"lod{n}MultiSurface")] = (GEOMETRY, n)
        children[b("lod0FootPrint")] = (GEOMETRY, "0")
        children[b("lod0RoofEdge")] = (GEOMETRY, "0")
        self.building_children = children
        self.surface_types: dict[object, int] = {
            b(name): int(surface_type_from_name(name))
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
            )
        }
        self.opening = b("opening")
        self.opening_types: dict[object, int] = {
            b("Window"): int(SurfaceType.WINDOW),
            b("Door"): int(SurfaceType.DOOR),
        }
        self.surface_lods: dict[object, str] = {b(f"lod{n}MultiSurface"): n for n in "234"}
        self.implicit: frozenset[object] = frozenset(
            b(f"lod{n}ImplicitRepresentation") for n in "34"
        )


_VOCABULARIES: dict[str, Vocabulary] = {}


def vocabulary(version: CityGMLVersion) -> Vocabulary:
    """The (cached) tag tables of ``version``."""
    vocab = _VOCABULARIES.get(version.core)
    if vocab is None:
        vocab = _VOCABULARIES[version.core] = Vocabulary(version)
    return vocab
