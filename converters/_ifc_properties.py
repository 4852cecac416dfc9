"""City object attributes -> IFC property sets and postal addresses.

Attributes go into one property set per object, ``CityGML_Attributes`` (names starting with
``Pset_`` are reserved for buildingSMART's standard sets), one ``IfcPropertySingleValue`` per
attribute: strings as IfcLabel (IfcText beyond 255 characters), integers as IfcInteger,
floats as IfcReal (``measuredHeight`` as IfcLengthMeasure, metres), booleans as IfcBoolean,
dates as IfcDate (ISO 8601). Missing values (None) are left out. The ``address_*`` attributes
the CityGML reader flattens from xAL also become the building's IfcPostalAddress.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

import ifcopenshell

from citymodel._typing import AttributeValue
from citymodel.converters._ifc_document import IfcDocument

__all__ = ["PSET_NAME", "add_property_set", "address_line", "postal_address"]

PSET_NAME = "CityGML_Attributes"
_LABEL_MAX = 255
_LENGTHS = frozenset({"measuredHeight"})


def _value(
    doc: IfcDocument, name: str, value: AttributeValue
) -> ifcopenshell.entity_instance | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return doc.file.create_entity("IfcBoolean", value)
    if isinstance(value, int):
        return doc.file.create_entity("IfcInteger", value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        kind = "IfcLengthMeasure" if name in _LENGTHS else "IfcReal"
        return doc.file.create_entity(kind, value)
    if isinstance(value, dt.date):
        return doc.file.create_entity("IfcDate", value.isoformat())
    text = str(value)
    return doc.file.create_entity("IfcLabel" if len(text) <= _LABEL_MAX else "IfcText", text)


def add_property_set(
    doc: IfcDocument,
    target: ifcopenshell.entity_instance,
    values: Mapping[str, AttributeValue],
    *,
    key: str,
    name: str = PSET_NAME,
) -> ifcopenshell.entity_instance | None:
    """Attach an IfcPropertySet ``name`` with ``values`` to ``target``; None if nothing to write."""
    properties = []
    for prop_name, value in values.items():
        nominal = _value(doc, prop_name, value)
        if nominal is not None:
            properties.append(
                doc.create("IfcPropertySingleValue", Name=prop_name, NominalValue=nominal)
            )
    if not properties:
        return None
    pset = doc.create(
        "IfcPropertySet", GlobalId=doc.guid("pset", name, key), Name=name, HasProperties=properties
    )
    doc.create(
        "IfcRelDefinesByProperties",
        GlobalId=doc.guid("defines", name, key),
        RelatedObjects=[target],
        RelatingPropertyDefinition=pset,
    )
    return pset


def _text(attributes: Mapping[str, AttributeValue], name: str) -> str | None:
    value = attributes.get(name)
    return None if value is None else str(value).strip() or None


def address_line(attributes: Mapping[str, AttributeValue]) -> str | None:
    """``"Decksteiner Straße 169, 50354 Hürth"`` from the ``address_*`` attributes, or None."""
    street = " ".join(
        t for t in (_text(attributes, "address_street"), _text(attributes, "address_number")) if t
    )
    town = " ".join(
        t for t in (_text(attributes, "address_postcode"), _text(attributes, "address_city")) if t
    )
    line = ", ".join(t for t in (street, town) if t)
    return line or None


def postal_address(
    doc: IfcDocument, attributes: Mapping[str, AttributeValue]
) -> ifcopenshell.entity_instance | None:
    """An IfcPostalAddress from the ``address_*`` attributes, or None when there are none."""
    street = " ".join(
        t for t in (_text(attributes, "address_street"), _text(attributes, "address_number")) if t
    )
    town = _text(attributes, "address_city")
    postcode = _text(attributes, "address_postcode")
    country = _text(attributes, "address_country")
    if not (street or town or postcode or country):
        return None
    return doc.create(
        "IfcPostalAddress",
        Purpose="SITE",
        AddressLines=[street] if street else None,
        PostalCode=postcode,
        Town=town,
        Country=country,
    )
