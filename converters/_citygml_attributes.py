"""Thematic attributes of CityGML 1.0/2.0 buildings: AdV core attributes, addresses, generics.

Names are the local element names (``function``, ``roofType``, ``measuredHeight``); codes stay
strings (leading zeros, underscores: CGML-7). Typed values: ``measuredHeight`` float (metres),
``storeysAboveGround``/``storeysBelowGround`` int, ``yearOfConstruction``/``yearOfDemolition``
int, ``creationDate``/``terminationDate`` :class:`datetime.date`. A value that does not parse
is kept as the string written in the file.

Repeated elements (several ``bldg:function``, ``gml:name`` or ``core:externalReference``) and
several addresses are joined with ``"; "`` in document order; address fields stay aligned (an
address lacking a field contributes an empty entry). Generic attributes keep their names;
members of a ``gen:genericAttributeSet`` are named ``<set name>.<attribute name>``; a generic
attribute whose name equals a core attribute name is renamed ``gen_<name>``; a generic name
that repeats keeps its first value.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from lxml import etree

from citymodel._typing import AttributeValue
from citymodel.converters._gml import children, line_of

__all__ = [
    "ADDRESS_FIELDS",
    "CONVERT_CALL",
    "CONVERT_DATE",
    "CONVERT_FLOAT",
    "CONVERT_INT",
    "CONVERT_STR",
    "CORE_ATTRIBUTE_NAMES",
    "MODULE_ATTRIBUTES",
    "PLAIN_ADDRESS",
    "PLAIN_EXTERNAL",
    "PLAIN_GENERIC",
    "PLAIN_MEASURE",
    "PLAIN_TEXT",
    "AttributeCollector",
    "AttributeVocabulary",
]

log = logging.getLogger(__name__)

XAL_NS: Final = "urn:oasis:names:tc:ciq:xsdschema:xAL:2.0"

ADDRESS_FIELDS: Final = {
    "ThoroughfareName": "address_street",
    "ThoroughfareNumber": "address_number",
    "PostalCodeNumber": "address_postcode",
    "LocalityName": "address_city",
    "CountryName": "address_country",
}
"""xAL element -> flattened attribute name (the first occurrence inside one address counts)."""

_METRE_UOMS: Final = frozenset(
    {"m", "#m", "metre", "meter", "urn:adv:uom:m", "urn:ogc:def:uom:EPSG::9001", "EPSG:9001"}
)
_YEAR = re.compile(r"-?\d{4,}")

Element = etree._Element


def _as_float(text: str) -> AttributeValue:
    try:
        return float(text)
    except ValueError:
        return text


def _as_int(text: str) -> AttributeValue:
    try:
        return int(text)
    except ValueError:
        return text


def _as_year(text: str) -> AttributeValue:
    # xs:gYear may carry a time zone ("1985Z", "1985+01:00"); the year is what matters
    m = _YEAR.match(text)
    return int(m.group()) if m else text


def _as_date(text: str) -> AttributeValue:
    # xs:date may carry a time zone, xs:dateTime a time: the calendar date is kept
    if len(text) >= 10 and text[4] == "-" and text[7] == "-":
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            return text
    return text


_GENERIC_CONVERTERS: Final[dict[str, Callable[[str], AttributeValue]]] = {
    "stringAttribute": str,
    "uriAttribute": str,
    "intAttribute": _as_int,
    "doubleAttribute": _as_float,
    "measureAttribute": _as_float,
    "dateAttribute": _as_date,
}

CORE_ATTRIBUTE_NAMES: Final = frozenset(
    {
        "name",
        "description",
        "creationDate",
        "terminationDate",
        "relativeToTerrain",
        "relativeToWater",
        "externalReference_informationSystem",
        "externalReference_name",
        "externalReference_uri",
        "class",
        "function",
        "usage",
        "yearOfConstruction",
        "yearOfDemolition",
        "roofType",
        "measuredHeight",
        "measuredHeight_uom",
        "storeysAboveGround",
        "storeysBelowGround",
        "storeyHeightsAboveGround",
        "storeyHeightsBelowGround",
        *ADDRESS_FIELDS.values(),
    }
)
"""Every name the reader may give a building's core attribute; generic attributes never take one.

A generic attribute is also renamed ``gen_<name>`` when the object has a thematic attribute of
that name (e.g. ``species`` of a SolitaryVegetationObject, see :data:`MODULE_ATTRIBUTES`).
"""

MODULE_ATTRIBUTES: Final[dict[str, dict[str, Callable[[str], AttributeValue]]]] = {
    "vegetation": {
        "species": str,
        "height": _as_float,
        "trunkDiameter": _as_float,
        "crownDiameter": _as_float,
        "averageHeight": _as_float,
    },
    "transportation": {"surfaceMaterial": str},
    "bridge": {"isMovable": str},
    "waterbody": {"waterLevel": str},
}
"""Thematic attributes beyond class/function/usage per CityGML module (metres for measures)."""


def _text(el: Element) -> str | None:
    text = el.text
    if text is None:
        return None
    text = text.strip()
    return text or None


@dataclass(slots=True)
class AttributeCollector:
    """Collects the attributes of one feature; :meth:`result` merges them."""

    core: dict[str, AttributeValue] = field(default_factory=dict)
    generic: dict[str, AttributeValue] = field(default_factory=dict)
    addresses: list[dict[str, str]] = field(default_factory=list)

    def add(self, name: str, value: AttributeValue) -> None:
        """Set a core attribute; a repeated one is joined with ``"; "``."""
        old = self.core.get(name)
        if old is None:
            self.core[name] = value
        else:
            self.core[name] = f"{old}; {value}"

    def add_generic(self, name: str, value: AttributeValue) -> None:
        """Set a generic attribute (the first value of a repeated name is kept)."""
        if name in self.generic:
            log.debug("generic attribute %r repeats; keeping the first value", name)
            return
        self.generic[name] = value

    def result(self) -> dict[str, AttributeValue]:
        """Core attributes, address fields, then generic ones (renamed on a name clash)."""
        out = dict(self.core)
        if self.addresses:
            for name in ADDRESS_FIELDS.values():
                values = [a.get(name, "") for a in self.addresses]
                if any(values):
                    out[name] = "; ".join(values)
        core = self.core
        for name, value in self.generic.items():
            clash = name in CORE_ATTRIBUTE_NAMES or name in core
            out[f"gen_{name}" if clash else name] = value
        return out


Handler = Callable[[Element, str, AttributeCollector], None]
"""``handler(element, its tag, collector)``: the caller has read the tag already."""

PLAIN_TEXT, PLAIN_MEASURE, PLAIN_GENERIC, PLAIN_EXTERNAL, PLAIN_ADDRESS = range(5)
"""Shapes of :attr:`AttributeVocabulary.plain` (what the compiled walker reads itself)."""

CONVERT_STR, CONVERT_FLOAT, CONVERT_INT, CONVERT_DATE, CONVERT_CALL = range(5)
"""Value converters the compiled walker applies itself (``str``, ``_as_float``, ``_as_int``,
``_as_date``), or ``CONVERT_CALL``: it calls the converter."""

PlainShape = tuple[int, str | None, int, object, object]
"""``(shape, name, converter code, converter, extra)``, see :attr:`AttributeVocabulary.plain`."""


def _convert_code(convert: Callable[[str], AttributeValue]) -> int:
    codes: dict[object, int] = {
        str: CONVERT_STR,
        _as_float: CONVERT_FLOAT,
        _as_int: CONVERT_INT,
        _as_date: CONVERT_DATE,
    }
    return codes.get(convert, CONVERT_CALL)


class AttributeVocabulary:
    """Attribute handlers keyed by the Clark tag of a building's child element.

    Parameters
    ----------
    core_ns, building_ns, generics_ns, gml_ns
        Namespaces of the document's CityGML version; ``building_ns`` is the namespace of the
        thematic module whose objects are read (building, bridge, vegetation ...).
    extra
        Further thematic attributes of that module by local name, with their value converter
        (:data:`MODULE_ATTRIBUTES`).
    """

    def __init__(
        self,
        *,
        core_ns: str,
        building_ns: str,
        generics_ns: str,
        gml_ns: str,
        extra: dict[str, Callable[[str], AttributeValue]] | None = None,
    ) -> None:
        self._core = core_ns
        self._gen = generics_ns
        self._external_object = f"{{{core_ns}}}externalObject"
        self._external_names: dict[object, str] = {
            f"{{{core_ns}}}informationSystem": "externalReference_informationSystem",
            f"{{{core_ns}}}name": "externalReference_name",
            f"{{{core_ns}}}uri": "externalReference_uri",
        }
        self._xal_tags: dict[object, str] = {
            f"{{{XAL_NS}}}{k}": v for k, v in ADDRESS_FIELDS.items()
        }
        handlers: dict[object, Handler] = {}
        plain: dict[object, PlainShape] = {}

        def text(ns: str, local: str, convert: Callable[[str], AttributeValue] = str) -> None:
            def handle(el: Element, tag: str, out: AttributeCollector) -> None:
                value = _text(el)
                if value is not None:
                    out.add(local, convert(value))

            handlers[f"{{{ns}}}{local}"] = handle
            plain[handle] = (PLAIN_TEXT, local, _convert_code(convert), convert, None)

        for local in ("name", "description"):
            text(gml_ns, local)
        text(core_ns, "creationDate", _as_date)
        text(core_ns, "terminationDate", _as_date)
        text(core_ns, "relativeToTerrain")
        text(core_ns, "relativeToWater")
        for local in (
            "class",
            "function",
            "usage",
            "roofType",
            "storeyHeightsAboveGround",
            "storeyHeightsBelowGround",
        ):
            text(building_ns, local)
        text(building_ns, "yearOfConstruction", _as_year)
        text(building_ns, "yearOfDemolition", _as_year)
        text(building_ns, "storeysAboveGround", _as_int)
        text(building_ns, "storeysBelowGround", _as_int)
        for local, convert in (extra or {}).items():
            text(building_ns, local, convert)
        handlers[f"{{{building_ns}}}measuredHeight"] = self._measured_height
        handlers[f"{{{core_ns}}}externalReference"] = self._external_reference
        handlers[f"{{{building_ns}}}address"] = self._address
        self._value_tag = f"{{{generics_ns}}}value"
        self._set_tag = f"{{{generics_ns}}}genericAttributeSet"
        self._generic_converters: dict[object, Callable[[str], AttributeValue]] = {
            f"{{{generics_ns}}}{local}": convert for local, convert in _GENERIC_CONVERTERS.items()
        }
        for tag in self._generic_converters:
            handlers[str(tag)] = self._generic
        handlers[self._set_tag] = self._generic
        self.handlers = handlers
        plain[self._measured_height] = (
            PLAIN_MEASURE,
            "measuredHeight",
            CONVERT_FLOAT,
            _as_float,
            _METRE_UOMS,
        )
        generic_converters = {
            tag: (_convert_code(convert), convert)
            for tag, convert in self._generic_converters.items()
        }
        plain[self._generic] = (
            PLAIN_GENERIC,
            None,
            CONVERT_CALL,
            None,
            (generic_converters, generics_ns.encode("utf-8")),
        )
        plain[self._external_reference] = (
            PLAIN_EXTERNAL,
            None,
            CONVERT_STR,
            None,
            core_ns.encode("utf-8"),
        )
        plain[self._address] = (
            PLAIN_ADDRESS,
            None,
            CONVERT_STR,
            None,
            (core_ns.encode("utf-8"), XAL_NS.encode("utf-8"), dict(ADDRESS_FIELDS)),
        )
        self.plain = plain
        """Handler -> the shape the compiled walker reads without calling it.

        ``(shape, name, converter code, converter, extra)``; when the element does not have
        the plain form, the handler is called. ``PLAIN_TEXT``: the stripped text, converted,
        added as ``name`` with :meth:`AttributeCollector.add`; ``PLAIN_MEASURE``: the same, plus
        ``<name>_uom`` for a ``uom`` not in ``extra`` (the metre spellings); ``PLAIN_GENERIC``
        (``extra``: converter code and converter by tag, generics namespace as UTF-8): a
        ``gen:*Attribute`` with a non-empty ``name`` not seen before, whose first ``gen:value``
        child's stripped text is converted and added with
        :meth:`AttributeCollector.add_generic` (a ``genericAttributeSet`` is the handler's);
        ``PLAIN_EXTERNAL`` (``extra``: core namespace as UTF-8): what
        :meth:`_external_reference` reads; ``PLAIN_ADDRESS`` (``extra``: core and xAL namespaces
        as UTF-8, :data:`ADDRESS_FIELDS`): what :meth:`_address` reads.
        """

    def _measured_height(self, el: Element, tag: str, out: AttributeCollector) -> None:
        value = _text(el)
        if value is None:
            return
        out.add("measuredHeight", _as_float(value))
        uom = el.get("uom")
        if uom is not None and uom not in _METRE_UOMS:
            out.add("measuredHeight_uom", uom)

    def _external_reference(self, el: Element, tag: str, out: AttributeCollector) -> None:
        names = self._external_names
        for child in children(el):
            child_tag = child.tag
            name = names.get(child_tag)
            if name is not None:
                value = _text(child)
                if value is not None:
                    out.add(name, value)
            elif child_tag == self._external_object:
                for part in children(child):
                    name = names.get(part.tag)
                    if name is not None and (value := _text(part)) is not None:
                        out.add(name, value)

    def _address(self, el: Element, tag: str, out: AttributeCollector) -> None:
        tags = self._xal_tags
        for address in el.iter(f"{{{self._core}}}Address"):
            fields: dict[str, str] = {}
            for part in address.iter():  # small subtree: cheaper than a multi-tag filter
                name = tags.get(part.tag)
                if name is not None and name not in fields and (value := _text(part)) is not None:
                    fields[name] = value
            out.addresses.append(fields)

    def _generic(self, el: Element, tag: str, out: AttributeCollector, prefix: str = "") -> None:
        name = el.get("name")
        if not name:
            log.debug("generic attribute without a name at line %s", line_of(el))
            return
        if tag == self._set_tag:
            for child in children(el):
                child_tag = child.tag
                if child_tag in self._generic_converters or child_tag == self._set_tag:
                    self._generic(child, child_tag, out, prefix=f"{prefix}{name}.")
            return
        convert = self._generic_converters.get(tag)
        if convert is None:
            return
        value_tag = self._value_tag
        for value_el in children(el):
            if value_el.tag == value_tag:
                value = _text(value_el)
                if value is not None:
                    out.add_generic(prefix + name, convert(value))
                return
