"""Feature attributes -> CityGML elements (the inverse of ``_citygml_attributes``).

Each attribute name is sorted into the element the reader takes it from: ``name`` and
``description`` -> ``gml:``; ``creationDate``, ``terminationDate``, ``relativeToTerrain``,
``relativeToWater``, ``externalReference_*`` -> ``core:``; the module attributes of the object's
type (``class``, ``function``, ``measuredHeight`` ...) -> its module; ``address_*`` -> an
address; everything else -> a generic attribute whose element follows the value's type (int,
double, date, string). A generic name the reader renamed (``gen_function``) is written with
its original name, and values the reader joined with ``"; "`` are written as repeated elements.
CityGML has no boolean and no null: booleans are written as ``"true"``/``"false"`` strings and
nulls are left out (both noted once in the report).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from citymodel._typing import AttributeValue
from citymodel.converters._citygml_attributes import ADDRESS_FIELDS, CORE_ATTRIBUTE_NAMES
from citymodel.converters._citygml_write_tables import ObjectKind, WriteVocabulary

__all__ = ["AttributePlan", "plan_attributes"]

_JOIN: Final = "; "
_GML: Final = ("description", "name")
_CORE: Final = ("creationDate", "terminationDate")
_CORE_AFTER_REFERENCE: Final = ("relativeToTerrain", "relativeToWater")
_EXTERNAL: Final = (
    "externalReference_informationSystem",
    "externalReference_name",
    "externalReference_uri",
)
_ADDRESS: Final = tuple(ADDRESS_FIELDS.values())
_ADDRESS_TYPES: Final = frozenset({"Building", "BuildingPart", "Bridge", "BridgePart"})


@dataclass(slots=True)
class AttributePlan:
    """The attributes of one object sorted by where they are written."""

    gml: list[tuple[str, str]] = field(default_factory=list)
    core: list[tuple[str, str]] = field(default_factory=list)
    external: list[dict[str, str]] = field(default_factory=list)
    core_after: list[tuple[str, str]] = field(default_factory=list)
    generic: list[tuple[str, str, str]] = field(default_factory=list)
    """``(type, name, text)``; type is ``string``, ``int``, ``double`` or ``date``."""
    module: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    """``(name, text, xml attributes)`` in schema order."""
    addresses: list[dict[str, str]] = field(default_factory=list)


def _text(value: AttributeValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "INF" if value > 0 else "-INF"
        return repr(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _generic_type(value: AttributeValue) -> str:
    if isinstance(value, bool):
        return "string"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, dt.date):
        return "date"
    return "string"


def _split(value: AttributeValue) -> list[str]:
    return _text(value).split(_JOIN) if isinstance(value, str) else [_text(value)]


def _aligned(values: Mapping[str, str], names: tuple[str, ...]) -> list[dict[str, str]]:
    """Entries joined with ``"; "`` split back into aligned records (one record if unaligned)."""
    present = {n: values[n] for n in names if n in values}
    if not present:
        return []
    parts = {n: v.split(_JOIN) for n, v in present.items()}
    if len({len(p) for p in parts.values()}) != 1:
        return [dict(present)]
    count = len(next(iter(parts.values())))
    return [{n: p[i] for n, p in parts.items() if p[i]} for i in range(count)]


def plan_attributes(
    attributes: Mapping[str, AttributeValue],
    feature_type: str,
    kind: ObjectKind,
    vocab: WriteVocabulary,
    note: Callable[[str], None],
) -> AttributePlan:
    """Sort ``attributes`` of an object of ``feature_type`` into an :class:`AttributePlan`.

    ``note`` receives one message per kind of lossy conversion (booleans, nulls, module
    attributes the type does not have).
    """
    plan = AttributePlan()
    module_values: dict[str, AttributeValue] = {}
    external: dict[str, str] = {}
    address: dict[str, str] = {}
    for name, value in attributes.items():
        if value is None:
            note(f"attribute {name!r} is null: CityGML has no null; left out")
            continue
        if name in _GML:
            plan.gml.extend((name, part) for part in _split(value))
        elif name in _CORE:
            plan.core.append((name, _text(value)))
        elif name in _CORE_AFTER_REFERENCE:
            plan.core_after.append((name, _text(value)))
        elif name in _EXTERNAL:
            external[name.split("_", 1)[1]] = _text(value)
        elif name in _ADDRESS and feature_type in _ADDRESS_TYPES:
            address[name] = _text(value)
        elif name in kind.attributes or (
            name == "measuredHeight_uom" and "measuredHeight" in kind.attributes
        ):
            module_values[name] = value
        else:
            generic_name = name
            if name.startswith("gen_") and name[4:] in CORE_ATTRIBUTE_NAMES:
                generic_name = name[4:]
            elif name in CORE_ATTRIBUTE_NAMES:
                note(
                    f"{feature_type} has no CityGML {vocab.version} attribute {name!r}; written "
                    f"as a generic attribute (read back as 'gen_{name}')"
                )
            if isinstance(value, bool):
                note(f"attribute {name!r} is boolean: CityGML has none; written as a string")
            plan.generic.append((_generic_type(value), generic_name, _text(value)))
    plan.external = _aligned(external, ("informationSystem", "name", "uri"))
    plan.addresses = _aligned(address, _ADDRESS)
    for name in kind.attributes:
        value = module_values.get(name)
        if value is None:
            continue
        extra: dict[str, str] = {}
        if name == "measuredHeight":
            extra["uom"] = str(module_values.get("measuredHeight_uom", "m"))
            plan.module.append((name, _text(value), extra))
        else:
            plan.module.extend((name, part, extra) for part in _split(value))
    return plan


def generic_element(version: str, kind: str) -> str:
    """The local element name of a generic attribute of value type ``kind``."""
    if version == "2.0":
        return f"{kind}Attribute"
    return f"{kind.capitalize()}Attribute"


def core_date(version: str, text: str) -> str:
    """``creationDate``/``terminationDate`` text: xs:date in 2.0, xs:dateTime in 3.0."""
    if version == "2.0" or "T" in text:
        return text
    return f"{text}T00:00:00"


def address_parts(
    version: str, record: Mapping[str, str]
) -> list[tuple[list[str], str, dict[str, Any]]]:
    """The xAL path (element names below the address root), text and attributes per field."""
    by_name = {name: xal for xal, name in ADDRESS_FIELDS.items()}
    if version == "2.0":
        paths = {
            "CountryName": ["Country", "CountryName"],
            "LocalityName": ["Country", "Locality", "LocalityName"],
            "ThoroughfareNumber": ["Country", "Locality", "Thoroughfare", "ThoroughfareNumber"],
            "ThoroughfareName": ["Country", "Locality", "Thoroughfare", "ThoroughfareName"],
            "PostalCodeNumber": ["Country", "Locality", "PostalCode", "PostalCodeNumber"],
        }
    else:
        paths = {
            "CountryName": ["Country", "NameElement"],
            "LocalityName": ["Locality", "NameElement"],
            "ThoroughfareName": ["Thoroughfare", "NameElement"],
            "ThoroughfareNumber": ["Thoroughfare", "Number"],
            "PostalCodeNumber": ["PostCode", "Identifier"],
        }
    out: list[tuple[list[str], str, dict[str, Any]]] = [
        (paths[by_name[name]], text, {}) for name, text in record.items()
    ]
    return sorted(out, key=lambda item: list(paths.values()).index(item[0]))
