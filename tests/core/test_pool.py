"""The process pool: workers started early, modules preloaded, grids registered (GEO-1)."""

from __future__ import annotations

import multiprocessing.forkserver
import os
import sys
import time
from pathlib import Path

import pyproj

from citymodel._pool import PRELOAD, TaskRunner


def _worker_state(_: int) -> tuple[list[str], bool, int]:
    return (
        pyproj.datadir.get_data_dir().split(os.pathsep),
        all(name in sys.modules for name in PRELOAD),
        os.getpid(),
    )


def _forkserver_running() -> bool:
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    return getattr(server, "_forkserver_pid", None) is not None


def test_started_workers_register_grids_and_preload(tmp_path: Path) -> None:
    grids = tmp_path / "grids"
    grids.mkdir()
    fresh_server = not _forkserver_running()
    with TaskRunner(2, (grids,)) as runner:
        runner.start()
        runner.start()  # a second call does nothing
        results = list(runner.map(_worker_state, range(6)))
    assert len(results) == 6
    for data_dirs, preloaded, pid in results:
        assert str(grids) in data_dirs  # GEO-1: every worker registers the grid folders
        assert pid != os.getpid()
        if fresh_server:  # the preload applies to the fork server this pool started
            assert preloaded


def test_start_returns_at_once_and_close_waits_for_it() -> None:
    runner = TaskRunner(2)
    begin = time.perf_counter()
    runner.start()
    assert time.perf_counter() - begin < 0.5  # the workers start in the background
    runner.close()
    assert runner._starter is None and runner._pool is None


def test_one_job_has_no_workers_to_start() -> None:
    with TaskRunner(1) as runner:
        runner.start()
        assert list(runner.map(abs, [-1, -2])) == [1, 2]
