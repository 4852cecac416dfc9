"""Reading the Buildings of one CityGML 1.0/2.0 document (a file or a zip member).

``lxml.etree.iterparse`` reports the end of each top-level member element; the member is read
(:class:`DocumentReader`), then cleared and removed together with everything before it, so
the tree never holds more than one object. Drafts of many objects wait in a
:class:`~citymodel.converters._gml_batch.SurfaceBatch` until their coordinates are parsed in
one vectorised numpy pass; then the features are built and yielded in document order.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
from lxml import etree

from citymodel._typing import Float64Array
from citymodel.converters._citygml_appearance import DocumentAppearances
from citymodel.converters._citygml_attributes import AttributeCollector
from citymodel.converters._citygml_implicit import (
    Instance,
    concat_geometries,
    parse_matrix,
    place,
)
from citymodel.converters._citygml_vocabulary import (
    ATTRIBUTE,
    BOUNDARY,
    CITYGML_3_0_CORE,
    COUNTED,
    CURVE,
    ENVELOPE,
    GEOMETRY,
    GROUP_MEMBER,
    IMPLICIT,
    NOT_MESHED,
    PART,
    RELIEF_LOD,
    UNKNOWN,
    VERSIONS,
    ObjectClass,
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
    coordinates_text,
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
    if qname.namespace == CITYGML_3_0_CORE:  # read by _citygml3_document.DocumentReader3
        from citymodel.converters._citygml3_vocabulary import vocabulary3

        return vocabulary3()
    version = VERSIONS.get(qname.namespace or "")
    if version is None:
        raise UnsupportedFormatError(
            f"not CityGML 1.0/2.0/3.0: CityModel in namespace {qname.namespace!r}",
            path=source.display,
            line=line_of(root),
        )
    return vocabulary(version)


def _table_children(
    el: etree._Element, table: Mapping[Any, tuple[int, Any]]
) -> list[tuple[etree._Element, str, tuple[int, Any]]]:
    """The children of ``el`` in ``table`` as ``(element, tag, entry)``, in document order."""
    return [
        (child, tag, entry)
        for child in children(el)
        if (entry := table.get(tag := child.tag)) is not None
    ]


def _holder(el: etree._Element) -> etree._Element:
    """The top-level city object holding ``el`` (the document's grandchild), else ``el``."""
    line = [el, *el.iterancestors()]
    return line[-3] if len(line) >= 3 else el


@dataclass(slots=True)
class _Draft:
    """A feature whose geometry waits for the batch's coordinate parse.

    ``instances`` are implicit representations (placed when the feature is finished);
    ``bound`` holds geometries already taken from a batch while the feature waits for a
    template defined later in the document.
    """

    id: str
    type: str
    line: int | None
    attributes: dict[str, Any]
    sinks: list[int] = field(default_factory=list)
    children: list[_Draft] = field(default_factory=list)
    instances: list[Instance] | None = None
    bound: list[SurfaceGeometry] | None = None

    def finish(
        self, geometries: list[SurfaceGeometry | None], path: str, place: _Place | None = None
    ) -> Feature:
        """The feature, with its geometries taken from the built batch (by sink index)."""
        if self.bound is not None:
            geoms = self.bound
        else:
            geoms = [g for i in self.sinks if (g := geometries[i]) is not None]
        if self.instances and place is not None:
            geoms = place(self, geoms)
        if len(geoms) > 1:
            geoms.sort(key=lambda g: float(g.lod))
        return Feature(
            id=self.id,
            type=self.type,
            attributes=self.attributes,
            geometries=tuple(geoms),
            children=tuple([c.finish(geometries, path, place) for c in self.children])
            if self.children
            else (),
            source=SourceRef(path, self.line),
        )

    def all_sinks(self) -> list[int]:
        """The batch sink indices of this draft and all its descendants."""
        if not self.children:
            return self.sinks
        out = list(self.sinks)
        for child in self.children:
            out += child.all_sinks()
        return out

    def bind(self, geometries: list[SurfaceGeometry | None]) -> None:
        """Take this draft's (and its children's) geometries from the batch now."""
        self.bound = [g for i in self.sinks if (g := geometries[i]) is not None]
        self.sinks = []
        for child in self.children:
            child.bind(geometries)

    def template_keys(self) -> Iterator[str]:
        """The template ids the implicit representations of this draft tree use."""
        for inst in self.instances or ():
            yield inst.key
        for child in self.children:
            yield from child.template_keys()


_Place = Callable[[_Draft, list[SurfaceGeometry]], list[SurfaceGeometry]]


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
        self.source_name = source.name
        """The document's file name, the stem of generated feature ids."""
        self.walker = GeometryWalker(self.vocab.gml, on_problem=self._problem, srs_ok=srs_ok)
        self.batch = SurfaceBatch()
        self.drafts: list[_Draft] = []
        self.generated_ids = 0
        self.unclosed_rings = 0
        self.first_unclosed: tuple[str, int | None] | None = None
        self.appearances: DocumentAppearances | None = None
        """Attaches materials/textures to the geometries when set (by the reader)."""
        self.templates: dict[str, SurfaceGeometry | str] = {}
        """Implicit geometry templates by id (local coordinates), or why one is unusable."""
        self.instance_count = 0
        self.implicit_drafts: set[int] = set()
        """``id()`` of the top-level drafts with implicit representations."""
        self.waiting: list[_Draft] = []
        """Drafts waiting for a template defined later in the document."""
        self.excluded_templates: set[str] = set()
        """Ids of templates defined inline in objects that are not read (``--types``)."""
        self.curves: Counter[str] = Counter()
        self.first_curve: tuple[str, int | None] | None = None
        self.unknown: Counter[str] = Counter()

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

    def features(self, wanted: bool | Collection[str]) -> Iterator[Feature]:
        """Yield the document's city objects, or only count them.

        ``wanted``: True reads every top-level object, False only counts them, a collection
        of feature type names (``"Building"``, ``"Road"`` ...) reads those.

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
            yield from self._finish_waiting()
        except etree.XMLSyntaxError as err:
            raise _syntax_error(err, self.source) from err
        except (OSError, EOFError, zlib.error) as err:
            raise _io_error(err, self.source) from err
        finally:
            stream.close()
            self._final_notes()

    def _member(self, member: etree._Element, position: int, wanted: bool | Collection[str]) -> int:
        """Read the top-level object(s) of a member element; returns the updated position."""
        classes = self.vocab.classes
        stats = self.stats
        for obj in children(member):
            tag = obj.tag
            if not isinstance(tag, str):
                continue
            position += 1
            cls = classes.get(tag)
            if cls is None:
                self._unknown_object(obj, tag, wanted is True)
                continue
            if stats is not None:
                stats.counts[cls.type] += 1
            if wanted is True or (wanted is not False and cls.type in wanted):
                self._read_object(obj, cls, position)
            elif wanted is not False:
                self._note_templates(obj)
        return position

    def _note_templates(self, obj: etree._Element) -> None:
        """Remember the ids of the templates defined inline in an object that is not read.

        An object that is read may use one (by ``xlink:href``); it is parsed when the
        document's objects are done (:meth:`_templates_of_excluded`).
        """
        idattr = self.vocab.gml.id
        for prop in obj.iter(self.vocab.relative_geometry):
            held = children(prop)
            key = held[0].get(idattr) if held else None
            if key is not None and key not in self.templates:
                self.excluded_templates.add(key)

    def _templates_of_excluded(self, drafts: list[_Draft]) -> None:
        """Parse the templates ``drafts`` use that objects not read define (a second pass).

        Only a document whose selected objects use such a template is read again; the pass
        parses nothing but those templates and stops when it has them all.
        """
        needed = {
            key
            for draft in drafts
            for key in draft.template_keys()
            if key not in self.templates and key in self.excluded_templates
        }
        if not needed:
            return
        vocab = self.vocab
        idattr = vocab.gml.id
        stream = self.source.open()
        try:
            tags = (*vocab.members, vocab.members_array)
            for _, member in etree.iterparse(stream, events=("end",), tag=tags, **PARSER_OPTIONS):
                for obj in children(member):
                    for prop in obj.iter(vocab.relative_geometry):
                        held = children(prop)
                        key = held[0].get(idattr) if held else None
                        if key is None or key not in needed:
                            continue
                        needed.discard(key)
                        self.walker.begin_object(obj)
                        try:
                            owner = obj.get(idattr) or key
                            self._parse_template(key, prop, owner, self.dim, self.srs)
                        finally:
                            self.walker.end_object()
                _clear(member)
                if not needed:
                    break
        finally:
            stream.close()

    def _unknown_object(self, obj: etree._Element, tag: str, report: bool) -> None:
        """Count a top-level object of a class that is not read; report it when all are read."""
        name = local_name(tag)
        if self.stats is not None:
            self.stats.counts[name] += 1
        if not report or "/appearance/" in tag:  # appearances are no city objects
            return
        self.unknown[name] += 1
        self.skip(
            f"{name} ({tag.partition('}')[0].lstrip('{')}) is not a CityGML "
            f"{self.vocab.version.version} city object class this reader knows (an ADE?); "
            "not converted",
            obj.get(self.vocab.gml.id),
            line_of(obj),
        )

    def _final_notes(self) -> None:
        if self.unclosed_rings:
            what, line = self.first_unclosed or ("?", None)
            at = f" (first: {what}" + (f", line {line})" if line else ")")
            self.warn(
                f"{self.source.display}: {self.unclosed_rings} ring(s) without closing point "
                f"accepted as they are{at}"
            )
        if self.curves:
            fid, line = self.first_curve or ("?", None)
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.curves.items()))
            self.warn(
                f"{self.source.display}: {sum(self.curves.values())} curve geometries ({kinds}; "
                f"first: {fid}" + (f", line {line}" if line else "") + ") are lines, not "
                "surfaces; not meshed"
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
        if self.appearances is not None:
            self.appearances.apply(geometries, *self.batch.built)
        self.unclosed_rings += stats.unclosed_rings
        if self.first_unclosed is None:
            self.first_unclosed = stats.first_unclosed
        drafts, self.drafts = self.drafts, []
        path = self.source.display
        if self.stats is not None:
            self.stats.add_bounds(geometries)
        implicit = self.implicit_drafts
        for draft in drafts:
            if implicit and id(draft) in implicit:
                implicit.discard(id(draft))
                if self._waits(draft):  # a template defined further down: finish at the end
                    draft.bind(geometries)
                    self.waiting.append(draft)
                    continue
                feature = draft.finish(geometries, path, self._place)
            else:
                feature = draft.finish(geometries, path)
            if self.stats is not None:
                self._count(self.stats, feature)
            yield feature

    def _finish_waiting(self) -> Iterator[Feature]:
        """The drafts that waited for templates, now that the whole document is read."""
        waiting, self.waiting = self.waiting, []
        if waiting and self.excluded_templates:
            self._templates_of_excluded(waiting)
        path = self.source.display
        for draft in waiting:
            feature = draft.finish([], path, self._place)
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

    def _read_object(self, obj: etree._Element, cls: ObjectClass, position: int) -> None:
        self.walker.begin_object(obj)
        instances = self.instance_count
        try:
            draft = self._read_feature(obj, cls, str(position), self.dim, self.srs)
        finally:
            self.walker.end_object()
        if self.appearances is not None:
            self.appearances.read_object(obj, draft.id, draft.all_sinks())
        if self.instance_count != instances:
            self.implicit_drafts.add(id(draft))
        self.drafts.append(draft)

    def _read_feature(
        self,
        el: etree._Element,
        cls: ObjectClass,
        position: str,
        dim: int,
        srs: str | None,
    ) -> _Draft:
        """Read a city object and the objects nested in it (parts, installations, areas ...).

        ``position`` is the 1-based position of the top-level object in the document, with
        ``.<k>`` appended per nesting level (a feature without gml:id gets the id
        ``<file name>#<position>``).
        """
        vocab = self.vocab
        fid = el.get(vocab.gml.id)
        if not fid:
            fid = f"{self.source_name}#{position}"
            self.generated_ids += 1
        attrs = AttributeCollector()
        thematic: dict[str, SurfaceSink] = {}
        plain: list[tuple[str, etree._Element, bool]] = []  # (lod, property, is a solid)
        parts: list[_Draft] = []
        implicit: list[tuple[str, etree._Element]] = []
        geometry_ok = True
        relief_lod: str | None = None
        lodless = False  # a dem:tin, whose LoD is the relief component's dem:lod
        members: dict[str, list[str]] | None = None
        table = cls.children
        surface_types = vocab.surface_types
        surface_lods = vocab.surface_lods
        solids = vocab.solid_properties
        openings = vocab.openings
        collect = self.walker.collect
        compiled = self.walker.compiled
        # the compiled walk reads the plain attributes itself and hands back the rest
        items = (
            None
            if compiled is None
            else compiled.feature_children(el, table, vocab.plain_attributes, attrs, ATTRIBUTE)
        )
        for child, tag, entry in _table_children(el, table) if items is None else items:
            kind, arg = entry
            if kind == BOUNDARY:
                # CGML-2: <module>:boundedBy/<Roof|Wall|...Surface>/<module>:lodNMultiSurface
                # (inlined: this is the innermost loop over the thematic surfaces of every
                # building)
                if not geometry_ok:
                    continue
                if compiled is not None and compiled.boundary(
                    child, thematic, fid, dim, srs, surface_types, surface_lods, openings,
                    UNKNOWN, SurfaceSink, collect, self._openings,
                ):  # fmt: skip
                    continue  # the same walk, compiled (plain elements only)
                for surface in children(child) or self._held(child, fid):
                    stype = surface_types.get(surface.tag, UNKNOWN)
                    for prop in children(surface):
                        prop_tag = prop.tag
                        lod = surface_lods.get(prop_tag)
                        if lod is not None:
                            sink = thematic.get(lod)
                            if sink is None:
                                sink = thematic[lod] = SurfaceSink(fid, lod)
                            collect(prop, sink, stype, dim, srs)
                        elif prop_tag in openings:
                            self._openings(prop, thematic, fid, dim, srs)
            elif kind == ATTRIBUTE:
                arg(child, tag, attrs)
            elif kind == GEOMETRY:
                if arg is None:  # dem:tin: the LoD is the relief component's dem:lod
                    if self._tin_triangles(child, fid):
                        plain.append(("", child, False))
                        lodless = True
                    continue
                plain.append((arg, child, tag in solids))
            elif kind == PART:
                for held in self._held(child, fid):
                    sub = vocab.classes.get(held.tag)
                    if sub is None:
                        if isinstance(held.tag, str):
                            self.skip(
                                f"{local_name(held.tag)} in {local_name(tag)} is not a city "
                                "object class read; left out",
                                fid,
                                line_of(held),
                            )
                        continue
                    k = len(parts) + 1
                    parts.append(self._read_feature(held, sub, f"{position}.{k}", dim, srs))
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
            elif kind == IMPLICIT:
                implicit.append((arg, child))
            elif kind == CURVE:
                self.curves[arg if arg.startswith("lod0N") else local_name(tag)] += 1
                if self.first_curve is None:
                    self.first_curve = (fid, line_of(child))
            elif kind == NOT_MESHED:
                self.skip(
                    f"{cls.type}: {arg} is not a surface and is not meshed; left out",
                    fid,
                    line_of(child),
                )
            elif kind == RELIEF_LOD:
                text = (child.text or "").strip()
                relief_lod = text if text.isdigit() else None
            elif kind == GROUP_MEMBER:
                if members is None:
                    members = {}
                members.setdefault(arg, []).extend(self._group_member(child, fid, position, parts))
            elif kind == COUNTED and self.stats is not None:
                self.stats.counts[arg] += 1
        result = attrs.result()
        if members:
            for name, ids in members.items():
                result[name] = "; ".join(ids)
        draft = _Draft(id=fid, type=cls.type, line=line_of(el), attributes=result)
        draft.children = parts
        if geometry_ok:
            if lodless and relief_lod is not None:
                plain = [(lod or relief_lod, p, s) for lod, p, s in plain]
            elif lodless:
                self.skip(f"{cls.type}: no dem:lod; its TIN is taken as LoD 1", fid, line_of(el))
                plain = [(lod or "1", p, s) for lod, p, s in plain]
            self._choose_geometry(draft, thematic, plain, cls.default_surface, dim, srs)
            if implicit:
                draft.instances = self._implicit_instances(
                    implicit, fid, cls.default_surface, dim, srs
                )
        return draft

    def _tin_triangles(self, prop: etree._Element, fid: str) -> bool:
        """Whether a ``dem:tin`` holds triangles; a control-point-only ``gml:Tin`` is reported."""
        gml = self.vocab.gml
        for geom in children(prop):
            if geom.tag != gml.tin:
                continue
            triangles = any(len(p) for p in geom.iter(gml.triangle_patches))
            if not triangles and any(True for _ in geom.iter(self.vocab.control_point)):
                self.skip(
                    "TINRelief: gml:Tin with control points only (no gml:trianglePatches); "
                    "an untriangulated TIN is not meshed; left out",
                    fid,
                    line_of(geom),
                )
                return False
        return True

    def _group_member(
        self, prop: etree._Element, fid: str, position: str, parts: list[_Draft]
    ) -> list[str]:
        """Ids of a ``grp:groupMember``/``grp:parent``; an inline member is read as a child."""
        href = prop.get(XLINK_HREF)
        if href is not None:
            return [href[1:] if href.startswith("#") else href]
        ids: list[str] = []
        for held in children(prop):
            sub = self.vocab.classes.get(held.tag)
            if sub is None:
                self.skip(
                    f"group member {local_name(held.tag)} is not a city object class read; "
                    "left out",
                    fid,
                    line_of(held),
                )
                continue
            draft = self._read_feature(
                held, sub, f"{position}.{len(parts) + 1}", self.dim, self.srs
            )
            parts.append(draft)
            ids.append(draft.id)
        return ids

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
        plain: list[tuple[str, etree._Element, bool]],
        surface: int,
        dim: int,
        srs: str | None,
    ) -> None:
        """Pick per LoD the thematic surfaces, else the solid, else the multi-surfaces.

        Polygons outside thematic surfaces get the ``surface`` type (the object class's).
        """
        chosen: dict[str, SurfaceSink] = {}
        for lod, sink in thematic.items():
            if sink.polygon_count:
                lod_solids = [p for lp, p, solid in plain if solid and lp == lod]
                sink.solid = bool(lod_solids) and self._same_polygons(lod_solids, sink)
                chosen[lod] = sink
        if plain:
            for lod in dict.fromkeys(lp for lp, _, _ in plain):
                if lod in chosen:
                    continue  # CGML-3: the thematic surfaces already render this LoD
                props = [(p, solid) for lp, p, solid in plain if lp == lod]
                lod_solids = [p for p, solid in props if solid]
                sink = SurfaceSink(draft.id, lod)
                for prop in lod_solids or [p for p, _ in props]:
                    self.walker.collect(prop, sink, surface, dim, srs)
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
        compiled = self.walker.compiled
        if compiled is not None:
            same = compiled.same_polygons(solids, sink.poly_ids)
            if same is not None:
                return same
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

    # -- implicit geometry -----------------------------------------------------------------

    def _implicit_instances(
        self,
        props: list[tuple[str, etree._Element]],
        fid: str,
        surface: int,
        dim: int,
        srs: str | None,
    ) -> list[Instance]:
        """The ``lodNImplicitRepresentation`` properties of one object as :class:`Instance`."""
        vocab = self.vocab
        out: list[Instance] = []
        for lod, prop in props:
            for geometry in self._held(prop, fid):
                line = line_of(geometry)
                if geometry.tag != vocab.implicit_geometry:
                    self.skip(
                        f"{local_name(prop.tag)} holds {local_name(geometry.tag)}, not a "
                        "core:ImplicitGeometry; left out",
                        fid,
                        line,
                    )
                    continue
                instance = self._implicit_instance(geometry, lod, fid, surface, dim, srs)
                if isinstance(instance, str):
                    self.skip(f"{local_name(prop.tag)}: {instance}; left out", fid, line)
                else:
                    out.append(instance)
                    self.instance_count += 1
        return out

    def _implicit_instance(
        self,
        geometry: etree._Element,
        lod: str,
        fid: str,
        surface: int,
        dim: int,
        srs: str | None,
    ) -> Instance | str:
        """One ``core:ImplicitGeometry``: its template is parsed or looked up by id."""
        vocab = self.vocab
        matrix_text: str | None = None
        key: str | None = None
        library: str | None = None
        reference: Float64Array | str = "no core:referencePoint"
        for child in children(geometry):
            tag = child.tag
            if tag == vocab.transformation_matrix:
                matrix_text = child.text or ""
            elif tag == vocab.library_object:
                library = (child.text or "").strip()
            elif tag == vocab.reference_point:
                reference = self._reference_point(child, dim)
            elif tag == vocab.relative_geometry:
                href = child.get(XLINK_HREF)
                if href is not None:
                    if "#" in href and not href.startswith("#"):
                        return f"template {href!r} is in another document (not followed)"
                    key = href.removeprefix("#")
                    if key not in self.templates:
                        target = self.walker.lookup(href)
                        if target is not None and (parent := target.getparent()) is not None:
                            self._parse_template(key, parent, fid, dim, srs)
                else:
                    held = children(child)
                    if not held:
                        return "empty core:relativeGMLGeometry"
                    key = held[0].get(vocab.gml.id) or f"{fid}#lod{lod}-template"
                    if key not in self.templates:
                        self._parse_template(key, child, fid, dim, srs)
        if key is None:
            if library:
                return f"the template is only a library object ({library!r}), which is not read"
            return "no core:relativeGMLGeometry"
        if isinstance(reference, str):
            return reference
        matrix = parse_matrix(matrix_text)
        if isinstance(matrix, str):
            return matrix
        return Instance(lod=lod, key=key, matrix=matrix, reference=reference, surface=surface)

    def _reference_point(self, prop: etree._Element, dim: int) -> Float64Array | str:
        """The reference point of a ``core:referencePoint`` (x/y swapped as the reader does)."""
        gml = self.vocab.gml
        text: str | None = None
        for point in children(prop):
            for child in children(point):
                if child.tag == gml.pos:
                    text = child.text
                elif child.tag == gml.coordinates:
                    found = coordinates_text(child)
                    text = found if isinstance(found, str) else found[0]
        try:
            values = [float(v) for v in (text or "").split()]
        except ValueError:
            return f"referencePoint {text!r} is not numeric"
        if len(values) != 3 or not all(np.isfinite(values)):
            return f"referencePoint needs 3 coordinates, found {len(values)}"
        if self.swap_xy:
            values[0], values[1] = values[1], values[0]
        return np.array(values, dtype=np.float64)

    def _parse_template(
        self, key: str, prop: etree._Element, fid: str, dim: int, srs: str | None
    ) -> None:
        """Parse the template geometry held by ``prop`` (local coordinates) and keep it."""
        sink = SurfaceSink(fid, "0")
        self.walker.add_property(prop, sink, UNKNOWN, dim, srs)
        batch = SurfaceBatch()
        index = batch.add(sink)
        geometries, _ = batch.build(swap_xy=False, on_problem=self._problem)
        if self.appearances is not None:
            # the template's textures and materials come along to every placement
            self.appearances.attach_apart(_holder(prop), fid, geometries, *batch.built)
        geometry = geometries[index]
        self.templates[key] = (
            geometry
            if geometry is not None
            else f"implicit geometry template {key!r} has no usable polygons"
        )

    def _waits(self, draft: _Draft) -> bool:
        """Whether a draft uses a template not (yet) seen in the document."""
        return any(key not in self.templates for key in draft.template_keys())

    def _place(self, draft: _Draft, geoms: list[SurfaceGeometry]) -> list[SurfaceGeometry]:
        """``geoms`` with the draft's implicit representations placed and merged per LoD."""
        by_lod: dict[str, list[SurfaceGeometry]] = {}
        for g in geoms:
            by_lod.setdefault(g.lod, []).append(g)
        placed_all: list[SurfaceGeometry] = []
        for inst in draft.instances or ():
            template = self.templates.get(inst.key)
            if template is None:
                template = f"implicit geometry template {inst.key!r} is not in the document"
            if isinstance(template, str):
                self.skip(
                    f"LoD {inst.lod} implicit representation: {template}; left out",
                    draft.id,
                    draft.line,
                )
                continue
            placed = place(template, inst.matrix, inst.reference, lod=inst.lod)
            if inst.surface and not placed.surface_types.all():
                types = np.where(
                    placed.surface_types == UNKNOWN, inst.surface, placed.surface_types
                )
                placed = replace(placed, surface_types=types.astype(np.uint8))
            by_lod.setdefault(inst.lod, []).append(placed)
            placed_all.append(placed)
        if self.stats is not None and placed_all:
            self.stats.add_bounds(list(placed_all))
        return [concat_geometries(parts, lod=lod) for lod, parts in by_lod.items()]
