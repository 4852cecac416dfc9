"""``citymodel info``: format, version, CRS, extent, counts and attributes of inputs."""

from __future__ import annotations

import json
from typing import Any

import click

from citymodel.cli.options import inputs_argument, origin_option, reader_options
from citymodel.converters.info import describe, summarise

__all__ = ["info"]


@click.command()
@inputs_argument
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--in-crs", metavar="CRS", default=None, help="CRS overriding the srsName.")
@origin_option
def info(
    inputs: tuple[str, ...],
    as_json: bool,
    in_crs: str | None,
    origin: tuple[float, float, float, float] | None,
) -> None:
    """Describe city model and point cloud files: format/version, CRS, extent, counts.

    For LAS/LAZ/COPC also the point format, colours, scale, extra dimensions, points per class
    (one pass over the points) and whether the header bounds are tight.
    """
    summary = summarise(
        describe(inputs, in_crs=in_crs, reader_options=reader_options(origin, in_crs, inputs))
    )
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
    points = summary["points"]
    if points is None or summary["lods"] or summary["attribute_names"]:
        lods = ", ".join(f"LoD{k} {v}" for k, v in summary["lods"].items()) or "none"
        lines.append(f"geometry:    {lods}")
        lines.append(f"attributes:  {', '.join(summary['attribute_names']) or 'none'}")
    if points is not None:
        lines.extend(_point_lines(points))
    if summary["ifc"] is not None:
        lines.extend(_ifc_lines(summary["ifc"], summary["georeferencing"]))
    if summary.get("appearance_themes"):
        themes = ", ".join(
            repr(t) if t else "'' (no theme name)" for t in summary["appearance_themes"]
        )
        lines.append(f"themes:      {themes}")
    if summary["notes"]:
        lines.append("notes:")
        lines.extend(f"  - {note}" for note in summary["notes"])
    click.echo("\n".join(lines))


def _point_lines(points: dict[str, Any]) -> list[str]:
    """Point-cloud facts: formats, colours, scale, extra dimensions, classes, header bounds."""
    formats = ", ".join(str(f) for f in points["point_formats"])
    color = points["color"] or "no"
    scale = points["scale"]
    scale_text = " ".join(f"{v:g}" for v in scale) if isinstance(scale, tuple) else "differs"
    classes = ", ".join(f"{c}: {n:,}" for c, n in points["classes"].items()) or "none"
    tight = points["header_bounds_not_tight"]
    return [
        f"point format: {formats}; colours: {color}; scale: {scale_text}",
        f"extra dims:  {', '.join(points['extra_dimensions']) or 'none'}",
        f"classes:     {classes}",
        "header bounds: "
        + ("tight" if not tight else f"not tight in {tight} of {points['files']} file(s)"),
    ]


def _georef_line(georef: dict[str, Any]) -> str:
    if georef.get("method") is None:
        return f"georef:      none ({georef.get('error', 'not found')})"
    text = (
        f"georef:      {georef['method']}{' (approximate)' if georef.get('approximate') else ''}, "
        f"CRS {georef.get('crs') or georef.get('crs_name')}, E {georef['eastings']:.3f} "
        f"N {georef['northings']:.3f} H {georef['orthogonal_height']:.3f}, rotation "
        f"{georef['rotation_deg']:.4f} deg, scale {georef['scale']:g} ({georef['scale_source']})"
    )
    return text


def _ifc_lines(ifc: dict[str, Any], georef: Any) -> list[str]:
    """IFC facts: schema, length unit, georeferencing, storeys, elements by class."""
    units = ifc["units"]
    length = units.get("length", {}).get("name") if isinstance(units, dict) else "differs"
    lines = [f"IFC schema:  {ifc['schema']}; length unit: {length}"]
    entries = georef if isinstance(georef, list) else [georef]
    lines.extend(_georef_line(entry) for entry in entries if entry is not None)
    storeys = ifc["storeys"]
    if isinstance(storeys, list) and all(isinstance(s, dict) for s in storeys):
        names = ", ".join(
            f"{s['name']} ({s['elevation_m']:g} m)"
            if s["elevation_m"] is not None
            else str(s["name"])
            for s in storeys
        )
        lines.append(f"storeys:     {names or 'none'}")
    return lines
