"""The synthetic CityGML city: determinism, structure, AdV attributes and valid solids."""

from __future__ import annotations

import collections
import gzip
import os
import re
import subprocess
import sys
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from citymodel.errors import OutputError
from citymodel.synthetic import (
    SyntheticCityOptions,
    SyntheticCitySummary,
    write_city,
    write_city_tiles,
)

GML = "http://www.opengis.net/gml"
XLINK = "http://www.w3.org/1999/xlink"
GML_ID = f"{{{GML}}}id"
HREF = f"{{{XLINK}}}href"
ADV_SRS = "urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH*GCG2016"


def ns(version: str) -> dict[str, str]:
    return {
        "core": f"http://www.opengis.net/citygml/{version}",
        "bldg": f"http://www.opengis.net/citygml/building/{version}",
        "gen": f"http://www.opengis.net/citygml/generics/{version}",
        "gml": GML,
        "xAL": "urn:oasis:names:tc:ciq:xsdschema:xAL:2.0",
    }


@dataclass
class City:
    path: Path
    summary: SyntheticCitySummary
    root: etree._Element
    ns: dict[str, str]

    def buildings(self) -> list[etree._Element]:
        return self.root.findall("core:cityObjectMember/bldg:Building", self.ns)

    def solid_objects(self) -> list[etree._Element]:
        """Buildings without parts and BuildingParts: the objects carrying a solid."""
        out = []
        for b in self.buildings():
            parts = b.findall("bldg:consistsOfBuildingPart/bldg:BuildingPart", self.ns)
            out.extend(parts or [b])
        return out


def generate(tmp: Path, name: str, **kw: object) -> City:
    opts = SyntheticCityOptions(**kw)  # type: ignore[arg-type]
    summary = write_city(tmp / name, opts)
    data = summary.path.read_bytes()
    root = etree.fromstring(gzip.decompress(data) if name.endswith(".gz") else data)
    return City(summary.path, summary, root, ns(opts.version))


@pytest.fixture(scope="module")
def lod2(tmp_path_factory: pytest.TempPathFactory) -> City:
    return generate(tmp_path_factory.mktemp("lod2"), "city.gml", n_buildings=120, seed=7)


def coords(pos_list: etree._Element) -> np.ndarray:
    """A gml:posList as an (n, 3) float64 array."""
    assert pos_list.text is not None
    return np.array(pos_list.text.split(), dtype=np.float64).reshape(-1, 3)


def ring_arrays(polygon: etree._Element | None) -> list[np.ndarray]:
    """Rings of a gml:Polygon as (n, 3) arrays without the closing point."""
    assert polygon is not None
    out = []
    for pos in polygon.iter(f"{{{GML}}}posList"):
        assert pos.get("srsDimension") == "3"
        a = coords(pos)
        np.testing.assert_array_equal(a[0], a[-1])  # CGML-4: rings are closed
        out.append(a[:-1])
    return out


def solid_polygons(obj: etree._Element, city: City, lod: int = 2) -> list[etree._Element]:
    """Polygons of the object's lodNSolid, resolving xlinks inside the object (CGML-3)."""
    solid = obj.find(f"bldg:lod{lod}Solid", city.ns)
    assert solid is not None
    by_id = {p.get(GML_ID): p for p in obj.iter(f"{{{GML}}}Polygon")}
    polygons = []
    for member in solid.iter(f"{{{GML}}}surfaceMember"):
        href = member.get(HREF)
        polygons.append(by_id[href[1:]] if href else member[0])
    return polygons


def area_vector(ring: np.ndarray) -> np.ndarray:
    vec: np.ndarray = 0.5 * np.cross(ring, np.roll(ring, -1, axis=0)).sum(axis=0)
    return vec


def check_closed_outward(polygons: list[etree._Element]) -> float:
    """Every directed edge once and its reverse once; returns the signed volume (m³)."""
    rings = [ring_arrays(p) for p in polygons]
    origin = rings[0][0][0].copy()
    edges: collections.Counter[tuple[tuple[float, ...], tuple[float, ...]]] = collections.Counter()
    volume = 0.0
    for polygon in rings:
        local = [r - origin for r in polygon]
        vec = sum((area_vector(r) for r in local), np.zeros(3))
        volume += float(local[0][0] @ vec) / 3.0  # divergence theorem, planar polygon
        normal = vec / np.linalg.norm(vec)
        pts = np.vstack(local)
        assert np.abs((pts - pts.mean(axis=0)) @ normal).max() < 0.002  # planar within 2 mm
        for r in local:
            for a, b in zip(r, np.roll(r, -1, axis=0), strict=True):
                edges[(tuple(np.round(a, 4)), tuple(np.round(b, 4)))] += 1
    for (a, b), count in edges.items():
        assert a != b, "zero-length edge"
        assert count == 1 and edges[(b, a)] == 1, f"edge {a}->{b} not shared by exactly two faces"
    return volume


def ground_area(obj: etree._Element, city: City) -> float:
    total = 0.0
    for poly in obj.iterfind(".//bldg:GroundSurface//gml:Polygon", city.ns):
        vec = sum((area_vector(r - r[0]) for r in ring_arrays(poly)), np.zeros(3))
        assert vec[2] < 0  # ground faces down, holes subtracted
        total += -vec[2]
    return total


def measured_height(obj: etree._Element, city: City) -> float:
    el = obj.find("bldg:measuredHeight", city.ns)
    assert el is not None and el.get("uom") == "urn:adv:uom:m"
    return float(el.text or "nan")


# --- determinism --------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    opts = SyntheticCityOptions(n_buildings=25, seed=3)
    a, b = (
        write_city(tmp_path / "a" / "city.gml", opts),
        write_city(tmp_path / "b" / "city.gml", opts),
    )
    c = write_city(tmp_path / "c" / "city.gml", SyntheticCityOptions(n_buildings=25, seed=4))
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.path.read_bytes() != c.path.read_bytes()
    assert (a.n_polygons, a.extent) == (b.n_polygons, b.extent)


def test_output_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    code = (
        "import sys; from citymodel.synthetic import SyntheticCityOptions, write_city; "
        "write_city(sys.argv[1], SyntheticCityOptions(n_buildings=12, seed=5, courtyard_ratio=0.3))"
    )
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = tmp_path / hash_seed / "city.gml"
        subprocess.run([sys.executable, "-c", code, str(out)], env=env, check=True)
    assert (tmp_path / "1" / "city.gml").read_bytes() == (tmp_path / "2" / "city.gml").read_bytes()


def test_gzip_output_is_readable_and_deterministic(tmp_path: Path) -> None:
    opts = SyntheticCityOptions(n_buildings=15, seed=2)
    plain = write_city(tmp_path / "city.gml", opts)
    packed = write_city(tmp_path / "city.gml.gz", opts)
    again = write_city(tmp_path / "again" / "city.gml.gz", opts)
    assert packed.path.read_bytes()[:2] == b"\x1f\x8b"
    assert packed.path.read_bytes() == again.path.read_bytes()
    assert packed.bytes == packed.path.stat().st_size < plain.bytes
    with gzip.open(packed.path, "rb") as f:
        assert f.read() == plain.path.read_bytes()


# --- structure ----------------------------------------------------------------------------------


def test_counts_match_the_summary(lod2: City) -> None:
    s = lod2.summary
    assert s.n_buildings == len(lod2.buildings()) == 120
    parts = lod2.root.findall(".//bldg:BuildingPart", lod2.ns)
    assert s.n_parts == len(parts) > 0
    assert s.n_polygons == len(list(lod2.root.iter(f"{{{GML}}}Polygon")))
    assert s.bytes == lod2.path.stat().st_size
    all_ids = [el.get(GML_ID) for el in lod2.root.iter() if el.get(GML_ID)]
    assert len(all_ids) == len(set(all_ids))  # CGML-3: ids are unique document-wide
    ids = [b.get(GML_ID) for b in lod2.buildings()]
    assert ids == [f"DENW_SYN_{i:06d}" for i in range(1, 121)]
    assert all(re.fullmatch(r"DENW_SYN_\d{6}_BP\d", str(p.get(GML_ID))) for p in parts)


def test_header_envelope_equals_the_extent_of_all_coordinates(lod2: City) -> None:
    assert lod2.root.tag == f"{{{lod2.ns['core']}}}CityModel"
    env = lod2.root.find("gml:boundedBy/gml:Envelope", lod2.ns)
    assert env is not None and env.get("srsName") == ADV_SRS
    lower = [float(v) for v in str(env.findtext("gml:lowerCorner", namespaces=lod2.ns)).split()]
    upper = [float(v) for v in str(env.findtext("gml:upperCorner", namespaces=lod2.ns)).split()]
    pts = np.vstack([coords(p) for p in lod2.root.iter(f"{{{GML}}}posList")])
    assert tuple(lower + upper) == lod2.summary.extent
    np.testing.assert_array_equal(pts.min(axis=0), lower)
    np.testing.assert_array_equal(pts.max(axis=0), upper)
    # Köln area (EPSG:25832) and DHHN2016 heights around 50 m with gentle terrain
    assert lower[0] >= 356000 and upper[0] <= 357000 and lower[1] >= 5645000 and upper[1] <= 5646000
    assert 44.0 < lower[2] < 56.0 and upper[2] < 56.0 + 25.0


def test_xlinks_resolve_to_polygons_of_the_same_object(lod2: City) -> None:
    for building in lod2.buildings():
        ids = {el.get(GML_ID) for el in building.iter() if el.get(GML_ID)}
        hrefs = [str(el.get(HREF)) for el in building.iter() if el.get(HREF)]
        assert hrefs and all(h.startswith("#") and h[1:] in ids for h in hrefs)
    for obj in lod2.solid_objects():
        bounded = {str(p.get(GML_ID)) for p in obj.iterfind("bldg:boundedBy//gml:Polygon", lod2.ns)}
        refs = [
            str(m.get(HREF))[1:] for m in obj.iterfind("bldg:lod2Solid//gml:surfaceMember", lod2.ns)
        ]
        # CGML-3: the solid is made of exactly the thematic surfaces' polygons, each once
        assert sorted(refs) == sorted(bounded)


def test_lod2_solids_are_closed_and_outward(lod2: City) -> None:
    flat = 0
    for obj in lod2.solid_objects():
        volume = check_closed_outward(solid_polygons(obj, lod2))
        assert volume > 0, obj.get(GML_ID)
        height = measured_height(obj, lod2)
        zs = np.vstack([np.vstack(ring_arrays(p)) for p in solid_polygons(obj, lod2)])[:, 2]
        assert zs.max() - zs.min() == pytest.approx(height, abs=0.0015)  # CGML-5 height sanity
        if obj.findtext("bldg:roofType", namespaces=lod2.ns) == "1000":
            flat += 1
            assert volume == pytest.approx(ground_area(obj, lod2) * height, rel=1e-6)
        else:
            assert 0.4 * ground_area(obj, lod2) * height < volume < ground_area(obj, lod2) * height
    assert flat > 0


def test_terrain_intersection_is_the_footprint_at_ground_level(lod2: City) -> None:
    for obj in lod2.solid_objects():
        curves = obj.findall("bldg:lod2TerrainIntersection//gml:posList", lod2.ns)
        ground = obj.find(".//bldg:GroundSurface//gml:Polygon", lod2.ns)
        rings = ring_arrays(ground)
        assert len(curves) == len(rings)
        for curve, ring in zip(curves, rings, strict=True):
            line = coords(curve)
            assert {tuple(p) for p in line} == {tuple(p) for p in ring}


def test_adv_attributes(lod2: City) -> None:
    n = lod2.ns

    def text(el: etree._Element, path: str) -> str:
        value = el.findtext(path, namespaces=n)
        assert value is not None, path
        return value

    def code_space(el: etree._Element, path: str) -> str:
        found = el.find(path, n)
        assert found is not None, path
        return str(found.get("codeSpace"))

    roof_types: collections.Counter[str] = collections.Counter()
    for b in lod2.buildings():
        assert text(b, "gen:stringAttribute[@name='Gemeindeschluessel']/gen:value") == "05315000"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", text(b, "core:creationDate"))
        assert re.fullmatch(r"31001_\d{4}", text(b, "bldg:function"))
        assert code_space(b, "bldg:function").endswith("BuildingFunctionTypeAdV.xml")
        area = float(text(b, "gen:doubleAttribute[@name='Flaeche']/gen:value"))
        objs = b.findall("bldg:consistsOfBuildingPart/bldg:BuildingPart", n) or [b]
        assert area == pytest.approx(sum(ground_area(o, lod2) for o in objs), abs=0.05)
        for obj in objs:
            assert int(text(obj, "gen:intAttribute[@name='DatenquelleDachhoehe']/gen:value")) > 0
            date = text(obj, "gen:dateAttribute[@name='Grundrissaktualitaet']/gen:value")
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", date)
            pitch = float(text(obj, "gen:doubleAttribute[@name='Dachneigung']/gen:value"))
            assert code_space(obj, "bldg:roofType").endswith("RoofTypeTypeAdV.xml")
            roof = text(obj, "bldg:roofType")
            roof_types[roof] += 1
            assert (pitch == 0.0) == (roof == "1000")
            assert 2.999 <= measured_height(obj, lod2) <= 25.0
            assert 1 <= int(text(obj, "bldg:storeysAboveGround")) <= 6
    assert set(roof_types) == {"1000", "2100", "3100", "3200"}
    streets = [el.text or "" for el in lod2.root.iterfind(".//xAL:ThoroughfareName", n)]
    assert 0 < len(streets) < 120 and any("ß" in s or "ü" in s for s in streets)
    assert lod2.root.findall(".//bldg:Building/gml:name", n)


def distance_to_ring(xy: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Distance (m) of each point in ``xy`` to the closed 2D polyline ``ring``."""
    a, b = ring, np.roll(ring, -1, axis=0)
    ab = b - a
    t = np.clip(((xy[:, None] - a) * ab).sum(-1) / (ab * ab).sum(-1), 0.0, 1.0)
    nearest = a + t[..., None] * ab
    distance: np.ndarray = np.linalg.norm(xy[:, None] - nearest, axis=-1).min(axis=1)
    return distance


def test_building_parts_carry_their_own_heights(lod2: City) -> None:
    n = lod2.ns
    with_parts = [
        b for b in lod2.buildings() if b.find("bldg:consistsOfBuildingPart", n) is not None
    ]
    assert 10 <= len(with_parts) <= 60  # part_ratio 0.25 of 120
    for b in with_parts:
        assert b.find("bldg:lod2Solid", n) is None and b.find("bldg:measuredHeight", n) is None
        main, *annexes = b.findall("bldg:consistsOfBuildingPart/bldg:BuildingPart", n)
        ids = [p.get(GML_ID) for p in (main, *annexes)]
        assert ids == [f"{b.get(GML_ID)}_BP{k}" for k in range(1, len(ids) + 1)] and len(ids) <= 3
        heights = [measured_height(p, lod2) for p in (main, *annexes)]
        assert all(h <= heights[0] for h in heights[1:])
        # NRW style: an annex's wall against the main part is a ClosureSurface, fully covered
        assert main.find("bldg:boundedBy/bldg:ClosureSurface", n) is None
        outline = ring_arrays(main.find(".//bldg:GroundSurface//gml:Polygon", n))[0]
        eave = min(
            np.vstack(ring_arrays(p))[:, 2].min()
            for p in main.iterfind("bldg:boundedBy/bldg:RoofSurface//gml:Polygon", n)
        )
        for annex in annexes:
            closures = annex.findall("bldg:boundedBy/bldg:ClosureSurface", n)
            assert len(closures) == 1
            pts = np.vstack(
                [np.vstack(ring_arrays(p)) for p in closures[0].iter(f"{{{GML}}}Polygon")]
            )
            assert distance_to_ring(pts[:, :2], outline[:, :2]).max() < 0.002
            assert pts[:, 2].max() <= eave + 0.001


def test_footprints_realistic_and_without_overlaps(lod2: City) -> None:
    cell = 50.0  # a 1 km tile holds 20 x 20 parcels
    seen: set[tuple[int, ...]] = set()
    for b in lod2.buildings():
        xy = np.vstack(
            [
                np.vstack(ring_arrays(p))[:, :2]
                for p in b.iterfind(".//bldg:GroundSurface//gml:Polygon", lod2.ns)
            ]
        )
        cells = {tuple(c) for c in np.floor((xy - (356000.0, 5645000.0)) / cell).astype(int)}
        assert len(cells) == 1, "a building leaves its parcel"
        assert cells.isdisjoint(seen)
        seen |= cells
        size = np.ptp(xy, axis=0)
        assert min(size) > 5.0 and max(size) < 46.0


def test_polygons_with_holes_when_courtyard_ratio_is_one(tmp_path: Path) -> None:
    city = generate(tmp_path, "yards.gml", n_buildings=8, seed=1, courtyard_ratio=1.0)
    for obj in city.solid_objects():
        for kind in ("RoofSurface", "GroundSurface"):
            polys = obj.findall(f".//bldg:{kind}//gml:Polygon", city.ns)
            assert any(p.find("gml:interior", city.ns) is not None for p in polys)
        # four outer and four inner walls at least (wall runs), each vertical
        assert len(obj.findall("bldg:boundedBy/bldg:WallSurface", city.ns)) >= 8
        volume = check_closed_outward(solid_polygons(obj, city))
        assert volume == pytest.approx(
            ground_area(obj, city) * measured_height(obj, city), rel=1e-6
        )
    none = generate(tmp_path, "none.gml", n_buildings=30, seed=1, courtyard_ratio=0.0)
    assert none.root.find(".//gml:interior", none.ns) is None


def test_lod1_blocks(tmp_path: Path) -> None:
    city = generate(tmp_path, "lod1.gml", n_buildings=30, seed=7, lod=1)
    assert city.root.find(".//bldg:boundedBy", city.ns) is None
    assert city.root.find(".//bldg:lod2Solid", city.ns) is None
    for obj in city.solid_objects():
        volume = check_closed_outward(solid_polygons(obj, city, lod=1))
        area = 0.0
        for polygon in solid_polygons(obj, city, lod=1):
            rings = ring_arrays(polygon)
            vec = sum((area_vector(r - rings[0][0]) for r in rings), np.zeros(3))
            if vec[2] < 0 and np.ptp(np.vstack(rings)[:, 2]) == 0:
                area -= vec[2]  # the ground polygon, courtyards subtracted
        assert volume == pytest.approx(area * measured_height(obj, city), rel=1e-6)


def test_citygml_1_0_differs_only_in_namespaces(tmp_path: Path) -> None:
    """CGML-1: same buildings, 1.0 namespaces and AdV schema locations."""
    v1 = generate(tmp_path, "v1.gml", n_buildings=10, seed=9, version="1.0")
    v2 = generate(tmp_path, "v2.gml", n_buildings=10, seed=9, version="2.0")
    assert v1.root.nsmap["bldg"] == "http://www.opengis.net/citygml/building/1.0"
    assert v1.root.nsmap["core"] == "http://www.opengis.net/citygml/1.0"
    assert v2.root.nsmap["bldg"] == "http://www.opengis.net/citygml/building/2.0"
    assert len(v1.buildings()) == 10
    text1 = re.sub(r"xsi:schemaLocation=\"[^\"]*\"", "", v1.path.read_text(encoding="utf-8"))
    text2 = re.sub(r"xsi:schemaLocation=\"[^\"]*\"", "", v2.path.read_text(encoding="utf-8"))
    assert text1.replace("/1.0", "/2.0") == text2.replace("v2", "v1")


def members(path: Path) -> list[bytes]:
    root = etree.parse(str(path)).getroot()
    return [etree.tostring(m, method="c14n") for m in root.iterfind("{*}cityObjectMember")]


def test_tiles_hold_the_same_buildings_as_one_file(tmp_path: Path) -> None:
    opts = SyntheticCityOptions(n_buildings=9, seed=4, tile_size_m=100.0)  # 4 parcels per tile
    paths = write_city_tiles(tmp_path / "tiles", opts)
    assert [p.name for p in paths] == [
        "LoD2_32_356_5645_0.1_NW.gml",
        "LoD2_32_356.1_5645_0.1_NW.gml",
        "LoD2_32_356_5645.1_0.1_NW.gml",
    ]
    assert [len(members(p)) for p in paths] == [4, 4, 1]
    whole = write_city(tmp_path / "whole.gml", opts)
    assert [m for p in paths for m in members(p)] == members(whole.path)
    root = etree.parse(str(paths[1])).getroot()
    assert root.findtext("gml:name", namespaces={"gml": GML}) == "LoD2_32_356.1_5645_0.1_NW"


def test_one_km_tiles_are_named_like_nrw_downloads(tmp_path: Path) -> None:
    opts = SyntheticCityOptions(n_buildings=401, lod=1, part_ratio=0.0, courtyard_ratio=0.0)
    paths = write_city_tiles(tmp_path, opts)
    assert [p.name for p in paths] == ["LoD1_32_356_5645_1_NW.gml", "LoD1_32_357_5645_1_NW.gml"]
    assert len(members(paths[1])) == 1


def test_options_are_validated() -> None:
    cases: list[dict[str, object]] = [
        {"n_buildings": 0},
        {"tile_size_m": 20.0},
        {"part_ratio": 1.5},
        {"courtyard_ratio": -0.1},
        {"version": "3.0"},
        {"lod": 3},
        {"origin": (float("nan"), 0.0)},
    ]
    for bad in cases:
        with pytest.raises(ValueError, match=next(iter(bad))):
            SyntheticCityOptions(**bad)  # type: ignore[arg-type]


def test_unwritable_output_raises_and_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        write_city(blocker / "city.gml", SyntheticCityOptions(n_buildings=2))
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_writing_streams_instead_of_holding_the_city(tmp_path: Path) -> None:
    peaks, sizes = [], []
    for n in (20, 140):
        tracemalloc.start()
        try:
            summary = write_city(tmp_path / f"{n}.gml", SyntheticCityOptions(n_buildings=n, seed=1))
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        sizes.append(summary.bytes)
    assert sizes[1] > 6 * sizes[0]
    assert peaks[1] < 1.3 * peaks[0]  # memory does not grow with the city
    assert peaks[1] < sizes[1] / 1.5


def element_paths(root: etree._Element) -> set[str]:
    """Every element path as ``/prefix:name/...`` with prefixes from the namespace URIs."""
    prefixes = {
        "http://www.opengis.net/citygml/1.0": "core",
        "http://www.opengis.net/citygml/building/1.0": "bldg",
        "http://www.opengis.net/citygml/generics/1.0": "gen",
        GML: "gml",
        "urn:oasis:names:tc:ciq:xsdschema:xAL:2.0": "xAL",
    }
    out: set[str] = set()

    def walk(el: etree._Element, prefix: str) -> None:
        q = etree.QName(el)
        path = f"{prefix}/{prefixes.get(q.namespace or '', q.namespace)}:{q.localname}"
        out.add(path)
        for child in el.iterchildren(tag=etree.Element):
            walk(child, path)

    walk(root, "")
    return out


@pytest.mark.realdata
def test_structure_follows_the_nrw_lod2_tiles(shared_data: Path, tmp_path: Path) -> None:
    """Element nesting as in official NRW LoD2 tiles (CityGML 1.0, AdV profile)."""
    folder = shared_data / "citygml" / "nrw_lod2_koeln"
    real: set[str] = set()
    for name in ("LoD2_32_347_5649_1_NW.gml", "LoD2_32_350_5641_1_NW.gml"):
        real |= element_paths(etree.parse(str(folder / name)).getroot())
    city = generate(tmp_path, "v1.gml", n_buildings=80, seed=2, version="1.0", courtyard_ratio=0.1)
    synthetic = element_paths(city.root)
    extras = {p for p in synthetic - real if not re.search(r"gen:(int|double|date)Attribute", p)}
    # deliberate additions: courtyard holes and names of public buildings
    assert all("/gml:interior" in p or p.endswith("bldg:Building/gml:name") for p in extras), extras
    assert {p for p in real - synthetic if "bldg:address" not in p} == set()
