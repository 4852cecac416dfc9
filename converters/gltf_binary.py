"""Binary layout of glTF buffers and GLB containers with 8-byte alignment (correctness.md T3D-7).

Every buffer view starts on a multiple of 8 bytes, which satisfies the alignment of every
component type including 64-bit metadata columns; the GLB JSON chunk is padded with spaces so
the BIN chunk (and the end of the file) sit on 8-byte file offsets. The same rules serve
3D Tiles binary containers (subtrees, b3dm).
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

__all__ = [
    "ALIGNMENT",
    "ARRAY_BUFFER",
    "ELEMENT_ARRAY_BUFFER",
    "GLB_MAGIC",
    "BufferBuilder",
    "dump_json",
    "pack_glb",
    "pad_json",
]

ALIGNMENT = 8
"""Byte alignment of buffer views and GLB chunks."""
ARRAY_BUFFER = 34962
"""``bufferView.target`` of vertex attributes."""
ELEMENT_ARRAY_BUFFER = 34963
"""``bufferView.target`` of indices."""
GLB_MAGIC = 0x46546C67  # b"glTF"
_CHUNK_JSON = 0x4E4F534A  # b"JSON"
_CHUNK_BIN = 0x004E4942  # b"BIN\0"
_GLB_HEADER = 12
_CHUNK_HEADER = 8


def _pad(n: int, alignment: int = ALIGNMENT) -> int:
    return (-n) % alignment


class BufferBuilder:
    """Collects byte blocks into one buffer, each starting on an 8-byte offset.

    ``views`` holds the glTF ``bufferView`` objects (``buffer`` 0) in insertion order.
    """

    __slots__ = ("_blocks", "_length", "views")

    def __init__(self) -> None:
        self._blocks: list[bytes] = []
        self._length = 0
        self.views: list[dict[str, Any]] = []

    def add_view(
        self,
        data: bytes | np.ndarray[Any, Any],
        *,
        target: int | None = None,
        byte_stride: int | None = None,
    ) -> int:
        """Append ``data`` (little-endian bytes or a contiguous array) as a new buffer view.

        Returns
        -------
        int
            The index of the new ``bufferView``.

        Raises
        ------
        ValueError
            For empty data (glTF requires ``byteLength >= 1``).
        """
        offset, length = self.add_bytes(data)
        view: dict[str, Any] = {"buffer": 0, "byteOffset": offset, "byteLength": length}
        if byte_stride is not None:
            view["byteStride"] = byte_stride
        if target is not None:
            view["target"] = target
        return self.append_view(view)

    def add_bytes(self, data: bytes | np.ndarray[Any, Any]) -> tuple[int, int]:
        """Append ``data`` on an 8-byte offset without a view of its own.

        For data a view of another shape points at, e.g. the compressed bytes of an
        ``EXT_meshopt_compression`` view.

        Returns
        -------
        tuple of int
            ``(byteOffset, byteLength)`` of the data in the buffer.

        Raises
        ------
        ValueError
            For empty data (glTF requires ``byteLength >= 1``).
        """
        raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
        if not raw:
            raise ValueError("a glTF bufferView cannot be empty")
        pad = _pad(self._length)
        if pad:
            self._blocks.append(b"\0" * pad)
            self._length += pad
        offset = self._length
        self._blocks.append(raw)
        self._length += len(raw)
        return offset, len(raw)

    def append_view(self, view: dict[str, Any]) -> int:
        """Append a ready ``bufferView`` object; returns its index."""
        self.views.append(view)
        return len(self.views) - 1

    @property
    def byte_length(self) -> int:
        """Length of the buffer including the final padding to 8 bytes."""
        return self._length + _pad(self._length)

    def to_bytes(self) -> bytes:
        """The buffer, zero-padded to a multiple of 8 bytes."""
        tail = _pad(self._length)
        return b"".join([*self._blocks, b"\0" * tail])


def dump_json(document: Any) -> bytes:
    """Compact, deterministic UTF-8 JSON (no NaN/Infinity, non-ASCII kept as UTF-8)."""
    return json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(
        "utf-8"
    )


def pad_json(data: bytes, start: int) -> bytes:
    """Pad JSON bytes with spaces so that ``start + len(result)`` is a multiple of 8."""
    return data + b" " * _pad(start + len(data))


def pack_glb(json_bytes: bytes, binary: bytes) -> bytes:
    """Assemble a GLB 2.0 container from glTF JSON (UTF-8, e.g. :func:`dump_json`) and its BIN buffer.

    The JSON chunk data starts at byte 20 and is space-padded so that ``(20 + jsonLength) % 8
    == 0``; the BIN chunk (omitted when ``binary`` is empty) is zero-padded to a multiple of 8,
    so the total length is a multiple of 8 too (T3D-7).

    Raises
    ------
    ValueError
        When the result would exceed the 32-bit GLB length field.
    """
    json_chunk = pad_json(json_bytes, _GLB_HEADER + _CHUNK_HEADER)
    bin_chunk = binary + b"\0" * _pad(len(binary))
    total = _GLB_HEADER + _CHUNK_HEADER + len(json_chunk)
    if bin_chunk:
        total += _CHUNK_HEADER + len(bin_chunk)
    if total > 0xFFFFFFFF:
        raise ValueError(
            f"GLB would be {total} bytes; the format's limit is 4 GiB - 1 (split the data)"
        )
    parts = [
        struct.pack("<III", GLB_MAGIC, 2, total),
        struct.pack("<II", len(json_chunk), _CHUNK_JSON),
        json_chunk,
    ]
    if bin_chunk:
        parts += [struct.pack("<II", len(bin_chunk), _CHUNK_BIN), bin_chunk]
    return b"".join(parts)
