"""Reading the Buildings of one CityGML 1.0/2.0 document (a file or a zip member).

``lxml.etree.iterparse`` reports the end of each top-level member element; the member is read
(:class:`DocumentReader`), then cleared and removed together with everything before it, so
the tree never holds more than one object. Drafts of many objects wait in a
:class:`~citymodel.converters._gml_batch.SurfaceBatch` until their coordinates are parsed in
one numpy call; then the features are built and yielded in document order.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from lxml import etree

from citymodel._typing import Float64Array
from citymodel.converters._citygml_attributes import AttributeCollector
from citymodel.converters._citygml_vocabulary import (
    ATTRIBUTE,
    BOUNDARY,
    CITYGML_3_0_CORE,
    COUNTED,
    ENVELOPE,
    GEOMETRY,
    PART,
    UNKNOWN,
    VERSIONS,
    Vocabulary,
    vocabulary,
)
from citymodel.converters._gml import (
    DEFAULT_DIMENSION,
    XLINK_HREF,
    Envelope,
    GeometryWalker,
    SurfaceSink,
    children,
    line_of,
    local_name,
    parse_dimension,
    read_envelope,
)
from citymodel.converters._gml_batch import SurfaceBatch
from citymodel.converters._xmlsource import XMLSource
from citymodel.errors import ParseError, UnsupportedFormatError
from citymodel.model import Feature, SourceRef, SurfaceGeometry
from citymodel.report import JobReport

__all__ = ["PARSER_OPTIONS", "DocumentReader", "Header", "Stats", "scan_header"]

log = logging.getLogger(__name__)

PARSER_OPTIONS: Final[dict[str, Any]] = {  # no entities, no DTD, no network; big files allowed
    "huge_tree": True,
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "remove_comments": True,
    "remove_pis": True,
    "collect_ids": False,
}

_BATCH_CHARS: Final = 1 << 20
"""Coordinate text (characters) collected before one batched numpy parse."""
_BATCH_OBJECTS: Final = 512
_HEADER_MEMBERS: Final = 100
"""Top-level objects the header scan looks through for a first srsName."""
_SYNTAX_LOOKAHEAD: Final = 500
"""Parser events read after a non-CityGML root to find a syntax error first."""


@dataclass(frozen=True, slots=True)
class Header:
    """What the first part of one document tells: version, CRS, dataset envelope."""

    vocab: Vocabulary
    srs_name: str | None
    envelope: Envelope | None


_LXML_WHERE = re.compile(r",? line \d+, column \d+.*$")


def _syntax_error(err: etree.XMLSyntaxError, source: XMLSource) -> ParseError:
    """A :class:`ParseError` with the file, line and column of an lxml syntax error."""
    line = err.lineno or None
    msg = _LXML_WHERE.sub("", err.msg or str(err)).strip() or "syntax error"
    column = err.position[1]
    if column:
        msg += f" (column {column})"
    if "Premature end of data" in msg or ("EndTag" in msg and "not finished" in msg):
        msg += "; the file looks truncated"
    return ParseError(f"not well-formed XML: {msg}", path=source.display, line=line)


def _io_error(err: BaseException, source: XMLSource) -> ParseError:
    return ParseError(f"cannot read the input ({type(err).__name__}: {err})", path=source.display)


def _clear(el: etree._Element) -> None:
    """Free ``el``'s subtree and every earlier sibling (keeps the document tree flat)."""
    el.clear()
    parent = el.getparent()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]


def scan_header(source: XMLSource) -> Header:
    """Read the root element, the dataset envelope and the first srsName of ``source``.

    Stops at the first srsName (after the dataset envelope) or after ``_HEADER_MEMBERS``
    top-level objects. When the root is not a CityGML CityModel, the next few hundred parser
    events are still read so that a syntax error near the start (an unbound prefix, a
    truncated file) is reported as such rather than as "not CityGML".
    """
    stream = source.open()  # closed below, also when the scan stops early
    root: etree._Element | None = None
    vocab: Vocabulary | None = None
    not_citygml: UnsupportedFormatError | None = None
    srs: str | None = None
    envelope: Envelope | None = None
    members = 0
    try:
        for event, el in etree.iterparse(stream, events=("start", "end"), **PARSER_OPTIONS):
            if root is None:
                root = el
                try:
                    vocab = _root_vocabulary(el, source)
                except UnsupportedFormatError as err:
                    not_citygml = err
                continue
            if vocab is None:
                members += 1
                if members > _SYNTAX_LOOKAHEAD:
                    break
                continue
            tag = el.tag
            if event == "start":
                if srs is None:
                    srs = el.get("srsName")
                if tag in vocab.members or tag == vocab.members_array:
                    members += 1
                    if srs is not None or members > _HEADER_MEMBERS:
                        break
            elif tag in vocab.members or tag == vocab.members_array:
                _clear(el)
                if srs is not None:
                    break
            elif tag == vocab.gml.envelope:
                parent = el.getparent()
                if (
                    parent is not None
                    and parent.tag == vocab.gml.bounded_by
                    and parent.getparent() is root
                ):
                    envelope = read_envelope(el, vocab.gml)
    except etree.XMLSyntaxError as err:
        raise _syntax_error(err, source) from err
    except (OSError, EOFError, zlib.error) as err:
        raise _io_error(err, source) from err
    finally:
        stream.close()
    if not_citygml is not None:
        raise not_citygml
    if vocab is None:
        raise ParseError("empty document", path=source.display)
    return Header(vocab=vocab, srs_name=srs, envelope=envelope)


def _root_vocabulary(root: etree._Element, source: XMLSource) -> Vocabulary:
    tag = root.tag
    qname = etree.QName(tag)
    if qname.localname != "CityModel":
        raise UnsupportedFormatError(
            f"not CityGML: the root element is {tag!r}, not a CityGML CityModel",
            path=source.display,
            line=line_of(root),
        )
    if qname.namespace == CITYGML_3_0_CORE:
        raise UnsupportedFormatError(
            "CityGML 3.0 is not supported yet (CityGML 1.0 and 2.0 are)",
            path=source.display,
            line=line_of(root),
        )
    version = VERSIONS.get(qname.namespace or "")
    if version is None:
        raise UnsupportedFormatError(
            f"not CityGML 1.0/2.0: CityModel in namespace {qname.namespace!r}",
            path=source.display,
            line=line_of(root),
        )
    return vocabulary(version)


@dataclass(slots=True)
class _Draft:
    """A feature whose geometry waits for the batch's coordinate parse."""

    id: str
    type: str
    line: int | None
    attributes: dict[str, Any]
    sinks: list[int] = field(default_factory=list)
    children: list[_Draft] = field(default_factory=list)

    def finish(self, geometries: list[SurfaceGeometry | None], path: str) -> Feature:
        """The feature, with its geometries taken from the built batch (by sink index)."""
        geoms = [g for i in self.sinks if (g := geometries[i]) is not None]
        geoms.sort(key=lambda g: float(g.lod))
        return Feature(
            id=self.id,
            type=self.type,
            attributes=self.attributes,
            geometries=tuple(geoms),
            children=tuple(c.finish(geometries, path) for c in self.children),
            source=SourceRef(path, self.line),
        )


@dataclass(slots=True)
class Stats:
    """What a full pass learns for :meth:`CityGMLReader.metadata`."""

    counts: Counter[str] = field(default_factory=Counter)
    lods: Counter[str] = field(default_factory=Counter)
    attribute_names: set[str] = field(default_factory=set)
    lower: Float64Array | None = None
    upper: Float64Array | None = None

    def add_bounds(self, geometries: list[SurfaceGeometry | None]) -> None:
        """Grow the bounding box (source CRS) by the vertices of ``geometries``."""
        verts = [g.vertices for g in geometries if g is not None and g.vertex_count]
        if not verts:
            return
        lo = np.min([v.min(axis=0) for v in verts], axis=0)
        hi = np.max([v.max(axis=0) for v in verts], axis=0)
        self.lower = lo if self.lower is None else np.minimum(self.lower, lo)
        self.upper = hi if self.upper is None else np.maximum(self.upper, hi)


class DocumentReader:
    """Reads the Buildings of one XML document (one file or zip member).

    Parameters
    ----------
    source, header
        The document and what :func:`scan_header` found in it.
    dataset_srs
        The srsName in effect where the document declares none.
    report
        Receives skipped polygons/geometries and notes; None: logged warnings.
    quiet
        Neither report nor log (the metadata scan).
    swap_xy
        Return x/y swapped (lat/lon-ordered geographic CRS, AX-3).
    srs_ok
        Whether geometry in another srsName may be mixed in.
    stats
        Collects counts, LoDs, attribute names and bounds (for metadata), or None.
    """

    def __init__(
        self,
        source: XMLSource,
        header: Header,
        *,
        dataset_srs: str | None,
        report: JobReport | None,
        quiet: bool,
        swap_xy: bool,
        srs_ok: Callable[[str], bool],
        stats: Stats | None,
    ) -> None:
        self.source = source
        self.quiet = quiet
        self.header = header
        self.vocab = header.vocab
        self.report = report
        self.swap_xy = swap_xy
        self.stats = stats
        self._srs_ok = srs_ok
        self.srs = header.envelope.srs_name if header.envelope else None
        self.srs = self.srs or dataset_srs
        env_dim = header.envelope.srs_dimension if header.envelope else None
        self.dim = env_dim or DEFAULT_DIMENSION
        self.walker = GeometryWalker(self.vocab.gml, on_problem=self._problem, srs_ok=srs_ok)
        self.batch = SurfaceBatch()
        self.drafts: list[_Draft] = []
        self.generated_ids = 0
        self.unclosed_rings = 0
        self.first_unclosed: tuple[str, int | None] | None = None

    # -- reporting ---------------------------------------------------------------------------

    def _problem(self, reason: str, sink: SurfaceSink, line: int | None) -> None:
        self.skip(reason, sink.owner, line)

    def skip(self, reason: str, feature_id: str | None, line: int | None) -> None:
        """Record a left-out polygon/geometry of feature ``feature_id`` at ``line``."""
        if self.quiet:
            return
        if self.report is not None:
            self.report.skip(reason, id=feature_id, file=self.source.display, line=line)
        else:
            where = self.source.display if line is None else f"{self.source.display}:{line}"
            log.warning("%s: feature %s: %s", where, feature_id, reason)

    def warn(self, message: str) -> None:
        """Record a note about the document."""
        if self.quiet:
            return
        if self.report is not None:
            self.report.warn(message)
        else:
            log.warning(message)

    # -- the document ------------------------------------------------------------------------

    def features(self, wanted: bool) -> Iterator[Feature]:
        """Yield the document's Buildings (``wanted``) or only count its objects.

        Raises
        ------
        ParseError
            On XML syntax errors and unreadable (truncated, corrupt) input.
        """
        vocab = self.vocab
        stream = self.source.open()
        tags = (*vocab.members, vocab.members_array)
        position = 0
        try:
            for _, member in etree.iterparse(stream, events=("end",), tag=tags, **PARSER_OPTIONS):
                position = self._member(member, position, wanted)
                # No reference into the member may survive its clearing: lxml would then keep
                # the subtree and move it to a new document node by node (slow).
                _clear(member)
                if self.batch.text_chars >= _BATCH_CHARS or len(self.drafts) >= _BATCH_OBJECTS:
                    yield from self._flush()
            yield from self._flush()
        except etree.XMLSyntaxError as err:
            raise _syntax_error(err, self.source) from err
        except (OSError, EOFError, zlib.error) as err:
            raise _io_error(err, self.source) from err
        finally:
            stream.close()
            self._final_notes()

    def _member(self, member: etree._Element, position: int, wanted: bool) -> int:
        """Read the top-level object(s) of a member element; returns the updated position."""
        vocab = self.vocab
        stats = self.stats
        for obj in children(member):
            tag = obj.tag
            if not isinstance(tag, str):
                continue
            position += 1
            if tag == vocab.building:
                if stats is not None:
                    stats.counts["Building"] += 1
                if wanted:
                    self._read_object(obj, position)
            elif stats is not None:
                stats.counts[local_name(tag)] += 1
        return position

    def _final_notes(self) -> None:
        if self.unclosed_rings:
            what, line = self.first_unclosed or ("?", None)
            at = f" (first: {what}" + (f", line {line})" if line else ")")
            self.warn(
                f"{self.source.display}: {self.unclosed_rings} ring(s) without closing point "
                f"accepted as they are{at}"
            )
        if self.generated_ids:
            self.warn(
                f"{self.source.display}: {self.generated_ids} feature(s) without gml:id got "
                f"generated ids like '{self.source.name}#<n>'"
            )

    def _flush(self) -> Iterator[Feature]:
        if not self.drafts:
            return
        geometries, stats = self.batch.build(swap_xy=self.swap_xy, on_problem=self._problem)
        self.unclosed_rings += stats.unclosed_rings
        if self.first_unclosed is None:
            self.first_unclosed = stats.first_unclosed
        drafts, self.drafts = self.drafts, []
        path = self.source.display
        if self.stats is not None:
            self.stats.add_bounds(geometries)
        for draft in drafts:
            feature = draft.finish(geometries, path)
            if self.stats is not None:
                self._count(self.stats, feature)
            yield feature

    @staticmethod
    def _count(stats: Stats, feature: Feature) -> None:
        for feat, parent in feature.walk():
            if parent is not None:
                stats.counts[feat.type] += 1
            for g in feat.geometries:
                stats.lods[g.lod] += 1
            stats.attribute_names.update(feat.attributes)

    # -- one top-level object --------------------------------------------------------------

    def _read_object(self, obj: etree._Element, position: int) -> None:
        self.walker.begin_object(obj)
        try:
            fallback = f"{self.source.name}#{position}"
            draft = self._read_building(obj, "Building", fallback, self.dim, self.srs)
        finally:
            self.walker.end_object()
        self.drafts.append(draft)

    def _read_building(
        self,
        el: etree._Element,
        type_: str,
        fallback_id: str,
        dim: int,
        srs: str | None,
    ) -> _Draft:
        vocab = self.vocab
        fid = el.get(vocab.gml.id)
        if not fid:
            fid = fallback_id
            self.generated_ids += 1
        attrs = AttributeCollector()
        thematic: dict[str, SurfaceSink] = {}
        plain: list[tuple[str, etree._Element]] = []
        parts: list[_Draft] = []
        geometry_ok = True
        table = vocab.building_children
        surface_types = vocab.surface_types
        surface_lods = vocab.surface_lods
        opening = vocab.opening
        collect = self.walker.collect
        for child in children(el):
            entry = table.get(child.tag)
            if entry is None:
                continue
            kind, arg = entry
            if kind == ATTRIBUTE:
                arg(child, attrs)
            elif kind == BOUNDARY:
                # CGML-2: bldg:boundedBy/<Roof|Wall|...Surface>/bldg:lodNMultiSurface (inlined:
                # this is the innermost loop over the thematic surfaces of every building)
                if not geometry_ok:
                    continue
                for surface in children(child) if len(child) else self._held(child, fid):
                    stype = surface_types.get(surface.tag, UNKNOWN)
                    for prop in children(surface):
                        lod = surface_lods.get(prop.tag)
                        if lod is not None:
                            sink = thematic.get(lod)
                            if sink is None:
                                sink = thematic[lod] = SurfaceSink(fid, lod)
                            collect(prop, sink, stype, dim, srs)
                        elif prop.tag == opening:
                            self._openings(prop, thematic, fid, dim, srs)
            elif kind == GEOMETRY:
                plain.append((arg, child))
            elif kind == PART:
                for part in self._held(child, fid):
                    if part.tag == vocab.building_part:
                        k = len(parts) + 1
                        parts.append(
                            self._read_building(
                                part, "BuildingPart", f"{fallback_id}.{k}", dim, srs
                            )
                        )
            elif kind == ENVELOPE:
                for env in child:
                    if env.tag != vocab.gml.envelope:
                        continue
                    dim = parse_dimension(env.get("srsDimension"), dim) or dim
                    env_srs = env.get("srsName")
                    if env_srs and env_srs != srs:
                        if self._srs_ok(env_srs):
                            srs = env_srs
                        else:
                            geometry_ok = False
                            self.skip(
                                f"srsName {env_srs!r} of the feature differs from the dataset "
                                f"CRS {srs!r}; its geometry is left out",
                                fid,
                                line_of(env),
                            )
            elif kind == COUNTED and self.stats is not None:
                self.stats.counts[arg] += 1
        draft = _Draft(id=fid, type=type_, line=line_of(el), attributes=attrs.result())
        draft.children = parts
        if geometry_ok:
            self._choose_geometry(draft, thematic, plain, dim, srs)
        return draft

    def _held(self, prop: etree._Element, fid: str) -> list[etree._Element]:
        """The object(s) held by a property element; an ``xlink:href`` is followed."""
        held = children(prop)
        if held:
            return held
        href = prop.get(XLINK_HREF)
        if href is None:
            return []
        target = self.walker.lookup(href)
        if target is None:
            self.skip(
                f"{local_name(prop.tag)}: xlink:href {href!r} cannot be resolved within this "
                "top-level object; left out",
                fid,
                line_of(prop),
            )
            return []
        return [target]

    def _openings(
        self,
        prop: etree._Element,
        sinks: dict[str, SurfaceSink],
        fid: str,
        dim: int,
        srs: str | None,
    ) -> None:
        """A ``bldg:opening`` of a boundary surface: Window or Door at LoD3/LoD4."""
        vocab = self.vocab
        for opening in self._held(prop, fid):
            otype = vocab.opening_types.get(opening.tag)
            if otype is None:
                continue
            for child in opening:
                tag = child.tag
                lod = vocab.surface_lods.get(tag)
                if lod is not None:
                    sink = sinks.get(lod)
                    if sink is None:
                        sink = sinks[lod] = SurfaceSink(fid, lod)
                    self.walker.collect(child, sink, otype, dim, srs)
                elif tag in vocab.implicit:
                    oid = opening.get(vocab.gml.id)
                    what = local_name(opening.tag) + (f" {oid}" if oid else "")
                    self.skip(
                        f"{what}: {local_name(tag)} (implicit geometry) is not supported; left out",
                        fid,
                        line_of(child),
                    )

    def _choose_geometry(
        self,
        draft: _Draft,
        thematic: dict[str, SurfaceSink],
        plain: list[tuple[str, etree._Element]],
        dim: int,
        srs: str | None,
    ) -> None:
        """Pick per LoD the thematic surfaces, else the solid, else the multi-surfaces."""
        solids = self.vocab.solid_properties
        chosen: dict[str, SurfaceSink] = {}
        for lod, sink in thematic.items():
            if sink.polygon_count:
                lod_solids = [p for lp, p in plain if lp == lod and p.tag in solids]
                sink.solid = bool(lod_solids) and self._same_polygons(lod_solids, sink)
                chosen[lod] = sink
        if plain:
            for lod in dict.fromkeys(lp for lp, _ in plain):
                if lod in chosen:
                    continue  # CGML-3: the thematic surfaces already render this LoD
                props = [p for lp, p in plain if lp == lod]
                lod_solids = [p for p in props if p.tag in solids]
                sink = SurfaceSink(draft.id, lod)
                for prop in lod_solids or props:
                    self.walker.collect(prop, sink, UNKNOWN, dim, srs)
                sink.solid = bool(lod_solids)
                if sink.polygon_count:
                    chosen[lod] = sink
        add = self.batch.add
        if len(chosen) == 1:
            draft.sinks = [add(sink) for sink in chosen.values()]
        else:
            draft.sinks = [add(chosen[lod]) for lod in sorted(chosen, key=float)]

    def _same_polygons(self, solids: list[etree._Element], sink: SurfaceSink) -> bool:
        """Whether the solid(s) consist of exactly the polygons in ``sink`` (a closed shell).

        The AdV pattern: a ``lod2Solid`` whose members reference (``xlink:href``, possibly
        through an ``OrientableSurface``) the polygons of the thematic surfaces.
        """
        gml = self.vocab.gml
        refs: set[str] = set()
        for solid in solids:
            for member in solid.iter(gml.surface_member):
                href = member.get(XLINK_HREF)
                if href is None:
                    if len(member) != 1:
                        return False
                    held = member[0]
                    if held.tag == gml.orientable_surface:  # ... / baseSurface
                        if len(held) != 1:
                            return False
                        held = held[0]
                        href = held.get(XLINK_HREF)
                    if href is None:
                        pid = held.get(gml.id) if held.tag == gml.polygon else None
                        if pid is None:
                            return False
                        refs.add(pid)
                        continue
                refs.add(href[1:] if href.startswith("#") else href)
        ids = sink.poly_ids
        return len(refs) == len(ids) and None not in ids and refs.issuperset(ids)
