"""Hypothesis strategies and generators of synthetic feature indexes for the planning tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from citymodel.tiler.index import FeatureIndex, round_down_f32, round_up_f32

HAMBURG = (np.radians(9.99), np.radians(53.55))
"""Longitude, latitude (radians) around which synthetic units are placed."""


def synthetic_index(
    count: int,
    *,
    seed: int = 0,
    spread_m: float = 3000.0,
    clusters: int = 20,
    huge_every: int = 0,
) -> FeatureIndex:
    """A plausible city index: clustered centroids, building-sized regions and counts.

    Parameters
    ----------
    count
        Units.
    seed
        Random seed.
    spread_m
        Extent of the city in metres.
    clusters
        Number of dense districts.
    huge_every
        Every ``huge_every``-th unit gets 10 million triangles (0: none).
    """
    rng = np.random.default_rng(seed)
    metre = 1.0 / 6_371_000.0
    centres = rng.uniform(0, spread_m, (max(clusters, 1), 2))
    xy = centres[rng.integers(0, len(centres), count)] + rng.normal(0, spread_m / 30, (count, 2))
    lon = HAMBURG[0] + xy[:, 0] * metre / np.cos(HAMBURG[1])
    lat = HAMBURG[1] + xy[:, 1] * metre
    half = rng.uniform(3, 30, (count, 2)) * metre
    low = rng.uniform(40, 50, count)
    height = rng.uniform(3, 40, count)
    tris = rng.integers(20, 2000, count)
    if huge_every:
        tris[::huge_every] = 10_000_000
    return FeatureIndex(
        west=lon - half[:, 0] / np.cos(HAMBURG[1]),
        south=lat - half[:, 1],
        east=lon + half[:, 0] / np.cos(HAMBURG[1]),
        north=lat + half[:, 1],
        min_height=round_down_f32(low),
        max_height=round_up_f32(low + height),
        lon=lon,
        lat=lat,
        triangle_count=tris.astype(np.uint32),
        vertex_count=(2 * tris).astype(np.uint32),
        block_triangle_count=np.where(rng.random(count) < 0.05, 0, rng.integers(12, 60, count)),
        deviation=round_up_f32(rng.uniform(0, 6, count)),
        importance=round_up_f32(np.maximum(height, rng.uniform(6, 60, count))),
        shard=rng.integers(0, 3, count).astype(np.uint16),
        offset=np.arange(count, dtype=np.uint64) * 4096,
        block_length=rng.integers(200, 2000, count).astype(np.uint32),
        length=np.minimum(tris * 30 + 400, 2**32 - 1).astype(np.uint32),
    )


@st.composite
def indexes(draw: st.DrawFn, max_units: int = 400) -> FeatureIndex:
    """Random synthetic indexes, including duplicate centroids and oversized units."""
    count = draw(st.integers(1, max_units))
    index = synthetic_index(
        count,
        seed=draw(st.integers(0, 2**32 - 1)),
        spread_m=draw(st.sampled_from([0.5, 50.0, 3000.0, 30000.0])),
        clusters=draw(st.integers(1, 30)),
        huge_every=draw(st.sampled_from([0, 0, 7, 50])),
    )
    if draw(st.booleans()) and count > 1:
        # Several units sharing one centroid (the depth guard must stop splitting).
        same = np.zeros(count, dtype=bool)
        same[: max(2, count // 4)] = True
        columns = index.columns()
        for name in ("lon", "lat"):
            column = columns[name].copy()
            column[same] = column[0]
            columns[name] = column
        index = FeatureIndex(**columns)
    return index
