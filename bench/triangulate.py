"""Micro-benchmark: batched triangulation of LoD2-like polygons (performance.md floor).

Generates ``--buildings`` AdV-like LoD2 buildings at UTM coordinates (gabled boxes: quads and
pentagons; L-shaped flat-roofed ones: concave ground and roof; some walls split by collinear
vertices; some roofs with a hole; coordinates rounded to mm like real files) and times
:func:`citymodel.ops.triangulate.triangulate_polygons` on all their polygons at once, with and
without the numpy fan path, then :func:`citymodel.meshing.mesh_features` on the same buildings.

Run: ``.venv/bin/python bench/triangulate.py --buildings 14000``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from citymodel.meshing import mesh_features
from citymodel.model import Feature, SurfaceGeometry, SurfaceType
from citymodel.ops.triangulate import triangulate_polygons

Polygon = tuple[list[np.ndarray], int]


def gabled(rng: np.random.Generator) -> list[Polygon]:
    w, d, h, ridge = rng.uniform(6, 20), rng.uniform(6, 14), rng.uniform(3, 9), rng.uniform(1, 5)
    c = np.array([[0, 0], [w, 0], [w, d], [0, d]], float)
    z0, z1, z2 = 0.0, h, h + ridge

    def p(x: float, y: float, z: float) -> np.ndarray:
        return np.array([x, y, z])

    out: list[Polygon] = [([np.array([[*c[i], z0] for i in (0, 3, 2, 1)])], SurfaceType.GROUND)]
    front = [p(0, 0, z0), p(w, 0, z0), p(w, 0, z1), p(0, 0, z1)]
    if rng.random() < 0.3:  # a wall split by a neighbour's corner: collinear vertex
        front.insert(1, p(w / 2, 0, z0))
    out.append(([np.array(front)], SurfaceType.WALL))
    out.append(([np.array([p(w, d, z0), p(0, d, z0), p(0, d, z1), p(w, d, z1)])], SurfaceType.WALL))
    out.append(
        (
            [np.array([p(w, 0, z0), p(w, d, z0), p(w, d, z1), p(w, d / 2, z2), p(w, 0, z1)])],
            SurfaceType.WALL,
        )
    )
    out.append(
        (
            [np.array([p(0, d, z0), p(0, 0, z0), p(0, 0, z1), p(0, d / 2, z2), p(0, d, z1)])],
            SurfaceType.WALL,
        )
    )
    roof_a = np.array([p(0, 0, z1), p(w, 0, z1), p(w, d / 2, z2), p(0, d / 2, z2)])
    rings = [roof_a]
    if rng.random() < 0.05:  # a roof window opening
        t = np.array([0.4, 0.2, 0.0])
        hole = (
            roof_a[0]
            + np.outer([0, 1, 1, 0], (roof_a[1] - roof_a[0]) * 0.2)
            + np.outer([0, 0, 1, 1], (roof_a[3] - roof_a[0]) * 0.3)
            + (roof_a[1] - roof_a[0]) * t[0]
            + (roof_a[3] - roof_a[0]) * t[1]
        )
        rings.append(hole[::-1])
    out.append((rings, SurfaceType.ROOF))
    out.append(
        ([np.array([p(w, d, z1), p(0, d, z1), p(0, d / 2, z2), p(w, d / 2, z2)])], SurfaceType.ROOF)
    )
    return out


def l_shaped(rng: np.random.Generator) -> list[Polygon]:
    a, b = rng.uniform(10, 25, 2)
    ca, cb = a * rng.uniform(0.3, 0.7), b * rng.uniform(0.3, 0.7)
    h = rng.uniform(3, 12)
    foot = np.array([[0, 0], [a, 0], [a, cb], [ca, cb], [ca, b], [0, b]], float)
    out: list[Polygon] = [
        ([np.column_stack([foot[::-1], np.zeros(6)])], SurfaceType.GROUND),
        ([np.column_stack([foot, np.full(6, h)])], SurfaceType.ROOF),
    ]
    for i in range(6):
        q0, q1 = foot[i], foot[(i + 1) % 6]
        out.append(([np.array([[*q0, 0], [*q1, 0], [*q1, h], [*q0, h]])], SurfaceType.WALL))
    return out


def buildings(n: int, seed: int = 7) -> list[Feature]:
    rng = np.random.default_rng(seed)
    features = []
    for i in range(n):
        polys = gabled(rng) if rng.random() < 0.8 else l_shaped(rng)
        angle = rng.uniform(0, 2 * np.pi)
        rot = np.array(
            [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
        )
        shift = np.array(
            [rng.uniform(3.4e5, 3.6e5), rng.uniform(5.64e6, 5.66e6), rng.uniform(40, 120)]
        )
        rings = [[np.round(r @ rot.T + shift, 3) for r in rs] for rs, _ in polys]
        geom = SurfaceGeometry.from_polygons(rings, [int(t) for _, t in polys], lod="2", solid=True)
        features.append(Feature(id=f"B{i}", type="Building", geometries=(geom,)))
    return features


def best_of(repeat: int, fn: object) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=14_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    features = buildings(args.buildings)
    geoms = [f.geometries[0] for f in features]
    verts = np.concatenate([g.vertices for g in geoms])
    ring_sizes = np.concatenate([np.diff(g.ring_offsets) for g in geoms])
    poly_sizes = np.concatenate([np.diff(g.polygon_offsets) for g in geoms])
    ro = np.concatenate([[0], np.cumsum(ring_sizes)]).astype(np.int64)
    po = np.concatenate([[0], np.cumsum(poly_sizes)]).astype(np.int64)
    n_polys = po.shape[0] - 1
    result = triangulate_polygons(verts, ro, po)
    print(
        f"{n_polys} polygons, {verts.shape[0]} vertices, {result.triangle_count} triangles, "
        f"{len(result.failures)} failures, {len(result.warnings)} warnings"
    )
    for fan in (True, False):
        t = best_of(args.repeat, lambda fan=fan: triangulate_polygons(verts, ro, po, fan=fan))
        print(
            f"triangulate_polygons(fan={fan}): {t * 1e3:.0f} ms, {n_polys / t / 1e3:.0f} k polygons/s"
        )
    t = best_of(args.repeat, lambda: mesh_features(features))
    print(
        f"mesh_features: {t * 1e3:.0f} ms, {len(features) / t:.0f} buildings/s, {n_polys / t / 1e3:.0f} k polygons/s"
    )


if __name__ == "__main__":
    main()
