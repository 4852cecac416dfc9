"""Options shared by several commands (same name, same meaning everywhere)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from citymodel.report import JobReport

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "crs_options",
    "inputs_argument",
    "job_report",
    "lod_option",
    "report_options",
    "types_option",
]


def inputs_argument(f: F) -> F:
    """``INPUT...``: files, folders (recursive) or glob patterns."""
    return click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")(f)


def crs_options(f: F) -> F:
    """``--in-crs``, ``--vertical-mode`` and ``--grids``."""
    f = click.option(
        "--grids",
        "grids",
        multiple=True,
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="Folder with extra PROJ grid files (repeatable). GCG2016 and BETA2007 are built in.",
    )(f)
    f = click.option(
        "--vertical-mode",
        type=click.Choice(["auto", "ellipsoidal-as-is"]),
        default="auto",
        show_default=True,
        help="auto: convert heights to ellipsoidal with the geoid grid; "
        "ellipsoidal-as-is: take z as ellipsoidal heights.",
    )(f)
    f = click.option(
        "--in-crs",
        metavar="CRS",
        default=None,
        help="CRS of the input, overriding its srsName (e.g. EPSG:25832+7837, "
        "urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH).",
    )(f)
    return f


def report_options(f: F) -> F:
    """``--report FILE`` and ``--strict``."""
    f = click.option("--strict", is_flag=True, help="Fail instead of skipping bad features.")(f)
    f = click.option(
        "--report",
        "report_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write a JSON job report (counts, skipped features with reasons).",
    )(f)
    return f


@contextmanager
def job_report(report_path: Path | None, *, strict: bool) -> Iterator[JobReport]:
    """The report of a job (``--strict``), written to ``--report`` however the job ends."""
    report = JobReport(strict=strict)
    try:
        yield report
    finally:
        if report_path is not None:
            report.write(report_path)


def lod_option(f: F) -> F:
    """``--lod``: the level of detail to use (default: each object's highest)."""
    return click.option(
        "--lod", default=None, help="Level of detail to convert (default: highest per object)."
    )(f)


def _parse_types(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, ...] | None:
    if value is None:
        return None
    from citymodel.converters.citygml import SUPPORTED_TYPES

    names = tuple(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
    unknown = [t for t in names if t not in SUPPORTED_TYPES]
    if not names or unknown:
        raise click.BadParameter(
            f"{', '.join(unknown) or 'nothing given'}: types read so far: {', '.join(SUPPORTED_TYPES)}"
        )
    return names


def types_option(f: F) -> F:
    """``--types Building,...``: the top-level object types to convert (default: all read)."""
    return click.option(
        "--types",
        default=None,
        callback=_parse_types,
        metavar="TYPE,...",
        help="Top-level object types to convert, comma-separated (default: all that are read).",
    )(f)
