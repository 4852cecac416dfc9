"""CityJSON 1.0/1.1/2.0 and CityJSONSeq reader.

How a file is read
------------------
* **CityJSON** (``.city.json``/``.json``): one JSON document, loaded whole with :mod:`json`;
  it must fit in memory (Python objects take about 10x the file size, so a 200 MB file needs
  about 2 GB). Vertices are decoded once for the whole file (``transform`` applied in one numpy
  operation); the CityObjects are then converted one top-level object at a time.
* **CityJSONSeq** (``.city.jsonl``/``.jsonl``): read line by line, memory bounded by the
  largest line. The first line is the header (``"type": "CityJSON"`` with ``transform``,
  ``metadata.referenceSystem`` and ``geometry-templates``); every further line is a
  ``CityJSONFeature`` with its own ``vertices``, decoded with the header's ``transform``.
  Without a header line (the first line already a feature) vertices are taken as coordinates
  and the CRS must come from ``in_crs`` (``--in-crs``): the report warns, and says so when the
  integer vertices suggest a missing ``transform``; ``header=`` names a separate CityJSON
  document to take the header from (e.g. the metadata file of a tiled 3DBAG download). A
  ``.jsonl`` whose texts are pretty-printed over several lines is read whole, with a warning.

What a feature holds
--------------------
* One :class:`~citymodel.model.Feature` per top-level CityObject (no parent), ``type`` the
  CityJSON type (``Building``, ``Bridge``, ``Road``, ``TINRelief``, ``+Extension`` ...),
  children nested (see :mod:`citymodel.converters._cityjson_objects` for the hierarchy and the
  attribute flattening).
* One :class:`~citymodel.model.SurfaceGeometry` per LoD (``"1.2"``, ``"2.2"``; the geometries
  of one LoD are merged), float64 coordinates in the source CRS, surface types from
  ``semantics`` (``RoofSurface``, ``TrafficArea``, ``WaterSurface`` ...; names without a code
  are :attr:`~citymodel.model.SurfaceType.UNKNOWN`); polygons without semantics take their
  object class's type (:func:`~citymodel.model.semantics.default_surface_type`: a TIN's are
  terrain, a road's traffic area), as in the CityGML reader. ``GeometryInstance`` is expanded into real
  geometry: template vertices times ``transformationMatrix`` plus the reference point, with
  the template's textures and materials (a mirroring matrix reverses rings and texture
  coordinates together).
  ``MultiPoint``/``MultiLineString`` geometries are reported as skipped for meshing.

Problems
--------
File-level problems raise :class:`~citymodel.errors.ParseError` (empty file, invalid JSON with
line and column, missing or wrong ``"type"``, ``CityObjects`` not an object, vertices that are
not ``[x, y, z]`` numbers, integers beyond 64 bits, a ``transform`` beyond the float64 range,
an invalid CityJSONSeq header line) or :class:`~citymodel.errors.UnsupportedFormatError`
(CityJSON 0.x). Object-level problems (out-of-range vertex indices, a missing geometry type or
LoD, empty boundaries, an unknown template, unresolved parent/child ids, an invalid feature
line) go to ``report.skip(reason, id=..., file=..., line=...)`` (a logged warning without a
report) and reading goes on.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from citymodel._typing import Float64Array
from citymodel.converters._cityjson_appearance import DocumentLook
from citymodel.converters._cityjson_geometry import GeometryProblem, decode_vertices
from citymodel.converters._cityjson_objects import (
    ObjectContext,
    Templates,
    build_features,
    flatten_attributes,
    object_lods,
)
from citymodel.converters._cityjson_source import (
    Header,
    header_of,
    integer_valued,
    iter_json_texts,
    load_document,
)
from citymodel.converters._streaming_reader import StreamingReader
from citymodel.errors import ParseError
from citymodel.formats import FormatPlugin
from citymodel.model import DatasetMetadata, Feature, SourceRef
from citymodel.report import JobReport

__all__ = ["CITYJSON_FORMAT", "CITYJSON_TYPES", "CityJSONFormat", "CityJSONReader", "sniff"]

log = logging.getLogger(__name__)

CITYJSON_TYPES: Final[tuple[str, ...]] = (
    "Bridge",
    "BridgeConstructiveElement",
    "BridgeFurniture",
    "BridgeInstallation",
    "BridgePart",
    "BridgeRoom",
    "Building",
    "BuildingConstructiveElement",
    "BuildingFurniture",
    "BuildingInstallation",
    "BuildingPart",
    "BuildingRoom",
    "BuildingStorey",
    "BuildingUnit",
    "CityFurniture",
    "CityObjectGroup",
    "GenericCityObject",
    "LandUse",
    "OtherConstruction",
    "PlantCover",
    "Railway",
    "Road",
    "SolitaryVegetationObject",
    "TINRelief",
    "TransportSquare",
    "Tunnel",
    "TunnelConstructiveElement",
    "TunnelFurniture",
    "TunnelHollowSpace",
    "TunnelInstallation",
    "TunnelPart",
    "WaterBody",
    "Waterway",
)
"""CityObject types of CityJSON 1.0-2.0 (extension types start with ``+``)."""

_SEQ_SUFFIXES: Final = (".jsonl",)
_DOC_SUFFIXES: Final = (".json",)
_TYPE_MARK = re.compile(rb'"type"\s*:\s*"CityJSON(?:Feature)?"|"CityObjects"\s*:')
_SNIFF_BYTES: Final = 65536

Extent = tuple[float, float, float, float, float, float]


def _is_seq(path: Path) -> bool:
    return path.name.lower().endswith(_SEQ_SUFFIXES)


def sniff(path: str | os.PathLike[str]) -> bool:
    """Return True when ``path`` looks like CityJSON or CityJSONSeq.

    ``.city.json``/``.city.jsonl`` are recognised by name; other ``.json``/``.jsonl`` files
    when their first 64 KiB hold ``"type": "CityJSON"``/``"CityJSONFeature"`` or
    ``"CityObjects"``. Never raises.
    """
    p = Path(path)
    name = p.name.lower()
    if name.endswith((".city.json", ".city.jsonl")):
        return p.is_file()
    if not name.endswith(_SEQ_SUFFIXES + _DOC_SUFFIXES):
        return False
    try:
        with p.open("rb") as stream:
            head = stream.read(_SNIFF_BYTES)
    except OSError:
        return False
    return _TYPE_MARK.search(head) is not None


@dataclass(slots=True)
class _Stats:
    counts: Counter[str] = field(default_factory=Counter)
    lods: Counter[str] = field(default_factory=Counter)
    attribute_names: set[str] = field(default_factory=set)
    lower: Float64Array | None = None
    upper: Float64Array | None = None
    themes: dict[str, None] = field(default_factory=dict)

    def objects(self, objects: Mapping[str, Any], templates: list[Any]) -> None:
        for obj in objects.values():
            if not isinstance(obj, dict):
                continue
            self.counts[str(obj.get("type"))] += 1
            for geom in obj.get("geometry") or ():
                if isinstance(geom, dict):
                    for key in ("texture", "material"):
                        looks = geom.get(key)
                        if isinstance(looks, dict):
                            self.themes.update(dict.fromkeys(str(t) for t in looks))
            for lod in object_lods(obj, templates):
                self.lods[lod] += 1
            self.attribute_names.update(flatten_attributes(obj))

    def vertices(self, vertices: Float64Array) -> None:
        if not len(vertices):
            return
        lo, hi = vertices.min(axis=0), vertices.max(axis=0)
        self.lower = lo if self.lower is None else np.minimum(self.lower, lo)
        self.upper = hi if self.upper is None else np.maximum(self.upper, hi)

    def extent(self) -> Extent | None:
        if self.lower is None or self.upper is None:
            return None
        lo, hi = self.lower.tolist(), self.upper.tolist()
        return (lo[0], lo[1], lo[2], hi[0], hi[1], hi[2])


class CityJSONReader(StreamingReader):
    """Reader of CityJSON 1.0/1.1/2.0 documents and CityJSONSeq files.

    Parameters
    ----------
    path
        A ``.city.json``/``.json`` document or a ``.city.jsonl``/``.jsonl`` sequence.
    in_crs
        A CRS overriding ``metadata.referenceSystem`` (needed when the file declares none).
    header
        CityJSONSeq only: a CityJSON document whose ``transform``, ``referenceSystem`` and
        ``geometry-templates`` apply to a sequence without a header line.
    theme
        Appearance theme rendered (``SurfaceGeometry.appearance``); None: the document's
        default themes, else the first one met
        (:mod:`citymodel.converters._cityjson_appearance`).
    all_themes
        Read the other themes too (``SurfaceGeometry.themes``, kept by interchange output);
        False reads only the rendered one (meshing and tiling).

    Examples
    --------
    >>> with CityJSONReader("delft.city.json") as reader:  # doctest: +SKIP
    ...     for feature in reader.features(types={"Building"}):
    ...         print(feature.id, [g.lod for g in feature.geometries])
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        in_crs: str | None = None,
        header: str | os.PathLike[str] | None = None,
        theme: str | None = None,
        all_themes: bool = True,
    ) -> None:
        self.path = Path(path)
        self.in_crs = in_crs
        self.theme = theme
        self.all_themes = all_themes
        self.header_path = Path(header) if header is not None else None
        self.sequence = _is_seq(self.path)
        self._doc: dict[str, Any] | None = None
        self._header: Header | None = None
        self._headerless = False
        self._metadata: DatasetMetadata | None = None
        self._notes: list[str] = []
        self._looks: list[DocumentLook] = []

    def close(self) -> None:
        """Drop the parsed document; it is read again when used again."""
        self._doc = None

    def __repr__(self) -> str:
        return f"CityJSONReader({str(self.path)!r})"

    # -- header ----------------------------------------------------------------------------

    def _document(self) -> dict[str, Any]:
        if self._doc is None:
            doc = load_document(self.path)
            _check_type(self.path, doc, "CityJSON")
            if not isinstance(doc.get("CityObjects"), dict):
                raise ParseError('"CityObjects" missing or not a JSON object', path=self.path)
            self._doc = doc
        return self._doc

    def _read_header(self) -> Header:
        if self._header is not None:
            return self._header
        if not self.sequence:
            self._header = header_of(self.path, self._document())
            return self._header
        texts = iter_json_texts(self.path)
        try:
            first = next(texts, None)
        finally:
            texts.close()
        if first is None:
            raise ParseError("empty file: no CityJSONSeq content", path=self.path)
        if first.error is not None:
            raise ParseError(f"first line: {first.error}", path=self.path, line=first.line)
        value = first.value
        kind = value.get("type") if isinstance(value, dict) else None
        if kind == "CityJSON":
            self._header = header_of(self.path, value)
        elif kind == "CityJSONFeature":
            self._headerless = True
            self._header = self._external_header()
        else:
            raise ParseError(
                f'the first line must be a CityJSON header or a CityJSONFeature, found "type": {kind!r}',
                path=self.path,
                line=first.line,
            )
        return self._header

    def _external_header(self) -> Header:
        if self.header_path is None:
            return Header()
        doc = load_document(self.header_path)
        _check_type(self.header_path, doc, "CityJSON")
        return header_of(self.header_path, doc)

    @property
    def srs_name(self) -> str | None:
        """``metadata.referenceSystem`` as written (an EPSG URN or URL), or None."""
        return self._read_header().srs_name

    @property
    def version(self) -> str | None:
        """The CityJSON version of the document or header line (``"2.0"``), or None."""
        return self._read_header().version

    # -- features --------------------------------------------------------------------------

    def features(
        self, *, report: JobReport | None = None, types: Collection[str] | None = None
    ) -> Iterator[Feature]:
        """Yield the top-level CityObjects one by one, children nested (source CRS).

        Parameters
        ----------
        report
            Receives skipped objects/geometries (``report.skip``) and notes (``report.warn``);
            without one they are logged as warnings.
        types
            Top-level CityJSON types to yield (``{"Building", "Bridge"}``); None: all.

        Raises
        ------
        ParseError
            A file-level problem (see the module docstring).
        UnsupportedFormatError
            CityJSON older than 1.0.
        """
        return self._iterate(report=report, types=types, stats=None)

    def _skipper(self, report: JobReport | None, line: int | None) -> Any:
        file = str(self.path)

        def skip(reason: str, oid: str | None) -> None:
            if report is not None:
                report.skip(reason, id=oid, file=file, line=line)
            else:
                where = f"{file}:{line}" if line is not None else file
                log.warning("skipped %s, object %s: %s", where, oid, reason)

        return skip

    def _warn(self, report: JobReport | None, message: str) -> None:
        text = f"{self.path}: {message}"
        if text not in self._notes:
            self._notes.append(text)
        if report is not None:
            report.warn(text)
        else:
            log.warning(text)

    def _look(self, appearance: object, report: JobReport | None) -> DocumentLook | None:
        """The appearance tables of a document or header (problems reported once)."""
        look = DocumentLook.from_document(
            appearance, self.path.resolve().parent, self.theme, all_themes=self.all_themes
        )
        if look is not None:
            for problem in look.problems:
                self._warn(report, f"appearance: {problem}")
            self._looks.append(look)
        return look

    def _feature_look(
        self, header_look: DocumentLook | None, appearance: object, report: JobReport | None
    ) -> DocumentLook | None:
        """A CityJSONSeq feature's tables: the header's with its own ``vertices-texture``."""
        if not isinstance(appearance, dict):
            return header_look
        if header_look is None or "textures" in appearance or "materials" in appearance:
            return self._look(appearance, report)
        look = header_look.with_vertices(appearance.get("vertices-texture"))
        for problem in look.problems:
            self._warn(report, f"appearance: {problem}")
        return look

    @property
    def themes(self) -> list[str]:
        """Appearance themes met so far (after :meth:`features`)."""
        return list(dict.fromkeys(t for look in self._looks for t in look.themes))

    def _templates(
        self, header: Header, report: JobReport | None, look: DocumentLook | None
    ) -> Templates:
        """The document's templates, their textures/materials indexing ``look``.

        ``look`` is the document's appearance (a CityJSONSeq header's for a sequence).
        """
        if header.template_problem is not None and header.templates:
            self._warn(report, f"geometry templates unusable: {header.template_problem}")
        return Templates(raw=header.templates, vertices=header.template_vertices, look=look)

    def _iterate(
        self,
        *,
        report: JobReport | None,
        types: Collection[str] | None,
        stats: _Stats | None,
    ) -> Iterator[Feature]:
        if self.sequence:
            yield from self._iterate_seq(report=report, types=types, stats=stats)
            return
        doc = self._document()
        header = self._read_header()
        try:
            vertices = decode_vertices(doc.get("vertices"), header.transform)
        except GeometryProblem as problem:
            raise ParseError(f"{problem}; the file cannot be decoded", path=self.path) from None
        self._check_extent(header, vertices, report)
        look = self._look(doc.get("appearance"), report)
        objects: dict[str, Any] = doc["CityObjects"]
        if stats is not None:
            stats.objects(objects, header.templates)
            stats.vertices(vertices)
            return
        ctx = ObjectContext(
            vertices=vertices,
            templates=self._templates(header, report, look),
            source=SourceRef(str(self.path)),
            skip=self._skipper(report, None),
            look=look,
        )
        yield from build_features(objects, ctx, types=types)
        self._doc = None  # the document is read again only if asked for again

    def _iterate_seq(
        self,
        *,
        report: JobReport | None,
        types: Collection[str] | None,
        stats: _Stats | None,
    ) -> Iterator[Feature]:
        header = self._read_header()
        if self._headerless and self.header_path is None:
            self._warn(
                report,
                "no CityJSON header line (the first line is a CityJSONFeature): vertices are "
                "read as coordinates without 'transform', and the CRS must be given with "
                "--in-crs",
            )
        elif header.transform is None:
            self._warn(
                report, "the header line has no 'transform': vertices are read as coordinates"
            )
        header_look = self._look(header.appearance_data, report)
        templates = self._templates(header, report, header_look)
        suspicious = header.transform is None
        texts = iter_json_texts(
            self.path,
            on_concatenated=lambda: self._warn(
                report,
                "not line-delimited (JSON texts pretty-printed over several lines): read "
                "whole into memory; write one JSON text per line for streaming",
            ),
        )
        file = str(self.path)
        first = True
        for text in texts:
            value = text.value
            skip = self._skipper(report, text.line)
            if text.error is not None:
                skip(f"line skipped: {text.error}", None)
                continue
            kind = value.get("type") if isinstance(value, dict) else None
            if kind == "CityJSON":
                if not first:
                    skip("a second CityJSON header line; ignored", None)
                first = False
                continue
            first = False
            fid = value.get("id") if isinstance(value, dict) else None
            fid = fid if isinstance(fid, str) else None
            if kind != "CityJSONFeature":
                skip(f'line skipped: "type" is {kind!r}, expected "CityJSONFeature"', fid)
                continue
            objects = value.get("CityObjects")
            if not isinstance(objects, dict):
                skip('line skipped: "CityObjects" missing or not a JSON object', fid)
                continue
            try:
                vertices = decode_vertices(value.get("vertices"), header.transform)
            except GeometryProblem as problem:
                skip(f"feature skipped ({len(objects)} objects): {problem}", fid)
                continue
            if suspicious and integer_valued(vertices):
                suspicious = False
                self._warn(
                    report,
                    "vertices are integers but no 'transform' applies to them: coordinates "
                    "are probably scaled (a header line with 'transform' is missing); they "
                    "are taken as they are",
                )
            self._check_extent(header, vertices, report)
            if stats is not None:
                stats.objects(objects, header.templates)
                stats.vertices(vertices)
                continue
            if fid is not None and fid not in objects:
                self._warn(
                    report, f"line {text.line}: feature id {fid!r} is not among its CityObjects"
                )
            ctx = ObjectContext(
                vertices=vertices,
                templates=templates,
                source=SourceRef(file, text.line),
                skip=skip,
                look=self._feature_look(header_look, value.get("appearance"), report),
            )
            yield from build_features(objects, ctx, types=types)

    def _check_extent(
        self, header: Header, vertices: Float64Array, report: JobReport | None
    ) -> None:
        """Warn (once) when vertices lie well outside ``metadata.geographicalExtent``."""
        if header.extent is None or not len(vertices):
            return
        lo = np.asarray(header.extent[:3])
        hi = np.asarray(header.extent[3:])
        margin = np.maximum((hi - lo) * 0.5, 10.0)
        if (vertices.min(axis=0) < lo - margin).any() or (vertices.max(axis=0) > hi + margin).any():
            self._warn(
                report,
                "vertices lie outside metadata.geographicalExtent: 'transform' or the "
                "extent is wrong; coordinates are taken as decoded",
            )

    # -- metadata ----------------------------------------------------------------------------

    def metadata(self) -> DatasetMetadata:
        """Format, version, CRS, extent, counts per type and LoD, attribute names.

        ``counts`` cover every CityObject (children and groups included); ``lods`` count the
        objects with a surface geometry of that LoD; ``extent`` is
        ``metadata.geographicalExtent`` when present, else the bounding box of the decoded
        vertices (source CRS). A CityJSONSeq file is streamed once. Cached.
        """
        if self._metadata is not None:
            return self._metadata
        stats = _Stats()
        for _ in self._iterate(report=None, types=None, stats=stats):
            pass
        header = self._read_header()
        horizontal = vertical = None
        crs_source = self.in_crs or header.srs_name
        if crs_source is not None:
            horizontal, vertical = _resolved_codes(crs_source, user=self.in_crs is not None)
        self._metadata = DatasetMetadata(
            path=str(self.path),
            format="CityJSONSeq" if self.sequence else "CityJSON",
            version=header.version,
            srs_name=header.srs_name,
            horizontal_crs=horizontal,
            vertical_crs=vertical,
            extent=header.extent if header.extent is not None else stats.extent(),
            counts=dict(sorted(stats.counts.items())),
            lods=dict(sorted(stats.lods.items(), key=lambda kv: float(kv[0]))),
            attribute_names=tuple(sorted(stats.attribute_names)),
            details={
                "transform": header.transform is not None,
                "templates": len(header.templates),
                **({"appearance_themes": list(stats.themes)} if stats.themes else {}),
            },
            notes=tuple(self._notes),
        )
        return self._metadata


def _check_type(path: Path, doc: Mapping[str, Any], expected: str) -> None:
    kind = doc.get("type")
    if kind != expected:
        found = "missing" if kind is None else repr(kind)
        raise ParseError(
            f'not a CityJSON document: "type" is {found}, expected "{expected}"', path=path
        )


def _resolved_codes(srs: str, *, user: bool) -> tuple[str | None, str | None]:
    import warnings

    from citymodel.crs import parse_srs_name, resolve_crs
    from citymodel.errors import CRSError, CRSWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CRSWarning)
            resolved = resolve_crs(srs) if user else parse_srs_name(srs)
    except CRSError as err:
        log.debug("CRS %r not resolved: %s", srs, err)
        return None, None
    return resolved.horizontal_code, resolved.vertical_code


# ---------------------------------------------------------------------------------------------
# plug-in


class CityJSONFormat:
    """The ``citymodel.formats`` entry point of CityJSON and CityJSONSeq."""

    name: str = "cityjson"
    suffixes: tuple[str, ...] = (".city.json", ".json", ".city.jsonl", ".jsonl")
    kind: str = "features"
    supported_types: tuple[str, ...] = CITYJSON_TYPES

    def sniff(self, path: Path) -> bool:
        """Return True when ``path`` looks like CityJSON(Seq) (see :func:`sniff`)."""
        return sniff(path)

    def open(self, path: Path, **options: Any) -> CityJSONReader:
        """Open ``path`` for streaming; options: ``in_crs``, ``header``, ``theme``, ``all_themes``.

        Options of other formats (e.g. IFC's ``origin`` in a run mixing IFC and CityJSON
        inputs) do not apply to CityJSON and are ignored.
        """
        known = {
            k: v for k, v in options.items() if k in ("in_crs", "header", "theme", "all_themes")
        }
        if len(known) != len(options):
            log.debug(
                "%s: options not used by CityJSON: %s", path, sorted(set(options) - set(known))
            )
        return CityJSONReader(path, **known)


CITYJSON_FORMAT: Final[FormatPlugin] = CityJSONFormat()
"""The CityJSON format plug-in (entry point ``citymodel.formats: cityjson``)."""
