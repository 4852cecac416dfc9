"""City -> IFC4 on real CityGML (NRW LoD2, Berlin LoD2, KIT FZK-Haus LoD3): round trip within 1 mm.

Each output is re-read independently (``ifc_readback``): the same buildings, every vertex
within 1 mm of the CityGML input after placements and IfcMapConversion, every element
processed by the geometry kernel, ``ifcopenshell.validate`` clean; the IfcProjectedCRS names
the source's horizontal and vertical CRS.
"""

from __future__ import annotations

from pathlib import Path

import ifcopenshell
import numpy as np
import pytest

from citymodel.converters.ifc_writer import CityToIfcOptions, write_city_ifc
from citymodel.converters.selection import BBox2D, FeatureSelection
from citymodel.report import JobReport
from tests.converters.ifc_readback import (
    building_points,
    kernel_points,
    max_mismatch,
    pset,
    read_features,
    source_points,
    top_level_buildings,
    validation_statements,
)

pytestmark = pytest.mark.realdata

CASES = {
    "nrw": ("citygml/nrw_lod2_koeln/LoD2_32_350_5641_1_NW.gml", "EPSG:25832", "EPSG:7837"),
    "berlin": ("citygml/berlin_lod2/3910_5817.gml", "EPSG:25833", "EPSG:7837"),
    "fzk_lod3": (
        "citygml/kit_fzk_haus_lod3/FZK-Haus-LoD3-KIT-IAI-KHH-B36-V1.gml",
        "EPSG:25832",
        "EPSG:5783",
    ),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def written(
    request: pytest.FixtureRequest, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, Path, JobReport]:
    name = request.param
    source = shared_data / CASES[name][0]
    out = tmp_path_factory.mktemp(name) / f"{name}.ifc"
    return name, source, out, write_city_ifc(source, out)


def test_round_trip_within_1_mm(written: tuple[str, Path, Path, JobReport]) -> None:
    _, source, out, report = written
    features = read_features([source])
    f = ifcopenshell.open(str(out))
    tops = top_level_buildings(f)
    assert len(tops) == len(features) == report.written["Building"]
    assert {pset(b)["gml_id"].wrappedValue for b in tops} == {x.id for x in features}
    expected: dict[str, np.ndarray] = {}
    for feature in features:
        expected.update(source_points(feature))
    read = building_points(out)
    assert set(read) == set(expected)
    worst = max(max_mismatch(read[k], expected[k]) for k in expected)
    assert worst < 1e-3, f"largest vertex deviation {worst * 1000:.3f} mm"
    assert not report.skipped


def test_valid_ifc4(written: tuple[str, Path, Path, JobReport]) -> None:
    name, _, out, _ = written
    # EXPRESS rules run in Python (about 25 s per MB of IFC): on the small house only
    assert validation_statements(out, express_rules=name == "fzk_lod3") == []


@pytest.mark.parametrize(
    "name", ["fzk_lod3", "nrw", pytest.param("berlin", marks=pytest.mark.slow)]
)
def test_readable_by_the_kernel(name: str, shared_data: Path, tmp_path: Path) -> None:
    """Every element goes through ifcopenshell's geometry kernel, at its place (1 mm)."""
    source = shared_data / CASES[name][0]
    out = tmp_path / f"{name}.ifc"
    report = write_city_ifc(source, out)
    shapes, points = kernel_points(out)
    assert shapes == report.extra["ifc"]["elements"]
    expected: dict[str, np.ndarray] = {}
    for feature in read_features([source]):
        expected.update(source_points(feature))
    assert set(points) == set(expected)
    for gml_id, vertices in points.items():
        assert max_mismatch(vertices, expected[gml_id]) < 1e-3, gml_id


def test_projected_crs_names_the_source_datums(written: tuple[str, Path, Path, JobReport]) -> None:
    name, _, out, report = written
    f = ifcopenshell.open(str(out))
    (crs,) = f.by_type("IfcProjectedCRS")
    assert (crs.Name, crs.VerticalDatum) == CASES[name][1:]
    if name == "berlin":  # 2D srsName: the GEO-5 default vertical datum is stated and reported
        assert any("no vertical CRS" in w for w in report.warnings)


def test_lod3_openings_are_windows_and_doors(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / CASES["fzk_lod3"][0]
    out = tmp_path / "fzk.ifc"
    write_city_ifc(source, out)
    f = ifcopenshell.open(str(out))
    assert len(f.by_type("IfcWindow")) == 11
    assert len(f.by_type("IfcDoor")) == 2
    (building,) = f.by_type("IfcBuilding")
    assert building.Name == "AC14-FZK-Haus"
    assert building.BuildingAddress.PostalCode == "76344"


def test_nrw_box_in_wgs84(shared_data: Path, tmp_path: Path) -> None:
    """A lon/lat box over part of a Köln tile selects what touches it, whole buildings."""
    source = shared_data / "citygml/nrw_lod2_koeln/LoD2_32_355_5652_1_NW.gml"
    out = tmp_path / "box.ifc"
    box = BBox2D(6.9348, 51.0017, 6.9403, 51.005, crs="EPSG:4326")
    report = write_city_ifc(
        source, out, options=CityToIfcOptions(selection=FeatureSelection(bbox=box))
    )
    features = read_features([source])
    assert 0 < report.written["Building"] < len(features)
    read = building_points(out)
    by_id = {f.id: f for f in features}
    f = ifcopenshell.open(str(out))
    for top in top_level_buildings(f):
        for gml_id, vertices in source_points(by_id[pset(top)["gml_id"].wrappedValue]).items():
            assert max_mismatch(read[gml_id], vertices) < 1e-3
