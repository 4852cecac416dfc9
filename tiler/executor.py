"""Where the tiler's tasks run: a local process pool (default) or a Dask distributed cluster.

Both passes of :func:`~citymodel.tiler.build.build_tileset` hand their tasks to a
:class:`Runner`: ``map(fn, tasks)`` yields ``fn(task)`` for every task, in *completion* order,
with a bounded number of tasks in flight, so ``tasks`` may be a lazy iterator over a city's
worth of work. Callers that need a deterministic result order it themselves (the tiler sorts
pass-1 results by shard and keys pass-2 results by tile), which is why the output does not
depend on the executor, the number of workers or the scheduling.

``"local"``
    :class:`~citymodel.tiler._pool.TaskRunner`: ``jobs`` worker processes on this machine
    (``forkserver``), or this process when ``jobs`` is 1.
``"dask"``
    :class:`~citymodel.tiler._dask.DaskRunner`: a Dask distributed cluster, either the one
    whose scheduler listens at ``scheduler`` (``tcp://host:8786``) or a ``LocalCluster`` of
    ``jobs`` single-threaded worker processes started for the run. Needs the ``distributed``
    extra. With a remote cluster every worker must see the inputs, the scratch folder and the
    output folder at the same paths as this machine (shared storage); this is checked before
    the first task runs (``docs/distributed.md``).

Task functions must be top-level (importable) functions taking and returning picklable
values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol, Self, TypeVar

from citymodel.errors import MissingDependencyError
from citymodel.tiler._pool import TaskRunner

__all__ = ["EXECUTORS", "Executor", "Runner", "open_runner"]

Executor = Literal["local", "dask"]
EXECUTORS: tuple[Executor, ...] = ("local", "dask")

_T = TypeVar("_T")
_R = TypeVar("_R")


class Runner(Protocol):
    """What the tiler needs from an executor (see the module docstring)."""

    @property
    def jobs(self) -> int:
        """Tasks that run at the same time (worker processes or cluster threads)."""
        ...

    def map(self, fn: Callable[[_T], _R], tasks: Iterable[_T]) -> Iterator[_R]:
        """Yield ``fn(task)`` for every task in completion order; re-raise the first error."""
        ...

    def close(self, *, cancel: bool = False, kill: bool = False) -> None:
        """Release the workers; ``cancel`` drops queued tasks, ``kill`` follows Ctrl-C."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def open_runner(
    executor: Executor,
    *,
    jobs: int,
    grids: tuple[Path, ...] = (),
    scheduler: str | None = None,
    shared: Sequence[Path] = (),
    inputs: Sequence[Path] = (),
    preload: Sequence[str] | None = None,
) -> Runner:
    """Start the runner of ``executor``; use it as a context manager.

    Parameters
    ----------
    executor
        ``"local"`` or ``"dask"``.
    jobs
        Worker processes of the local pool, or of the Dask ``LocalCluster`` started when
        ``scheduler`` is None. A remote cluster runs as many tasks as it has worker threads.
    grids
        Extra PROJ grid folders, registered in every worker (GEO-1). On a remote cluster the
        folders must exist on the workers at the same paths.
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``); only with ``"dask"``.
    shared
        Folders the tasks write into (scratch store, output staging). A Dask runner checks
        that every worker sees the very same folders (a probe file written here must be
        readable there) before it runs anything.
    inputs
        Files the tasks read; a Dask runner checks that every worker sees them with the same
        sizes.

    Notes
    -----
    For a remote cluster, give ``shared``, ``inputs`` and the paths inside the tasks as
    absolute paths: the workers have another working folder. Relative paths are checked as
    a worker sees them, so they fail the check rather than the tasks.

    Raises
    ------
    ValueError
        For an unknown executor, or a scheduler address with the local executor.
    MissingDependencyError
        For ``"dask"`` without the ``distributed`` package (extra ``distributed``).
    TilingError
        When the Dask scheduler cannot be reached, has no workers, or its workers cannot see
        the grids, the shared folders or the inputs.
    """
    if executor == "local":
        if scheduler is not None:
            raise ValueError("a scheduler address needs the 'dask' executor")
        return (
            TaskRunner(jobs, grids) if preload is None else TaskRunner(jobs, grids, preload=preload)
        )
    if executor == "dask":
        try:
            import distributed  # noqa: F401 - only to tell a missing extra from other errors
        except ImportError as err:
            raise MissingDependencyError("distributed", "distributed") from err
        from citymodel.tiler._dask import DaskRunner

        return DaskRunner(jobs, grids, scheduler=scheduler, shared=shared, inputs=inputs)
    raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
