"""glTF 2.0 / GLB writer with per-vertex feature ids and a property table per feature.

The encoder is a pure function from arrays to bytes (no I/O, deterministic output) and is
shared by the ``convert`` tool and the 3D Tiles content writers. What it writes:

- ``POSITION`` (float32, exact ``min``/``max``), ``NORMAL`` (flat, unit length) and
  ``_FEATURE_ID_0`` vertex attributes shared by all primitives; one primitive with its own
  indices accessor (uint16 below 65536 vertices, else uint32) and material per surface type
  present (:class:`SemanticMaterials`), mode TRIANGLES;
- ``EXT_mesh_features`` on every primitive: ``featureIds: [{featureCount, attribute: 0,
  propertyTable: 0}]`` (correctness.md T3D-6) — ids as UNSIGNED_BYTE / UNSIGNED_SHORT with
  ``byteStride`` 4, or FLOAT above 65536 features (exact up to 2^24; glTF has no UNSIGNED_INT
  vertex attributes);
- ``EXT_structural_metadata`` with a schema (one class) and one property table of
  ``featureCount`` rows typed by :func:`infer_property_types` (T3D-7);
- every buffer view on an 8-byte offset, the GLB JSON chunk space-padded so the BIN chunk and the
  file end on 8-byte file offsets (T3D-7);
- an optional root node ``matrix`` (e.g. glTF's z-up -> y-up rotation, T3D-2); positions and
  normals are written as given (z-up local frame);
- optionally (``compression="meshopt"``) quantized positions and normals in
  ``EXT_meshopt_compression`` views (:mod:`citymodel.converters.gltf_compression`), or
  (``compression="draco"``) one ``KHR_draco_mesh_compression`` mesh per primitive
  (:mod:`citymodel.converters.gltf_draco`).

An empty mesh gives a valid glTF with no mesh and no node (a glTF mesh needs a primitive).
"""

from __future__ import annotations

import base64
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, Unpack

import numpy as np

from citymodel import __version__
from citymodel._typing import Float32Array, UInt8Array, UInt32Array
from citymodel.atomic import write_bytes_atomic
from citymodel.converters.gltf_appearance import AppearanceEncoder
from citymodel.converters.gltf_binary import BufferBuilder, dump_json, pack_glb
from citymodel.converters.gltf_compression import (
    EXT_MESHOPT_COMPRESSION,
    KHR_MESH_QUANTIZATION,
    MAX_POSITION_ERROR,
    Compression,
    ViewWriter,
    quantize_normals,
    quantize_positions,
)
from citymodel.converters.gltf_draco import (
    KHR_DRACO_MESH_COMPRESSION,
    draco_position_bits,
    encode_draco_primitive,
)
from citymodel.converters.gltf_textures import TextureImage
from citymodel.converters.materials import (
    FEATURE_COLOR_COLUMN,
    SemanticMaterials,
    apply_feature_colors,
)
from citymodel.converters.property_table import (
    PropertySpec,
    encode_property_table,
    infer_property_types,
    merge_property_types,
)
from citymodel.errors import OutputError
from citymodel.mesh import FeatureTable, Mesh, MeshCounts
from citymodel.model.appearance import MeshAppearance

__all__ = [
    "EXT_MESH_FEATURES",
    "EXT_STRUCTURAL_METADATA",
    "GltfMesh",
    "GltfOptions",
    "PropertySpec",
    "SemanticMaterials",
    "encode_glb",
    "encode_gltf_json",
    "infer_property_types",
    "merge_property_types",
    "vertex_normals",
    "write_gltf",
]

log = logging.getLogger(__name__)

EXT_MESH_FEATURES = "EXT_mesh_features"
EXT_STRUCTURAL_METADATA = "EXT_structural_metadata"

_FLOAT = 5126
_BYTE = 5120
_UNSIGNED_BYTE = 5121
_UNSIGNED_SHORT = 5123
_UNSIGNED_INT = 5125
_TRIANGLES = 4
_MAX_FLOAT_FEATURE_COUNT = 2**24  # float32 represents every integer up to 2^24 exactly
_IDENTITY = (1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)


class GltfOptions(TypedDict, total=False):
    """Keywords of :func:`encode_glb`, :func:`encode_gltf_json` and :func:`write_gltf`.

    Attributes
    ----------
    root_matrix
        Column-major 4x4 matrix of the root node (e.g. z-up -> y-up, T3D-2); omitted when None
        (the default) or the identity.
    extras
        JSON-serialisable ``asset.extras``; a string under ``"copyright"`` goes to
        ``asset.copyright`` instead (attribution of the data and the geoid grid).
    materials
        Colours per surface type; None (the default) = :meth:`SemanticMaterials.default_palette`.
    schema_id, class_name
        Ids of the metadata schema and its class (``^[a-zA-Z_][a-zA-Z0-9_]*$``); default
        ``"citymodel"`` and ``"building"``.
    properties
        Metadata types per column (e.g. one merged schema for all tiles of a tileset); None
        (the default) = :func:`infer_property_types` of the feature table.
    compression
        ``"none"`` (the default); ``"meshopt"``: quantized positions and normals
        (``KHR_mesh_quantization``) in ``EXT_meshopt_compression`` views, see
        :mod:`citymodel.converters.gltf_compression`; ``"draco"``: one
        ``KHR_draco_mesh_compression`` mesh per primitive, see
        :mod:`citymodel.converters.gltf_draco` (both need the ``compress`` extra).
    max_position_error
        Largest position change quantization may cause, metres (default 0.01); meshes whose
        16-bit grid is coarser keep float32 positions.
    images
        The image of each texture of ``mesh.appearance`` (None: written untextured), see
        :func:`~citymodel.converters.gltf_textures.load_texture_images`; without it textured
        meshes are written with their materials only.
    """

    root_matrix: Sequence[float] | None
    extras: Mapping[str, Any] | None
    materials: SemanticMaterials | None
    schema_id: str
    class_name: str
    properties: Mapping[str, PropertySpec] | None
    compression: Compression
    max_position_error: float
    images: Sequence[TextureImage | None] | None


@dataclass(frozen=True, slots=True)
class GltfMesh(MeshCounts):
    """The geometry the encoder consumes: float32 positions already in a local frame.

    Vertices are not shared between polygons (flat shading) nor between features. Arrays are
    converted to the listed dtypes on construction.

    Attributes
    ----------
    positions
        ``(N, 3)`` float32, metres, z-up local frame (ENU, or source CRS minus a float64
        origin kept by the caller).
    triangles
        ``(M, 3)`` vertex indices, counter-clockwise seen from outside.
    feature_ids
        ``(N,)`` row of the owning feature in the :class:`~citymodel.mesh.FeatureTable`.
    surface_types
        ``(M,)`` :class:`~citymodel.model.semantics.SurfaceType` code per triangle.
    appearance
        Texture coordinates and per-triangle textures/materials, or None
        (:mod:`citymodel.converters.gltf_textures`).

    Raises
    ------
    ValueError
        On inconsistent shapes, non-finite positions or indices outside ``[0, N)``.
    """

    positions: Float32Array
    triangles: UInt32Array
    feature_ids: UInt32Array
    surface_types: UInt8Array
    appearance: MeshAppearance | None = None

    def __post_init__(self) -> None:
        positions = np.ascontiguousarray(self.positions, dtype=np.float32)
        if positions.ndim != 2 or positions.shape[1] != 3:
            raise ValueError(f"positions must have shape (N, 3), got {positions.shape}")
        if not np.isfinite(positions).all():
            raise ValueError("positions contain NaN or infinite values")
        n = positions.shape[0]
        triangles = np.asarray(self.triangles)
        if triangles.size == 0:
            triangles = triangles.reshape(0, 3)
        if triangles.ndim != 2 or triangles.shape[1] != 3:
            raise ValueError(f"triangles must have shape (M, 3), got {triangles.shape}")
        if triangles.size and (int(triangles.min()) < 0 or int(triangles.max()) >= n):
            raise ValueError(f"triangle indices must lie in [0, {n}) for {n} vertices")
        feature_ids = np.asarray(self.feature_ids)
        if feature_ids.shape != (n,):
            raise ValueError(f"feature_ids must have shape ({n},), got {feature_ids.shape}")
        if feature_ids.size and int(feature_ids.min()) < 0:
            raise ValueError("feature_ids must not be negative")
        surface_types = np.asarray(self.surface_types)
        if surface_types.shape != (triangles.shape[0],):
            raise ValueError(
                f"surface_types must have shape ({triangles.shape[0]},), got {surface_types.shape}"
            )
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "triangles", np.ascontiguousarray(triangles, dtype=np.uint32))
        object.__setattr__(self, "feature_ids", np.ascontiguousarray(feature_ids, dtype=np.uint32))
        object.__setattr__(
            self, "surface_types", np.ascontiguousarray(surface_types, dtype=np.uint8)
        )
        a = self.appearance
        if a is not None and (
            a.uv.shape != (n, 2) or a.triangle_texture.shape != (triangles.shape[0],)
        ):
            raise ValueError("appearance arrays do not match the vertex and triangle counts")

    @classmethod
    def from_mesh(cls, mesh: Mesh, *, origin: Sequence[float] = (0.0, 0.0, 0.0)) -> GltfMesh:
        """Local float32 geometry of ``mesh``: ``positions - origin`` computed in float64.

        ``origin`` is in the CRS of ``mesh.positions`` (metres); keep it to place the result.
        """
        local = mesh.positions - np.asarray(origin, dtype=np.float64)
        return cls(
            positions=local.astype(np.float32),
            triangles=mesh.triangles,
            feature_ids=mesh.feature_ids,
            surface_types=mesh.surface_types,
            appearance=mesh.appearance,
        )


def vertex_normals(positions: np.ndarray[Any, Any], triangles: UInt32Array) -> Float32Array:
    """Unit vertex normals: the normalised sum of the area-weighted normals of incident triangles.

    With vertices never shared between polygons this is the polygon normal (flat shading).
    Vertices without a non-degenerate triangle get ``(0, 0, 1)``. ``positions`` ``(N, 3)`` in
    any Cartesian frame; the normals are in the same frame. Computed in float64.
    """
    n = positions.shape[0]
    p = np.asarray(positions, dtype=np.float64)
    t = triangles.astype(np.intp, copy=False)
    a = p[t[:, 0]]
    face = np.cross(p[t[:, 1]] - a, p[t[:, 2]] - a)  # |face| = 2 * triangle area
    corners = t.ravel()
    summed = np.empty((n, 3), dtype=np.float64)
    for axis in range(3):
        summed[:, axis] = np.bincount(corners, weights=np.repeat(face[:, axis], 3), minlength=n)
    length = np.sqrt(np.einsum("ij,ij->i", summed, summed))
    degenerate = ~(length > 0.0)
    length[degenerate] = 1.0
    normals: Float32Array = (summed / length[:, None]).astype(np.float32)
    normals[degenerate] = (0.0, 0.0, 1.0)
    return normals


def _check_identifier(value: str, what: str) -> None:
    if (
        not value
        or not (value[0].isascii() and (value[0].isalpha() or value[0] == "_"))
        or not all(c.isascii() and (c.isalnum() or c == "_") for c in value)
    ):
        raise ValueError(f"{what} must match ^[a-zA-Z_][a-zA-Z0-9_]*$, got {value!r}")


def _root_matrix(root_matrix: Sequence[float] | None) -> list[float] | None:
    if root_matrix is None:
        return None
    values = [float(v) for v in root_matrix]
    if len(values) != 16 or not all(math.isfinite(v) for v in values):
        raise ValueError("root_matrix must be 16 finite numbers (column-major 4x4)")
    return None if tuple(values) == _IDENTITY else values


def _asset(extras: Mapping[str, Any] | None) -> dict[str, Any]:
    asset: dict[str, Any] = {"version": "2.0", "generator": f"citymodel {__version__}"}
    if extras:
        rest = dict(extras)
        copyright_text = rest.pop("copyright", None)
        if isinstance(copyright_text, str):
            asset["copyright"] = copyright_text
        elif copyright_text is not None:
            rest["copyright"] = copyright_text
        if rest:
            asset["extras"] = rest
    return asset


def _feature_id_attribute(
    feature_ids: UInt32Array, feature_count: int
) -> tuple[np.ndarray[Any, Any], int, int | None]:
    """Encoded ids, componentType and byteStride (T3D-6: 4-byte aligned elements)."""
    n = feature_ids.shape[0]
    if feature_count <= 256:
        padded = np.zeros((n, 4), dtype="<u1")
        padded[:, 0] = feature_ids
        return padded, _UNSIGNED_BYTE, 4
    if feature_count <= 65536:
        padded16 = np.zeros((n, 2), dtype="<u2")
        padded16[:, 0] = feature_ids
        return padded16, _UNSIGNED_SHORT, 4
    if feature_count > _MAX_FLOAT_FEATURE_COUNT:
        raise ValueError(
            f"{feature_count} features in one glTF: float feature ids are exact only up to "
            f"{_MAX_FLOAT_FEATURE_COUNT}; split the data (e.g. into tiles)"
        )
    return feature_ids.astype("<f4"), _FLOAT, None


def _position_accessors(
    positions: Float32Array,
    triangles: UInt32Array,
    views: ViewWriter,
    max_position_error: float,
) -> tuple[list[dict[str, Any]], list[float] | None, bool]:
    """POSITION and NORMAL accessors, the dequantization matrix (or None), whether quantized."""
    n = positions.shape[0]
    normals = vertex_normals(positions, triangles)
    grid = quantize_positions(positions, max_error=max_position_error) if views.compressed else None
    if grid is None:
        if views.compressed:
            log.info(
                "glTF: positions stay float32, a 16-bit grid over the extent %.1f m would move "
                "them by more than %g m",
                float(np.ptp(positions, axis=0).max()),
                max_position_error,
            )
        position: dict[str, Any] = {
            "bufferView": views.vertices(positions.astype("<f4", copy=False)),
            "componentType": _FLOAT,
            "count": n,
            "type": "VEC3",
            # float32 -> float is exact, and json writes the shortest repr that reads back to it
            "min": [float(v) for v in positions.min(axis=0)],
            "max": [float(v) for v in positions.max(axis=0)],
        }
        dequantize = None
    else:
        q = grid.values[:, :3]
        position = {
            "bufferView": views.vertices(grid.values, byte_stride=8),
            "componentType": _UNSIGNED_SHORT,
            "count": n,
            "type": "VEC3",
            "min": [int(v) for v in q.min(axis=0)],
            "max": [int(v) for v in q.max(axis=0)],
        }
        dequantize = [float(v) for v in grid.matrix().T.ravel()]
    if views.compressed:
        normal: dict[str, Any] = {
            "bufferView": views.vertices(quantize_normals(normals), byte_stride=4),
            "componentType": _BYTE,
            "normalized": True,
            "count": n,
            "type": "VEC3",
        }
    else:
        normal = {
            "bufferView": views.vertices(normals.astype("<f4")),
            "componentType": _FLOAT,
            "count": n,
            "type": "VEC3",
        }
    return [position, normal], dequantize, views.compressed


def _encode_geometry(
    mesh: GltfMesh,
    feature_count: int,
    materials: SemanticMaterials,
    views: ViewWriter,
    *,
    property_table: bool,
    batch_ids: bool = False,
    max_position_error: float = MAX_POSITION_ERROR,
    looks: AppearanceEncoder | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], list[float] | None, bool]:
    """Mesh object, accessors, materials, dequantization matrix and whether quantized.

    The mesh has at least one triangle. With ``looks``, primitives are split by texture and
    material too and textured ones get ``TEXCOORD_0``.
    """
    if views.draco:
        return _encode_draco_geometry(
            mesh,
            feature_count,
            materials,
            views,
            property_table=property_table,
            batch_ids=batch_ids,
            max_position_error=max_position_error,
        )
    positions = mesh.positions
    n = positions.shape[0]
    accessors, dequantize, quantized = _position_accessors(
        positions, mesh.triangles, views, max_position_error
    )
    ids, id_component, id_stride = _feature_id_attribute(mesh.feature_ids, feature_count)
    accessors.append(
        {
            "bufferView": views.vertices(ids, byte_stride=id_stride),
            "componentType": id_component,
            "count": n,
            "type": "SCALAR",
        }
    )
    if looks is not None:
        uv_accessor = looks.uv_accessor(views, n)
        if uv_accessor is not None:
            accessors.append(uv_accessor)
        order, types, starts, ends = _surface_groups(looks.group_codes(mesh.surface_types))
    else:
        order, types, starts, ends = _surface_groups(mesh.surface_types)
    # uint16 index 65535 is the primitive-restart value, so uint16 needs n <= 65535.
    index_dtype, index_component = ("<u2", _UNSIGNED_SHORT) if n < 65536 else ("<u4", _UNSIGNED_INT)
    index_view = views.triangles(mesh.triangles[order].astype(index_dtype))
    index_size = np.dtype(index_dtype).itemsize
    feature_ids_ext = _feature_ids_extension(feature_count, property_table=property_table)
    id_attribute = _id_attribute(batch_ids)
    primitives: list[dict[str, Any]] = []
    material_objects: list[dict[str, Any]] = []
    for surface_type, start, end in zip(types, starts, ends, strict=True):
        accessors.append(
            {
                "bufferView": index_view,
                "byteOffset": start * 3 * index_size,
                "componentType": index_component,
                "count": (end - start) * 3,
                "type": "SCALAR",
            }
        )
        attributes: dict[str, int] = {"POSITION": 0, "NORMAL": 1, id_attribute: 2}
        if looks is None:
            material_objects.append(materials.gltf_material(surface_type))
        else:
            material, textured = looks.material(surface_type)
            material_objects.append(material)
            if textured:
                attributes["TEXCOORD_0"] = 3
        primitive: dict[str, Any] = {
            "attributes": attributes,
            "indices": len(accessors) - 1,
            "material": len(material_objects) - 1,
            "mode": _TRIANGLES,
        }
        if not batch_ids:
            primitive["extensions"] = {EXT_MESH_FEATURES: {"featureIds": [dict(feature_ids_ext)]}}
        primitives.append(primitive)
    return {"primitives": primitives}, accessors, material_objects, dequantize, quantized


def _surface_groups(
    surface_types: np.ndarray[Any, np.dtype[np.integer[Any]]],
) -> tuple[np.ndarray[Any, Any], list[int], list[int], list[int]]:
    """Triangle order grouping by surface type (stable), and each group's type, start, end."""
    order = np.argsort(surface_types, kind="stable")
    grouped_types = surface_types[order]
    types, starts = np.unique(grouped_types, return_index=True)
    ends = [*starts[1:].tolist(), int(grouped_types.shape[0])]
    return order, types.tolist(), starts.tolist(), ends


def _feature_ids_extension(feature_count: int, *, property_table: bool) -> dict[str, Any]:
    ext: dict[str, Any] = {"featureCount": feature_count, "attribute": 0}
    if property_table:
        ext["propertyTable"] = 0
    return ext


def _id_attribute(batch_ids: bool) -> str:
    """b3dm (3D Tiles 1.0, T3D-8) names the per-vertex ids _BATCHID and uses no EXT_ extensions."""
    return "_BATCHID" if batch_ids else "_FEATURE_ID_0"


def _encode_draco_geometry(
    mesh: GltfMesh,
    feature_count: int,
    materials: SemanticMaterials,
    views: ViewWriter,
    *,
    property_table: bool,
    batch_ids: bool,
    max_position_error: float,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], list[float] | None, bool]:
    """As :func:`_encode_geometry`, one ``KHR_draco_mesh_compression`` mesh per surface type."""
    positions = mesh.positions
    normals = vertex_normals(positions, mesh.triangles)
    ids, id_component, _ = _feature_id_attribute(mesh.feature_ids, feature_count)
    ids = ids[:, 0] if ids.ndim == 2 else ids
    origin = positions.min(axis=0).astype(np.float64)
    extent = float((positions.max(axis=0) - origin).max())
    bits = draco_position_bits(extent, max_position_error)
    id_attribute = _id_attribute(batch_ids)
    feature_ids_ext = _feature_ids_extension(feature_count, property_table=property_table)
    order, types, starts, ends = _surface_groups(mesh.surface_types)
    accessors: list[dict[str, Any]] = []
    primitives: list[dict[str, Any]] = []
    material_objects: list[dict[str, Any]] = []
    for surface_type, start, end in zip(types, starts, ends, strict=True):
        used, local = np.unique(mesh.triangles[order[start:end]], return_inverse=True)
        encoded = encode_draco_primitive(
            positions[used],
            normals[used],
            ids[used],
            local.reshape(-1, 3),
            id_attribute=id_attribute,
            origin=origin,
            extent=extent,
            bits=bits,
        )
        first = len(accessors)
        accessors += [
            {
                "componentType": _FLOAT,
                "count": encoded.vertex_count,
                "type": "VEC3",
                "min": encoded.position_min,
                "max": encoded.position_max,
            },
            {"componentType": _FLOAT, "count": encoded.vertex_count, "type": "VEC3"},
            {"componentType": id_component, "count": encoded.vertex_count, "type": "SCALAR"},
            {"componentType": _UNSIGNED_INT, "count": encoded.index_count, "type": "SCALAR"},
        ]
        material_objects.append(materials.gltf_material(surface_type))
        primitive: dict[str, Any] = {
            "attributes": {"POSITION": first, "NORMAL": first + 1, id_attribute: first + 2},
            "indices": first + 3,
            "material": len(material_objects) - 1,
            "mode": _TRIANGLES,
            "extensions": {
                KHR_DRACO_MESH_COMPRESSION: {
                    "bufferView": views.draco_view(encoded.data),
                    "attributes": encoded.attribute_ids,
                }
            },
        }
        if not batch_ids:
            primitive["extensions"][EXT_MESH_FEATURES] = {"featureIds": [dict(feature_ids_ext)]}
        primitives.append(primitive)
    return {"primitives": primitives}, accessors, material_objects, None, False


def _feature_colors(
    mesh: GltfMesh, features: FeatureTable, materials: SemanticMaterials
) -> tuple[GltfMesh, SemanticMaterials]:
    """Per-feature colours (the ``color`` column) as material codes of the triangles."""
    colors = features.columns.get(FEATURE_COLOR_COLUMN)
    if colors is None:
        return mesh, materials
    rows = mesh.feature_ids[mesh.triangles[:, 0]]
    codes, palette = apply_feature_colors(mesh.surface_types, rows, colors, materials)
    if palette is materials:
        return mesh, materials
    return (
        GltfMesh(
            positions=mesh.positions,
            triangles=mesh.triangles,
            feature_ids=mesh.feature_ids,
            surface_types=codes,
            appearance=mesh.appearance,
        ),
        palette,
    )


def _build(
    mesh: GltfMesh,
    features: FeatureTable,
    *,
    root_matrix: Sequence[float] | None = None,
    extras: Mapping[str, Any] | None = None,
    materials: SemanticMaterials | None = None,
    schema_id: str = "citymodel",
    class_name: str = "building",
    properties: Mapping[str, PropertySpec] | None = None,
    batch_ids: bool = False,
    compression: Compression = "none",
    max_position_error: float = MAX_POSITION_ERROR,
    images: Sequence[TextureImage | None] | None = None,
) -> tuple[dict[str, Any], BufferBuilder]:
    _check_identifier(schema_id, "schema_id")
    _check_identifier(class_name, "class_name")
    matrix = _root_matrix(root_matrix)
    feature_count = features.row_count
    has_geometry = mesh.triangle_count > 0
    if has_geometry and int(mesh.feature_ids.max()) >= feature_count:
        raise ValueError(
            f"feature id {int(mesh.feature_ids.max())} has no row in the feature table ({feature_count} rows)"
        )
    if batch_ids:
        specs: Mapping[str, PropertySpec] = {}
    else:
        specs = infer_property_types(features) if properties is None else properties
    for spec in specs.values():
        _check_identifier(spec.name, f"property id of column {spec.source!r}")

    builder = BufferBuilder()
    views = ViewWriter(builder, compression=compression)
    geometry = None
    looks: AppearanceEncoder | None = None
    if has_geometry:
        # An empty table has no rows, so a property table exists exactly when there are columns.
        with_table = feature_count > 0 and bool(specs)
        colored, palette = _feature_colors(
            mesh, features, materials or SemanticMaterials.default_palette()
        )
        if colored.appearance is not None:
            if views.draco:
                log.warning(
                    "glTF: textures and materials are not written with Draco compression "
                    "(use meshopt to keep them)"
                )
            else:
                looks = AppearanceEncoder.create(colored.appearance, images, palette, builder)
        geometry = _encode_geometry(
            colored,
            feature_count,
            palette,
            views,
            property_table=with_table,
            batch_ids=batch_ids,
            max_position_error=max_position_error,
            looks=looks,
        )
    metadata = (
        None
        if batch_ids
        else encode_property_table(features, specs, builder, class_name=class_name)
    )

    document: dict[str, Any] = {"asset": _asset(extras)}
    required = (
        ([KHR_MESH_QUANTIZATION] if geometry and geometry[4] else [])
        + ([EXT_MESHOPT_COMPRESSION] if views.fallback() is not None else [])
        + ([KHR_DRACO_MESH_COMPRESSION] if geometry and views.draco else [])
        + (looks.required_extensions() if looks is not None else [])
    )
    used = (
        ([EXT_MESH_FEATURES] if geometry and not batch_ids else [])
        + ([EXT_STRUCTURAL_METADATA] if metadata else [])
        + required
    )
    if used:
        document["extensionsUsed"] = used
    if required:
        document["extensionsRequired"] = required
    if metadata is not None:
        class_object, table = metadata
        document["extensions"] = {
            EXT_STRUCTURAL_METADATA: {
                "schema": {"id": schema_id, "classes": {class_name: class_object}},
                "propertyTables": [table],
            }
        }
    if geometry is not None:
        mesh_object, accessors, material_objects, dequantize, _ = geometry
        node: dict[str, Any] = {"mesh": 0}
        nodes = [node]
        if dequantize is not None:
            # The dequantization grid is a child node: the root keeps the caller's matrix (T3D-2).
            node = {"children": [1]}
            nodes = [node, {"mesh": 0, "matrix": dequantize}]
        if matrix is not None:
            node["matrix"] = matrix
        document["scene"] = 0
        document["scenes"] = [{"nodes": [0]}]
        document["nodes"] = nodes
        document["meshes"] = [mesh_object]
        document["materials"] = material_objects
        document["accessors"] = accessors
        if looks is not None:
            looks.finish(document)
    if builder.views:
        document["bufferViews"] = builder.views
        document["buffers"] = [{"byteLength": builder.byte_length}]
        fallback = views.fallback()
        if fallback is not None:
            document["buffers"].append(fallback)
    log.debug(
        "glTF: %d vertices, %d triangles, %d features, %d bytes of buffer",
        mesh.vertex_count,
        mesh.triangle_count,
        feature_count,
        builder.byte_length,
    )
    return document, builder


def encode_glb(
    mesh: GltfMesh,
    features: FeatureTable,
    *,
    batch_ids: bool = False,
    **options: Unpack[GltfOptions],
) -> bytes:
    """Encode a mesh and its feature table as a GLB 2.0 file (bytes).

    Parameters
    ----------
    mesh
        Local float32 geometry (z-up, metres); see :class:`GltfMesh`.
    features
        One row per feature id; every column becomes a property of the table.
    batch_ids
        Write the ids as the ``_BATCHID`` attribute of a 3D Tiles 1.0 b3dm body, without
        ``EXT_mesh_features`` / ``EXT_structural_metadata`` (the attributes then go to the b3dm
        batch table, T3D-8).
    **options
        Root matrix, extras, materials, metadata ids and property types: see
        :class:`GltfOptions`.

    Returns
    -------
    bytes
        The GLB; same input, same bytes.

    Raises
    ------
    ValueError
        When feature ids exceed the table, more than 2^24 features are given, ids or matrix
        are malformed, values do not fit ``properties`` or ``extras`` is not JSON-serialisable.
    """
    document, builder = _build(mesh, features, batch_ids=batch_ids, **options)
    return pack_glb(_json_safe(document), builder.to_bytes())


def encode_gltf_json(
    mesh: GltfMesh, features: FeatureTable, **options: Unpack[GltfOptions]
) -> bytes:
    """As :func:`encode_glb`, but a self-contained ``.gltf`` JSON file (UTF-8 bytes).

    The buffer is embedded as a base64 ``data:application/octet-stream`` URI, so the file
    stands alone (about a third larger than the GLB).
    """
    document, builder = _build(mesh, features, **options)
    if builder.views:
        data = builder.to_bytes()
        document["buffers"][0] = {
            "byteLength": len(data),
            "uri": "data:application/octet-stream;base64," + base64.b64encode(data).decode("ascii"),
        }
    return _json_safe(document) + b"\n"


def _json_safe(document: dict[str, Any]) -> bytes:
    try:
        return dump_json(document)
    except (TypeError, ValueError) as err:
        raise ValueError(f"glTF JSON cannot be written (check extras): {err}") from err


def write_gltf(
    path: str | os.PathLike[str],
    mesh: GltfMesh,
    features: FeatureTable,
    **options: Unpack[GltfOptions],
) -> None:
    """Write ``.glb`` (binary) or ``.gltf`` (JSON, embedded buffer) by the suffix of ``path``.

    The file is written atomically (temporary file + rename). Keywords: :class:`GltfOptions`.

    Raises
    ------
    OutputError
        For another suffix or when the file cannot be written.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".glb", ".gltf"):
        raise OutputError(f"{target}: unsupported glTF suffix {suffix!r}; use .glb or .gltf")
    encode = encode_glb if suffix == ".glb" else encode_gltf_json
    data = encode(mesh, features, **options)
    write_bytes_atomic(target, data)
