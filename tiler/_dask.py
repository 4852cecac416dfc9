"""Runs the tiler's tasks on a Dask distributed cluster (``--executor dask``).

:class:`DaskRunner` has the contract of :class:`~citymodel.tiler._pool.TaskRunner`
(:class:`~citymodel.tiler.executor.Runner`): ``map(fn, tasks)`` yields results in completion
order with at most ``2 ×`` the cluster's worker threads in flight, the first task error is
re-raised here, and leaving the ``with`` block after an error cancels the rest.

Worker setup
    A :class:`distributed.WorkerPlugin` runs on every worker, also on workers that join later:
    it registers the bundled and user PROJ grids (GEO-1: worker processes do not inherit folders
    appended here), checks that the worker runs the same citymodel version and sees the shared
    folders and the input files at the same paths, and forwards the ``citymodel`` log records
    of this job's tasks to this process. Before the first task, each worker reads a probe file
    written here into every shared folder, so a folder that exists on a worker but is not the
    same storage (a local ``/tmp`` of the same name) is refused with a message naming the worker
    and the folder, instead of failing later with missing shards.
Logs
    Records go through Dask's event topics (``Worker.log_event`` →
    ``Client.subscribe_topic``) to this process's ``citymodel`` loggers, where the CLI's handlers
    and levels apply; identical warnings from several workers are shown once. Messages are
    formatted on the worker (arguments need not be serialisable) and carry the worker address
    as ``record.worker``. They travel on the same ordered streams as the task results, so a
    task's records arrive before its result.
Errors
    Task exceptions arrive as their own types, with the worker's traceback as their
    ``__cause__`` (unpicklable ones as a :class:`~citymodel.errors.TilingError` with type and
    message). The worker returns them as the task's value instead of raising them, so Dask
    neither logs an expected error (a broken input file) as a failed computation nor pickles
    its cause chain. A worker that dies while running a task (Dask retries it elsewhere, then
    gives up) or a lost scheduler become a :class:`~citymodel.errors.TilingError`.
Shutdown
    A ``LocalCluster`` started for the run (``scheduler=None``) is closed with the runner, which
    stops its worker processes, also those still running a task after Ctrl-C (Dask's nanny
    gives them 4 s, then kills them); its workers leave Ctrl-C to this process and log only
    errors of Dask itself. A remote cluster cannot be stopped for one job: queued tasks are
    cancelled and the runner waits for the tasks already running (their files would otherwise
    appear in the scratch and staging folders after those were removed); a second Ctrl-C stops
    the waiting.

Retries: Dask runs a task again when its worker died, or when the worker holding a finished
task's result died before the result was fetched. Task functions must therefore be
idempotent; the tiler's are (a pass-1 task replaces the shard of an earlier attempt, a pass-2
task rewrites its content file with the same bytes).
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import os
import signal
import socket
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import distributed
from distributed.diagnostics.plugin import WorkerPlugin

from citymodel import __version__
from citymodel.crs import register_grids
from citymodel.errors import CityModelError, OutputError, TilingError
from citymodel.tiler._pool import IN_FLIGHT_PER_JOB, _LogRelay, _portable

__all__ = ["CONNECT_TIMEOUT_S", "DaskRunner"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_R = TypeVar("_R")

CONNECT_TIMEOUT_S = 30.0
"""How long to wait for the scheduler to answer and for its first worker, seconds."""

_PROBE_PREFIX = ".citymodel-probe-"
_LOG_TOPIC_PREFIX = "citymodel-log-"
_POLL_S = 0.2
_SHOWN_PROBLEMS = 5
_DOCS = "see docs/distributed.md"

# -- worker side: per-process state of the jobs set up on this worker ---------------------

_lock = threading.Lock()
_setup: dict[str, str] = {}
"""Job token -> problems found by the worker setup ('' when none)."""
_running: Counter[str] = Counter()
"""Batch (``<job token>/<map call>``) -> its tasks running in this worker process."""
_cancelled: set[str] = set()
"""Batches whose tasks must not start any more (see :func:`_stop_batches`)."""
_current = threading.local()
"""``token`` of the job whose task runs in this thread (routes its log records)."""


@dataclass(frozen=True, slots=True)
class _Failed:
    """The exception of a task (picklable, see ``_portable``) and its worker traceback."""

    error: Exception
    traceback: str


class _WorkerTraceback(Exception):
    """Where an error re-raised here was raised on a worker (its ``__cause__``)."""

    def __str__(self) -> str:
        return f"\n{self.args[0]}"


def _run_task(token: str, batch: str, fn: Callable[[_T], _R], task: _T) -> _R | _Failed:
    """Worker side of :meth:`DaskRunner.map`: refuse a worker whose setup failed, run ``fn``.

    An exception is returned, not raised: Dask would log every expected error (a broken input
    file) as a failed computation on the worker, and it pickles exceptions with their cause
    chain, which need not survive the trip (lxml's error logs do not).
    """
    with _lock:
        if batch in _cancelled:
            return _Failed(TilingError("cancelled"), "")
        problem = _setup.get(token)
        _running[batch] += 1
    try:
        if problem is None:
            raise TilingError(f"the citymodel setup did not run on this Dask worker ({_DOCS})")
        if problem:
            raise TilingError(f"Dask worker on {socket.gethostname()}: {problem} ({_DOCS})")
        _current.token = token
        try:
            return fn(task)
        finally:
            _current.token = None
    except Exception as err:
        return _Failed(_portable(err), traceback.format_exc())
    finally:
        with _lock:
            _running[batch] -= 1
            if _running[batch] <= 0:
                del _running[batch]


def _stop_batches(batches: Sequence[str]) -> int:
    """Let no more task of ``batches`` start here; return how many still run (``Client.run``).

    Tasks count themselves in under the same lock, so once this returned, the count can only
    go down: a task the scheduler had already handed to this worker sees the flag and ends
    without running.
    """
    with _lock:
        _cancelled.update(batches)
        return sum(_running[batch] for batch in batches)


def _path_problems(folders: Sequence[str], inputs: Sequence[tuple[str, int]]) -> list[str]:
    """Shared folders missing or read-only here, inputs missing or of another size here."""
    problems = []
    for name in folders:
        folder = Path(name)
        if not folder.is_dir():
            problems.append(f"folder {folder} not found")
        elif not _writable(folder):
            problems.append(f"folder {folder} is not writable")
    missing: list[str] = []
    for name, size in inputs:
        try:
            here = Path(name).stat().st_size
        except OSError:
            missing.append(name)
            continue
        if here != size:
            problems.append(f"input {name} has {here} bytes here but {size} on the client")
    if missing:
        problems.append(
            f"{len(missing)} of {len(inputs)} input files not found (first: {missing[0]})"
        )
    return problems


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def _check_worker(token: str, probes: Sequence[tuple[str, str]]) -> tuple[str, list[str]]:
    """Host name and problems of this worker: its setup's, and probe files it cannot read.

    Run on every worker with ``Client.run`` right after the plugin is registered.
    """
    with _lock:
        setup = _setup.get(token)
    problems = ["the citymodel worker setup did not run"] if setup is None else []
    if setup:
        problems.append(setup)
    for name, expected in probes:
        probe = Path(name)
        if not probe.parent.is_dir():
            continue  # reported by the setup as "folder not found"
        try:
            seen = probe.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            seen = None
        if seen != expected:
            problems.append(
                f"folder {probe.parent} is not the folder of that name on the client "
                "(a probe file written there is missing)"
            )
    return socket.gethostname(), problems


class _EventLog(logging.Handler):
    """Sends the ``citymodel`` records of one job's tasks to the client as Dask events."""

    def __init__(self, worker: distributed.Worker, token: str, level: int) -> None:
        super().__init__(level)
        self._worker = worker
        self._token = token
        self._topic = _LOG_TOPIC_PREFIX + token

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(_current, "token", None) != self._token:
            return
        try:
            self._worker.log_event(self._topic, _record_fields(record, self._worker.address))
        except Exception:
            self.handleError(record)


def _record_fields(record: logging.LogRecord, worker: str) -> dict[str, Any]:
    """The fields of ``record`` as plain (msgpack-able) values, message formatted here."""
    exc_text = record.exc_text
    if record.exc_info and not exc_text:
        exc_text = logging.Formatter().formatException(record.exc_info)
    return {
        "name": record.name,
        "levelno": record.levelno,
        "levelname": record.levelname,
        "msg": record.getMessage(),
        "created": record.created,
        "pathname": record.pathname,
        "filename": record.filename,
        "module": record.module,
        "lineno": record.lineno,
        "funcName": record.funcName,
        "process": record.process,
        "processName": record.processName,
        "threadName": record.threadName,
        "exc_text": exc_text,
        "worker": worker,
    }


class _WorkerSetup(WorkerPlugin):
    """Prepares every worker of the cluster for one job (see the module docstring)."""

    def __init__(
        self,
        *,
        token: str,
        version: str,
        grids: tuple[str, ...],
        folders: tuple[str, ...],
        inputs: tuple[tuple[str, int], ...],
        level: int,
        own_cluster: bool,
    ) -> None:
        self.token = token
        self.version = version
        self.grids = grids
        self.folders = folders
        self.inputs = inputs
        self.level = level
        self.own_cluster = own_cluster
        self._handler: _EventLog | None = None

    def setup(self, worker: distributed.Worker) -> None:
        problems = []
        if self.version != __version__:
            problems.append(
                f"citymodel {__version__} is installed here but {self.version} on the client; "
                "install the same version everywhere"
            )
        try:
            register_grids(self.grids)  # GEO-1
        except CityModelError as err:
            problems.append(str(err))
        problems.extend(_path_problems(self.folders, self.inputs))
        with _lock:
            _setup[self.token] = "; ".join(problems)
        logger = logging.getLogger("citymodel")
        if self.own_cluster:
            # The workers of a cluster started for the run print nothing themselves (their
            # records reach the client) and leave Ctrl-C to the client, which stops them.
            logger.propagate = False
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        self._handler = _EventLog(worker, self.token, self.level)
        logger.addHandler(self._handler)
        if logger.getEffectiveLevel() > self.level:
            logger.setLevel(self.level)

    def teardown(self, worker: distributed.Worker) -> None:
        if self._handler is not None:
            logging.getLogger("citymodel").removeHandler(self._handler)
            self._handler = None
        with _lock:
            _setup.pop(self.token, None)
            _cancelled.difference_update([b for b in _cancelled if b.startswith(self.token)])


# -- client side ----------------------------------------------------------------------------


def _write_probes(folders: Sequence[Path], token: str) -> list[tuple[str, str]]:
    """A probe file holding ``token`` in every folder; returns (path, token) pairs."""
    probes: list[tuple[str, str]] = []
    try:
        for folder in folders:
            probe = folder / f"{_PROBE_PREFIX}{token}"
            probe.write_text(token, encoding="ascii")
            probes.append((str(probe), token))
    except OSError as err:
        _remove_probes(probes)
        raise OutputError(f"{folder}: cannot write a probe file: {err.strerror or err}") from err
    return probes


def _remove_probes(probes: Sequence[tuple[str, str]]) -> None:
    for name, _ in probes:
        Path(name).unlink(missing_ok=True)


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _threads(client: distributed.Client) -> int:
    """Worker threads known to ``client``'s scheduler."""
    return sum(client.nthreads().values())


def _dashboard(client: distributed.Client) -> str:
    """The cluster's dashboard link, or why there is none (its pages need bokeh)."""
    try:
        link = str(client.dashboard_link)
    except (KeyError, AttributeError):
        link = ""
    if not link or (client.cluster is not None and importlib.util.find_spec("bokeh") is None):
        return "not available (it needs bokeh on the scheduler)"
    return link


def _setup_error(problems: Sequence[str]) -> TilingError:
    shown = "; ".join(problems[:_SHOWN_PROBLEMS])
    more = len(problems) - _SHOWN_PROBLEMS
    if more > 0:
        shown += f"; and {more} more"
    return TilingError(
        f"the Dask workers cannot run this job: {shown}. The inputs, the scratch folder "
        "(--scratch-dir) and the output folder must be on storage mounted at the same paths "
        "on this machine and on every worker (NFS, CephFS, ...), grid folders (--grids) must "
        f"exist on every worker, and every worker needs citymodel {__version__}; {_DOCS}"
    )


class DaskRunner:
    """Runs task functions on a Dask distributed cluster.

    Use as a context manager; leaving the block after an exception cancels queued tasks.

    Parameters
    ----------
    jobs
        Worker processes of the ``LocalCluster`` started when ``scheduler`` is None (one
        thread each); ignored with a scheduler address.
    grids
        Extra PROJ grid folders to register in every worker (and here).
    scheduler
        Address of a running scheduler (``tcp://host:8786``), or None for a ``LocalCluster``.
    shared
        Folders the tasks write into; every worker must see the same folders (probe files).
    inputs
        Files the tasks read; every worker must see them with the same sizes.
    timeout
        Seconds to wait for the scheduler to answer and for its first worker.

    Raises
    ------
    TilingError
        When the cluster cannot be started or reached, has no workers, or a worker cannot see
        the grids, shared folders or inputs, or runs another citymodel version.
    OutputError
        When a probe file cannot be written into a shared folder.
    """

    def __init__(
        self,
        jobs: int,
        grids: tuple[Path, ...] = (),
        *,
        scheduler: str | None = None,
        shared: Sequence[Path] = (),
        inputs: Sequence[Path] = (),
        timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {jobs}")
        self._jobs = jobs
        self._scheduler = scheduler
        self._token = uuid.uuid4().hex
        self._topic = _LOG_TOPIC_PREFIX + self._token
        self._plugin = f"citymodel-{self._token}"
        self._relay = _LogRelay()
        self._keys = itertools.count()
        self._batches = itertools.count()
        self._pending: dict[distributed.Future[Any], str] = {}
        self._cluster: distributed.LocalCluster | None = None
        self._client: distributed.Client | None = None
        self._subscribed = False
        self._registered = False
        register_grids(grids)
        try:
            self._client = self._connect(jobs, timeout)
            self._set_up_workers(grids, shared, inputs)
        except BaseException:
            self.close(cancel=True)
            raise

    @property
    def jobs(self) -> int:
        """Worker threads of the cluster (tasks that run at the same time)."""
        client = self._client
        return self._jobs if client is None else max(1, _threads(client))

    def _connect(self, jobs: int, timeout: float) -> distributed.Client:
        address = self._scheduler
        if address is None:
            try:
                self._cluster = distributed.LocalCluster(
                    n_workers=jobs,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    silence_logs=logging.ERROR,
                )
                client = distributed.Client(self._cluster, set_as_default=False)
            except (OSError, RuntimeError, TimeoutError) as err:
                raise TilingError(
                    f"cannot start a local Dask cluster of {jobs} workers: {err}"
                ) from err
            log.info("local Dask cluster of %d workers, dashboard %s", jobs, _dashboard(client))
            return client
        try:
            client = distributed.Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as err:
            raise TilingError(
                f"cannot connect to the Dask scheduler at {address}: {err} (is `dask scheduler` "
                f"running there and reachable from this machine? {_DOCS})"
            ) from err
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError as err:
            client.close()
            raise TilingError(
                f"the Dask scheduler at {address} has no workers (waited {timeout:g} s); "
                f"start them with `dask worker {address}` ({_DOCS})"
            ) from err
        log.info(
            "Dask scheduler %s: %d worker threads, dashboard %s",
            address,
            _threads(client),
            _dashboard(client),
        )
        return client

    def _set_up_workers(
        self, grids: tuple[Path, ...], shared: Sequence[Path], inputs: Sequence[Path]
    ) -> None:
        client = self._require_client()
        client.subscribe_topic(self._topic, self._on_log)
        self._subscribed = True
        plugin = _WorkerSetup(
            token=self._token,
            version=__version__,
            grids=tuple(str(Path(g).expanduser().absolute()) for g in grids),
            # As the tasks will use them: a relative path is checked from the worker's own
            # working folder, which on a remote cluster is not this one.
            folders=tuple(str(f) for f in shared),
            inputs=tuple((str(p), _file_size(Path(p))) for p in inputs),
            level=logging.getLogger("citymodel").getEffectiveLevel(),
            own_cluster=self._cluster is not None,
        )
        probes = _write_probes([Path(f) for f in shared], self._token)
        try:
            client.register_plugin(plugin, name=self._plugin)
            self._registered = True
            answers: dict[str, tuple[str, list[str]]] = client.run(
                _check_worker, self._token, probes
            )
        except (ImportError, AttributeError, TypeError) as err:  # unpickling on a worker
            raise TilingError(
                f"cannot set up the Dask workers: {type(err).__name__}: {err} (is citymodel "
                f"{__version__} installed on every worker? {_DOCS})"
            ) from err
        finally:
            _remove_probes(probes)
        problems = [
            f"worker {address} (host {host}): {problem}"
            for address, (host, found) in sorted(answers.items())
            for problem in found
        ]
        if problems:
            raise _setup_error(problems)

    def _on_log(self, event: tuple[float, dict[str, Any]]) -> None:
        _, fields = event
        self._relay.handle(logging.makeLogRecord(fields))

    def _require_client(self) -> distributed.Client:
        if self._client is None:
            raise TilingError("the Dask runner is closed")
        return self._client

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

    def map(self, fn: Callable[[_T], _R], tasks: Iterable[_T]) -> Iterator[_R]:
        """Yield ``fn(task)`` for every task, in completion order.

        At most ``2 ×`` the cluster's worker threads are submitted at a time, so ``tasks`` may
        be a lazy iterator. The first exception is re-raised here.
        """
        client = self._require_client()
        limit = IN_FLIGHT_PER_JOB * max(1, _threads(client))
        name = getattr(fn, "__name__", "task").strip("_") or "task"
        batch = f"{self._token}/{next(self._batches)}"
        pending: set[distributed.Future[Any]] = set()
        completed = distributed.as_completed(loop=client.loop)
        source = iter(tasks)
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < limit:
                    try:
                        task = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    key = f"{name}-{self._token[:12]}-{next(self._keys)}"
                    future = client.submit(_run_task, self._token, batch, fn, task, key=key)
                    pending.add(future)
                    self._pending[future] = batch
                    completed.add(future)
                if not pending:
                    return
                for future in completed.next_batch(block=True):
                    pending.discard(future)
                    self._pending.pop(future, None)
                    yield self._result(future)
        finally:
            if pending and self._client is not None:  # left early: an error or a break
                for future in pending:
                    self._pending.pop(future, None)
                self._cancel(self._client, pending, {batch})

    @staticmethod
    def _result(future: distributed.Future[_R | _Failed]) -> _R:
        try:
            value = future.result()
        except distributed.KilledWorker as err:
            raise TilingError(
                f"Dask workers died while running task {future.key} (out of memory or killed; "
                f"see the worker logs): {err}"
            ) from err
        except CancelledError as err:
            raise TilingError(
                f"the Dask cluster dropped task {future.key} (scheduler restarted or the "
                f"connection was lost): {err}"
            ) from err
        if isinstance(value, _Failed):
            raise value.error from _WorkerTraceback(value.traceback)
        return value

    def _cancel(
        self,
        client: distributed.Client,
        futures: Collection[distributed.Future[Any]],
        batches: Collection[str],
    ) -> None:
        """Cancel ``futures``; on a remote cluster, wait until no task of ``batches`` runs.

        A cluster started for the run needs no waiting: closing it stops its workers.
        """
        try:
            client.cancel(list(futures), force=True)
        except Exception as err:  # a lost connection: nothing left to cancel
            log.debug("cancelling Dask tasks failed: %s", err)
            return
        if self._cluster is None:
            self._await_stopped(client, tuple(batches))

    def _await_stopped(self, client: distributed.Client, batches: tuple[str, ...]) -> None:
        warned = False
        while True:
            try:
                counts: dict[str, int] = client.run(_stop_batches, batches)
            except Exception as err:  # workers gone: nothing runs any more
                log.debug("asking the Dask workers for running tasks failed: %s", err)
                return
            busy = sum(counts.values())
            if not busy:
                return
            if not warned:
                log.warning(
                    "waiting for %d cancelled task(s) still running on the Dask workers "
                    "(Ctrl-C again to stop waiting; they may then leave files behind)",
                    busy,
                )
                warned = True
            time.sleep(_POLL_S)

    def close(self, *, cancel: bool = False, kill: bool = False) -> None:
        """Cancel what is left, detach from the cluster (or stop the one started for the run).

        ``cancel`` and ``kill`` both drop queued tasks. A cluster started for the run is
        closed, which stops its workers even in the middle of a task; on a remote cluster the
        tasks already running are waited for (see the module docstring).
        """
        client, cluster = self._client, self._cluster
        try:
            if client is not None and cluster is None:
                if self._pending:
                    pending, self._pending = self._pending, {}
                    self._cancel(client, pending, set(pending.values()))
                self._detach(client)
        finally:
            self._client = None
            self._cluster = None
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()

    def _detach(self, client: distributed.Client) -> None:
        """Remove this job's worker plugin and log topic from a cluster that stays up."""
        try:
            if self._registered:
                client.unregister_worker_plugin(self._plugin)
            if self._subscribed:
                client.unsubscribe_topic(self._topic)
        except Exception as err:  # a lost connection: the cluster forgets the job anyway
            log.debug("detaching from the Dask cluster failed: %s", err)
