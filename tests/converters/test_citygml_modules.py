"""CityGML 1.0/2.0 thematic modules beyond buildings: bridge, tunnel, transportation, vegetation
(implicit geometry), water, land use, relief, city furniture, generics, groups."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from citymodel.converters.citygml import SUPPORTED_TYPES, CityGMLReader
from citymodel.converters.materials import SemanticMaterials, parse_color
from citymodel.model import Feature, SurfaceType
from citymodel.model.semantics import default_surface_type, surface_type_from_name
from citymodel.report import JobReport
from tests.citygml_docs import box_faces, city_model, multi_surface, polygon, write

MODULES = {
    "brid": "bridge",
    "tun": "tunnel",
    "tran": "transportation",
    "veg": "vegetation",
    "wtr": "waterbody",
    "luse": "landuse",
    "dem": "relief",
    "frn": "cityfurniture",
    "grp": "cityobjectgroup",
}


def module_ns(version: str = "2.0") -> str:
    return "".join(
        f' xmlns:{p}="http://www.opengis.net/citygml/{path}/{version}"'
        for p, path in MODULES.items()
    )


def read(
    tmp_path: Path, members: list[str], *, version: str = "2.0", **kw: object
) -> tuple[list[Feature], JobReport]:
    path = write(
        tmp_path / "m.gml", city_model(members, version=version, extra_ns=module_ns(version))
    )
    report = JobReport()
    with CityGMLReader(path) as reader:
        features = list(reader.features(report=report, **kw))  # type: ignore[arg-type]
    return features, report


def square(z: float = 0.0, x: float = 0.0, size: float = 10.0) -> list[tuple[float, float, float]]:
    return [(x, 0.0, z), (x + size, 0.0, z), (x + size, size, z), (x, size, z)]


def types_of(feature: Feature) -> list[str]:
    return [SurfaceType(t).name for g in feature.geometries for t in g.surface_types.tolist()]


def skipped(report: JobReport) -> list[str]:
    return [s.reason for s in report.skipped]


# ---------------------------------------------------------------------------------------------
# semantics and colours


def test_new_surface_types_have_stable_codes_and_names() -> None:
    assert [
        int(surface_type_from_name(n))
        for n in (
            "TrafficArea",
            "AuxiliaryTrafficArea",
            "TransportationMarking",
            "TransportationHole",
            "WaterSurface",
            "WaterGroundSurface",
            "WaterClosureSurface",
        )
    ] == [12, 13, 14, 15, 16, 17, 18]
    assert surface_type_from_name("Marking") is SurfaceType.TRANSPORTATION_MARKING  # 3.0 name
    assert SurfaceType.FLOOR == 11 and SurfaceType.LAND_USE == 21  # old codes unchanged
    assert default_surface_type("Road") is SurfaceType.TRAFFIC_AREA
    assert default_surface_type("TINRelief") is SurfaceType.TERRAIN
    assert default_surface_type("PlantCover") is SurfaceType.VEGETATION
    assert default_surface_type("Building") is SurfaceType.UNKNOWN


def test_default_colours_per_new_type() -> None:
    palette = SemanticMaterials.default_palette()
    water = palette.color(SurfaceType.WATER_SURFACE)
    green = palette.color(SurfaceType.VEGETATION)
    road = palette.color(SurfaceType.TRAFFIC_AREA)
    assert water[2] > water[0] and green[1] > max(green[0], green[2])
    assert road[0] == pytest.approx(road[1]) == pytest.approx(road[2])  # grey
    assert all(int(t) in palette.colors for t in SurfaceType if t is not SurfaceType.UNKNOWN)
    custom = SemanticMaterials.from_mapping({"water_surface": "#0000ff", "traffic-area": "#111"})
    assert custom.color(SurfaceType.WATER_SURFACE) == parse_color("#0000ff")


def test_supported_types_cover_every_module() -> None:
    for name in (
        "Building",
        "Bridge",
        "Tunnel",
        "Road",
        "Railway",
        "TransportSquare",
        "Track",
        "TransportationComplex",
        "SolitaryVegetationObject",
        "PlantCover",
        "WaterBody",
        "LandUse",
        "ReliefFeature",
        "CityFurniture",
        "GenericCityObject",
        "CityObjectGroup",
    ):
        assert name in SUPPORTED_TYPES


# ---------------------------------------------------------------------------------------------
# construction modules


def _thematic(
    prefix: str, surface: str, pts: list[tuple[float, float, float]], lod: int = 2, extra: str = ""
) -> str:
    return (
        f"<{prefix}:boundedBy><{prefix}:{surface}><{prefix}:lod{lod}MultiSurface>"
        f"{multi_surface([polygon(pts)])}</{prefix}:lod{lod}MultiSurface>{extra}"
        f"</{prefix}:{surface}></{prefix}:boundedBy>"
    )


def test_bridge_with_part_installation_construction_element_and_window(tmp_path: Path) -> None:
    faces = box_faces()
    window = (
        "<brid:opening><brid:Window gml:id='W1'><brid:lod3MultiSurface>"
        + multi_surface([polygon(square(z=1.0, size=1.0))])
        + "</brid:lod3MultiSurface></brid:Window></brid:opening>"
    )
    bridge = (
        "<brid:Bridge gml:id='BR1'><brid:function>1000</brid:function>"
        "<brid:yearOfConstruction>1961</brid:yearOfConstruction>"
        + _thematic("brid", "RoofSurface", faces["roof"], 3)
        + _thematic("brid", "WallSurface", faces["south"], 3, window)
        + "<brid:outerBridgeConstruction><brid:BridgeConstructionElement gml:id='BCE1'>"
        "<brid:lod2Geometry>" + multi_surface([polygon(square(z=-5.0))]) + "</brid:lod2Geometry>"
        "</brid:BridgeConstructionElement></brid:outerBridgeConstruction>"
        "<brid:outerBridgeInstallation><brid:BridgeInstallation gml:id='BI1'>"
        "<brid:lod3Geometry>" + multi_surface([polygon(square(z=7.0))]) + "</brid:lod3Geometry>"
        "</brid:BridgeInstallation></brid:outerBridgeInstallation>"
        "<brid:consistsOfBridgePart><brid:BridgePart gml:id='BP1'><brid:lod1MultiSurface>"
        + multi_surface([polygon(square(x=20.0))])
        + "</brid:lod1MultiSurface></brid:BridgePart></brid:consistsOfBridgePart>"
        "</brid:Bridge>"
    )
    (feature,), report = read(tmp_path, [bridge])
    assert (feature.type, feature.id) == ("Bridge", "BR1")
    assert feature.attributes == {"function": "1000", "yearOfConstruction": 1961}
    assert Counter(types_of(feature)) == {"ROOF": 1, "WALL": 1, "WINDOW": 1}
    assert feature.geometries[0].lod == "3"
    kids = {c.id: c for c in feature.children}
    assert {c.id: c.type for c in feature.children} == {
        "BCE1": "BridgeConstructiveElement",  # CityJSON's name
        "BI1": "BridgeInstallation",
        "BP1": "BridgePart",
    }
    assert [g.lod for g in kids["BCE1"].geometries] == ["2"]
    assert [g.lod for g in kids["BP1"].geometries] == ["1"]
    assert not report.skipped


def test_tunnel_with_part_installation_and_hollow_space(tmp_path: Path) -> None:
    faces = box_faces()
    tunnel = (
        "<tun:Tunnel gml:id='T1'>"
        + _thematic("tun", "GroundSurface", faces["ground"])
        + _thematic("tun", "WallSurface", faces["east"])
        + "<tun:outerTunnelInstallation><tun:TunnelInstallation gml:id='TI1'><tun:lod2Geometry>"
        + multi_surface([polygon(square(z=3.0))])
        + "</tun:lod2Geometry></tun:TunnelInstallation></tun:outerTunnelInstallation>"
        "<tun:interiorHollowSpace><tun:HollowSpace gml:id='H1'><tun:lod4MultiSurface>"
        + multi_surface([polygon(square(z=1.0))])
        + "</tun:lod4MultiSurface></tun:HollowSpace></tun:interiorHollowSpace>"
        "<tun:consistsOfTunnelPart><tun:TunnelPart gml:id='TP1'>"
        + _thematic("tun", "RoofSurface", faces["roof"])
        + "</tun:TunnelPart></tun:consistsOfTunnelPart></tun:Tunnel>"
    )
    (feature,), report = read(tmp_path, [tunnel])
    assert feature.type == "Tunnel" and Counter(types_of(feature)) == {"GROUND": 1, "WALL": 1}
    assert [(c.id, c.type) for c in feature.children] == [
        ("TI1", "TunnelInstallation"),
        ("H1", "TunnelHollowSpace"),
        ("TP1", "TunnelPart"),
    ]
    assert types_of(feature.children[2]) == ["ROOF"]
    assert not report.skipped


def test_building_installation_room_and_furniture_are_children(tmp_path: Path) -> None:
    faces = box_faces()
    building = (
        "<bldg:Building gml:id='B1'>"
        + _thematic("bldg", "RoofSurface", faces["roof"])
        + "<bldg:outerBuildingInstallation><bldg:BuildingInstallation gml:id='I1'>"
        "<bldg:function>1000</bldg:function><bldg:lod2Geometry>"
        + multi_surface([polygon(square(z=6.0, size=1.0))])
        + "</bldg:lod2Geometry></bldg:BuildingInstallation></bldg:outerBuildingInstallation>"
        "<bldg:interiorRoom><bldg:Room gml:id='R1'><bldg:lod4MultiSurface>"
        + multi_surface([polygon(square(z=0.5, size=4.0))])
        + "</bldg:lod4MultiSurface><bldg:interiorFurniture><bldg:BuildingFurniture gml:id='F1'>"
        "<bldg:lod4Geometry>"
        + multi_surface([polygon(square(z=0.6, size=0.5))])
        + "</bldg:lod4Geometry></bldg:BuildingFurniture></bldg:interiorFurniture>"
        "</bldg:Room></bldg:interiorRoom></bldg:Building>"
    )
    (feature,), report = read(tmp_path, [building])
    installation, room = feature.children
    assert (installation.type, installation.attributes) == (
        "BuildingInstallation",
        {"function": "1000"},
    )
    assert [g.lod for g in installation.geometries] == ["2"]
    assert (room.type, [g.lod for g in room.geometries]) == ("BuildingRoom", ["4"])
    assert [(f.id, f.type) for f in room.children] == [("F1", "BuildingFurniture")]
    assert not report.skipped


# ---------------------------------------------------------------------------------------------
# transportation


def _road(tag: str, gml_id: str, network: bool = True) -> str:
    curve = (
        "<tran:lod0Network><gml:CompositeCurve><gml:curveMember><gml:LineString>"
        "<gml:posList>0 0 0 10 0 0</gml:posList></gml:LineString></gml:curveMember>"
        "</gml:CompositeCurve></tran:lod0Network>"
        if network
        else ""
    )
    return (
        f"<tran:{tag} gml:id='{gml_id}'><tran:function>1</tran:function>{curve}"
        "<tran:lod1MultiSurface>" + multi_surface([polygon(square())]) + "</tran:lod1MultiSurface>"
        "<tran:trafficArea><tran:TrafficArea gml:id='" + gml_id + "_ta'>"
        "<tran:function>road</tran:function><tran:surfaceMaterial>asphalt</tran:surfaceMaterial>"
        "<tran:lod2MultiSurface>"
        + multi_surface([polygon(square(size=6.0))])
        + "</tran:lod2MultiSurface></tran:TrafficArea></tran:trafficArea>"
        "<tran:auxiliaryTrafficArea><tran:AuxiliaryTrafficArea gml:id='" + gml_id + "_aux'>"
        "<tran:function>sidewalk</tran:function><tran:lod2MultiSurface>"
        + multi_surface([polygon(square(x=6.0, size=4.0))])
        + "</tran:lod2MultiSurface></tran:AuxiliaryTrafficArea></tran:auxiliaryTrafficArea>"
        f"</tran:{tag}>"
    )


def test_transportation_objects_with_traffic_areas(tmp_path: Path) -> None:
    members = [_road("Road", "R1"), _road("Square", "S1"), _road("Railway", "RW1", False)]
    features, report = read(tmp_path, members)
    assert [(f.id, f.type) for f in features] == [
        ("R1", "Road"),
        ("S1", "TransportSquare"),
        ("RW1", "Railway"),
    ]
    road = features[0]
    assert types_of(road) == ["TRAFFIC_AREA"]  # the LoD1 surface of a road is traffic area
    area, aux = road.children
    assert (area.type, area.attributes) == (
        "TrafficArea",
        {"function": "road", "surfaceMaterial": "asphalt"},
    )
    assert types_of(area) == ["TRAFFIC_AREA"] and types_of(aux) == ["AUXILIARY_TRAFFIC_AREA"]
    assert aux.attributes["function"] == "sidewalk"
    # lod0Network curves: one note for the file, not one per object
    notes = [w for w in report.warnings if "lod0Network" in w]
    assert len(notes) == 1 and "2 curve geometries" in notes[0] and "R1" in notes[0]


def test_types_selects_per_module_and_counts_every_type(tmp_path: Path) -> None:
    members = [_road("Road", "R1", False), _road("Track", "T1", False)]
    path = write(tmp_path / "t.gml", city_model(members, extra_ns=module_ns()))
    with CityGMLReader(path) as reader:
        assert [f.id for f in reader.features(types=["Track"])] == ["T1"]
        assert [f.id for f in reader.features(types=["Road", "Building"])] == ["R1"]
        counts = reader.metadata().counts
    assert counts == {"Road": 1, "Track": 1, "TrafficArea": 2, "AuxiliaryTrafficArea": 2}


# ---------------------------------------------------------------------------------------------
# vegetation and implicit geometry

TEMPLATE = [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (1.0, 0.0, 2.0), (0.0, 0.0, 2.0)]


def _implicit(relative: str, matrix: str, ref: str, lod: int = 2, prefix: str = "veg") -> str:
    return (
        f"<{prefix}:lod{lod}ImplicitRepresentation><core:ImplicitGeometry>"
        f"<core:transformationMatrix>{matrix}</core:transformationMatrix>{relative}"
        f"<core:referencePoint><gml:Point><gml:pos>{ref}</gml:pos></gml:Point></core:referencePoint>"
        f"</core:ImplicitGeometry></{prefix}:lod{lod}ImplicitRepresentation>"
    )


def _tree(gml_id: str, relative: str, matrix: str, ref: str) -> str:
    return (
        f"<veg:SolitaryVegetationObject gml:id='{gml_id}'><veg:species>Quercus</veg:species>"
        "<veg:height uom='m'>12.5</veg:height>"
        + _implicit(relative, matrix, ref)
        + "</veg:SolitaryVegetationObject>"
    )


INLINE = (
    "<core:relativeGMLGeometry>"
    + multi_surface([polygon(TEMPLATE)], gml_id="TPL")
    + "</core:relativeGMLGeometry>"
)
REF = "<core:relativeGMLGeometry xlink:href='#TPL'/>"
IDENTITY = "1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1"


def test_implicit_geometry_inline_and_referenced_templates(tmp_path: Path) -> None:
    scale_rotate = "0 -2 0 0 2 0 0 0 0 0 3 1 0 0 0 1"  # 90° about z, scaled 2/2/3, +1 in z
    members = [
        _tree("V1", INLINE, IDENTITY, "100 200 10"),
        _tree("V2", REF, scale_rotate, "300 400 20"),
    ]
    (v1, v2), report = read(tmp_path, members)
    assert v1.attributes == {"species": "Quercus", "height": 12.5}
    template = np.array(TEMPLATE)
    np.testing.assert_allclose(v1.geometries[0].vertices, template + np.array([100, 200, 10]))
    m = np.array(scale_rotate.split(), dtype=float).reshape(4, 4)
    expected = template @ m[:3, :3].T + m[:3, 3] + [300, 400, 20]
    np.testing.assert_allclose(v2.geometries[0].vertices, expected)
    assert v2.geometries[0].lod == "2" and types_of(v2) == ["VEGETATION"]
    assert not report.skipped


def test_template_defined_later_in_the_document_is_placed(tmp_path: Path) -> None:
    members = [
        _tree("V1", REF, IDENTITY, "5 5 5"),
        _tree("V2", INLINE, IDENTITY, "0 0 0"),
    ]
    features, report = read(tmp_path, members)
    by_id = {f.id: f for f in features}
    assert set(by_id) == {"V1", "V2"}
    np.testing.assert_allclose(by_id["V1"].geometries[0].vertices, np.array(TEMPLATE) + 5)
    assert not report.skipped


def test_missing_template_and_bad_matrix_are_reported(tmp_path: Path) -> None:
    members = [
        _tree("V1", "<core:relativeGMLGeometry xlink:href='#NOPE'/>", IDENTITY, "0 0 0"),
        _tree("V2", INLINE, "1 0 0", "0 0 0"),
    ]
    features, report = read(tmp_path, members)
    assert sorted(f.id for f in features) == ["V1", "V2"]
    assert all(not f.geometries for f in features)
    reasons = skipped(report)
    assert any("'NOPE' is not in the document" in r for r in reasons)
    assert any("transformationMatrix has 3 values" in r for r in reasons)


def test_mirroring_matrix_keeps_faces_outward(tmp_path: Path) -> None:
    mirror = "-1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1"
    (tree,), _ = read(tmp_path, [_tree("V1", INLINE, mirror, "0 0 0")])
    verts = tree.geometries[0].vertices
    mirrored = np.array(TEMPLATE) * [-1, 1, 1]
    np.testing.assert_allclose(verts, mirrored[::-1])  # ring reversed


def test_plant_cover_and_city_furniture(tmp_path: Path) -> None:
    cover = (
        "<veg:PlantCover gml:id='P1'><veg:averageHeight uom='m'>0.4</veg:averageHeight>"
        "<veg:lod1MultiSurface>" + multi_surface([polygon(square())]) + "</veg:lod1MultiSurface>"
        "</veg:PlantCover>"
    )
    bench = (
        "<frn:CityFurniture gml:id='F1'><frn:function>1000</frn:function>"
        + _implicit(INLINE, IDENTITY, "1 1 0", lod=3, prefix="frn")
        + "</frn:CityFurniture>"
    )
    (plant, furniture), report = read(tmp_path, [cover, bench])
    assert plant.attributes == {"averageHeight": 0.4} and types_of(plant) == ["VEGETATION"]
    assert furniture.type == "CityFurniture" and furniture.geometries[0].lod == "3"
    assert types_of(furniture) == ["UNKNOWN"]
    assert not report.skipped


# ---------------------------------------------------------------------------------------------
# water, land use, relief, generics, groups


def test_water_body_boundary_surfaces(tmp_path: Path) -> None:
    water = (
        "<wtr:WaterBody gml:id='W1'><wtr:class>1010</wtr:class>"
        "<wtr:lod1MultiSurface>"
        + multi_surface([polygon(square())])
        + "</wtr:lod1MultiSurface>"
        + "".join(
            f"<wtr:boundedBy><wtr:{name}><wtr:lod2Surface>{polygon(square(z=z))}</wtr:lod2Surface>"
            f"</wtr:{name}></wtr:boundedBy>"
            for name, z in (
                ("WaterSurface", 0.0),
                ("WaterGroundSurface", -3.0),
                ("WaterClosureSurface", -1.0),
            )
        )
        + "</wtr:WaterBody>"
    )
    (feature,), report = read(tmp_path, [water])
    lod1, lod2 = feature.geometries
    assert [SurfaceType(t).name for t in lod1.surface_types] == ["WATER_SURFACE"]
    assert [SurfaceType(t).name for t in lod2.surface_types] == [
        "WATER_SURFACE",
        "WATER_GROUND",
        "WATER_CLOSURE",
    ]
    assert feature.attributes == {"class": "1010"}
    assert not report.skipped


def test_land_use_generic_object_and_group(tmp_path: Path) -> None:
    land = (
        "<luse:LandUse gml:id='L1'><luse:function>2010</luse:function><luse:lod0MultiSurface>"
        + multi_surface([polygon(square())])
        + "</luse:lod0MultiSurface></luse:LandUse>"
    )
    generic = (
        "<gen:GenericCityObject gml:id='G1'><gen:lod2Geometry>"
        + multi_surface([polygon(square(z=2.0))])
        + "</gen:lod2Geometry></gen:GenericCityObject>"
    )
    group = (
        "<grp:CityObjectGroup gml:id='GRP'><grp:class>lot</grp:class>"
        "<grp:groupMember xlink:href='#L1'/><grp:groupMember xlink:href='#G1'/>"
        "<grp:parent xlink:href='#X9'/></grp:CityObjectGroup>"
    )
    features, report = read(tmp_path, [land, generic, group])
    land_use, gen, grp = features
    assert types_of(land_use) == ["LAND_USE"] and land_use.geometries[0].lod == "0"
    assert gen.type == "GenericCityObject" and types_of(gen) == ["UNKNOWN"]
    assert grp.type == "CityObjectGroup" and grp.geometries == ()
    assert grp.attributes == {"class": "lot", "members": "L1; G1", "group_parent": "X9"}
    assert not report.skipped


def _tin(lod: int, body: str, tag: str = "gml:TriangulatedSurface") -> str:
    return (
        f"<dem:reliefComponent><dem:TINRelief gml:id='TIN{lod}'><dem:lod>{lod}</dem:lod>"
        f"<dem:tin><{tag}>{body}</{tag}></dem:tin></dem:TINRelief></dem:reliefComponent>"
    )


def test_relief_tin_mass_points_and_control_point_tin(tmp_path: Path) -> None:
    triangles = "".join(
        f"<gml:Triangle><gml:exterior><gml:LinearRing>{pos}</gml:LinearRing></gml:exterior>"
        "</gml:Triangle>"
        for pos in (
            "<gml:posList>0 0 1 10 0 2 10 10 3 0 0 1</gml:posList>",
            "<gml:posList>0 0 1 10 10 3 0 10 2 0 0 1</gml:posList>",
        )
    )
    relief = (
        "<dem:ReliefFeature gml:id='REL'><dem:lod>2</dem:lod>"
        + _tin(2, f"<gml:trianglePatches>{triangles}</gml:trianglePatches>")
        + _tin(
            1,
            "<gml:trianglePatches/><gml:controlPoint><gml:posList>0 0 0 1 1 1 2 0 1"
            "</gml:posList></gml:controlPoint>",
            tag="gml:Tin",
        )
        + "<dem:reliefComponent><dem:MassPointRelief gml:id='MP'><dem:lod>2</dem:lod>"
        "<dem:reliefPoints><gml:MultiPoint><gml:pointMember><gml:Point><gml:pos>0 0 0</gml:pos>"
        "</gml:Point></gml:pointMember></gml:MultiPoint></dem:reliefPoints></dem:MassPointRelief>"
        "</dem:reliefComponent></dem:ReliefFeature>"
    )
    (feature,), report = read(tmp_path, [relief])
    assert feature.type == "ReliefFeature" and feature.geometries == ()
    tin2, tin1, points = feature.children
    assert (tin2.type, [g.lod for g in tin2.geometries]) == ("TINRelief", ["2"])
    assert types_of(tin2) == ["TERRAIN", "TERRAIN"]
    assert tin1.geometries == () and points.type == "MassPointRelief"
    reasons = skipped(report)
    assert any("control points only" in r for r in reasons)
    assert any("mass points" in r and "not meshed" in r for r in reasons)


def test_unknown_top_level_class_is_reported(tmp_path: Path) -> None:
    ade = "<ade:Thing xmlns:ade='http://example.org/ade' gml:id='A1'/>"
    features, report = read(tmp_path, [ade, _road("Road", "R1", False)])
    assert [f.id for f in features] == ["R1"]
    (skip,) = report.skipped
    assert skip.id == "A1" and "Thing" in skip.reason and "not converted" in skip.reason


def test_citygml_1_0_modules(tmp_path: Path) -> None:
    members = [_tree("V1", INLINE, IDENTITY, "1 2 3"), _road("Road", "R1", False)]
    features, report = read(tmp_path, members, version="1.0")
    assert [(f.id, f.type) for f in features] == [
        ("V1", "SolitaryVegetationObject"),
        ("R1", "Road"),
    ]
    assert not report.skipped


def test_cli_types_and_info_per_type(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from citymodel.cli.main import cli
    from tests.gltf_reader import read_file

    faces = box_faces()
    members = [
        _road("Road", "R1", False),
        "<bldg:Building gml:id='B1'>"
        + _thematic("bldg", "RoofSurface", faces["roof"])
        + "</bldg:Building>",
    ]
    path = write(tmp_path / "c.gml", city_model(members, extra_ns=module_ns()))
    out = tmp_path / "roads.glb"
    args = ["convert", str(path), "-o", str(out), "--types", "Road", "--frame", "source"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    table = read_file(out).property_table()
    assert sorted(zip(table["gml_id"], table["object_type"], strict=True)) == [
        ("R1", "Road"),
        ("R1_aux", "AuxiliaryTrafficArea"),
        ("R1_ta", "TrafficArea"),
    ]
    assert table["building_id"] == ["R1"] * 3
    info = CliRunner().invoke(cli, ["info", str(path)])
    assert info.exit_code == 0, info.output
    assert "AuxiliaryTrafficArea 1, Building 1, Road 1, TrafficArea 1" in info.output


def test_cityjson_gives_the_same_surface_types(tmp_path: Path) -> None:
    import json

    from citymodel.converters.cityjson import CityJSONReader

    doc = {
        "type": "CityJSON",
        "version": "2.0",
        "transform": {"scale": [0.01, 0.01, 0.01], "translate": [0, 0, 0]},
        "vertices": [[0, 0, 0], [1000, 0, 0], [1000, 1000, 100], [0, 1000, 0]],
        "CityObjects": {
            "TIN": {
                "type": "TINRelief",
                "geometry": [
                    {
                        "type": "CompositeSurface",
                        "lod": "2",
                        "boundaries": [[[0, 1, 2]], [[0, 2, 3]]],
                    }
                ],
            },
            "R": {
                "type": "Road",
                "geometry": [
                    {
                        "type": "MultiSurface",
                        "lod": "2",
                        "boundaries": [[[0, 1, 2, 3]], [[0, 1, 2]]],
                        "semantics": {
                            "surfaces": [{"type": "TrafficArea"}, {"type": "AuxiliaryTrafficArea"}],
                            "values": [0, 1],
                        },
                    }
                ],
            },
        },
    }
    path = tmp_path / "m.city.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with CityJSONReader(path, in_crs="EPSG:25832") as reader:
        tin, road = reader.features()
    assert types_of(tin) == ["TERRAIN", "TERRAIN"]
    assert types_of(road) == ["TRAFFIC_AREA", "AUXILIARY_TRAFFIC_AREA"]
