# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Compiled walk of plain CityGML 1.0/2.0 surface geometry over the libxml2 tree.

The pure-Python reader pays for every element it looks at: lxml creates a proxy object and
builds the ``{namespace}name`` tag string each time (docs/reader-speed.md). This module reads
the same elements through lxml's public C API (``lxml.includes.etreepublic``): it follows the
``xmlNode`` fields of the tree lxml built and compares namespace and local name as C strings.

It handles the plain shapes only and gives exactly what the Python fast path
(:meth:`citymodel.converters._gml.GeometryWalker._fast`) gives for them: ring texts,
srsDimension per ring, polygon ids, surface types, source lines. For anything else it says
"not plain" (returns False, leaving the sink as it was) and the Python walker reads the element
as before. Declining is always correct: the Python walkers are the reference.

Rules kept from lxml so that the output is the same:

* ``len(el)``/``el[0]``/``getchildren()`` count element, comment, entity-reference and
  processing-instruction children (``_isElement``); only elements match a tag;
* ``el.get(name)`` for a name without namespace finds an attribute without namespace; the
  value of an attribute with other than one text child (an entity reference) is not read here
  (not plain), nor is any attribute of a document with a DTD (``xmlGetNsProp`` would consult its
  attribute defaults);
* ``el.text``: the text and CDATA nodes before the first other child, XInclude markers skipped;
* ``el.sourceline``: libxml2's own ``xmlGetLineNo`` of the libxml2 lxml runs on, found in the
  loaded ``lxml.etree`` module (past line 65,535 it takes the line of a text node), then the
  correction of ``_gml.line_of``.
"""

from cpython.unicode cimport PyUnicode_DecodeUTF8, PyUnicode_FromFormat
from libc.string cimport strcmp, strlen

cimport lxml.includes.etreepublic as cetree
from lxml.includes cimport tree
from lxml.includes.tree cimport const_xmlChar, xmlAttr, xmlDoc, xmlNode

import ctypes

from lxml import etree

cetree.import_lxml__etree()

BUILT_WITH_LXML = (<bytes>cetree.LXML_VERSION_STRING).decode("ascii")
"""The lxml version whose headers this module was compiled against."""

ctypedef long (*_LineNo)(xmlNode*) noexcept nogil

cdef _LineNo _line_no = NULL


def _bind_line_no():
    """Find ``xmlGetLineNo`` in the libxml2 that the loaded ``lxml.etree`` uses."""
    global _line_no
    library = ctypes.CDLL(etree.__file__)
    address = ctypes.cast(library.xmlGetLineNo, ctypes.c_void_p).value
    if not address:
        raise ImportError("xmlGetLineNo not found in lxml.etree")
    _line_no = <_LineNo><size_t>address


_bind_line_no()

cdef long _LINE_UNKNOWN = 65535


cdef inline bint _streq(const_xmlChar* a, const char* b) noexcept nogil:
    return a is not NULL and strcmp(<const char*>a, b) == 0


cdef inline bint _is(xmlNode* node, const char* ns, const char* name) noexcept nogil:
    """Whether ``node`` is an element with tag ``{ns}name``."""
    return (
        node.type == tree.XML_ELEMENT_NODE
        and node.ns is not NULL
        and _streq(node.name, name)
        and _streq(node.ns.href, ns)
    )


cdef inline xmlNode* _only_child(xmlNode* node) noexcept nogil:
    """The one child lxml counts (``len(el) == 1``: ``el[0]``), else NULL."""
    cdef xmlNode* child = node.children
    cdef xmlNode* found = NULL
    while child is not NULL:
        if cetree._isElement(child):
            if found is not NULL:
                return NULL
            found = child
        child = child.next
    return found


cdef inline bint _has_dtd(xmlNode* node) noexcept nogil:
    cdef xmlDoc* doc = node.doc
    return doc is not NULL and (doc.intSubset is not NULL or doc.extSubset is not NULL)


cdef int _attribute(xmlNode* node, const char* name, const_xmlChar** value) noexcept nogil:
    """``el.get(name)`` for a name without namespace: 0 absent, 1 found (``value``), -1 not plain."""
    cdef xmlAttr* attr = node.properties
    cdef xmlNode* text
    while attr is not NULL:
        if attr.ns is NULL and _streq(attr.name, name):
            text = attr.children
            if text is NULL:
                value[0] = <const_xmlChar*>b""
                return 1
            if (
                text.next is NULL
                and (text.type == tree.XML_TEXT_NODE or text.type == tree.XML_CDATA_SECTION_NODE)
                and text.content is not NULL
            ):
                value[0] = text.content
                return 1
            return -1
        attr = attr.next
    return 0


cdef const char* _XLINK = b"http://www.w3.org/1999/xlink"


cdef int _ns_attribute(
    xmlNode* node, const char* ns, const char* name, const_xmlChar** value
) noexcept nogil:
    """``el.get("{ns}name")``: 0 absent, 1 found (``value``), -1 not plain."""
    cdef xmlAttr* attr = node.properties
    cdef xmlNode* text
    while attr is not NULL:
        if attr.ns is not NULL and _streq(attr.name, name) and _streq(attr.ns.href, ns):
            text = attr.children
            if text is NULL:
                value[0] = <const_xmlChar*>b""
                return 1
            if (
                text.next is NULL
                and (text.type == tree.XML_TEXT_NODE or text.type == tree.XML_CDATA_SECTION_NODE)
                and text.content is not NULL
            ):
                value[0] = text.content
                return 1
            return -1
        attr = attr.next
    return 0


cdef inline str _str(const_xmlChar* value):
    return PyUnicode_DecodeUTF8(<const char*>value, strlen(<const char*>value), NULL)


cdef inline xmlNode* _text_node(xmlNode* node) noexcept nogil:
    """lxml's ``_textNodeOrSkip``."""
    while node is not NULL:
        if node.type == tree.XML_TEXT_NODE or node.type == tree.XML_CDATA_SECTION_NODE:
            return node
        if node.type == tree.XML_XINCLUDE_START or node.type == tree.XML_XINCLUDE_END:
            node = node.next
        else:
            return NULL
    return NULL


cdef object _text(xmlNode* node):
    """``el.text``: None without text nodes, else their concatenation."""
    cdef xmlNode* first = _text_node(node.children)
    cdef xmlNode* cur = first
    cdef const_xmlChar* found = NULL
    cdef Py_ssize_t count = 0
    while cur is not NULL:
        if cur.content[0] != 0:
            found = cur.content
        count += 1
        cur = _text_node(cur.next)
    if found is NULL:
        return "" if count > 0 else None
    if count == 1:
        return _str(found)
    joined = b""
    cur = first
    while cur is not NULL:
        joined += <bytes>(<const char*>cur.content)
        cur = _text_node(cur.next)
    return joined.decode("utf-8")


cdef object _line(xmlNode* node):
    """``_gml.line_of`` of an element (None when unknown)."""
    cdef long line = _line_no(node)
    if 0 < line < _LINE_UNKNOWN:
        return line
    if line <= 0 or line == _LINE_UNKNOWN:
        return None
    text = _text(node)
    if text is not None and text.isspace():
        line -= text.count("\n")
    return line


cdef object _clark(xmlNode* node):
    """``el.tag`` of an element node."""
    if node.ns is NULL or node.ns.href is NULL:
        return _str(node.name)
    return PyUnicode_FromFormat(b"{%s}%s", node.ns.href, node.name)


cdef class PlainWalker:
    """The compiled plain-shape walk for one GML namespace.

    Parameters
    ----------
    ns
        The GML namespace URI (``http://www.opengis.net/gml`` for CityGML 1.0/2.0).
    parse_dimension
        ``_gml.parse_dimension`` (an ``srsDimension`` value as int).
    """

    cdef bytes _ns_bytes
    cdef const char* _ns
    cdef object _parse_dimension

    def __init__(self, str ns, parse_dimension):
        self._ns_bytes = ns.encode("utf-8")
        self._ns = self._ns_bytes
        self._parse_dimension = parse_dimension

    cdef bint _plain_attributes(self, xmlNode* geom, object dim, object srs) except -1:
        """``_gml._plain_attributes``: srsName and srsDimension leave the context as it is."""
        cdef const_xmlChar* value = NULL
        cdef int found = _attribute(geom, b"srsName", &value)
        if found < 0:
            return False
        if found and _str(value) != srs:
            return False
        found = _attribute(geom, b"srsDimension", &value)
        if found < 0:
            return False
        return not found or self._parse_dimension(_str(value), dim) == dim

    def collect(self, cetree._Element prop, sink, stype, dim, srs):
        """Add the plain geometry held by ``prop`` to ``sink``; False (sink unchanged) if not plain.

        Same contract and result as ``GeometryWalker._fast`` (coordinates stay text, in the
        source CRS as written).
        """
        return self._collect(prop._c_node, sink, stype, dim, srs)

    cdef bint _collect(self, xmlNode* prop, sink, stype, dim, srs) except -1:
        if _has_dtd(prop):
            return False
        cdef list texts = sink.texts
        cdef list dims = sink.dims
        cdef set ids = sink.ids
        cdef list ring_counts = sink.ring_counts
        cdef list types = sink.types
        cdef list poly_ids = sink.poly_ids
        cdef list poly_lines = sink.poly_lines
        cdef Py_ssize_t n_rings = len(texts)
        cdef Py_ssize_t n_polys = len(ring_counts)
        if self._polygons(prop, texts, dims, ids, ring_counts, types, poly_ids, poly_lines,
                          stype, dim, srs):
            return True
        for pid in poly_ids[n_polys:]:
            if pid is not None:
                ids.discard(pid)
        del texts[n_rings:], dims[n_rings:]
        del ring_counts[n_polys:], types[n_polys:], poly_ids[n_polys:], poly_lines[n_polys:]
        return False

    cdef bint _polygons(
        self, xmlNode* prop, list texts, list dims, set ids, list ring_counts, list types,
        list poly_ids, list poly_lines, stype, dim, srs,
    ) except -1:
        cdef const char* ns = self._ns
        cdef xmlNode* geom = _only_child(prop)
        cdef xmlNode* boundary
        cdef xmlNode* member
        cdef xmlNode* poly
        cdef xmlNode* ring
        cdef xmlNode* pos_list
        cdef xmlAttr* attr
        cdef xmlAttr* id_attr
        cdef const_xmlChar* value = NULL
        cdef int found
        cdef Py_ssize_t n_attrs, n_boundaries
        cdef Py_ssize_t start = len(ring_counts)
        cdef bint exterior
        if geom is NULL:
            return False  # an xlink:href property (or an empty one, or two geometries)
        if _is(geom, ns, b"Solid"):
            boundary = _only_child(geom)
            if boundary is NULL or not self._plain_attributes(geom, dim, srs):
                return False  # interior shells: general walker
            geom = _only_child(boundary)
            if geom is NULL or not _is(boundary, ns, b"exterior"):
                return False
        if not (_is(geom, ns, b"MultiSurface") or _is(geom, ns, b"CompositeSurface")):
            return False
        if not self._plain_attributes(geom, dim, srs):
            return False
        member = geom.children
        while member is not NULL:
            if not cetree._isElement(member):
                member = member.next
                continue
            poly = _only_child(member)
            if poly is NULL or not _is(member, ns, b"surfaceMember") or not _is(poly, ns, b"Polygon"):
                return False
            pid = None
            n_attrs = 0
            id_attr = NULL
            attr = poly.properties
            while attr is not NULL:
                if attr.type == tree.XML_ATTRIBUTE_NODE:
                    n_attrs += 1
                    id_attr = attr
                attr = attr.next
            if n_attrs:
                if n_attrs != 1 or id_attr.ns is NULL:
                    return False  # srsName/srsDimension on the polygon
                if not _streq(id_attr.name, b"id") or not _streq(id_attr.ns.href, ns):
                    return False
                if id_attr.children is NULL:
                    pid = ""
                elif id_attr.children.next is NULL and id_attr.children.type == tree.XML_TEXT_NODE:
                    pid = _str(id_attr.children.content)
                else:
                    return False
                if pid in ids:
                    return False  # a repeated id
            n_boundaries = 0
            exterior = True
            boundary = poly.children
            while boundary is not NULL:
                if not cetree._isElement(boundary):
                    boundary = boundary.next
                    continue
                ring = _only_child(boundary)
                if ring is NULL or not _is(boundary, ns, b"exterior" if exterior else b"interior"):
                    return False  # exterior first, then interiors only
                exterior = False
                pos_list = _only_child(ring)
                if pos_list is NULL or not _is(ring, ns, b"LinearRing"):
                    return False
                if _attribute(ring, b"srsDimension", &value) != 0:
                    return False  # CGML-4: a ring's own srsDimension: general walker
                if not _is(pos_list, ns, b"posList"):
                    return False
                found = _attribute(pos_list, b"srsDimension", &value)
                if found < 0:
                    return False
                text = _text(pos_list)
                texts.append("" if text is None else text)
                if not found:
                    dims.append(dim)
                elif _streq(value, b"3"):
                    dims.append(3)
                else:
                    dims.append(self._parse_dimension(_str(value), dim))
                n_boundaries += 1
                boundary = boundary.next
            if not n_boundaries:
                return False
            if pid is not None:
                ids.add(pid)
            ring_counts.append(n_boundaries)
            types.append(stype)
            poly_ids.append(pid)
            poly_lines.append(_line(poly))
            member = member.next
        return len(ring_counts) > start

    def boundary(
        self,
        cetree._Element prop,
        dict thematic,
        str fid,
        dim,
        srs,
        dict surface_types,
        dict surface_lods,
        openings,
        unknown,
        sink_type,
        collect,
        on_opening,
    ):
        """Walk a ``<module>:boundedBy`` property as ``DocumentReader._read_feature`` does (CGML-2).

        Each thematic surface's ``lodN(Multi)Surface`` goes into ``thematic[lod]`` (a
        ``sink_type(fid, lod)`` made on first use) through the compiled walk, or through
        ``collect(element, sink, stype, dim, srs)`` when not plain; openings go to
        ``on_opening(element, thematic, fid, dim, srs)``. Returns False, having done nothing,
        when the property holds no element or anything but elements (an ``xlink:href``, a
        comment): the Python loop then reads it.
        """
        cdef xmlNode* node = prop._c_node
        cdef cetree._Document doc = prop._doc
        cdef xmlNode* surface = node.children
        cdef xmlNode* child
        cdef Py_ssize_t n_surfaces = 0
        while surface is not NULL:
            if cetree._isElement(surface):
                if surface.type != tree.XML_ELEMENT_NODE:
                    return False
                n_surfaces += 1
            surface = surface.next
        if not n_surfaces:
            return False
        surface = node.children
        while surface is not NULL:
            if surface.type != tree.XML_ELEMENT_NODE:
                surface = surface.next
                continue
            stype = surface_types.get(_clark(surface), unknown)
            child = surface.children
            while child is not NULL:
                if child.type == tree.XML_ELEMENT_NODE:
                    tag = _clark(child)
                    lod = surface_lods.get(tag)
                    if lod is not None:
                        sink = thematic.get(lod)
                        if sink is None:
                            sink = thematic[lod] = sink_type(fid, lod)
                        if not self._collect(child, sink, stype, dim, srs):
                            collect(cetree.elementFactory(doc, child), sink, stype, dim, srs)
                    elif tag in openings:
                        on_opening(cetree.elementFactory(doc, child), thematic, fid, dim, srs)
                child = child.next
            surface = surface.next
        return True

    def same_polygons(self, list solids, list poly_ids):
        """``DocumentReader._same_polygons``: whether the solids reference exactly ``poly_ids``.

        Every ``gml:surfaceMember`` below the solid properties must hold an ``xlink:href``
        (directly or on an ``OrientableSurface``'s ``baseSurface``) or a ``gml:Polygon`` with
        a gml:id. Returns None, having decided nothing, for what lxml would read differently
        from a field walk (a DTD, entity references, attribute values with entities).
        """
        cdef set refs = set()
        cdef cetree._Element solid
        cdef xmlNode* top
        cdef xmlNode* node
        cdef xmlNode* held
        cdef const_xmlChar* value = NULL
        cdef int found
        cdef const char* ns = self._ns
        for solid in solids:
            top = solid._c_node
            if _has_dtd(top):
                return None
            node = top.children
            while node is not NULL and node is not top:
                if node.type == tree.XML_ENTITY_REF_NODE:
                    return None
                if _is(node, ns, b"surfaceMember"):
                    found = _ns_attribute(node, _XLINK, b"href", &value)
                    if found < 0:
                        return None
                    if not found:
                        held = _only_child(node)
                        if held is NULL:
                            return False
                        if _is(held, ns, b"OrientableSurface"):
                            held = _only_child(held)
                            if held is NULL:
                                return False
                            found = _ns_attribute(held, _XLINK, b"href", &value)
                            if found < 0:
                                return None
                        if not found:
                            if not _is(held, ns, b"Polygon"):
                                return False
                            found = _ns_attribute(held, ns, b"id", &value)
                            if found < 0:
                                return None
                            if not found:
                                return False
                            refs.add(_str(value))
                    if found:
                        href = _str(value)
                        refs.add(href[1:] if href.startswith("#") else href)
                # document order: first child, else next sibling, else the next of an ancestor
                if node.type == tree.XML_ELEMENT_NODE and node.children is not NULL:
                    node = node.children
                    continue
                while node is not top and node.next is NULL:
                    node = node.parent
                if node is top:
                    break
                node = node.next
        return len(refs) == len(poly_ids) and None not in poly_ids and refs.issuperset(poly_ids)
