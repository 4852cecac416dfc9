"""``citymodel convert``: city model files to one georeferenced GLB, glTF or OBJ."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import click

from citymodel._pool import default_jobs
from citymodel.cli.options import (
    crs_options,
    feature_selection,
    inputs_argument,
    job_report,
    lod_option,
    origin_option,
    reader_options,
    report_options,
    selection_options,
    theme_option,
    theme_reader_options,
    types_option,
)
from citymodel.cli.progress import ProgressLine
from citymodel.cli.texture_options import texture_encoding, texture_options
from citymodel.converters.convert import OUTPUT_SUFFIXES, ConvertOptions
from citymodel.converters.convert import convert as convert_tool
from citymodel.converters.interchange import interchange_format
from citymodel.converters.selection import BBox2D

__all__ = ["convert"]


_GLTF_SUFFIXES = (".glb", ".gltf")


def _check_suffix(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if PurePosixPath(value).suffix.lower() not in OUTPUT_SUFFIXES:
        raise click.BadParameter(
            f"the suffix selects the format: use one of {', '.join(OUTPUT_SUFFIXES)}"
        )
    return value


@click.command()
@inputs_argument
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=str),
    callback=_check_suffix,
    help="Output file: .glb, .gltf or .obj; .ifc writes the selected buildings as IFC4 "
    "(in the source CRS, with IfcMapConversion; needs: pip install 'citymodel[ifc]'); "
    ".city.json (CityJSON 2.0), .city.jsonl (CityJSONSeq) and .gml (CityGML, see "
    "--citygml-version) convert between formats, coordinates unchanged in the source CRS. "
    "Also an fsspec URL (s3://bucket/city.glb; needs: pip install 'citymodel[cloud]').",
)
@click.option(
    "--citygml-version",
    type=click.Choice(["2.0", "3.0"]),
    default="2.0",
    show_default=True,
    help="CityGML version of a .gml output.",
)
@click.option(
    "--frame",
    type=click.Choice(["enu", "ecef", "source"]),
    default="enu",
    show_default=True,
    help="enu: local east-north-up frame (origin in asset.extras); ecef: node matrix places "
    "vertices in EPSG:4978; source: source CRS minus an origin.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes reading one big CityGML file in chunks (default: the CPUs available); "
    "the output is identical to --jobs 1.",
)
@texture_options
@lod_option
@types_option
@selection_options
@crs_options
@origin_option
@theme_option
@report_options
def convert(
    inputs: tuple[str, ...],
    output: str,
    citygml_version: str,
    frame: str,
    jobs: int | None,
    texture_format: str,
    ktx2_codec: str,
    lod: str | None,
    types: tuple[str, ...] | None,
    bbox: BBox2D | None,
    ids: frozenset[str] | None,
    ids_file: Path | None,
    in_crs: str | None,
    vertical_mode: str,
    grids: tuple[Path, ...],
    origin: tuple[float, float, float, float] | None,
    theme: str | None,
    report_path: Path | None,
    strict: bool,
) -> None:
    """Convert INPUT files (CityGML .gml/.xml/.gml.gz/.zip, IFC .ifc) into one georeferenced model.

    With an .ifc output the selected buildings (--bbox, --ids) become an IFC4 context model
    for BIM tools: coordinates relative to a rounded corner of the box, placed by
    IfcMapConversion in the source CRS; heights stay in the source's vertical datum.
    """
    if texture_format != "auto" and PurePosixPath(output).suffix.lower() not in _GLTF_SUFFIXES:
        raise click.BadParameter(
            "texture formats apply to glTF outputs (.glb, .gltf)", param_hint="--texture-format"
        )
    jobs = jobs if jobs is not None else default_jobs()
    options = ConvertOptions(
        frame=frame,  # type: ignore[arg-type]  # validated by click.Choice
        in_crs=in_crs,
        vertical_mode=vertical_mode,  # type: ignore[arg-type]
        lod=lod,
        types=types,
        grids=grids,
        strict=strict,
        reader_options=reader_options(origin, in_crs, inputs)
        + theme_reader_options(theme, all_themes=interchange_format(output) is not None),
        selection=feature_selection(bbox, ids, ids_file),
        jobs=jobs,
        citygml_version=citygml_version,
        textures=texture_encoding(texture_format, ktx2_codec, threads=jobs),
    )
    with job_report(report_path, strict=strict) as report, ProgressLine("convert") as progress:
        convert_tool(list(inputs), output, options=options, report=report, progress=progress)
    written = sum(report.written.values())
    read = sum(report.read.values())
    click.echo(
        f"{output}: {written} of {read} objects written, {len(report.skipped)} skipped", err=True
    )
