"""A small georeferenced IFC4 design model, made with ifcopenshell.api for the replace tests.

The model is a box-shaped building (a base slab, four walls and a roof, each an
IfcBuildingElementProxy/IfcSlab/IfcWall mesh) whose engineering origin is placed by
IfcMapConversion + IfcProjectedCRS (EPSG:25832, VerticalDatum EPSG:7837) at a given
easting/northing/height, optionally rotated.
"""

from __future__ import annotations

import math
from pathlib import Path

import ifcopenshell
import ifcopenshell.api.aggregate
import ifcopenshell.api.context
import ifcopenshell.api.geometry
import ifcopenshell.api.georeference
import ifcopenshell.api.project
import ifcopenshell.api.root
import ifcopenshell.api.spatial
import ifcopenshell.api.unit


def _box_faces(x0: float, y0: float, x1: float, y1: float, z0: float, z1: float):  # type: ignore[no-untyped-def]
    vertices = [
        (x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0),
        (x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1),
    ]  # fmt: skip
    faces = [
        [0, 3, 2, 1], [4, 5, 6, 7], [0, 1, 5, 4],
        [1, 2, 6, 5], [2, 3, 7, 6], [3, 0, 4, 7],
    ]  # fmt: skip
    return vertices, faces


def write_design(
    path: Path,
    *,
    origin: tuple[float, float, float],
    size: tuple[float, float, float],
    rotation_deg: float = 0.0,
    crs: str = "EPSG:25832",
    vertical: str = "EPSG:7837",
) -> Path:
    """Write the box design: local box ``[0, sx] x [0, sy] x [0, sz]`` m at ``origin`` (E, N, H)."""
    f = ifcopenshell.api.project.create_file(version="IFC4")
    project = ifcopenshell.api.root.create_entity(f, ifc_class="IfcProject", name="Design")
    metre = ifcopenshell.api.unit.add_si_unit(f, unit_type="LENGTHUNIT")
    ifcopenshell.api.unit.assign_unit(f, units=[metre])
    model = ifcopenshell.api.context.add_context(f, context_type="Model")
    body = ifcopenshell.api.context.add_context(
        f, context_type="Model", context_identifier="Body", target_view="MODEL_VIEW", parent=model
    )
    site = ifcopenshell.api.root.create_entity(f, ifc_class="IfcSite", name="Site")
    building = ifcopenshell.api.root.create_entity(f, ifc_class="IfcBuilding", name="Design")
    storey = ifcopenshell.api.root.create_entity(f, ifc_class="IfcBuildingStorey", name="EG")
    ifcopenshell.api.aggregate.assign_object(f, products=[site], relating_object=project)
    ifcopenshell.api.aggregate.assign_object(f, products=[building], relating_object=site)
    ifcopenshell.api.aggregate.assign_object(f, products=[storey], relating_object=building)
    sx, sy, sz = size
    t = 0.3
    parts = {
        ("IfcSlab", "Base"): (0, 0, sx, sy, 0, t),
        ("IfcWall", "South"): (0, 0, sx, t, t, sz),
        ("IfcWall", "North"): (0, sy - t, sx, sy, t, sz),
        ("IfcWall", "West"): (0, t, t, sy - t, t, sz),
        ("IfcWall", "East"): (sx - t, t, sx, sy - t, t, sz),
        ("IfcRoof", "Roof"): (0, 0, sx, sy, sz, sz + t),
    }
    for (ifc_class, name), box in parts.items():
        element = ifcopenshell.api.root.create_entity(f, ifc_class=ifc_class, name=name)
        vertices, faces = _box_faces(*box)
        rep = ifcopenshell.api.geometry.add_mesh_representation(
            f, context=body, vertices=[vertices], faces=[faces]
        )
        ifcopenshell.api.geometry.assign_representation(f, product=element, representation=rep)
        ifcopenshell.api.geometry.edit_object_placement(f, product=element)
        ifcopenshell.api.spatial.assign_container(f, products=[element], relating_structure=storey)
    ifcopenshell.api.georeference.add_georeferencing(f)
    angle = math.radians(rotation_deg)
    ifcopenshell.api.georeference.edit_georeferencing(
        f,
        projected_crs={"Name": crs, "VerticalDatum": vertical},
        coordinate_operation={
            "Eastings": origin[0],
            "Northings": origin[1],
            "OrthogonalHeight": origin[2],
            "XAxisAbscissa": math.cos(angle),
            "XAxisOrdinate": math.sin(angle),
            "Scale": 1.0,
        },
    )
    f.write(str(path))
    return path
