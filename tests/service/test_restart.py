"""Restarts: a server killed (SIGKILL) or stopped during a job loses nothing.

The job process dies with the server (its stdin watchdog kills its process group, the tiler's
workers included); the next server on the same data folder queues the job again and runs it
from the inputs kept in its folder; finished and queued jobs are untouched.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.service.conftest import (
    InProcessServer,
    ServerProcess,
    group_members,
    upload,
    wait_for,
)
from tests.service.http_walk import download_tileset
from tests.tiler.conftest import assert_check_tileset_passes

pytestmark = pytest.mark.slow


def _job_pid(data: Path, job_id: str) -> int:
    with sqlite3.connect(data / "jobs.sqlite") as db:
        (pid,) = db.execute("SELECT pid FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert pid is not None
    return int(pid)


def _wait_gone(leader: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while group_members(leader):
        assert time.monotonic() < deadline, f"job processes survived: {group_members(leader)}"
        time.sleep(0.1)


def _reading(document: dict[str, object]) -> bool:
    progress = document["progress"]
    assert isinstance(progress, dict)
    return document["status"] == "running" and progress["stage"] in ("read", "write")


@pytest.mark.node
def test_server_killed_mid_job_recovers_it(
    start_server: Callable[..., ServerProcess],
    big_city: list[Path],
    small_city: Path,
    tmp_path: Path,
) -> None:
    server = start_server(None, "--job-processes", "2", "--workers", "1")
    with server.client() as client:
        finished = upload(client, [small_city]).json()
        assert wait_for(client, finished["id"])["status"] == "successful"
        big = upload(client, big_city, {"implicit": False}).json()
        queued = upload(client, [small_city], {"implicit": True}).json()
        wait_for(client, big["id"], _reading)
        assert client.get(f"/jobs/{queued['id']}").json()["status"] == "accepted"
    leader = _job_pid(server.data, big["id"])
    assert len(group_members(leader)) >= 2, "the job runs with tiler worker processes"

    server.kill(signal.SIGKILL)
    _wait_gone(leader)  # the job and its workers die with the server

    restarted = start_server(server.data, "--job-processes", "2")
    with restarted.client() as client:
        again = client.get(f"/jobs/{big['id']}").json()
        assert again["status"] in ("accepted", "running")
        assert "interrupted" in again["message"]
        done = wait_for(client, big["id"])
        assert done["status"] == "successful", done
        assert done["attempts"] == 2
        assert done["result"]["buildings"] == 2000
        assert wait_for(client, queued["id"])["status"] == "successful"
        assert wait_for(client, queued["id"])["attempts"] == 1
        listed = client.get("/jobs").json()
        assert {j["id"] for j in listed["jobs"]} == {finished["id"], big["id"], queued["id"]}
        # the job finished before the crash is still served
        assert client.get(f"/jobs/{finished['id']}/results/tileset.json").status_code == 200
        base = f"{restarted.url}/jobs/{big['id']}/results"
        fetched = download_tileset(client, base, tmp_path / "dl")
    assert sum(name.endswith(".glb") for name in fetched) > 1
    log = (server.data / "jobs" / big["id"] / "log").read_text(encoding="utf-8")
    assert "--- attempt 1" in log and "--- attempt 2" in log
    assert_check_tileset_passes(tmp_path / "dl" / "tileset.json")


def test_stopped_server_requeues_without_counting_the_attempt(
    make_server: Callable[..., InProcessServer], big_city: list[Path], tmp_path: Path
) -> None:
    server = make_server(job_processes=2)
    with server.client() as client:
        job = upload(client, big_city).json()
        wait_for(client, job["id"], _reading)
    leader = _job_pid(server.config.data_dir, job["id"])
    server.stop()  # graceful: the lifespan kills running jobs and queues them again
    assert group_members(leader) == []
    with sqlite3.connect(server.config.data_dir / "jobs.sqlite") as db:
        status, attempts, message = db.execute(
            "SELECT status, attempts, message FROM jobs WHERE id = ?", (job["id"],)
        ).fetchone()
    assert (status, attempts) == ("accepted", 0)
    assert "server stopped" in message
    assert not (server.config.data_dir / "jobs" / job["id"] / "output").exists()

    again = make_server(data_dir=server.config.data_dir, job_processes=2)
    with again.client() as client:
        done = wait_for(client, job["id"])
    assert done["status"] == "successful", done
    assert done["attempts"] == 1
