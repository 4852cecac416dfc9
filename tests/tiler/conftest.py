"""Fixtures for the tile-format tests: box buildings around Hamburg in ECEF, check-tileset."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from citymodel.crs import Georeferencer
from citymodel.mesh import FeatureTable, Mesh, MeshBatch
from citymodel.tiler import _dispatch
from tests.box_city import box_mesh

REPO = Path(__file__).resolve().parents[2]
CHECK_TILESET = REPO.parent / "shared" / "tools" / "check-tileset"
HAMBURG = (566000.0, 5935000.0, 10.0)
"""ETRS89 / UTM 32N easting, northing (m) and DHHN2016 height (m) of the test anchor (GEO-2)."""

BatchFactory = Callable[..., MeshBatch]


@pytest.fixture(autouse=True)
def _passes_on_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``jobs`` > 1, passes of several tasks go to the workers however small the data.

    The tiler keeps small passes in its own process (:mod:`citymodel.tiler._dispatch`), which
    would keep the test cities away from the pool; ``test_dispatch.py`` tests that decision.
    """
    monkeypatch.setattr(_dispatch, "PASS1_MIN_BYTES", 0)
    monkeypatch.setattr(_dispatch, "PASS2_MIN_TRIANGLES", 0)


@pytest.fixture(scope="session")
def georef() -> Georeferencer:
    """ETRS89/UTM32N + DHHN2016 -> ECEF with the GCG2016 quasigeoid."""
    return Georeferencer.create("EPSG:25832+7837")


@pytest.fixture(scope="session")
def hamburg_batch(georef: Georeferencer) -> BatchFactory:
    """Box buildings at UTM32 origins (E, N, H lower corner), as an ECEF mesh batch.

    Each box gets a feature row with ``gml_id``, ``function``, ``measuredHeight`` and
    ``storeysAboveGround`` (None for every third building).
    """

    def make(
        origins: Sequence[Sequence[float]], size: Sequence[float] = (20.0, 10.0, 12.0)
    ) -> MeshBatch:
        boxes = box_mesh(np.asarray(origins, dtype=np.float64), np.asarray(size, dtype=np.float64))
        ecef = georef.to_ecef(boxes.positions)
        table = FeatureTable()
        for i in range(len(origins)):
            table.add_row(
                {
                    "gml_id": f"DEHHALKAÄ{i}",
                    "function": "31001_1000",
                    "measuredHeight": float(size[2]),
                    "storeysAboveGround": None if i % 3 == 2 else 3,
                }
            )
        mesh = Mesh(ecef, boxes.triangles, boxes.feature_ids, boxes.surface_types)
        return MeshBatch(mesh=mesh, features=table, crs="EPSG:4978")

    return make


def run_check_tileset(path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Run ``../shared/tools/check-tileset PATH -q [OPTIONS]``; skips without node or the tool."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: check-tileset needs node >= 20 and npm")
    if not CHECK_TILESET.is_file():
        pytest.skip(f"check-tileset not available: {CHECK_TILESET} is absent")
    return subprocess.run(
        ["bash", str(CHECK_TILESET), str(path), "-q", *options],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def assert_check_tileset_passes(path: Path) -> None:
    """check-tileset reports 0 errors and 0 warnings (T3D-0)."""
    result = run_check_tileset(path)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "errors=0 warnings=0" in summary, result.stdout[-4000:]
