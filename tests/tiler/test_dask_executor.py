"""``--executor dask``: same tileset as the local pool, byte for byte, on a real Dask cluster.

A ``distributed.LocalCluster`` of two worker processes (started once for the module) stands
in for a remote cluster: it is reached through its scheduler address like one. The runner's
own contract is tested with small task functions (``tests/tiler/dask_tasks.py``): results,
backpressure, exception types, log forwarding, the shared-storage check, cancellation.
"""

from __future__ import annotations

import logging
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from citymodel.cli.main import cli
from citymodel.errors import InputError, MissingDependencyError, TilingError
from citymodel.report import JobReport
from citymodel.synthetic import SyntheticCityOptions, write_city_tiles
from citymodel.tiler import build as build_module
from citymodel.tiler.build import TileOptions, build_tileset
from citymodel.tiler.executor import open_runner
from citymodel.tiler.lod import LodPolicy
from citymodel.tiler.partition import PartitionOptions
from citymodel.tiler.store import shard_path
from tests.tiler import dask_tasks

distributed = pytest.importorskip("distributed", reason="the 'distributed' extra is not installed")
_dask = pytest.importorskip("citymodel.tiler._dask")

LEAVES = PartitionOptions(max_units=30)
PARENTS = LodPolicy(max_triangles=1500)


def options(**kwargs: object) -> TileOptions:
    values: dict[str, object] = {"jobs": 2, "partition": LEAVES, "lod_policy": PARENTS}
    return TileOptions(**(values | kwargs))  # type: ignore[arg-type]


def files_of(out: Path) -> dict[str, bytes]:
    """Every file below ``out`` (or the ``.3tz`` file itself) by relative path."""
    if out.is_file():
        return {out.name: out.read_bytes()}
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def assert_same_files(local: Path, dask: Path) -> None:
    expected, got = files_of(local), files_of(dask)
    assert sorted(got) == sorted(expected)
    assert [name for name in expected if expected[name] != got[name]] == []


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """Address of a two-worker, multi-process Dask cluster (one thread per worker)."""
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """160 buildings in eight files, plus one file holding a building without geometry."""
    folder = tmp_path_factory.mktemp("city")
    files = write_city_tiles(
        folder, SyntheticCityOptions(n_buildings=160, seed=11, tile_size_m=250)
    )
    source = files[0].read_text(encoding="utf-8")
    empty = '<core:cityObjectMember><bldg:Building gml:id="DENW_EMPTY_1"/></core:cityObjectMember>'
    with_empty = folder / "with_empty.gml"
    with_empty.write_text(source.replace("</core:CityModel>", empty + "</core:CityModel>"), "utf-8")
    return [*files[1:], with_empty]


def run_both(
    city: list[Path], folder: Path, name: str, scheduler: str | None, **kwargs: object
) -> tuple[tuple[Path, JobReport], tuple[Path, JobReport]]:
    """The same job with the local executor and with Dask (``scheduler`` given or None).

    The local run uses one process: ``test_build`` shows that one and two local workers give
    byte-identical tilesets, and it spares a process pool start per test.
    """
    local_out, dask_out = folder / "local" / name, folder / "dask" / name
    local = build_tileset(city, local_out, options=options(jobs=1, **kwargs))
    dask = build_tileset(
        city, dask_out, options=options(executor="dask", scheduler=scheduler, **kwargs)
    )
    return (local_out, local), (dask_out, dask)


def assert_same_reports(local: JobReport, dask: JobReport) -> None:
    assert dask.skipped == local.skipped
    assert dask.warnings == local.warnings
    assert dask.read == local.read
    assert dask.written == local.written
    assert dask.crs == local.crs
    assert sorted(dask.inputs) == sorted(local.inputs)
    summary, expected = dask.extra["tiling"], local.extra["tiling"]
    assert summary["executor"] == "dask"
    for key in ("buildings", "tiles", "geometric_error", "triangles", "bytes"):
        assert summary[key] == expected[key], key


# -- the tileset is the same ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("explicit", {"max_json_bytes": 10_000}),  # several levels and external tilesets
        ("implicit", {"implicit": True}),
        ("city.3tz", {"tiles_version": "1.0"}),  # an archive of b3dm contents
    ],
)
def test_dask_tileset_is_byte_identical(
    name: str, extra: dict[str, object], city: list[Path], scheduler: str, tmp_path: Path
) -> None:
    (local_out, local), (dask_out, dask) = run_both(city, tmp_path, name, scheduler, **extra)
    assert_same_files(local_out, dask_out)
    assert_same_reports(local, dask)
    assert {s.id for s in dask.skipped} == {"DENW_EMPTY_1"}
    assert local.extra["tiling"]["tiles"]["with_content"] > 3
    assert leftovers(tmp_path / "dask") == []


def test_local_dask_cluster_started_for_the_run(city: list[Path], tmp_path: Path) -> None:
    """No scheduler: a LocalCluster of ``jobs`` processes is started and stopped again."""
    (local_out, local), (dask_out, dask) = run_both(city[:4], tmp_path, "explicit", None)
    assert_same_files(local_out, dask_out)
    assert_same_reports(local, dask)
    assert leftovers(tmp_path / "dask") == []


def test_worker_warnings_reach_this_process(
    city: list[Path], scheduler: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The skip warning is logged in a worker and shown here once, naming the worker."""
    caplog.set_level(logging.WARNING, logger="citymodel")
    build_tileset(
        city[-2:], tmp_path / "out", options=options(executor="dask", scheduler=scheduler)
    )
    skips = [r for r in caplog.records if "DENW_EMPTY_1" in r.getMessage()]
    assert len(skips) == 1
    assert skips[0].name == "citymodel.report"
    assert skips[0].worker.startswith("tcp://")  # type: ignore[attr-defined]


def test_bad_input_is_reported_the_same_way(
    city: list[Path], scheduler: str, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.gml"
    data = city[1].read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    inputs = [city[0], broken, *city[2:4]]
    errors = []
    for executor, where in (("local", None), ("dask", scheduler)):
        out = tmp_path / executor / "out"
        with pytest.raises(InputError) as caught:
            build_tileset(inputs, out, options=options(executor=executor, scheduler=where))
        errors.append(caught.value)
        assert not out.exists()
        assert leftovers(out.parent) == []
    local, dask = errors
    assert type(dask) is type(local)
    assert str(dask) == str(local)
    assert (dask.path, dask.line) == (local.path, local.line)
    assert "broken.gml" in str(dask)
    assert "_index_inputs" in str(dask.__cause__)  # the worker's traceback


def test_cli_scheduler_option(city: list[Path], scheduler: str, tmp_path: Path) -> None:
    local_out = tmp_path / "local"
    build_tileset(city[:3], local_out, options=TileOptions(jobs=1))
    out, scratch = tmp_path / "dask", tmp_path / "scratch"
    args = ["tile", *map(str, city[:3]), "-o", str(out), "--scheduler", scheduler]
    result = CliRunner().invoke(cli, [*args, "--scratch-dir", str(scratch)])
    assert result.exit_code == 0, result.output
    assert_same_files(local_out, out)
    assert list(scratch.iterdir()) == []  # the run's scratch store was made here and removed


def test_cli_refuses_a_scheduler_with_the_local_executor(city: list[Path], tmp_path: Path) -> None:
    args = ["tile", str(city[0]), "-o", str(tmp_path / "out"), "--executor", "local"]
    result = CliRunner().invoke(cli, [*args, "--scheduler", "tcp://127.0.0.1:8786"])
    assert result.exit_code == 2
    assert "--executor dask" in result.output


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="executor must be one of local, dask"):
        TileOptions(executor="ray")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scheduler address needs executor 'dask'"):
        TileOptions(scheduler="tcp://127.0.0.1:8786")


# -- the runner's contract -----------------------------------------------------------------


def test_results_in_any_order_and_bounded_in_flight(scheduler: str) -> None:
    pulled = 0
    outstanding: list[int] = []

    def tasks() -> Iterator[int]:
        nonlocal pulled
        for value in range(40):
            pulled += 1
            yield value

    results = []
    with open_runner("dask", jobs=1, scheduler=scheduler) as runner:
        assert runner.jobs == 2  # the cluster's threads, not ``jobs``
        for result in runner.map(abs, tasks()):
            outstanding.append(pulled - len(results))
            results.append(result)
    assert sorted(results) == list(range(40))
    assert max(outstanding) <= 4  # 2 tasks per worker thread


def test_task_errors_keep_their_type(scheduler: str) -> None:
    with (
        open_runner("dask", jobs=1, scheduler=scheduler) as runner,
        pytest.raises(InputError) as caught,
    ):
        list(runner.map(dask_tasks.raise_input_error, [7]))
    err = caught.value
    assert (err.path, err.line, err.feature_id) == ("city.gml", 7, "DEBY_1")
    with (
        open_runner("dask", jobs=1, scheduler=scheduler) as runner,
        pytest.raises(TilingError, match="_Unpicklable: broken 3"),
    ):
        list(runner.map(dask_tasks.raise_unpicklable, [3]))


def test_log_records_forwarded_and_warnings_shown_once(
    scheduler: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="citymodel")
    with open_runner("dask", jobs=1, scheduler=scheduler) as runner:
        assert sorted(runner.map(dask_tasks.log_and_double, range(6))) == [0, 2, 4, 6, 8, 10]
    records = [r for r in caplog.records if r.name == "citymodel.tests.tasks"]
    # A task's records travel ahead of its result: all are here once ``map`` is done.
    assert sorted(r.getMessage() for r in records if r.levelno == logging.INFO) == [
        f"task {i} ran" for i in range(6)
    ]
    assert [r.getMessage() for r in records if r.levelno == logging.WARNING] == [
        "the same warning from every task"
    ]
    assert all(r.worker.startswith("tcp://") for r in records)  # type: ignore[attr-defined]


def test_workers_must_see_the_same_shared_folder(
    scheduler: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder of the same name that is not the same storage is refused before any task."""
    real = _dask._write_probes

    def other_storage(folders: list[Path], token: str) -> list[tuple[str, str]]:
        probes = real(folders, token)
        for path, _ in probes:  # what a worker reads from its own disk differs
            Path(path).write_text("somebody else's folder", encoding="ascii")
        return probes

    monkeypatch.setattr(_dask, "_write_probes", other_storage)
    with pytest.raises(TilingError) as caught:
        open_runner("dask", jobs=1, scheduler=scheduler, shared=[tmp_path])
    message = str(caught.value)
    assert f"folder {tmp_path} is not the folder of that name on the client" in message
    assert "NFS" in message
    assert "docs/distributed.md" in message
    assert list(tmp_path.iterdir()) == []  # probe files removed


def test_workers_must_see_the_same_inputs(
    scheduler: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "city.gml"
    source.write_bytes(b"<x/>")
    monkeypatch.setattr(_dask, "_file_size", lambda path: 5)
    with pytest.raises(
        TilingError, match=r"input .*city\.gml has 4 bytes here but 5 on the client"
    ):
        open_runner("dask", jobs=1, scheduler=scheduler, inputs=[source])


def test_workers_must_see_the_shared_folder(scheduler: str, tmp_path: Path) -> None:
    """Setup problems are also checked by every task (workers that join later)."""
    gone = tmp_path / "gone"
    with _dask.DaskRunner(1, scheduler=scheduler) as runner:
        plugin = _dask._WorkerSetup(
            token=runner._token,
            version=_dask.__version__,
            grids=(),
            folders=(str(gone),),
            inputs=(),
            level=logging.WARNING,
            own_cluster=False,
        )
        runner._client.register_plugin(plugin, name=runner._plugin)  # type: ignore[union-attr]
        with pytest.raises(TilingError, match=rf"folder {gone} not found .*distributed\.md"):
            list(runner.map(abs, [1]))


def test_path_problems_name_what_a_worker_misses(tmp_path: Path) -> None:
    present = tmp_path / "a.gml"
    present.write_bytes(b"12345")
    missing = [str(tmp_path / f"{i}.gml") for i in range(3)]
    problems = _dask._path_problems(
        [str(tmp_path), str(tmp_path / "scratch")],
        [(str(present), 5), *((name, 1) for name in missing), (str(present), 6)],
    )
    assert problems == [
        f"folder {tmp_path / 'scratch'} not found",
        f"input {present} has 5 bytes here but 6 on the client",
        f"3 of 5 input files not found (first: {missing[0]})",
    ]


def test_unreachable_scheduler() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    with pytest.raises(TilingError, match=f"cannot connect to the Dask scheduler at {address}"):
        _dask.DaskRunner(1, scheduler=address, timeout=1)


def test_scheduler_without_workers() -> None:
    cluster = distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=":0")
    try:
        address = cluster.scheduler_address
        with pytest.raises(TilingError, match=f"the Dask scheduler at {address} has no workers"):
            _dask.DaskRunner(1, scheduler=address, timeout=0.5)
    finally:
        cluster.close()


def test_missing_extra(monkeypatch: pytest.MonkeyPatch, city: list[Path], tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'citymodel\[distributed\]'"):
        build_tileset(city[:1], tmp_path / "out", options=options(executor="dask"))
    assert list(tmp_path.iterdir()) == []


def test_cancel_waits_for_running_tasks(scheduler: str, tmp_path: Path) -> None:
    """After an error, queued tasks are dropped and running ones end before ``close`` returns."""
    jobs = [(str(tmp_path / f"{i}.done"), 0.0 if i == 0 else 0.6) for i in range(12)]
    with (
        pytest.raises(RuntimeError, match="stop"),
        open_runner("dask", jobs=1, scheduler=scheduler) as runner,
    ):
        for _ in runner.map(dask_tasks.sleep_then_mark, jobs):
            raise RuntimeError("stop")
    finished = sorted(p.name for p in tmp_path.iterdir())
    time.sleep(1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == finished  # nothing ran on
    assert len(finished) < len(jobs)


def test_a_map_left_early_leaves_the_runner_usable(scheduler: str, tmp_path: Path) -> None:
    jobs = [(str(tmp_path / f"{i}.done"), 0.3) for i in range(8)]
    with open_runner("dask", jobs=1, scheduler=scheduler) as runner:
        for _ in runner.map(dask_tasks.sleep_then_mark, jobs):
            break  # the generator is closed here: its queued tasks are cancelled
        assert sorted(runner.map(abs, [-2, -1])) == [1, 2]
    assert len(list(tmp_path.iterdir())) < len(jobs)


def test_ctrl_c_stops_a_cluster_started_for_the_run(tmp_path: Path) -> None:
    jobs = [(str(tmp_path / f"{i}.done"), 0.0 if i == 0 else 60.0) for i in range(3)]
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt), open_runner("dask", jobs=1) as runner:
        for _ in runner.map(dask_tasks.sleep_then_mark, jobs):
            start = time.perf_counter()
            raise KeyboardInterrupt
    assert time.perf_counter() - start < 20  # the worker was stopped, not waited for
    assert [p.name for p in tmp_path.iterdir()] == ["0.done"]


def test_pass_1_task_can_run_again(city: list[Path], tmp_path: Path) -> None:
    """A task re-run (its worker died) replaces the shard of the earlier attempt."""
    task = build_module._pass1_tasks(city[:1], tmp_path, options())[0]
    first = build_module._index_inputs(task)
    shard = shard_path(tmp_path, task.shard)
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 3])  # the earlier attempt died half-way
    again = build_module._index_inputs(task)
    assert shard.read_bytes() == data
    for name, column in first.index.columns().items():
        assert again.index.column(name).tobytes() == column.tobytes(), name
