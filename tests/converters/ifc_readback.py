"""Read an IFC file written by the city -> IFC writer back, independently of the writer.

Coordinates are taken from the IfcPolygonalFaceSet point lists, moved by the elements'
object placements (``ifcopenshell.util.placement``) and then by the file's IfcMapConversion
(E = E0 + s·(x·a − y·o), N = N0 + s·(x·o + y·a), H = H0 + s·z with a/o the normalised
XAxisAbscissa/Ordinate), so the check does not trust the writer's own frame.
"""

from __future__ import annotations

import gc
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ifcopenshell
import ifcopenshell.geom
import ifcopenshell.util.placement
import ifcopenshell.validate
import numpy as np

from citymodel.model import Feature
from citymodel.report import JobReport
from citymodel.sources import open as open_source


@dataclass
class MapConversion:
    eastings: float
    northings: float
    height: float
    abscissa: float
    ordinate: float
    scale: float

    def apply(self, xyz: np.ndarray) -> np.ndarray:
        norm = np.hypot(self.abscissa, self.ordinate)
        a, o = self.abscissa / norm, self.ordinate / norm
        x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
        s = self.scale
        return np.column_stack(
            [
                self.eastings + s * (x * a - y * o),
                self.northings + s * (x * o + y * a),
                self.height + s * z,
            ]
        )


def map_conversion(f: ifcopenshell.file) -> MapConversion:
    (conversion,) = f.by_type("IfcMapConversion")
    return MapConversion(
        conversion.Eastings,
        conversion.Northings,
        conversion.OrthogonalHeight,
        conversion.XAxisAbscissa if conversion.XAxisAbscissa is not None else 1.0,
        conversion.XAxisOrdinate if conversion.XAxisOrdinate is not None else 0.0,
        conversion.Scale if conversion.Scale is not None else 1.0,
    )


def pset(entity: Any, name: str = "CityGML_Attributes") -> dict[str, Any]:
    for rel in entity.IsDefinedBy:
        definition = rel.RelatingPropertyDefinition
        if definition.is_a("IfcPropertySet") and definition.Name == name:
            return {p.Name: p.NominalValue for p in definition.HasProperties}
    return {}


def _element_points(element: Any) -> np.ndarray:
    matrix = ifcopenshell.util.placement.get_local_placement(element.ObjectPlacement)
    points = []
    for rep in element.Representation.Representations:
        for item in rep.Items:
            assert item.is_a("IfcPolygonalFaceSet"), item
            points.append(np.asarray(item.Coordinates.CoordList, dtype=np.float64))
    local = np.concatenate(points)
    homogeneous = np.column_stack([local, np.ones(len(local))])
    return (homogeneous @ np.asarray(matrix, dtype=np.float64).T)[:, :3]


def building_points(path: Path) -> dict[str, np.ndarray]:
    """``gml_id`` of every IfcBuilding (parts included) -> its elements' points in the map CRS."""
    f = ifcopenshell.open(str(path))
    conversion = map_conversion(f)
    out: dict[str, list[np.ndarray]] = defaultdict(list)
    for building in f.by_type("IfcBuilding"):
        gml_id = pset(building)["gml_id"].wrappedValue
        for rel in building.ContainsElements:
            for element in rel.RelatedElements:
                out[gml_id].append(conversion.apply(_element_points(element)))
    return {k: np.concatenate(v) for k, v in out.items()}


def top_level_buildings(f: ifcopenshell.file) -> list[Any]:
    """IfcBuildings aggregated by the site (CompositionType ELEMENT); keep ``f`` alive."""
    tops = [b for b in f.by_type("IfcBuilding") if b.CompositionType == "ELEMENT"]
    for b in tops:
        (rel,) = b.Decomposes
        assert rel.RelatingObject.is_a("IfcSite")
    return tops


def source_points(feature: Feature, lod: str | None = None) -> dict[str, np.ndarray]:
    """gml:id -> source vertices of the feature and each child (the LoD written)."""
    out = {}
    for feat, _parent in feature.walk():
        geom = feat.geometry(lod)
        if geom is not None and geom.vertex_count:
            out[feat.id] = np.asarray(geom.vertices)
    return out


def read_features(paths: list[Path]) -> list[Feature]:
    features = []
    for path in paths:
        with open_source(path) as reader:
            features.extend(reader.features(report=JobReport()))
    return features


def farthest(a: np.ndarray, b: np.ndarray) -> float:
    """Largest distance from a point of ``a`` to the nearest point of ``b`` (m)."""
    worst = 0.0
    for start in range(0, len(a), 2048):
        block = a[start : start + 2048]
        d = np.sqrt(((block[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
        worst = max(worst, float(d.max()))
    return worst


def max_mismatch(a: np.ndarray, b: np.ndarray) -> float:
    """Largest distance from a point of either set to the nearest point of the other (m)."""
    return max(farthest(a, b), farthest(b, a))


def validation_statements(path: Path, *, express_rules: bool = True) -> list[dict[str, Any]]:
    """ifcopenshell.validate (schema types, cardinalities; EXPRESS rules unless switched off)."""
    logger = ifcopenshell.validate.json_logger()
    with warnings.catch_warnings():
        # ifcopenshell's rule loader leaves a file handle to the garbage collector
        warnings.simplefilter("ignore", ResourceWarning)
        ifcopenshell.validate.validate(str(path), logger, express_rules=express_rules)
        gc.collect()
    return list(logger.statements)


def kernel_points(path: Path) -> tuple[int, dict[str, np.ndarray]]:
    """The geometry kernel's view: shapes processed, and ``gml_id`` -> world vertices of the
    elements of that IfcBuilding in the map CRS."""
    f = ifcopenshell.open(str(path))
    conversion = map_conversion(f)
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    iterator = ifcopenshell.geom.iterator(settings, f)
    out: dict[str, list[np.ndarray]] = defaultdict(list)
    shapes = 0
    if iterator.initialize():
        while True:
            shape = iterator.get()
            shapes += 1
            (rel,) = f.by_guid(shape.guid).ContainedInStructure
            gml_id = pset(rel.RelatingStructure)["gml_id"].wrappedValue
            verts = np.asarray(shape.geometry.verts, dtype=np.float64).reshape(-1, 3)
            out[gml_id].append(conversion.apply(verts))
            if not iterator.next():
                break
    return shapes, {k: np.concatenate(v) for k, v in out.items()}
