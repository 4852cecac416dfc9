"""Streaming ``multipart/form-data`` uploads straight into a job's input folder.

The request body is parsed as it arrives (``python-multipart``'s push parser) and file parts
are written to their final place, so an upload of any size needs a few MiB of memory and one
write. Limits are checked while streaming: the body size (413 as soon as it is exceeded, or
at once from ``Content-Length``), the file name (a plain name with an allowed suffix, checked
before its data is read; no folders, no hidden names) and the text fields (known names,
64 KiB each). The caller removes the folder when an :class:`UploadError` is raised.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

__all__ = ["ReceivedUpload", "UploadError", "check_file_name", "receive_upload"]

_MAX_FIELD_BYTES = 64 * 1024
_MAX_FILES = 10_000
_MAX_NAME_LENGTH = 255
_FLUSH_BYTES = 1024 * 1024


class UploadError(Exception):
    """A refused upload: HTTP ``status`` and a message for the client."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(slots=True)
class ReceivedUpload:
    """What an upload delivered: files written (in order) and text fields."""

    files: list[Path] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    bytes: int = 0


def check_file_name(raw: str, allowed_suffixes: tuple[str, ...]) -> str:
    """The name to store an uploaded file under, or :class:`UploadError` (400).

    Only the last component of the client's name is used (browsers may send folders,
    Windows clients backslashes); hidden, empty, control-character and over-long names are
    refused, as are suffixes other than ``allowed_suffixes`` (compared case-insensitively).
    """
    name = unicodedata.normalize("NFC", raw.replace("\\", "/").rsplit("/", 1)[-1].strip())
    if not name or name.startswith(".") or len(name.encode()) > _MAX_NAME_LENGTH:
        raise UploadError(400, f"unusable file name {raw!r}: give a plain file name")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise UploadError(400, f"unusable file name {raw!r}: control characters")
    if not name.lower().endswith(allowed_suffixes):
        raise UploadError(
            415,
            f"{name}: not an accepted city model file; accepted suffixes: "
            f"{', '.join(allowed_suffixes)}",
        )
    return name


class _Receiver:
    """Callback target of the multipart parser for one request."""

    def __init__(
        self,
        folder: Path,
        *,
        file_field: str,
        text_fields: tuple[str, ...],
        allowed_suffixes: tuple[str, ...],
    ) -> None:
        self.folder = folder
        self.file_field = file_field
        self.text_fields = text_fields
        self.allowed_suffixes = allowed_suffixes
        self.result = ReceivedUpload()
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._field = ""
        self._text: bytearray | None = None
        self._file: BinaryIO | None = None
        self._open: list[BinaryIO] = []
        self._pending: list[tuple[BinaryIO, bytes]] = []
        self.pending_bytes = 0
        self.ended = False

    # parser callbacks (synchronous; file data is queued and written by flush())

    def on_part_begin(self) -> None:
        self._disposition, self._field, self._text, self._file = b"", "", None, None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._disposition)
        if b"name" not in params:
            raise UploadError(400, "a multipart part has no field name")
        self._field = params[b"name"].decode("utf-8", "replace")
        if b"filename" in params:
            if self._field != self.file_field:
                raise UploadError(
                    400, f"unexpected file field {self._field!r}: send files as {self.file_field!r}"
                )
            if len(self.result.files) >= _MAX_FILES:
                raise UploadError(400, f"more than {_MAX_FILES} files in one job")
            name = check_file_name(
                params[b"filename"].decode("utf-8", "replace"), self.allowed_suffixes
            )
            path = self.folder / name
            try:
                self._file = path.open("xb")
            except FileExistsError:
                raise UploadError(400, f"two files named {name!r}") from None
            self._open.append(self._file)
            self.result.files.append(path)
        elif self._field in self.text_fields:
            if self._field in self.result.fields:
                raise UploadError(400, f"field {self._field!r} given twice")
            self._text = bytearray()
        else:
            expected = ", ".join(repr(f) for f in (self.file_field, *self.text_fields))
            raise UploadError(400, f"unexpected field {self._field!r}; expected {expected}")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            chunk = bytes(data[start:end])
            self._pending.append((self._file, chunk))
            self.pending_bytes += len(chunk)
        elif self._text is not None:
            self._text += data[start:end]
            if len(self._text) > _MAX_FIELD_BYTES:
                raise UploadError(413, f"field {self._field!r} is larger than 64 KiB")

    def on_part_end(self) -> None:
        if self._text is not None:
            try:
                self.result.fields[self._field] = self._text.decode("utf-8")
            except UnicodeDecodeError:
                raise UploadError(400, f"field {self._field!r} is not UTF-8 text") from None

    def on_end(self) -> None:
        self.ended = True

    # file output

    def flush(self) -> None:
        """Write the queued file data (called in a worker thread)."""
        pending, self._pending, self.pending_bytes = self._pending, [], 0
        for stream, chunk in pending:
            stream.write(chunk)

    def close(self) -> None:
        for stream in self._open:
            stream.close()


async def receive_upload(
    request: Request,
    folder: Path,
    *,
    max_bytes: int,
    allowed_suffixes: tuple[str, ...],
    file_field: str = "file",
    text_fields: tuple[str, ...] = ("options",),
) -> ReceivedUpload:
    """Stream the multipart body of ``request`` into ``folder`` (which must exist).

    Raises
    ------
    UploadError
        413 when the body exceeds ``max_bytes``; 415 for a file with another suffix; 400 for a
        malformed body, an unexpected field, a bad or duplicate file name.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise UploadError(413, _too_large(max_bytes))
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise UploadError(400, "multipart body without a boundary")
    receiver = _Receiver(
        folder, file_field=file_field, text_fields=text_fields, allowed_suffixes=allowed_suffixes
    )
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": receiver.on_part_begin,
            "on_header_field": receiver.on_header_field,
            "on_header_value": receiver.on_header_value,
            "on_header_end": receiver.on_header_end,
            "on_headers_finished": receiver.on_headers_finished,
            "on_part_data": receiver.on_part_data,
            "on_part_end": receiver.on_part_end,
            "on_end": receiver.on_end,
        },
    )
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise UploadError(413, _too_large(max_bytes))
            parser.write(chunk)
            if receiver.pending_bytes >= _FLUSH_BYTES:
                await anyio.to_thread.run_sync(receiver.flush)
        parser.finalize()
        await anyio.to_thread.run_sync(receiver.flush)
        if not receiver.ended:
            raise UploadError(400, "incomplete multipart body (no closing boundary)")
    except FormParserError as err:
        raise UploadError(400, f"malformed multipart body: {err}") from None
    finally:
        receiver.close()
    receiver.result.bytes = received
    return receiver.result


def _too_large(max_bytes: int) -> str:
    limit = f"{max_bytes / 2**20:g} MiB" if max_bytes >= 2**20 else f"{max_bytes / 2**10:g} KiB"
    return f"upload larger than the limit of {limit}"
