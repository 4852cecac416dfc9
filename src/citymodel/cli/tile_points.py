"""The point cloud side of ``citymodel tile``: its options and the run of the point tiler.

``citymodel tile`` decides by the inputs' content: LAS/LAZ/COPC files go to
:func:`citymodel.tiler.points.build.build_point_tileset`, city models to the city model
tiler; one run takes one kind (:func:`choose_tiler`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from citymodel.report import JobReport
from citymodel.sources import split_point_inputs

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "choose_tiler",
    "point_options",
    "refuse_city_options",
    "refuse_point_options",
    "tile_points",
]

_SHOWN = 3


def _parse_classes(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        codes = tuple(dict.fromkeys(int(v) for v in value.split(",") if v.strip()))
    except ValueError:
        raise click.BadParameter(f"{value!r}: give class codes like 2,6") from None
    if not codes or any(not 0 <= c <= 255 for c in codes):
        raise click.BadParameter(f"{value!r}: class codes are 0..255, e.g. 2,6")
    return codes


def _parse_names(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    names = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    if not names:
        raise click.BadParameter(f"{value!r}: give dimension names like gps_time,Amplitude")
    return names


def point_options(f: F) -> F:
    """``--classes``, ``--points-per-tile`` and ``--extra-dims`` (point clouds only)."""
    f = click.option(
        "--extra-dims",
        default=None,
        callback=_parse_names,
        metavar="NAME,...",
        help="Point clouds: extra dimensions to carry into the tiles (ExtraBytes or LAS "
        "fields such as gps_time), comma-separated.",
    )(f)
    f = click.option(
        "--points-per-tile",
        type=click.IntRange(min=1000),
        default=None,
        help="Point clouds: most points in a leaf tile [default: 50000].",
    )(f)
    f = click.option(
        "--classes",
        default=None,
        callback=_parse_classes,
        metavar="CODE,...",
        help="Point clouds: keep only these classification codes (e.g. 2,6 = ground and "
        "buildings).",
    )(f)
    return f


def _names(paths: Sequence[Path]) -> str:
    shown = ", ".join(p.name for p in paths[:_SHOWN])
    return shown + (f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else "")


def choose_tiler(inputs: Sequence[str]) -> tuple[str, list[Path]]:
    """``("points", files)`` when every input is a point cloud, else ``("features", [])``.

    Raises
    ------
    click.UsageError
        When point clouds and city models are mixed in one run.
    """
    points, others = split_point_inputs(list(inputs))
    if points and others:
        raise click.UsageError(
            f"the inputs mix point clouds ({_names(points)}) and city models "
            f"({_names(others)}); tile them in separate runs, e.g. -o out/lidar and "
            "-o out/buildings"
        )
    return ("points", points) if points else ("features", [])


def refuse_point_options(
    classes: tuple[int, ...] | None, points_per_tile: int | None, extra_dims: Sequence[str]
) -> None:
    """Point-cloud options given for city model inputs are an error, not silently ignored."""
    given = [
        name
        for name, used in (
            ("--classes", classes is not None),
            ("--points-per-tile", points_per_tile is not None),
            ("--extra-dims", bool(extra_dims)),
        )
        if used
    ]
    if given:
        raise click.UsageError(f"{', '.join(given)}: only for point cloud inputs (LAS/LAZ)")


def refuse_city_options(given: Mapping[str, bool]) -> None:
    """City-model options given for point clouds are an error, not silently ignored."""
    names = [name for name, used in given.items() if used]
    if names:
        raise click.UsageError(
            f"{', '.join(names)}: not for point cloud inputs (they apply to city models)"
        )


def tile_points(
    paths: Sequence[Path],
    output: Path,
    *,
    options: Mapping[str, Any],
    report: JobReport,
    progress: Callable[[str, int, int], None],
) -> None:
    """Run the point tiler and print its one-line summary to stderr."""
    from citymodel.tiler.points.build import PointTileOptions, build_point_tileset

    chosen = {k: v for k, v in options.items() if v is not None}
    build_point_tileset(
        list(paths),
        output,
        options=PointTileOptions(**chosen),
        report=report,
        progress=progress,
    )
    summary = report.extra["tiling"]
    points = summary["points"]
    skipped = f", {points['skipped']:,} not georeferenced" if points["skipped"] else ""
    click.echo(
        f"{output}: {points['written']:,} of {points['in']:,} points in "
        f"{summary['tiles']['with_content']} tiles, {summary['bytes']['total'] / 1e6:.1f} MB"
        f"{skipped}",
        err=True,
    )
