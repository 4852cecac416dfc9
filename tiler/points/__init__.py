"""Point cloud tiling: out-of-core octree, subsampled parents, glTF/pnts point contents."""
