"""Step 0 of the point tiler: header, CRS, georeferencer and attributes of each input file.

Runs on the workers, one task per file. Kept apart from :mod:`citymodel.tiler.points.build`
so that a worker process imports only what the point tasks use (the reader, PROJ, numpy),
not the city model tiler the build module also knows (about half of a worker's start-up).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from citymodel.converters.georeferencing import georeferencer
from citymodel.crs import ResolvedCRS, VerticalMode
from citymodel.errors import InputError
from citymodel.report import JobReport
from citymodel.tiler.points.records import RecordLayout

__all__ = [
    "ScanSettings",
    "ScanTask",
    "Scanned",
    "ScannedInput",
    "prime_worker",
    "scan_file",
    "scan_task",
]

log = logging.getLogger(__name__)

_HEADER_SAMPLES = 9
"""Samples per header-bounds edge: the cube must hold the curved image of the header box."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanSettings:
    """What the scan needs of the tiling options (see ``PointTileOptions``)."""

    in_crs: str | None = None
    vertical_mode: VerticalMode = "auto"
    extra_dims: tuple[str, ...] = ()
    strict: bool = False


@dataclass(frozen=True, slots=True)
class ScannedInput:
    """One input file as the scan found it.

    Attributes
    ----------
    path, count
        The file and its number of points.
    source
        Its CRS (after ``--in-crs``).
    layout
        The attributes its points carry.
    grids
        Grid files its georeferencing uses.
    samples
        (N, 3) ECEF metres (EPSG:4978) of the header box lattice and the first point.
    color_depth
        The colour depth the scan found (LAS-2), for the readers of pass 1 (they need not
        sample it again, and every range is read alike); ``"auto"`` when there is none.
    """

    path: Path
    count: int
    source: ResolvedCRS
    layout: RecordLayout
    grids: tuple[str, ...]
    samples: np.ndarray[Any, np.dtype[np.float64]]
    color_depth: Literal["auto", 8, 16] = "auto"


def _header_lattice(bounds: Sequence[float]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Points on the top and bottom faces of a header box (source CRS units)."""
    x0, y0, z0, x1, y1, z1 = (float(v) for v in bounds)
    xs = np.linspace(x0, x1, _HEADER_SAMPLES)
    ys = np.linspace(y0, y1, _HEADER_SAMPLES)
    gx, gy = np.meshgrid(xs, ys)
    flat = np.c_[gx.ravel(), gy.ravel()]
    return np.concatenate([np.c_[flat, np.full(len(flat), z)] for z in (z0, z1)])


def scan_file(path: Path, settings: ScanSettings, report: JobReport) -> ScannedInput | None:
    """Header, CRS, georeferencer and attributes of one file (None: it holds no points)."""
    from citymodel.converters.las import open_point_cloud

    report.inputs.append(str(path))
    with open_point_cloud(path) as reader:
        for message in reader.warnings:
            report.warn(message)
        if reader.point_count == 0:
            report.warn(f"{path}: the file holds no points")
            return None
        missing = [d for d in settings.extra_dims if d not in reader.dimensions()]
        if missing:
            raise InputError(
                f"no dimension {', '.join(map(repr, missing))} for --extra-dims; available: "
                f"{', '.join(reader.dimensions()) or 'none'}",
                path=path,
            )
        source = reader.crs(in_crs=settings.in_crs, report=report)
        georef = georeferencer(
            source, vertical_mode=settings.vertical_mode, path=path, report=report
        )
        first = next(iter(reader.read(0, 1, extra_dims=settings.extra_dims)), None)
        if first is None:
            raise InputError("the first point record cannot be read", path=path)
        # Where the points are: the header box, and the first point in case the header
        # is unusable (a wrong header only costs a second spill, see the build's spill step).
        samples = first.xyz
        bounds = reader.header_bounds()
        if all(math.isfinite(v) for v in bounds) and all(
            bounds[i] <= bounds[i + 3] for i in range(3)
        ):
            samples = np.concatenate([samples, _header_lattice(bounds)])
        samples = georef.to_ecef(samples)
        samples = samples[np.isfinite(samples).all(axis=1)]
        depth = reader.color_depth()
        return ScannedInput(
            path=path,
            count=reader.point_count,
            source=source,
            layout=RecordLayout.of_chunk(first),
            grids=georef.grids,
            samples=samples,
            color_depth="auto" if depth is None else depth,
        )


@dataclass(frozen=True, slots=True)
class ScanTask:
    """One file to scan; ``number`` orders the results."""

    number: int
    path: Path
    settings: ScanSettings


@dataclass(frozen=True, slots=True)
class Scanned:
    """The scan of one file and its own report."""

    number: int
    item: ScannedInput | None
    report: JobReport


def scan_task(task: ScanTask) -> Scanned:
    """Worker side of the scan: one file, with its own report (merged in input order)."""
    report = JobReport(strict=task.settings.strict)
    return Scanned(task.number, scan_file(task.path, task.settings, report), report)


def prime_worker(paths: tuple[Path, ...]) -> int:
    """Warm a worker up while the job scans the files itself (see the build's scan step).

    Reads what every pass-1 task of these files needs once per process and keeps it in the
    reader's per-process cache: the LAZ chunk table (the colour depth comes with the tasks,
    from the scan). Returns the worker's process id. Never raises: a file that cannot be
    read is reported by the scan, not here.
    """
    from citymodel.converters.las import open_point_cloud

    for path in paths:
        try:
            # Any fixed colour depth: this point is thrown away, and nothing is sampled.
            with open_point_cloud(path, color_depth=16) as reader:
                next(iter(reader.read(0, min(1, reader.point_count))), None)
        except Exception:  # only a warm-up: the scan reports the problem
            log.debug("warm-up of %s failed", path, exc_info=True)
    return os.getpid()
