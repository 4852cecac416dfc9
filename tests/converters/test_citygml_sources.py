"""CityGML inputs read directly from gzip and zip archives."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from citymodel.converters.citygml import CityGMLReader, sniff
from citymodel.errors import ParseError, UnsupportedFormatError
from citymodel.report import JobReport
from tests.citygml_docs import building, city_model, lod1_box


def doc(*ids: str, version: str = "2.0") -> bytes:
    return city_model([building(lod1_box(), gml_id=i) for i in ids], version=version).encode()


@pytest.mark.parametrize("name", ["city.gml.gz", "city.xml.gz", "city.gz"])
def test_gzip_input(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(gzip.compress(doc("A", "B")))
    assert sniff(path)
    with CityGMLReader(path) as reader:
        assert reader.srs_name is not None
        feats = list(reader.features())
    assert [f.id for f in feats] == ["A", "B"]
    assert feats[0].source is not None and feats[0].source.path == str(path)


def test_zip_members_in_order_junk_and_other_types_ignored(tmp_path: Path) -> None:
    path = tmp_path / "DenHaag_01.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("DenHaag/", b"")
        zf.writestr("DenHaag/DenHaag_01.xml", doc("A", "B", version="1.0"))
        zf.writestr("DenHaag/DenHaag_01.json", b'{"type": "CityJSON"}')
        zf.writestr("__MACOSX/DenHaag/._DenHaag_01.xml", b"\x00\x05\x16\x07junk")
        zf.writestr("DenHaag/readme.xml", b"<readme>not CityGML</readme>")
        zf.writestr("DenHaag/more.gml", doc("C"))
    assert sniff(path)
    with CityGMLReader(path) as reader:
        feats = list(reader.features())
        meta = reader.metadata()
    assert [f.id for f in feats] == ["A", "B", "C"]
    assert [f.source.path for f in feats if f.source] == [
        f"{path}!DenHaag/DenHaag_01.xml",
        f"{path}!DenHaag/DenHaag_01.xml",
        f"{path}!DenHaag/more.gml",
    ]
    assert meta.counts == {"Building": 3}
    assert meta.version == "1.0"  # of the first member


def test_generated_ids_name_the_zip_member(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("dir/tile.gml", city_model([building(lod1_box(), gml_id=None)]))
    (feat,) = CityGMLReader(path).features(report=JobReport())
    assert feat.id == "tile.gml#1"


def test_zip_without_citygml(tmp_path: Path) -> None:
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.json", b"{}")
    assert not sniff(path)
    with pytest.raises(UnsupportedFormatError, match="no CityGML document"):
        list(CityGMLReader(path).features())


def test_truncated_gzip_is_a_parse_error(tmp_path: Path) -> None:
    data = gzip.compress(doc(*[f"B{i}" for i in range(200)]))
    path = tmp_path / "cut.gml.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ParseError) as info:
        list(CityGMLReader(path).features())
    assert info.value.path == str(path)


def test_corrupt_zip_is_a_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.zip"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    with pytest.raises(ParseError, match="zip"):
        list(CityGMLReader(path).features())
