"""GML 3.1.1 surface geometry for CityGML: polygons from posList/pos/coordinates to ragged arrays.

Two steps keep the per-polygon Python work small (performance.md):

1. :class:`GeometryWalker` walks a geometry element (Solid, CompositeSolid, MultiSurface,
   CompositeSurface, Surface/patches, TriangulatedSurface, OrientableSurface, Polygon, Triangle
   ...), follows ``xlink:href`` within the current top-level object and appends, per polygon,
   the raw coordinate text of each ring to a :class:`SurfaceSink` (one per feature and LoD).
   No number is parsed here.
2. :class:`~citymodel.converters._gml_batch.SurfaceBatch` collects the sinks of many top-level
   objects and converts all their coordinate text in **one** vectorised pass, then closes/opens
   rings, applies orientation and slices the result into
   :class:`~citymodel.model.SurfaceGeometry` objects with vectorised offset arithmetic.

Coordinates are returned as they are written (source CRS, metres for projected CRSs), except
that ``swap_xy`` exchanges the first two axes for lat/lon-ordered geographic CRSs (AX-3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from lxml import etree

from citymodel.converters import _citygml_fast

__all__ = [
    "DEFAULT_DIMENSION",
    "GML_NS",
    "XLINK_HREF",
    "Envelope",
    "GeometryWalker",
    "GmlNames",
    "ProblemSink",
    "SurfaceSink",
    "children",
    "coordinates_text",
    "known_line",
    "line_of",
    "local_name",
    "parse_dimension",
    "read_envelope",
]

GML_NS: Final = "http://www.opengis.net/gml"
"""GML 3.1.1, used by CityGML 1.0 and 2.0 (CityGML 3.0 uses ``http://www.opengis.net/gml/3.2``)."""
XLINK_HREF: Final = "{http://www.w3.org/1999/xlink}href"

DEFAULT_DIMENSION: Final = 3
"""Coordinate dimension when no ``srsDimension`` is given anywhere (CGML-4)."""

_MAX_HREF_DEPTH: Final = 16

FAST_PATHS = True
"""Private switch: False sends all geometry through the general walker (tests compare both)."""

Element = etree._Element

# lxml-stubs leave ``sourceline`` untyped and omit ``getchildren`` (which, unlike iteration,
# lists children without creating an iterator object: several times cheaper per call).
children: Final[Callable[[Element], list[Element]]] = etree._Element.getchildren  # type: ignore[attr-defined]
"""``children(el)``: the child nodes of ``el`` as a list."""


_LINE_UNKNOWN: Final = 65535


def line_of(el: Element) -> int | None:
    """The 1-based source line of ``el`` (None when unknown).

    libxml2 stores line numbers in 16 bits. Beyond line 65535 it takes the line where the
    element's first text child ends (corrected here for the usual indentation text), or gives
    up and reports 65535, which is taken as unknown.
    """
    line: object = el.sourceline
    if not isinstance(line, int) or line == _LINE_UNKNOWN:
        return None
    if line > _LINE_UNKNOWN:
        text = el.text
        if text is not None and text.isspace():
            line -= text.count("\n")
    return line


def known_line(line: int | None) -> int | None:
    """A raw ``sourceline`` value as :func:`line_of` would return it."""
    return None if line == _LINE_UNKNOWN else line


def local_name(tag: object) -> str:
    """``{ns}Name`` -> ``Name`` (non-element nodes give their type name)."""
    if isinstance(tag, str):
        return tag.rpartition("}")[2]
    return type(tag).__name__


def parse_dimension(value: str | None, default: int) -> int:
    """An ``srsDimension`` attribute value as int; ``default`` when absent, 0 when invalid."""
    if value is None:
        return default
    cached = _DIMENSIONS.get(value)
    if cached is not None:
        return cached
    try:
        return int(value)
    except ValueError:
        return 0


_DIMENSIONS: Final = {"3": 3, "2": 2, "4": 4}


@dataclass(frozen=True, slots=True)
class GmlNames:
    """Clark-notation tag names of one GML namespace."""

    ns: str
    id: str
    polygon: str
    triangle: str
    rectangle: str
    polygon_patch: str
    linear_ring: str
    exterior: str
    interior: str
    outer_boundary_is: str
    inner_boundary_is: str
    pos_list: str
    pos: str
    coordinates: str
    multi_surface: str
    composite_surface: str
    ring: str
    line_string: str
    curve: str
    surface: str
    polyhedral_surface: str
    triangulated_surface: str
    tin: str
    shell: str
    orientable_surface: str
    base_surface: str
    solid: str
    composite_solid: str
    multi_solid: str
    surface_member: str
    surface_members: str
    solid_member: str
    solid_members: str
    patches: str
    triangle_patches: str
    polygon_patches: str
    envelope: str
    lower_corner: str
    upper_corner: str
    bounded_by: str
    name: str
    description: str

    @classmethod
    def for_namespace(cls, ns: str) -> GmlNames:
        """Tag names in namespace ``ns``."""

        def t(local: str) -> str:
            return f"{{{ns}}}{local}"

        return cls(
            ns=ns,
            id=t("id"),
            polygon=t("Polygon"),
            triangle=t("Triangle"),
            rectangle=t("Rectangle"),
            polygon_patch=t("PolygonPatch"),
            linear_ring=t("LinearRing"),
            exterior=t("exterior"),
            interior=t("interior"),
            outer_boundary_is=t("outerBoundaryIs"),
            inner_boundary_is=t("innerBoundaryIs"),
            pos_list=t("posList"),
            pos=t("pos"),
            coordinates=t("coordinates"),
            multi_surface=t("MultiSurface"),
            ring=t("Ring"),
            line_string=t("LineString"),
            curve=t("Curve"),
            composite_surface=t("CompositeSurface"),
            surface=t("Surface"),
            polyhedral_surface=t("PolyhedralSurface"),
            triangulated_surface=t("TriangulatedSurface"),
            tin=t("Tin"),
            shell=t("Shell"),
            orientable_surface=t("OrientableSurface"),
            base_surface=t("baseSurface"),
            solid=t("Solid"),
            composite_solid=t("CompositeSolid"),
            multi_solid=t("MultiSolid"),
            surface_member=t("surfaceMember"),
            surface_members=t("surfaceMembers"),
            solid_member=t("solidMember"),
            solid_members=t("solidMembers"),
            patches=t("patches"),
            triangle_patches=t("trianglePatches"),
            polygon_patches=t("polygonPatches"),
            envelope=t("Envelope"),
            lower_corner=t("lowerCorner"),
            upper_corner=t("upperCorner"),
            bounded_by=t("boundedBy"),
            name=t("name"),
            description=t("description"),
        )


# ---------------------------------------------------------------------------------------------
# envelopes


@dataclass(frozen=True, slots=True)
class Envelope:
    """A ``gml:Envelope``: CRS attributes and corners (as written, source CRS axis order)."""

    srs_name: str | None
    srs_dimension: int | None
    lower: tuple[float, ...] | None
    upper: tuple[float, ...] | None


def _corner(el: Element | None) -> tuple[float, ...] | None:
    if el is None or not el.text:
        return None
    try:
        return tuple(float(v) for v in el.text.split())
    except ValueError:
        return None


def read_envelope(env: Element, names: GmlNames) -> Envelope:
    """Read a ``gml:Envelope`` element (corners given as lower/upperCorner or two gml:pos)."""
    dim = env.get("srsDimension")
    lower = _corner(env.find(names.lower_corner))
    upper = _corner(env.find(names.upper_corner))
    if lower is None and upper is None:
        pos = env.findall(names.pos)
        if len(pos) == 2:
            lower, upper = _corner(pos[0]), _corner(pos[1])
    return Envelope(
        srs_name=env.get("srsName"),
        srs_dimension=parse_dimension(dim, 0) or None if dim is not None else None,
        lower=lower,
        upper=upper,
    )


# ---------------------------------------------------------------------------------------------
# collecting polygons


class SurfaceSink:
    """The polygons of one feature at one LoD, as raw ring text (nothing parsed yet).

    Attributes
    ----------
    owner
        Id of the feature the polygons belong to (for problem reports).
    lod
        Level of detail (``"2"``).
    ids
        gml:ids of the polygons (and referenced aggregates) already added: a polygon reached
        twice (inline and through ``xlink:href``) is added once (CGML-3).
    solid
        Whether the polygons form a closed shell (set by the caller).
    """

    __slots__ = (
        "dims",
        "flipped",
        "ids",
        "lod",
        "owner",
        "poly_ids",
        "poly_lines",
        "ring_counts",
        "solid",
        "texts",
        "types",
    )

    def __init__(self, owner: str, lod: str) -> None:
        self.owner = owner
        self.lod = lod
        self.texts: list[str] = []
        self.dims: list[int] = []
        self.ring_counts: list[int] = []
        self.types: list[int] = []
        self.flipped: list[int] = []
        self.poly_ids: list[str | None] = []
        self.poly_lines: list[int | None] = []
        self.ids: set[str] = set()
        self.solid = False

    @property
    def polygon_count(self) -> int:
        """Number of polygons added (before coordinate validation)."""
        return len(self.ring_counts)


ProblemSink = Callable[[str, SurfaceSink, int | None], None]
"""Receives ``(reason, sink, line)`` for each polygon or geometry that is left out."""

_POLYGON, _AGGREGATE, _ORIENTABLE, _SOLID, _SOLIDS, _PATCHED = range(6)


def coordinates_text(el: Element) -> tuple[str, int] | str:
    """Convert legacy ``gml:coordinates`` to whitespace-separated numbers and their dimension.

    Honours the ``decimal``, ``cs`` (default ``,``) and ``ts`` (default space) attributes.
    Returns an error reason instead when the tuples have different dimensions.
    """
    text = el.text or ""
    decimal = el.get("decimal", ".")
    cs = el.get("cs", ",")
    ts = el.get("ts", " ")
    tuples = text.split() if ts.isspace() else [t for t in text.split(ts) if t.strip()]
    comps = [t.split() if cs.isspace() else t.strip().split(cs) for t in tuples]
    dims = {len(c) for c in comps}
    if not comps:
        return "", DEFAULT_DIMENSION
    if len(dims) != 1:
        return "gml:coordinates tuples have different numbers of components"
    values = (v.strip() for c in comps for v in c)
    if decimal != ".":
        values = (v.replace(decimal, ".") for v in values)
    return " ".join(values), dims.pop()


@dataclass(frozen=True, slots=True)
class _Walk:
    """What the general walker carries down a geometry tree.

    Attributes
    ----------
    sink
        Where the polygons go.
    stype
        :class:`~citymodel.model.semantics.SurfaceType` code of the polygons.
    flip
        Whether rings are reversed (inside an ``OrientableSurface orientation="-"``).
    dim, srs
        The srsDimension and srsName in effect from ancestors.
    """

    sink: SurfaceSink
    stype: int
    flip: bool
    dim: int
    srs: str | None


class GeometryWalker:
    """Walks GML surface geometry of one top-level object into :class:`SurfaceSink` objects.

    Parameters
    ----------
    names
        Tag names of the document's GML namespace.
    on_problem
        Called with ``(reason, sink, line)`` for every polygon or geometry left out.
    srs_ok
        Called with an ``srsName`` that differs from the one in effect; returning False leaves
        the geometry out (it would be in another CRS).
    """

    def __init__(
        self, names: GmlNames, *, on_problem: ProblemSink, srs_ok: Callable[[str], bool]
    ) -> None:
        self.names = names
        self._on_problem = on_problem
        self._srs_ok = srs_ok
        n = names
        self._kinds: dict[object, int] = {
            n.polygon: _POLYGON,
            n.triangle: _POLYGON,
            n.rectangle: _POLYGON,
            n.polygon_patch: _POLYGON,
            n.multi_surface: _AGGREGATE,
            n.composite_surface: _AGGREGATE,
            n.shell: _AGGREGATE,
            n.orientable_surface: _ORIENTABLE,
            n.solid: _SOLID,
            n.composite_solid: _SOLIDS,
            n.multi_solid: _SOLIDS,
            n.surface: _PATCHED,
            n.polyhedral_surface: _PATCHED,
            n.triangulated_surface: _PATCHED,
            n.tin: _PATCHED,
        }
        # property elements holding one geometry (or an xlink:href to one)
        self._single: frozenset[object] = frozenset(
            (n.surface_member, n.base_surface, n.solid_member, n.exterior, n.interior)
        )
        # property elements holding any number of geometries (no xlink)
        self._array: frozenset[object] = frozenset(
            (n.surface_members, n.solid_members, n.patches, n.triangle_patches, n.polygon_patches)
        )
        self._boundaries: dict[object, bool] = {
            n.exterior: True,
            n.outer_boundary_is: True,
            n.interior: False,
            n.inner_boundary_is: False,
        }
        self._ids_xpath = etree.XPath("descendant-or-self::*[@gml:id]", namespaces={"gml": n.ns})
        self._fast_tags = (
            n.solid,
            n.multi_surface,
            n.composite_surface,
            n.surface_member,
            n.polygon,
            n.exterior,
            n.interior,
            n.linear_ring,
            n.pos_list,
            n.id,
        )
        self.fast = FAST_PATHS
        """Whether the fast paths are taken (:data:`FAST_PATHS` when the walker was made)."""
        self.compiled = _citygml_fast.plain_walker(n.ns, parse_dimension) if self.fast else None
        """The compiled plain-shape walk (same results as :meth:`_fast`), None: Python only."""
        self._plain = self.compiled.collect if self.compiled is not None else self._fast
        self._root: Element | None = None
        self._index: dict[str, Element] | None = None
        self._following: set[str] = set()  # targets of the xlink:hrefs being followed

    # -- per top-level object ------------------------------------------------------------

    def begin_object(self, root: Element) -> None:
        """Start a new top-level object: ``xlink:href`` targets are looked up inside ``root``."""
        self._root = root
        self._index = None

    def end_object(self) -> None:
        """Forget the current top-level object (its elements are about to be cleared)."""
        self._root = None
        self._index = None

    def lookup(self, href: str) -> Element | None:
        """The element an ``xlink:href`` points to within the current object, if any."""
        if href.startswith("#"):
            key = href[1:]
        elif "#" in href:
            return None  # another document: never fetched
        else:
            key = href
        if self._index is None:
            if self._root is None:
                return None
            idattr = self.names.id
            found = self._ids_xpath(self._root)
            elements = found if isinstance(found, list) else []
            self._index = {str(e.get(idattr)): e for e in elements if isinstance(e, etree._Element)}
        return self._index.get(key)

    # -- walking -------------------------------------------------------------------------

    def collect(
        self, prop: Element, sink: SurfaceSink, stype: int, dim: int, srs: str | None
    ) -> None:
        """Add the geometry held by a property element (e.g. ``bldg:lod2MultiSurface``).

        Plain geometry (polygons with posList rings, no ``xlink:href``, no orientation, no
        srsName/srsDimension that differs from the one in effect) goes through a fast path that
        only looks at the few elements it needs; anything else is walked by the general
        :meth:`add_property`.
        """
        n_rings = len(sink.texts)
        n_polys = len(sink.ring_counts)
        if self.fast and self._plain(prop, sink, stype, dim, srs):
            return
        for pid in sink.poly_ids[n_polys:]:
            if pid is not None:
                sink.ids.discard(pid)
        del sink.texts[n_rings:], sink.dims[n_rings:]
        del sink.ring_counts[n_polys:], sink.types[n_polys:]
        del sink.poly_ids[n_polys:], sink.poly_lines[n_polys:]
        self.add_property(prop, sink, stype, dim, srs)

    def _fast(
        self, prop: Element, sink: SurfaceSink, stype: int, dim: int, srs: str | None
    ) -> bool:
        """The fast path of :meth:`collect`; False when the general walker is needed.

        Handles the shape almost every CityGML building uses, with explicit loops and no
        per-element dispatch: ``prop / (MultiSurface | CompositeSurface | Solid/exterior/
        CompositeSurface) / surfaceMember / Polygon / (exterior | interior) / LinearRing /
        posList``, one element per property, exterior first, no ``xlink:href``, no srsName or
        srsDimension that differs from the one in effect (a posList's own srsDimension is
        honoured). Children are reached by index and ``getchildren()``: with lxml that is
        several times cheaper than creating an iterator per element; a polygon's attributes are
        read in one ``items()`` call.
        """
        if len(prop) != 1:
            return False  # an xlink:href property (or an empty one, or two geometries)
        (
            solid_tag,
            multi_tag,
            composite_tag,
            member_tag,
            polygon_tag,
            exterior_tag,
            interior_tag,
            ring_tag,
            pos_list_tag,
            idattr,
        ) = self._fast_tags
        geom = prop[0]
        tag = geom.tag
        if tag == solid_tag:
            if len(geom) != 1 or not _plain_attributes(geom, dim, srs):
                return False  # interior shells: general walker
            boundary = geom[0]
            if len(boundary) != 1 or boundary.tag != exterior_tag:
                return False  # an xlink:href exterior
            geom = boundary[0]
            tag = geom.tag
        if (tag != multi_tag and tag != composite_tag) or not _plain_attributes(geom, dim, srs):
            return False
        texts = sink.texts
        dims = sink.dims
        ids = sink.ids
        ring_counts = sink.ring_counts
        types = sink.types
        poly_ids = sink.poly_ids
        poly_lines = sink.poly_lines
        start = len(ring_counts)
        for member in children(geom):
            if len(member) != 1 or member.tag != member_tag:
                return False  # surfaceMembers, or an xlink:href member
            poly = member[0]
            if poly.tag != polygon_tag:
                return False
            pid = None
            attributes = poly.items()
            if attributes:
                if len(attributes) != 1:
                    return False  # srsName/srsDimension on the polygon
                name, value = attributes[0]
                if name != idattr or not isinstance(value, str) or value in ids:
                    return False  # another attribute, or a repeated id
                pid = value
            boundaries = children(poly)
            if not boundaries:
                return False
            expected = exterior_tag
            for boundary in boundaries:
                if len(boundary) != 1 or boundary.tag != expected:
                    return False  # exterior first, then interiors only
                expected = interior_tag
                ring = boundary[0]
                if len(ring) != 1 or ring.tag != ring_tag or ring.get("srsDimension") is not None:
                    return False  # CGML-4: a ring's own srsDimension: general walker
                pos_list = ring[0]
                if pos_list.tag != pos_list_tag:
                    return False
                d = pos_list.get("srsDimension")
                texts.append(pos_list.text or "")
                dims.append(dim if d is None else (3 if d == "3" else parse_dimension(d, dim)))
            if pid is not None:
                ids.add(pid)
            ring_counts.append(len(boundaries))
            types.append(stype)
            poly_ids.append(pid)
            line: int = poly.sourceline  # type: ignore[assignment] # lxml-stubs
            poly_lines.append(line if line < _LINE_UNKNOWN else line_of(poly))
        return len(ring_counts) > start

    def add_property(
        self, prop: Element, sink: SurfaceSink, stype: int, dim: int, srs: str | None
    ) -> None:
        """Add the geometry held by a property element (e.g. ``bldg:lod2MultiSurface``).

        The property holds one geometry element or an ``xlink:href`` to one.
        """
        self._property(prop, _Walk(sink, stype, False, dim, srs))

    def add(self, el: Element, walk: _Walk) -> None:
        """Add the polygons of geometry element ``el`` in the context ``walk``."""
        sink = walk.sink
        tag = el.tag
        kind = self._kinds.get(tag)
        if kind is None:
            if isinstance(tag, str):
                self._problem(
                    f"{local_name(tag)} found where a GML surface or solid was expected "
                    "(e.g. a gml:surfaceMember without its gml:Polygon); left out",
                    sink,
                    el,
                )
            return
        srs = walk.srs
        s = el.get("srsName")
        if s is not None and s != srs:
            if not self._srs_ok(s):
                self._problem(f"srsName {s!r} differs from the dataset CRS; left out", sink, el)
                return
            srs = s
        dim = walk.dim
        d = el.get("srsDimension")
        if d is not None:
            dim = parse_dimension(d, dim)
        flip = walk.flip
        if kind == _ORIENTABLE and el.get("orientation") == "-":
            flip = not flip
        if srs != walk.srs or dim != walk.dim or flip != walk.flip:
            walk = _Walk(sink, walk.stype, flip, dim, srs)
        if kind == _POLYGON:
            self._polygon(el, walk)
        elif kind in (_AGGREGATE, _SOLID, _SOLIDS, _ORIENTABLE):
            for member in el:
                self._member(member, walk)
        else:  # _PATCHED
            array = self._array
            for member in el:
                if member.tag in array:
                    for patch in member:
                        self.add(patch, walk)

    def _member(self, member: Element, walk: _Walk) -> None:
        tag = member.tag
        if tag in self._single:
            self._property(member, walk)
        elif tag in self._array:
            for child in member:
                self.add(child, walk)
        # anything else (gml:name, gml:metaDataProperty, comments) carries no geometry

    def _property(self, prop: Element, walk: _Walk) -> None:
        """Add the one geometry element held by ``prop``, or the one its ``xlink:href`` names."""
        href = prop.get(XLINK_HREF)
        if href is not None:
            self._follow(href, prop, walk)
            return
        empty = True
        for child in prop:
            if isinstance(child.tag, str):
                empty = False
                self.add(child, walk)
        if empty:
            self._problem(
                f"empty {local_name(prop.tag)} (no geometry, no xlink:href)", walk.sink, prop
            )

    def _follow(self, href: str, referrer: Element, walk: _Walk) -> None:
        sink = walk.sink
        target = self.lookup(href)
        if target is None:
            where = (
                "points into another document (not followed)"
                if "#" in href and not href.startswith("#")
                else "cannot be resolved within this top-level object"
            )
            self._problem(f"xlink:href {href!r} {where}", sink, referrer)
            return
        key = str(target.get(self.names.id))
        if key in self._following or len(self._following) >= _MAX_HREF_DEPTH:
            self._problem(f"xlink:href {href!r} leads into a reference cycle", sink, referrer)
            return
        if self._kinds.get(target.tag) != _POLYGON:
            if key in sink.ids:
                return  # CGML-3: already rendered in this geometry
            sink.ids.add(key)
        # The target's own srsName/srsDimension context applies, not the referrer's.
        tdim, tsrs = self._context_of(target, walk.dim, walk.srs)
        self._following.add(key)
        try:
            self.add(target, _Walk(sink, walk.stype, walk.flip, tdim, tsrs))
        finally:
            self._following.discard(key)

    def _context_of(self, el: Element, dim: int, srs: str | None) -> tuple[int, str | None]:
        found_dim: int | None = None
        found_srs: str | None = None
        for anc in el.iterancestors():
            if found_dim is None and (d := anc.get("srsDimension")) is not None:
                found_dim = parse_dimension(d, dim)
            if found_srs is None:
                found_srs = anc.get("srsName")
            if anc is self._root:
                break
        return (dim if found_dim is None else found_dim), (found_srs or srs)

    def _polygon(self, poly: Element, walk: _Walk) -> None:
        sink = walk.sink
        pid = poly.get(self.names.id)
        if pid is not None:
            if pid in sink.ids:
                return  # CGML-3: a polygon is rendered once per geometry
            sink.ids.add(pid)
        texts: list[str] = []
        dims: list[int] = []
        boundaries = self._boundaries
        has_exterior = False
        for boundary in poly:
            is_exterior = boundaries.get(boundary.tag)
            if is_exterior is None:
                continue
            ring = None
            for child in boundary:
                if isinstance(child.tag, str):
                    ring = child
                    break
            if ring is None:
                self._problem(_label(poly, pid) + ": empty ring boundary; left out", sink, poly)
                return
            if ring.tag != self.names.linear_ring:
                self._problem(
                    _label(poly, pid)
                    + f": {local_name(ring.tag)} rings are not supported (gml:LinearRing only)",
                    sink,
                    poly,
                )
                return
            coords = self._ring(ring, walk.dim)
            if isinstance(coords, str):
                self._problem(_label(poly, pid) + ": " + coords, sink, poly)
                return
            if is_exterior:
                if has_exterior:
                    self._problem(_label(poly, pid) + ": two exterior rings", sink, poly)
                    return
                has_exterior = True
                texts.insert(0, coords[0])
                dims.insert(0, coords[1])
            else:
                texts.append(coords[0])
                dims.append(coords[1])
        if not has_exterior:
            self._problem(_label(poly, pid) + ": no exterior ring", sink, poly)
            return
        if walk.flip:
            sink.flipped.append(len(sink.ring_counts))
        sink.texts += texts
        sink.dims += dims
        sink.ring_counts.append(len(texts))
        sink.types.append(walk.stype)
        sink.poly_ids.append(pid)
        sink.poly_lines.append(line_of(poly))

    def _ring(self, ring: Element, dim: int) -> tuple[str, int] | str:
        d = ring.get("srsDimension")
        if d is not None:
            dim = parse_dimension(d, dim)
        names = self.names
        for child in ring:
            tag = child.tag
            if tag == names.pos_list:
                d = child.get("srsDimension")
                return (child.text or ""), (dim if d is None else parse_dimension(d, dim))
            if tag == names.pos:
                d = child.get("srsDimension")
                pos_dim = dim if d is None else parse_dimension(d, dim)
                texts = [p.text or "" for p in ring if p.tag == names.pos]
                return " ".join(texts), pos_dim
            if tag == names.coordinates:
                return coordinates_text(child)
            if isinstance(tag, str):
                return f"{local_name(tag)} in a LinearRing is not supported (posList, pos, coordinates)"
        return "LinearRing without coordinates"

    def _problem(self, reason: str, sink: SurfaceSink, el: Element) -> None:
        self._on_problem(reason, sink, line_of(el))


def _plain_attributes(geom: Element, dim: int, srs: str | None) -> bool:
    """Whether ``geom``'s attributes leave srsName and srsDimension as they are."""
    s = geom.get("srsName")
    if s is not None and s != srs:
        return False
    d = geom.get("srsDimension")
    return d is None or parse_dimension(d, dim) == dim


def _label(poly: Element, pid: str | None) -> str:
    name = local_name(poly.tag)
    return f"gml:{name} {pid}" if pid else f"gml:{name}"
