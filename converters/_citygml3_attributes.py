"""Thematic attributes of CityGML 3.0 city objects, flattened as the 2.0 reader flattens them.

The names and the merging rules are those of :mod:`citymodel.converters._citygml_attributes`
(CGML-7: codes stay strings; repeated elements joined with ``"; "``; addresses flattened to
``address_street``/``address_number``/``address_postcode``/``address_city``/``address_country``;
generic attributes keep their names, set members ``<set>.<name>``, a clash with a core name
becomes ``gen_<name>``). What 3.0 writes differently:

* ``core:genericAttribute/gen:StringAttribute/{gen:name, gen:value}`` (name as an element;
  ``IntAttribute``, ``DoubleAttribute``, ``DateAttribute``, ``UriAttribute``,
  ``MeasureAttribute`` with ``uom``, ``CodeAttribute``, nested ``GenericAttributeSet``);
* ``con:height/con:Height/{highReference, lowReference, status, value}``: a measured (or
  status-less) height becomes ``measuredHeight`` (metres; ``measuredHeight_uom`` when another
  unit is written), other statuses ``height_<status>``;
* addresses in xAL 3 (``core:Address/core:xalAddress/xAL:Address`` with ``Thoroughfare``
  ``NameElement``/``Number``, ``PostCode/Identifier``, ``Locality`` and ``Country``
  ``NameElement``; a street name of ``NameType`` ``ReferenceLocation`` is a landmark, not
  the street, and is used only when nothing else names the street);
* ``core:externalReference/core:ExternalReference/{targetResource, informationSystem}``
  (``targetResource`` fills ``externalReference_uri``, or ``externalReference_name`` when it
  is no URI but an identifier, as 2.0's ``externalObject/name``);
* ``core:relatedTo/core:CityObjectRelation`` (CityObjectRelations): ``relatedTo`` holds the
  related ids, ``relatedTo_relationType`` the relation types, aligned; relations of thematic
  surfaces are lifted to their object with the surface id in ``relatedTo_source``;
* any other simple element (``bldg:function``, ``veg:species``, ``tran:granularity``, ...)
  is kept under its local name: a value with ``uom`` as float (``<name>_uom`` when not metres),
  counts as int, dates as :class:`datetime.date`; a property with only an ``xlink:href``
  keeps the referenced id.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Final

from lxml import etree

from citymodel._typing import AttributeValue
from citymodel.converters._citygml3_vocabulary import NS, XAL3_NS
from citymodel.converters._citygml_attributes import (
    _METRE_UOMS,
    AttributeCollector,
    _as_date,
    _as_float,
    _as_int,
    _text,
)
from citymodel.converters._gml import XLINK_HREF, children, line_of, local_name

__all__ = ["AttributeReader3"]

log = logging.getLogger(__name__)

Element = etree._Element

_INT_NAMES: Final = frozenset({"storeysAboveGround", "storeysBelowGround", "numberOfFloors"})
_DATE_NAMES: Final = frozenset(
    {
        "creationDate",
        "terminationDate",
        "validFrom",
        "validTo",
        "dateOfConstruction",
        "dateOfDemolition",
        "dateOfRenovation",
    }
)
_GENERIC_VALUES: Final[dict[str, Callable[[str], AttributeValue]]] = {
    "StringAttribute": str,
    "UriAttribute": str,
    "CodeAttribute": str,
    "IntAttribute": _as_int,
    "DoubleAttribute": _as_float,
    "MeasureAttribute": _as_float,
    "DateAttribute": _as_date,
}
_NOT_STREET: Final = "ReferenceLocation"
_URI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
"""A URI scheme: a ``targetResource`` without one is an identifier (2.0's ``name``)."""


def _href_id(href: str) -> str:
    return href[1:] if href.startswith("#") else href


class AttributeReader3:
    """Reads the attribute properties of CityGML 3.0 objects into an :class:`AttributeCollector`."""

    def __init__(self, gml_ns: str) -> None:
        core, gen, con = NS["core"], NS["gen"], NS["con"]
        self._gml_ns = gml_ns
        self._generic = f"{{{core}}}genericAttribute"
        self._generic_values = {f"{{{gen}}}{k}": convert for k, convert in _GENERIC_VALUES.items()}
        self._gen_name = f"{{{gen}}}name"
        self._gen_value = f"{{{gen}}}value"
        self._gen_set = f"{{{gen}}}GenericAttributeSet"
        self._gen_member = f"{{{gen}}}genericAttribute"
        self._height_value = f"{{{con}}}value"
        self._height_status = f"{{{con}}}status"
        self._relation = f"{{{core}}}CityObjectRelation"
        self._relation_type = f"{{{core}}}relationType"
        self._related = f"{{{core}}}relatedTo"
        self._external = {
            f"{{{core}}}targetResource": "externalReference_uri",
            f"{{{core}}}informationSystem": "externalReference_informationSystem",
        }
        self._xal_address = f"{{{XAL3_NS}}}Address"
        self._xal = {
            local: f"{{{XAL3_NS}}}{local}"
            for local in (
                "Thoroughfare",
                "Number",
                "NameElement",
                "PostCode",
                "Identifier",
                "Locality",
                "Country",
            )
        }
        self._xal_name_type = f"{{{XAL3_NS}}}NameType"
        self._special: dict[str, Callable[[Element, AttributeCollector], None]] = {
            self._generic: self._generic_attribute,
            f"{{{con}}}height": self._height,
            f"{{{core}}}externalReference": self._external_reference,
            self._related: self._related_to,
        }
        for prefix in ("bldg", "brid", "tun", "core", "con"):
            self._special[f"{{{NS[prefix]}}}address"] = self._address

    def read(self, el: Element, tag: str, out: AttributeCollector) -> bool:
        """Add the attribute(s) of property ``el``; False when it is no attribute property."""
        special = self._special.get(tag)
        if special is not None:
            special(el, out)
            return True
        if len(el):
            return False  # a complex property this reader does not know
        local = local_name(tag)
        href = el.get(XLINK_HREF)
        if href is not None:
            out.add(local, _href_id(href))
            return True
        value = _text(el)
        if value is None:
            return True
        uom = el.get("uom")
        if local in _INT_NAMES:
            out.add(local, _as_int(value))
        elif local in _DATE_NAMES:
            out.add(local, _as_date(value))
        elif uom is not None:
            out.add(local, _as_float(value))
            if uom not in _METRE_UOMS:
                out.add(f"{local}_uom", uom)
        else:
            out.add(local, value)
        return True

    # -- complex properties -------------------------------------------------------------

    def _generic_attribute(self, el: Element, out: AttributeCollector, prefix: str = "") -> None:
        for attr in children(el):
            name = None
            value: str | None = None
            members: list[Element] = []
            for part in children(attr):
                tag = part.tag
                if tag == self._gen_name:
                    name = _text(part)
                elif tag == self._gen_value:
                    value = _text(part)
                elif tag == self._gen_member:
                    members.append(part)
            if not name:
                log.debug("generic attribute without a name at line %s", line_of(attr))
                continue
            if attr.tag == self._gen_set:
                for member in members:
                    self._generic_attribute(member, out, prefix=f"{prefix}{name}.")
                continue
            convert = self._generic_values.get(attr.tag)
            if convert is None or value is None:
                continue
            out.add_generic(prefix + name, convert(value))

    def _height(self, el: Element, out: AttributeCollector) -> None:
        for height in children(el):
            status = None
            value_el = None
            for part in children(height):
                if part.tag == self._height_status:
                    status = _text(part)
                elif part.tag == self._height_value:
                    value_el = part
            if value_el is None or (text := _text(value_el)) is None:
                continue
            name = "measuredHeight" if status in (None, "measured") else f"height_{status}"
            out.add(name, _as_float(text))
            uom = value_el.get("uom")
            if uom is not None and uom not in _METRE_UOMS:
                out.add(f"{name}_uom", uom)

    def _external_reference(self, el: Element, out: AttributeCollector) -> None:
        names = self._external
        for ref in children(el):
            for part in children(ref):
                name = names.get(part.tag)
                if name is not None and (value := _text(part)) is not None:
                    if name == "externalReference_uri" and not _URI.match(value):
                        name = "externalReference_name"  # an id in the other system (2.0 name)
                    out.add(name, value)

    def _related_to(self, el: Element, out: AttributeCollector) -> None:
        self.relations(el, out, None)

    def relations(self, el: Element, out: AttributeCollector, source: str | None) -> None:
        """Add the CityObjectRelations of a ``core:relatedTo`` property.

        ``source``: id of the thematic surface holding them (``relatedTo_source``), None for
        the object's own relations.
        """
        for relation in children(el):
            if relation.tag != self._relation:
                continue
            kind = ""
            target = None
            for part in children(relation):
                if part.tag == self._relation_type:
                    kind = _text(part) or ""
                elif part.tag == self._related:
                    href = part.get(XLINK_HREF)
                    if href is not None:
                        target = _href_id(href)
                    else:
                        held = children(part)
                        target = held[0].get(f"{{{self._gml_ns}}}id") if held else None
            if target:
                out.add("relatedTo", target)
                out.add("relatedTo_relationType", kind)
                if source is not None:
                    out.add("relatedTo_source", source)

    def _address(self, el: Element, out: AttributeCollector) -> None:
        x = self._xal
        for address in el.iter(self._xal_address):
            fields: dict[str, str] = {}
            for part in children(address):
                tag = part.tag
                if tag == x["Thoroughfare"]:
                    street = self._name(part, skip_landmarks=True)
                    if street is not None:
                        fields["address_street"] = street
                    number = part.find(x["Number"])
                    if number is not None and (value := _text(number)) is not None:
                        fields["address_number"] = value
                elif tag == x["PostCode"]:
                    ident = part.find(x["Identifier"])
                    if ident is not None and (value := _text(ident)) is not None:
                        fields["address_postcode"] = value
                elif tag == x["Locality"]:
                    if (name := self._name(part)) is not None:
                        fields["address_city"] = name
                elif tag == x["Country"] and (name := self._name(part)) is not None:
                    fields["address_country"] = name
            out.addresses.append(fields)

    def _name(self, el: Element, *, skip_landmarks: bool = False) -> str | None:
        """The first ``xAL:NameElement`` text (a street before a ``ReferenceLocation``)."""
        fallback = None
        for name_el in el.iterchildren(self._xal["NameElement"]):
            value = _text(name_el)
            if value is None:
                continue
            if skip_landmarks and name_el.get(self._xal_name_type) == _NOT_STREET:
                fallback = fallback or value
                continue
            return value
        return fallback
