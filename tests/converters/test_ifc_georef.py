"""IFC georeferencing on generated models: order of the rules, units and Scale, rotation (IFC-1..3)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pyproj
import pytest

pytest.importorskip("ifcopenshell")

from citymodel.converters.ifc import IFCReader
from citymodel.errors import CRSError
from citymodel.report import JobReport
from tests.converters.ifc_models import Box, MapConversion, Site, write_model

C30, S30 = math.cos(math.radians(30.0)), math.sin(math.radians(30.0))
# IFC-1 golden values: E0 566000, N0 5935000, H0 10, rotation 30 degrees; local (1 m, 2 m, 0)
GOLDEN = np.array([565999.8660254, 5935002.2320508, 10.0])


def _box(k: float) -> Box:
    """A 10 x 20 x 5 m box whose corner is at local (1 m, 2 m, 0); ``k`` project units per metre."""
    return Box(origin=(1 * k, 2 * k, 0.0), size=(10 * k, 20 * k, 5 * k), color=(0.8, 0.2, 0.1))


def _read(path: Path, **options: object) -> tuple[IFCReader, np.ndarray, JobReport]:
    report = JobReport()
    reader = IFCReader(path, processes=1, **options)  # type: ignore[arg-type]
    features = list(reader.features(report=report))
    vertices = np.concatenate([f.geometries[0].vertices for f in features])
    return reader, vertices, report


def _corners(vertices: np.ndarray) -> np.ndarray:
    """The distinct vertices, rounded to 0.1 mm, sorted (comparable between models)."""
    return np.unique(np.round(vertices, 4), axis=0)


def _bottom_centre(vertices: np.ndarray) -> np.ndarray:
    """Centre of a box's bottom face (affine maps keep centroids)."""
    unique = np.unique(vertices, axis=0)
    bottom = unique[np.isclose(unique[:, 2], unique[:, 2].min(), atol=1e-6)]
    return bottom.mean(axis=0)


def _nearest(vertices: np.ndarray, point: np.ndarray) -> float:
    return float(np.linalg.norm(vertices - point, axis=1).min())


# -- IfcMapConversion: units, Scale, rotation ---------------------------------------------


@pytest.mark.parametrize("schema", ["IFC4", "IFC4X3_ADD2", "IFC2X3"])
def test_golden_position_in_every_schema(tmp_path: Path, schema: str) -> None:
    """IFC-1: mm model, Scale 0.001, rotation 30 degrees -> the measured golden ENH, 1 mm."""
    conversion = MapConversion(566000.0, 5935000.0, 10.0, C30, S30, scale=0.001)
    path = write_model(
        tmp_path / "m.ifc",
        schema=schema,
        unit="mm",
        boxes=(_box(1000.0),),
        map_conversion=conversion,
    )
    reader, vertices, _ = _read(path)
    expected_method = "ePSet_MapConversion" if schema == "IFC2X3" else "IfcMapConversion"
    assert reader.georeferencing.method == expected_method
    assert reader.srs_name == "EPSG:25832+7837"
    assert _nearest(vertices, GOLDEN) < 1e-3
    assert reader.georeferencing.rotation_deg == pytest.approx(30.0)


def test_millimetre_and_metre_models_land_on_the_same_coordinates(tmp_path: Path) -> None:
    """IFC-2: the same box in mm (Scale 0.001) and in m (Scale 1) -> identical output, 1 mm."""
    mm = write_model(
        tmp_path / "mm.ifc",
        unit="mm",
        boxes=(_box(1000.0),),
        map_conversion=MapConversion(566000.0, 5935000.0, 10.0, C30, S30, scale=0.001),
    )
    m = write_model(
        tmp_path / "m.ifc",
        unit="m",
        boxes=(_box(1.0),),
        map_conversion=MapConversion(566000.0, 5935000.0, 10.0, C30, S30, scale=1.0),
    )
    _, from_mm, _ = _read(mm)
    _, from_m, _ = _read(m)
    a, b = _corners(from_mm), _corners(from_m)
    assert a.shape == b.shape == (8, 3)
    assert np.abs(a - b).max() < 1e-3
    # 10 x 20 x 5 m, not 10 km: the factor 1000 is applied exactly once
    extent = a.max(axis=0) - a.min(axis=0)
    assert extent[2] == pytest.approx(5.0, abs=1e-6)


def test_missing_scale_in_a_millimetre_model_comes_from_the_units(tmp_path: Path) -> None:
    """IFC-2 (the Revit trap): Scale omitted in a mm model -> 0.001 with a warning, not 1.0."""
    path = write_model(
        tmp_path / "mm.ifc",
        unit="mm",
        boxes=(_box(1000.0),),
        map_conversion=MapConversion(566000.0, 5935000.0, 10.0, C30, S30, scale=None),
    )
    reader, vertices, report = _read(path)
    assert reader.georeferencing.scale == pytest.approx(0.001)
    assert reader.georeferencing.scale_source == "units"
    assert _nearest(vertices, GOLDEN) < 1e-3
    assert any("no Scale" in w and "IFC-2" in w for w in report.warnings)


def test_explicit_scale_one_in_a_millimetre_model_is_used_but_warned(tmp_path: Path) -> None:
    path = write_model(
        tmp_path / "mm.ifc",
        unit="mm",
        boxes=(_box(1000.0),),
        map_conversion=MapConversion(566000.0, 5935000.0, 10.0, scale=1.0),
    )
    reader, vertices, report = _read(path)
    assert reader.georeferencing.scale == 1.0
    assert vertices[:, 2].max() - vertices[:, 2].min() == pytest.approx(5000.0)
    assert any("1000x too large" in w for w in report.warnings)


def test_combined_scale_factor_scales_the_model(tmp_path: Path) -> None:
    """A metre model with Scale 0.9996 (grid scale factor): distances shrink by it."""
    path = write_model(
        tmp_path / "m.ifc",
        unit="m",
        boxes=(_box(1.0),),
        map_conversion=MapConversion(500000.0, 5500000.0, 0.0, scale=0.9996),
    )
    _, vertices, _ = _read(path)
    corners = _corners(vertices)
    extent = corners.max(axis=0) - corners.min(axis=0)
    assert extent == pytest.approx([10 * 0.9996, 20 * 0.9996, 5 * 0.9996], abs=1e-6)
    assert _nearest(vertices, np.array([500000.0 + 0.9996, 5500000.0 + 2 * 0.9996, 0.0])) < 1e-6


def test_ifc4x3_map_conversion_scaled_factors(tmp_path: Path) -> None:
    """IFC4X3 IfcMapConversionScaled: FactorX/Y/Z per axis on top of Scale."""
    path = write_model(
        tmp_path / "m.ifc",
        schema="IFC4X3_ADD2",
        unit="mm",
        boxes=(_box(1000.0),),
        map_conversion=MapConversion(
            500000.0, 5500000.0, 0.0, scale=0.001, factors=(0.9996, 0.9995, 1.0)
        ),
    )
    _, vertices, _ = _read(path)
    extent = np.ptp(_corners(vertices), axis=0)
    assert extent == pytest.approx([10 * 0.9996, 20 * 0.9995, 5.0], abs=1e-6)


def test_prerelease_ifc4x3_schema_with_scale_y_and_z(tmp_path: Path) -> None:
    """IFC4X3_RC2 header: read with IFC4X3_ADD2 (warned); its ScaleY/ScaleZ are honoured."""
    path = write_model(
        tmp_path / "m.ifc",
        schema="IFC4X3_ADD2",
        unit="mm",
        boxes=(_box(1000.0),),
        map_conversion=MapConversion(500000.0, 5500000.0, 0.0, scale=0.001),
    )
    text = path.read_text(encoding="latin-1")
    text = text.replace("FILE_SCHEMA(('IFC4X3_ADD2'))", "FILE_SCHEMA(('IFC4X3_RC2'))")
    text, n = re.subn(r"(IFCMAPCONVERSION\([^;]*,0\.001)\);", r"\1,0.0011,0.0009);", text)
    assert n == 1
    path.write_text(text, encoding="latin-1")
    reader, vertices, report = _read(path)
    assert reader.schema == "IFC4X3_RC2"
    assert any("pre-release schema IFC4X3_RC2" in w for w in report.warnings)
    extent = np.ptp(_corners(vertices), axis=0)
    assert extent == pytest.approx([10.0, 20 * 1.1, 5 * 0.9], abs=1e-6)


def test_map_rotation_wins_over_true_north(tmp_path: Path) -> None:
    """IFC-3: TrueNorth differs from the map rotation -> the output follows the map rotation."""
    conversion = MapConversion(566000.0, 5935000.0, 10.0, C30, S30, scale=0.001)
    north = (math.sin(math.radians(-2.0)), math.cos(math.radians(-2.0)))
    with_north = write_model(
        tmp_path / "north.ifc",
        unit="mm",
        boxes=(_box(1000.0),),
        map_conversion=conversion,
        true_north=north,
    )
    without = write_model(
        tmp_path / "plain.ifc", unit="mm", boxes=(_box(1000.0),), map_conversion=conversion
    )
    _, a, _ = _read(with_north)
    _, b, _ = _read(without)
    assert np.abs(_corners(a) - _corners(b)).max() < 1e-6
    assert _nearest(a, GOLDEN) < 1e-3


def test_vertical_datum_by_name_and_missing(tmp_path: Path) -> None:
    named = write_model(
        tmp_path / "named.ifc",
        boxes=(_box(1.0),),
        map_conversion=MapConversion(566000.0, 5935000.0, 10.0, scale=1.0, vertical="DHHN2016"),
    )
    assert IFCReader(named).srs_name == "EPSG:25832+7837"
    none = write_model(
        tmp_path / "none.ifc",
        boxes=(_box(1.0),),
        map_conversion=MapConversion(566000.0, 5935000.0, 10.0, scale=1.0, vertical=None),
    )
    assert IFCReader(none).srs_name == "EPSG:25832"
    unknown = write_model(
        tmp_path / "unknown.ifc",
        boxes=(_box(1.0),),
        map_conversion=MapConversion(566000.0, 5935000.0, 10.0, scale=1.0, vertical="Pegel XY"),
    )
    reader = IFCReader(unknown)
    assert reader.srs_name == "EPSG:25832"
    assert any("Pegel XY" in note for note in reader.georeferencing.notes)


def test_large_placement_coordinates_keep_millimetres(tmp_path: Path) -> None:
    """IFC-4: a mm model placed at map coordinates in its own placements (E0 = N0 = 0)."""
    origin_mm = (566_000_000.0 + 1000.0, 5_935_000_000.0 + 2000.0, 0.0)
    path = write_model(
        tmp_path / "far.ifc",
        unit="mm",
        boxes=(Box(origin=origin_mm, size=(10_000.0, 20_000.0, 5_000.0)),),
        map_conversion=MapConversion(0.0, 0.0, 0.0, scale=0.001),
    )
    _, vertices, _ = _read(path)
    corners = _corners(vertices)
    expected = np.array(
        [[566001.0 + dx, 5935002.0 + dy, dz] for dx in (0, 10) for dy in (0, 20) for dz in (0, 5)]
    )
    expected = np.unique(expected, axis=0)
    assert np.abs(corners - expected).max() < 1e-3


# -- IfcSite fallback ------------------------------------------------------------------------


HAMBURG = Site(latitude=(53, 33, 35, 0), longitude=(9, 59, 47, 0), elevation=10.0)
HAMBURG_LAT = 53 + 33 / 60 + 35 / 3600
HAMBURG_LON = 9 + 59 / 60 + 47 / 3600


@pytest.mark.parametrize("north_deg", [0.0, 25.0])
def test_site_reference_places_the_model_at_its_latitude_longitude(
    tmp_path: Path, north_deg: float
) -> None:
    """Fallback: the local origin at RefLatitude/RefLongitude; local TrueNorth -> true north."""
    angle = math.radians(north_deg)
    north = (-math.sin(angle), math.cos(angle))  # TrueNorth turned counter-clockwise
    # small boxes whose bottom faces are centred on local (0, 0, 0) and on 100 m along TrueNorth
    along = Box(
        origin=(100 * north[0] - 0.005, 100 * north[1] - 0.005, 0.0), size=(0.01,) * 3, name="n"
    )
    path = write_model(
        tmp_path / "site.ifc",
        boxes=(Box(origin=(-0.005, -0.005, 0.0), size=(0.01,) * 3, name="o"), along),
        site=HAMBURG,
        true_north=north,
    )
    report = JobReport()
    reader = IFCReader(path, processes=1)
    features = {f.attributes["Name"]: f for f in reader.features(report=report)}
    georef = reader.georeferencing
    assert georef.method == "IfcSite"
    assert georef.approximate
    assert reader.srs_name == "EPSG:25832"
    assert any("approximate" in w for w in report.warnings)
    to_geo = pyproj.Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
    origin = _bottom_centre(features["o"].geometries[0].vertices)
    lon, lat = to_geo.transform(origin[0], origin[1])
    assert lon == pytest.approx(HAMBURG_LON, abs=1e-8)
    assert lat == pytest.approx(HAMBURG_LAT, abs=1e-8)
    assert origin[2] == pytest.approx(10.0)
    tip = _bottom_centre(features["n"].geometries[0].vertices)
    lon_n, lat_n = to_geo.transform(tip[0], tip[1])
    azimuth, _, distance = pyproj.Geod(ellps="GRS80").inv(lon, lat, lon_n, lat_n)
    assert distance == pytest.approx(100.0, abs=2e-3)  # the point scale factor is applied
    assert azimuth == pytest.approx(0.0, abs=1e-4)  # along true north, not grid north


def test_site_reference_in_the_users_crs(tmp_path: Path) -> None:
    path = write_model(tmp_path / "site.ifc", boxes=(_box(1.0),), site=HAMBURG)
    reader = IFCReader(path, in_crs="EPSG:25833+7837", processes=1)
    assert reader.srs_name == "EPSG:25833+7837"
    vertices = np.concatenate([f.geometries[0].vertices for f in reader.features()])
    to_geo = pyproj.Transformer.from_crs("EPSG:25833", "EPSG:4326", always_xy=True)
    lon, lat = to_geo.transform(*vertices.min(axis=0)[:2])
    assert abs(lat - HAMBURG_LAT) < 1e-3 and abs(lon - HAMBURG_LON) < 1e-3


def test_map_conversion_wins_over_the_site(tmp_path: Path) -> None:
    path = write_model(
        tmp_path / "both.ifc",
        unit="mm",
        boxes=(_box(1000.0),),
        site=HAMBURG,
        map_conversion=MapConversion(566000.0, 5935000.0, 10.0, C30, S30, scale=0.001),
    )
    reader, vertices, _ = _read(path)
    assert reader.georeferencing.method == "IfcMapConversion"
    assert _nearest(vertices, GOLDEN) < 1e-3


# -- no georeferencing: --origin + --in-crs, else a clear error ----------------------------


def test_no_georeferencing_is_a_clear_error(tmp_path: Path) -> None:
    path = write_model(tmp_path / "none.ifc", boxes=(_box(1.0),))
    reader = IFCReader(path)
    with pytest.raises(CRSError, match=r"--in-crs CRS --origin E,N,H"):
        _ = reader.srs_name
    with pytest.raises(CRSError, match="no georeferencing"):
        list(reader.features())


def test_origin_needs_in_crs(tmp_path: Path) -> None:
    path = write_model(tmp_path / "none.ifc", boxes=(_box(1.0),))
    with pytest.raises(CRSError, match="needs --in-crs"):
        _ = IFCReader(path, origin=(1.0, 2.0, 3.0)).srs_name


@pytest.mark.parametrize("unit", ["m", "mm"])
def test_user_origin_and_rotation(tmp_path: Path, unit: str) -> None:
    k = 1000.0 if unit == "mm" else 1.0
    path = write_model(tmp_path / "none.ifc", unit=unit, boxes=(_box(k),))
    reader, vertices, _ = _read(path, in_crs="EPSG:25832+7837", origin="566000,5935000,10,30")
    assert reader.srs_name is None  # the pipeline takes --in-crs
    assert reader.georeferencing.method == "origin"
    assert _nearest(vertices, GOLDEN) < 1e-6


def test_origin_overrides_the_files_georeferencing(tmp_path: Path) -> None:
    path = write_model(
        tmp_path / "m.ifc",
        boxes=(_box(1.0),),
        map_conversion=MapConversion(1000.0, 2000.0, 0.0, scale=1.0),
    )
    reader, vertices, report = _read(
        path, in_crs="EPSG:25832+7837", origin=(566000, 5935000, 10, 30)
    )
    assert reader.georeferencing.method == "origin"
    assert _nearest(vertices, GOLDEN) < 1e-6
    assert any("--origin overrides the file's IfcMapConversion" in w for w in report.warnings)
