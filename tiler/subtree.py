"""Subtree files of implicit tiling: availability bitstreams and their binary layout (T3D-5).

A subtree holds three availabilities, each a bitstream or a constant: tiles (levels ``0..L-1``
of the subtree, each level in Morton order), content (same layout, one per content layer) and
child subtrees (the ``branching**L`` cells of the level below the subtree). Bitstreams are
LSB-first within each byte, trailing bits zero.

Binary format: a 24-byte header (``subt``, version 1, uint64 JSON length, uint64 binary
length), the JSON padded with spaces and the binary body with zeros to multiples of 8, every
buffer view on an 8-byte offset; all-equal availabilities are written as
``{"constant": 0|1}``. :func:`subtree_problems` checks the rules inside one subtree: a tile
available => its parent available; content available => tile available; at least one
available tile; a child subtree only below an available tile.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from citymodel._typing import BoolArray
from citymodel.converters.gltf_binary import BufferBuilder, dump_json, pad_json

__all__ = [
    "SUBTREE_HEADER_LENGTH",
    "SUBTREE_MAGIC",
    "SubtreeAvailability",
    "decode_subtree",
    "encode_subtree",
    "level_offset",
    "pack_bitstream",
    "subtree_layout_problems",
    "subtree_problems",
    "tile_bit_count",
    "unpack_bitstream",
]

SUBTREE_MAGIC = b"subt"
SUBTREE_HEADER_LENGTH = 24
_SUBTREE_VERSION = 1


def level_offset(level: int, branching: int) -> int:
    """Index of the first bit of subtree-relative ``level`` in a tile availability bitstream."""
    return int((branching**level - 1) // (branching - 1))


def tile_bit_count(subtree_levels: int, branching: int) -> int:
    """Number of bits of the tile (and content) availability of a subtree."""
    return level_offset(subtree_levels, branching)


def pack_bitstream(flags: npt.ArrayLike) -> bytes:
    """Pack booleans into bytes, bit ``i`` at byte ``i // 8``, bit ``i % 8`` (LSB first)."""
    bits = np.asarray(flags, dtype=bool)
    return np.packbits(bits, bitorder="little").tobytes()


def unpack_bitstream(data: bytes, count: int) -> BoolArray:
    """Inverse of :func:`pack_bitstream`: the first ``count`` bits as booleans.

    Raises
    ------
    ValueError
        When ``data`` holds fewer than ``count`` bits.
    """
    if len(data) * 8 < count:
        raise ValueError(f"bitstream of {len(data)} bytes is too short for {count} bits")
    raw = np.frombuffer(data, dtype=np.uint8)
    out: BoolArray = np.unpackbits(raw, bitorder="little", count=count).astype(bool)
    return out


def _levels_from_bits(tile_bits: int, branching: int) -> int:
    levels = 0
    while level_offset(levels, branching) < tile_bits:
        levels += 1
    if level_offset(levels, branching) != tile_bits:
        raise ValueError(
            f"{tile_bits} tile bits do not form whole levels of a {branching}-ary tree"
        )
    return levels


@dataclass(frozen=True, slots=True)
class SubtreeAvailability:
    """The availability of one subtree.

    Attributes
    ----------
    tiles
        ``(tile_bit_count(L, b),)`` booleans: levels ``0..L-1`` of the subtree, each in Morton
        order of the subtree-relative coordinates.
    contents
        One array like ``tiles`` per content layer (usually one).
    child_subtrees
        ``(b**L,)`` booleans in Morton order of the level below the subtree.
    """

    tiles: BoolArray
    contents: tuple[BoolArray, ...]
    child_subtrees: BoolArray

    def __post_init__(self) -> None:
        tiles = np.asarray(self.tiles, dtype=bool)
        children = np.asarray(self.child_subtrees, dtype=bool)
        contents = tuple(np.asarray(c, dtype=bool) for c in self.contents)
        branching = self._branching_of(tiles.size, children.size)
        levels = _levels_from_bits(tiles.size, branching)
        if children.size != branching**levels:
            raise ValueError(
                f"child subtree availability needs {branching**levels} bits, got {children.size}"
            )
        if any(c.shape != tiles.shape for c in contents):
            raise ValueError("content availability must have the shape of tile availability")
        object.__setattr__(self, "tiles", tiles)
        object.__setattr__(self, "child_subtrees", children)
        object.__setattr__(self, "contents", contents)

    @staticmethod
    def _branching_of(tile_bits: int, child_bits: int) -> int:
        for branching in (4, 8):
            try:
                levels = _levels_from_bits(tile_bits, branching)
            except ValueError:
                continue
            if child_bits == branching**levels:
                return branching
        raise ValueError(
            f"{tile_bits} tile bits and {child_bits} child bits fit neither a quadtree nor an octree"
        )

    @property
    def branching(self) -> int:
        """4 (quadtree) or 8 (octree)."""
        return self._branching_of(self.tiles.size, self.child_subtrees.size)

    @property
    def subtree_levels(self) -> int:
        """Number of levels in the subtree."""
        return _levels_from_bits(self.tiles.size, self.branching)


def _availability_json(flags: BoolArray, builder: BufferBuilder) -> dict[str, int]:
    count = int(flags.sum())
    if count == 0:
        return {"availableCount": 0, "constant": 0}
    if count == flags.size:
        return {"availableCount": count, "constant": 1}
    return {"bitstream": builder.add_view(pack_bitstream(flags)), "availableCount": count}


def encode_subtree(availability: SubtreeAvailability) -> bytes:
    """Encode a subtree as a binary ``.subtree`` file (T3D-5).

    All-equal availabilities are written as ``{"constant": 0|1}``; the others as bitstreams in
    one internal buffer (the binary chunk). Same input, same bytes.
    """
    builder = BufferBuilder()
    tile = _availability_json(availability.tiles, builder)
    contents = [_availability_json(c, builder) for c in availability.contents]
    children = _availability_json(availability.child_subtrees, builder)
    document: dict[str, Any] = {}
    if builder.views:
        document["buffers"] = [{"byteLength": builder.byte_length}]
        document["bufferViews"] = builder.views
    document["tileAvailability"] = tile
    if contents:
        document["contentAvailability"] = contents
    document["childSubtreeAvailability"] = children
    json_bytes = pad_json(dump_json(document), SUBTREE_HEADER_LENGTH)
    binary = builder.to_bytes() if builder.views else b""
    header = struct.pack("<4sIQQ", SUBTREE_MAGIC, _SUBTREE_VERSION, len(json_bytes), len(binary))
    return header + json_bytes + binary


def _split_subtree(data: bytes) -> tuple[dict[str, Any], bytes]:
    if len(data) < SUBTREE_HEADER_LENGTH:
        raise ValueError(f"subtree of {len(data)} bytes is shorter than its 24-byte header")
    magic, version, json_length, binary_length = struct.unpack_from("<4sIQQ", data)
    if magic != SUBTREE_MAGIC or version != _SUBTREE_VERSION:
        raise ValueError(f"not a version-1 subtree (magic {magic!r}, version {version})")
    end = SUBTREE_HEADER_LENGTH + json_length
    if end + binary_length > len(data):
        raise ValueError(
            f"subtree header announces {SUBTREE_HEADER_LENGTH + json_length + binary_length} bytes, file has {len(data)}"
        )
    document = json.loads(data[SUBTREE_HEADER_LENGTH:end].decode("utf-8"))
    if not isinstance(document, dict):
        raise ValueError("subtree JSON is not an object")
    return document, data[end : end + binary_length]


def subtree_layout_problems(data: bytes) -> list[str]:
    """Binary layout checks of a subtree file: header, 8-byte padding, view alignment (T3D-5)."""
    try:
        document, binary = _split_subtree(data)
    except (ValueError, UnicodeDecodeError) as err:
        return [str(err)]
    problems = []
    json_length, binary_length = struct.unpack_from("<QQ", data, 8)
    if (SUBTREE_HEADER_LENGTH + json_length) % 8:
        problems.append(f"JSON length {json_length} leaves the binary chunk off an 8-byte boundary")
    if binary_length % 8:
        problems.append(f"binary length {binary_length} is not a multiple of 8")
    if SUBTREE_HEADER_LENGTH + json_length + binary_length != len(data):
        problems.append(f"header lengths do not add up to the file size {len(data)}")
    buffers = document.get("buffers", [])
    for i, view in enumerate(document.get("bufferViews", [])):
        offset, length = int(view.get("byteOffset", 0)), int(view["byteLength"])
        if offset % 8:
            problems.append(f"bufferView {i} byteOffset {offset} is not 8-aligned")
        buffer = buffers[int(view["buffer"])] if int(view["buffer"]) < len(buffers) else None
        if buffer is None or offset + length > int(buffer["byteLength"]):
            problems.append(f"bufferView {i} lies outside its buffer")
    for i, buffer in enumerate(buffers):
        if "uri" not in buffer and int(buffer["byteLength"]) > len(binary):
            problems.append(
                f"internal buffer {i} ({buffer['byteLength']} bytes) exceeds the binary chunk"
            )
    return problems


def decode_subtree(
    data: bytes,
    *,
    subtree_levels: int,
    octree: bool = False,
    read_buffer: Callable[[str], bytes] | None = None,
) -> SubtreeAvailability:
    """Decode a binary ``.subtree`` file.

    Parameters
    ----------
    data
        The file content.
    subtree_levels
        ``implicitTiling.subtreeLevels`` of the tileset.
    octree
        True for ``OCTREE`` subdivision.
    read_buffer
        Loads external buffers by their ``uri`` (relative to the subtree file); needed only for
        subtrees that reference one.

    Raises
    ------
    ValueError
        For a malformed file or bitstreams of the wrong size.
    """
    document, binary = _split_subtree(data)
    branching = 8 if octree else 4
    buffers: list[bytes] = []
    for buffer in document.get("buffers", []):
        uri = buffer.get("uri")
        if uri is None:
            buffers.append(binary)
        elif read_buffer is None:
            raise ValueError(f"subtree references external buffer {uri!r} and no reader was given")
        else:
            buffers.append(read_buffer(str(uri)))
    views = document.get("bufferViews", [])

    def flags(obj: Mapping[str, Any], count: int) -> BoolArray:
        if "constant" in obj:
            return np.full(count, bool(obj["constant"]), dtype=bool)
        view = views[int(obj["bitstream"])]
        start = int(view.get("byteOffset", 0))
        raw = buffers[int(view["buffer"])][start : start + int(view["byteLength"])]
        return unpack_bitstream(raw, count)

    tile_bits = tile_bit_count(subtree_levels, branching)
    return SubtreeAvailability(
        tiles=flags(document["tileAvailability"], tile_bits),
        contents=tuple(flags(c, tile_bits) for c in document.get("contentAvailability", [])),
        child_subtrees=flags(document["childSubtreeAvailability"], branching**subtree_levels),
    )


def subtree_problems(availability: SubtreeAvailability) -> list[str]:
    """Consistency rules inside one subtree (T3D-5); an empty list when all hold."""
    b = availability.branching
    levels = availability.subtree_levels
    tiles = availability.tiles
    problems = []
    if not tiles.any():
        problems.append("subtree has no available tile")
    for level in range(1, levels):
        start, stop = level_offset(level, b), level_offset(level + 1, b)
        idx = np.arange(stop - start)
        parents = level_offset(level - 1, b) + idx // b
        orphan = tiles[start:stop] & ~tiles[parents]
        if orphan.any():
            problems.append(
                f"{int(orphan.sum())} tile(s) at subtree level {level} without an available parent"
            )
    for i, content in enumerate(availability.contents):
        if (content & ~tiles).any():
            problems.append(
                f"content {i} available for {int((content & ~tiles).sum())} unavailable tile(s)"
            )
    last = tiles[level_offset(levels - 1, b) : level_offset(levels, b)]
    orphan_subtrees = availability.child_subtrees & ~np.repeat(last, b)
    if orphan_subtrees.any():
        problems.append(f"{int(orphan_subtrees.sum())} child subtree(s) below unavailable tiles")
    return problems
