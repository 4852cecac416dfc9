"""Compressed glTF geometry: ``KHR_mesh_quantization`` + ``EXT_meshopt_compression``.

What ``compression="meshopt"`` changes in a glTF written by :mod:`citymodel.converters.gltf`:

- ``POSITION`` becomes UNSIGNED_SHORT (not normalized, ``byteStride`` 8 for the 4-byte
  element alignment) on a uniform grid: ``p = origin + step · q`` with
  ``step = largest extent / 65535``. The grid is a dequantization node (``matrix`` =
  translate(origin) · scale(step)) below the root node, so clients compute
  ``ECEF = tile transform · Y_UP_TO_Z_UP · root matrix · dequantization · q`` (correctness.md
  T3D-2). The scale is uniform so flat normals stay right under the node's inverse transpose.
  The largest position error of the grid is ``sqrt(3) / 2 · step``; a mesh whose grid would
  exceed ``max_position_error`` (default 1 cm, i.e. an extent above ~757 m) keeps float32
  positions. ``NORMAL`` becomes normalized BYTE (``byteStride`` 4, error < 0.5°).
  ``_FEATURE_ID_0`` and the indices keep their types (T3D-6: ids are exact).
- Vertex and index buffer views are compressed per view (modes ATTRIBUTES and TRIANGLES, filter
  NONE, bitstream version 0); the compressed bytes live in buffer 0 (the GLB BIN chunk), the
  decoded layout in a fallback buffer without data (``buffers[1]``, ``fallback: true``), so
  the extension is listed in ``extensionsRequired``, as is ``KHR_mesh_quantization``.
- Property tables (``EXT_structural_metadata``, T3D-7) stay plain buffer views of buffer 0.

The encoder is the ``meshopt`` package (the ``compress`` extra), imported on first use.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from citymodel._typing import Float64Array
from citymodel.converters.gltf_binary import (
    ALIGNMENT,
    ARRAY_BUFFER,
    ELEMENT_ARRAY_BUFFER,
    BufferBuilder,
)
from citymodel.converters.gltf_draco import draco_codec
from citymodel.errors import MissingDependencyError

__all__ = [
    "COMPRESSIONS",
    "EXT_MESHOPT_COMPRESSION",
    "KHR_MESH_QUANTIZATION",
    "MAX_POSITION_ERROR",
    "Compression",
    "QuantizedPositions",
    "ViewWriter",
    "meshopt_codec",
    "quantize_normals",
    "quantize_positions",
]

Compression = Literal["none", "meshopt", "draco"]
"""Geometry compression of a glTF: none, quantization + ``EXT_meshopt_compression``, or
``KHR_draco_mesh_compression`` (:mod:`citymodel.converters.gltf_draco`)."""
COMPRESSIONS: tuple[Compression, ...] = ("none", "meshopt", "draco")
KHR_MESH_QUANTIZATION = "KHR_mesh_quantization"
EXT_MESHOPT_COMPRESSION = "EXT_meshopt_compression"
MAX_POSITION_ERROR = 0.01
"""Largest position change quantization may cause, metres (the issue's 1 cm)."""

_GRID = 65535  # UNSIGNED_SHORT grid steps over the largest extent
_HALF_DIAGONAL = math.sqrt(3.0) / 2.0  # worst distance to the nearest grid point, in steps


def meshopt_codec() -> ModuleType:
    """The ``meshopt`` module (meshoptimizer's encoder and decoder).

    Raises
    ------
    MissingDependencyError
        When the package is not installed (extra ``compress``).
    """
    try:
        return importlib.import_module("meshopt")
    except ImportError as err:
        raise MissingDependencyError("meshopt", "compress") from err


@dataclass(frozen=True, slots=True)
class QuantizedPositions:
    """Positions on a uniform grid: ``p = origin + step · values[:, :3]``.

    Attributes
    ----------
    values
        ``(N, 4)`` uint16; the fourth column is 0 (8-byte rows, 4-byte element alignment).
    origin
        ``(3,)`` float64, the grid origin (the minimum corner), in the frame of the input
        positions (metres).
    step
        Grid spacing, metres (> 0).
    """

    values: npt.NDArray[np.uint16]
    origin: Float64Array
    step: float

    @property
    def max_error(self) -> float:
        """Largest distance of an input position from its grid point, metres."""
        return _HALF_DIAGONAL * self.step

    def matrix(self) -> Float64Array:
        """``(4, 4)`` float64 dequantization matrix (translate(origin) · scale(step))."""
        m = np.diag([self.step, self.step, self.step, 1.0])
        m[:3, 3] = self.origin
        return m

    def dequantized(self) -> Float64Array:
        """The grid points, ``(N, 3)`` float64 metres in the input frame."""
        out: Float64Array = self.values[:, :3].astype(np.float64) * self.step + self.origin
        return out


def quantize_positions(
    positions: npt.ArrayLike, *, max_error: float = MAX_POSITION_ERROR
) -> QuantizedPositions | None:
    """Put positions on the finest uniform 16-bit grid over their bounding box.

    Parameters
    ----------
    positions
        ``(N, 3)`` positions in any Cartesian frame, metres (N >= 1).
    max_error
        Largest allowed distance between a position and its grid point, metres.

    Returns
    -------
    QuantizedPositions or None
        None when the grid of the largest extent (``extent / 65535``) would move a position
        by more than ``max_error`` (the caller keeps float32 positions).

    Raises
    ------
    ValueError
        For no positions, non-finite values or a non-positive ``max_error``.
    """
    if not max_error > 0.0:
        raise ValueError(f"max_error must be positive, got {max_error}")
    p = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    if p.shape[0] == 0 or not np.isfinite(p).all():
        raise ValueError("quantization needs at least one finite position")
    lo = p.min(axis=0)
    extent = float((p.max(axis=0) - lo).max())
    # A point-like mesh gets a step that keeps the matrix invertible; every value is then 0.
    step = extent / _GRID if extent > 0.0 else 2.0 * max_error / 3.0
    if _HALF_DIAGONAL * step > max_error:
        return None
    values = np.zeros((p.shape[0], 4), dtype="<u2")
    values[:, :3] = np.clip(np.rint((p - lo) / step), 0, _GRID)
    return QuantizedPositions(values=values, origin=lo, step=step)


def quantize_normals(normals: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """Unit normals as normalized BYTE, ``(N, 4)`` int8 with a zero fourth column.

    ``KHR_mesh_quantization`` decodes ``max(c / 127, -1)``; the rounding error per component is
    at most 1/254 (< 0.5° of direction).
    """
    n = np.asarray(normals, dtype=np.float64).reshape(-1, 3)
    out = np.zeros((n.shape[0], 4), dtype=np.int8)
    out[:, :3] = np.clip(np.rint(n * 127.0), -127, 127)
    return out


class ViewWriter:
    """Adds the vertex and index views of a mesh, plain or ``EXT_meshopt_compression``-compressed.

    Plain views go to buffer 0 as they are. Compressed views store their compressed bytes in
    buffer 0 and point their own ``buffer``/``byteOffset`` at the decoded layout in the fallback
    buffer (``fallback_buffer``, which holds no data): call :meth:`fallback` for its object.
    """

    __slots__ = ("_builder", "_codec", "_fallback_index", "_fallback_length", "draco")

    def __init__(
        self, builder: BufferBuilder, *, compression: Compression, fallback_buffer: int = 1
    ) -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
        self._builder = builder
        self._codec = meshopt_codec() if compression == "meshopt" else None
        self.draco = compression == "draco"
        """Whether primitives are Draco-compressed (their views are then written plain)."""
        if self.draco:
            draco_codec()  # fail before encoding anything
        self._fallback_index = fallback_buffer
        self._fallback_length = 0

    @property
    def compressed(self) -> bool:
        """Whether views are meshopt-compressed."""
        return self._codec is not None

    def vertices(self, data: np.ndarray[Any, Any], *, byte_stride: int | None = None) -> int:
        """A vertex attribute view of ``data`` (one row per vertex); returns its index."""
        if self._codec is None:
            return self._builder.add_view(data, target=ARRAY_BUFFER, byte_stride=byte_stride)
        rows = np.ascontiguousarray(data)
        count = int(rows.shape[0])
        stride = rows.nbytes // count
        encoded = self._codec.encode_gltf_buffer(rows, "ATTRIBUTES")
        return self._compressed(encoded, count, stride, "ATTRIBUTES", ARRAY_BUFFER, byte_stride)

    def draco_view(self, data: bytes) -> int:
        """A view of one Draco bitstream in buffer 0 (no target); returns its index."""
        offset, length = self._builder.add_bytes(data)
        return self._builder.append_view({"buffer": 0, "byteOffset": offset, "byteLength": length})

    def triangles(self, indices: np.ndarray[Any, Any]) -> int:
        """An index view of a triangle list (uint16 or uint32, ``(T, 3)``); returns its index."""
        if self._codec is None:
            return self._builder.add_view(indices, target=ELEMENT_ARRAY_BUFFER)
        flat = np.ascontiguousarray(indices).reshape(-1)
        encoded = self._codec.encode_gltf_buffer(flat, "TRIANGLES")
        return self._compressed(
            encoded, int(flat.shape[0]), flat.dtype.itemsize, "TRIANGLES", ELEMENT_ARRAY_BUFFER
        )

    def _compressed(
        self,
        encoded: bytes,
        count: int,
        stride: int,
        mode: str,
        target: int,
        byte_stride: int | None = None,
    ) -> int:
        offset, length = self._builder.add_bytes(encoded)
        self._fallback_length += (-self._fallback_length) % ALIGNMENT
        view: dict[str, Any] = {
            "buffer": self._fallback_index,
            "byteOffset": self._fallback_length,
            "byteLength": count * stride,
        }
        if byte_stride is not None:
            view["byteStride"] = byte_stride
        view["target"] = target
        view["extensions"] = {
            EXT_MESHOPT_COMPRESSION: {
                "buffer": 0,
                "byteOffset": offset,
                "byteLength": length,
                "byteStride": stride,
                "count": count,
                "mode": mode,
            }
        }
        self._fallback_length += count * stride
        return self._builder.append_view(view)

    def fallback(self) -> dict[str, Any] | None:
        """The fallback buffer object (None when no view was compressed)."""
        if not self._fallback_length:
            return None
        length = self._fallback_length + (-self._fallback_length) % ALIGNMENT
        return {"byteLength": length, "extensions": {EXT_MESHOPT_COMPRESSION: {"fallback": True}}}
