"""The job table: SQLite in WAL mode, versioned schema, one connection shared by the server.

Only the server process writes the table (job processes report to it through a pipe), so one
connection guarded by a lock serves the request handlers and the worker threads. WAL with
``synchronous=NORMAL`` keeps every committed change across a crash of the server (SIGKILL,
OOM kill); an operating-system crash may lose the last few commits, never corrupt the file.

The schema version lives in ``PRAGMA user_version``; :data:`MIGRATIONS` holds one script per
version and :meth:`JobStore.open` applies the missing ones in a transaction each. A file
written by a newer citymodel (a higher version) is refused instead of being misread.

Status words follow OGC API - Processes: ``accepted`` (queued), ``running``, ``successful``,
``failed``, ``dismissed`` (cancelled). Transitions are guarded in SQL (``WHERE status = ...``)
so a cancel racing a worker's claim or finish has exactly one winner.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from citymodel.errors import CityModelError

__all__ = [
    "FINAL_STATUSES",
    "MIGRATIONS",
    "JobRecord",
    "JobStatus",
    "JobStore",
    "StoreError",
]

JobStatus = Literal["accepted", "running", "successful", "failed", "dismissed"]
STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)
FINAL_STATUSES: frozenset[JobStatus] = frozenset({"successful", "failed", "dismissed"})

MIGRATIONS: tuple[str, ...] = (
    # version 1
    """
    CREATE TABLE jobs (
        id          TEXT PRIMARY KEY,
        process     TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN
                        ('accepted', 'running', 'successful', 'failed', 'dismissed')),
        created     REAL NOT NULL,
        started     REAL,
        finished    REAL,
        updated     REAL NOT NULL,
        source      TEXT NOT NULL CHECK (source IN ('upload', 'paths')),
        inputs      TEXT NOT NULL,
        options     TEXT NOT NULL,
        message     TEXT NOT NULL DEFAULT '',
        progress    TEXT NOT NULL DEFAULT '{}',
        attempts    INTEGER NOT NULL DEFAULT 0,
        pid         INTEGER,
        pid_started REAL,
        result      TEXT
    );
    CREATE INDEX jobs_by_status ON jobs (status, created);
    CREATE INDEX jobs_by_created ON jobs (created);
    """,
)
"""Schema scripts; script ``i`` brings the table from version ``i`` to ``i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(CityModelError):
    """The job table cannot be opened (newer schema, damaged file, unwritable folder)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRecord:
    """One row of the job table.

    Times are seconds since the epoch (UTC). ``inputs`` are paths relative to the job folder
    (uploads) or absolute server-side paths; ``options`` the validated job options as JSON;
    ``progress`` the last progress report; ``attempts`` how often the job was started;
    ``pid``/``pid_started`` the job process of the current attempt (with its start time, so a
    reused pid is not mistaken for it); ``result`` a summary of a successful run.
    """

    id: str
    process: str
    status: JobStatus
    created: float
    updated: float
    source: Literal["upload", "paths"]
    inputs: tuple[str, ...]
    options: Mapping[str, Any]
    started: float | None = None
    finished: float | None = None
    message: str = ""
    progress: Mapping[str, Any] | None = None
    attempts: int = 0
    pid: int | None = None
    pid_started: float | None = None
    result: Mapping[str, Any] | None = None


_COLUMNS = (
    "id, process, status, created, started, finished, updated, source, inputs, options, "
    "message, progress, attempts, pid, pid_started, result"
)


def _record(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        process=row["process"],
        status=row["status"],
        created=row["created"],
        started=row["started"],
        finished=row["finished"],
        updated=row["updated"],
        source=row["source"],
        inputs=tuple(json.loads(row["inputs"])),
        options=json.loads(row["options"]),
        message=row["message"],
        progress=json.loads(row["progress"]),
        attempts=row["attempts"],
        pid=row["pid"],
        pid_started=row["pid_started"],
        result=None if row["result"] is None else json.loads(row["result"]),
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class JobStore:
    """The job table of one data folder; thread-safe. Use :meth:`open`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self._lock = threading.RLock()
        self.path = path

    @classmethod
    def open(cls, path: Path) -> JobStore:
        """Open (or create) the job table at ``path`` and bring its schema up to date.

        Raises
        ------
        StoreError
            When the file was written by a newer citymodel or cannot be opened.
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"{path}: cannot open the job table: {err}") from err
        if version > SCHEMA_VERSION:
            db.close()
            raise StoreError(
                f"{path}: job table has schema version {version}, this citymodel knows "
                f"{SCHEMA_VERSION}; use a newer citymodel or another data folder"
            )
        try:
            for target in range(version + 1, SCHEMA_VERSION + 1):
                db.executescript(
                    f"BEGIN;\n{MIGRATIONS[target - 1]}\nPRAGMA user_version = {target};\nCOMMIT;"
                )
        except sqlite3.Error as err:
            db.close()
            raise StoreError(f"{path}: cannot update the job table schema: {err}") from err
        return cls(db, path)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, params: Iterable[Any] = ()) -> JobRecord | None:
        with self._lock:
            row = self._db.execute(sql, tuple(params)).fetchone()
        return None if row is None else _record(row)

    # -- reading ---------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        """The job ``job_id``, or None."""
        return self._one(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,))

    def page(
        self, *, statuses: Iterable[JobStatus] = (), limit: int = 100, offset: int = 0
    ) -> list[JobRecord]:
        """Jobs, newest first, optionally only those with one of ``statuses``."""
        wanted = tuple(statuses)
        where = f"WHERE status IN ({','.join('?' * len(wanted))})" if wanted else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs {where} "
                "ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?",
                (*wanted, limit, offset),
            ).fetchall()
        return [_record(r) for r in rows]

    def counts(self) -> dict[JobStatus, int]:
        """Number of jobs per status (every status, zeros included)."""
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        counts: dict[JobStatus, int] = dict.fromkeys(STATUSES, 0)
        counts.update({row[0]: int(row[1]) for row in rows})
        return counts

    def ids(self) -> set[str]:
        """The ids of all jobs."""
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT id FROM jobs")}

    def with_status(self, status: JobStatus) -> list[JobRecord]:
        """All jobs with ``status``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE status = ? ORDER BY created, rowid",
                (status,),
            ).fetchall()
        return [_record(r) for r in rows]

    # -- writing ---------------------------------------------------------------------------

    def insert(self, record: JobRecord) -> None:
        """Add a new job (its id must be new)."""
        with self._lock:
            self._db.execute(
                f"INSERT INTO jobs ({_COLUMNS}) VALUES ({','.join('?' * 16)})",
                (
                    record.id,
                    record.process,
                    record.status,
                    record.created,
                    record.started,
                    record.finished,
                    record.updated,
                    record.source,
                    _json(list(record.inputs)),
                    _json(dict(record.options)),
                    record.message,
                    _json(dict(record.progress or {})),
                    record.attempts,
                    record.pid,
                    record.pid_started,
                    None if record.result is None else _json(dict(record.result)),
                ),
            )

    def claim_next(self, progress: Mapping[str, Any]) -> JobRecord | None:
        """Move the oldest ``accepted`` job to ``running`` (one more attempt) and return it."""
        now = time.time()
        with self._transaction() as db:
            row = db.execute(
                "SELECT id FROM jobs WHERE status = 'accepted' ORDER BY created, rowid LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET status = 'running', started = ?, updated = ?, finished = NULL, "
                "attempts = attempts + 1, pid = NULL, pid_started = NULL, progress = ? "
                "WHERE id = ?",
                (now, now, _json(dict(progress)), row[0]),
            )
        return self.get(row[0])

    def set_process(self, job_id: str, pid: int, started: float) -> None:
        """Record the process running the current attempt of ``job_id``."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET pid = ?, pid_started = ?, updated = ? WHERE id = ?",
                (pid, started, time.time(), job_id),
            )

    def set_progress(self, job_id: str, progress: Mapping[str, Any]) -> bool:
        """Store the progress of a running job; False when it is no longer running."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET progress = ?, updated = ? WHERE id = ? AND status = 'running'",
                (_json(dict(progress)), time.time(), job_id),
            )
        return cursor.rowcount == 1

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        *,
        message: str,
        progress: Mapping[str, Any] | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> bool:
        """End a running job with a final ``status``; False when it was not running."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"not a final status: {status!r}")
        now = time.time()
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET status = ?, message = ?, finished = ?, updated = ?, "
                "progress = COALESCE(?, progress), result = ?, pid = NULL, pid_started = NULL "
                "WHERE id = ? AND status = 'running'",
                (
                    status,
                    message,
                    now,
                    now,
                    None if progress is None else _json(dict(progress)),
                    None if result is None else _json(dict(result)),
                    job_id,
                ),
            )
        return cursor.rowcount == 1

    def dismiss_queued(self, job_id: str, *, message: str) -> bool:
        """Dismiss an ``accepted`` job before it starts; False when it is not queued."""
        now = time.time()
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET status = 'dismissed', message = ?, finished = ?, updated = ? "
                "WHERE id = ? AND status = 'accepted'",
                (message, now, now, job_id),
            )
        return cursor.rowcount == 1

    def requeue(
        self,
        job_id: str,
        *,
        message: str,
        progress: Mapping[str, Any],
        count_attempt: bool = True,
    ) -> bool:
        """Put a ``running`` job back in the queue (``accepted``) after an interruption.

        ``count_attempt=False`` gives the attempt back (a deliberate server stop is not the
        job's fault). False when the job was not running.
        """
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET status = 'accepted', message = ?, updated = ?, started = NULL, "
                "pid = NULL, pid_started = NULL, progress = ?, "
                "attempts = attempts - ? WHERE id = ? AND status = 'running'",
                (
                    message,
                    time.time(),
                    _json({"stage": "queued"}),
                    0 if count_attempt else 1,
                    job_id,
                ),
            )
        return cursor.rowcount == 1

    def delete(self, job_id: str) -> bool:
        """Remove a finished job; False when it is queued, running or unknown."""
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM jobs WHERE id = ? AND status IN ('successful', 'failed', 'dismissed')",
                (job_id,),
            )
        return cursor.rowcount == 1
