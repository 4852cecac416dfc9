"""``citymodel synthetic``: write a deterministic AdV-style CityGML city, or a LiDAR scan of it."""

from __future__ import annotations

from pathlib import Path

import click

from citymodel.synthetic import SyntheticCityOptions, write_city, write_city_tiles

__all__ = ["synthetic"]

_POINT_SUFFIXES = (".las", ".laz")


@click.command()
@click.argument("output", type=click.Path(path_type=Path))
@click.option("-n", "--buildings", default=1000, show_default=True, help="Number of buildings.")
@click.option("--seed", default=0, show_default=True, help="Random seed (same seed, same bytes).")
@click.option("--lod", type=click.Choice(["1", "2"]), default="2", show_default=True)
@click.option(
    "--citygml", "version", type=click.Choice(["1.0", "2.0"]), default="2.0", show_default=True
)
@click.option(
    "--tiles",
    is_flag=True,
    help="Write one file per 1 km tile into the OUTPUT folder (LoD2_32_<E>_<N>_1_NW.gml).",
)
@click.option(
    "--points",
    type=click.IntRange(min=1),
    default=None,
    help="Write an airborne LiDAR scan of the city with this many points (OUTPUT .las/.laz).",
)
@click.option(
    "--point-format",
    type=click.Choice(["3", "6", "7"]),
    default="7",
    show_default=True,
    help="LAS point format of --points: 7 (LAS 1.4, RGB), 6 (LAS 1.4), 3 (LAS 1.2, RGB).",
)
@click.option(
    "--no-crs", is_flag=True, help="Write the point cloud without CRS (to test --in-crs)."
)
def synthetic(
    output: Path,
    buildings: int,
    seed: int,
    lod: str,
    version: str,
    tiles: bool,
    points: int | None,
    point_format: str,
    no_crs: bool,
) -> None:
    """Generate a synthetic city (EPSG:25832 + DHHN2016 near Köln) as CityGML; .gz compresses.

    With --points and a .las/.laz OUTPUT, write a LiDAR scan of the same city instead (same
    --buildings and --seed give the same buildings and terrain).
    """
    is_points = output.name.lower().endswith(_POINT_SUFFIXES)
    if is_points != (points is not None):
        raise click.UsageError(
            "--points N writes a point cloud and needs a .las or .laz OUTPUT"
            if points is not None
            else f"{output.name}: give --points N to write a point cloud"
        )
    try:
        options = SyntheticCityOptions(
            n_buildings=buildings,
            seed=seed,
            lod=int(lod),  # type: ignore[arg-type]  # validated by click.Choice
            version=version,  # type: ignore[arg-type]
        )
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    if points is not None:
        _write_points(output, options, points, int(point_format), no_crs=no_crs, tiles=tiles)
    elif tiles:
        paths = write_city_tiles(output, options)
        click.echo(f"{output}: {len(paths)} tiles, {buildings} buildings", err=True)
    else:
        summary = write_city(output, options)
        click.echo(
            f"{summary.path}: {summary.n_buildings} buildings, {summary.n_parts} parts, "
            f"{summary.bytes / 1e6:.1f} MB",
            err=True,
        )


def _write_points(
    output: Path,
    city: SyntheticCityOptions,
    n_points: int,
    point_format: int,
    *,
    no_crs: bool,
    tiles: bool,
) -> None:
    from citymodel.synthetic_points import SyntheticPointCloudOptions, write_point_cloud

    if tiles:
        raise click.UsageError("--tiles writes CityGML tiles; it cannot be combined with --points")
    options = SyntheticPointCloudOptions(
        n_points=n_points,
        city=city,
        point_format=point_format,  # type: ignore[arg-type]  # validated by click.Choice
        crs=None if no_crs else SyntheticPointCloudOptions().crs,
    )
    summary = write_point_cloud(output, options)
    classes = ", ".join(f"{c}: {n:,}" for c, n in summary.classes.items())
    click.echo(
        f"{summary.path}: {summary.n_points:,} points ({classes}), {summary.bytes / 1e6:.1f} MB",
        err=True,
    )
