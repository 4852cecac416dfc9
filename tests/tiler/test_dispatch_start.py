"""The local pool starts before pass 1 is planned only when pass 1 will use it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from citymodel.tiler import _dispatch

MIB = 2**20
BREAK_EVEN = _dispatch.PASS1_MIN_BYTES  # as shipped (the tiler tests' conftest lowers it)


@pytest.fixture(autouse=True)
def documented_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_dispatch, "PASS1_MIN_BYTES", BREAK_EVEN)


class _Runner:
    jobs = 2

    def __init__(self) -> None:
        self.started = 0

    def start(self) -> None:
        self.started += 1

    def map(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        return map(fn, tasks)


def _start(
    sizes: list[int], *, executor: str = "local", jobs: int = 2, split: int = 8 * MIB
) -> int:
    runner = _Runner()
    started = _dispatch.start_early(runner, executor, jobs, sizes, split)  # type: ignore[arg-type]
    assert started == bool(runner.started)
    return runner.started


def test_one_big_file_read_in_chunks_starts_the_workers() -> None:
    assert _start([300 * MIB]) == 1


def test_small_or_single_task_passes_start_nothing() -> None:
    assert _start([BREAK_EVEN // 4] * 3) == 0  # below the break-even
    assert _start([300 * MIB], split=0) == 0  # one task: no worker could run next to it
    assert _start([15 * MIB]) == 0  # below two chunks: one task


def test_one_job_or_a_cluster_starts_nothing() -> None:
    assert _start([300 * MIB], jobs=1) == 0
    assert _start([300 * MIB], executor="dask") == 0


def test_many_files_start_the_workers() -> None:
    assert _start([3 * MIB] * 4) == 1
