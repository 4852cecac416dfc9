"""Damaged LAS/LAZ files: a clear error or a documented warning within a time limit, never a hang.

Each case runs in a subprocess with a timeout: laspy 2.7 alone loops for ever on
``broken/las/garbage_nVariableLength.las`` (MANIFEST.md).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from citymodel.synthetic import SyntheticCityOptions
from citymodel.synthetic_points import SyntheticPointCloudOptions, write_point_cloud
from tests.conftest import BROKEN_LAS_DIR, SHARED
from tests.converters.las_fixtures import patch_bytes, write_las, write_wkt_las

TIME_LIMIT_S = 60
_PROBE = """
import json, sys
from citymodel.converters.las import open_point_cloud
from citymodel.errors import CityModelError
out = {}
try:
    with open_point_cloud(sys.argv[1]) as cloud:
        out["warnings"] = list(cloud.warnings)
        out["points"] = sum(len(c) for c in cloud.read(chunk_size=10_000))
        meta = cloud.metadata()
        out["notes"] = list(meta.notes)
        out["counts"] = dict(meta.counts)
except CityModelError as err:
    out["error"] = type(err).__name__
    out["message"] = str(err)
print(json.dumps(out))
"""


def probe(path: Path) -> dict[str, Any]:
    """Open, read every point and describe ``path`` in a fresh process, within the time limit."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, str(path)],
            capture_output=True,
            text=True,
            timeout=TIME_LIMIT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{path.name}: no answer within {TIME_LIMIT_S} s (hang)")
    assert done.returncode == 0, f"{path.name} crashed:\n{done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _broken(name: str) -> Path:
    path = BROKEN_LAS_DIR / name
    if not path.is_file():
        pytest.skip(f"real public data not available: {path} is absent")
    return path


@pytest.mark.realdata
def test_garbage_vlr_count_is_a_clear_error_not_a_hang() -> None:
    result = probe(_broken("garbage_nVariableLength.las"))
    assert result["error"] == "InputError"
    assert "truncated" in result["message"] and "718 complete points" in result["message"]
    assert "garbage_nVariableLength.las" in result["message"]


@pytest.mark.realdata
def test_missing_vlr_is_worked_around_with_a_warning() -> None:
    result = probe(_broken("bad_vlr_count.las"))
    assert result["points"] == 10
    assert any("announces 3 variable length records but only 2" in w for w in result["warnings"])


@pytest.mark.realdata
def test_zero_geotiff_keys_are_skipped() -> None:
    result = probe(_broken("bad-geotiff-keys.las"))
    assert result["points"] == 10
    assert any("key id 0" in n for n in result["notes"])


@pytest.mark.realdata
def test_empty_file_reads_as_empty_with_a_note() -> None:
    result = probe(_broken("no-points.las"))
    assert result["points"] == 0 and result["counts"] == {"points": 0}
    assert any("holds no points" in n for n in result["notes"])


@pytest.mark.realdata
def test_nan_gps_time_does_not_matter() -> None:
    """GPS time is not among the attributes read; the one point reads normally."""
    assert probe(_broken("gps-time-nan.las"))["points"] == 1


@pytest.fixture(scope="module")
def small_laz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("broken") / "small.laz"
    city = SyntheticCityOptions(n_buildings=4, tile_size_m=100.0)
    write_point_cloud(path, SyntheticPointCloudOptions(n_points=130_000, city=city))
    return path


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.02])
def test_truncated_laz(small_laz: Path, tmp_path: Path, keep: float) -> None:
    cut = tmp_path / "cut.laz"
    data = small_laz.read_bytes()
    cut.write_bytes(data[: int(len(data) * keep)])
    result = probe(cut)
    assert result["error"] == "InputError", result
    assert "truncated" in result["message"] and str(cut) in result["message"]


def test_truncated_las(tmp_path: Path) -> None:
    path = write_las(tmp_path / "full.las", [(i, i, i) for i in range(1000)])
    cut = tmp_path / "cut.las"
    cut.write_bytes(path.read_bytes()[:-50])
    result = probe(cut)
    assert result["error"] == "InputError"
    assert "998 complete points" in result["message"]


def test_header_only_and_not_las(tmp_path: Path) -> None:
    path = write_las(tmp_path / "full.las", [(1, 2, 3)])
    head = tmp_path / "head.las"
    head.write_bytes(path.read_bytes()[:100])
    assert probe(head)["error"] == "InputError"
    other = tmp_path / "other.las"
    other.write_bytes(b"not a point cloud at all" * 20)
    assert probe(other)["error"] == "UnsupportedFormatError"


def test_damaged_laz_chunk_is_an_error_or_reads_all(small_laz: Path, tmp_path: Path) -> None:
    """Garbage inside compressed data: lazrs may not notice, but nothing hangs or crashes."""
    bad = tmp_path / "bad.laz"
    shutil.copyfile(small_laz, bad)
    size = bad.stat().st_size
    patch_bytes(bad, size // 2, b"\xff" * 4096)
    result = probe(bad)
    assert result.get("error") == "InputError" or result.get("points") == 130_000, result


def test_garbage_counts_in_a_good_file_are_repaired(tmp_path: Path) -> None:
    path = write_las(tmp_path / "ok.las", [(i, i, i) for i in range(100)])
    patch_bytes(path, 100, struct.pack("<I", 1_069_128_089))  # number of VLRs
    result = probe(path)
    assert result["points"] == 100
    assert any("1,069,128,089 variable length records" in w for w in result["warnings"])


@pytest.mark.parametrize("inside_points", [False, True])
def test_garbage_evlr_count_is_repaired(tmp_path: Path, inside_points: bool) -> None:
    path = write_wkt_las(tmp_path / "evlr.las", [(566000.0, 5935000.0, 10.0)] * 5, "EPSG:25832")
    start = path.stat().st_size - (10 if inside_points else 0)
    patch_bytes(path, 235, struct.pack("<QI", start, 4_000_000_000))
    result = probe(path)
    assert result["points"] == 5
    assert any("extended records" in w for w in result["warnings"]), result


@pytest.mark.realdata
def test_broken_folder_is_covered() -> None:
    names = {p.name for p in BROKEN_LAS_DIR.glob("*.las")} if BROKEN_LAS_DIR.is_dir() else set()
    if not names:
        pytest.skip(f"real public data not available: {SHARED / 'data'} is absent")
    assert names == {
        "bad-geotiff-keys.las",
        "bad_vlr_count.las",
        "garbage_nVariableLength.las",
        "gps-time-nan.las",
        "no-points.las",
    }
