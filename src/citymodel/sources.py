"""The front door: :func:`open` turns a path into a streaming reader; input expansion."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from citymodel.errors import InputError, UnsupportedFormatError
from citymodel.formats import FeatureReader, format_by_name, format_for
from citymodel.remote import RemoteFile, expand_url, is_url, local_path

__all__ = [
    "INPUT_SUFFIXES",
    "POINT_SUFFIXES",
    "InputFile",
    "Inputs",
    "expand_inputs",
    "expand_sources",
    "is_point_cloud",
    "open",
    "split_point_inputs",
]

INPUT_SUFFIXES: tuple[str, ...] = (
    ".gml",
    ".xml",
    ".gml.gz",
    ".xml.gz",
    ".zip",
    ".citygml",
    ".ifc",
    ".city.json",
    ".city.jsonl",
)
"""Suffixes picked up when a folder is given as input (plain ``.json`` files only by name)."""

POINT_SUFFIXES: tuple[str, ...] = (".las", ".laz")
"""Suffixes of point cloud files (LAS, LAZ, COPC ``.copc.laz``) picked up in folders."""
POINT_FORMATS: tuple[str, ...] = ("las",)
"""The format plug-ins asked first about a file with a point cloud suffix (it is then
recognised without importing the city model formats)."""

Inputs = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]
"""Files, folders or glob patterns: one, or an iterable of them."""

InputFile = Path | RemoteFile
"""One input file: a local path or a file at an fsspec URL (:mod:`citymodel.remote`)."""


def open(  # noqa: A001 - the library's front door, like laspy.open / rasterio.open
    path: str | os.PathLike[str],
    *,
    format: str | None = None,  # noqa: A002 - same keyword as citymodel.open(format=...) users expect
    **options: Any,
) -> FeatureReader:
    """Open a city model for streaming.

    Parameters
    ----------
    path
        A CityGML file (``.gml``, ``.xml``, ``.gml.gz``), a ``.zip`` holding CityGML files, an
        IFC file (``.ifc``), or any other registered format.
    format
        Force a format by name (``"citygml"``) instead of sniffing the file.
    **options
        Passed to the reader (e.g. ``in_crs="EPSG:25832+7837"``; IFC also takes
        ``origin=(x, y, z, rotation_deg)``).

    Returns
    -------
    FeatureReader
        Use as a context manager; ``.metadata()`` and ``.features()``.

    Examples
    --------
    >>> import citymodel
    >>> with citymodel.open("LoD2_32_356_5645_1_NW.gml") as src:  # doctest: +SKIP
    ...     for building in src.features():
    ...         print(building.id, building.attributes.get("measuredHeight"))
    """
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", path=p)
    if p.is_dir():
        raise InputError("is a folder; open the files in it one by one", path=p)
    plugin = format_by_name(format) if format else format_for(p)
    try:
        return plugin.open(p, **options)
    except TypeError as err:
        # a reader option meant for another format (e.g. IFC's origin for a CityGML file)
        unknown = [name for name in options if f"'{name}'" in str(err)]
        if not unknown:
            raise
        raise InputError(
            f"option {', '.join(unknown)} does not apply to {plugin.name} input", path=p
        ) from err


def _has_input_suffix(path: Path, suffixes: tuple[str, ...] = INPUT_SUFFIXES) -> bool:
    name = path.name.lower()
    return any(name.endswith(s) for s in suffixes)


def expand_inputs(items: Inputs, *, suffixes: tuple[str, ...] = INPUT_SUFFIXES) -> list[Path]:
    """Expand files, folders (recursively, known suffixes only) and glob patterns into files.

    ``items`` is one file, folder or pattern, or an iterable of them. Order is preserved for
    files; folder contents and glob matches are sorted. Duplicates are dropped. ``suffixes``
    are the file names picked up in folders (default: city models; :data:`POINT_SUFFIXES`
    for point clouds).

    Raises
    ------
    InputError
        When an item matches nothing.
    """
    out: dict[Path, None] = {}
    for item in [items] if isinstance(items, (str, os.PathLike)) else items:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and _has_input_suffix(p, suffixes)
            )
            if not found:
                what = "point cloud" if suffixes == POINT_SUFFIXES else "city model"
                raise InputError(f"folder holds no {what} files", path=path)
        elif path.exists():
            found = [path]
        elif glob.has_magic(text):
            matches = glob.glob(text, recursive=True)  # noqa: PTH207 - user patterns may be absolute
            found = sorted(Path(p) for p in matches if Path(p).is_file())
            if not found:
                raise InputError("pattern matches no files", path=text)
        else:
            raise InputError("no such file", path=path)
        for p in found:
            out.setdefault(p, None)
    return list(out)


def is_point_cloud(path: Path) -> bool:
    """True when the format that reads ``path`` (found by content) is a point format (LAS/LAZ/COPC).

    Formats are tried in registration order (the point formats first for a file with a point
    cloud suffix) and imported only as far as needed; a file no format recognises is not a
    point cloud.
    """
    first = POINT_FORMATS if path.suffix.lower() in POINT_SUFFIXES else ()
    try:
        plugin = format_for(path, first=first)
    except UnsupportedFormatError:
        return False
    return getattr(plugin, "kind", "features") == "points"


def split_point_inputs(inputs: Inputs) -> tuple[list[Path], list[Path]]:
    """Expand inputs (folders: city model and point cloud suffixes) and split them.

    Returns
    -------
    tuple
        ``(point_clouds, others)`` in input order, recognised by content (not by suffix).

    Raises
    ------
    InputError
        When an input matches nothing.
    """
    points: list[Path] = []
    others: list[Path] = []
    for path in expand_inputs(inputs, suffixes=INPUT_SUFFIXES + POINT_SUFFIXES):
        (points if is_point_cloud(path) else others).append(path)
    return points, others


def expand_sources(items: Inputs, *, suffixes: tuple[str, ...] = INPUT_SUFFIXES) -> list[InputFile]:
    """:func:`expand_inputs`, also for fsspec URLs (``s3://bucket/city/``, ``memory://...``).

    A URL is a file, a folder (prefix, listed recursively with ``suffixes``) or a glob pattern
    and gives :class:`~citymodel.remote.RemoteFile` records; ``file://`` URLs are local paths.
    Local items behave exactly as in :func:`expand_inputs` (fsspec is imported only for URLs).

    Raises
    ------
    InputError
        When an item matches nothing or a URL cannot be listed.
    MissingDependencyError
        For a URL without fsspec or its protocol's backend (extra ``cloud``).
    """
    out: dict[InputFile, None] = {}
    for item in [items] if isinstance(items, (str, os.PathLike)) else items:
        found: list[InputFile]
        if is_url(item):
            text = os.fspath(item)
            local = local_path(text)
            if local is None:
                found = list(expand_url(text, suffixes=suffixes))
            else:
                found = list(expand_inputs(local, suffixes=suffixes))
        else:
            found = list(expand_inputs(item, suffixes=suffixes))
        for f in found:
            out.setdefault(f, None)
    return list(out)
