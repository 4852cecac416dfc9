"""``citymodel tile``: options, report, exit codes, one-line errors, nothing left on failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from citymodel.cli.main import cli
from citymodel.synthetic import SyntheticCityOptions, write_city_tiles
from citymodel.tiler.validate import validate_tileset


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("city")
    write_city_tiles(folder, SyntheticCityOptions(n_buildings=40, seed=11, tile_size_m=100))
    return folder


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize(
    ("args", "suffix"),
    [([], ""), (["--implicit"], ""), (["--tiles-version", "1.0"], ""), ([], ".3tz")],
)
def test_tile_writes_a_tileset_and_a_report(
    city: Path, tmp_path: Path, args: list[str], suffix: str
) -> None:
    out = tmp_path / f"tiles{suffix}"
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli, ["tile", str(city), "-o", str(out), "--jobs", "1", "--report", str(report_path), *args]
    )
    assert result.exit_code == 0, result.output
    assert "40 of 40 buildings" in result.output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["counts"]["read"]["Building"] == 40
    assert report["tiling"]["buildings"]["written"] == 40
    assert report["tiling"]["implicit"] == ("--implicit" in args)
    assert set(report["tiling"]["timings_s"]) == {"pass1", "plan", "pass2", "write"}
    assert len(report["inputs"]) == len(list(city.glob("*.gml"))) > 1
    if suffix:
        assert out.is_file()
    else:
        assert validate_tileset(out) == []
    assert hidden(tmp_path) == []


def test_usage_errors_exit_2(city: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["tile", str(city)]).exit_code == 2  # no -o
    out = str(tmp_path / "t")
    assert runner.invoke(cli, ["tile", str(city), "-o", out, "--jobs", "0"]).exit_code == 2
    both = runner.invoke(
        cli, ["tile", str(city), "-o", out, "--implicit", "--tiles-version", "1.0"]
    )
    assert both.exit_code == 2
    assert "1.1" in both.output
    assert runner.invoke(cli, ["tile", str(city), "-o", out, "--tiles-version", "2"]).exit_code == 2


def test_errors_exit_1_with_one_line_and_leave_nothing(city: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["tile", str(tmp_path / "nope.gml"), "-o", str(tmp_path / "t")])
    assert missing.exit_code == 1
    assert "nope.gml" in missing.output
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("x", "utf-8")
    refused = runner.invoke(cli, ["tile", str(city), "-o", str(folder), "--jobs", "1"])
    assert refused.exit_code == 1
    assert "not a tileset" in refused.output
    assert hidden(tmp_path) == []


def test_console_script_with_two_workers(city: Path, tmp_path: Path) -> None:
    """The real entry point (forkserver workers import it as their main module)."""
    exe = Path(sys.executable).with_name("citymodel")
    out = tmp_path / "tiles"
    proc = subprocess.run(
        [str(exe), "tile", str(city), "-o", str(out), "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "40 of 40 buildings" in proc.stderr
    assert validate_tileset(out) == []
    assert hidden(tmp_path) == []
