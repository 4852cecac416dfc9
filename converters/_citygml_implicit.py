"""CityGML implicit geometry (``core:ImplicitGeometry``): templates placed in numpy.

An implicit representation places a template geometry (``core:relativeGMLGeometry``, inline or
an ``xlink:href`` to a template defined in another object of the same document) in the world:

    world = M[:3, :3] @ template + M[:3, 3] + referencePoint

with the 4x4 ``core:transformationMatrix`` M (row-major, CityGML 2.0 §10.3.1; identity when
absent) and the ``core:referencePoint`` (source CRS). Template coordinates are local metres;
placing is one matrix product over all vertices of a template. A matrix with a negative
determinant mirrors the template: the rings are reversed so that faces keep pointing out. A
projective last row (other than ``0 0 0 1``) divides by the homogeneous coordinate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from citymodel._typing import Float64Array, IndexArray
from citymodel.model import SurfaceGeometry

__all__ = ["Instance", "concat_geometries", "parse_matrix", "place"]

_IDENTITY_ROW = np.array([0.0, 0.0, 0.0, 1.0])


@dataclass(frozen=True, slots=True)
class Instance:
    """One implicit representation of an object at one LoD, waiting for its template.

    Attributes
    ----------
    lod
        Level of detail of the representation (``"2"``).
    key
        Template id (the gml:id of the ``relativeGMLGeometry`` geometry).
    matrix
        ``(4, 4)`` float64 transformation matrix.
    reference
        ``(3,)`` float64 reference point, source CRS (x/y as the reader returns them).
    surface
        :class:`~citymodel.model.SurfaceType` code given to template polygons without one.
    """

    lod: str
    key: str
    matrix: Float64Array
    reference: Float64Array
    surface: int


def parse_matrix(text: str | None) -> Float64Array | str:
    """A ``core:transformationMatrix`` (16 numbers, row-major) as ``(4, 4)`` float64.

    None (no matrix) gives the identity; a problem gives its description instead.
    """
    if text is None:
        return np.eye(4)
    try:
        values: Float64Array = np.array(text.split(), dtype=np.float64)
    except ValueError:
        return f"transformationMatrix {text.strip()[:60]!r} is not 16 numbers"
    if values.shape != (16,) or not np.all(np.isfinite(values)):
        return f"transformationMatrix has {values.shape[0]} values (16 finite numbers expected)"
    matrix: Float64Array = values.reshape(4, 4)
    return matrix


def _reversed_rings(ring_offsets: IndexArray, count: int) -> IndexArray:
    """Vertex order that reverses every ring in place (``(N,)`` index array)."""
    starts = ring_offsets[:-1]
    sizes = np.diff(ring_offsets)
    position = np.arange(count, dtype=np.int64) - np.repeat(starts, sizes)
    order: IndexArray = np.repeat(starts + sizes - 1, sizes) - position
    return order


def place(
    template: SurfaceGeometry, matrix: Float64Array, reference: Float64Array, *, lod: str
) -> SurfaceGeometry:
    """``template`` transformed by ``matrix`` and moved to ``reference`` (source CRS metres)."""
    verts = template.vertices
    placed = verts @ matrix[:3, :3].T + matrix[:3, 3]
    if not np.array_equal(matrix[3], _IDENTITY_ROW):
        w = verts @ matrix[3, :3] + matrix[3, 3]
        with np.errstate(divide="ignore", invalid="ignore"):
            placed = placed / w[:, None]
    placed += reference
    ring_offsets = template.ring_offsets
    if np.linalg.det(matrix[:3, :3]) < 0:  # mirrored: faces keep pointing out
        placed = placed[_reversed_rings(ring_offsets, placed.shape[0])]
    return SurfaceGeometry(
        lod=lod,
        vertices=np.ascontiguousarray(placed),
        ring_offsets=ring_offsets,
        polygon_offsets=template.polygon_offsets,
        surface_types=template.surface_types,
        solid=template.solid,
        triangulated=template.triangulated,
    )


def concat_geometries(geometries: list[SurfaceGeometry], *, lod: str) -> SurfaceGeometry:
    """The polygons of several geometries of one LoD as one geometry (never a solid)."""
    if len(geometries) == 1:
        return geometries[0]
    vertex_base = 0
    ring_base = 0
    rings: list[IndexArray] = [np.zeros(1, dtype=np.int64)]
    polys: list[IndexArray] = [np.zeros(1, dtype=np.int64)]
    for g in geometries:
        rings.append(g.ring_offsets[1:] + vertex_base)
        polys.append(g.polygon_offsets[1:] + ring_base)
        vertex_base += g.vertex_count
        ring_base += g.ring_offsets.shape[0] - 1
    return SurfaceGeometry(
        lod=lod,
        vertices=np.concatenate([g.vertices for g in geometries]),
        ring_offsets=np.concatenate(rings),
        polygon_offsets=np.concatenate(polys),
        surface_types=np.concatenate([g.surface_types for g in geometries]),
        triangulated=all(g.triangulated for g in geometries),
    )
