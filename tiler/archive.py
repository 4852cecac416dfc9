"""3D Tiles archives (3TZ): one ZIP file holding a whole tileset.

Layout (3D Tiles Archive Format, Maxar/Cesium ``3tz`` specification 1.x):

- a ZIP (ISO/IEC 21320-1) with ``tileset.json`` at the root; every local file header carries
  CRC-32 and both sizes (no data descriptors, no ZIP64 sizes: entries stay below 4 GiB);
  ZIP64 end records and central-directory offsets are written when the archive needs them
  (more than 65,535 entries, or more than 4 GiB in total);
- entries are stored; JSON files (tilesets, nothing binary) may be deflated;
- the last entry is the index ``@3dtilesIndex1@``, stored uncompressed, without comment: one
  24-byte record per other entry — the MD5 of its normalised path (16 bytes) and the offset of
  its local file header (uint64 little-endian) — sorted by the MD5 read as two little-endian
  uint64 (first the low, then the high 8 bytes), so readers binary-search it.

:func:`write_3tz` writes the archive under a temporary name and renames it into place;
:func:`read_3tz_index` and :func:`index_problems` re-read the index and check it.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from citymodel.atomic import atomic_output
from citymodel.errors import OutputError

__all__ = [
    "INDEX_NAME",
    "IndexEntry",
    "index_problems",
    "normalise_path",
    "read_3tz_index",
    "write_3tz",
]

INDEX_NAME = "@3dtilesIndex1@"
_RECORD = struct.Struct("<16sQ")
_LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # signature .. extra field length (30 bytes)
_LOCAL_SIGNATURE = b"PK\x03\x04"
_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_DEFLATE_SUFFIXES = (".json",)
_FORBIDDEN = (".3tz", ".3dtiles.zip")


def normalise_path(path: str) -> str:
    """A path as the index hashes it: forward slashes, no leading slash."""
    return path.replace("\\", "/").lstrip("/")


def _sort_key(digest: bytes) -> tuple[int, int]:
    low, high = struct.unpack("<QQ", digest)
    return low, high


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One record of the ``@3dtilesIndex1@`` index."""

    md5: bytes
    offset: int


def _entries(src_dir: Path) -> list[tuple[str, Path]]:
    files = []
    for path in sorted(src_dir.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        name = normalise_path(path.relative_to(src_dir).as_posix())
        if any(f in name.lower() for f in _FORBIDDEN):
            raise OutputError(f"{path}: 3TZ entry names must not contain '.3tz' or '.3dtiles.zip'")
        if name == INDEX_NAME:
            continue
        files.append((name, path))
    return files


def write_3tz(src_dir: Path, dest: Path, *, deflate_json: bool = True) -> Path:
    """Pack the tileset folder ``src_dir`` into the 3TZ archive ``dest``.

    Parameters
    ----------
    src_dir
        Folder with ``tileset.json`` at its top; every file below it is packed (hidden files,
        e.g. temporary files of an interrupted writer, are skipped).
    dest
        The archive path (``.3tz``); written atomically.
    deflate_json
        Deflate ``.json`` entries; all other entries are stored (they are read by offset and
        are usually compressed already).

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    OutputError
        When ``src_dir`` has no ``tileset.json``, an entry name is not allowed, or the archive
        cannot be written.
    """
    src_dir = Path(src_dir)
    dest = Path(dest)
    if not (src_dir / "tileset.json").is_file():
        raise OutputError(f"{src_dir}: no tileset.json at the top of the folder")
    entries = _entries(src_dir)
    records: list[tuple[bytes, int]] = []
    with atomic_output(dest) as stream, zipfile.ZipFile(stream, "w", allowZip64=True) as archive:
        for name, path in entries:
            size = path.stat().st_size
            # zipfile switches a local header to ZIP64 sizes above ZIP64_LIMIT / 1.05; 3TZ
            # readers need the sizes in the local header itself.
            if size * 1.05 > zipfile.ZIP64_LIMIT:
                raise OutputError(f"{path}: {size} bytes; a 3TZ entry must stay below 4 GiB")
            info = zipfile.ZipInfo(name, date_time=_DATE_TIME)
            deflate = deflate_json and name.lower().endswith(_DEFLATE_SUFFIXES)
            info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            data = path.read_bytes()
            archive.writestr(info, data)
            records.append(
                (
                    hashlib.md5(name.encode("utf-8"), usedforsecurity=False).digest(),
                    info.header_offset,
                )
            )
        records.sort(key=lambda r: _sort_key(r[0]))
        index = b"".join(_RECORD.pack(digest, offset) for digest, offset in records)
        info = zipfile.ZipInfo(INDEX_NAME, date_time=_DATE_TIME)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        archive.writestr(info, index)
    return dest


def read_3tz_index(path: Path) -> list[IndexEntry]:
    """The records of the ``@3dtilesIndex1@`` index of a 3TZ archive, in file order.

    Raises
    ------
    ValueError
        When the archive has no index as its last entry or the index size is not a multiple of
        24 bytes.
    """
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if not infos or infos[-1].filename != INDEX_NAME:
            raise ValueError(f"{path}: the last entry is not {INDEX_NAME}")
        data = archive.read(INDEX_NAME)
    if len(data) % _RECORD.size:
        raise ValueError(f"{path}: index of {len(data)} bytes is not a multiple of {_RECORD.size}")
    return [IndexEntry(md5, offset) for md5, offset in _RECORD.iter_unpack(data)]


def index_problems(path: Path) -> list[str]:
    """Check a 3TZ archive's index the way readers use it; an empty list when it is sound.

    Checks: the index is the last entry, stored, without comment; one record per other entry;
    records sorted; every offset points at a local file header whose name hashes to the
    record's MD5; ``tileset.json`` is present.
    """
    problems: list[str] = []
    try:
        entries = read_3tz_index(path)
    except (ValueError, zipfile.BadZipFile, OSError) as err:
        return [str(err)]
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    index_info = infos[-1]
    if index_info.compress_type != zipfile.ZIP_STORED:
        problems.append(f"{INDEX_NAME} is compressed")
    if index_info.comment:
        problems.append(f"{INDEX_NAME} has a comment")
    names = {info.filename for info in infos[:-1]}
    if "tileset.json" not in names:
        problems.append("no tileset.json at the archive root")
    if len(entries) != len(names):
        problems.append(f"index has {len(entries)} records for {len(names)} entries")
    keys = [_sort_key(e.md5) for e in entries]
    if keys != sorted(keys):
        problems.append("index records are not sorted by MD5")
    with Path(path).open("rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        for entry in entries:
            if entry.offset + _LOCAL_HEADER.size > size:
                problems.append(f"index offset {entry.offset} lies beyond the archive")
                continue
            stream.seek(entry.offset)
            header = _LOCAL_HEADER.unpack(stream.read(_LOCAL_HEADER.size))
            if header[0] != _LOCAL_SIGNATURE:
                problems.append(f"index offset {entry.offset} is not a local file header")
                continue
            name = stream.read(header[9]).decode("utf-8", errors="replace")
            if (
                hashlib.md5(normalise_path(name).encode("utf-8"), usedforsecurity=False).digest()
                != entry.md5
            ):
                problems.append(f"index record for offset {entry.offset} ({name}) has a wrong MD5")
            flags, compressed, uncompressed = header[2], header[7], header[8]
            if flags & 0x08:
                problems.append(f"{name}: local header without sizes and CRC (data descriptor)")
            if 0xFFFFFFFF in (compressed, uncompressed):
                problems.append(
                    f"{name}: local header with ZIP64 sizes (3TZ needs them in the header)"
                )
    return problems
