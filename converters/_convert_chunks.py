"""``convert --jobs N``: the chunks of one big CityGML file read and meshed on N processes.

The coordinator scans the file for chunks (:class:`~citymodel.converters._citygml_chunks.ChunkPlan`)
and sends one task per chunk to a :class:`~citymodel._pool.TaskRunner` as the scan finds it,
so the workers start on the first chunks while the rest of the file is scanned; results are
taken in document order. The scan is finished before the first result is used: when it finds
that the file must not be split after all, nothing has been merged or written and
:class:`~citymodel.converters._citygml_chunks.SplitWithdrawn` tells the caller to read the file
sequentially. A task reads its chunk, applies the selection, meshes in batches of
``chunk_size`` top-level features and georeferences them (source CRS -> ECEF, EPSG:4978
metres), exactly as the sequential pipeline does per batch; its report (skips, counts) is
merged into the job's report in chunk order, and the per-document notes are written once at
the end. Chunks whose generated ids were numbered from a wrong count of earlier objects are
read again with the right count before their result is used.

The GLB is byte-identical to ``--jobs 1``: vertices, triangles and feature rows are appended
in document order, and the local frame is taken from the same batch as sequentially (the
first non-empty batch of ``chunk_size`` selected features from the file's start), which the
caller computes with the sequential reader (:func:`first_batch`). Skip records are the same
records; within one chunk, the order of reading skips relative to meshing skips follows the
chunk's own batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from citymodel._pool import TaskRunner
from citymodel.converters._citygml_chunks import (
    ChunkNotes,
    ChunkPlan,
    ChunkReading,
    DocumentChunk,
    SplitWithdrawn,
    document_notes,
    misplaced_chunks,
    objects_before,
)
from citymodel.converters.pipeline import count_read, count_written, meshed_chunks
from citymodel.converters.selection import FeatureSelection, select_features
from citymodel.crs import Georeferencer, ResolvedCRS, VerticalMode
from citymodel.mesh import MeshBatch
from citymodel.model import Feature
from citymodel.report import JobReport, SkipRecord

__all__ = ["PRELOAD", "ChunkJob", "MeshedPiece", "first_batch", "mesh_chunk", "meshed_pieces"]

PRELOAD: Final = (__name__,)
"""Modules a chunk task needs, for the pool's fork server (:class:`~citymodel._pool.TaskRunner`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkJob:
    """One task: read, select, mesh and georeference one chunk (picklable).

    Attributes
    ----------
    chunk
        The chunk (None in the template of :func:`meshed_pieces`).
    resolved
        The file's CRS (GEO-5 defaults applied); None keeps source coordinates.
    georeference
        Whether batches go to ECEF (EPSG:4978) or stay in the source CRS.
    position_offset
        Top-level objects before the chunk when the plan's count was wrong, else None.
    """

    resolved: ResolvedCRS | None
    georeference: bool
    vertical_mode: VerticalMode
    lod: str | None
    types: tuple[str, ...] | None
    chunk_size: int
    selection: FeatureSelection = field(default_factory=FeatureSelection)
    reader_options: tuple[tuple[str, Any], ...] = ()
    position_offset: int | None = None
    chunk: DocumentChunk | None = None


@dataclass(frozen=True, slots=True)
class MeshedPiece:
    """A meshed batch: ``features`` top-level features, their rows in ``batch``."""

    features: int
    batch: MeshBatch


@dataclass(frozen=True, slots=True)
class _ChunkResult:
    index: int
    pieces: tuple[MeshedPiece, ...]
    report: JobReport
    notes: ChunkNotes
    found_ids: frozenset[str]


def mesh_chunk(job: ChunkJob) -> _ChunkResult:
    """Worker task: the chunk's meshed batches, its report and notes."""
    if job.chunk is None:
        raise ValueError("a chunk task needs its chunk")
    report = JobReport()
    reading = ChunkReading(
        job.chunk, position_offset=job.position_offset, **dict(job.reader_options)
    )
    georef = None
    if job.georeference and job.resolved is not None:
        # the coordinator reported the georeferencer's warnings once for the file
        georef = Georeferencer.create(job.resolved, vertical_mode=job.vertical_mode)
    found: set[str] = set()
    features: Iterator[Feature] = reading.features(report=report, types=job.types)
    if job.selection.active:
        features = select_features(
            features,
            job.selection,
            found_ids=found,
            on_dropped=lambda feature: count_read([feature], report),
        )
    pieces = []
    for chunk, batch in meshed_chunks(
        features, chunk_size=job.chunk_size, lod=job.lod, georef=georef, report=report
    ):
        if batch.features.row_count:
            count_written(chunk, batch, report)
        pieces.append(MeshedPiece(len(chunk), batch))
    return _ChunkResult(job.chunk.index, tuple(pieces), report, reading.notes(), frozenset(found))


class _SilentReport(JobReport):
    """A report that records without logging (the frame search reads features twice)."""

    def skip(
        self,
        reason: str,
        *,
        id: str | None = None,  # noqa: A002 - as JobReport.skip
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        """Record, never log."""
        self.skipped.append(SkipRecord(id=id, file=file, line=line, reason=reason))

    def warn(self, message: str) -> None:
        """Record, never log."""
        self.warnings.append(message)


def first_batch(
    read: Callable[[JobReport], Iterable[Feature]],
    *,
    selection: FeatureSelection,
    chunk_size: int,
    lod: str | None,
    georef: Georeferencer | None,
) -> MeshBatch | None:
    """The first batch with rows of the sequential pipeline (the one the local frame is from).

    ``read(report)`` yields the file's features in order; ``selection`` is in the file's CRS.
    Nothing is reported or logged (the chunk tasks report everything once). Usually the first
    ``chunk_size`` features; at worst (every feature left out) the whole file.
    """
    quiet = _SilentReport()
    features: Iterable[Feature] = read(quiet)
    if selection.active:
        features = select_features(features, selection)
    for _, batch in meshed_chunks(
        features, chunk_size=chunk_size, lod=lod, georef=georef, report=quiet
    ):
        if batch.features.row_count:
            return batch
    return None


def _in_order(runner: TaskRunner, jobs: Iterable[ChunkJob]) -> Iterator[_ChunkResult]:
    """Results in chunk order (the runner yields them as they complete)."""
    waiting: dict[int, _ChunkResult] = {}
    expected = 0
    for result in runner.map(mesh_chunk, jobs):
        waiting[result.index] = result
        while expected in waiting:
            yield waiting.pop(expected)
            expected += 1


def meshed_pieces(
    runner: TaskRunner,
    chunks: ChunkPlan | Sequence[DocumentChunk],
    template: ChunkJob,
    *,
    report: JobReport,
    found_ids: set[str],
    progress: Callable[[int], None] | None = None,
) -> Iterator[MeshedPiece]:
    """Meshed batches of every chunk in document order; reports merged into ``report``.

    ``chunks`` is a plan being scanned (tasks are submitted as it finds chunks) or planned
    chunks. ``template`` holds the options (its ``chunk`` is set per chunk). A chunk whose
    generated ids used a wrong count of earlier objects is read again (in this process)
    before its pieces are yielded. ``progress`` receives the top-level features done.

    Raises
    ------
    SplitWithdrawn
        The plan's scan found that the file must be read as one document; raised before
        anything is merged into ``report`` or yielded.
    """
    plan = chunks if isinstance(chunks, ChunkPlan) else None
    seen: list[DocumentChunk] = []

    def jobs() -> Iterator[ChunkJob]:
        for chunk in chunks:
            seen.append(chunk)
            yield replace(template, chunk=chunk)

    notes: list[ChunkNotes] = []
    done = 0
    for result in _in_order(runner, jobs()):
        if plan is not None and not plan.complete():  # before the first result is used
            raise SplitWithdrawn(f"{plan.path}: read as one document")
        notes.append(result.notes)
        if misplaced_chunks(seen[: len(notes)], notes)[-1:] == [result.index]:
            result = mesh_chunk(
                replace(
                    template,
                    chunk=seen[result.index],
                    position_offset=objects_before(notes, result.index),
                )
            )
            notes[-1] = result.notes
        report.merge(result.report)
        found_ids.update(result.found_ids)
        for piece in result.pieces:
            done += piece.features
            yield piece
        if progress is not None:
            progress(done)
    if seen:
        document_notes(seen[0].path, notes, report)
