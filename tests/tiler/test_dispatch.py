"""Small passes stay in the tiler's process; a design of ``--replace`` is read once.

The tileset does not depend on where the tasks ran: a small city tiled with two jobs (both
passes here, no worker started), with every pass forced onto the workers, and with one job
gives byte-identical files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from citymodel.report import JobReport
from citymodel.synthetic import SyntheticCityOptions, write_city_tiles
from citymodel.tiler import _dispatch, _pool
from citymodel.tiler import build as build_module
from citymodel.tiler import replace as replace_module
from citymodel.tiler.build import TileOptions, build_tileset
from citymodel.tiler.lod import LodPolicy
from citymodel.tiler.partition import PartitionOptions
from citymodel.tiler.replace import ReplaceRule, plan_replacement
from citymodel.tiler.validate import validate_tileset

SMALL = {"partition": PartitionOptions(max_units=8), "lod_policy": LodPolicy(max_triangles=600)}
BYTES = _dispatch.PASS1_MIN_BYTES
TRIANGLES = _dispatch.PASS2_MIN_TRIANGLES


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("city")
    return write_city_tiles(folder, SyntheticCityOptions(n_buildings=30, seed=3, tile_size_m=250))


@pytest.fixture
def documented_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The thresholds as shipped (the tiler tests' conftest lowers them to zero)."""
    monkeypatch.setattr(_dispatch, "PASS1_MIN_BYTES", BYTES)
    monkeypatch.setattr(_dispatch, "PASS2_MIN_TRIANGLES", TRIANGLES)


@pytest.fixture
def pool_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the task functions handed to the process pool (they still run there)."""
    calls: list[str] = []
    original = _pool.TaskRunner.map

    def spy(
        self: _pool.TaskRunner, fn: Callable[[Any], Any], tasks: Iterable[Any]
    ) -> Iterator[Any]:
        calls.append(fn.__name__)
        return original(self, fn, tasks)

    monkeypatch.setattr(_pool.TaskRunner, "map", spy)
    return calls


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# -- the decision ------------------------------------------------------------------------------


def test_one_task_never_goes_to_workers() -> None:
    assert not _dispatch.in_workers("local", 8, [10**12], 0)


def test_one_job_never_goes_to_workers() -> None:
    assert not _dispatch.in_workers("local", 1, [10**12, 10**12], 0)


def test_work_below_the_break_even_stays_here() -> None:
    assert not _dispatch.in_workers("local", 2, [BYTES / 4, BYTES / 4], BYTES)
    assert _dispatch.in_workers("local", 2, [BYTES / 2, BYTES / 2], BYTES)


def test_a_dask_cluster_is_always_used() -> None:
    assert _dispatch.in_workers("dask", 2, [1.0], BYTES)


def test_run_pass_here_keeps_task_order() -> None:
    class Refusing:
        jobs = 2

        def map(self, fn: Callable[[int], int], tasks: Iterable[int]) -> Iterator[int]:
            raise AssertionError("the runner must not be used")

    runner: Any = Refusing()
    assert list(_dispatch.run_pass(runner, lambda x: x * 2, [3, 1, 2], parallel=False)) == [6, 2, 4]


# -- end to end --------------------------------------------------------------------------------


def test_small_city_is_tiled_without_workers_and_byte_identical(
    city: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pool_calls: list[str],
) -> None:
    sizes = sum(p.stat().st_size for p in city)
    assert len(city) > 1 and sizes < BYTES, "the city must be small and of several files"

    forced = tmp_path / "forced"
    build_tileset(city, forced, options=TileOptions(jobs=2, **SMALL))  # thresholds 0 (conftest)
    assert pool_calls == ["_index_inputs", "_write_content"]

    monkeypatch.setattr(_dispatch, "PASS1_MIN_BYTES", BYTES)
    monkeypatch.setattr(_dispatch, "PASS2_MIN_TRIANGLES", TRIANGLES)
    pool_calls.clear()
    here = tmp_path / "here"
    report = build_tileset(city, here, options=TileOptions(jobs=2, **SMALL))
    assert pool_calls == [], "both passes of a small job run in this process"
    assert report.extra["tiling"]["triangles"] < TRIANGLES
    assert report.extra["tiling"]["tiles"]["with_content"] > 1

    single = tmp_path / "single"
    build_tileset(city, single, options=TileOptions(jobs=1, **SMALL))
    assert validate_tileset(here) == []
    expected = files(forced)
    assert files(here) == expected
    assert files(single) == expected


@pytest.mark.usefixtures("documented_thresholds")
def test_large_passes_still_go_to_workers(
    city: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pool_calls: list[str]
) -> None:
    """Above the break-even (here: lowered to the city's size) both passes use the pool."""
    monkeypatch.setattr(_dispatch, "PASS1_MIN_BYTES", sum(p.stat().st_size for p in city))
    monkeypatch.setattr(_dispatch, "PASS2_MIN_TRIANGLES", 1)
    build_tileset(city, tmp_path / "out", options=TileOptions(jobs=2, **SMALL))
    assert pool_calls == ["_index_inputs", "_write_content"]


# -- --replace reads the design once -----------------------------------------------------------


def _design_over_first_building(city: list[Path], path: Path) -> Path:
    pytest.importorskip("ifcopenshell")
    from citymodel.sources import open as open_source
    from tests.tiler.ifc_design import write_design

    with open_source(city[0]) as reader:
        first = next(iter(reader.features(report=JobReport())))
    vertices = np.concatenate([g.vertices for f, _ in first.walk() for g in f.geometries])
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    size = (high[0] - low[0] + 2.0, high[1] - low[1] + 2.0, 12.0)
    return write_design(path, origin=(low[0] - 1.0, low[1] - 1.0, low[2]), size=size)


@pytest.mark.parametrize("jobs", [1, 2])
def test_replace_reads_the_design_once(
    city: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    design = _design_over_first_building(city, tmp_path / "design.ifc")
    opened: Counter[str] = Counter()
    original = build_module.open_source

    def counting(path: Path, **options: Any) -> Any:
        opened[Path(path).name] += 1
        return original(path, **options)

    monkeypatch.setattr(build_module, "open_source", counting)
    monkeypatch.setattr(replace_module, "open_source", counting)
    report = JobReport()
    rule = ReplaceRule(source=design)
    # one job: every task runs in this process, where the openings are counted
    out = tmp_path / "out"
    build_tileset(
        city, out, options=TileOptions(jobs=jobs, replace=(rule,), **SMALL), report=report
    )
    if jobs == 1:
        assert opened[design.name] == 1
    assert len(report.extra["replaced"]) == 1
    assert report.extra["replaced"][0]["by"] == design.name
    # the footprint collected while tiling is the one read on its own
    alone = plan_replacement([rule], report=JobReport())
    assert alone is not None
    assert report.extra["replacement"] == alone.summary()
    assert validate_tileset(out) == []


def test_design_sharing_a_task_with_city_files(
    city: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond 65,536 inputs files share tasks: a design there is still replaced correctly."""
    design = _design_over_first_building(city, tmp_path / "design.ifc")
    monkeypatch.setattr(build_module, "_MAX_SHARDS", 2)
    report = JobReport()
    build_tileset(
        [design, *city],  # the design shares the first task with city files
        tmp_path / "out",
        options=TileOptions(jobs=1, replace=(ReplaceRule(source=design),), **SMALL),
        report=report,
    )
    assert len(city) + 1 > build_module._MAX_SHARDS
    assert [r["by"] for r in report.extra["replaced"]] == [design.name]
    alone = plan_replacement([ReplaceRule(source=design)], report=JobReport())
    assert alone is not None
    assert report.extra["replacement"] == alone.summary()
