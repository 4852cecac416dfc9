"""Per-input-file pipeline pieces shared by the ``convert`` and ``tile`` tools.

For each input file: :func:`source_crs` (the CRS, GEO-5 defaults applied) ->
:func:`georeferencer` (source CRS -> ECEF with the geoid grid, reported) -> for each chunk of
top-level features, :func:`meshed_chunks` (meshing in the source CRS, then georeferencing) ->
:func:`count_written` once the tool has kept the chunk's rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from citymodel.converters.georeferencing import georeferencer
from citymodel.converters.gltf_textures import without_unusable_textures
from citymodel.crs import (
    Georeferencer,
    ResolvedCRS,
    parse_srs_name,
    resolve_crs,
    with_default_vertical,
)
from citymodel.errors import CRSError, CRSWarning
from citymodel.mesh import MeshBatch
from citymodel.meshing import mesh_features
from citymodel.model import Feature
from citymodel.placement import to_ecef_checked
from citymodel.report import JobReport

__all__ = [
    "chunks",
    "count_read",
    "count_written",
    "georeferencer",
    "meshed_chunks",
    "reader_options",
    "source_crs",
]


def reader_options(in_crs: str | None, extra: Iterable[tuple[str, Any]] = ()) -> dict[str, Any]:
    """Keyword options for :func:`citymodel.open`: ``in_crs`` when given, then ``extra``.

    Readers take ``in_crs`` (e.g. the axis order of a geographic CRS, the projected frame of an
    IFC site); ``extra`` holds format-specific options such as IFC's ``origin``.
    """
    options: dict[str, Any] = {} if in_crs is None else {"in_crs": in_crs}
    options.update(extra)
    return options


def source_crs(
    srs_name: str | None, *, in_crs: str | None, path: Path, report: JobReport
) -> ResolvedCRS:
    """Resolve the CRS of one input: ``in_crs`` wins, else the srsName (GEO-5 defaults applied).

    Raises
    ------
    CRSError
        When there is neither an srsName nor ``in_crs``, or the srsName is unknown.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CRSWarning)
        if in_crs is not None:
            resolved = resolve_crs(in_crs)
        elif srs_name is None:
            raise CRSError(
                f"{path}: no srsName found; give the CRS with --in-crs (e.g. --in-crs EPSG:25832+7837)"
            )
        else:
            try:
                resolved = parse_srs_name(srs_name)
            except CRSError as err:
                raise CRSError(f"{path}: {err}") from err
    for warning in caught:
        if issubclass(warning.category, CRSWarning):
            report.warn(f"{path}: {warning.message}")
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    completed = with_default_vertical(resolved)
    if completed.assumed_vertical:
        report.warn(
            f"{path}: srsName {resolved.source!r} has no vertical CRS; heights taken as "
            f"{completed.vertical_code} (override with --in-crs)"
        )
    return completed


def chunks(features: Iterable[Feature], size: int) -> Iterator[list[Feature]]:
    """Consecutive lists of ``size`` features (the last one shorter)."""
    it = iter(features)
    while chunk := list(islice(it, size)):
        yield chunk


def count_read(features: Sequence[Feature], report: JobReport) -> None:
    """Count every object of ``features`` (top-level objects and their children) as read."""
    for top in features:
        for feat, _parent in top.walk():
            report.read[feat.type] += 1


def count_written(chunk: Sequence[Feature], batch: MeshBatch, report: JobReport) -> None:
    """Count written top-level objects (those with any row) and written child rows by type."""
    cols = batch.features.columns
    building_ids = cols.get("building_id", [])
    written_tops = set(building_ids)
    for top in chunk:
        if top.id in written_tops:
            report.written[top.type] += 1
    for obj_type, building_id, gml_id in zip(
        cols.get("object_type", []), building_ids, cols.get("gml_id", []), strict=True
    ):
        if building_id != gml_id:
            report.written[str(obj_type)] += 1


def meshed_chunks(
    features: Iterable[Feature],
    *,
    chunk_size: int,
    lod: str | None,
    georef: Georeferencer | None,
    report: JobReport,
) -> Iterator[tuple[list[Feature], MeshBatch]]:
    """Chunks of top-level features, counted as read, with their meshes.

    Each chunk is meshed by :func:`~citymodel.meshing.mesh_features` (source CRS, metres) and,
    when ``georef`` is given and rows remain, georeferenced to ECEF (EPSG:4978, metres) by
    :func:`~citymodel.placement.to_ecef_checked`. Skipped features go to ``report``; a batch
    may have no rows. Textures whose image is missing or unreadable are reported once and
    dropped (their triangles keep their geometry, untextured).
    """
    for chunk in chunks(features, chunk_size):
        count_read(chunk, report)
        batch = mesh_features(chunk, lod=lod, report=report)
        if batch.mesh.appearance is not None:
            batch = without_unusable_textures(batch, report)
        if georef is not None and batch.features.row_count:
            batch = to_ecef_checked(batch, georef, report=report)
        yield chunk, batch
