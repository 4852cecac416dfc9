"""CityGML 3.0 reader: each module on tiny hand-written documents, and broken input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

import citymodel
from citymodel.converters.citygml import CITYGML_FORMAT, CityGMLReader
from citymodel.errors import ParseError, UnsupportedFormatError
from citymodel.model import Feature, SurfaceGeometry, SurfaceType
from citymodel.model.semantics import surface_type_from_name
from citymodel.report import JobReport

NAMESPACES = {
    "": "http://www.opengis.net/citygml/3.0",
    "gml": "http://www.opengis.net/gml/3.2",
    "xlink": "http://www.w3.org/1999/xlink",
    "xAL": "urn:oasis:names:tc:ciq:xal:3",
    **{
        prefix: f"http://www.opengis.net/citygml/{module}/3.0"
        for prefix, module in {
            "bldg": "building",
            "con": "construction",
            "tran": "transportation",
            "veg": "vegetation",
            "dem": "relief",
            "wtr": "waterbody",
            "brid": "bridge",
            "tun": "tunnel",
            "frn": "cityfurniture",
            "gen": "generics",
            "grp": "cityobjectgroup",
            "pcl": "pointcloud",
            "luse": "landuse",
            "vers": "versioning",
            "dyn": "dynamizer",
        }.items()
    },
}
SRS = "urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::5783"
X0, Y0 = 458000.0, 5438000.0


def city_model(*members: str, srs: str | None = SRS) -> str:
    xmlns = " ".join(f'xmlns{":" + p if p else ""}="{ns}"' for p, ns in NAMESPACES.items())
    envelope = (
        f'<gml:boundedBy><gml:Envelope srsName="{srs}" srsDimension="3">'
        f"<gml:lowerCorner>{X0} {Y0} 0</gml:lowerCorner>"
        f"<gml:upperCorner>{X0 + 100} {Y0 + 100} 50</gml:upperCorner></gml:Envelope></gml:boundedBy>"
        if srs
        else ""
    )
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<CityModel {xmlns}>{envelope}{"".join(members)}</CityModel>'


def member(obj: str) -> str:
    return f"<cityObjectMember>{obj}</cityObjectMember>"


def ring(points: list[tuple[float, float, float]]) -> str:
    pts = [*points, points[0]]
    return " ".join(f"{X0 + x} {Y0 + y} {z}" for x, y, z in pts)


def polygon(points: list[tuple[float, float, float]], pid: str | None = None) -> str:
    attr = f' gml:id="{pid}"' if pid else ""
    return (
        f"<gml:Polygon{attr}><gml:exterior><gml:LinearRing><gml:posList>{ring(points)}"
        "</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>"
    )


def multi_surface(*polys: str) -> str:
    members = "".join(f"<gml:surfaceMember>{p}</gml:surfaceMember>" for p in polys)
    return f"<gml:MultiSurface>{members}</gml:MultiSurface>"


def square(x: float, y: float, z: float, size: float = 10.0, pid: str | None = None) -> str:
    return polygon([(x, y, z), (x + size, y, z), (x + size, y + size, z), (x, y + size, z)], pid)


def wall(x: float, pid: str | None = None) -> str:
    return polygon([(x, 0, 0), (x, 10, 0), (x, 10, 5), (x, 0, 5)], pid)


def boundary(cls: str, lod: str, *polys: str, extra: str = "") -> str:
    return (
        f"<boundary><{cls}>{extra}<lod{lod}MultiSurface>{multi_surface(*polys)}"
        f"</lod{lod}MultiSurface></{cls}></boundary>"
    )


def write(tmp_path: Path, text: str, name: str = "t.gml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read(path: Path, report: JobReport | None = None) -> list[Feature]:
    with CityGMLReader(path) as reader:
        return list(reader.features(report=report if report is not None else JobReport()))


def read_doc(tmp_path: Path, *members: str, report: JobReport | None = None) -> list[Feature]:
    return read(write(tmp_path, city_model(*members)), report)


def types_of(geom: SurfaceGeometry) -> list[str]:
    return [SurfaceType(t).name for t in geom.surface_types.tolist()]


# -- core and building ----------------------------------------------------------------------


def test_building_with_boundaries_solid_and_part(tmp_path: Path) -> None:
    solid = (
        "<lod2Solid><gml:Solid><gml:exterior><gml:Shell>"
        + "".join(f'<gml:surfaceMember xlink:href="#{p}"/>' for p in ("g1", "r1", "w1", "w2"))
        + "</gml:Shell></gml:exterior></gml:Solid></lod2Solid>"
    )
    part = (
        '<bldg:buildingPart><bldg:BuildingPart gml:id="P1">'
        + boundary("con:RoofSurface", "2", square(20, 0, 3, pid="pr"))
        + "<bldg:roofType>1000</bldg:roofType></bldg:BuildingPart></bldg:buildingPart>"
    )
    building = (
        '<bldg:Building gml:id="B1"><gml:name>Haus</gml:name>'
        + boundary("con:GroundSurface", "2", square(0, 0, 0, pid="g1"))
        + boundary("con:RoofSurface", "2", square(0, 0, 5, pid="r1"))
        + boundary("con:WallSurface", "2", wall(0, "w1"), wall(10, "w2"))
        + solid
        + "<con:height><con:Height><con:highReference>highestRoofEdge</con:highReference>"
        "<con:lowReference>lowestGroundPoint</con:lowReference><con:status>measured</con:status>"
        '<con:value uom="m">5.0</con:value></con:Height></con:height>'
        "<bldg:function>31001_1000</bldg:function><bldg:storeysAboveGround>2"
        "</bldg:storeysAboveGround>" + part + "</bldg:Building>"
    )
    path = write(tmp_path, city_model(member(building)))
    with citymodel.open(path) as reader:
        assert reader.version == "3.0"
        (feat,) = reader.features()
    assert feat.id == "B1" and feat.type == "Building"
    assert feat.attributes == {
        "name": "Haus",
        "measuredHeight": 5.0,
        "function": "31001_1000",
        "storeysAboveGround": 2,
    }
    (geom,) = feat.geometries
    assert geom.lod == "2" and geom.solid  # the solid references exactly the boundary polygons
    assert types_of(geom) == ["GROUND", "ROOF", "WALL", "WALL"]
    (part_feat,) = feat.children
    assert (part_feat.type, part_feat.id) == ("BuildingPart", "P1")
    assert part_feat.attributes == {"roofType": "1000"}
    assert types_of(part_feat.geometries[0]) == ["ROOF"]


def test_lod_geometries_and_openings(tmp_path: Path) -> None:
    window = (
        "<con:fillingSurface><con:WindowSurface><lod3MultiSurface>"
        + multi_surface(polygon([(0, 2, 1), (0, 4, 1), (0, 4, 2), (0, 2, 2)]))
        + "</lod3MultiSurface></con:WindowSurface></con:fillingSurface>"
        "<con:fillingSurface><con:DoorSurface><lod3MultiSurface>"
        + multi_surface(polygon([(0, 6, 0), (0, 7, 0), (0, 7, 2), (0, 6, 2)]))
        + "</lod3MultiSurface></con:DoorSurface></con:fillingSurface>"
    )
    building = (
        '<bldg:Building gml:id="B1">'
        f"<lod0MultiSurface>{multi_surface(square(0, 0, 0))}</lod0MultiSurface>"
        + boundary("con:RoofSurface", "0", square(0, 0, 5))
        + "<lod1Solid><gml:Solid><gml:exterior><gml:Shell>"
        + "".join(f"<gml:surfaceMember>{square(0, 0, z)}</gml:surfaceMember>" for z in (0, 5))
        + "</gml:Shell></gml:exterior></gml:Solid></lod1Solid>"
        + f"<boundary><con:WallSurface><lod3MultiSurface>{multi_surface(wall(0))}"
        + f"</lod3MultiSurface>{window}</con:WallSurface></boundary>"
        + "<lod2MultiCurve><gml:MultiCurve/></lod2MultiCurve>"
        + "</bldg:Building>"
    )
    report = JobReport()
    (feat,) = read_doc(tmp_path, member(building), report=report)
    by_lod = {g.lod: g for g in feat.geometries}
    assert sorted(by_lod) == ["0", "1", "3"]
    # LoD0: the space's footprint and the roof surface's edge are both kept (as 2.0 does)
    assert sorted(types_of(by_lod["0"])) == ["ROOF", "UNKNOWN"]
    assert by_lod["1"].solid and by_lod["1"].polygon_count == 2
    assert types_of(by_lod["3"]) == ["WALL", "WINDOW", "DOOR"]
    assert any("curve" in w and "lod2MultiCurve" in w for w in report.warnings)


def test_xlink_referenced_rooms_are_read_once(tmp_path: Path) -> None:
    room = (
        '<bldg:buildingRoom><bldg:BuildingRoom gml:id="R1">'
        + boundary("con:FloorSurface", "2", square(0, 0, 0))
        + boundary("con:CeilingSurface", "2", square(0, 0, 3))
        + "</bldg:BuildingRoom></bldg:buildingRoom>"
    )
    storey = (
        '<bldg:buildingSubdivision><bldg:Storey gml:id="S1">'
        '<bldg:buildingRoom xlink:href="#R1"/>'
        "</bldg:Storey></bldg:buildingSubdivision>"
    )
    building = f'<bldg:Building gml:id="B1">{room}{storey}</bldg:Building>'
    report = JobReport()
    (feat,) = read_doc(tmp_path, member(building), report=report)
    kids = {c.id: c for c in feat.children}
    assert sorted(kids) == ["R1", "S1"]
    assert kids["R1"].type == "BuildingRoom"
    assert types_of(kids["R1"].geometries[0]) == ["FLOOR", "CEILING"]
    assert kids["S1"].type == "BuildingStorey"
    assert kids["S1"].attributes == {"buildingRoom": "R1"}
    assert any("BuildingStorey without geometry x1" in w for w in report.warnings)


def test_generic_attributes_address_and_relations(tmp_path: Path) -> None:
    attrs = (
        "<creationDate>2014-10-08T00:00:00</creationDate>"
        "<externalReference><ExternalReference><targetResource>urn:adv:oid:X</targetResource>"
        "<informationSystem>https://example.org/is</informationSystem>"
        "</ExternalReference></externalReference>"
        "<genericAttribute><gen:StringAttribute><gen:name>Gemeinde</gen:name>"
        "<gen:value>05315000</gen:value></gen:StringAttribute></genericAttribute>"
        "<genericAttribute><gen:IntAttribute><gen:name>n</gen:name><gen:value>7</gen:value>"
        "</gen:IntAttribute></genericAttribute>"
        "<genericAttribute><gen:DoubleAttribute><gen:name>d</gen:name><gen:value>2.5</gen:value>"
        "</gen:DoubleAttribute></genericAttribute>"
        "<genericAttribute><gen:DateAttribute><gen:name>when</gen:name>"
        "<gen:value>2020-02-29</gen:value></gen:DateAttribute></genericAttribute>"
        "<genericAttribute><gen:UriAttribute><gen:name>uri</gen:name>"
        "<gen:value>https://example.org</gen:value></gen:UriAttribute></genericAttribute>"
        '<genericAttribute><gen:MeasureAttribute><gen:name>area</gen:name><gen:value uom="m2">'
        "12.5</gen:value></gen:MeasureAttribute></genericAttribute>"
        "<genericAttribute><gen:GenericAttributeSet><gen:name>set</gen:name>"
        "<gen:genericAttribute><gen:StringAttribute><gen:name>a</gen:name><gen:value>x</gen:value>"
        "</gen:StringAttribute></gen:genericAttribute>"
        "</gen:GenericAttributeSet></genericAttribute>"
        "<genericAttribute><gen:StringAttribute><gen:name>function</gen:name>"
        "<gen:value>clash</gen:value></gen:StringAttribute></genericAttribute>"
        "<relatedTo><CityObjectRelation><relationType>adjacent</relationType>"
        '<relatedTo xlink:href="#B2"/></CityObjectRelation></relatedTo>'
        "<bldg:function>31001_1000</bldg:function>"
        "<bldg:address><Address><xalAddress><xAL:Address>"
        '<xAL:Country><xAL:NameElement xAL:NameType="Name">Germany</xAL:NameElement></xAL:Country>'
        "<xAL:Locality><xAL:NameElement>Köln</xAL:NameElement></xAL:Locality>"
        '<xAL:Thoroughfare><xAL:NameElement xAL:NameType="ReferenceLocation">Dom</xAL:NameElement>'
        '<xAL:NameElement xAL:NameType="NameOnly">Domkloster</xAL:NameElement>'
        "<xAL:Number>4</xAL:Number></xAL:Thoroughfare>"
        "<xAL:PostCode><xAL:Identifier>50667</xAL:Identifier></xAL:PostCode>"
        "</xAL:Address></xalAddress></Address></bldg:address>"
    )
    building = (
        f'<bldg:Building gml:id="B1">{attrs}'
        + boundary("con:RoofSurface", "2", square(0, 0, 5))
        + "</bldg:Building>"
    )
    (feat,) = read_doc(tmp_path, member(building))
    assert feat.attributes == {
        "creationDate": dt.date(2014, 10, 8),
        "externalReference_uri": "urn:adv:oid:X",
        "externalReference_informationSystem": "https://example.org/is",
        "relatedTo": "B2",
        "relatedTo_relationType": "adjacent",
        "function": "31001_1000",
        "address_street": "Domkloster",
        "address_number": "4",
        "address_postcode": "50667",
        "address_city": "Köln",
        "address_country": "Germany",
        "Gemeinde": "05315000",
        "n": 7,
        "d": 2.5,
        "when": dt.date(2020, 2, 29),
        "uri": "https://example.org",
        "area": 12.5,
        "set.a": "x",
        "gen_function": "clash",
    }


# -- the other modules ------------------------------------------------------------------------


def test_transportation_sections_and_traffic_areas(tmp_path: Path) -> None:
    area = boundary("tran:TrafficArea", "2", square(0, 0, 0)) + boundary(
        "tran:AuxiliaryTrafficArea", "2", square(10, 0, 0)
    )
    road = (
        '<tran:Road gml:id="R1"><tran:function>1000</tran:function>'
        '<tran:section><tran:Section gml:id="S1"><tran:trafficSpace>'
        f'<tran:TrafficSpace gml:id="T1">{area}<tran:granularity>lane</tran:granularity>'
        "</tran:TrafficSpace></tran:trafficSpace></tran:Section></tran:section>"
        '<tran:intersection><tran:Intersection gml:id="I1">'
        f"<lod2MultiSurface>{multi_surface(square(20, 0, 0))}</lod2MultiSurface>"
        "</tran:Intersection></tran:intersection></tran:Road>"
    )
    square_obj = (
        f'<tran:Square gml:id="Q1"><lod1MultiSurface>{multi_surface(square(40, 0, 0))}'
        "</lod1MultiSurface></tran:Square>"
    )
    road_feat, sq = read_doc(tmp_path, member(road), member(square_obj))
    assert road_feat.attributes == {"function": "1000"}
    section, intersection = road_feat.children
    assert (section.type, intersection.type) == ("Section", "Intersection")
    (space,) = section.children
    assert space.type == "TrafficSpace" and space.attributes == {"granularity": "lane"}
    assert [SurfaceType(t) for t in space.geometries[0].surface_types.tolist()] == [
        surface_type_from_name("TrafficArea"),
        surface_type_from_name("AuxiliaryTrafficArea"),
    ]
    assert sq.type == "TransportSquare" and sq.geometries[0].lod == "1"


def test_water_vegetation_landuse_furniture_generic(tmp_path: Path) -> None:
    water = (
        '<wtr:WaterBody gml:id="W1">'
        + boundary("wtr:WaterSurface", "2", square(0, 0, 0))
        + boundary("wtr:WaterGroundSurface", "2", square(0, 0, -2))
        + "</wtr:WaterBody>"
    )
    plant = (
        '<veg:PlantCover gml:id="V1"><veg:averageHeight uom="m">1.5</veg:averageHeight>'
        f"<lod1MultiSurface>{multi_surface(square(0, 20, 0))}</lod1MultiSurface></veg:PlantCover>"
    )
    landuse = (
        f'<luse:LandUse gml:id="L1"><lod0MultiSurface>{multi_surface(square(0, 40, 0))}'
        "</lod0MultiSurface></luse:LandUse>"
    )
    bench = (
        f'<frn:CityFurniture gml:id="F1"><lod2MultiSurface>{multi_surface(square(5, 5, 0, 1))}'
        "</lod2MultiSurface></frn:CityFurniture>"
    )
    generic = (
        f'<gen:GenericOccupiedSpace gml:id="G1"><lod2MultiSurface>{multi_surface(square(8, 8, 0, 1))}'
        "</lod2MultiSurface></gen:GenericOccupiedSpace>"
    )
    feats = read_doc(tmp_path, *map(member, (water, plant, landuse, bench, generic)))
    assert [f.type for f in feats] == [
        "WaterBody",
        "PlantCover",
        "LandUse",
        "CityFurniture",
        "GenericOccupiedSpace",
    ]
    w, v, lu = feats[:3]
    assert [SurfaceType(t) for t in w.geometries[0].surface_types.tolist()] == [
        surface_type_from_name("WaterSurface"),
        surface_type_from_name("WaterGroundSurface"),
    ]
    assert v.attributes == {"averageHeight": 1.5}
    assert v.geometries[0].lod == "1" and lu.geometries[0].lod == "0"


def test_relief_bridge_tunnel_group(tmp_path: Path) -> None:
    triangles = "".join(
        "<gml:Triangle><gml:exterior><gml:LinearRing><gml:posList>"
        f"{ring([(0, 0, z), (10, 0, z), (0, 10, z)])}</gml:posList></gml:LinearRing>"
        "</gml:exterior></gml:Triangle>"
        for z in (0, 1)
    )
    relief = (
        '<dem:ReliefFeature gml:id="D1"><dem:lod>2</dem:lod><dem:reliefComponent>'
        '<dem:TINRelief gml:id="T1"><dem:lod>2</dem:lod><dem:tin><gml:TriangulatedSurface>'
        f"<gml:patches>{triangles}</gml:patches></gml:TriangulatedSurface></dem:tin>"
        "</dem:TINRelief></dem:reliefComponent></dem:ReliefFeature>"
    )
    bridge = (
        '<brid:Bridge gml:id="BR1">'
        + boundary("con:RoofSurface", "2", square(0, 0, 5))
        + '<brid:bridgePart><brid:BridgePart gml:id="BP1">'
        + boundary("con:WallSurface", "2", wall(0))
        + "</brid:BridgePart></brid:bridgePart></brid:Bridge>"
    )
    tunnel = (
        '<tun:Tunnel gml:id="TU1"><tun:hollowSpace><tun:HollowSpace gml:id="H1">'
        + boundary("con:InteriorWallSurface", "2", wall(0))
        + "</tun:HollowSpace></tun:hollowSpace></tun:Tunnel>"
    )
    group = (
        '<grp:CityObjectGroup gml:id="GR1"><grp:groupMember xlink:href="#BR1"/>'
        '<grp:groupMember xlink:href="#TU1"/></grp:CityObjectGroup>'
    )
    report = JobReport()
    d, br, tu, gr = read_doc(tmp_path, *map(member, (relief, bridge, tunnel, group)), report=report)
    (tin,) = d.children
    assert tin.type == "TINRelief" and tin.geometries[0].lod == "2"
    assert tin.geometries[0].polygon_count == 2
    assert br.type == "Bridge" and [c.type for c in br.children] == ["BridgePart"]
    assert tu.children[0].type == "TunnelHollowSpace"
    assert types_of(tu.children[0].geometries[0]) == ["INTERIOR_WALL"]
    assert gr.type == "CityObjectGroup" and gr.attributes == {"groupMember": "BR1; TU1"}


def test_implicit_geometry_template_reused_across_objects(tmp_path: Path) -> None:
    template = multi_surface(
        polygon([(-X0, -Y0, 0), (1 - X0, -Y0, 0), (1 - X0, 1 - Y0, 0)])  # local 0..1 metres
    ).replace("<gml:MultiSurface>", '<gml:MultiSurface gml:id="tpl">')

    def tree(tid: str, x: float, relative: str) -> str:
        return (
            f'<veg:SolitaryVegetationObject gml:id="{tid}"><lod2ImplicitRepresentation>'
            "<ImplicitGeometry><transformationMatrix>2 0 0 0 0 2 0 0 0 0 2 0 0 0 0 1"
            f"</transformationMatrix>{relative}<referencePoint><gml:Point><gml:pos>"
            f"{X0 + x} {Y0} 100</gml:pos></gml:Point></referencePoint></ImplicitGeometry>"
            "</lod2ImplicitRepresentation></veg:SolitaryVegetationObject>"
        )

    first = tree("V1", 0, f"<relativeGeometry>{template}</relativeGeometry>")
    second = tree("V2", 50, '<relativeGeometry xlink:href="#tpl"/>')
    v1, v2 = read_doc(tmp_path, member(first), member(second))
    for feat, x in ((v1, 0.0), (v2, 50.0)):
        (geom,) = feat.geometries
        assert geom.lod == "2"
        np.testing.assert_allclose(
            geom.vertices, [[X0 + x, Y0, 100], [X0 + x + 2, Y0, 100], [X0 + x + 2, Y0 + 2, 100]]
        )


def test_point_cloud_reference_is_kept_and_reported(tmp_path: Path) -> None:
    building = (
        '<bldg:Building gml:id="B1">'
        + boundary("con:RoofSurface", "2", square(0, 0, 5))
        + "<pointCloud><pcl:PointCloud><pcl:mimeType>application/vnd.laszip</pcl:mimeType>"
        "<pcl:pointFile>scan/b1.laz</pcl:pointFile></pcl:PointCloud></pointCloud>"
        "</bldg:Building>"
    )
    report = JobReport()
    (feat,) = read_doc(tmp_path, member(building), report=report)
    assert feat.attributes["pointFile"] == "scan/b1.laz"
    assert feat.attributes["pointFileMimeType"] == "application/vnd.laszip"
    assert any("scan/b1.laz" in w and "citymodel tile" in w for w in report.warnings)


def test_types_selection_and_format_types(tmp_path: Path) -> None:
    road = f'<tran:Road gml:id="R1"><lod1MultiSurface>{multi_surface(square(0, 0, 0))}</lod1MultiSurface></tran:Road>'
    bldg = '<bldg:Building gml:id="B1">' + boundary("con:RoofSurface", "2", square(0, 0, 5))
    path = write(tmp_path, city_model(member(road), member(bldg + "</bldg:Building>")))
    with CityGMLReader(path) as reader:
        assert [f.id for f in reader.features(types={"Road"})] == ["R1"]
        assert reader.metadata().counts == {"Building": 1, "Road": 1}
    for name in ("Road", "TransportSquare", "BuildingStorey", "Section", "TINRelief"):
        assert name in CITYGML_FORMAT.supported_types


# -- broken input ----------------------------------------------------------------------------


def test_truncated_file_names_file_and_line(tmp_path: Path) -> None:
    text = city_model(
        member(
            '<bldg:Building gml:id="B1">'
            + boundary("con:RoofSurface", "2", square(0, 0, 5))
            + "</bldg:Building>"
        )
    )
    path = write(tmp_path, text[: len(text) // 2])
    with pytest.raises(ParseError, match="truncated") as err:
        read(path)
    assert err.value.path == str(path) and err.value.line is not None


def test_unknown_namespace_is_refused(tmp_path: Path) -> None:
    text = city_model().replace(
        'xmlns="http://www.opengis.net/citygml/3.0"', 'xmlns="http://www.opengis.net/citygml/4.0"'
    )
    with pytest.raises(UnsupportedFormatError, match=r"citygml/4\.0"):
        read(write(tmp_path, text))


def test_unknown_class_and_bad_geometry_are_reported_per_object(tmp_path: Path) -> None:
    ade = '<foo:Thing xmlns:foo="urn:example:ade" gml:id="A1"/>'
    bad = (
        '<bldg:Building gml:id="B1">'
        + boundary("con:RoofSurface", "2", square(0, 0, 5))
        + boundary("con:WallSurface", "2", polygon([(0, 0, 0), (1, 1, 1)], "broken"))
        + '<lod1Solid xlink:href="#nowhere"/>'
        "</bldg:Building>"
    )
    broken_tree = (
        '<veg:SolitaryVegetationObject gml:id="V1"><lod2ImplicitRepresentation><ImplicitGeometry>'
        "<transformationMatrix>1 0 0</transformationMatrix>"
        '<relativeGeometry xlink:href="#missing"/><referencePoint><gml:Point><gml:pos>1 2 3'
        "</gml:pos></gml:Point></referencePoint></ImplicitGeometry></lod2ImplicitRepresentation>"
        "</veg:SolitaryVegetationObject>"
    )
    report = JobReport()
    feats = read_doc(tmp_path, member(ade), member(bad), member(broken_tree), report=report)
    assert [f.id for f in feats] == ["B1", "V1"]
    assert types_of(feats[0].geometries[0]) == ["ROOF"]  # the rest of B1 is kept
    reasons = {(s.id, s.reason.split(":")[0]) for s in report.skipped}
    by_id = {s.id: s for s in report.skipped}
    assert by_id["A1"].line is not None and "Thing" in by_id["A1"].reason
    assert any(i == "B1" and "broken" in s.reason for s in report.skipped for i in [s.id])
    assert any(s.id == "B1" and "nowhere" in s.reason for s in report.skipped)
    assert any(s.id == "V1" and "transformationMatrix" in s.reason for s in report.skipped)
    assert all(s.file and s.file.endswith("t.gml") for s in report.skipped), reasons


# -- the same city as 2.0 and as 3.0 ----------------------------------------------------------


def test_generated_city_written_as_3_0_reads_back_identical(tmp_path: Path) -> None:
    from citymodel.converters.citygml_writer import CityGMLWriter
    from citymodel.crs import parse_srs_name
    from citymodel.synthetic import SyntheticCityOptions, write_city

    v2, v3 = tmp_path / "city2.gml", tmp_path / "city3.gml"
    write_city(v2, SyntheticCityOptions(n_buildings=40, part_ratio=0.5, courtyard_ratio=0.2))
    report = JobReport()
    with CityGMLReader(v2) as reader:
        assert reader.srs_name is not None
        crs = parse_srs_name(reader.srs_name)
        original = list(reader.features(report=report))
    with CityGMLWriter(v3, crs=crs, report=report, version="3.0") as writer:
        for feature in original:
            writer.write(feature)
    again = read(v3, report)
    assert not report.skipped
    a = {f.id: f for top in original for f, _ in top.walk()}
    b = {f.id: f for top in again for f, _ in top.walk()}
    assert a.keys() == b.keys() and any(f.type == "BuildingPart" for f in b.values())
    for fid, f2 in a.items():
        f3 = b[fid]
        assert f3.type == f2.type and f3.attributes == f2.attributes, fid
        assert len(f3.geometries) == len(f2.geometries), fid
        for g2, g3 in zip(f2.geometries, f3.geometries, strict=True):
            assert (g3.lod, g3.solid) == (g2.lod, g2.solid), fid
            np.testing.assert_allclose(g3.vertices, g2.vertices, atol=1e-3)
            np.testing.assert_array_equal(g3.ring_offsets, g2.ring_offsets)
            np.testing.assert_array_equal(g3.polygon_offsets, g2.polygon_offsets)
            np.testing.assert_array_equal(g3.surface_types, g2.surface_types)


def test_appearances_are_read_and_info_says_3_0(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from citymodel.cli.main import cli

    building = (
        '<bldg:Building gml:id="B1">'
        + boundary("con:RoofSurface", "2", square(0, 0, 5))
        + '<appearance><app:Appearance xmlns:app="http://www.opengis.net/citygml/appearance/3.0"/>'
        "</appearance></bldg:Building>"
    )
    top_appearance = (
        '<appearanceMember><app:Appearance xmlns:app="http://www.opengis.net/citygml/appearance/3.0">'
        "<app:theme>rgb</app:theme></app:Appearance></appearanceMember>"
    )
    path = write(tmp_path, city_model(member(building), top_appearance))
    report = JobReport()
    (feat,) = read(path, report)
    assert feat.geometries[0].polygon_count == 1
    assert not [w for w in report.warnings if "Appearance" in w]  # read, not "not converted"
    result = CliRunner().invoke(cli, ["info", str(path)])
    assert result.exit_code == 0, result.output
    assert "CityGML 3.0" in result.output and "Building 1" in result.output
    assert "'rgb'" in result.output  # the document-level appearance's theme


def test_construction_installations_and_filling_elements(tmp_path: Path) -> None:
    window = (
        '<con:filling><con:Window gml:id="WI1"><lod3MultiSurface>'
        + multi_surface(polygon([(0, 2, 1), (0, 4, 1), (0, 4, 2), (0, 2, 2)]))
        + "</lod3MultiSurface></con:Window></con:filling>"
    )
    building = (
        '<bldg:Building gml:id="B1">'
        + boundary("con:RoofSurface", "2", square(0, 0, 5))
        + '<bldg:buildingConstructiveElement><bldg:BuildingConstructiveElement gml:id="CE1">'
        + f"<lod3MultiSurface>{multi_surface(wall(0))}</lod3MultiSurface>{window}"
        + "</bldg:BuildingConstructiveElement></bldg:buildingConstructiveElement>"
        + '<bldg:buildingInstallation><bldg:BuildingInstallation gml:id="BI1">'
        + "<bldg:class>1000</bldg:class>"
        + boundary("con:RoofSurface", "2", square(3, 3, 6, 1))
        + "</bldg:BuildingInstallation></bldg:buildingInstallation></bldg:Building>"
    )
    other = (
        '<con:OtherConstruction gml:id="OC1"><lod2MultiSurface>'
        f"{multi_surface(square(30, 0, 0))}</lod2MultiSurface></con:OtherConstruction>"
    )
    b, oc = read_doc(tmp_path, member(building), member(other))
    element, installation = b.children
    assert (element.type, installation.type) == (
        "BuildingConstructiveElement",
        "BuildingInstallation",
    )
    (win,) = element.children
    assert win.type == "Window" and types_of(win.geometries[0]) == ["WINDOW"]
    assert installation.attributes == {"class": "1000"}
    assert types_of(installation.geometries[0]) == ["ROOF"]
    assert oc.type == "OtherConstruction" and oc.geometries[0].polygon_count == 1


def test_inline_point_cloud_is_reported(tmp_path: Path) -> None:
    building = (
        '<bldg:Building gml:id="B1">'
        + boundary("con:RoofSurface", "2", square(0, 0, 5))
        + "<pointCloud><pcl:PointCloud><pcl:points><gml:MultiPoint><gml:pointMember><gml:Point>"
        f"<gml:pos>{X0} {Y0} 1</gml:pos></gml:Point></gml:pointMember></gml:MultiPoint>"
        "</pcl:points></pcl:PointCloud></pointCloud></bldg:Building>"
    )
    report = JobReport()
    (feat,) = read_doc(tmp_path, member(building), report=report)
    assert feat.geometries[0].polygon_count == 1
    assert any("pcl:points (inline MultiPoint) x1" in w for w in report.warnings)
