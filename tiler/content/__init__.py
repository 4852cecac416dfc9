"""Tile content encoders: GLB (3D Tiles 1.1) and b3dm (3D Tiles 1.0) from ECEF mesh batches."""

from citymodel.tiler.content.b3dm import batch_table_json, encode_b3dm, encode_tile_b3dm
from citymodel.tiler.content.glb import TileContent, encode_tile_glb, tile_frame

__all__ = [
    "TileContent",
    "batch_table_json",
    "encode_b3dm",
    "encode_tile_b3dm",
    "encode_tile_glb",
    "tile_frame",
]
