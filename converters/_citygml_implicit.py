"""CityGML implicit geometry (``core:ImplicitGeometry``): templates placed in numpy.

An implicit representation places a template geometry (``core:relativeGMLGeometry``, inline or
an ``xlink:href`` to a template defined in another object of the same document) in the world:

    world = M[:3, :3] @ template + M[:3, 3] + referencePoint

with the 4x4 ``core:transformationMatrix`` M (row-major, CityGML 2.0 §10.3.1; identity when
absent) and the ``core:referencePoint`` (source CRS). Template coordinates are local metres;
placing is one matrix product over all vertices of a template. A matrix with a negative
determinant mirrors the template: the rings are reversed so that faces keep pointing out, and
the texture coordinates of the template's appearance are permuted with their vertices. A
projective last row (other than ``0 0 0 1``) divides by the homogeneous coordinate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from citymodel._typing import Float64Array, IndexArray
from citymodel.model import SurfaceGeometry
from citymodel.model.appearance import SurfaceAppearance

__all__ = [
    "Instance",
    "concat_geometries",
    "mirrors",
    "parse_matrix",
    "place",
    "reversed_rings",
    "transform_points",
]

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


def reversed_rings(ring_offsets: IndexArray, count: int) -> IndexArray:
    """Vertex order that reverses every ring in place (``(N,)`` index array)."""
    starts = ring_offsets[:-1]
    sizes = np.diff(ring_offsets)
    position = np.arange(count, dtype=np.int64) - np.repeat(starts, sizes)
    order: IndexArray = np.repeat(starts + sizes - 1, sizes) - position
    return order


def transform_points(
    vertices: Float64Array, matrix: Float64Array, reference: Float64Array
) -> Float64Array:
    """``(N, 3)`` template ``vertices`` (local metres) under the 4x4 ``matrix``, plus ``reference``.

    A projective last row (other than ``0 0 0 1``) divides by the homogeneous coordinate.
    """
    placed = vertices @ matrix[:3, :3].T + matrix[:3, 3]
    if not np.array_equal(matrix[3], _IDENTITY_ROW):
        w = vertices @ matrix[3, :3] + matrix[3, 3]
        with np.errstate(divide="ignore", invalid="ignore"):
            placed = placed / w[:, None]
    out: Float64Array = placed + reference
    return out


def mirrors(matrix: Float64Array) -> bool:
    """Whether ``matrix`` mirrors (negative determinant of its 3x3 part): rings get reversed."""
    return bool(np.linalg.det(matrix[:3, :3]) < 0)


def place(
    template: SurfaceGeometry, matrix: Float64Array, reference: Float64Array, *, lod: str
) -> SurfaceGeometry:
    """``template`` transformed by ``matrix`` and moved to ``reference`` (source CRS metres).

    The template's appearance (every theme) comes along: texture coordinates stay with their
    vertices, also when a mirroring matrix reverses the rings.
    """
    placed = transform_points(template.vertices, matrix, reference)
    ring_offsets = template.ring_offsets
    appearance = template.appearance
    themes = template.themes
    if mirrors(matrix):  # faces keep pointing out
        order = reversed_rings(ring_offsets, placed.shape[0])
        placed = placed[order]
        reordered = {id(a): a.reordered(order) for a in (appearance, *themes) if a is not None}
        appearance = None if appearance is None else reordered[id(appearance)]
        themes = tuple(reordered[id(a)] for a in themes)
    return SurfaceGeometry(
        lod=lod,
        vertices=np.ascontiguousarray(placed),
        ring_offsets=ring_offsets,
        polygon_offsets=template.polygon_offsets,
        surface_types=template.surface_types,
        solid=template.solid,
        triangulated=template.triangulated,
        appearance=appearance,
        themes=themes,
    )


def concat_geometries(geometries: list[SurfaceGeometry], *, lod: str) -> SurfaceGeometry:
    """The polygons of several geometries of one LoD as one geometry (never a solid).

    Appearances are concatenated per theme (:meth:`SurfaceAppearance.concat`): the rendered
    one from each geometry's :attr:`~SurfaceGeometry.appearance`, every theme of any geometry
    in :attr:`~SurfaceGeometry.themes`.
    """
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
    appearance, themes = _concat_appearances(geometries)
    return SurfaceGeometry(
        lod=lod,
        vertices=np.concatenate([g.vertices for g in geometries]),
        ring_offsets=np.concatenate(rings),
        polygon_offsets=np.concatenate(polys),
        surface_types=np.concatenate([g.surface_types for g in geometries]),
        triangulated=all(g.triangulated for g in geometries),
        appearance=appearance,
        themes=themes,
    )


def _concat_appearances(
    geometries: list[SurfaceGeometry],
) -> tuple[SurfaceAppearance | None, tuple[SurfaceAppearance, ...]]:
    """Rendered appearance and all themes of the concatenation of ``geometries``."""
    rendered_parts = [(g.appearance, g.vertex_count, g.polygon_count) for g in geometries]
    rendered_theme = next((g.appearance.theme for g in geometries if g.appearance), "")
    rendered = SurfaceAppearance.concat(rendered_parts, theme=rendered_theme)
    names = list(dict.fromkeys(a.theme for g in geometries for a in g.appearances))
    if not names or (len(names) == 1 and rendered is not None):
        return rendered, ()
    themes: list[SurfaceAppearance] = []
    for name in names:
        parts = [
            (
                next((a for a in g.appearances if a.theme == name), None),
                g.vertex_count,
                g.polygon_count,
            )
            for g in geometries
        ]
        merged = SurfaceAppearance.concat(parts, theme=name)
        if merged is not None:
            themes.append(merged)
    return rendered, tuple(themes)
