"""``citymodel synthetic``: write a deterministic AdV-style CityGML city for tests and demos."""

from __future__ import annotations

from pathlib import Path

import click

from citymodel.synthetic import SyntheticCityOptions, write_city, write_city_tiles

__all__ = ["synthetic"]


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
def synthetic(output: Path, buildings: int, seed: int, lod: str, version: str, tiles: bool) -> None:
    """Generate a synthetic city (EPSG:25832 + DHHN2016 near Köln) as CityGML; .gz compresses."""
    try:
        options = SyntheticCityOptions(
            n_buildings=buildings,
            seed=seed,
            lod=int(lod),  # type: ignore[arg-type]  # validated by click.Choice
            version=version,  # type: ignore[arg-type]
        )
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    if tiles:
        paths = write_city_tiles(output, options)
        click.echo(f"{output}: {len(paths)} tiles, {buildings} buildings", err=True)
    else:
        summary = write_city(output, options)
        click.echo(
            f"{summary.path}: {summary.n_buildings} buildings, {summary.n_parts} parts, "
            f"{summary.bytes / 1e6:.1f} MB",
            err=True,
        )
