"""Chunked, seekable point reading: ranges, parallel readers, classes, colours, extra dims."""

from __future__ import annotations

import json
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import laspy
import numpy as np
import numpy.typing as npt
import pytest
from click.testing import CliRunner

from citymodel.cli.main import cli
from citymodel.converters.las import LAS_FORMAT, compare_bounds, open_point_cloud
from citymodel.errors import InputError, UnsupportedFormatError
from citymodel.formats import format_for
from citymodel.model import PointChunk
from citymodel.sources import open as open_source
from citymodel.synthetic import SyntheticCityOptions
from citymodel.synthetic_points import SyntheticPointCloudOptions, write_point_cloud
from tests.converters.las_fixtures import write_las


@pytest.fixture(scope="module")
def cloud_laz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated LAZ of 120,000 points (several LAZ chunks of 50,000) with RGB."""
    path = tmp_path_factory.mktemp("las") / "city.laz"
    city = SyntheticCityOptions(n_buildings=16, tile_size_m=200.0)
    write_point_cloud(path, SyntheticPointCloudOptions(n_points=120_000, city=city))
    return path


def _concat(chunks: list[PointChunk]) -> dict[str, npt.NDArray[np.generic]]:
    out: dict[str, npt.NDArray[np.generic]] = {"xyz": np.concatenate([c.xyz for c in chunks])}
    for name in chunks[0].attributes:
        out[name] = np.concatenate([c.attributes[name] for c in chunks])
    return out


def _read_range(path: Path, start: int, stop: int) -> dict[str, npt.NDArray[np.generic]]:
    with open_point_cloud(path) as cloud:
        return _concat(list(cloud.read(start, stop, chunk_size=17_000)))


def test_full_read_matches_laspy(cloud_laz: Path) -> None:
    data = laspy.read(cloud_laz)
    with open_point_cloud(cloud_laz) as cloud:
        assert cloud.format_name == "LAZ" and cloud.version == "1.4" and cloud.point_format == 7
        got = _concat(list(cloud.read(chunk_size=50_001)))
    np.testing.assert_array_equal(got["xyz"], np.stack([data.x, data.y, data.z], axis=1))
    np.testing.assert_array_equal(got["classification"], np.asarray(data.classification))
    np.testing.assert_array_equal(got["intensity"], np.asarray(data.intensity))
    np.testing.assert_array_equal(got["return_number"], np.asarray(data.return_number))
    np.testing.assert_array_equal(got["number_of_returns"], np.asarray(data.number_of_returns))
    np.testing.assert_array_equal(got["color"][:, 0], np.asarray(data.red) // 257)
    assert got["xyz"].dtype == np.float64 and got["color"].dtype == np.uint8


@pytest.mark.parametrize("split", [1, 49_999, 50_000, 60_001, 119_999])
def test_two_ranges_equal_the_whole(cloud_laz: Path, split: int) -> None:
    whole = _read_range(cloud_laz, 0, 120_000)
    first, second = _read_range(cloud_laz, 0, split), _read_range(cloud_laz, split, 120_000)
    for name, values in whole.items():
        np.testing.assert_array_equal(np.concatenate([first[name], second[name]]), values)


def test_two_processes_read_disjoint_ranges(cloud_laz: Path) -> None:
    """The tiler's parallel plan: spawned workers seek to their own range of one file."""
    whole = _read_range(cloud_laz, 0, 120_000)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        halves = list(pool.map(_read_range, [cloud_laz] * 2, [0, 70_000], [70_000, 120_000]))
    for name, values in whole.items():
        np.testing.assert_array_equal(np.concatenate([h[name] for h in halves]), values)


def test_uncompressed_ranges(tmp_path: Path, cloud_laz: Path) -> None:
    las = tmp_path / "city.las"
    laspy.read(cloud_laz).write(las)
    whole = _read_range(cloud_laz, 0, 120_000)
    parts = [_read_range(las, a, b) for a, b in ((0, 33_333), (33_333, 90_000), (90_000, 120_000))]
    for name, values in whole.items():
        np.testing.assert_array_equal(np.concatenate([p[name] for p in parts]), values)


def test_class_filter_keeps_exactly_those_classes(cloud_laz: Path) -> None:
    with open_point_cloud(cloud_laz) as cloud:
        classes = cloud.scan().classes
        assert {2, 6}.issubset(classes)
        chunks = list(cloud.read(classes={2, 6}, chunk_size=30_000, extra_dims=["gps_time"]))
    got = _concat(chunks)
    kept = got["classification"]
    assert set(np.unique(kept).tolist()) == {2, 6}
    assert len(kept) == classes[2] + classes[6] == len(got["xyz"]) == len(got["gps_time"])
    assert np.all(np.diff(got["gps_time"]) > 0)  # rows stay aligned after filtering
    with open_point_cloud(cloud_laz) as cloud:
        assert list(cloud.read(classes={200})) == []
        with pytest.raises(ValueError, match=r"0\.\.255"):
            cloud.read(classes={256})


def test_bad_arguments_fail_at_once(cloud_laz: Path) -> None:
    with open_point_cloud(cloud_laz) as cloud:
        with pytest.raises(ValueError, match="not within"):
            cloud.read(10, 5)
        with pytest.raises(ValueError, match="not within"):
            cloud.read(0, 120_001)
        with pytest.raises(ValueError, match="chunk_size"):
            cloud.read(chunk_size=0)
        with pytest.raises(InputError, match=r"no dimension 'nope'.*gps_time"):
            cloud.read(extra_dims=["nope"])


# -- colours (LAS-2) ---------------------------------------------------------------------------


def _colors(path: Path, **options: object) -> npt.NDArray[np.uint8] | None:
    with open_point_cloud(path, **options) as cloud:  # type: ignore[arg-type]
        chunk = next(cloud.read())
    color = chunk.attributes.get("color")
    return None if color is None else np.asarray(color, dtype=np.uint8)


def test_16_bit_colours_are_scaled_by_rounding(tmp_path: Path) -> None:
    rgb = [(65535, 0, 32896), (257 * 17, 128, 127), (65280, 300, 65535)]
    path = write_las(tmp_path / "c16.las", [(0, 0, 0), (1, 1, 1), (2, 2, 2)], rgb=rgb)
    got = _colors(path)
    assert got is not None
    assert got.tolist() == [[255, 0, 128], [17, 0, 0], [254, 1, 255]]


def test_8_bit_values_in_16_bit_fields_are_kept(tmp_path: Path) -> None:
    rgb = [(255, 0, 128), (17, 200, 3)]
    path = write_las(tmp_path / "c8.las", [(0, 0, 0), (1, 1, 1)], rgb=rgb)
    got = _colors(path)
    assert got is not None and got.tolist() == [[255, 0, 128], [17, 200, 3]]
    forced = _colors(path, color_depth=16)
    assert forced is not None and forced.tolist() == [[1, 0, 0], [0, 1, 0]]


def test_all_zero_colours_are_dropped_and_formats_without_colour_have_none(tmp_path: Path) -> None:
    zero = write_las(tmp_path / "c0.las", [(0, 0, 0), (1, 1, 1)], rgb=[(0, 0, 0), (0, 0, 0)])
    assert _colors(zero) is None
    plain = write_las(tmp_path / "pf1.las", [(0, 0, 0)], point_format=1)
    assert _colors(plain) is None


def test_colour_depth_is_decided_for_the_whole_file(tmp_path: Path) -> None:
    """A dark start must not flip the decision: the sample spans start, middle and end."""
    n = 200_000
    rgb = np.zeros((n, 3), dtype=np.uint16)
    rgb[-10:] = 60000  # only the end of the file is bright
    xyz = np.zeros((n, 3))
    xyz[:, 0] = np.arange(n) * 0.01
    path = write_las(tmp_path / "late.las", xyz, rgb=rgb)
    with open_point_cloud(path) as cloud:
        assert cloud.color_depth() == 16
        first = next(cloud.read(0, 10))
    assert first.attributes["color"].tolist() == [[0, 0, 0]] * 10


# -- extra dimensions ----------------------------------------------------------------------------


def test_scaled_extra_bytes_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "extra.laz"
    city = SyntheticCityOptions(n_buildings=4, tile_size_m=100.0)
    options = SyntheticPointCloudOptions(n_points=5_000, city=city, extra_dimension=True)
    write_point_cloud(path, options)
    with open_point_cloud(path) as cloud:
        assert cloud.extra_dimensions() == ("height_above_ground",)
        chunk = next(cloud.read(extra_dims=["height_above_ground"]))
    height = chunk.attributes["height_above_ground"]
    assert height.dtype == np.float64 and height.shape == (5_000,)
    classes = chunk.attributes["classification"]
    assert np.all(np.abs(height[classes == 2]) < 0.02)
    assert np.all(height[classes == 5] >= 1.99)
    assert np.all((height[classes == 4] >= 0.49) & (height[classes == 4] < 2.01))
    assert np.all(height[classes == 3] < 0.51)
    assert np.all(height[classes == 6] > -0.1) and height[classes == 6].max() > 3.0


# -- bounds, registry, info --------------------------------------------------------------------


def test_compare_bounds() -> None:
    scales = (0.01, 0.01, 0.01)
    box = (0.0, 0.0, 0.0, 10.0, 10.0, 10.0)
    assert compare_bounds(box, box, scales) is None
    assert compare_bounds(box, (0.0, 0.0, 0.005, 10.0, 10.0, 10.0), scales) is None
    assert "not tight" in (compare_bounds(box, (0.0, 0.0, 0.0, 10.0, 10.0, 2.0), scales) or "")
    assert "outside" in (compare_bounds(box, (0.0, 0.0, 0.0, 10.0, 10.0, 12.0), scales) or "")


def test_plugin_sniffs_opens_and_refuses_features(cloud_laz: Path, tmp_path: Path) -> None:
    assert format_for(cloud_laz) is LAS_FORMAT
    not_las = tmp_path / "x.laz"
    not_las.write_bytes(b"PK\x03\x04 not a point cloud")
    assert not LAS_FORMAT.sniff(not_las)
    with open_source(cloud_laz) as reader:
        assert reader.metadata().counts == {"points": 120_000}
        with pytest.raises(UnsupportedFormatError, match=r"point cloud.*citymodel tile"):
            reader.features()


def test_reader_pickles_for_worker_processes(cloud_laz: Path) -> None:
    with open_point_cloud(cloud_laz, in_crs="EPSG:25832+7837", color_depth=16) as cloud:
        copy = pickle.loads(pickle.dumps(cloud))
    assert copy.path == cloud_laz and copy.in_crs == "EPSG:25832+7837"
    assert copy.color_depth() == 16 and copy.point_count == 120_000


def test_metadata_and_info_cli(cloud_laz: Path) -> None:
    with open_point_cloud(cloud_laz) as cloud:
        meta = cloud.metadata()
    assert meta.format == "LAZ" and meta.version == "1.4"
    assert (meta.horizontal_crs, meta.vertical_crs) == ("EPSG:25832", "EPSG:7837")
    assert meta.details["header_bounds_tight"] is True
    assert meta.details["color"] == "16-bit"
    classes = meta.details["classes"]
    assert isinstance(classes, dict) and sum(classes.values()) == 120_000
    result = CliRunner().invoke(cli, ["info", str(cloud_laz), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["counts"] == {"points": 120_000}
    assert info["points"]["point_formats"] == [7]
    assert info["files"][0]["details"]["classes"] == classes
    text = CliRunner().invoke(cli, ["info", str(cloud_laz)])
    assert text.exit_code == 0, text.output
    assert "point format: 7" in text.output and "classes:" in text.output
    assert "header bounds: tight" in text.output


@pytest.mark.slow
def test_reading_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """LAS-3: streaming; traced peak for a file 3× as large stays that of the smaller one."""
    import tracemalloc

    city = SyntheticCityOptions(n_buildings=16, tile_size_m=200.0)
    peaks = []
    for n in (120_000, 360_000):
        path = tmp_path / f"m{n}.laz"
        write_point_cloud(path, SyntheticPointCloudOptions(n_points=n, city=city))
        with open_point_cloud(path) as cloud:
            cloud.color_depth()
            tracemalloc.start()
            total = sum(len(c) for c in cloud.read(chunk_size=20_000))
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        assert total == n
    assert peaks[1] < 1.3 * peaks[0], peaks
    assert peaks[1] < 12e6, peaks
