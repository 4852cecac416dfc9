"""Point tile contents: glTF points (3D Tiles 1.1) and ``pnts`` (3D Tiles 1.0) (T3D-9).

Both take point records (:mod:`citymodel.tiler.points.records`) whose positions are float64
metres in the dataset's ENU frame (the root tile's ``transform`` maps that frame to ECEF) and
write float32 positions relative to a float64 origin at the centre of the content's bounds,
so positions keep sub-millimetre precision (T3D-2):

- **glTF** (:func:`encode_points_glb`): one primitive, mode 0 (POINTS), ``POSITION`` float32;
  the root node matrix is ``Z_UP_TO_Y_UP · translate(origin)`` (doubles in JSON), so clients
  compute ``ECEF = transform · Y_UP_TO_Z_UP · node matrix · position`` exactly as for the mesh
  tiler's shared-frame contents (:mod:`citymodel.tiler.content.glb`). ``COLOR_0`` is
  converted from sRGB to linear (glTF vertex colours are linear) and stored as normalized
  16-bit values, which keeps every 8-bit sRGB shade distinct (8-bit linear would merge the
  dark ones). The material is unlit (``KHR_materials_unlit``): points have no normals.
  Per-point attributes are **property attributes** of ``EXT_structural_metadata``: the
  primitive carries ``_CLASSIFICATION``, ``_INTENSITY``, ``_RETURN_NUMBER``,
  ``_NUMBER_OF_RETURNS`` (and ``_<NAME>`` per extra dimension) vertex attributes, and the
  ``propertyAttributes`` entry maps them to the properties of the ``point`` class, so a viewer
  styles by ``${classification}`` or reads any value per point. No feature ids
  (``EXT_mesh_features``) are written: every point would be its own feature, and per-point
  values are exactly what property attributes are for. glTF vertex attributes hold only 8-,
  16-bit integers and float32, and every element starts on 4 bytes: 8/16-bit values use a
  ``byteStride`` of 4; extra dimensions of other types (float64, 32/64-bit integers) are
  written as float32 relative to the content's minimum, which goes into the property's
  ``offset`` (non-finite values become the class's ``noData``).
- **pnts** (:func:`encode_pnts`): ``POSITION`` float32 relative to ``RTC_CENTER`` (JSON
  doubles), ``RGB`` sRGB uint8, and the per-point attributes as binary batch-table
  properties in their own types (no ``BATCH_ID``: the batch table is per point). pnts are
  z-up: no glTF axis swap. Every section starts and ends on 8 bytes of the tile (T3D-8).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from citymodel import __version__
from citymodel._typing import Float64Array
from citymodel.converters.gltf_binary import (
    ALIGNMENT,
    ARRAY_BUFFER,
    BufferBuilder,
    dump_json,
    pack_glb,
    pad_json,
)
from citymodel.ops.frames import Z_UP_TO_Y_UP, to_gltf_matrix
from citymodel.tiler.points.frame import column_bounds
from citymodel.tiler.points.kernels import COMPILED
from citymodel.tiler.points.records import AttributeSpec, PointColumns, RecordLayout

__all__ = [
    "CLASS_NAME",
    "EXT_STRUCTURAL_METADATA",
    "KHR_MATERIALS_UNLIT",
    "PNTS_HEADER_LENGTH",
    "PNTS_MAGIC",
    "SCHEMA_ID",
    "EncodedPoints",
    "PointContentSpec",
    "attribute_semantic",
    "encode_pnts",
    "encode_points",
    "encode_points_glb",
    "point_schema",
    "property_id",
    "srgb_to_linear",
]

EXT_STRUCTURAL_METADATA = "EXT_structural_metadata"
KHR_MATERIALS_UNLIT = "KHR_materials_unlit"
SCHEMA_ID = "citymodel_points"
CLASS_NAME = "point"
PNTS_MAGIC = b"pnts"
PNTS_HEADER_LENGTH = 28

_FLOAT = 5126
_COMPONENTS = {"i1": 5120, "u1": 5121, "i2": 5122, "u2": 5123, "f4": 5126}
_METADATA_TYPES = {"i1": "INT8", "u1": "UINT8", "i2": "INT16", "u2": "UINT16", "f4": "FLOAT32"}
_BATCH_TYPES = {
    "i1": "BYTE",
    "u1": "UNSIGNED_BYTE",
    "i2": "SHORT",
    "u2": "UNSIGNED_SHORT",
    "i4": "INT",
    "u4": "UNSIGNED_INT",
    "f4": "FLOAT",
    "f8": "DOUBLE",
}
_VECTOR_TYPES = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4"}
_POINTS = 0
_NO_DATA = float(np.finfo(np.float32).min)
"""``noData`` of extra dimensions stored as float32 (stands for NaN / infinity)."""
_UINT32_MAX = 2**32 - 1

_DESCRIPTIONS = {
    "classification": "ASPRS LAS classification code (2 ground, 6 building, ...)",
    "intensity": "Return pulse intensity as stored in the source",
    "return_number": "Return number of the pulse (1 = first)",
    "number_of_returns": "Number of returns of the pulse",
}

TilesVersion = Literal["1.0", "1.1"]


def srgb_to_linear(srgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint16]:
    """8-bit sRGB -> linear values as normalized uint16 (IEC 61966-2-1 transfer function)."""
    c = np.arange(256, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    table = np.round(linear * 65535.0).astype(np.uint16)
    out: npt.NDArray[np.uint16] = table[srgb]
    return out


def attribute_semantic(name: str) -> str:
    """The glTF vertex attribute of a point attribute: ``_`` + upper-case identifier."""
    return "_" + re.sub(r"[^A-Z0-9_]", "_", name.upper())


def property_id(name: str) -> str:
    """The metadata property id of a point attribute (``^[a-zA-Z_][a-zA-Z0-9_]*$``)."""
    text = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return text if text and not text[0].isdigit() else "_" + text


@dataclass(frozen=True, slots=True)
class PointContentSpec:
    """What every content of a job shares: format, record layout, attribution.

    Attributes
    ----------
    version
        ``"1.1"`` (GLB with glTF points) or ``"1.0"`` (pnts).
    layout
        The records' attributes; all of them are written (colour as ``COLOR_0`` / ``RGB``).
    copyright
        Attribution for ``asset.copyright`` of GLB contents (e.g. the geoid grid's), or None.
    """

    version: TilesVersion
    layout: RecordLayout
    copyright: str | None = None

    @property
    def suffix(self) -> str:
        """File suffix of the contents: ``.glb`` or ``.pnts``."""
        return ".glb" if self.version == "1.1" else ".pnts"

    def __post_init__(self) -> None:
        if self.version not in ("1.0", "1.1"):
            raise ValueError(f"tiles version must be '1.0' or '1.1', got {self.version!r}")
        ids = [property_id(a.name) for a in self.layout.attributes if a.name != "color"]
        if len(set(ids)) != len(ids):
            raise ValueError(f"point attribute names collide as metadata ids: {ids}")


@dataclass(frozen=True, slots=True)
class EncodedPoints:
    """One encoded content and the bounds of its positions as written.

    Attributes
    ----------
    data
        GLB or pnts bytes.
    lower, upper
        Bounds of the decoded positions (origin + float32 offsets), ENU metres.
    count
        Points written.
    """

    data: bytes
    lower: tuple[float, float, float]
    upper: tuple[float, float, float]
    count: int


def _triple(v: Float64Array) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))


@dataclass(frozen=True, slots=True)
class _Local:
    """Float32 offsets from a float64 origin, their bounds, and origin + bounds (ENU m)."""

    offsets: npt.NDArray[np.float32]
    origin: Float64Array
    small: npt.NDArray[np.float32]
    large: npt.NDArray[np.float32]
    lower: tuple[float, float, float]
    upper: tuple[float, float, float]


def _local_positions(points: PointColumns) -> _Local:
    """Positions relative to the centre of their bounds, as float32 (T3D-2)."""
    enu = np.asarray(points.xyz, dtype=np.float64)
    if enu.shape[0] == 0:
        raise ValueError("a point content needs at least one point")
    if not np.isfinite(enu).all():
        raise ValueError("point positions contain NaN or infinite values")
    if COMPILED is not None:  # one pass, the same values (tiler/points/kernels.py)
        offsets = np.empty(enu.shape, dtype=np.float32)
        centre, low32, high32 = COMPILED.local_offsets(np.ascontiguousarray(enu), offsets)
        origin = np.array(centre)
        small = np.array(low32, dtype=np.float32)
        large = np.array(high32, dtype=np.float32)
    else:
        low, high = column_bounds(enu)
        origin = (low + high) / 2.0
        offsets = (enu - origin).astype(np.float32)
        small, large = column_bounds(offsets)
    return _Local(
        offsets,
        origin,
        small,
        large,
        _triple(small.astype(np.float64) + origin),
        _triple(large.astype(np.float64) + origin),
    )


def encode_points(points: PointColumns, spec: PointContentSpec) -> EncodedPoints:
    """Encode points as the content format of ``spec`` (glTF points or pnts).

    Parameters
    ----------
    points
        Positions (ENU metres) and the attributes of ``spec.layout``.
    spec
        Format and layout.

    Raises
    ------
    ValueError
        For no points or non-finite positions.
    """
    if spec.version == "1.1":
        return encode_points_glb(points, spec)
    return encode_pnts(points, spec)


# -- glTF points ---------------------------------------------------------------------------


def _padded(values: npt.NDArray[Any], components: int) -> tuple[npt.NDArray[Any], int | None]:
    """Values laid out for a vertex attribute: elements on 4 bytes (byteStride when padded)."""
    n = values.shape[0]
    size = values.dtype.itemsize * components
    stride = -(-size // 4) * 4
    if stride == size:
        return np.ascontiguousarray(values.reshape(n, components)), None
    per_row = stride // values.dtype.itemsize
    out = np.zeros((n, per_row), dtype=values.dtype)
    out[:, :components] = values.reshape(n, components)
    return out, stride


@dataclass(frozen=True, slots=True)
class _Column:
    """How one attribute is stored in the GLB: values, metadata type, offset if shifted."""

    values: npt.NDArray[Any]
    code: str
    offset: float | None


def _gltf_column(spec: AttributeSpec, values: npt.NDArray[Any]) -> _Column:
    code = np.dtype(spec.dtype).str[1:]
    if code in _COMPONENTS:
        return _Column(values.astype(np.dtype(spec.dtype).newbyteorder("<")), code, None)
    wide = values.astype(np.float64)
    finite = np.isfinite(wide)
    offset = float(wide[finite].min()) if finite.any() else 0.0
    shifted = np.where(finite, wide - offset, _NO_DATA).astype("<f4")
    return _Column(shifted, "f4", offset)


def _class_property(spec: AttributeSpec) -> dict[str, Any]:
    code = np.dtype(spec.dtype).str[1:]
    components = spec.shape[0] if spec.shape else 1
    prop: dict[str, Any] = {
        "type": _VECTOR_TYPES[components],
        "componentType": _METADATA_TYPES.get(code, "FLOAT32"),
    }
    if code not in _COMPONENTS:
        prop["noData"] = _NO_DATA if components == 1 else [_NO_DATA] * components
    description = _DESCRIPTIONS.get(spec.name)
    if description is None and not spec.is_standard:
        description = f"Extra dimension {spec.name!r} of the source ({spec.dtype})"
    if description:
        prop["description"] = description
    return prop


def point_schema(layout: RecordLayout) -> dict[str, Any]:
    """The metadata schema of the per-point properties (class ``point``)."""
    properties = {
        property_id(a.name): _class_property(a) for a in layout.attributes if a.name != "color"
    }
    return {"id": SCHEMA_ID, "classes": {CLASS_NAME: {"properties": properties}}}


def _asset(copyright_text: str | None) -> dict[str, Any]:
    asset: dict[str, Any] = {"version": "2.0", "generator": f"citymodel {__version__}"}
    if copyright_text:
        asset["copyright"] = copyright_text
    return asset


def encode_points_glb(points: PointColumns, spec: PointContentSpec) -> EncodedPoints:
    """Encode points as a GLB with one POINTS primitive (3D Tiles 1.1, T3D-9).

    See the module docstring for the layout. Positions are ENU metres of the dataset frame.
    """
    local = _local_positions(points)
    n = local.offsets.shape[0]
    builder = BufferBuilder()
    accessors: list[dict[str, Any]] = []
    attributes: dict[str, int] = {}

    def add(values: npt.NDArray[Any], code: str, components: int, **extra: Any) -> int:
        data, stride = _padded(values, components)
        view = builder.add_view(data, target=ARRAY_BUFFER, byte_stride=stride)
        accessor = {
            "bufferView": view,
            "componentType": _COMPONENTS[code],
            "count": n,
            "type": _VECTOR_TYPES[components],
            **extra,
        }
        accessors.append(accessor)
        return len(accessors) - 1

    attributes["POSITION"] = add(
        local.offsets,
        "f4",
        3,
        min=[float(v) for v in local.small],
        max=[float(v) for v in local.large],
    )
    if spec.layout.get("color") is not None:
        linear = srgb_to_linear(np.asarray(points.attributes["color"], dtype=np.uint8))
        attributes["COLOR_0"] = add(linear, "u2", 3, normalized=True)
    mapping: dict[str, Any] = {}
    for attr in spec.layout.attributes:
        if attr.name == "color":
            continue
        column = _gltf_column(attr, np.asarray(points.attributes[attr.name]))
        components = attr.shape[0] if attr.shape else 1
        semantic = attribute_semantic(attr.name)
        attributes[semantic] = add(column.values, column.code, components)
        entry: dict[str, Any] = {"attribute": semantic}
        if column.offset is not None:
            entry["offset"] = column.offset if components == 1 else [column.offset] * components
        mapping[property_id(attr.name)] = entry
    primitive: dict[str, Any] = {"attributes": attributes, "mode": _POINTS, "material": 0}
    used = [KHR_MATERIALS_UNLIT]
    document: dict[str, Any] = {"asset": _asset(spec.copyright)}
    if mapping:
        used.insert(0, EXT_STRUCTURAL_METADATA)
        primitive["extensions"] = {EXT_STRUCTURAL_METADATA: {"propertyAttributes": [0]}}
        document["extensions"] = {
            EXT_STRUCTURAL_METADATA: {
                "schema": point_schema(spec.layout),
                "propertyAttributes": [{"class": CLASS_NAME, "properties": mapping}],
            }
        }
    translate = np.eye(4)
    translate[:3, 3] = local.origin
    document |= {
        "extensionsUsed": used,
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "matrix": to_gltf_matrix(Z_UP_TO_Y_UP @ translate)}],
        "meshes": [{"primitives": [primitive]}],
        "materials": [
            {
                "pbrMetallicRoughness": {"metallicFactor": 0.0, "roughnessFactor": 1.0},
                "extensions": {KHR_MATERIALS_UNLIT: {}},
            }
        ],
        "accessors": accessors,
        "bufferViews": builder.views,
        "buffers": [{"byteLength": builder.byte_length}],
    }
    data = pack_glb(dump_json(document), builder.to_bytes())
    return EncodedPoints(data, local.lower, local.upper, n)


# -- pnts ----------------------------------------------------------------------------------


class _Body:
    """A binary table body: arrays appended on 8-byte offsets."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.length = 0

    def add(self, values: npt.NDArray[Any]) -> int:
        pad = -self.length % ALIGNMENT
        if pad:
            self.parts.append(b"\0" * pad)
            self.length += pad
        offset = self.length
        raw = np.ascontiguousarray(values).tobytes()
        self.parts.append(raw)
        self.length += len(raw)
        return offset

    def to_bytes(self) -> bytes:
        return b"".join([*self.parts, b"\0" * (-self.length % ALIGNMENT)])


def _batch_column(spec: AttributeSpec, values: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], str]:
    code = np.dtype(spec.dtype).str[1:]
    if code in _BATCH_TYPES:
        return values.astype(np.dtype(spec.dtype).newbyteorder("<")), _BATCH_TYPES[code]
    return values.astype("<f8"), "DOUBLE"


def encode_pnts(points: PointColumns, spec: PointContentSpec) -> EncodedPoints:
    """Encode points as a ``pnts`` tile (3D Tiles 1.0, T3D-9).

    See the module docstring for the layout. Positions are ENU metres of the dataset frame;
    ``RTC_CENTER`` is in that frame too (the tile transforms apply after it).
    """
    local = _local_positions(points)
    n = local.offsets.shape[0]
    features = _Body()
    feature_table: dict[str, Any] = {
        "POINTS_LENGTH": n,
        "RTC_CENTER": [float(v) for v in local.origin],
        "POSITION": {"byteOffset": features.add(local.offsets.astype("<f4"))},
    }
    if spec.layout.get("color") is not None:
        rgb = np.asarray(points.attributes["color"], dtype=np.uint8)
        feature_table["RGB"] = {"byteOffset": features.add(rgb)}
    batch = _Body()
    batch_table: dict[str, Any] = {}
    for attr in spec.layout.attributes:
        if attr.name == "color":
            continue
        values, component = _batch_column(attr, np.asarray(points.attributes[attr.name]))
        batch_table[attr.name] = {
            "byteOffset": batch.add(values),
            "componentType": component,
            "type": _VECTOR_TYPES[attr.shape[0] if attr.shape else 1],
        }
    offset = PNTS_HEADER_LENGTH
    ft_json = pad_json(dump_json(feature_table), offset)
    ft_binary = features.to_bytes()
    offset += len(ft_json) + len(ft_binary)
    bt_json = pad_json(dump_json(batch_table), offset) if batch_table else b""
    bt_binary = batch.to_bytes() if batch_table else b""
    total = offset + len(bt_json) + len(bt_binary)
    if total > _UINT32_MAX:
        raise ValueError(f"pnts tile of {total} bytes exceeds the 4 GiB uint32 limit")
    header = struct.pack(
        "<4sIIIIII",
        PNTS_MAGIC,
        1,
        total,
        len(ft_json),
        len(ft_binary),
        len(bt_json),
        len(bt_binary),
    )
    data = b"".join([header, ft_json, ft_binary, bt_json, bt_binary])
    return EncodedPoints(data, local.lower, local.upper, n)
