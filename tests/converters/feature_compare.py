"""Compare feature trees read back after a round trip through an interchange format.

What must survive (issue 7): object ids, types, the parent/child tree, attributes (with
their types), per-polygon semantic surface types, polygon/ring structure and vertex
coordinates within a tolerance. The only allowed differences are the documented losses of the
target format, given as options: LoD refinements (``2.2`` -> ``2``) in CityGML, booleans
written as strings and nulls left out in CityGML, CityGML 3.0 type names for CityJSON types.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from citymodel._typing import AttributeValue
from citymodel.converters._cityjson_encode import CITYGML_TO_CITYJSON_TYPES
from citymodel.converters._interchange_names import semantic_names
from citymodel.model import Feature, SurfaceGeometry, SurfaceType

try:  # the object classes' default polygon types (CityGML modules)
    from citymodel.model.semantics import default_surface_type
except ImportError:  # pragma: no cover - older model

    def default_surface_type(object_type: str) -> SurfaceType:
        return SurfaceType.UNKNOWN


@dataclass(frozen=True)
class Losses:
    """Differences the target format forces (everything else must be equal)."""

    integer_lods: bool = False
    """CityGML: LoD ``2.2`` comes back as ``2``."""
    xml_scalars: bool = False
    """CityGML: booleans come back as ``"true"``/``"false"``, nulls and empty strings absent,
    ISO-date strings as dates."""
    type_names: Mapping[str, str] = field(default_factory=dict)


def _type(name: str) -> str:
    return CITYGML_TO_CITYJSON_TYPES.get(name, name)


def _expected_attributes(
    attributes: Mapping[str, AttributeValue], losses: Losses
) -> dict[str, AttributeValue]:
    out = dict(attributes)
    if losses.xml_scalars:
        out = {}
        for name, value in attributes.items():
            if value is None or value == "":
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            out[name] = value
    return out


def _normal(value: AttributeValue) -> AttributeValue:
    return value.isoformat() if isinstance(value, dt.date) else value


def _codes(feature_type: str, geometry: SurfaceGeometry) -> list[int]:
    """Per polygon: the named class, or the object type's default for unnamed/unknown ones."""
    names = semantic_names()
    default = int(default_surface_type(feature_type))
    return [c if c in names else default for c in geometry.surface_types.tolist()]


def compare_trees(
    expected: Iterable[Feature],
    actual: Iterable[Feature],
    *,
    tolerance: float = 1e-3,
    losses: Losses = Losses(),
    dates_as_text: bool = False,
) -> list[str]:
    """Every difference between two sequences of top-level features, as messages."""
    problems: list[str] = []
    exp, act = list(expected), list(actual)
    if [f.id for f in exp] != [f.id for f in act]:
        missing = sorted({f.id for f in exp} - {f.id for f in act})[:5]
        extra = sorted({f.id for f in act} - {f.id for f in exp})[:5]
        problems.append(f"top-level ids differ: missing {missing}, extra {extra}")
        by_id = {f.id: f for f in act}
        pairs = [(f, by_id[f.id]) for f in exp if f.id in by_id]
    else:
        pairs = list(zip(exp, act, strict=True))
    for top_e, top_a in pairs:
        _compare(top_e, top_a, problems, tolerance, losses, dates_as_text)
    return problems


def _compare(
    e: Feature,
    a: Feature,
    problems: list[str],
    tolerance: float,
    losses: Losses,
    dates_as_text: bool,
) -> None:
    add: Callable[[str], None] = lambda msg: problems.append(f"{e.id}: {msg}")  # noqa: E731
    if e.id != a.id:
        add(f"id became {a.id}")
    if _type(e.type) != _type(a.type):
        add(f"type {e.type} became {a.type}")
    want = _expected_attributes(e.attributes, losses)
    got = dict(a.attributes)
    if dates_as_text or losses.xml_scalars:
        want = {k: _normal(v) for k, v in want.items()}
        got = {k: _normal(v) for k, v in got.items()}
    if want != got:
        changed = {
            k: (want.get(k), got.get(k))
            for k in want.keys() | got.keys()
            if want.get(k) != got.get(k)
        }
        add(f"attributes differ: {dict(list(changed.items())[:4])}")
    eg = sorted(e.geometries, key=lambda g: float(g.lod))
    ag = sorted(a.geometries, key=lambda g: float(g.lod))
    if len(eg) != len(ag):
        add(f"{len(eg)} geometries became {len(ag)}")
    for ge, ga in zip(eg, ag, strict=False):
        lod = ge.lod.split(".")[0] if losses.integer_lods else ge.lod
        if lod != ga.lod:
            add(f"LoD {ge.lod} became {ga.lod}")
        if ge.solid != ga.solid:
            add(f"LoD {ge.lod}: solid {ge.solid} became {ga.solid}")
        if not (
            np.array_equal(ge.polygon_offsets, ga.polygon_offsets)
            and np.array_equal(ge.ring_offsets, ga.ring_offsets)
        ):
            add(f"LoD {ge.lod}: polygon/ring structure differs")
            continue
        if _codes(e.type, ge) != _codes(a.type, ga):
            add(f"LoD {ge.lod}: surface types differ")
        if len(ge.vertices):
            worst = float(np.abs(ge.vertices - ga.vertices).max())
            if worst > tolerance:
                add(f"LoD {ge.lod}: vertices moved by {worst:.4g} m")
    if [c.id for c in e.children] != [c.id for c in a.children]:
        add(f"children {[c.id for c in e.children]} became {[c.id for c in a.children]}")
        return
    for ce, ca in zip(e.children, a.children, strict=True):
        _compare(ce, ca, problems, tolerance, losses, dates_as_text)
