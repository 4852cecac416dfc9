"""The data model: features, surface geometry, semantics and dataset metadata."""

from citymodel.model.feature import Feature, SourceRef
from citymodel.model.geometry import SurfaceGeometry
from citymodel.model.metadata import DatasetMetadata
from citymodel.model.points import POINT_ATTRIBUTES, PointChunk
from citymodel.model.semantics import SurfaceType, surface_type_from_name

__all__ = [
    "POINT_ATTRIBUTES",
    "DatasetMetadata",
    "Feature",
    "PointChunk",
    "SourceRef",
    "SurfaceGeometry",
    "SurfaceType",
    "surface_type_from_name",
]
