"""Pass 1 -> partition -> LOD plan -> pass-2 reads, on a synthetic city (T3D-3, T3D-4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from citymodel.crs import ecef_to_geodetic
from citymodel.tiler.index import FeatureIndex
from citymodel.tiler.lod import ContentKind, LodPolicy, assign_lod
from citymodel.tiler.partition import PartitionOptions, partition
from citymodel.tiler.store import Locations, ShardWriter, read_blocks, read_units
from tests.tiler.unit_city import city_batch

TOL_RAD = 1e-9
TOL_M = 0.01


def _inside(region: np.ndarray, ecef: np.ndarray) -> bool:
    geo = np.asarray(ecef_to_geodetic(ecef))
    lon, lat, h = np.radians(geo[:, 0]), np.radians(geo[:, 1]), geo[:, 2]
    west, south, east, north, low, high = region
    return bool(
        (lon >= west - TOL_RAD).all()
        and (lon <= east + TOL_RAD).all()
        and (lat >= south - TOL_RAD).all()
        and (lat <= north + TOL_RAD).all()
        and (h >= low - TOL_M).all()
        and (h <= high + TOL_M).all()
    )


def test_city_through_the_planning_half(tmp_path: Path) -> None:
    # Two "worker" shards, as pass 1 would write them.
    parts = [
        city_batch(150, seed=11),
        city_batch(120, seed=12, spacing=35.0, prefix="DEHH_Nord_", origin=(100.0, 520.0)),
    ]
    indexes = []
    for shard, batch in enumerate(parts):
        with ShardWriter(tmp_path, shard) as writer:
            indexes.append(writer.append_batch(batch).index)
    index = FeatureIndex.concat(indexes)
    index.save(tmp_path / "index")
    index = FeatureIndex.load(tmp_path / "index", mmap=True)

    options = PartitionOptions(max_units=40, max_triangles=3000)
    tree = partition(index, options)
    tree.check(index, options)
    plan = assign_lod(tree, index, LodPolicy(max_triangles=600))
    plan.check(index)
    assert tree.depth >= 2

    seen_in_leaves: list[object] = []
    for node in range(len(tree)):
        rows = plan.content_rows(node)
        if plan.content[node] == ContentKind.NONE:
            continue
        locations = Locations.of(index, rows)
        if plan.content[node] == ContentKind.FULL:
            batch = read_units(tmp_path, locations)
            seen_in_leaves.extend(batch.features.column("building_id"))
            assert batch.mesh.triangle_count == int(index.triangle_count[rows].sum())
        else:
            batch = read_blocks(tmp_path, locations)
            assert batch.features.row_count == rows.size
            assert batch.mesh.triangle_count <= plan.policy.max_triangles
        # T3D-3: every tile's region contains its content.
        assert _inside(tree.regions[node], batch.mesh.positions)

    ids = [i for batch in parts for i in batch.features.column("building_id")]
    assert set(seen_in_leaves) == set(ids)
    # Each building id appears in exactly one leaf (its parts may be several rows).
    per_leaf = [
        set(
            read_units(tmp_path, Locations.of(index, tree.rows(leaf))).features.column(
                "building_id"
            )
        )
        for leaf in tree.leaves().tolist()
    ]
    assert sum(len(s) for s in per_leaf) == len(set(ids))
