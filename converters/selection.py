"""Select top-level city objects by a 2D bounding box and/or by id, while streaming.

A :class:`FeatureSelection` is what ``citymodel convert --bbox/--ids/--ids-file`` builds:

- **bbox** (:class:`BBox2D`): a top-level object (a Building with its BuildingParts) is
  selected when the 2D extent of all its vertices (every LoD, parts included) intersects the
  box; a building across the edge is kept whole. The box is given in the source CRS, or in
  another CRS named with it (``xmin,ymin,xmax,ymax,EPSG:4326``), which is transformed to each
  input's horizontal CRS (the densified outline of the box, so the transformed box contains
  the whole original one). Coordinates are always x = east / longitude first (AX-3).
- **ids**: a top-level object is selected when its id or the id of one of its children
  (BuildingParts) is listed.

Both given: an object must satisfy both (like ``--types``, every filter narrows the
selection). :func:`select_features` filters a feature stream lazily and records which listed
ids it met, so the tools can warn about ids that were never found.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyproj
from pyproj.exceptions import ProjError

from citymodel.crs import ResolvedCRS, resolve_crs
from citymodel.errors import CRSError, InputError
from citymodel.model import Feature
from citymodel.report import JobReport

__all__ = [
    "BBox2D",
    "FeatureSelection",
    "feature_extent_2d",
    "horizontal_transformer",
    "read_ids_file",
    "select_features",
    "warn_missing_ids",
]

_DENSIFY_POINTS = 21


@dataclass(frozen=True, slots=True)
class BBox2D:
    """A 2D bounding box, optionally with the CRS its coordinates are in.

    Attributes
    ----------
    xmin, ymin, xmax, ymax
        Corners: x = east / longitude, y = north / latitude (AX-3); metres for projected CRSs,
        degrees for geographic ones.
    crs
        The CRS of the values as given by the user (anything :func:`~citymodel.crs.resolve_crs`
        accepts), or None for "the source CRS of each input".
    """

    xmin: float
    ymin: float
    xmax: float
    ymax: float
    crs: str | None = None

    def __post_init__(self) -> None:
        values = (self.xmin, self.ymin, self.xmax, self.ymax)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"bbox values must be finite numbers, got {values}")
        if self.xmin > self.xmax or self.ymin > self.ymax:
            raise ValueError(
                f"bbox must be xmin,ymin,xmax,ymax with xmin <= xmax and ymin <= ymax, got {values}"
            )

    @classmethod
    def parse(cls, text: str) -> BBox2D:
        """Parse ``"xmin,ymin,xmax,ymax"`` or ``"xmin,ymin,xmax,ymax,CRS"``.

        The CRS is everything after the fourth comma (so OGC compound URNs with commas work)
        and is checked with :func:`~citymodel.crs.resolve_crs`.

        Raises
        ------
        ValueError
            For a malformed box (message says what is expected).
        CRSError
            For a CRS that cannot be resolved.

        Examples
        --------
        >>> BBox2D.parse("356000,5645000,356500,5645500")
        BBox2D(xmin=356000.0, ymin=5645000.0, xmax=356500.0, ymax=5645500.0, crs=None)
        >>> BBox2D.parse("6.95,50.93,6.96,50.94,EPSG:4326").crs
        'EPSG:4326'
        """
        parts = [p.strip() for p in text.split(",")]
        if len(parts) < 4:
            raise ValueError(f"expected xmin,ymin,xmax,ymax[,CRS], got {text!r}")
        try:
            numbers = [float(p) for p in parts[:4]]
        except ValueError:
            raise ValueError(
                f"expected four numbers xmin,ymin,xmax,ymax[,CRS], got {text!r}"
            ) from None
        crs = ",".join(parts[4:]).strip() or None
        if crs is not None:
            resolve_crs(crs)
        xmin, ymin, xmax, ymax = numbers
        return cls(xmin, ymin, xmax, ymax, crs=crs)

    def intersects(self, extent: tuple[float, float, float, float]) -> bool:
        """Whether ``(xmin, ymin, xmax, ymax)`` (same CRS as this box) touches the box."""
        xmin, ymin, xmax, ymax = extent
        return xmin <= self.xmax and xmax >= self.xmin and ymin <= self.ymax and ymax >= self.ymin

    def to_crs(self, target: ResolvedCRS) -> BBox2D:
        """The box in ``target``'s horizontal CRS (unchanged when it has no CRS of its own).

        The outline is densified (21 points per edge) before transforming, so the result
        contains the whole original box even where the transformation bends its edges.

        Raises
        ------
        CRSError
            When the box cannot be transformed (no operation without a ballpark step, or the
            box lies outside the area where the transformation is defined).
        """
        if self.crs is None:
            return self
        source = resolve_crs(self.crs).horizontal
        dest = target.horizontal
        if source is None or dest is None:
            raise CRSError(f"bbox CRS {self.crs!r} or the input CRS has no horizontal part")
        if source == dest:
            return BBox2D(self.xmin, self.ymin, self.xmax, self.ymax, crs=None)
        try:
            xmin, ymin, xmax, ymax = horizontal_transformer(source, dest).transform_bounds(
                self.xmin, self.ymin, self.xmax, self.ymax, densify_pts=_DENSIFY_POINTS
            )
        except ProjError as err:
            raise CRSError(
                f"cannot transform the bbox from {self.crs} to {target.to_string()}: {err}"
            ) from err
        if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)):
            raise CRSError(
                f"the bbox {self} lies outside the area where {self.crs} -> "
                f"{target.to_string()} is defined"
            )
        return BBox2D(xmin, ymin, xmax, ymax, crs=None)


@lru_cache(maxsize=32)
def horizontal_transformer(source: pyproj.CRS, dest: pyproj.CRS) -> pyproj.Transformer:
    """A 2D transformer between two horizontal CRSs (x = east first, never a ballpark step).

    Raises
    ------
    CRSError
        When PROJ has no transformation without a ballpark step (e.g. a missing grid).
    """
    try:
        return pyproj.Transformer.from_crs(source, dest, always_xy=True, allow_ballpark=False)
    except ProjError as err:
        raise CRSError(
            f"no transformation from {source.name} to {dest.name} without a ballpark step: {err}"
        ) from err


@dataclass(frozen=True, slots=True)
class FeatureSelection:
    """Which top-level objects to keep (see the module docstring).

    Attributes
    ----------
    bbox
        2D box the objects' extent must intersect, or None.
    ids
        Ids of top-level objects (or of their children) to keep, or None.
    """

    bbox: BBox2D | None = None
    ids: frozenset[str] | None = field(default=None)

    @property
    def active(self) -> bool:
        """Whether the selection filters anything."""
        return self.bbox is not None or self.ids is not None

    def describe(self) -> str:
        """Short text for messages: ``"bbox 356000,5645000,356500,5645500"``, ``"3 ids"``."""
        parts = []
        if self.bbox is not None:
            b = self.bbox
            parts.append(
                f"bbox {b.xmin:.10g},{b.ymin:.10g},{b.xmax:.10g},{b.ymax:.10g}"
                + (f" ({b.crs})" if b.crs else "")
            )
        if self.ids is not None:
            parts.append(f"{len(self.ids)} id{'s' if len(self.ids) != 1 else ''}")
        return " and ".join(parts) or "everything"


def read_ids_file(path: str | os.PathLike[str]) -> frozenset[str]:
    """Ids from a text file: one per line; blank lines and lines starting with ``#`` ignored.

    Raises
    ------
    InputError
        When the file cannot be read or lists no id.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the ids file: {err}", path=p) from err
    ids = frozenset(
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    if not ids:
        raise InputError("the ids file lists no id", path=p)
    return ids


def feature_extent_2d(feature: Feature) -> tuple[float, float, float, float] | None:
    """``(xmin, ymin, xmax, ymax)`` of all vertices of a feature and its children, or None.

    Every LoD is included. Coordinates in the feature's source CRS.
    """
    lows: list[np.ndarray] = []
    highs: list[np.ndarray] = []
    for feat, _parent in feature.walk():
        for geom in feat.geometries:
            if geom.vertex_count:
                xy = geom.vertices[:, :2]
                lows.append(xy.min(axis=0))
                highs.append(xy.max(axis=0))
    if not lows:
        return None
    low = np.min(lows, axis=0)
    high = np.max(highs, axis=0)
    return float(low[0]), float(low[1]), float(high[0]), float(high[1])


def _matched_id(feature: Feature, ids: Collection[str]) -> str | None:
    for feat, _parent in feature.walk():
        if feat.id in ids:
            return feat.id
    return None


def _keeps(feature: Feature, bbox: BBox2D | None, ids: Collection[str] | None) -> bool:
    if ids is not None and _matched_id(feature, ids) is None:
        return False
    if bbox is not None:
        extent = feature_extent_2d(feature)
        return extent is not None and bbox.intersects(extent)
    return True


def select_features(
    features: Iterable[Feature],
    selection: FeatureSelection,
    *,
    found_ids: set[str] | None = None,
    on_dropped: Callable[[Feature], object] | None = None,
) -> Iterator[Feature]:
    """Yield the top-level features that ``selection`` keeps, lazily.

    Parameters
    ----------
    features
        Top-level features (children nested), in one source CRS.
    selection
        Its ``bbox`` must already be in that CRS (:meth:`BBox2D.to_crs`).
    found_ids
        When given, the listed ids that matched (a top-level id or a child's) are added to it.
    on_dropped
        Called with each feature the selection leaves out (e.g. to count it as read).

    Raises
    ------
    ValueError
        When the bbox still carries a CRS of its own (convert it with :meth:`BBox2D.to_crs`).
    """
    bbox, ids = selection.bbox, selection.ids
    if bbox is not None and bbox.crs is not None:
        raise ValueError("select_features needs the bbox in the source CRS; use BBox2D.to_crs")
    for feature in features:
        if not _keeps(feature, bbox, ids):
            if on_dropped is not None:
                on_dropped(feature)
            continue
        if ids is not None and found_ids is not None:
            found_ids.update(f.id for f, _ in feature.walk() if f.id in ids)
        yield feature


def warn_missing_ids(selection: FeatureSelection, found: set[str], report: JobReport) -> None:
    """Warn (in ``report``) about listed ids that no input contained."""
    if selection.ids is None:
        return
    missing = sorted(selection.ids - found)
    if missing:
        shown = ", ".join(missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        report.warn(f"{len(missing)} of the requested ids were not found: {shown}")
