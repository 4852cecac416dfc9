"""``citymodel combine``: one root tileset over tilesets of the same place (buildings + points)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["combine"]


def _tileset_json(path: Path) -> Path:
    return path / "tileset.json" if path.is_dir() else path


@click.command()
@click.argument("tilesets", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Root tileset.json to write (a folder gets tileset.json); the TILESETS must lie below "
    "its folder.",
)
def combine(tilesets: tuple[Path, ...], output: Path) -> None:
    r"""Write a root tileset.json over TILESETS (folders or tileset.json files) as external tilesets.

    A viewer then streams e.g. a building tileset and a LiDAR point tileset of one city as one
    scene; each keeps its own transform, refinement and contents.

    \b
    Example:
      citymodel tile city.gml -o out/buildings
      citymodel tile scan.laz -o out/points
      citymodel combine out/buildings out/points -o out
    """
    from citymodel.tiler.combine import combine_tilesets

    target = output if output.suffix == ".json" else output / "tileset.json"
    children: dict[str, Path] = {}
    for path in tilesets:
        child = _tileset_json(path)
        if child.resolve() in {c.resolve() for c in children.values()}:
            raise click.BadParameter(f"{path} is given twice", param_hint="TILESETS")
        children[str(path)] = child
    combine_tilesets(target, children)
    click.echo(f"{target}: {len(children)} tilesets", err=True)
