"""Georeferencing of the IFC4 files citymodel writes (IFC-1..IFC-3, the writer's side).

The project's engineering frame is the source CRS shifted by an origin (:class:`MapFrame`):
``x = E - E0``, ``y = N - N0``, ``z = H - H0`` in metres, axes parallel to the grid (no
rotation, scale 1). :func:`add_georeferencing` records it as

- ``IfcMapConversion`` (SourceCRS = the 3D model context, Eastings/Northings/OrthogonalHeight =
  the origin, XAxisAbscissa 1, XAxisOrdinate 0, Scale 1: model unit and map unit are both
  metres, so there is no factor-1000 trap, IFC-2) and
- ``IfcProjectedCRS`` (Name ``EPSG:25832`` etc., VerticalDatum = the vertical CRS as
  ``EPSG:7837`` etc., MapUnit metre, GeodeticDatum, MapProjection, MapZone),

so a BIM tool (or :func:`ifcopenshell.util.geolocation.auto_xyz2enh`) computes
``E = E0 + x, N = N0 + y, H = H0 + z``. Heights stay in the source's vertical datum (e.g.
DHHN2016 normal heights); nothing is converted. The context's ``TrueNorth`` and the site's
``RefLatitude``/``RefLongitude``/``RefElevation`` are filled as well, for tools that only read
those (both are informative, IFC-3).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyproj

from citymodel._typing import Float64Array
from citymodel.converters._ifc_document import IfcDocument
from citymodel.converters.selection import horizontal_transformer
from citymodel.crs import ResolvedCRS
from citymodel.crs.resolved import authority_code, crs_label
from citymodel.errors import CRSError

__all__ = ["LOCAL_DECIMALS", "MapFrame", "add_georeferencing", "compound_angle", "origin_for"]

LOCAL_DECIMALS = 6
"""Decimals (m) of engineering-frame coordinates: 1 µm, far below the 1 mm round trip."""

_WGS84 = pyproj.CRS.from_epsg(4326)
_ZONE = re.compile(r"zone\s+(\w+)", re.IGNORECASE)
_NORTH_STEP_DEG = 1e-3


@dataclass(frozen=True, slots=True)
class MapFrame:
    """The engineering frame of the IFC project inside the source CRS.

    Attributes
    ----------
    crs
        The source CRS (horizontal projected CRS + vertical CRS).
    eastings, northings, orthogonal_height
        The origin in the source CRS: easting, northing (metres) and height in its vertical
        datum (metres).
    ellipsoidal_heights
        True when heights are ellipsoidal (``--vertical-mode ellipsoidal-as-is``): no
        vertical datum is written then.
    """

    crs: ResolvedCRS
    eastings: float
    northings: float
    orthogonal_height: float
    ellipsoidal_heights: bool = False

    @property
    def origin(self) -> Float64Array:
        """``(3,)`` float64 origin (E0, N0, H0) in the source CRS, metres."""
        return np.array([self.eastings, self.northings, self.orthogonal_height], dtype=np.float64)

    def to_local(self, xyz: Float64Array) -> Float64Array:
        """Source CRS ``(N, 3)`` metres -> engineering frame ``(N, 3)`` metres.

        Rounded to the micrometre (:data:`LOCAL_DECIMALS`): the subtraction leaves noise in
        the last bits that would only lengthen the file.
        """
        return np.round(xyz - self.origin, LOCAL_DECIMALS)

    def check(self) -> None:
        """Refuse CRSs an IfcMapConversion cannot describe (geographic, geocentric, no metres).

        Raises
        ------
        CRSError
            With what to do instead.
        """
        horizontal = self.crs.horizontal
        if horizontal is None or not horizontal.is_projected:
            raise CRSError(
                f"IFC output needs a projected source CRS in metres (IfcMapConversion maps "
                f"to eastings/northings), but the input uses {self.crs.to_string()}; "
                "give the CRS with --in-crs if the srsName is wrong"
            )
        units = {axis.unit_name for axis in horizontal.axis_info}
        if units != {"metre"}:
            raise CRSError(
                f"IFC output needs a source CRS in metres, {crs_label(horizontal)} uses {sorted(units)}"
            )


def origin_for(
    low: tuple[float, float, float], *, rounding: float = 100.0
) -> tuple[float, float, float]:
    """A rounded origin near a lower corner: E and N down to ``rounding`` m, H down to 1 m.

    Coordinates relative to it stay small (float precision in BIM tools) and the origin is a
    readable number in the map conversion.

    Examples
    --------
    >>> origin_for((356123.4, 5645987.6, 52.7))
    (356100.0, 5645900.0, 52.0)
    """
    e, n, h = low
    return (
        math.floor(e / rounding) * rounding,
        math.floor(n / rounding) * rounding,
        float(math.floor(h)),
    )


def compound_angle(degrees: float) -> list[int]:
    """Decimal degrees -> IfcCompoundPlaneAngleMeasure ``[deg, min, sec, millionths]``.

    All components carry the sign of the angle (IFC-1).

    Examples
    --------
    >>> compound_angle(49.0980556)
    [49, 5, 53, 2016]
    >>> compound_angle(-0.5)
    [0, -30, 0, 0]
    """
    sign = -1 if degrees < 0 else 1
    micro = round(abs(degrees) * 3600.0 * 1e6)
    seconds, millionths = divmod(micro, 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    whole, minutes = divmod(minutes, 60)
    return [sign * int(v) for v in (whole, minutes, seconds, millionths)]


def _geodetic(frame: MapFrame, e: float, n: float) -> tuple[float, float]:
    horizontal = frame.crs.horizontal
    if horizontal is None:  # pragma: no cover - MapFrame.check refuses it first
        raise CRSError("no horizontal CRS")
    lon, lat = horizontal_transformer(horizontal, _WGS84).transform(e, n, errcheck=True)
    return float(lon), float(lat)


def true_north(frame: MapFrame) -> tuple[float, float]:
    """Unit direction of geographic north at the origin, in grid coordinates (x east, y north).

    Computed numerically (a step north on the ellipsoid, projected), so the sign of the
    meridian convergence cannot be confused (IFC-3).
    """
    horizontal = frame.crs.horizontal
    if horizontal is None:  # pragma: no cover - MapFrame.check refuses it first
        raise CRSError("no horizontal CRS")
    lon, lat = _geodetic(frame, frame.eastings, frame.northings)
    back = horizontal_transformer(_WGS84, horizontal)
    e2, n2 = back.transform(lon, lat + _NORTH_STEP_DEG, errcheck=True)
    dx, dy = float(e2) - frame.eastings, float(n2) - frame.northings
    length = math.hypot(dx, dy)
    return dx / length, dy / length


def _projected_crs_fields(frame: MapFrame) -> dict[str, Any]:
    horizontal = frame.crs.horizontal
    if horizontal is None:  # pragma: no cover - MapFrame.check refuses it first
        raise CRSError("no horizontal CRS")
    operation = horizontal.coordinate_operation
    zone = _ZONE.search(operation.name) if operation is not None else None
    vertical = None if frame.ellipsoidal_heights else frame.crs.vertical
    heights = (
        "ellipsoidal heights"
        if frame.ellipsoidal_heights
        else f"heights: {vertical.name}"
        if vertical is not None
        else "heights: vertical datum unknown"
    )
    return {
        "Name": authority_code(horizontal) or horizontal.name,
        "Description": f"{horizontal.name}; {heights}",
        "GeodeticDatum": horizontal.datum.name if horizontal.datum is not None else None,
        "VerticalDatum": None if vertical is None else authority_code(vertical) or vertical.name,
        "MapProjection": operation.method_name if operation is not None else None,
        "MapZone": zone.group(1) if zone else None,
    }


def add_georeferencing(doc: IfcDocument, frame: MapFrame) -> dict[str, Any]:
    """Add IfcMapConversion + IfcProjectedCRS and the site's reference position.

    Returns
    -------
    dict
        What was written (for the job report): CRS name, vertical datum, eastings, northings,
        orthogonal height, rotation, scale, site latitude/longitude.
    """
    fields = _projected_crs_fields(frame)
    crs = doc.create("IfcProjectedCRS", MapUnit=doc.length_unit, **fields)
    doc.create(
        "IfcMapConversion",
        SourceCRS=doc.context,
        TargetCRS=crs,
        Eastings=frame.eastings,
        Northings=frame.northings,
        OrthogonalHeight=frame.orthogonal_height,
        XAxisAbscissa=1.0,
        XAxisOrdinate=0.0,
        Scale=1.0,
    )
    lon, lat = _geodetic(frame, frame.eastings, frame.northings)
    doc.site.RefLatitude = compound_angle(lat)
    doc.site.RefLongitude = compound_angle(lon)
    doc.site.RefElevation = frame.orthogonal_height
    return {
        "method": "IfcMapConversion",
        "crs": fields["Name"],
        "vertical_datum": fields["VerticalDatum"],
        "eastings": frame.eastings,
        "northings": frame.northings,
        "orthogonal_height": frame.orthogonal_height,
        "rotation_deg": 0.0,
        "scale": 1.0,
        "site_latitude": round(lat, 9),
        "site_longitude": round(lon, 9),
    }
