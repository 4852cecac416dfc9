"""Reading CityJSON documents and CityJSONSeq lines, with file-level checks.

A CityJSON document is one JSON text and is loaded whole with :mod:`json` (its objects are
converted one by one afterwards). A CityJSONSeq file is read line by line: each line is one JSON
text (header or ``CityJSONFeature``), so memory stays bounded by the largest line. A ``.jsonl``
that is not line-delimited (JSON texts pretty-printed over several lines, one after the other)
is recognised when its first line is not a complete JSON text but the file parses as a sequence
of JSON texts; it is then read whole (and the caller warns).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from citymodel._typing import Float64Array
from citymodel.converters._cityjson_geometry import (
    GeometryProblem,
    Transform,
    decode_vertices,
    parse_transform,
)
from citymodel.errors import ParseError, UnsupportedFormatError

__all__ = ["Header", "JsonLine", "header_of", "iter_json_texts", "load_document"]

SUPPORTED_MAJOR: Final = ("1", "2")
MAX_CONCATENATED_BYTES: Final = 512 * 1024 * 1024
"""A non-line-delimited ``.jsonl`` is read whole only up to this size."""


def _json_error(path: Path, err: json.JSONDecodeError, *, line_offset: int = 0) -> ParseError:
    return ParseError(
        f"invalid JSON: {err.msg} (line {err.lineno + line_offset}, column {err.colno}); "
        "the file is damaged or not JSON",
        path=path,
        line=err.lineno + line_offset,
    )


def _parse_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def loads(text: str | bytes) -> Any:
    """``json.loads`` rejecting ``NaN``/``Infinity`` (not JSON)."""
    return json.loads(text, parse_constant=_parse_constant)


def load_document(path: Path) -> dict[str, Any]:
    """Load a whole CityJSON document (it must fit in memory: about 10x the file size).

    Raises
    ------
    ParseError
        Empty file, invalid JSON (with line and column), not UTF-8, not a JSON object.
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ParseError(f"cannot read the file: {err.strerror or err}", path=path) from err
    if not data.strip():
        raise ParseError("empty file: no CityJSON content", path=path)
    try:
        doc = loads(data)
    except json.JSONDecodeError as err:
        if err.msg == "Extra data":
            raise ParseError(
                f"more than one JSON text (line {err.lineno}): this looks like CityJSONSeq; "
                "name the file .city.jsonl to read it as a sequence",
                path=path,
                line=err.lineno,
            ) from None
        raise _json_error(path, err) from None
    except UnicodeDecodeError as err:
        raise ParseError(f"not UTF-8 text ({err.reason} at byte {err.start})", path=path) from None
    except (ValueError, RecursionError) as err:
        raise ParseError(f"invalid JSON: {err}", path=path) from None
    if not isinstance(doc, dict):
        raise ParseError(
            f"a CityJSON document is a JSON object, found {type(doc).__name__}", path=path
        )
    return doc


@dataclass(frozen=True, slots=True)
class JsonLine:
    """One JSON text of a sequence: its 1-based line and value, or why it did not parse."""

    line: int
    value: Any = None
    error: str | None = None


def _concatenated(path: Path, text: str) -> Iterator[JsonLine]:
    decoder = json.JSONDecoder(parse_constant=_parse_constant)
    pos, line, size = 0, 1, len(text)
    while True:
        start = pos
        while pos < size and text[pos] in " \t\r\n":
            pos += 1
        line += text.count("\n", start, pos)
        if pos >= size:
            return
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise ParseError(
                f"invalid JSON: {err.msg} (line {err.lineno}, column {err.colno})",
                path=path,
                line=err.lineno,
            ) from None
        yield JsonLine(line, value)
        line += text.count("\n", pos, end)
        pos = end


def iter_json_texts(
    path: Path, *, on_concatenated: Callable[[], None] | None = None
) -> Generator[JsonLine, None, None]:
    """Yield the JSON texts of a CityJSONSeq file with their line numbers.

    A line that is not valid JSON is yielded with ``error`` set (the caller decides: the header
    line is fatal, a feature line is skipped). ``on_concatenated`` is called once when the file
    turns out to be pretty-printed JSON texts rather than one text per line.

    Raises
    ------
    ParseError
        Unreadable file, empty file, or a first line that is neither JSON nor the start of a
        pretty-printed JSON text.
    """
    try:
        stream = path.open("rb")
    except OSError as err:
        raise ParseError(f"cannot read the file: {err.strerror or err}", path=path) from err
    with stream:
        first = True
        for number, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            try:
                value = loads(raw)
            except (ValueError, RecursionError) as err:
                if first:
                    yield from _first_line_failed(path, raw, err, on_concatenated)
                    return
                yield JsonLine(number, error=_short(err))
                continue
            first = False
            yield JsonLine(number, value)
        if first:
            raise ParseError("empty file: no CityJSONSeq content", path=path)


def _short(err: Exception) -> str:
    if isinstance(err, json.JSONDecodeError):
        return f"invalid JSON: {err.msg} (column {err.colno})"
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 text ({err.reason})"
    return f"invalid JSON: {err}"


def _first_line_failed(
    path: Path, raw: bytes, err: Exception, on_concatenated: Callable[[], None] | None
) -> Iterator[JsonLine]:
    size = path.stat().st_size
    if size <= MAX_CONCATENATED_BYTES and raw.strip() in (b"{", b"["):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as read_err:
            raise ParseError(f"cannot read the file: {read_err}", path=path) from read_err
        texts = _concatenated(path, text)
        first = next(texts)  # raises ParseError with the position when not JSON at all
        if on_concatenated is not None:
            on_concatenated()
        yield first
        yield from texts
        return
    raise ParseError(
        f"first line: {_short(err)}; a CityJSONSeq file holds one JSON text per line",
        path=path,
        line=1,
    )


# ---------------------------------------------------------------------------------------------
# header


@dataclass(frozen=True, slots=True)
class Header:
    """What features need from a CityJSON document or a CityJSONSeq header line."""

    version: str | None = None
    transform: Transform | None = None
    srs_name: str | None = None
    extent: tuple[float, float, float, float, float, float] | None = None
    templates: list[Any] = field(default_factory=list)
    template_vertices: Float64Array | None = None
    template_problem: str | None = None
    appearance: bool = False
    appearance_data: dict[str, Any] | None = None
    """The header's ``appearance`` member (tables shared by the features of a sequence)."""


def _reference_system(metadata: Mapping[str, Any]) -> str | None:
    value = metadata.get("referenceSystem")
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return f"EPSG:{value}"
    crs = metadata.get("crs")  # CityJSON 0.x
    if isinstance(crs, dict) and isinstance(crs.get("epsg"), int):
        return f"EPSG:{crs['epsg']}"
    return None


def _extent(metadata: Mapping[str, Any]) -> tuple[float, float, float, float, float, float] | None:
    value = metadata.get("geographicalExtent")
    if not isinstance(value, list) or len(value) != 6:
        return None
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError, OverflowError):
        return None
    if not all(math.isfinite(v) for v in numbers):
        return None
    return numbers[0], numbers[1], numbers[2], numbers[3], numbers[4], numbers[5]


def check_version(path: Path, doc: Mapping[str, Any]) -> str | None:
    """The document's version; older than 1.0 is refused.

    Raises
    ------
    UnsupportedFormatError
        For CityJSON 0.x.
    """
    version = doc.get("version")
    if version is None:
        return None
    text = str(version)
    if text.split(".")[0] not in SUPPORTED_MAJOR:
        raise UnsupportedFormatError(
            f"CityJSON {text} is not supported (1.0, 1.1 and 2.0 are); upgrade the file, "
            "e.g. with `cjio <file> upgrade save <out>`",
            path=path,
        )
    return text


def header_of(path: Path, doc: Mapping[str, Any]) -> Header:
    """Read version, transform, CRS, extent and templates of a document or header line.

    Raises
    ------
    ParseError
        Invalid ``transform`` (not three finite numbers, beyond the float64 range).
    UnsupportedFormatError
        CityJSON older than 1.0.
    """
    version = check_version(path, doc)
    try:
        transform = parse_transform(doc.get("transform"))
    except GeometryProblem as bad:
        raise ParseError(f"{bad}; the file cannot be decoded", path=path) from None
    metadata = doc.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    templates: list[Any] = []
    template_vertices: Float64Array | None = None
    problem: str | None = None
    raw = doc.get("geometry-templates")
    if isinstance(raw, dict):
        found = raw.get("templates")
        templates = found if isinstance(found, list) else []
        try:
            template_vertices = decode_vertices(
                raw.get("vertices-templates"), None, what="vertices-templates"
            )
        except GeometryProblem as err:
            problem = str(err)
    return Header(
        version=version,
        transform=transform,
        srs_name=_reference_system(metadata),
        extent=_extent(metadata),
        templates=templates,
        template_vertices=template_vertices,
        template_problem=problem,
        appearance=bool(doc.get("appearance")),
        appearance_data=doc.get("appearance") if isinstance(doc.get("appearance"), dict) else None,
    )


def integer_valued(vertices: Float64Array) -> bool:
    """True when every coordinate is a whole number (a sign of a missing ``transform``)."""
    return bool(len(vertices)) and bool(np.all(vertices == np.round(vertices)))
