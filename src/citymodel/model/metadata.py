"""Dataset-level metadata reported by a reader without converting geometry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["DatasetMetadata"]


@dataclass(frozen=True, slots=True)
class DatasetMetadata:
    """What ``citymodel info`` reports about one input.

    Attributes
    ----------
    path
        The input.
    format
        Format name (``"CityGML"``).
    version
        Format version (``"1.0"``, ``"2.0"``).
    srs_name
        The CRS identifier as written in the file, if any.
    horizontal_crs, vertical_crs
        Resolved CRS as ``"EPSG:25832"`` strings (or WKT), ``None`` when unknown.
    extent
        ``(xmin, ymin, zmin, xmax, ymax, zmax)`` in the source CRS, metres.
    counts
        Number of objects per type (``{"Building": 54, "BuildingPart": 24}``).
    lods
        Number of objects having geometry in each LoD (``{"2": 78}``).
    attribute_names
        Sorted attribute names found.
    details
        Format-specific facts as JSON-ready values (point clouds: point format, scale and
        offset, extra dimensions, points per class, header bounds ...).
    notes
        Problems found and assumptions made while reading (for ``info`` and reports).
    """

    path: str
    format: str
    version: str | None = None
    srs_name: str | None = None
    horizontal_crs: str | None = None
    vertical_crs: str | None = None
    extent: tuple[float, float, float, float, float, float] | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    lods: Mapping[str, int] = field(default_factory=dict)
    attribute_names: tuple[str, ...] = ()
    details: Mapping[str, object] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
