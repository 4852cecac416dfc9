"""IFC reader: features and attributes, sniffing, metadata, bad input (issue 5 items 1 and 5)."""

from __future__ import annotations

import builtins
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("ifcopenshell")

from citymodel.converters.ifc import IFC_FORMAT, IFCReader
from citymodel.converters.materials import FEATURE_COLOR_COLUMN
from citymodel.errors import (
    InputError,
    MissingDependencyError,
    ParseError,
    StrictModeError,
    UnsupportedFormatError,
)
from citymodel.model import SurfaceType
from citymodel.report import JobReport
from citymodel.sources import open as open_source
from tests.converters.ifc_models import Box, MapConversion, write_model

GEOREF = MapConversion(566000.0, 5935000.0, 10.0, scale=0.001)

WALL = Box(
    origin=(0.0, 0.0, 0.0),
    size=(5000.0, 200.0, 3000.0),
    ifc_class="IfcWall",
    name="Wall A",
    color=(0.8, 0.2, 0.1),
    style_name="Brick red",
    material="Brick",
    psets={
        "Pset_WallCommon": {
            "IsExternal": ("IfcBoolean", True),
            "Reference": ("IfcIdentifier", "W-01"),
            "ThermalTransmittance": ("IfcThermalTransmittanceMeasure", 0.24),
            "FireRating": ("IfcLabel", "F90"),
        },
        "Custom": {"Count": ("IfcInteger", 3), "Width": ("IfcPositiveLengthMeasure", 200.0)},
    },
    quantities={
        "Qto_WallBaseQuantities": {
            "Length": ("IfcQuantityLength", 5000.0),
            "NetSideArea": ("IfcQuantityArea", 15.0),
            "NetVolume": ("IfcQuantityVolume", 3.0),
        }
    },
)
GLASS = Box(
    origin=(1000.0, 0.0, 1000.0),
    size=(1000.0, 50.0, 1000.0),
    ifc_class="IfcWindow",
    name="Window",
    color=(0.6, 0.8, 1.0),
    transparency=0.6,
    style_name="Glass",
)
SLAB = Box(
    origin=(0.0, 0.0, -300.0),
    size=(5000.0, 5000.0, 300.0),
    ifc_class="IfcSlab",
    name="Base slab",
    predefined_type="BASESLAB",
)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return write_model(
        tmp_path / "house.ifc", unit="mm", boxes=(WALL, GLASS, SLAB), map_conversion=GEOREF
    )


def _features(path: Path, **options: Any) -> tuple[dict[str, Any], JobReport]:
    report = JobReport()
    reader = IFCReader(path, processes=1, **options)
    return {f.attributes["Name"]: f for f in reader.features(report=report)}, report


def test_one_feature_per_element_with_typed_attributes(model: Path) -> None:
    features, report = _features(model)
    assert sorted(features) == ["Base slab", "Wall A", "Window"]
    assert not report.skipped
    wall = features["Wall A"]
    assert wall.type == "IfcWall"
    assert wall.id == wall.attributes["GlobalId"] and len(wall.id) == 22
    a = wall.attributes
    assert a["storey"] == "Ground floor"
    assert a["material"] == "Brick"
    assert a["Pset_WallCommon.IsExternal"] is True
    assert a["Pset_WallCommon.Reference"] == "W-01"
    assert a["Pset_WallCommon.FireRating"] == "F90"
    assert a["Pset_WallCommon.ThermalTransmittance"] == pytest.approx(0.24)
    assert a["Custom.Count"] == 3 and isinstance(a["Custom.Count"], int)
    # lengths in a millimetre model come out in metres; areas and volumes in m² and m³
    assert a["Custom.Width"] == pytest.approx(0.2)
    assert a["Qto_WallBaseQuantities.Length"] == pytest.approx(5.0)
    assert a["Qto_WallBaseQuantities.NetSideArea"] == pytest.approx(15.0)
    assert a["Qto_WallBaseQuantities.NetVolume"] == pytest.approx(3.0)
    assert a["style"] == "Brick red"
    assert a[FEATURE_COLOR_COLUMN] == "#cc331a"
    assert features["Base slab"].attributes["PredefinedType"] == "BASESLAB"


def test_geometry_is_triangulated_in_the_projected_crs(model: Path) -> None:
    features, _ = _features(model)
    geometry = features["Wall A"].geometries[0]
    assert geometry.triangulated and not geometry.solid
    assert geometry.lod == "3"
    assert geometry.polygon_count == 12  # a box
    lo, hi = geometry.vertices.min(axis=0), geometry.vertices.max(axis=0)
    assert lo == pytest.approx([566000.0, 5935000.0, 10.0], abs=1e-6)
    assert hi == pytest.approx([566005.0, 5935000.2, 13.0], abs=1e-6)
    assert set(geometry.surface_types.tolist()) == {int(SurfaceType.WALL)}
    assert set(features["Window"].geometries[0].surface_types.tolist()) == {int(SurfaceType.WINDOW)}
    assert set(features["Base slab"].geometries[0].surface_types.tolist()) == {
        int(SurfaceType.GROUND)
    }


def test_transparent_style_gives_an_alpha_colour(model: Path) -> None:
    features, _ = _features(model)
    colour = features["Window"].attributes[FEATURE_COLOR_COLUMN]
    assert colour.startswith("#99ccff") and len(colour) == 9
    assert int(colour[7:], 16) == round(0.4 * 255)


def test_types_select_classes_with_subclasses(model: Path) -> None:
    features, _ = _features(model)
    assert features
    report = JobReport()
    reader = IFCReader(model, processes=1)
    only = [f.type for f in reader.features(report=report, types=("IfcWall", "IfcSlab"))]
    assert sorted(only) == ["IfcSlab", "IfcWall"]
    assert not list(reader.features(report=report, types=("Building",)))
    assert not list(reader.features(report=report, types=("IfcNoSuchThing",)))
    assert any("IfcNoSuchThing is not an IFC class" in w for w in report.warnings)


def test_failed_element_is_skipped_and_reported_the_rest_read(tmp_path: Path) -> None:
    broken = Box(origin=(0.0, 0.0, 0.0), size=(1000.0, 1000.0, 1000.0), name="bad", broken=True)
    path = write_model(
        tmp_path / "m.ifc", unit="mm", boxes=(WALL, broken, SLAB), map_conversion=GEOREF
    )
    features, report = _features(path)
    assert sorted(features) == ["Base slab", "Wall A"]
    assert len(report.skipped) == 1
    skip = report.skipped[0]
    assert skip.file == str(path)
    assert skip.id is not None and len(skip.id) == 22  # the GlobalId
    assert skip.reason.startswith("IfcWall #")
    assert "geometry kernel failed" in skip.reason
    with pytest.raises(StrictModeError):
        list(IFCReader(path, processes=1).features(report=JobReport(strict=True)))


@pytest.mark.realdata
def test_csg_primitives_the_kernel_cannot_build_are_tessellated(shared_data: Path) -> None:
    """IfcRightCircularCone/Cylinder (no kernel mapping in IfcOpenShell 0.9): built here."""
    path = shared_data / "ifc" / "bsi_geographic-referencing_IFC4_EPSG25832.ifc"
    report = JobReport()
    (feature,) = IFCReader(path, processes=1).features(report=report)
    assert not report.skipped
    vertices = feature.geometries[0].vertices
    centre = np.array([458658.78, 5438232.79])
    radius = np.linalg.norm(vertices[:, :2] - centre, axis=1)
    # cone: apex at the map conversion origin, base radius 0.15 m at 0.5 m; cylinder 0.05 m
    assert vertices[:, 2].min() == pytest.approx(113.7, abs=1e-9)
    assert vertices[:, 2].max() == pytest.approx(114.7, abs=1e-9)
    assert radius.max() == pytest.approx(0.15, abs=1e-9)
    chord = 0.15 * (1 - math.cos(math.pi / 16))
    assert chord < 0.01


def test_sniff_and_plugin(model: Path, tmp_path: Path) -> None:
    assert IFC_FORMAT.sniff(model)
    gml = tmp_path / "x.gml"
    gml.write_text("<CityModel/>")
    assert not IFC_FORMAT.sniff(gml)
    not_ifc = tmp_path / "part21.stp"
    not_ifc.write_text("ISO-10303-21;\nHEADER;\nFILE_SCHEMA(('AP214'));\nENDSEC;\n")
    assert not IFC_FORMAT.sniff(not_ifc)
    with open_source(model) as reader:
        assert isinstance(reader, IFCReader)


def test_metadata_without_geometry(model: Path) -> None:
    meta = IFCReader(model).metadata()
    assert meta.format == "IFC" and meta.version == "IFC4"
    assert meta.srs_name == "EPSG:25832+7837"
    assert meta.horizontal_crs == "EPSG:25832" and meta.vertical_crs == "EPSG:7837"
    assert meta.counts == {"IfcSlab": 1, "IfcWall": 1, "IfcWindow": 1}
    assert meta.lods == {"3": 3}
    assert "Pset_WallCommon.IsExternal" in meta.attribute_names
    details = meta.details
    assert details["units"]["length"]["si_factor"] == pytest.approx(0.001)
    assert details["georeferencing"]["method"] == "IfcMapConversion"
    assert details["georeferencing"]["eastings"] == 566000.0
    assert details["storeys"] == [
        {
            "name": "Ground floor",
            "global_id": details["storeys"][0]["global_id"],
            "elevation_m": 0.0,
        }
    ]
    assert details["elements_by_class"] == meta.counts


def test_metadata_of_a_model_without_georeferencing(tmp_path: Path) -> None:
    path = write_model(tmp_path / "none.ifc", boxes=(WALL,))
    meta = IFCReader(path).metadata()
    assert meta.details["georeferencing"]["method"] is None
    assert "--origin" in meta.details["georeferencing"]["error"]
    assert meta.srs_name is None


# -- bad input ---------------------------------------------------------------------------------


def test_truncated_file_is_refused(model: Path, tmp_path: Path) -> None:
    data = model.read_bytes()
    cut = tmp_path / "cut.ifc"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ParseError, match="truncated") as info:
        _ = IFCReader(cut).srs_name
    assert info.value.path == str(cut)


def test_unparsable_file_is_a_parse_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ifc"
    bad.write_text(
        "ISO-10303-21;\nHEADER;\nFILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;\n#1=IFCWALL(;\n"
        "ENDSEC;\nEND-ISO-10303-21;\n"
    )
    with pytest.raises(ParseError, match="IfcOpenShell cannot parse"):
        IFCReader(bad).metadata()


def test_unsupported_schema(tmp_path: Path) -> None:
    old = tmp_path / "old.ifc"
    old.write_text(
        "ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION((''),'2;1');\nFILE_NAME('','',(''),(''),'','','');\n"
        "FILE_SCHEMA(('IFC2X2_FINAL'));\nENDSEC;\nDATA;\nENDSEC;\nEND-ISO-10303-21;\n"
    )
    with pytest.raises(UnsupportedFormatError, match="IFC2X2_FINAL"):
        IFCReader(old).metadata()


def test_bad_origin_option(model: Path) -> None:
    with pytest.raises(InputError, match="origin"):
        IFCReader(model, origin="1,2")
    with pytest.raises(InputError, match="origin"):
        IFCReader(model, origin="a,b,c")


def test_origin_option_is_ignored_by_citygml(tmp_path: Path) -> None:
    # a city tiled with an IFC design passes the design's origin to every reader
    gml = tmp_path / "b.gml"
    gml.write_text(
        '<core:CityModel xmlns:core="http://www.opengis.net/citygml/2.0"></core:CityModel>'
    )
    with open_source(gml, origin=(1.0, 2.0, 3.0, 0.0)) as reader:
        assert list(reader.features()) == []


def test_missing_ifcopenshell_is_a_clear_error(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ifcopenshell" or name.startswith("ifcopenshell."):
            raise ImportError("No module named 'ifcopenshell'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingDependencyError, match=r"citymodel\[ifc\]"):
        IFCReader(model).metadata()


def test_worker_processes_give_the_same_features_in_the_same_order(tmp_path: Path) -> None:
    good = [
        Box(origin=(i * 2000.0, 0.0, 0.0), size=(1000.0, 1000.0, 1000.0 + i), name=f"b{i}")
        for i in range(40)
    ]
    bad = Box(origin=(0.0, 5000.0, 0.0), size=(1000.0, 1000.0, 1000.0), name="bad", broken=True)
    boxes = (*good, bad)
    path = write_model(tmp_path / "many.ifc", unit="mm", boxes=boxes, map_conversion=GEOREF)
    results = []
    for processes in (1, 2):
        report = JobReport()
        features = list(IFCReader(path, processes=processes).features(report=report))
        results.append((features, report))
    (serial, serial_report), (parallel, parallel_report) = results
    assert [f.id for f in serial] == [f.id for f in parallel]
    assert len(serial) == 40
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a.geometries[0].vertices, b.geometries[0].vertices)
        assert a.attributes == b.attributes
    assert [s.id for s in serial_report.skipped] == [s.id for s in parallel_report.skipped]
    assert len(parallel_report.skipped) == 1


def test_adaptive_mode_moves_to_workers_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from citymodel.converters import _ifc_read_geometry

    boxes = tuple(
        Box(origin=(i * 2000.0, 0.0, 0.0), size=(1000.0, 1000.0, 1000.0), name=f"b{i}")
        for i in range(60)
    )
    path = write_model(tmp_path / "many.ifc", unit="mm", boxes=boxes, map_conversion=GEOREF)
    serial = [f.id for f in IFCReader(path, processes=1).features()]
    started: list[int] = []
    real = _ifc_read_geometry._in_workers

    def spy(chunks: Any, **kwargs: Any) -> Any:
        started.append(len(chunks))
        return real(chunks, **kwargs)

    monkeypatch.setattr(_ifc_read_geometry, "PARALLEL_MIN_SECONDS", 0.0)
    monkeypatch.setattr(_ifc_read_geometry, "default_processes", lambda _path: 2)
    monkeypatch.setattr(_ifc_read_geometry, "_in_workers", spy)
    adaptive = [f.id for f in IFCReader(path).features()]
    assert adaptive == serial
    assert started and started[0] >= 2  # after the first chunk, the rest went to workers
