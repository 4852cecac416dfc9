"""City objects -> IFC4: the city around a design, as context for BIM authoring tools.

``citymodel convert city/*.gml --bbox xmin,ymin,xmax,ymax[,CRS] -o context.ifc`` (or
``--ids``/``--ids-file``) writes the selected top-level objects (Buildings with their
BuildingParts) to one IFC4 file with ifcopenshell (extra ``ifc``):

- **Spatial structure**: IfcProject (metre units) -> IfcSite -> one IfcBuilding per Building
  (BuildingParts: IfcBuilding with CompositionType PARTIAL below it) -> elements: IfcRoof,
  IfcWall, IfcSlab (ground: BASESLAB, floors: FLOOR), IfcWindow/IfcDoor (LoD3), IfcCovering
  (ceilings), IfcBuildingElementProxy for other surfaces; attributes in the
  ``CityGML_Attributes`` property set, with ``gml_id`` (see
  :mod:`citymodel.converters._ifc_city`).
- **Geometry**: IfcPolygonalFaceSet per element (holes kept as voids), the source polygons
  unchanged apart from subtracting the origin (:mod:`citymodel.converters._ifc_geometry`).
- **Georeferencing**: coordinates relative to a local origin (the lower corner of the bbox,
  or of the selected objects, rounded down to 100 m and heights to 1 m) with IfcMapConversion
  + IfcProjectedCRS (``EPSG:25832``, VerticalDatum ``EPSG:7837`` ..., MapUnit metre), so BIM
  tools place the model in the source CRS. **Heights stay in the source's vertical datum**
  (DHHN2016 normal heights for German LoD2); nothing is converted to ellipsoidal heights. See
  :mod:`citymodel.converters._ifc_georef`.

Inputs are streamed: only the selected objects are kept in memory. All inputs must share one
CRS (one IFC file has one map conversion). The file is written atomically (temporary file +
rename). Objects without geometry in the requested LoD are skipped and reported; polygons with
fewer than three distinct vertices are left out and counted.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from citymodel import __version__
from citymodel.atomic import write_bytes_atomic
from citymodel.converters.pipeline import count_read, source_crs
from citymodel.converters.selection import (
    FeatureSelection,
    feature_extent_2d,
    select_features,
    warn_missing_ids,
)
from citymodel.crs import ResolvedCRS, VerticalMode, register_grids
from citymodel.errors import InputError, MissingDependencyError, OutputError
from citymodel.model import Feature
from citymodel.report import JobReport
from citymodel.sources import Inputs, expand_inputs
from citymodel.sources import open as open_source

__all__ = ["IFC_SUFFIX", "CityToIfcOptions", "write_city_ifc"]

log = logging.getLogger(__name__)

IFC_SUFFIX = ".ifc"

ProgressCallback = Callable[[str, int], None]
"""Called as ``progress(file, features_read_in_file)``."""

_PROGRESS_EVERY = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class CityToIfcOptions:
    """Options of :func:`write_city_ifc`.

    Attributes
    ----------
    selection
        Which top-level objects to write (bbox and/or ids); everything when inactive.
    lod
        LoD to write (``"2"``, ``"3"``); None = the highest LoD of each object.
    types
        Top-level object types to read (None = all the reader supports).
    in_crs
        CRS overriding the inputs' srsName.
    vertical_mode
        ``auto``: heights are in the source's vertical CRS (written as VerticalDatum);
        ``ellipsoidal-as-is``: heights are ellipsoidal, no vertical datum is written.
    grids
        Extra PROJ grid folders (used to transform a bbox given in another CRS).
    strict
        Fail on the first skipped object instead of reporting it.
    origin
        Engineering-frame origin ``(E, N, H)`` in the source CRS (metres); None = the rounded
        lower corner of the bbox (or of the selected objects).
    origin_rounding
        Rounding (m) of the automatic origin's easting and northing.
    project_name
        IfcProject Name; None = the output file's stem.
    """

    selection: FeatureSelection = field(default_factory=FeatureSelection)
    lod: str | None = None
    types: tuple[str, ...] | None = None
    in_crs: str | None = None
    vertical_mode: VerticalMode = "auto"
    grids: tuple[Path, ...] = ()
    strict: bool = False
    origin: tuple[float, float, float] | None = None
    origin_rounding: float = 100.0
    project_name: str | None = None

    def __post_init__(self) -> None:
        if not self.origin_rounding > 0:
            raise ValueError(f"origin_rounding must be > 0 m, got {self.origin_rounding!r}")
        if self.origin is not None and not np.isfinite(self.origin).all():
            raise ValueError(f"origin must be finite, got {self.origin!r}")


def _require_ifcopenshell() -> None:
    try:
        import ifcopenshell  # noqa: F401 - only checks that the extra is installed
    except ImportError as err:
        raise MissingDependencyError("ifcopenshell", "ifc") from err


@dataclass(frozen=True, slots=True)
class _Selected:
    feature: Feature
    path: Path


@dataclass(slots=True)
class _Collected:
    """The selected objects of all inputs and the one CRS they share."""

    crs: ResolvedCRS | None = None
    bbox_low: tuple[float, float] | None = None
    objects: list[_Selected] = field(default_factory=list)
    found_ids: set[str] = field(default_factory=set)


def _counted(
    features: Iterable[Feature], report: JobReport, progress: Callable[[int], None]
) -> Iterator[Feature]:
    done = 0
    for feature in features:
        count_read([feature], report)
        done += 1
        if done % _PROGRESS_EVERY == 0:
            progress(done)
        yield feature
    progress(done)


def _collect(
    paths: list[Path], opts: CityToIfcOptions, report: JobReport, progress: ProgressCallback | None
) -> _Collected:
    found = _Collected()
    for path in paths:
        report.inputs.append(str(path))
        with open_source(path) as reader:
            resolved = source_crs(reader.srs_name, in_crs=opts.in_crs, path=path, report=report)
            report.crs[str(path)] = {"source": resolved.to_string()}
            if found.crs is None:
                found.crs = resolved
            elif resolved.to_string() != found.crs.to_string():
                raise InputError(
                    f"the inputs use different CRSs ({found.crs.to_string()} and "
                    f"{resolved.to_string()}); one IFC file has one map conversion: write "
                    "them to separate files (or give the CRS with --in-crs if an srsName is wrong)",
                    path=path,
                )
            selection = opts.selection
            if selection.bbox is not None:
                bbox = selection.bbox.to_crs(resolved)
                selection = replace(selection, bbox=bbox)
                found.bbox_low = (bbox.xmin, bbox.ymin)

            def tick(done: int, path: Path = path) -> None:
                if progress is not None:
                    progress(str(path), done)

            features = _counted(reader.features(report=report, types=opts.types), report, tick)
            found.objects.extend(
                _Selected(feature, path)
                for feature in select_features(features, selection, found_ids=found.found_ids)
            )
    return found


def _frame_origin(collected: _Collected, opts: CityToIfcOptions) -> tuple[float, float, float]:
    from citymodel.converters._ifc_georef import origin_for

    if opts.origin is not None:
        return opts.origin
    extents = [e for s in collected.objects if (e := feature_extent_2d(s.feature)) is not None]
    heights = [
        float(g.vertices[:, 2].min())
        for s in collected.objects
        for f, _ in s.feature.walk()
        for g in f.geometries
        if g.vertex_count
    ]
    if not extents:
        raise InputError("nothing to write: none of the selected objects has geometry")
    low_x = min(e[0] for e in extents)
    low_y = min(e[1] for e in extents)
    if collected.bbox_low is not None:
        low_x, low_y = collected.bbox_low
    return origin_for((low_x, low_y, min(heights)), rounding=opts.origin_rounding)


def write_city_ifc(
    inputs: Inputs,
    output: str | os.PathLike[str],
    *,
    options: CityToIfcOptions | None = None,
    report: JobReport | None = None,
    progress: ProgressCallback | None = None,
) -> JobReport:
    """Write the selected city objects of ``inputs`` as one georeferenced IFC4 file.

    Parameters
    ----------
    inputs
        Files, folders or glob patterns (CityGML ``.gml``/``.xml``/``.gml.gz``/``.zip``), all
        in one CRS.
    output
        The ``.ifc`` file; written atomically.
    options
        See :class:`CityToIfcOptions`.
    report
        Collects counts, skips and warnings; ``report.extra["ifc"]`` gets the georeferencing
        written (CRS, vertical datum, origin), the selection and element counts.
    progress
        Optional callback ``progress(file, features_read)``.

    Returns
    -------
    JobReport

    Raises
    ------
    MissingDependencyError
        Without ifcopenshell (``pip install 'citymodel[ifc]'``).
    InputError
        Unreadable input, inputs in different CRSs, or nothing selected.
    CRSError
        Unknown or non-projected CRS, or a bbox that cannot be transformed.
    OutputError
        Wrong suffix or the file cannot be written.
    """
    opts = options or CityToIfcOptions()
    report = report if report is not None else JobReport(strict=opts.strict)
    out = Path(output)
    if out.suffix.lower() != IFC_SUFFIX:
        raise OutputError(f"{out}: an IFC output needs the suffix {IFC_SUFFIX}")
    _require_ifcopenshell()
    from citymodel.converters._ifc_city import add_city_object
    from citymodel.converters._ifc_document import new_document
    from citymodel.converters._ifc_georef import MapFrame, add_georeferencing, true_north

    paths = expand_inputs(inputs)
    register_grids(opts.grids)
    collected = _collect(paths, opts, report, progress)
    warn_missing_ids(opts.selection, collected.found_ids, report)
    if not collected.objects or collected.crs is None:
        raise InputError(
            f"nothing to write: no object matches the selection ({opts.selection.describe()})"
        )
    east, north, height = _frame_origin(collected, opts)
    frame = MapFrame(
        crs=collected.crs,
        eastings=east,
        northings=north,
        orthogonal_height=height,
        ellipsoidal_heights=opts.vertical_mode == "ellipsoidal-as-is",
    )
    frame.check()
    doc = new_document(
        project_name=opts.project_name or out.stem,
        site_name="City context",
        file_name=out.name,
        application=f"citymodel {__version__}",
        true_north=true_north(frame),
        key=[s.feature.id for s in collected.objects],
    )
    georeferencing = add_georeferencing(doc, frame)
    buildings = []
    totals: dict[str, int] = {"elements": 0, "polygons": 0, "degenerate_polygons": 0}
    for item in collected.objects:
        feature = item.feature
        result = add_city_object(
            doc, feature, frame=frame, lod=opts.lod, source_label=feature_label(feature, item.path)
        )
        if result.building is None:
            source = feature.source
            report.skip(
                f"no LoD {opts.lod} geometry" if opts.lod else "no geometry",
                id=feature.id,
                file=source.path if source is not None else str(item.path),
                line=source.line if source is not None else None,
            )
            continue
        buildings.append(result.building)
        report.written[feature.type] += 1
        for obj_id, obj_type in result.written:
            if obj_id != feature.id:
                report.written[obj_type] += 1
        totals["elements"] += result.elements
        totals["polygons"] += result.polygons
        totals["degenerate_polygons"] += result.degenerate
    if not buildings:
        raise InputError(
            "nothing to write: none of the selected objects has geometry"
            + (f" in LoD {opts.lod}" if opts.lod else "")
        )
    doc.aggregate(doc.site, buildings, "site")
    if totals["degenerate_polygons"]:
        report.warn(
            f"{totals['degenerate_polygons']} polygons with fewer than 3 distinct vertices were "
            "left out of the IFC output"
        )
    write_bytes_atomic(out, doc.to_bytes())
    report.outputs.append(str(out))
    report.extra["ifc"] = _summary(frame, georeferencing, opts, len(buildings), totals)
    log.info("wrote %s: %d buildings, %d elements", out, len(buildings), totals["elements"])
    return report


def feature_label(feature: Feature, path: Path) -> str:
    """The source file name of a feature without folders (as the ``source_file`` property)."""
    return feature.source.label if feature.source is not None else path.name


def _summary(
    frame: Any,
    georeferencing: dict[str, Any],
    opts: CityToIfcOptions,
    buildings: int,
    totals: dict[str, int],
) -> dict[str, Any]:
    vertical = None if frame.ellipsoidal_heights else frame.crs.vertical
    return {
        "schema": "IFC4",
        "selection": opts.selection.describe(),
        "buildings": buildings,
        **totals,
        "georeferencing": georeferencing,
        "heights": "ellipsoidal (as in the source)"
        if vertical is None and frame.ellipsoidal_heights
        else f"{vertical.name}, as in the source (not converted)"
        if vertical is not None
        else "as in the source (vertical datum unknown)",
    }
