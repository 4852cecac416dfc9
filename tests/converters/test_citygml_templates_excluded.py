"""Implicit-geometry templates defined inside objects that ``--types`` leaves out.

A template (``relativeGMLGeometry`` with a ``gml:id``) may sit in an object of a type that is
not read, while a selected object places it by ``xlink:href``; the selected object must still
get its geometry, whether the template comes before or after it in the document.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from citymodel.converters._citygml_document import DocumentReader
from citymodel.converters.citygml import CityGMLReader
from citymodel.model import Feature
from citymodel.report import JobReport
from tests.citygml_docs import city_model, multi_surface, polygon, write
from tests.converters.test_citygml3_reader import X0, Y0
from tests.converters.test_citygml3_reader import city_model as city_model3
from tests.converters.test_citygml3_reader import member as member3
from tests.converters.test_citygml3_reader import polygon as polygon3
from tests.converters.test_citygml_modules import (
    IDENTITY,
    INLINE,
    REF,
    TEMPLATE,
    _implicit,
    _tree,
    module_ns,
)


def _bench(gml_id: str, relative: str, ref: str) -> str:
    return (
        f"<frn:CityFurniture gml:id='{gml_id}'>"
        + _implicit(relative, IDENTITY, ref, lod=3, prefix="frn")
        + "</frn:CityFurniture>"
    )


def _read(tmp_path: Path, members: list[str], types: list[str]) -> tuple[list[Feature], JobReport]:
    path = write(tmp_path / "m.gml", city_model(members, extra_ns=module_ns()))
    report = JobReport()
    with CityGMLReader(path) as reader:
        features = list(reader.features(report=report, types=types))
    return features, report


@pytest.mark.parametrize("template_first", [True, False])
def test_template_in_an_excluded_object_is_placed(tmp_path: Path, template_first: bool) -> None:
    tree = _tree("V1", INLINE, IDENTITY, "100 200 10")
    bench = _bench("F1", REF, "5 6 7")
    members = [tree, bench] if template_first else [bench, tree]
    (furniture,), report = _read(tmp_path, members, ["CityFurniture"])
    assert furniture.id == "F1" and furniture.geometries[0].lod == "3"
    np.testing.assert_allclose(
        furniture.geometries[0].vertices, np.array(TEMPLATE) + np.array([5.0, 6.0, 7.0])
    )
    assert not report.skipped


def test_excluded_template_is_parsed_only_when_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Objects not read cost no template parsing unless a selected object uses the template."""
    parsed: list[str] = []
    original = DocumentReader._parse_template

    def spy(self: DocumentReader, key: str, *args: object) -> None:
        parsed.append(key)
        original(self, key, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(DocumentReader, "_parse_template", spy)
    other = (
        "<core:relativeGMLGeometry>"
        + multi_surface([polygon(TEMPLATE)], gml_id="UNUSED")
        + "</core:relativeGMLGeometry>"
    )
    members = [_tree("V1", INLINE, IDENTITY, "0 0 0"), _tree("V2", other, IDENTITY, "0 0 0")]
    (furniture,), report = _read(
        tmp_path, [*members, _bench("F1", REF, "1 1 1")], ["CityFurniture"]
    )
    assert parsed == ["TPL"]
    assert furniture.geometries and not report.skipped
    parsed.clear()
    features, _ = _read(tmp_path, members, ["CityFurniture"])
    assert features == [] and parsed == []


def test_template_missing_everywhere_is_still_reported(tmp_path: Path) -> None:
    members = [
        _tree("V1", INLINE, IDENTITY, "0 0 0"),
        _bench("F1", "<core:relativeGMLGeometry xlink:href='#NOPE'/>", "0 0 0"),
    ]
    (furniture,), report = _read(tmp_path, members, ["CityFurniture"])
    assert not furniture.geometries
    assert any("'NOPE' is not in the document" in s.reason for s in report.skipped)


@pytest.mark.parametrize("template_first", [True, False])
def test_citygml3_template_in_an_excluded_object_is_placed(
    tmp_path: Path, template_first: bool
) -> None:
    template = (
        '<gml:MultiSurface gml:id="tpl"><gml:surfaceMember>'
        + polygon3([(-X0, -Y0, 0), (1 - X0, -Y0, 0), (1 - X0, 1 - Y0, 0)])
        + "</gml:surfaceMember></gml:MultiSurface>"
    )

    def placed(element: str, oid: str, relative: str) -> str:
        return (
            f'<{element} gml:id="{oid}"><lod2ImplicitRepresentation><ImplicitGeometry>'
            f"<transformationMatrix>{IDENTITY}</transformationMatrix>{relative}"
            f"<referencePoint><gml:Point><gml:pos>{X0} {Y0} 100</gml:pos></gml:Point>"
            f"</referencePoint></ImplicitGeometry></lod2ImplicitRepresentation></{element}>"
        )

    tree = placed(
        "veg:SolitaryVegetationObject", "V1", f"<relativeGeometry>{template}</relativeGeometry>"
    )
    bench = placed("frn:CityFurniture", "F1", '<relativeGeometry xlink:href="#tpl"/>')
    members = [tree, bench] if template_first else [bench, tree]
    path = tmp_path / "t3.gml"
    path.write_text(city_model3(*(member3(m) for m in members)), encoding="utf-8")
    report = JobReport()
    with CityGMLReader(path) as reader:
        (furniture,) = reader.features(report=report, types=["CityFurniture"])
    np.testing.assert_allclose(
        furniture.geometries[0].vertices, [[X0, Y0, 100], [X0 + 1, Y0, 100], [X0 + 1, Y0 + 1, 100]]
    )
    assert not report.skipped
