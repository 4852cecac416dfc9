"""Semantic surface types shared by all formats (CityGML boundary surfaces, CityJSON semantics).

Codes are stable (they are stored in outputs): new types are only ever appended.
:func:`surface_type_from_name` is the one mapping from class names (CityGML 1.0/2.0/3.0 and
CityJSON semantic surface names) to codes; :func:`default_surface_type` gives the type of the
unclassified polygons of an object class (a road's LoD1 surface is traffic area, a TIN is
terrain), so they get a fitting colour.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["SurfaceType", "default_surface_type", "surface_type_from_name"]


class SurfaceType(IntEnum):
    """Semantic class of a polygon; stored as ``uint8`` per polygon and per triangle."""

    UNKNOWN = 0
    ROOF = 1
    WALL = 2
    GROUND = 3
    CLOSURE = 4
    OUTER_CEILING = 5
    OUTER_FLOOR = 6
    WINDOW = 7
    DOOR = 8
    INTERIOR_WALL = 9
    CEILING = 10
    FLOOR = 11
    TRAFFIC_AREA = 12
    AUXILIARY_TRAFFIC_AREA = 13
    TRANSPORTATION_MARKING = 14
    TRANSPORTATION_HOLE = 15
    WATER_SURFACE = 16
    WATER_GROUND = 17
    WATER_CLOSURE = 18
    TERRAIN = 19
    VEGETATION = 20
    LAND_USE = 21


_BY_NAME: dict[str, SurfaceType] = {
    "RoofSurface": SurfaceType.ROOF,
    "WallSurface": SurfaceType.WALL,
    "GroundSurface": SurfaceType.GROUND,
    "ClosureSurface": SurfaceType.CLOSURE,
    "OuterCeilingSurface": SurfaceType.OUTER_CEILING,
    "OuterFloorSurface": SurfaceType.OUTER_FLOOR,
    "Window": SurfaceType.WINDOW,
    "Door": SurfaceType.DOOR,
    "InteriorWallSurface": SurfaceType.INTERIOR_WALL,
    "CeilingSurface": SurfaceType.CEILING,
    "FloorSurface": SurfaceType.FLOOR,
    # transportation: CityGML 1.0/2.0 TrafficArea objects, CityJSON semantic surfaces,
    # CityGML 3.0 Marking and HoleSurface
    "TrafficArea": SurfaceType.TRAFFIC_AREA,
    "AuxiliaryTrafficArea": SurfaceType.AUXILIARY_TRAFFIC_AREA,
    "TransportationMarking": SurfaceType.TRANSPORTATION_MARKING,
    "Marking": SurfaceType.TRANSPORTATION_MARKING,
    "TransportationHole": SurfaceType.TRANSPORTATION_HOLE,
    "HoleSurface": SurfaceType.TRANSPORTATION_HOLE,
    # water bodies
    "WaterSurface": SurfaceType.WATER_SURFACE,
    "WaterGroundSurface": SurfaceType.WATER_GROUND,
    "WaterClosureSurface": SurfaceType.WATER_CLOSURE,
}

_BY_OBJECT: dict[str, SurfaceType] = {
    **dict.fromkeys(
        (
            "Road",
            "Railway",
            "Track",
            "TransportSquare",
            "Square",
            "TransportationComplex",
            "TrafficArea",
            "Section",
            "Intersection",
        ),
        SurfaceType.TRAFFIC_AREA,
    ),
    "AuxiliaryTrafficArea": SurfaceType.AUXILIARY_TRAFFIC_AREA,
    **dict.fromkeys(("WaterBody", "Waterway"), SurfaceType.WATER_SURFACE),
    **dict.fromkeys(("ReliefFeature", "TINRelief"), SurfaceType.TERRAIN),
    **dict.fromkeys(("SolitaryVegetationObject", "PlantCover"), SurfaceType.VEGETATION),
    "LandUse": SurfaceType.LAND_USE,
}


def surface_type_from_name(name: str) -> SurfaceType:
    """Map a CityGML/CityJSON surface class name (e.g. ``"RoofSurface"``) to a :class:`SurfaceType`.

    Unknown names give :attr:`SurfaceType.UNKNOWN`.
    """
    return _BY_NAME.get(name, SurfaceType.UNKNOWN)


def default_surface_type(object_type: str) -> SurfaceType:
    """The surface type of an object's polygons that carry no semantic class of their own.

    ``object_type`` is the feature type (``"Road"``, ``"TINRelief"``, ``"PlantCover"``, the
    CityJSON names); buildings, bridges, furniture and unknown types give
    :attr:`SurfaceType.UNKNOWN`.
    """
    return _BY_OBJECT.get(object_type, SurfaceType.UNKNOWN)
