"""The ``convert`` tool: city model files -> one georeferenced GLB, glTF or OBJ.

Pipeline per input file: reader (streamed) -> chunks of top-level features -> meshing (batched
triangulation, source CRS) -> georeferencing (source CRS -> ECEF with the geoid grid) -> local
frame (float32 relative to a float64 origin) -> one writer call at the end. The output is a
single file, so its vertex buffers are held in memory (about 40 bytes per vertex); city-wide
inputs belong in ``citymodel tile``.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Literal

import numpy as np

from citymodel.converters.gltf import GltfMesh, SemanticMaterials, write_gltf
from citymodel.converters.obj import write_obj
from citymodel.crs import (
    Georeferencer,
    ResolvedCRS,
    parse_srs_name,
    register_grids,
    resolve_crs,
    with_default_vertical,
)
from citymodel.errors import CRSError, CRSWarning, InputError, OutputError
from citymodel.mesh import FeatureTable, MeshBatch
from citymodel.meshing import mesh_features
from citymodel.model import Feature
from citymodel.placement import GCG2016_CREDIT, Frame, LocalFrame, to_ecef_checked
from citymodel.report import JobReport
from citymodel.sources import expand_inputs
from citymodel.sources import open as open_source

__all__ = ["OUTPUT_SUFFIXES", "ConvertOptions", "ProgressCallback", "convert", "source_crs"]

log = logging.getLogger(__name__)

OUTPUT_SUFFIXES = (".glb", ".gltf", ".obj")

ProgressCallback = Callable[[str, int], None]
"""Called as ``progress(file, features_done_in_file)`` after each chunk."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConvertOptions:
    """Options of :func:`convert` (and shared with ``tile``).

    Attributes
    ----------
    frame
        Output frame: ``enu`` (default), ``ecef`` or ``source`` (see :mod:`citymodel.placement`).
    in_crs
        CRS overriding the input's srsName (e.g. ``"EPSG:25832+7837"``).
    vertical_mode
        ``auto``: convert the vertical datum to ellipsoidal heights with the right grid;
        ``ellipsoidal-as-is``: take z as ellipsoidal height (warned once).
    lod
        LoD to convert (``"1"``, ``"2"``); None = the highest LoD of each object.
    grids
        Extra folders with PROJ grid files.
    strict
        Fail on the first skipped feature instead of reporting it.
    materials
        Colours per semantic surface type; None = the default palette.
    chunk_size
        Top-level features meshed per batch.
    """

    frame: Frame = "enu"
    in_crs: str | None = None
    vertical_mode: Literal["auto", "ellipsoidal-as-is"] = "auto"
    lod: str | None = None
    grids: tuple[Path, ...] = ()
    strict: bool = False
    materials: SemanticMaterials | None = None
    chunk_size: int = 512
    types: tuple[str, ...] | None = field(default=None)


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


def _chunks(features: Iterable[Feature], size: int) -> Iterator[list[Feature]]:
    it = iter(features)
    while chunk := list(islice(it, size)):
        yield chunk


def _count_read(features: Sequence[Feature], report: JobReport) -> None:
    for top in features:
        for feat, _parent in top.walk():
            report.read[feat.type] += 1


def _count_written(chunk: Sequence[Feature], batch: MeshBatch, report: JobReport) -> None:
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


@dataclass(slots=True)
class _Accumulator:
    """Collects local positions, triangles and feature rows of all chunks."""

    frame: LocalFrame
    text_output: bool
    positions: list[np.ndarray] = field(default_factory=list)
    triangles: list[np.ndarray] = field(default_factory=list)
    feature_ids: list[np.ndarray] = field(default_factory=list)
    surface_types: list[np.ndarray] = field(default_factory=list)
    vertex_count: int = 0
    table: FeatureTable = field(default_factory=FeatureTable)
    grid_credit: bool = False

    def add(self, batch: MeshBatch) -> None:
        """Append a batch (positions in the frame's input CRS) in local coordinates."""
        row_offset = self.table.extend(batch.features)
        mesh = batch.mesh
        local = self.frame.to_local64 if self.text_output else self.frame.to_local
        self.positions.append(local(mesh.positions))
        self.triangles.append(
            (mesh.triangles.astype(np.int64) + self.vertex_count).astype(np.uint32)
        )
        self.feature_ids.append((mesh.feature_ids.astype(np.int64) + row_offset).astype(np.uint32))
        self.surface_types.append(mesh.surface_types)
        self.vertex_count += mesh.vertex_count


def convert(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    options: ConvertOptions | None = None,
    report: JobReport | None = None,
    progress: ProgressCallback | None = None,
) -> JobReport:
    """Convert city model files into one georeferenced GLB, glTF or OBJ file.

    Parameters
    ----------
    inputs
        Files, folders or glob patterns (CityGML ``.gml``/``.xml``/``.gml.gz``/``.zip``).
    output
        Output path; the suffix selects the writer (``.glb``, ``.gltf``, ``.obj``). Written
        atomically: nothing appears unless the conversion succeeds.
    options
        See :class:`ConvertOptions`.
    report
        Collects counts and skipped features; a new one is made when None.
    progress
        Optional callback for progress display.

    Returns
    -------
    JobReport
        Counts read/written, skipped features with reasons, CRS used, warnings.

    Raises
    ------
    InputError, CRSError, OutputError
        For problems that stop the job (unreadable file, unknown CRS, missing grid, ...).
    """
    opts = options or ConvertOptions()
    report = report if report is not None else JobReport(strict=opts.strict)
    out = Path(output)
    suffix = out.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise OutputError(
            f"{out}: unsupported output suffix {suffix!r}; use one of {', '.join(OUTPUT_SUFFIXES)}"
        )
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    paths = expand_inputs(items)
    register_grids(opts.grids)
    acc: _Accumulator | None = None
    grid_credit = False
    source_crs_seen: set[str] = set()
    for path in paths:
        report.inputs.append(str(path))
        with open_source(path) as reader:
            try:
                resolved: ResolvedCRS | None = source_crs(
                    reader.srs_name, in_crs=opts.in_crs, path=path, report=report
                )
            except CRSError:
                if opts.frame != "source":
                    raise
                # The source frame needs no CRS: keep the coordinates as they are.
                resolved = None
                report.warn(
                    f"{path}: CRS {reader.srs_name!r} not resolved; coordinates written as they are"
                )
            crs_label = resolved.to_string() if resolved is not None else str(reader.srs_name)
            source_crs_seen.add(crs_label)
            georef = None
            if resolved is not None and opts.frame != "source":
                georef = Georeferencer.create(resolved, vertical_mode=opts.vertical_mode)
                for message in georef.warnings:
                    report.warn(message)
                grid_credit = grid_credit or "de_bkg_gcg2016.tif" in georef.grids
            report.crs[str(path)] = {"source": crs_label} | (
                {"operation": georef.description} if georef is not None else {}
            )
            done = 0
            for chunk in _chunks(reader.features(report=report, types=opts.types), opts.chunk_size):
                _count_read(chunk, report)
                batch = mesh_features(chunk, lod=opts.lod, report=report)
                if georef is not None and batch.features.row_count:
                    batch = to_ecef_checked(batch, georef, report=report)
                if batch.features.row_count == 0:
                    done += len(chunk)
                    continue
                if acc is None:
                    frame = (
                        LocalFrame.source_at(batch.mesh.positions, crs_label)
                        if georef is None
                        else LocalFrame.enu_at(batch.mesh.positions, opts.frame)
                    )
                    acc = _Accumulator(frame=frame, text_output=suffix == ".obj")
                acc.add(batch)
                _count_written(chunk, batch, report)
                done += len(chunk)
                if progress is not None:
                    progress(str(path), done)
    if opts.frame == "source" and len(source_crs_seen) > 1:
        raise InputError(
            f"--frame source needs one CRS but the inputs use {sorted(source_crs_seen)}; use --frame enu or ecef"
        )
    if acc is None:
        raise InputError(
            "nothing to write: no feature could be converted"
            + (f" ({len(report.skipped)} skipped, see the report)" if report.skipped else "")
        )
    acc.grid_credit = grid_credit
    _write(out, acc, opts, report, source_crs_seen)
    return report


def _write(
    out: Path, acc: _Accumulator, opts: ConvertOptions, report: JobReport, crs_seen: set[str]
) -> None:
    frame = acc.frame
    triangles = np.concatenate(acc.triangles)
    feature_ids = np.concatenate(acc.feature_ids)
    surface_types = np.concatenate(acc.surface_types)
    positions = np.concatenate(acc.positions)
    if out.suffix.lower() == ".obj":
        write_obj(
            out,
            positions,
            triangles,
            feature_ids,
            surface_types,
            acc.table,
            materials=opts.materials,
        )
    else:
        extras: dict[str, object] = {"citymodel": frame.extras() | {"source_crs": sorted(crs_seen)}}
        if acc.grid_credit:
            extras["copyright"] = GCG2016_CREDIT
        write_gltf(
            out,
            GltfMesh(
                positions=positions,
                triangles=triangles,
                feature_ids=feature_ids,
                surface_types=surface_types,
            ),
            acc.table,
            root_matrix=frame.root_matrix(),
            extras=extras,
            materials=opts.materials,
        )
    report.outputs.append(str(out))
    report.extra["frame"] = frame.extras()
