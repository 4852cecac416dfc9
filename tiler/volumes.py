"""Bounding volumes of 3D Tiles tiles: geographic regions and oriented boxes (correctness.md T3D-3).

- :class:`Region` — ``[west, south, east, north, minHeight, maxHeight]``: longitudes and
  latitudes in radians (WGS 84 geodetic), heights in metres above the WGS 84 *ellipsoid*
  (never normal heights: a region built from DHHN heights sits ~40 m too low and the official
  validator does not notice). Regions are absolute: tile transforms do not apply to them.
- :class:`OrientedBox` — centre and three half-axis vectors in the tile's (transformed) local
  frame, metres. Boxes built here are axis-aligned in that frame; for tiles written in an ENU
  frame (T3D-2) this is the tight ENU-aligned box.

Builders pad every side by :data:`PADDING` (1 cm) so float32 rounding of the written vertices
(< 1 mm in a local frame) and the ECEF <-> geodetic round trip never put content outside its
volume. Containment helpers return per-point "metres outside" values so callers can both test
(``<= tol``) and report how far content sticks out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from citymodel._typing import BoolArray, Float64Array
from citymodel.crs import ecef_to_geodetic

__all__ = [
    "PADDING",
    "BoundingVolume",
    "OrientedBox",
    "Region",
    "bounding_volume_json",
    "box_contains",
    "box_excess",
    "region_contains",
    "region_excess",
    "union_all",
]

PADDING = 0.01
"""Metres added on every side of a computed volume."""

_MIN_RADIUS = 6_335_439.0
"""Smallest radius of curvature of the WGS 84 ellipsoid (meridian at the equator), metres:
dividing a length by it gives an angle at least as large as the true one."""
_MEAN_RADIUS = 6_371_008.8
"""Mean Earth radius, metres: converts angular excess to approximate metres for reports."""
_MIN_COS_LAT = 1e-6


def _points(points: npt.ArrayLike, name: str) -> Float64Array:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {p.shape}")
    return p


def _geodetic_radians(ecef_points: Float64Array) -> tuple[Float64Array, Float64Array, Float64Array]:
    """Longitude, latitude (radians) and ellipsoidal height (metres) of ECEF points."""
    geo = np.asarray(ecef_to_geodetic(ecef_points), dtype=np.float64)
    return np.radians(geo[:, 0]), np.radians(geo[:, 1]), geo[:, 2]


@dataclass(frozen=True, slots=True)
class Region:
    """A geographic bounding region (3D Tiles ``boundingVolume.region``).

    Attributes
    ----------
    west, south, east, north
        WGS 84 geodetic longitude / latitude bounds, radians; ``west <= east`` (regions
        crossing the antimeridian are not produced).
    min_height, max_height
        Heights above the WGS 84 ellipsoid, metres.

    Raises
    ------
    ValueError
        For non-finite values, inverted bounds or latitudes beyond the poles.
    """

    west: float
    south: float
    east: float
    north: float
    min_height: float
    max_height: float

    def __post_init__(self) -> None:
        values = self.to_json()
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"region bounds must be finite, got {values}")
        if not (self.west <= self.east and self.south <= self.north):
            raise ValueError(f"region bounds are inverted: {values}")
        if self.min_height > self.max_height:
            raise ValueError(f"region heights are inverted: {self.min_height} > {self.max_height}")
        if not (-math.pi <= self.west and self.east <= math.pi):
            raise ValueError(f"region longitudes must lie in [-pi, pi], got {values}")
        if not (-math.pi / 2 <= self.south and self.north <= math.pi / 2):
            raise ValueError(f"region latitudes must lie in [-pi/2, pi/2], got {values}")

    @classmethod
    def from_ecef(cls, ecef_points: npt.ArrayLike, *, padding: float = PADDING) -> Region:
        """The region of ECEF points (EPSG:4978, metres), padded by ``padding`` metres per side.

        Raises
        ------
        ValueError
            For no points, non-finite points or points spanning the antimeridian.
        """
        p = _points(ecef_points, "ecef_points")
        if p.shape[0] == 0 or not np.isfinite(p).all():
            raise ValueError("a region needs at least one finite point")
        lon, lat, h = _geodetic_radians(p)
        west, east = float(lon.min()), float(lon.max())
        if east - west > math.pi:
            raise ValueError("points span the antimeridian; regions across it are not supported")
        return cls.from_bounds(
            west,
            float(lat.min()),
            east,
            float(lat.max()),
            float(h.min()),
            float(h.max()),
            padding=padding,
        )

    @classmethod
    def from_bounds(
        cls,
        west: float,
        south: float,
        east: float,
        north: float,
        min_height: float,
        max_height: float,
        *,
        padding: float = PADDING,
    ) -> Region:
        """A region from bounds (radians, ellipsoidal metres) grown by ``padding`` metres per side.

        The angular padding is computed with the smallest radius of curvature of the ellipsoid,
        so it is never less than ``padding`` metres on the ground.
        """
        dlat = padding / _MIN_RADIUS
        cos_lat = max(math.cos(max(abs(south), abs(north)) + dlat), _MIN_COS_LAT)
        dlon = padding / (_MIN_RADIUS * cos_lat)
        return cls(
            west=max(west - dlon, -math.pi),
            south=max(south - dlat, -math.pi / 2),
            east=min(east + dlon, math.pi),
            north=min(north + dlat, math.pi / 2),
            min_height=min_height - padding,
            max_height=max_height + padding,
        )

    def union(self, *others: Region) -> Region:
        """The smallest region containing this one and ``others`` (no extra padding)."""
        regions = (self, *others)
        return Region(
            west=min(r.west for r in regions),
            south=min(r.south for r in regions),
            east=max(r.east for r in regions),
            north=max(r.north for r in regions),
            min_height=min(r.min_height for r in regions),
            max_height=max(r.max_height for r in regions),
        )

    def to_json(self) -> list[float]:
        """``[west, south, east, north, minHeight, maxHeight]`` for ``boundingVolume.region``."""
        return [self.west, self.south, self.east, self.north, self.min_height, self.max_height]

    @classmethod
    def from_json(cls, values: Sequence[float]) -> Region:
        """Parse a ``boundingVolume.region`` array."""
        if len(values) != 6:
            raise ValueError(f"a region has 6 numbers, got {len(values)}")
        return cls(*(float(v) for v in values))


@dataclass(frozen=True, slots=True)
class OrientedBox:
    """An oriented bounding box (3D Tiles ``boundingVolume.box``) in a tile's local frame.

    Attributes
    ----------
    center
        Box centre, metres, in the tile's local frame (after ``tile.transform`` chains).
    half_axes
        Three half-axis vectors (direction and half-length), metres, same frame.
    """

    center: tuple[float, float, float]
    half_axes: tuple[tuple[float, float, float], ...]

    def __post_init__(self) -> None:
        values = self.to_json()
        if len(values) != 12 or len(self.half_axes) != 3:
            raise ValueError("a box needs a 3-vector centre and three 3-vector half axes")
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"box values must be finite, got {self.to_json()}")

    @classmethod
    def from_points(cls, local_points: npt.ArrayLike, *, padding: float = PADDING) -> OrientedBox:
        """The frame-aligned box around local points (metres), grown by ``padding`` per side.

        Raises
        ------
        ValueError
            For no points or non-finite points.
        """
        p = _points(local_points, "local_points")
        if p.shape[0] == 0 or not np.isfinite(p).all():
            raise ValueError("a box needs at least one finite point")
        return cls.from_min_max(p.min(axis=0), p.max(axis=0), padding=padding)

    @classmethod
    def from_min_max(
        cls, minimum: npt.ArrayLike, maximum: npt.ArrayLike, *, padding: float = 0.0
    ) -> OrientedBox:
        """The frame-aligned box between two corners (metres), grown by ``padding`` per side."""
        lo = np.asarray(minimum, dtype=np.float64)
        hi = np.asarray(maximum, dtype=np.float64)
        if lo.shape != (3,) or hi.shape != (3,) or (hi < lo).any():
            raise ValueError(f"invalid box corners {lo} / {hi}")
        center = (lo + hi) / 2.0
        half = (hi - lo) / 2.0 + padding
        c0, c1, c2 = (float(v) for v in center)
        h0, h1, h2 = (float(v) for v in half)
        return cls(center=(c0, c1, c2), half_axes=((h0, 0.0, 0.0), (0.0, h1, 0.0), (0.0, 0.0, h2)))

    @property
    def center_array(self) -> Float64Array:
        """Centre as a (3,) float64 array."""
        return np.asarray(self.center, dtype=np.float64)

    @property
    def axes_array(self) -> Float64Array:
        """Half axes as a (3, 3) float64 array, one axis per row."""
        return np.asarray(self.half_axes, dtype=np.float64)

    def corners(self) -> Float64Array:
        """The 8 corners, (8, 3) float64, metres in the box frame."""
        signs = np.array([[i & 1, (i >> 1) & 1, (i >> 2) & 1] for i in range(8)], dtype=np.float64)
        signs = signs * 2.0 - 1.0
        out: Float64Array = self.center_array + signs @ self.axes_array
        return out

    def union(self, *others: OrientedBox) -> OrientedBox:
        """The frame-aligned box around this box and ``others`` (all in the same frame)."""
        corners = np.concatenate([b.corners() for b in (self, *others)])
        return OrientedBox.from_min_max(corners.min(axis=0), corners.max(axis=0))

    def to_json(self) -> list[float]:
        """The 12 numbers of ``boundingVolume.box``: centre, then the x, y, z half axes."""
        return [*self.center, *(v for axis in self.half_axes for v in axis)]

    @classmethod
    def from_json(cls, values: Sequence[float]) -> OrientedBox:
        """Parse a ``boundingVolume.box`` array."""
        if len(values) != 12:
            raise ValueError(f"a box has 12 numbers, got {len(values)}")
        v = [float(x) for x in values]
        return cls(
            center=(v[0], v[1], v[2]),
            half_axes=((v[3], v[4], v[5]), (v[6], v[7], v[8]), (v[9], v[10], v[11])),
        )


BoundingVolume: TypeAlias = Region | OrientedBox
"""The bounding volumes the tiler writes (spheres are not used: implicit tiling forbids them)."""


def bounding_volume_json(volume: BoundingVolume) -> dict[str, list[float]]:
    """The ``boundingVolume`` object of a volume: ``{"region": [...]}`` or ``{"box": [...]}``."""
    if isinstance(volume, Region):
        return {"region": volume.to_json()}
    return {"box": volume.to_json()}


def region_excess(region: Region, ecef_points: npt.ArrayLike) -> Float64Array:
    """How far each ECEF point (EPSG:4978, metres) lies outside ``region``, approximate metres.

    Values ``<= 0`` are inside. Angular excess is converted with the mean Earth radius (and the
    cosine of the latitude for longitudes), which is accurate to < 1 % — enough for tolerances
    and reports.
    """
    p = _points(ecef_points, "ecef_points")
    if p.shape[0] == 0:
        return np.zeros(0, dtype=np.float64)
    lon, lat, h = _geodetic_radians(p)
    cos_lat = np.maximum(np.cos(lat), _MIN_COS_LAT)
    ex_lon = np.maximum(region.west - lon, lon - region.east) * _MEAN_RADIUS * cos_lat
    ex_lat = np.maximum(region.south - lat, lat - region.north) * _MEAN_RADIUS
    ex_h = np.maximum(region.min_height - h, h - region.max_height)
    out: Float64Array = np.maximum(np.maximum(ex_lon, ex_lat), ex_h)
    return out


def region_contains(region: Region, ecef_points: npt.ArrayLike, tol: float = 0.0) -> BoolArray:
    """Per point: True where the ECEF point lies inside ``region`` grown by ``tol`` metres (T3D-3)."""
    out: BoolArray = region_excess(region, ecef_points) <= tol
    return out


def box_excess(box: OrientedBox, local_points: npt.ArrayLike) -> Float64Array:
    """How far each point (metres, box frame) lies outside ``box`` along its axes, metres.

    Values ``<= 0`` are inside. For each axis ``a_i`` the excess is
    ``|dot(p - c, a_i)| / |a_i| - |a_i|``; a degenerate (zero) axis only admits 0 offset.
    """
    p = _points(local_points, "local_points")
    if p.shape[0] == 0:
        return np.zeros(0, dtype=np.float64)
    axes = box.axes_array
    lengths = np.linalg.norm(axes, axis=1)
    safe = np.where(lengths > 0.0, lengths, 1.0)
    units = axes / safe[:, None]
    offsets = np.abs((p - box.center_array) @ units.T)
    # A zero-length axis has no direction: measure the full offset orthogonal to the others.
    if (lengths == 0.0).any():
        residual = (p - box.center_array) - ((p - box.center_array) @ units.T) @ units
        offsets[:, lengths == 0.0] = np.linalg.norm(residual, axis=1)[:, None]
    out: Float64Array = (offsets - lengths).max(axis=1)
    return out


def box_contains(box: OrientedBox, local_points: npt.ArrayLike, tol: float = 0.0) -> BoolArray:
    """Per point: True where the point (metres, box frame) lies inside ``box`` grown by ``tol`` m (T3D-3)."""
    out: BoolArray = box_excess(box, local_points) <= tol
    return out


def union_all(volumes: Iterable[BoundingVolume]) -> BoundingVolume:
    """Union of volumes of one kind (all regions, or all boxes in one frame).

    Raises
    ------
    ValueError
        For no volumes or a mix of regions and boxes.
    """
    items = list(volumes)
    if not items:
        raise ValueError("union of no volumes")
    first = items[0]
    if isinstance(first, Region):
        if not all(isinstance(v, Region) for v in items):
            raise ValueError("cannot unite regions and boxes")
        return first.union(*(v for v in items[1:] if isinstance(v, Region)))
    if not all(isinstance(v, OrientedBox) for v in items):
        raise ValueError("cannot unite regions and boxes")
    return first.union(*(v for v in items[1:] if isinstance(v, OrientedBox)))
