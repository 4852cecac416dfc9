"""Read single entries of a 3TZ archive by name, without unpacking it.

A 3TZ archive (see :mod:`citymodel.tiler.archive`, which writes them) is a ZIP whose last
entry, ``@3dtilesIndex1@``, lists ``(MD5 of the entry name, offset of its local file header)``
records sorted by the MD5. Finding an entry costs one binary search in that index and one read
of the entry's local header, however many entries the archive holds:

1. the end-of-central-directory record (and its ZIP64 form) gives where the central directory
   ends; the *last* central-directory record is the index (3TZ puts it last), found by reading
   only the directory's tail;
2. the index (24 bytes per entry) is read once per archive version and kept as numpy arrays;
3. a lookup hashes the normalised name, binary-searches the index, reads the local file header
   at the recorded offset and checks that the name stored there is the name asked for (an MD5
   match alone is not trusted).

Entries are stored or deflated (ZIP methods 0 and 8); their data starts right after the local
header, whose sizes 3TZ requires to be filled in (ZIP64 sizes in the local header's extra field
are understood too). An archive without a usable index (a plain ZIP of a tileset, an index that
is not sorted or not last) is still served: its central directory is read once into a name ->
offset table, and a warning is logged.

:class:`ArchiveIndex` is immutable and safe to share between threads; all reads use
``os.pread`` on a file descriptor the caller owns, so concurrent requests never share a file
position.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import struct
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from citymodel._typing import PathLike
from citymodel.errors import InputError
from citymodel.tiler.archive import INDEX_NAME, normalise_path

__all__ = [
    "ArchiveEntry",
    "ArchiveIndex",
    "FileVersion",
    "file_version",
    "load_index",
    "pread_exact",
]

logger = logging.getLogger(__name__)

_EOCD = struct.Struct("<4s4H2IH")  # end of central directory, 22 bytes
_EOCD_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sIQI")  # 20 bytes
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQ2H2I4Q")  # 56 bytes
_ZIP64_EOCD_SIGNATURE = b"PK\x06\x06"
_CENTRAL = struct.Struct("<4s6H3I5H2I")  # central directory file header, 46 bytes
_CENTRAL_SIGNATURE = b"PK\x01\x02"
_LOCAL = struct.Struct("<4s5H3I2H")  # local file header, 30 bytes
_LOCAL_SIGNATURE = b"PK\x03\x04"
_RECORD = np.dtype([("low", "<u8"), ("high", "<u8"), ("offset", "<u8")])  # 24 bytes
_ZIP64_EXTRA_ID = 0x0001
_MAX_COMMENT = 0xFFFF
_METHODS: dict[int, Literal["stored", "deflated"]] = {0: "stored", 8: "deflated"}
_FLAG_ENCRYPTED = 0x01
_FLAG_DATA_DESCRIPTOR = 0x08
_CACHE_SIZE = 32


@dataclass(frozen=True, slots=True)
class FileVersion:
    """Identity of one version of a file: a rewritten file (archive, tile) is another version.

    Attributes
    ----------
    path
        The file's real path (symlinks resolved).
    device, inode, size, mtime_ns
        From ``os.stat``; a file replaced by an atomic rename has another inode.
    """

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int

    def matches(self, st: os.stat_result) -> bool:
        """Whether ``st`` (e.g. ``os.fstat`` of an opened descriptor) is this version."""
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == (
            self.device,
            self.inode,
            self.size,
            self.mtime_ns,
        )


def file_version(path: PathLike, st: os.stat_result | None = None) -> FileVersion:
    """The :class:`FileVersion` of ``path`` (its real path and ``os.stat``)."""
    real = Path(path).resolve()
    st = real.stat() if st is None else st
    return FileVersion(str(real), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """Where an entry's bytes lie in the archive file.

    Attributes
    ----------
    name
        The entry name (forward slashes, no leading slash).
    method
        ``"stored"`` (the bytes as they are) or ``"deflated"`` (raw DEFLATE, RFC 1951).
    crc32
        CRC-32 of the uncompressed bytes.
    size
        Uncompressed size, bytes.
    compressed_size
        Bytes the entry occupies in the archive (equal to ``size`` when stored).
    data_offset
        Byte offset of the entry's data in the archive file.
    """

    name: str
    method: Literal["stored", "deflated"]
    crc32: int
    size: int
    compressed_size: int
    data_offset: int


def pread_exact(fd: int, length: int, offset: int) -> bytes:
    """Read exactly ``length`` bytes at ``offset`` of ``fd``.

    Raises
    ------
    EOFError
        When the file ends before.
    """
    chunks = []
    remaining = length
    while remaining > 0:
        chunk = os.pread(fd, remaining, offset)
        if not chunk:
            raise EOFError(f"file ends {remaining} bytes before offset {offset + remaining}")
        chunks.append(chunk)
        offset += len(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _md5_key(name: str) -> tuple[int, int]:
    digest = hashlib.md5(name.encode("utf-8"), usedforsecurity=False).digest()
    low, high = struct.unpack("<QQ", digest)
    return low, high


def _zip64_values(extra: bytes, wanted: int) -> list[int]:
    """The first ``wanted`` 8-byte values of the ZIP64 extended-information extra field."""
    pos = 0
    while pos + 4 <= len(extra):
        header_id, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if header_id == _ZIP64_EXTRA_ID:
            count = min(wanted, len(body) // 8)
            return list(struct.unpack_from(f"<{count}Q", body)) if count else []
        pos += 4 + length
    return []


class ArchiveIndex:
    """The name lookup of one version of a 3TZ archive (built by :func:`load_index`).

    Parameters
    ----------
    key
        The archive version the index belongs to.
    records
        Index records sorted by MD5 (``low``, ``high`` uint64 and ``offset``), or None when the
        archive is served from its central directory (``offsets``).
    offsets
        Entry name -> local header offset, when the archive has no usable index.
    """

    def __init__(
        self,
        key: FileVersion,
        *,
        records: np.ndarray | None = None,
        offsets: dict[str, int] | None = None,
    ) -> None:
        self.key = key
        self._records = records
        self._offsets = offsets

    @property
    def has_3tz_index(self) -> bool:
        """True when lookups use the archive's own ``@3dtilesIndex1@`` index."""
        return self._records is not None

    def __len__(self) -> int:
        if self._records is not None:
            return len(self._records)
        return len(self._offsets or {})

    def _candidate_offsets(self, name: str) -> list[int]:
        if self._records is None:
            offset = (self._offsets or {}).get(name)
            return [] if offset is None else [offset]
        low, high = _md5_key(name)
        records = self._records
        start = int(np.searchsorted(records["low"], np.uint64(low), side="left"))
        stop = int(np.searchsorted(records["low"], np.uint64(low), side="right"))
        return [int(records["offset"][i]) for i in range(start, stop) if records["high"][i] == high]

    def find(self, fd: int, name: str) -> ArchiveEntry | None:
        """The entry called ``name`` (already normalised and checked), or None.

        Parameters
        ----------
        fd
            A descriptor of the archive version :attr:`key` (the caller checks
            :meth:`FileVersion.matches` on its ``os.fstat``).
        name
            Entry name with forward slashes and no leading slash.

        Raises
        ------
        InputError
            When the archive's structure at the recorded offset is broken or the entry uses a
            ZIP feature 3TZ excludes (encryption, a compression other than stored/deflate, sizes
            only in a data descriptor).
        """
        if name == INDEX_NAME:
            return None
        for offset in self._candidate_offsets(name):
            entry = self._read_local_header(fd, offset, name)
            if entry is not None:
                return entry
        return None

    def _read_local_header(self, fd: int, offset: int, name: str) -> ArchiveEntry | None:
        path = self.key.path
        if offset + _LOCAL.size > self.key.size:
            raise InputError(f"index offset {offset} lies beyond the archive", path=path)
        header = _LOCAL.unpack(pread_exact(fd, _LOCAL.size, offset))
        signature, _version, flags, method, _time, _date, crc, csize, usize, nlen, xlen = header
        if signature != _LOCAL_SIGNATURE:
            raise InputError(f"no local file header at index offset {offset}", path=path)
        tail = pread_exact(fd, nlen + xlen, offset + _LOCAL.size)
        stored_name = normalise_path(tail[:nlen].decode("utf-8", errors="replace"))
        if stored_name != name:
            return None  # an MD5 collision or a stale record: not this entry
        if flags & _FLAG_ENCRYPTED:
            raise InputError(f"{name}: encrypted entry", path=path)
        if method not in _METHODS:
            raise InputError(
                f"{name}: ZIP compression method {method}; 3TZ entries are stored or deflated",
                path=path,
            )
        if 0xFFFFFFFF in (csize, usize):
            values = _zip64_values(tail[nlen:], 2)  # uncompressed, then compressed size
            if len(values) < 2:
                raise InputError(f"{name}: ZIP64 sizes missing from the local header", path=path)
            usize, csize = values
        if flags & _FLAG_DATA_DESCRIPTOR and csize == 0 and usize == 0:
            raise InputError(
                f"{name}: sizes only in a data descriptor; 3TZ needs them in the local header",
                path=path,
            )
        data_offset = offset + _LOCAL.size + nlen + xlen
        if data_offset + csize > self.key.size:
            raise InputError(f"{name}: entry data runs past the end of the archive", path=path)
        return ArchiveEntry(name, _METHODS[method], crc, usize, csize, data_offset)


def _end_of_central_directory(fd: int, size: int, path: str) -> tuple[int, int, int]:
    """``(entries, directory size, directory offset)`` from the (ZIP64) end records."""
    tail_length = min(size, _EOCD.size + _MAX_COMMENT)
    tail = pread_exact(fd, tail_length, size - tail_length)
    pos = tail.rfind(_EOCD_SIGNATURE)
    while pos >= 0 and pos + _EOCD.size > len(tail):
        pos = tail.rfind(_EOCD_SIGNATURE, 0, pos)
    if pos < 0:
        raise InputError("not a ZIP archive (no end of central directory record)", path=path)
    fields = _EOCD.unpack_from(tail, pos)
    entries, cd_size, cd_offset = fields[4], fields[5], fields[6]
    eocd_offset = size - tail_length + pos
    if 0xFFFF in (entries,) or 0xFFFFFFFF in (cd_size, cd_offset):
        locator_offset = eocd_offset - _ZIP64_LOCATOR.size
        if locator_offset < 0:
            raise InputError("ZIP64 end of central directory locator missing", path=path)
        locator = _ZIP64_LOCATOR.unpack(pread_exact(fd, _ZIP64_LOCATOR.size, locator_offset))
        if locator[0] != _ZIP64_LOCATOR_SIGNATURE:
            raise InputError("ZIP64 end of central directory locator missing", path=path)
        record = _ZIP64_EOCD.unpack(pread_exact(fd, _ZIP64_EOCD.size, locator[2]))
        if record[0] != _ZIP64_EOCD_SIGNATURE:
            raise InputError("ZIP64 end of central directory record missing", path=path)
        entries, cd_size, cd_offset = record[7], record[8], record[9]
    if cd_offset + cd_size > size:
        raise InputError("central directory lies beyond the end of the archive", path=path)
    return entries, cd_size, cd_offset


def _last_central_record(fd: int, cd_size: int, cd_offset: int) -> tuple[str, int, int] | None:
    """``(name, method, local header offset)`` of the last central-directory record."""
    longest = _CENTRAL.size + len(INDEX_NAME) + 0xFFFF  # name, extra up to 64 KiB, no comment
    tail_length = min(cd_size, longest)
    tail = pread_exact(fd, tail_length, cd_offset + cd_size - tail_length)
    pos = tail.rfind(_CENTRAL_SIGNATURE)
    while pos >= 0:
        if pos + _CENTRAL.size <= len(tail):
            fields = _CENTRAL.unpack_from(tail, pos)
            method, nlen, xlen, clen, local = (
                fields[4],
                fields[10],
                fields[11],
                fields[12],
                fields[16],
            )
            if pos + _CENTRAL.size + nlen + xlen + clen == len(tail):
                start = pos + _CENTRAL.size
                name = tail[start : start + nlen].decode("utf-8", errors="replace")
                if local == 0xFFFFFFFF:
                    extra = tail[start + nlen : start + nlen + xlen]
                    sizes = [fields[8], fields[9]]  # compressed, uncompressed
                    wanted = sum(1 for v in sizes if v == 0xFFFFFFFF) + 1
                    values = _zip64_values(extra, wanted)
                    if len(values) < wanted:
                        return None
                    local = values[-1]
                return name, method, local
        pos = tail.rfind(_CENTRAL_SIGNATURE, 0, pos)
    return None


def _read_3tz_records(fd: int, key: FileVersion) -> np.ndarray | None:
    """The sorted index records, or None (with the reason logged) when unusable."""
    _, cd_size, cd_offset = _end_of_central_directory(fd, key.size, key.path)
    last = _last_central_record(fd, cd_size, cd_offset)
    if last is None or last[0] != INDEX_NAME:
        logger.warning("%s: the last entry is not %s", key.path, INDEX_NAME)
        return None
    _, method, offset = last
    if method != 0:
        logger.warning("%s: %s is compressed", key.path, INDEX_NAME)
        return None
    entry = ArchiveIndex(key, offsets={INDEX_NAME: offset})._read_local_header(
        fd, offset, INDEX_NAME
    )
    if entry is None or entry.size % _RECORD.itemsize or entry.size != entry.compressed_size:
        logger.warning("%s: %s has a broken header or size", key.path, INDEX_NAME)
        return None
    records = np.frombuffer(pread_exact(fd, entry.size, entry.data_offset), dtype=_RECORD)
    low, high = records["low"], records["high"]
    ordered = (low[1:] > low[:-1]) | ((low[1:] == low[:-1]) & (high[1:] >= high[:-1]))
    if not bool(np.all(ordered)):
        logger.warning("%s: %s is not sorted", key.path, INDEX_NAME)
        return None
    return records


def _central_directory_offsets(key: FileVersion) -> dict[str, int]:
    try:
        with zipfile.ZipFile(key.path) as archive:
            return {
                normalise_path(info.filename): info.header_offset
                for info in archive.infolist()
                if not info.is_dir()
            }
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise InputError(f"not a readable ZIP archive: {err}", path=key.path) from err


def _build_index(fd: int, key: FileVersion) -> ArchiveIndex:
    try:
        records = _read_3tz_records(fd, key)
    except EOFError as err:
        raise InputError(f"truncated archive: {err}", path=key.path) from err
    if records is not None:
        return ArchiveIndex(key, records=records)
    logger.warning("%s: serving it from its ZIP central directory instead", key.path)
    return ArchiveIndex(key, offsets=_central_directory_offsets(key))


_cache: OrderedDict[FileVersion, ArchiveIndex] = OrderedDict()
_cache_lock = threading.Lock()


def load_index(fd: int, key: FileVersion) -> ArchiveIndex:
    """The :class:`ArchiveIndex` of the archive version ``key``, read through ``fd`` once.

    Indexes of the most recently used archive versions stay in memory (24 bytes per entry);
    a rewritten archive has a new key and is read again.

    Raises
    ------
    InputError
        When the file is not a readable ZIP archive.
    """
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise InputError("not a regular file", path=key.path)
    index = _build_index(fd, key)
    with _cache_lock:
        _cache[key] = index
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return index
