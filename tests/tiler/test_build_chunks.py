"""Big CityGML files are read in chunks by pass 1: the tileset does not change."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from citymodel.report import JobReport
from citymodel.synthetic import SyntheticCityOptions, write_city
from citymodel.tiler.build import TileOptions, _pass1_tasks, build_tileset


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("city") / "city.gml"
    write_city(path, SyntheticCityOptions(n_buildings=150, part_ratio=0.4, courtyard_ratio=0.3))
    return path


def _tile(city: Path, out: Path, **kwargs: object) -> JobReport:
    return build_tileset([city], out, options=TileOptions(**kwargs))  # type: ignore[arg-type]


def test_one_task_per_chunk_in_file_order(city: Path, tmp_path: Path) -> None:
    tasks = _pass1_tasks([city], tmp_path, TileOptions(jobs=1, split_bytes=100_000))
    chunks = sorted((t.shard, t.chunk) for t in tasks)
    assert len(chunks) >= 5
    assert [c.index for _, c in chunks if c is not None] == list(range(len(chunks)))
    assert _pass1_tasks([city], tmp_path, TileOptions(jobs=1, split_bytes=0))[0].chunk is None


def test_tileset_identical_with_and_without_chunks(city: Path, tmp_path: Path) -> None:
    whole = _tile(city, tmp_path / "whole", jobs=1, split_bytes=0)
    one = _tile(city, tmp_path / "one", jobs=1, split_bytes=100_000)
    two = _tile(city, tmp_path / "two", jobs=2, split_bytes=100_000)
    reference = _tree(tmp_path / "whole")
    assert _tree(tmp_path / "one") == reference
    assert _tree(tmp_path / "two") == reference
    for report in (one, two):
        assert report.inputs == whole.inputs
        assert report.read == whole.read and report.written == whole.written
        assert [s.to_dict() for s in report.skipped] == [s.to_dict() for s in whole.skipped]
        assert report.warnings == whole.warnings


def test_generated_ids_and_notes_like_one_task(tmp_path: Path) -> None:
    # Buildings without gml:id: ids count objects from the document's start in every chunk
    path = tmp_path / "noids.gml"
    write_city(path, SyntheticCityOptions(n_buildings=60))
    data = path.read_text()
    path.write_text(re.sub(r'(<bldg:Building) gml:id="[^"]*"', r"\1", data))
    whole = _tile(path, tmp_path / "whole", jobs=1, split_bytes=0)
    split = _tile(path, tmp_path / "split", jobs=2, split_bytes=40_000)
    assert _tree(tmp_path / "split") == _tree(tmp_path / "whole")
    assert split.warnings == whole.warnings
    assert any("generated ids" in w for w in whole.warnings)


def test_dask_executor_reads_chunks_too(city: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="the 'distributed' extra is not installed")
    _tile(city, tmp_path / "whole", jobs=1, split_bytes=0)
    dask = _tile(city, tmp_path / "dask", jobs=2, executor="dask", split_bytes=100_000)
    assert _tree(tmp_path / "dask") == _tree(tmp_path / "whole")
    assert dask.inputs == [str(city)]
