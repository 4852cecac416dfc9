"""The resolved source CRS: horizontal + vertical part (AX-1, GEO-5).

:class:`ResolvedCRS` is what every srsName form resolves to (see :mod:`citymodel.crs.srsname`);
:func:`with_default_vertical` adds the documented default vertical CRS to a 2D horizontal-only
CRS (GEO-5). The label helpers name CRSs in messages the same way everywhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TypeAlias

import pyproj
from pyproj.crs import CompoundCRS

from citymodel.errors import CRSError

__all__ = [
    "CRSLike",
    "ResolvedCRS",
    "authority_code",
    "crs_label",
    "crs_label_and_name",
    "is_3d",
    "known_authority_codes",
    "remember_authority_codes",
    "with_default_vertical",
]


def authority_code(crs: pyproj.CRS | None) -> str | None:
    """``"EPSG:25832"`` style code of ``crs`` (exact match only), None if it has none.

    Cached per CRS definition: for a CRS without authority code (e.g. ESRI-style WKT from a
    LAS file) PROJ's identification takes about half a second per call.
    """
    if crs is None:
        return None
    return _authority_code(crs)


# Answers of PROJ's identification by CRS definition (WKT). Shipped to worker processes with
# a Georeferencer (known_authority_codes / remember_authority_codes), so that a worker does not
# repeat the search for a CRS without code (~0.3 s each).
_CODES: dict[str, str | None] = {}
_CODES_LIMIT = 256


def _authority_code(crs: pyproj.CRS) -> str | None:
    wkt = crs.to_wkt()
    if wkt in _CODES:
        return _CODES[wkt]
    auth = crs.to_authority(min_confidence=100)
    code = f"{auth[0]}:{auth[1]}" if auth else None
    if len(_CODES) >= _CODES_LIMIT:
        _CODES.pop(next(iter(_CODES)))
    _CODES[wkt] = code
    return code


def known_authority_codes() -> dict[str, str | None]:
    """The identification answers of this process (CRS WKT -> ``"EPSG:25832"`` or None)."""
    return dict(_CODES)


def remember_authority_codes(codes: dict[str, str | None]) -> None:
    """Take over answers from :func:`known_authority_codes` of another process."""
    for wkt, code in codes.items():
        if len(_CODES) >= _CODES_LIMIT:
            break
        _CODES.setdefault(wkt, code)


def is_3d(crs: pyproj.CRS) -> bool:
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
        if h is not None and v is not None and is_3d(h):
            raise CRSError(
                f"{self.source!r}: {h.name!r} already includes heights and cannot be combined "
                f"with the vertical CRS {v.name!r}"
            )
        if self.assumed_vertical and v is None:
            raise CRSError("assumed_vertical needs a vertical CRS")

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # The identification answers for the parts travel along: a worker process would
        # otherwise repeat PROJ's search for every part without code (~0.3 s each).
        return (
            _restore_resolved,
            (self.horizontal, self.vertical, self.source, self.assumed_vertical, self._codes()),
        )

    def _codes(self) -> dict[str, str | None]:
        crss = [self.horizontal, self.vertical]
        if self.horizontal is not None and not is_3d(self.horizontal):
            as_3d = self.horizontal.to_3d()
            crss += [as_3d, as_3d.to_2d()]
        wkts = (crs.to_wkt() for crs in crss if crs is not None)
        return {wkt: _CODES[wkt] for wkt in wkts if wkt in _CODES}

    def __repr__(self) -> str:
        parts = [
            f"{name}={(authority_code(crs) or crs.name) if crs is not None else None!r}"
            for name, crs in (("horizontal", self.horizontal), ("vertical", self.vertical))
        ]
        return (
            f"ResolvedCRS({', '.join(parts)}, source={self.source!r}, "
            f"assumed_vertical={self.assumed_vertical})"
        )

    @property
    def horizontal_code(self) -> str | None:
        """``"EPSG:25832"`` style code of the horizontal part, None if it has none."""
        return authority_code(self.horizontal)

    @property
    def vertical_code(self) -> str | None:
        """``"EPSG:7837"`` style code of the vertical part, None if absent or without code."""
        return authority_code(self.vertical)

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
        """Hashable identity (source, default flag, definition), stable across processes.

        The definition is the authority code string where both parts have one (their WKT can
        differ in incidental details such as the area of use after pickling), else the WKT.
        """
        return (self.source, str(self.assumed_vertical), self.to_string())

    def to_string(self) -> str:
        """``"EPSG:25832+7837"``, ``"EPSG:25832"`` ...; WKT2 when a part has no code."""
        codes = [authority_code(p) for p in (self.horizontal, self.vertical) if p is not None]
        if not all(codes):
            return str(self.to_crs().to_wkt())
        pairs = [c.split(":", 1) for c in codes if c]
        if len({auth for auth, _ in pairs}) == 1:
            return f"{pairs[0][0]}:" + "+".join(code for _, code in pairs)
        return "+".join(c for c in codes if c)


def _restore_resolved(
    horizontal: pyproj.CRS | None,
    vertical: pyproj.CRS | None,
    source: str,
    assumed_vertical: bool,
    codes: dict[str, str | None],
) -> ResolvedCRS:
    remember_authority_codes(codes)
    return ResolvedCRS(horizontal, vertical, source, assumed_vertical)


CRSLike: TypeAlias = str | int | pyproj.CRS | ResolvedCRS
"""Anything :func:`resolve_crs` accepts."""


def crs_label(crs: pyproj.CRS) -> str:
    """Short label for messages: ``"EPSG:25832+7837"``, else the name(s)."""
    code = authority_code(crs)
    if code:
        return code
    if crs.is_compound:
        parts = [authority_code(c) or c.name for c in crs.sub_crs_list]
        if all(p.startswith("EPSG:") for p in parts):
            return "EPSG:" + "+".join(p.split(":", 1)[1] for p in parts)
        return " + ".join(parts)
    return str(crs.name)


def crs_label_and_name(crs: pyproj.CRS) -> str:
    """``"EPSG:25832 (ETRS89 / UTM zone 32N)"``; the name alone when it is the label."""
    label = crs_label(crs)
    return label if label == crs.name else f"{label} ({crs.name})"


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
    if crs.vertical is not None or crs.horizontal is None or is_3d(crs.horizontal):
        return crs
    code = crs.horizontal_code
    vertical = _DEFAULT_VERTICAL.get(code) if code else None
    if vertical is None:
        return crs
    return dataclasses.replace(crs, vertical=pyproj.CRS.from_epsg(vertical), assumed_vertical=True)
