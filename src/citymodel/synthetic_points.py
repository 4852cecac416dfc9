"""Deterministic synthetic airborne LiDAR of the synthetic city, as LAS or LAZ.

The point cloud covers the tiles of the city that :mod:`citymodel.synthetic` writes with the
same :class:`~citymodel.synthetic.SyntheticCityOptions` (same seed, origin, number of
buildings): roofs and walls of the same buildings, on the same terrain, in EPSG:25832 +
DHHN2016 metres, so a point tileset and a building tileset of one seed line up (position and
height).

What is in it, as an airborne scan of about ``n_points / area`` points per square metre:

- ground (class 2) on the gentle terrain of the city, streets along the parcel edges;
- roofs (class 6) of every building part, with its roof planes (flat, monopitch, gable, hip),
  courtyards left open, and a few wall points (class 6) where the scanner grazes the facades;
- trees (class 5 above 2 m, 4 between 0.5 and 2 m) with first returns on the crown, returns
  inside it and last returns on the ground below; shrubs (classes 3/4);
- noise (class 7): low points below the ground and "birds" high above, 0.03 %;
- intensity and 16-bit RGB by surface, GPS time and scan angle along scan lines that zigzag
  across the flight strips, return numbers, point source ids (flight lines).

Points are generated in strips of at most 250,000 points, each from its own random stream,
and written one strip at a time, so memory stays bounded for any ``n_points`` and the same
options give the same points (laspy writes LAZ with lazrs' multi-threaded compressor; the
file is written atomically). LAS 1.4 point formats 6/7 carry the CRS as OGC WKT; LAS 1.2
point format 3 as GeoTIFF keys with ``VerticalCSTypeGeoKey`` (LAS-1).

Examples
--------
>>> from citymodel.synthetic_points import SyntheticPointCloudOptions, write_point_cloud
>>> options = SyntheticPointCloudOptions(n_points=10_000_000)
>>> summary = write_point_cloud("city.laz", options)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import laspy
import numpy as np
import numpy.typing as npt
import pyproj
from laspy import LazBackend

from citymodel._synthetic_plan import BuildingPlan, CityLayout, terrain_heights
from citymodel._typing import Float64Array
from citymodel.atomic import atomic_output
from citymodel.crs import resolve_crs
from citymodel.synthetic import SyntheticCityOptions, plan_city_building

__all__ = [
    "SyntheticPointCloudOptions",
    "SyntheticPointCloudSummary",
    "write_point_cloud",
]

STRIP_POINTS = 250_000
"""Points per generated strip (fixed, so the output does not depend on any chunk size)."""

_SCALE = 0.01
_NOISE_SHARE = 0.0003
_WALL_BAND_M = 0.6
_WALL_SHARE = 0.5
_STREET_M = 4.0
_PULSE_RATE_HZ = 200_000.0
_GPS_EPOCH = 3.5e8  # adjusted GPS seconds (about 2021)
_ANGLE_UNITS_PER_DEG = 1 / 0.006  # LAS 1.4 scan angle unit
_CLASS_GROUND, _CLASS_LOW, _CLASS_MEDIUM, _CLASS_HIGH, _CLASS_BUILDING, _CLASS_NOISE = (
    2,
    3,
    4,
    5,
    6,
    7,
)
_ROOF_COLOURS = np.array(
    [(165, 72, 52), (120, 55, 45), (70, 72, 78), (140, 140, 135), (95, 85, 80)], dtype=np.float64
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SyntheticPointCloudOptions:
    """What to generate.

    Attributes
    ----------
    n_points
        Number of points (>= 1).
    city
        The city the points scan (buildings, terrain, origin, seed); the points cover every
        tile of it. Default: 400 buildings, one 1 km tile.
    point_format
        LAS point data record format: 7 (LAS 1.4, RGB, default), 6 (LAS 1.4, no colours) or
        3 (LAS 1.2, RGB, CRS as GeoTIFF keys).
    crs
        CRS written into the file (EPSG:25832 + DHHN2016 by default; the coordinates are
        always those of the city), or None for a file without CRS. Point format 3 needs EPSG
        codes (GeoTIFF keys).
    extra_dimension
        Add an ExtraBytes dimension ``height_above_ground`` (int16, scale 0.01 m).
    """

    n_points: int = 1_000_000
    city: SyntheticCityOptions = field(
        default_factory=lambda: SyntheticCityOptions(n_buildings=400)
    )
    point_format: Literal[3, 6, 7] = 7
    crs: str | None = "EPSG:25832+7837"
    extra_dimension: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.n_points < 1:
            problems.append(f"n_points must be >= 1, got {self.n_points!r}")
        if self.point_format not in (3, 6, 7):
            problems.append(f"point_format must be 3, 6 or 7, got {self.point_format!r}")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True, slots=True, kw_only=True)
class SyntheticPointCloudSummary:
    """What :func:`write_point_cloud` wrote.

    Attributes
    ----------
    path
        The file.
    n_points
        Points written.
    bytes
        File size.
    extent
        ``(xmin, ymin, zmin, xmax, ymax, zmax)`` of the points (EPSG:25832 and DHHN2016
        metres), equal to the header bounds.
    classes
        Points per classification code.
    """

    path: Path
    n_points: int
    bytes: int
    extent: tuple[float, float, float, float, float, float]
    classes: dict[int, int]


# -- the city as arrays ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Part:
    rings: tuple[npt.NDArray[np.float64], ...]  # local frame, exterior first, each (M, 2)
    planes: npt.NDArray[np.float64]  # (P, 3): z = a x + b y + c above ground
    top: float


@dataclass(frozen=True, slots=True)
class _Building:
    centre: tuple[float, float]
    cos: float
    sin: float
    ground_z: float
    radius: float
    parts: tuple[_Part, ...]
    colour: npt.NDArray[np.float64]
    intensity: float


@dataclass(frozen=True, slots=True)
class _Trees:
    """Trees per parcel, padded to ``K`` (radius 0 = no tree)."""

    x: npt.NDArray[np.float64]  # (parcels, K)
    y: npt.NDArray[np.float64]
    radius: npt.NDArray[np.float64]
    top: npt.NDArray[np.float64]  # height of the crown top above ground
    base: npt.NDArray[np.float64]  # height of the crown base above ground


def _building(plan: BuildingPlan) -> _Building:
    parts = []
    for part in plan.parts:
        rings = tuple(np.asarray(r, dtype=np.float64) for r in (part.outer, *part.holes))
        planes = np.asarray(part.planes, dtype=np.float64).reshape(-1, 3)
        parts.append(_Part(rings, planes, part.measured_height))
    radius = max(float(np.hypot(*p.rings[0].T).max()) for p in parts)
    rng = np.random.default_rng([plan.index, 7])
    colour = _ROOF_COLOURS[plan.index * 7 % len(_ROOF_COLOURS)] + rng.normal(0, 6, 3)
    return _Building(
        centre=plan.centre,
        cos=math.cos(plan.angle),
        sin=math.sin(plan.angle),
        ground_z=plan.ground_z,
        radius=radius,
        parts=tuple(parts),
        colour=colour,
        intensity=float(rng.uniform(900, 2200)),
    )


def _trees(layout: CityLayout, buildings: list[_Building], seed: int) -> _Trees:
    """Up to 6 trees or shrubs per parcel, outside the building's circle."""
    n_parcels = layout.n_tiles * layout.per_tile
    k = 6
    shape = (n_parcels, k)
    out = {name: np.zeros(shape) for name in ("x", "y", "radius", "top", "base")}
    cell = layout.cell_size
    for parcel in range(n_parcels):
        rng = np.random.default_rng([seed, parcel, 11])
        cx, cy = layout.parcel_centre(parcel)
        building = buildings[parcel] if parcel < len(buildings) else None
        placed = 0
        for _attempt in range(16):
            if placed == k:
                break
            shrub = rng.random() < 0.35
            radius = rng.uniform(0.6, 1.6) if shrub else rng.uniform(2.5, 5.5)
            x = cx + rng.uniform(-cell / 2 + radius, cell / 2 - radius)
            y = cy + rng.uniform(-cell / 2 + radius, cell / 2 - radius)
            if building is not None:
                bx, by = building.centre
                if math.hypot(x - bx, y - by) < building.radius + radius + 1.0:
                    continue
            if rng.random() < 0.2:  # not every free spot holds a tree
                continue
            top = rng.uniform(0.4, 1.9) if shrub else rng.uniform(7.0, 16.0)
            out["x"][parcel, placed] = x
            out["y"][parcel, placed] = y
            out["radius"][parcel, placed] = radius
            out["top"][parcel, placed] = top
            out["base"][parcel, placed] = 0.0 if shrub else rng.uniform(1.5, 3.0)
            placed += 1
    return _Trees(**out)


# -- geometry helpers ------------------------------------------------------------------------


def _inside(px: Float64Array, py: Float64Array, ring: Float64Array) -> npt.NDArray[np.bool_]:
    """Even-odd point-in-polygon test of points against one ring (local metres)."""
    inside = np.zeros(px.shape, dtype=np.bool_)
    x1, y1 = ring[-1]
    for x2, y2 in ring:
        crosses = (y1 > py) != (y2 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (px < x_at)
        x1, y1 = x2, y2
    return inside


def _distance_to_ring(px: Float64Array, py: Float64Array, ring: Float64Array) -> Float64Array:
    """Distance of points to the edges of a ring (local metres)."""
    best = np.full(px.shape, np.inf)
    x1, y1 = ring[-1]
    for x2, y2 in ring:
        dx, dy = x2 - x1, y2 - y1
        length2 = dx * dx + dy * dy
        t = np.clip(((px - x1) * dx + (py - y1) * dy) / length2, 0.0, 1.0) if length2 else 0.0
        np.minimum(best, np.hypot(px - (x1 + t * dx), py - (y1 + t * dy)), out=best)
        x1, y1 = x2, y2
    return best


# -- one strip ---------------------------------------------------------------------------------


def _scan_pattern(
    rng: np.random.Generator, n: int, x0: float, y0: float, width: float, height: float
) -> tuple[Float64Array, Float64Array]:
    """``n`` points on scan lines across a ``width`` × ``height`` strip, in scan order.

    Lines run along x, alternating direction (a zigzag scanner), spaced like the points on
    them (the same density both ways), with jitter of a third of the spacing.
    """
    spacing = math.sqrt(width * height / n)
    lines = max(1, min(n, round(height / spacing)))
    per_line, extra = divmod(n, lines)
    counts = np.full(lines, per_line, dtype=np.int64)
    counts[:extra] += 1
    line = np.repeat(np.arange(lines), counts)
    starts = np.cumsum(counts) - counts
    slot = np.arange(n) - starts[line]
    fraction = (slot + 0.5 + rng.uniform(-0.33, 0.33, n)) / counts[line]
    fraction = np.where(line % 2 == 1, 1.0 - fraction, fraction)
    x = x0 + np.clip(fraction, 0.0, 1.0 - 1e-9) * width
    y = y0 + (line + 0.5 + rng.uniform(-0.33, 0.33, n)) * (height / lines)
    return x, np.minimum(y, y0 + height - 1e-6)


@dataclass
class _Strip:
    x: Float64Array
    y: Float64Array
    z: Float64Array
    cls: npt.NDArray[np.uint8]
    ret: npt.NDArray[np.uint8]
    nret: npt.NDArray[np.uint8]
    intensity: Float64Array
    rgb: Float64Array
    ground: Float64Array


class _Generator:
    def __init__(self, opts: SyntheticPointCloudOptions) -> None:
        self.opts = opts
        city = opts.city
        self.layout = CityLayout(
            origin=city.origin, tile_size=city.tile_size_m, n_buildings=city.n_buildings
        )
        self.buildings = [_building(plan_city_building(city, i)) for i in range(city.n_buildings)]
        self.trees = _trees(self.layout, self.buildings, city.seed)

    def strips(self) -> Iterator[tuple[int, int, int]]:
        """``(tile, strip, points)`` for every strip, in file order."""
        tiles = self.layout.n_tiles
        per_tile, extra_tile = divmod(self.opts.n_points, tiles)
        for tile in range(tiles):
            n_tile = per_tile + (tile < extra_tile)
            count = max(1, -(-n_tile // STRIP_POINTS))
            base, extra = divmod(n_tile, count)
            for strip in range(count):
                yield tile, strip, base + (strip < extra)

    def strip_count(self, tile: int) -> int:
        per_tile, extra_tile = divmod(self.opts.n_points, self.layout.n_tiles)
        return max(1, -(-(per_tile + (tile < extra_tile)) // STRIP_POINTS))

    def generate(self, tile: int, strip: int, n: int) -> _Strip:
        city, layout = self.opts.city, self.layout
        rng = np.random.default_rng([city.seed, tile, strip, 3])
        e0, n0 = layout.tile_origin(tile)
        height = layout.tile_size / self.strip_count(tile)
        x, y = _scan_pattern(rng, n, e0, n0 + strip * height, layout.tile_size, height)
        ground = terrain_heights(city.seed, city.ground_height, x, y, city.origin)
        s = _Strip(
            x=x,
            y=y,
            z=ground.copy(),
            cls=np.full(n, _CLASS_GROUND, dtype=np.uint8),
            ret=np.ones(n, dtype=np.uint8),
            nret=np.ones(n, dtype=np.uint8),
            intensity=rng.normal(800.0, 220.0, n),
            rgb=np.empty((n, 3)),
            ground=ground,
        )
        cell = layout.cell_size
        col = np.minimum(((x - e0) // cell).astype(np.int64), layout.cells_per_side - 1)
        row = np.minimum(((y - n0) // cell).astype(np.int64), layout.cells_per_side - 1)
        parcel = tile * layout.per_tile + row * layout.cells_per_side + col
        self._ground_colours(s, rng, x - (e0 + col * cell), y - (n0 + row * cell), cell)
        self._trees_at(s, rng, parcel)
        self._buildings_at(s, rng, parcel)
        self._noise(s, rng)
        return s

    def _ground_colours(
        self, s: _Strip, rng: np.random.Generator, u: Float64Array, v: Float64Array, cell: float
    ) -> None:
        street = (np.minimum(u, cell - u) < _STREET_M / 2) | (
            np.minimum(v, cell - v) < _STREET_M / 2
        )
        grass = np.array([88.0, 118.0, 62.0])
        asphalt = np.array([96.0, 96.0, 100.0])
        s.rgb[:] = np.where(street[:, None], asphalt, grass)
        s.rgb += rng.normal(0.0, 5.0, s.rgb.shape)
        s.intensity[street] *= 0.55

    def _trees_at(self, s: _Strip, rng: np.random.Generator, parcel: npt.NDArray[np.int64]) -> None:
        t = self.trees
        dx = s.x[:, None] - t.x[parcel]
        dy = s.y[:, None] - t.y[parcel]
        radius = t.radius[parcel]
        d2 = (dx * dx + dy * dy) / np.where(radius > 0, radius * radius, 1.0)
        hit = (d2 < 1.0) & (radius > 0)
        which = np.argmax(hit, axis=1)
        points = np.flatnonzero(hit.any(axis=1))
        if not points.size:
            return
        k = which[points]
        rel = np.sqrt(d2[points, k])
        top, base = t.top[parcel[points], k], t.base[parcel[points], k]
        canopy = base + (top - base) * np.sqrt(np.clip(1.0 - rel * rel, 0.0, 1.0))
        u = rng.random(points.size)
        first = u < 0.62
        inner = (u >= 0.62) & (u < 0.82)
        last = u >= 0.82
        above = np.where(
            first,
            canopy - np.abs(rng.normal(0.0, 0.25, points.size)),
            rng.uniform(np.minimum(base, canopy), canopy),
        )
        above = np.maximum(above, 0.05)
        s.z[points] = np.where(last, s.ground[points], s.ground[points] + above)
        cls = np.where(
            above >= 2.0, _CLASS_HIGH, np.where(above >= 0.5, _CLASS_MEDIUM, _CLASS_LOW)
        ).astype(np.uint8)
        s.cls[points] = np.where(last, _CLASS_GROUND, cls)
        s.nret[points] = np.where(u < 0.25, 1, np.where(first | last, 2, 3))
        s.ret[points] = np.where(first, 1, np.where(inner, 2, s.nret[points]))
        leaf = np.array([52.0, 96.0, 44.0]) + rng.normal(0.0, 12.0, (points.size, 3))
        s.rgb[points] = np.where(last[:, None], s.rgb[points], leaf)
        s.intensity[points] = np.where(
            last, s.intensity[points] * 0.6, rng.normal(420.0, 140.0, points.size)
        )

    def _buildings_at(
        self, s: _Strip, rng: np.random.Generator, parcel: npt.NDArray[np.int64]
    ) -> None:
        n_buildings = len(self.buildings)
        candidates = np.flatnonzero(parcel < n_buildings)
        if not candidates.size:
            return
        order = candidates[np.argsort(parcel[candidates], kind="stable")]
        ids, starts = np.unique(parcel[order], return_index=True)
        for index, group in zip(ids.tolist(), np.split(order, starts[1:]), strict=True):
            self._building(s, rng, self.buildings[index], group)

    def _building(
        self, s: _Strip, rng: np.random.Generator, b: _Building, points: npt.NDArray[np.int64]
    ) -> None:
        dx, dy = s.x[points] - b.centre[0], s.y[points] - b.centre[1]
        near = dx * dx + dy * dy < (b.radius + _WALL_BAND_M) ** 2
        points, dx, dy = points[near], dx[near], dy[near]
        if not points.size:
            return
        lx, ly = dx * b.cos + dy * b.sin, -dx * b.sin + dy * b.cos
        roof = np.full(points.size, -np.inf)
        wall_top = np.zeros(points.size)
        wall = np.zeros(points.size, dtype=np.bool_)
        for part in b.parts:
            inside = _inside(lx, ly, part.rings[0])
            for hole in part.rings[1:]:
                inside &= ~_inside(lx, ly, hole)
            height = np.clip(
                (
                    part.planes[:, 0] * lx[:, None]
                    + part.planes[:, 1] * ly[:, None]
                    + part.planes[:, 2]
                ).min(axis=1),
                0.0,
                part.top,
            )
            roof = np.where(inside, np.maximum(roof, height), roof)
            distance = np.min([_distance_to_ring(lx, ly, r) for r in part.rings], axis=0)
            band = ~inside & (distance < _WALL_BAND_M)
            wall |= band
            wall_top = np.where(band, np.maximum(wall_top, height), wall_top)
        on_roof = np.isfinite(roof)
        wall &= ~on_roof & (rng.random(points.size) < _WALL_SHARE)
        hits = points[on_roof]
        s.z[hits] = b.ground_z + roof[on_roof] + rng.normal(0.0, 0.03, hits.size)
        s.cls[hits] = _CLASS_BUILDING
        s.ret[hits] = 1
        s.nret[hits] = 1
        s.rgb[hits] = b.colour + rng.normal(0.0, 4.0, (hits.size, 3))
        s.intensity[hits] = rng.normal(b.intensity, 160.0, hits.size)
        facade = points[wall]
        s.z[facade] = b.ground_z + rng.random(facade.size) * wall_top[wall]
        s.cls[facade] = _CLASS_BUILDING
        s.ret[facade] = 1
        s.nret[facade] = 1
        s.rgb[facade] = np.array([205.0, 190.0, 160.0]) + rng.normal(0.0, 8.0, (facade.size, 3))
        s.intensity[facade] = rng.normal(600.0, 120.0, facade.size)

    def _noise(self, s: _Strip, rng: np.random.Generator) -> None:
        n = s.x.size
        noise = np.flatnonzero(rng.random(n) < _NOISE_SHARE)
        if not noise.size:
            return
        birds = rng.random(noise.size) < 0.5
        s.z[noise] = np.where(
            birds,
            s.ground[noise] + rng.uniform(40.0, 120.0, noise.size),
            s.ground[noise] - rng.uniform(1.0, 8.0, noise.size),
        )
        s.cls[noise] = _CLASS_NOISE
        s.ret[noise] = 1
        s.nret[noise] = 1
        s.rgb[noise] = 20.0
        s.intensity[noise] = 40.0


# -- writing -----------------------------------------------------------------------------------


def _geokeys(crs: str) -> list[laspy.VLR]:
    """GeoTIFF key records (LAS 1.2): projected CRS + vertical CRS codes, metres (LAS-1)."""
    resolved = resolve_crs(crs)
    horizontal = resolved.horizontal_code
    if resolved.horizontal is None or horizontal is None or not horizontal.startswith("EPSG:"):
        raise ValueError(f"point format 3 writes GeoTIFF keys and needs an EPSG code, got {crs!r}")
    projected = resolved.horizontal.is_projected
    keys = [
        (1024, 0, 1, 1 if projected else 2),  # GTModelTypeGeoKey
        (1025, 0, 1, 1),  # GTRasterTypeGeoKey: pixel is area
        (3072 if projected else 2048, 0, 1, int(horizontal.split(":")[1])),
    ]
    if projected:
        keys.append((3076, 0, 1, 9001))  # ProjLinearUnitsGeoKey: metre
    vertical = resolved.vertical_code
    if vertical is not None:
        keys += [(4096, 0, 1, int(vertical.split(":")[1])), (4099, 0, 1, 9001)]
    directory = struct.pack("<4H", 1, 1, 0, len(keys)) + b"".join(
        struct.pack("<4H", *key) for key in keys
    )
    return [laspy.VLR("LASF_Projection", 34735, "GeoTIFF GeoKeyDirectoryTag", directory)]


def _header(opts: SyntheticPointCloudOptions, layout: CityLayout) -> laspy.LasHeader:
    version = "1.2" if opts.point_format == 3 else "1.4"
    header = laspy.LasHeader(point_format=opts.point_format, version=version)
    header.scales = np.array([_SCALE, _SCALE, _SCALE])
    e0, n0 = layout.origin
    header.offsets = np.array([e0, n0, 0.0])
    header.system_identifier = "citymodel synthetic"
    header.generating_software = "citymodel synthetic_points"
    if opts.extra_dimension:
        header.add_extra_dim(
            laspy.ExtraBytesParams(
                name="height_above_ground",
                type=np.int16,
                description="metres above the terrain",
                scales=np.array([0.01]),
                offsets=np.array([0.0]),
            )
        )
    if opts.crs is not None:
        if opts.point_format == 3:
            header.vlrs.extend(_geokeys(opts.crs))
        else:
            header.add_crs(pyproj.CRS.from_user_input(resolve_crs(opts.crs).to_crs()))
    return header


def _record(
    s: _Strip,
    header: laspy.LasHeader,
    opts: SyntheticPointCloudOptions,
    first_index: int,
    tile: int,
    strip: int,
    layout: CityLayout,
) -> laspy.ScaleAwarePointRecord:
    n = s.x.size
    record = laspy.ScaleAwarePointRecord.zeros(n, header=header)
    offsets, scales = header.offsets, header.scales
    record.X = np.round((s.x - offsets[0]) / scales[0]).astype(np.int32)
    record.Y = np.round((s.y - offsets[1]) / scales[1]).astype(np.int32)
    record.Z = np.round((s.z - offsets[2]) / scales[2]).astype(np.int32)
    record.classification = s.cls
    record.return_number = s.ret
    record.number_of_returns = s.nret
    record.intensity = np.clip(s.intensity, 0, 65535).astype(np.uint16)
    record.gps_time = _GPS_EPOCH + (first_index + np.arange(n)) / _PULSE_RATE_HZ
    record.point_source_id = np.full(n, tile * 100 + strip // 4 + 1, dtype=np.uint16)
    across = (s.x - layout.tile_origin(tile)[0]) / layout.tile_size - 0.5
    if opts.point_format >= 6:
        record.scan_angle = np.round(across * 40.0 * _ANGLE_UNITS_PER_DEG).astype(np.int16)
    else:
        record.scan_angle_rank = np.round(across * 40.0).astype(np.int8)
    if opts.point_format in (3, 7):
        rgb16 = (np.clip(np.round(s.rgb), 0, 255).astype(np.uint16)) * 257
        record.red, record.green, record.blue = rgb16[:, 0], rgb16[:, 1], rgb16[:, 2]
    if opts.extra_dimension:
        record.height_above_ground = np.clip(s.z - s.ground, -300.0, 300.0)
    return record


def write_point_cloud(
    path: str | os.PathLike[str], options: SyntheticPointCloudOptions | None = None
) -> SyntheticPointCloudSummary:
    """Write a synthetic airborne LiDAR scan of the synthetic city.

    Parameters
    ----------
    path
        ``.laz`` (compressed) or ``.las``. Replaced atomically; the parent folder is created.
    options
        What to generate; defaults to :class:`SyntheticPointCloudOptions` ().

    Returns
    -------
    SyntheticPointCloudSummary
        Count, size, extent and classes of what was written.

    Raises
    ------
    ValueError
        For another suffix, or a CRS point format 3 cannot write as GeoTIFF keys.
    OutputError
        When the file cannot be written.
    """
    opts = options if options is not None else SyntheticPointCloudOptions()
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".las", ".laz"):
        raise ValueError(f"{target}: a point cloud is written as .las or .laz, not {suffix!r}")
    generator = _Generator(opts)
    header = _header(opts, generator.layout)
    classes = np.zeros(256, dtype=np.int64)
    written = 0
    with (
        atomic_output(target) as stream,
        laspy.open(
            stream,
            mode="w",
            header=header,
            do_compress=suffix == ".laz",
            laz_backend=LazBackend.LazrsParallel,
            closefd=False,
        ) as writer,
    ):
        for tile, strip, n in generator.strips():
            points = generator.generate(tile, strip, n)
            writer.write_points(
                _record(points, header, opts, written, tile, strip, generator.layout)
            )
            classes += np.bincount(points.cls, minlength=256)
            written += n
        final = writer.header
    mins, maxs = final.mins, final.maxs
    return SyntheticPointCloudSummary(
        path=target,
        n_points=written,
        bytes=target.stat().st_size,
        extent=(
            float(mins[0]),
            float(mins[1]),
            float(mins[2]),
            float(maxs[0]),
            float(maxs[1]),
            float(maxs[2]),
        ),
        classes={int(c): int(classes[c]) for c in np.flatnonzero(classes)},
    )
