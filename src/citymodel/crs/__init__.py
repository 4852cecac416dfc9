"""Coordinate reference systems: srsName normalisation, geoid grids and georeferencing to ECEF.

Three jobs, each with the correctness rules it implements (``docs/correctness.md``):

1. **Resolve CRS identifiers** (AX-1, AX-2; :mod:`~citymodel.crs.srsname`,
   :mod:`~citymodel.crs.resolved`): :func:`parse_srs_name` maps every srsName form found in
   CityGML/CityJSON files (EPSG short codes, OGC URNs and URLs, compound URNs,
   ``crs-compound`` URLs, AdV URNs) to a :class:`ResolvedCRS` = (horizontal, vertical) *before*
   pyproj sees it; unknown strings are an error, not a guess. :func:`resolve_crs` also takes
   user input (``--in-crs``: any of those, ``EPSG:25832+7837``, WKT, an EPSG integer).
   :func:`with_default_vertical` applies the documented default vertical datum to 2D
   horizontal-only CRSs (GEO-5).
2. **Find the grids** (GEO-1, GEO-9; :mod:`~citymodel.crs.grids`): :func:`register_grids` puts
   the grids shipped in ``citymodel/grids`` (GCG2016 quasigeoid, BETA2007) and user grid
   folders on PROJ's search path, once per process; it is also the initializer for spawned
   worker processes.
3. **Georeference** (GEO-2..7; :mod:`~citymodel.crs.georeferencer`,
   :mod:`~citymodel.crs.steps`, :mod:`~citymodel.crs.geodetic`): :class:`Georeferencer` turns
   source coordinates into ECEF (EPSG:4978) or WGS 84 longitude/latitude/ellipsoidal height in
   vectorised batches, with transformers built once per process, ``allow_ballpark=False`` and
   explicit grid checks, so a missing geoid grid is an error naming the file instead of heights
   40 m off.

Axis order (AX-3): every array going in or out of this package is ``x = east / longitude,
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

from citymodel.crs.geodetic import ECEF, GEODETIC_3D, ecef_to_geodetic, geodetic_to_ecef
from citymodel.crs.georeferencer import Georeferencer, VerticalMode
from citymodel.crs.grids import NO_BUNDLED_GRIDS_ENV, register_grids
from citymodel.crs.resolved import CRSLike, ResolvedCRS, with_default_vertical
from citymodel.crs.srsname import axis_order_is_lat_lon, parse_srs_name, resolve_crs

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
