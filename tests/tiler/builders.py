"""Small tilesets built from hand-made box buildings around Hamburg (for the tiler tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from citymodel.atomic import write_bytes_atomic
from citymodel.mesh import FeatureTable, Mesh, MeshBatch
from citymodel.ops.frames import local_to_ecef, to_gltf_matrix
from citymodel.tiler.content import TileContent, encode_tile_b3dm, encode_tile_glb, tile_frame
from citymodel.tiler.implicit import (
    DEFAULT_CONTENT_URI,
    ImplicitTileset,
    expand_template,
    implicit_volume,
    write_implicit,
)
from citymodel.tiler.keys import TileKey
from citymodel.tiler.tileset import Tile, write_tileset
from citymodel.tiler.volumes import OrientedBox, union_all
from tests.box_city import box_mesh
from tests.tiler.conftest import BatchFactory

# Four leaf tiles 150 m apart, two buildings each (UTM32 E, N, H of the lower corner).
LEAF_OFFSETS = [(0.0, 0.0), (150.0, 0.0), (0.0, 150.0), (150.0, 150.0)]


def build_explicit(
    out: Path,
    make: BatchFactory,
    *,
    version: Literal["1.0", "1.1"] = "1.1",
    max_json_bytes: int = 2_000_000,
) -> list[Path]:
    """root (region) -> 2 tiles (region) -> 2 leaves each (ENU box + transform + content).

    Version 1.1 writes GLB contents, 1.0 b3dm contents. Returns the tileset files written.
    """
    encode = encode_tile_glb if version == "1.1" else encode_tile_b3dm
    suffix = "glb" if version == "1.1" else "b3dm"
    leaves: list[tuple[TileContent, Tile]] = []
    for i, (dx, dy) in enumerate(LEAF_OFFSETS):
        batch = make([[566000.0 + dx, 5935000.0 + dy, 10.0], [566040.0 + dx, 5935030.0 + dy, 12.5]])
        content = encode(batch)
        key = TileKey(2, i, 0)
        uri = f"content/{key.path}.{suffix}"
        write_bytes_atomic(out / uri, content.data)
        leaf = Tile(
            bounding_volume=content.box,
            geometric_error=0.0,
            content_uri=uri,
            transform=content.transform,
            key=key,
        )
        leaves.append((content, leaf))
    mids = []
    for m in range(2):
        pair = leaves[2 * m : 2 * m + 2]
        region = pair[0][0].region.union(pair[1][0].region)
        mids.append(
            Tile(
                bounding_volume=region,
                geometric_error=8.0,
                children=[t for _, t in pair],
                key=TileKey(1, m, 0),
            )
        )
    root_region = union_all(m.bounding_volume for m in mids)
    root = Tile(
        bounding_volume=root_region,
        geometric_error=32.0,
        refine="ADD",
        children=mids,
        key=TileKey(0, 0, 0),
    )
    return write_tileset(
        root, out, version=version, geometric_error=64.0, max_json_bytes=max_json_bytes
    )


def enu_batch(frame: np.ndarray, origins: list[list[float]], size: list[float]) -> MeshBatch:
    """Box buildings given in the local frame (metres), as an ECEF batch."""
    boxes = box_mesh(np.asarray(origins, dtype=np.float64), np.asarray(size, dtype=np.float64))
    table = FeatureTable()
    for i in range(len(origins)):
        table.add_row({"gml_id": f"implicit_{i}", "measuredHeight": float(size[2])})
    ecef = local_to_ecef(boxes.positions, frame)
    return MeshBatch(
        Mesh(ecef, boxes.triangles, boxes.feature_ids, boxes.surface_types), table, "EPSG:4978"
    )


# A sparse quadtree with content on levels 1..3: subtreeLevels 2, subtrees on levels 0 and 2.
IMPLICIT_CONTENT = [
    TileKey(1, 1, 0),
    TileKey(2, 0, 0),
    TileKey(3, 1, 2),
    TileKey(3, 6, 6),
    TileKey(3, 7, 6),
    TileKey(3, 7, 7),
]


def build_implicit(out: Path, anchor_ecef: np.ndarray) -> ImplicitTileset:
    """An implicit quadtree (box root in the ENU frame at ``anchor_ecef``, subtreeLevels 2)."""
    frame = tile_frame(anchor_ecef)
    root_box = OrientedBox.from_min_max([-400.0, -400.0, -10.0], [400.0, 400.0, 60.0])
    for key in IMPLICIT_CONTENT:
        cell = implicit_volume(root_box, key)
        assert isinstance(cell, OrientedBox)
        cx, cy, _ = cell.center
        hx, hy = cell.half_axes[0][0], cell.half_axes[1][1]
        origins = [[cx - 0.8 * hx, cy - 0.8 * hy, 0.0], [cx + 0.1 * hx, cy + 0.1 * hy, 2.0]]
        batch = enu_batch(frame, origins, [0.6 * hx, 0.6 * hy, 15.0])
        content = encode_tile_glb(batch, frame=frame)
        write_bytes_atomic(out / expand_template(DEFAULT_CONTENT_URI, key), content.data)
    result = write_implicit(
        out,
        root_volume=root_box,
        available=[TileKey(2, 3, 3)],
        content=IMPLICIT_CONTENT,
        subtree_levels=2,
        geometric_error=64.0,
        transform=to_gltf_matrix(frame),
    )
    write_tileset(result.root, out, geometric_error=128.0)
    return result
