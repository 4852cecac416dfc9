"""What one server holds: the data folder lock, the job table, the worker pool and the jobs.

:meth:`ServiceState.open` takes an exclusive lock on the data folder (``service.lock``, an
``flock`` the kernel releases when the process dies, also by SIGKILL), opens the job table and
recovers interrupted jobs (:meth:`~citymodel.service.runner.JobRunner.recover`); the worker
threads start with :meth:`ServiceState.start` and stop with :meth:`ServiceState.close`.
"""

from __future__ import annotations

import fcntl
import logging
import os

from citymodel.errors import CityModelError
from citymodel.service.config import ServiceConfig
from citymodel.service.jobs import JobManager
from citymodel.service.runner import JobRunner
from citymodel.service.store import JobStore

__all__ = ["DataFolderBusyError", "ServiceState"]

log = logging.getLogger(__name__)


class DataFolderBusyError(CityModelError):
    """Another server uses the data folder."""


def _lock(config: ServiceConfig) -> int:
    """Take the data folder's lock; return its file descriptor."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(config.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise DataFolderBusyError(
            f"{config.data_dir} is used by another citymodel server (pid {owner}); "
            "stop it or give another --data folder"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


class ServiceState:
    """The lock, job table, worker pool and job manager of one server process."""

    def __init__(self, config: ServiceConfig, store: JobStore, lock_fd: int) -> None:
        self.config = config
        self.store = store
        self.runner = JobRunner(config, store)
        self.jobs = JobManager(config, store, self.runner)
        self._lock_fd: int | None = lock_fd
        self.started = False

    @classmethod
    def open(cls, config: ServiceConfig) -> ServiceState:
        """Lock the data folder, open the job table and recover interrupted jobs.

        Raises
        ------
        DataFolderBusyError
            When another server holds the folder.
        StoreError
            When the job table cannot be opened.
        """
        fd = _lock(config)
        try:
            config.jobs_dir.mkdir(exist_ok=True)
            store = JobStore.open(config.database)
        except BaseException:
            os.close(fd)
            raise
        state = cls(config, store, fd)
        try:
            state.runner.recover()
        except BaseException:
            state.close()
            raise
        return state

    def start(self) -> None:
        """Start the worker threads."""
        if not self.started:
            self.runner.start()
            self.started = True

    def close(self) -> None:
        """Stop the workers (running jobs are queued again), close the table, release the lock."""
        if self.started:
            self.runner.stop()
            self.started = False
        if self._lock_fd is not None:
            self.store.close()
            os.close(self._lock_fd)
            self._lock_fd = None
