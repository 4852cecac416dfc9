"""The ``info`` tool: what is in a set of city model files, without converting geometry."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from citymodel.model import DatasetMetadata
from citymodel.sources import expand_inputs
from citymodel.sources import open as open_source

__all__ = ["describe", "summarise"]


def describe(
    inputs: Sequence[str | os.PathLike[str]], *, in_crs: str | None = None
) -> list[DatasetMetadata]:
    """Read the metadata of every input (files, folders, globs), one entry per file."""
    result = []
    for path in expand_inputs(inputs):
        options = {"in_crs": in_crs} if in_crs else {}
        with open_source(path, **options) as reader:
            result.append(reader.metadata())
    return result


def _one_or_list(values: list[Any]) -> Any:
    unique = list(dict.fromkeys(v for v in values if v is not None))
    if not unique:
        return None
    return unique[0] if len(unique) == 1 else unique


def summarise(items: Sequence[DatasetMetadata]) -> dict[str, Any]:
    """Merge per-file metadata into the ``info --json`` object.

    Keys: ``format``, ``version``, ``srs_name``, ``crs`` (``horizontal``, ``vertical``),
    ``extent`` (source CRS metres; union over files sharing one CRS), ``counts``, ``lods``,
    ``attribute_names``, and ``files`` (the per-file entries). Values that differ between
    files become lists.
    """
    counts: Counter[str] = Counter()
    lods: Counter[str] = Counter()
    names: set[str] = set()
    for m in items:
        counts.update(m.counts)
        lods.update(m.lods)
        names.update(m.attribute_names)
    extents = [m.extent for m in items if m.extent is not None]
    same_crs = len({(m.horizontal_crs, m.vertical_crs) for m in items}) == 1
    extent = None
    if extents and same_crs:
        extent = [min(e[i] for e in extents) for i in range(3)] + [
            max(e[i] for e in extents) for i in range(3, 6)
        ]
    return {
        "format": _one_or_list([m.format for m in items]),
        "version": _one_or_list([m.version for m in items]),
        "srs_name": _one_or_list([m.srs_name for m in items]),
        "crs": {
            "horizontal": _one_or_list([m.horizontal_crs for m in items]),
            "vertical": _one_or_list([m.vertical_crs for m in items]),
        },
        "extent": extent,
        "counts": dict(sorted(counts.items())),
        "lods": dict(sorted(lods.items())),
        "attribute_names": sorted(names),
        "files": [_file_entry(m) for m in items],
    }


def _file_entry(m: DatasetMetadata) -> dict[str, Any]:
    entry = asdict(m)
    entry["counts"] = dict(m.counts)
    entry["lods"] = dict(m.lods)
    entry["attribute_names"] = list(m.attribute_names)
    entry["extent"] = list(m.extent) if m.extent else None
    return entry
