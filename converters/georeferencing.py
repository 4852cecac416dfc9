"""The georeferencer of one input, with its CRS and operation recorded in the job report.

A small module of its own: point tiler workers need it without the meshing pipeline.
"""

from __future__ import annotations

from pathlib import Path

from citymodel.crs import Georeferencer, ResolvedCRS, VerticalMode
from citymodel.report import JobReport

__all__ = ["georeferencer"]


def georeferencer(
    resolved: ResolvedCRS, *, vertical_mode: VerticalMode, path: Path, report: JobReport
) -> Georeferencer:
    """The source CRS -> ECEF (EPSG:4978) transformation of one input.

    Its warnings go to ``report``, and ``report.crs[str(path)]`` records the source CRS and the
    operation.
    """
    georef = Georeferencer.create(resolved, vertical_mode=vertical_mode)
    for message in georef.warnings:
        report.warn(message)
    report.crs[str(path)] = {"source": resolved.to_string(), "operation": georef.description}
    return georef
