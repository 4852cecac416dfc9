"""The viewer in a real browser: ``citymodel view`` + headless Chromium (software WebGL).

A synthetic city is tiled, ``citymodel view`` serves it, and ``tools/viewer/render-check.mjs``
(playwright-core driving Debian's ``/usr/bin/chromium``) loads ``/viewer/<name>``, waits until
the tileset's tiles are loaded, measures the pixels the tileset draws (frame with it against
frame without it), picks a building near the centre and switches to an attribute colouring.
Asserted: tiles loaded and none failed, the tileset covers a visible part of the screen, the
pick shows a building of the input with its gml_id in the attribute panel, the colouring
changes the picture, and every request the page made went to the local server (no internet).

Skipped with the reason when node, Chromium or the npm packages of ``tools/viewer`` (``make
dev``) are missing.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from citymodel.synthetic import SyntheticCityOptions, write_city_tiles
from citymodel.tiler.build import TileOptions, build_tileset
from tests.tiler.tileset_walk import input_ids

REPO = Path(__file__).resolve().parents[2]
VIEWER_TOOLS = REPO / "tools" / "viewer"
RENDER_CHECK = VIEWER_TOOLS / "render-check.mjs"
CITYMODEL = Path(sys.executable).parent / "citymodel"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
WIDTH, HEIGHT = 640, 480

pytestmark = pytest.mark.node


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not CHROMIUM.is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)"
    if not (VIEWER_TOOLS / "node_modules" / "cesium" / "Build" / "Cesium" / "Cesium.js").is_file():
        return (
            "CesiumJS is not installed in tools/viewer (make dev, or npm ci --prefix tools/viewer)"
        )
    if not (VIEWER_TOOLS / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed in tools/viewer (npm ci --prefix tools/viewer)"
    return None


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("render_city")
    return write_city_tiles(folder, SyntheticCityOptions(n_buildings=60, seed=3, tile_size_m=250))


@contextmanager
def citymodel_view(target: Path) -> Iterator[str]:
    """``citymodel view TARGET --port 0`` running; yields the viewer URL it prints."""
    env = {k: v for k, v in os.environ.items() if k != "CITYMODEL_CESIUM_DIR"}
    proc = subprocess.Popen(
        [str(CITYMODEL), "view", str(target), "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            if select.select([proc.stderr], [], [], 1.0)[0]:
                match = re.search(r"at (http://\S+)", proc.stderr.readline())
                url = match.group(1) if match else None
        assert url is not None, "citymodel view did not print its URL"
        yield url
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def render(url: str, out: Path, style: str) -> dict[str, Any]:
    done = subprocess.run(
        [
            "node",
            str(RENDER_CHECK),
            url,
            "--screenshot",
            str(out),
            "--style",
            style,
            "--width",
            str(WIDTH),
            "--height",
            str(HEIGHT),
            "--timeout",
            "240",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.stdout.strip(), done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert "fatal" not in result, result.get("fatal")
    return result


def assert_viewer_showed(result: dict[str, Any], ids: set[str], screenshot: Path) -> None:
    assert result["error"] is None
    assert result["offline"], [r for r in result["requests"] if "127.0.0.1" not in r]
    assert result["httpErrors"] == []
    assert result["pageErrors"] == []
    state = result["state"]
    assert state["tilesLoaded"]
    assert state["loadedTiles"] >= 1
    assert state["failedTiles"] == []
    assert state["canvas"] == [WIDTH, HEIGHT]
    # the city covers a visible share of the screen (it is framed by the camera)
    assert state["tilesetPixels"] > 0.01 * WIDTH * HEIGHT, state["tilesetPixels"]
    pick = state["pick"]
    assert pick["kind"] == "feature"
    gml_id = pick["properties"]["gml_id"]
    assert gml_id in ids
    assert pick["properties"]["object_type"] in ("Building", "BuildingPart")
    assert gml_id in state["panel"]
    if pick.get("position") is not None:  # ellipsoidal height near Köln: ~97 m ground + building
        assert 60 < pick["position"]["height"] < 200, pick["position"]
    # colouring by an attribute changes most of what the tileset draws
    assert state["styleApplied"]
    assert state["styleChangedPixels"] > 0.3 * state["tilesetPixels"]
    assert len(state["legend"]) >= 3
    assert "category:object_type" in state["styles"]
    assert screenshot.stat().st_size > 10_000


def test_viewer_renders_and_picks_a_3tz_tileset(city: list[Path], tmp_path: Path) -> None:
    archive = tmp_path / "city.3tz"
    build_tileset(city, archive, options=TileOptions(jobs=1))
    with citymodel_view(archive) as url:
        assert url.endswith("/viewer/city")
        result = render(url, tmp_path / "view.png", "ramp:measuredHeight")
    assert_viewer_showed(result, input_ids(city), tmp_path / "view.png")
    assert any(r.endswith("/tiles/city/tileset.json") for r in result["requests"])


@pytest.mark.slow
def test_viewer_renders_and_picks_a_1_0_b3dm_tileset(city: list[Path], tmp_path: Path) -> None:
    folder = tmp_path / "city10"
    build_tileset(city, folder, options=TileOptions(jobs=1, tiles_version="1.0"))
    with citymodel_view(folder / "tileset.json") as url:
        result = render(url, tmp_path / "view10.png", "category:object_type")
    assert_viewer_showed(result, input_ids(city), tmp_path / "view10.png")
