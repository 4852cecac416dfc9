"""The ``convert`` tool: city model files -> one georeferenced GLB, glTF or OBJ.

Pipeline per input file: reader (streamed) -> chunks of top-level features -> meshing (batched
triangulation, source CRS) -> georeferencing (source CRS -> ECEF with the geoid grid) -> local
frame (float32 relative to a float64 origin) -> one writer call at the end. The output is a
single file, so its vertex buffers are held in memory (about 40 bytes per vertex); city-wide
inputs belong in ``citymodel tile``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from citymodel._pool import TaskRunner, default_jobs
from citymodel.converters._citygml_chunks import DEFAULT_CHUNK_BYTES, ChunkPlan, SplitWithdrawn
from citymodel.converters._convert_chunks import PRELOAD as CHUNK_TASK_MODULES
from citymodel.converters._convert_chunks import ChunkJob, first_batch, meshed_pieces
from citymodel.converters.gltf import GltfMesh, SemanticMaterials, write_gltf
from citymodel.converters.gltf_textures import TextureImage, load_texture_images
from citymodel.converters.ifc_writer import IFC_SUFFIX, CityToIfcOptions, write_city_ifc
from citymodel.converters.interchange import interchange_format, write_interchange
from citymodel.converters.obj import write_obj
from citymodel.converters.pipeline import (
    count_read,
    count_written,
    georeferencer,
    meshed_chunks,
    reader_options,
    source_crs,
)
from citymodel.converters.selection import FeatureSelection, select_features, warn_missing_ids
from citymodel.converters.texture_encoding import TextureEncoding, recode, repeats
from citymodel.crs import Georeferencer, ResolvedCRS, register_grids
from citymodel.errors import CRSError, InputError, OutputError
from citymodel.formats import format_for
from citymodel.mesh import FeatureTable, MeshBatch
from citymodel.model import Feature
from citymodel.model.appearance import MeshAppearance
from citymodel.placement import GCG2016_CREDIT, Frame, LocalFrame
from citymodel.remote import InputStaging, is_url, local_path, prepare_remote_file, upload_files
from citymodel.report import JobReport
from citymodel.sources import Inputs, expand_sources
from citymodel.sources import open as open_source

__all__ = ["OUTPUT_SUFFIXES", "ConvertOptions", "ProgressCallback", "convert"]

log = logging.getLogger(__name__)

OUTPUT_SUFFIXES = (".glb", ".gltf", ".obj", IFC_SUFFIX, ".json", ".jsonl", ".gml")
"""Output suffixes; ``.json`` only as ``.city.json``."""

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
    selection
        Top-level objects to convert by bbox and/or ids
        (:class:`~citymodel.converters.selection.FeatureSelection`); default: all.
    citygml_version
        CityGML version of a ``.gml`` output: ``"2.0"`` or ``"3.0"``.
    textures
        Image format of the textures of a glTF output: JPEG/PNG as read (``auto``, the
        default), or re-encoded as JPEG, PNG or KTX2 with Basis Universal
        (:mod:`citymodel.converters.texture_encoding`).
    reader_options
        Format-specific reader options as ``(name, value)`` pairs, e.g.
        ``(("origin", (x, y, z, rotation_deg)),)`` for an IFC model without georeferencing
        (``in_crs`` is passed to every reader anyway).
    jobs
        Processes reading and meshing one big CityGML file (default: the CPUs available);
        plain CityGML 1.0/2.0 files of at least ``2 * split_bytes`` bytes are read in chunks
        of about ``split_bytes`` (:mod:`citymodel.converters._convert_chunks`). The output
        is byte-identical to ``jobs=1``. ``strict`` reads sequentially (the first skip of the
        file must stop the job).
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
    selection: FeatureSelection = field(default_factory=FeatureSelection)
    reader_options: tuple[tuple[str, Any], ...] = ()
    jobs: int = field(default_factory=default_jobs)
    split_bytes: int = DEFAULT_CHUNK_BYTES
    citygml_version: str = "2.0"
    textures: TextureEncoding = field(default_factory=TextureEncoding)


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
    appearances: list[tuple[MeshAppearance | None, int, int]] = field(default_factory=list)

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
        self.appearances.append((mesh.appearance, mesh.vertex_count, mesh.triangle_count))


def convert(
    inputs: Inputs,
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
        Output path; the suffix selects the writer (``.glb``, ``.gltf``, ``.obj``; ``.ifc``
        writes the selected objects as IFC4 in the source CRS, see
        :func:`~citymodel.converters.ifc_writer.write_city_ifc`; ``.city.json``,
        ``.city.jsonl`` and ``.gml`` write CityJSON, CityJSONSeq and CityGML in the source CRS,
        see :func:`~citymodel.converters.interchange.write_interchange`). Written atomically:
        nothing appears unless the conversion succeeds.
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

    Notes
    -----
    Inputs and the output may be fsspec URLs (``s3://bucket/city/``; extra ``cloud``, see
    :mod:`citymodel.remote`): remote inputs are copied one at a time into a temporary folder
    while they are read, a remote output is written locally and uploaded when complete.
    """
    opts = options or ConvertOptions()
    report = report if report is not None else JobReport(strict=opts.strict)
    if is_url(output):
        local = local_path(os.fspath(output))
        if local is None:
            return _convert_to_url(inputs, os.fspath(output), opts, report, progress)
        output = local
    with InputStaging(report) as staging:
        return _convert(inputs, output, opts, report, progress, staging)


def _convert_to_url(
    inputs: Inputs,
    url: str,
    opts: ConvertOptions,
    report: JobReport,
    progress: ProgressCallback | None,
) -> JobReport:
    """:func:`convert` into a temporary folder, then upload (extra files first, the model last)."""
    name = prepare_remote_file(url)
    folder = Path(tempfile.mkdtemp(prefix="citymodel-output-"))
    try:
        convert(inputs, folder / name, options=opts, report=report, progress=progress)
        upload_files(folder, url, name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report.outputs[:] = [url if o == str(folder / name) else o for o in report.outputs]
    return report


def _convert(
    inputs: Inputs,
    output: str | os.PathLike[str],
    opts: ConvertOptions,
    report: JobReport,
    progress: ProgressCallback | None,
    staging: InputStaging,
) -> JobReport:
    """:func:`convert` to a local output; ``staging`` provides local copies of remote inputs."""
    out = Path(output)
    suffix = out.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise OutputError(
            f"{out}: unsupported output suffix {suffix!r}; use one of {', '.join(OUTPUT_SUFFIXES)}"
        )
    if interchange_format(out) is not None:
        if opts.frame != "enu":
            report.warn(f"--frame {opts.frame} does not apply to {out.name} (source CRS)")
        found: set[str] = set()
        write_interchange(
            inputs,
            out,
            report=report,
            in_crs=opts.in_crs,
            types=opts.types,
            lod=opts.lod,
            citygml_version=opts.citygml_version,
            select=lambda features, resolved: _selected(features, opts, resolved, found, report),
            extra_reader_options=opts.reader_options,
            progress=progress,
        )
        warn_missing_ids(opts.selection, found, report)
        return report
    if suffix == ".json":
        raise OutputError(f"{out}: name a CityJSON output .city.json (a .json is ambiguous)")
    if suffix == IFC_SUFFIX:
        if opts.frame != "enu":
            report.warn(
                f"--frame {opts.frame} does not apply to IFC output (it uses the source CRS)"
            )
        return write_city_ifc(
            inputs, out, options=_ifc_options(opts), report=report, progress=progress
        )
    paths = expand_sources(inputs)
    register_grids(opts.grids)
    found_ids: set[str] = set()
    acc: _Accumulator | None = None
    grid_credit = False
    source_crs_seen: set[str] = set()
    for path in staging.files(paths):  # a remote file: a local copy while it is read
        report.inputs.append(str(path))
        if getattr(format_for(path), "kind", "features") == "points":
            raise InputError(
                "is a point cloud; convert writes meshes: tile it with `citymodel tile` "
                "(3D Tiles with glTF points or pnts)",
                path=path,
            )
        with open_source(path, **reader_options(opts.in_crs, opts.reader_options)) as reader:
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
            georef: Georeferencer | None = None
            if resolved is not None and opts.frame != "source":
                georef = georeferencer(
                    resolved, vertical_mode=opts.vertical_mode, path=path, report=report
                )
                grid_credit = grid_credit or "de_bkg_gcg2016.tif" in georef.grids
            else:
                report.crs[str(path)] = {"source": crs_label}
            plan = _split(path, opts)
            if plan is not None:  # a big CityGML file: its chunks on opts.jobs processes
                try:
                    acc = _convert_chunks(
                        plan,
                        reader,
                        _Target(opts, out, resolved, georef, crs_label),
                        acc,
                        found_ids,
                        report,
                        progress,
                    )
                    continue
                except SplitWithdrawn:  # the scan found it must be read as one document
                    pass
            done = 0
            for chunk, batch in meshed_chunks(
                _selected(
                    reader.features(report=report, types=opts.types),
                    opts,
                    resolved,
                    found_ids,
                    report,
                ),
                chunk_size=opts.chunk_size,
                lod=opts.lod,
                georef=georef,
                report=report,
            ):
                if batch.features.row_count == 0:
                    done += len(chunk)
                    continue
                if acc is None:
                    acc = _accumulator(batch, georef, crs_label, opts, out)
                acc.add(batch)
                count_written(chunk, batch, report)
                done += len(chunk)
                if progress is not None:
                    progress(str(path), done)
    warn_missing_ids(opts.selection, found_ids, report)
    if opts.frame == "source" and len(source_crs_seen) > 1:
        raise InputError(
            f"--frame source needs one CRS but the inputs use {sorted(source_crs_seen)}; use --frame enu or ecef"
        )
    if acc is None:
        raise InputError(
            "nothing to write: no feature could be converted"
            + (f" ({len(report.skipped)} skipped, see the report)" if report.skipped else "")
            + (f" (selection: {opts.selection.describe()})" if opts.selection.active else "")
        )
    acc.grid_credit = grid_credit
    _write(out, acc, opts, report, source_crs_seen)
    return report


def _accumulator(
    batch: MeshBatch, georef: Georeferencer | None, crs_label: str, opts: ConvertOptions, out: Path
) -> _Accumulator:
    """The accumulator whose local frame is centred on the first batch with rows."""
    frame = (
        LocalFrame.source_at(batch.mesh.positions, crs_label)
        if georef is None
        else LocalFrame.enu_at(batch.mesh.positions, opts.frame)
    )
    return _Accumulator(frame=frame, text_output=out.suffix.lower() == ".obj")


def _split(path: Path, opts: ConvertOptions) -> ChunkPlan | None:
    """The chunk plan of ``path`` (scanned while its chunks are read) when it may be split."""
    if opts.jobs < 2 or opts.strict or opts.split_bytes < 1:
        return None
    plan = ChunkPlan(path, chunk_bytes=opts.split_bytes)
    return plan if plan.candidate else None


@dataclass(frozen=True, slots=True)
class _Target:
    """What the chunk tasks of one file need besides the chunk."""

    opts: ConvertOptions
    out: Path
    resolved: ResolvedCRS | None
    georef: Georeferencer | None
    crs_label: str


def _convert_chunks(
    plan: ChunkPlan,
    reader: Any,
    target: _Target,
    acc: _Accumulator | None,
    found_ids: set[str],
    report: JobReport,
    progress: ProgressCallback | None,
) -> _Accumulator | None:
    """Read and mesh one big file's chunks in parallel; returns the (new) accumulator.

    The workers start first, so that their start overlaps the first batch read here and the
    scan of the file, which hands chunks to them as it finds them.

    Raises
    ------
    SplitWithdrawn
        The file must be read as one document (nothing was added to ``acc`` or ``report``).
    """
    opts, georef = target.opts, target.georef
    selection = _selection_in(opts, target.resolved)
    with (
        contextlib.closing(plan),
        TaskRunner(
            min(opts.jobs, plan.expected_chunks), opts.grids, preload=CHUNK_TASK_MODULES
        ) as runner,
    ):
        runner.start()
        if acc is None:  # the frame comes from the batch the sequential pipeline would take
            first = first_batch(
                lambda quiet: reader.features(report=quiet, types=opts.types),
                selection=selection,
                chunk_size=opts.chunk_size,
                lod=opts.lod,
                georef=georef,
            )
            if first is not None:
                acc = _accumulator(first, georef, target.crs_label, opts, target.out)
        return _add_pieces(plan, runner, target, selection, acc, found_ids, report, progress)


def _add_pieces(
    plan: ChunkPlan,
    runner: TaskRunner,
    target: _Target,
    selection: FeatureSelection,
    acc: _Accumulator | None,
    found_ids: set[str],
    report: JobReport,
    progress: ProgressCallback | None,
) -> _Accumulator | None:
    """The meshed pieces of the chunk tasks added to ``acc`` in document order."""
    opts = target.opts
    template = ChunkJob(
        resolved=target.resolved,
        georeference=target.georef is not None,
        vertical_mode=opts.vertical_mode,
        lod=opts.lod,
        types=opts.types,
        chunk_size=opts.chunk_size,
        selection=selection,
        reader_options=tuple(reader_options(opts.in_crs, opts.reader_options).items()),
    )
    name = str(plan.path)
    for piece in meshed_pieces(
        runner,
        plan,
        template,
        report=report,
        found_ids=found_ids,
        progress=None if progress is None else lambda done: progress(name, done),
    ):
        if piece.batch.features.row_count:
            if acc is None:  # pragma: no cover - first_batch found none, the tasks did
                raise InputError("the chunks of the file disagree with its sequential read")
            acc.add(piece.batch)
    return acc


def _ifc_options(opts: ConvertOptions) -> CityToIfcOptions:
    return CityToIfcOptions(
        selection=opts.selection,
        lod=opts.lod,
        types=opts.types,
        in_crs=opts.in_crs,
        vertical_mode=opts.vertical_mode,
        grids=opts.grids,
        strict=opts.strict,
    )


def _selection_in(opts: ConvertOptions, resolved: ResolvedCRS | None) -> FeatureSelection:
    """``opts.selection`` with its bbox in the input's CRS."""
    selection = opts.selection
    if selection.bbox is not None and selection.bbox.crs is not None:
        if resolved is None:
            raise CRSError(
                f"--bbox in {selection.bbox.crs} needs the input's CRS, which is unknown; "
                "give it with --in-crs or the bbox in source coordinates"
            )
        selection = replace(selection, bbox=selection.bbox.to_crs(resolved))
    return selection


def _selected(
    features: Iterable[Feature],
    opts: ConvertOptions,
    resolved: ResolvedCRS | None,
    found_ids: set[str],
    report: JobReport,
) -> Iterable[Feature]:
    """The features ``opts.selection`` keeps (its bbox taken to the input's CRS first).

    Features left out are counted as read.
    """
    selection = _selection_in(opts, resolved)
    if not selection.active:
        return features
    return select_features(
        features,
        selection,
        found_ids=found_ids,
        on_dropped=lambda feature: count_read([feature], report),
    )


def _texture_images(
    appearance: MeshAppearance, opts: ConvertOptions, report: JobReport
) -> list[TextureImage | None]:
    """The image of every texture (None: unusable) in the format ``opts.textures`` chooses.

    An image file shared by several textures is encoded once per wrap behaviour.
    """
    images = load_texture_images(appearance.textures, report)
    done: dict[tuple[str, bool], TextureImage] = {}
    out: list[TextureImage | None] = []
    for image, texture in zip(images, appearance.textures, strict=True):
        if image is None:
            out.append(None)
            continue
        key = (texture.image, repeats(texture.wrap))
        if key not in done:
            done[key] = recode(image, encoding=opts.textures, repeat=key[1], name=texture.image)
        out.append(done[key])
    return out


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
        appearance = MeshAppearance.concat(acc.appearances)
        write_gltf(
            out,
            GltfMesh(
                positions=positions,
                triangles=triangles,
                feature_ids=feature_ids,
                surface_types=surface_types,
                appearance=appearance,
            ),
            acc.table,
            root_matrix=frame.root_matrix(),
            extras=extras,
            materials=opts.materials,
            images=None if appearance is None else _texture_images(appearance, opts, report),
        )
    report.outputs.append(str(out))
    report.extra["frame"] = frame.extras()
