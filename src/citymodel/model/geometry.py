"""Surface geometry in a ragged-array layout (one object per feature and LoD)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from citymodel._typing import Float64Array, IndexArray, UInt8Array
from citymodel.model.appearance import SurfaceAppearance

__all__ = ["SurfaceGeometry"]


@dataclass(frozen=True, slots=True)
class SurfaceGeometry:
    """Polygons with holes of one feature at one level of detail.

    Coordinates are float64 metres in the dataset's source CRS (easting, northing, height for
    projected CRSs; axis order always x/east first). Rings are stored **without** the closing
    point that repeats the first one.

    Attributes
    ----------
    lod
        Level of detail as a string (``"1"``, ``"2"``, ``"2.2"``).
    vertices
        ``(N, 3)`` float64 ring vertices, all rings concatenated.
    ring_offsets
        ``(R + 1,)`` int64: ring ``r`` is ``vertices[ring_offsets[r]:ring_offsets[r + 1]]``.
    polygon_offsets
        ``(P + 1,)`` int64: polygon ``p`` consists of rings
        ``polygon_offsets[p]:polygon_offsets[p + 1]``; the first is the exterior, the rest holes.
    surface_types
        ``(P,)`` uint8 :class:`~citymodel.model.semantics.SurfaceType` code per polygon.
    solid
        True when the polygons form a closed shell (lets meshing check orientation by volume).
    triangulated
        True when every polygon is a triangle: one ring of three vertices, counter-clockwise
        seen from outside (e.g. meshes tessellated by a BIM kernel). Meshing takes such
        triangles as they are, without merging close vertices or dropping small ones.
    appearance
        Materials, textures and texture coordinates of the chosen theme (the one meshing and
        tiling render); None when no polygon has any (:mod:`citymodel.model.appearance`).
    themes
        The appearance of every theme of the geometry as read (interchange writers keep them
        all); empty when :attr:`appearance` is the only one. :attr:`appearances` gives both.
    """

    lod: str
    vertices: Float64Array
    ring_offsets: IndexArray
    polygon_offsets: IndexArray
    surface_types: UInt8Array
    solid: bool = False
    triangulated: bool = False
    appearance: SurfaceAppearance | None = None
    themes: tuple[SurfaceAppearance, ...] = ()

    @property
    def appearances(self) -> tuple[SurfaceAppearance, ...]:
        """Every theme's appearance: :attr:`themes`, else :attr:`appearance` alone (or none)."""
        if self.themes:
            return self.themes
        return () if self.appearance is None else (self.appearance,)

    def __post_init__(self) -> None:
        for arr in (self.vertices, self.ring_offsets, self.polygon_offsets, self.surface_types):
            arr.flags.writeable = False
        if self.triangulated:
            polygons = self.polygon_offsets.shape[0] - 1
            if not (
                np.array_equal(self.polygon_offsets, np.arange(polygons + 1))
                and np.array_equal(self.ring_offsets, np.arange(0, 3 * polygons + 1, 3))
            ):
                raise ValueError("a triangulated geometry needs one ring of 3 vertices per polygon")

    @classmethod
    def from_triangles(
        cls,
        corners: Float64Array,
        surface_types: UInt8Array,
        *,
        lod: str,
    ) -> SurfaceGeometry:
        """A triangulated geometry from ``(3T, 3)`` float64 triangle corners (3 rows per triangle).

        ``surface_types`` has one code per triangle. Triangles are taken counter-clockwise seen
        from outside.
        """
        triangles = corners.shape[0] // 3
        if corners.shape != (3 * triangles, 3) or surface_types.shape != (triangles,):
            raise ValueError(
                f"expected (3T, 3) corners and (T,) surface types, got {corners.shape} and "
                f"{surface_types.shape}"
            )
        return cls(
            lod=lod,
            vertices=np.ascontiguousarray(corners, dtype=np.float64),
            ring_offsets=np.arange(0, 3 * triangles + 1, 3, dtype=np.int64),
            polygon_offsets=np.arange(triangles + 1, dtype=np.int64),
            surface_types=np.ascontiguousarray(surface_types, dtype=np.uint8),
            triangulated=True,
        )

    @property
    def polygon_count(self) -> int:
        """Number of polygons."""
        return int(self.polygon_offsets.shape[0] - 1)

    @property
    def vertex_count(self) -> int:
        """Number of ring vertices (closing points not counted)."""
        return int(self.vertices.shape[0])

    @classmethod
    def from_polygons(
        cls,
        polygons: list[list[Float64Array]],
        surface_types: list[int],
        *,
        lod: str,
        solid: bool = False,
    ) -> SurfaceGeometry:
        """Build from a list of polygons, each a list of ``(n, 3)`` rings (exterior first).

        Rings must already be open (no repeated closing point).
        """
        rings = [ring for poly in polygons for ring in poly]
        ring_sizes = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
        ring_offsets = np.zeros(len(rings) + 1, dtype=np.int64)
        np.cumsum(ring_sizes, out=ring_offsets[1:])
        poly_sizes = np.fromiter((len(p) for p in polygons), dtype=np.int64, count=len(polygons))
        polygon_offsets = np.zeros(len(polygons) + 1, dtype=np.int64)
        np.cumsum(poly_sizes, out=polygon_offsets[1:])
        vertices = (
            np.concatenate(rings).astype(np.float64, copy=False).reshape(-1, 3)
            if rings
            else np.zeros((0, 3), dtype=np.float64)
        )
        return cls(
            lod=lod,
            vertices=vertices,
            ring_offsets=ring_offsets,
            polygon_offsets=polygon_offsets,
            surface_types=np.asarray(surface_types, dtype=np.uint8),
            solid=solid,
        )
