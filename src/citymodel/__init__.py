"""citymodel: city models (CityGML, CityJSON, IFC, LAS/LAZ) to georeferenced glTF and 3D Tiles.

The front door is :func:`open` (a streaming reader for any supported input) and
:func:`convert` (input files to one GLB/glTF/OBJ).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from citymodel.errors import CityModelError
from citymodel.model import DatasetMetadata, Feature, SurfaceGeometry, SurfaceType

__version__ = "0.1.0"

__all__ = [
    "CityModelError",
    "DatasetMetadata",
    "Feature",
    "SurfaceGeometry",
    "SurfaceType",
    "__version__",
    "convert",
    "open",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from citymodel.converters.convert import convert
    from citymodel.sources import open  # noqa: A004 - the front door, like laspy.open


def __getattr__(name: str) -> Any:
    # The package root is the public facade: it re-exports the tools lazily so that importing
    # citymodel stays cheap and the core modules never import the converters layer.
    if name == "open":
        from citymodel.sources import open as open_

        return open_
    if name == "convert":
        from citymodel.converters.convert import convert as convert_

        return convert_
    raise AttributeError(f"module 'citymodel' has no attribute {name!r}")
