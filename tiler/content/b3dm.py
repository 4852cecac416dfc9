"""Batched 3D Model (``b3dm``) tiles for 3D Tiles 1.0 output (correctness.md T3D-8).

Layout written by :func:`encode_b3dm` (every section boundary on an 8-byte offset of the tile)::

    28-byte header | feature table JSON | feature table binary | batch table JSON
                   | batch table binary | binary glTF | zero padding to 8 bytes

The feature table JSON holds ``BATCH_LENGTH`` (required) and optionally ``RTC_CENTER`` as JSON
numbers (doubles; the binary ``float32[3]`` form would lose 0.25-0.5 m at ECEF scale). JSON
sections are padded with spaces, binary sections with zeros. The embedded GLB must carry the
``_BATCHID`` vertex attribute whenever ``BATCH_LENGTH > 0`` or a batch table exists — the
official validator does not check that (T3D-0 blind spot 3); :func:`citymodel.tiler.readers.b3dm_problems`
does.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy.typing as npt

from citymodel.converters.gltf import SemanticMaterials
from citymodel.converters.gltf_binary import ALIGNMENT, dump_json, pad_json
from citymodel.converters.gltf_compression import Compression
from citymodel.converters.texture_encoding import TextureEncoding
from citymodel.mesh import FeatureTable, MeshBatch
from citymodel.tiler.content.glb import (
    TileContent,
    content_of,
    encode_local_glb,
    local_geometry,
)
from citymodel.tiler.texture_atlas import DEFAULT_ATLAS_SIZE

__all__ = [
    "B3DM_HEADER_LENGTH",
    "B3DM_MAGIC",
    "batch_table_json",
    "encode_b3dm",
    "encode_tile_b3dm",
]

B3DM_MAGIC = b"b3dm"
B3DM_HEADER_LENGTH = 28
_VERSION = 1
_UINT32_MAX = 2**32 - 1


def _json_value(value: Any) -> Any:
    """A batch-table cell as JSON: dates as ISO 8601 text, NaN/inf as ``null``."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def batch_table_json(features: FeatureTable) -> dict[str, list[Any]]:
    """The batch table of ``features``: one JSON array per column, ``null`` for no value.

    Row ``i`` belongs to batch id ``i`` (the feature id of :class:`~citymodel.mesh.Mesh`).
    Column names are kept verbatim (batch-table keys are free text).
    """
    return {name: [_json_value(v) for v in column] for name, column in features.columns.items()}


def encode_b3dm(
    glb: bytes,
    batch_table: Mapping[str, Any] | None,
    batch_table_binary: bytes,
    batch_length: int,
    *,
    rtc_center: Sequence[float] | None = None,
) -> bytes:
    """Wrap a GLB in a b3dm tile.

    Parameters
    ----------
    glb
        Binary glTF 2.0 whose primitives carry ``_BATCHID`` (y-up, T3D-2 / T3D-8).
    batch_table
        Batch table JSON (per-feature arrays of ``batch_length`` values, or binary references);
        ``None`` or empty = no batch table.
    batch_table_binary
        Batch table binary body referenced by ``batch_table`` (``b""`` for none).
    batch_length
        ``BATCH_LENGTH``: number of features (0 when the GLB has no ``_BATCHID``).
    rtc_center
        Optional ECEF centre (metres, EPSG:4978) the positions are relative to, written as JSON
        doubles in the feature table.

    Returns
    -------
    bytes
        The tile; its length is a multiple of 8.

    Raises
    ------
    ValueError
        For a negative ``batch_length``, batch-table arrays of another length, a binary body
        without a batch table, a malformed ``rtc_center`` or a tile larger than 4 GiB.
    """
    if batch_length < 0:
        raise ValueError(f"BATCH_LENGTH must be >= 0, got {batch_length}")
    if glb[:4] != b"glTF":
        raise ValueError("the b3dm body must be a binary glTF (magic 'glTF')")
    feature_table: dict[str, Any] = {"BATCH_LENGTH": batch_length}
    if rtc_center is not None:
        center = [float(v) for v in rtc_center]
        if len(center) != 3 or not all(math.isfinite(v) for v in center):
            raise ValueError("RTC_CENTER must be 3 finite numbers")
        feature_table["RTC_CENTER"] = center
    if batch_table:
        for name, values in batch_table.items():
            if isinstance(values, list) and len(values) != batch_length:
                raise ValueError(
                    f"batch table column {name!r} has {len(values)} values, BATCH_LENGTH is {batch_length}"
                )
    elif batch_table_binary:
        raise ValueError("a batch table binary body needs a batch table JSON header")

    offset = B3DM_HEADER_LENGTH
    ft_json = pad_json(dump_json(feature_table), offset)
    offset += len(ft_json)
    bt_json = pad_json(dump_json(dict(batch_table)), offset) if batch_table else b""
    offset += len(bt_json)
    bt_binary = batch_table_binary + b"\0" * (-len(batch_table_binary) % ALIGNMENT)
    offset += len(bt_binary)
    tail = b"\0" * (-(offset + len(glb)) % ALIGNMENT)
    total = offset + len(glb) + len(tail)
    if total > _UINT32_MAX:
        raise ValueError(f"b3dm tile of {total} bytes exceeds the 4 GiB uint32 limit")
    header = struct.pack(
        "<4sIIIIII",
        B3DM_MAGIC,
        _VERSION,
        total,
        len(ft_json),
        0,
        len(bt_json),
        len(bt_binary),
    )
    return b"".join([header, ft_json, bt_json, bt_binary, glb, tail])


def encode_tile_b3dm(
    batch: MeshBatch,
    *,
    frame: npt.ArrayLike | None = None,
    materials: SemanticMaterials | None = None,
    extras: Mapping[str, Any] | None = None,
    compression: Compression = "none",
    atlas_size: int = DEFAULT_ATLAS_SIZE,
    textures: TextureEncoding | None = None,
) -> TileContent:
    """Encode an ECEF mesh batch as a b3dm tile content (3D Tiles 1.0, T3D-8).

    The embedded GLB is placed exactly like :func:`~citymodel.tiler.content.glb.encode_tile_glb`
    places its GLB (local float32 positions, z-up -> y-up root node, T3D-2) and carries the
    feature ids as ``_BATCHID`` without ``EXT_`` extensions; the batch table holds every column
    of ``batch.features`` as JSON arrays (``null`` for no value); ``BATCH_LENGTH`` is the number
    of feature rows.

    Parameters
    ----------
    batch
        Mesh with ECEF (EPSG:4978) float64 positions, metres, and its feature table.
    frame
        None: own ENU frame (``TileContent.transform`` becomes the tile's transform); otherwise
        a shared (4, 4) local -> ECEF matrix.
    materials, extras, compression
        Passed to :func:`citymodel.converters.gltf.encode_glb`.
    atlas_size, textures
        Texture pixel budget and image format of the content
        (:func:`~citymodel.tiler.content.glb.encode_local_glb`).

    Raises
    ------
    ValueError
        For an empty or non-ECEF batch, or feature ids the table does not cover.
    """
    geometry = local_geometry(batch, frame=frame)
    glb = encode_local_glb(
        batch,
        geometry,
        materials=materials,
        extras=extras,
        batch_ids=True,
        compression=compression,
        atlas_size=atlas_size,
        textures=textures,
    )
    table = batch_table_json(batch.features)
    data = encode_b3dm(glb, table or None, b"", batch.features.row_count)
    return content_of(data, geometry, batch)
