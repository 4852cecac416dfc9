"""``convert`` to interchange formats: CityJSON, CityJSONSeq, CityGML 2.0/3.0.

The features of every input are streamed into one writer
(:class:`~citymodel.converters.cityjson_writer.CityJSONWriter` or
:class:`~citymodel.converters.citygml_writer.CityGMLWriter`) in the source CRS, without any
georeferencing: coordinates stay as read, and the output states the CRS the inputs state
(``--in-crs`` overrides it; no default vertical datum is added, GEO-5 applies only to
georeferencing). All inputs must share one CRS. ``--types``, ``--bbox``/``--ids`` and ``--lod``
select what is written; everything read is counted, and objects a format cannot hold are
reported by the writers.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Final

from citymodel.converters.citygml_writer import CITYGML_VERSIONS, CityGMLWriter
from citymodel.converters.cityjson_writer import CityJSONWriter
from citymodel.converters.pipeline import count_read, reader_options
from citymodel.crs import ResolvedCRS, parse_srs_name, resolve_crs
from citymodel.errors import CRSError, CRSWarning, InputError, OutputError
from citymodel.formats import format_for
from citymodel.model import Feature
from citymodel.report import JobReport
from citymodel.sources import Inputs, expand_inputs
from citymodel.sources import open as open_source

__all__ = [
    "INTERCHANGE_SUFFIXES",
    "interchange_format",
    "write_interchange",
]

INTERCHANGE_SUFFIXES: Final = (".city.json", ".city.jsonl", ".jsonl", ".gml")
"""Output names written by :func:`write_interchange` (a plain ``.json`` is ambiguous)."""

Selector = Callable[[Iterable[Feature], ResolvedCRS | None], Iterable[Feature]]
"""``select(features, resolved CRS)``: the features to write (e.g. by bbox and ids)."""
Progress = Callable[[str, int], None]


def interchange_format(path: str | os.PathLike[str]) -> str | None:
    """``"cityjson"``, ``"citygml"`` or None (not an interchange output) for an output path."""
    name = Path(path).name.lower()
    if name.endswith((".city.json", ".city.jsonl", ".jsonl")):
        return "cityjson"
    if name.endswith(".gml"):
        return "citygml"
    return None


def _stated_crs(
    srs_name: str | None, *, in_crs: str | None, path: Path, report: JobReport
) -> ResolvedCRS | None:
    """The CRS the input states (``in_crs`` wins), None when absent or unresolvable."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CRSWarning)
        try:
            if in_crs is not None:
                resolved: ResolvedCRS | None = resolve_crs(in_crs)
            elif srs_name is not None:
                resolved = parse_srs_name(srs_name)
            else:
                resolved = None
                report.warn(f"{path}: no CRS stated; the output states none (use --in-crs)")
        except CRSError as err:
            resolved = None
            report.warn(f"{path}: {err}; the output states no CRS, coordinates are kept")
    for warning in caught:
        report.warn(f"{path}: {warning.message}")
    return resolved


def _with_lod(feature: Feature, lod: str) -> Feature:
    """``feature`` and its children with only the geometries of ``lod`` (``"2"`` or ``"2.2"``)."""
    kept = tuple(g for g in feature.geometries if g.lod == lod or g.lod.split(".")[0] == lod)
    children = tuple(_with_lod(c, lod) for c in feature.children)
    return replace(feature, geometries=kept, children=children)


def _counted(features: Iterable[Feature], report: JobReport, lod: str | None) -> Iterator[Feature]:
    for feature in features:
        count_read([feature], report)
        yield feature if lod is None else _with_lod(feature, lod)


def write_interchange(
    inputs: Inputs,
    output: str | os.PathLike[str],
    *,
    report: JobReport,
    in_crs: str | None = None,
    types: Iterable[str] | None = None,
    lod: str | None = None,
    citygml_version: str = "2.0",
    select: Selector | None = None,
    extra_reader_options: Iterable[tuple[str, object]] = (),
    progress: Progress | None = None,
) -> JobReport:
    """Write the features of ``inputs`` into one CityJSON(Seq) or CityGML file.

    Parameters
    ----------
    inputs
        Files, folders or glob patterns of any feature format citymodel reads.
    output
        ``.city.json``, ``.city.jsonl``/``.jsonl`` or ``.gml``; written atomically.
    report
        Collects counts (read: every object; written: objects in the output), skips, notes.
    in_crs
        CRS of the inputs when they state none (or to override what they state).
    types, lod
        Top-level types and the LoD to write (None: all).
    citygml_version
        ``"2.0"`` or ``"3.0"`` (``.gml`` only).
    select
        Further selection (bbox, ids) applied per input with its resolved CRS.

    Raises
    ------
    InputError
        Point-cloud inputs, inputs in different CRSs, nothing to write.
    OutputError
        Unsupported output name or version; the file cannot be written.
    """
    out = Path(output)
    fmt = interchange_format(out)
    if fmt is None:
        raise OutputError(
            f"{out}: not an interchange output; use one of {', '.join(INTERCHANGE_SUFFIXES)}"
        )
    if citygml_version not in CITYGML_VERSIONS:
        raise OutputError(
            f"CityGML version {citygml_version!r} cannot be written; use "
            + " or ".join(CITYGML_VERSIONS)
        )
    paths = expand_inputs(inputs)
    writer: CityJSONWriter | CityGMLWriter | None = None
    crs_of_writer: str | None = None
    try:
        for path in paths:
            report.inputs.append(str(path))
            if getattr(format_for(path), "kind", "features") == "points":
                raise InputError(
                    "is a point cloud; CityJSON and CityGML outputs hold city objects", path=path
                )
            options = reader_options(in_crs, extra_reader_options)
            with open_source(path, **options) as reader:
                crs = _stated_crs(reader.srs_name, in_crs=in_crs, path=path, report=report)
                label = crs.to_string() if crs is not None else None
                if writer is None:
                    writer = (
                        CityJSONWriter(out, crs=crs, report=report)
                        if fmt == "cityjson"
                        else CityGMLWriter(out, crs=crs, report=report, version=citygml_version)
                    )
                    crs_of_writer = label
                elif label != crs_of_writer:
                    raise InputError(
                        f"its CRS {label} differs from {crs_of_writer} of the first input; one "
                        "output holds one CRS: convert the inputs separately",
                        path=path,
                    )
                features: Iterable[Feature] = reader.features(
                    report=report, types=None if types is None else tuple(types)
                )
                if select is not None:
                    features = select(features, crs)
                done = 0
                for feature in _counted(features, report, lod):
                    writer.write(feature)
                    done += 1
                    if progress is not None and done % 256 == 0:
                        progress(str(path), done)
                if progress is not None:
                    progress(str(path), done)
        if writer is not None:
            writer.flush()
        if writer is None or not sum(writer.written.values()):
            raise InputError(
                "nothing to write: no object could be converted"
                + (f" ({len(report.skipped)} skipped, see the report)" if report.skipped else "")
            )
        writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    for kind, count in writer.written.items():
        report.written[kind] += count
    report.outputs.append(str(out))
    return report
