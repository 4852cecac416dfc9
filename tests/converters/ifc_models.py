"""Small IFC models written for the tests with plain ifcopenshell entities (all schemas).

:func:`write_model` makes a project -> site -> building -> storey tree with box elements
(``IfcExtrudedAreaSolid`` of a rectangle, so every vertex is known), in metres or millimetres,
with optional georeferencing (IfcMapConversion / IfcMapConversionScaled, IFC2X3
ePSet_MapConversion, IfcSite latitude/longitude, TrueNorth), styles, materials, property sets
and quantities. Everything is given in project units, exactly as written to the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ifcopenshell
import ifcopenshell.guid


@dataclass(frozen=True)
class Box:
    """An element whose body is an axis-aligned box from ``origin`` (project units)."""

    origin: tuple[float, float, float]
    size: tuple[float, float, float]
    ifc_class: str = "IfcWall"
    name: str = "box"
    color: tuple[float, float, float] | None = None
    transparency: float = 0.0
    style_name: str = "Box style"
    material: str | None = None
    psets: dict[str, dict[str, tuple[str, Any]]] = field(default_factory=dict)
    quantities: dict[str, dict[str, tuple[str, float]]] = field(default_factory=dict)
    predefined_type: str | None = None
    broken: bool = False
    """A body the geometry kernel cannot build (a profile of zero width)."""


@dataclass(frozen=True)
class MapConversion:
    """IfcMapConversion parameters as written (map units; Scale None = omitted)."""

    eastings: float
    northings: float
    height: float
    abscissa: float | None = None
    ordinate: float | None = None
    scale: float | None = None
    crs: str = "EPSG:25832"
    vertical: str | None = "EPSG:7837"
    factors: tuple[float, float, float] | None = None
    """IFC4X3 IfcMapConversionScaled FactorX/Y/Z."""


@dataclass(frozen=True)
class Site:
    """IfcSite reference point (degrees, minutes, seconds, millionths) and elevation."""

    latitude: tuple[int, int, int, int]
    longitude: tuple[int, int, int, int]
    elevation: float = 0.0
    placement: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _point(f: ifcopenshell.file, xyz: tuple[float, ...]) -> Any:
    return f.create_entity("IfcCartesianPoint", Coordinates=tuple(float(v) for v in xyz))


def _placement(f: ifcopenshell.file, xyz: tuple[float, float, float], relative: Any = None) -> Any:
    axis = f.create_entity("IfcAxis2Placement3D", Location=_point(f, xyz))
    return f.create_entity("IfcLocalPlacement", PlacementRelTo=relative, RelativePlacement=axis)


def _rooted(f: ifcopenshell.file, owner: Any, ifc_class: str, **attributes: Any) -> Any:
    return f.create_entity(
        ifc_class, GlobalId=ifcopenshell.guid.new(), OwnerHistory=owner, **attributes
    )


def _owner(f: ifcopenshell.file) -> Any:
    person = f.create_entity("IfcPerson", FamilyName="Test")
    organization = f.create_entity("IfcOrganization", Name="citymodel tests")
    user = f.create_entity(
        "IfcPersonAndOrganization", ThePerson=person, TheOrganization=organization
    )
    application = f.create_entity(
        "IfcApplication",
        ApplicationDeveloper=organization,
        Version="1",
        ApplicationFullName="citymodel tests",
        ApplicationIdentifier="citymodel-tests",
    )
    return f.create_entity(
        "IfcOwnerHistory",
        OwningUser=user,
        OwningApplication=application,
        ChangeAction="ADDED",
        CreationDate=0,
    )


def _units(f: ifcopenshell.file, unit: str) -> Any:
    length = f.create_entity(
        "IfcSIUnit", UnitType="LENGTHUNIT", Prefix="MILLI" if unit == "mm" else None, Name="METRE"
    )
    area = f.create_entity("IfcSIUnit", UnitType="AREAUNIT", Name="SQUARE_METRE")
    volume = f.create_entity("IfcSIUnit", UnitType="VOLUMEUNIT", Name="CUBIC_METRE")
    angle = f.create_entity("IfcSIUnit", UnitType="PLANEANGLEUNIT", Name="RADIAN")
    return f.create_entity("IfcUnitAssignment", Units=[length, area, volume, angle])


def _value(f: ifcopenshell.file, kind: str, value: Any) -> Any:
    return f.create_entity(kind, value)


def _property_sets(f: ifcopenshell.file, owner: Any, element: Any, box: Box) -> None:
    definitions = []
    for name, props in box.psets.items():
        properties = [
            f.create_entity("IfcPropertySingleValue", Name=key, NominalValue=_value(f, kind, value))
            for key, (kind, value) in props.items()
        ]
        definitions.append(_rooted(f, owner, "IfcPropertySet", Name=name, HasProperties=properties))
    for name, quantities in box.quantities.items():
        items = []
        for key, (kind, value) in quantities.items():
            attribute = {
                "IfcQuantityLength": "LengthValue",
                "IfcQuantityArea": "AreaValue",
                "IfcQuantityVolume": "VolumeValue",
                "IfcQuantityCount": "CountValue",
            }[kind]
            items.append(f.create_entity(kind, Name=key, **{attribute: value}))
        definitions.append(_rooted(f, owner, "IfcElementQuantity", Name=name, Quantities=items))
    for definition in definitions:
        _rooted(
            f,
            owner,
            "IfcRelDefinesByProperties",
            RelatedObjects=[element],
            RelatingPropertyDefinition=definition,
        )


def _style(f: ifcopenshell.file, solid: Any, box: Box) -> None:
    if box.color is None:
        return
    colour = f.create_entity(
        "IfcColourRgb", Name=None, Red=box.color[0], Green=box.color[1], Blue=box.color[2]
    )
    rendering = f.create_entity(
        "IfcSurfaceStyleRendering",
        SurfaceColour=colour,
        Transparency=box.transparency,
        ReflectanceMethod="NOTDEFINED",
    )
    style = f.create_entity("IfcSurfaceStyle", Name=box.style_name, Side="BOTH", Styles=[rendering])
    if f.schema == "IFC2X3":
        assignment = f.create_entity("IfcPresentationStyleAssignment", Styles=[style])
        f.create_entity("IfcStyledItem", Item=solid, Styles=[assignment])
    else:
        f.create_entity("IfcStyledItem", Item=solid, Styles=[style])


def _element(f: ifcopenshell.file, owner: Any, body: Any, storey_placement: Any, box: Box) -> Any:
    dx, dy, dz = box.size
    width = 0.0 if box.broken else dx
    profile = f.create_entity(
        "IfcRectangleProfileDef",
        ProfileType="AREA",
        XDim=width,
        YDim=dy,
        Position=f.create_entity(
            "IfcAxis2Placement2D",
            Location=f.create_entity("IfcCartesianPoint", Coordinates=(width / 2, dy / 2)),
        ),
    )
    solid = f.create_entity(
        "IfcExtrudedAreaSolid",
        SweptArea=profile,
        Position=f.create_entity("IfcAxis2Placement3D", Location=_point(f, (0.0, 0.0, 0.0))),
        ExtrudedDirection=f.create_entity("IfcDirection", DirectionRatios=(0.0, 0.0, 1.0)),
        Depth=dz,
    )
    _style(f, solid, box)
    shape = f.create_entity(
        "IfcShapeRepresentation",
        ContextOfItems=body,
        RepresentationIdentifier="Body",
        RepresentationType="SweptSolid",
        Items=[solid],
    )
    product_shape = f.create_entity("IfcProductDefinitionShape", Representations=[shape])
    attributes: dict[str, Any] = {
        "Name": box.name,
        "ObjectPlacement": _placement(f, box.origin, storey_placement),
        "Representation": product_shape,
    }
    if box.predefined_type is not None:
        attributes["PredefinedType"] = box.predefined_type
    element = _rooted(f, owner, box.ifc_class, **attributes)
    if box.material:
        material = f.create_entity("IfcMaterial", Name=box.material)
        _rooted(
            f,
            owner,
            "IfcRelAssociatesMaterial",
            RelatedObjects=[element],
            RelatingMaterial=material,
        )
    _property_sets(f, owner, element, box)
    return element


def _map_conversion(
    f: ifcopenshell.file, owner: Any, project: Any, context: Any, conv: MapConversion
) -> None:
    if f.schema == "IFC2X3":
        values = {
            "Eastings": ("IfcLengthMeasure", conv.eastings),
            "Northings": ("IfcLengthMeasure", conv.northings),
            "OrthogonalHeight": ("IfcLengthMeasure", conv.height),
        }
        if conv.abscissa is not None:
            values["XAxisAbscissa"] = ("IfcReal", conv.abscissa)
        if conv.ordinate is not None:
            values["XAxisOrdinate"] = ("IfcReal", conv.ordinate)
        if conv.scale is not None:
            values["Scale"] = ("IfcReal", conv.scale)
        crs = {"Name": ("IfcLabel", conv.crs)}
        if conv.vertical:
            crs["VerticalDatum"] = ("IfcLabel", conv.vertical)
        for name, props in (("ePSet_MapConversion", values), ("ePSet_ProjectedCRS", crs)):
            properties = [
                f.create_entity("IfcPropertySingleValue", Name=k, NominalValue=_value(f, kind, v))
                for k, (kind, v) in props.items()
            ]
            pset = _rooted(f, owner, "IfcPropertySet", Name=name, HasProperties=properties)
            _rooted(
                f,
                owner,
                "IfcRelDefinesByProperties",
                RelatedObjects=[project],
                RelatingPropertyDefinition=pset,
            )
        return
    metre = f.create_entity("IfcSIUnit", UnitType="LENGTHUNIT", Name="METRE")
    target = f.create_entity(
        "IfcProjectedCRS", Name=conv.crs, VerticalDatum=conv.vertical, MapUnit=metre
    )
    attributes: dict[str, Any] = {
        "SourceCRS": context,
        "TargetCRS": target,
        "Eastings": conv.eastings,
        "Northings": conv.northings,
        "OrthogonalHeight": conv.height,
        "XAxisAbscissa": conv.abscissa,
        "XAxisOrdinate": conv.ordinate,
        "Scale": conv.scale,
    }
    if conv.factors is not None:
        fx, fy, fz = conv.factors
        f.create_entity("IfcMapConversionScaled", **attributes, FactorX=fx, FactorY=fy, FactorZ=fz)
    else:
        f.create_entity("IfcMapConversion", **attributes)


def write_model(
    path: Path,
    *,
    schema: str = "IFC4",
    unit: str = "m",
    boxes: tuple[Box, ...] = (),
    map_conversion: MapConversion | None = None,
    site: Site | None = None,
    true_north: tuple[float, float] | None = None,
) -> Path:
    """Write the model to ``path`` and return it (see the module docstring)."""
    f = ifcopenshell.file(schema=schema)
    owner = _owner(f)
    north = (
        None
        if true_north is None
        else f.create_entity("IfcDirection", DirectionRatios=tuple(float(v) for v in true_north))
    )
    context = f.create_entity(
        "IfcGeometricRepresentationContext",
        ContextType="Model",
        CoordinateSpaceDimension=3,
        Precision=1e-5,
        WorldCoordinateSystem=f.create_entity(
            "IfcAxis2Placement3D", Location=_point(f, (0.0, 0.0, 0.0))
        ),
        TrueNorth=north,
    )
    body = f.create_entity(
        "IfcGeometricRepresentationSubContext",
        ContextIdentifier="Body",
        ContextType="Model",
        ParentContext=context,
        TargetView="MODEL_VIEW",
    )
    project = _rooted(
        f,
        owner,
        "IfcProject",
        Name="test project",
        RepresentationContexts=[context],
        UnitsInContext=_units(f, unit),
    )
    site_placement = _placement(f, site.placement if site is not None else (0.0, 0.0, 0.0))
    site_entity = _rooted(
        f,
        owner,
        "IfcSite",
        Name="site",
        ObjectPlacement=site_placement,
        CompositionType="ELEMENT",
        RefLatitude=site.latitude if site is not None else None,
        RefLongitude=site.longitude if site is not None else None,
        RefElevation=site.elevation if site is not None else None,
    )
    building_placement = _placement(f, (0.0, 0.0, 0.0), site_placement)
    building = _rooted(
        f,
        owner,
        "IfcBuilding",
        Name="building",
        ObjectPlacement=building_placement,
        CompositionType="ELEMENT",
    )
    storey_placement = _placement(f, (0.0, 0.0, 0.0), building_placement)
    storey = _rooted(
        f,
        owner,
        "IfcBuildingStorey",
        Name="Ground floor",
        ObjectPlacement=storey_placement,
        CompositionType="ELEMENT",
        Elevation=0.0,
    )
    for whole, parts in ((project, [site_entity]), (site_entity, [building]), (building, [storey])):
        _rooted(f, owner, "IfcRelAggregates", RelatingObject=whole, RelatedObjects=parts)
    elements = [_element(f, owner, body, storey_placement, box) for box in boxes]
    if elements:
        _rooted(
            f,
            owner,
            "IfcRelContainedInSpatialStructure",
            RelatingStructure=storey,
            RelatedElements=elements,
        )
    if map_conversion is not None:
        _map_conversion(f, owner, project, context, map_conversion)
    f.write(str(path))
    return path
