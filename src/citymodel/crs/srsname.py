"""srsName normalisation (AX-1, AX-2) and axis order (AX-3).

:func:`parse_srs_name` maps every srsName form found in CityGML/CityJSON files (EPSG short
codes, OGC URNs and URLs, compound URNs, ``crs-compound`` URLs, AdV URNs) to a
:class:`~citymodel.crs.resolved.ResolvedCRS` *before* pyproj sees it; unknown strings are an
error, not a guess. :func:`resolve_crs` also takes user input (``--in-crs``: any of those,
``EPSG:25832+7837``, WKT, an EPSG integer). :func:`axis_order_is_lat_lon` tells GML readers
when to swap latitude-first coordinates.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from urllib.parse import parse_qsl

import pyproj
from pyproj.exceptions import CRSError as ProjCRSError

from citymodel.crs.resolved import CRSLike, ResolvedCRS
from citymodel.errors import CRSError, CRSWarning

__all__ = ["axis_order_is_lat_lon", "parse_srs_name", "resolve_crs"]

_URN_OGC = re.compile(
    r"^urn:(?:x-)?ogc:def:crs:(?P<auth>[a-z][a-z0-9_]*):(?:(?P<ver>[^:]*):)?(?P<code>[^:]+)$",
    re.IGNORECASE,
)
_URN_COMPOUND = re.compile(r"^urn:(?:x-)?ogc:def:crs,(?P<parts>.+)$", re.IGNORECASE)
_HTTP_CRS = re.compile(
    r"^https?://(?:www\.)?opengis\.net/def/crs/(?P<auth>[^/]+)/(?P<ver>[^/]+)/(?P<code>[^/?#]+)/?$",
    re.IGNORECASE,
)
_HTTP_COMPOUND = re.compile(
    r"^https?://(?:www\.)?opengis\.net/def/crs-compound\?(?P<query>.+)$", re.IGNORECASE
)
_HTTP_GML_EPSG = re.compile(
    r"^https?://(?:www\.)?opengis\.net/gml/srs/epsg\.xml#(?P<code>\d+)$", re.IGNORECASE
)
_SHORT = re.compile(r"^(?P<auth>EPSG|OGC|ESRI|IGNF):(?P<code>[^:/\s]+)$", re.IGNORECASE)
_ADV = re.compile(r"^urn:adv:crs:(?P<body>.+)$", re.IGNORECASE)
_BARE_CODES = re.compile(r"^\d+(?:\+\d+)?$")

# AX-2: AdV CRS names (GeoInfoDok) -> EPSG. Matched on the upper-cased token.
_ADV_HORIZONTAL: dict[str, int] = {
    "ETRS89_UTM31": 25831,
    "ETRS89_UTM32": 25832,
    "ETRS89_UTM33": 25833,
    "ETRS89_LAT-LON": 4258,
    "ETRS89_LAT-LON-H": 4937,
    "ETRS89_X-Y-Z": 4936,
}
# DHDN Gauss-Krüger zones 2..5, optionally with a state realisation suffix (_NW101, _HE100...).
_ADV_DHDN_GK = re.compile(r"^DE_DHDN_3GK(?P<zone>[2-5])(?:_[A-Z]{2}\d{3})?$")
_ADV_VERTICAL: dict[str, int] = {
    "DE_DHHN2016_NH": 7837,
    "DE_DHHN92_NH": 5783,
}
# A misspelling found in 3DCityDB documentation and data exported with it (AX-2).
_ADV_VERTICAL_TYPOS: dict[str, str] = {"DE_DHN92_NH": "DE_DHHN92_NH"}
# The third token names the quasigeoid model; it is informative only.
_ADV_GEOID = re.compile(r"^GCG\d{4}$")


def _srs_error(message: str) -> CRSError:
    """A CRS identifier that cannot be resolved: always point to the way out."""
    if "--in-crs" not in message:
        message += "; set the CRS explicitly with --in-crs (e.g. --in-crs EPSG:25832+7837)"
    return CRSError(message)


def _crs_from_authority(auth: str, code: str, srs_name: str) -> pyproj.CRS:
    auth = auth.upper()
    if auth == "EPSG" and not code.isdigit():
        raise _srs_error(f"{srs_name!r}: EPSG code {code!r} is not a number")
    try:
        return pyproj.CRS.from_authority(auth, code)
    except ProjCRSError as err:
        raise _srs_error(f"{srs_name!r}: PROJ does not know {auth}:{code}") from err


def _codes(auth: str, code: str, srs_name: str) -> list[pyproj.CRS]:
    """``code`` may be ``25832+7837`` (PROJ's compound syntax)."""
    return [_crs_from_authority(auth, c.strip(), srs_name) for c in code.split("+")]


def _split(crss: Sequence[pyproj.CRS], source: str) -> ResolvedCRS:
    """Flatten compound CRSs and sort the parts into (horizontal, vertical)."""
    flat: list[pyproj.CRS] = []
    for crs in crss:
        flat.extend(crs.sub_crs_list if crs.is_compound else [crs])
    horizontals = [c for c in flat if not c.is_vertical]
    verticals = [c for c in flat if c.is_vertical]
    if len(horizontals) > 1 or len(verticals) > 1:
        raise _srs_error(
            f"{source!r} names {len(horizontals)} horizontal and {len(verticals)} vertical "
            "CRSs; expected at most one of each"
        )
    if horizontals and verticals and flat.index(horizontals[0]) > flat.index(verticals[0]):
        raise _srs_error(f"{source!r}: the horizontal CRS must come before the vertical one")
    for crs in horizontals:
        if crs.is_engineering:
            raise _srs_error(
                f"{source!r} is a local engineering CRS ({crs.name!r}) that cannot be placed "
                "on the globe; give the real CRS with --in-crs"
            )
    return ResolvedCRS(
        horizontal=horizontals[0] if horizontals else None,
        vertical=verticals[0] if verticals else None,
        source=source,
    )


def _parse_adv(body: str, srs_name: str) -> tuple[list[pyproj.CRS], str | None]:
    """``<horizontal>[*<height system>[*<geoid>]]`` or ``<height system>[*<geoid>]`` (AX-2)."""
    tokens = [t.strip() for t in body.upper().split("*")]
    typo: str | None = None

    def vertical(token: str) -> pyproj.CRS:
        nonlocal typo
        if token in _ADV_VERTICAL_TYPOS:
            typo = (
                f"srsName {srs_name!r}: AdV height system {token!r} is read as "
                f"{_ADV_VERTICAL_TYPOS[token]!r} (DHHN92, EPSG:5783)"
            )
            token = _ADV_VERTICAL_TYPOS[token]
        code = _ADV_VERTICAL.get(token)
        if code is None:
            raise _srs_error(f"{srs_name!r}: unknown AdV height system {token!r}")
        return pyproj.CRS.from_epsg(code)

    def horizontal(token: str) -> pyproj.CRS:
        if token in _ADV_HORIZONTAL:
            return pyproj.CRS.from_epsg(_ADV_HORIZONTAL[token])
        if gk := _ADV_DHDN_GK.match(token):
            return pyproj.CRS.from_epsg(31464 + int(gk["zone"]))
        raise _srs_error(f"{srs_name!r}: unknown AdV reference system {token!r}")

    first, rest = tokens[0], tokens[1:]
    if first in _ADV_VERTICAL or first in _ADV_VERTICAL_TYPOS:
        crss = [vertical(first)]
    else:
        crss = [horizontal(first)]
        if rest:
            crss.append(vertical(rest.pop(0)))
    for token in rest:
        if not _ADV_GEOID.match(token):
            raise _srs_error(f"{srs_name!r}: unknown AdV geoid/extension token {token!r}")
    return crss, typo


def _parse_known_forms(text: str) -> tuple[ResolvedCRS, str | None] | None:
    """Parse the srsName forms of AX-1/AX-2; None when ``text`` matches none of them."""
    typo: str | None = None
    crss: list[pyproj.CRS]
    if (m := _SHORT.match(text)) or (m := _URN_OGC.match(text)):
        crss = _codes(m["auth"], m["code"], text)
    elif m := _URN_COMPOUND.match(text):
        crss = []
        for part in m["parts"].split(","):
            sub = _URN_OGC.match("urn:ogc:def:" + part.strip())
            if not part.strip().lower().startswith("crs:") or sub is None:
                raise _srs_error(f"{text!r}: cannot read compound part {part!r}")
            crss.extend(_codes(sub["auth"], sub["code"], text))
    elif m := _HTTP_CRS.match(text):
        crss = _codes(m["auth"], m["code"], text)
    elif m := _HTTP_COMPOUND.match(text):
        params = parse_qsl(m["query"], keep_blank_values=True)
        if not params or not all(k.isdigit() for k, _ in params):
            raise _srs_error(f"{text!r}: expected parameters 1=<crs URI>&2=<crs URI>")
        crss = []
        for _, uri in sorted(params, key=lambda kv: int(kv[0])):
            sub = _HTTP_CRS.match(uri.strip())
            if sub is None:
                raise _srs_error(f"{text!r}: cannot read compound part {uri!r}")
            crss.extend(_codes(sub["auth"], sub["code"], text))
    elif m := _HTTP_GML_EPSG.match(text):
        crss = _codes("EPSG", m["code"], text)
    elif m := _ADV.match(text):
        crss, typo = _parse_adv(m["body"], text)
    else:
        return None
    return _split(crss, text), typo


_PARSE_CACHE: dict[str, tuple[ResolvedCRS, str | None] | None] = {}


def _parse_cached(text: str) -> tuple[ResolvedCRS, str | None] | None:
    # srsName strings repeat on every geometry of a file: parse each distinct one once.
    try:
        return _PARSE_CACHE[text]
    except KeyError:
        result = _parse_known_forms(text)
        if len(_PARSE_CACHE) < 4096:
            _PARSE_CACHE[text] = result
        return result


def _local_reference_error(text: str) -> CRSError:
    return CRSError(
        f"srsName {text!r} refers to a CRS defined inside the document (a local or "
        "engineering CRS); citymodel cannot place it on the globe. Give the real CRS with "
        "--in-crs, e.g. --in-crs EPSG:25832+7837"
    )


def _warn_typo(typo: str | None) -> None:
    if typo:
        warnings.warn(typo, CRSWarning, stacklevel=3)


def parse_srs_name(srs_name: str) -> ResolvedCRS:
    """Resolve an srsName / CRS identifier as written in a data file (AX-1, AX-2).

    Accepted (case-insensitive): ``EPSG:25832``, ``EPSG:25832+7837``,
    ``urn:ogc:def:crs:EPSG:[version]:25832`` (also ``urn:x-ogc``, and ``...::25832+7837``),
    ``urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::7837``,
    ``http(s)://www.opengis.net/def/crs/EPSG/0/25832``,
    ``http://www.opengis.net/def/crs-compound?1=<uri>&2=<uri>``,
    ``http://www.opengis.net/gml/srs/epsg.xml#25832``, ``OGC:CRS84`` and AdV URNs
    ``urn:adv:crs:<horizontal>[*<height system>[*<geoid>]]`` such as
    ``urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH*GCG2016``. EPSG codes that are compound CRSs
    (EPSG:5555, EPSG:7415) are split into their parts.

    Parameters
    ----------
    srs_name
        The identifier.

    Returns
    -------
    ResolvedCRS
        Horizontal and vertical parts; ``assumed_vertical`` is False.

    Raises
    ------
    CRSError
        For unknown forms, unknown codes and references to CRSs defined in the document
        (``#local-CRS-1``); the message suggests ``--in-crs``.

    Warns
    -----
    CRSWarning
        When an AdV token had to be corrected (``DE_DHN92_NH`` -> DHHN92).
    """
    text = srs_name.strip()
    if text.startswith("#"):
        raise _local_reference_error(text)
    parsed = _parse_cached(text)
    if parsed is None:
        raise CRSError(
            f"unknown srsName {srs_name!r}: not an EPSG code, OGC URN/URL or AdV URN that "
            "citymodel can resolve; set the CRS explicitly with --in-crs "
            "(e.g. --in-crs EPSG:25832+7837)"
        )
    _warn_typo(parsed[1])
    return parsed[0]


def resolve_crs(value: CRSLike) -> ResolvedCRS:
    """Resolve user input (``--in-crs``) or any CRS-like value to a :class:`ResolvedCRS`.

    Parameters
    ----------
    value
        Any srsName form :func:`parse_srs_name` accepts, ``"25832"`` / ``"25832+7837"``,
        WKT, PROJJSON or PROJ strings, an EPSG integer, a :class:`pyproj.CRS`, or an already
        resolved CRS (returned unchanged).

    Returns
    -------
    ResolvedCRS
        Horizontal and vertical parts.

    Raises
    ------
    CRSError
        If the value cannot be resolved.
    """
    if isinstance(value, ResolvedCRS):
        return value
    if isinstance(value, pyproj.CRS):
        return _split([value], value.to_string())
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise CRSError(f"cannot use {value!r} ({type(value).__name__}) as a CRS")
    text = f"EPSG:{value}" if isinstance(value, int) else value.strip()
    if _BARE_CODES.match(text):
        text = f"EPSG:{text}"
    if text.startswith("#"):
        raise _local_reference_error(text)
    parsed = _parse_cached(text)
    if parsed is not None:
        _warn_typo(parsed[1])
        return parsed[0]
    try:
        crs = pyproj.CRS.from_user_input(text)
    except ProjCRSError as err:
        raise CRSError(
            f"cannot resolve CRS {value!r}: expected e.g. EPSG:25832+7837, an OGC URN/URL, "
            "an AdV URN or WKT"
        ) from err
    return _split([crs], str(value))


_GIS_ORDER_PREFIXES = ("epsg:", "http://www.opengis.net/gml/srs/epsg.xml#")


def axis_order_is_lat_lon(crs: ResolvedCRS | pyproj.CRS) -> bool:
    """Whether coordinates written with this CRS come latitude first (AX-3).

    Readers must swap the first two ordinates when this is True, because everything in
    citymodel is ``x = east / longitude, y = north / latitude``.

    The rule follows the OGC/GML axis-order convention as implemented by PostGIS and GDAL:
    URN and ``http://www.opengis.net/def/crs/...`` identifiers honour the authority's axis
    order, so a geographic CRS such as EPSG:4326/4258/4979 (and AdV ``ETRS89_Lat-Lon``) is
    latitude first; the short ``EPSG:4326`` and ``.../gml/srs/epsg.xml#4326`` forms keep the
    traditional longitude-first order. Projected CRSs are always read easting first, as
    CityGML producers (3DCityDB, AdV/GeoInfoDok) write them, even where EPSG defines northing
    first (DHDN Gauss-Krüger, ETRS89 ``N-E`` variants).

    Parameters
    ----------
    crs
        A resolved srsName (its ``source`` decides the form), or a pyproj CRS (taken with its
        authority axis order).

    Returns
    -------
    bool
        True when the first ordinate is latitude.
    """
    if isinstance(crs, ResolvedCRS):
        horizontal = crs.horizontal
        if crs.source.strip().lower().startswith(_GIS_ORDER_PREFIXES):
            return False
    else:
        horizontal = resolve_crs(crs).horizontal
    if horizontal is None or not horizontal.is_geographic:
        return False
    return str(horizontal.axis_info[0].direction).lower() == "north"
