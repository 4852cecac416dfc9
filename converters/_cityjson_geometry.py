"""CityJSON geometry: vertex decoding (``transform``), boundaries, semantics, templates.

All coordinates returned are float64 in the dataset's CRS and units (metres for projected
CRSs): integer vertices are decoded with ``transform`` (``v * scale + translate``) in one numpy
operation per vertex list. Boundaries are flattened into the ragged layout of
:class:`~citymodel.model.SurfaceGeometry`: the ring index lists are gathered with one
``np.fromiter`` per geometry and the coordinates with one fancy-indexing call.

Geometry types: ``MultiSurface``/``CompositeSurface`` (depth 1), ``Solid`` (depth 2, shells),
``MultiSolid``/``CompositeSolid`` (depth 3) and ``GeometryInstance`` (a template placed with
its 4x4 ``transformationMatrix`` at a reference vertex). ``MultiPoint``/``MultiLineString`` have
no surfaces and are reported as skipped for meshing by the caller.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any, Final

import numpy as np

from citymodel._typing import Float64Array, IndexArray, UInt8Array
from citymodel.converters._citygml_implicit import mirrors, reversed_rings, transform_points
from citymodel.converters._cityjson_appearance import (
    AppearanceProblem,
    DocumentLook,
    PartLook,
    decode_look,
    merge_looks,
)
from citymodel.model import SurfaceGeometry, surface_type_from_name

__all__ = [
    "NON_SURFACE_TYPES",
    "GeometryProblem",
    "Part",
    "Transform",
    "decode_geometry",
    "decode_vertices",
    "lod_text",
    "merge_parts",
    "parse_transform",
]

SURFACE_DEPTH: Final[Mapping[str, int]] = {
    "MultiSurface": 1,
    "CompositeSurface": 1,
    "Solid": 2,
    "MultiSolid": 3,
    "CompositeSolid": 3,
}
"""Nesting levels above a surface (``[ring, ...]``) in ``boundaries``, per geometry type."""

SOLID_TYPES: Final = frozenset({"Solid", "MultiSolid", "CompositeSolid"})
NON_SURFACE_TYPES: Final = frozenset({"MultiPoint", "MultiLineString"})

_I64_LIMIT: Final = float(2**63)


class GeometryProblem(ValueError):
    """A geometry (or vertex list) that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Transform:
    """CityJSON ``transform``: real coordinate = integer vertex * scale + translate."""

    scale: tuple[float, float, float]
    translate: tuple[float, float, float]


def _three_finite(value: object, what: str) -> tuple[float, float, float]:
    if not isinstance(value, list) or len(value) != 3:
        raise GeometryProblem(f"{what} must be a list of 3 numbers, got {value!r:.60}")
    try:
        out = tuple(float(v) for v in value)
    except OverflowError:
        raise GeometryProblem(f"{what} {value!r:.60} lies outside the float64 range") from None
    except (TypeError, ValueError):
        raise GeometryProblem(f"{what} must hold numbers, got {value!r:.60}") from None
    if not all(math.isfinite(v) for v in out):
        raise GeometryProblem(f"{what} {value!r:.60} is not finite (outside the float64 range)")
    return out[0], out[1], out[2]


def parse_transform(value: object) -> Transform | None:
    """Parse a ``transform`` member (None when absent).

    Raises
    ------
    GeometryProblem
        When scale/translate are not three finite numbers or a scale is zero.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise GeometryProblem(f'"transform" must be an object, got {type(value).__name__}')
    scale = _three_finite(value.get("scale"), "transform.scale")
    translate = _three_finite(value.get("translate"), "transform.translate")
    if 0.0 in scale:
        raise GeometryProblem(f"transform.scale {list(scale)} has a zero factor")
    return Transform(scale=scale, translate=translate)


def decode_vertices(
    raw: object, transform: Transform | None, *, what: str = "vertices"
) -> Float64Array:
    """Decode a CityJSON vertex list into ``(N, 3)`` float64 coordinates (dataset CRS).

    With ``transform`` the vertices must be integers within the signed 64-bit range; they are
    scaled and translated in one vectorised operation. Without it they are taken as they are.

    Raises
    ------
    GeometryProblem
        Not a list of ``[x, y, z]`` numbers, non-finite values, integers beyond 64 bits.
    """
    if not isinstance(raw, list):
        raise GeometryProblem(f'"{what}" must be a list, got {type(raw).__name__}')
    if not raw:
        return np.zeros((0, 3), dtype=np.float64)
    try:
        arr = np.array(raw, dtype=np.float64)
    except OverflowError:
        raise GeometryProblem(f'"{what}" holds a number outside the float64 range') from None
    except (TypeError, ValueError):
        raise GeometryProblem(f'"{what}" must be a list of [x, y, z] numbers') from None
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise GeometryProblem(
            f'"{what}" must be a list of [x, y, z] numbers (got shape {arr.shape})'
        )
    if not np.isfinite(arr).all():
        raise GeometryProblem(f'"{what}" holds non-finite numbers')
    if transform is None:
        return arr
    too_big = np.abs(arr) >= _I64_LIMIT
    if too_big.any():
        row = int(np.argmax(too_big.any(axis=1)))
        raise GeometryProblem(
            f'"{what}"[{row}] = {raw[row]!r:.80} holds an integer outside the 64-bit range'
        )
    arr *= np.asarray(transform.scale)
    arr += np.asarray(transform.translate)
    if not np.isfinite(arr).all():
        raise GeometryProblem(f'"{what}" decoded with "transform" are not finite')
    return arr


def lod_text(value: object) -> str | None:
    """The LoD as a string (``"2"``, ``"2.2"``); CityJSON 1.0 writes numbers. None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            float(text)
        except ValueError:
            return None
        return text
    return None


@dataclass(frozen=True, slots=True)
class Part:
    """One decoded geometry in ragged form (before merging the parts of one LoD)."""

    lod: str
    vertices: Float64Array
    ring_sizes: IndexArray
    polygon_rings: IndexArray
    surface_types: UInt8Array
    solid: bool
    look: PartLook | None = None
    look_problem: str | None = None
    """Why the appearance of the geometry was left out (reported by the caller)."""

    def placed(self, matrix: Float64Array, reference: Float64Array) -> Part:
        """Place a template geometry: vertices times the 4x4 ``matrix``, moved to ``reference``.

        A mirroring matrix reverses the rings (faces keep pointing out) and the texture
        coordinates of the template's look with them.
        """
        verts = transform_points(self.vertices, matrix, reference)
        look = self.look
        if mirrors(matrix):
            offsets = np.zeros(len(self.ring_sizes) + 1, dtype=np.int64)
            np.cumsum(self.ring_sizes, out=offsets[1:])
            order = reversed_rings(offsets, len(verts))
            verts = verts[order]
            look = None if look is None else look.reordered(order)
        return replace(self, vertices=verts, look=look)


def _surfaces(boundaries: object, values: object, depth: int) -> list[tuple[object, object]]:
    """Flatten ``boundaries`` to ``(surface, semantic value)`` pairs, ``depth`` levels deep."""
    if not isinstance(boundaries, list):
        raise GeometryProblem(f"boundaries must be nested lists, found {type(boundaries).__name__}")
    vals = values if isinstance(values, list) else None
    if depth == 1:
        return [
            (surface, vals[i] if vals is not None and i < len(vals) else None)
            for i, surface in enumerate(boundaries)
        ]
    out: list[tuple[object, object]] = []
    for i, member in enumerate(boundaries):
        out.extend(
            _surfaces(member, vals[i] if vals is not None and i < len(vals) else None, depth - 1)
        )
    return out


def _semantic_codes(semantics: object) -> list[int]:
    if not isinstance(semantics, dict):
        return []
    surfaces = semantics.get("surfaces")
    if not isinstance(surfaces, list):
        return []
    return [
        int(surface_type_from_name(s.get("type", "")))
        if isinstance(s, dict) and isinstance(s.get("type"), str)
        else 0
        for s in surfaces
    ]


def decode_geometry(
    geom: Mapping[str, Any], vertices: Float64Array, look: DocumentLook | None = None
) -> Part:
    """Decode one surface geometry (not a GeometryInstance) against ``vertices``.

    Semantic surface types come from ``semantics`` (unknown names and surfaces without a
    semantic object: :attr:`SurfaceType.UNKNOWN`). A ring repeating its first vertex at the end
    is opened. With ``look`` (the document's appearance tables) the chosen theme's textures
    and materials are decoded too; a problem with them is kept in :attr:`Part.look_problem`
    and the geometry is returned untextured.

    Raises
    ------
    GeometryProblem
        Unknown/missing type or LoD, malformed boundaries, vertex indices out of range.
    """
    gtype = geom.get("type")
    if not isinstance(gtype, str):
        raise GeometryProblem('geometry without "type"')
    depth = SURFACE_DEPTH.get(gtype)
    if depth is None:
        raise GeometryProblem(f"unsupported geometry type {gtype!r}")
    lod = lod_text(geom.get("lod"))
    if lod is None:
        raise GeometryProblem(f'{gtype} without a valid "lod" ({geom.get("lod")!r})')
    semantics = geom.get("semantics")
    codes = _semantic_codes(semantics)
    values = semantics.get("values") if isinstance(semantics, dict) else None
    pairs = _surfaces(geom.get("boundaries"), values, depth)
    surfaces: list[Any] = [surface for surface, _ in pairs]
    if not surfaces:
        raise GeometryProblem(f"{gtype} has no surfaces (empty boundaries)")
    try:
        polygon_rings = np.fromiter(map(len, surfaces), dtype=np.int64, count=len(surfaces))
    except TypeError:
        polygon_rings = np.zeros(1, dtype=np.int64)
    if not polygon_rings.all():
        raise GeometryProblem(f"{gtype}: a surface must be a non-empty list of rings")
    rings: list[Any] = list(chain.from_iterable(surfaces))
    try:
        sizes = np.fromiter(map(len, rings), dtype=np.int64, count=len(rings))
    except TypeError:
        raise GeometryProblem(f"{gtype}: a ring must be a list of vertex indices") from None
    stypes = [
        codes[value] if isinstance(value, int) and 0 <= value < len(codes) else 0
        for _, value in pairs
    ]
    try:
        # through float64 so that fractional indices are caught instead of truncated
        real = np.fromiter(chain.from_iterable(rings), dtype=np.float64, count=int(sizes.sum()))
    except (TypeError, ValueError, OverflowError):
        raise GeometryProblem(f"{gtype}: vertex indices must be integers") from None
    if not np.array_equal(real, np.trunc(real)):
        raise GeometryProblem(f"{gtype}: vertex indices must be integers")
    index = real.astype(np.int64)
    if not len(index):
        raise GeometryProblem(f"{gtype}: all rings are empty")
    ends = np.cumsum(sizes)
    written_sizes = sizes
    # rings repeating their first vertex at the end are opened (vectorised)
    closed = (sizes > 1) & (index[np.maximum(ends - sizes, 0)] == index[ends - 1])
    if closed.any():
        keep = np.ones(len(index), dtype=np.bool_)
        keep[(ends - 1)[closed]] = False
        index = index[keep]
        sizes = sizes - closed
    bad = (index < 0) | (index >= len(vertices))
    if bad.any():
        raise GeometryProblem(
            f"{gtype}: vertex index {int(index[np.argmax(bad)])} out of range "
            f"({len(vertices)} vertices)"
        )
    part_look: PartLook | None = None
    look_problem = None
    if look is not None and ("texture" in geom or "material" in geom):
        try:
            part_look = decode_look(geom, depth, written_sizes, closed, polygon_rings, look)
        except AppearanceProblem as problem:
            look_problem = str(problem)
    return Part(
        lod=lod,
        vertices=vertices[index],
        ring_sizes=sizes,
        polygon_rings=polygon_rings,
        surface_types=np.asarray(stypes, dtype=np.uint8),
        solid=gtype in SOLID_TYPES,
        look=part_look,
        look_problem=look_problem,
    )


def instance_placement(
    geom: Mapping[str, Any], vertices: Float64Array, template_count: int
) -> tuple[int, Float64Array, Float64Array]:
    """Template index, 4x4 matrix and reference point of a ``GeometryInstance``.

    Raises
    ------
    GeometryProblem
        Unknown template, bad reference vertex or matrix.
    """
    template = geom.get("template")
    if (
        isinstance(template, bool)
        or not isinstance(template, int)
        or not 0 <= template < template_count
    ):
        raise GeometryProblem(
            f"GeometryInstance template {template!r} does not exist ({template_count} templates)"
        )
    boundaries = geom.get("boundaries")
    if (
        not isinstance(boundaries, list)
        or len(boundaries) != 1
        or isinstance(boundaries[0], bool)
        or not isinstance(boundaries[0], int)
        or not 0 <= boundaries[0] < len(vertices)
    ):
        raise GeometryProblem(
            f"GeometryInstance reference point {boundaries!r:.40} is not one vertex index "
            f"within {len(vertices)} vertices"
        )
    raw = geom.get("transformationMatrix")
    try:
        matrix = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        matrix = np.zeros(0)
    if matrix.shape != (16,) or not np.isfinite(matrix).all():
        raise GeometryProblem("GeometryInstance transformationMatrix must be 16 finite numbers")
    return template, matrix.reshape(4, 4), vertices[boundaries[0]]


def merge_parts(parts: Sequence[Part], look: DocumentLook | None = None) -> SurfaceGeometry:
    """One :class:`SurfaceGeometry` from the parts of one LoD (solid only if all are solids).

    ``look``: the document's appearance tables, for parts with textures or materials.
    """
    lod = parts[0].lod
    if len(parts) == 1:
        p = parts[0]
        vertices, ring_sizes, polygon_rings, stypes = (
            p.vertices,
            p.ring_sizes,
            p.polygon_rings,
            p.surface_types,
        )
    else:
        vertices = np.concatenate([p.vertices for p in parts])
        ring_sizes = np.concatenate([p.ring_sizes for p in parts])
        polygon_rings = np.concatenate([p.polygon_rings for p in parts])
        stypes = np.concatenate([p.surface_types for p in parts])
    ring_offsets = np.zeros(len(ring_sizes) + 1, dtype=np.int64)
    np.cumsum(ring_sizes, out=ring_offsets[1:])
    polygon_offsets = np.zeros(len(polygon_rings) + 1, dtype=np.int64)
    np.cumsum(polygon_rings, out=polygon_offsets[1:])
    appearance, themes = (
        (None, ())
        if look is None or all(p.look is None for p in parts)
        else merge_looks(
            [p.look for p in parts],
            [len(p.vertices) for p in parts],
            [len(p.polygon_rings) for p in parts],
            look,
        )
    )
    return SurfaceGeometry(
        lod=lod,
        vertices=np.ascontiguousarray(vertices, dtype=np.float64),
        ring_offsets=ring_offsets,
        polygon_offsets=polygon_offsets,
        surface_types=np.ascontiguousarray(stypes, dtype=np.uint8),
        solid=all(p.solid for p in parts),
        appearance=appearance,
        themes=themes,
    )
