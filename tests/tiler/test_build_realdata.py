"""``build_tileset`` on the 20 official NRW LoD2 tiles of Köln (realdata, T3D-0, T3D-3, T3D-4)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from citymodel.report import JobReport
from citymodel.tiler.build import TileOptions, build_tileset
from citymodel.tiler.validate import validate_tileset
from tests.tiler.conftest import CHECK_TILESET, assert_check_tileset_passes
from tests.tiler.tileset_walk import assert_replace_tree, building_ids, input_ids, walk_tileset

pytestmark = [pytest.mark.realdata, pytest.mark.node]

KOELN = "citygml/nrw_lod2_koeln"
KOELN_NEAR = "6.9,51.0,30"
"""Longitude, latitude (degrees) and distance (km) the tileset must be near."""


@pytest.fixture(scope="module")
def koeln(shared_data: Path) -> list[Path]:
    folder = shared_data / KOELN
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    files = sorted(folder.glob("*.gml"))
    assert len(files) == 20
    return files


@pytest.fixture(scope="module")
def koeln_tiles(
    tmp_path_factory: pytest.TempPathFactory, koeln: list[Path]
) -> tuple[Path, JobReport]:
    out = tmp_path_factory.mktemp("koeln") / "tiles"
    report = build_tileset(koeln, out, options=TileOptions(jobs=2))
    return out, report


def test_koeln_tileset_is_valid_and_complete(
    koeln_tiles: tuple[Path, JobReport], koeln: list[Path]
) -> None:
    out, report = koeln_tiles
    assert validate_tileset(out) == []
    expected = input_ids(koeln)
    skipped = {s.id for s in report.skipped if s.id is not None}
    assert_replace_tree(walk_tileset(out), expected, skipped)
    summary = report.extra["tiling"]
    assert summary["buildings"]["in"] == len(expected) == 1779
    assert summary["buildings"]["written"] + len(expected & skipped) >= len(expected)
    assert summary["crs"] == ["EPSG:25832+7837"]


def test_koeln_implicit_each_building_once(tmp_path: Path, koeln: list[Path]) -> None:
    out = tmp_path / "implicit"
    build_tileset(koeln, out, options=TileOptions(jobs=2, implicit=True))
    assert validate_tileset(out) == []
    counts: Counter[str] = Counter()
    for tile in walk_tileset(out).root.walk():
        if tile.content is not None:
            counts.update(set(building_ids(tile.content)))
    assert set(counts) == input_ids(koeln)
    assert max(counts.values()) == 1
    assert_check_tileset_passes(out / "tileset.json")


def test_koeln_passes_check_tileset(koeln_tiles: tuple[Path, JobReport]) -> None:
    assert_check_tileset_passes(koeln_tiles[0] / "tileset.json")


def test_koeln_renders_near_koeln(koeln_tiles: tuple[Path, JobReport], tmp_path: Path) -> None:
    """CesiumJS draws it where it belongs (the PNG is worth a look when this changes)."""
    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).is_file():
        pytest.skip("chromium is not installed: check-tileset --render needs it")
    if shutil.which("node") is None or not CHECK_TILESET.is_file():
        pytest.skip("node or check-tileset is not available")
    png = tmp_path / "koeln.png"
    result = subprocess.run(
        [
            "bash",
            str(CHECK_TILESET),
            str(koeln_tiles[0] / "tileset.json"),
            "-q",
            "--render",
            str(png),
            "--expect-near",
            KOELN_NEAR,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "CHECK_TILESET_NO_APT": "1"},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "errors=0" in result.stdout.strip().splitlines()[-1]
    assert png.is_file() and png.stat().st_size > 10_000
