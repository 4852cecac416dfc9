"""Configuration of the job service (``citymodel serve``) and the layout of its data folder.

Data folder layout::

    DIR/service.lock             held (flock) by the running server: one server per folder
    DIR/jobs.sqlite              the job table (SQLite, WAL), see :mod:`citymodel.service.store`
    DIR/jobs/<id>/job.json       what the job runs: inputs and validated options
    DIR/jobs/<id>/input/         uploaded files (absent for jobs on server-side paths)
    DIR/jobs/<id>/output/        the tileset folder (or ``output/tileset.3tz``)
    DIR/jobs/<id>/report.json    the job report, written however the job ends
    DIR/jobs/<id>/log            log of the job process (all attempts)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from citymodel.tiler.build import default_jobs

__all__ = ["API_KEY_ENV", "JobPaths", "ServiceConfig"]

API_KEY_ENV = "CITYMODEL_API_KEY"
"""Environment variable holding the API key for write endpoints (``--api-key`` wins)."""

_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceConfig:
    """Settings of one server process.

    Attributes
    ----------
    data_dir
        The data folder (created when missing); see the module docstring for its layout.
    host, port
        Where to listen. The default host is the loopback interface only.
    workers
        Jobs that run at the same time (the bounded pool); more wait as ``accepted``.
    job_processes
        Tiler worker processes of one job (``TileOptions.jobs``); default: the CPUs available
        divided by ``workers``.
    dask_scheduler
        Address of a Dask scheduler (``tcp://host:8786``): jobs run their tiling tasks on that
        cluster (``TileOptions(executor="dask")``) instead of ``job_processes`` local
        processes. The data folder must be on storage every worker mounts at the same path.
    max_upload_bytes
        Largest request body of an upload (all files together); larger uploads get 413.
    api_key
        When set, write endpoints (submit, cancel, delete) need it as ``Authorization:
        Bearer KEY`` or ``X-API-Key: KEY``.
    data_roots
        Folders whose files may be tiled by server-side path (``{"paths": [...]}``); none
        means jobs on server-side paths are refused.
    grids
        Extra PROJ grid folders for every job (GCG2016 and BETA2007 are built in).
    max_attempts
        A job interrupted by a server stop or crash runs again at the next start, up to this
        many attempts in all; then it is marked failed.
    max_queued
        Largest number of ``accepted`` jobs; further submissions get 503.
    progress_interval_s
        Least time between two progress writes of one job to the job table.
    """

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    job_processes: int | None = None
    dask_scheduler: str | None = None
    max_upload_bytes: int = 1024 * _MIB
    api_key: str | None = None
    data_roots: tuple[Path, ...] = ()
    grids: tuple[Path, ...] = ()
    max_attempts: int = 3
    max_queued: int = 1000
    progress_interval_s: float = 0.5
    _resolved_roots: tuple[Path, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = []
        if self.workers < 1:
            problems.append(f"workers must be >= 1, got {self.workers}")
        if self.job_processes is not None and self.job_processes < 1:
            problems.append(f"job_processes must be >= 1, got {self.job_processes}")
        if self.max_upload_bytes < 1:
            problems.append(f"max_upload_bytes must be positive, got {self.max_upload_bytes}")
        if self.max_attempts < 1 or self.max_queued < 1:
            problems.append("max_attempts and max_queued must be >= 1")
        if not 0 <= self.port <= 65535:
            problems.append(f"port must be within 0..65535, got {self.port}")
        if self.api_key is not None and not self.api_key.strip():
            problems.append("the API key must not be empty")
        if problems:
            raise ValueError("; ".join(problems))
        object.__setattr__(self, "data_dir", Path(self.data_dir).absolute())
        roots = tuple(Path(os.path.realpath(r)) for r in self.data_roots)
        object.__setattr__(self, "_resolved_roots", roots)

    @property
    def processes_per_job(self) -> int:
        """Tiler worker processes of one job (``job_processes`` or CPUs / ``workers``)."""
        if self.job_processes is not None:
            return self.job_processes
        return max(1, default_jobs() // self.workers)

    @property
    def resolved_roots(self) -> tuple[Path, ...]:
        """``data_roots`` with symbolic links resolved (what paths are checked against)."""
        return self._resolved_roots

    @property
    def database(self) -> Path:
        """The job table: ``DIR/jobs.sqlite``."""
        return self.data_dir / "jobs.sqlite"

    @property
    def lock_file(self) -> Path:
        """``DIR/service.lock``, held by the running server."""
        return self.data_dir / "service.lock"

    @property
    def jobs_dir(self) -> Path:
        """``DIR/jobs``: one folder per job."""
        return self.data_dir / "jobs"

    def job(self, job_id: str) -> JobPaths:
        """The folders and files of job ``job_id``."""
        return JobPaths(self.jobs_dir / job_id)


@dataclass(frozen=True, slots=True)
class JobPaths:
    """The folder of one job and the files in it (see the module docstring)."""

    root: Path

    @property
    def spec(self) -> Path:
        """``job.json``: inputs and options, read by the job process."""
        return self.root / "job.json"

    @property
    def input(self) -> Path:
        """``input/``: uploaded files."""
        return self.root / "input"

    @property
    def output(self) -> Path:
        """``output/``: the tileset folder, or the folder holding ``tileset.3tz``."""
        return self.root / "output"

    @property
    def archive(self) -> Path:
        """``output/tileset.3tz``: the output of a job with ``"output": "3tz"``."""
        return self.output / "tileset.3tz"

    @property
    def report(self) -> Path:
        """``report.json``: the job report."""
        return self.root / "report.json"

    @property
    def log(self) -> Path:
        """``log``: what the job process logged, all attempts."""
        return self.root / "log"
