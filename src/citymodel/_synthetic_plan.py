"""Plans of the synthetic city: layout on tiles, building shapes, roofs, boundary surfaces.

Used by :mod:`citymodel.synthetic`, which maps the plans to EPSG:25832 + DHHN2016 and writes
CityGML. Everything here is deterministic by seed and index: building ``i`` draws from its own
``random.Random`` seeded with a string (hashed with SHA-512 by :mod:`random`, so identical on
every platform and Python process), which lets a writer plan any building without the others.

Coordinates
-----------
Layout functions work in easting/northing metres (EPSG:25832). A building's shapes live in its
*local frame*: metres, x/y horizontal about the building centre before its rotation, z in
metres above the building's ground height. :meth:`BuildingPlan.to_world` maps local x/y to
easting/northing.

Geometry rules (CGML-5): every part is a closed 2-manifold solid. Footprint exterior rings are
counter-clockwise seen from above, courtyard rings clockwise; ground polygons are the footprint
reversed (normal down), roof polygons counter-clockwise from above (normal up), wall rings run
bottom edge first along the footprint direction, which makes them counter-clockwise seen from
outside. The roof height is the minimum of the roof planes (convex roofs: flat, monopitch,
gable, hip), and every vertex's height comes from that one function, so vertices shared by
walls and roofs are bit-identical and each edge is used exactly twice, once per direction.
Footprint edges may carry extra collinear vertices (as real ALKIS outlines do); they are
inserted into the neighbouring roof and ground rings too, so the surfaces have no T-junctions.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "ROOF_FLAT",
    "ROOF_GABLE",
    "ROOF_HIP",
    "ROOF_MONOPITCH",
    "Address",
    "BuildingPlan",
    "CityLayout",
    "PartPlan",
    "Surface",
    "plan_building",
    "terrain_height",
    "terrain_heights",
]

Point2 = tuple[float, float]
Point3 = tuple[float, float, float]
Ring2 = tuple[Point2, ...]
Ring3 = tuple[Point3, ...]
Polygon3 = tuple[Ring3, ...]
"""Exterior ring first, then interior rings; rings are not closed (no repeated first point)."""
SurfaceKind = Literal["WallSurface", "ClosureSurface", "RoofSurface", "GroundSurface"]

ROOF_FLAT = "1000"
ROOF_MONOPITCH = "2100"
ROOF_GABLE = "3100"
ROOF_HIP = "3200"
"""AdV roofType codes (CGML-7)."""

MIN_CELL_M = 50.0
"""Parcel size: every building fits a disc of radius ``MIN_CELL_M / 2 - MARGIN_M``."""
MARGIN_M = 2.0
"""Minimum distance of a building from its parcel edge (so >= 4 m between buildings)."""

_EPS = 1e-7
_STREETS = (
    "Aachener Straße",
    "Venloer Straße",
    "Subbelrather Straße",
    "Vogelsanger Straße",
    "Ehrenfeldgürtel",
    "Neusser Straße",
    "Bonner Straße",
    "Luxemburger Straße",
    "Dürener Straße",
    "Zülpicher Straße",
    "Berrenrather Straße",
    "Militärringstraße",
    "Severinstraße",
    "Deutz-Mülheimer Straße",
    "Gürzenichstraße",
    "Am Römerturm",
)
_PUBLIC_NAMES = (
    "Bürgerhaus",
    "Stadtteilbibliothek",
    "Gesamtschule am Grüngürtel",
    "Bezirksrathaus",
    "Feuerwache",
    "Sporthalle",
    "Musikschule",
)
_HOUSE_FUNCTIONS = ("31001_1000", "31001_1010")
_BLOCK_FUNCTIONS = ("31001_1120", "31001_2000", "31001_2020", "31001_3000")
"""ALKIS building function codes (AdV BuildingFunctionTypeAdV, CGML-7)."""
_RECT_ROOFS = (ROOF_GABLE, ROOF_HIP, ROOF_FLAT, ROOF_MONOPITCH)
_CREATION_DATES = ("2020-12-21", "2020-12-28", "2021-03-19")
_FOOTPRINT_DATES = ("2020-07-01", "2020-12-31", "2019-10-15")


class Plane(NamedTuple):
    """A roof plane ``z = a·x + b·y + c`` in the local frame (metres above ground)."""

    a: float
    b: float
    c: float


@dataclass(frozen=True, slots=True)
class Surface:
    """A thematic boundary surface: one or more polygons in the local frame."""

    kind: SurfaceKind
    polygons: tuple[Polygon3, ...]


@dataclass(frozen=True, slots=True)
class Address:
    """A German street address (xAL: country, locality, thoroughfare name and number)."""

    street: str
    number: str
    locality: str = "Köln"
    country: str = "Germany"


@dataclass(frozen=True, slots=True)
class PartPlan:
    """One solid: a Building without parts, or one BuildingPart.

    Attributes
    ----------
    gml_id
        Id of the CityGML object carrying this solid.
    outer
        Footprint exterior ring, counter-clockwise from above (local x/y, metres).
    holes
        Courtyard rings, clockwise from above.
    planes
        Roof planes; the roof height at (x, y) is the minimum over them.
    roof_faces
        One entry per roof plane: its rings (exterior counter-clockwise, holes clockwise),
        corners only; collinear footprint vertices are added by :meth:`surfaces`.
    roof_type
        AdV roofType code.
    roof_pitch_deg
        Steepest roof slope in degrees (0 for flat roofs).
    storeys
        Storeys above ground.
    interfaces
        Footprint segments where the part touches a taller neighbouring part of the same
        building; the walls there are written as ClosureSurface (as NRW does).
    """

    gml_id: str
    outer: Ring2
    holes: tuple[Ring2, ...]
    planes: tuple[Plane, ...]
    roof_faces: tuple[tuple[Ring2, ...], ...]
    roof_type: str
    roof_pitch_deg: float
    storeys: int
    interfaces: tuple[tuple[Point2, Point2], ...] = ()

    def roof_z(self, p: Point2) -> float:
        """Roof height above ground at local ``p`` (metres)."""
        x, y = p
        return min(a * x + b * y + c for a, b, c in self.planes)

    @property
    def measured_height(self) -> float:
        """Highest roof point above ground (metres): AdV ``measuredHeight``."""
        return max(self.roof_z(p) for face in self.roof_faces for ring in face for p in ring)

    @property
    def footprint_area(self) -> float:
        """Footprint area in square metres (courtyards subtracted)."""
        return _ring_area(self.outer) + sum(_ring_area(h) for h in self.holes)

    def surfaces(self) -> tuple[Surface, ...]:
        """LoD2 boundary surfaces in the local frame: walls, roofs, then the ground."""
        return _closed_surfaces(
            self.outer, self.holes, self.roof_z, self.roof_faces, self.interfaces
        )

    def block_surfaces(self) -> tuple[Surface, ...]:
        """LoD1 block: the footprint extruded to :attr:`measured_height` (flat top)."""
        top = self.measured_height
        face = ((self.outer, *self.holes),)
        return _closed_surfaces(self.outer, self.holes, lambda _p: top, face, self.interfaces)

    @property
    def eave_height(self) -> float:
        """Lowest roof point above ground (metres)."""
        return min(self.roof_z(p) for p in self.outer)


@dataclass(frozen=True, slots=True)
class BuildingPlan:
    """Everything needed to write one building.

    Attributes
    ----------
    gml_id
        ``DENW_SYN_000001`` style id.
    centre
        Easting, northing of the local origin (EPSG:25832, metres).
    angle
        Rotation of the local frame, radians counter-clockwise from east.
    ground_z
        Ground height (DHHN2016 metres), rounded to the millimetre.
    parts
        The solids; one for a simple building.
    has_parts
        True: written as a Building with BuildingParts (CGML-2); False: one Building.
    """

    gml_id: str
    index: int
    centre: Point2
    angle: float
    ground_z: float
    parts: tuple[PartPlan, ...]
    has_parts: bool
    function: str
    name: str | None
    address: Address | None
    creation_date: str
    footprint_date: str
    roof_height_source: int

    def to_world(self, p: Point2) -> Point2:
        """Local x/y (metres) to easting/northing (EPSG:25832 metres)."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        return (self.centre[0] + p[0] * c - p[1] * s, self.centre[1] + p[0] * s + p[1] * c)

    @property
    def footprint_area(self) -> float:
        """Sum of the parts' footprint areas (square metres)."""
        return sum(part.footprint_area for part in self.parts)


@dataclass(frozen=True, slots=True)
class CityLayout:
    """Buildings on a grid of square tiles of square parcels, anchored at a SW corner.

    Tiles are filled one after the other (row by row, ``tiles_x`` tiles per row, the square
    root of the tile count rounded up); each tile holds ``cells_per_side²`` parcels of at
    least 50 m, one building each, filled row by row from the south-west.
    """

    origin: Point2
    tile_size: float
    n_buildings: int

    @property
    def cells_per_side(self) -> int:
        """Parcels along one tile edge."""
        return max(1, int(self.tile_size // MIN_CELL_M))

    @property
    def cell_size(self) -> float:
        """Parcel edge length (metres)."""
        return self.tile_size / self.cells_per_side

    @property
    def per_tile(self) -> int:
        """Buildings in a full tile."""
        return self.cells_per_side**2

    @property
    def n_tiles(self) -> int:
        """Tiles holding at least one building."""
        return -(-self.n_buildings // self.per_tile)

    @property
    def tiles_x(self) -> int:
        """Tiles per row."""
        return max(1, math.ceil(math.sqrt(self.n_tiles)))

    def tile_origin(self, tile: int) -> Point2:
        """South-west corner of ``tile`` (EPSG:25832 metres)."""
        ty, tx = divmod(tile, self.tiles_x)
        return (self.origin[0] + tx * self.tile_size, self.origin[1] + ty * self.tile_size)

    def tile_indices(self, tile: int) -> range:
        """Building indices in ``tile``."""
        return range(tile * self.per_tile, min(self.n_buildings, (tile + 1) * self.per_tile))

    def parcel(self, index: int) -> tuple[int, int, int]:
        """``(tile, column, row)`` of building ``index``."""
        tile, cell = divmod(index, self.per_tile)
        row, col = divmod(cell, self.cells_per_side)
        return tile, col, row

    def parcel_centre(self, index: int) -> Point2:
        """Centre of the parcel of building ``index`` (EPSG:25832 metres)."""
        tile, col, row = self.parcel(index)
        e0, n0 = self.tile_origin(tile)
        return (e0 + (col + 0.5) * self.cell_size, n0 + (row + 0.5) * self.cell_size)


def terrain_height(seed: int, base: float, e: float, n: float, origin: Point2) -> float:
    """Smooth synthetic ground height (DHHN2016 metres) at easting/northing ``e``/``n``.

    Two long waves (amplitude 4 m and 1.5 m, wavelengths 1.5–4 km; slopes below 1 %) with
    phases drawn from ``seed``.
    """
    return float(_terrain(math.sin, math.cos, seed, base, e, n, origin))


def terrain_heights(
    seed: int, base: float, e: npt.NDArray[np.float64], n: npt.NDArray[np.float64], origin: Point2
) -> npt.NDArray[np.float64]:
    """:func:`terrain_height` for arrays of eastings/northings (EPSG:25832 metres)."""
    return np.asarray(_terrain(np.sin, np.cos, seed, base, e, n, origin), dtype=np.float64)


def _terrain(
    sin: Callable[[Any], Any],
    cos: Callable[[Any], Any],
    seed: int,
    base: float,
    e: Any,
    n: Any,
    origin: Point2,
) -> Any:
    p1, p2, p3 = _terrain_phases(seed)
    x, y = e - origin[0], n - origin[1]
    return (
        base
        + 4.0 * sin(math.tau * x / 4000.0 + p1) * cos(math.tau * y / 3000.0 + p2)
        + 1.5 * sin(math.tau * (x + y) / 1500.0 + p3)
    )


@lru_cache(maxsize=16)
def _terrain_phases(seed: int) -> tuple[float, float, float]:
    rng = random.Random(f"citymodel-synthetic:{seed}:terrain")
    return (rng.uniform(0, math.tau), rng.uniform(0, math.tau), rng.uniform(0, math.tau))


@lru_cache(maxsize=64)
def _street_angle(seed: int, tile: int) -> float:
    """Main street direction of a tile (radians); buildings align to it within a few degrees."""
    return random.Random(f"citymodel-synthetic:{seed}:tile:{tile}").uniform(0.0, math.pi / 2)


def plan_building(
    layout: CityLayout,
    index: int,
    *,
    seed: int,
    ground_height: float,
    part_ratio: float,
    courtyard_ratio: float,
) -> BuildingPlan:
    """Plan building ``index`` (0-based) of the city; pure function of its arguments.

    ``courtyard_ratio`` of the buildings are flat-roofed courtyard blocks (polygons with
    holes), then up to ``part_ratio`` have BuildingParts (a main house with one or two
    annexes), the rest are rectangles (gable, hip, flat, monopitch) or L-shapes.
    """
    rng = random.Random(f"citymodel-synthetic:{seed}:{index}")
    tile, col, row = layout.parcel(index)
    gml_id = f"DENW_SYN_{index + 1:06d}"
    kind = rng.random()
    functions: tuple[str, ...]
    if kind < courtyard_ratio:
        parts, functions = [_courtyard(rng, gml_id)], _BLOCK_FUNCTIONS
    elif kind < courtyard_ratio + part_ratio:
        parts, functions = _house_with_annexes(rng, gml_id), _HOUSE_FUNCTIONS
    elif rng.random() < 0.2:
        parts, functions = [_l_shape(rng, gml_id)], _BLOCK_FUNCTIONS
    else:
        parts, functions = [_rectangle(rng, gml_id)], (*_HOUSE_FUNCTIONS, "31001_2020")
    function = rng.choice(functions)
    parts = _centred(parts)

    radius = max(math.hypot(x, y) for part in parts for x, y in part.outer)
    slack = max(0.0, layout.cell_size / 2.0 - MARGIN_M - radius)
    ce, cn = layout.parcel_centre(index)
    centre = (ce + rng.uniform(-slack, slack), cn + rng.uniform(-slack, slack))
    quarter_turns = rng.randint(0, 3) * math.pi / 2
    angle = _street_angle(seed, tile) + quarter_turns + math.radians(rng.gauss(0.0, 3.0))
    ground_z = round(terrain_height(seed, ground_height, centre[0], centre[1], layout.origin), 3)

    name = rng.choice(_PUBLIC_NAMES) if function == "31001_3000" else None
    address = None
    if rng.random() < 0.85:
        street = _STREETS[(tile * 7 + row) % len(_STREETS)]
        number = f"{2 * col + 1 + row % 2}{rng.choice(('', '', '', 'a'))}"
        address = Address(street=street, number=number)
    return BuildingPlan(
        gml_id=gml_id,
        index=index,
        centre=centre,
        angle=angle,
        ground_z=ground_z,
        parts=tuple(parts),
        has_parts=len(parts) > 1,
        function=function,
        name=name,
        address=address,
        creation_date=rng.choice(_CREATION_DATES),
        footprint_date=rng.choice(_FOOTPRINT_DATES),
        roof_height_source=rng.choice((1000, 1000, 1000, 3000)),
    )


# --- shapes ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rect:
    x0: float
    y0: float
    x1: float
    y1: float

    def ring(self) -> Ring2:
        return ((self.x0, self.y0), (self.x1, self.y0), (self.x1, self.y1), (self.x0, self.y1))


def _storeys_height(rng: random.Random, storeys: int) -> float:
    """Eave height of ``storeys`` storeys (2.8–3.2 m each plus a 0.2–0.6 m plinth)."""
    return storeys * rng.uniform(2.8, 3.2) + rng.uniform(0.2, 0.6)


def _rectangle(rng: random.Random, gml_id: str) -> PartPlan:
    length = rng.uniform(9.0, 30.0)
    roof = rng.choices(_RECT_ROOFS, weights=(40, 25, 25, 10))[0]
    width = rng.uniform(8.0, min(length, 14.0 if roof != ROOF_FLAT else 24.0))
    rect = _Rect(-length / 2, -width / 2, length / 2, width / 2)
    storeys = rng.randint(1, 3) if roof != ROOF_FLAT else rng.randint(1, 6)
    return _rect_part(rng, gml_id, rect, roof, storeys, high_side="y1")


def _rect_part(
    rng: random.Random,
    gml_id: str,
    rect: _Rect,
    roof: str,
    storeys: int,
    *,
    high_side: Literal["x0", "y1"],
    max_height: float = 25.0,
    interface: tuple[Point2, Point2] | None = None,
) -> PartPlan:
    """A rectangular part no higher than ``max_height`` (metres above ground).

    Gable and hip roofs have their ridge along x, monopitch roofs their high side at
    ``high_side``; ``interface`` is the side touching the main part, if any.
    """
    eave = _storeys_height(rng, storeys)
    eave = min(eave, max_height if roof == ROOF_FLAT else max_height - 0.3)
    x0, y0, x1, y1 = rect.x0, rect.y0, rect.x1, rect.y1
    ym = (y0 + y1) / 2
    depth = y1 - y0
    if roof == ROOF_FLAT:
        planes: tuple[Plane, ...] = (Plane(0.0, 0.0, eave),)
        faces: tuple[tuple[Ring2, ...], ...] = ((rect.ring(),),)
        pitch = 0.0
    elif roof == ROOF_MONOPITCH:
        run = depth if high_side == "y1" else x1 - x0
        rise = min(run * math.tan(math.radians(rng.uniform(8.0, 20.0))), max_height - eave)
        slope = rise / run
        pitch = math.degrees(math.atan(slope))
        top = eave + rise
        planes = (
            (Plane(0.0, slope, top - slope * y1),)
            if high_side == "y1"
            else (Plane(-slope, 0.0, top + slope * x0),)
        )
        faces = ((rect.ring(),),)
    else:
        rise = min(depth / 2 * math.tan(math.radians(rng.uniform(25.0, 50.0))), max_height - eave)
        slope = rise / (depth / 2)
        ridge = eave + rise
        front, back = Plane(0.0, slope, ridge - slope * ym), Plane(0.0, -slope, ridge + slope * ym)
        if roof == ROOF_GABLE:
            planes = (front, back)
            faces = (
                (((x0, y0), (x1, y0), (x1, ym), (x0, ym)),),
                (((x1, y1), (x0, y1), (x0, ym), (x1, ym)),),
            )
            pitch = math.degrees(math.atan(slope))
        else:
            inset = min(depth / 2 * rng.uniform(0.8, 1.0), (x1 - x0 - 1.0) / 2)
            end = rise / inset
            r0, r1 = (x0 + inset, ym), (x1 - inset, ym)
            planes = (
                front,
                back,
                Plane(-end, 0.0, ridge + end * r1[0]),
                Plane(end, 0.0, ridge - end * r0[0]),
            )
            faces = (
                (((x0, y0), (x1, y0), r1, r0),),
                (((x1, y1), (x0, y1), r0, r1),),
                (((x1, y0), (x1, y1), r1),),
                (((x0, y1), (x0, y0), r0),),
            )
            pitch = math.degrees(math.atan(max(slope, end)))
    outer = _split_edges(rng, rect.ring())
    interfaces = () if interface is None else (interface,)
    return PartPlan(gml_id, outer, (), planes, faces, roof, pitch, storeys, interfaces)


def _l_shape(rng: random.Random, gml_id: str) -> PartPlan:
    length, width = rng.uniform(14.0, 30.0), rng.uniform(12.0, 24.0)
    arm_y, arm_x = rng.uniform(6.0, width - 4.0), rng.uniform(6.0, length - 4.0)
    x0, y0, x1, y1 = -length / 2, -width / 2, length / 2, width / 2
    ring: Ring2 = (
        (x0, y0),
        (x1, y0),
        (x1, y0 + arm_y),
        (x0 + arm_x, y0 + arm_y),
        (x0 + arm_x, y1),
        (x0, y1),
    )
    storeys = rng.randint(2, 5)
    eave = _storeys_height(rng, storeys)
    if rng.random() < 0.7:
        planes, roof, pitch = (Plane(0.0, 0.0, eave),), ROOF_FLAT, 0.0
    else:
        rise = min(width * math.tan(math.radians(rng.uniform(5.0, 12.0))), 25.0 - eave)
        slope = rise / width
        planes, roof, pitch = (
            (Plane(0.0, slope, eave - slope * y0),),
            ROOF_MONOPITCH,
            math.degrees(math.atan(slope)),
        )
    return PartPlan(gml_id, _split_edges(rng, ring), (), planes, ((ring,),), roof, pitch, storeys)


def _courtyard(rng: random.Random, gml_id: str) -> PartPlan:
    length, width = rng.uniform(20.0, 32.0), rng.uniform(20.0, 32.0)
    x0, y0, x1, y1 = -length / 2, -width / 2, length / 2, width / 2
    hx0, hx1 = x0 + rng.uniform(6.0, 9.0), x1 - rng.uniform(6.0, 9.0)
    hy0, hy1 = y0 + rng.uniform(6.0, 9.0), y1 - rng.uniform(6.0, 9.0)
    outer = _Rect(x0, y0, x1, y1).ring()
    hole: Ring2 = ((hx0, hy0), (hx0, hy1), (hx1, hy1), (hx1, hy0))
    storeys = rng.randint(3, 6)
    eave = _storeys_height(rng, storeys)
    return PartPlan(
        gml_id,
        _split_edges(rng, outer),
        (_split_edges(rng, hole),),
        (Plane(0.0, 0.0, eave),),
        ((outer, hole),),
        ROOF_FLAT,
        0.0,
        storeys,
    )


def _house_with_annexes(rng: random.Random, gml_id: str) -> list[PartPlan]:
    """A main house (gable, hip or flat) with an annex in front and sometimes one at the side."""
    length = rng.uniform(10.0, 26.0)
    width = rng.uniform(8.0, min(length, 14.0))
    main = _Rect(-length / 2, -width / 2, length / 2, width / 2)
    main_roof = rng.choices(_RECT_ROOFS[:3], weights=(50, 30, 20))[0]
    main_storeys = rng.randint(1, 3)
    parts = [_rect_part(rng, f"{gml_id}_BP1", main, main_roof, main_storeys, high_side="y1")]
    # Annexes stay below the main eave, so their wall against the house is fully covered.
    eave = parts[0].eave_height

    span = rng.uniform(4.0, min(length, 12.0))
    x0 = rng.uniform(main.x0, main.x1 - span)
    front = _Rect(x0, main.y0 - rng.uniform(3.0, 7.0), x0 + span, main.y0)
    roof = rng.choice((ROOF_FLAT, ROOF_MONOPITCH))
    shared = ((front.x0, front.y1), (front.x1, front.y1))
    parts.append(
        _rect_part(
            rng, f"{gml_id}_BP2", front, roof, 1, high_side="y1", max_height=eave, interface=shared
        )
    )
    if rng.random() < 0.5:
        span = rng.uniform(4.0, width)
        y0 = rng.uniform(main.y0, main.y1 - span)
        side = _Rect(main.x1, y0, main.x1 + rng.uniform(3.0, 7.0), y0 + span)
        roof = rng.choice((ROOF_FLAT, ROOF_MONOPITCH))
        shared = ((side.x0, side.y0), (side.x0, side.y1))
        parts.append(
            _rect_part(
                rng,
                f"{gml_id}_BP3",
                side,
                roof,
                1,
                high_side="x0",
                max_height=eave,
                interface=shared,
            )
        )
    return parts


def _split_edges(rng: random.Random, ring: Ring2) -> Ring2:
    """Insert 0–2 collinear vertices into edges longer than 6 m (as in ALKIS outlines)."""
    out: list[Point2] = []
    for k, (ax, ay) in enumerate(ring):
        bx, by = ring[(k + 1) % len(ring)]
        out.append((ax, ay))
        if math.hypot(bx - ax, by - ay) > 6.0 and rng.random() < 0.25:
            ts = sorted(rng.uniform(0.15, 0.85) for _ in range(rng.randint(1, 2)))
            out.extend((ax + t * (bx - ax), ay + t * (by - ay)) for t in ts)
    return tuple(out)


def _centred(parts: Sequence[PartPlan]) -> list[PartPlan]:
    """Shift all parts so that the centre of their common bounding box is the local origin."""
    xs = [x for part in parts for x, _ in part.outer]
    ys = [y for part in parts for _, y in part.outer]
    dx, dy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    if dx == 0.0 and dy == 0.0:
        return list(parts)

    def move(ring: Ring2) -> Ring2:
        return tuple((x - dx, y - dy) for x, y in ring)

    return [
        PartPlan(
            part.gml_id,
            move(part.outer),
            tuple(move(h) for h in part.holes),
            tuple(Plane(a, b, c + a * dx + b * dy) for a, b, c in part.planes),
            tuple(tuple(move(r) for r in face) for face in part.roof_faces),
            part.roof_type,
            part.roof_pitch_deg,
            part.storeys,
            tuple((move(seg)[0], move(seg)[1]) for seg in part.interfaces),
        )
        for part in parts
    ]


# --- surfaces ----------------------------------------------------------------------------------


def _ring_area(ring: Ring2) -> float:
    """Signed area (shoelace), positive for counter-clockwise rings."""
    return 0.5 * sum(
        x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True)
    )


def _inside_edge(u: Point2, v: Point2, w: Point2) -> float | None:
    """Parameter t in (0, 1) of ``w`` on segment u-v, or None when ``w`` is not inside it."""
    dx, dy = v[0] - u[0], v[1] - u[1]
    length = math.hypot(dx, dy)
    wx, wy = w[0] - u[0], w[1] - u[1]
    if abs(dx * wy - dy * wx) > _EPS * length:
        return None
    t = (wx * dx + wy * dy) / (length * length)
    return t if _EPS / length < t < 1.0 - _EPS / length else None


def _on_segment(u: Point2, v: Point2, w: Point2) -> bool:
    """True when ``w`` lies on the closed segment u-v (within 0.1 µm)."""
    if math.hypot(w[0] - u[0], w[1] - u[1]) <= _EPS or math.hypot(w[0] - v[0], w[1] - v[1]) <= _EPS:
        return True
    return _inside_edge(u, v, w) is not None


def _with_points_on_edges(ring: Ring2, points: Iterable[Point2]) -> Ring2:
    """``ring`` with every point of ``points`` lying inside one of its edges inserted there."""
    candidates = set(points)
    out: list[Point2] = []
    for k, u in enumerate(ring):
        v = ring[(k + 1) % len(ring)]
        out.append(u)
        inside = sorted((t, w) for w in candidates if (t := _inside_edge(u, v, w)) is not None)
        out.extend(w for _, w in inside)
    return tuple(out)


def _collinear_runs(ring: Ring2) -> list[list[tuple[Point2, Point2]]]:
    """The ring's edges grouped into maximal runs along one straight line (one wall each)."""
    n = len(ring)
    edges = [(ring[k], ring[(k + 1) % n]) for k in range(n)]

    def straight(e: tuple[Point2, Point2], f: tuple[Point2, Point2]) -> bool:
        (ax, ay), (bx, by) = e
        (_, _), (cx, cy) = f
        ux, uy, vx, vy = bx - ax, by - ay, cx - bx, cy - by
        return (
            abs(ux * vy - uy * vx) <= _EPS * math.hypot(ux, uy) * math.hypot(vx, vy)
            and ux * vx + uy * vy > 0
        )

    start = next((k for k in range(n) if not straight(edges[k - 1], edges[k])), 0)
    runs: list[list[tuple[Point2, Point2]]] = []
    for k in range(start, start + n):
        edge = edges[k % n]
        if runs and straight(runs[-1][-1], edge):
            runs[-1].append(edge)
        else:
            runs.append([edge])
    return runs


def _closed_surfaces(
    outer: Ring2,
    holes: tuple[Ring2, ...],
    roof_z: Callable[[Point2], float],
    roof_faces: tuple[tuple[Ring2, ...], ...],
    interfaces: tuple[tuple[Point2, Point2], ...],
) -> tuple[Surface, ...]:
    """Boundary surfaces of a prism-like solid whose top is ``roof_z``.

    Walls (one surface per straight run of footprint edges; ClosureSurface where the run lies
    on one of ``interfaces``), one roof surface per face, then the ground; see the module
    docstring for the orientation rules.
    """
    footprint_points = [p for ring in (outer, *holes) for p in ring]
    faces = [tuple(_with_points_on_edges(r, footprint_points) for r in face) for face in roof_faces]
    # Roof vertices inside a footprint edge (gable apexes) become wall vertices too.
    roof_points = {p for face in faces for ring in face for p in ring}.difference(footprint_points)

    def lift(ring: Ring2) -> Ring3:
        return tuple((x, y, roof_z((x, y))) for x, y in ring)

    surfaces: list[Surface] = []
    for ring in (outer, *holes):
        for run in _collinear_runs(ring):
            polygons: list[Polygon3] = []
            for a, b in run:
                breaks = sorted(
                    ((t, w) for w in roof_points if (t := _inside_edge(a, b, w)) is not None),
                    reverse=True,
                )
                top = (b, *(w for _, w in breaks), a)
                polygons.append((((a[0], a[1], 0.0), (b[0], b[1], 0.0), *lift(top)),))
            start, end = run[0][0], run[-1][1]
            closed_off = any(
                _on_segment(u, v, start) and _on_segment(u, v, end) for u, v in interfaces
            )
            surfaces.append(
                Surface("ClosureSurface" if closed_off else "WallSurface", tuple(polygons))
            )
    surfaces.extend(Surface("RoofSurface", (tuple(lift(r) for r in face),)) for face in faces)
    ground = tuple(tuple((x, y, 0.0) for x, y in reversed(ring)) for ring in (outer, *holes))
    surfaces.append(Surface("GroundSurface", (ground,)))
    return tuple(surfaces)
