"""Replace city buildings by a design model: ``citymodel tile city/*.gml --replace design.ifc``.

The design model (an IFC file, or any input format) is tiled with the city in the same run;
the city buildings it stands in for are left out in pass 1, before they are stored.

Which buildings are replaced
----------------------------
- **By footprint** (default): the design's footprint is the union of the xy projections of
  its elements' faces (IfcSite terrain, geographic elements, annotations, grids, openings,
  spaces and other non-built classes in :data:`IGNORED_CLASSES` left out), rasterized with
  :mod:`citymodel.ops.footprint` in the design's horizontal CRS on cells of 0.1 m (coarser
  only for sites over 200 m: at most 2048 cells an edge). A top-level city Building (with its
  BuildingParts) is replaced when at least ``min_overlap`` (default 50 %) of **its own**
  footprint area — the xy projection of its polygons in the LoD tiled — lies inside the
  design's footprint. Overlap is measured on the same raster: the building's cells are
  counted where the design covers them, so a building half covered by a wing of the design
  is replaced at ≥ 50 %, a neighbour touched by 1 m of an overhang is not. A city in
  another CRS is compared after transforming its vertices horizontally to the design's CRS
  (pyproj, never a ballpark operation); heights play no role.
- **By id** (``--replace-ids``): exactly the listed Buildings (a BuildingPart id selects its
  Building) are hidden instead; the footprint is not used.

Only top-level objects of type ``Building`` (CityGML, CityJSON) are ever replaced; the
design's own features are never filtered. ``report.extra["replaced"]`` lists
``{id, by, overlap, file}`` per replaced building (``overlap`` None when chosen by id) and
``report.extra["replacement"]`` the footprints used; a design whose footprint replaced
nothing, and listed ids that were not found, are warned about.

The design file is read once: the tiler reads the design models first, collecting their
footprints (:class:`FootprintCollector`) while their elements are meshed and stored like any
input's, completes the plan with them (:func:`complete_replacement`), and only then reads the
city with the finished plan (:func:`pending_replacement` starts such a plan;
:func:`plan_replacement` reads the footprints of a plan at once, for callers outside the
tiler).
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
from pyproj.exceptions import ProjError

from citymodel._typing import BoolArray, Float64Array
from citymodel.converters.pipeline import count_read, source_crs
from citymodel.converters.selection import feature_extent_2d, horizontal_transformer
from citymodel.crs import ResolvedCRS, resolve_crs
from citymodel.errors import CRSError, InputError
from citymodel.model import Feature
from citymodel.ops.footprint import RasterGrid, footprint_triangles, rasterize_triangles
from citymodel.report import JobReport
from citymodel.sources import open as open_source

__all__ = [
    "DEFAULT_MIN_OVERLAP",
    "IGNORED_CLASSES",
    "Footprint",
    "FootprintCollector",
    "FootprintPart",
    "ReplacePlan",
    "ReplaceRule",
    "collect_footprints",
    "complete_replacement",
    "finish_replacement",
    "hide_replaced",
    "pending_replacement",
    "plan_replacement",
    "replacement_inputs",
]

log = logging.getLogger(__name__)

DEFAULT_MIN_OVERLAP = 0.5
"""Share of a city building's own footprint the design must cover to replace it."""

IGNORED_CLASSES = frozenset(
    {
        "IfcSite",
        "IfcGeographicElement",
        "IfcCivilElement",
        "IfcAnnotation",
        "IfcGrid",
        "IfcVirtualElement",
        "IfcOpeningElement",
        "IfcOpeningStandardCase",
        "IfcSpace",
        "IfcSpatialZone",
        "IfcExternalSpatialElement",
        "IfcAlignment",
    }
)
"""Element classes that do not make up the design's footprint (terrain, annotation, voids)."""

_CITY_BUILDING = "Building"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaceRule:
    """One ``--replace``: a design model and how it selects the buildings it replaces.

    Attributes
    ----------
    source
        The design model (IFC or any input format) tiled in place of the buildings; None for
        a rule that only hides buildings by id.
    ids
        None: replace the buildings under the source's footprint. A set: replace these
        top-level buildings (a BuildingPart id stands for its Building) and do not use the
        footprint; an empty set only adds the source.
    min_overlap
        Share of a building's own footprint area that the design's footprint must cover
        (0 < share <= 1).
    name
        ``by`` in the report; default: the source's file name (``"--replace-ids"`` without
        a source).
    reader_options
        Reader options for this model only, as ``(name, value)`` pairs on top of the job's
        (e.g. ``(("origin", (x, y, z, rotation_deg)),)`` to place an IFC model without
        georeferencing); used for its footprint and when it is tiled.
    """

    source: Path | None = None
    ids: frozenset[str] | None = None
    min_overlap: float = DEFAULT_MIN_OVERLAP
    name: str | None = None
    reader_options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.source is None and not self.ids:
            raise ValueError("a replace rule needs a source model or ids")
        if not 0.0 < self.min_overlap <= 1.0:
            raise ValueError(f"min_overlap must be in (0, 1], got {self.min_overlap!r}")

    @property
    def label(self) -> str:
        """``by`` in the report: the name, else the source's file name or ``"--replace-ids"``."""
        if self.name:
            return self.name
        return self.source.name if self.source is not None else "--replace-ids"


@dataclass(frozen=True, slots=True)
class Footprint:
    """A design's footprint raster in its horizontal CRS.

    Attributes
    ----------
    label
        The design's file name (``by`` in the report).
    crs
        Horizontal CRS of the raster (``"EPSG:25832"`` or WKT).
    grid
        The raster's lattice (metres in ``crs``).
    bits
        The cells: the ``(ny, nx)`` mask, ``numpy.packbits``, zlib-compressed (it travels in
        every pass-1 task).
    bounds
        ``(xmin, ymin, xmax, ymax)`` of the covered cells (metres in ``crs``).
    min_overlap
        Threshold of the rule.
    elements
        Features that made up the footprint.
    """

    label: str
    crs: str
    grid: RasterGrid
    bits: bytes
    bounds: tuple[float, float, float, float]
    min_overlap: float
    elements: int

    def mask(self) -> BoolArray:
        """The ``(ny, nx)`` bool mask."""
        packed = np.frombuffer(zlib.decompress(self.bits), dtype=np.uint8)
        flat = np.unpackbits(packed, count=self.grid.nx * self.grid.ny)
        return flat.reshape(self.grid.ny, self.grid.nx).astype(np.bool_)

    @property
    def area_m2(self) -> float:
        """Covered area (m²)."""
        return float(self.mask().sum()) * self.grid.cell**2

    def summary(self) -> dict[str, Any]:
        """JSON for ``report.extra["replacement"]``."""
        return {
            "source": self.label,
            "crs": self.crs,
            "footprint_area_m2": round(self.area_m2, 1),
            "bounds": [round(v, 3) for v in self.bounds],
            "cell_m": round(self.grid.cell, 4),
            "elements": self.elements,
            "min_overlap": self.min_overlap,
        }


@dataclass(frozen=True, slots=True)
class ReplacePlan:
    """What pass 1 needs to hide replaced buildings (picklable, sent to every reading task).

    Attributes
    ----------
    footprints
        Footprint rules.
    id_rules
        ``(ids, label)`` of the id rules.
    sources
        Resolved paths of the design models (their features are never filtered).
    source_options
        ``(resolved path, reader options)`` of the design models with options of their own.
    collect
        Resolved paths of the design models whose footprints are still to be collected
        while they are read (:func:`pending_replacement`); empty in a complete plan.
    """

    footprints: tuple[Footprint, ...] = ()
    id_rules: tuple[tuple[frozenset[str], str], ...] = ()
    sources: frozenset[str] = frozenset()
    source_options: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    collect: frozenset[str] = frozenset()

    def is_source(self, path: Path) -> bool:
        """Whether ``path`` is one of the design models."""
        return str(path.resolve()) in self.sources

    def collects(self, path: Path) -> bool:
        """Whether the footprint of ``path`` is still to be collected while it is read."""
        return bool(self.collect) and str(path.resolve()) in self.collect

    def types_for(self, path: Path, types: tuple[str, ...] | None) -> tuple[str, ...] | None:
        """``types`` for reading ``path``: None (everything) for a design model."""
        return None if self.is_source(path) else types

    def reader_options(self, path: Path, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` for opening ``path``, with a design model's own options on top."""
        key = str(path.resolve())
        for source, extra in self.source_options:
            if source == key:
                return {**options, **dict(extra)}
        return options

    def summary(self) -> list[dict[str, Any]]:
        """JSON for ``report.extra["replacement"]``: one entry per rule."""
        out = [f.summary() for f in self.footprints]
        out.extend({"source": label, "ids": sorted(ids)} for ids, label in self.id_rules)
        return out


def replacement_inputs(paths: Sequence[Path], rules: Sequence[ReplaceRule]) -> list[Path]:
    """``paths`` plus the rules' design models that are not among them already."""
    out = list(paths)
    seen = {p.resolve() for p in paths}
    for rule in rules:
        if rule.source is not None and rule.source.resolve() not in seen:
            seen.add(rule.source.resolve())
            out.append(rule.source)
    return out


@dataclass(frozen=True, slots=True)
class FootprintPart:
    """The footprint triangles of one design model, collected while it was read.

    Attributes
    ----------
    source
        The design model's resolved path.
    crs
        Horizontal CRS of the triangles (``"EPSG:25832"`` or WKT).
    triangles
        ``(M, 3, 2)`` float64 xy corners of its elements' triangles (metres in ``crs``), in
        reading order.
    elements
        Features that contributed triangles.
    """

    source: str
    crs: str
    triangles: Float64Array
    elements: int


class FootprintCollector:
    """Collects a design model's footprint triangles from its feature stream as it is read.

    Use :meth:`for_input` once the input's CRS is known, wrap its features with
    :meth:`collect` and take the result with :meth:`part`. For inputs whose footprint is not
    wanted, :meth:`collect` returns the features unchanged.
    """

    def __init__(self, source: str | None, crs: str = "") -> None:
        self._source = source
        self._crs = crs
        self._triangles: list[Float64Array] = []
        self._elements = 0

    @classmethod
    def for_input(
        cls, plan: ReplacePlan | None, path: Path, crs: ResolvedCRS
    ) -> FootprintCollector:
        """The collector of ``path`` (source CRS ``crs``); inactive unless the plan wants it.

        Raises
        ------
        CRSError
            A design model whose CRS is not projected (the raster is metric).
        """
        if plan is None or not plan.collects(path):
            return cls(None)
        return cls(str(path.resolve()), _crs_key(_horizontal(crs, path)))

    def collect(self, features: Iterable[Feature]) -> Iterable[Feature]:
        """``features`` unchanged; their footprint triangles are kept when collecting."""
        if self._source is None:
            return features
        return self._collecting(features)

    def _collecting(self, features: Iterable[Feature]) -> Iterator[Feature]:
        for feature in features:
            for feat, _parent in feature.walk():
                if feat.type in IGNORED_CLASSES:
                    continue
                tri = footprint_triangles(feat.geometries)
                if tri.shape[0]:
                    self._triangles.append(np.ascontiguousarray(tri[:, :, :2]))
                    self._elements += 1
            yield feature

    def part(self) -> FootprintPart | None:
        """What was collected (None when inactive; no triangles when nothing had any)."""
        if self._source is None:
            return None
        triangles = (
            np.concatenate(self._triangles)
            if self._triangles
            else np.zeros((0, 3, 2), dtype=np.float64)
        )
        return FootprintPart(self._source, self._crs, triangles, self._elements)


def collect_footprints(
    plan: ReplacePlan,
    paths: Iterable[Path],
    *,
    in_crs: str | None = None,
    reader_options: dict[str, Any] | None = None,
) -> list[FootprintPart]:
    """Read the design models ``paths`` now, only for their footprints (nothing is stored).

    Their skips and warnings are not reported here: they are when the models are tiled.

    Raises
    ------
    InputError, CRSError
        A design model that cannot be read or placed.
    """
    parts = []
    for path in paths:
        scratch = JobReport()
        options = plan.reader_options(path, dict(reader_options or {}))
        with open_source(path, **options) as reader:
            resolved = source_crs(reader.srs_name, in_crs=in_crs, path=path, report=scratch)
            collector = FootprintCollector.for_input(plan, path, resolved)
            for _feature in collector.collect(reader.features(report=scratch)):
                pass
        part = collector.part()
        if part is not None:
            parts.append(part)
    return parts


def _footprint(rule: ReplaceRule, parts: Sequence[FootprintPart]) -> Footprint:
    """Rasterize the footprint of ``rule`` from its design model's collected triangles."""
    if rule.source is None:  # pragma: no cover - callers pass footprint rules only
        raise ValueError("no source")
    path = rule.source
    key = str(path.resolve())
    own = [p for p in parts if p.source == key]
    triangles = [p.triangles for p in own if p.triangles.shape[0]]
    if not triangles:
        raise InputError(
            "the model to put in has no element with geometry, so it has no footprint; "
            "use --replace-ids to name the buildings to replace",
            path=path,
        )
    corners = np.concatenate(triangles)
    low = corners.reshape(-1, 2).min(axis=0)
    high = corners.reshape(-1, 2).max(axis=0)
    grid = RasterGrid.covering(float(low[0]), float(low[1]), float(high[0]), float(high[1]))
    mask = rasterize_triangles(corners, grid)
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise InputError(
            "the model to put in covers no area seen from above (only vertical faces?)",
            path=path,
        )
    bounds = (
        grid.x0 + float(cols.min()) * grid.cell,
        grid.y0 + float(rows.min()) * grid.cell,
        grid.x0 + float(cols.max() + 1) * grid.cell,
        grid.y0 + float(rows.max() + 1) * grid.cell,
    )
    return Footprint(
        label=rule.label,
        crs=own[0].crs,
        grid=grid,
        bits=zlib.compress(np.packbits(mask.reshape(-1)).tobytes()),
        bounds=bounds,
        min_overlap=rule.min_overlap,
        elements=sum(p.elements for p in own),
    )


def _horizontal(resolved: ResolvedCRS, path: Path | str, *, projected: bool = True) -> pyproj.CRS:
    """The horizontal CRS of an input; the design's must be projected (the raster is metric)."""
    horizontal = resolved.horizontal
    if horizontal is None or (projected and not horizontal.is_projected):
        raise CRSError(
            f"{path}: footprints are compared in a projected CRS in metres, but the input "
            f"uses {resolved.to_string()}"
        )
    return horizontal


def _crs_key(crs: pyproj.CRS) -> str:
    code = crs.to_authority(min_confidence=100)
    return f"{code[0]}:{code[1]}" if code else str(crs.to_wkt())


def pending_replacement(rules: Sequence[ReplaceRule]) -> ReplacePlan | None:
    """The plan of ``rules`` before any footprint is read, or None without rules.

    Its ``collect`` names the design models whose footprints are to be collected while they
    are read (:class:`FootprintCollector`); :func:`complete_replacement` then finishes it.
    """
    if not rules:
        return None
    id_rules = tuple((rule.ids, rule.label) for rule in rules if rule.ids is not None and rule.ids)
    sources = frozenset(str(r.source.resolve()) for r in rules if r.source is not None)
    source_options = tuple(
        (str(r.source.resolve()), r.reader_options)
        for r in rules
        if r.source is not None and r.reader_options
    )
    collect = frozenset(
        str(r.source.resolve()) for r in rules if r.ids is None and r.source is not None
    )
    return ReplacePlan(
        id_rules=id_rules, sources=sources, source_options=source_options, collect=collect
    )


def complete_replacement(
    plan: ReplacePlan,
    rules: Sequence[ReplaceRule],
    parts: Sequence[FootprintPart],
    *,
    report: JobReport,
) -> ReplacePlan:
    """``plan`` with the footprints of its footprint rules, from the collected ``parts``.

    ``report.extra["replacement"]`` gets a summary of each rule.

    Raises
    ------
    InputError
        A design model without a footprint.
    """
    footprints = tuple(
        _footprint(rule, parts) for rule in rules if rule.ids is None and rule.source is not None
    )
    done = ReplacePlan(
        footprints=footprints,
        id_rules=plan.id_rules,
        sources=plan.sources,
        source_options=plan.source_options,
    )
    report.extra["replacement"] = done.summary()
    for fp in footprints:
        log.info("%s: footprint %.1f m² in %s", fp.label, fp.area_m2, fp.crs)
    return done


def plan_replacement(
    rules: Sequence[ReplaceRule],
    *,
    in_crs: str | None = None,
    reader_options: dict[str, Any] | None = None,
    report: JobReport,
) -> ReplacePlan | None:
    """Footprints of the rules' design models (read now), or None without rules.

    ``report.extra["replacement"]`` gets a summary of each rule. The tiler does not use this
    (it collects the footprints while it tiles the designs, reading each once).

    Raises
    ------
    InputError, CRSError
        A design model that cannot be read or placed, or that has no footprint.
    """
    plan = pending_replacement(rules)
    if plan is None:
        return None
    designs = list(dict.fromkeys(r.source for r in rules if r.ids is None and r.source))
    parts = collect_footprints(plan, designs, in_crs=in_crs, reader_options=reader_options)
    return complete_replacement(plan, rules, parts, report=report)


@dataclass(slots=True)
class _Matcher:
    """Footprint tests for one input.

    The plan's masks are unpacked once; the footprints' bounds and the transformers are
    prepared for the input's horizontal CRS.
    """

    plan: ReplacePlan
    city: pyproj.CRS | None
    masks: list[BoolArray] = field(default_factory=list)
    bounds: list[tuple[float, float, float, float] | None] = field(default_factory=list)
    to_footprint: list[pyproj.Transformer | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        city = self.city
        key = _crs_key(city) if city is not None else ""
        for fp in self.plan.footprints:
            self.masks.append(fp.mask())
            if city is None or fp.crs == key:
                self.bounds.append(fp.bounds)
                self.to_footprint.append(None)
                continue
            design = resolve_crs(fp.crs).to_crs()
            try:
                bounds = horizontal_transformer(design, city).transform_bounds(
                    *fp.bounds, densify_pts=21
                )
                forward = horizontal_transformer(city, design)
            except (ProjError, CRSError) as err:
                log.warning("%s: footprint not comparable with %s: %s", fp.label, city.name, err)
                bounds, forward = None, None
            if bounds is not None and not all(math.isfinite(v) for v in bounds):
                bounds = None
            self.bounds.append(bounds)
            self.to_footprint.append(forward)

    def by_id(self, feature: Feature) -> tuple[str, list[str]] | None:
        """``(label, matched ids)`` of the first id rule listing the feature or a part."""
        for ids, label in self.plan.id_rules:
            matched = [f.id for f, _ in feature.walk() if f.id in ids]
            if matched:
                return label, matched
        return None

    def overlap(self, feature: Feature, lod: str | None) -> tuple[str, float] | None:
        """``(label, share)`` of the first footprint covering enough of ``feature``."""
        extent = feature_extent_2d(feature)
        if extent is None or self.city is None:
            return None
        xy: Float64Array | None = None
        for number, fp in enumerate(self.plan.footprints):
            bounds = self.bounds[number]
            if bounds is None or not _touches(extent, bounds):
                continue
            if xy is None:
                geometries = [g for f, _ in feature.walk() if (g := f.geometry(lod)) is not None]
                xy = footprint_triangles(geometries)[:, :, :2].reshape(-1, 2)
            share = _share(xy, fp, self.masks[number], self.to_footprint[number])
            if share is not None and share >= fp.min_overlap:
                return fp.label, share
        return None


def _touches(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] <= b[2] and a[2] >= b[0] and a[1] <= b[3] and a[3] >= b[1]


def _share(
    xy: Float64Array, fp: Footprint, mask: BoolArray, transformer: pyproj.Transformer | None
) -> float | None:
    """Share of a building's footprint that ``fp`` covers.

    ``xy`` holds the corners of the building's triangles (3 rows per triangle) in the input's
    CRS. None for a building without area or outside the transformation's domain.
    """
    if xy.shape[0] == 0:
        return None
    if transformer is not None:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        xy = np.column_stack([x, y])
        if not np.isfinite(xy).all():
            return None
    low, high = xy.min(axis=0), xy.max(axis=0)
    window = fp.grid.aligned_window(float(low[0]), float(low[1]), float(high[0]), float(high[1]))
    own = rasterize_triangles(xy.reshape(-1, 3, 2), window)
    cells = int(own.sum())
    if cells == 0:  # smaller than a cell: its centre decides
        centre = xy.mean(axis=0)
        i = math.floor((centre[0] - fp.grid.x0) / fp.grid.cell)
        j = math.floor((centre[1] - fp.grid.y0) / fp.grid.cell)
        inside = 0 <= i < fp.grid.nx and 0 <= j < fp.grid.ny and bool(mask[j, i])
        return 1.0 if inside else 0.0
    return float((own & fp.grid.take(mask, window)).sum()) / cells


def hide_replaced(
    plan: ReplacePlan | None,
    features: Iterable[Feature],
    *,
    path: Path,
    crs: ResolvedCRS,
    lod: str | None,
    report: JobReport,
    replaced: list[dict[str, Any]],
) -> Iterator[Feature]:
    """The features of one input without the buildings ``plan`` replaces (lazily).

    Replaced buildings are counted as read and appended to ``replaced`` as
    ``{id, by, overlap, file}``. Without a plan, or for a design model's own input, the
    features pass unchanged.

    Parameters
    ----------
    plan
        From :func:`plan_replacement`.
    features
        Top-level features of ``path`` (source CRS ``crs``).
    path
        The input.
    crs
        Its resolved CRS.
    lod
        The LoD tiled (footprints of the buildings are taken from it).
    report
        Receives the read counts of replaced buildings.
    replaced
        Receives the records.
    """
    if plan is None or plan.is_source(path):
        yield from features
        return
    city = _horizontal(crs, path, projected=False) if plan.footprints else None
    matcher = _Matcher(plan, city)
    file = path.name
    for feature in features:
        if feature.type != _CITY_BUILDING:
            yield feature
            continue
        record: dict[str, Any] | None = None
        listed = matcher.by_id(feature)
        if listed is not None:
            record = {"id": feature.id, "by": listed[0], "overlap": None, "file": file}
            if listed[1] != [feature.id]:
                record["matched"] = listed[1]
        else:
            hit = matcher.overlap(feature, lod)
            if hit is not None:
                record = {"id": feature.id, "by": hit[0], "overlap": round(hit[1], 4), "file": file}
        if record is None:
            yield feature
            continue
        count_read([feature], report)
        replaced.append(record)


def finish_replacement(
    plan: ReplacePlan | None, replaced: Sequence[dict[str, Any]], report: JobReport
) -> None:
    """Put ``replaced`` into ``report.extra["replaced"]``; warn about rules that hid nothing."""
    if plan is None:
        return
    report.extra["replaced"] = list(replaced)
    used = {r["by"] for r in replaced}
    for fp in plan.footprints:
        if fp.label not in used:
            report.warn(
                f"{fp.label}: no city building lies under its footprint by "
                f"{100 * fp.min_overlap:g} % or more; nothing was replaced"
            )
    hidden = {r["id"] for r in replaced}
    matched = hidden.union(*(r.get("matched", ()) for r in replaced))
    for ids, _label in plan.id_rules:
        missing = sorted(i for i in ids if i not in matched)
        if missing:
            report.warn(
                f"--replace-ids: {len(missing)} id(s) not found among the city buildings: "
                f"{', '.join(missing[:10])}"
            )
