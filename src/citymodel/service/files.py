"""Serve tileset files over HTTP from a folder or from inside a 3TZ archive.

Using it from an application (the job API, ``citymodel view``)::

    files = FileServer(options=FileServerOptions(cors_origin="*"))
    source = open_source(job_output)               # a tileset folder or a .3tz file
    response = await files.serve(request, source, path)   # path: the part of the URL after
                                                           # the prefix, e.g. "tileset.json"
    # or as a mountable ASGI app:
    Mount("/jobs/{id}/results", ...) / Mount("/tiles/city", app=files.app(source))

``serve`` answers GET, HEAD and OPTIONS (CORS preflight) and never raises for a bad request:
400 for a malformed path, 404 for anything not found or not allowed, 405 for other methods,
500 (logged) for a broken archive. A :class:`FolderSource` also serves the entries of ``.3tz``
files below its root (``/tiles/city.3tz/tileset.json``). Sources are cheap to create per
request; a finished job's output never changes under its URL, so it may be served with
``FileServerOptions(immutable=True)``.

What a response carries:

- ``Content-Type`` by file extension (``.json`` ``application/json``, ``.glb``
  ``model/gltf-binary``, ``.gltf`` ``model/gltf+json``, ``.b3dm``/``.pnts``/``.i3dm``/
  ``.cmpt``/``.subtree`` ``application/octet-stream``, images, and what a web page needs);
- content coding negotiated from ``Accept-Encoding``: ``br`` (when the ``brotli`` package is
  installed) or ``gzip`` for compressible types (JSON, glTF, tile formats, scripts), compressed
  once and kept in a bounded cache; a deflated 3TZ entry is sent as ``gzip`` without
  recompressing (its raw DEFLATE data wrapped in a gzip header and trailer); a file already
  stored gzip-compressed under its plain name (as some 3D Tiles tools write them) is sent as
  ``gzip`` or decompressed for clients that do not accept it;
- ``ETag`` (strong; from device, inode, size and mtime of the file, or of the archive plus the
  entry's offset and CRC; one per content coding) and ``Last-Modified``; ``If-None-Match``
  (weak comparison) and ``If-Modified-Since`` give ``304``;
- single byte ranges (``Range``, ``If-Range``): ``206`` with ``Content-Range``, ``416`` when
  unsatisfiable; a range is served from the uncompressed bytes; several ranges get the whole
  file (``200``);
- ``Access-Control-Allow-Origin`` (configurable, ``*`` by default) and the exposed headers a
  viewer on another origin needs; ``Cache-Control``: short for JSON (tilesets change when a
  job reruns), long for contents;
- ``Vary: Accept-Encoding`` where the coding may differ, ``X-Content-Type-Options: nosniff``.

Path safety: the URL path (already percent-decoded once by the server) is split on ``/``;
empty, ``.`` and ``..`` segments, backslashes, NUL and other control characters are refused
(``400``), so ``%2e%2e`` (decoded to ``..``) is refused and a double-encoded ``%252e%252e``
stays the literal name ``%2e%2e``. Hidden names (leading ``.``, e.g. a tiler's partial output
folder) are not served. The joined path is resolved with all symlinks and must stay inside the
source root (a symlink pointing outside gives ``404``); the file is then opened by its resolved
path with ``O_NOFOLLOW`` and its device and inode are compared with what was checked, so a path
swapped for a symlink between check and open is not followed. Inside a 3TZ archive the same
rules apply to the entry name, and an entry is found through the archive's index only when the
name stored in its local header equals the name asked for.
"""

from __future__ import annotations

import email.utils
import functools
import gzip
import hashlib
import importlib
import logging
import os
import stat
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Literal, Protocol

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from citymodel._typing import PathLike
from citymodel.errors import InputError
from citymodel.service.archive_reader import (
    ArchiveEntry,
    FileVersion,
    file_version,
    load_index,
    pread_exact,
)

__all__ = [
    "ArchiveSource",
    "FileServer",
    "FileServerOptions",
    "FolderSource",
    "Resource",
    "TileSource",
    "media_type_for",
    "open_source",
    "split_path",
]

logger = logging.getLogger(__name__)

Coding = Literal["identity", "gzip", "br"]
Chunks = Generator[bytes, None, None]
Storage = Literal["plain", "deflate", "gzip"]

_MEDIA_TYPES: dict[str, str] = {
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".b3dm": "application/octet-stream",
    ".i3dm": "application/octet-stream",
    ".pnts": "application/octet-stream",
    ".cmpt": "application/octet-stream",
    ".subtree": "application/octet-stream",
    ".bin": "application/octet-stream",
    ".3tz": "application/octet-stream",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".ktx2": "image/ktx2",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".cjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".xml": "application/xml",
    ".wasm": "application/wasm",
}
_COMPRESSIBLE = frozenset(
    {
        ".json",
        ".geojson",
        ".glb",
        ".gltf",
        ".b3dm",
        ".i3dm",
        ".pnts",
        ".cmpt",
        ".subtree",
        ".bin",
        ".svg",
        ".html",
        ".js",
        ".mjs",
        ".cjs",
        ".css",
        ".txt",
        ".md",
        ".xml",
        ".wasm",
    }
)
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no flags, mtime 0, OS unknown
_CHUNK = 256 * 1024
_CORS_EXPOSE = "Content-Length, Content-Range, Content-Encoding, Accept-Ranges, ETag, Last-Modified"
_CORS_ALLOW_HEADERS = "Range, If-None-Match, If-Modified-Since, If-Range, Cache-Control"
_ALLOWED_METHODS = "GET, HEAD, OPTIONS"


# ---------------------------------------------------------------------------------------------
# paths and media types


def split_path(path: str) -> tuple[str, ...]:
    """The segments of a URL path below a served root, refusing anything that could escape it.

    Parameters
    ----------
    path
        The percent-decoded path after the mount prefix, e.g. ``"content/0/0/0.glb"``; no
        leading slash.

    Returns
    -------
    tuple[str, ...]
        The segments; ``()`` for the empty path.

    Raises
    ------
    ValueError
        For an absolute path, a backslash, NUL or another control character, or an empty,
        ``.`` or ``..`` segment.
    """
    if not path:
        return ()
    if any(ord(c) < 0x20 or c == "\x7f" for c in path):
        raise ValueError("control character in path")
    if "\\" in path:
        raise ValueError("backslash in path")
    if path.startswith("/"):
        raise ValueError("absolute path")
    parts = tuple(path.split("/"))
    if any(part in ("", ".", "..") for part in parts[:-1]) or parts[-1] in (".", ".."):
        raise ValueError("empty, '.' or '..' path segment")
    return parts


def _suffix(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def media_type_for(name: str) -> str:
    """The ``Content-Type`` served for a file name (``application/octet-stream`` if unknown)."""
    return _MEDIA_TYPES.get(_suffix(name), "application/octet-stream")


def _is_hidden(parts: tuple[str, ...]) -> bool:
    return any(part.startswith(".") for part in parts)


# ---------------------------------------------------------------------------------------------
# sources


@dataclass(frozen=True, slots=True)
class Resource:
    """A file found for a request: where its bytes are and how they are stored.

    Attributes
    ----------
    name
        The file or entry name (its extension gives the media type).
    version
        The file holding the bytes (a plain file or the archive), checked again when read.
    data_offset, stored_size
        Byte range of the stored bytes in that file.
    size
        Size of the uncompressed bytes; None when unknown (a gzip file on disk).
    storage
        ``"plain"`` (the bytes as served), ``"deflate"`` (raw DEFLATE, a 3TZ entry) or
        ``"gzip"`` (a gzip stream under the plain name).
    tag
        Validator of this content (the ``ETag`` without quotes or coding suffix).
    crc32
        CRC-32 of the uncompressed bytes when known (3TZ entries), checked on full reads.
    """

    name: str
    version: FileVersion
    data_offset: int
    stored_size: int
    size: int | None
    storage: Storage
    tag: str
    crc32: int | None = None

    @property
    def last_modified(self) -> float:
        """Modification time of the file holding the bytes (seconds since the epoch)."""
        return self.version.mtime_ns / 1e9


class TileSource(Protocol):
    """Where :class:`FileServer` finds files: a folder or a 3TZ archive."""

    def find(self, parts: tuple[str, ...]) -> Resource | None:
        """The resource at the path ``parts`` (from :func:`split_path`), or None.

        Blocking (file system calls); :class:`FileServer` calls it in a worker thread.
        """
        ...


def _tag(*values: object) -> str:
    text = ":".join(str(v) for v in values)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=10).hexdigest()


def _open_checked(version: FileVersion) -> int:
    """Open the file of ``version`` read-only; refuse when it is no longer that file."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(version.path, flags)
    try:
        if not version.matches(os.fstat(fd)):
            raise FileNotFoundError(f"{version.path} changed while it was being served")
    except BaseException:
        os.close(fd)
        raise
    return fd


@dataclass(frozen=True, slots=True)
class ArchiveSource:
    """The entries of one 3TZ archive (see :mod:`citymodel.service.archive_reader`).

    Parameters
    ----------
    path
        The archive file.
    """

    path: Path

    def find(self, parts: tuple[str, ...]) -> Resource | None:
        """The entry ``"/".join(parts)``, or None when the archive has no such entry.

        Raises
        ------
        InputError
            When the archive cannot be read (not a ZIP, broken index or header).
        """
        if not parts or parts[-1] == "" or _is_hidden(parts):
            return None
        real = self.path.resolve()
        try:
            st = real.stat()
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return self._find(file_version(real, st), "/".join(parts))

    @staticmethod
    def _find(version: FileVersion, name: str) -> Resource | None:
        fd = _open_checked(version)
        try:
            entry = load_index(fd, version).find(fd, name)
        except EOFError as err:
            raise InputError(f"truncated archive: {err}", path=version.path) from err
        finally:
            os.close(fd)
        if entry is None:
            return None
        return _entry_resource(version, entry)


def _entry_resource(version: FileVersion, entry: ArchiveEntry) -> Resource:
    return Resource(
        name=entry.name,
        version=version,
        data_offset=entry.data_offset,
        stored_size=entry.compressed_size,
        size=entry.size,
        storage="deflate" if entry.method == "deflated" else "plain",
        tag=_tag(version.device, version.inode, version.size, version.mtime_ns, entry.data_offset),
        crc32=entry.crc32,
    )


@dataclass(frozen=True, slots=True)
class FolderSource:
    """The files below a folder, and (``archives=True``) the entries of ``.3tz`` files in it.

    Parameters
    ----------
    root
        The folder; symlinks inside it are followed as long as their targets stay inside it.
    archives
        Serve ``<archive>.3tz/<entry>`` paths from inside the archives.
    """

    root: Path
    archives: bool = True
    _real_root: Path = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_real_root", Path(self.root).resolve())

    def find(self, parts: tuple[str, ...]) -> Resource | None:
        """The file at ``parts`` below the root (or an archive entry), or None."""
        if not parts or parts[-1] == "" or _is_hidden(parts):
            return None
        if self.archives:
            for i, part in enumerate(parts[:-1]):
                if part.lower().endswith(".3tz"):
                    archive = self._regular_file(parts[: i + 1])
                    if archive is not None:
                        return ArchiveSource._find(archive, "/".join(parts[i + 1 :]))
        version = self._regular_file(parts)
        if version is None:
            return None
        storage: Storage = "plain"
        if _suffix(parts[-1]) in _COMPRESSIBLE and version.size >= 18 and _starts_gzip(version):
            storage = "gzip"
        return Resource(
            name=parts[-1],
            version=version,
            data_offset=0,
            stored_size=version.size,
            size=None if storage == "gzip" else version.size,
            storage=storage,
            tag=_tag(version.device, version.inode, version.size, version.mtime_ns),
        )

    def _regular_file(self, parts: tuple[str, ...]) -> FileVersion | None:
        real = self._real_root.joinpath(*parts).resolve()
        if real == self._real_root or not real.is_relative_to(self._real_root):
            return None
        try:
            st = real.stat()
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return file_version(real, st)


def _starts_gzip(version: FileVersion) -> bool:
    try:
        fd = _open_checked(version)
    except OSError:
        return False
    try:
        return os.pread(fd, 2, 0) == _GZIP_MAGIC
    finally:
        os.close(fd)


def open_source(path: PathLike) -> TileSource:
    """A :class:`FolderSource` for a folder, an :class:`ArchiveSource` for a ``.3tz`` file.

    Raises
    ------
    InputError
        When ``path`` is neither (missing, or another kind of file).
    """
    target = Path(path)
    if target.is_dir():
        return FolderSource(target)
    if target.is_file() and target.suffix.lower() == ".3tz":
        return ArchiveSource(target)
    raise InputError("not a tileset folder or a .3tz archive", path=target)


# ---------------------------------------------------------------------------------------------
# header parsing (pure)


def _parse_qualities(header: str | None) -> dict[str, float]:
    """``Accept-Encoding`` as ``{coding: q}`` (lower-case; malformed q-values count as 0)."""
    result: dict[str, float] = {}
    for item in (header or "").split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        result[name] = max(0.0, min(q, 1.0))
    return result


def _accepts(qualities: Mapping[str, float], coding: str) -> float:
    if coding in qualities:
        return qualities[coding]
    if coding == "identity":
        return qualities.get("*", 1.0) if "*" in qualities else 1.0
    return qualities.get("*", 0.0)


def _choose(qualities: Mapping[str, float], offered: tuple[Coding, ...]) -> Coding:
    """The offered coding with the highest q (ties: the order of ``offered``); identity last."""
    best: Coding = "identity"
    best_q = 0.0
    for coding in offered:
        q = _accepts(qualities, coding)
        if q > best_q:
            best, best_q = coding, q
    return best


def _parse_range(header: str, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """One byte range ``(first, last)`` inclusive; None to ignore the header (send all)."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    first_text, last_text = first_text.strip(), last_text.strip()
    if not dash or not (first_text + last_text).isdigit():
        return None
    if not first_text:  # suffix range: the last N bytes
        length = int(last_text)
        if length == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - length), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # invalid: the header is ignored
    if first >= size:
        return "unsatisfiable"
    return first, min(int(last_text), size - 1) if last_text else size - 1


def _opaque_tags(header: str) -> list[str]:
    tags = []
    for item in header.split(","):
        item = item.strip()
        if item.startswith("W/"):
            item = item[2:]
        if item:
            tags.append(item)
    return tags


def _http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


def _parse_http_date(value: str) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _not_modified(headers: Mapping[str, str], etag: str, last_modified: float) -> bool:
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = _opaque_tags(if_none_match)
        return "*" in tags or etag in tags
    since = headers.get("if-modified-since")
    if since is not None:
        when = _parse_http_date(since)
        return when is not None and int(last_modified) <= when
    return False


def _if_range_holds(value: str | None, etag: str, last_modified: float) -> bool:
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag  # strong comparison: a weak tag never matches
    return value == _http_date(last_modified)


# ---------------------------------------------------------------------------------------------
# reading bytes (blocking; run in worker threads)


def _read_stored(resource: Resource) -> bytes:
    """The stored bytes; a stored 3TZ entry's CRC-32 is checked."""
    fd = _open_checked(resource.version)
    try:
        data = pread_exact(fd, resource.stored_size, resource.data_offset)
    finally:
        os.close(fd)
    if resource.storage == "plain" and resource.crc32 is not None:
        _check_crc(resource, data)
    return data


def _check_crc(resource: Resource, data: bytes) -> None:
    if zlib.crc32(data) != resource.crc32:
        raise InputError(f"{resource.name}: CRC-32 mismatch", path=resource.version.path)


def _read_identity(resource: Resource) -> bytes:
    """The uncompressed bytes; a 3TZ entry's CRC-32 is checked."""
    try:
        raw = _read_stored(resource)
        if resource.storage == "deflate":
            data = zlib.decompress(raw, -zlib.MAX_WBITS)
        elif resource.storage == "gzip":
            data = gzip.decompress(raw)
        else:
            data = raw
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise InputError(f"{resource.name}: unreadable: {err}", path=resource.version.path) from err
    if resource.storage != "plain" and resource.crc32 is not None:
        _check_crc(resource, data)
    return data


def _iter_stored(resource: Resource, start: int, length: int) -> Chunks:
    """``length`` stored bytes from ``start`` (relative to the data), in chunks."""
    fd = _open_checked(resource.version)
    try:
        offset = resource.data_offset + start
        end = offset + length
        while offset < end:
            chunk = os.pread(fd, min(_CHUNK, end - offset), offset)
            if not chunk:
                raise EOFError(f"{resource.version.path} ends early")
            offset += len(chunk)
            yield chunk
    finally:
        os.close(fd)


def _iter_inflated(resource: Resource, start: int, length: int | None) -> Chunks:
    """Uncompressed bytes ``[start, start + length)`` of a deflate or gzip resource."""
    wbits = -zlib.MAX_WBITS if resource.storage == "deflate" else 16 + zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    skip = start
    remaining = length
    for raw in _iter_stored(resource, 0, resource.stored_size):
        data = inflater.decompress(raw)
        while inflater.eof and inflater.unused_data and resource.storage == "gzip":
            rest = inflater.unused_data  # a further gzip member
            inflater = zlib.decompressobj(wbits)
            data += inflater.decompress(rest)
        if skip:
            cut = min(skip, len(data))
            data, skip = data[cut:], skip - cut
        if remaining is not None:
            data = data[:remaining]
            remaining -= len(data)
        if data:
            yield data
        if remaining == 0:
            return


def _iter_gzip_wrapped(resource: Resource) -> Chunks:
    """A deflated 3TZ entry as a gzip stream: header + its raw DEFLATE bytes + trailer."""
    yield _GZIP_HEADER
    yield from _iter_stored(resource, 0, resource.stored_size)
    yield struct.pack("<II", resource.crc32 or 0, (resource.size or 0) & 0xFFFFFFFF)


@functools.cache
def _brotli() -> ModuleType | None:
    """The ``brotli`` (or ``brotlicffi``) module, None when neither is installed."""
    for name in ("brotli", "brotlicffi"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def _encode(data: bytes, coding: Coding, options: FileServerOptions) -> bytes:
    if coding == "gzip":
        return gzip.compress(data, compresslevel=options.gzip_level, mtime=0)
    if coding == "br":
        module = _brotli()
        if module is None:
            raise RuntimeError("brotli is not installed")
        encoded: bytes = module.compress(data, quality=options.brotli_quality)
        return encoded
    return data


class _BodyCache:
    """Compressed bodies by ``(tag, coding)``, least recently used first out, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._items: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> bytes | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: tuple[str, str], body: bytes) -> None:
        if len(body) > self._max:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._items[key] = body
            self._bytes += len(body)
            while self._bytes > self._max:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)


# ---------------------------------------------------------------------------------------------
# the server


@dataclass(frozen=True, slots=True, kw_only=True)
class FileServerOptions:
    """How :class:`FileServer` answers.

    Attributes
    ----------
    cors_origin
        ``Access-Control-Allow-Origin`` value (``"*"``: any page may load the tiles, as a
        viewer on another origin needs); None sends no CORS headers.
    json_max_age
        ``Cache-Control`` max-age of ``.json`` files (tilesets), seconds; 0 = ``no-cache``
        (always revalidate with the ``ETag``).
    content_max_age
        max-age of all other files (tile contents, images, scripts), seconds.
    immutable
        Add ``immutable`` to the contents' ``Cache-Control`` (for outputs that never change
        under their URL, e.g. a finished job's results).
    compress
        Negotiate ``br``/``gzip`` for compressible types.
    compress_min_bytes, compress_max_bytes
        Only files of this size range are compressed (smaller ones gain nothing; larger ones
        are sent as they are, streamed).
    cache_bytes
        Memory for compressed bodies (least recently used are dropped first).
    gzip_level, brotli_quality
        Compression levels (defaults: fast with a good ratio).
    memory_bytes
        Files up to this size are read in one go; larger ones are streamed in 256 KiB chunks.
    """

    cors_origin: str | None = "*"
    json_max_age: int = 10
    content_max_age: int = 86400
    immutable: bool = False
    compress: bool = True
    compress_min_bytes: int = 256
    compress_max_bytes: int = 32 * 1024 * 1024
    cache_bytes: int = 64 * 1024 * 1024
    gzip_level: int = 6
    brotli_quality: int = 5
    memory_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be >= 0, got {getattr(self, name)!r}"
            for name in ("json_max_age", "content_max_age", "compress_min_bytes", "cache_bytes")
            if getattr(self, name) < 0
        ]
        if not 1 <= self.gzip_level <= 9:
            problems.append(f"gzip_level must be within 1..9, got {self.gzip_level!r}")
        if not 0 <= self.brotli_quality <= 11:
            problems.append(f"brotli_quality must be within 0..11, got {self.brotli_quality!r}")
        if self.memory_bytes < 1 or self.compress_max_bytes < 0:
            problems.append("memory_bytes must be >= 1 and compress_max_bytes >= 0")
        if self.cors_origin is not None and any(c in self.cors_origin for c in "\r\n"):
            problems.append("cors_origin must be one header value")
        if problems:
            raise ValueError("; ".join(problems))

    def cache_control(self, name: str) -> str:
        """The ``Cache-Control`` value for a file name."""
        if _suffix(name) == ".json":
            age = self.json_max_age
            return f"public, max-age={age}" if age else "no-cache"
        value = f"public, max-age={self.content_max_age}" if self.content_max_age else "no-cache"
        return value + ", immutable" if self.immutable and self.content_max_age else value


@dataclass(slots=True)
class _Reply:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    stream: Callable[[], Chunks] | None = None


class FileServer:
    """Answers file requests for :class:`TileSource` s (see the module docstring).

    Parameters
    ----------
    options
        See :class:`FileServerOptions`.
    """

    def __init__(self, *, options: FileServerOptions | None = None) -> None:
        self.options = options if options is not None else FileServerOptions()
        self._cache = _BodyCache(self.options.cache_bytes)

    def cors_headers(self) -> dict[str, str]:
        """The CORS headers every response carries (empty when CORS is off)."""
        if self.options.cors_origin is None:
            return {}
        headers = {
            "Access-Control-Allow-Origin": self.options.cors_origin,
            "Access-Control-Expose-Headers": _CORS_EXPOSE,
        }
        if self.options.cors_origin != "*":
            headers["Vary"] = "Origin"
        return headers

    def app(self, source: TileSource) -> ASGIApp:
        """An ASGI app serving ``source`` at its root (mount it under a prefix)."""

        async def endpoint(request: Request) -> Response:
            return await self.serve(request, source, request.path_params["path"])

        return Starlette(
            routes=[Route("/{path:path}", endpoint, methods=["GET", "HEAD", "OPTIONS"])]
        )

    async def serve(self, request: Request, source: TileSource, path: str) -> Response:
        """Answer ``request`` for the file ``path`` (percent-decoded, below the source root)."""
        method = request.method
        if method == "OPTIONS":
            return self._preflight()
        if method not in ("GET", "HEAD"):
            return self._text(405, "method not allowed", {"Allow": _ALLOWED_METHODS})
        try:
            parts = split_path(path)
        except ValueError as err:
            return self._text(400, f"invalid path: {err}")
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            reply = await anyio.to_thread.run_sync(self._reply, source, parts, method, headers)
        except InputError as err:
            logger.error("cannot serve %s: %s", path, err)
            return self._text(500, "the file cannot be read")
        except (OSError, EOFError) as err:  # e.g. replaced between lookup and read
            logger.warning("cannot serve %s: %s", path, err)
            return self._text(404, "not found")
        if reply.stream is not None and method == "GET":
            return StreamingResponse(
                _async_chunks(reply.stream), status_code=reply.status, headers=reply.headers
            )
        return Response(reply.body, status_code=reply.status, headers=reply.headers)

    # -- replies ---------------------------------------------------------------------------

    def _text(self, status: int, text: str, extra: Mapping[str, str] | None = None) -> Response:
        headers = {**self.cors_headers(), "X-Content-Type-Options": "nosniff", **(extra or {})}
        return Response(text + "\n", status_code=status, headers=headers, media_type="text/plain")

    def _preflight(self) -> Response:
        if self.options.cors_origin is None:
            return Response(status_code=204, headers={"Allow": _ALLOWED_METHODS})
        headers = {
            **self.cors_headers(),
            "Access-Control-Allow-Methods": _ALLOWED_METHODS,
            "Access-Control-Allow-Headers": _CORS_ALLOW_HEADERS,
            "Access-Control-Max-Age": "86400",
            "Allow": _ALLOWED_METHODS,
        }
        return Response(status_code=204, headers=headers)

    def _offered(self, resource: Resource) -> tuple[Coding, ...]:
        """Codings this resource can be sent in, best first (identity is always possible)."""
        compressible = _suffix(resource.name) in _COMPRESSIBLE
        if resource.storage in ("deflate", "gzip"):
            # already compressed: gzip costs nothing; br would mean recompressing
            return ("gzip",)
        if not (self.options.compress and compressible):
            return ()
        size = resource.size or 0
        if not self.options.compress_min_bytes <= size <= self.options.compress_max_bytes:
            return ()
        return ("br", "gzip") if _brotli() is not None else ("gzip",)

    def _reply(
        self, source: TileSource, parts: tuple[str, ...], method: str, headers: dict[str, str]
    ) -> _Reply:
        resource = source.find(parts)
        if resource is None:
            return _Reply(
                404, {**self.cors_headers(), "Content-Type": "text/plain"}, b"not found\n"
            )
        offered = self._offered(resource)
        base = {
            **self.cors_headers(),
            "Cache-Control": self.options.cache_control(resource.name),
            "Last-Modified": _http_date(resource.last_modified),
            "X-Content-Type-Options": "nosniff",
        }
        if offered or resource.storage != "plain":
            base["Vary"] = "Accept-Encoding" + (", Origin" if "Vary" in base else "")

        range_header = headers.get("range") if method == "GET" else None
        identity_tag = f'"{resource.tag}"'
        byte_range: tuple[int, int] | Literal["unsatisfiable"] | None = None
        if (
            range_header is not None
            and resource.size is not None
            and _if_range_holds(headers.get("if-range"), identity_tag, resource.last_modified)
        ):
            byte_range = _parse_range(range_header, resource.size)
        coding: Coding = "identity"
        if byte_range is None:
            coding = _choose(_parse_qualities(headers.get("accept-encoding")), offered)
        etag = identity_tag if coding == "identity" else f'"{resource.tag}-{coding}"'
        base["ETag"] = etag
        if _not_modified(headers, etag, resource.last_modified):
            return _Reply(304, base)

        base["Content-Type"] = media_type_for(resource.name)
        if byte_range == "unsatisfiable":
            size = resource.size or 0
            return _Reply(
                416,
                {**base, "Content-Range": f"bytes */{size}", "Content-Type": "text/plain"},
                b"range not satisfiable\n",
            )
        if isinstance(byte_range, tuple):
            return self._range_reply(resource, byte_range, base, method)
        if resource.size is not None:
            base["Accept-Ranges"] = "bytes"
        if coding == "identity":
            return self._identity_reply(resource, base, method)
        base["Content-Encoding"] = coding
        if resource.storage == "gzip":
            return self._stored_reply(resource, base, method)
        if resource.storage == "deflate":
            length = 10 + resource.stored_size + 8
            base["Content-Length"] = str(length)
            if method == "HEAD":
                return _Reply(200, base)
            return _Reply(200, base, stream=lambda: _iter_gzip_wrapped(resource))
        key = (resource.tag, coding)
        body = self._cache.get(key)
        if body is None:
            body = _encode(_read_identity(resource), coding, self.options)
            self._cache.put(key, body)
        base["Content-Length"] = str(len(body))
        return _Reply(200, base, b"" if method == "HEAD" else body)

    def _stored_reply(self, resource: Resource, base: dict[str, str], method: str) -> _Reply:
        """The stored bytes as they are (a gzip file sent with ``Content-Encoding: gzip``)."""
        base["Content-Length"] = str(resource.stored_size)
        if method == "HEAD":
            return _Reply(200, base)
        if resource.stored_size <= self.options.memory_bytes:
            return _Reply(200, base, _read_stored(resource))
        return _Reply(200, base, stream=lambda: _iter_stored(resource, 0, resource.stored_size))

    def _identity_reply(self, resource: Resource, base: dict[str, str], method: str) -> _Reply:
        if resource.storage == "plain":
            return self._stored_reply(resource, base, method)
        size = resource.size
        if (size if size is not None else resource.stored_size) > self.options.memory_bytes:
            if size is not None:  # else (a large gzip file) sent chunked, size unknown
                base["Content-Length"] = str(size)
            if method == "HEAD":
                return _Reply(200, base)
            return _Reply(200, base, stream=lambda: _iter_inflated(resource, 0, None))
        body = _read_identity(resource)
        base["Content-Length"] = str(len(body))
        return _Reply(200, base, b"" if method == "HEAD" else body)

    def _range_reply(
        self, resource: Resource, byte_range: tuple[int, int], base: dict[str, str], method: str
    ) -> _Reply:
        first, last = byte_range
        length = last - first + 1
        base["Content-Range"] = f"bytes {first}-{last}/{resource.size}"
        base["Content-Length"] = str(length)
        base["Accept-Ranges"] = "bytes"
        if method == "HEAD":
            return _Reply(206, base)
        if resource.storage == "plain":
            return _Reply(206, base, stream=lambda: _iter_stored(resource, first, length))
        return _Reply(206, base, stream=lambda: _iter_inflated(resource, first, length))


async def _async_chunks(factory: Callable[[], Chunks]) -> AsyncIterator[bytes]:
    """Run a blocking chunk iterator in worker threads; it is closed however the send ends."""
    iterator = factory()  # a generator: opens nothing before the first chunk is asked for
    try:
        while True:
            chunk = await anyio.to_thread.run_sync(next, iterator, None)
            if chunk is None:
                return
            yield chunk
    finally:
        iterator.close()
