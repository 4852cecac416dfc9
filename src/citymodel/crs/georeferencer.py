"""Georeferencing: source coordinates -> ECEF / WGS 84 geodetic (GEO-2..7).

:class:`Georeferencer` turns source coordinates into ECEF (EPSG:4978) or WGS 84
longitude/latitude/ellipsoidal height in vectorised batches, with transformers built once per
process, ``allow_ballpark=False`` and explicit grid checks (:mod:`citymodel.crs.steps`), so a
missing geoid grid is an error naming the file instead of heights 40 m off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy.typing as npt
import pyproj

from citymodel._typing import Float64Array
from citymodel.crs.caches import cleared_with_grids
from citymodel.crs.geodetic import ecef_to_geodetic
from citymodel.crs.grids import ensure_bundled_grids_registered
from citymodel.crs.points import run_chain
from citymodel.crs.resolved import CRSLike, ResolvedCRS, is_3d
from citymodel.crs.srsname import resolve_crs
from citymodel.crs.steps import Step, checked_step, steps_to_ecef
from citymodel.errors import CRSError

__all__ = ["Georeferencer", "VerticalMode"]

logger = logging.getLogger(__name__)

VerticalMode: TypeAlias = Literal["auto", "ellipsoidal-as-is"]

# GEO-6: DHHN92 has no operation to ellipsoidal heights; go through DHHN2016 (EPSG:9924 =
# ETRS89 + DHHN2016 height) with EPSG's offset-and-slope transformations via EVRF2007.
_BRIDGED_VERTICALS: dict[str, pyproj.CRS] = {"EPSG:5783": pyproj.CRS.from_epsg(9924)}

_GEOREFERENCERS: dict[tuple[tuple[str, ...], str], Georeferencer] = cleared_with_grids({})
_VERTICAL_MODES = ("auto", "ellipsoidal-as-is")


def _restore_georeferencer(source: ResolvedCRS, vertical_mode: VerticalMode) -> Georeferencer:
    return Georeferencer.create(source, vertical_mode=vertical_mode)


@dataclass(frozen=True, slots=True, eq=False)
class Georeferencer:
    """Source coordinates -> ECEF / WGS 84 geodetic, built once per CRS and process.

    Create with :meth:`create` (cached per process). The grids shipped with citymodel are
    registered on first use; grid folders given by the user need :func:`register_grids`
    (in every spawned worker too, as the pool initializer). All arrays are (N, 3) float64 with
    ``x = east / longitude``, ``y = north / latitude``, ``z = height`` (AX-3). One PROJ call per
    transformation step and batch; never call it per vertex.

    Rows PROJ cannot transform (outside a grid, GEO-4) come back as ``inf`` in all three
    columns instead of raising: check ``np.isfinite(out).all(axis=1)`` per feature and skip or
    report those features.

    A Georeferencer pickles as its (source, vertical_mode): a worker process rebuilds it (with
    its own cache) when it receives one, after :func:`register_grids` ran as initializer.

    Attributes
    ----------
    source
        The source CRS.
    vertical_mode
        ``"auto"`` or ``"ellipsoidal-as-is"`` (see :meth:`create`).
    description
        The PROJ operation(s) used, for reports.
    grids
        Short names of the grid files those operations use (e.g. ``de_bkg_gcg2016.tif``):
        outputs computed with them carry the credit lines of ``citymodel/grids/NOTICE.md``.
    warnings
        Assumptions and approximations a job report should show (default vertical datum,
        DHHN92 conversion, heights taken as ellipsoidal, substituted operations).
    """

    source: ResolvedCRS
    vertical_mode: VerticalMode
    description: str
    warnings: tuple[str, ...]
    grids: tuple[str, ...]
    _transformers: tuple[pyproj.Transformer, ...]

    @classmethod
    def create(
        cls,
        source: CRSLike,
        *,
        vertical_mode: VerticalMode = "auto",
    ) -> Georeferencer:
        """Build (or fetch from the per-process cache) the georeferencer of a source CRS.

        Parameters
        ----------
        source
            The source CRS, already through :func:`with_default_vertical` if defaults are
            wanted (anything :func:`resolve_crs` accepts).
        vertical_mode
            ``"auto"``: z is a height in the source's vertical CRS and is converted to an
            ellipsoidal height with the right geoid grid (GCG2016 for DHHN2016; DHHN92 goes
            through DHHN2016 first, GEO-6; EGM96, NAP ... from ``--grids`` folders). A 2D
            source without vertical CRS is an error. Geographic 3D and geocentric sources are
            used as they are. ``"ellipsoidal-as-is"``: z is taken as ellipsoidal height on the
            source datum (horizontal transformation only); a vertical CRS is ignored. The
            fact is recorded in :attr:`warnings`.

        Returns
        -------
        Georeferencer
            Ready to transform; the same object for equal arguments within a process.

        Raises
        ------
        GridMissingError
            A grid the best operation needs is missing (names the file(s) and how to provide
            them, GEO-3).
        CRSError
            No horizontal CRS, no vertical CRS in ``auto`` mode, no transformation without a
            ballpark step, or an unknown ``vertical_mode``.
        """
        if vertical_mode not in _VERTICAL_MODES:
            raise CRSError(
                f"unknown vertical mode {vertical_mode!r}; expected one of {_VERTICAL_MODES}"
            )
        resolved = resolve_crs(source)
        ensure_bundled_grids_registered()
        # Keyed by the CRS definitions as text: pyproj CRS hashes are not stable across
        # pickling, and equal definitions must share one set of transformers.
        key = (resolved.cache_key(), vertical_mode)
        cached = _GEOREFERENCERS.get(key)
        if cached is not None:
            return cached
        geo = _build_georeferencer(resolved, vertical_mode)
        _GEOREFERENCERS[key] = geo
        logger.info("georeferencing %s: %s", resolved.to_string(), geo.description)
        return geo

    def __reduce__(self) -> tuple[object, tuple[ResolvedCRS, VerticalMode]]:
        return (_restore_georeferencer, (self.source, self.vertical_mode))

    def to_ecef(self, xyz: npt.ArrayLike) -> Float64Array:
        """Source coordinates -> ECEF.

        Parameters
        ----------
        xyz
            (N, 3) in the source CRS: east/longitude, north/latitude, height; metres or
            degrees as the CRS defines.

        Returns
        -------
        numpy.ndarray
            (N, 3) float64 X, Y, Z in EPSG:4978, metres; ``inf`` rows where PROJ failed.
        """
        return run_chain(self._transformers, xyz, name="xyz")

    def to_geodetic(self, xyz: npt.ArrayLike) -> Float64Array:
        """Source coordinates -> WGS 84 longitude, latitude, ellipsoidal height.

        Parameters
        ----------
        xyz
            (N, 3) in the source CRS, as for :meth:`to_ecef`.

        Returns
        -------
        numpy.ndarray
            (N, 3) float64 longitude (degrees), latitude (degrees), height above the WGS 84
            ellipsoid (metres); ``inf`` rows where PROJ failed.
        """
        return ecef_to_geodetic(self.to_ecef(xyz))

    def from_ecef(self, xyz: npt.ArrayLike) -> Float64Array:
        """ECEF -> source coordinates (the inverse of :meth:`to_ecef`).

        Parameters
        ----------
        xyz
            (N, 3) X, Y, Z in EPSG:4978, metres, as :meth:`to_ecef` returns them.

        Returns
        -------
        numpy.ndarray
            (N, 3) float64 east/longitude, north/latitude, height in the source CRS
            (ellipsoidal in ``ellipsoidal-as-is`` mode); ``inf`` rows where PROJ failed.
        """
        return run_chain(self._transformers, xyz, name="xyz", inverse=True)


def _height_unit(resolved: ResolvedCRS) -> tuple[str, float] | None:
    """Name and metres of the unit of z: the stated vertical CRS's, else a projected CRS's.

    ``ellipsoidal-as-is`` replaces the vertical *datum*, not the unit: z in US survey feet
    above NAVD88 read as ellipsoidal height is still in US survey feet. Without a vertical
    CRS, heights of a projected CRS in feet are taken in its linear unit (the LAS convention
    for State Plane feet files); geographic CRSs give metres.
    """
    vertical, horizontal = resolved.vertical, resolved.horizontal
    if vertical is not None and not resolved.assumed_vertical and vertical.axis_info:
        axis = vertical.axis_info[0]
    elif horizontal is not None and horizontal.is_projected and horizontal.axis_info:
        axis = horizontal.axis_info[0]
    else:
        return None
    if axis.unit_conversion_factor == 1.0:
        return None
    return axis.unit_name, axis.unit_conversion_factor


def _height_unit_step(name: str, metres: float) -> Step:
    """z from ``name`` (``metres`` each) to metres; x and y unchanged (a PROJ unitconvert)."""
    transformer = pyproj.Transformer.from_pipeline(f"+proj=unitconvert +z_in={metres!r} +z_out=m")
    return Step(transformer, f"heights from {name} to metres", (), ())


def _unit_note(unit: tuple[str, float] | None) -> str:
    if unit is None:
        return ""
    return f" in {unit[0]} ({unit[1]:.12g} m)"


def _no_vertical_error(resolved: ResolvedCRS) -> CRSError:
    label = resolved.to_string()
    return CRSError(
        f"the source CRS {label} ({resolved.source!r}) has no vertical CRS, so the meaning of "
        "z is unknown; PROJ would take it as ellipsoidal height, which is wrong by tens of "
        "metres for normal heights (GEO-5). Pass the compound CRS with --in-crs "
        f"({label}+<vertical EPSG code>, e.g. EPSG:25832+7837 for UTM 32N with DHHN2016 "
        "heights), or use --vertical-mode ellipsoidal-as-is if z already is an ellipsoidal "
        "height."
    )


def _build_georeferencer(resolved: ResolvedCRS, vertical_mode: VerticalMode) -> Georeferencer:
    horizontal, vertical = resolved.horizontal, resolved.vertical
    if horizontal is None:
        raise CRSError(
            f"{resolved.source!r} names only a vertical CRS; the horizontal CRS is needed to "
            "place the data (set it with --in-crs, e.g. EPSG:25832+7837)"
        )
    notes: list[str] = []
    steps: list[Step]
    if resolved.assumed_vertical and vertical is not None and vertical_mode == "auto":
        notes.append(
            f"the source CRS {resolved.horizontal_code or horizontal.name} has no vertical CRS; "
            f"heights are assumed to be {vertical.name} ({resolved.vertical_code}) (GEO-5). "
            "Use --in-crs to state the real vertical CRS"
        )
    if vertical_mode == "ellipsoidal-as-is":
        src = horizontal if is_3d(horizontal) else horizontal.to_3d()
        unit = None if is_3d(horizontal) else _height_unit(resolved)
        if vertical is not None and not resolved.assumed_vertical:
            notes.append(
                f"--vertical-mode ellipsoidal-as-is: the vertical CRS {vertical.name} of the "
                f"source is ignored and z is taken as ellipsoidal height{_unit_note(unit)}"
            )
        elif not is_3d(horizontal):
            notes.append(
                f"--vertical-mode ellipsoidal-as-is: z is taken as height{_unit_note(unit)} "
                "above the "
                f"{horizontal.ellipsoid.name if horizontal.ellipsoid else 'source'} ellipsoid; "
                "no geoid is applied"
            )
        steps = steps_to_ecef(src)
        if unit is not None:
            steps.insert(0, _height_unit_step(*unit))
    elif vertical is None:
        if not is_3d(horizontal):
            raise _no_vertical_error(resolved)
        steps = steps_to_ecef(horizontal)
    else:
        bridge = _BRIDGED_VERTICALS.get(resolved.vertical_code or "")
        if bridge is None:
            steps = steps_to_ecef(resolved.to_crs())
        else:
            steps = [checked_step(resolved.to_crs(), bridge), *steps_to_ecef(bridge)]
            notes.append(
                f"heights in {vertical.name} ({resolved.vertical_code}) are converted to "
                "DHHN2016 height first (EPSG offset-and-slope transformations via EVRF2007, cm "
                "level), then to ellipsoidal heights with GCG2016 (GEO-6)"
            )
    for step in steps:
        notes.extend(step.warnings)
    return Georeferencer(
        source=resolved,
        vertical_mode=vertical_mode,
        description="; then ".join(s.description for s in steps),
        warnings=tuple(notes),
        grids=tuple(dict.fromkeys(g for s in steps for g in s.grids)),
        _transformers=tuple(s.transformer for s in steps),
    )
