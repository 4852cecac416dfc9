"""The compiled walk of a city object's children and attributes reads what the Python loop reads.

``PlainWalker.feature_children`` reads the plain attribute shapes itself (texts, codes,
``measuredHeight`` with ``uom``, ``gen:*Attribute``, ``core:externalReference``) and calls the
Python handler for anything else. Every document here is read with the compiled walker, with the
Python fast path and with the general walker, and the features (attribute names, value types,
values and their order included), skips and warnings must be equal (``_assert_same``).
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from citymodel.converters import _citygml_attributes as attributes
from citymodel.converters import _citygml_fast
from citymodel.converters.citygml import CityGMLReader
from tests import citygml_docs as docs
from tests.converters.test_citygml_fastpath import _CASES, COMPILED, _assert_same

_GEOMETRY = _CASES["plain"]


def _gen(kind: str, name: str | None, value: str | None) -> str:
    attr = "" if name is None else f' name="{name}"'
    inner = "" if value is None else f"<gen:value>{value}</gen:value>"
    return f"<gen:{kind}{attr}>{inner}</gen:{kind}>"


_ATTRIBUTE_CASES = {
    "AdV building": (
        "<gml:name>Haus</gml:name><core:creationDate>2021-03-19</core:creationDate>"
        "<core:externalReference><core:informationSystem>http://x/art#_9100"
        "</core:informationSystem><core:externalObject><core:name>DENW_1</core:name>"
        "</core:externalObject></core:externalReference>"
        + _gen("stringAttribute", "Gemeindeschluessel", "05315000")
        + _gen("doubleAttribute", "Flaeche", "364.01")
        + _gen("intAttribute", "DatenquelleDachhoehe", "1000")
        + _gen("dateAttribute", "Grundrissaktualitaet", "2020-07-01")
        + _gen("uriAttribute", "Link", "http://example.org/a b")
        + _gen("measureAttribute", "Hoehe", "12.5")
        + '<bldg:function codeSpace="http://x/BuildingFunctionTypeAdV.xml">31001_1000'
        "</bldg:function><bldg:roofType>3100</bldg:roofType><bldg:usage>1000</bldg:usage>"
        '<bldg:measuredHeight uom="urn:adv:uom:m">6.732</bldg:measuredHeight>'
        "<bldg:storeysAboveGround>2</bldg:storeysAboveGround>"
        "<bldg:storeysBelowGround>1</bldg:storeysBelowGround>"
        "<bldg:yearOfConstruction>1985</bldg:yearOfConstruction>"
    ),
    "repeated codes and names": "<bldg:function>31001_1000</bldg:function><gml:name>A</gml:name>"
    "<bldg:function>31001_2000</bldg:function><gml:name>B</gml:name>"
    '<bldg:measuredHeight uom="m">3</bldg:measuredHeight><bldg:measuredHeight>4'
    "</bldg:measuredHeight>",
    "texts: empty, blank, CDATA, comment, entity, child element": "<bldg:function/>"
    "<bldg:roofType>  \n </bldg:roofType><bldg:usage><![CDATA[ 1000 ]]></bldg:usage>"
    "<bldg:class>10<!-- c -->00</bldg:class><gml:name>A &amp; B</gml:name>"
    "<gml:description>before<x:y xmlns:x='urn:x'/>after</gml:description>"
    "<bldg:storeyHeightsAboveGround>\u00a03.0 2.5\u2003</bldg:storeyHeightsAboveGround>",
    "numbers that do not parse or parse unusually": (
        "<bldg:measuredHeight>abc</bldg:measuredHeight>"
        "<bldg:storeysAboveGround>2.5</bldg:storeysAboveGround>"
        "<bldg:storeysBelowGround>\uff11\uff12</bldg:storeysBelowGround>"
        + _gen("doubleAttribute", "e", "1e3")
        + _gen("doubleAttribute", "nan", "nan")
        + _gen("doubleAttribute", "negzero", "-0.0")
        + _gen("doubleAttribute", "under", "1_000.5")
        + _gen("doubleAttribute", "inf", "-Infinity")
        + _gen("doubleAttribute", "bad", "1,5")
        + _gen("intAttribute", "plus", "+3")
        + _gen("intAttribute", "under", "1_000")
        + _gen("intAttribute", "float", "3.0")
        + _gen("intAttribute", "big", "9" * 40)
    ),
    "dates": "<core:creationDate>2021-03-19T10:00:00+01:00</core:creationDate>"
    "<core:terminationDate>2021-13-01</core:terminationDate>"
    + _gen("dateAttribute", "short", "2021-3-1")
    + _gen("dateAttribute", "compact", "20210319")
    + _gen("dateAttribute", "zone", "2020-07-01Z")
    + "<bldg:yearOfConstruction>1985Z</bldg:yearOfConstruction>"
    "<bldg:yearOfDemolition>unknown</bldg:yearOfDemolition>",
    "measuredHeight uoms": '<bldg:measuredHeight uom="ft">20</bldg:measuredHeight>'
    '<bldg:measuredHeight uom="">7</bldg:measuredHeight>'
    '<bldg:measuredHeight uom="#m">8</bldg:measuredHeight>'
    '<bldg:measuredHeight uom="ft"> </bldg:measuredHeight>',
    "generic attributes: names and values": (
        _gen("stringAttribute", None, "no name")
        + _gen("stringAttribute", "", "empty name")
        + _gen("stringAttribute", "dup", "first")
        + _gen("stringAttribute", "dup", "second")
        + _gen("stringAttribute", "blank", "  ")
        + _gen("stringAttribute", "novalue", None)
        + _gen("stringAttribute", "dup2", None)
        + _gen("stringAttribute", "dup2", "after an empty one")
        + '<gen:stringAttribute name="two"><!-- c --><gen:value>a</gen:value>'
        "<gen:value>b</gen:value></gen:stringAttribute>"
        + '<gen:stringAttribute name="other child"><gml:name>x</gml:name><gen:value>v'
        "</gen:value></gen:stringAttribute>"
        + _gen("stringAttribute", "a &amp; b", "entity in the name")
        + _gen("stringAttribute", "function", "clashes with a core name")
        + _gen("stringAttribute", "roofType", "clashes with one that is set")
        + "<bldg:roofType>1000</bldg:roofType>"
        + _gen("fooAttribute", "unknown", "not a generic attribute")
        + '<gen:stringAttribute gen:name="ns" name="n2"><gen:value>v</gen:value>'
        "</gen:stringAttribute>"
        + '<gen:stringAttribute xmlns:o="urn:o" o:name="only other ns"><gen:value>v'
        "</gen:value></gen:stringAttribute>"
    ),
    "generic attribute sets": '<gen:genericAttributeSet name="set">'
    + _gen("stringAttribute", "a", "1")
    + '<gen:genericAttributeSet name="inner">'
    + _gen("intAttribute", "b", "2")
    + "</gen:genericAttributeSet></gen:genericAttributeSet>"
    + _gen("stringAttribute", "c", "3"),
    "external references": "<core:externalReference><core:uri>u1</core:uri>"
    "<!-- c --><core:name> n1 </core:name></core:externalReference>"
    "<core:externalReference><core:informationSystem>s2</core:informationSystem>"
    "<core:externalObject><core:uri>u2</core:uri><bldg:name>not core</bldg:name>"
    "</core:externalObject><core:externalObject><core:name/></core:externalObject>"
    "</core:externalReference><core:externalReference/>",
    "address between plain attributes": "<bldg:function>1</bldg:function>"
    "<bldg:address><core:Address><core:xalAddress><xAL:AddressDetails><xAL:Country>"
    "<xAL:CountryName>Germany</xAL:CountryName><xAL:Locality Type='Town'><xAL:LocalityName>"
    "Köln</xAL:LocalityName><xAL:Thoroughfare Type='Street'><xAL:ThoroughfareNumber>1"
    "</xAL:ThoroughfareNumber><xAL:ThoroughfareName>Domkloster</xAL:ThoroughfareName>"
    "</xAL:Thoroughfare></xAL:Locality></xAL:Country></xAL:AddressDetails></core:xalAddress>"
    "</core:Address></bldg:address><bldg:roofType>2</bldg:roofType>"
    + _gen("stringAttribute", "address_city", "a generic with an address name"),
    "addresses: two, nested, partial, repeated fields": "<bldg:address><core:Address>"
    "<xAL:LocalityName>A</xAL:LocalityName><!-- c --><xAL:LocalityName>second</xAL:LocalityName>"
    "<xAL:x><xAL:ThoroughfareName> S </xAL:ThoroughfareName></xAL:x><xAL:ThoroughfareNumber/>"
    "<core:Address><xAL:PostalCodeNumber>50667</xAL:PostalCodeNumber></core:Address>"
    "</core:Address></bldg:address><bldg:address/><bldg:address><core:Address>"
    "<xAL:CountryName>Germany</xAL:CountryName><CountryName>no namespace</CountryName>"
    "</core:Address><core:Address/></bldg:address>",
    "other children: comments, PIs, unknown and namespace-less elements": "<!-- c --><?pi x?>"
    "<bldg:function>1</bldg:function><unknown>u</unknown><bldg:notAnAttribute>x"
    "</bldg:notAnAttribute><bldg:roofType>2</bldg:roofType>",
    "non-ASCII values": "<gml:name>Kölner Dom — 大聖堂</gml:name>"
    + _gen("stringAttribute", "Straße", "Domkloster ①"),
}


@pytest.mark.parametrize("case", sorted(_ATTRIBUTE_CASES))
def test_attribute_shapes_read_the_same(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _ATTRIBUTE_CASES[case]
    building = f'<bldg:Building gml:id="B">{body}{_GEOMETRY}</bldg:Building>'
    part = (
        f'<bldg:Building gml:id="P">{body}<bldg:consistsOfBuildingPart>'
        f'<bldg:BuildingPart gml:id="P1">{_GEOMETRY}{body}</bldg:BuildingPart>'
        f"</bldg:consistsOfBuildingPart>{_GEOMETRY}</bldg:Building>"
    )
    path = tmp_path / "doc.gml"
    path.write_text(docs.city_model([building, part]), encoding="utf-8")
    features, _, _ = _assert_same(path, monkeypatch)
    assert [f[0] for f in features] == ["B", "P", "P1"]


def test_attributes_of_other_modules_read_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Vegetation has its own attribute vocabulary (species, height in metres)."""
    veg = "http://www.opengis.net/citygml/vegetation/2.0"
    tree = (
        '<veg:SolitaryVegetationObject gml:id="T"><veg:species>Quercus</veg:species>'
        "<veg:height>12.5</veg:height><veg:trunkDiameter>x</veg:trunkDiameter>"
        "<veg:function>1</veg:function><bldg:function>not vegetation</bldg:function>"
        + _gen("doubleAttribute", "height", "3")
        + "<veg:lod2Geometry><gml:MultiSurface><gml:surfaceMember>"
        + _CASES["plain"].split("<gml:surfaceMember>")[1].split("</gml:surfaceMember>")[0]
        + "</gml:surfaceMember></gml:MultiSurface></veg:lod2Geometry>"
        "</veg:SolitaryVegetationObject>"
    )
    path = tmp_path / "doc.gml"
    path.write_text(docs.city_model([tree], extra_ns=f' xmlns:veg="{veg}"'), encoding="utf-8")
    features, _, _ = _assert_same(path, monkeypatch)
    assert [f[0] for f in features] == ["T"]
    names = [name for name, _, _ in cast(list[tuple[str, str, str]], features[0][4])]
    assert names[:3] == ["species", "height", "trunkDiameter"]


def test_attribute_values_and_order(tmp_path: Path) -> None:
    """What the reader gives for the common shapes (checked directly, not only by equality)."""
    body = _ATTRIBUTE_CASES["AdV building"] + _ATTRIBUTE_CASES["repeated codes and names"]
    path = tmp_path / "doc.gml"
    path.write_text(
        docs.city_model([f'<bldg:Building gml:id="B">{body}{_GEOMETRY}</bldg:Building>']),
        encoding="utf-8",
    )
    with CityGMLReader(path) as reader:
        (feature,) = reader.features()
    attrs = feature.attributes
    assert list(attrs)[:4] == ["name", "creationDate", "externalReference_informationSystem",
                               "externalReference_name"]  # fmt: skip
    assert attrs["name"] == "Haus; A; B"
    assert attrs["function"] == "31001_1000; 31001_1000; 31001_2000"
    assert attrs["measuredHeight"] == "6.732; 3.0; 4.0"
    assert attrs["storeysAboveGround"] == 2 and type(attrs["storeysAboveGround"]) is int
    assert attrs["Flaeche"] == 364.01 and attrs["DatenquelleDachhoehe"] == 1000
    assert attrs["Gemeindeschluessel"] == "05315000"  # CGML-7: codes stay strings
    assert str(attrs["creationDate"]) == "2021-03-19"
    assert "measuredHeight_uom" not in attrs


def test_compiled_constants_match_the_vocabulary() -> None:
    if not COMPILED:
        pytest.skip(f"compiled walker not in use: {_citygml_fast.status()}")
    from citymodel.converters import _citygml_fastwalk

    assert _citygml_fastwalk.PLAIN_SHAPES == (
        attributes.PLAIN_TEXT,
        attributes.PLAIN_MEASURE,
        attributes.PLAIN_GENERIC,
        attributes.PLAIN_EXTERNAL,
        attributes.PLAIN_ADDRESS,
    )
    assert _citygml_fastwalk.CONVERTERS == (
        attributes.CONVERT_STR,
        attributes.CONVERT_FLOAT,
        attributes.CONVERT_INT,
        attributes.CONVERT_DATE,
        attributes.CONVERT_CALL,
    )
