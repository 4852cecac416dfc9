"""The job table: schema versions, guarded transitions, concurrent claims, WAL durability."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from citymodel.service.runner import progress_document
from citymodel.service.store import SCHEMA_VERSION, JobRecord, JobStore, StoreError

STARTING = progress_document("starting")
QUEUED = progress_document("queued")


def _job(job_id: str, created: float) -> JobRecord:
    return JobRecord(
        id=job_id,
        process="tile",
        status="accepted",
        created=created,
        updated=created,
        source="upload",
        inputs=("input/a.gml",),
        options={"implicit": True},
        progress=QUEUED,
    )


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore.open(tmp_path / "jobs.sqlite")


def test_new_table_has_the_current_schema_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    JobStore.open(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    JobStore.open(path).close()  # opening again migrates nothing and keeps the rows


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer citymodel"):
        JobStore.open(path)


def test_round_trip_and_listing(store: JobStore) -> None:
    for n in range(3):
        store.insert(_job(f"job-{n}", created=100.0 + n))
    record = store.get("job-1")
    assert record is not None
    assert record.inputs == ("input/a.gml",)
    assert record.options == {"implicit": True}
    assert record.progress == QUEUED
    assert [r.id for r in store.page(limit=2)] == ["job-2", "job-1"]
    assert [r.id for r in store.page(limit=2, offset=2)] == ["job-0"]
    assert store.counts()["accepted"] == 3
    assert store.get("nope") is None


def test_claims_oldest_first_and_counts_attempts(store: JobStore) -> None:
    store.insert(_job("late", created=200.0))
    store.insert(_job("early", created=100.0))
    first = store.claim_next(STARTING)
    assert first is not None and first.id == "early"
    assert first.status == "running" and first.attempts == 1 and first.started is not None
    assert store.claim_next(STARTING) is not None
    assert store.claim_next(STARTING) is None


def test_transitions_are_guarded(store: JobStore) -> None:
    store.insert(_job("a", created=1.0))
    assert not store.finish("a", "successful", message="x"), "not running yet"
    assert not store.set_progress("a", STARTING)
    assert store.dismiss_queued("a", message="cancelled")
    assert not store.dismiss_queued("a", message="again")
    assert store.claim_next(STARTING) is None, "a dismissed job is not run"

    store.insert(_job("b", created=2.0))
    store.claim_next(STARTING)
    assert not store.delete("b"), "a running job is not deleted"
    assert store.set_progress("b", progress_document("read", 1, 4))
    assert store.finish("b", "successful", message="done", result={"tiles": 3})
    assert not store.finish("b", "failed", message="late"), "the first end wins"
    record = store.get("b")
    assert record is not None
    assert (record.status, record.message, record.result) == ("successful", "done", {"tiles": 3})
    assert store.delete("b") and store.get("b") is None
    with pytest.raises(ValueError, match="final"):
        store.finish("a", "running", message="x")


def test_requeue_counts_the_attempt_unless_told(store: JobStore) -> None:
    store.insert(_job("a", created=1.0))
    store.claim_next(STARTING)
    store.set_process("a", 4242, 123.0)
    assert store.requeue("a", message="interrupted", progress=QUEUED)
    record = store.get("a")
    assert record is not None
    assert (record.status, record.attempts, record.pid) == ("accepted", 1, None)
    store.claim_next(STARTING)
    assert store.requeue("a", message="server stopped", progress=QUEUED, count_attempt=False)
    record = store.get("a")
    assert record is not None and record.attempts == 1


def test_concurrent_claims_hand_out_each_job_once(store: JobStore) -> None:
    for n in range(200):
        store.insert(_job(f"j{n:03d}", created=float(n)))
    claimed: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        while (record := store.claim_next(STARTING)) is not None:
            with lock:
                claimed.append(record.id)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == [f"j{n:03d}" for n in range(200)]


def test_committed_rows_survive_a_killed_process(tmp_path: Path) -> None:
    """A row committed before the process dies (no close, no checkpoint) is there afterwards."""
    import subprocess
    import sys

    path = tmp_path / "jobs.sqlite"
    code = (
        "import os, signal, time\n"
        "from pathlib import Path\n"
        "from citymodel.service.store import JobStore, JobRecord\n"
        f"s = JobStore.open(Path({str(path)!r}))\n"
        "s.insert(JobRecord(id='x', process='tile', status='accepted', created=time.time(),"
        " updated=time.time(), source='upload', inputs=('input/a.gml',), options={}))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, timeout=60)
    assert result.returncode == -9
    store = JobStore.open(path)
    record = store.get("x")
    assert record is not None and record.status == "accepted"
    assert time.time() - record.created < 60
