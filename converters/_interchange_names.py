"""Names shared by the interchange writers: semantic surface classes and CRS identifiers.

Semantic surface types
----------------------
:class:`~citymodel.model.SurfaceType` codes are mapped back to the class names that CityGML
and CityJSON use. The table lists every boundary-surface / semantic-surface class of CityGML
2.0/3.0 and CityJSON 2.0; a name counts once the model has a code for it
(:func:`~citymodel.model.surface_type_from_name` does not return ``UNKNOWN``), so codes added
to the model later are written without a change here.

CRS identifiers
---------------
Writers state the source CRS (never a georeferenced one): OGC URLs for CityJSON
(``https://www.opengis.net/def/crs/EPSG/0/25832``) and OGC URNs for CityGML
(``urn:ogc:def:crs:EPSG::25832``). A horizontal + vertical CRS is named by its EPSG compound
code when EPSG has one (RD New + NAP: 7415, UTM 32N + DHHN92: 5555), otherwise by its parts
(``https://www.opengis.net/def/crs-compound?1=...&2=...``,
``urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::7837``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cache
from typing import Final

from citymodel.crs import ResolvedCRS
from citymodel.model import SurfaceType, surface_type_from_name

log = logging.getLogger(__name__)

__all__ = [
    "SEMANTIC_CLASS_NAMES",
    "crs_url",
    "crs_urn",
    "semantic_names",
]

SEMANTIC_CLASS_NAMES: Final[tuple[str, ...]] = (
    # building, bridge, tunnel, construction (CityGML 2.0/3.0, CityJSON)
    "RoofSurface",
    "WallSurface",
    "GroundSurface",
    "ClosureSurface",
    "OuterCeilingSurface",
    "OuterFloorSurface",
    "Window",
    "Door",
    "InteriorWallSurface",
    "CeilingSurface",
    "FloorSurface",
    # transportation
    "TrafficArea",
    "AuxiliaryTrafficArea",
    "TransportationMarking",
    "TransportationHole",
    "Marking",
    "HoleSurface",
    # water
    "WaterSurface",
    "WaterGroundSurface",
    "WaterClosureSurface",
    # generics (CityGML 3.0)
    "GenericThematicSurface",
)
"""Semantic surface classes of CityGML 2.0/3.0 and CityJSON 2.0."""


@cache
def semantic_names() -> Mapping[int, str]:
    """SurfaceType code -> class name, for the codes the model knows (UNKNOWN excluded)."""
    names: dict[int, str] = {}
    for name in SEMANTIC_CLASS_NAMES:
        code = int(surface_type_from_name(name))
        if code != SurfaceType.UNKNOWN:
            names.setdefault(code, name)
    return names


def _epsg_codes(crs: ResolvedCRS) -> list[str] | None:
    """EPSG codes of the parts (horizontal first); None when a part has no EPSG code."""
    codes: list[str] = []
    for part, code in ((crs.horizontal, crs.horizontal_code), (crs.vertical, crs.vertical_code)):
        if part is None:
            continue
        if code is None or not code.upper().startswith("EPSG:"):
            return None
        codes.append(code.split(":", 1)[1])
    return codes or None


@cache
def _compound_code(horizontal: str, vertical: str) -> str | None:
    """The EPSG code of the compound CRS ``horizontal + vertical``, None when EPSG has none.

    PROJ identifies the compound CRS built from both parts with full confidence
    (28992 + 5709 -> 7415, 25832 + 5783 -> 5555); 25832 + 7837 has no EPSG code.
    """
    import pyproj

    try:
        crs = pyproj.CRS.from_user_input(f"EPSG:{horizontal}+{vertical}")
        found = crs.to_authority(auth_name="EPSG", min_confidence=100)
    except pyproj.exceptions.CRSError as err:
        log.debug("compound CRS lookup for EPSG:%s+%s failed: %s", horizontal, vertical, err)
        return None
    return None if found is None else found[1]


def _codes(crs: ResolvedCRS) -> list[str] | None:
    """EPSG code(s) naming ``crs``: one (a compound code when EPSG has one) or two parts."""
    codes = _epsg_codes(crs)
    if codes is not None and len(codes) == 2:
        compound = _compound_code(codes[0], codes[1])
        if compound is not None:
            return [compound]
    return codes


def crs_url(crs: ResolvedCRS) -> str | None:
    """The OGC URL of ``crs`` (CityJSON ``metadata.referenceSystem``); None without EPSG codes."""
    codes = _codes(crs)
    if codes is None:
        return None
    urls = [f"https://www.opengis.net/def/crs/EPSG/0/{code}" for code in codes]
    if len(urls) == 1:
        return urls[0]
    return "https://www.opengis.net/def/crs-compound?" + "&".join(
        f"{n}={url}" for n, url in enumerate(urls, start=1)
    )


def crs_urn(crs: ResolvedCRS) -> str | None:
    """The OGC URN of ``crs`` (GML ``srsName``); None without EPSG codes."""
    codes = _codes(crs)
    if codes is None:
        return None
    if len(codes) == 1:
        return f"urn:ogc:def:crs:EPSG::{codes[0]}"
    return "urn:ogc:def:crs," + ",".join(f"crs:EPSG::{code}" for code in codes)
