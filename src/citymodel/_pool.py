"""A process pool for parallel tasks: bounded in-flight tasks, spawn-safe workers (GEO-1).

Used by the tiler's passes and by ``convert --jobs`` (chunks of one big CityGML file).

Workers are started with ``forkserver`` (``spawn`` where it does not exist), never ``fork``:
a forked child would inherit the parent's threads and PROJ state (correctness.md GEO-1,
performance.md on py3dtiles' LAZ hang). ``fork`` is not safe even early: the parent runs the
log relay's thread and, in ``convert``, has created its georeferencer (PROJ transformers)
before the pool is needed.

Start-up is the fixed cost of a pool (interpreter, then numpy, pyproj, lxml and the readers in
every worker: 1-2.5 s on a busy 2-core machine). Two things keep it off the critical path:

* **Preloading in the fork server.** The modules the tasks need (:data:`PRELOAD` and the
  caller's ``preload``) are imported once, in the fork server, and every worker is forked from
  it with them loaded, instead of each worker importing them again. The fork server is a fresh
  interpreter that only imports modules: no PROJ context is in use, no transformer exists and
  no grid file is open there, and the only threads are OpenBLAS's idle pool, which OpenBLAS
  shuts down around ``fork`` (``pthread_atfork``). Each worker still registers the grid folders
  in its initializer (GEO-1). A module that fails to import there is imported by the worker
  as before.
* **Starting early.** :meth:`TaskRunner.start` starts the workers in the background while the
  caller still plans its tasks (the chunk scan, the first batch of ``convert``); without it
  they start with the first task.

Each worker's initializer registers the PROJ grid folders (spawned workers do not inherit
folders appended in the parent), forwards the ``citymodel`` log records to the parent (where
the CLI's handlers and levels apply; identical warnings from several workers are shown once)
and leaves Ctrl-C to the parent, which stops the pool.

Task functions must be top-level functions taking and returning picklable values; an
exception that could not be unpickled in the parent is replaced by a
:class:`~citymodel.errors.TilingError` carrying its message.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import pickle
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from citymodel._malloc import reuse_freed_blocks
from citymodel.crs import register_grids
from citymodel.errors import TilingError

if TYPE_CHECKING:
    import logging.handlers

log = logging.getLogger(__name__)

__all__ = ["IN_FLIGHT_PER_JOB", "PRELOAD", "TaskRunner", "default_jobs"]

_T = TypeVar("_T")
_R = TypeVar("_R")

IN_FLIGHT_PER_JOB = 2
"""Futures submitted per worker before waiting for one (backpressure)."""

PRELOAD: tuple[str, ...] = ("numpy", "pyproj", "citymodel._pool", "citymodel.meshing")
"""Modules imported once in the fork server for every worker (with the caller's ``preload``)."""


def default_jobs() -> int:
    """CPUs this process may use (``os.sched_getaffinity`` where available), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


class _LogRelay(logging.Handler):
    """Hands worker records to this process's loggers; repeated warnings are shown once."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[tuple[str, int, str]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            key = (record.name, record.levelno, record.getMessage())
            if key in self._seen:
                return
            self._seen.add(key)
        logging.getLogger(record.name).handle(record)


def _init_worker(grids: tuple[Path, ...], log_queue: Any, level: int) -> None:
    """Pool initializer: allocator, grid folders (GEO-1), logging and Ctrl-C to the parent."""
    import logging.handlers  # only where a pool runs (start-up of small jobs)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reuse_freed_blocks()  # large per-chunk arrays: no page faults per chunk (citymodel._malloc)
    register_grids(grids)
    logger = logging.getLogger("citymodel")
    logger.handlers[:] = [logging.handlers.QueueHandler(log_queue)]
    logger.setLevel(level)
    logger.propagate = False


def _context(preload: Sequence[str]) -> Any:
    """The ``forkserver`` context with :data:`PRELOAD` and ``preload`` set (else ``spawn``)."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        modules = dict.fromkeys(("__main__", *PRELOAD, *preload))  # the default keeps __main__
        context.set_forkserver_preload(list(modules))
    return context


def start_fork_server(preload: Sequence[str] = ()) -> None:
    """Start the fork server now, so that its imports overlap the caller's start-up.

    The fork server is the process every worker of a local pool is forked from; it imports
    :data:`PRELOAD` and ``preload`` first (about 0.8 s for the point tiler's modules). Started
    as soon as a command knows it will run a pool (before it imports and plans the job), the
    workers are ready when the first tasks are. Returns at once; does nothing where there is
    no ``forkserver`` start method or when the server runs already. A later pool of this
    process uses it with the preload given here.
    """
    context = _context(preload)
    if context.get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    forkserver.ensure_running()


def _ready() -> None:
    """The task that starts a worker before there is work for it."""


def _start_workers(pool: cf.ProcessPoolExecutor, jobs: int) -> None:
    """Have ``pool`` start its ``jobs`` processes (each submission starts one)."""
    try:
        for _ in range(jobs):
            pool.submit(_ready)
    except RuntimeError:  # closed meanwhile (cancelled job): nothing to start
        log.debug("pool closed before its workers were started")


def _portable(err: Exception) -> Exception:
    """``err`` when it survives the trip to the parent (pickling), else a TilingError copy."""
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:  # anything unpicklable: keep type name and message
        return TilingError(f"{type(err).__name__}: {err}")
    return err


def _call(fn: Callable[[_T], _R], task: _T) -> _R:
    try:
        return fn(task)
    except Exception as err:
        portable = _portable(err)
        if portable is err:
            raise
        raise portable from None


class TaskRunner:
    """Runs task functions on ``jobs`` worker processes, or in this process when ``jobs`` is 1.

    Use as a context manager; leaving the block after an exception cancels queued tasks.

    Parameters
    ----------
    jobs
        Worker processes (>= 1).
    grids
        Extra PROJ grid folders to register in every worker (and here).
    preload
        Modules the tasks need, imported once in the fork server besides :data:`PRELOAD`
        (only the first pool of a process starts the fork server; later pools reuse it).
    """

    def __init__(
        self, jobs: int, grids: tuple[Path, ...] = (), *, preload: Sequence[str] = ()
    ) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {jobs}")
        self.jobs = jobs
        self._grids = grids
        self._preload = tuple(preload)
        self._closed = False
        self._pool: cf.ProcessPoolExecutor | None = None
        self._listener: logging.handlers.QueueListener | None = None
        self._queue: Any = None
        self._starter: threading.Thread | None = None
        self._opening = threading.Lock()
        register_grids(grids)

    def _open_pool(self) -> cf.ProcessPoolExecutor | None:
        """The process pool, made on first use (None with one job or once closed).

        A job whose tasks all run in this process (small jobs, :mod:`citymodel.tiler._dispatch`)
        never makes one: no queues, no log relay thread, no resource tracker process.
        """
        with self._opening:
            if self._pool is None and self.jobs > 1 and not self._closed:
                self._pool = self._new_pool()
            return self._pool

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        import logging.handlers

        grids, jobs = self._grids, self.jobs
        context = _context(self._preload)
        self._queue = context.Queue()
        self._listener = logging.handlers.QueueListener(self._queue, _LogRelay())
        self._listener.start()
        level = logging.getLogger("citymodel").getEffectiveLevel()
        return cf.ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=context,
            initializer=_init_worker,
            initargs=(grids, self._queue, level),
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        interrupted = exc_type is not None and issubclass(exc_type, KeyboardInterrupt)
        self.close(cancel=exc_type is not None, kill=interrupted)

    def start(self) -> None:
        """Start the worker processes now, in the background (else on the first task).

        Call it when the tasks are certain to go to the workers, before the work of planning
        them, so that the workers' start overlaps it. Returns at once.
        """
        if self._starter is not None:
            return
        pool = self._open_pool()
        if pool is None:
            return
        self._starter = threading.Thread(
            target=_start_workers, args=(pool, self.jobs), name="pool-start", daemon=True
        )
        self._starter.start()

    def map(self, fn: Callable[[_T], _R], tasks: Iterable[_T]) -> Iterator[_R]:
        """Yield ``fn(task)`` for every task, in completion order (in task order inline).

        At most ``2 * jobs`` tasks are submitted at a time, so ``tasks`` may be a lazy
        iterator over a city's worth of work. The first exception is re-raised here.
        """
        pool = self._open_pool()
        if pool is None:
            yield from map(fn, tasks)
            return
        limit = IN_FLIGHT_PER_JOB * self.jobs
        pending: set[cf.Future[_R]] = set()
        source = iter(tasks)
        exhausted = False
        while True:
            while not exhausted and len(pending) < limit:
                try:
                    task = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending.add(pool.submit(_call, fn, task))
            if not pending:
                return
            done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                yield future.result()

    def close(self, *, cancel: bool = False, kill: bool = False) -> None:
        """Stop the workers and the log relay.

        ``cancel`` drops queued tasks (running ones finish); ``kill`` (after Ctrl-C) also
        terminates the workers instead of waiting for their current tasks.
        """
        with self._opening:
            self._closed = True
        if self._starter is not None:
            self._starter.join()
            self._starter = None
        if self._pool is not None:
            if kill:
                # ProcessPoolExecutor has no public way to stop running tasks (before 3.14).
                for process in list(getattr(self._pool, "_processes", {}).values()):
                    process.terminate()
            self._pool.shutdown(wait=True, cancel_futures=cancel or kill)
            self._pool = None
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
            self._queue.close()
            self._queue.join_thread()
