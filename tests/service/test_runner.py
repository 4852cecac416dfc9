"""The worker pool: recovery at start-up, crashed job processes, the progress estimate."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from citymodel.service.config import ServiceConfig
from citymodel.service.runner import JobRunner, progress_document
from citymodel.service.store import JobRecord, JobStore
from tests.service.conftest import InProcessServer, group_members, upload, wait_for


@pytest.fixture
def config(tmp_path: Path) -> ServiceConfig:
    cfg = ServiceConfig(data_dir=tmp_path / "data", max_attempts=3)
    cfg.jobs_dir.mkdir(parents=True)
    return cfg


@pytest.fixture
def store(config: ServiceConfig) -> Iterator[JobStore]:
    s = JobStore.open(config.database)
    yield s
    s.close()


def _running_job(
    store: JobStore, config: ServiceConfig, job_id: str, attempts: int, pid: int | None = None
) -> None:
    now = time.time()
    store.insert(
        JobRecord(
            id=job_id,
            process="tile",
            status="accepted",
            created=now,
            updated=now,
            source="upload",
            inputs=("input/a.gml",),
            options={},
            attempts=attempts - 1,
        )
    )
    store.claim_next(progress_document("starting"))
    if pid is not None:
        store.set_process(job_id, pid, psutil.Process(pid).create_time())
    config.job(job_id).input.mkdir(parents=True)


def _session(*command: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(list(command), start_new_session=True)


def test_interrupted_jobs_are_queued_again_until_max_attempts(
    store: JobStore, config: ServiceConfig
) -> None:
    _running_job(store, config, "again", attempts=1)
    _running_job(store, config, "given-up", attempts=3)
    JobRunner(config, store).recover()
    again, given_up = store.get("again"), store.get("given-up")
    assert again is not None and given_up is not None
    assert (again.status, again.attempts) == ("accepted", 1)
    assert "attempt 1 was interrupted" in again.message
    assert again.progress is not None and again.progress["stage"] == "queued"
    assert given_up.status == "failed"
    assert "each of 3 attempts" in given_up.message


def test_leftover_processes_of_an_interrupted_job_are_killed(
    store: JobStore, config: ServiceConfig
) -> None:
    leader = _session("sh", "-c", "sleep 60 & sleep 60")
    try:
        deadline = time.monotonic() + 10
        while len(group_members(leader.pid)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        _running_job(store, config, "orphaned", attempts=1, pid=leader.pid)
        JobRunner(config, store).recover()
        leader.wait(timeout=10)
        assert group_members(leader.pid) == []
    finally:
        if leader.poll() is None:
            os.killpg(leader.pid, signal.SIGKILL)
            leader.wait()


def test_a_reused_process_id_is_not_killed(store: JobStore, config: ServiceConfig) -> None:
    """A live group leader that started before the recorded job process is someone else."""
    other = _session("sleep", "60")
    try:
        _running_job(store, config, "old", attempts=1)
        with sqlite3.connect(config.database) as db:
            started = psutil.Process(other.pid).create_time() + 100.0  # the job came later
            db.execute("UPDATE jobs SET pid = ?, pid_started = ?", (other.pid, started))
        JobRunner(config, store).recover()
        assert other.poll() is None, "an unrelated process was killed"
    finally:
        other.kill()
        other.wait()


def test_folders_without_a_job_are_removed(store: JobStore, config: ServiceConfig) -> None:
    _running_job(store, config, "kept", attempts=1)
    orphan = config.jobs_dir / "half-uploaded"
    (orphan / "input").mkdir(parents=True)
    (orphan / "input" / "a.gml").write_bytes(b"<partial")
    JobRunner(config, store).recover()
    assert not orphan.exists()
    assert config.job("kept").input.is_dir()


def test_progress_estimate_grows_through_the_stages() -> None:
    stages = [progress_document("queued"), progress_document("starting")]
    stages += [progress_document("read", n, 4) for n in range(5)]
    stages += [progress_document("write", n, 10) for n in range(11)]
    stages.append(progress_document("done", 10, 10, buildings=40, tiles=10))
    percents = [p["percent"] for p in stages]
    assert percents == sorted(percents)
    assert percents[0] == 0.0 and percents[-1] == 100.0 and max(percents[:-1]) < 100.0
    assert progress_document("write", 3, 10)["tiles"] == 3


def test_a_crashed_job_process_fails_the_job_not_the_server(
    make_server: Callable[..., InProcessServer], big_city: list[Path]
) -> None:
    server = make_server(job_processes=2)
    with server.client() as client:
        job = upload(client, big_city).json()
        wait_for(
            client,
            job["id"],
            lambda d: d["status"] == "running" and d["progress"]["stage"] in ("read", "write"),
        )
        with sqlite3.connect(server.config.database) as db:
            (pid,) = db.execute("SELECT pid FROM jobs WHERE id = ?", (job["id"],)).fetchone()
        os.kill(pid, signal.SIGKILL)  # as the out-of-memory killer would
        done = wait_for(client, job["id"])
        assert done["status"] == "failed"
        assert "SIGKILL" in done["message"]
        assert group_members(pid) == [], "the tiler's workers of the crashed job are killed too"
        assert client.get("/health").json()["status"] == "ok"
        assert upload(client, big_city[:1]).status_code == 201
