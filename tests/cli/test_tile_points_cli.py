"""``citymodel tile`` with LAS/LAZ inputs: dispatch to the point tiler, options, usage errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from citymodel.cli.main import cli
from citymodel.synthetic_points import SyntheticPointCloudOptions, write_point_cloud
from tests.fresh_interpreter import last_line
from tests.tiler.points_helpers import city_points, read_tileset, write_cloud


@pytest.fixture(scope="module")
def lidar(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("lidar")
    cloud = city_points(8000, seed=5)
    write_cloud(folder / "a.laz", cloud, stop=5000)
    write_cloud(folder / "b.laz", cloud, start=5000)
    return folder, cloud


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_tile_point_clouds(lidar: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    folder, cloud = lidar
    out = tmp_path / "lidar"
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli,
        [
            "tile",
            str(folder / "*.laz"),
            "-o",
            str(out),
            "--jobs",
            "1",
            "--classes",
            "2,6",
            "--points-per-tile",
            "1000",
            "--extra-dims",
            "gps_time",
            "--report",
            str(report_path),
        ],
    )
    assert result.exit_code == 0, result.output
    selected = int(((cloud["classification"] == 2) | (cloud["classification"] == 6)).sum())
    assert f"{selected:,} of {selected:,} points" in result.output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["tiling"]["points"]["written"] == selected
    assert report["tiling"]["points"]["classes"] == [2, 6]
    assert "gps_time" in report["tiling"]["points"]["attributes"]
    assert len(report["inputs"]) == 2
    assert read_tileset(out).root.refine == "ADD"
    assert _hidden(tmp_path) == []


def test_tile_point_clouds_version_1_0_from_a_folder(
    lidar: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    folder, _ = lidar
    out = tmp_path / "pnts"
    result = CliRunner().invoke(
        cli, ["tile", str(folder), "-o", str(out), "--jobs", "1", "--tiles-version", "1.0"]
    )
    assert result.exit_code == 0, result.output
    assert any(out.rglob("*.pnts")) and not any(out.rglob("*.glb"))


def test_mixing_point_clouds_and_city_models_is_a_usage_error(
    lidar: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    folder, _ = lidar
    gml = tmp_path / "city.gml"
    gml.write_text('<?xml version="1.0"?><CityModel/>', encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["tile", str(folder / "a.laz"), str(gml), "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert "mix point clouds (a.laz) and city models (city.gml)" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lod", "2"], "--lod: not for point cloud inputs"),
        (["--compress", "meshopt"], "--compress: not for point cloud inputs"),
        (["--classes", "2,300"], "class codes are 0..255"),
        (["--classes", "ground"], "give class codes like 2,6"),
        (["--points-per-tile", "10"], "10 is not in the range x>=1000"),
    ],
)
def test_point_option_errors(
    lidar: tuple[Path, dict[str, Any]], tmp_path: Path, args: list[str], message: str
) -> None:
    folder, _ = lidar
    result = CliRunner().invoke(cli, ["tile", str(folder), "-o", str(tmp_path / "o"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_point_options_are_refused_for_city_models(tmp_path: Path) -> None:
    gml = tmp_path / "city.gml"
    gml.write_text('<?xml version="1.0"?><CityModel/>', encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["tile", str(gml), "-o", str(tmp_path / "o"), "--classes", "2"]
    )
    assert result.exit_code == 2
    assert "--classes: only for point cloud inputs" in result.output


def test_missing_crs_is_a_one_line_error(tmp_path: Path) -> None:
    path = write_cloud(tmp_path / "nocrs.laz", city_points(500, seed=1), crs=None)
    result = CliRunner().invoke(cli, ["tile", str(path), "-o", str(tmp_path / "o"), "-j", "1"])
    assert result.exit_code == 1
    assert "no CRS in the file" in result.output and "--in-crs" in result.output
    result = CliRunner().invoke(
        cli,
        ["tile", str(path), "-o", str(tmp_path / "o"), "-j", "1", "--in-crs", "EPSG:25832+7837"],
    )
    assert result.exit_code == 0, result.output


def test_convert_refuses_a_point_cloud_with_a_pointer_to_tile(tmp_path: Path) -> None:
    cloud = tmp_path / "scan.laz"
    write_point_cloud(cloud, SyntheticPointCloudOptions(n_points=500))
    result = CliRunner().invoke(cli, ["convert", str(cloud), "-o", str(tmp_path / "x.glb")])
    assert result.exit_code == 1
    assert "scan.laz" in result.output and "citymodel tile" in result.output
    assert not (tmp_path / "x.glb").exists()


@pytest.mark.parametrize(
    ("inputs", "jobs", "executor", "started"),
    [
        (["a.laz", "b.LAS"], None, "local", True),
        (["scan/*.laz"], "2", "local", True),
        (["a.laz"], "1", "local", False),  # one job: no pool
        (["a.laz", "city.gml"], "2", "local", False),  # mixed: a usage error follows
        (["city.gml"], "2", "local", False),
        (["a.laz"], "2", "dask", False),  # Dask workers have no fork server
    ],
)
def test_point_workers_start_before_the_tiler_is_imported(
    monkeypatch: pytest.MonkeyPatch,
    inputs: list[str],
    jobs: str | None,
    executor: str,
    started: bool,
) -> None:
    from citymodel.cli import tile as tile_command

    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(tile_command, "start_fork_server", lambda modules: calls.append(modules))
    monkeypatch.setattr(tile_command, "default_jobs", lambda: 2)
    tile_command._start_point_workers(inputs, None if jobs is None else int(jobs), executor)
    if started:
        from citymodel.tiler.points import WORKER_MODULES

        assert calls == [WORKER_MODULES]
    else:
        assert calls == []


_EARLY_SERVER = """
import sys


def loaded(_):
    return [n for n in ("citymodel.converters.las", "laspy", "lxml.etree") if n in sys.modules]


if __name__ == "__main__":
    from citymodel.tiler._pool import PRELOAD, TaskRunner, start_fork_server
    from citymodel.tiler.points import WORKER_MODULES

    start_fork_server(WORKER_MODULES)
    # a pool made later (here with the city tiler's preload) forks from the running server
    with TaskRunner(2, preload=PRELOAD) as runner:
        print(sorted({n for found in runner.map(loaded, range(4)) for n in found}))
"""


def test_a_fork_server_started_early_serves_the_later_pool(tmp_path: Path) -> None:
    loaded = last_line(tmp_path, "early_server.py", _EARLY_SERVER)
    assert loaded == str(["citymodel.converters.las", "laspy"])
