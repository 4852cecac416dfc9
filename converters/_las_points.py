"""Point records (laspy structured arrays) -> :class:`~citymodel.model.PointChunk`, vectorised.

Field layouts (ASPRS LAS 1.4 R15, laspy's structured dtypes):

- formats 0-5: ``bit_fields`` = return number (bits 0-2), number of returns (3-5);
  ``raw_classification`` = class (bits 0-4) + synthetic/key-point/withheld flags (5-7);
- formats 6-10: ``bit_fields`` = return number (bits 0-3), number of returns (4-7); a full
  ``classification`` byte (LAS-2: classes 0-255).

Colours (LAS-2): LAS stores 16-bit red/green/blue. They are scaled to 8 bits by
``round(v · 255 / 65535)``. Some writers put 8-bit values into the 16-bit fields; shifting those
would turn every point black, so the depth is decided once per file from a deterministic sample
(:func:`color_depth_from_sample`) and the same rule applies to every chunk and every process.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from citymodel._typing import Float64Array
from citymodel.model import PointChunk

if TYPE_CHECKING:  # laspy is imported once a LAS file is read
    from laspy import DecompressionSelection

__all__ = [
    "COLOR_FORMATS",
    "ColorDepth",
    "class_filter",
    "classification_of",
    "color_depth_from_sample",
    "selection_for",
    "to_point_chunk",
]

ColorDepth: TypeAlias = Literal[8, 16]
COLOR_FORMATS = frozenset({2, 3, 5, 7, 8, 10})
"""Point formats with red/green/blue fields."""

_FLAG_DIMENSIONS = frozenset(
    {
        "synthetic",
        "key_point",
        "withheld",
        "overlap",
        "scanner_channel",
        "scan_direction_flag",
        "edge_of_flight_line",
    }
)
_SELECTION_BY_DIMENSION: Mapping[str, str] = {
    "gps_time": "GPS_TIME",
    "scan_angle": "SCAN_ANGLE",
    "scan_angle_rank": "SCAN_ANGLE",
    "user_data": "USER_DATA",
    "point_source_id": "POINT_SOURCE_ID",
    "nir": "NIR",
    "wavepacket_index": "WAVEPACKET",
    "wavepacket_offset": "WAVEPACKET",
    "wavepacket_size": "WAVEPACKET",
    "return_point_wave_location": "WAVEPACKET",
    "x_t": "WAVEPACKET",
    "y_t": "WAVEPACKET",
    "z_t": "WAVEPACKET",
}
"""Dimension -> the ``laspy.DecompressionSelection`` member of its LAZ layer."""


def selection_for(
    extra_dims: Collection[str], extra_bytes: Collection[str], *, attributes: bool = True
) -> DecompressionSelection:
    """The LAZ layers to decompress (formats 6-10 only; others always decode everything).

    Parameters
    ----------
    extra_dims
        Requested dimensions beyond the standard attributes.
    extra_bytes
        Names of the file's ExtraBytes dimensions.
    attributes
        False: positions and classification only (a scan of bounds and classes).
    """
    from laspy import DecompressionSelection

    selection = (
        DecompressionSelection.XY_RETURNS_CHANNEL
        | DecompressionSelection.Z
        | DecompressionSelection.CLASSIFICATION
    )
    if attributes:
        selection |= DecompressionSelection.INTENSITY | DecompressionSelection.RGB
    for name in extra_dims:
        if name in extra_bytes:
            selection |= DecompressionSelection.ALL_EXTRA_BYTES
        elif name in _FLAG_DIMENSIONS:
            selection |= DecompressionSelection.FLAGS
        else:
            member = _SELECTION_BY_DIMENSION.get(name)
            selection |= (
                DecompressionSelection.all()
                if member is None
                else getattr(DecompressionSelection, member)
            )
    return selection


def classification_of(raw: np.ndarray, point_format: int) -> npt.NDArray[np.uint8]:
    """Class codes of a structured point array (5 bits in formats 0-5, a byte in 6-10)."""
    if point_format >= 6:
        codes: npt.NDArray[np.uint8] = np.asarray(raw["classification"], dtype=np.uint8)
        return codes
    masked: npt.NDArray[np.uint8] = np.bitwise_and(raw["raw_classification"], np.uint8(0x1F))
    return masked


def class_filter(classes: Collection[int] | None) -> npt.NDArray[np.bool_] | None:
    """A 256-entry lookup table of the wanted classes; None keeps everything.

    Raises
    ------
    ValueError
        For a class code outside 0..255.
    """
    if classes is None:
        return None
    table = np.zeros(256, dtype=np.bool_)
    codes = np.asarray(list(classes), dtype=np.int64)
    if codes.size and (codes.min() < 0 or codes.max() > 255):
        raise ValueError(f"class codes must be within 0..255, got {sorted(set(codes.tolist()))}")
    table[codes] = True
    return table


def color_depth_from_sample(raw: np.ndarray) -> ColorDepth | None:
    """Bit depth of the colours in a sample of point records.

    Returns 16 when any component exceeds 255, 8 when all fit in 8 bits, None when every
    component is 0 (the fields exist but hold no colours).
    """
    top = max(int(raw[c].max(initial=0)) for c in ("red", "green", "blue"))
    if top == 0:
        return None
    return 16 if top > 255 else 8


# round(v * 255 / 65535) for every 16-bit value: 65535 -> 255, 32896 -> 128, 128 -> 0.
_16_TO_8 = ((np.arange(65536, dtype=np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _colors(raw: np.ndarray, depth: ColorDepth) -> npt.NDArray[np.uint8]:
    rgb = np.empty((raw.shape[0], 3), dtype=np.uint8)
    for i, name in enumerate(("red", "green", "blue")):
        values = raw[name]
        rgb[:, i] = _16_TO_8[values] if depth == 16 else np.minimum(values, 255)
    return rgb


def _positions(
    raw: np.ndarray, scales: tuple[float, float, float], offsets: tuple[float, float, float]
) -> Float64Array:
    """``X·scale + offset`` for the three int32 fields at the start of every record."""
    fields = raw.dtype.fields
    contiguous = raw.flags.c_contiguous
    if contiguous and fields is not None and [fields[n][1] for n in ("X", "Y", "Z")] == [0, 4, 8]:
        ints = np.ndarray(
            (raw.shape[0], 3),
            dtype="<i4",
            buffer=raw,
            offset=0,
            strides=(raw.dtype.itemsize, 4),
        )
        xyz = ints * np.asarray(scales, dtype=np.float64)
    else:
        xyz = np.stack([raw[n] * scales[i] for i, n in enumerate(("X", "Y", "Z"))], axis=1)
    xyz += np.asarray(offsets, dtype=np.float64)
    return xyz


def to_point_chunk(
    raw: np.ndarray,
    *,
    point_format: int,
    scales: tuple[float, float, float],
    offsets: tuple[float, float, float],
    color_depth: ColorDepth | None,
    extra: Mapping[str, npt.NDArray[np.generic]] | None = None,
    classification: npt.NDArray[np.uint8] | None = None,
) -> PointChunk:
    """Build a :class:`PointChunk` from a structured array of point records.

    Parameters
    ----------
    raw
        laspy's structured point array (one row per record).
    point_format
        LAS point data record format 0-10.
    scales, offsets
        The file's scale factors and offsets (``x = X · scale + offset``, CRS units).
    color_depth
        8 or 16 for formats with colours; None leaves ``color`` out.
    extra
        Additional per-point arrays (requested extra dimensions), already row-aligned.
    classification
        Class codes when already computed (for filtering).

    Returns
    -------
    PointChunk
        ``xyz`` in the file's CRS units (float64) and the standard attributes.
    """
    bits = raw["bit_fields"]
    if point_format >= 6:
        returns = np.bitwise_and(bits, np.uint8(0x0F))
        count = np.right_shift(bits, np.uint8(4))
    else:
        returns = np.bitwise_and(bits, np.uint8(0x07))
        count = np.bitwise_and(np.right_shift(bits, np.uint8(3)), np.uint8(0x07))
    attributes: dict[str, npt.NDArray[np.generic]] = {
        "classification": (
            classification if classification is not None else classification_of(raw, point_format)
        ),
        "intensity": np.array(raw["intensity"], dtype=np.uint16),
        "return_number": returns.astype(np.uint8, copy=False),
        "number_of_returns": count.astype(np.uint8, copy=False),
    }
    if color_depth is not None and point_format in COLOR_FORMATS:
        attributes["color"] = _colors(raw, color_depth)
    if extra:
        attributes.update(extra)
    return PointChunk(xyz=_positions(raw, scales, offsets), attributes=attributes)
