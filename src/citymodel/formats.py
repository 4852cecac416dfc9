"""Plug-in contracts for format readers, and the registry that finds them.

Readers are discovered through the ``citymodel.formats`` entry-point group (built-in formats
included), so a third-party package adds a format by declaring an entry point whose object
satisfies :class:`FormatPlugin`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Sequence
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from citymodel.errors import UnsupportedFormatError
from citymodel.model import DatasetMetadata, Feature
from citymodel.report import JobReport

__all__ = [
    "FeatureReader",
    "FormatPlugin",
    "available_formats",
    "format_by_name",
    "format_for",
    "supported_types",
]

log = logging.getLogger(__name__)


@runtime_checkable
class FeatureReader(Protocol):
    """A streaming reader of city objects; a context manager.

    Opening does no heavy work; :meth:`features` streams, :meth:`metadata` may scan the input.
    """

    path: Path

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    @property
    def srs_name(self) -> str | None:
        """The CRS identifier found in the input (as written), or None."""
        ...

    def metadata(self) -> DatasetMetadata:
        """Format, version, CRS, extent, counts per type and LoD, attribute names."""
        ...

    def features(
        self, *, report: JobReport | None = None, types: Collection[str] | None = None
    ) -> Iterator[Feature]:
        """Yield top-level features one by one (children nested), in source CRS coordinates."""
        ...


class FormatPlugin(Protocol):
    """What a format entry point provides."""

    name: str
    suffixes: tuple[str, ...]

    def sniff(self, path: Path) -> bool:
        """Return True when ``path`` looks like this format (reads at most a small header)."""
        ...

    def open(self, path: Path, **options: Any) -> FeatureReader:
        """Open ``path`` for streaming."""
        ...


@cache
def _registered() -> dict[str, tuple[EntryPoint, ...]]:
    """The entry points of the ``citymodel.formats`` group by name, in registration order."""
    found: dict[str, tuple[EntryPoint, ...]] = {}
    for ep in entry_points(group="citymodel.formats"):
        found[ep.name] = (*found.get(ep.name, ()), ep)
    return found


@cache
def _load(name: str) -> FormatPlugin | None:
    """The plug-in registered as ``name`` (the last one that imports), None when none does."""
    plugin: FormatPlugin | None = None
    for ep in _registered()[name]:
        try:
            plugin = ep.load()
        except ImportError as err:  # an optional format whose dependency is missing
            log.debug("format %s unavailable: %s", ep.name, err)
    return plugin


def _formats() -> Iterator[FormatPlugin]:
    """The plug-ins in registration order, each imported only when it is reached.

    A job on one format imports only the plug-ins before it (start-up stays cheap).
    """
    for name in _registered():
        plugin = _load(name)
        if plugin is not None:
            yield plugin


@cache
def available_formats() -> dict[str, FormatPlugin]:
    """All formats registered in the ``citymodel.formats`` entry-point group, by name."""
    return {name: plugin for name in _registered() if (plugin := _load(name)) is not None}


def supported_types() -> tuple[str, ...]:
    """Top-level object types some registered format reads (its ``supported_types``), sorted.

    A plug-in lists them in an optional ``supported_types`` attribute (CityGML: ``Building``;
    CityJSON: every CityJSON type); formats without the attribute add nothing.
    """
    found: set[str] = set()
    for plugin in available_formats().values():
        found.update(getattr(plugin, "supported_types", ()))
    return tuple(sorted(found))


def format_by_name(name: str) -> FormatPlugin:
    """Return the format plug-in called ``name`` (e.g. ``"citygml"``)."""
    formats = available_formats()
    try:
        return formats[name.lower()]
    except KeyError:
        known = ", ".join(sorted(formats)) or "none"
        raise UnsupportedFormatError(f"unknown format {name!r}; known formats: {known}") from None


def format_for(path: Path, *, first: Sequence[str] = ()) -> FormatPlugin:
    """Find the format of ``path`` by sniffing its header.

    Parameters
    ----------
    path
        The file.
    first
        Names of plug-ins to ask before the others (the likely ones, e.g. by file name):
        the others are then not imported when one of these recognises the file.

    Raises
    ------
    UnsupportedFormatError
        When no registered format recognises the file.
    """
    for name in first:
        plugin = _load(name) if name in _registered() else None
        if plugin is not None and plugin.sniff(path):
            return plugin
    for plugin in _formats():
        if plugin.sniff(path):
            return plugin
    known = ", ".join(sorted(available_formats())) or "none"
    raise UnsupportedFormatError(
        f"not a supported city model (formats tried: {known}); check the file or its extension",
        path=path,
    )
