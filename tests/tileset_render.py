"""Render a tileset in CesiumJS through ``../shared/tools/check-tileset --render`` (tests only)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import SHARED

CHECK_TILESET = SHARED / "tools" / "check-tileset"


def run_render(tileset: Path, png: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``check-tileset TILESET -q --render PNG EXTRA...``; fails unless it exits 0.

    Skips with the reason when chromium, node or check-tileset is missing.
    """
    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).is_file():
        pytest.skip(f"chromium is not installed ({chromium}): check-tileset --render needs it")
    if shutil.which("node") is None or not CHECK_TILESET.is_file():
        pytest.skip("node or check-tileset is not available")
    result = subprocess.run(
        ["bash", str(CHECK_TILESET), str(tileset), "-q", "--render", str(png), *extra],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "CHROMIUM_PATH": chromium, "CHECK_TILESET_NO_APT": "1"},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


def render_rgb(tileset: Path, png: Path) -> np.ndarray:
    """Pixels (H, W, 3) of the CesiumJS screenshot of ``tileset``; fail unless check-tileset passes.

    Skips with the reason when chromium, node or check-tileset is missing.
    """
    run_render(tileset, png)
    return np.asarray(Image.open(png).convert("RGB"), dtype=np.int64)
