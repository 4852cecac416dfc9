"""Opening IFC-SPF files for reading: header sniffing, schema choice, parse problems.

* :func:`read_header` reads the ``FILE_SCHEMA`` of an ISO 10303-21 (STEP physical file) header
  from the first 64 KiB, without ifcopenshell; :func:`sniff` uses it.
* :func:`open_model` opens the file with ifcopenshell (imported lazily; missing ->
  :class:`~citymodel.errors.MissingDependencyError`). Schemas ifcopenshell has no definition
  for are read with the closest released schema (:data:`SCHEMA_SUBSTITUTES`, e.g. the
  pre-release ``IFC4X3_RC1``..``RC4`` with ``IFC4X3_ADD2``) and the substitution is reported.
* A file that does not end with ``END-ISO-10303-21;`` is truncated: ifcopenshell would open
  the part it has and silently drop every instance after the cut, so it is refused with a
  :class:`~citymodel.errors.ParseError`. Instances ifcopenshell cannot read (unknown entity,
  dangling reference) are counted and reported; the elements using them fail on their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from citymodel.errors import InputError, MissingDependencyError, ParseError, UnsupportedFormatError

if TYPE_CHECKING:
    import ifcopenshell

__all__ = [
    "SCHEMA_SUBSTITUTES",
    "SUPPORTED_SCHEMAS",
    "Header",
    "OpenedModel",
    "import_ifcopenshell",
    "open_model",
    "problems_note",
    "read_header",
    "schema_note",
    "sniff",
]

SUPPORTED_SCHEMAS: Final = ("IFC2X3", "IFC4", "IFC4X3_ADD2")
"""Schemas read as they are."""

SCHEMA_SUBSTITUTES: Final[dict[str, str]] = {
    "IFC2X3_TC1": "IFC2X3",
    "IFC2X3_FINAL": "IFC2X3",
    "IFC4_ADD1": "IFC4",
    "IFC4_ADD2": "IFC4",
    "IFC4_ADD2_TC1": "IFC4",
    "IFC4X1": "IFC4X3_ADD2",
    "IFC4X2": "IFC4X3_ADD2",
    "IFC4X3_RC1": "IFC4X3_ADD2",
    "IFC4X3_RC2": "IFC4X3_ADD2",
    "IFC4X3_RC3": "IFC4X3_ADD2",
    "IFC4X3_RC4": "IFC4X3_ADD2",
    "IFC4X3": "IFC4X3_ADD2",
    "IFC4X3_TC1": "IFC4X3_ADD2",
    "IFC4X3_ADD1": "IFC4X3_ADD2",
}
"""Schema names in file headers -> the released schema they are read with."""

_PRE_RELEASE = re.compile(r"IFC4X[12]$|IFC4X3_RC\d+$")
_HEAD_BYTES = 65536
_TAIL_BYTES = 4096
_MAGIC = b"ISO-10303-21;"
_SCHEMA = re.compile(rb"FILE_SCHEMA\s*\(\s*\(\s*'([^']*)'", re.IGNORECASE)
_END = re.compile(rb"END-ISO-10303-21\s*;\s*$")
_COMMENT = re.compile(rb"/\*.*?\*/", re.DOTALL)
_LISTED_PROBLEMS = 3


@dataclass(frozen=True, slots=True)
class Header:
    """What the header of an IFC-SPF file says."""

    schema: str
    """``FILE_SCHEMA`` as written, upper case (``IFC4``, ``IFC4X3_RC2``)."""


def _head(path: Path) -> bytes | None:
    try:
        with path.open("rb") as fh:
            return fh.read(_HEAD_BYTES)
    except OSError:
        return None


def read_header(path: Path) -> Header | None:
    """The header of ``path`` when it is an ISO 10303-21 file naming an IFC schema, else None.

    Reads at most the first 64 KiB; never raises for unreadable files.
    """
    head = _head(path)
    if head is None:
        return None
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(_MAGIC):
        return None
    match = _SCHEMA.search(_COMMENT.sub(b"", text))
    if match is None:
        return None
    schema = match.group(1).decode("ascii", errors="replace").strip().upper()
    return Header(schema=schema) if schema.startswith("IFC") else None


def sniff(path: Path) -> bool:
    """True when ``path`` starts with ``ISO-10303-21;`` and its FILE_SCHEMA names an IFC schema."""
    return read_header(path) is not None


def import_ifcopenshell() -> Any:
    """Import ifcopenshell (and its geometry module) or raise MissingDependencyError."""
    try:
        import ifcopenshell
        import ifcopenshell.geom
        import ifcopenshell.util.placement
        import ifcopenshell.util.unit
    except ImportError as err:
        raise MissingDependencyError("ifcopenshell", "ifc") from err
    return ifcopenshell


@dataclass(frozen=True, slots=True)
class OpenedModel:
    """An opened IFC model and what opening it found."""

    model: ifcopenshell.file
    schema_written: str
    """FILE_SCHEMA as written in the header."""
    schema_read: str
    """The schema the model was read with (differs when substituted)."""
    problems: tuple[str, ...]
    """Parser errors (instances that could not be read), as ifcopenshell reported them."""
    map_conversion_arguments: tuple[str, ...] = ()
    logger: Any = field(default=None, repr=False, compare=False)
    """The parser's log, kept alive as long as the model that was opened with it."""
    """For substituted schemas: the arguments of the first ``IFCMAPCONVERSION`` as written
    (pre-release IFC4X3 files carry ``ScaleY``/``ScaleZ`` after ``Scale``, which the released
    schema drops)."""


def _is_complete(path: Path) -> bool:
    """True when the file ends with ``END-ISO-10303-21;`` (trailing whitespace allowed)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - _TAIL_BYTES))
        tail = fh.read()
    return _END.search(_COMMENT.sub(b"", tail)) is not None


def _logger(ifcopenshell: Any) -> Any:
    wrapper = ifcopenshell.ifcopenshell_wrapper
    if not hasattr(wrapper, "logger"):
        return None
    logger = wrapper.logger()
    logger.output_format(wrapper.logger.FMT_INMEMORY)
    return logger


def _errors(logger: Any) -> tuple[str, ...]:
    if logger is None:
        return ()
    found = []
    for message in logger.log_messages():
        entry = message.to_dict()
        if entry.get("severity") == "ERROR":
            found.append(" ".join(str(entry.get(k) or "") for k in ("message", "instance")).strip())
    return tuple(found)


def open_model(path: Path) -> OpenedModel:
    """Open an IFC-SPF file with ifcopenshell.

    Raises
    ------
    MissingDependencyError
        ifcopenshell is not installed.
    ParseError
        Not an IFC-SPF file, a truncated file, or one ifcopenshell cannot parse.
    UnsupportedFormatError
        A schema that is neither supported nor substitutable (e.g. IFC2X2).
    """
    ifcopenshell = import_ifcopenshell()
    if not path.is_file():
        raise InputError("no such file", path=path)
    header = read_header(path)
    if header is None:
        raise ParseError(
            "not an IFC file: no 'ISO-10303-21;' header with an IFC FILE_SCHEMA", path=path
        )
    if not _is_complete(path):
        raise ParseError(
            "truncated IFC file: it does not end with 'END-ISO-10303-21;' (incomplete download "
            "or copy?); instances after the cut would be missing",
            path=path,
        )
    written = header.schema
    target = SCHEMA_SUBSTITUTES.get(written, written)
    if target not in SUPPORTED_SCHEMAS:
        raise UnsupportedFormatError(
            f"IFC schema {written} is not supported (readable: IFC2X3, IFC4, IFC4X3 and their "
            "pre-release variants)",
            path=path,
        )
    logger = _logger(ifcopenshell)
    map_arguments: tuple[str, ...] = ()
    try:
        if target == written:
            options = {} if logger is None else {"logger": logger}
            model = ifcopenshell.open(str(path), format=".ifc", **options)
        else:
            text = path.read_bytes().decode("latin-1")
            text = _SCHEMA_TEXT.sub(lambda m: m.group(1) + target + "'", text, count=1)
            map_arguments = _map_conversion_arguments(text)
            model = ifcopenshell.file.from_string(text)
    except (ifcopenshell.Error, OSError, RuntimeError, ValueError) as err:
        raise ParseError(f"IfcOpenShell cannot parse the file: {err}", path=path) from err
    return OpenedModel(
        model=model,
        schema_written=written,
        schema_read=target,
        problems=_errors(logger),
        map_conversion_arguments=map_arguments,
        logger=logger,
    )


_SCHEMA_TEXT = re.compile(r"(FILE_SCHEMA\s*\(\s*\(\s*')[^']*'", re.IGNORECASE)
_MAP_CONVERSION = re.compile(r"=\s*IFCMAPCONVERSION\s*\(([^;]*)\)\s*;", re.IGNORECASE)


def _map_conversion_arguments(text: str) -> tuple[str, ...]:
    """Top-level arguments of the first IFCMAPCONVERSION instance (numbers, refs, ``$``)."""
    match = _MAP_CONVERSION.search(text)
    if match is None or "'" in match.group(1) or "(" in match.group(1):
        return ()
    return tuple(a.strip() for a in match.group(1).split(","))


def schema_note(opened: OpenedModel) -> str | None:
    """The warning for a substituted schema, None when the schema was read as written."""
    if opened.schema_read == opened.schema_written:
        return None
    kind = "pre-release schema" if _PRE_RELEASE.match(opened.schema_written) else "schema"
    return (
        f"{kind} {opened.schema_written} is read with the closest released schema "
        f"{opened.schema_read}; entities or attributes that changed may be missing"
    )


def problems_note(opened: OpenedModel) -> str | None:
    """The warning for instances that could not be read, None when there were none."""
    if not opened.problems:
        return None
    shown = "; ".join(p[:200] for p in opened.problems[:_LISTED_PROBLEMS])
    return (
        f"{len(opened.problems)} problem(s) while parsing (elements using the affected "
        f"instances may lack geometry or properties): {shown}"
    )
