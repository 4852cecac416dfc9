"""A small, independent glTF/GLB reader for tests: binary layout checks and decoding.

Written from the glTF 2.0, EXT_mesh_features and EXT_structural_metadata specifications; it
shares no code with the writer, so it can catch the writer's mistakes. Layout violations raise
``AssertionError`` with a message.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

COMPONENT_DTYPES = {5120: "<i1", 5121: "<u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
TYPE_SIZES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
METADATA_DTYPES = {
    "INT8": "<i1",
    "UINT8": "<u1",
    "INT16": "<i2",
    "UINT16": "<u2",
    "INT32": "<i4",
    "UINT32": "<u4",
    "INT64": "<i8",
    "UINT64": "<u8",
    "FLOAT32": "<f4",
    "FLOAT64": "<f8",
}


@dataclass
class Gltf:
    """A parsed glTF: its JSON document and the bytes of buffer 0 (empty when absent)."""

    document: dict[str, Any]
    binary: bytes
    json_chunk_length: int = 0
    bin_chunk_offset: int = 0  # file offset of the BIN chunk data (GLB only)

    # ------------------------------------------------------------------ geometry
    def view_bytes(self, index: int) -> bytes:
        view = self.document["bufferViews"][index]
        start = view.get("byteOffset", 0)
        return self.binary[start : start + view["byteLength"]]

    def accessor(self, index: int) -> np.ndarray:
        """Decode an accessor (honouring byteStride) as an ``(count, components)`` array."""
        acc = self.document["accessors"][index]
        view = self.document["bufferViews"][acc["bufferView"]]
        dtype = np.dtype(COMPONENT_DTYPES[acc["componentType"]])
        components = TYPE_SIZES[acc["type"]]
        element = dtype.itemsize * components
        stride = view.get("byteStride", element)
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        count = acc["count"]
        end = start + stride * (count - 1) + element if count else start
        assert end <= view.get("byteOffset", 0) + view["byteLength"], (
            f"accessor {index} overruns its bufferView"
        )
        raw = (
            np.frombuffer(self.binary, dtype=np.uint8, count=end - start, offset=start)
            if count
            else np.zeros(0, np.uint8)
        )
        if count == 0:
            return np.zeros((0, components), dtype)
        rows = np.lib.stride_tricks.as_strided(raw, shape=(count, element), strides=(stride, 1))
        return np.ascontiguousarray(rows).view(dtype).reshape(count, components)

    def primitives(self) -> list[dict[str, Any]]:
        return [p for m in self.document.get("meshes", []) for p in m["primitives"]]

    # ------------------------------------------------------------------ metadata
    def property_table(self, index: int = 0) -> dict[str, list[Any]]:
        """Decode a property table; ``noData`` -> None, omitted properties -> ``default``/None.

        Keys are the property ids of the class.
        """
        ext = self.document["extensions"]["EXT_structural_metadata"]
        table = ext["propertyTables"][index]
        cls = ext["schema"]["classes"][table["class"]]
        count = table["count"]
        out: dict[str, list[Any]] = {}
        for pid, prop in cls["properties"].items():
            entry = table.get("properties", {}).get(pid)
            if entry is None:
                assert not prop.get("required"), f"required property {pid} missing from the table"
                out[pid] = [prop.get("default")] * count
                continue
            values = self._decode_property(prop, entry, count, pid)
            no_data = prop.get("noData")
            if no_data is not None:
                values = [None if v == no_data else v for v in values]
            out[pid] = values
        return out

    def _decode_property(
        self, prop: dict[str, Any], entry: dict[str, Any], count: int, pid: str
    ) -> list[Any]:
        values = self.view_bytes(entry["values"])
        ptype = prop["type"]
        if ptype == "STRING":
            offset_type = entry.get("stringOffsetType", "UINT32")
            offsets_raw = self.view_bytes(entry["stringOffsets"])
            offsets = np.frombuffer(offsets_raw, dtype=METADATA_DTYPES[offset_type])
            assert offsets.shape == (count + 1,), (
                f"{pid}: {offsets.shape[0]} string offsets for {count} rows"
            )
            assert offsets[0] == 0 and np.all(np.diff(offsets.astype(np.int64)) >= 0), (
                f"{pid}: bad offsets"
            )
            assert int(offsets[-1]) == len(values), f"{pid}: values byteLength != last offset"
            return [values[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(count)]
        if ptype == "BOOLEAN":
            assert len(values) == (count + 7) // 8, f"{pid}: boolean byteLength"
            bits = np.unpackbits(np.frombuffer(values, np.uint8), bitorder="little")[:count]
            return [bool(b) for b in bits]
        assert ptype == "SCALAR", f"{pid}: unsupported type {ptype}"
        dtype = np.dtype(METADATA_DTYPES[prop["componentType"]])
        assert len(values) == count * dtype.itemsize, f"{pid}: byteLength != count * size"
        return np.frombuffer(values, dtype=dtype).tolist()


def read_glb(data: bytes) -> Gltf:
    """Parse a GLB and assert the container rules incl. 8-byte chunk alignment (T3D-7)."""
    magic, version, length = struct.unpack_from("<4sII", data, 0)
    assert magic == b"glTF", magic
    assert version == 2
    assert length == len(data), f"header length {length} != file length {len(data)}"
    json_len, json_type = struct.unpack_from("<I4s", data, 12)
    assert json_type == b"JSON"
    assert (20 + json_len) % 8 == 0, f"JSON chunk ends at {20 + json_len}, not 8-aligned"
    assert len(data) % 8 == 0, f"file length {len(data)} not a multiple of 8"
    json_bytes = data[20 : 20 + json_len]
    document = json.loads(json_bytes.decode("utf-8"))
    assert json_bytes.rstrip(b" ") == json_bytes.rstrip(), "JSON padding is not spaces"
    binary = b""
    bin_offset = 0
    pos = 20 + json_len
    if pos < len(data):
        bin_len, bin_type = struct.unpack_from("<I4s", data, pos)
        assert bin_type == b"BIN\0"
        bin_offset = pos + 8
        assert bin_offset % 8 == 0
        binary = data[bin_offset : bin_offset + bin_len]
        assert bin_offset + bin_len == len(data), "trailing bytes after BIN chunk"
        buffer_len = document["buffers"][0]["byteLength"]
        assert buffer_len <= bin_len <= buffer_len + 7, "BIN chunk vs buffer.byteLength"
        assert "uri" not in document["buffers"][0]
    else:
        assert "buffers" not in document
    gltf = Gltf(document, binary, json_len, bin_offset)
    check_views(gltf)
    return gltf


def read_gltf_json(data: bytes) -> Gltf:
    """Parse a ``.gltf`` whose buffer is an embedded base64 data URI."""
    document = json.loads(data.decode("utf-8"))
    binary = b""
    if "buffers" in document:
        (buffer,) = document["buffers"]
        prefix = "data:application/octet-stream;base64,"
        assert buffer["uri"].startswith(prefix)
        binary = base64.b64decode(buffer["uri"][len(prefix) :])
        assert len(binary) == buffer["byteLength"]
    gltf = Gltf(document, binary)
    check_views(gltf)
    return gltf


def read_file(path: str | Path) -> Gltf:
    data = Path(path).read_bytes()
    return read_glb(data) if data[:4] == b"glTF" else read_gltf_json(data)


def check_views(gltf: Gltf) -> None:
    """Every bufferView inside the buffer and 8-aligned (in the file too, for GLB)."""
    for i, view in enumerate(gltf.document.get("bufferViews", [])):
        offset = view.get("byteOffset", 0)
        assert view["byteLength"] >= 1
        assert offset % 8 == 0, f"bufferView {i} at byteOffset {offset}"
        assert (gltf.bin_chunk_offset + offset) % 8 == 0, (
            f"bufferView {i} not 8-aligned in the file"
        )
        assert offset + view["byteLength"] <= len(gltf.binary), (
            f"bufferView {i} overruns the buffer"
        )
