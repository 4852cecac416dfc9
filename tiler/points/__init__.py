"""Point cloud tiling: out-of-core octree, subsampled parents, glTF/pnts point contents."""

WORKER_MODULES = (
    "laspy",
    "citymodel.converters.las",
    "citymodel.tiler.points.scan",
    "citymodel.tiler.points.spill",
    "citymodel.tiler.points.nodes",
)
"""What the point tasks import, preloaded in a local pool's ``forkserver`` (instead of the city
model tiler's modules): every worker forks with them imported. Without, each worker imported
them itself on its first task: 0.6 CPU-s per worker and job. Kept here, light to import, so
that the command line can start the fork server before it imports the tiler."""
