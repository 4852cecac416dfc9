"""Every real CityGML 1.0/2.0 file in ../shared/data/citygml reads completely and correctly."""

from __future__ import annotations

import re
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from citymodel.converters.citygml import CityGMLReader
from citymodel.errors import CRSWarning
from citymodel.model import SurfaceType
from citymodel.report import JobReport
from tests.conftest import CITYGML_DIR
from tests.conftest import CITYGML_FILES as FILES

pytestmark = pytest.mark.realdata


# MANIFEST.md's counting method: opening <prefix:Building ...> / <prefix:BuildingPart ...> tags
_OPENING = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(Building|BuildingPart)[\s>/]")


def _documents(path: Path) -> list[bytes]:
    if path.suffix.lower() != ".zip":
        return [path.read_bytes()]
    with zipfile.ZipFile(path) as zf:
        return [
            zf.read(name)
            for name in zf.namelist()
            if name.lower().endswith((".gml", ".xml")) and "__MACOSX" not in name
        ]


def manifest_counts(path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for data in _documents(path):
        counts.update(m.decode() for m in _OPENING.findall(data))
    return counts


def _id(path: Path) -> str:
    return str(path.relative_to(CITYGML_DIR))


def test_real_files_are_present(shared_data: Path) -> None:
    assert len(FILES) >= 30, f"expected the CityGML samples under {shared_data / 'citygml'}"


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_reads_completely(path: Path) -> None:
    report = JobReport()
    counts: Counter[str] = Counter()
    with CityGMLReader(path) as reader:
        for feature in reader.features(report=report):
            for feat, _parent in feature.walk():
                counts[feat.type] += 1
                for geom in feat.geometries:
                    assert geom.polygon_count > 0
                    assert np.isfinite(geom.vertices).all()
                    assert geom.ring_offsets[-1] == geom.vertex_count
                    assert geom.polygon_offsets[-1] == geom.ring_offsets.size - 1
                    sizes = np.diff(geom.ring_offsets)
                    assert (sizes >= 3).all()
    expected = manifest_counts(path)
    assert counts["Building"] == expected["Building"]
    assert counts["BuildingPart"] == expected["BuildingPart"]
    assert not report.skipped, report.skipped[:3]


def test_nrw_tile(shared_data: Path) -> None:
    path = shared_data / "citygml" / "nrw_lod2_solingen" / "LoD2_32_369_5667_1_NW.gml"
    with CityGMLReader(path) as reader:
        assert reader.srs_name == "urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH*GCG2016"
        feats = list(reader.features())
        meta = reader.metadata()
    assert meta.version == "1.0"
    assert (meta.horizontal_crs, meta.vertical_crs) == ("EPSG:25832", "EPSG:7837")
    assert meta.counts == {"Building": 27, "BuildingPart": 29}
    assert meta.lods == {"1": 1, "2": 44}
    assert {"Gemeindeschluessel", "measuredHeight", "roofType", "function"} <= set(
        meta.attribute_names
    )
    xmin, ymin, _, xmax, ymax, _ = meta.extent or (0,) * 6
    assert 368990 < xmin < xmax < 370010 and 5667000 < ymin < ymax < 5668000
    first = feats[0]
    assert first.id == "DENW28AL00000hvC"
    assert first.attributes["Gemeindeschluessel"] == "05122000"
    assert first.attributes["function"] == "31001_2000"
    assert first.attributes["measuredHeight"] == 2.61
    (geom,) = first.geometries
    # AdV pattern: lod2Solid made of the thematic polygons -> rendered once, closed
    assert geom.solid and geom.polygon_count == 8
    assert set(geom.surface_types.tolist()) == {
        SurfaceType.WALL,
        SurfaceType.ROOF,
        SurfaceType.GROUND,
    }
    # CGML-5 sanity: height range ~ measuredHeight
    z = geom.vertices[:, 2]
    assert z.max() - z.min() == pytest.approx(first.attributes["measuredHeight"], abs=0.5)


def test_nrw_koeln_tiles_share_the_adv_srs_name(shared_data: Path) -> None:
    for path in sorted((shared_data / "citygml" / "nrw_lod2_koeln").glob("*.gml")):
        assert CityGMLReader(path).srs_name == "urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH*GCG2016"


def test_den_haag_zip(shared_data: Path) -> None:
    path = shared_data / "citygml" / "denhaag_lod2" / "DenHaag_01.zip"
    with CityGMLReader(path) as reader:
        assert reader.srs_name == "urn:ogc:def:crs:EPSG::28992"
        first = next(iter(reader.features()))
    assert first.source is not None
    assert first.source.path == f"{path}!DenHaag/DenHaag_01.xml"
    assert first.source.line is not None and first.source.line > 0


def test_bavarian_typo_urn_is_resolved_with_a_warning(shared_data: Path) -> None:
    path = shared_data / "citygml" / "bavaria_fuerth_lod2_gk4" / "LOD2_4424_5482_solid.gml"
    with CityGMLReader(path) as reader:
        assert len(list(reader.features())) == 111  # no warning while reading geometry
        with pytest.warns(CRSWarning, match="DE_DHN92_NH"):
            meta = reader.metadata()
    assert (meta.horizontal_crs, meta.vertical_crs) == ("EPSG:31468", "EPSG:5783")


def test_lod3_and_lod4_semantics(shared_data: Path) -> None:
    fzk = shared_data / "citygml" / "kit_fzk_haus_lod3" / "FZK-Haus-LoD3-KIT-IAI-KHH-B36-V1.gml"
    (house,) = CityGMLReader(fzk).features()
    (geom,) = house.geometries
    types = Counter(SurfaceType(t).name for t in geom.surface_types.tolist())
    assert geom.lod == "3"
    assert types["WINDOW"] > 0 and types["DOOR"] > 0 and types["ROOF"] > 0
    lod4 = shared_data / "citygml" / "ogc_citygml2_examples" / "Building_LOD4-EPSG25832.gml"
    with CityGMLReader(lod4) as reader:
        (building,) = reader.features(types=["Building"])  # next to a ReliefFeature
        assert reader.metadata().counts["BuildingRoom"] == 1
    assert building.geometries[0].lod == "4"


def test_garage_part_references_the_building_wall(shared_data: Path) -> None:
    path = (
        shared_data / "citygml" / "ogc_citygml2_examples" / "Building_and_garage_LOD2-EPSG25832.gml"
    )
    (building,) = CityGMLReader(path).features(types=["Building"])  # next to a ReliefFeature
    (garage,) = building.children
    assert building.geometries[0].polygon_count == 8
    assert garage.geometries[0].polygon_count == 6  # incl. the shared wall, reversed
    assert garage.geometries[0].solid


def test_source_lines_point_at_each_feature_even_past_line_65535(shared_data: Path) -> None:
    path = shared_data / "citygml" / "nrw_lod2_koeln" / "LoD2_32_357_5654_1_NW.gml"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) > 65535
    checked = 0
    for feature in CityGMLReader(path).features():
        for feat, _parent in feature.walk():
            assert feat.source is not None and feat.source.line is not None
            assert f'gml:id="{feat.id}"' in lines[feat.source.line - 1]
            checked += 1
    assert checked == 143
