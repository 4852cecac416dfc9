"""Coordinate reference systems: srsName normalisation, geoid grids and georeferencing to ECEF.

Three jobs, each with the correctness rules it implements (``docs/correctness.md``):

1. **Resolve CRS identifiers** (AX-1, AX-2): :func:`parse_srs_name` maps every srsName form
   found in CityGML/CityJSON files (EPSG short codes, OGC URNs and URLs, compound URNs,
   ``crs-compound`` URLs, AdV URNs) to a :class:`ResolvedCRS` = (horizontal, vertical) *before*
   pyproj sees it; unknown strings are an error, not a guess. :func:`resolve_crs` also takes
   user input (``--in-crs``: any of those, ``EPSG:25832+7837``, WKT, an EPSG integer).
   :func:`with_default_vertical` applies the documented default vertical datum to 2D
   horizontal-only CRSs (GEO-5).
2. **Find the grids** (GEO-1, GEO-9): :func:`register_grids` puts the grids shipped in
   ``citymodel/grids`` (GCG2016 quasigeoid, BETA2007) and user grid folders on PROJ's search
   path, once per process; it is also the initializer for spawned worker processes.
3. **Georeference** (GEO-2..7): :class:`Georeferencer` turns source coordinates into ECEF
   (EPSG:4978) or WGS 84 longitude/latitude/ellipsoidal height in vectorised batches, with
   transformers built once per process, ``allow_ballpark=False`` and explicit grid checks, so
   a missing geoid grid is an error naming the file instead of heights 40 m off.

Axis order (AX-3): every array going in or out of this module is ``x = east / longitude,
y = north / latitude, z = height`` (pyproj ``always_xy``), whatever the CRS definition says.
GML readers must swap latitude-first coordinates first; :func:`axis_order_is_lat_lon` tells
them when.

Environment:

- ``CITYMODEL_NO_BUNDLED_GRIDS=1`` makes :func:`register_grids` skip the grids shipped with
  citymodel (tests of the missing-grid path; users who provide their own copies).
- ``PROJ_NETWORK=ON`` (set by the user) lets PROJ download missing grids from its CDN;
  citymodel never switches the network on by itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias
from urllib.parse import parse_qsl

import numpy as np
import numpy.typing as npt
import pyproj
import pyproj.datadir
import pyproj.network
from pyproj.crs import CompoundCRS
from pyproj.enums import TransformDirection
from pyproj.exceptions import CRSError as ProjCRSError
from pyproj.exceptions import ProjError
from pyproj.transformer import TransformerGroup

from citymodel._typing import Float64Array
from citymodel.errors import CRSError, CRSWarning, GridMissingError

if TYPE_CHECKING:
    from pyproj._crs import CoordinateOperation

__all__ = [
    "ECEF",
    "GEODETIC_3D",
    "NO_BUNDLED_GRIDS_ENV",
    "CRSLike",
    "Georeferencer",
    "ResolvedCRS",
    "VerticalMode",
    "axis_order_is_lat_lon",
    "ecef_to_geodetic",
    "geodetic_to_ecef",
    "parse_srs_name",
    "register_grids",
    "resolve_crs",
    "with_default_vertical",
]

logger = logging.getLogger(__name__)

ECEF: pyproj.CRS = pyproj.CRS.from_epsg(4978)
"""WGS 84 geocentric (EPSG:4978): X, Y, Z in metres. The frame of 3D Tiles."""

GEODETIC_3D: pyproj.CRS = pyproj.CRS.from_epsg(4979)
"""WGS 84 geographic 3D (EPSG:4979), used here as longitude, latitude (degrees), ellipsoidal
height (metres) in that order (``always_xy``)."""

NO_BUNDLED_GRIDS_ENV = "CITYMODEL_NO_BUNDLED_GRIDS"
"""Environment variable: when ``1``/``true``/``yes``/``on``, :func:`register_grids` does not
register the grids shipped with citymodel."""

VerticalMode: TypeAlias = Literal["auto", "ellipsoidal-as-is"]

# --------------------------------------------------------------------------------------------
# Grids (GEO-1, GEO-9)
# --------------------------------------------------------------------------------------------

_BUNDLED_GRID_DIR = Path(__file__).resolve().parent / "grids"
# sha256 of the shipped files, as published with PROJ-data (see grids/NOTICE.md, GEO-9).
_BUNDLED_GRIDS: dict[str, str] = {
    "de_bkg_gcg2016.tif": "598f18324dea7f8e72421d18add7ac6228259adf91eeb335cc9c27d98484f7ac",
    "de_adv_BETA2007.tif": "46e681fcc7d022dde1db1f9d0a3426a9bfb1d4a151af69a81b3c30104c9388e2",
}
_bundled_problem: str | None = None  # None: not verified yet; "": verified OK; else: reason


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_bundled_grids() -> str:
    """Check the shipped grids once per process; return "" when fine, else the reason."""
    global _bundled_problem
    if _bundled_problem is None:
        problems = []
        for name, expected in _BUNDLED_GRIDS.items():
            path = _BUNDLED_GRID_DIR / name
            if not path.is_file():
                problems.append(f"{path} is missing")
            elif _sha256(path) != expected:
                problems.append(f"{path} fails its sha256 check (expected {expected})")
        _bundled_problem = "; ".join(problems)
        if _bundled_problem:
            logger.error("bundled PROJ grids not used: %s; reinstall citymodel", _bundled_problem)
    return _bundled_problem


def _bundled_grids_unused_reason() -> str | None:
    """Why the shipped grids are not on PROJ's path (None when they are in use)."""
    if _env_flag(NO_BUNDLED_GRIDS_ENV):
        return f"disabled by {NO_BUNDLED_GRIDS_ENV}"
    return _verify_bundled_grids() or None


def _user_data_dir() -> str:
    # Public pyproj API, re-exported by pyproj.datadir from its Cython module.
    return str(pyproj.datadir.get_user_data_dir())  # type: ignore[attr-defined]


def _network_enabled() -> bool:
    return bool(pyproj.network.is_network_enabled())  # type: ignore[attr-defined]


def _data_dirs() -> list[str]:
    return [d for d in pyproj.datadir.get_data_dir().split(os.pathsep) if d]


def register_grids(extra_dirs: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Put the shipped grids and user grid folders on PROJ's search path (GEO-1, GEO-9).

    Appends, with :func:`pyproj.datadir.append_data_dir` (``PROJ_DATA`` is ignored by the
    pyproj wheels), first ``citymodel/grids`` (GCG2016 and BETA2007, sha256-verified once per
    process; skipped when ``CITYMODEL_NO_BUNDLED_GRIDS=1``), then every folder of
    ``extra_dirs`` (``--grids DIR``: NAP, EGM96, ... grids). Folders already on the path are
    not added twice, so calling it again is cheap and harmless.

    Spawned worker processes do not inherit appended folders: pass this function as the pool
    initializer, e.g. ``ProcessPoolExecutor(mp_context=spawn, initializer=register_grids,
    initargs=([grids_dir],))``.

    PROJ's network access is left as the user configured it (``PROJ_NETWORK=ON``).

    Parameters
    ----------
    extra_dirs
        Folders holding additional PROJ grid files.

    Raises
    ------
    CRSError
        If an extra folder does not exist.
    """
    wanted: list[str] = []
    if _bundled_grids_unused_reason() is None:
        wanted.append(str(_BUNDLED_GRID_DIR))
    for entry in extra_dirs:
        path = Path(entry).expanduser().resolve()
        if not path.is_dir():
            raise CRSError(f"grid folder {path} does not exist (given as {os.fspath(entry)!r})")
        wanted.append(str(path))
    present = set(_data_dirs())
    added = False
    for folder in dict.fromkeys(wanted):
        if folder not in present:
            pyproj.datadir.append_data_dir(folder)
            present.add(folder)
            added = True
            logger.debug("PROJ grid folder registered: %s", folder)
    if added:
        # Transformers built before may have been built without a grid that is now available.
        _clear_caches()


# --------------------------------------------------------------------------------------------
# ResolvedCRS
# --------------------------------------------------------------------------------------------


def _authority_code(crs: pyproj.CRS | None) -> str | None:
    if crs is None:
        return None
    auth = crs.to_authority(min_confidence=100)
    return f"{auth[0]}:{auth[1]}" if auth else None


def _is_3d(crs: pyproj.CRS) -> bool:
    """True for CRSs that carry the height themselves (geographic 3D, geocentric, ...)."""
    return bool(crs.is_geocentric) or len(crs.axis_info) == 3


@dataclass(frozen=True, slots=True, repr=False)
class ResolvedCRS:
    """A CRS split into its horizontal and vertical parts.

    Attributes
    ----------
    horizontal
        Projected or geographic 2D CRS; or a CRS that includes heights itself (geographic 3D,
        geocentric), then ``vertical`` is None. None for a vertical-only identifier.
    vertical
        Vertical CRS (e.g. EPSG:7837 DHHN2016 height), or None when the source has none.
    source
        The string (or value) it was resolved from, for messages and reports.
    assumed_vertical
        True when ``vertical`` is a default (GEO-5), not stated by the source.

    Raises
    ------
    CRSError
        On construction, if the parts do not form a valid (compound) CRS.
    """

    horizontal: pyproj.CRS | None
    vertical: pyproj.CRS | None
    source: str
    assumed_vertical: bool = False

    def __post_init__(self) -> None:
        h, v = self.horizontal, self.vertical
        if h is None and v is None:
            raise CRSError(f"{self.source!r} resolves to no CRS")
        if h is not None and (h.is_vertical or h.is_compound):
            raise CRSError(f"{self.source!r}: horizontal part {h.name!r} is not a horizontal CRS")
        if v is not None and not v.is_vertical:
            raise CRSError(f"{self.source!r}: vertical part {v.name!r} is not a vertical CRS")
        if h is not None and v is not None and _is_3d(h):
            raise CRSError(
                f"{self.source!r}: {h.name!r} already includes heights and cannot be combined "
                f"with the vertical CRS {v.name!r}"
            )
        if self.assumed_vertical and v is None:
            raise CRSError("assumed_vertical needs a vertical CRS")

    def __repr__(self) -> str:
        parts = [
            f"{name}={(_authority_code(crs) or crs.name) if crs is not None else None!r}"
            for name, crs in (("horizontal", self.horizontal), ("vertical", self.vertical))
        ]
        return (
            f"ResolvedCRS({', '.join(parts)}, source={self.source!r}, "
            f"assumed_vertical={self.assumed_vertical})"
        )

    @property
    def horizontal_code(self) -> str | None:
        """``"EPSG:25832"`` style code of the horizontal part, None if it has none."""
        return _authority_code(self.horizontal)

    @property
    def vertical_code(self) -> str | None:
        """``"EPSG:7837"`` style code of the vertical part, None if absent or without code."""
        return _authority_code(self.vertical)

    def to_crs(self) -> pyproj.CRS:
        """The pyproj CRS: compound (horizontal + vertical) when both parts are set."""
        if self.horizontal is not None and self.vertical is not None:
            return CompoundCRS(
                name=f"{self.horizontal.name} + {self.vertical.name}",
                components=[self.horizontal, self.vertical],
            )
        if self.horizontal is not None:
            return self.horizontal
        if self.vertical is not None:
            return self.vertical
        raise CRSError(f"{self.source!r} resolves to no CRS")

    def cache_key(self) -> tuple[str, ...]:
        """Hashable identity (source, default flag, WKT of each part), stable across processes."""
        parts = tuple(p.to_wkt() if p is not None else "" for p in (self.horizontal, self.vertical))
        return (self.source, str(self.assumed_vertical), *parts)

    def to_string(self) -> str:
        """``"EPSG:25832+7837"``, ``"EPSG:25832"`` ...; WKT2 when a part has no code."""
        codes = [_authority_code(p) for p in (self.horizontal, self.vertical) if p is not None]
        if not all(codes):
            return str(self.to_crs().to_wkt())
        pairs = [c.split(":", 1) for c in codes if c]
        if len({auth for auth, _ in pairs}) == 1:
            return f"{pairs[0][0]}:" + "+".join(code for _, code in pairs)
        return "+".join(c for c in codes if c)


CRSLike: TypeAlias = str | int | pyproj.CRS | ResolvedCRS
"""Anything :func:`resolve_crs` accepts."""


# --------------------------------------------------------------------------------------------
# srsName normalisation (AX-1, AX-2)
# --------------------------------------------------------------------------------------------

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


# GEO-5: the vertical CRS that 2D horizontal-only sources are taken to use.
_DHHN2016, _DHHN92, _NAP = 7837, 5783, 5709
# ETRS89 / UTM zones 31..33 (German official heights: DHHN2016), with their axis-order and
# zone-prefix variants (N-E, zE-N, N-zE) and the ETRS89/DREF91/2016 realisation.
_ETRS89_GERMAN_PROJECTED = (
    # EPSG:25831/3043 are left out: zone 31 is mostly the Netherlands and Belgium.
    *(25832, 25833, 3044, 3045, 4647, 5649, 5650, 5651, 5652, 5653),
    *(10285, 10286, 10287, 10288, 10289, 10290, 10291, 10731, 10732, 10733),
)
# DHDN / 3-degree Gauss-Krüger zones 1..5 and their E-N variants (legacy heights: DHHN92).
_DHDN_GAUSS_KRUEGER = (31466, 31467, 31468, 31469, 5520, 5676, 5677, 5678, 5679, 5680)
_DEFAULT_VERTICAL: dict[str, int] = {
    **{f"EPSG:{c}": _DHHN2016 for c in _ETRS89_GERMAN_PROJECTED},
    **{f"EPSG:{c}": _DHHN92 for c in _DHDN_GAUSS_KRUEGER},
    "EPSG:28992": _NAP,  # Amersfoort / RD New
}


def with_default_vertical(crs: ResolvedCRS) -> ResolvedCRS:
    """Add the default vertical CRS to a 2D horizontal-only CRS (GEO-5).

    A 2D CRS with z values would make PROJ treat z as ellipsoidal height (≈ 40 m error in
    Germany). Defaults: ETRS89 / UTM zones 32-33 and their variants -> DHHN2016 (EPSG:7837);
    DHDN / 3-degree Gauss-Krüger -> DHHN92 (EPSG:5783); Amersfoort / RD New -> NAP
    (EPSG:5709). Other CRSs, CRSs with a vertical part, and 3D/geocentric CRSs are returned
    unchanged.

    Parameters
    ----------
    crs
        The resolved source CRS.

    Returns
    -------
    ResolvedCRS
        With ``vertical`` set and ``assumed_vertical=True`` when a default applied.
    """
    if crs.vertical is not None or crs.horizontal is None or _is_3d(crs.horizontal):
        return crs
    code = crs.horizontal_code
    vertical = _DEFAULT_VERTICAL.get(code) if code else None
    if vertical is None:
        return crs
    return dataclasses.replace(crs, vertical=pyproj.CRS.from_epsg(vertical), assumed_vertical=True)


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


# --------------------------------------------------------------------------------------------
# Transformation steps (GEO-2, GEO-3, GEO-6, GEO-7)
# --------------------------------------------------------------------------------------------

# Best operations whose grid may be missing while PROJ's next candidate is a documented EPSG
# transformation of known, sufficient accuracy. Anything not listed is an error (GEO-3).
_ACCEPTED_SUBSTITUTES: dict[str, tuple[str, str]] = {
    # RD New: the RDNAPTRANS(TM)2018 horizontal grid (EPSG:9282, exact by definition) is in
    # PROJ-data but often not installed; EPSG:9281 is IOGP's published Helmert approximation.
    "nl_nsgi_rdtrans2018.tif": (
        "Amersfoort to ETRS89 (8)",
        (
            "EPSG:9281 'Amersfoort to ETRS89 (8)' (Helmert, documented accuracy 0.25 m onshore "
            "Netherlands) is used instead of the RDNAPTRANS(TM)2018 grid "
            "nl_nsgi_rdtrans2018.tif; horizontal positions may be off by up to 0.25 m. Provide "
            "the grid with --grids DIR for exact results"
        ),
    ),
}

# GEO-6: DHHN92 has no operation to ellipsoidal heights; go through DHHN2016 (EPSG:9924 =
# ETRS89 + DHHN2016 height) with EPSG's offset-and-slope transformations via EVRF2007.
_BRIDGED_VERTICALS: dict[str, pyproj.CRS] = {"EPSG:5783": pyproj.CRS.from_epsg(9924)}

# ETRS89 geographic 3D. ETRS89-based sources go source -> EPSG:4937 -> EPSG:4978: the same
# operations PROJ chains for source -> EPSG:4978 directly (results agree to 1e-8 m), but PROJ
# finds them in ~0.1 s instead of 2-4 s, because the direct search explores every ETRS89 ->
# WGS 84 path combined with the geoid step. The second step is EPSG's null transformation
# "ETRS89 to WGS 84 (1)" (GEO-8) and the geocentric conversion.
_ETRS89_3D: pyproj.CRS = pyproj.CRS.from_epsg(4937)
_ETRS89_DATUM = pyproj.CRS.from_epsg(4258).datum


@dataclass(frozen=True, slots=True)
class _Step:
    transformer: pyproj.Transformer
    description: str
    warnings: tuple[str, ...]
    grids: tuple[str, ...]


_STEP_CACHE: dict[tuple[str, str], _Step] = {}
_CONVERSIONS: dict[tuple[int, int], pyproj.Transformer] = {}


def _label(crs: pyproj.CRS) -> str:
    code = _authority_code(crs)
    if code:
        return code
    if crs.is_compound:
        parts = [_authority_code(c) or c.name for c in crs.sub_crs_list]
        if all(p.startswith("EPSG:") for p in parts):
            return "EPSG:" + "+".join(p.split(":", 1)[1] for p in parts)
        return " + ".join(parts)
    return str(crs.name)


def _named(crs: pyproj.CRS) -> str:
    label = _label(crs)
    return label if label == crs.name else f"{label} ({crs.name})"


def _grid_missing_error(
    src: pyproj.CRS, dst: pyproj.CRS, grids: dict[str, str]
) -> GridMissingError:
    """GEO-3: name the missing grid file(s) and every way to provide them."""
    # Grids with an accepted substitute are only recommended when others are missing too.
    required = {n: u for n, u in grids.items() if n not in _ACCEPTED_SUBSTITUTES} or grids
    optional = [n for n in grids if n not in required]
    listing = ", ".join(f"{n} ({u})" if u else n for n, u in required.items())
    parts = [
        (
            f"The transformation {_named(src)} -> {_named(dst)} needs the grid file(s) "
            f"{listing}, which PROJ cannot find. Without it PROJ would silently fall back to a "
            "less accurate or 'ballpark' operation (for a geoid grid: heights tens of metres "
            "off), so citymodel refuses (GEO-3)."
        )
    ]
    if optional:
        parts.append(f"Also recommended for full accuracy: {', '.join(optional)}.")
    reason = _bundled_grids_unused_reason()
    shipped = [n for n in grids if n in _BUNDLED_GRIDS]
    if shipped and reason:
        parts.append(f"citymodel ships {', '.join(shipped)}, but it is not in use: {reason}.")
    parts.append(
        "Provide it: put the file into a folder and pass --grids DIR (register_grids([DIR])), "
        f"or copy it into the PROJ user data directory {_user_data_dir()}, "
        "or set PROJ_NETWORK=ON when online so that PROJ downloads it from cdn.proj.org."
    )
    if _network_enabled():
        parts.append("PROJ network access is enabled, but the grid could not be obtained.")
    return GridMissingError(" ".join(parts), grids=(*required, *optional))


def _missing_grids(operations: Iterable[CoordinateOperation]) -> dict[str, str]:
    out: dict[str, str] = {}
    for op in operations:
        for grid in op.grids:
            if not grid.available and grid.short_name:
                out.setdefault(grid.short_name, grid.url or "")
    return out


def _build_step(src: pyproj.CRS, dst: pyproj.CRS) -> _Step:
    """One checked transformation: no ballpark, best operation available or refused (GEO-3)."""
    with warnings.catch_warnings():
        # pyproj warns "Best transformation is not available"; it is handled below.
        warnings.simplefilter("ignore", UserWarning)
        try:
            group = TransformerGroup(src, dst, always_xy=True, allow_ballpark=False)
        except ProjError as err:
            raise CRSError(f"PROJ cannot relate {_label(src)} and {_label(dst)}: {err}") from err
    available = list(group.transformers)
    unavailable = list(group.unavailable_operations)
    if not available:
        missing = _missing_grids(unavailable)
        if missing:
            raise _grid_missing_error(src, dst, missing)
        raise CRSError(
            f"PROJ has no transformation from {_label(src)} to {_label(dst)} other than a "
            "'ballpark' one that ignores datum or geoid differences; citymodel refuses it "
            "(GEO-3). Check the source CRS (--in-crs) or use --vertical-mode ellipsoidal-as-is "
            "if z already is an ellipsoidal height."
        )
    best = available[0]
    step_warnings: list[str] = []
    if not group.best_available:
        best_accuracy = best.accuracy if best.accuracy >= 0 else float("inf")
        better = [op for op in unavailable if op.accuracy < 0 or op.accuracy < best_accuracy]
        missing = _missing_grids(better or unavailable)
        accepted = [
            _ACCEPTED_SUBSTITUTES[name]
            for name in missing
            if name in _ACCEPTED_SUBSTITUTES and _ACCEPTED_SUBSTITUTES[name][0] in best.description
        ]
        if not missing or len(accepted) != len(missing):
            raise _grid_missing_error(src, dst, missing or _missing_grids(unavailable))
        step_warnings.extend(note for _, note in accepted)
    if unavailable and group.best_available:
        logger.info(
            "%s -> %s: optional regional grids not found (%s); PROJ uses %s where they apply",
            _label(src),
            _label(dst),
            ", ".join(_missing_grids(unavailable)),
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
        transformer = pyproj.Transformer.from_crs(src, dst, always_xy=True, allow_ballpark=False)
        details.append(f"best of {len(available)} operations, chosen per point by area of use")
    description = f"{best.description} ({'; '.join(details)})"
    return _Step(transformer, description, tuple(step_warnings), grids)


def _step(src: pyproj.CRS, dst: pyproj.CRS) -> _Step:
    key = (src.to_wkt(), dst.to_wkt())
    step = _STEP_CACHE.get(key)
    if step is None:
        step = _build_step(src, dst)
        _STEP_CACHE[key] = step
    return step


def _clear_caches() -> None:
    _STEP_CACHE.clear()
    _CONVERSIONS.clear()
    _GEOREFERENCERS.clear()


def _as_points(xyz: npt.ArrayLike, name: str) -> Float64Array:
    pts = np.asarray(xyz, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {pts.shape}")
    return pts


def _run(
    transformers: Sequence[pyproj.Transformer],
    xyz: npt.ArrayLike,
    *,
    name: str,
    direction: TransformDirection = TransformDirection.FORWARD,
) -> Float64Array:
    """Apply transformers in turn on one (3, N) buffer, in place (one PROJ call per step)."""
    pts = _as_points(xyz, name)
    buf = np.array(pts.T, dtype=np.float64, order="C")
    if buf.shape[1]:
        for transformer in transformers:
            transformer.transform(buf[0], buf[1], buf[2], inplace=True, direction=direction)
    out = np.ascontiguousarray(buf.T)
    bad = ~np.isfinite(out).all(axis=1)
    if bad.any():
        # GEO-4: PROJ returns inf for points outside a grid; make the whole row non-finite.
        out[bad] = np.inf
    return out


def _conversion(src: int, dst: int) -> pyproj.Transformer:
    key = (src, dst)
    transformer = _CONVERSIONS.get(key)
    if transformer is None:
        transformer = pyproj.Transformer.from_crs(
            pyproj.CRS.from_epsg(src),
            pyproj.CRS.from_epsg(dst),
            always_xy=True,
            allow_ballpark=False,
        )
        _CONVERSIONS[key] = transformer
    return transformer


def geodetic_to_ecef(lon_lat_h: npt.ArrayLike) -> Float64Array:
    """WGS 84 geodetic -> ECEF (an exact conversion, no datum change).

    Parameters
    ----------
    lon_lat_h
        (N, 3) longitude (degrees), latitude (degrees), ellipsoidal height (metres) on WGS 84
        (EPSG:4979 values in x = longitude order).

    Returns
    -------
    numpy.ndarray
        (N, 3) float64 X, Y, Z in EPSG:4978, metres.
    """
    return _run([_conversion(4979, 4978)], lon_lat_h, name="lon_lat_h")


def ecef_to_geodetic(xyz: npt.ArrayLike) -> Float64Array:
    """ECEF -> WGS 84 geodetic (an exact conversion, no datum change).

    Parameters
    ----------
    xyz
        (N, 3) X, Y, Z in EPSG:4978, metres.

    Returns
    -------
    numpy.ndarray
        (N, 3) float64 longitude (degrees), latitude (degrees), ellipsoidal height (metres).
    """
    return _run([_conversion(4979, 4978)], xyz, name="xyz", direction=TransformDirection.INVERSE)


# --------------------------------------------------------------------------------------------
# Georeferencer
# --------------------------------------------------------------------------------------------

_GEOREFERENCERS: dict[tuple[tuple[str, ...], str], Georeferencer] = {}
_VERTICAL_MODES = ("auto", "ellipsoidal-as-is")
_bundled_registration_done = False


def _ensure_bundled_grids_registered() -> None:
    # The shipped grids are registered on first use, so the Python API works without an
    # explicit register_grids() call; user grid folders still need register_grids([...]).
    global _bundled_registration_done
    if not _bundled_registration_done:
        register_grids()
        _bundled_registration_done = True


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
        _ensure_bundled_grids_registered()
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
        return _run(self._transformers, xyz, name="xyz")

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
            (N, 3) X, Y, Z in EPSG:4978, metres.

        Returns
        -------
        numpy.ndarray
            (N, 3) float64 east/longitude, north/latitude, height in the source CRS
            (ellipsoidal in ``ellipsoidal-as-is`` mode); ``inf`` rows where PROJ failed.
        """
        return _run(self._transformers[::-1], xyz, name="xyz", direction=TransformDirection.INVERSE)


def _horizontal_part(crs: pyproj.CRS) -> pyproj.CRS:
    return crs.sub_crs_list[0] if crs.is_compound else crs


def _steps_to_ecef(src: pyproj.CRS) -> list[_Step]:
    """Checked steps from ``src`` (with heights) to EPSG:4978."""
    geodetic = _horizontal_part(src).geodetic_crs
    if geodetic is None or geodetic.datum != _ETRS89_DATUM:
        return [_step(src, ECEF)]
    if src == _ETRS89_3D:
        return [_step(src, ECEF)]
    return [_step(src, _ETRS89_3D), _step(_ETRS89_3D, ECEF)]


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
    steps: list[_Step]
    if resolved.assumed_vertical and vertical is not None and vertical_mode == "auto":
        notes.append(
            f"the source CRS {resolved.horizontal_code or horizontal.name} has no vertical CRS; "
            f"heights are assumed to be {vertical.name} ({resolved.vertical_code}) (GEO-5). "
            "Use --in-crs to state the real vertical CRS"
        )
    if vertical_mode == "ellipsoidal-as-is":
        src = horizontal if _is_3d(horizontal) else horizontal.to_3d()
        if vertical is not None and not resolved.assumed_vertical:
            notes.append(
                f"--vertical-mode ellipsoidal-as-is: the vertical CRS {vertical.name} of the "
                "source is ignored and z is taken as ellipsoidal height"
            )
        elif not _is_3d(horizontal):
            notes.append(
                "--vertical-mode ellipsoidal-as-is: z is taken as height above the "
                f"{horizontal.ellipsoid.name if horizontal.ellipsoid else 'source'} ellipsoid; "
                "no geoid is applied"
            )
        steps = _steps_to_ecef(src)
    elif vertical is None:
        if not _is_3d(horizontal):
            raise _no_vertical_error(resolved)
        steps = _steps_to_ecef(horizontal)
    else:
        bridge = _BRIDGED_VERTICALS.get(resolved.vertical_code or "")
        if bridge is None:
            steps = _steps_to_ecef(resolved.to_crs())
        else:
            steps = [_step(resolved.to_crs(), bridge), *_steps_to_ecef(bridge)]
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
