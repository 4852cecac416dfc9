# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Compiled walk of plain CityGML 1.0/2.0 surface geometry over the libxml2 tree.

The pure-Python reader pays for every element it looks at: lxml creates a proxy object and
builds the ``{namespace}name`` tag string each time (docs/reader-speed.md). This module reads
the same elements through lxml's public C API (``lxml.includes.etreepublic``): it follows the
``xmlNode`` fields of the tree lxml built and compares namespace and local name as C strings.

It handles the plain shapes only and gives exactly what the Python fast path
(:meth:`citymodel.converters._gml.GeometryWalker._fast`) gives for them: ring texts,
srsDimension per ring, polygon ids, surface types, source lines. It also walks a city object's
children (``PlainWalker.feature_children``) and reads the plain thematic attribute shapes
(``_citygml_attributes.AttributeVocabulary.plain``) the way their Python handlers do. For anything else it says
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

from cpython.float cimport PyFloat_FromString
from cpython.ref cimport PyObject
from cpython.unicode cimport PyUnicode_DecodeUTF8, PyUnicode_FromFormat
from libc.string cimport strcmp, strlen

cimport lxml.includes.etreepublic as cetree
from lxml.includes cimport tree
from lxml.includes.tree cimport const_xmlChar, xmlAttr, xmlDoc, xmlNode

import ctypes
import datetime

from lxml import etree

cetree.import_lxml__etree()

BUILT_WITH_LXML = (<bytes>cetree.LXML_VERSION_STRING).decode("ascii")
"""The lxml version whose headers this module was compiled against."""

cdef extern from "Python.h":
    object PyLong_FromUnicodeObject(object u, int base)  # int(str): base 10

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

# the shapes and converter codes of ``_citygml_attributes.AttributeVocabulary.plain`` (not
# imported from there: this module is loaded while ``_gml``, which that module imports, is
# being imported)
cdef enum:
    PLAIN_TEXT = 0
    PLAIN_MEASURE = 1
    PLAIN_GENERIC = 2
    PLAIN_EXTERNAL = 3
    PLAIN_ADDRESS = 4

cdef enum:
    CONVERT_STR = 0
    CONVERT_FLOAT = 1
    CONVERT_INT = 2
    CONVERT_DATE = 3
    CONVERT_CALL = 4

PLAIN_SHAPES = (PLAIN_TEXT, PLAIN_MEASURE, PLAIN_GENERIC, PLAIN_EXTERNAL, PLAIN_ADDRESS)
"""The ``PLAIN_*`` shape codes in that order, as this module reads them."""

CONVERTERS = (CONVERT_STR, CONVERT_FLOAT, CONVERT_INT, CONVERT_DATE, CONVERT_CALL)
"""``(CONVERT_STR, CONVERT_FLOAT, CONVERT_INT, CONVERT_DATE, CONVERT_CALL)`` likewise."""

_date_from_iso = datetime.date.fromisoformat


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


cdef inline int _value(xmlAttr* attr, const_xmlChar** value) noexcept nogil:
    """The value of ``attr``: 1 (``value``: empty, or its one text or CDATA node), -1 not plain."""
    cdef xmlNode* text = attr.children
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


cdef int _attribute(xmlNode* node, const char* name, const_xmlChar** value) noexcept nogil:
    """``el.get(name)`` for a name without namespace: 0 absent, 1 found (``value``), -1 not plain."""
    cdef xmlAttr* attr = node.properties
    while attr is not NULL:
        if attr.ns is NULL and _streq(attr.name, name):
            return _value(attr, value)
        attr = attr.next
    return 0


cdef const char* _XLINK = b"http://www.w3.org/1999/xlink"


cdef int _ns_attribute(
    xmlNode* node, const char* ns, const char* name, const_xmlChar** value
) noexcept nogil:
    """``el.get("{ns}name")``: 0 absent, 1 found (``value``), -1 not plain."""
    cdef xmlAttr* attr = node.properties
    while attr is not NULL:
        if attr.ns is not NULL and _streq(attr.name, name) and _streq(attr.ns.href, ns):
            return _value(attr, value)
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


# ``el.tag`` strings by the (namespace, name) pointers of libxml2's name dictionary: a
# direct-mapped cache whose hits are confirmed by comparing the strings themselves (a pointer
# may be reused by another document's dictionary), so that an element's tag is a lookup, not a
# new string
cdef enum:
    _TAG_SLOTS = 512

cdef const_xmlChar* _slot_href[_TAG_SLOTS]
cdef const_xmlChar* _slot_name[_TAG_SLOTS]
cdef const char* _slot_href_copy[_TAG_SLOTS]
cdef const char* _slot_name_copy[_TAG_SLOTS]
cdef PyObject* _slot_tag[_TAG_SLOTS]
cdef list _slot_refs = [None] * _TAG_SLOTS  # owns (href bytes, name bytes, tag) of each slot


cdef object _tag(xmlNode* node):
    """``el.tag`` of an element node (``_clark``), from the cache when seen before."""
    cdef const_xmlChar* name = node.name
    cdef const_xmlChar* href
    if node.ns is NULL or node.ns.href is NULL or name is NULL:
        return _clark(node)
    href = node.ns.href
    # Fibonacci hashing of both pointers (names of one dictionary lie a few bytes apart)
    cdef unsigned long long key = (<unsigned long long><size_t>name) * 0x9E3779B97F4A7C15ULL
    key ^= (<unsigned long long><size_t>href) * 0xC2B2AE3D27D4EB4FULL
    cdef size_t slot = <size_t>(key >> 55)  # the top 9 bits: _TAG_SLOTS = 512
    if (
        _slot_href[slot] == href
        and _slot_name[slot] == name
        and strcmp(_slot_name_copy[slot], <const char*>name) == 0
        and strcmp(_slot_href_copy[slot], <const char*>href) == 0
    ):
        return <object>_slot_tag[slot]
    tag = _clark(node)
    href_copy = <bytes>(<const char*>href)
    name_copy = <bytes>(<const char*>name)
    _slot_refs[slot] = (href_copy, name_copy, tag)
    _slot_href_copy[slot] = href_copy
    _slot_name_copy[slot] = name_copy
    _slot_tag[slot] = <PyObject*>tag
    _slot_href[slot] = href
    _slot_name[slot] = name
    return tag


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
            stype = surface_types.get(_tag(surface), unknown)
            child = surface.children
            while child is not NULL:
                if child.type == tree.XML_ELEMENT_NODE:
                    tag = _tag(child)
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

    def feature_children(
        self, cetree._Element el, dict table, dict plain, attrs, int attribute_kind
    ):
        """``DocumentReader._read_feature``'s loop over a city object's children, attributes read.

        ``table`` is the object class's tag -> ``(kind, argument)`` table. Children of kind
        ``attribute_kind`` are read here in document order into ``attrs`` (an
        ``AttributeCollector``): through their plain shape in ``plain`` (handler ->
        ``AttributeVocabulary.plain`` shape) when the element has that shape, else by calling
        the handler with the element. Returns the other children in the table as
        ``(element, tag, entry)`` in document order, or None, having read nothing, for a
        document with a DTD (attribute defaults): the Python loop then reads them all.
        """
        cdef xmlNode* node = el._c_node
        if _has_dtd(node):
            return None
        cdef cetree._Document doc = el._doc
        cdef list rest = []
        cdef dict core = attrs.core
        cdef dict generic = attrs.generic
        cdef list addresses = attrs.addresses
        cdef xmlNode* child = node.children
        cdef tuple entry
        while child is not NULL:
            if child.type == tree.XML_ELEMENT_NODE:
                tag = _tag(child)
                found = table.get(tag)
                if found is not None:
                    entry = <tuple>found
                    if entry[0] == attribute_kind:
                        handler = entry[1]
                        shape = plain.get(handler)
                        if shape is None or not _plain_attribute(
                            child, tag, <tuple>shape, core, generic, addresses
                        ):
                            handler(cetree.elementFactory(doc, child), tag, attrs)
                    else:
                        rest.append((cetree.elementFactory(doc, child), tag, entry))
            child = child.next
        return rest


cdef inline object _stripped(xmlNode* node):
    """``_citygml_attributes._text``: the element's text stripped, None when empty."""
    text = _text(node)
    if text is None:
        return None
    text = (<str>text).strip()
    return text if text else None


cdef inline void _add(dict core, str name, value) except *:
    """``AttributeCollector.add``: a repeated name is joined with ``"; "``."""
    old = core.get(name)
    if old is None:
        core[name] = value
    else:
        core[name] = f"{old}; {value}"


cdef object _convert(int code, convert, str text):
    """``convert(text)``: ``str``, ``_as_float``, ``_as_int``, ``_as_date`` done here."""
    if code == CONVERT_STR:
        return text
    if code == CONVERT_FLOAT:
        try:
            return PyFloat_FromString(text)  # float(text)
        except ValueError:
            return text
    if code == CONVERT_INT:
        try:
            return PyLong_FromUnicodeObject(text, 10)  # int(text)
        except ValueError:
            return text
    if code == CONVERT_DATE:
        if len(text) >= 10 and text[4] == "-" and text[7] == "-":
            try:
                return _date_from_iso(text[:10])
            except ValueError:
                return text
        return text
    return convert(text)


cdef object _EXTERNAL_INFORMATION_SYSTEM = "externalReference_informationSystem"
cdef object _EXTERNAL_NAME = "externalReference_name"
cdef object _EXTERNAL_URI = "externalReference_uri"


cdef object _external_name(xmlNode* node, const char* core):
    """The attribute name of an ``externalReference`` field element, else None."""
    if node.type != tree.XML_ELEMENT_NODE or node.ns is NULL or not _streq(node.ns.href, core):
        return None
    if _streq(node.name, b"informationSystem"):
        return _EXTERNAL_INFORMATION_SYSTEM
    if _streq(node.name, b"name"):
        return _EXTERNAL_NAME
    if _streq(node.name, b"uri"):
        return _EXTERNAL_URI
    return None


cdef void _external(xmlNode* node, const char* core, dict out) except *:
    """``AttributeVocabulary._external_reference``."""
    cdef xmlNode* child = node.children
    cdef xmlNode* part
    while child is not NULL:
        if not _external_field(child, core, out) and _is(child, core, b"externalObject"):
            part = child.children
            while part is not NULL:
                _external_field(part, core, out)
                part = part.next
        child = child.next


cdef bint _external_field(xmlNode* node, const char* core, dict out) except -1:
    """Add ``node`` to ``out`` when it is a named field of an external reference."""
    name = _external_name(node, core)
    if name is None:
        return False
    text = _stripped(node)
    if text is not None:
        _add(out, name, text)
    return True


cdef inline xmlNode* _next_in(xmlNode* node, xmlNode* top) noexcept nogil:
    """The element after ``node`` below ``top`` in document order (its children first), or NULL."""
    if node.type == tree.XML_ELEMENT_NODE and node.children is not NULL:
        return node.children
    while node is not top and node.next is NULL:
        node = node.parent
    if node is top:
        return NULL
    return node.next


cdef void _address(xmlNode* node, tuple extra, list addresses) except *:
    """``AttributeVocabulary._address``: each ``core:Address`` below ``node``, document order."""
    cdef const char* core = <bytes>extra[0]
    cdef const char* xal = <bytes>extra[1]
    cdef dict names = <dict>extra[2]
    cdef xmlNode* address = node.children
    cdef xmlNode* part
    cdef dict fields
    while address is not NULL:
        if _is(address, core, b"Address"):
            fields = {}
            part = address.children
            while part is not NULL:
                if part.type == tree.XML_ELEMENT_NODE and part.ns is not NULL and _streq(part.ns.href, xal):
                    name = names.get(_str(part.name))
                    if name is not None and name not in fields:
                        text = _stripped(part)
                        if text is not None:
                            fields[name] = text
                part = _next_in(part, address)
            addresses.append(fields)
        address = _next_in(address, node)


cdef bint _plain_attribute(
    xmlNode* node, str tag, tuple shape, dict core, dict generic, list addresses
) except -1:
    """Read a thematic attribute element of a plain shape; False (nothing read) if not plain."""
    cdef int kind = shape[0]
    cdef const_xmlChar* value = NULL
    cdef int found
    cdef xmlNode* child
    cdef const char* ns
    cdef tuple extra
    if kind == PLAIN_TEXT:
        text = _stripped(node)
        if text is not None:
            _add(core, shape[1], _convert(shape[2], shape[3], text))
        return True
    if kind == PLAIN_MEASURE:
        found = _attribute(node, b"uom", &value)
        if found < 0:
            return False
        text = _stripped(node)
        if text is None:
            return True
        _add(core, shape[1], _convert(shape[2], shape[3], text))
        if found:
            uom = _str(value)
            if uom not in shape[4]:
                _add(core, shape[1] + "_uom", uom)
        return True
    if kind == PLAIN_EXTERNAL:
        ns = <bytes>shape[4]
        _external(node, ns, core)
        return True
    if kind == PLAIN_ADDRESS:
        _address(node, <tuple>shape[4], addresses)
        return True
    if kind != PLAIN_GENERIC:
        return False
    extra = <tuple>shape[4]
    converter = (<dict>extra[0]).get(tag)
    if converter is None:
        return False  # a genericAttributeSet: the handler's
    if _attribute(node, b"name", &value) <= 0 or value[0] == 0:
        return False  # no name (the handler logs it) or not plain
    name = _str(value)
    if name in generic:
        return False  # a repeated name: the handler keeps the first (and logs it)
    ns = <bytes>extra[1]
    child = node.children
    while child is not NULL:
        if _is(child, ns, b"value"):
            text = _stripped(child)
            if text is not None:
                generic[name] = _convert((<tuple>converter)[0], (<tuple>converter)[1], text)
            return True
        child = child.next
    return True
