"""One root tileset over several tilesets of the same place (buildings + LiDAR points ...).

:func:`combine_tilesets` writes a ``tileset.json`` whose root has one child per given tileset,
each referencing that tileset's own ``tileset.json`` as an external tileset (3D Tiles 1.1
§ External tilesets): a viewer loads the buildings and the point cloud as one scene, each
keeping its own transform, refinement and content. Volumes are ``region`` s (EPSG:4979
longitude/latitude in radians, ellipsoidal heights in metres) that contain the children's root
volumes, whatever form those have (region, box or sphere under the root ``transform``), so no
transform is needed above the children (T3D-4: a parent's volume contains its children's).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from citymodel._typing import Float64Array
from citymodel.atomic import write_bytes_atomic
from citymodel.converters.gltf_binary import dump_json
from citymodel.crs.geodetic import ecef_to_geodetic
from citymodel.errors import InputError

__all__ = ["combine_tilesets", "root_region"]

_CORNERS = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], dtype=float)
# Margin added to regions derived from boxes and spheres: the edges of a box bulge past the
# longitude/latitude/height range of its corners by at most (edge length)^2 / (8 R) metres,
# below 1 cm per km; 1 m covers any tile of a city.
_MARGIN_M = 1.0
_EARTH_RADIUS_M = 6_371_000.0


def _transform(node: Mapping[str, Any]) -> Float64Array:
    """Column-major ``transform`` of a tile as a (4, 4) matrix (identity when absent)."""
    values = node.get("transform")
    if values is None:
        return np.eye(4)
    return np.asarray(values, dtype=np.float64).reshape(4, 4).T


def _region_of_points(ecef: Float64Array, margin_m: float) -> list[float]:
    lon, lat, h = ecef_to_geodetic(ecef).T
    pad = margin_m / _EARTH_RADIUS_M
    return [
        math.radians(float(lon.min())) - pad,
        math.radians(float(lat.min())) - pad,
        math.radians(float(lon.max())) + pad,
        math.radians(float(lat.max())) + pad,
        float(h.min()) - margin_m,
        float(h.max()) + margin_m,
    ]


def root_region(tileset: Mapping[str, Any]) -> list[float]:
    """The root volume of a tileset document as a region (radians, metres), containing it.

    Parameters
    ----------
    tileset
        A parsed ``tileset.json``.

    Returns
    -------
    list of float
        ``[west, south, east, north, min height, max height]``: EPSG:4979 radians and metres.

    Raises
    ------
    InputError
        If the root has no region, box or sphere volume.
    """
    root = tileset["root"]
    volume = root["boundingVolume"]
    if "region" in volume:
        return [float(v) for v in volume["region"]]
    matrix = _transform(root)
    if "box" in volume:
        box = np.asarray(volume["box"], dtype=np.float64)
        local = box[:3] + _CORNERS @ box[3:].reshape(3, 3)
    elif "sphere" in volume:
        centre, radius = np.asarray(volume["sphere"][:3], dtype=np.float64), volume["sphere"][3]
        local = centre + radius * _CORNERS
    else:
        raise InputError(f"the root bounding volume {sorted(volume)} has no region, box or sphere")
    ecef = local @ matrix[:3, :3].T + matrix[:3, 3]
    return _region_of_points(ecef, _MARGIN_M)


def _union(regions: list[list[float]]) -> list[float]:
    spans = np.asarray(regions, dtype=np.float64)
    return [
        float(spans[:, 0].min()),
        float(spans[:, 1].min()),
        float(spans[:, 2].max()),
        float(spans[:, 3].max()),
        float(spans[:, 4].min()),
        float(spans[:, 5].max()),
    ]


def combine_tilesets(out: Path, children: Mapping[str, Path]) -> Path:
    """Write ``out`` (a ``tileset.json``) with each tileset of ``children`` as one subtree.

    Parameters
    ----------
    out
        Path of the root ``tileset.json`` to write (atomically); its folder must be a parent
        of every child tileset so that relative URIs reach them.
    children
        Name (for messages) -> path of a child ``tileset.json``; every child is a complete
        tileset (its own transform, refinement and geometric errors are kept).

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    InputError
        If a child is missing, unreadable, of another 3D Tiles version than the first one,
        outside ``out``'s folder, or its root volume cannot be expressed as a region.
    """
    if not children:
        raise InputError("no tilesets to combine")
    base = out.parent.resolve()
    tiles: list[dict[str, Any]] = []
    regions: list[list[float]] = []
    versions: set[str] = set()
    errors: list[float] = []
    for name, path in children.items():
        resolved = path.resolve()
        try:
            document = json.loads(resolved.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise InputError(f"cannot read the tileset {name!r}: {err}", path=path) from err
        if not resolved.is_relative_to(base):
            raise InputError(
                f"the tileset {name!r} is not below {base}, the folder of the root tileset",
                path=path,
            )
        versions.add(str(document.get("asset", {}).get("version", "")))
        region = root_region(document)
        error = float(document["geometricError"])
        regions.append(region)
        errors.append(error)
        tiles.append(
            {
                "boundingVolume": {"region": region},
                "geometricError": error,
                "content": {"uri": Path(os.path.relpath(resolved, base)).as_posix()},
            }
        )
    if len(versions) != 1:
        raise InputError(f"the tilesets mix 3D Tiles versions {sorted(versions)}")
    top = max(errors)
    document = {
        "asset": {"version": versions.pop()},
        "geometricError": top,
        "root": {
            "boundingVolume": {"region": _union(regions)},
            "geometricError": top,
            "refine": "ADD",
            "children": tiles,
        },
    }
    write_bytes_atomic(out, dump_json(document))
    return out
