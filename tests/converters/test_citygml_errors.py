"""File-level errors of the CityGML reader, hostile XML, and the broken real-world samples."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from citymodel.converters.citygml import CityGMLReader
from citymodel.errors import InputError, ParseError, UnsupportedFormatError
from citymodel.model import Feature
from citymodel.report import JobReport
from tests.citygml_docs import NAMESPACES, building, city_model, lod1_box, write

CORE = NAMESPACES["2.0"]["core"]


def read_all(path: Path) -> list[Feature]:
    with CityGMLReader(path) as reader:
        return list(reader.features(report=JobReport()))


def test_not_xml(tmp_path: Path) -> None:
    path = write(tmp_path / "a.gml", "this is not XML\n")
    with pytest.raises(ParseError) as info:
        read_all(path)
    assert info.value.path == str(path) and info.value.line == 1


def test_syntax_error_has_file_and_line(tmp_path: Path) -> None:
    text = city_model([building(lod1_box(), gml_id="A"), building(lod1_box(), gml_id="B")])
    lines = text.splitlines()
    lines[3] = lines[3].replace("</bldg:Building>", "</bldg:Buildin>", 1)
    path = write(tmp_path / "bad.gml", "\n".join(lines))
    with pytest.raises(ParseError, match="not well-formed XML") as info:
        read_all(path)
    assert info.value.line == 4
    assert str(info.value).startswith(f"{path}:4: ")


def test_truncated_file(tmp_path: Path) -> None:
    text = city_model([building(lod1_box(), gml_id=f"B{i}") for i in range(3)])
    path = write(tmp_path / "cut.gml", text[: len(text) - 40])
    with pytest.raises(ParseError, match="truncated"):
        read_all(path)


def test_features_stream_before_a_late_syntax_error(tmp_path: Path) -> None:
    # streaming: what comes before a broken tail is delivered (batches of <= 512 objects)
    good = [building(lod1_box(), gml_id=f"B{i}") for i in range(600)]
    text = city_model(good).replace(
        "</core:CityModel>", "<core:cityObjectMember><oops></core:CityModel>"
    )
    path = write(tmp_path / "tail.gml", text)
    got: list[str] = []
    with pytest.raises(ParseError):
        got.extend(feat.id for feat in CityGMLReader(path).features())
    assert got[:512] == [f"B{i}" for i in range(512)]


def test_root_is_not_a_city_model(tmp_path: Path) -> None:
    path = write(
        tmp_path / "kml.xml", "<kml xmlns='http://www.opengis.net/kml/2.2'><Document/></kml>"
    )
    with pytest.raises(UnsupportedFormatError, match="not CityGML"):
        read_all(path)


def test_citygml_3_is_read_and_other_versions_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path / "v3.gml",
        "<core:CityModel xmlns:core='http://www.opengis.net/citygml/3.0'/>",
    )
    assert read_all(path) == []  # an empty CityGML 3.0 model (tests/converters/test_citygml3_*)
    path = write(
        tmp_path / "v4.gml",
        "<core:CityModel xmlns:core='http://www.opengis.net/citygml/4.0'/>",
    )
    with pytest.raises(UnsupportedFormatError, match=r"not CityGML 1\.0/2\.0/3\.0"):
        read_all(path)


def test_unbound_prefix_is_a_parse_error_with_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "prefix.gml",
        f'<CityModel xmlns="{CORE}">\n<cityObjectMember>\n<bldg:Building/>\n'
        "</cityObjectMember>\n</CityModel>\n",
    )
    with pytest.raises(ParseError, match="Namespace prefix bldg") as info:
        read_all(path)
    assert info.value.line == 3


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.gml", "")
    with pytest.raises(InputError):
        read_all(path)


# -- hostile XML: nothing expands, nothing is fetched ------------------------------------------

LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("where", ["element", "attribute"])
def test_billion_laughs_does_not_expand(tmp_path: Path, where: str) -> None:
    body = city_model([building(lod1_box(), gml_id="B1")]).split("\n", 1)[1]
    if where == "element":
        body = body.replace(
            "<bldg:Building",
            "<bldg:Building><gml:name>&lol9;</gml:name></bldg:Building><bldg:Building",
            1,
        )
    else:
        body = body.replace('gml:id="B1"', 'gml:id="B1" note="&lol9;"', 1)
    path = write(tmp_path / "lol.gml", LAUGHS + body)
    rss_before = _max_rss_mb()
    start = time.monotonic()
    try:
        feats = read_all(path)
    except ParseError as err:  # libxml2 refuses the amplification outright
        assert "amplification" in str(err) or "entit" in str(err).lower()
    else:
        names = [f.attributes.get("name") for f in feats]
        assert all(n is None or len(str(n)) < 100 for n in names)
    assert time.monotonic() - start < 10
    assert _max_rss_mb() - rss_before < 200  # a 3 GB expansion never happened


def test_external_entity_is_not_fetched(tmp_path: Path) -> None:
    secret = write(tmp_path / "secret.txt", "TOP-SECRET-CONTENT")
    body = city_model([building("<gml:name>&xxe;</gml:name>" + lod1_box(), gml_id="B1")]).split(
        "\n", 1
    )[1]
    doc = f'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>\n' + body
    path = write(tmp_path / "xxe.gml", doc)
    (feat,) = read_all(path)
    assert "TOP-SECRET" not in repr(feat)
    assert feat.geometries


def test_network_dtd_is_not_loaded(tmp_path: Path) -> None:
    body = city_model([building(lod1_box(), gml_id="B1")]).split("\n", 1)[1]
    doc = (
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE CityModel SYSTEM "http://203.0.113.1/never/citygml.dtd">\n' + body
    )
    start = time.monotonic()
    (feat,) = read_all(write(tmp_path / "dtd.gml", doc))
    assert time.monotonic() - start < 5  # no network wait
    assert feat.id == "B1"


# -- the broken real-world samples -------------------------------------------------------------


@pytest.mark.realdata
def test_broken_samples_fail_cleanly(shared_data: Path) -> None:
    broken = shared_data / "broken" / "citygml"
    with pytest.raises(ParseError) as info:
        read_all(broken / "val3dity_invalid_citygml_2.gml")
    assert info.value.line == 6 and "Namespace prefix bldg" in str(info.value)
    for name in (
        "val3dity_invalid_citygml_1.gml",
        "val3dity_302_2.gml",
        "val3dity_csol6_missing_face.gml",
    ):
        with CityGMLReader(broken / name) as reader:
            (feature,) = reader.features()  # a GenericCityObject, read like a Building
            assert feature.type == "GenericCityObject"
            assert reader.metadata().counts == {"GenericCityObject": 1}
