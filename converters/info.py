"""The ``info`` tool: what is in a set of city model files, without converting geometry."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from citymodel.model import DatasetMetadata
from citymodel.sources import expand_inputs
from citymodel.sources import open as open_source

__all__ = ["describe", "summarise"]


def describe(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    in_crs: str | None = None,
    reader_options: Sequence[tuple[str, Any]] = (),
) -> list[DatasetMetadata]:
    """Read the metadata of every input (files, folders, globs), one entry per file.

    ``reader_options`` are format-specific options (e.g. IFC's ``origin``).
    """
    result = []
    for path in expand_inputs(inputs):
        options: dict[str, Any] = {"in_crs": in_crs} if in_crs else {}
        options.update(reader_options)
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
    ``extent`` (source CRS units; union over files sharing one CRS), ``counts``, ``lods``,
    ``attribute_names``, ``notes`` (problems and assumptions of all files), and ``files`` (the
    per-file entries, with format-specific ``details`` such as a point cloud's point format
    and classes). Values that differ between files become lists.
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
        "notes": list(dict.fromkeys(n for m in items for n in m.notes)),
        "appearance_themes": _themes(items),
        "points": _points_summary(items),
        "georeferencing": _one_or_each([m.details["georeferencing"] for m in _ifc(items)]),
        "ifc": _ifc_summary(items),
        "files": [_file_entry(m) for m in items],
    }


def _themes(items: Sequence[DatasetMetadata]) -> list[str]:
    """Appearance themes of all inputs, in order of first appearance."""
    found: dict[str, None] = {}
    for m in items:
        themes = m.details.get("appearance_themes")
        if isinstance(themes, list):
            found.update(dict.fromkeys(str(t) for t in themes))
    return list(found)


def _points_summary(items: Sequence[DatasetMetadata]) -> dict[str, Any] | None:
    """Point-cloud facts over all point-cloud inputs; None when there are none."""
    clouds: list[Mapping[str, Any]] = [m.details for m in items if "point_format" in m.details]
    if not clouds:
        return None
    classes: Counter[int] = Counter()
    for d in clouds:
        classes.update({int(k): int(v) for k, v in (d.get("classes") or {}).items()})
    extra = [name for d in clouds for name in d.get("extra_dimensions") or ()]
    return {
        "files": len(clouds),
        "point_formats": sorted({int(d["point_format"]) for d in clouds}),
        "color": _one_or_list([d.get("color") for d in clouds]),
        "scale": _one_or_list([tuple(d["scale"]) for d in clouds if d.get("scale")]),
        "extra_dimensions": list(dict.fromkeys(extra)),
        "classes": {str(k): v for k, v in sorted(classes.items())},
        "header_bounds_not_tight": sum(d.get("header_bounds_tight") is False for d in clouds),
    }


def _ifc(items: Sequence[DatasetMetadata]) -> list[DatasetMetadata]:
    return [m for m in items if m.format == "IFC"]


def _one_or_each(values: list[Any]) -> Any:
    """None for no value, the value for one (or equal ones), else the list."""
    if not values:
        return None
    return values[0] if all(v == values[0] for v in values) else values


def _ifc_summary(items: Sequence[DatasetMetadata]) -> dict[str, Any] | None:
    """IFC facts over all IFC inputs (schema, units, storeys, elements); None without any."""
    models = _ifc(items)
    if not models:
        return None
    elements: Counter[str] = Counter()
    for m in models:
        by_class = m.details.get("elements_by_class")
        if isinstance(by_class, Mapping):
            elements.update({str(k): int(v) for k, v in by_class.items()})
    return {
        "files": len(models),
        "schema": _one_or_each([m.details.get("schema") for m in models]),
        "units": _one_or_each([m.details.get("units") for m in models]),
        "storeys": _one_or_each([m.details.get("storeys") for m in models]),
        "elements_by_class": dict(sorted(elements.items())),
    }


def _file_entry(m: DatasetMetadata) -> dict[str, Any]:
    entry = asdict(m)
    entry["counts"] = dict(m.counts)
    entry["lods"] = dict(m.lods)
    entry["attribute_names"] = list(m.attribute_names)
    entry["extent"] = list(m.extent) if m.extent else None
    entry["details"] = dict(m.details)
    entry["notes"] = list(m.notes)
    return entry
