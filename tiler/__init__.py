"""From feature streams to 3D Tiles tilesets; installed as ``citymodel.tiler``."""
