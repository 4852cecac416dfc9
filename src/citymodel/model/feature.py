"""City objects as read from any format."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath

from citymodel._typing import AttributeValue
from citymodel.model.geometry import SurfaceGeometry

__all__ = ["Feature", "SourceRef"]


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a feature came from: file (or ``archive.zip!member``) and 1-based line."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        return self.path if self.line is None else f"{self.path}:{self.line}"

    @property
    def label(self) -> str:
        """The file name without its folders (``archive.zip!member`` keeps the member path).

        This is what goes into published outputs (the ``source_file`` property), so tilesets do
        not reveal the folder layout of the machine that built them.
        """
        outer, sep, inner = self.path.partition("!")
        return PurePath(outer).name + sep + inner


@dataclass(frozen=True, slots=True)
class Feature:
    """One city object (e.g. a Building) with its geometry, attributes and children.

    Children (e.g. BuildingParts, recursively) are separate features nested here so that
    a building and its parts always travel together.

    Attributes
    ----------
    id
        The object identifier (``gml:id`` in CityGML).
    type
        Object class name without namespace (``"Building"``, ``"BuildingPart"``).
    attributes
        Scalar attributes by name (AdV core attributes, generic attributes, address fields).
    geometries
        One :class:`SurfaceGeometry` per available LoD (source CRS, float64 metres).
    children
        Nested child features (BuildingParts).
    source
        Where the feature starts in the input.
    """

    id: str
    type: str
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    geometries: tuple[SurfaceGeometry, ...] = ()
    children: tuple[Feature, ...] = ()
    source: SourceRef | None = None

    def walk(self) -> Iterator[tuple[Feature, Feature | None]]:
        """Yield ``(feature, parent)`` for this feature and all descendants, depth first."""
        stack: list[tuple[Feature, Feature | None]] = [(self, None)]
        while stack:
            feat, parent = stack.pop()
            yield feat, parent
            stack.extend((child, feat) for child in reversed(feat.children))

    def geometry(self, lod: str | None = None) -> SurfaceGeometry | None:
        """Return the geometry of the requested LoD, or the highest LoD when ``lod`` is None.

        A requested LoD matches exactly or by its integer part (``"2"`` matches ``"2.2"``).
        """
        if not self.geometries:
            return None
        if lod is None:
            return max(self.geometries, key=lambda g: float(g.lod))
        for geom in self.geometries:
            if geom.lod == lod or geom.lod.split(".")[0] == lod:
                return geom
        return None
