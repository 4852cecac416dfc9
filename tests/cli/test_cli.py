"""The command line: contract names, exit codes, one-line errors, nothing written on failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from citymodel import __version__
from citymodel.cli.main import cli
from citymodel.synthetic import SyntheticCityOptions, write_city


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("city") / "city.gml"
    write_city(path, SyntheticCityOptions(n_buildings=12, seed=5))
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real console script in a subprocess (what users see, incl. tracebacks)."""
    exe = Path(sys.executable).with_name("citymodel")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_info_json_contract(city: Path) -> None:
    result = CliRunner().invoke(cli, ["info", str(city), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["format"] == "CityGML"
    assert info["version"] == "2.0"
    assert info["crs"] == {"horizontal": "EPSG:25832", "vertical": "EPSG:7837"}
    assert info["counts"]["Building"] == 12
    assert len(info["extent"]) == 6
    assert "measuredHeight" in info["attribute_names"]


def test_info_text(city: Path) -> None:
    result = CliRunner().invoke(cli, ["info", str(city)])
    assert result.exit_code == 0, result.output
    assert "EPSG:25832" in result.output
    assert "Building 12" in result.output


@pytest.mark.parametrize("suffix", [".glb", ".gltf", ".obj"])
def test_convert_writes_each_format_and_report(city: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"city{suffix}"
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli, ["convert", str(city), "-o", str(out), "--report", str(report_path)]
    )
    assert result.exit_code == 0, result.output
    assert out.is_file() and out.stat().st_size > 0
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert set(report) >= {"inputs", "crs", "counts", "skipped"}
    assert report["counts"]["read"]["Building"] == 12
    assert report["counts"]["written"]["Building"] == 12
    assert report["skipped"] == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], (
        "temporary files left behind"
    )


def test_usage_errors_exit_2(city: Path, tmp_path: Path) -> None:
    assert CliRunner().invoke(cli, ["convert", str(city)]).exit_code == 2  # no -o
    assert (
        CliRunner().invoke(cli, ["convert", str(city), "-o", "x.glb", "--frame", "utm"]).exit_code
        == 2
    )
    bad_suffix = CliRunner().invoke(cli, ["convert", str(city), "-o", str(tmp_path / "x.dae")])
    assert bad_suffix.exit_code == 2
    assert ".glb" in bad_suffix.output


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_missing_input(tmp_path: Path) -> None:
    proc = run("convert", str(tmp_path / "nope.gml"), "-o", str(tmp_path / "o.glb"))
    _assert_one_line_error(proc, "nope.gml")


def test_truncated_file(city: Path, tmp_path: Path) -> None:
    broken = tmp_path / "truncated.gml"
    data = city.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    out = tmp_path / "o.glb"
    proc = run("convert", str(broken), "-o", str(out))
    _assert_one_line_error(proc, "truncated.gml:")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [broken]


def test_not_xml(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gml"
    junk.write_bytes(os.urandom(2048))
    proc = run("convert", str(junk), "-o", str(tmp_path / "o.glb"))
    _assert_one_line_error(proc, "junk.gml")
    assert not (tmp_path / "o.glb").exists()


def test_debug_shows_traceback(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gml"
    junk.write_text("<notcitygml/>", encoding="utf-8")
    proc = run("--debug", "convert", str(junk), "-o", str(tmp_path / "o.glb"))
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr


def test_strict_turns_skips_into_failure(tmp_path: Path) -> None:
    gml = tmp_path / "dangling.gml"
    gml.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<core:CityModel xmlns:core="http://www.opengis.net/citygml/2.0" xmlns:gml="http://www.opengis.net/gml"
 xmlns:bldg="http://www.opengis.net/citygml/building/2.0" xmlns:xlink="http://www.w3.org/1999/xlink">
 <gml:boundedBy><gml:Envelope srsName="EPSG:25832+7837" srsDimension="3">
  <gml:lowerCorner>566000 5935000 10</gml:lowerCorner><gml:upperCorner>566010 5935010 20</gml:upperCorner>
 </gml:Envelope></gml:boundedBy>
 <core:cityObjectMember><bldg:Building gml:id="B_OK">
  <bldg:lod1MultiSurface><gml:MultiSurface><gml:surfaceMember><gml:Polygon><gml:exterior><gml:LinearRing>
   <gml:posList>566000 5935000 10 566010 5935000 10 566010 5935010 10 566000 5935000 10</gml:posList>
  </gml:LinearRing></gml:exterior></gml:Polygon></gml:surfaceMember></gml:MultiSurface></bldg:lod1MultiSurface>
 </bldg:Building></core:cityObjectMember>
 <core:cityObjectMember><bldg:Building gml:id="B_EMPTY"><bldg:measuredHeight>3</bldg:measuredHeight></bldg:Building></core:cityObjectMember>
</core:CityModel>
""",
        encoding="utf-8",
    )
    lenient = tmp_path / "lenient.glb"
    report = tmp_path / "r.json"
    proc = run("convert", str(gml), "-o", str(lenient), "--report", str(report))
    assert proc.returncode == 0, proc.stderr
    skipped = json.loads(report.read_text(encoding="utf-8"))["skipped"]
    assert [s["id"] for s in skipped] == ["B_EMPTY"]
    assert skipped[0]["file"].endswith("dangling.gml")
    assert skipped[0]["line"] == 12
    strict = tmp_path / "strict.glb"
    proc = run("convert", str(gml), "-o", str(strict), "--strict")
    _assert_one_line_error(proc, "B_EMPTY")
    assert not strict.exists()


def test_types_selects_and_rejects_unread_types(city: Path, tmp_path: Path) -> None:
    ok = CliRunner().invoke(
        cli, ["convert", str(city), "-o", str(tmp_path / "b.glb"), "--types", "Building"]
    )
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(
        cli, ["convert", str(city), "-o", str(tmp_path / "r.glb"), "--types", "Building,Spaceship"]
    )
    assert bad.exit_code == 2
    assert "Spaceship" in bad.output and "Building" in bad.output
    assert not (tmp_path / "r.glb").exists()
