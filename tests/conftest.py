"""Shared fixtures: paths to ../shared (real public data, PROJ grids, check tools)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs property tests with a fixed seed so a run is reproducible; locally they explore.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

CITYGML_DIR = SHARED / "data" / "citygml"
CITYGML_FILES: list[Path] = (
    sorted(
        p
        for p in CITYGML_DIR.rglob("*")
        if p.is_file() and p.suffix.lower() in {".gml", ".xml", ".zip"}
    )
    if CITYGML_DIR.is_dir()
    else []
)
"""Every real CityGML file (``.gml``, ``.xml``, ``.zip``) below ``../shared/data/citygml``;
empty when the folder is absent."""

LAS_DIR = SHARED / "data" / "las"
LAS_FILES: list[Path] = (
    sorted(p for p in LAS_DIR.rglob("*") if p.is_file() and p.suffix.lower() in {".las", ".laz"})
    if LAS_DIR.is_dir()
    else []
)
"""Every real LAS/LAZ/COPC file below ``../shared/data/las``; empty when the folder is absent."""
BROKEN_LAS_DIR = SHARED / "data" / "broken" / "las"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder beside the checkout; skips the test when it is absent."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"real public data not available: {SHARED / 'data'} is absent")
    return SHARED


@pytest.fixture(scope="session")
def shared_data(shared_dir: Path) -> Path:
    """``../shared/data`` (real public data, see its MANIFEST.md)."""
    return shared_dir / "data"


@pytest.fixture(scope="session")
def shared_grids(shared_dir: Path) -> Path:
    """``../shared/proj``: PROJ grids beyond those shipped with citymodel (NAP, EGM96, ...)."""
    return shared_dir / "proj"
