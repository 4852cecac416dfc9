"""Streaming CityGML 1.0/2.0/3.0 reader: Buildings with their BuildingParts, LoD0-4 surfaces.

How a file is read
------------------
* ``lxml.etree.iterparse`` with a tag filter on the top-level member elements
  (``core:cityObjectMember``, ``gml:featureMember(s)``); each member is processed when it ends,
  then cleared and removed from the tree together with everything before it: memory stays flat
  for any file size (performance.md). The parser never resolves entities, never loads a DTD and
  never touches the network (billion-laughs and external-entity documents do not expand).
* Plain ``.gml``/``.xml``, gzip (``.gml.gz``/``.xml.gz``) and zip archives (one or more CityGML
  members, read in archive order, ``a.zip!dir/b.xml`` in :class:`~citymodel.model.SourceRef`)
  are read directly (:mod:`citymodel.converters._xmlsource`).
* Coordinate text of many buildings is parsed in one vectorised numpy pass
  (:class:`citymodel.converters._gml_batch.SurfaceBatch`); features are yielded in
  document order (:mod:`citymodel.converters._citygml_document`).

What a feature holds
--------------------
* One :class:`~citymodel.model.Feature` per top-level city object of every CityGML 1.0/2.0
  module (:data:`SUPPORTED_TYPES`: Building, Bridge, Tunnel, Road/Railway/Track/TransportSquare/
  TransportationComplex, SolitaryVegetationObject, PlantCover, WaterBody, LandUse,
  ReliefFeature, CityFurniture, GenericCityObject, CityObjectGroup), type names as CityJSON
  spells them (:mod:`citymodel.converters._citygml_vocabulary`). Nested objects are children,
  recursively: BuildingParts, Building/Bridge/Tunnel installations, rooms and furniture, bridge
  construction elements, TrafficArea/AuxiliaryTrafficArea (with their ``function`` and
  ``surfaceMaterial``), relief components (TINRelief). A CityObjectGroup has no geometry; its
  members' ids are its ``members`` attribute. Implicit geometry (trees, furniture) is placed
  from its template (inline, or an ``xlink:href`` to a template anywhere in the document) by
  its transformation matrix and reference point (:mod:`citymodel.converters._citygml_implicit`).
  Curves (``tran:lod0Network``, ``lodNMultiCurve``) are noted once per file; mass points, break
  lines, raster relief and control-point-only TINs are reported per object as not meshed;
  objects of unknown classes (ADEs) are reported as not converted. Terrain intersection curves
  are not read.
* One :class:`~citymodel.model.SurfaceGeometry` per LoD present (``"0"`` .. ``"4"``), source CRS
  coordinates as written (x/y swapped only for lat/lon-ordered geographic CRSs, AX-3).
  Per LoD the thematic surfaces (``bldg:boundedBy`` Roof/Wall/Ground/Closure/OuterCeiling/
  OuterFloor... surfaces, with Window/Door openings at LoD3/4) are used when present, with the
  surface type kept per polygon; otherwise ``lodNSolid`` (preferred) or ``lodNMultiSurface``
  (``lod0FootPrint``/``lod0RoofEdge`` at LoD0) with the surface type of the object's class
  (:func:`~citymodel.model.semantics.default_surface_type`: traffic area for roads, terrain for
  TINs, vegetation, water, land use; :attr:`~citymodel.model.SurfaceType.UNKNOWN` otherwise).
  A solid that only references the thematic polygons therefore never renders them a second
  time, and a polygon reached twice through ``xlink:href`` is added once per geometry (CGML-2,
  CGML-3). A polygon shared by two features (e.g. the wall between a building and its garage
  part) belongs to both.
* ``xlink:href`` is resolved within the current top-level object; a reference that cannot be
  resolved is reported (``JobReport.skip``) and the rest of the feature is kept.
* Attributes: see :mod:`citymodel.converters._citygml_attributes` (CGML-7).
* ``id`` is the ``gml:id``; a feature without one gets ``<file name>#<n>`` (``n``: 1-based
  position of the top-level object in the file; parts append ``.<k>``), and the report notes it.

Problems
--------
Per-feature problems (a broken polygon, an unresolvable reference, 2D coordinates, odd
coordinate counts) go to ``report.skip(reason, id=<feature id>, file=..., line=...)`` (or a
logged warning without a report) and reading goes on. File-level problems raise
:class:`~citymodel.errors.ParseError` (not XML, syntax error, truncated input, unbound prefix)
or :class:`~citymodel.errors.UnsupportedFormatError` (not CityGML 1.0/2.0/3.0) with path and
line.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from citymodel.converters._citygml3_document import DocumentReader3
from citymodel.converters._citygml3_vocabulary import CITYGML3_TYPES, CITYGML_3_0
from citymodel.converters._citygml_appearance import (
    DocumentAppearances,
    ThemeChoice,
    appearance_namespace,
    note_themes,
)
from citymodel.converters._citygml_document import (
    PARSER_OPTIONS,
    DocumentReader,
    Header,
    Stats,
    scan_header,
)
from citymodel.converters._citygml_vocabulary import (
    CITYGML_1_0,
    CITYGML_2_0,
    NAMESPACE_MARK,
    TOP_LEVEL_TYPES,
    CityGMLVersion,
)
from citymodel.converters._gml import Envelope
from citymodel.converters._streaming_reader import StreamingReader
from citymodel.converters._xmlsource import XMLSource, iter_sources, read_head
from citymodel.errors import CRSError, CRSWarning, ParseError
from citymodel.formats import FormatPlugin
from citymodel.model import DatasetMetadata, Feature
from citymodel.report import JobReport

if TYPE_CHECKING:
    from citymodel.crs import ResolvedCRS

__all__ = [
    "CITYGML_1_0",
    "CITYGML_2_0",
    "CITYGML_3_0",
    "CITYGML_FORMAT",
    "SUPPORTED_TYPES",
    "CityGMLFormat",
    "CityGMLReader",
    "CityGMLVersion",
    "sniff",
]

SUPPORTED_TYPES: tuple[str, ...] = TOP_LEVEL_TYPES
"""Top-level object types of CityGML 1.0/2.0 that are read (parts, installations, traffic
areas and relief components come with their top-level object)."""

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# sniffing


def _has_citygml_namespace(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    return NAMESPACE_MARK in head


def sniff(path: str | os.PathLike[str]) -> bool:
    """Return True when ``path`` looks like CityGML (a CityGML namespace in its first 16 KiB).

    Plain, gzip and zip inputs are recognised; reads a bounded amount of data (constant time)
    and never raises for unreadable input.
    """
    try:
        head = read_head(Path(path), 16384, accept=_has_citygml_namespace)
    except (OSError, ParseError):
        return False
    return _has_citygml_namespace(head)


# ---------------------------------------------------------------------------------------------
# the reader


def _resolve(srs_name: str, *, user: bool = False) -> ResolvedCRS:
    """Resolve an srsName (or a user's ``in_crs``); CRS resolution stays out of the hot path.

    Raises
    ------
    CRSError
        When the identifier is unknown.
    """
    from citymodel.crs import parse_srs_name, resolve_crs

    return resolve_crs(srs_name) if user else parse_srs_name(srs_name)


def _crs_key(resolved: ResolvedCRS) -> tuple[str | None, str | None, bool]:
    """What must agree for coordinates in two srsNames to mix: codes and axis order."""
    from citymodel.crs import axis_order_is_lat_lon

    return resolved.horizontal_code, resolved.vertical_code, axis_order_is_lat_lon(resolved)


class CityGMLReader(StreamingReader):
    """Streaming reader of CityGML 1.0/2.0/3.0 files (plain, ``.gz`` or ``.zip``).

    CityGML 3.0 documents are read by
    :class:`~citymodel.converters._citygml3_document.DocumentReader3` (every module of the
    space/boundary model, see that module), with the same batching, CRS handling and reports.

    Opening reads nothing; :attr:`srs_name` scans the start of the file, :meth:`features`
    streams the Buildings and :meth:`metadata` streams the whole file once.

    Parameters
    ----------
    path
        The input file.
    in_crs
        A CRS overriding the srsName found in the file (used for :meth:`metadata` CRS fields
        and for the axis order of geographic CRSs).
    theme
        Appearance theme rendered (``SurfaceGeometry.appearance``); None: the first theme met
        (:mod:`citymodel.converters._citygml_appearance`).
    all_themes
        Read the other themes too (``SurfaceGeometry.themes``, kept by interchange output);
        False reads only the rendered one (meshing and tiling).

    Examples
    --------
    >>> with CityGMLReader("LoD2_32_369_5667_1_NW.gml") as reader:  # doctest: +SKIP
    ...     for building in reader.features():
    ...         print(building.id, building.attributes.get("measuredHeight"))
    """

    document_reader_class: type[DocumentReader] = DocumentReader
    """Reader of each CityGML 1.0/2.0 document (chunked reading substitutes its own)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        in_crs: str | None = None,
        theme: str | None = None,
        all_themes: bool = True,
    ) -> None:
        self.path = Path(path)
        self.in_crs = in_crs
        self.themes = ThemeChoice(theme, keep_all=all_themes)
        """The appearance theme in use and the themes seen so far."""
        self._headers: dict[XMLSource, Header] = {}
        self._first: Header | None = None
        self._srs_found: str | None = None
        self._metadata: DatasetMetadata | None = None
        self._swap: bool | None = None
        self._srs_compat: dict[str, bool] = {}

    def __repr__(self) -> str:
        return f"CityGMLReader({str(self.path)!r})"

    # -- header ------------------------------------------------------------------------------

    def _sources(self) -> Iterator[XMLSource]:
        return iter_sources(self.path, accept=_has_citygml_namespace)

    def _header(self, source: XMLSource) -> Header:
        header = self._headers.get(source)
        if header is None:
            header = self._headers[source] = scan_header(source)
        return header

    def _first_header(self) -> Header:
        if self._first is None:
            self._first = self._header(next(self._sources()))
        return self._first

    @property
    def srs_name(self) -> str | None:
        """The first srsName of the input (dataset envelope or first geometry), as written.

        Found by a cheap scan of the start of the (first) document, up to its 100th top-level
        object; None when there is none. For a zip archive whose first member has none, the
        srsName of a later member once :meth:`features` or :meth:`metadata` reached it.
        """
        first = self._first_header()
        return first.srs_name or self._srs_found

    @property
    def version(self) -> str:
        """CityGML version of the (first) document: ``"1.0"``, ``"2.0"`` or ``"3.0"``."""
        return self._first_header().vocab.version.version

    # -- CRS -------------------------------------------------------------------------------

    def _effective_crs(self) -> ResolvedCRS | None:
        """The resolved CRS (``in_crs`` or the srsName); None when absent or unresolvable.

        Warns (:class:`~citymodel.errors.CRSWarning`) as :func:`citymodel.crs.parse_srs_name`
        does, e.g. for a corrected AdV token.
        """
        try:
            if self.in_crs is not None:
                return _resolve(self.in_crs, user=True)
            srs = self.srs_name
            return _resolve(srs) if srs is not None else None
        except CRSError as err:
            log.debug("%s: CRS not resolved: %s", self.path, err)
            return None

    def _swap_xy(self) -> bool:
        """AX-3: coordinates of lat/lon-ordered geographic CRSs are returned as x=lon, y=lat."""
        if self._swap is None:
            with warnings.catch_warnings():
                # the CRS is reported (with its warnings) by metadata() and the convert tool
                warnings.simplefilter("ignore", CRSWarning)
                resolved = self._effective_crs()
            if resolved is None:
                self._swap = False
            else:
                from citymodel.crs import axis_order_is_lat_lon

                self._swap = axis_order_is_lat_lon(resolved)
        return self._swap

    def _srs_ok(self, srs: str) -> bool:
        """Whether geometry declared in ``srs`` may be mixed with the dataset's srsName.

        True when both resolve to the same CRS with the same axis order (e.g.
        ``EPSG:25833`` and ``urn:ogc:def:crs:EPSG::25833``), when the dataset has no srsName,
        or when ``in_crs`` overrides the file's CRS. When either cannot be resolved the
        coordinates are kept and a warning is logged.
        """
        ok = self._srs_compat.get(srs)
        if ok is not None:
            return ok
        base = self.srs_name
        if base is None or self.in_crs is not None:
            ok = True
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", CRSWarning)
                    ok = _crs_key(_resolve(srs)) == _crs_key(_resolve(base))
            except CRSError:
                log.warning(
                    "%s: srsName %r next to %r cannot be compared; coordinates taken as they are",
                    self.path,
                    srs,
                    base,
                )
                ok = True
        self._srs_compat[srs] = ok
        return ok

    # -- features --------------------------------------------------------------------------

    def features(
        self, *, report: JobReport | None = None, types: Collection[str] | None = None
    ) -> Iterator[Feature]:
        """Yield the Buildings one by one, BuildingParts nested, in document order.

        Parameters
        ----------
        report
            Receives skipped polygons/geometries (``report.skip``) and notes (``report.warn``);
            without one they are logged as warnings.
        types
            Top-level type names to yield (:data:`SUPPORTED_TYPES`, e.g. ``"Building"``,
            ``"Road"``, ``"ReliefFeature"``). None: all.

        Raises
        ------
        ParseError
            Not well-formed XML (syntax error, truncated file, unbound prefix) or unreadable input.
        UnsupportedFormatError
            Not CityGML 1.0/2.0/3.0.
        """
        return self._iterate(report=report, types=types, stats=None)

    def _iterate(
        self,
        *,
        report: JobReport | None,
        types: Collection[str] | None,
        stats: Stats | None,
        quiet: bool = False,
    ) -> Iterator[Feature]:
        wanted: bool | frozenset[str] = True if types is None else frozenset(types)
        for source in self._sources():
            header = self._header(source)
            if self._first is None:
                self._first = header
            if self._srs_found is None and header.srs_name is not None:
                self._srs_found = header.srs_name
            reader_class: type[DocumentReader] = self.document_reader_class
            if header.vocab.version is CITYGML_3_0:
                reader_class = DocumentReader3
            reader = reader_class(
                source,
                header,
                dataset_srs=self.srs_name,
                report=report,
                quiet=quiet,
                swap_xy=self._swap_xy(),
                srs_ok=self._srs_ok,
                stats=stats,
            )
            app_namespace = appearance_namespace(header.vocab.version.version)
            if app_namespace is not None:
                reader.appearances = DocumentAppearances(
                    source,
                    header.vocab.gml,
                    app_namespace,
                    self.themes,
                    reader.skip,
                    PARSER_OPTIONS,
                )
            yield from reader.features(wanted)
            if reader.appearances is not None and report is not None and not quiet:
                note_themes(self.themes, report, reader.appearances, source.display)

    def metadata(self) -> DatasetMetadata:
        """Format, version, srsName, CRS, extent, counts per type and LoD, attribute names.

        Streams the whole input once (the result is cached). ``extent`` is the bounding box of
        the Building geometry read (source CRS, x/y in CRS axis order as returned by
        :meth:`features`); without any, the dataset envelope when it is 3D.
        """
        if self._metadata is not None:
            return self._metadata
        stats = Stats()
        for _ in self._iterate(report=None, types=None, stats=stats, quiet=True):
            pass
        first = self._first_header()
        extent: tuple[float, float, float, float, float, float] | None = None
        if stats.lower is not None and stats.upper is not None:
            lo, hi = stats.lower.tolist(), stats.upper.tolist()
            extent = (lo[0], lo[1], lo[2], hi[0], hi[1], hi[2])
        elif first.envelope is not None:
            extent = self._envelope_extent(first.envelope)
        resolved = self._effective_crs()
        horizontal = resolved.horizontal_code if resolved is not None else None
        vertical = resolved.vertical_code if resolved is not None else None
        self._metadata = DatasetMetadata(
            path=str(self.path),
            format="CityGML",
            version=first.vocab.version.version,
            srs_name=self.srs_name,
            horizontal_crs=horizontal,
            vertical_crs=vertical,
            extent=extent,
            counts=dict(sorted(stats.counts.items())),
            lods=dict(sorted(stats.lods.items(), key=lambda kv: float(kv[0]))),
            attribute_names=tuple(sorted(stats.attribute_names)),
            details={"appearance_themes": list(self.themes.seen)} if self.themes.seen else {},
        )
        return self._metadata

    def _envelope_extent(
        self, env: Envelope
    ) -> tuple[float, float, float, float, float, float] | None:
        lo, hi = env.lower, env.upper
        if lo is None or hi is None or len(lo) != 3 or len(hi) != 3:
            return None
        if self._swap_xy():
            lo = (lo[1], lo[0], lo[2])
            hi = (hi[1], hi[0], hi[2])
        return (lo[0], lo[1], lo[2], hi[0], hi[1], hi[2])


# ---------------------------------------------------------------------------------------------
# plug-in


class CityGMLFormat:
    """The ``citymodel.formats`` entry point of CityGML (see :mod:`citymodel.formats`)."""

    name: str = "citygml"
    suffixes: tuple[str, ...] = (".gml", ".xml", ".citygml", ".gml.gz", ".xml.gz", ".zip")
    kind: str = "features"
    supported_types: tuple[str, ...] = tuple(sorted({*SUPPORTED_TYPES, *CITYGML3_TYPES}))

    def sniff(self, path: Path) -> bool:
        """Return True when ``path`` looks like CityGML (see :func:`sniff`)."""
        return sniff(path)

    def open(self, path: Path, **options: Any) -> CityGMLReader:
        """Open ``path`` for streaming; options: ``in_crs``, ``theme``, ``all_themes``.

        Options of other formats (IFC's ``origin`` in a run that tiles a city together with
        an IFC design, ``tile city.gml --replace design.ifc --origin ...``) do not apply to
        CityGML and are ignored.
        """
        ignored = sorted(set(options) - {"in_crs", "theme", "all_themes"})
        if ignored:
            log.debug("%s: options %s do not apply to CityGML", path, ", ".join(ignored))
        return CityGMLReader(
            path,
            in_crs=options.get("in_crs"),
            theme=options.get("theme"),
            all_themes=bool(options.get("all_themes", True)),
        )


CITYGML_FORMAT: Final[FormatPlugin] = CityGMLFormat()
"""The CityGML format plug-in (entry point ``citymodel.formats: citygml``)."""
