"""IFC reader (IFC2X3, IFC4, IFC4X3): georeferenced element meshes with their properties.

How a file is read
------------------
* The file is opened with IfcOpenShell (the ``ifc`` extra; imported on first use, a missing
  package is a :class:`~citymodel.errors.MissingDependencyError`). Truncated and unparsable
  files are refused with a :class:`~citymodel.errors.ParseError`; pre-release schemas
  (``IFC4X3_RC1``..``RC4``, ``IFC4X1``) are read with the closest released one, warned
  (:mod:`citymodel.converters._ifc_read_file`).
* Its georeferencing is found in the issue's order — IfcMapConversion + IfcProjectedCRS,
  IFC2X3 ePSet_MapConversion/ePSet_ProjectedCRS, IfcSite RefLatitude/RefLongitude (approximate)
  — unless ``origin`` (``--origin``) with ``in_crs`` places the model explicitly; length units
  and the map conversion's Scale are reconciled (the 1000× trap of millimetre models, IFC-2);
  see :mod:`citymodel.converters._ifc_read_georef`. The rule applied is in :meth:`metadata`
  (``details["georeferencing"]``) and in the job report (``crs[<file>]["georeferencing"]``
  plus a warning for every assumption).
* Geometry comes from IfcOpenShell's geometry iterator (world coordinates, IFC-4), spread over
  worker processes (:mod:`citymodel.converters._ifc_read_geometry`): per element a triangle
  mesh, mapped to the projected CRS. Elements whose geometry fails are skipped and reported
  (``JobReport.skip`` with GlobalId, class, STEP id and the kernel's reason); the rest is read.

What a feature holds
--------------------
* One :class:`~citymodel.model.Feature` per IfcProduct with a body (walls, slabs, windows,
  the site's terrain ...; openings, spaces and other non-physical classes are left out unless
  named in ``types``): ``id`` = GlobalId, ``type`` = the IFC class (``IfcWallStandardCase``).
* Geometry: one triangulated :class:`~citymodel.model.SurfaceGeometry` (``lod`` ``"3"``,
  ``triangulated=True``, ``solid=False``) in the projected CRS (easting, northing, height in
  the CRS's units); surface types from the class (IfcRoof and roof slabs ROOF, walls WALL,
  windows WINDOW, doors DOOR, base slabs GROUND, floor slabs FLOOR, ceilings CEILING, others
  UNKNOWN). Triangles of zero area are dropped.
* Attributes (:mod:`citymodel.converters._ifc_read_properties`): ``GlobalId``, ``Name``,
  ``Description``, ``ObjectType``, ``Tag``, ``PredefinedType``, ``storey``, ``material``, the
  surface ``style`` covering most of the element and its ``color`` (sRGB hex, per-feature
  colour of the glTF writers), and every property set / quantity as ``Set.Property`` columns
  (lengths, areas, volumes, masses in SI units).

Features come in STEP id order, whatever the number of worker processes.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from citymodel._typing import AttributeValue, Float64Array
from citymodel.converters._ifc_read_file import (
    OpenedModel,
    open_model,
    problems_note,
    schema_note,
    sniff,
)
from citymodel.converters._ifc_read_geometry import (
    ElementMesh,
    GeometryFailure,
    body_elements,
    element_meshes,
)
from citymodel.converters._ifc_read_georef import (
    Georeferencing,
    parse_origin,
    resolve_georeferencing,
)
from citymodel.converters._ifc_read_properties import PropertyReader
from citymodel.converters._streaming_reader import StreamingReader
from citymodel.converters.materials import FEATURE_COLOR_COLUMN
from citymodel.errors import CRSError, InputError
from citymodel.formats import FormatPlugin
from citymodel.model import DatasetMetadata, Feature, SourceRef, SurfaceGeometry, SurfaceType
from citymodel.report import JobReport

if TYPE_CHECKING:
    import ifcopenshell

__all__ = [
    "IFC_FORMAT",
    "LOD",
    "IFCFormat",
    "IFCReader",
    "parse_origin",
    "sniff",
]

log = logging.getLogger(__name__)

LOD: Final = "3"
"""Level of detail given to IFC geometry (CityGML 3.0 LoD3: detailed exterior and interior)."""

_MIN_TRIANGLE_AREA2 = 1e-18
"""Triangles with ``|cross product|²`` (doubled area squared, m⁴) below this, i.e. an area
below 5e-10 m², are dropped as flat."""


_SURFACE_TYPES: dict[tuple[str, str], SurfaceType] = {}


def _surface_type(product: ifcopenshell.entity_instance, predefined: AttributeValue) -> SurfaceType:
    """Semantic surface type of an element's triangles, from its class and PredefinedType."""
    key = (product.is_a(True), str(predefined))
    code = _SURFACE_TYPES.get(key)
    if code is None:
        code = _SURFACE_TYPES[key] = _classify(product, str(predefined))
    return code


def _classify(product: ifcopenshell.entity_instance, predefined: str) -> SurfaceType:
    if product.is_a("IfcRoof"):
        return SurfaceType.ROOF
    if product.is_a("IfcWall") or product.is_a("IfcCurtainWall"):
        return SurfaceType.WALL
    if product.is_a("IfcWindow"):
        return SurfaceType.WINDOW
    if product.is_a("IfcDoor"):
        return SurfaceType.DOOR
    if product.is_a("IfcSlab"):
        return {
            "ROOF": SurfaceType.ROOF,
            "BASESLAB": SurfaceType.GROUND,
            "FLOOR": SurfaceType.FLOOR,
        }.get(predefined, SurfaceType.UNKNOWN)
    if product.is_a("IfcCovering"):
        return {
            "CEILING": SurfaceType.CEILING,
            "FLOORING": SurfaceType.FLOOR,
            "ROOFING": SurfaceType.ROOF,
        }.get(predefined, SurfaceType.UNKNOWN)
    return SurfaceType.UNKNOWN


def _triangle_corners(vertices: Float64Array, faces: np.ndarray[Any, Any]) -> Float64Array:
    """``(3T, 3)`` corners of the triangles with a non-zero area."""
    corners: Float64Array = vertices[faces.ravel()]
    a, b, c = corners[0::3], corners[1::3], corners[2::3]
    u, v = b - a, c - a
    cx = u[:, 1] * v[:, 2] - u[:, 2] * v[:, 1]
    cy = u[:, 2] * v[:, 0] - u[:, 0] * v[:, 2]
    cz = u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]
    keep = cx * cx + cy * cy + cz * cz > _MIN_TRIANGLE_AREA2
    if keep.all():
        return corners
    kept: Float64Array = corners.reshape(-1, 3, 3)[keep].reshape(-1, 3)
    return kept


class IFCReader(StreamingReader):
    """Streaming reader of one IFC-SPF file (``.ifc``).

    Opening does nothing; the model is parsed on first use and kept for the reader's life.

    Parameters
    ----------
    path
        The IFC file.
    in_crs
        The user's ``--in-crs``: the CRS of ``origin``, the projected frame of the IfcSite
        fallback, or an override of the file's CRS (warned when it differs).
    origin
        ``(x, y, z[, rotation_deg])`` or ``"x,y,z[,rotation]"``: the projected coordinates (in
        ``in_crs``) of the model's engineering origin and the angle from grid east to its x
        axis, counter-clockwise in degrees. Overrides the file's georeferencing.
    processes
        Worker processes for the geometry kernel; 1 runs it in this process. Default
        (adaptive): in this process, moving to the CPUs available (fewer when the model's
        copies would not fit in memory) once the measured kernel time projects more than a few
        seconds for the rest. The output does not depend on it.

    Examples
    --------
    >>> with IFCReader("design.ifc") as reader:  # doctest: +SKIP
    ...     print(reader.georeferencing.method, reader.srs_name)
    ...     for element in reader.features():
    ...         print(element.type, element.id, element.attributes.get("storey"))
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        in_crs: str | None = None,
        origin: str | tuple[float, ...] | None = None,
        processes: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.in_crs = in_crs
        self.origin = _origin(origin)
        if processes is not None and processes < 1:
            raise ValueError(f"processes must be >= 1, got {processes}")
        self.processes = processes
        self._opened: OpenedModel | None = None
        self._georef: Georeferencing | None = None
        self._metadata: DatasetMetadata | None = None

    def close(self) -> None:
        """Drop the parsed model; it is read again when used again."""
        self._opened = None

    def __repr__(self) -> str:
        return f"IFCReader({str(self.path)!r})"

    # -- model and georeferencing ------------------------------------------------------

    def _model(self) -> OpenedModel:
        if self._opened is None:
            self._opened = open_model(self.path)
        return self._opened

    @property
    def schema(self) -> str:
        """FILE_SCHEMA as written (``IFC4``, ``IFC2X3``, ``IFC4X3_RC2`` ...)."""
        return self._model().schema_written

    @property
    def georeferencing(self) -> Georeferencing:
        """How the model is placed (found once, see :mod:`~citymodel.converters._ifc_read_georef`).

        Raises
        ------
        CRSError
            No georeferencing in the file and no ``origin``; ``origin`` without ``in_crs``.
        """
        if self._georef is None:
            opened = self._model()
            self._georef = resolve_georeferencing(
                opened.model,
                path=self.path,
                in_crs=self.in_crs,
                origin=self.origin,
                raw_map_conversion=opened.map_conversion_arguments,
            )
        return self._georef

    @property
    def srs_name(self) -> str | None:
        """The projected CRS of the features (``"EPSG:25832+7837"``); None with ``origin``.

        Raises
        ------
        CRSError
            When the model cannot be placed (the message names the options to give).
        """
        return self.georeferencing.srs_name

    # -- features ----------------------------------------------------------------------

    def features(
        self, *, report: JobReport | None = None, types: Collection[str] | None = None
    ) -> Iterator[Feature]:
        """Yield one feature per element with a body, in the projected CRS (see the module doc).

        Parameters
        ----------
        report
            Receives skipped elements (``report.skip``), the georeferencing
            (``report.crs[<file>]["georeferencing"]``) and warnings; without one they are
            logged.
        types
            IFC classes to read (subclasses included, e.g. ``IfcWall`` also reads
            IfcWallStandardCase); None: every physical element.

        Raises
        ------
        ParseError
            The file cannot be parsed or is truncated.
        CRSError
            The model cannot be placed.
        """
        report = report if report is not None else JobReport()
        opened = self._model()
        georef = self.georeferencing
        for note in (schema_note(opened), problems_note(opened), *georef.notes):
            if note:
                report.warn(f"{self.path}: {note}")
        report.crs.setdefault(str(self.path), {})["georeferencing"] = georef.to_dict()
        include = self._classes(types, opened, report)
        if include is not None and not include:
            return
        yield from self._read(opened.model, georef, include, report)

    def _classes(
        self, types: Collection[str] | None, opened: OpenedModel, report: JobReport
    ) -> list[str] | None:
        if types is None:
            return None
        import ifcopenshell

        schema = ifcopenshell.ifcopenshell_wrapper.schema_by_name(opened.model.schema_identifier)
        found = []
        for name in types:
            try:
                declaration = schema.declaration_by_name(name)
            except (RuntimeError, KeyError):
                if name.startswith("Ifc"):
                    report.warn(f"{self.path}: {name} is not an IFC class of {opened.schema_read}")
                continue
            found.append(declaration.name())
        return found

    def _read(
        self,
        model: ifcopenshell.file,
        georef: Georeferencing,
        include: list[str] | None,
        report: JobReport,
    ) -> Iterator[Feature]:
        source = SourceRef(str(self.path))
        affine = georef.affine()
        for item in element_meshes(
            model,
            path=self.path,
            processes=self.processes,
            include=include,
            unit_m=georef.length_unit_m,
        ):
            product = model.by_id(item.step_id)
            if isinstance(item, GeometryFailure):
                self._skip(report, product, item.reason)
                continue
            feature = self._feature(product, item, affine, source)
            if feature is None:
                self._skip(report, product, "all triangles have zero area or bad coordinates")
                continue
            yield feature

    def _feature(
        self,
        product: ifcopenshell.entity_instance,
        mesh: ElementMesh,
        affine: tuple[Float64Array, Float64Array],
        source: SourceRef,
    ) -> Feature | None:
        transposed, offset = affine
        vertices: Float64Array = mesh.vertices @ transposed + offset
        if not np.isfinite(vertices).all():
            return None
        corners = _triangle_corners(vertices, mesh.faces)
        if corners.shape[0] == 0:
            return None
        attributes = dict(mesh.attributes)
        style = mesh.dominant_style()
        if style is not None:
            if style.name:
                attributes["style"] = style.name
            attributes[FEATURE_COLOR_COLUMN] = style.hex
        code = _surface_type(product, attributes.get("PredefinedType"))
        geometry = SurfaceGeometry.from_triangles(
            corners, np.full(corners.shape[0] // 3, int(code), dtype=np.uint8), lod=LOD
        )
        return Feature(
            id=str(attributes.get("GlobalId") or f"#{product.id()}"),
            type=product.is_a(),
            attributes=attributes,
            geometries=(geometry,),
            source=source,
        )

    def _skip(self, report: JobReport, product: ifcopenshell.entity_instance, reason: str) -> None:
        report.skip(
            f"{product.is_a()} #{product.id()}: {reason}",
            id=getattr(product, "GlobalId", None),
            file=str(self.path),
        )

    # -- metadata ----------------------------------------------------------------------

    def metadata(self) -> DatasetMetadata:
        """Schema, units, georeferencing, storeys and element counts, without geometry.

        ``extent`` is None (it would need the geometry kernel); the georeferencing gives the
        position. A model that cannot be placed is described all the same (its
        ``georeferencing`` holds ``method: None`` and the error).
        """
        if self._metadata is not None:
            return self._metadata
        opened = self._model()
        model = opened.model
        notes = [n for n in (schema_note(opened), problems_note(opened)) if n]
        georef_details: dict[str, Any]
        horizontal = vertical = srs_name = None
        try:
            georef = self.georeferencing
        except CRSError as err:
            georef_details = {"method": None, "error": str(err)}
            notes.append(str(err))
        else:
            georef_details = georef.to_dict()
            notes.extend(georef.notes)
            srs_name = georef.srs_name
            horizontal, vertical = _codes(self.in_crs or srs_name)
        elements = body_elements(model, include=None)
        counts = Counter(e.is_a() for e in elements)
        properties = PropertyReader(model)
        names: set[str] = set()
        for element in elements:
            names.update(properties.attributes(element))
        details: dict[str, Any] = {
            "schema": opened.schema_written,
            "schema_read": opened.schema_read,
            "units": _units(model),
            "georeferencing": georef_details,
            "storeys": _storeys(model),
            "elements_by_class": dict(sorted(counts.items())),
            "products_without_body": _without_body(model, {e.id() for e in elements}),
        }
        self._metadata = DatasetMetadata(
            path=str(self.path),
            format="IFC",
            version=opened.schema_written,
            srs_name=srs_name,
            horizontal_crs=horizontal,
            vertical_crs=vertical,
            extent=None,
            counts=dict(sorted(counts.items())),
            lods={LOD: len(elements)} if elements else {},
            attribute_names=tuple(sorted(names)),
            details=details,
            notes=tuple(notes),
        )
        return self._metadata


def _origin(value: str | tuple[float, ...] | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return parse_origin(value)
        except ValueError as err:
            raise InputError(f"origin: {err}") from err
    values = [float(v) for v in value]
    if len(values) not in (3, 4):
        raise InputError(f"origin: expected (x, y, z[, rotation_deg]), got {value!r}")
    return parse_origin(",".join(repr(v) for v in values))


def _codes(srs_name: str | None) -> tuple[str | None, str | None]:
    if srs_name is None:
        return None, None
    from citymodel.crs import resolve_crs

    try:
        resolved = resolve_crs(srs_name)
    except CRSError:
        return None, None
    return resolved.horizontal_code, resolved.vertical_code


def _units(model: ifcopenshell.file) -> dict[str, Any]:
    import ifcopenshell.util.unit

    out: dict[str, Any] = {}
    for unit_type, key in (
        ("LENGTHUNIT", "length"),
        ("AREAUNIT", "area"),
        ("VOLUMEUNIT", "volume"),
    ):
        unit = ifcopenshell.util.unit.get_project_unit(model, unit_type)
        if unit is None:
            continue
        out[key] = {
            "name": ifcopenshell.util.unit.get_full_unit_name(unit),
            "si_factor": float(ifcopenshell.util.unit.get_unit_scale(unit)),
        }
    return out


def _storeys(model: ifcopenshell.file) -> list[dict[str, Any]]:
    import ifcopenshell.util.unit

    scale = float(ifcopenshell.util.unit.calculate_unit_scale(model))
    storeys = []
    for storey in model.by_type("IfcBuildingStorey"):
        elevation = storey.Elevation
        storeys.append(
            {
                "name": storey.Name,
                "global_id": storey.GlobalId,
                "elevation_m": None if elevation is None else float(elevation) * scale,
            }
        )
    storeys.sort(key=lambda s: (s["elevation_m"] is None, s["elevation_m"] or 0.0))
    return storeys


def _without_body(model: ifcopenshell.file, with_body: set[int]) -> Mapping[str, int]:
    counts = Counter(
        p.is_a()
        for p in model.by_type("IfcProduct")
        if p.Representation is not None and p.id() not in with_body
    )
    return dict(sorted(counts.items()))


class IFCFormat:
    """The ``citymodel.formats`` entry point of IFC (see :mod:`citymodel.formats`)."""

    name: str = "ifc"
    suffixes: tuple[str, ...] = (".ifc",)
    kind: str = "features"

    def sniff(self, path: Path) -> bool:
        """True for ISO 10303-21 files whose FILE_SCHEMA names an IFC schema."""
        return sniff(path)

    def open(self, path: Path, **options: Any) -> IFCReader:
        """Open ``path``; options: ``in_crs``, ``origin``, ``processes``.

        ``theme`` and ``all_themes`` (appearance themes of city model inputs tiled together
        with a design) do not apply to IFC and are ignored.
        """
        options.pop("theme", None)
        options.pop("all_themes", None)
        return IFCReader(path, **options)


IFC_FORMAT: Final[FormatPlugin] = IFCFormat()
"""The IFC format plug-in (entry point ``citymodel.formats: ifc``)."""
