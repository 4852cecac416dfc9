"""Every tileset shape the writers produce passes ../shared/tools/check-tileset (T3D-0).

check-tileset runs the official 3d-tiles-validator, the Khronos glTF validator and a
loaders.gl walk with a bounds-containment check; each written tileset must give 0 errors and
0 warnings, and also pass the project's own checks (validate.py covers the validator's blind
spots).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from citymodel.crs import Georeferencer
from citymodel.tiler.archive import index_problems, write_3tz
from citymodel.tiler.validate import validate_tileset
from tests.tiler.builders import build_explicit, build_implicit
from tests.tiler.conftest import HAMBURG, BatchFactory, assert_check_tileset_passes

pytestmark = pytest.mark.node


def test_explicit_with_external_tileset(tmp_path: Path, hamburg_batch: BatchFactory) -> None:
    paths = build_explicit(tmp_path, hamburg_batch, max_json_bytes=1500)
    assert any(p.parent.name == "tilesets" for p in paths), "an external tileset was forced"
    assert validate_tileset(tmp_path) == []
    assert_check_tileset_passes(tmp_path / "tileset.json")


def test_implicit_sparse_quadtree(tmp_path: Path, georef: Georeferencer) -> None:
    result = build_implicit(tmp_path, georef.to_ecef([list(HAMBURG)]))
    assert {k.level for k in result.subtrees} == {0, 2}, "two levels of subtrees"
    assert validate_tileset(tmp_path) == []
    assert_check_tileset_passes(tmp_path / "tileset.json")


def test_3tz_archive(
    tmp_path: Path,
    georef: Georeferencer,
    hamburg_batch: BatchFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    build_implicit(tmp_path / "implicit", georef.to_ecef([list(HAMBURG)]))
    build_explicit(tmp_path / "implicit" / "explicit", hamburg_batch, max_json_bytes=1500)
    # ZIP64 end records as for > 65,535 entries (threshold lowered for the test)
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 8)
    archive = write_3tz(tmp_path / "implicit", tmp_path / "city.3tz")
    monkeypatch.undo()
    assert b"PK\x06\x06" in archive.read_bytes()
    assert index_problems(archive) == []
    assert_check_tileset_passes(archive)


def test_version_1_0_b3dm(tmp_path: Path, hamburg_batch: BatchFactory) -> None:
    build_explicit(tmp_path, hamburg_batch, version="1.0", max_json_bytes=1500)
    assert validate_tileset(tmp_path) == []
    assert_check_tileset_passes(tmp_path / "tileset.json")
