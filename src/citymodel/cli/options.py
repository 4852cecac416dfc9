"""Options shared by several commands (same name, same meaning everywhere)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from citymodel.report import JobReport

if TYPE_CHECKING:
    from citymodel.converters.selection import BBox2D, FeatureSelection
    from citymodel.tiler.replace import ReplaceRule

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "crs_options",
    "feature_selection",
    "inputs_argument",
    "job_report",
    "lod_option",
    "origin_option",
    "reader_options",
    "replace_options",
    "replace_rules",
    "report_options",
    "selection_options",
    "theme_option",
    "theme_reader_options",
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
    from citymodel.formats import supported_types

    known = supported_types()  # types some registered format reads
    names = tuple(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
    # IFC classes (IfcWall, IfcSlab ...) are checked by the IFC reader against the file's schema;
    # CityJSON extension types start with "+"
    unknown = [
        t for t in names if t not in known and not _IFC_CLASS.fullmatch(t) and not t.startswith("+")
    ]
    if not names or unknown:
        raise click.BadParameter(
            f"{', '.join(unknown) or 'nothing given'}: types read so far: {', '.join(known)}"
        )
    return names


_IFC_CLASS = re.compile(r"Ifc[A-Z][A-Za-z0-9]*")


def types_option(f: F) -> F:
    """``--types Building,...``: the top-level object types to convert (default: all read)."""
    return click.option(
        "--types",
        default=None,
        callback=_parse_types,
        metavar="TYPE,...",
        help="Top-level object types to convert, comma-separated (default: all that are read); "
        "IFC classes such as IfcWall,IfcSlab for IFC input (subclasses included).",
    )(f)


def _parse_bbox(ctx: click.Context, param: click.Parameter, value: str | None) -> BBox2D | None:
    if value is None:
        return None
    from citymodel.converters.selection import BBox2D
    from citymodel.errors import CRSError

    try:
        return BBox2D.parse(value)
    except (ValueError, CRSError) as err:
        raise click.BadParameter(str(err)) from err


def _parse_ids(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> frozenset[str] | None:
    if value is None:
        return None
    ids = frozenset(i.strip() for i in value.split(",") if i.strip())
    if not ids:
        raise click.BadParameter("no id given")
    return ids


def selection_options(f: F) -> F:
    """``--bbox``, ``--ids`` and ``--ids-file``: which top-level objects to convert."""
    f = click.option(
        "--ids-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="File with the ids of the objects to convert, one per line (# comments).",
    )(f)
    f = click.option(
        "--ids",
        default=None,
        callback=_parse_ids,
        metavar="ID,...",
        help="Convert only these objects (gml:id of a Building or of one of its parts).",
    )(f)
    f = click.option(
        "--bbox",
        default=None,
        callback=_parse_bbox,
        metavar="XMIN,YMIN,XMAX,YMAX[,CRS]",
        help="Convert only objects whose extent intersects this box; in the source CRS, or "
        "in the CRS given last (x/east/longitude first, e.g. 6.95,50.93,6.96,50.94,EPSG:4326).",
    )(f)
    return f


def feature_selection(
    bbox: BBox2D | None, ids: frozenset[str] | None, ids_file: Path | None
) -> FeatureSelection:
    """The :class:`~citymodel.converters.selection.FeatureSelection` of the selection options."""
    from citymodel.converters.selection import FeatureSelection, read_ids_file

    if ids_file is not None:
        listed = read_ids_file(ids_file)
        ids = listed if ids is None else ids | listed
    return FeatureSelection(bbox=bbox, ids=ids)


def _parse_origin(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    from citymodel.converters.ifc import parse_origin

    try:
        return parse_origin(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err


def origin_option(f: F) -> F:
    """``--origin X,Y,Z[,ROTATION]``: where an IFC model without georeferencing goes."""
    return click.option(
        "--origin",
        default=None,
        callback=_parse_origin,
        metavar="X,Y,Z[,ROTATION]",
        help="IFC input: the --in-crs coordinates of the model's origin and the angle (degrees, "
        "counter-clockwise) from grid east to its x axis; overrides the file's georeferencing.",
    )(f)


def reader_options(
    origin: tuple[float, float, float, float] | None,
    in_crs: str | None,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> tuple[tuple[str, Any], ...]:
    """Reader options of ``--origin`` (which needs ``--in-crs`` and an IFC file among ``inputs``).

    Readers of other formats ignore ``origin`` (a city tiled with an IFC design passes it to
    both), so an ``--origin`` that no input can use is refused here instead.
    """
    if origin is None:
        return ()
    if in_crs is None:
        raise click.UsageError(
            "--origin needs --in-crs, the CRS of the origin (e.g. --in-crs EPSG:25832+7837)"
        )
    from citymodel.formats import format_for
    from citymodel.sources import expand_inputs

    if not any(format_for(path).name == "ifc" for path in expand_inputs(list(inputs))):
        raise click.UsageError("--origin applies to IFC input only, and no input is an IFC file")
    return (("origin", origin),)


def theme_option(f: F) -> F:
    """``--theme NAME``: the appearance theme whose materials and textures are written."""
    return click.option(
        "--theme",
        default=None,
        metavar="NAME",
        help="Appearance theme to texture with (CityGML app:theme, CityJSON theme); default: "
        "the first theme in the input (`citymodel info` lists them). CityJSON and CityGML "
        "outputs keep every theme and name this one the default.",
    )(f)


def theme_reader_options(theme: str | None, *, all_themes: bool) -> tuple[tuple[str, Any], ...]:
    """Reader options of ``--theme``.

    ``all_themes``: keep every appearance theme on the features (interchange outputs); False
    reads only the rendered one (meshes and tiles), which skips parsing the others.
    """
    chosen = () if theme is None else (("theme", theme),)
    return (*chosen, ("all_themes", all_themes))


def replace_options(f: F) -> F:
    """``--replace FILE`` (repeatable), ``--replace-ids`` and ``--replace-overlap``."""
    f = click.option(
        "--replace-overlap",
        type=click.FloatRange(0.0, 1.0, min_open=True),
        default=0.5,
        show_default=True,
        help="Share of a city building's own footprint that the model must cover to replace it.",
    )(f)
    f = click.option(
        "--replace-ids",
        default=None,
        callback=_parse_ids,
        metavar="ID,...",
        help="Replace these city buildings (gml:id) instead of those under the model's footprint.",
    )(f)
    f = click.option(
        "--replace",
        "replace",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="A model (e.g. design.ifc) tiled in place of the city buildings under its "
        "footprint (repeatable); the report lists the buildings replaced.",
    )(f)
    return f


def replace_rules(
    replace: tuple[Path, ...], replace_ids: frozenset[str] | None, overlap: float
) -> tuple[ReplaceRule, ...]:
    """The replace rules of the ``replace_options``."""
    from citymodel.tiler.replace import ReplaceRule

    if replace_ids is None:
        return tuple(ReplaceRule(source=p, min_overlap=overlap) for p in replace)
    names = ", ".join(p.name for p in replace) or None
    return (
        ReplaceRule(ids=replace_ids, name=names),
        *(ReplaceRule(source=p, ids=frozenset()) for p in replace),
    )
