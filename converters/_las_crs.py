"""The CRS of a LAS/LAZ file: OGC WKT records, GeoTIFF keys, and plausibility checks (LAS-1).

Where a LAS file keeps its CRS
------------------------------
- **OGC WKT** (record ``LASF_Projection``/2112), as a VLR or, in LAS 1.4, an EVLR. Required for
  point formats 6-10; then the global-encoding WKT bit is set.
- **GeoTIFF keys** (``LASF_Projection`` 34735 GeoKeyDirectory, 34736 doubles, 34737 ASCII),
  the only form LAS 1.0-1.3 define.
- libLAS also copied the WKT into a record with user id ``liblas`` (2112).

Which one wins (:func:`read_file_crs`)
--------------------------------------
1. Point formats 6-10, or the WKT bit set: the WKT record (spec: these files use WKT only); the
   GeoTIFF keys are ignored, with a note when they are present.
2. Otherwise (point formats 0-5): the GeoTIFF keys; when they are absent or do not resolve, a
   WKT record (PDAL writes both into LAS 1.2 files), with a note.
3. libLAS' WKT copy when nothing else resolves.

GeoTIFF keys are decoded here, not by laspy: laspy's ``parse_crs`` ignores the vertical keys
(LAS-1, measured), which are common in US and German data. Handled: ``ProjectedCSTypeGeoKey``
(3072) and ``GeographicTypeGeoKey`` (2048) as EPSG codes; ``ProjLinearUnitsGeoKey`` (3076)
overriding the unit of the projected CRS (``mvk-thin.las``: EPSG:26995 in metres with US-feet
coordinates is NAD83 / Mississippi West (ftUS), EPSG:2255); ``VerticalCSTypeGeoKey`` (4096),
also when it holds a vertical *datum* code, and ``VerticalDatumGeoKey`` (4098) holding a
vertical CRS code (``4_6_crop.las``: 4096 = 5103 NAVD88 datum, 4098 = 5703 NAVD88 height);
``VerticalUnitsGeoKey`` (4099) selecting the unit (5703 in US feet is EPSG:6360). Key entries
with id 0 are skipped. User-defined projections (code 32767 with parameters) are not
reconstructed: their datum is rarely stated, and PROJ could only relate them with a ballpark
step (GEO-3); the message asks for ``--in-crs``.

A WKT CRS with a ``TOWGS84`` clause (PROJ: a BoundCRS) is used without it: PROJ then chooses
the EPSG transformation (with grids such as BETA2007 where they apply) instead of a
frequently null seven-parameter shift. CRSs written without authority codes (ESRI-style WKT)
are identified with their EPSG equivalent when PROJ finds an equal definition.

Plausibility (:func:`plausibility`)
-----------------------------------
The header bounds are compared with the CRS: a geographic CRS needs longitudes/latitudes in
degrees (``simple1_4.las`` declares EPSG:4326 for coordinates 1-226/1-100), a geocentric CRS
needs points near the Earth's surface (``lone-star.copc.laz`` declares ECEF for projected
coordinates 4,900 km from the centre), a projected CRS must map the centre of the data to a
point on the Earth; far outside the CRS's area of use is a warning.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import warnings
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import pyproj
from pyproj.database import get_units_map, query_crs_info
from pyproj.enums import PJType
from pyproj.exceptions import CRSError as ProjCRSError
from pyproj.exceptions import ProjError

from citymodel.converters._las_header import LASF_PROJECTION, LasLayout, RecordInfo
from citymodel.crs import ResolvedCRS, resolve_crs
from citymodel.crs.resolved import authority_code, crs_label, crs_label_and_name
from citymodel.errors import CRSError

__all__ = ["FileCRS", "GeoKeys", "decode_geokeys", "plausibility", "read_file_crs"]

_USER_DEFINED = 32767
_MODEL_PROJECTED, _MODEL_GEOGRAPHIC, _MODEL_GEOCENTRIC = 1, 2, 3
_KEY_MODEL_TYPE = 1024
_KEY_CITATION = 1026
_KEY_GEOGRAPHIC = 2048
_KEY_PROJECTED = 3072
_KEY_PCS_CITATION = 3073
_KEY_PROJ_LINEAR_UNITS = 3076
_KEY_VERTICAL = 4096
_KEY_VERTICAL_CITATION = 4097
_KEY_VERTICAL_DATUM = 4098
_KEY_VERTICAL_UNITS = 4099
_TAG_DOUBLES, _TAG_ASCII = 34736, 34737
_UNIT_SUFFIX = {"9002": " (ft)", "9003": " (ftUS)"}

# Earth's radius is 6,356.8-6,378.1 km; points of a geocentric file lie within ±50 km of it.
_ECEF_RADIUS_RANGE = (6.30e6, 6.43e6)
# How far (degrees) the data may lie outside a CRS's area of use before a warning.
_AREA_OF_USE_SLACK_DEG = 5.0


@dataclass(frozen=True, slots=True)
class FileCRS:
    """The CRS stored in a LAS file.

    Attributes
    ----------
    crs
        Resolved horizontal + vertical parts, None when the file has no usable CRS.
    record
        Where it came from: ``"WKT VLR"``, ``"WKT EVLR"``, ``"GeoTIFF keys"``,
        ``"libLAS WKT VLR"``; or ``"none"``.
    notes
        Decisions taken while reading it (ignored records, unit overrides, identified codes).
    problem
        Why CRS records that exist could not be used; None when there were none or one worked.
    """

    crs: ResolvedCRS | None
    record: str
    notes: tuple[str, ...] = ()
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class GeoKeys:
    """Decoded GeoTIFF keys: key id -> int, tuple of doubles, or text."""

    values: dict[int, int | tuple[float, ...] | str]
    notes: tuple[str, ...]

    def code(self, key: int) -> int | None:
        """The integer value of ``key`` (None when absent or not an integer)."""
        value = self.values.get(key)
        return value if isinstance(value, int) else None

    def text(self, *keys: int) -> str | None:
        """The first citation among ``keys``."""
        for key in keys:
            value = self.values.get(key)
            if isinstance(value, str) and value:
                return value
        return None


def decode_geokeys(directory: bytes, doubles: bytes, ascii_params: bytes) -> GeoKeys:
    """Decode the GeoKeyDirectory (34735) with its doubles (34736) and ASCII (34737) records.

    Raises
    ------
    ValueError
        When the directory is shorter than its own header.
    """
    if len(directory) < 8:
        raise ValueError(f"GeoKeyDirectory of {len(directory)} bytes is shorter than its header")
    _version, _revision, _minor, count = struct.unpack_from("<4H", directory)
    notes: list[str] = []
    fits = len(directory) // 8 - 1
    if count > fits:
        notes.append(f"GeoKeyDirectory announces {count} keys but holds {fits}")
        count = fits
    n_doubles = len(doubles) // 8
    double_values = struct.unpack_from(f"<{n_doubles}d", doubles) if n_doubles else ()
    text = ascii_params.decode("latin-1")
    values: dict[int, int | tuple[float, ...] | str] = {}
    zero_keys = 0
    for i in range(count):
        key, location, n, value = struct.unpack_from("<4H", directory, 8 * (i + 1))
        if key == 0:
            zero_keys += 1
        elif location == 0:
            values[key] = value
        elif location == _TAG_DOUBLES and value + n <= len(double_values):
            values[key] = tuple(double_values[value : value + n])
        elif location == _TAG_ASCII and value + n <= len(text):
            values[key] = text[value : value + n].replace("\0", "").rstrip("|").strip()
        else:
            notes.append(f"GeoTIFF key {key} points outside its parameter record; ignored")
    if zero_keys:
        notes.append(f"{zero_keys} empty GeoTIFF key entries (key id 0) ignored")
    return GeoKeys(values, tuple(notes))


# -- helpers ---------------------------------------------------------------------------------


@cache
def _linear_units() -> dict[str, tuple[str, float]]:
    """EPSG linear unit code -> (name, metres per unit)."""
    return {
        u.code: (u.name, u.conv_factor)
        for u in get_units_map(auth_name="EPSG", category="linear").values()
    }


def _epsg(code: int) -> pyproj.CRS | None:
    try:
        return pyproj.CRS.from_epsg(code)
    except ProjCRSError:
        return None


def _identified(crs: pyproj.CRS) -> tuple[pyproj.CRS, str | None]:
    """The EPSG CRS equal to ``crs`` when PROJ finds one (ESRI WKT, edited units), else ``crs``."""
    return _identify_cached(crs)


@lru_cache(maxsize=128)
def _identify_cached(crs: pyproj.CRS) -> tuple[pyproj.CRS, str | None]:
    # PROJ's identification costs about half a second for a CRS without a code; authority_code
    # caches its answer for the labels used later.
    if authority_code(crs) is not None:
        return crs, None
    for match in crs.list_authority(min_confidence=50):
        if match.auth_name != "EPSG":
            continue
        candidate = _epsg(int(match.code))
        if candidate is not None and candidate.equals(crs, ignore_axis_order=False):
            return candidate, f"identified {crs.name!r} as EPSG:{match.code} ({candidate.name})"
    return crs, None


def _unit_of(crs: pyproj.CRS) -> str | None:
    """EPSG code of the unit of the first axis (``"9001"``), None when unknown."""
    axes = crs.axis_info
    return axes[0].unit_code if axes and axes[0].unit_auth_code == "EPSG" else None


def _with_linear_unit(crs: pyproj.CRS, unit_code: str) -> pyproj.CRS:
    """``crs`` with every axis in the EPSG linear unit ``unit_code`` (same definition)."""
    name, factor = _linear_units()[unit_code]
    doc: dict[str, Any] = crs.to_json_dict()
    for axis in doc["coordinate_system"]["axis"]:
        axis["unit"] = {"type": "LinearUnit", "name": name, "conversion_factor": factor}
    doc.pop("id", None)
    # EPSG's naming convention ("NAD83 / Mississippi West (ftUS)") lets PROJ identify the code.
    doc["name"] = f"{crs.name}{_UNIT_SUFFIX.get(unit_code, f' ({name})')}"
    return pyproj.CRS.from_json_dict(doc)


def _unwrap_bound(crs: pyproj.CRS, notes: list[str]) -> pyproj.CRS:
    """Drop TOWGS84 (BoundCRS) wrappers, also inside a compound CRS."""
    if crs.is_bound and crs.source_crs is not None:
        notes.append(
            f"the TOWGS84 clause of {crs.source_crs.name!r} is not used; PROJ picks the "
            "EPSG transformation of its datum"
        )
        return _unwrap_bound(crs.source_crs, notes)
    if crs.is_compound:
        parts = [_unwrap_bound(part, notes) for part in crs.sub_crs_list]
        if any(p is not q for p, q in zip(parts, crs.sub_crs_list, strict=True)):
            return pyproj.CRS.from_json_dict(
                {
                    "type": "CompoundCRS",
                    "name": crs.name,
                    "components": [p.to_json_dict() for p in parts],
                }
            )
    return crs


def _resolved(crs: pyproj.CRS, record: str, notes: list[str]) -> ResolvedCRS:
    """Split into horizontal + vertical and give each part its EPSG identity when found."""
    # As WKT text: resolve_crs(CRS) would call CRS.to_string(), another identification.
    base = resolve_crs(_unwrap_bound(crs, notes).to_wkt())
    parts: list[pyproj.CRS | None] = []
    for part in (base.horizontal, base.vertical):
        if part is None:
            parts.append(None)
            continue
        found, note = _identified(part)
        if note:
            notes.append(note)
        parts.append(found)
    horizontal, vertical = parts
    resolved = ResolvedCRS(horizontal, vertical, source=record)
    return dataclasses.replace(resolved, source=f"LAS {record} {crs_label(resolved.to_crs())}")


# -- the records -----------------------------------------------------------------------------


def _wkt_text(record: RecordInfo) -> str:
    return record.payload.split(b"\0", 1)[0].decode("utf-8", errors="replace").strip()


def _from_wkt(record: RecordInfo, kind: str) -> tuple[ResolvedCRS | None, list[str], str | None]:
    notes: list[str] = []
    text = _wkt_text(record)
    if not text:
        return None, notes, f"the {kind} is empty"
    try:
        crs = pyproj.CRS.from_wkt(text)
    except ProjCRSError as err:
        return None, notes, f"the {kind} is not valid WKT ({str(err).splitlines()[0]})"
    try:
        return _resolved(crs, kind, notes), notes, None
    except CRSError as err:
        return None, notes, f"the {kind} ({crs.name!r}) cannot be used: {err}"


def _geokey_horizontal(keys: GeoKeys, notes: list[str]) -> tuple[pyproj.CRS | None, str | None]:
    model = keys.code(_KEY_MODEL_TYPE)
    projected, geographic = keys.code(_KEY_PROJECTED), keys.code(_KEY_GEOGRAPHIC)
    if model is None:
        model = _MODEL_PROJECTED if projected else _MODEL_GEOGRAPHIC if geographic else None
    citation = keys.text(_KEY_PCS_CITATION, _KEY_CITATION)
    named = f" ({citation!r})" if citation else ""
    if model == _MODEL_GEOCENTRIC:
        return None, "the GeoTIFF keys declare a geocentric model, which LAS files do not use"
    code, kind = (
        (projected, "projected") if model == _MODEL_PROJECTED else (geographic, "geographic")
    )
    if model not in (_MODEL_PROJECTED, _MODEL_GEOGRAPHIC) or code is None:
        return None, f"the GeoTIFF keys name no horizontal CRS{named}"
    if code == _USER_DEFINED:
        return None, (
            f"the GeoTIFF keys define a user-defined {kind} CRS{named} by parameters, without "
            "an EPSG code"
        )
    crs = _epsg(code)
    if crs is None:
        return None, f"the GeoTIFF keys name EPSG:{code} as {kind} CRS, which PROJ does not know"
    unit = keys.code(_KEY_PROJ_LINEAR_UNITS)
    if model == _MODEL_PROJECTED and unit not in (None, _USER_DEFINED):
        unit_code = str(unit)
        if unit_code not in _linear_units():
            notes.append(f"ProjLinearUnitsGeoKey {unit} is not a linear unit; ignored")
        elif unit_code != _unit_of(crs):
            changed, _ = _identified(_with_linear_unit(crs, unit_code))
            notes.append(
                f"ProjLinearUnitsGeoKey says {_linear_units()[unit_code][0]} while EPSG:{code} "
                f"is in {crs.axis_info[0].unit_name}: coordinates are taken as "
                f"{crs_label_and_name(changed)}"
            )
            crs = changed
    return crs, None


@cache
def _heights_by_datum() -> dict[int, tuple[tuple[int, str], ...]]:
    """EPSG vertical datum code -> (vertical CRS code, unit code) of its height CRSs.

    Built once per process from PROJ's database (about 300 vertical CRSs, half a second);
    needed only for files whose VerticalCSTypeGeoKey holds a datum code.
    """
    found: dict[int, list[tuple[int, str]]] = {}
    for info in query_crs_info(auth_name="EPSG", pj_types=PJType.VERTICAL_CRS):
        if info.deprecated:
            continue
        crs = pyproj.CRS.from_epsg(int(info.code))
        ident = crs.datum.to_json_dict().get("id") if crs.datum is not None else None
        axis = crs.axis_info[0] if crs.axis_info else None
        if ident and axis is not None and axis.direction == "up" and axis.unit_code:
            found.setdefault(int(ident["code"]), []).append((int(info.code), axis.unit_code))
    return {datum: tuple(crss) for datum, crss in found.items()}


def _vertical_from_code(code: int, unit_code: str | None) -> pyproj.CRS | None:
    """The vertical CRS with EPSG code ``code``; None when it is no vertical CRS."""
    crs = _epsg(code)
    return crs if crs is not None and crs.is_vertical else None


def _vertical_from_datum(code: int, unit_code: str | None) -> pyproj.CRS | None:
    """The EPSG height CRS of vertical datum ``code`` in ``unit_code`` (metres by default)."""
    candidates = _heights_by_datum().get(code, ())
    wanted = unit_code or "9001"
    for crs_code, unit in candidates:
        if unit == wanted:
            return _epsg(crs_code)
    return _epsg(candidates[0][0]) if candidates else None


def _geokey_vertical(keys: GeoKeys, notes: list[str]) -> pyproj.CRS | None:
    units = keys.code(_KEY_VERTICAL_UNITS)
    unit_code = str(units) if units is not None and str(units) in _linear_units() else None
    codes = [
        (key, code)
        for key in (_KEY_VERTICAL, _KEY_VERTICAL_DATUM)
        if (code := keys.code(key)) is not None and code not in (0, _USER_DEFINED)
    ]
    # A vertical CRS code wins over a datum code, whichever key holds it (both are misused).
    for lookup, kind in ((_vertical_from_code, "CRS"), (_vertical_from_datum, "datum")):
        for key, code in codes:
            vertical = lookup(code, unit_code)
            if vertical is None:
                continue
            if key == _KEY_VERTICAL_DATUM and kind == "CRS":
                notes.append(
                    f"VerticalDatumGeoKey holds the vertical CRS code {code}; used as such"
                )
            if key == _KEY_VERTICAL and kind == "datum":
                notes.append(
                    f"VerticalCSTypeGeoKey holds the vertical datum code {code}; heights taken "
                    f"as {crs_label_and_name(vertical)}"
                )
            if unit_code is not None and unit_code != _unit_of(vertical):
                changed, _ = _identified(_with_linear_unit(vertical, unit_code))
                notes.append(
                    f"VerticalUnitsGeoKey says {_linear_units()[unit_code][0]}: heights are "
                    f"taken as {crs_label_and_name(changed)}"
                )
                vertical = changed
            return vertical
    for key, code in codes:
        notes.append(f"GeoTIFF key {key} = {code} is no vertical CRS or datum; ignored")
    if unit_code is not None and unit_code != "9001" and not codes:
        citation = keys.text(_KEY_VERTICAL_CITATION)
        notes.append(
            f"VerticalUnitsGeoKey says heights are in {_linear_units()[unit_code][0]}"
            f"{f' ({citation!r})' if citation else ''}, but no vertical CRS is named"
        )
    return None


def _from_geokeys(layout: LasLayout) -> tuple[ResolvedCRS | None, list[str], str | None]:
    notes: list[str] = []
    directory = layout.find(LASF_PROJECTION, 34735)
    doubles = layout.find(LASF_PROJECTION, _TAG_DOUBLES)
    ascii_params = layout.find(LASF_PROJECTION, _TAG_ASCII)
    try:
        keys = decode_geokeys(
            directory[0].payload,
            doubles[0].payload if doubles else b"",
            ascii_params[0].payload if ascii_params else b"",
        )
    except ValueError as err:
        return None, notes, f"the GeoTIFF keys cannot be decoded: {err}"
    notes.extend(keys.notes)
    horizontal, problem = _geokey_horizontal(keys, notes)
    if horizontal is None:
        return None, notes, problem
    vertical = None
    if len(horizontal.axis_info) == 2:  # a 3D geographic CRS carries its heights itself
        vertical = _geokey_vertical(keys, notes)
    label = crs_label(horizontal)
    if vertical is not None:
        label = crs_label(ResolvedCRS(horizontal, vertical, source="GeoTIFF keys").to_crs())
    try:
        return ResolvedCRS(horizontal, vertical, source=f"LAS GeoTIFF keys {label}"), notes, None
    except CRSError as err:
        return None, notes, f"the GeoTIFF keys do not form a CRS: {err}"


def read_file_crs(layout: LasLayout) -> FileCRS:
    """The CRS stored in the file, by the precedence rules of this module (LAS-1).

    Never raises for bad CRS records: their problem is returned in :attr:`FileCRS.problem`.
    """
    wkt: list[tuple[str, RecordInfo | None]] = [
        (f"WKT {'EVLR' if r.extended else 'VLR'}", r) for r in layout.find(LASF_PROJECTION, 2112)
    ]
    keys: list[tuple[str, RecordInfo | None]] = (
        [("GeoTIFF keys", None)] if layout.find(LASF_PROJECTION, 34735) else []
    )
    wkt_first = layout.point_format >= 6 or layout.wkt_bit
    attempts: list[tuple[str, RecordInfo | None]] = [
        *(wkt + keys if wkt_first else keys + wkt),
        *(("libLAS WKT VLR", r) for r in layout.find("liblas", 2112)),
    ]
    notes: list[str] = []
    if layout.point_format >= 6 and not layout.wkt_bit and (wkt or keys):
        notes.append(
            f"point format {layout.point_format} requires a WKT CRS and the WKT bit, which is "
            "not set"
        )
    problems: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pyproj: "... lost in conversion"
        for index, (record, info) in enumerate(attempts):
            crs, attempt_notes, problem = (
                _from_geokeys(layout) if info is None else _from_wkt(info, record)
            )
            if crs is None:
                problems.append(problem or f"the {record} holds no CRS")
                continue
            if problems:
                notes.append(f"not used: {'; '.join(problems)}")
            notes.extend(attempt_notes)
            later = [r for r, _ in attempts[index + 1 :] if not r.startswith("libLAS")]
            if later:
                notes.append(
                    f"CRS taken from the {record}; the {', '.join(dict.fromkeys(later))} not used"
                )
            return FileCRS(crs, record, tuple(notes), None)
    return FileCRS(None, "none", tuple(notes), "; ".join(problems) or None)


def plausibility(
    crs: ResolvedCRS, mins: tuple[float, float, float], maxs: tuple[float, float, float]
) -> tuple[str | None, str | None]:
    """Check that coordinates within ``mins``..``maxs`` can be in ``crs``.

    Parameters
    ----------
    crs
        The CRS the coordinates are said to be in.
    mins, maxs
        ``(x, y, z)`` bounds of the data in the CRS's units.

    Returns
    -------
    tuple
        ``(error, warning)``: an error when the coordinates cannot be in this CRS (the data
        would land in the wrong hemisphere, inside the Earth or nowhere), a warning when they
        lie far outside the CRS's area of use; None for each when fine.
    """
    if not all(math.isfinite(v) for v in (*mins, *maxs)):
        return None, None
    horizontal = crs.horizontal
    if horizontal is None:
        return None, None
    label = crs_label_and_name(horizontal)
    cx, cy, cz = ((lo + hi) / 2.0 for lo, hi in zip(mins, maxs, strict=True))
    if horizontal.is_geocentric:
        radius = math.sqrt(cx * cx + cy * cy + cz * cz)
        lo, hi = _ECEF_RADIUS_RANGE
        if not lo <= radius <= hi:
            error = (
                f"the CRS {label} is geocentric (ECEF), but the centre of "
                f"the data lies {radius / 1000:,.0f} km from the Earth's centre (the surface is "
                f"at about 6,371 km); x {mins[0]:,.1f}..{maxs[0]:,.1f}, y {mins[1]:,.1f}.."
                f"{maxs[1]:,.1f}, z {mins[2]:,.1f}..{maxs[2]:,.1f} look like projected "
                "coordinates"
            )
            return error, None
        return None, None
    if horizontal.is_geographic:
        if not (mins[0] >= -180.0 and maxs[0] <= 360.0 and mins[1] >= -90.0 and maxs[1] <= 90.0):
            error = (
                f"the CRS {label} is geographic, but x {mins[0]:,.3f}.."
                f"{maxs[0]:,.3f}, y {mins[1]:,.3f}..{maxs[1]:,.3f} are not longitudes and "
                "latitudes in degrees"
            )
            return error, None
        lon, lat = cx, cy
    else:
        try:
            to_geographic = _to_geographic(horizontal)
            lon, lat = to_geographic.transform(cx, cy, errcheck=True)
        except ProjError:
            lon, lat = math.inf, math.inf
        if not (math.isfinite(lon) and math.isfinite(lat) and abs(lat) <= 90.0):
            error = (
                f"the centre of the data (x {cx:,.2f}, y {cy:,.2f}) has no position on the "
                f"Earth in the CRS {label}; these are not its coordinates"
            )
            return error, None
    area = horizontal.area_of_use
    if area is not None:
        s = _AREA_OF_USE_SLACK_DEG
        west, east = area.west, area.east if area.east >= area.west else area.east + 360.0
        lon_e = lon if lon >= west - s else lon + 360.0
        if not (west - s <= lon_e <= east + s and area.south - s <= lat <= area.north + s):
            return None, (
                f"the data (centre at longitude {lon:.3f}, latitude {lat:.3f}) lies far outside "
                f"the area of use of {label} ({_short(area.name)}); check the CRS"
            )
    return None, None


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip(" ,;") + "..."


@cache
def _to_geographic(crs: pyproj.CRS) -> pyproj.Transformer:
    geodetic = crs.geodetic_crs
    if geodetic is None:
        raise ProjError(f"{crs.name} has no geodetic CRS")
    return pyproj.Transformer.from_crs(crs, geodetic, always_xy=True)
