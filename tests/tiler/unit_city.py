"""Synthetic units for the tiler planning tests: gable-roof houses (some with parts) in ECEF.

Geometry is built in an east-north-up frame at a Hamburg anchor (metres, z up) as polygons with
semantics, fan-triangulated with unshared vertices (like :mod:`citymodel.meshing`), then moved
to ECEF (EPSG:4978) with pyproj. Attributes exercise every stored value type.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pyproj

from citymodel.mesh import FeatureTable, Mesh, MeshBatch
from citymodel.model.semantics import SurfaceType as S

ANCHOR_LON_LAT_H = (9.99, 53.55, 45.0)
"""Degrees, degrees, metres above the ellipsoid."""

Polygon = tuple[Sequence[Sequence[float]], int]


def gable_polygons(
    x0: float, y0: float, length: float, width: float, eave: float, ridge: float, base: float = 0.0
) -> list[Polygon]:
    """A closed gable-roof house; ridge along x at ``y0 + width / 2``; outward orientation."""
    x1, y1, ym = x0 + length, y0 + width, y0 + width / 2
    e, r, b = base + eave, base + ridge, base
    return [
        ([(x0, y0, b), (x0, y1, b), (x1, y1, b), (x1, y0, b)], S.GROUND),
        ([(x0, y0, b), (x1, y0, b), (x1, y0, e), (x0, y0, e)], S.WALL),
        ([(x1, y1, b), (x0, y1, b), (x0, y1, e), (x1, y1, e)], S.WALL),
        ([(x1, y0, b), (x1, y1, b), (x1, y1, e), (x1, ym, r), (x1, y0, e)], S.WALL),
        ([(x0, y1, b), (x0, y0, b), (x0, y0, e), (x0, ym, r), (x0, y1, e)], S.WALL),
        ([(x0, y0, e), (x1, y0, e), (x1, ym, r), (x0, ym, r)], S.ROOF),
        ([(x1, y1, e), (x0, y1, e), (x0, ym, r), (x1, ym, r)], S.ROOF),
    ]


def polygons_to_mesh(polygons: Sequence[Polygon], feature_id: int = 0) -> Mesh:
    """Fan-triangulate convex polygons; every polygon gets its own vertices."""
    positions: list[Sequence[float]] = []
    triangles: list[tuple[int, int, int]] = []
    types: list[int] = []
    for ring, surface in polygons:
        start = len(positions)
        positions.extend(ring)
        for i in range(1, len(ring) - 1):
            triangles.append((start, start + i, start + i + 1))
            types.append(int(surface))
    return Mesh(
        positions=np.asarray(positions, dtype=np.float64),
        triangles=np.asarray(triangles, dtype=np.uint32),
        feature_ids=np.full(len(positions), feature_id, np.uint32),
        surface_types=np.asarray(types, dtype=np.uint8),
    )


def enu_to_ecef(
    local: np.ndarray, anchor: tuple[float, float, float] = ANCHOR_LON_LAT_H
) -> np.ndarray:
    """ENU metres at ``anchor`` (lon°, lat°, h) -> ECEF metres, via pyproj for the anchor."""
    to_ecef = pyproj.Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    origin = np.array(to_ecef.transform(*anchor))
    lam, phi = np.radians(anchor[0]), np.radians(anchor[1])
    east = np.array([-np.sin(lam), np.cos(lam), 0.0])
    north = np.array([-np.sin(phi) * np.cos(lam), -np.sin(phi) * np.sin(lam), np.cos(phi)])
    up = np.array([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])
    rot = np.stack([east, north, up], axis=1)
    result: np.ndarray = local @ rot.T + origin
    return result


def city_batch(
    count: int,
    *,
    seed: int = 0,
    spacing: float = 40.0,
    prefix: str = "DEHH_Gebäude_",
    origin: tuple[float, float] = (0.0, 0.0),
) -> MeshBatch:
    """``count`` units on a grid; every third unit is a Building (no geometry) with two parts.

    The grid starts at ``origin`` (east, north metres from the anchor); building ids are
    ``prefix`` + number.

    Rows carry ``gml_id``, ``building_id``, ``object_type`` and attributes with umlauts,
    ``None``, dates, ints, floats and bools.
    """
    rng = np.random.default_rng(seed)
    meshes: list[Mesh] = []
    table = FeatureTable()
    side = max(int(np.ceil(np.sqrt(count))), 1)
    for u in range(count):
        x0, y0 = origin[0] + (u % side) * spacing, origin[1] + (u // side) * spacing
        bid = f"{prefix}{u}"
        length, width = rng.uniform(8, 25), rng.uniform(6, 14)
        eave = rng.uniform(3, 12)
        ridge = eave + rng.uniform(0.5, 6)
        attrs = {
            "function": "31001_1000" if u % 2 else "Straße Nr. ü",
            "storeysAboveGround": None if u % 4 == 1 else int(rng.integers(1, 9)),
            "measuredHeight": float(ridge),
            "creationDate": dt.date(2020, 1 + u % 12, 1 + u % 28),
            "isHistoric": bool(u % 5 == 0),
        }
        if u % 3 == 2:
            table.add_row({"gml_id": bid, "building_id": bid, "object_type": "Building", **attrs})
            half = length / 2
            for k, (dx, extra) in enumerate(((0.0, 0.0), (half, 4.0))):
                row = table.add_row(
                    {
                        "gml_id": f"{bid}_part{k}",
                        "building_id": bid,
                        "object_type": "BuildingPart",
                        "measuredHeight": float(ridge + extra),
                        "note": None if k == 0 else "Anbau – ökologisch",
                    }
                )
                polys = gable_polygons(x0 + dx, y0, half, width, eave + extra, ridge + extra)
                meshes.append(polygons_to_mesh(polys, row))
        else:
            row = table.add_row(
                {"gml_id": bid, "building_id": bid, "object_type": "Building", **attrs}
            )
            meshes.append(polygons_to_mesh(gable_polygons(x0, y0, length, width, eave, ridge), row))
    local = Mesh.concat(meshes)
    mesh = Mesh(
        positions=enu_to_ecef(local.positions),
        triangles=local.triangles,
        feature_ids=local.feature_ids,
        surface_types=local.surface_types,
    )
    return MeshBatch(mesh=mesh, features=table, crs="EPSG:4978")
