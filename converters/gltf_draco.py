"""Draco-compressed glTF primitives (``KHR_draco_mesh_compression``).

What ``compression="draco"`` changes in a glTF written by :mod:`citymodel.converters.gltf`:

- Each primitive (one per semantic surface type) gets its own vertices — the triangles of one
  surface type never share vertices with another's, because vertices are per polygon — and is
  encoded as one Draco mesh in a buffer view of buffer 0. Its accessors have no ``bufferView``;
  clients decode the Draco data (CesiumJS, 3DTilesRendererJS, loaders.gl do).
- ``POSITION`` is quantized by Draco on a grid over the whole mesh's bounding cube with the
  fewest bits (at most 30) that keep every position within ``max_position_error`` (default
  1 cm: the worst error is ``sqrt(3) / 2 · range / (2^bits − 1)``). ``NORMAL`` uses 10 bits
  (octahedral, < 0.2° of direction). Feature ids (``_FEATURE_ID_0`` or ``_BATCHID``) are a
  generic integer attribute, stored losslessly (T3D-6: ids are exact).
- The accessors' ``min``/``max`` are those of the **decoded** positions: every primitive is
  decoded again after encoding (which also proves the encoding round-trips).
- ``KHR_draco_mesh_compression`` goes into ``extensionsUsed`` and ``extensionsRequired``.

The encoder is the ``DracoPy`` package (the ``compress`` extra), imported on first use.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from citymodel.errors import MissingDependencyError

__all__ = [
    "KHR_DRACO_MESH_COMPRESSION",
    "DracoPrimitive",
    "draco_codec",
    "draco_position_bits",
    "encode_draco_primitive",
]

KHR_DRACO_MESH_COMPRESSION = "KHR_draco_mesh_compression"
NORMAL_BITS = 10
COMPRESSION_LEVEL = 7  # Draco's speed/size trade-off, 0 (fast) .. 10; 7 is its default
_MAX_BITS = 30
_HALF_DIAGONAL = math.sqrt(3.0) / 2.0
# Draco attribute types (draco::GeometryAttribute::Type)
_POSITION, _NORMAL, _GENERIC = 0, 1, 4


def draco_codec() -> ModuleType:
    """The ``DracoPy`` module (Google Draco's encoder and decoder).

    Raises
    ------
    MissingDependencyError
        When the package is not installed (extra ``compress``).
    """
    try:
        return importlib.import_module("DracoPy")
    except ImportError as err:
        raise MissingDependencyError("DracoPy", "compress") from err


def draco_position_bits(extent: float, max_error: float) -> int:
    """Fewest quantization bits keeping positions within ``max_error`` over ``extent``.

    Parameters
    ----------
    extent
        Largest edge of the quantization cube, metres (>= 0).
    max_error
        Largest allowed position error, metres (> 0).

    Raises
    ------
    ValueError
        When even 30 bits are too coarse (an extent above ~9,900 km at 1 cm).
    """
    if not max_error > 0.0:
        raise ValueError(f"max_error must be positive, got {max_error}")
    if extent <= 0.0:
        return 1
    steps = _HALF_DIAGONAL * extent / max_error  # grid intervals needed: 2^bits - 1 >= steps
    bits = max(1, math.ceil(math.log2(steps + 1.0)))
    if bits > _MAX_BITS:
        raise ValueError(
            f"an extent of {extent:.0f} m needs {bits} quantization bits for {max_error} m; "
            f"Draco allows {_MAX_BITS}"
        )
    return bits


@dataclass(frozen=True, slots=True)
class DracoPrimitive:
    """One Draco-encoded primitive and what its glTF objects need.

    Attributes
    ----------
    data
        The Draco bitstream.
    attribute_ids
        Draco unique id per glTF attribute name (``POSITION``, ``NORMAL`` and the id name).
    vertex_count, index_count
        Decoded vertex count and triangle indices (3 per triangle).
    position_min, position_max
        Bounds of the decoded positions, metres, in the mesh's local frame.
    """

    data: bytes
    attribute_ids: dict[str, int]
    vertex_count: int
    index_count: int
    position_min: list[float]
    position_max: list[float]


def encode_draco_primitive(
    positions: npt.NDArray[np.floating[Any]],
    normals: npt.NDArray[np.floating[Any]],
    ids: npt.NDArray[Any],
    triangles: npt.NDArray[np.integer[Any]],
    *,
    id_attribute: str,
    origin: npt.NDArray[np.float64],
    extent: float,
    bits: int,
) -> DracoPrimitive:
    """Encode one primitive's vertices, normals, feature ids and triangles with Draco.

    Parameters
    ----------
    positions, normals
        ``(N, 3)`` vertex positions (metres, the glTF's local frame) and unit normals.
    ids
        ``(N,)`` feature id per vertex as uint8, uint16 or float32 (its glTF component type).
    triangles
        ``(T, 3)`` indices into the N vertices.
    id_attribute
        glTF name of the id attribute (``_FEATURE_ID_0`` or ``_BATCHID``).
    origin, extent, bits
        The shared quantization cube (minimum corner and edge, metres) and bits of the whole
        mesh, so all primitives use one grid (see :func:`draco_position_bits`).

    Raises
    ------
    ValueError
        When the decoded mesh does not have the expected attributes and counts.
    """
    codec = draco_codec()
    data: bytes = codec.encode(
        np.ascontiguousarray(positions, dtype=np.float64),
        np.ascontiguousarray(triangles, dtype=np.uint32),
        quantization_bits=bits,
        compression_level=COMPRESSION_LEVEL,
        quantization_range=float(extent) if extent > 0.0 else 1.0,
        quantization_origin=[float(v) for v in origin],
        normals=np.ascontiguousarray(normals, dtype=np.float64),
        normal_quantization_bits=NORMAL_BITS,
        generic_attributes={0: np.ascontiguousarray(ids).reshape(-1, 1)},
    )
    decoded = codec.decode(data)
    by_type = {int(a["attribute_type"]): int(a["unique_id"]) for a in decoded.attributes}
    points = np.asarray(decoded.points, dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(decoded.faces).reshape(-1, 3)
    if set(by_type) != {_POSITION, _NORMAL, _GENERIC} or faces.shape[0] != triangles.shape[0]:
        raise ValueError("the Draco encoding did not round-trip (attributes or triangle count)")
    return DracoPrimitive(
        data=data,
        attribute_ids={
            "POSITION": by_type[_POSITION],
            "NORMAL": by_type[_NORMAL],
            id_attribute: by_type[_GENERIC],
        },
        vertex_count=int(points.shape[0]),
        index_count=int(faces.size),
        position_min=[float(v) for v in points.min(axis=0)],
        position_max=[float(v) for v in points.max(axis=0)],
    )
