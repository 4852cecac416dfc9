"""LAS/LAZ header checks done before laspy sees a file, and the raw CRS records.

laspy trusts the public header block: a garbage "number of VLRs" makes it loop for ever
(``broken/las/garbage_nVariableLength.las``: 1,069,128,089 VLRs claimed, none present), a count
one too high makes it read point bytes as a VLR, and a truncated file is only noticed as short
reads. :func:`inspect_las` reads the header with :mod:`struct`, walks the VLR and EVLR headers
within the byte ranges the header allows (so every loop is bounded by the file size), checks
that the point records fit in the file, and returns a :class:`LasLayout`: the facts, the
corrections to apply (:attr:`LasLayout.patches`, applied by :class:`PatchedFile` when laspy
reads the header) and the warnings to report. Fatal problems raise
:class:`~citymodel.errors.InputError` naming the file and what to do.

The payloads of the coordinate-system records (GeoTIFF keys, OGC WKT; user id
``LASF_Projection``) are kept for :mod:`citymodel.converters._las_crs`.

Layout references: ASPRS LAS 1.0-1.4 R15 (public header block, VLR and EVLR headers) and the
LASzip format (chunk table offset as the first 8 bytes of the point data, ``-1`` = stored in
the last 8 bytes of the file).
"""

from __future__ import annotations

import io
import math
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from citymodel.errors import InputError, UnsupportedFormatError

__all__ = [
    "LASF_PROJECTION",
    "LasLayout",
    "PatchedFile",
    "RecordInfo",
    "inspect_las",
    "is_las",
]

MAGIC = b"LASF"
LASF_PROJECTION = "LASF_Projection"
LASZIP_USER_ID = "laszip encoded"
LASZIP_RECORD_ID = 22204
COPC_USER_ID = "copc"

# Public header block sizes by minor version (LAS 1.0-1.2: 227, 1.3: 235, 1.4: 375 bytes).
_HEADER_SIZES = {0: 227, 1: 227, 2: 227, 3: 235, 4: 375}
_VLR_HEADER = 54
_EVLR_HEADER = 60
# Point record sizes of formats 0-10 without extra bytes (LAS-2).
POINT_RECORD_SIZES = (20, 28, 26, 34, 57, 63, 30, 36, 38, 59, 67)
# Byte offsets in the public header block.
_OFF_NUMBER_OF_VLRS = 100
_OFF_NUMBER_OF_EVLRS = 243
# Records whose payload is kept: GeoKeyDirectory, GeoDoubleParams, GeoAsciiParams, OGC
# coordinate system WKT (2112), libLAS' copy of the WKT (user id "liblas", 2112), and the LASzip
# record (compression parameters).
_KEPT_RECORDS = {
    (LASF_PROJECTION, 34735),
    (LASF_PROJECTION, 34736),
    (LASF_PROJECTION, 34737),
    (LASF_PROJECTION, 2112),
    ("liblas", 2112),
    (LASZIP_USER_ID, LASZIP_RECORD_ID),
}
_MAX_KEPT_PAYLOAD = 1 << 20


def is_las(path: Path) -> bool:
    """True when ``path`` starts with the LAS magic ``LASF`` (reads 4 bytes, never raises)."""
    try:
        with path.open("rb") as f:
            return f.read(4) == MAGIC
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class RecordInfo:
    """One VLR or EVLR.

    Attributes
    ----------
    user_id, record_id
        Identity of the record (e.g. ``"LASF_Projection"``, 2112).
    offset
        File offset of the record's payload (after its header).
    length
        Payload length in bytes.
    extended
        True for an EVLR (LAS 1.4, after the point data).
    payload
        The bytes of coordinate-system records (see :data:`_KEPT_RECORDS`); ``b""`` for others.
    """

    user_id: str
    record_id: int
    offset: int
    length: int
    extended: bool
    payload: bytes = b""


@dataclass(frozen=True, slots=True)
class LasLayout:
    """What the public header block says, checked against the file.

    Attributes
    ----------
    path
        The file.
    file_size
        Size in bytes.
    version
        ``(1, minor)``.
    point_format
        Point data record format 0-10 (compression bits removed).
    record_length
        Bytes per point record (base size of the format + extra bytes).
    point_count
        Number of point records (the 64-bit count for LAS 1.4).
    compressed
        True for LAZ.
    copc
        True when the first VLR is the COPC info record (a cloud-optimised point cloud).
    global_encoding
        The global encoding bit field (bit 4: CRS is WKT).
    offset_to_point_data
        Byte offset of the first point record (LAZ: of the chunk table offset).
    scales, offsets
        ``(x, y, z)`` scale factors and offsets: ``coordinate = record · scale + offset``.
    mins, maxs
        Header bounds ``(x, y, z)`` in the file's CRS units, as written (often not tight).
    records
        The VLRs and EVLRs that exist, in file order.
    system_identifier, generating_software
        Header strings, stripped.
    patches
        Byte offset -> replacement bytes for header fields that must be corrected before laspy
        reads the file (a VLR/EVLR count larger than what the file holds).
    warnings
        Problems found and worked around, for reports.
    """

    path: Path
    file_size: int
    version: tuple[int, int]
    point_format: int
    record_length: int
    point_count: int
    compressed: bool
    copc: bool
    global_encoding: int
    offset_to_point_data: int
    scales: tuple[float, float, float]
    offsets: tuple[float, float, float]
    mins: tuple[float, float, float]
    maxs: tuple[float, float, float]
    records: tuple[RecordInfo, ...]
    system_identifier: str = ""
    generating_software: str = ""
    patches: Mapping[int, bytes] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def version_text(self) -> str:
        """``"1.4"``."""
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def wkt_bit(self) -> bool:
        """Global encoding bit 4: the CRS is given as OGC WKT (LAS 1.4)."""
        return bool(self.global_encoding & 0x10)

    @property
    def extra_bytes_per_point(self) -> int:
        """Bytes per record beyond the point format's standard fields."""
        return self.record_length - POINT_RECORD_SIZES[self.point_format]

    def find(self, user_id: str, record_id: int) -> list[RecordInfo]:
        """The records with this identity (VLRs first, then EVLRs)."""
        return [r for r in self.records if r.user_id == user_id and r.record_id == record_id]


class _Reader:
    """Bounded reads of a file: never past its end, with the path in every error."""

    def __init__(self, stream: BinaryIO, path: Path, size: int) -> None:
        self.stream = stream
        self.path = path
        self.size = size

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or offset + length > self.size:
            return b""
        self.stream.seek(offset)
        data = self.stream.read(length)
        return data if len(data) == length else b""


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", errors="replace").strip()


def _error(path: Path, message: str) -> InputError:
    return InputError(message, path=path)


def inspect_las(path: str | os.PathLike[str]) -> LasLayout:
    """Read and check the header, VLRs, EVLRs and the extent of the point data of a LAS/LAZ file.

    Reads the header block, the 54/60-byte headers of the VLRs/EVLRs and the payloads of the
    coordinate-system records only; the work is bounded by the file size whatever the header
    claims.

    Parameters
    ----------
    path
        A ``.las``, ``.laz`` or ``.copc.laz`` file.

    Returns
    -------
    LasLayout
        The checked layout, with corrections and warnings.

    Raises
    ------
    UnsupportedFormatError
        Not a LAS file (no ``LASF`` magic) or an unsupported LAS version.
    InputError
        A header that contradicts the file: header or point data beyond the end of the file
        (truncated download or copy), an impossible point format or record length, a LAZ file
        without its LASzip record or chunk table, zero or non-finite scale factors.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        with p.open("rb") as stream:
            return _inspect(_Reader(stream, p, size))
    except OSError as err:
        raise _error(p, f"cannot read the file: {err.strerror or err}") from err


def _inspect(src: _Reader) -> LasLayout:
    path, size = src.path, src.size
    if src.read(0, 4) != MAGIC:
        raise UnsupportedFormatError("not a LAS/LAZ file (no 'LASF' signature)", path=path)
    head = src.read(0, 227)
    if not head:
        raise _error(path, f"file of {size} bytes is shorter than a LAS header (227 bytes)")
    major, minor = head[24], head[25]
    if major != 1 or minor not in _HEADER_SIZES:
        raise UnsupportedFormatError(
            f"LAS version {major}.{minor} is not supported (LAS 1.0 to 1.4 are)", path=path
        )
    (header_size,) = struct.unpack_from("<H", head, 94)
    offset_to_points, n_vlrs = struct.unpack_from("<II", head, 96)
    format_byte, record_length, legacy_count = struct.unpack_from("<BHI", head, 104)
    scales = struct.unpack_from("<3d", head, 131)
    offsets = struct.unpack_from("<3d", head, 155)
    bounds = struct.unpack_from("<6d", head, 179)  # max x, min x, max y, min y, max z, min z
    (global_encoding,) = struct.unpack_from("<H", head, 6)
    warnings: list[str] = []
    patches: dict[int, bytes] = {}

    required = _HEADER_SIZES[minor]
    if header_size < required:
        raise _error(
            path,
            f"header size {header_size} is smaller than the {required} bytes of a LAS "
            f"1.{minor} header; the file is damaged",
        )
    full = src.read(0, header_size)
    if not full:
        raise _error(
            path,
            f"the file ({size} bytes) ends inside its {header_size}-byte header; it is "
            "truncated: copy or download it again",
        )
    if offset_to_points < header_size or offset_to_points > size:
        raise _error(
            path,
            f"offset to point data {offset_to_points} lies outside the file (header "
            f"{header_size} bytes, file {size} bytes); the file is damaged or truncated",
        )

    compressed = bool(format_byte & 0x80)
    point_format = format_byte & 0x3F
    if point_format >= len(POINT_RECORD_SIZES):
        raise _error(path, f"unknown point data record format {point_format} (0-10 exist)")
    base = POINT_RECORD_SIZES[point_format]
    if record_length < base:
        raise _error(
            path,
            f"point record length {record_length} is shorter than the {base} bytes of point "
            f"format {point_format}; the file is damaged",
        )

    point_count = legacy_count
    start_of_evlrs, n_evlrs = 0, 0
    if minor >= 4:
        start_of_evlrs, n_evlrs, count64 = struct.unpack_from("<QIQ", full, 235)
        if legacy_count not in (0, count64):
            warnings.append(
                f"the legacy point count ({legacy_count:,}) differs from the LAS 1.4 point "
                f"count ({count64:,}); using the latter"
            )
        point_count = count64

    for name, value in (("scale", scales), ("offset", offsets)):
        if not all(math.isfinite(v) for v in value) or (
            name == "scale" and any(v == 0.0 for v in value)
        ):
            raise _error(path, f"header {name} factors {value} are not usable; the file is damaged")

    # -- VLRs: walk only what fits between the header and the point data ------------------
    records: list[RecordInfo] = []
    pos = header_size
    for _ in range(n_vlrs):
        vh = src.read(pos, _VLR_HEADER) if pos + _VLR_HEADER <= offset_to_points else b""
        if not vh:
            break
        user_id, (record_id, length) = _text(vh[2:18]), struct.unpack_from("<HH", vh, 18)
        if pos + _VLR_HEADER + length > offset_to_points:
            break
        records.append(_record(src, user_id, record_id, pos + _VLR_HEADER, length, False))
        pos += _VLR_HEADER + length
    if len(records) != n_vlrs:
        warnings.append(
            f"the header announces {n_vlrs:,} variable length records but only "
            f"{len(records)} fit before the point data at byte {offset_to_points}; "
            f"reading those {len(records)}"
        )
        patches[_OFF_NUMBER_OF_VLRS] = struct.pack("<I", len(records))

    copc = bool(records) and records[0].user_id == COPC_USER_ID and records[0].record_id == 1

    # -- point data --------------------------------------------------------------------------
    points_end: int | None = None
    if compressed:
        if not any(
            r.user_id == LASZIP_USER_ID and r.record_id == LASZIP_RECORD_ID for r in records
        ):
            raise _error(
                path,
                "compressed points (LAZ) but no LASzip record; the file is damaged or was "
                "written by an incompatible tool",
            )
        if point_count:
            _check_chunk_table(src, offset_to_points)
    else:
        points_end = offset_to_points + point_count * record_length
        if points_end > size:
            available = max(0, size - offset_to_points) // record_length
            raise _error(
                path,
                f"the file is truncated: the header announces {point_count:,} points of "
                f"{record_length} bytes from byte {offset_to_points}, which needs "
                f"{points_end:,} bytes, but the file has {size:,} bytes ({available:,} "
                "complete points); copy or download it again",
            )

    # -- EVLRs (LAS 1.4) -----------------------------------------------------------------------
    if n_evlrs:
        found = 0
        evlr_pos = start_of_evlrs
        if evlr_pos < offset_to_points or (points_end is not None and evlr_pos < points_end):
            warnings.append(
                f"the extended records (EVLRs) would start at byte {evlr_pos}, inside the "
                "header or the point data; ignoring them"
            )
            patches[_OFF_NUMBER_OF_EVLRS] = struct.pack("<I", 0)
        else:
            for _ in range(n_evlrs):
                eh = src.read(evlr_pos, _EVLR_HEADER)
                if not eh:
                    break
                user_id = _text(eh[2:18])
                (record_id,) = struct.unpack_from("<H", eh, 18)
                (length,) = struct.unpack_from("<Q", eh, 20)
                if evlr_pos + _EVLR_HEADER + length > size:
                    break
                records.append(
                    _record(src, user_id, record_id, evlr_pos + _EVLR_HEADER, length, True)
                )
                evlr_pos += _EVLR_HEADER + length
                found += 1
            if found != n_evlrs:
                warnings.append(
                    f"the header announces {n_evlrs:,} extended records (EVLRs) but only "
                    f"{found} are in the file; reading those {found}"
                )
                patches[_OFF_NUMBER_OF_EVLRS] = struct.pack("<I", found)

    mins = (bounds[1], bounds[3], bounds[5])
    maxs = (bounds[0], bounds[2], bounds[4])
    if point_count and not all(math.isfinite(v) for v in (*mins, *maxs)):
        warnings.append("the header bounds are not finite numbers; they are ignored")
    elif point_count and any(lo > hi for lo, hi in zip(mins, maxs, strict=True)):
        warnings.append(f"the header bounds are inverted (min {mins} > max {maxs})")

    return LasLayout(
        path=path,
        file_size=size,
        version=(major, minor),
        point_format=point_format,
        record_length=record_length,
        point_count=point_count,
        compressed=compressed,
        copc=copc,
        global_encoding=global_encoding,
        offset_to_point_data=offset_to_points,
        scales=(scales[0], scales[1], scales[2]),
        offsets=(offsets[0], offsets[1], offsets[2]),
        mins=mins,
        maxs=maxs,
        records=tuple(records),
        system_identifier=_text(full[26:58]),
        generating_software=_text(full[58:90]),
        patches=patches,
        warnings=tuple(warnings),
    )


def _record(
    src: _Reader, user_id: str, record_id: int, offset: int, length: int, extended: bool
) -> RecordInfo:
    payload = b""
    if (user_id, record_id) in _KEPT_RECORDS and length <= _MAX_KEPT_PAYLOAD:
        payload = src.read(offset, length)
    return RecordInfo(user_id, record_id, offset, length, extended, payload)


def _check_chunk_table(src: _Reader, offset_to_points: int) -> None:
    """LAZ: the chunk table must lie inside the file, else it is truncated (LAS-3)."""
    path, size = src.path, src.size
    raw = src.read(offset_to_points, 8)
    if not raw:
        raise _error(
            path,
            "the file ends before its compressed point data; it is truncated: copy or "
            "download it again",
        )
    (table_offset,) = struct.unpack("<q", raw)
    if table_offset == -1:  # written by a streaming compressor: the offset is at the very end
        tail = src.read(size - 8, 8)
        table_offset = struct.unpack("<q", tail)[0] if tail else -1
    if not offset_to_points + 8 <= table_offset <= size - 8:
        raise _error(
            path,
            f"the LAZ chunk table should start at byte {table_offset:,}, but the file has "
            f"{size:,} bytes; the file is truncated or damaged: copy or download it again",
        )


class PatchedFile(io.RawIOBase):
    """A read-only file whose bytes at given offsets are replaced (header corrections).

    Used only when :attr:`LasLayout.patches` is not empty; otherwise the plain file is read.
    """

    def __init__(self, path: Path, patches: Mapping[int, bytes]) -> None:
        super().__init__()
        self._raw = path.open("rb", buffering=0)
        self._patches = dict(patches)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        start = self._raw.tell()
        n = self._raw.readinto(buffer)
        if not n:
            return n or 0
        view = memoryview(buffer).cast("B")
        for at, data in self._patches.items():
            lo, hi = max(at, start), min(at + len(data), start + n)
            if lo < hi:
                view[lo - start : hi - start] = data[lo - at : hi - at]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()
