"""WaterBody boundary surfaces through the interchange writers (issue 7).

A CityJSON WaterBody with an LoD2 solid of WaterSurface/WaterGroundSurface/WaterClosureSurface
polygons and an LoD1 MultiSurface is written as CityGML 2.0 (``lod1MultiSurface``,
``lod2Solid`` referencing the polygons of ``wtr:boundedBy`` surfaces) and 3.0 (``core:boundary``)
and read back with the same polygons and classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lxml import etree

import citymodel
from citymodel.converters.citygml_writer import CityGMLWriter
from citymodel.converters.cityjson_writer import CityJSONWriter
from citymodel.converters.convert import ConvertOptions, convert
from citymodel.crs import parse_srs_name
from citymodel.model import Feature, SurfaceGeometry, SurfaceType
from citymodel.report import JobReport
from tests.converters.feature_compare import compare_trees

WTR2 = "{http://www.opengis.net/citygml/waterbody/2.0}"
WTR3 = "{http://www.opengis.net/citygml/waterbody/3.0}"
ORIGIN = np.array([356000.0, 5645000.0, 30.0])


def _box() -> SurfaceGeometry:
    """A closed 20 x 10 x 2 m basin: top water surface, ground, four closure walls (LoD2)."""
    x0, y0, z0, x1, y1, z1 = 0.0, 0.0, 0.0, 20.0, 10.0, 2.0
    c = np.array([[x, y, z] for z in (z0, z1) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))])
    faces = [
        ([4, 5, 6, 7], SurfaceType.WATER_SURFACE),
        ([0, 3, 2, 1], SurfaceType.WATER_GROUND),
        ([0, 1, 5, 4], SurfaceType.WATER_CLOSURE),
        ([1, 2, 6, 5], SurfaceType.WATER_CLOSURE),
        ([2, 3, 7, 6], SurfaceType.WATER_CLOSURE),
        ([3, 0, 4, 7], SurfaceType.WATER_CLOSURE),
    ]
    return SurfaceGeometry.from_polygons(
        [[c[idx] + ORIGIN] for idx, _ in faces],
        [int(t) for _, t in faces],
        lod="2",
        solid=True,
    )


def _lod1() -> SurfaceGeometry:
    ring = np.array([[0, 0, 2], [20, 0, 2], [20, 10, 2], [0, 10, 2]], dtype=np.float64)
    return SurfaceGeometry.from_polygons([[ring + ORIGIN]], [int(SurfaceType.UNKNOWN)], lod="1")


def _water() -> Feature:
    return Feature(
        id="W1",
        type="WaterBody",
        attributes={"function": "5100"},
        geometries=(_lod1(), _box()),
    )


def _read(path: Path) -> list[Feature]:
    with citymodel.open(path) as reader:
        return list(reader.features())


def _convert(src: Path, out: Path, **options: object) -> JobReport:
    report = JobReport()
    convert([src], out, options=ConvertOptions(**options), report=report)  # type: ignore[arg-type]
    return report


@pytest.mark.parametrize("version", ["2.0", "3.0"])
def test_waterbody_surfaces_round_trip_through_citygml(tmp_path: Path, version: str) -> None:
    src = tmp_path / "water.city.json"
    with CityJSONWriter(
        src, crs=parse_srs_name("urn:ogc:def:crs:EPSG::25832"), report=JobReport()
    ) as w:
        w.write(_water())
    gml = tmp_path / "water.gml"
    report = _convert(src, gml, citygml_version=version)
    assert not report.skipped, report.skipped
    root = etree.parse(str(gml)).getroot()
    wtr = WTR2 if version == "2.0" else WTR3
    # 3.0 has no lod1MultiSurface for spaces: the LoD1 surface is a boundary surface too
    assert len(list(root.iter(f"{wtr}WaterSurface"))) == (1 if version == "2.0" else 2)
    assert len(list(root.iter(f"{wtr}WaterGroundSurface"))) == 1
    closure = (
        f"{wtr}WaterClosureSurface"
        if version == "2.0"
        else ("{http://www.opengis.net/citygml/3.0}ClosureSurface")
    )
    assert len(list(root.iter(closure))) == 1  # one run of four walls
    if version == "2.0":
        assert len(list(root.iter(f"{WTR2}boundedBy"))) == 3
        assert len(list(root.iter(f"{WTR2}lod2Solid"))) == 1
        assert len(list(root.iter(f"{WTR2}lod1MultiSurface"))) == 1
    back = tmp_path / "back.city.json"
    _convert(gml, back)
    features = _read(back)
    assert compare_trees([_water()], features) == []
    lod2 = next(g for g in features[0].geometries if g.lod == "2")
    assert lod2.solid
    assert lod2.surface_types.tolist() == _box().surface_types.tolist()


def test_open_waterbody_polygons_without_class_are_reported(tmp_path: Path) -> None:
    """CityGML 2.0 WaterBody LoD2+ has only lodNSolid and boundedBy: loose polygons are skipped."""
    ring = np.array([[0, 0, 2], [20, 0, 2], [20, 10, 2]], dtype=np.float64) + ORIGIN
    geom = SurfaceGeometry.from_polygons(
        [[ring], [ring + np.array([0.0, 0.0, 1.0])]], [int(SurfaceType.WATER_SURFACE), 0], lod="2"
    )
    report = JobReport()
    with CityGMLWriter(tmp_path / "open.gml", crs=parse_srs_name("EPSG:25832"), report=report) as w:
        w.write(Feature(id="W2", type="WaterBody", geometries=(geom,)))
    assert any("1 polygon(s) not written" in s.reason for s in report.skipped), report.skipped
    back = _read(tmp_path / "open.gml")
    assert back[0].geometries[0].surface_types.tolist() == [int(SurfaceType.WATER_SURFACE)]
