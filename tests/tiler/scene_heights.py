"""Read a combined scene (buildings + points) back as a client places it, and compare heights.

Used by ``test_points_with_buildings.py`` and by ``bench/render_points_buildings.py``: every
position goes through the tileset's transforms (external tilesets included), the glTF node
matrix and the y-up -> z-up rotation to ECEF, then to WGS 84 ellipsoidal heights (GEO-2).

:func:`height_problems` is the numeric check: ground points (class 2) next to each building
against the building's lowest vertices (its ground surface), and roof points (class 6)
inside a footprint against the highest building triangle above them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from citymodel.crs.geodetic import ecef_to_geodetic
from tests.gltf_reader import read_glb
from tests.tiler.points_helpers import Y_UP_TO_Z_UP, decode

F64 = npt.NDArray[np.float64]

GROUND_TOLERANCE_M = 0.35
"""Largest |ground points near a building - the building's lowest vertex| per building: the
synthetic terrain slopes below 1 %, so 5 m from the footprint it differs by < 0.1 m (plus
1 cm LAS quantisation); a geoid left out (≈ 46 m) or a 1 m float error fails it."""
MEAN_TOLERANCE_M = 0.12
"""Largest mean offset over all buildings (a systematic error of 0.2 m fails it)."""
ROOF_TOLERANCE_M = 0.25
"""Largest distance of a roof point below/above the roof surface under it."""
ROOF_SHARE = 0.95
"""Share of roof points inside footprints that must lie on the roof (facade points graze
the walls and are classified as building too)."""


def _matrix(node: dict[str, Any], key: str) -> F64:
    values = node.get(key)
    if values is None:
        return np.eye(4)
    return np.asarray(values, dtype=np.float64).reshape(4, 4).T


def contents(tileset: Path) -> Iterator[tuple[Path, F64]]:
    """Every content file below ``tileset`` with its content-to-ECEF matrix (explicit trees)."""
    document = json.loads(tileset.read_text(encoding="utf-8"))

    def visit(tile: dict[str, Any], base: Path, parent: F64) -> Iterator[tuple[Path, F64]]:
        matrix = parent @ _matrix(tile, "transform")
        uri = tile.get("content", {}).get("uri")
        if uri is not None and uri.endswith(".json"):
            external = json.loads((base / uri).read_text(encoding="utf-8"))
            yield from visit(external["root"], (base / uri).parent, matrix)
        elif uri is not None:
            yield (base / uri).resolve(), matrix
        for child in tile.get("children", []):
            yield from visit(child, base, matrix)

    yield from visit(document["root"], tileset.parent, np.eye(4))


@dataclass
class Buildings:
    """Triangles (ECEF) and the building id of each."""

    triangles: F64  # (T, 3, 3)
    ids: npt.NDArray[np.str_]  # (T,)


@dataclass
class Points:
    """Point positions (ECEF) and classes."""

    ecef: F64  # (N, 3)
    classification: npt.NDArray[np.int64]  # (N,)


def _to(matrix: F64, xyz: F64) -> F64:
    return np.asarray(xyz @ matrix[:3, :3].T + matrix[:3, 3], dtype=np.float64)


def read_buildings(tileset: Path) -> Buildings:
    """Triangles of every glTF building content, placed in ECEF, with their building ids."""
    triangles: list[F64] = []
    ids: list[npt.NDArray[np.str_]] = []
    for path, matrix in contents(tileset):
        gltf = read_glb(path.read_bytes())
        doc = gltf.document
        table = gltf.property_table(0)
        names = np.asarray(table["building_id"], dtype=np.str_)
        for node_index in doc["scenes"][0]["nodes"]:
            node = doc["nodes"][node_index]
            to_ecef = matrix @ Y_UP_TO_Z_UP @ _matrix(node, "matrix")
            for primitive in doc["meshes"][node["mesh"]]["primitives"]:
                if primitive.get("mode", 4) != 4:
                    continue
                position = gltf.accessor(primitive["attributes"]["POSITION"]).astype(np.float64)
                feature = gltf.accessor(primitive["attributes"]["_FEATURE_ID_0"]).astype(np.int64)
                index = gltf.accessor(primitive["indices"]).astype(np.int64).reshape(-1, 3)
                triangles.append(_to(to_ecef, position)[index])
                ids.append(names[feature.ravel()[index[:, 0]]])
    return Buildings(np.concatenate(triangles), np.concatenate(ids))


def read_points(tileset: Path) -> Points:
    """Every point of a point tileset (ADD refinement: each stored once), in ECEF."""
    positions: list[F64] = []
    classes: list[npt.NDArray[np.int64]] = []
    for path, matrix in contents(tileset):
        local, values = decode(path)
        positions.append(_to(matrix, local))
        classes.append(np.asarray(values["classification"], dtype=np.int64))
    return Points(np.concatenate(positions), np.concatenate(classes))


@dataclass
class HeightReport:
    """What :func:`height_problems` measured (metres)."""

    ground_offsets: dict[str, float]  # building id -> median ground points - lowest vertex
    roof_on_surface: float  # share of roof points within ROOF_TOLERANCE_M of the roof
    roof_points: int
    buildings_lowest: dict[str, float]  # building id -> ellipsoidal height of lowest vertex


def _enu_frame(ecef: F64) -> tuple[F64, F64]:
    lon, lat, _ = np.radians(ecef_to_geodetic(ecef.mean(axis=0, keepdims=True))[0])
    east = np.array([-np.sin(lon), np.cos(lon), 0.0])
    north = np.array([-np.sin(lat) * np.cos(lon), -np.sin(lat) * np.sin(lon), np.cos(lat)])
    up = np.cross(east, north)
    return ecef.mean(axis=0), np.stack([east, north, up])


def _inside_triangles(xy: F64, tri: F64) -> tuple[npt.NDArray[np.bool_], F64]:
    """Per point and triangle (P, T): inside the triangle's xy projection; its z there."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    v0, v1 = b[:, :2] - a[:, :2], c[:, :2] - a[:, :2]
    det = v0[:, 0] * v1[:, 1] - v0[:, 1] * v1[:, 0]
    usable = np.abs(det) > 1e-9
    det = np.where(usable, det, 1.0)
    d = xy[:, None, :] - a[None, :, :2]
    u = (d[..., 0] * v1[:, 1] - d[..., 1] * v1[:, 0]) / det
    v = (v0[:, 0] * d[..., 1] - v0[:, 1] * d[..., 0]) / det
    inside = usable & (u >= -1e-9) & (v >= -1e-9) & (u + v <= 1 + 1e-9)
    z = a[:, 2] + u * (b[:, 2] - a[:, 2]) + v * (c[:, 2] - a[:, 2])
    return inside, z


def measure_heights(buildings: Buildings, points: Points, *, band_m: float = 5.0) -> HeightReport:
    """Ground points next to and roof points on every building (see the module docstring).

    Horizontal association in a local ENU frame; vertical comparison of ellipsoidal heights.
    """
    origin, axes = _enu_frame(buildings.triangles.reshape(-1, 3))
    tri = (buildings.triangles - origin) @ axes.T
    pts = (points.ecef - origin) @ axes.T
    tri_h = ecef_to_geodetic(buildings.triangles.reshape(-1, 3))[:, 2].reshape(-1, 3)
    pts_h = ecef_to_geodetic(points.ecef)[:, 2]
    # ENU up is the ellipsoidal height up to d^2 / 2R (< 1 mm within 100 m): use the
    # true heights for the comparison and ENU for "which surface is above this point".
    ground = points.classification == 2
    roof = points.classification == 6
    offsets: dict[str, float] = {}
    lowest: dict[str, float] = {}
    on_roof = 0
    roof_total = 0
    for name in np.unique(buildings.ids):
        mine = buildings.ids == name
        corners = tri[mine].reshape(-1, 3)
        low = float(tri_h[mine].min())
        lowest[str(name)] = low
        lo, hi = corners[:, :2].min(axis=0), corners[:, :2].max(axis=0)
        near = (pts[:, :2] >= lo - band_m).all(axis=1) & (pts[:, :2] <= hi + band_m).all(axis=1)
        within = near & (pts[:, :2] >= lo).all(axis=1) & (pts[:, :2] <= hi).all(axis=1)
        candidates = np.flatnonzero(near & (ground | roof))
        inside, z = _inside_triangles(pts[candidates, :2], tri[mine])
        covered = inside.any(axis=1)
        top = np.where(inside, z, -np.inf).max(axis=1)
        ground_near = candidates[ground[candidates] & ~covered & ~within[candidates]]
        if len(ground_near):
            offsets[str(name)] = float(np.median(pts_h[ground_near])) - low
        roof_inside = covered & roof[candidates]
        roof_total += int(roof_inside.sum())
        # ENU up of the point minus the roof's ENU up under it (same frame, same scale).
        gap = np.abs(pts[candidates[roof_inside], 2] - top[roof_inside])
        on_roof += int((gap <= ROOF_TOLERANCE_M).sum())
    return HeightReport(
        ground_offsets=offsets,
        roof_on_surface=on_roof / roof_total if roof_total else 0.0,
        roof_points=roof_total,
        buildings_lowest=lowest,
    )


def height_problems(report: HeightReport, n_buildings: int) -> list[str]:
    """What is wrong with the heights (empty: points and buildings agree)."""
    problems: list[str] = []
    if len(report.ground_offsets) < 0.8 * n_buildings:
        problems.append(
            f"ground points found next to only {len(report.ground_offsets)} of "
            f"{n_buildings} buildings"
        )
    bad = {k: round(v, 3) for k, v in report.ground_offsets.items() if abs(v) > GROUND_TOLERANCE_M}
    if bad:
        problems.append(
            f"ground points vs lowest building vertex off by more than "
            f"{GROUND_TOLERANCE_M} m: {bad}"
        )
    if report.ground_offsets:
        mean = float(np.mean(list(report.ground_offsets.values())))
        if abs(mean) > MEAN_TOLERANCE_M:
            problems.append(f"ground points are {mean:+.3f} m off the buildings on average")
    if report.roof_points < 10 * n_buildings:
        problems.append(f"only {report.roof_points} roof points inside the footprints")
    elif report.roof_on_surface < ROOF_SHARE:
        problems.append(
            f"only {report.roof_on_surface:.1%} of {report.roof_points} roof points lie within "
            f"{ROOF_TOLERANCE_M} m of the roof"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.tiler.scene_heights BUILDINGS/tileset.json POINTS/tileset.json N``."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print(main.__doc__, file=sys.stderr)
        return 2
    report = measure_heights(read_buildings(Path(args[0])), read_points(Path(args[1])))
    offsets = np.array(list(report.ground_offsets.values()))
    print(
        f"buildings with ground points around: {len(offsets)}; ground - lowest vertex: "
        f"median {np.median(offsets):+.3f} m, range {offsets.min():+.3f}..{offsets.max():+.3f} m; "
        f"roof points on the roof: {report.roof_on_surface:.1%} of {report.roof_points}"
    )
    problems = height_problems(report, int(args[2]))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
