"""CityJSON CityObjects -> :class:`~citymodel.model.Feature` trees.

Hierarchy
---------
An object is nested below its first resolvable parent (``parents``), or below an object listing
it in ``children``; objects without a parent are top-level features. ``CityObjectGroup``
membership does not nest: a group is a feature of its own and its members stay where they are
(a Bridge in a group is still a top-level Bridge). Unresolved ``parents``/``children`` ids and
parent/child cycles are reported (``JobReport.skip``); the object itself is kept (an object
whose only parents are unresolved becomes top-level).

Attributes
----------
Scalars are kept as they are (strings, numbers, booleans, null); integers beyond the signed
64-bit range become strings. Nested objects are flattened with dotted names
(``{"a": {"b": 1}}`` -> ``a.b``), lists become their JSON text. CityJSON ``address`` (a list of
address objects in 2.0, an object in 1.x) fills the same ``address_street``/``address_number``/
``address_postcode``/``address_city``/``address_country`` names as the CityGML reader (several
addresses joined with ``"; "``), other address members go to ``address.<name>``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np

from citymodel._typing import AttributeValue, Float64Array
from citymodel.converters._citygml_attributes import ADDRESS_FIELDS
from citymodel.converters._citygml_implicit import concat_geometries
from citymodel.converters._cityjson_appearance import DocumentLook
from citymodel.converters._cityjson_geometry import (
    NON_SURFACE_TYPES,
    GeometryProblem,
    Part,
    decode_geometry,
    instance_placement,
    lod_text,
    merge_parts,
)
from citymodel.model import Feature, SourceRef, SurfaceGeometry, SurfaceType
from citymodel.model.semantics import default_surface_type

__all__ = ["ObjectContext", "Templates", "build_features", "flatten_attributes", "object_lods"]

log = logging.getLogger(__name__)

GROUP_TYPE: Final = "CityObjectGroup"
_I64: Final = 2**63

Skip = Callable[[str, str | None], None]
"""``skip(reason, object id)``: report something not converted."""


# ---------------------------------------------------------------------------------------------
# attributes


def _scalar(value: Any) -> AttributeValue:
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return value if -_I64 <= value < _I64 else str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _flatten_into(out: dict[str, AttributeValue], prefix: str, value: Any) -> None:
    if isinstance(value, dict):
        if not value:
            out[prefix] = "{}"
        for key, member in value.items():
            _flatten_into(out, f"{prefix}.{key}", member)
    else:
        out[prefix] = _scalar(value)


def _addresses(value: Any, out: dict[str, AttributeValue]) -> None:
    items = value if isinstance(value, list) else [value]
    fields: dict[str, list[str]] = {name: [] for name in ADDRESS_FIELDS.values()}
    rest: dict[str, AttributeValue] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        for xal, name in ADDRESS_FIELDS.items():
            member = item.get(xal)
            fields[name].append("" if member is None else str(member))
        for key, member in item.items():
            if key not in ADDRESS_FIELDS:
                _flatten_into(rest, f"address.{key}", member)
    for name, entries in fields.items():
        if any(entries):
            out[name] = "; ".join(entries)
    for key, member in rest.items():
        out.setdefault(key, member)


def flatten_attributes(obj: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """The attributes of a CityObject as flat scalars (see the module docstring)."""
    out: dict[str, AttributeValue] = {}
    attributes = obj.get("attributes")
    if isinstance(attributes, dict):
        for key, value in attributes.items():
            _flatten_into(out, str(key), value)
    address = obj.get("address")
    if address is not None:
        _addresses(address, out)
    return out


# ---------------------------------------------------------------------------------------------
# geometry of one object


@dataclass(slots=True)
class Templates:
    """``geometry-templates``: decoded lazily, one :class:`Part` per template (or a problem).

    ``look`` is the appearance the templates' ``texture``/``material`` values index: the
    document's, or a CityJSONSeq header's. A sequence whose header has no appearance tables
    has them per feature: the templates' values then index the tables of the feature placing
    them. Placed templates keep their textures and materials.
    """

    raw: list[Any] = field(default_factory=list)
    vertices: Float64Array | None = None
    look: DocumentLook | None = None
    decoded: dict[int, Part | GeometryProblem] = field(default_factory=dict)
    reported: set[int] = field(default_factory=set)
    """Templates whose appearance problem has been reported (once per template)."""
    _feature_look: DocumentLook | None = None
    _feature_decoded: dict[int, Part | GeometryProblem] = field(default_factory=dict)

    def part(self, index: int, feature_look: DocumentLook | None = None) -> Part:
        """Template ``index`` decoded (local coordinates), textured from its tables.

        ``feature_look``: the placing feature's tables, used when :attr:`look` is None.
        """
        cache = self.decoded
        look = self.look
        if look is None and feature_look is not None and self._looks_up(index):
            if feature_look is not self._feature_look:
                self._feature_look, self._feature_decoded = feature_look, {}
            cache, look = self._feature_decoded, feature_look
        found = cache.get(index)
        if found is None:
            try:
                geom = self.raw[index]
                if not isinstance(geom, dict):
                    raise GeometryProblem(f"template {index} is not a geometry object")
                if self.vertices is None:
                    raise GeometryProblem('"vertices-templates" missing or invalid')
                found = decode_geometry(geom, self.vertices, look)
                if look is None and self._looks_up(index):
                    found = replace(
                        found, look_problem="no appearance tables for its texture/material"
                    )
            except GeometryProblem as problem:
                found = problem
            cache[index] = found
        if isinstance(found, GeometryProblem):
            raise GeometryProblem(f"template {index}: {found}")
        return found

    def tables(self, feature_look: DocumentLook | None) -> DocumentLook | None:
        """The tables the placed templates' texture/material indices refer to."""
        return self.look if self.look is not None else feature_look

    def _looks_up(self, index: int) -> bool:
        """Whether template ``index`` has a ``texture`` or ``material``."""
        geom = self.raw[index] if 0 <= index < len(self.raw) else None
        return isinstance(geom, dict) and ("texture" in geom or "material" in geom)

    def look_problem(self, index: int, part: Part) -> str | None:
        """The appearance problem of template ``index`` the first time it is met, else None."""
        if part.look_problem is None or index in self.reported:
            return None
        self.reported.add(index)
        return part.look_problem


@dataclass(slots=True)
class ObjectContext:
    """What converting the objects of one document (or one CityJSONSeq line) needs."""

    vertices: Float64Array
    templates: Templates
    source: SourceRef | None
    skip: Skip
    look: DocumentLook | None = None
    """The document's appearance tables (None: no appearance, or not read)."""


def _geometries(
    oid: str, obj: Mapping[str, Any], ctx: ObjectContext
) -> tuple[SurfaceGeometry, ...]:
    raw = obj.get("geometry")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        ctx.skip('"geometry" is not a list; geometry skipped', oid)
        return ()
    by_lod: dict[str, list[Part]] = {}
    # placed templates whose indices refer to other tables than the object's own
    foreign: dict[str, list[tuple[Part, DocumentLook | None]]] = {}
    for n, geom in enumerate(raw):
        try:
            if not isinstance(geom, dict):
                raise GeometryProblem("not a geometry object")
            gtype = geom.get("type")
            if gtype in NON_SURFACE_TYPES:
                ctx.skip(
                    f"geometry {n} ({gtype}, LoD {geom.get('lod')}) has no surfaces; "
                    "skipped for meshing",
                    oid,
                )
                continue
            if gtype == "GeometryInstance":
                index, matrix, reference = instance_placement(
                    geom, ctx.vertices, len(ctx.templates.raw)
                )
                template = ctx.templates.raw[index]
                if isinstance(template, dict) and template.get("type") in NON_SURFACE_TYPES:
                    ctx.skip(
                        f"geometry {n} (GeometryInstance of a {template.get('type')} template) "
                        "has no surfaces; skipped for meshing",
                        oid,
                    )
                    continue
                template_part = ctx.templates.part(index, ctx.look)
                part = template_part.placed(matrix, reference)
                left_out = ctx.templates.look_problem(index, template_part)
                if left_out is not None:  # reported once per template, not per placement
                    ctx.skip(
                        f"geometry template {index}: appearance left out ({left_out}); its "
                        "placements are written untextured",
                        oid,
                    )
                part = replace(part, look_problem=None)
                tables = ctx.templates.tables(ctx.look)
                if part.look is not None and not _same_tables(tables, ctx.look):
                    # indices into the header's tables while the feature has its own
                    foreign.setdefault(part.lod, []).append((part, tables))
                    continue
            else:
                part = decode_geometry(geom, ctx.vertices, ctx.look)
        except GeometryProblem as problem:
            ctx.skip(f"geometry {n} skipped: {problem}", oid)
            continue
        if part.look_problem is not None:
            ctx.skip(
                f"geometry {n}: appearance left out ({part.look_problem}); geometry written "
                "untextured",
                oid,
            )
        by_lod.setdefault(part.lod, []).append(part)
    if not foreign:
        return tuple(merge_parts(by_lod[lod], ctx.look) for lod in sorted(by_lod, key=_lod_key))
    out: list[SurfaceGeometry] = []
    for lod in sorted(by_lod.keys() | foreign.keys(), key=_lod_key):
        merged = [merge_parts(by_lod[lod], ctx.look)] if lod in by_lod else []
        merged += [merge_parts([p], tables) for p, tables in foreign.get(lod, [])]
        out.append(concat_geometries(merged, lod=lod))
    return tuple(out)


def _same_tables(a: DocumentLook | None, b: DocumentLook | None) -> bool:
    """Whether two appearances share their texture and material tables."""
    if a is None or b is None:
        return a is b
    return a.textures is b.textures and a.materials is b.materials


def _lod_key(lod: str) -> float:
    return float(lod)


def object_lods(obj: Mapping[str, Any], templates: list[Any]) -> set[str]:
    """The LoDs of an object's surface geometries (templates' LoDs for instances)."""
    found: set[str] = set()
    raw = obj.get("geometry")
    for geom in raw if isinstance(raw, list) else ():
        if not isinstance(geom, dict) or geom.get("type") in NON_SURFACE_TYPES:
            continue
        if geom.get("type") == "GeometryInstance":
            index = geom.get("template")
            if isinstance(index, int) and 0 <= index < len(templates):
                template = templates[index]
                geom = template if isinstance(template, dict) else {}
        lod = lod_text(geom.get("lod"))
        if lod is not None:
            found.add(lod)
    return found


# ---------------------------------------------------------------------------------------------
# hierarchy


def _id_list(obj: Mapping[str, Any], key: str) -> list[str]:
    value = obj.get(key)
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str)]


def hierarchy(objects: Mapping[str, Any], skip: Skip) -> tuple[list[str], dict[str, list[str]]]:
    """Top-level ids (document order) and children per id, with problems reported.

    Objects that are not JSON objects or lack a string ``type`` are reported and left out.
    """
    valid: dict[str, Mapping[str, Any]] = {}
    for oid, obj in objects.items():
        if not isinstance(obj, dict):
            skip("CityObject is not a JSON object", oid)
        elif not isinstance(obj.get("type"), str):
            skip('CityObject without "type"; not converted', oid)
        else:
            valid[oid] = obj
    parent_of: dict[str, str] = {}
    for oid, obj in valid.items():
        for pid in _id_list(obj, "parents"):
            parent = valid.get(pid)
            if parent is None:
                skip(f"parent {pid!r} not found in CityObjects; reference ignored", oid)
            elif parent["type"] != GROUP_TYPE and oid not in parent_of:
                parent_of[oid] = pid
    for pid, obj in valid.items():
        if obj["type"] == GROUP_TYPE:
            for cid in _id_list(obj, "children"):
                if cid not in valid:
                    skip(f"group member {cid!r} not found in CityObjects; reference ignored", pid)
            continue
        for cid in _id_list(obj, "children"):
            if cid not in valid:
                skip(f"child {cid!r} not found in CityObjects; reference ignored", pid)
            elif cid not in parent_of and cid != pid:
                parent_of[cid] = pid
    children: dict[str, list[str]] = {}
    for oid in valid:
        parent_id = parent_of.get(oid)
        if parent_id is not None:
            children.setdefault(parent_id, []).append(oid)
    tops = [oid for oid in valid if oid not in parent_of]
    reached: set[str] = set()
    stack = list(tops)
    while stack:
        oid = stack.pop()
        if oid not in reached:
            reached.add(oid)
            stack.extend(children.get(oid, ()))
    for oid in valid:
        if oid not in reached:
            skip("parent/child cycle: object is its own ancestor; not converted", oid)
    return tops, children


def _feature(
    oid: str,
    objects: Mapping[str, Any],
    children: Mapping[str, list[str]],
    ctx: ObjectContext,
    seen: set[str],
) -> Feature:
    seen.add(oid)
    obj = objects[oid]
    kids = tuple(
        _feature(cid, objects, children, ctx, seen)
        for cid in children.get(oid, ())
        if cid not in seen
    )
    return Feature(
        id=oid,
        type=obj["type"],
        attributes=flatten_attributes(obj),
        geometries=_with_default_surface(_geometries(oid, obj, ctx), obj["type"]),
        children=kids,
        source=ctx.source,
    )


def _with_default_surface(
    geometries: tuple[SurfaceGeometry, ...], object_type: str
) -> tuple[SurfaceGeometry, ...]:
    """Polygons without semantics take their object class's type (a TIN's are TERRAIN).

    The same rule as the CityGML reader's (:func:`~citymodel.model.semantics.default_surface_type`),
    so both formats give the same surface types.
    """
    code = int(default_surface_type(object_type))
    if not code or not geometries:
        return geometries
    out = []
    for geom in geometries:
        untyped = geom.surface_types == SurfaceType.UNKNOWN
        if untyped.any():
            types = np.where(untyped, code, geom.surface_types).astype(np.uint8)
            geom = replace(geom, surface_types=types)
        out.append(geom)
    return tuple(out)


def build_features(
    objects: Mapping[str, Any],
    ctx: ObjectContext,
    *,
    types: Iterable[str] | None = None,
    tops: list[str] | None = None,
    children: dict[str, list[str]] | None = None,
) -> Iterator[Feature]:
    """Yield the top-level features of ``objects`` one by one, children nested.

    ``types`` selects top-level types (None: all); ``tops``/``children`` may be given when the
    hierarchy was already computed with :func:`hierarchy`.
    """
    if tops is None or children is None:
        tops, children = hierarchy(objects, ctx.skip)
    wanted = None if types is None else frozenset(types)
    for oid in tops:
        if wanted is None or objects[oid]["type"] in wanted:
            yield _feature(oid, objects, children, ctx, set())
