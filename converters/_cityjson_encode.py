"""Feature trees -> CityJSON CityObjects with integer vertices (the inverse of the reader).

One top-level :class:`~citymodel.model.Feature` becomes the CityObjects of itself and its
descendants (``parents``/``children`` links) plus the integer vertices they use, quantised with
the writer's ``transform`` (``vertex = round((x - translate) / scale)``) and shared within the
object tree (identical integer vertices are stored once).

* Geometry: ``Solid`` (one exterior shell) when :attr:`SurfaceGeometry.solid`, else
  ``MultiSurface``; polygons with holes as rings of vertex indices; the LoD as written in the
  model (``"2"``, ``"2.2"``).
* Semantics: one semantic object per surface class present, ``values`` per polygon, ``null``
  for :attr:`SurfaceType.UNKNOWN`; no ``semantics`` member when no polygon has a class.
* Attributes: JSON values of the model's scalars (dates as ISO 8601 text); the reader's
  ``address_*`` fields become the ``address`` member of the types that have one.
* Types: CityJSON types and ``+Extension`` types as they are; CityGML names with a CityJSON
  counterpart (``Room`` -> ``BuildingRoom`` ...) renamed; an object of a type CityJSON cannot
  hold is reported (``report.skip``) and left out with its descendants.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from citymodel._typing import AttributeValue, Float64Array, IndexArray
from citymodel.converters._citygml_attributes import ADDRESS_FIELDS
from citymodel.converters._cityjson_write_appearance import AppearanceTables, concat_appearance
from citymodel.converters._interchange_names import semantic_names
from citymodel.converters.cityjson import CITYJSON_TYPES
from citymodel.model import Feature, SurfaceGeometry, SurfaceType, surface_type_from_name

__all__ = [
    "CITYGML_TO_CITYJSON_TYPES",
    "EncodedFeature",
    "FeatureEncoder",
    "Quantizer",
    "choose_scale",
]

Int64Array = npt.NDArray[np.int64]

CITYGML_TO_CITYJSON_TYPES: Final[Mapping[str, str]] = {
    "Room": "BuildingRoom",
    "IntBuildingInstallation": "BuildingInstallation",
    "BuildingConstructionElement": "BuildingConstructiveElement",
    "Storey": "BuildingStorey",
    "BridgeConstructionElement": "BridgeConstructiveElement",
    "IntBridgeInstallation": "BridgeInstallation",
    "IntTunnelInstallation": "TunnelInstallation",
    "HollowSpace": "TunnelHollowSpace",
    "Square": "TransportSquare",
    "GenericOccupiedSpace": "GenericCityObject",
    "GenericUnoccupiedSpace": "GenericCityObject",
    "GenericLogicalSpace": "GenericCityObject",
}
"""CityGML 2.0/3.0 class names whose CityJSON type has another name."""

CONTAINER_TYPES: Final = frozenset({"ReliefFeature"})
"""Objects CityJSON has no type for whose components it has (written as top-level objects)."""
SURFACE_OBJECT_TYPES: Final = frozenset({"TrafficArea", "AuxiliaryTrafficArea"})
"""CityGML objects that CityJSON holds as semantic surfaces of their parent."""

_ADDRESS_TYPES: Final = frozenset(
    {"Building", "BuildingPart", "BuildingUnit", "Bridge", "BridgePart", "BridgeRoom"}
)
_ADDRESS_BY_ATTRIBUTE: Final = {name: xal for xal, name in ADDRESS_FIELDS.items()}
_JOIN: Final = "; "
_TYPE_SURFACE_NAMES: Final[Mapping[str, Mapping[int, str]]] = {
    "WaterBody": {int(SurfaceType.CLOSURE): "WaterClosureSurface"},
}
"""Surface classes named by the object type: CityGML 3.0 has one ``ClosureSurface`` for all
objects, CityJSON a ``WaterClosureSurface`` for water bodies."""
_MAX_DECIMALS: Final = 9
_FIT_ULPS: Final = 64
"""A decimal step fits when every coordinate is a multiple of it up to float64 rounding
(64 ulps of the largest coordinate: parsing and the product are exact to a few ulps)."""

Skip = Callable[[str, Feature], None]


def choose_scale(vertices: Float64Array, *, coarsest: float = 1e-3) -> tuple[float, bool]:
    """The coarsest decimal step (<= ``coarsest``, metres) that keeps the coordinates exactly.

    Coordinates parsed from decimal text with ``k`` decimals are multiples of ``10**-k`` up to
    float64 rounding; the first step from ``coarsest`` (1 mm) downwards that every coordinate
    fits (within 64 ulps) is returned, never finer than 1000 ulps of the largest coordinate. Returns
    ``(step, exact)``; ``exact`` is False when no step fits (the finest one is returned then).
    """
    if not len(vertices):
        return coarsest, True
    biggest = float(np.abs(vertices).max())
    ulp = float(np.spacing(max(biggest, 1.0)))
    start = max(0, round(-math.log10(coarsest)))
    step = coarsest
    for decimals in range(start, _MAX_DECIMALS + 1):
        candidate = 10.0**-decimals
        if candidate < 1000.0 * ulp:
            break
        step = candidate
        residual = np.abs(vertices - np.rint(vertices / candidate) * candidate)
        if float(residual.max()) <= _FIT_ULPS * ulp:
            return candidate, True
    return step, False


@dataclass(frozen=True, slots=True)
class Quantizer:
    """CityJSON ``transform``: integer = round((coordinate - translate) / scale)."""

    scale: float
    translate: tuple[float, float, float]

    @classmethod
    def for_sample(cls, vertices: Float64Array, *, scale: float | None = None) -> Quantizer:
        """A transform for coordinates like ``vertices`` (source CRS, metres).

        ``translate`` is the sample's minimum rounded down to whole units, a multiple of any
        decimal scale; ``scale`` is :func:`choose_scale` of the sample unless given.
        """
        step = scale if scale is not None else choose_scale(vertices)[0]
        if not len(vertices):
            return cls(step, (0.0, 0.0, 0.0))
        low = np.floor(vertices.min(axis=0)).tolist()
        return cls(step, (low[0], low[1], low[2]))

    def to_json(self) -> dict[str, list[float]]:
        """The ``transform`` member."""
        return {"scale": [self.scale] * 3, "translate": list(self.translate)}

    def quantize(self, vertices: Float64Array) -> tuple[Int64Array, float]:
        """Integer vertices and the largest rounding error (metres)."""
        shifted = (vertices - np.asarray(self.translate)) / self.scale
        ints = np.rint(shifted)
        error = float(np.abs(ints - shifted).max()) * self.scale if len(ints) else 0.0
        return ints.astype(np.int64), error


@dataclass(slots=True)
class EncodedFeature:
    """The CityObjects of one top-level feature and its integer vertices (local indices)."""

    objects: dict[str, dict[str, Any]]
    vertices: Int64Array
    rounding: float
    """Largest quantisation error of the tree's vertices (metres)."""
    uv: Float64Array = field(default_factory=lambda: np.zeros((0, 2)))
    """``(K, 2)`` texture vertices added by this tree (``vertices-texture`` rows)."""
    appearance: dict[str, Any] | None = None
    """The tree's own ``appearance`` member (CityJSONSeq lines), None for documents."""


def _json_value(value: AttributeValue, on_bad: Callable[[str], None], name: str) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        on_bad(f"attribute {name!r} = {value!r} is not a JSON number; written as null")
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _addresses(attributes: Mapping[str, AttributeValue]) -> list[dict[str, str]] | None:
    """``address_*`` attributes -> address objects (joined entries split back when aligned)."""
    fields = {
        name: str(value)
        for name, value in attributes.items()
        if name in _ADDRESS_BY_ATTRIBUTE and value is not None
    }
    if not fields:
        return None
    split = {name: text.split(_JOIN) for name, text in fields.items()}
    counts = {len(parts) for parts in split.values()}
    if len(counts) != 1:
        split = {name: [text] for name, text in fields.items()}
    count = len(next(iter(split.values())))
    out: list[dict[str, str]] = []
    for i in range(count):
        entry = {_ADDRESS_BY_ATTRIBUTE[name]: parts[i] for name, parts in split.items() if parts[i]}
        out.append(entry)
    return out


def _unique_rows(ints: Int64Array) -> tuple[Int64Array, Int64Array]:
    """Distinct rows of ``(N, 3)`` integers and the row index of every input row.

    A lexicographic sort and a run mark (cheaper than ``np.unique(axis=0)`` on small arrays).
    """
    order = np.lexsort((ints[:, 2], ints[:, 1], ints[:, 0]))
    ordered = ints[order]
    starts = np.ones(len(ordered), dtype=np.bool_)
    starts[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    inverse = np.empty(len(ints), dtype=np.int64)
    inverse[order] = np.cumsum(starts) - 1
    return ordered[starts], inverse


def _concatenated(parts: list[SurfaceGeometry]) -> SurfaceGeometry:
    """One geometry of the polygons of ``parts`` (all of one LoD; a solid only when alone)."""
    if len(parts) == 1:
        return parts[0]
    vertex_starts = np.cumsum([0] + [g.vertex_count for g in parts[:-1]])
    ring_starts = np.cumsum([0] + [len(g.ring_offsets) - 1 for g in parts[:-1]])
    ring_offsets = np.concatenate(
        [g.ring_offsets[:-1] + v for g, v in zip(parts, vertex_starts, strict=True)]
        + [np.array([sum(g.vertex_count for g in parts)], dtype=np.int64)]
    )
    polygon_offsets = np.concatenate(
        [g.polygon_offsets[:-1] + r for g, r in zip(parts, ring_starts, strict=True)]
        + [np.array([int(ring_starts[-1]) + len(parts[-1].ring_offsets) - 1], dtype=np.int64)]
    )
    appearance, themes = concat_appearance(parts)
    return SurfaceGeometry(
        lod=parts[0].lod,
        vertices=np.concatenate([g.vertices for g in parts]),
        ring_offsets=ring_offsets.astype(np.int64),
        polygon_offsets=polygon_offsets.astype(np.int64),
        surface_types=np.concatenate([g.surface_types for g in parts]).astype(np.uint8),
        appearance=appearance,
        themes=themes,
    )


def _nested(flat: list[int], offsets: list[int]) -> list[list[int]]:
    return [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


def _semantics(
    geometry: SurfaceGeometry, kind: str | None = None
) -> tuple[list[dict[str, str]], list[int | None]] | None:
    names = {**semantic_names(), **_TYPE_SURFACE_NAMES.get(kind or "", {})}
    codes = geometry.surface_types.tolist()
    surfaces: list[dict[str, str]] = []
    index_of: dict[int, int] = {}
    values: list[int | None] = []
    for code in codes:
        name = names.get(code)
        if name is None:
            values.append(None)
            continue
        index = index_of.get(code)
        if index is None:
            index = index_of[code] = len(surfaces)
            surfaces.append({"type": name})
        values.append(index)
    return (surfaces, values) if surfaces else None


def _open_rings(
    indices: Int64Array, ring_offsets: IndexArray
) -> tuple[Int64Array, IndexArray, int, npt.NDArray[np.bool_] | None]:
    """Drop a last vertex that repeats the ring's first one (CityJSON rings are open).

    Returns the indices, the ring offsets, the number of rings changed and the mask of the
    vertices kept (None: all).
    """
    sizes = np.diff(ring_offsets)
    starts = ring_offsets[:-1]
    ends = ring_offsets[1:] - 1
    repeat = (sizes > 3) & (
        indices[np.minimum(starts, len(indices) - 1)] == indices[np.maximum(ends, 0)]
    )
    count = int(repeat.sum())
    if not count:
        return indices, ring_offsets, 0, None
    keep = np.ones(len(indices), dtype=np.bool_)
    keep[ends[repeat]] = False
    offsets = np.zeros_like(ring_offsets)
    np.cumsum(sizes - repeat, out=offsets[1:])
    return indices[keep], offsets, count, keep


def geometry_json(
    geometry: SurfaceGeometry,
    indices: Int64Array,
    kind: str | None = None,
    appearance: AppearanceTables | None = None,
) -> tuple[dict[str, Any], int]:
    """One CityJSON geometry object and the number of rings whose closing repeat was dropped.

    ``indices`` are the vertex indices of the geometry's ring vertices; ``kind`` is the
    CityJSON type of the object (surface class names that depend on it); ``appearance``
    receives the geometry's materials, textures and texture coordinates (None: not written).
    """
    indices, ring_offsets, reopened, keep = _open_rings(indices, geometry.ring_offsets)
    rings = _nested(indices.tolist(), ring_offsets.tolist())
    surfaces = _nested(rings, geometry.polygon_offsets.tolist())  # type: ignore[arg-type]
    out: dict[str, Any] = {
        "type": "Solid" if geometry.solid else "MultiSurface",
        "lod": geometry.lod,
        "boundaries": [surfaces] if geometry.solid else surfaces,
    }
    semantics = _semantics(geometry, kind)
    if semantics is not None:
        kinds, values = semantics
        out["semantics"] = {"surfaces": kinds, "values": [values] if geometry.solid else values}
    if appearance is not None:
        out.update(appearance.geometry_members(geometry, keep, ring_offsets))
    return out, reopened


@dataclass(slots=True)
class FeatureEncoder:
    """Encodes feature trees with one :class:`Quantizer`; reports what CityJSON cannot hold."""

    quantizer: Quantizer
    skip: Skip
    warn: Callable[[str], None]
    renamed: dict[str, str] = field(default_factory=dict)
    merged: Counter[str] = field(default_factory=Counter)
    """Surface objects (TrafficArea ...) written as semantic surfaces of their parent."""
    unwrapped: Counter[str] = field(default_factory=Counter)
    """Containers (ReliefFeature) whose components were written as top-level objects."""
    reopened_rings: int = 0
    """Rings whose last vertex repeated the first (within the transform's precision)."""
    appearance: AppearanceTables | None = None
    """Shared appearance tables (a document); None: no appearance written."""
    per_feature_appearance: bool = False
    """Every tree gets its own tables (CityJSONSeq lines); needs :attr:`appearance` for the
    output path and collects its notes."""

    def cityjson_type(self, feature_type: str) -> str | None:
        """The CityJSON type of a model type, None when CityJSON has none."""
        if feature_type in CITYJSON_TYPES or feature_type.startswith("+"):
            return feature_type
        mapped = CITYGML_TO_CITYJSON_TYPES.get(feature_type)
        if mapped is not None:
            self.renamed[feature_type] = mapped
        return mapped

    def prepare(self, top: Feature) -> list[Feature]:
        """The top-level objects ``top`` becomes in CityJSON.

        A ``ReliefFeature`` (no CityJSON type) gives its components (``TINRelief``) as
        top-level objects; ``TrafficArea``/``AuxiliaryTrafficArea`` objects (CityJSON has them
        only as semantic surfaces) become polygons of their parent's geometry of the same LoD.
        Both are counted in :attr:`unwrapped` / :attr:`merged` for the report.
        """
        if top.type in CONTAINER_TYPES and top.children:
            self.unwrapped[top.type] += 1
            if top.geometries:
                self.skip(
                    f"{top.type} geometry has no place in CityJSON (its components are written "
                    "as top-level objects); not written",
                    top,
                )
            return [self._merge_surface_objects(c) for c in top.children]
        return [self._merge_surface_objects(top)]

    def _merge_surface_objects(self, feature: Feature) -> Feature:
        merged = [c for c in feature.children if c.type in SURFACE_OBJECT_TYPES]
        if not merged:
            if not feature.children:
                return feature
            return replace(
                feature, children=tuple(self._merge_surface_objects(c) for c in feature.children)
            )
        by_lod: dict[str, list[SurfaceGeometry]] = {}
        for g in feature.geometries:
            by_lod.setdefault(g.lod, []).append(g)
        for child in merged:
            self.merged[child.type] += 1
            code = int(surface_type_from_name(child.type))
            for g in child.geometries:
                types = np.where(g.surface_types == SurfaceType.UNKNOWN, code, g.surface_types)
                by_lod.setdefault(g.lod, []).append(
                    replace(g, surface_types=types.astype(np.uint8), solid=False)
                )
        geometries = tuple(
            _concatenated(parts) for _, parts in sorted(by_lod.items(), key=lambda kv: float(kv[0]))
        )
        rest = tuple(
            self._merge_surface_objects(c)
            for c in feature.children
            if c.type not in SURFACE_OBJECT_TYPES
        )
        return replace(feature, geometries=geometries, children=rest)

    def encode(self, top: Feature, *, offset: int = 0) -> EncodedFeature | None:
        """The CityObjects of ``top`` and its descendants, None when ``top`` is left out.

        Vertex indices in the boundaries start at ``offset`` (the vertices already written
        to a document); :attr:`EncodedFeature.vertices` holds only this tree's vertices.
        """
        kept: list[tuple[Feature, str, Feature | None]] = []
        dropped: set[int] = set()
        for feature, parent in top.walk():
            if parent is not None and id(parent) in dropped:
                dropped.add(id(feature))
                continue
            kind = self.cityjson_type(feature.type)
            if kind is None:
                dropped.add(id(feature))
                below = sum(1 for _ in feature.walk()) - 1
                self.skip(
                    f"{feature.type} has no CityJSON type; not written"
                    + (f" (with its {below} child object(s))" if below else ""),
                    feature,
                )
                continue
            kept.append((feature, kind, parent))
        if not kept:
            return None
        geometries = [g for feature, _, _ in kept for g in feature.geometries]
        if geometries:
            all_vertices = np.concatenate([g.vertices for g in geometries])
            ints, rounding = self.quantizer.quantize(all_vertices)
            unique, inverse = _unique_rows(ints)
            inverse += offset
        else:
            unique = np.zeros((0, 3), dtype=np.int64)
            inverse = np.zeros(0, dtype=np.int64)
            rounding = 0.0
        objects: dict[str, dict[str, Any]] = {}
        start = 0
        tables = self.appearance
        if tables is not None and self.per_feature_appearance:
            tables = AppearanceTables(  # the default themes count over the whole output
                tables.output,
                texture_themes=tables.texture_themes,
                material_themes=tables.material_themes,
                notes=tables.notes,
                images=tables.images,
            )
        for feature, kind, parent in kept:
            obj: dict[str, Any] = {"type": kind}
            attributes = self._attributes(feature, kind)
            if attributes:
                obj["attributes"] = attributes
            if kind in _ADDRESS_TYPES:
                address = _addresses(feature.attributes)
                if address is not None:
                    obj["address"] = address
            geoms = []
            for g in feature.geometries:
                end = start + g.vertex_count
                geom, reopened = geometry_json(g, inverse[start:end], kind, tables)
                if reopened:
                    self.reopened_rings += reopened
                geoms.append(geom)
                start = end
            if geoms:
                obj["geometry"] = geoms
            if parent is not None:
                obj["parents"] = [parent.id]
            children = [c.id for c in feature.children if id(c) not in dropped]
            if children:
                obj["children"] = children
            if feature.id in objects:
                self.skip(f"id {feature.id!r} repeats within one object tree; not written", feature)
                continue
            objects[feature.id] = obj
        encoded = EncodedFeature(objects=objects, vertices=unique, rounding=rounding)
        if tables is not None:
            encoded.uv = tables.take_uv()
            if self.per_feature_appearance:
                look = tables.tables_json()
                if look:
                    look["vertices-texture"] = encoded.uv.tolist()
                    encoded.appearance = look
        return encoded

    def _attributes(self, feature: Feature, kind: str) -> dict[str, Any]:
        address = kind in _ADDRESS_TYPES
        out: dict[str, Any] = {}
        for name, value in feature.attributes.items():
            if address and name in _ADDRESS_BY_ATTRIBUTE:
                continue
            out[name] = _json_value(value, lambda msg: self.warn(f"{feature.id}: {msg}"), name)
        return out
