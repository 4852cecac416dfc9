"""``tile --replace`` with real data: the KIT FZK-Haus as CityGML LoD3 and as IFC4.

``ifc/AC20-FZK-Haus.ifc`` has no IfcMapConversion, only IfcSite RefLatitude/RefLongitude,
which put it about 1 km from where the CityGML places the same house
(``citygml/kit_fzk_haus_lod3``): with that approximate placement its footprint covers no
city building, which the report says. Placed with ``--in-crs``/``--origin`` at the CityGML
house (the IFC's local bounding box, -0.5..12.5 m × -0.5..10.5 m, on the CityGML's
457841.5..457854.5 / 5439082.5..5439093.5, DHHN92), the IFC replaces the CityGML building.
"""

from __future__ import annotations

from pathlib import Path

import ifcopenshell
import pytest

from citymodel.report import JobReport
from citymodel.sources import open as open_source
from citymodel.tiler.build import TileOptions, build_tileset
from citymodel.tiler.replace import ReplaceRule, plan_replacement
from citymodel.tiler.validate import validate_tileset
from tests.tiler.conftest import assert_check_tileset_passes
from tests.tiler.tileset_walk import building_ids, walk_tileset

pytestmark = pytest.mark.realdata

IFC = "ifc/AC20-FZK-Haus.ifc"
CITYGML = "citygml/kit_fzk_haus_lod3/FZK-Haus-LoD3-KIT-IAI-KHH-B36-V1.gml"
HOUSE = "UUID_d281adfc-4901-0f52-540b-4cc1a9325f82"
ORIGIN = (457842.0, 5439083.0, 112.0, 0.0)
"""The IFC's engineering origin at the CityGML house: E, N (EPSG:25832), H (DHHN92), rotation."""


@pytest.fixture(scope="module")
def aligned(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, JobReport]:
    out = tmp_path_factory.mktemp("fzk") / "tiles"
    options = TileOptions(
        jobs=2,
        in_crs="EPSG:25832+5783",
        replace=(ReplaceRule(source=shared_data / IFC, reader_options=(("origin", ORIGIN),)),),
    )
    report = build_tileset([shared_data / CITYGML], out, options=options)
    return out, report


def test_ifc_replaces_the_citygml_house(aligned: tuple[Path, JobReport], shared_data: Path) -> None:
    out, report = aligned
    (entry,) = report.extra["replaced"]
    assert entry["id"] == HOUSE
    assert entry["by"] == "AC20-FZK-Haus.ifc"
    assert entry["overlap"] > 0.95
    shown = set()
    for tile in walk_tileset(out).root.walk():
        if tile.content is not None:
            shown.update(building_ids(tile.content))
    assert HOUSE not in shown
    model = ifcopenshell.open(str(shared_data / IFC))
    elements = {
        e.GlobalId
        for ifc_class in ("IfcWall", "IfcWindow", "IfcDoor", "IfcSlab", "IfcStair")
        for e in model.by_type(ifc_class)
    }
    assert len(elements) >= 30
    assert elements <= shown, "the IFC's walls, windows, doors, slabs and stair are shown"
    assert validate_tileset(out) == []


@pytest.mark.node
def test_replaced_fzk_tileset_passes_check_tileset(aligned: tuple[Path, JobReport]) -> None:
    assert_check_tileset_passes(aligned[0] / "tileset.json")


def test_site_lat_lon_placement_misses_the_citygml_house(shared_data: Path) -> None:
    """The IfcSite fallback lands ~1 km away: nothing is replaced, and the report says why."""
    report = JobReport()
    plan = plan_replacement([ReplaceRule(source=shared_data / IFC)], report=report)
    assert plan is not None
    (footprint,) = plan.footprints
    with open_source(shared_data / CITYGML) as reader:
        (house,) = list(reader.features(report=JobReport()))
    low = house.geometries[0].vertices.min(axis=0)
    distance = ((footprint.bounds[0] - low[0]) ** 2 + (footprint.bounds[1] - low[1]) ** 2) ** 0.5
    assert distance > 500.0
    assert 100.0 < footprint.area_m2 < 200.0  # the house with its roof overhang, 13 m x 11 m
