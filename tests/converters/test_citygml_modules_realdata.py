"""Every top-level city object of the real CityGML files is converted or reported, by type."""

from __future__ import annotations

import zipfile
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from citymodel.converters.citygml import CityGMLReader
from citymodel.model import SurfaceType
from citymodel.report import JobReport
from tests.conftest import CITYGML_DIR
from tests.conftest import CITYGML_FILES as FILES

pytestmark = pytest.mark.realdata

# CityGML class -> feature type where the reader takes CityJSON's name
_RENAMED = {"Square": "TransportSquare"}
_MEMBERS = {"cityObjectMember", "featureMember"}


def _documents(path: Path) -> list[bytes]:
    if path.suffix.lower() != ".zip":
        return [path.read_bytes()]
    with zipfile.ZipFile(path) as zf:
        return [
            zf.read(name)
            for name in zf.namelist()
            if name.lower().endswith((".gml", ".xml")) and "__MACOSX" not in name
        ]


def top_level_classes(path: Path) -> Counter[str]:
    """Local names of the objects directly below cityObjectMember/featureMember (plain lxml)."""
    counts: Counter[str] = Counter()
    for data in _documents(path):
        root = etree.fromstring(data, etree.XMLParser(huge_tree=True, resolve_entities=False))
        for member in root:
            if isinstance(member.tag, str) and etree.QName(member).localname in _MEMBERS:
                for obj in member:
                    if isinstance(obj.tag, str) and "/appearance/" not in obj.tag:
                        name = etree.QName(obj).localname
                        counts[_RENAMED.get(name, name)] += 1
    return counts


def _id(path: Path) -> str:
    return str(path.relative_to(CITYGML_DIR))


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_every_top_level_object_is_read_or_reported(path: Path) -> None:
    report = JobReport()
    with CityGMLReader(path) as reader:
        read = Counter(f.type for f in reader.features(report=report))
    not_converted = Counter(
        s.reason.split(" ", 1)[0] for s in report.skipped if s.reason.endswith("not converted")
    )
    assert read + not_converted == top_level_classes(path)


def test_geores_modules(shared_data: Path) -> None:
    path = shared_data / "citygml" / "geores_textured" / "geoRES_testdata.xml"
    report = JobReport()
    with CityGMLReader(path) as reader:
        features = list(reader.features(report=report))
    assert not report.skipped
    types = Counter(f.type for f in features)
    assert types == {
        "Building": 5,
        "SolitaryVegetationObject": 13,
        "CityFurniture": 9,
        "LandUse": 1,
        "ReliefFeature": 1,
        "Road": 1,
    }
    children = Counter(c.type for f in features for c, parent in f.walk() if parent is not None)
    assert children == {
        "BuildingInstallation": 10,
        "TrafficArea": 3,
        "AuxiliaryTrafficArea": 2,
        "TINRelief": 1,
    }
    # every tree and piece of furniture is placed from its (inline or referenced) template
    for f in features:
        if f.type in ("SolitaryVegetationObject", "CityFurniture"):
            assert sorted(g.lod for g in f.geometries) == ["1", "2", "3"]
    # LoD3 openings keep their semantic types
    building_types = Counter(
        SurfaceType(t).name
        for f in features
        if f.type == "Building"
        for g in f.geometries
        for t in g.surface_types.tolist()
    )
    assert building_types["WINDOW"] > 0 and building_types["DOOR"] > 0
    (relief,) = (f for f in features if f.type == "ReliefFeature")
    (tin,) = relief.children
    assert set(tin.geometries[0].surface_types.tolist()) == {SurfaceType.TERRAIN}
