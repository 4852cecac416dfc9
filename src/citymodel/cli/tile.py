"""``citymodel tile``: city model files to a 3D Tiles tileset (folder or .3tz archive)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from citymodel.cli.execution import execution_options, resolve_executor
from citymodel.cli.options import (
    crs_options,
    inputs_argument,
    job_report,
    lod_option,
    origin_option,
    reader_options,
    replace_options,
    replace_rules,
    report_options,
    theme_option,
    theme_reader_options,
    types_option,
)
from citymodel.cli.progress import ProgressLine
from citymodel.cli.texture_options import texture_encoding, texture_options
from citymodel.cli.tile_points import (
    choose_tiler,
    point_options,
    refuse_city_options,
    refuse_point_options,
    tile_points,
)
from citymodel.remote import is_url
from citymodel.sources import POINT_SUFFIXES
from citymodel.tiler._pool import default_jobs, start_fork_server

__all__ = ["tile"]


@click.command()
@inputs_argument
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=str),
    help="Output folder (tileset.json and contents), or a .3tz file for a 3D Tiles archive; "
    "also an fsspec URL (s3://bucket/tiles/city), uploaded when complete, tileset.json last "
    "(needs: pip install 'citymodel[cloud]').",
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
    help="Implicit tiling (quadtree subtrees, octree for point clouds; 3D Tiles 1.1) instead "
    "of an explicit tree.",
)
@click.option(
    "--tiles-version",
    type=click.Choice(["1.1", "1.0"]),
    default="1.1",
    show_default=True,
    help="1.1: glTF contents with EXT_mesh_features/EXT_structural_metadata; "
    "1.0: b3dm (point clouds: pnts) contents with batch tables.",
)
@click.option(
    "--compress",
    type=click.Choice(["none", "meshopt", "draco"]),
    default="none",
    show_default=True,
    help="Geometry compression: meshopt = positions on a 16-bit grid (error <= 1 cm), 8-bit "
    "normals, EXT_meshopt_compression; draco = KHR_draco_mesh_compression (error <= 1 cm). "
    "Both need: pip install 'citymodel[compress]'.",
)
@click.option(
    "--atlas-size",
    type=click.IntRange(64, 16384),
    default=4096,
    show_default=True,
    help="Texture pixel budget per tile content: its atlas and images hold at most SIZE x SIZE "
    "pixels (larger sources are scaled down).",
)
@texture_options
@execution_options
@lod_option
@types_option
@crs_options
@origin_option
@theme_option
@replace_options
@point_options
@report_options
def tile(
    inputs: tuple[str, ...],
    output: str,
    jobs: int | None,
    implicit: bool,
    tiles_version: str,
    compress: str,
    atlas_size: int,
    texture_format: str,
    ktx2_codec: str,
    executor: str | None,
    scheduler: str | None,
    scratch_dir: Path | None,
    lod: str | None,
    types: tuple[str, ...] | None,
    in_crs: str | None,
    vertical_mode: str,
    grids: tuple[Path, ...],
    origin: tuple[float, float, float, float] | None,
    theme: str | None,
    replace: tuple[Path, ...],
    replace_ids: frozenset[str] | None,
    replace_overlap: float,
    classes: tuple[int, ...] | None,
    points_per_tile: int | None,
    extra_dims: tuple[str, ...],
    report_path: Path | None,
    strict: bool,
) -> None:
    """Tile INPUT files (CityGML .gml/.xml/.gml.gz/.zip, IFC .ifc; or LAS/LAZ/COPC point clouds) into a georeferenced 3D Tiles tileset."""
    if implicit and tiles_version != "1.1":
        raise click.BadParameter(
            "implicit tiling needs --tiles-version 1.1", param_hint="--implicit"
        )
    remote_inputs = any(is_url(text) for text in inputs)
    run_on = resolve_executor(executor, scheduler)
    if not remote_inputs:
        _start_point_workers(inputs, jobs, run_on)
    kind, point_paths = ("features", []) if remote_inputs else choose_tiler(inputs)
    if kind == "points":
        if is_url(output):
            raise click.BadParameter(
                "point cloud tilesets are written to local folders (upload them afterwards)",
                param_hint="--output",
            )
        refuse_city_options(
            {
                "--lod": lod is not None,
                "--types": types is not None,
                "--compress": compress != "none",
                "--texture-format": texture_format != "auto",
                "--origin": origin is not None,
                "--replace": bool(replace),
            }
        )
        point_settings = {
            "jobs": jobs,
            "executor": run_on,
            "scheduler": scheduler,
            "scratch_dir": scratch_dir,
            "tiles_version": tiles_version,
            "implicit": implicit,
            "in_crs": in_crs,
            "vertical_mode": vertical_mode,
            "grids": grids,
            "classes": classes,
            "extra_dims": extra_dims,
            "points_per_tile": points_per_tile,
            "strict": strict,
        }
        with job_report(report_path, strict=strict) as report, ProgressLine("tile") as progress:
            tile_points(
                point_paths,
                Path(output),
                options=point_settings,
                report=report,
                progress=progress.stage,
            )
        return
    refuse_point_options(classes, points_per_tile, extra_dims)
    from citymodel.tiler.build import TileOptions, build_tileset  # not for point clouds

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
        reader_options=reader_options(origin, in_crs, [*inputs, *replace])
        + theme_reader_options(theme, all_themes=False),
        compress=compress,  # type: ignore[arg-type]  # validated by click.Choice
        atlas_size=atlas_size,
        textures=texture_encoding(texture_format, ktx2_codec),
        executor=run_on,
        scheduler=scheduler,
        scratch_dir=scratch_dir,
        replace=replace_rules(replace, replace_ids, replace_overlap),
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
    if "replaced" in report.extra:
        replaced = report.extra["replaced"]
        by = sorted({r["by"] for r in replaced})
        shown = ", ".join(r["id"] for r in replaced[:5]) + (", ..." if len(replaced) > 5 else "")
        click.echo(
            f"replaced {len(replaced)} building{'s' if len(replaced) != 1 else ''}"
            + (f" by {', '.join(by)}: {shown}" if replaced else ""),
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


def _start_point_workers(inputs: Sequence[str], jobs: int | None, executor: str) -> None:
    """Start the point workers' fork server at once when the inputs look like point clouds.

    Judged by file name only (``.las``/``.laz``), before the inputs are recognised by content
    and the tiler is imported: the fork server's imports (about 0.8 s) then overlap this
    process's. A wrong guess costs nothing but that idle process (mixed or unreadable inputs
    stop the job anyway).
    """
    if executor != "local" or (jobs if jobs is not None else default_jobs()) < 2:
        return
    if inputs and all(Path(text).suffix.lower() in POINT_SUFFIXES for text in inputs):
        from citymodel.tiler.points import WORKER_MODULES

        start_fork_server(WORKER_MODULES)
