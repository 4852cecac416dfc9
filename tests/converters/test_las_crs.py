"""CRS of LAS files: WKT vs GeoTIFF keys, vertical keys, units, plausibility (LAS-1, GEO-5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from citymodel.converters._las_crs import decode_geokeys
from citymodel.converters.las import open_point_cloud
from citymodel.crs import Georeferencer
from citymodel.errors import CRSError
from citymodel.report import JobReport
from tests.converters.las_fixtures import geokey_vlr, wkt_vlr, write_las, write_wkt_las

US_FOOT = 0.304800609601219
# GEO-2: Hamburg, EPSG:25832 566000 5935000, DHHN2016 height 10 m -> 49.9318 m ellipsoidal.
HAMBURG = (566000.0, 5935000.0, 10.0)
HAMBURG_H_ELL = 49.9318
PROJECTED, UTM32, DHHN2016, METRE, FT_US = 1, 25832, 7837, 9001, 9003


def _ellipsoidal_height(path: Path, **crs_options: str) -> float:
    with open_point_cloud(path) as cloud:
        crs = cloud.crs(**crs_options)
        chunk = next(cloud.read())
    return float(Georeferencer.create(crs).to_geodetic(chunk.xyz)[0, 2])


# -- LAS-1: four encodings of EPSG:25832 + DHHN2016, one height --------------------------------


def test_geokeys_without_vertical_get_the_geo5_default(tmp_path: Path) -> None:
    path = write_las(
        tmp_path / "keys2d.las",
        [HAMBURG],
        vlrs=[geokey_vlr([(1024, PROJECTED), (3072, UTM32), (3076, METRE)])],
    )
    report = JobReport()
    with open_point_cloud(path) as cloud:
        crs = cloud.crs(report=report)
    assert (crs.horizontal_code, crs.vertical_code, crs.assumed_vertical) == (
        "EPSG:25832",
        "EPSG:7837",
        True,
    )
    assert any("no vertical CRS" in w and "GEO-5" in w for w in report.warnings)
    assert _ellipsoidal_height(path) == pytest.approx(HAMBURG_H_ELL, abs=1e-3)


def test_geokeys_with_vertical_key(tmp_path: Path) -> None:
    keys = [(1024, PROJECTED), (3072, UTM32), (4096, DHHN2016), (4099, METRE)]
    path = write_las(tmp_path / "keys3d.las", [HAMBURG], vlrs=[geokey_vlr(keys)])
    with open_point_cloud(path) as cloud:
        crs = cloud.crs()
        assert cloud.file_crs().record == "GeoTIFF keys"
    assert (crs.horizontal_code, crs.vertical_code, crs.assumed_vertical) == (
        "EPSG:25832",
        "EPSG:7837",
        False,
    )
    assert _ellipsoidal_height(path) == pytest.approx(HAMBURG_H_ELL, abs=1e-3)


@pytest.mark.parametrize(("crs", "assumed"), [("EPSG:25832+7837", False), ("EPSG:25832", True)])
def test_wkt_compound_and_2d(tmp_path: Path, crs: str, assumed: bool) -> None:
    path = write_wkt_las(tmp_path / "wkt.las", [HAMBURG], crs)
    with open_point_cloud(path) as cloud:
        resolved = cloud.crs()
        assert cloud.file_crs().record == "WKT VLR"
    assert resolved.vertical_code == "EPSG:7837"
    assert resolved.assumed_vertical is assumed
    assert _ellipsoidal_height(path) == pytest.approx(HAMBURG_H_ELL, abs=1e-3)


def test_us_feet_horizontal_and_vertical_are_converted(tmp_path: Path) -> None:
    """ProjLinearUnitsGeoKey/VerticalUnitsGeoKey in US feet: PROJ gets the units right."""
    feet = [HAMBURG[0] / US_FOOT, HAMBURG[1] / US_FOOT, HAMBURG[2] / US_FOOT]
    keys = [(1024, PROJECTED), (3072, UTM32), (3076, FT_US), (4096, DHHN2016), (4099, FT_US)]
    path = write_las(tmp_path / "feet.las", [feet], scale=0.0001, vlrs=[geokey_vlr(keys)])
    with open_point_cloud(path) as cloud:
        crs = cloud.crs()
        notes = cloud.file_crs().notes
    assert crs.horizontal is not None and crs.vertical is not None
    assert crs.horizontal.axis_info[0].unit_name == "US survey foot"
    assert crs.vertical.axis_info[0].unit_name == "US survey foot"
    assert any("ProjLinearUnitsGeoKey" in n for n in notes)
    geodetic_h = _ellipsoidal_height(path)
    assert geodetic_h == pytest.approx(HAMBURG_H_ELL, abs=2e-3)


def test_vertical_datum_code_in_the_crs_key(tmp_path: Path) -> None:
    """4096 = 5103 is the NAVD88 *datum*; with 4099 = US feet that is EPSG:6360."""
    keys = [(1024, PROJECTED), (3072, 2903), (4096, 5103), (4099, FT_US)]
    path = write_las(
        tmp_path / "datum.las", [(1_640_000.0, 1_454_600.0, 7100.0)], vlrs=[geokey_vlr(keys)]
    )
    with open_point_cloud(path) as cloud:
        crs = cloud.crs()
        notes = cloud.file_crs().notes
    assert (crs.horizontal_code, crs.vertical_code) == ("EPSG:2903", "EPSG:6360")
    assert any("vertical datum code 5103" in n for n in notes)


def test_wkt_wins_for_point_format_6_even_when_geokeys_disagree(tmp_path: Path) -> None:
    keys = geokey_vlr([(1024, PROJECTED), (3072, 25833)])
    import pyproj

    wkt = pyproj.CRS.from_user_input("EPSG:25832+7837").to_wkt(version="WKT1_GDAL")
    path = write_las(
        tmp_path / "both.las",
        [HAMBURG],
        point_format=6,
        version="1.4",
        vlrs=[keys, wkt_vlr(wkt)],
        wkt_bit=True,
    )
    with open_point_cloud(path) as cloud:
        found = cloud.file_crs()
    assert found.record == "WKT VLR"
    assert found.crs is not None and found.crs.horizontal_code == "EPSG:25832"
    assert any("GeoTIFF keys not used" in n for n in found.notes)


def test_geokeys_win_for_legacy_formats(tmp_path: Path) -> None:
    import pyproj

    wkt = pyproj.CRS.from_epsg(25833).to_wkt(version="WKT1_GDAL")
    keys = geokey_vlr([(1024, PROJECTED), (3072, UTM32), (4096, DHHN2016)])
    path = write_las(tmp_path / "legacy.las", [HAMBURG], vlrs=[keys, wkt_vlr(wkt)])
    with open_point_cloud(path) as cloud:
        found = cloud.file_crs()
    assert found.record == "GeoTIFF keys"
    assert found.crs is not None and found.crs.to_string() == "EPSG:25832+7837"


# -- missing or wrong CRS --------------------------------------------------------------------


def test_no_crs_asks_for_in_crs_and_in_crs_wins(tmp_path: Path) -> None:
    path = write_las(tmp_path / "nocrs.las", [HAMBURG])
    with open_point_cloud(path) as cloud:
        with pytest.raises(CRSError, match=r"no CRS in the file.*--in-crs") as err:
            cloud.crs()
        assert str(path) in str(err.value)
        crs = cloud.crs(in_crs="EPSG:25832+7837")
    assert crs.to_string() == "EPSG:25832+7837"
    with open_point_cloud(path, in_crs="EPSG:25832") as cloud:
        assert cloud.crs().vertical_code == "EPSG:7837"  # GEO-5 default on the reader's in_crs


def test_in_crs_overriding_the_file_is_noted(tmp_path: Path) -> None:
    keys = geokey_vlr([(1024, PROJECTED), (3072, 25833)])
    path = write_las(tmp_path / "other.las", [(400000.0, 5800000.0, 30.0)], vlrs=[keys])
    report = JobReport()
    with open_point_cloud(path) as cloud:
        crs = cloud.crs(in_crs="EPSG:25832+7837", report=report)
    assert crs.horizontal_code == "EPSG:25832"
    assert any("overrides the file's CRS EPSG:25833" in w for w in report.warnings)


def test_geographic_crs_with_projected_coordinates_is_refused(tmp_path: Path) -> None:
    keys = geokey_vlr([(1024, 2), (2048, 4326)])
    path = write_las(tmp_path / "geo.las", [HAMBURG], vlrs=[keys])
    with open_point_cloud(path) as cloud, pytest.raises(CRSError, match="not longitudes"):
        cloud.crs()


def test_geocentric_crs_needs_points_near_the_surface(tmp_path: Path) -> None:
    wkt = wkt_vlr(
        'GEOCCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
        'PRIMEM["Greenwich",0],UNIT["metre",1],AXIS["Geocentric X",OTHER],'
        'AXIS["Geocentric Y",OTHER],AXIS["Geocentric Z",NORTH]]'
    )
    far = write_las(tmp_path / "far.las", [(515_000.0, 4_918_000.0, 2300.0)], vlrs=[wkt])
    with open_point_cloud(far) as cloud, pytest.raises(CRSError, match="geocentric"):
        cloud.crs()
    ecef = (3739137.706, 659068.813, 5107828.750)  # GEO-2 Hamburg in ECEF
    near = write_las(tmp_path / "near.las", [ecef], vlrs=[wkt])
    with open_point_cloud(near) as cloud:
        assert cloud.crs().horizontal_code == "EPSG:4978"


def test_data_outside_the_area_of_use_is_a_warning(tmp_path: Path) -> None:
    path = write_las(tmp_path / "far.las", [(637000.0, 849000.0, 400.0)])
    report = JobReport()
    with open_point_cloud(path) as cloud:
        cloud.crs(in_crs="EPSG:25832+7837", report=report)
    assert any("outside the area of use" in w for w in report.warnings)


def test_user_defined_geokeys_are_not_guessed(tmp_path: Path) -> None:
    keys = geokey_vlr([(1024, PROJECTED), (3072, 32767), (3075, 8)])
    path = write_las(tmp_path / "user.las", [HAMBURG], vlrs=[keys])
    with open_point_cloud(path) as cloud, pytest.raises(CRSError, match=r"user-defined.*--in-crs"):
        cloud.crs()


def test_decode_geokeys_skips_zero_entries_and_reads_parameters() -> None:
    directory = (
        np.array([1, 1, 0, 4, 1024, 0, 1, 1, 0, 0, 0, 0, 3073, 34737, 5, 0, 2062, 34736, 2, 0])
        .astype("<u2")
        .tobytes()
    )
    keys = decode_geokeys(directory, np.array([1.5, 2.5]).tobytes(), b"UTM32|rest")
    assert keys.values == {1024: 1, 3073: "UTM32", 2062: (1.5, 2.5)}
    assert any("key id 0" in n for n in keys.notes)
    with pytest.raises(ValueError, match="shorter"):
        decode_geokeys(b"\x01\x00", b"", b"")
