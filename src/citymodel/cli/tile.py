"""``citymodel tile``: city model files to a 3D Tiles tileset (folder or .3tz archive)."""

from __future__ import annotations

from pathlib import Path

import click

from citymodel.cli.options import (
    crs_options,
    inputs_argument,
    job_report,
    lod_option,
    report_options,
    types_option,
)
from citymodel.cli.progress import ProgressLine
from citymodel.tiler.build import TileOptions, build_tileset, default_jobs

__all__ = ["tile"]


@click.command()
@inputs_argument
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Output folder (tileset.json and contents), or a .3tz file for a 3D Tiles archive.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: the CPUs available).",
)
@click.option(
    "--implicit",
    is_flag=True,
    help="Implicit tiling (quadtree subtrees, 3D Tiles 1.1) instead of an explicit tree.",
)
@click.option(
    "--tiles-version",
    type=click.Choice(["1.1", "1.0"]),
    default="1.1",
    show_default=True,
    help="1.1: glTF contents with EXT_mesh_features/EXT_structural_metadata; "
    "1.0: b3dm contents with batch tables.",
)
@click.option(
    "--compress",
    type=click.Choice(["none", "meshopt"]),
    default="none",
    show_default=True,
    help="Geometry compression: meshopt = positions on a 16-bit grid (error <= 1 cm), 8-bit "
    "normals, EXT_meshopt_compression (needs: pip install 'citymodel[compress]').",
)
@lod_option
@types_option
@crs_options
@report_options
def tile(
    inputs: tuple[str, ...],
    output: Path,
    jobs: int | None,
    implicit: bool,
    tiles_version: str,
    compress: str,
    lod: str | None,
    types: tuple[str, ...] | None,
    in_crs: str | None,
    vertical_mode: str,
    grids: tuple[Path, ...],
    report_path: Path | None,
    strict: bool,
) -> None:
    """Tile INPUT files (CityGML .gml/.xml/.gml.gz/.zip) into a georeferenced 3D Tiles tileset."""
    if implicit and tiles_version != "1.1":
        raise click.BadParameter(
            "implicit tiling needs --tiles-version 1.1", param_hint="--implicit"
        )
    options = TileOptions(
        jobs=jobs if jobs is not None else default_jobs(),
        implicit=implicit,
        tiles_version=tiles_version,  # type: ignore[arg-type]  # validated by click.Choice
        in_crs=in_crs,
        vertical_mode=vertical_mode,  # type: ignore[arg-type]
        grids=grids,
        lod=lod,
        types=types,
        strict=strict,
        compress=compress,  # type: ignore[arg-type]  # validated by click.Choice
    )
    with job_report(report_path, strict=strict) as report, ProgressLine("tile") as progress:
        build_tileset(list(inputs), output, options=options, report=report, progress=progress.stage)
    summary = report.extra["tiling"]
    click.echo(
        f"{output}: {summary['buildings']['written']} of {summary['buildings']['in']} buildings "
        f"in {summary['tiles']['with_content']} tiles, "
        f"{summary['bytes']['total'] / 1e6:.1f} MB, {len(report.skipped)} skipped",
        err=True,
    )
    packed = summary["compression"]
    if packed["method"] != "none" and packed["per_building"] is not None:
        click.echo(
            f"{packed['method']}: {packed['per_building']:.0f} content bytes per building "
            f"(uncompressed {packed['per_building_uncompressed']:.0f}, "
            f"{100 * packed['ratio']:.0f} %)",
            err=True,
        )
