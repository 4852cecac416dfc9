"""CityGML building attributes: AdV core attributes, addresses, generic attributes (CGML-7)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from citymodel.converters.citygml import CityGMLReader
from citymodel.model import Feature
from tests.citygml_docs import building, city_model, lod1_box, part, write

ADV_BUILDING = """
<gml:name>Rathaus Köln</gml:name>
<gml:description>Spanischer Bau; Straßenseite</gml:description>
<core:creationDate>2020-12-03</core:creationDate>
<core:externalReference>
  <core:informationSystem>http://repository.gdi-de.org/schemas/adv/citygml/fdv/art.htm#_9100</core:informationSystem>
  <core:externalObject><core:name>DENW37AL1000jl10</core:name></core:externalObject>
</core:externalReference>
<gen:stringAttribute name="Gemeindeschluessel"><gen:value>05315000</gen:value></gen:stringAttribute>
<gen:stringAttribute name="DatenquelleDachhoehe"><gen:value>1000</gen:value></gen:stringAttribute>
<gen:intAttribute name="Geschosse"><gen:value>4</gen:value></gen:intAttribute>
<gen:doubleAttribute name="Traufhöhe"><gen:value>12.75</gen:value></gen:doubleAttribute>
<gen:dateAttribute name="Grundrissaktualitaet"><gen:value>2019-07-01</gen:value></gen:dateAttribute>
<gen:uriAttribute name="Quelle"><gen:value>https://www.opengeodata.nrw.de/</gen:value></gen:uriAttribute>
<gen:measureAttribute name="Grundfläche"><gen:value uom="m2">240.5</gen:value></gen:measureAttribute>
<gen:genericAttributeSet name="ALKIS">
  <gen:stringAttribute name="Lagebezeichnung"><gen:value>Rathausplatz</gen:value></gen:stringAttribute>
  <gen:genericAttributeSet name="Flurstück">
    <gen:intAttribute name="Nummer"><gen:value>0042</gen:value></gen:intAttribute>
  </gen:genericAttributeSet>
</gen:genericAttributeSet>
<gen:stringAttribute name="function"><gen:value>generic clash</gen:value></gen:stringAttribute>
<bldg:class>1000</bldg:class>
<bldg:function>31001_3010</bldg:function>
<bldg:function>31001_2463</bldg:function>
<bldg:usage>1020</bldg:usage>
<bldg:yearOfConstruction>1569</bldg:yearOfConstruction>
<bldg:roofType>3100</bldg:roofType>
<bldg:measuredHeight uom="urn:adv:uom:m">21.4</bldg:measuredHeight>
<bldg:storeysAboveGround>4</bldg:storeysAboveGround>
<bldg:storeysBelowGround>1</bldg:storeysBelowGround>
<bldg:storeyHeightsAboveGround uom="urn:adv:uom:m">4.5 4.0 4.0 3.5</bldg:storeyHeightsAboveGround>
"""

ADDRESS = """
<bldg:address><core:Address><core:xalAddress><xAL:AddressDetails><xAL:Country>
  <xAL:CountryName>Germany</xAL:CountryName>
  <xAL:Locality Type="Town"><xAL:LocalityName>Köln</xAL:LocalityName>
    <xAL:Thoroughfare Type="Street">
      <xAL:ThoroughfareNumber>{number}</xAL:ThoroughfareNumber>
      <xAL:ThoroughfareName>Rathausplatz</xAL:ThoroughfareName>
    </xAL:Thoroughfare>
    {postal}
  </xAL:Locality>
</xAL:Country></xAL:AddressDetails></core:xalAddress></core:Address></bldg:address>
"""


def read_one(tmp_path: Path, inner: str, version: str = "2.0") -> Feature:
    path = write(tmp_path / "attrs.gml", city_model([building(inner)], version=version))
    with CityGMLReader(path) as reader:
        (feat,) = reader.features()
    return feat


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_adv_core_and_generic_attributes(tmp_path: Path, version: str) -> None:
    feat = read_one(tmp_path, ADV_BUILDING + lod1_box(), version)
    assert feat.attributes == {
        "name": "Rathaus Köln",
        "description": "Spanischer Bau; Straßenseite",
        "creationDate": dt.date(2020, 12, 3),
        "externalReference_informationSystem": (
            "http://repository.gdi-de.org/schemas/adv/citygml/fdv/art.htm#_9100"
        ),
        "externalReference_name": "DENW37AL1000jl10",
        "class": "1000",
        "function": "31001_3010; 31001_2463",  # repeated elements are joined
        "usage": "1020",
        "yearOfConstruction": 1569,
        "roofType": "3100",  # codes stay strings (CGML-7)
        "measuredHeight": 21.4,
        "storeysAboveGround": 4,
        "storeysBelowGround": 1,
        "storeyHeightsAboveGround": "4.5 4.0 4.0 3.5",
        "Gemeindeschluessel": "05315000",  # leading zero kept
        "DatenquelleDachhoehe": "1000",
        "Geschosse": 4,
        "Traufhöhe": 12.75,
        "Grundrissaktualitaet": dt.date(2019, 7, 1),
        "Quelle": "https://www.opengeodata.nrw.de/",
        "Grundfläche": 240.5,
        "ALKIS.Lagebezeichnung": "Rathausplatz",
        "ALKIS.Flurstück.Nummer": 42,
        "gen_function": "generic clash",  # a generic name never takes a core name
    }


def test_attribute_value_types(tmp_path: Path) -> None:
    feat = read_one(tmp_path, ADV_BUILDING + lod1_box())
    types = {k: type(v).__name__ for k, v in feat.attributes.items()}
    assert types["measuredHeight"] == "float"
    assert types["storeysAboveGround"] == "int"
    assert types["creationDate"] == "date"
    assert types["function"] == types["roofType"] == types["Gemeindeschluessel"] == "str"


def test_unparsable_values_are_kept_as_written(tmp_path: Path) -> None:
    feat = read_one(
        tmp_path,
        "<core:creationDate>unbekannt</core:creationDate>"
        "<bldg:measuredHeight>n/a</bldg:measuredHeight>"
        '<gen:intAttribute name="n"><gen:value>vier</gen:value></gen:intAttribute>' + lod1_box(),
    )
    assert feat.attributes == {
        "creationDate": "unbekannt",
        "measuredHeight": "n/a",
        "n": "vier",
    }


def test_measured_height_in_another_unit_keeps_the_unit(tmp_path: Path) -> None:
    feat = read_one(tmp_path, '<bldg:measuredHeight uom="ft">30</bldg:measuredHeight>')
    assert feat.attributes == {"measuredHeight": 30.0, "measuredHeight_uom": "ft"}
    feat = read_one(tmp_path, '<bldg:measuredHeight uom="#m">6.0</bldg:measuredHeight>')
    assert feat.attributes == {"measuredHeight": 6.0}


def test_address_is_flattened(tmp_path: Path) -> None:
    postal = "<xAL:PostalCode><xAL:PostalCodeNumber>50667</xAL:PostalCodeNumber></xAL:PostalCode>"
    feat = read_one(tmp_path, ADDRESS.format(number="1", postal=postal))
    assert feat.attributes == {
        "address_street": "Rathausplatz",
        "address_number": "1",
        "address_postcode": "50667",
        "address_city": "Köln",
        "address_country": "Germany",
    }


def test_several_addresses_are_joined_and_stay_aligned(tmp_path: Path) -> None:
    postal = "<xAL:PostalCode><xAL:PostalCodeNumber>50667</xAL:PostalCodeNumber></xAL:PostalCode>"
    feat = read_one(
        tmp_path,
        ADDRESS.format(number="1", postal="") + ADDRESS.format(number="3", postal=postal),
    )
    assert feat.attributes["address_number"] == "1; 3"
    assert feat.attributes["address_postcode"] == "; 50667"  # the first has none
    assert feat.attributes["address_street"] == "Rathausplatz; Rathausplatz"


def test_parts_carry_their_own_attributes(tmp_path: Path) -> None:
    inner = (
        "<bldg:function>31001_1000</bldg:function>"
        + part(
            "<bldg:roofType>1000</bldg:roofType><bldg:measuredHeight>3</bldg:measuredHeight>", "P1"
        )
        + ADDRESS.format(number="5", postal="")
    )
    feat = read_one(tmp_path, inner)
    assert feat.attributes["function"] == "31001_1000"
    assert feat.attributes["address_number"] == "5"  # after the parts: still the Building's
    assert feat.children[0].attributes == {"roofType": "1000", "measuredHeight": 3.0}
