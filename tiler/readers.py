"""Decode the binary tile contents the tiler writes: GLB chunks, accessors, b3dm sections.

These readers serve the project's own checks (:mod:`citymodel.tiler.validate`, tests): they
re-read what was written and report layout problems the official validator misses
(correctness.md T3D-0 blind spots 2 and 3: GLB chunks padded to 4 instead of 8 bytes,
``BATCH_LENGTH`` without ``_BATCHID``).

Positions come back in the glTF scene frame (y-up, node transforms applied) as float64;
:data:`citymodel.ops.frames.Y_UP_TO_Z_UP` and the tile transforms take them on to ECEF.
Quantized accessors (``KHR_mesh_quantization``), ``EXT_meshopt_compression`` buffer views and
``KHR_draco_mesh_compression`` primitives are decoded (with the ``meshopt`` and ``DracoPy``
packages, extra ``compress``).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from citymodel._typing import Float64Array
from citymodel.converters.gltf_compression import EXT_MESHOPT_COMPRESSION, meshopt_codec
from citymodel.converters.gltf_draco import KHR_DRACO_MESH_COMPRESSION, draco_codec
from citymodel.tiler.content.b3dm import B3DM_HEADER_LENGTH, B3DM_MAGIC

__all__ = [
    "B3dm",
    "Glb",
    "b3dm_problems",
    "glb_problems",
    "node_matrix",
    "read_accessor",
    "read_b3dm",
    "read_glb",
    "scene_positions",
]

_GLB_MAGIC = b"glTF"
_CHUNK_JSON = 0x4E4F534A
_CHUNK_BIN = 0x004E4942
_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_DTYPES = {5120: "<i1", 5121: "<u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
_NORMALIZED_SCALE = {5120: 127.0, 5121: 255.0, 5122: 32767.0, 5123: 65535.0}


@dataclass(frozen=True, slots=True)
class Glb:
    """The chunks of a GLB file.

    Attributes
    ----------
    document
        The parsed JSON chunk.
    binary
        Data of the BIN chunk (``b""`` when absent).
    length
        ``length`` from the GLB header (bytes of the GLB, without trailing b3dm padding).
    json_chunk_length, bin_chunk_length
        Chunk data lengths from the chunk headers (``bin_chunk_length`` is None without BIN).
    """

    document: dict[str, Any]
    binary: bytes
    length: int
    json_chunk_length: int
    bin_chunk_length: int | None


def read_glb(data: bytes) -> Glb:
    """Parse a GLB 2.0 container (extra bytes after the GLB's own ``length`` are ignored).

    Raises
    ------
    ValueError
        For a wrong magic or version, truncated chunks or JSON that is not an object.
    """
    if len(data) < 20:
        raise ValueError(f"GLB of {len(data)} bytes is shorter than its headers")
    magic, version, length = struct.unpack_from("<4sII", data)
    if magic != _GLB_MAGIC or version != 2:
        raise ValueError(f"not a GLB 2.0 (magic {magic!r}, version {version})")
    if length > len(data):
        raise ValueError(f"GLB header announces {length} bytes, {len(data)} present")
    json_length, json_type = struct.unpack_from("<II", data, 12)
    if json_type != _CHUNK_JSON or 20 + json_length > length:
        raise ValueError("GLB does not start with a complete JSON chunk")
    document = json.loads(data[20 : 20 + json_length].decode("utf-8"))
    if not isinstance(document, dict):
        raise ValueError("GLB JSON chunk is not an object")
    binary = b""
    bin_length: int | None = None
    offset = 20 + json_length
    if offset + 8 <= length:
        chunk_length, chunk_type = struct.unpack_from("<II", data, offset)
        if chunk_type == _CHUNK_BIN:
            if offset + 8 + chunk_length > length:
                raise ValueError("GLB BIN chunk is truncated")
            bin_length = chunk_length
            binary = data[offset + 8 : offset + 8 + chunk_length]
    return Glb(document, binary, length, json_length, bin_length)


def glb_problems(data: bytes, *, standalone: bool = True) -> list[str]:
    """GLB layout checks (T3D-7): chunk boundaries on 8-byte file offsets, consistent lengths.

    ``standalone`` (a ``.glb`` file) also requires the header length to equal the data size;
    inside a b3dm trailing padding after the GLB is allowed.
    """
    try:
        glb = read_glb(data)
    except (ValueError, UnicodeDecodeError) as err:
        return [str(err)]
    problems = []
    if standalone and glb.length != len(data):
        problems.append(f"GLB header length {glb.length} != file size {len(data)}")
    if (20 + glb.json_chunk_length) % 8:
        problems.append(
            f"JSON chunk ends at byte {20 + glb.json_chunk_length}, not on an 8-byte boundary (T3D-7)"
        )
    if glb.length % 8:
        problems.append(f"GLB length {glb.length} is not a multiple of 8 (T3D-7)")
    buffers = glb.document.get("buffers", [])
    if buffers and "uri" not in buffers[0]:
        declared = int(buffers[0].get("byteLength", 0))
        if glb.bin_chunk_length is None or not declared <= glb.bin_chunk_length <= declared + 7:
            problems.append(
                f"BIN chunk of {glb.bin_chunk_length} bytes for buffer 0 of {declared} bytes"
            )
    return problems


def read_accessor(document: dict[str, Any], binary: bytes, index: int) -> Float64Array:
    """Accessor ``index`` of a GLB as float64 ``(count, components)`` (normalized ints scaled).

    ``EXT_meshopt_compression`` views are decompressed (their fallback buffer holds no data);
    the attributes and indices of ``KHR_draco_mesh_compression`` primitives are decoded.

    Raises
    ------
    ValueError
        For sparse or other view-less accessors, out-of-range views and compressed data
        that does not decode.
    MissingDependencyError
        For a compressed view or primitive without the ``meshopt`` or ``DracoPy`` package.
    """
    accessor = document["accessors"][index]
    if "bufferView" not in accessor and "sparse" not in accessor:
        decoded = _draco_accessor(document, binary, index)
        if decoded is not None:
            return decoded
    if "bufferView" not in accessor or "sparse" in accessor:
        raise ValueError(f"accessor {index} has no plain buffer view (compressed or sparse)")
    view = document["bufferViews"][accessor["bufferView"]]
    data, view_start = _view_data(document, binary, view, index)
    component = int(accessor["componentType"])
    dtype = np.dtype(_DTYPES[component])
    ncomp = _COMPONENTS[accessor["type"]]
    count = int(accessor["count"])
    element = dtype.itemsize * ncomp
    stride = int(view.get("byteStride", element))
    start = view_start + int(accessor.get("byteOffset", 0))
    end = start + (count - 1) * stride + element if count else start
    if end > view_start + int(view["byteLength"]) or end > len(data):
        raise ValueError(f"accessor {index} reads beyond its buffer view")
    raw = np.ndarray(
        shape=(count, ncomp),
        dtype=dtype,
        buffer=data,
        offset=start,
        strides=(stride, dtype.itemsize),
    )
    out = raw.astype(np.float64)
    if accessor.get("normalized") and component in _NORMALIZED_SCALE:
        out = np.maximum(out / _NORMALIZED_SCALE[component], -1.0)
    return out


def _view_data(
    document: dict[str, Any], binary: bytes, view: dict[str, Any], index: int
) -> tuple[bytes, int]:
    """The bytes a buffer view reads and the view's start in them (decompressed if meshopt)."""
    compressed = view.get("extensions", {}).get(EXT_MESHOPT_COMPRESSION)
    if compressed is None:
        if int(view.get("buffer", 0)) != 0 or "uri" in document["buffers"][0]:
            raise ValueError(f"accessor {index} does not read the GLB's BIN chunk")
        return binary, int(view.get("byteOffset", 0))
    if int(compressed.get("buffer", 0)) != 0 or "uri" in document["buffers"][0]:
        raise ValueError(f"accessor {index}: compressed data is not in the GLB's BIN chunk")
    offset = int(compressed.get("byteOffset", 0))
    length = int(compressed["byteLength"])
    count, stride = int(compressed["count"]), int(compressed["byteStride"])
    if offset + length > len(binary):
        raise ValueError(f"accessor {index}: compressed view reads beyond the BIN chunk")
    if count * stride != int(view["byteLength"]):
        raise ValueError(
            f"accessor {index}: compressed view of {count} x {stride} bytes, "
            f"bufferView.byteLength {view['byteLength']}"
        )
    try:
        decoded = meshopt_codec().decode_gltf_buffer(
            binary[offset : offset + length],
            count,
            stride,
            compressed["mode"],
            compressed.get("filter", "NONE"),
        )
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"accessor {index}: meshopt data does not decode: {err}") from err
    return np.ascontiguousarray(decoded).tobytes(), 0


def _draco_accessor(document: dict[str, Any], binary: bytes, index: int) -> Float64Array | None:
    """Accessor ``index`` decoded from the Draco primitive that uses it, or None."""
    for mesh in document.get("meshes", []):
        for primitive in mesh.get("primitives", []):
            draco = primitive.get("extensions", {}).get(KHR_DRACO_MESH_COMPRESSION)
            if draco is None:
                continue
            if primitive.get("indices") == index:
                name = None
            else:
                names = [k for k, v in primitive["attributes"].items() if v == index]
                if not names:
                    continue
                name = names[0]
            view = document["bufferViews"][draco["bufferView"]]
            start = int(view.get("byteOffset", 0))
            try:
                mesh_data = draco_codec().decode(binary[start : start + int(view["byteLength"])])
            except (RuntimeError, ValueError) as err:
                raise ValueError(f"accessor {index}: Draco data does not decode: {err}") from err
            if name is None:
                values = np.asarray(mesh_data.faces).reshape(-1, 1)
            else:
                attribute = mesh_data.get_attribute_by_unique_id(int(draco["attributes"][name]))
                if attribute is None:
                    raise ValueError(f"accessor {index}: Draco data has no attribute {name}")
                values = np.asarray(attribute["data"])
            count = int(document["accessors"][index]["count"])
            out = values.astype(np.float64).reshape(count, -1)
            return out
    return None


def _quaternion_matrix(q: list[float]) -> Float64Array:
    x, y, z, w = (float(v) for v in q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def node_matrix(node: dict[str, Any]) -> Float64Array:
    """The local 4x4 matrix of a glTF node (``matrix`` column-major, or T · R · S)."""
    if "matrix" in node:
        return np.asarray(node["matrix"], dtype=np.float64).reshape(4, 4).T
    m = np.eye(4)
    m[:3, :3] = _quaternion_matrix(node.get("rotation", [0.0, 0.0, 0.0, 1.0])) * np.asarray(
        node.get("scale", [1.0, 1.0, 1.0]), dtype=np.float64
    )
    m[:3, 3] = node.get("translation", [0.0, 0.0, 0.0])
    return m


def scene_positions(glb: Glb) -> Float64Array:
    """All ``POSITION`` values of the default scene with node transforms applied, ``(N, 3)``.

    The result is in the glTF scene frame (y-up), metres, float64.

    Raises
    ------
    ValueError
        For positions that cannot be decoded (see :func:`read_accessor`).
    """
    doc = glb.document
    scenes = doc.get("scenes", [])
    if not scenes:
        return np.zeros((0, 3), dtype=np.float64)
    roots = scenes[int(doc.get("scene", 0))].get("nodes", [])
    nodes = doc.get("nodes", [])
    parts: list[Float64Array] = []
    stack: list[tuple[int, Float64Array]] = [(int(i), np.eye(4)) for i in roots]
    while stack:
        index, parent = stack.pop()
        node = nodes[index]
        world = parent @ node_matrix(node)
        if "mesh" in node:
            seen: set[int] = set()
            for primitive in doc["meshes"][node["mesh"]]["primitives"]:
                accessor = primitive["attributes"].get("POSITION")
                if accessor is None or accessor in seen:
                    continue
                seen.add(accessor)
                p = read_accessor(doc, glb.binary, int(accessor))
                parts.append(p @ world[:3, :3].T + world[:3, 3])
        stack.extend((int(c), world) for c in node.get("children", []))
    if not parts:
        return np.zeros((0, 3), dtype=np.float64)
    return np.concatenate(parts)


@dataclass(frozen=True, slots=True)
class B3dm:
    """The sections of a b3dm tile."""

    byte_length: int
    feature_table: dict[str, Any]
    feature_table_binary: bytes
    batch_table: dict[str, Any] | None
    batch_table_binary: bytes
    glb: bytes
    section_lengths: tuple[int, int, int, int]


def read_b3dm(data: bytes) -> B3dm:
    """Split a b3dm tile into its sections.

    Raises
    ------
    ValueError
        For a wrong magic or version or section lengths beyond the data.
    """
    if len(data) < B3DM_HEADER_LENGTH:
        raise ValueError(f"b3dm of {len(data)} bytes is shorter than its 28-byte header")
    magic, version, byte_length, ftj, ftb, btj, btb = struct.unpack_from("<4sIIIIII", data)
    if magic != B3DM_MAGIC or version != 1:
        raise ValueError(f"not a version-1 b3dm (magic {magic!r}, version {version})")
    start = B3DM_HEADER_LENGTH
    if start + ftj + ftb + btj + btb > min(byte_length, len(data)):
        raise ValueError("b3dm section lengths exceed the tile")
    feature_table = json.loads(data[start : start + ftj].decode("utf-8")) if ftj else {}
    start += ftj
    ft_binary = data[start : start + ftb]
    start += ftb
    batch_table = json.loads(data[start : start + btj].decode("utf-8")) if btj else None
    start += btj
    bt_binary = data[start : start + btb]
    start += btb
    return B3dm(
        byte_length=byte_length,
        feature_table=feature_table,
        feature_table_binary=ft_binary,
        batch_table=batch_table,
        batch_table_binary=bt_binary,
        glb=data[start:byte_length],
        section_lengths=(ftj, ftb, btj, btb),
    )


def _batch_ids(glb: Glb) -> list[Float64Array | None]:
    doc = glb.document
    out: list[Float64Array | None] = []
    for mesh in doc.get("meshes", []):
        for primitive in mesh["primitives"]:
            accessor = primitive["attributes"].get("_BATCHID")
            out.append(
                None if accessor is None else read_accessor(doc, glb.binary, int(accessor))[:, 0]
            )
    return out


def b3dm_problems(data: bytes) -> list[str]:
    """Check a b3dm tile (T3D-8); an empty list when it is sound.

    Checks: header arithmetic, 8-byte section alignment, ``BATCH_LENGTH``, ``_BATCHID`` presence
    and range, batch-table array lengths, and the embedded GLB layout.
    """
    try:
        tile = read_b3dm(data)
    except (ValueError, UnicodeDecodeError) as err:
        return [str(err)]
    problems = []
    ftj, ftb, btj, btb = tile.section_lengths
    if tile.byte_length != len(data):
        problems.append(f"byteLength {tile.byte_length} != file size {len(data)}")
    if tile.byte_length % 8:
        problems.append(f"byteLength {tile.byte_length} is not a multiple of 8")
    boundaries = {
        "feature table JSON": B3DM_HEADER_LENGTH + ftj,
        "feature table binary": B3DM_HEADER_LENGTH + ftj + ftb,
        "batch table JSON": B3DM_HEADER_LENGTH + ftj + ftb + btj,
        "batch table binary": B3DM_HEADER_LENGTH + ftj + ftb + btj + btb,
    }
    for name, end in boundaries.items():
        if end % 8:
            problems.append(f"{name} ends at byte {end}, not on an 8-byte boundary")
    if btj == 0 and btb:
        problems.append("batch table binary without batch table JSON")
    batch_length = tile.feature_table.get("BATCH_LENGTH")
    if not isinstance(batch_length, int) or isinstance(batch_length, bool) or batch_length < 0:
        problems.append(f"BATCH_LENGTH missing or not a non-negative integer: {batch_length!r}")
        batch_length = None
    problems += [f"embedded GLB: {p}" for p in glb_problems(tile.glb, standalone=False)]
    try:
        glb = read_glb(tile.glb)
        ids = _batch_ids(glb)
    except (ValueError, KeyError, UnicodeDecodeError) as err:
        problems.append(f"embedded GLB cannot be read: {err}")
        return problems
    if batch_length is not None and (batch_length > 0 or tile.batch_table is not None):
        if not ids or any(i is None for i in ids):
            problems.append(
                f"BATCH_LENGTH {batch_length} (or a batch table) but primitives without _BATCHID (T3D-8)"
            )
        present = [i for i in ids if i is not None and i.size]
        if present:
            top = max(float(i.max()) for i in present)
            if top >= batch_length or min(float(i.min()) for i in present) < 0:
                problems.append(
                    f"_BATCHID values up to {top:g} outside [0, BATCH_LENGTH={batch_length})"
                )
    if batch_length is not None and tile.batch_table:
        for name, values in tile.batch_table.items():
            if isinstance(values, list) and len(values) != batch_length:
                problems.append(
                    f"batch table column {name!r} has {len(values)} values, BATCH_LENGTH {batch_length}"
                )
    return problems
