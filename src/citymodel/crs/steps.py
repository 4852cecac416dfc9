"""Checked transformation steps between two CRSs (GEO-2, GEO-3, GEO-7).

A :class:`Step` is one PROJ transformation built with ``allow_ballpark=False`` whose best
operation is available, or refused with a :class:`~citymodel.errors.GridMissingError` naming the
missing grid (GEO-3). Steps are built once per (source, target) pair and process.
:func:`steps_to_ecef` chains the steps from a source CRS with heights to EPSG:4978.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import pyproj
from pyproj.crs import CompoundCRS
from pyproj.exceptions import ProjError
from pyproj.transformer import AreaOfInterest, TransformerGroup

from citymodel.crs.caches import cleared_with_grids
from citymodel.crs.geodetic import ECEF
from citymodel.crs.grids import ACCEPTED_SUBSTITUTES, grid_missing_error, missing_grids
from citymodel.crs.resolved import authority_code, crs_label
from citymodel.errors import CRSError

__all__ = ["Step", "checked_step", "steps_to_ecef"]

logger = logging.getLogger(__name__)

# ETRS89 geographic 3D. ETRS89-based sources go source -> EPSG:4937 -> EPSG:4978: the same
# operations PROJ chains for source -> EPSG:4978 directly (results agree to 1e-8 m), but PROJ
# finds them in ~0.1 s instead of 2-4 s, because the direct search explores every ETRS89 ->
# WGS 84 path combined with the geoid step. The second step is EPSG's null transformation
# "ETRS89 to WGS 84 (1)" (GEO-8) and the geocentric conversion.
_ETRS89_3D: pyproj.CRS = pyproj.CRS.from_epsg(4937)
_ETRS89_DATUM = pyproj.CRS.from_epsg(4258).datum


@dataclass(frozen=True, slots=True)
class Step:
    """One checked transformation.

    Attributes
    ----------
    transformer
        ``always_xy`` transformer, ``allow_ballpark=False``.
    description
        The PROJ operation with its accuracy and grids, for reports.
    warnings
        Approximations a job report should show (an accepted substitute operation).
    grids
        Short names of the grid files the operation uses.
    """

    transformer: pyproj.Transformer
    description: str
    warnings: tuple[str, ...]
    grids: tuple[str, ...]


_STEP_CACHE: dict[tuple[str, str, str], Step] = cleared_with_grids({})


def _build_step(src: pyproj.CRS, dst: pyproj.CRS, area: AreaOfInterest | None = None) -> Step:
    """One checked transformation: no ballpark, best operation available or refused (GEO-3).

    ``area`` restricts the candidate operations as PROJ restricts them to the area of use of
    a projected source (see :func:`_unprojected`).
    """
    with warnings.catch_warnings():
        # pyproj warns "Best transformation is not available"; it is handled below.
        warnings.simplefilter("ignore", UserWarning)
        try:
            group = TransformerGroup(
                src, dst, always_xy=True, allow_ballpark=False, area_of_interest=area
            )
        except ProjError as err:
            raise CRSError(
                f"PROJ cannot relate {crs_label(src)} and {crs_label(dst)}: {err}"
            ) from err
    available = list(group.transformers)
    unavailable = list(group.unavailable_operations)
    if not available:
        missing = missing_grids(unavailable)
        if missing:
            raise grid_missing_error(src, dst, missing)
        raise CRSError(
            f"PROJ has no transformation from {crs_label(src)} to {crs_label(dst)} other than a "
            "'ballpark' one that ignores datum or geoid differences; citymodel refuses it "
            "(GEO-3). Check the source CRS (--in-crs) or use --vertical-mode ellipsoidal-as-is "
            "if z already is an ellipsoidal height."
        )
    best = available[0]
    step_warnings: list[str] = []
    if not group.best_available:
        best_accuracy = best.accuracy if best.accuracy >= 0 else float("inf")
        better = [op for op in unavailable if op.accuracy < 0 or op.accuracy < best_accuracy]
        missing = missing_grids(better or unavailable)
        accepted = [
            ACCEPTED_SUBSTITUTES[name]
            for name in missing
            if name in ACCEPTED_SUBSTITUTES and ACCEPTED_SUBSTITUTES[name][0] in best.description
        ]
        if not missing or len(accepted) != len(missing):
            raise grid_missing_error(src, dst, missing or missing_grids(unavailable))
        step_warnings.extend(note for _, note in accepted)
    if unavailable and group.best_available:
        logger.info(
            "%s -> %s: optional regional grids not found (%s); PROJ uses %s where they apply",
            crs_label(src),
            crs_label(dst),
            ", ".join(missing_grids(unavailable)),
            best.description,
        )
    grids = tuple(
        dict.fromkeys(
            grid.short_name
            for candidate in available
            for op in candidate.operations or ()
            for grid in op.grids
        )
    )
    details = [f"accuracy {best.accuracy:g} m" if best.accuracy >= 0 else "accuracy unknown"]
    if grids:
        details.append(f"grids {', '.join(grids)}")
    if len(available) == 1:
        transformer = best
    else:
        # Several usable operations with different areas of use: PROJ picks the best one per
        # point (e.g. BETA2007 inside Germany, a regional Helmert elsewhere).
        transformer = pyproj.Transformer.from_crs(
            src, dst, always_xy=True, allow_ballpark=False, area_of_interest=area
        )
        details.append(f"best of {len(available)} operations, chosen per point by area of use")
    description = f"{best.description} ({'; '.join(details)})"
    return Step(transformer, description, tuple(step_warnings), grids)


def checked_step(src: pyproj.CRS, dst: pyproj.CRS, area: AreaOfInterest | None = None) -> Step:
    """The checked step ``src`` -> ``dst``, built once per process (see :func:`_build_step`)."""
    key = (src.to_wkt(), dst.to_wkt(), repr(area))
    step = _STEP_CACHE.get(key)
    if step is None:
        step = _build_step(src, dst, area)
        _STEP_CACHE[key] = step
    return step


def _horizontal_part(crs: pyproj.CRS) -> pyproj.CRS:
    return crs.sub_crs_list[0] if crs.is_compound else crs


def _coded_geodetic(crs: pyproj.CRS) -> pyproj.CRS:
    """``crs`` (geographic 2D) as its EPSG twin when PROJ identifies one with the same definition."""
    if authority_code(crs) is not None:
        return crs
    match = crs.to_authority(min_confidence=90)
    if match is not None and match[0] == "EPSG":
        twin = pyproj.CRS.from_epsg(int(match[1]))
        if twin.equals(crs, ignore_axis_order=True):
            return twin
    return crs


def _unprojected(src: pyproj.CRS) -> pyproj.CRS | None:
    """The geographic twin of a projected ``src`` whose map projection has no code, else None.

    Same datum and heights (geographic 3D with metre heights, or compound with the same
    vertical CRS): ``src`` -> twin is a pure conversion (inverse map projection, unit change).
    PROJ's operations between a projected CRS and EPSG:4978 are that conversion followed by
    the operations of its base CRS; but from a projected CRS without code (ESRI-style WKT of
    a LAS file) PROJ searches every datum path, 2-5 s per process, and from the coded
    geographic base below 0.1 s. Coded projected CRSs (also with a height axis added) are
    found fast and keep the direct search.
    """
    horizontal = _horizontal_part(src)
    if not horizontal.is_projected:
        return None
    if authority_code(horizontal.to_2d() if len(horizontal.axis_info) == 3 else horizontal):
        return None
    base = horizontal.geodetic_crs
    if base is None:
        return None
    base = _coded_geodetic(base.to_2d())
    if src.is_compound:
        vertical = src.sub_crs_list[1]
        return CompoundCRS(name=f"{base.name} + {vertical.name}", components=[base, vertical])
    return base.to_3d()


def _area_of(crs: pyproj.CRS) -> AreaOfInterest | None:
    area = crs.area_of_use
    if area is None:
        return None
    return AreaOfInterest(area.west, area.south, area.east, area.north)


def steps_to_ecef(src: pyproj.CRS, area: AreaOfInterest | None = None) -> list[Step]:
    """Checked steps from ``src`` (with heights) to EPSG:4978.

    ``area``: the area of use of the projected CRS ``src`` was derived from, if any.
    """
    geodetic = _horizontal_part(src).geodetic_crs
    if geodetic is None or geodetic.datum != _ETRS89_DATUM:
        twin = _unprojected(src)
        if twin is not None:
            return [checked_step(src, twin), *steps_to_ecef(twin, _area_of(src))]
        return [checked_step(src, ECEF, area)]
    if src == _ETRS89_3D:
        return [checked_step(src, ECEF)]
    return [checked_step(src, _ETRS89_3D), checked_step(_ETRS89_3D, ECEF)]
