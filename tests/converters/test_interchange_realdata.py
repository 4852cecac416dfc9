"""Round trips on real data (issue 7, Done): NRW Köln tiles through CityJSONSeq and back to
CityGML 2.0; every CityJSON file in ../shared/data through CityGML 3.0 and back to CityJSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import citymodel
from citymodel.converters.convert import ConvertOptions, convert
from citymodel.errors import UnsupportedFormatError
from citymodel.model import Feature
from citymodel.report import JobReport
from tests.conftest import SHARED
from tests.converters.feature_compare import Losses, compare_trees

pytestmark = pytest.mark.realdata

KOELN = sorted((SHARED / "data" / "citygml" / "nrw_lod2_koeln").glob("*.gml"))
CITYJSON_DIR = SHARED / "data" / "cityjson"
FAST_TILES = 3
"""Köln tiles in the default run; all 20 with ``-m slow``."""

# CityJSON files whose objects CityGML 3.0 holds completely (the others are tested below)
CITYJSON_EXACT = [
    "cjio/delft_v2.city.json",
    "cjseq_3dbag/3dbag_b2.city.json",
    "cjseq_3dbag/3dbag_b2.city.jsonl",
    "corpus_conformance/appearance_complete.city.json",
    "corpus_conformance/geometry_texture_solid.city.json",
    "rotterdam_textured/rotterdam_one_v11.city.json",
    "rotterdam_textured/rotterdam_subset_v2.city.json",
]


def _read(path: Path) -> list[Feature]:
    with citymodel.open(path) as reader:
        return list(reader.features())


def _convert(src: Path, out: Path, **options: object) -> JobReport:
    report = JobReport()
    convert([src], out, options=ConvertOptions(**options), report=report)  # type: ignore[arg-type]
    return report


def _tile_params() -> list[object]:
    return [
        pytest.param(p, id=p.stem, marks=() if i < FAST_TILES else pytest.mark.slow)
        for i, p in enumerate(KOELN)
    ]


@pytest.mark.parametrize("tile", _tile_params())
def test_koeln_citygml_to_cityjsonseq_to_citygml2(tile: Path, tmp_path: Path) -> None:
    if not tile.is_file():
        pytest.skip(f"{tile} is absent")
    source = _read(tile)
    seq = tmp_path / "tile.city.jsonl"
    first = _convert(tile, seq)
    assert not first.skipped and first.written == first.read
    header = json.loads(seq.read_text(encoding="utf-8").split("\n", 1)[0])
    assert header["metadata"]["referenceSystem"].endswith(
        "/EPSG/0/25832&2=https://www.opengis.net/def/crs/EPSG/0/7837"
    )
    # the CityJSONSeq is read back by the project's own reader, equal to the source (dates
    # are ISO text in JSON; CityGML's creationDate is a date again below)
    assert compare_trees(source, _read(seq), tolerance=1e-3, dates_as_text=True) == []
    back = tmp_path / "tile.gml"
    second = _convert(seq, back)
    assert not second.skipped
    with citymodel.open(back) as reader:
        assert reader.version == "2.0"
        assert reader.srs_name == "urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::7837"
    assert compare_trees(source, _read(back), tolerance=1e-3) == []


OTHER_CITYGML = [
    "berlin_lod2/3910_5817.gml",  # CityGML 2.0, coordinates with many decimals
    "kit_fzk_haus_lod3/FZK-Haus-LoD3-KIT-IAI-KHH-B36-V1.gml",  # LoD3 windows and doors
    "bavaria_fuerth_lod2_gk4/LOD2_4424_5482_solid.gml",  # Gauss-Krüger + DHHN92
    "lowersaxony_lod1/LoD1_24065860_2_2021-01-25.gml",  # LoD1 solids, versioned compound URN
]


@pytest.mark.parametrize("name", OTHER_CITYGML)
def test_other_citygml_through_cityjsonseq(name: str, tmp_path: Path) -> None:
    src = SHARED / "data" / "citygml" / name
    if not src.is_file():
        pytest.skip(f"{src} is absent")
    seq, back = tmp_path / "m.city.jsonl", tmp_path / "m.gml"
    assert not _convert(src, seq).skipped
    assert not _convert(seq, back).skipped
    assert compare_trees(_read(src), _read(back), tolerance=1e-3) == []


def _reads_citygml3(tmp_path: Path) -> bool:
    probe = tmp_path / "probe.gml"
    probe.write_text(
        '<core:CityModel xmlns:core="http://www.opengis.net/citygml/3.0"/>', encoding="utf-8"
    )
    try:
        _read(probe)
    except UnsupportedFormatError:
        return False
    return True


@pytest.mark.parametrize("name", CITYJSON_EXACT)
def test_cityjson_to_citygml3_to_cityjson(name: str, tmp_path: Path) -> None:
    """Runs once ``citymodel.open`` reads CityGML 3.0; must then be exact (up to 3.0's limits)."""
    src = CITYJSON_DIR / name
    if not src.is_file():
        pytest.skip(f"{src} is absent")
    if not _reads_citygml3(tmp_path):
        pytest.skip("citymodel.open does not read CityGML 3.0 yet")
    gml = tmp_path / "model.gml"
    first = _convert(src, gml, citygml_version="3.0")
    assert not first.skipped
    back = tmp_path / "model.city.json"
    second = _convert(gml, back)
    assert not second.skipped
    # CityGML: integer LoDs, no booleans/nulls/empty strings (each noted in the report)
    problems = compare_trees(
        _read(src), _read(back), tolerance=1e-3, losses=Losses(integer_lods=True, xml_scalars=True)
    )
    assert problems == []


def test_cityjson_objects_citygml_cannot_hold_are_reported(tmp_path: Path) -> None:
    src = CITYJSON_DIR / "corpus_conformance" / "cityobject_all_types.city.json"
    multi = CITYJSON_DIR / "cjio" / "multi_lod_v2.city.json"
    if not src.is_file() or not multi.is_file():
        pytest.skip("CityJSON conformance data absent")
    report = _convert(src, tmp_path / "all.gml", citygml_version="2.0")
    reasons = {s.id: s.reason for s in report.skipped if "cannot be written" in s.reason}
    assert len(reasons) == len([s for s in report.skipped if "cannot be written" in s.reason])
    # CityGML 2.0 has no place for these; each is reported by id, none silently dropped
    assert {"CityObjectGroup", "OtherConstruction"} <= set(reasons)
    read = sum(report.read.values())
    written = sum(report.written.values())
    below = sum(
        int(r.split("with its ")[1].split()[0]) for r in reasons.values() if "with its" in r
    )
    assert written + len(reasons) + below == read
    # several LoD 1.x geometries fall on CityGML LoD 1: the ones left out are reported
    for path in (multi, CITYJSON_DIR / "tyler_3dbag" / "3dbag_feature_x71.city.jsonl"):
        report = _convert(path, tmp_path / "multi.gml", citygml_version="3.0")
        assert report.skipped and all("takes CityGML LoD" in s.reason for s in report.skipped)
