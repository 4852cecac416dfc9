"""Open XML inputs that may be plain, gzip-compressed or zip archives of several files.

A ``.gml``/``.xml`` file is read as it is; a gzip stream (``.gml.gz``, ``.xml.gz``, detected by
its magic bytes, not its name) is decompressed on the fly; a zip archive yields its GML/XML
members in archive order, skipping folders, macOS resource forks (``__MACOSX/``, ``._*``) and
members of other types. Nothing is extracted to disk and nothing is read into memory whole.
"""

from __future__ import annotations

import gzip
import logging
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Protocol

from citymodel.errors import ParseError, UnsupportedFormatError

__all__ = [
    "XML_MEMBER_SUFFIXES",
    "XMLSource",
    "iter_sources",
    "read_head",
]

log = logging.getLogger(__name__)

XML_MEMBER_SUFFIXES: tuple[str, ...] = (".gml", ".xml", ".citygml")
"""Zip members with these suffixes (case-insensitive) are considered; others are ignored."""

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"

HeadTest = Callable[[bytes], bool]


class BinaryStream(Protocol):
    """A readable, closable byte stream (what lxml's parser reads from)."""

    def read(self, size: int = -1, /) -> bytes:
        """Read up to ``size`` bytes (all when negative)."""
        ...

    def close(self) -> None:
        """Release the stream."""
        ...


@dataclass(frozen=True, slots=True)
class XMLSource:
    """One XML document: a file on disk, optionally gzip-compressed or a member of a zip.

    Attributes
    ----------
    path
        The file on disk.
    member
        The zip member name, or None for a plain or gzip file.
    compression
        ``"gzip"`` or None (zip members are handled through ``member``).
    """

    path: Path
    member: str | None = None
    compression: str | None = None

    @property
    def display(self) -> str:
        """How the source is named in messages and ``SourceRef.path`` (``a.zip!dir/b.xml``)."""
        return str(self.path) if self.member is None else f"{self.path}!{self.member}"

    @property
    def name(self) -> str:
        """The document's own file name (``b.xml`` for ``a.zip!dir/b.xml``)."""
        return self.path.name if self.member is None else PurePosixPath(self.member).name

    def open(self) -> BinaryStream:
        """Open the decompressed byte stream (the caller closes it)."""
        if self.member is not None:
            archive = zipfile.ZipFile(self.path)
            try:
                return _ZipMemberStream(archive, archive.open(self.member))
            except BaseException:
                archive.close()
                raise
        if self.compression == "gzip":
            return gzip.GzipFile(self.path, "rb")
        return self.path.open("rb")


class _ZipMemberStream:
    """A zip member stream that also closes its archive."""

    def __init__(self, archive: zipfile.ZipFile, stream: IO[bytes]) -> None:
        self._archive = archive
        self._stream = stream

    def read(self, size: int = -1, /) -> bytes:
        return self._stream.read(size)

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._archive.close()


def _magic(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(4)
    except OSError as err:
        raise ParseError(f"cannot read the file: {err.strerror or err}", path=path) from err


def _is_junk(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return (
        name.endswith("/")
        or "__MACOSX" in parts
        or any(p.startswith("._") for p in parts)
        or not name.lower().endswith(XML_MEMBER_SUFFIXES)
    )


def iter_sources(path: Path, *, accept: HeadTest | None = None) -> Iterator[XMLSource]:
    """Yield the XML documents held by ``path``.

    Parameters
    ----------
    path
        A plain XML file, a gzip-compressed XML file or a zip archive.
    accept
        For zip archives: a test on the first bytes of each candidate member (e.g. "has a
        CityGML namespace"); members failing it are skipped with a debug log line.

    Raises
    ------
    ParseError
        When the archive is corrupt.
    UnsupportedFormatError
        When a zip archive holds no acceptable member.
    """
    magic = _magic(path)
    if magic.startswith(_GZIP_MAGIC):
        yield XMLSource(path, compression="gzip")
        return
    if not magic.startswith((_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)):
        yield XMLSource(path)
        return
    try:
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist()]
    except (zipfile.BadZipFile, OSError) as err:
        raise ParseError(f"corrupt zip archive: {err}", path=path) from err
    found = False
    for name in names:
        if _is_junk(name):
            log.debug("%s: skipping zip member %s", path, name)
            continue
        source = XMLSource(path, member=name)
        if accept is not None and not accept(read_source_head(source, 16384)):
            log.debug("%s: zip member %s is not a recognised XML document", path, name)
            continue
        found = True
        yield source
    if not found:
        raise UnsupportedFormatError("the zip archive holds no CityGML document", path=path)


def read_source_head(source: XMLSource, size: int) -> bytes:
    """Return up to ``size`` decompressed bytes from the start of ``source``."""
    try:
        fh = source.open()
        try:
            return fh.read(size)
        finally:
            fh.close()
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise ParseError(f"cannot read the input: {err}", path=source.display) from err


def read_head(path: Path, size: int, *, accept: HeadTest | None = None) -> bytes:
    """Return up to ``size`` decompressed bytes of the first document in ``path``.

    For a zip archive this is the first member passing ``accept`` (or the first GML/XML member);
    empty bytes when there is none. Reads a bounded amount of data: constant time.
    """
    magic = _magic(path)
    if magic.startswith(_GZIP_MAGIC):
        return read_source_head(XMLSource(path, compression="gzip"), size)
    if not magic.startswith(_ZIP_MAGIC):
        return read_source_head(XMLSource(path), size)
    try:
        with zipfile.ZipFile(path) as archive:
            names = [i.filename for i in archive.infolist()]
    except (zipfile.BadZipFile, OSError):
        return b""
    for name in names[:64]:
        if _is_junk(name):
            continue
        head = read_source_head(XMLSource(path, member=name), size)
        if accept is None or accept(head):
            return head
    return b""
