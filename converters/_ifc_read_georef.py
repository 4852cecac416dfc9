"""Where an IFC model lies: its georeferencing, found in a fixed order (IFC-1, IFC-2, IFC-3).

:func:`resolve_georeferencing` looks, in this order, for

1. ``IfcMapConversion`` (or IFC4X3 ``IfcMapConversionScaled``, ``IfcRigidOperation``) from the
   3D model context to an ``IfcProjectedCRS`` (IFC4, IFC4X3);
2. the IFC2X3 property sets ``ePSet_MapConversion`` + ``ePSet_ProjectedCRS`` (on IfcProject,
   else IfcSite; the buildingSMART georeferencing guide for IFC2X3);
3. ``IfcSite.RefLatitude/RefLongitude/RefElevation`` and the context's ``TrueNorth``:
   approximate, warned (see below);

unless the user gave ``--origin`` (with ``--in-crs``), which wins over all of them (warned when
the file has its own). Nothing found is a :class:`~citymodel.errors.CRSError` naming the
options to give.

The result, :class:`Georeferencing`, maps the engineering coordinates that IfcOpenShell's
geometry kernel returns (placements applied, **metres** whatever the project's length unit,
IFC-2) to the projected CRS (its axis units, easting/northing/height)::

    E = E0 + sx·cosθ·x − sy·sinθ·y
    N = N0 + sx·sinθ·x + sy·cosθ·y
    H = H0 + sz·z

with ``θ = atan2(XAxisOrdinate, XAxisAbscissa)`` (grid north, never TrueNorth, IFC-3) and
``sx = Scale·FactorX / u`` (``u`` = metres per project length unit: the Helmert parameters act on
project units; ``Scale`` converts project units to map units). The 1000× trap (IFC-2): a
millimetre model whose ``Scale`` is missing gets ``Scale = u / map unit`` (0.001 from a
millimetre project and a metre map unit) instead of the literal default 1.0, with a warning; an
explicit ``Scale`` is used as written (a suspicious 1.0 in a millimetre model is warned about).
Pre-release IFC4X3 ``ScaleY``/``ScaleZ`` are read from the raw instance when present.

IfcSite fallback: the site's reference point (the origin of its placement) is at
``RefLatitude/RefLongitude`` (WGS 84 degrees; degree, minute, second, millionth components
sharing one sign) and ``RefElevation`` (project units). The projected frame is the horizontal
part of ``--in-crs`` when given, else the UTM zone of the site (ETRS89 / UTM inside ETRS89's
area of use, e.g. EPSG:25832 in western Germany, else WGS 84 / UTM); the model is rotated so
that its ``TrueNorth`` points to true north at the site (the meridian convergence included) and
scaled by the projection's point scale factor. Heights are ``RefElevation`` + z in the vertical
CRS of ``--in-crs``, else the default of the CRS (DHHN2016 for ETRS89 / UTM 32/33, reported) or
an error asking for one. This is approximate (reference points are often rounded or set to the
office's address): the report says so.

A context ``WorldCoordinateSystem`` other than the identity is ignored, as by IfcOpenShell's
geometry kernel, and warned about.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyproj

from citymodel._typing import Float64Array
from citymodel.crs import ResolvedCRS, resolve_crs
from citymodel.errors import CRSError, CRSWarning

if TYPE_CHECKING:
    import ifcopenshell

__all__ = [
    "GeorefMethod",
    "Georeferencing",
    "compound_dms_to_degrees",
    "parse_origin",
    "resolve_georeferencing",
]

GeorefMethod = Literal[
    "IfcMapConversion", "IfcRigidOperation", "ePSet_MapConversion", "IfcSite", "origin"
]

_VERTICAL_NAMES: dict[str, int] = {
    "DHHN2016": 7837,
    "DHHN16": 7837,
    "DHHN12": 7837,
    "NHN": 7837,
    "DHHN92": 5783,
    "DHHN85": 5784,
    "NN": 5784,
    "NAP": 5709,
    "EVRF2007": 5621,
    "EVRF2019": 9389,
    "EVRF2000": 5730,
    "EGM96": 5773,
    "EGM2008": 3855,
    "NAVD88": 5703,
    "ODN": 5701,
    "NGFIGN69": 5720,
    "LN02": 5728,
    "LHN95": 5729,
    "GHA": 5778,
}
"""Vertical datum names seen in IfcProjectedCRS.VerticalDatum -> EPSG vertical CRS."""
_UNIT_LABELS: dict[str, float] = {
    "METRE": 1.0,
    "METER": 1.0,
    "M": 1.0,
    "MILLIMETRE": 0.001,
    "MILLIMETER": 0.001,
    "MM": 0.001,
    "CENTIMETRE": 0.01,
    "CENTIMETER": 0.01,
    "CM": 0.01,
    "KILOMETRE": 1000.0,
    "KILOMETER": 1000.0,
    "FOOT": 0.3048,
    "FT": 0.3048,
    "USSURVEYFOOT": 1200.0 / 3937.0,
}
_IDENTITY_TOLERANCE = 1e-9
_SCALE_TOLERANCE = 1e-6
_CONVERGENCE_STEP_DEG = 1e-4


@dataclass(frozen=True, slots=True, kw_only=True)
class Georeferencing:
    """How engineering coordinates of an IFC model become projected CRS coordinates.

    Attributes
    ----------
    method
        The rule applied: ``IfcMapConversion``, ``IfcRigidOperation``, ``ePSet_MapConversion``,
        ``IfcSite`` (approximate) or ``origin`` (``--origin`` from the user).
    srs_name
        The CRS of the output coordinates for the pipeline (``"EPSG:25832+7837"``; horizontal
        only when the file names no vertical datum); None for ``origin``, where the user's
        ``--in-crs`` is the CRS.
    crs_name, vertical_datum
        The CRS and vertical datum as named in the file (or by the user).
    eastings, northings, orthogonal_height
        The position of the engineering origin, as written (map units; for ``IfcSite`` the
        projected reference point in CRS units).
    rotation_deg
        Angle from grid east to the model's +x axis, counter-clockwise, degrees.
    scale, scale_y, scale_z
        The scale applied to project-unit coordinates (map units per project unit), per axis.
    scale_source
        ``file`` (as written), ``units`` (Scale missing: from the length units, IFC-2) or
        ``projection`` (IfcSite: the projection's point scale factor).
    length_unit_m, map_unit_m
        Metres per project length unit and per map unit.
    approximate
        True for the IfcSite fallback.
    notes
        Warnings for the job report (assumptions, substitutions, suspicious values).
    matrix, offset
        ``out = matrix @ xyz + offset``: engineering metres -> CRS axis units (row-major 3x3).
    extra
        Further facts for ``info`` (site latitude/longitude, TrueNorth, ...).
    """

    method: GeorefMethod
    srs_name: str | None
    crs_name: str | None
    vertical_datum: str | None
    eastings: float
    northings: float
    orthogonal_height: float
    rotation_deg: float
    scale: float
    scale_y: float
    scale_z: float
    scale_source: Literal["file", "units", "projection", "user"]
    length_unit_m: float
    map_unit_m: float
    approximate: bool
    notes: tuple[str, ...]
    matrix: tuple[float, ...]
    offset: tuple[float, float, float]
    extra: Mapping[str, Any] = field(default_factory=dict)

    def affine(self) -> tuple[Float64Array, Float64Array]:
        """``(matrix.T, offset)`` as arrays: ``xyz @ matrix.T + offset`` maps many batches."""
        matrix = np.asarray(self.matrix, dtype=np.float64).reshape(3, 3)
        return np.ascontiguousarray(matrix.T), np.asarray(self.offset, dtype=np.float64)

    def apply(self, xyz: Float64Array) -> Float64Array:
        """Engineering coordinates ``(N, 3)`` float64 metres -> projected CRS coordinates.

        Returns ``(N, 3)`` float64 easting, northing (CRS axis units) and height (vertical CRS
        units, metres for the usual datums).
        """
        transposed, offset = self.affine()
        out: Float64Array = xyz @ transposed + offset
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON form for ``info --json`` and the job report."""
        return {
            "method": self.method,
            "crs": self.srs_name,
            "crs_name": self.crs_name,
            "vertical_datum": self.vertical_datum,
            "eastings": self.eastings,
            "northings": self.northings,
            "orthogonal_height": self.orthogonal_height,
            "rotation_deg": round(self.rotation_deg, 9),
            "scale": self.scale,
            "scale_y": self.scale_y,
            "scale_z": self.scale_z,
            "scale_source": self.scale_source,
            "length_unit_m": self.length_unit_m,
            "map_unit_m": self.map_unit_m,
            "approximate": self.approximate,
            **dict(self.extra),
            "notes": list(self.notes),
        }


# -- helpers --------------------------------------------------------------------------------


def parse_origin(text: str) -> tuple[float, float, float, float]:
    """``"x,y,z[,rotation_deg]"`` -> a 4-tuple (rotation 0 when omitted).

    Raises
    ------
    ValueError
        Unless 3 or 4 finite numbers separated by commas are given.
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (3, 4):
        raise ValueError(f"expected x,y,z or x,y,z,rotation (3 or 4 numbers), got {text!r}")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"expected numbers in x,y,z[,rotation], got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"origin values must be finite, got {text!r}")
    if len(values) == 3:
        values.append(0.0)
    return (values[0], values[1], values[2], values[3])


def compound_dms_to_degrees(value: Sequence[int] | None) -> float | None:
    """IfcCompoundPlaneAngleMeasure (degrees, minutes, seconds[, millionths]) -> degrees.

    All components share one sign (IFC); None or fewer than 3 components give None.
    """
    if value is None or len(value) < 3:
        return None
    parts = [int(v) for v in value]
    sign = -1.0 if any(p < 0 for p in parts) else 1.0
    d, m, s = (abs(p) for p in parts[:3])
    micro = abs(parts[3]) if len(parts) > 3 else 0
    return sign * (d + m / 60.0 + (s + micro / 1e6) / 3600.0)


def _length_unit_m(model: ifcopenshell.file) -> float:
    import ifcopenshell.util.unit

    return float(ifcopenshell.util.unit.calculate_unit_scale(model))


def _named_unit_m(unit: Any) -> float | None:
    """Metres per unit of an IfcNamedUnit or a unit label; None when unknown."""
    if unit is None:
        return None
    if isinstance(unit, str):
        return _UNIT_LABELS.get(unit.upper().replace(" ", "").replace("_", "").replace(".", ""))
    import ifcopenshell.util.unit

    try:
        return float(ifcopenshell.util.unit.get_unit_scale(unit))
    except (AttributeError, TypeError, ValueError):
        return None


def _axis_unit_m(crs: pyproj.CRS | None) -> float:
    """Metres per axis unit of a CRS (1.0 when it has none or it is angular)."""
    if crs is None or not crs.axis_info:
        return 1.0
    info = crs.axis_info[0]
    if info.unit_name in ("degree", "radian", "grad"):
        return 1.0
    return float(info.unit_conversion_factor or 1.0)


def _vertical_code(text: str | None) -> tuple[str | None, str | None]:
    """VerticalDatum as written -> (``"EPSG:7837"`` or None, a note when not understood)."""
    if not text or not text.strip():
        return None, None
    key = "".join(c for c in text.upper() if c.isalnum())
    code = _VERTICAL_NAMES.get(key)
    if code is not None:
        return f"EPSG:{code}", None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CRSWarning)
        try:
            resolved = resolve_crs(text)
        except CRSError:
            resolved = None
    if resolved is not None and resolved.horizontal is None and resolved.vertical_code:
        return resolved.vertical_code, None
    return None, (
        f"vertical datum {text!r} is not understood and was ignored; give the compound CRS "
        "with --in-crs (e.g. EPSG:25832+7837)"
    )


def _horizontal(name: str | None, datum: str | None, zone: str | None) -> ResolvedCRS:
    """The CRS an IfcProjectedCRS names: by its Name, else by GeodeticDatum + MapZone (UTM).

    Raises
    ------
    CRSError
        When neither identifies a CRS.
    """
    if name:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CRSWarning)
            try:
                return resolve_crs(name)
            except CRSError:
                pass
    utm = _utm_from_zone(datum, zone)
    if utm is not None:
        return resolve_crs(utm)
    raise CRSError(
        f"the projected CRS {name!r} (geodetic datum {datum!r}, zone {zone!r}) is not a known "
        "CRS; give it with --in-crs (e.g. --in-crs EPSG:25832+7837)"
    )


def _utm_from_zone(datum: str | None, zone: str | None) -> str | None:
    if not zone:
        return None
    digits = "".join(c for c in zone if c.isdigit())
    if not digits or not 1 <= int(digits) <= 60:
        return None
    south = zone.strip().upper().endswith("S")
    number = int(digits)
    key = (datum or "").upper().replace(" ", "")
    if "ETRS" in key and 28 <= number <= 38 and not south:
        return f"EPSG:{25800 + number}"
    if "WGS" in key:
        return f"EPSG:{(32700 if south else 32600) + number}"
    return None


def _compose(horizontal: ResolvedCRS, vertical: str | None) -> str:
    """``"EPSG:25832"`` + ``"EPSG:7837"`` -> ``"EPSG:25832+7837"`` (the pipeline's srsName)."""
    base = horizontal.to_string()
    if vertical is None or horizontal.vertical is not None:
        return base
    if base.startswith("EPSG:") and vertical.startswith("EPSG:"):
        return f"{base}+{vertical.split(':', 1)[1]}"
    return f"{base}+{vertical}"


def _helmert(
    *,
    rotation: float,
    kx: float,
    ky: float,
    kz: float,
    offset: tuple[float, float, float],
    reference: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> tuple[tuple[float, ...], tuple[float, float, float]]:
    """Matrix and offset of ``out = offset + K·R·(xyz - reference)`` (rotation in radians)."""
    c, s = math.cos(rotation), math.sin(rotation)
    matrix = np.array([[kx * c, -ky * s, 0.0], [kx * s, ky * c, 0.0], [0.0, 0.0, kz]])
    shift = np.asarray(offset, dtype=np.float64) - matrix @ np.asarray(reference, np.float64)
    return tuple(float(v) for v in matrix.ravel()), (
        float(shift[0]),
        float(shift[1]),
        float(shift[2]),
    )


def _float(value: Any) -> float | None:
    if value is None:
        return None
    if hasattr(value, "wrappedValue"):
        value = value.wrappedValue
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _model_context(model: ifcopenshell.file) -> Any:
    """The 3D Model IfcGeometricRepresentationContext (not a sub-context), or None."""
    contexts = [
        c
        for c in model.by_type("IfcGeometricRepresentationContext", include_subtypes=False)
        if (c.ContextType or "").lower() == "model"
    ]
    for context in contexts:
        if context.CoordinateSpaceDimension == 3:
            return context
    return contexts[0] if contexts else None


def _wcs_note(model: ifcopenshell.file) -> str | None:
    import ifcopenshell.util.placement

    context = _model_context(model)
    if context is None or context.WorldCoordinateSystem is None:
        return None
    placement = context.WorldCoordinateSystem
    if not placement.is_a("IfcAxis2Placement3D"):
        return None
    matrix = ifcopenshell.util.placement.get_axis2placement(placement)
    if np.allclose(matrix, np.eye(4), atol=_IDENTITY_TOLERANCE):
        return None
    return (
        "the model context's WorldCoordinateSystem is not the identity; it is ignored (as by "
        "IfcOpenShell's geometry kernel), so positions may be off by it"
    )


# -- the rules -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Conversion:
    """Helmert parameters as written (map conversion or the IFC2X3 property sets)."""

    method: GeorefMethod
    eastings: float
    northings: float
    height: float
    abscissa: float | None
    ordinate: float | None
    scale: float | None
    factors: tuple[float, float, float]
    crs_name: str | None
    datum: str | None
    zone: str | None
    vertical: str | None
    map_unit_m: float | None


def _map_conversion(model: ifcopenshell.file, raw: Sequence[str]) -> _Conversion | None:
    """IFC4/IFC4X3 IfcMapConversion(Scaled) or IfcRigidOperation of the 3D model context."""
    if model.schema == "IFC2X3":
        return None
    operations = list(model.by_type("IfcCoordinateOperation"))
    context = _model_context(model)
    operations.sort(key=lambda op: op.SourceCRS != context)
    for op in operations:
        target = op.TargetCRS
        if target is None or not target.is_a("IfcProjectedCRS"):
            continue
        crs = {
            "crs_name": target.Name,
            "datum": getattr(target, "GeodeticDatum", None),
            "zone": getattr(target, "MapZone", None),
            "vertical": getattr(target, "VerticalDatum", None),
            "map_unit_m": _named_unit_m(getattr(target, "MapUnit", None)),
        }
        if op.is_a("IfcMapConversion"):
            factors = (1.0, 1.0, 1.0)
            if op.is_a("IfcMapConversionScaled"):
                factors = (
                    _float(op.FactorX) or 1.0,
                    _float(op.FactorY) or 1.0,
                    _float(op.FactorZ) or 1.0,
                )
            scale = _float(op.Scale)
            if len(raw) >= 10 and scale is not None:  # pre-release IFC4X3: ScaleY, ScaleZ
                sy, sz = (
                    _float(raw[8] if raw[8] != "$" else None),
                    _float(raw[9] if raw[9] != "$" else None),
                )
                factors = (1.0, (sy / scale) if sy else 1.0, (sz / scale) if sz else 1.0)
            return _Conversion(
                method="IfcMapConversion",
                eastings=_float(op.Eastings) or 0.0,
                northings=_float(op.Northings) or 0.0,
                height=_float(op.OrthogonalHeight) or 0.0,
                abscissa=_float(op.XAxisAbscissa),
                ordinate=_float(op.XAxisOrdinate),
                scale=scale,
                factors=factors,
                **crs,
            )
        if op.is_a("IfcRigidOperation"):
            first, second = _float(op.FirstCoordinate), _float(op.SecondCoordinate)
            if first is None or second is None:
                continue
            return _Conversion(
                method="IfcRigidOperation",
                eastings=first,
                northings=second,
                height=_float(op.Height) or 0.0,
                abscissa=None,
                ordinate=None,
                scale=None,
                factors=(1.0, 1.0, 1.0),
                **crs,
            )
    return None


def _epset_conversion(model: ifcopenshell.file) -> _Conversion | None:
    """IFC2X3 ePSet_MapConversion + ePSet_ProjectedCRS (IfcProject first, then IfcSite)."""
    if not any(p.Name == "ePSet_MapConversion" for p in model.by_type("IfcPropertySet")):
        return None  # most models: no need to import ifcopenshell.util.element (and shapely)
    import ifcopenshell.util.element

    for holder in [*model.by_type("IfcProject"), *model.by_type("IfcSite")]:
        conversion = ifcopenshell.util.element.get_pset(holder, "ePSet_MapConversion")
        if not conversion:
            continue
        crs = ifcopenshell.util.element.get_pset(holder, "ePSet_ProjectedCRS") or {}
        if not crs:
            for other in [*model.by_type("IfcProject"), *model.by_type("IfcSite")]:
                crs = ifcopenshell.util.element.get_pset(other, "ePSet_ProjectedCRS") or {}
                if crs:
                    break
        return _Conversion(
            method="ePSet_MapConversion",
            eastings=_float(conversion.get("Eastings")) or 0.0,
            northings=_float(conversion.get("Northings")) or 0.0,
            height=_float(conversion.get("OrthogonalHeight")) or 0.0,
            abscissa=_float(conversion.get("XAxisAbscissa")),
            ordinate=_float(conversion.get("XAxisOrdinate")),
            scale=_float(conversion.get("Scale")),
            factors=(1.0, 1.0, 1.0),
            crs_name=_text(crs.get("Name")),
            datum=_text(crs.get("GeodeticDatum")),
            zone=_text(crs.get("MapZone")),
            vertical=_text(crs.get("VerticalDatum")),
            map_unit_m=_named_unit_m(crs.get("MapUnit")),
        )
    return None


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _from_conversion(
    conv: _Conversion, *, length_unit_m: float, in_crs: str | None, notes: list[str]
) -> Georeferencing:
    crs = _horizontal(conv.crs_name, conv.datum, conv.zone)
    vertical, vertical_note = _vertical_code(conv.vertical)
    if vertical_note:
        notes.append(vertical_note)
    map_unit_m = conv.map_unit_m
    if map_unit_m is None:
        map_unit_m = _axis_unit_m(crs.horizontal)
    unit_ratio = length_unit_m / map_unit_m
    source: Literal["file", "units"]
    if conv.scale is None:
        scale, source = unit_ratio, "units"
        if abs(unit_ratio - 1.0) > _SCALE_TOLERANCE:
            notes.append(
                f"{conv.method} has no Scale; the project length unit ({length_unit_m:g} m) "
                f"differs from the map unit ({map_unit_m:g} m), so Scale = {unit_ratio:g} is "
                "taken from the units instead of the default 1.0 (IFC-2)"
            )
    else:
        scale, source = conv.scale, "file"
        if abs(unit_ratio - 1.0) > 0.5 and abs(scale - 1.0) < 0.01:
            notes.append(
                f"{conv.method} Scale is {scale:g} although the project length unit is "
                f"{length_unit_m:g} m and the map unit {map_unit_m:g} m: if the model lands "
                f"{1 / unit_ratio:g}x too large, the file's Scale is wrong (IFC-2)"
            )
    if (conv.abscissa is None and conv.ordinate is None) or (
        not conv.abscissa and not conv.ordinate
    ):
        rotation = 0.0
    else:
        rotation = math.atan2(conv.ordinate or 0.0, conv.abscissa or 0.0)
    vertical_crs = pyproj.CRS.from_user_input(vertical) if vertical else None
    to_h = map_unit_m / _axis_unit_m(crs.horizontal)
    to_v = map_unit_m / _axis_unit_m(vertical_crs or crs.vertical)
    fx, fy, fz = conv.factors
    matrix, offset = _helmert(
        rotation=rotation,
        kx=scale * fx / length_unit_m * to_h,
        ky=scale * fy / length_unit_m * to_h,
        kz=scale * fz / length_unit_m * to_v,
        offset=(conv.eastings * to_h, conv.northings * to_h, conv.height * to_v),
    )
    srs_name = _compose(crs, vertical)
    _check_in_crs(in_crs, crs, conv.method, notes)
    return Georeferencing(
        method=conv.method,
        srs_name=srs_name,
        crs_name=conv.crs_name,
        vertical_datum=conv.vertical,
        eastings=conv.eastings,
        northings=conv.northings,
        orthogonal_height=conv.height,
        rotation_deg=math.degrees(rotation),
        scale=scale,
        scale_y=scale * fy / fx if fx else scale,
        scale_z=scale * fz / fx if fx else scale,
        scale_source=source,
        length_unit_m=length_unit_m,
        map_unit_m=map_unit_m,
        approximate=False,
        notes=tuple(notes),
        matrix=matrix,
        offset=offset,
        extra={"factors": list(conv.factors)} if conv.factors != (1.0, 1.0, 1.0) else {},
    )


def _check_in_crs(in_crs: str | None, crs: ResolvedCRS, method: str, notes: list[str]) -> None:
    if in_crs is None:
        return
    user = resolve_crs(in_crs)
    if user.horizontal_code != crs.horizontal_code:
        notes.append(
            f"--in-crs {in_crs} overrides the CRS {crs.to_string()} of the file's {method}; "
            "the coordinates computed from it are taken as --in-crs coordinates"
        )


def _site_reference(
    model: ifcopenshell.file, *, length_unit_m: float, in_crs: str | None, notes: list[str]
) -> Georeferencing | None:
    """The IfcSite RefLatitude/RefLongitude/RefElevation fallback (approximate)."""
    import ifcopenshell.util.placement

    for site in model.by_type("IfcSite"):
        lat = compound_dms_to_degrees(site.RefLatitude)
        lon = compound_dms_to_degrees(site.RefLongitude)
        if lat is None or lon is None:
            continue
        if lat == 0.0 and lon == 0.0:
            notes.append("IfcSite RefLatitude/RefLongitude are 0/0 (a placeholder); ignored")
            continue
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            notes.append(f"IfcSite RefLatitude/RefLongitude {lat}/{lon} out of range; ignored")
            continue
        elevation = (_float(site.RefElevation) or 0.0) * length_unit_m
        origin = (0.0, 0.0, 0.0)
        if site.ObjectPlacement is not None:
            placed = ifcopenshell.util.placement.get_local_placement(site.ObjectPlacement)
            x, y, z = (float(v) * length_unit_m for v in placed[:3, 3])
            origin = (x, y, z)
        return _site_georeferencing(
            model,
            lat=lat,
            lon=lon,
            elevation=elevation,
            origin=origin,
            length_unit_m=length_unit_m,
            in_crs=in_crs,
            notes=notes,
        )
    return None


def _site_crs(lat: float, lon: float, in_crs: str | None) -> tuple[ResolvedCRS, str]:
    """The projected frame of the IfcSite fallback and the srsName for the pipeline."""
    if in_crs is not None:
        user = resolve_crs(in_crs)
        if user.horizontal is None or not user.horizontal.is_projected:
            raise CRSError(
                f"--in-crs {in_crs} is not a projected CRS; the IfcSite latitude/longitude must "
                "be placed in a projected CRS (e.g. --in-crs EPSG:25832+7837)"
            )
        return user, user.to_string()
    zone = int((lon + 180.0) // 6.0) + 1
    if 56.0 <= lat < 64.0 and 3.0 <= lon < 12.0:
        zone = 32  # Norway's exception to the 6-degree zones
    zone = min(max(zone, 1), 60)
    code = (32600 if lat >= 0 else 32700) + zone
    if lat >= 0 and 28 <= zone <= 38:
        etrs = pyproj.CRS.from_epsg(25800 + zone)
        area = etrs.area_of_use
        if area is not None and area.west <= lon <= area.east and area.south <= lat <= area.north:
            code = 25800 + zone
    resolved = resolve_crs(f"EPSG:{code}")
    return resolved, resolved.to_string()


def _site_georeferencing(
    model: ifcopenshell.file,
    *,
    lat: float,
    lon: float,
    elevation: float,
    origin: tuple[float, float, float],
    length_unit_m: float,
    in_crs: str | None,
    notes: list[str],
) -> Georeferencing:
    crs, srs_name = _site_crs(lat, lon, in_crs)
    horizontal = crs.horizontal
    if horizontal is None:  # pragma: no cover - _site_crs checked it
        raise CRSError("no horizontal CRS for the IfcSite fallback")
    to_projected = pyproj.Transformer.from_crs("EPSG:4326", horizontal, always_xy=True)
    east, north = to_projected.transform(lon, lat)
    east_n, north_n = to_projected.transform(lon, lat + _CONVERGENCE_STEP_DEG)
    grid_north = math.atan2(north_n - north, east_n - east)  # true north, as a grid angle
    context = _model_context(model)
    true_north = (0.0, 1.0)
    if context is not None and context.TrueNorth is not None:
        ratios = context.TrueNorth.DirectionRatios
        if len(ratios) >= 2 and (ratios[0] or ratios[1]):
            true_north = (float(ratios[0]), float(ratios[1]))
    rotation = grid_north - math.atan2(true_north[1], true_north[0])
    rotation = math.atan2(math.sin(rotation), math.cos(rotation))
    factors = pyproj.Proj(horizontal).get_factors(lon, lat)
    k = float(factors.meridional_scale)
    unit = _axis_unit_m(horizontal)
    vertical_unit = _axis_unit_m(crs.vertical)
    matrix, offset = _helmert(
        rotation=rotation,
        kx=k / unit,
        ky=k / unit,
        kz=1.0 / vertical_unit,
        offset=(east, north, elevation / vertical_unit),
        reference=origin,
    )
    notes.append(
        f"placed by IfcSite RefLatitude/RefLongitude ({lat:.7f}, {lon:.7f}) and RefElevation "
        f"{elevation:g} m in {srs_name}, rotated by the model's TrueNorth: approximate (site "
        "reference points are often rounded); give --in-crs and --origin for an exact placement"
    )
    return Georeferencing(
        method="IfcSite",
        srs_name=srs_name,
        crs_name=srs_name,
        vertical_datum=crs.vertical_code,
        eastings=east,
        northings=north,
        orthogonal_height=elevation,
        rotation_deg=math.degrees(rotation),
        scale=k * length_unit_m,
        scale_y=k * length_unit_m,
        scale_z=length_unit_m,
        scale_source="projection",
        length_unit_m=length_unit_m,
        map_unit_m=unit,
        approximate=True,
        notes=tuple(notes),
        matrix=matrix,
        offset=offset,
        extra={
            "site_latitude": lat,
            "site_longitude": lon,
            "site_elevation_m": elevation,
            "true_north": list(true_north),
        },
    )


def _user_origin(
    origin: tuple[float, float, float, float],
    *,
    in_crs: str | None,
    path: Path,
    length_unit_m: float,
    notes: list[str],
) -> Georeferencing:
    if in_crs is None:
        raise CRSError(
            f"{path}: --origin {','.join(f'{v:g}' for v in origin)} needs --in-crs, the CRS of "
            "those coordinates (e.g. --in-crs EPSG:25832+7837)"
        )
    crs = resolve_crs(in_crs)
    if crs.horizontal is None or not crs.horizontal.is_projected:
        raise CRSError(
            f"{path}: --origin needs a projected --in-crs (easting, northing in metres), got "
            f"{in_crs}"
        )
    x, y, z, rotation_deg = origin
    unit = _axis_unit_m(crs.horizontal)
    vertical_unit = _axis_unit_m(crs.vertical)
    matrix, offset = _helmert(
        rotation=math.radians(rotation_deg),
        kx=1.0 / unit,
        ky=1.0 / unit,
        kz=1.0 / vertical_unit,
        offset=(x, y, z),
    )
    return Georeferencing(
        method="origin",
        srs_name=None,
        crs_name=in_crs,
        vertical_datum=crs.vertical_code,
        eastings=x,
        northings=y,
        orthogonal_height=z,
        rotation_deg=rotation_deg,
        scale=length_unit_m / unit,
        scale_y=length_unit_m / unit,
        scale_z=length_unit_m / vertical_unit,
        scale_source="user",
        length_unit_m=length_unit_m,
        map_unit_m=unit,
        approximate=False,
        notes=tuple(notes),
        matrix=matrix,
        offset=offset,
    )


def describe_missing(path: Path) -> str:
    """The message for a model that cannot be placed."""
    return (
        f"{path}: the IFC model has no georeferencing (no IfcMapConversion, no "
        "ePSet_MapConversion, no IfcSite RefLatitude/RefLongitude); place it with --in-crs CRS "
        "--origin E,N,H[,ROTATION_DEG] (the projected coordinates of the model's origin and the "
        "angle from grid east to its x axis, counter-clockwise), e.g. --in-crs EPSG:25832+7837 "
        "--origin 458658.78,5438232.79,113.7,0"
    )


def resolve_georeferencing(
    model: ifcopenshell.file,
    *,
    path: Path,
    in_crs: str | None = None,
    origin: tuple[float, float, float, float] | None = None,
    raw_map_conversion: Sequence[str] = (),
) -> Georeferencing:
    """Find how the model is georeferenced (see the module docstring for the order).

    Parameters
    ----------
    model
        The opened IFC model.
    path
        The file (for messages).
    in_crs
        The user's ``--in-crs``: the CRS of ``origin``, the projected frame of the IfcSite
        fallback, or (with a map conversion) a CRS overriding the file's (warned when its
        horizontal part differs).
    origin
        The user's ``--origin`` (x, y, z, rotation_deg): wins over the file's georeferencing.
    raw_map_conversion
        Arguments of the IFCMAPCONVERSION as written (pre-release IFC4X3 ScaleY/ScaleZ).

    Raises
    ------
    CRSError
        No georeferencing and no ``origin``; ``origin`` without ``in_crs``; an unknown CRS.
    """
    length_unit_m = _length_unit_m(model)
    notes: list[str] = []
    wcs = _wcs_note(model)
    if wcs:
        notes.append(wcs)
    conversion = _map_conversion(model, raw_map_conversion) or _epset_conversion(model)
    if origin is not None:
        if conversion is not None:
            notes.append(
                f"--origin overrides the file's {conversion.method} "
                f"(E {conversion.eastings:g}, N {conversion.northings:g}, H {conversion.height:g})"
            )
        return _user_origin(
            origin, in_crs=in_crs, path=path, length_unit_m=length_unit_m, notes=notes
        )
    if conversion is not None:
        try:
            return _from_conversion(
                conversion, length_unit_m=length_unit_m, in_crs=in_crs, notes=notes
            )
        except CRSError as err:
            if in_crs is None:
                raise CRSError(f"{path}: {err}") from err
            notes.append(f"{err}; --in-crs {in_crs} is used instead")
            conversion = dataclasses.replace(conversion, crs_name=in_crs)
            return _from_conversion(
                conversion, length_unit_m=length_unit_m, in_crs=None, notes=notes
            )
    site = _site_reference(model, length_unit_m=length_unit_m, in_crs=in_crs, notes=notes)
    if site is not None:
        return site
    raise CRSError(describe_missing(path))
