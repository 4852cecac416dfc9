"""Tiny deterministic meshes for writer tests: box buildings with semantic faces.

Each box has 6 quads (ground, roof, 4 walls) = 24 vertices (none shared between polygons)
and 12 counter-clockwise triangles; positions are z-up metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from citymodel.model.semantics import SurfaceType

# (corner indices of a quad, outward normal, surface type); corner (i, j, k) = bit index i + 2j + 4k
_QUADS = [
    ((0, 2, 3, 1), (0, 0, -1), SurfaceType.GROUND),
    ((4, 5, 7, 6), (0, 0, 1), SurfaceType.ROOF),
    ((0, 1, 5, 4), (0, -1, 0), SurfaceType.WALL),
    ((2, 6, 7, 3), (0, 1, 0), SurfaceType.WALL),
    ((0, 4, 6, 2), (-1, 0, 0), SurfaceType.WALL),
    ((1, 3, 7, 5), (1, 0, 0), SurfaceType.WALL),
]
_CORNERS = np.array([[i & 1, (i >> 1) & 1, (i >> 2) & 1] for i in range(8)], dtype=np.float64)


@dataclass
class BoxMesh:
    positions: np.ndarray  # (N, 3) float64
    triangles: np.ndarray  # (M, 3) uint32
    feature_ids: np.ndarray  # (N,) uint32
    surface_types: np.ndarray  # (M,) uint8
    normals: np.ndarray  # (N, 3) expected unit normals


def box_mesh(
    origins: np.ndarray, sizes: np.ndarray, feature_ids: np.ndarray | None = None
) -> BoxMesh:
    """One box per row of ``origins`` (B, 3) with ``sizes`` (B, 3); feature id = box index."""
    origins = np.asarray(origins, dtype=np.float64).reshape(-1, 3)
    sizes = np.broadcast_to(np.asarray(sizes, dtype=np.float64), origins.shape)
    b = origins.shape[0]
    quad_corners = np.array([q for q, _, _ in _QUADS]).reshape(-1)  # 24 corner ids
    local = _CORNERS[quad_corners]  # (24, 3)
    positions = (origins[:, None, :] + local[None, :, :] * sizes[:, None, :]).reshape(-1, 3)
    quad_tris = np.array([[0, 1, 2], [0, 2, 3]])
    one_box = np.concatenate([quad_tris + 4 * q for q in range(6)])  # (12, 3)
    triangles = (one_box[None, :, :] + 24 * np.arange(b)[:, None, None]).reshape(-1, 3)
    types = np.repeat([int(t) for _, _, t in _QUADS], 2)
    normals = np.repeat(np.array([n for _, n, _ in _QUADS], dtype=np.float64), 4, axis=0)
    fids = np.arange(b) if feature_ids is None else np.asarray(feature_ids)
    return BoxMesh(
        positions=positions,
        triangles=triangles.astype(np.uint32),
        feature_ids=np.repeat(fids, 24).astype(np.uint32),
        surface_types=np.tile(types, b).astype(np.uint8),
        normals=np.tile(normals, (b, 1)),
    )


def grid_boxes(count: int, *, spacing: float = 15.0, seed: int = 0) -> BoxMesh:
    """``count`` boxes on a square grid with random sizes (deterministic by ``seed``)."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(count)))
    idx = np.arange(count)
    origins = np.stack(
        [(idx % side) * spacing, (idx // side) * spacing, rng.uniform(0, 3, count)], axis=1
    )
    origins -= [side * spacing / 2, side * spacing / 2, 0]
    sizes = np.stack(
        [rng.uniform(5, 12, count), rng.uniform(5, 12, count), rng.uniform(3, 25, count)], axis=1
    )
    return box_mesh(origins, sizes)
