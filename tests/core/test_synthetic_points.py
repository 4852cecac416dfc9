"""Synthetic LiDAR of the synthetic city: content, CRS records, determinism, bounded memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import laspy
import numpy as np
import pytest
from click.testing import CliRunner

from citymodel.cli.main import cli
from citymodel.synthetic import SyntheticCityOptions, plan_city_building
from citymodel.synthetic_points import (
    STRIP_POINTS,
    SyntheticPointCloudOptions,
    write_point_cloud,
)

SMALL_CITY = SyntheticCityOptions(n_buildings=9, tile_size_m=150.0, seed=3)


@pytest.fixture(scope="module")
def laz(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SyntheticPointCloudOptions]:
    options = SyntheticPointCloudOptions(n_points=300_000, city=SMALL_CITY)
    path = tmp_path_factory.mktemp("points") / "city.laz"
    summary = write_point_cloud(path, options)
    assert summary.n_points == 300_000 and summary.bytes == path.stat().st_size
    return path, options


def test_round_trip_content(laz: tuple[Path, SyntheticPointCloudOptions]) -> None:
    path, _options = laz
    data = laspy.read(path)
    assert data.header.version == "1.4" and data.header.point_format.id == 7
    assert len(data.points) == 300_000
    classes = set(np.unique(np.asarray(data.classification)).tolist())
    assert {2, 6, 7}.issubset(classes) and classes & {3, 4, 5}
    assert classes <= {2, 3, 4, 5, 6, 7}
    x, y = np.asarray(data.x), np.asarray(data.y)
    e0, n0 = SMALL_CITY.origin
    assert x.min() >= e0 and x.max() <= e0 + 150.0 and y.min() >= n0 and y.max() <= n0 + 150.0
    assert np.asarray(data.red).max() > 255  # 16-bit colours
    assert np.all(np.diff(np.asarray(data.gps_time)) > 0)
    returns, counts = np.asarray(data.return_number), np.asarray(data.number_of_returns)
    assert np.all((returns >= 1) & (returns <= counts))
    crs = data.header.parse_crs()
    assert crs is not None and crs.is_compound
    assert [c.to_epsg() for c in crs.sub_crs_list] == [25832, 7837]


def test_header_bounds_are_tight(laz: tuple[Path, SyntheticPointCloudOptions]) -> None:
    path, _ = laz
    data = laspy.read(path)
    xyz = np.stack([data.x, data.y, data.z], axis=1)
    np.testing.assert_allclose(data.header.mins, xyz.min(axis=0), atol=1e-9)
    np.testing.assert_allclose(data.header.maxs, xyz.max(axis=0), atol=1e-9)


def test_roofs_match_the_city_buildings(laz: tuple[Path, SyntheticPointCloudOptions]) -> None:
    """Class 6 points near each building reach its roof top (ground_z + measuredHeight)."""
    path, _ = laz
    data = laspy.read(path)
    roof = np.asarray(data.classification) == 6
    x, y, z = np.asarray(data.x)[roof], np.asarray(data.y)[roof], np.asarray(data.z)[roof]
    for index in range(SMALL_CITY.n_buildings):
        plan = plan_city_building(SMALL_CITY, index)
        near = np.hypot(x - plan.centre[0], y - plan.centre[1]) < 25.0
        assert near.sum() > 100, plan.gml_id
        top = plan.ground_z + max(part.measured_height for part in plan.parts)
        assert z[near].max() == pytest.approx(top, abs=0.15), plan.gml_id
        assert z[near].min() >= plan.ground_z - 0.15, plan.gml_id


def test_legacy_format_writes_geotiff_keys_with_vertical(tmp_path: Path) -> None:
    options = SyntheticPointCloudOptions(n_points=5_000, city=SMALL_CITY, point_format=3)
    path = write_point_cloud(tmp_path / "legacy.las", options).path
    header = laspy.read(path).header
    assert header.version == "1.2" and header.point_format.id == 3
    directory = next(v for v in header.vlrs if v.record_id == 34735)
    keys = {k.id: k.value_offset for k in directory.geo_keys}  # laspy's GeoKeyDirectoryVlr
    assert keys[3072] == 25832 and keys[4096] == 7837 and keys[1024] == 1


def test_formats_without_colour_or_crs(tmp_path: Path) -> None:
    options = SyntheticPointCloudOptions(n_points=2_000, city=SMALL_CITY, point_format=6, crs=None)
    data = laspy.read(write_point_cloud(tmp_path / "plain.laz", options).path)
    assert data.header.point_format.id == 6
    assert "red" not in data.point_format.dimension_names
    assert data.header.parse_crs() is None


def test_same_options_same_bytes_other_seed_other_points(tmp_path: Path) -> None:
    options = SyntheticPointCloudOptions(n_points=STRIP_POINTS + 1_000, city=SMALL_CITY)
    a = write_point_cloud(tmp_path / "a.las", options).path
    b = write_point_cloud(tmp_path / "b.las", options).path
    assert a.read_bytes() == b.read_bytes()
    other = SyntheticPointCloudOptions(
        n_points=STRIP_POINTS + 1_000,
        city=SyntheticCityOptions(n_buildings=9, tile_size_m=150.0, seed=4),
    )
    c = write_point_cloud(tmp_path / "c.las", other).path
    assert a.read_bytes() != c.read_bytes()


@pytest.mark.slow
def test_memory_is_bounded_by_the_strip(tmp_path: Path) -> None:
    """Peak traced memory for 4 strips stays at that of 1 strip (streamed writing)."""
    peaks = []
    for n in (STRIP_POINTS, 4 * STRIP_POINTS):
        options = SyntheticPointCloudOptions(n_points=n, city=SMALL_CITY)
        tracemalloc.start()
        write_point_cloud(tmp_path / f"m{n}.laz", options)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.3 * peaks[0], peaks


def test_options_and_suffix_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_points"):
        SyntheticPointCloudOptions(n_points=0)
    with pytest.raises(ValueError, match="point_format"):
        SyntheticPointCloudOptions(point_format=8)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\.las or \.laz"):
        write_point_cloud(tmp_path / "x.txt", SyntheticPointCloudOptions(n_points=10))
    custom = 'LOCAL_CS["local",UNIT["metre",1]]'
    with pytest.raises(ValueError):
        write_point_cloud(
            tmp_path / "x.las",
            SyntheticPointCloudOptions(n_points=10, point_format=3, crs=custom),
        )
    assert not (tmp_path / "x.las").exists()


def test_cli_writes_points_by_suffix(tmp_path: Path) -> None:
    out = tmp_path / "scan.laz"
    result = CliRunner().invoke(
        cli, ["synthetic", str(out), "--points", "3000", "-n", "4", "--point-format", "6"]
    )
    assert result.exit_code == 0, result.output
    assert "3,000 points" in result.output
    assert laspy.read(out).header.point_format.id == 6
    wrong = CliRunner().invoke(cli, ["synthetic", str(tmp_path / "c.gml"), "--points", "10"])
    assert wrong.exit_code == 2 and ".las or .laz" in wrong.output
    missing = CliRunner().invoke(cli, ["synthetic", str(tmp_path / "c.laz")])
    assert missing.exit_code == 2 and "--points" in missing.output
