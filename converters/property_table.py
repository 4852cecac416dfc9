"""Typed feature attributes as 3D Metadata property tables (EXT_structural_metadata, T3D-7).

A :class:`~citymodel.mesh.FeatureTable` keeps attribute columns as Python lists with ``None``
for "no value". :func:`infer_property_types` gives each column a metadata type and
:func:`encode_property_table` writes the columns as binary property-table data:

=============================  ==========================================  =====================
column values                  metadata type                               ``noData`` (nullable)
=============================  ==========================================  =====================
``bool``                       ``SCALAR UINT8``: 0 false, 1 true           ``255``
``int`` in ±(2^31 - 1)         ``SCALAR INT32``                            ``-2147483648``
``int`` in ±(2^63 - 1)         ``SCALAR INT64``                            ``-9223372036854775808``
``float`` (and ``int`` ≤ 2^53) ``SCALAR FLOAT64``                          ``-1.7976931348623157e308``
``str``                        ``STRING`` (UTF-8, UINT32 offsets)          ``"␀"`` (U+2400)
``datetime.date``              ``STRING``, ISO 8601                        ``"␀"``
mixed / larger ints            ``STRING`` (``true``/``false``, ``repr``)   ``"␀"``
only ``None``                  ``STRING``                                  ``"␀"``
=============================  ==========================================  =====================

Booleans are UINT8 rather than bit-packed ``BOOLEAN`` because loaders.gl 4.5 (deck.gl) fails
on a whole content with a ``BOOLEAN`` property ("Not implemented", measured with
``../shared/tools/check-tileset``); ``packed_booleans=True`` writes ``BOOLEAN`` for columns
without nulls (CesiumJS reads it; ``BOOLEAN`` cannot have ``noData``).
Sentinels are fixed per type, so specs from different tiles merge without re-reading data
(:func:`merge_property_types`). The sentinels lie outside every inferred value range, except for
strings and floats: a string equal to ``"␀"`` or a float equal to ``-DBL_MAX`` reads back as "no
value" (logged as a warning). NaN cannot be a sentinel (JSON has no NaN) and is stored as a value.
A column without nulls is ``required`` and has no ``noData``. Property ids must match
``^[a-zA-Z_][a-zA-Z0-9_]*$``: names are transliterated (``Gemeindeschlüssel`` ->
``Gemeindeschluessel``) and the original name is kept in the property's ``name``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from citymodel._typing import AttributeValue
from citymodel.converters.gltf_binary import BufferBuilder
from citymodel.mesh import FeatureTable

__all__ = [
    "NO_DATA",
    "STRING_NO_DATA",
    "ComponentType",
    "PropertyKind",
    "PropertySpec",
    "PropertyType",
    "encode_property_table",
    "infer_property_types",
    "merge_property_types",
    "property_identifier",
]

log = logging.getLogger(__name__)

PropertyKind = Literal["empty", "boolean", "integer", "number", "string", "date", "mixed"]
"""What the values of a column are (drives the metadata type and merging)."""
PropertyType = Literal["STRING", "BOOLEAN", "SCALAR"]
ComponentType = Literal["UINT8", "INT32", "INT64", "FLOAT64"]

STRING_NO_DATA = "\u2400"
"""``noData`` of nullable STRING properties: U+2400 SYMBOL FOR NULL (``"␀"``)."""
_FLOAT64_NO_DATA = -float(np.finfo(np.float64).max)
NO_DATA: Mapping[ComponentType, int | float] = {
    "UINT8": 255,
    "INT32": -(2**31),
    "INT64": -(2**63),
    "FLOAT64": _FLOAT64_NO_DATA,
}
"""``noData`` of nullable SCALAR properties per component type."""

_INT32_LIMIT = 2**31  # INT32 holds values in (-2^31, 2^31); -2^31 is the sentinel
_INT64_LIMIT = 2**63
_FLOAT_EXACT_INT = 2**53
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TRANSLITERATION = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "ẞ": "SS"}
)

_Category = Literal["none", "bool", "int", "float", "str", "date", "other"]


@dataclass(frozen=True, slots=True)
class PropertySpec:
    """The metadata type of one feature-table column.

    Attributes
    ----------
    name
        Property id in the schema and the property table (``^[a-zA-Z_][a-zA-Z0-9_]*$``).
    source
        Column name in the :class:`~citymodel.mesh.FeatureTable` (kept as the property's
        display ``name``).
    kind
        What the column holds, see :data:`PropertyKind`.
    type
        Metadata type: ``STRING``, ``BOOLEAN`` or ``SCALAR``.
    component_type
        Component type of ``SCALAR`` properties, else None.
    required
        True when every feature has a value (no ``noData``).
    """

    name: str
    source: str
    kind: PropertyKind
    type: PropertyType
    component_type: ComponentType | None
    required: bool

    @property
    def no_data(self) -> str | int | float | None:
        """The sentinel written for missing values (None for required properties)."""
        if self.required:
            return None
        if self.component_type is None:  # STRING (BOOLEAN is always required)
            return STRING_NO_DATA
        return NO_DATA[self.component_type]

    def schema(self) -> dict[str, Any]:
        """The class property object of an EXT_structural_metadata / 3D Tiles schema."""
        prop: dict[str, Any] = {"name": self.source}
        description = _DESCRIPTIONS.get(self.kind)
        if self.kind == "boolean" and self.type == "SCALAR":
            description = "Boolean stored as 0 = false, 1 = true."
        if description:
            prop["description"] = description
        prop["type"] = self.type
        if self.component_type is not None:
            prop["componentType"] = self.component_type
        if self.required:
            prop["required"] = True
        else:
            prop["noData"] = self.no_data
        return prop


_DESCRIPTIONS: dict[PropertyKind, str] = {
    "date": "ISO 8601 date or date-time.",
    "mixed": "Values of mixed types, written as text.",
    "empty": "No feature has a value.",
}


def _make_spec(
    name: str,
    source: str,
    kind: PropertyKind,
    component: ComponentType | None,
    required: bool,
    *,
    packed_booleans: bool = False,
) -> PropertySpec:
    required = required and kind != "empty"
    ptype: PropertyType
    if kind == "boolean" and required and packed_booleans:
        ptype, component = "BOOLEAN", None
    elif kind == "boolean":
        ptype, component = "SCALAR", "UINT8"
    elif kind == "integer":
        ptype = "SCALAR"
        component = component if component in ("INT32", "INT64") else "INT64"
    elif kind == "number":
        ptype, component = "SCALAR", "FLOAT64"
    else:
        ptype, component = "STRING", None
    return PropertySpec(
        name=name, source=source, kind=kind, type=ptype, component_type=component, required=required
    )


def property_identifier(name: str) -> str:
    """A metadata identifier (``^[a-zA-Z_][a-zA-Z0-9_]*$``) for a column name.

    Umlauts are transliterated, accents dropped, other characters replaced by ``_`` and a
    leading digit prefixed with ``_`` (``3D-Höhe`` -> ``_3D_Hoehe``).
    """
    text = unicodedata.normalize("NFKD", name.translate(_TRANSLITERATION))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[^A-Za-z0-9_]", "_", text)
    if not text or text[0].isdigit():
        text = "_" + text
    return text


def _identifiers(sources: Sequence[str]) -> dict[str, str]:
    """Unique identifiers; names that are already identifiers keep them, the others follow."""
    taken: set[str] = {s for s in sources if _IDENTIFIER.fullmatch(s)}
    out: dict[str, str] = {}
    for source in sources:
        if source in taken and _IDENTIFIER.fullmatch(source):
            out[source] = source
            continue
        base = property_identifier(source)
        candidate, n = base, 2
        while candidate in taken:
            candidate, n = f"{base}_{n}", n + 1
        taken.add(candidate)
        out[source] = candidate
    return out


_CATEGORY_CACHE: dict[type, _Category] = {}


def _category(t: type) -> _Category:
    cat = _CATEGORY_CACHE.get(t)
    if cat is None:
        if t is type(None):
            cat = "none"
        elif issubclass(t, (bool, np.bool_)):
            cat = "bool"
        elif issubclass(t, (int, np.integer)):
            cat = "int"
        elif issubclass(t, (float, np.floating)):
            cat = "float"
        elif issubclass(t, str):
            cat = "str"
        elif issubclass(t, dt.date):
            cat = "date"
        else:
            cat = "other"
        _CATEGORY_CACHE[t] = cat
    return cat


def _categories(values: Iterable[AttributeValue]) -> set[_Category]:
    return {_category(t) for t in set(map(type, values))}


def _infer_column(
    values: Sequence[AttributeValue],
) -> tuple[PropertyKind, ComponentType | None, bool]:
    cats = _categories(values)
    required = "none" not in cats
    cats.discard("none")
    if not cats:
        return "empty", None, False
    if cats == {"bool"}:
        return "boolean", None, required
    if cats == {"int"}:
        ints = [int(v) for v in values if isinstance(v, (int, np.integer))]
        lo, hi = min(ints), max(ints)
        if lo > -_INT32_LIMIT and hi < _INT32_LIMIT:
            return "integer", "INT32", required
        if lo > -_INT64_LIMIT and hi < _INT64_LIMIT:
            return "integer", "INT64", required
        return "mixed", None, required
    if cats <= {"int", "float"}:
        exact = "int" not in cats or all(
            abs(int(v)) <= _FLOAT_EXACT_INT for v in values if isinstance(v, (int, np.integer))
        )
        return ("number" if exact else "mixed"), None, required
    if cats == {"str"}:
        return "string", None, required
    if cats == {"date"}:
        return "date", None, required
    return "mixed", None, required


def infer_property_types(
    features: FeatureTable, *, packed_booleans: bool = False
) -> dict[str, PropertySpec]:
    """Metadata types of all columns of ``features``, keyed by column name, in column order.

    See the module docstring for the type rules; the result can be merged across tables with
    :func:`merge_property_types` (e.g. into one schema for all tiles of a tileset).
    ``packed_booleans`` writes boolean columns without nulls as bit-packed ``BOOLEAN``
    (unreadable for loaders.gl 4.5) instead of ``UINT8``.
    """
    names = _identifiers(list(features.columns))
    return {
        source: _make_spec(
            names[source], source, *_infer_column(values), packed_booleans=packed_booleans
        )
        for source, values in features.columns.items()
    }


def _merge_kind(a: PropertySpec, b: PropertySpec) -> tuple[PropertyKind, ComponentType | None]:
    if a.kind == "empty":
        return b.kind, b.component_type
    if b.kind == "empty" or (a.kind == b.kind and a.kind != "integer"):
        return a.kind, a.component_type
    if a.kind == b.kind == "integer":
        return "integer", "INT64" if "INT64" in (a.component_type, b.component_type) else "INT32"
    if {a.kind, b.kind} == {"integer", "number"}:
        integer = a if a.kind == "integer" else b
        return ("number", None) if integer.component_type == "INT32" else ("mixed", None)
    return "mixed", None


def merge_property_types(
    a: Mapping[str, PropertySpec], b: Mapping[str, PropertySpec]
) -> dict[str, PropertySpec]:
    """The narrowest specs that can hold the values of both ``a`` and ``b`` (by column name).

    A column missing from one side becomes nullable; ``INT32`` + ``INT64`` -> ``INT64``;
    ``INT32`` + ``FLOAT64`` -> ``FLOAT64``; other mixtures -> ``STRING``.
    """
    sources = [*a, *(s for s in b if s not in a)]
    names = _identifiers(sources)
    merged: dict[str, PropertySpec] = {}
    for source in sources:
        sa, sb = a.get(source), b.get(source)
        if sa is None or sb is None:
            one = sb if sa is None else sa
            if one is None:  # pragma: no cover - every source comes from a or b
                continue
            merged[source] = _make_spec(names[source], source, one.kind, one.component_type, False)
            continue
        kind, component = _merge_kind(sa, sb)
        packed = "BOOLEAN" in (sa.type, sb.type)
        merged[source] = _make_spec(
            names[source],
            source,
            kind,
            component,
            sa.required and sb.required,
            packed_booleans=packed,
        )
    return merged


# --------------------------------------------------------------------------- encoding


def _to_text(value: AttributeValue) -> str:
    """Text of a value in a STRING column: booleans as JSON, floats by ``repr``, dates ISO 8601."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


_ALLOWED: dict[tuple[PropertyType, ComponentType | None], set[_Category]] = {
    ("BOOLEAN", None): {"bool"},
    ("SCALAR", "UINT8"): {"bool"},
    ("SCALAR", "INT32"): {"int"},
    ("SCALAR", "INT64"): {"int"},
    ("SCALAR", "FLOAT64"): {"int", "float"},
}


def _check_values(spec: PropertySpec, values: Sequence[AttributeValue]) -> set[_Category]:
    """The value categories of a column, after checking that they fit ``spec``."""
    cats = _categories(values)
    if "none" in cats and spec.required:
        row = next(i for i, v in enumerate(values) if v is None)
        raise ValueError(f"column {spec.source!r} is declared required but row {row} has no value")
    allowed = _ALLOWED.get((spec.type, spec.component_type))
    if allowed is not None and not cats - {"none"} <= allowed:
        bad = next(v for v in values if v is not None and _category(type(v)) not in allowed)
        raise ValueError(
            f"column {spec.source!r} is declared {spec.type} {spec.component_type or ''} "
            f"but holds {bad!r} ({type(bad).__name__})".replace("  ", " ")
        )
    return cats


def _scalar_array(spec: PropertySpec, values: Sequence[AttributeValue]) -> np.ndarray[Any, Any]:
    component = spec.component_type
    no_data = spec.no_data
    if component == "UINT8":  # nullable boolean
        return np.array([255 if v is None else 1 if v else 0 for v in values], dtype="<u1")
    filled = [no_data if v is None else v for v in values]
    if component == "FLOAT64":
        array = np.array(filled, dtype="<f8")
        if not spec.required and np.any(
            array[np.array([v is not None for v in values])] == no_data
        ):
            log.warning(
                "column %r: a value equals the noData sentinel %r and reads back as no value",
                spec.source,
                no_data,
            )
        return array
    try:
        wide = np.array(filled, dtype=np.int64)
    except OverflowError as err:
        raise ValueError(f"column {spec.source!r}: integer out of the INT64 range") from err
    limit = _INT32_LIMIT if component == "INT32" else _INT64_LIMIT
    present = np.array([v is not None for v in values], dtype=bool)
    if present.any() and (wide[present].min() <= -limit or wide[present].max() >= limit):
        raise ValueError(
            f"column {spec.source!r}: value out of the {component} range (±{limit - 1})"
        )
    return wide.astype("<i4" if component == "INT32" else "<i8")


def encode_property_table(
    features: FeatureTable,
    specs: Mapping[str, PropertySpec],
    builder: BufferBuilder,
    *,
    class_name: str,
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Write the columns of ``features`` into ``builder`` as one property table.

    Parameters
    ----------
    features
        The rows (``row_count`` becomes the table's ``count``).
    specs
        A spec for every column of ``features``, keyed by column name; columns the table lacks
        are written as all "no value" (their spec must not be required).
    builder
        Receives one buffer view per values / offsets array (8-byte aligned).
    class_name
        The schema class id the table belongs to.

    Returns
    -------
    tuple or None
        ``(class_object, property_table_object)`` for EXT_structural_metadata, or None when
        there is nothing to write (no rows or no columns).

    Raises
    ------
    ValueError
        When a column has no spec, or values do not fit their spec.
    """
    count = features.row_count
    missing = [name for name in features.columns if name not in specs]
    if missing:
        raise ValueError(f"no property spec for the column(s) {missing}")
    if count == 0 or not specs:
        return None
    class_properties: dict[str, Any] = {}
    table_properties: dict[str, Any] = {}
    for spec in specs.values():
        values = features.columns.get(spec.source)
        if values is None:
            values = [None] * count
        elif len(values) != count:
            raise ValueError(f"column {spec.source!r} has {len(values)} values for {count} rows")
        categories = _check_values(spec, values)
        schema = spec.schema()
        if spec.type == "STRING":
            entry = _encode_strings(spec, values, categories <= {"str", "none"}, builder)
            if entry is None:
                # Every value is "": a bufferView cannot be empty, so the property is left out
                # of the table and its schema default supplies "" (EXT_structural_metadata
                # allows omitting non-required properties).
                schema.pop("required", None)
                schema["default"] = ""
            else:
                table_properties[spec.name] = entry
        elif spec.type == "BOOLEAN":
            bits = np.packbits(np.array([bool(v) for v in values], dtype=bool), bitorder="little")
            table_properties[spec.name] = {"values": builder.add_view(bits)}
        else:
            table_properties[spec.name] = {"values": builder.add_view(_scalar_array(spec, values))}
        class_properties[spec.name] = schema
    table: dict[str, Any] = {"class": class_name, "count": count}
    if table_properties:  # "properties" needs >= 1 entry when present
        table["properties"] = table_properties
    return {"properties": class_properties}, table


def _encode_strings(
    spec: PropertySpec, values: Sequence[AttributeValue], all_str: bool, builder: BufferBuilder
) -> dict[str, Any] | None:
    convert = str if all_str else _to_text
    texts = [STRING_NO_DATA if v is None else convert(v) for v in values]
    if not spec.required and texts.count(STRING_NO_DATA) != list(values).count(None):
        log.warning(
            "column %r: a value equals the noData sentinel %r and reads back as no value",
            spec.source,
            STRING_NO_DATA,
        )
    joined = "".join(texts)
    if joined.isascii():  # one byte per character: no per-string encoding needed
        data = joined.encode("ascii")
        sizes = map(len, texts)
    else:
        encoded = [t.encode("utf-8") for t in texts]
        data = b"".join(encoded)
        sizes = map(len, encoded)
    lengths = np.fromiter(sizes, dtype=np.uint64, count=len(texts))
    offsets = np.zeros(len(texts) + 1, dtype=np.uint64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    if total == 0:
        return None
    entry: dict[str, Any] = {"values": builder.add_view(data)}
    if total <= 0xFFFFFFFF:
        entry["stringOffsets"] = builder.add_view(offsets.astype("<u4"))
    else:
        entry["stringOffsets"] = builder.add_view(offsets.astype("<u8"))
        entry["stringOffsetType"] = "UINT64"
    return entry
