"""Reading one big CityGML 1.0/2.0 file in chunks, on several cores, exactly as one reader would.

Splitting
---------
:class:`ChunkPlan` scans a plain (uncompressed) document once, in 8 MiB blocks read into one
reused buffer, with no per-element Python: line feeds are counted with numpy, member tags with
``bytearray.count``, and markup that forbids a split is searched through the rare bytes ``!``
and ``?`` (``memchr``) rather than ``<!``/``<?`` (every ``<`` is a candidate). It cuts at
top-level member start tags (``<core:cityObjectMember``, ``<gml:featureMember``, whatever the
prefix) about every ``chunk_bytes`` bytes and hands each chunk out as soon as the next cut is
found, so that workers read the first chunks while the rest is scanned (about 0.45 s of CPU
for 300 MB). :func:`plan_chunks` returns the whole plan at once. Chunk ``k`` is parsed as a document of its own::

    prolog (bytes 0 .. first member: XML declaration, root start tag with every namespace
            declaration, gml:name, gml:boundedBy)
    padding (newlines, then spaces) so that the chunk starts at its original line and column
    the chunk's bytes
    the root's closing tag (the last chunk instead ends with the file's own tail)

Line numbers of features, skipped polygons and syntax errors are therefore libxml2's own
counts of the original file: nothing in the reader is offset. The header (version, dataset
srsName and envelope) is always taken from the original document.

Only splits between root children are valid. A document is not split (it is read as one
chunk, i.e. sequentially) when the byte scan cannot prove its member tags are markup: a
comment, CDATA section or processing instruction after the prolog (a member tag could hide in
it), a DOCTYPE, a non-ASCII-compatible encoding (UTF-16/32), a CityGML 3.0 root, a one-line
(minified) layout, gzip or zip input, or fewer than two chunks' worth of bytes. A wrong split
that got past these checks (a member tag nested below another element) makes some chunk not
well-formed; a chunk that fails to parse never reports its own error: the original document is
parsed from its start (bare ``iterparse``) and the first syntax error of the file is raised,
exactly what the sequential reader raises, or, when the file is well-formed, an error saying
the file must be read with one job. Output never differs silently.

When the scan finds such markup only after it has handed out chunks, iterating the plan raises
:class:`SplitWithdrawn`: the caller drops the chunks' results and reads the file as one
document. Callers that cannot take results back (``convert`` merges reports and adds meshes)
call :meth:`ChunkPlan.complete` before they use the first result; the tiler collects all
results before it uses them.

Compressed inputs (gzip, zip members) stay one task: they cannot seek, so every chunk would
have to be decompressed by one process and shipped to the workers; decompression is cheap
(about a tenth of the parse) but the tiler plans all its tasks up front, which would mean
holding or re-inflating the whole document. Many compressed files still use all cores (one
task per file).

What crosses member boundaries
------------------------------
* ``xlink:href`` is resolved within the current top-level object by the reader itself, so a
  reference into another member is reported as unresolvable in both modes (same line).
* Document-level ``app:appearanceMember`` elements texture objects anywhere in the document:
  documents holding one are not split (the appearance reader would see only a chunk's part).
  Appearances inside an object travel with it. CityObjectGroups are not read.
* Generated ids (``<file>#<n>`` for objects without ``gml:id``) need the number of top-level
  objects before the chunk. The plan counts member start tags (one object per member in
  CityGML); each chunk reports the objects it really saw, and :func:`misplaced_chunks` names
  the chunks whose ids must be read again with the corrected count.
* The per-document notes (rings without closing point, generated ids) are summed over the
  chunks and written once by :func:`document_notes`, as the sequential reader writes them.
"""

from __future__ import annotations

import inspect
import io
import re
from collections.abc import Collection, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from lxml import etree

from citymodel.converters._citygml_document import (
    PARSER_OPTIONS,
    DocumentReader,
    Header,
    _syntax_error,
)
from citymodel.converters._streaming_reader import StreamingReader
from citymodel.converters._xmlsource import BinaryStream, XMLSource, iter_sources
from citymodel.converters.citygml import CityGMLReader, sniff
from citymodel.errors import ParseError
from citymodel.model import Feature
from citymodel.report import JobReport

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "ChunkNotes",
    "ChunkPlan",
    "ChunkReading",
    "ChunkSource",
    "DocumentChunk",
    "SplitWithdrawn",
    "document_notes",
    "misplaced_chunks",
    "objects_before",
    "plan_chunks",
    "read_chunk",
]

DEFAULT_CHUNK_BYTES: Final = 8 << 20
"""Bytes per chunk: big enough that the padding of the chunk document (~5 ns per line before
the chunk) stays a few per cent of the parse, small enough that two workers share a 50 MB file."""

_BLOCK: Final = 8 << 20
_HEAD_LIMIT: Final = 16 << 20
"""Prolog bytes searched for the first member; a longer prolog is not split."""
_MAX_COLUMN: Final = 4096
"""A cut further right on its line than this (a minified file) is not split."""
_MEMBER = re.compile(rb"<((?:[A-Za-z_][\w.\-]*:)?(?:cityObjectMember|featureMember))[\s>/]")
_ROOT = re.compile(rb"<([A-Za-z_][^\s/>]*)")
_CITYGML_1_2 = (b"http://www.opengis.net/citygml/1.0", b"http://www.opengis.net/citygml/2.0")
_HAZARDS: Final = (b"<!", b"<?", b"appearanceMember")
"""Comments, CDATA sections, DOCTYPEs, processing instructions, document-level appearances."""
_NAME_END: Final = frozenset(b" \t\r\n>/")
_MAX_MARKS: Final = 64
"""``!``/``?`` bytes checked one by one per block before searching ``<!``/``<?`` directly."""


@dataclass(frozen=True, slots=True)
class DocumentChunk:
    """One chunk of a plain CityGML file (byte offsets into the file; lines 1-based).

    Attributes
    ----------
    path
        The file.
    index
        Position of the chunk in the document.
    last
        Whether the chunk runs to the end of the file.
    start, end
        Byte range of the chunk (``end`` is the file size for the last chunk).
    line, column
        Line of ``start`` as libxml2 counts it (LF, CRLF and CR each end a line) and bytes
        between that line's start and ``start``.
    members_before
        Member start tags before ``start``: the expected number of top-level objects before
        the chunk (verified by :func:`misplaced_chunks`).
    prolog_end, prolog_line, prolog_column
        Where the first member starts (the prolog is ``[0, prolog_end)``).
    closing
        The root's closing tag (``b"</core:CityModel>"``), appended to every chunk but the last.
    """

    path: Path
    index: int
    last: bool
    start: int
    end: int
    line: int
    column: int
    members_before: int
    prolog_end: int
    prolog_line: int
    prolog_column: int
    closing: bytes

    def padding(self) -> tuple[int, int]:
        """Newlines and spaces between the prolog and the chunk (original line and column)."""
        if self.line == self.prolog_line:
            return 0, self.column - self.prolog_column
        return self.line - self.prolog_line, self.column


@dataclass(frozen=True, slots=True)
class ChunkSource(XMLSource):
    """The standalone document of one :class:`DocumentChunk`, named like its file.

    ``position_offset`` is the number of top-level objects before the chunk; the reader of the
    chunk appends its :class:`ChunkNotes` to ``notes`` when it is done.
    """

    chunk: DocumentChunk | None = field(default=None, kw_only=True)
    position_offset: int = field(default=0, kw_only=True)
    notes: list[ChunkNotes] = field(
        default_factory=list, kw_only=True, compare=False, hash=False, repr=False
    )

    def open(self) -> BinaryStream:
        """Prolog, padding, the chunk's bytes and the closing tag, read lazily."""
        if self.chunk is None:
            return XMLSource.open(self)
        return _ChunkStream(self.chunk)


class _ChunkStream:
    """A read-only stream over the pieces of a chunk document (bounded memory)."""

    def __init__(self, chunk: DocumentChunk) -> None:
        self._file = chunk.path.open("rb")
        self._pieces = self._generate(chunk)
        self._piece = b""
        self._pos = 0

    def _generate(self, chunk: DocumentChunk) -> Iterator[bytes]:
        fh = self._file
        yield fh.read(chunk.prolog_end)
        newlines, spaces = chunk.padding()
        for count, byte in ((newlines, b"\n"), (spaces, b" ")):
            while count > 0:
                step = min(count, 1 << 20)
                yield byte * step
                count -= step
        fh.seek(chunk.start)
        left = chunk.end - chunk.start
        while left > 0:
            data = fh.read(min(left, 1 << 20))
            if not data:
                break
            left -= len(data)
            yield data
        if not chunk.last:
            yield b"\n" + chunk.closing + b"\n"

    def read(self, size: int = -1, /) -> bytes:
        parts: list[bytes] = []
        wanted = size if size >= 0 else 1 << 62
        while wanted > 0:
            if self._pos >= len(self._piece):
                piece = next(self._pieces, None)
                if piece is None:
                    break
                self._piece, self._pos = piece, 0
            part = self._piece[self._pos : self._pos + wanted]
            self._pos += len(part)
            wanted -= len(part)
            parts.append(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        self._file.close()


# ---------------------------------------------------------------------------------------------
# planning


def _prolog(head: bytes) -> tuple[int, bytes, bytes] | None:
    """(first member offset, member tag name, root closing tag) or None when not splittable."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head[:512]:
        return None  # UTF-16/32: the byte patterns below would not match
    found = _MEMBER.search(head)
    if found is None:
        return None
    start = found.start()
    prolog = head[:start]
    if (
        b"<!DOCTYPE" in prolog
        or b"appearanceMember" in prolog
        or not any(ns in prolog for ns in _CITYGML_1_2)
    ):
        return None
    if any(h in prolog for h in (b"<!--", b"<![CDATA[")):
        # the root regex below must not look into comments; a commented prolog is rare
        prolog = re.sub(rb"<!--.*?-->", b"", prolog, flags=re.S)
        if b"<![CDATA[" in prolog:
            return None
    root = None
    for match in _ROOT.finditer(prolog):
        root = match.group(1)
        break
    if root is None:
        return None
    return start, found.group(1), b"</" + root + b">"


@dataclass(frozen=True, slots=True)
class _Cut:
    offset: int
    line: int
    column: int
    members_before: int


def _newlines(buf: bytearray, start: int = 0, end: int | None = None) -> int:
    """Line feeds in ``buf[start:end]`` (numpy: ~10x ``bytearray.count`` for one byte)."""
    return int(np.count_nonzero(np.frombuffer(buf, dtype=np.uint8)[start:end] == 0x0A))


def _hazard_in(buf: bytearray) -> bool:
    """Whether ``buf`` holds ``<!``, ``<?`` or ``appearanceMember`` (see ``_HAZARDS``).

    ``<`` is in every tag, so ``<!`` and ``<?`` are found through their second byte, which is
    rare in CityGML (one ``memchr`` pass each), and confirmed by the byte before it; a block
    with many ``!``/``?`` in text falls back to searching the two-byte pattern.
    """
    for mark in (b"!", b"?"):
        at = buf.find(mark, 1)
        hits = 0
        while at >= 0:
            if buf[at - 1] == 0x3C:  # "<"
                return True
            hits += 1
            if hits > _MAX_MARKS:
                if buf.find(b"<" + mark, at) >= 0:
                    return True
                break
            at = buf.find(mark, at + 1)
    return buf.find(b"appearanceMember") >= 0


class _Scanner:
    """One pass over a file in blocks: line breaks, member tags, hazards and the cuts.

    Each block is searched together with the last ``_CARRY`` bytes of the one before, so that
    a pattern across a block boundary is seen; counts include only occurrences that end in the
    new bytes (none is counted twice). Memory: one block, read into the same buffer each time
    (no new allocation per block).
    """

    _CARRY: Final = 31  # longest pattern - 1

    def __init__(self, tag: bytes, chunk_bytes: int, size: int) -> None:
        self.tag = tag
        self.chunk_bytes = chunk_bytes
        self.size = size
        self.breaks = 0  # line breaks before the current block's new bytes
        self.members = 0  # member tags ending before them
        self.last_break = -1  # file offset of the last line break before buf[0]
        self.hazard = False
        self.cuts: list[_Cut] = []
        self.target = 0
        self.position = 0  # file offset the scan has reached

    def scan(self, fh: io.BufferedReader, start: int) -> Generator[int, None, None]:
        """Scan from ``start`` (the first member) to the end of the file, block by block.

        Yields the number of cuts found so far after each block (``self.cuts``); stops early
        when a hazard is found (``self.hazard``).
        """
        fh.seek(start)
        carry = self._CARRY
        block = _BLOCK
        buf = bytearray(carry + block)
        view = memoryview(buf)
        skip = 0  # buf[:skip] was counted with the block before
        base = start  # file offset of buf[0]
        self.cut(buf, start, start, 0)
        yield len(self.cuts)
        try:
            while not self.hazard:
                got = fh.readinto(view[skip : skip + block])
                if not got:
                    break
                # the first block (no carry), the file's end, a short read: only the bytes read
                data = buf if skip + got == len(buf) else bytearray(buf[: skip + got])
                self.block(data, base, skip)
                self.position = base + len(data)
                yield len(self.cuts)
                keep = min(carry, len(data))
                tail = data[len(data) - keep :]
                base += len(data) - keep
                buf[:keep] = tail
                skip = keep
        finally:
            view.release()

    def block(self, buf: bytearray, base: int, skip: int) -> None:
        """Cuts, line breaks, member tags and hazards of one buffer (file offset ``base``)."""
        self.cuts_in(buf, base, skip)
        self.breaks += _newlines(buf, skip)
        last = buf.rfind(b"\n", 0, max(0, len(buf) - self._CARRY))  # before next buf[0]
        if last >= 0:
            self.last_break = base + last
        self.members += buf.count(self.tag, skip - (len(self.tag) - 1) if skip else 0)
        self.hazard = _hazard_in(buf)

    def cuts_in(self, buf: bytearray, base: int, skip: int) -> None:
        """Cut at the first member tag at or after each target that lies in ``buf``."""
        tag = self.tag
        while True:
            at = buf.find(tag, max(self.target - base, 0))
            while at >= 0 and at + len(tag) < len(buf) and buf[at + len(tag)] not in _NAME_END:
                at = buf.find(tag, at + 1)
            if at < 0 or at + len(tag) >= len(buf):
                return  # none here (or not decidable yet: the next block sees it whole)
            self.cut(buf, base, base + at, skip)

    def cut(self, buf: bytearray, base: int, offset: int, skip: int) -> None:
        """Record a cut at file ``offset`` (``buf[offset - base]``, ``buf[:skip]`` counted)."""
        i = offset - base
        if i >= skip:
            breaks = self.breaks + _newlines(buf, skip, i)
            members = self.members + buf.count(
                self.tag, skip - (len(self.tag) - 1) if skip else 0, i + len(self.tag) - 1
            )
        else:  # inside the carried bytes: take back what they already counted
            breaks = self.breaks - _newlines(buf, i, skip)
            members = self.members - buf.count(self.tag, i, skip)
        line_start = buf.rfind(b"\n", 0, i)
        column = i - line_start - 1 if line_start >= 0 else offset - self.last_break - 1
        self.cuts.append(_Cut(offset, breaks, column, members))
        self.target = offset + self.chunk_bytes
        if self.target > self.size - self.chunk_bytes // 2:  # no tiny last chunk
            self.target = self.size + 1


class SplitWithdrawn(Exception):
    """The scan found, after handing out chunks, that the file must not be split.

    Raised by iterating a :class:`ChunkPlan`; results of the chunks handed out so far must be
    dropped and the file read as one document.
    """


class ChunkPlan:
    """The chunks of a plain CityGML 1.0/2.0 file, handed out while the scan finds them.

    Iterating yields :class:`DocumentChunk` s in document order: chunk ``k`` as soon as the scan
    has found where chunk ``k + 1`` starts, the last chunk once the whole file has been scanned
    (only then is it known that nothing in it forbids the split). So a pool can start on the
    first chunks while the rest of the file is still being scanned.

    A file that cannot be split (see the module docstring) yields nothing when that is known
    before the first chunk is handed out; found later (markup the byte scan cannot see through,
    a document-level appearance, a minified line far in the file), iteration raises
    :class:`SplitWithdrawn`: the caller drops what it did with the chunks so far and reads the
    file as one document. :meth:`complete` finishes the scan at once (the chunks not handed out
    yet are kept; only descriptors, a few hundred bytes each) and tells whether the file is
    split; callers whose results cannot be taken back call it before using the first result.

    Parameters
    ----------
    path
        The file (plain; compressed and zip inputs are never split).
    chunk_bytes
        Bytes per chunk (about; cuts are at member start tags); < 1 never splits.
    """

    def __init__(self, path: str | Path, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        self.path = Path(path)
        self.chunk_bytes = chunk_bytes
        self._chunks: list[DocumentChunk] = []
        self._handed = 0
        self._withdrawn = False
        self._finished = False
        self._steps: Generator[int, None, None] | None = None
        self._scanner: _Scanner | None = None
        self.size = 0
        head = self._head()
        if head is None:
            self._finished = True
            return
        self._steps = self._scan(*head)

    @property
    def candidate(self) -> bool:
        """Whether the file may be split (False: certainly read as one document)."""
        return not self._withdrawn and (self._steps is not None or len(self._chunks) > 1)

    @property
    def scanned(self) -> int:
        """Bytes of the file the scan has reached (the file's size once it is finished)."""
        if self._finished:
            return self.size
        return self._scanner.position if self._scanner is not None else 0

    @property
    def expected_chunks(self) -> int:
        """About how many chunks the file gives (file size / ``chunk_bytes``), 0 if none."""
        if not self.candidate:
            return 0
        return max(2, self.size // max(1, self.chunk_bytes))

    def _head(self) -> tuple[int, bytes, bytes] | None:
        """Checks that need no scan: format, compression, size, prolog."""
        path = self.path
        if self.chunk_bytes < 1 or not sniff(path):
            return None
        sources = list(iter_sources(path))
        if len(sources) != 1 or sources[0].member is not None or sources[0].compression:
            return None
        self.size = size = path.stat().st_size
        if size < 2 * self.chunk_bytes:
            return None
        with path.open("rb") as fh:
            head = fh.read(min(size, _HEAD_LIMIT))
        return _prolog(head)

    def _scan(
        self, prolog_end: int, member_name: bytes, closing: bytes
    ) -> Generator[int, None, None]:
        scanner = _Scanner(b"<" + member_name, self.chunk_bytes, self.size)
        with self.path.open("rb") as fh:
            head = fh.read(prolog_end)
            scanner.breaks = head.count(b"\n")
            scanner.last_break = head.rfind(b"\n")
            del head
            self._scanner = scanner
            made = 0
            for found in scanner.scan(fh, prolog_end):
                if scanner.hazard:
                    return
                cuts = scanner.cuts
                if any(c.column > _MAX_COLUMN for c in cuts[made:found]):
                    scanner.hazard = True  # a minified file: never split
                    return
                while made + 1 < found:  # chunk `made` ends where the next one starts
                    self._chunks.append(self._chunk(cuts, made, cuts[made + 1].offset, closing))
                    made += 1
                yield made
            if made + 1 == len(scanner.cuts) and made > 0:
                self._chunks.append(self._chunk(scanner.cuts, made, self.size, closing))

    def _chunk(self, cuts: list[_Cut], index: int, end: int, closing: bytes) -> DocumentChunk:
        cut, first = cuts[index], cuts[0]
        return DocumentChunk(
            path=self.path,
            index=index,
            last=end == self.size,
            start=cut.offset,
            end=end,
            line=cut.line + 1,
            column=cut.column,
            members_before=cut.members_before,
            prolog_end=first.offset,
            prolog_line=first.line + 1,
            prolog_column=first.column,
            closing=closing,
        )

    def _advance(self) -> bool:
        """Scan one more block; False when the scan is over."""
        if self._finished or self._steps is None:
            return False
        if next(self._steps, None) is None:
            self._finished = True
            scanner = self._scanner
            if scanner is None or scanner.hazard or len(self._chunks) < 2:
                self._withdrawn = True
                self._chunks.clear()
            self._steps = None
        return not self._finished

    def __iter__(self) -> Iterator[DocumentChunk]:
        """The chunks in document order, each as soon as it is known (see the class)."""
        while True:
            if self._handed < len(self._chunks):
                chunk = self._chunks[self._handed]
                self._handed += 1
                yield chunk
            elif not self._advance():
                if self._withdrawn and self._handed:
                    raise SplitWithdrawn(
                        f"{self.path}: the scan found after {self._handed} chunk(s) that the "
                        "file must be read as one document"
                    )
                if self._handed >= len(self._chunks):
                    return

    def complete(self) -> bool:
        """Finish the scan; whether the file is read in chunks."""
        while self._advance():
            pass
        return not self._withdrawn and len(self._chunks) > 1

    def chunks(self) -> tuple[DocumentChunk, ...]:
        """All chunks (the scan finished first); empty when the file is not split."""
        return tuple(self._chunks) if self.complete() else ()

    def close(self) -> None:
        """Stop the scan (closes the file); an unfinished plan is then not split."""
        if not self._finished:
            self._withdrawn = True
            self._chunks.clear()
        if self._steps is not None:
            self._steps.close()
        self._steps = None
        self._finished = True


def plan_chunks(
    path: str | Path, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> tuple[DocumentChunk, ...]:
    """Cut a plain CityGML 1.0/2.0 file into chunks of about ``chunk_bytes`` bytes.

    Returns an empty tuple when the file is not split (see the module docstring: compressed,
    zip, not CityGML 1.0/2.0, smaller than two chunks, or markup the byte scan cannot see
    through); the caller then reads it as one document. Reads the file once in 8 MiB blocks
    (``bytes.count``/``find``, no per-element work); :class:`ChunkPlan` hands the chunks out
    while it scans.
    """
    return ChunkPlan(path, chunk_bytes=chunk_bytes).chunks()


# ---------------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True, slots=True)
class ChunkNotes:
    """What one chunk saw that the document's notes and generated ids depend on.

    Attributes
    ----------
    objects
        Top-level objects read (the position counter of generated ids).
    generated_ids
        Objects (and parts) that got a generated id.
    unclosed_rings, first_unclosed
        Rings accepted without a closing point, and the first one (feature id, line).
    """

    objects: int = 0
    generated_ids: int = 0
    unclosed_rings: int = 0
    first_unclosed: tuple[str, int | None] | None = None


class _ChunkReader(DocumentReader):
    """A :class:`DocumentReader` over a :class:`ChunkSource`: positions offset, notes kept."""

    def __init__(self, source: XMLSource, *args: Any, **kwargs: Any) -> None:
        super().__init__(source, *args, **kwargs)
        self.position_offset = source.position_offset if isinstance(source, ChunkSource) else 0
        self.objects = 0

    def _member(self, member: etree._Element, position: int, *args: Any, **kwargs: Any) -> int:
        # positions (generated ids) count from the document's start, objects from the chunk's
        offset = self.position_offset
        position = super()._member(member, position + offset, *args, **kwargs) - offset
        self.objects = position
        return position

    def _final_notes(self) -> None:
        # summed over the chunks and written once by document_notes()
        if isinstance(self.source, ChunkSource):
            self.source.notes.append(
                ChunkNotes(
                    objects=self.objects,
                    generated_ids=self.generated_ids,
                    unclosed_rings=self.unclosed_rings,
                    first_unclosed=self.first_unclosed,
                )
            )


class _ChunkCityGMLReader(CityGMLReader):
    """The CityGML reader over one chunk document; header and CRS of the whole file."""

    document_reader_class = _ChunkReader

    def __init__(self, source: ChunkSource, **options: Any) -> None:
        super().__init__(source.path, **options)
        self.chunk_source = source

    def _sources(self) -> Iterator[XMLSource]:
        yield self.chunk_source

    def _header(self, source: XMLSource) -> Header:
        return super()._header(XMLSource(source.path))


class ChunkReading(StreamingReader):
    """Reads the Buildings of one chunk like a format reader; :meth:`notes` afterwards.

    Parameters
    ----------
    chunk
        The chunk.
    position_offset
        Top-level objects before the chunk (default: ``chunk.members_before``).
    options
        Reader options (``in_crs``, ... as for
        :class:`~citymodel.converters.citygml.CityGMLReader`); options of other formats are
        ignored, as ``citymodel.open`` ignores them for CityGML.
    """

    def __init__(
        self, chunk: DocumentChunk, *, position_offset: int | None = None, **options: Any
    ) -> None:
        self.chunk = chunk
        offset = chunk.members_before if position_offset is None else position_offset
        self.source = ChunkSource(chunk.path, chunk=chunk, position_offset=offset)
        accepted = inspect.signature(CityGMLReader).parameters
        self.reader = _ChunkCityGMLReader(
            self.source, **{k: v for k, v in options.items() if k in accepted}
        )

    @property
    def srs_name(self) -> str | None:
        """The srsName of the whole document (see ``CityGMLReader.srs_name``)."""
        return self.reader.srs_name

    def features(
        self, *, report: JobReport | None = None, types: Collection[str] | None = None
    ) -> Iterator[Feature]:
        """Yield the chunk's Buildings (BuildingParts nested) in document order.

        ``report`` receives skipped polygons/geometries; the document notes are not written
        (see :func:`document_notes`).

        Raises
        ------
        ParseError
            The first syntax error of the whole file (as the sequential reader raises it).
        """
        try:
            yield from self.reader.features(report=report, types=types)
        except ParseError as err:
            if isinstance(err.__cause__, etree.XMLSyntaxError):
                raise _first_syntax_error(XMLSource(self.chunk.path), self.chunk) from err
            raise

    def notes(self) -> ChunkNotes:
        """Counters of the chunk once :meth:`features` is exhausted."""
        return self.source.notes[-1] if self.source.notes else ChunkNotes()


def read_chunk(
    chunk: DocumentChunk,
    *,
    in_crs: str | None = None,
    report: JobReport | None = None,
    types: Collection[str] | None = None,
    position_offset: int | None = None,
) -> tuple[list[Feature], ChunkNotes]:
    """All Buildings of ``chunk`` and its notes (see :class:`ChunkReading`)."""
    reading = ChunkReading(chunk, in_crs=in_crs, position_offset=position_offset)
    features = list(reading.features(report=report, types=types))
    return features, reading.notes()


def _first_syntax_error(source: XMLSource, chunk: DocumentChunk) -> ParseError:
    """The error the sequential reader raises: the file's first syntax error."""
    stream = source.open()
    try:
        for _, el in etree.iterparse(stream, events=("end",), **PARSER_OPTIONS):
            el.clear()
    except etree.XMLSyntaxError as err:
        return _syntax_error(err, source)
    finally:
        stream.close()
    return ParseError(
        f"chunk {chunk.index + 1} (from line {chunk.line}) is not a "
        "well-formed part of the document although the file is well-formed (a member tag "
        "below the top level?); read this file with --jobs 1",
        path=source.display,
        line=chunk.line,
    )


# ---------------------------------------------------------------------------------------------
# after the chunks


def misplaced_chunks(chunks: Sequence[DocumentChunk], notes: Sequence[ChunkNotes]) -> list[int]:
    """Indexes of chunks whose generated ids used a wrong count of earlier objects.

    A chunk is misplaced when it generated ids and the objects the earlier chunks really read
    differ from the member tags counted by the plan; read it again with
    ``position_offset=objects_before(notes, index)``.
    """
    wrong = []
    before = 0
    for chunk, note in zip(chunks, notes, strict=True):
        if note.generated_ids and before != chunk.members_before:
            wrong.append(chunk.index)
        before += note.objects
    return wrong


def objects_before(notes: Sequence[ChunkNotes], index: int) -> int:
    """Top-level objects the chunks before ``index`` read."""
    return sum(n.objects for n in notes[:index])


def document_notes(path: Path, notes: Sequence[ChunkNotes], report: JobReport | None) -> None:
    """Write the notes of a document read in chunks, as the sequential reader writes them."""
    reader = CityGMLReader(path)
    source = XMLSource(Path(path))
    doc = DocumentReader(
        source,
        reader._header(source),
        dataset_srs=reader.srs_name,
        report=report,
        quiet=False,
        swap_xy=False,
        srs_ok=reader._srs_ok,
        stats=None,
    )
    doc.generated_ids = sum(n.generated_ids for n in notes)
    doc.unclosed_rings = sum(n.unclosed_rings for n in notes)
    doc.first_unclosed = next((n.first_unclosed for n in notes if n.first_unclosed), None)
    doc._final_notes()
