"""Surface geometry in a ragged-array layout (one object per feature and LoD)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from citymodel._typing import Float64Array, IndexArray, UInt8Array

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
    """

    lod: str
    vertices: Float64Array
    ring_offsets: IndexArray
    polygon_offsets: IndexArray
    surface_types: UInt8Array
    solid: bool = False

    def __post_init__(self) -> None:
        for arr in (self.vertices, self.ring_offsets, self.polygon_offsets, self.surface_types):
            arr.flags.writeable = False

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
