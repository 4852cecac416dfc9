"""Whether a pass of the tiler is worth worker processes: small passes run in this process.

Starting the local pool has a fixed cost that small jobs never earn back: the ``forkserver``
process, then in every worker the imports of the tiler, readers and writers, its own
georeferencer (PROJ transformers, geoid grid) and, for IFC, its own parsed model. Measured on
the project machine (2 cores, shared): 0.6 s with compiled bytecode, 2 s without, per run,
against about 1 s for a whole small IFC model in one process (``ARCHITECTURE.md``). With
``jobs`` workers a pass of serial work ``W`` and start-up ``S`` gains only when
``W > S * jobs / (jobs - 1)``, i.e. above about 1.2-4 s of work on two cores.

So a pass runs in this process when it has a single task (no worker could run next to it), or
when the estimated work of all its tasks is below the break-even (:data:`PASS1_MIN_BYTES` of
input files, :data:`PASS2_MIN_TRIANGLES` of tile content). Tasks are the very same functions
either way and results are ordered by the tiler, so the output is byte-identical (tested).
Only the local executor decides so: a Dask cluster was asked for explicitly and is already
running when the passes start.

The pool's processes are started on the first submitted task, so a run whose passes both stay
here never starts a worker; when pass 1 will certainly use them, :func:`start_early` starts them
before the tasks are planned (the chunk scan of big files), so that the two overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final, TypeVar

from citymodel.tiler.executor import Executor, Runner

__all__ = ["PASS1_MIN_BYTES", "PASS2_MIN_TRIANGLES", "in_workers", "run_pass", "start_early"]

_T = TypeVar("_T")
_R = TypeVar("_R")

PASS1_MIN_BYTES: Final = 4 * 2**20
"""Input bytes of pass 1 (read, mesh, georeference, store) below which workers do not pay:
CityGML is read at 2-4 MB/s per core, IFC models at 0.5-2 MB/s (their geometry kernel has
workers of its own for heavy models, see :mod:`citymodel.converters._ifc_read_geometry`)."""

PASS2_MIN_TRIANGLES: Final = 100_000
"""Triangles of all tile contents of pass 2 (decode, GLB encode, write) below which workers do
not pay: contents are written at 40-200 thousand triangles/s per core (measured)."""


def in_workers(executor: Executor, jobs: int, weights: Iterable[float], minimum: float) -> bool:
    """Whether a pass of tasks with estimated work ``weights`` should go to the workers.

    Parameters
    ----------
    executor
        The job's executor; ``"dask"`` always uses its cluster.
    jobs
        Worker processes of the local pool.
    weights
        Estimated work per task (input bytes, triangles ...).
    minimum
        The break-even: total work from which the workers pay for their start-up.
    """
    if executor != "local":
        return True
    if jobs < 2:
        return False
    tasks = 0
    total = 0.0
    for weight in weights:
        tasks += 1
        total += weight
    return tasks > 1 and total >= minimum


def start_early(
    runner: Runner, executor: Executor, jobs: int, sizes: Iterable[int], split_bytes: int
) -> bool:
    """Start the local pool's workers now when pass 1 will use them; whether it did.

    ``sizes`` are the input files' bytes; a file of at least two ``split_bytes`` counts as
    several tasks (it is read in chunks when it is plain CityGML; otherwise the workers were
    started for nothing, which costs their start and no result changes). Decides with
    :func:`in_workers` and :data:`PASS1_MIN_BYTES`, as pass 1 itself will.
    """
    if executor != "local":
        return False
    weights: list[float] = []
    for size in sizes:
        pieces = size // split_bytes if split_bytes > 0 and size >= 2 * split_bytes else 1
        weights += [size / pieces] * pieces
    start = getattr(runner, "start", None)
    if start is None or not in_workers(executor, jobs, weights, PASS1_MIN_BYTES):
        return False
    start()
    return True


def run_pass(
    runner: Runner, fn: Callable[[_T], _R], tasks: Iterable[_T], *, parallel: bool
) -> Iterator[_R]:
    """``fn(task)`` for every task: on the runner's workers, or here in task order."""
    if parallel:
        yield from runner.map(fn, tasks)
    else:
        yield from map(fn, tasks)
