"""``citymodel info``: format, version, CRS, extent, counts and attributes of inputs."""

from __future__ import annotations

import json

import click

from citymodel.cli.options import inputs_argument
from citymodel.converters.info import describe, summarise

__all__ = ["info"]


@click.command()
@inputs_argument
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--in-crs", metavar="CRS", default=None, help="CRS overriding the srsName.")
def info(inputs: tuple[str, ...], as_json: bool, in_crs: str | None) -> None:
    """Describe city model files: format/version, CRS, extent, object counts per type and LoD."""
    summary = summarise(describe(inputs, in_crs=in_crs))
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
        return
    crs = summary["crs"]
    lines = [
        f"format:      {summary['format']} {summary['version'] or ''}".rstrip(),
        f"files:       {len(summary['files'])}",
        f"srsName:     {summary['srs_name']}",
        f"CRS:         horizontal {crs['horizontal']}, vertical {crs['vertical']}",
    ]
    if summary["extent"]:
        e = summary["extent"]
        lines.append(
            f"extent:      x {e[0]:.2f}..{e[3]:.2f}, y {e[1]:.2f}..{e[4]:.2f}, z {e[2]:.2f}..{e[5]:.2f}"
        )
    counts = ", ".join(f"{k} {v}" for k, v in summary["counts"].items()) or "none"
    lines.append(f"objects:     {counts}")
    lods = ", ".join(f"LoD{k} {v}" for k, v in summary["lods"].items()) or "none"
    lines.append(f"geometry:    {lods}")
    lines.append(f"attributes:  {', '.join(summary['attribute_names']) or 'none'}")
    click.echo("\n".join(lines))
