"""Tessellation of IFC CSG primitives the geometry kernel cannot build.

IfcOpenShell 0.8/0.9 has no mapping for ``IfcRightCircularCylinder`` and
``IfcRightCircularCone`` (IfcOpenShell issue #6742): an element made of them fails as a whole,
e.g. the buildingSMART georeferencing sample's position marker. :func:`tessellate_csg` builds
such elements when their body consists only of CSG primitives (``IfcBlock``,
``IfcRectangularPyramid``, ``IfcRightCircularCone``, ``IfcRightCircularCylinder``,
``IfcSphere``), directly or as ``IfcCsgSolid`` trees whose booleans are all ``UNION`` (a
difference or intersection cannot be built here, so the element stays failed).

Curved surfaces are approximated by facets whose chord deviates at most 1 mm from the true
surface (at least 16, at most 128 segments per circle). Output: world coordinates (object
placement and primitive position applied) in metres, triangles counter-clockwise seen from
outside.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from citymodel._typing import Float64Array, IndexArray

if TYPE_CHECKING:
    import ifcopenshell

__all__ = ["tessellate_csg"]

_CHORD_TOLERANCE_M = 1e-3
_MIN_SEGMENTS = 16
_MAX_SEGMENTS = 128
_BODY = ("body", "facetation")

Mesh = tuple[Float64Array, IndexArray]


def _segments(radius_m: float) -> int:
    if radius_m <= _CHORD_TOLERANCE_M:
        return _MIN_SEGMENTS
    n = math.ceil(math.pi / math.acos(1.0 - _CHORD_TOLERANCE_M / radius_m))
    return int(min(max(n, _MIN_SEGMENTS), _MAX_SEGMENTS))


def _circle(radius: float, n: int, z: float) -> Float64Array:
    angles = np.arange(n) * (2.0 * math.pi / n)
    return np.column_stack([radius * np.cos(angles), radius * np.sin(angles), np.full(n, z)])


def _ring_caps(
    n: int, bottom: int, top: int | None, bottom_centre: int, top_centre: int
) -> list[IndexArray]:
    i = np.arange(n)
    j = (i + 1) % n
    parts = [np.column_stack([np.full(n, bottom_centre), bottom + j, bottom + i])]
    if top is not None:
        parts.append(np.column_stack([np.full(n, top_centre), top + i, top + j]))
    return parts


def _cylinder(radius: float, height: float, unit: float) -> Mesh:
    n = _segments(radius * unit)
    vertices = np.vstack(
        [_circle(radius, n, 0.0), _circle(radius, n, height), [[0, 0, 0]], [[0, 0, height]]]
    )
    i = np.arange(n)
    j = (i + 1) % n
    side = np.vstack([np.column_stack([i, j, n + j]), np.column_stack([i, n + j, n + i])])
    faces = np.vstack([side, *_ring_caps(n, 0, n, 2 * n, 2 * n + 1)])
    return vertices, faces.astype(np.int64)


def _cone(radius: float, height: float, unit: float) -> Mesh:
    n = _segments(radius * unit)
    vertices = np.vstack([_circle(radius, n, 0.0), [[0, 0, height]], [[0, 0, 0]]])
    i = np.arange(n)
    j = (i + 1) % n
    side = np.column_stack([i, j, np.full(n, n)])
    faces = np.vstack([side, *_ring_caps(n, 0, None, n + 1, -1)])
    return vertices, faces.astype(np.int64)


def _block(x: float, y: float, z: float) -> Mesh:
    vertices = np.array(
        [[0, 0, 0], [x, 0, 0], [x, y, 0], [0, y, 0], [0, 0, z], [x, 0, z], [x, y, z], [0, y, z]],
        dtype=np.float64,
    )
    quads = [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)]
    faces = [tri for a, b, c, d in quads for tri in ((a, b, c), (a, c, d))]
    return vertices, np.asarray(faces, dtype=np.int64)


def _pyramid(x: float, y: float, height: float) -> Mesh:
    vertices = np.array(
        [[0, 0, 0], [x, 0, 0], [x, y, 0], [0, y, 0], [x / 2, y / 2, height]], dtype=np.float64
    )
    faces = [(0, 3, 2), (0, 2, 1), (0, 1, 4), (1, 2, 4), (2, 3, 4), (3, 0, 4)]
    return vertices, np.asarray(faces, dtype=np.int64)


def _sphere(radius: float, unit: float) -> Mesh:
    n = _segments(radius * unit)
    rings = max(n // 2, 8)
    polar = np.arange(1, rings) * (math.pi / rings)
    azimuth = np.arange(n) * (2.0 * math.pi / n)
    ring_z = radius * np.cos(polar)
    ring_r = radius * np.sin(polar)
    body = np.column_stack(
        [
            np.outer(ring_r, np.cos(azimuth)).ravel(),
            np.outer(ring_r, np.sin(azimuth)).ravel(),
            np.repeat(ring_z, n),
        ]
    )
    top, bottom = body.shape[0], body.shape[0] + 1
    vertices = np.vstack([body, [[0, 0, radius]], [[0, 0, -radius]]])
    i = np.arange(n)
    j = (i + 1) % n
    faces = [np.column_stack([np.full(n, top), i, j])]
    for ring in range(rings - 2):
        a, b = ring * n, (ring + 1) * n
        faces.append(np.column_stack([a + i, b + i, b + j]))
        faces.append(np.column_stack([a + i, b + j, a + j]))
    last = (rings - 2) * n
    faces.append(np.column_stack([np.full(n, bottom), last + j, last + i]))
    return vertices, np.vstack(faces).astype(np.int64)


def _primitive(item: ifcopenshell.entity_instance, unit: float) -> Mesh | None:
    kind = item.is_a()
    if kind == "IfcRightCircularCylinder":
        return _cylinder(float(item.Radius), float(item.Height), unit)
    if kind == "IfcRightCircularCone":
        return _cone(float(item.BottomRadius), float(item.Height), unit)
    if kind == "IfcBlock":
        return _block(float(item.XLength), float(item.YLength), float(item.ZLength))
    if kind == "IfcRectangularPyramid":
        return _pyramid(float(item.XLength), float(item.YLength), float(item.Height))
    if kind == "IfcSphere":
        return _sphere(float(item.Radius), unit)
    return None


def _items(item: ifcopenshell.entity_instance, unit: float, out: list[Mesh]) -> bool:
    """Append the meshes of a CSG item (project units, item frame applied); False if unsupported."""
    import ifcopenshell.util.placement

    if item.is_a("IfcCsgSolid"):
        return _items(item.TreeRootExpression, unit, out)
    if item.is_a("IfcBooleanResult"):
        if item.is_a("IfcBooleanClippingResult") or item.Operator != "UNION":
            return False
        return _items(item.FirstOperand, unit, out) and _items(item.SecondOperand, unit, out)
    if item.is_a("IfcCsgPrimitive3D"):
        mesh = _primitive(item, unit)
        if mesh is None:
            return False
        matrix = np.asarray(ifcopenshell.util.placement.get_axis2placement(item.Position))
        vertices, faces = mesh
        out.append((vertices @ matrix[:3, :3].T + matrix[:3, 3], faces))
        return True
    return False


def _body_items(product: ifcopenshell.entity_instance) -> list[Any]:
    shape = product.Representation
    if shape is None:
        return []
    representations = list(shape.Representations or ())
    bodies = [r for r in representations if (r.RepresentationIdentifier or "").lower() in _BODY]
    return [item for r in (bodies or representations) for item in r.Items or ()]


def tessellate_csg(product: ifcopenshell.entity_instance, unit_m: float) -> Mesh | None:
    """World vertices (metres) and triangles of a product whose body is CSG primitives only.

    Returns None when the body holds anything else (or nothing), so the caller keeps the
    kernel's failure.
    """
    import ifcopenshell.util.placement

    items = _body_items(product)
    meshes: list[Mesh] = []
    if not items or not all(_items(item, unit_m, meshes) for item in items):
        return None
    placement = np.eye(4)
    if product.ObjectPlacement is not None:
        placement = np.asarray(
            ifcopenshell.util.placement.get_local_placement(product.ObjectPlacement)
        )
    vertices_parts: list[Float64Array] = []
    faces_parts: list[IndexArray] = []
    start = 0
    for vertices, faces in meshes:
        world = vertices @ placement[:3, :3].T + placement[:3, 3]
        vertices_parts.append(world * unit_m)
        faces_parts.append(faces + start)
        start += vertices.shape[0]
    return np.vstack(vertices_parts), np.vstack(faces_parts)
