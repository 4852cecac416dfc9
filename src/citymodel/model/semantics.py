"""Semantic surface types shared by all formats (CityGML boundary surfaces, CityJSON semantics)."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["SurfaceType", "surface_type_from_name"]


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
}


def surface_type_from_name(name: str) -> SurfaceType:
    """Map a CityGML/CityJSON surface class name (e.g. ``"RoofSurface"``) to a :class:`SurfaceType`.

    Unknown names give :attr:`SurfaceType.UNKNOWN`.
    """
    return _BY_NAME.get(name, SurfaceType.UNKNOWN)
