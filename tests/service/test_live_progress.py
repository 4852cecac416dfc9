"""A running job's status shows buildings read and tiles written while it runs; jobs on Dask."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.conftest import FINAL, InProcessServer, upload, wait_for


def poll_until_final(
    client: httpx.Client, job_id: str, timeout: float = 180.0
) -> list[dict[str, Any]]:
    """Every status document seen while polling as fast as the server answers."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        seen.append(response.json())
        if seen[-1]["status"] in FINAL:
            return seen
        time.sleep(0.02)
    pytest.fail(f"job {job_id} did not finish in {timeout} s: {seen[-1]}")


def test_progress_counts_buildings_and_tiles_while_the_job_runs(
    make_server: Callable[..., InProcessServer], big_city: list[Path]
) -> None:
    server = make_server(job_processes=1, progress_interval_s=0.05)
    with server.client() as client:
        job = upload(client, big_city).json()
        seen = poll_until_final(client, job["id"])
    final = seen[-1]
    assert final["status"] == "successful", final
    total = final["result"]["buildings_in"]
    assert total == 2000
    running = [d["progress"] for d in seen if d["status"] == "running"]
    reading = [p for p in running if p["stage"] == "read" and p["buildings"] is not None]
    assert any(0 < p["buildings"] < total for p in reading), reading  # seen mid-run
    counts = [p["buildings"] for p in running if p["buildings"] is not None]
    assert counts == sorted(counts)  # only grows
    writing = [p for p in running if p["stage"] == "write"]
    assert any(0 < p["tiles"] < p["total"] for p in writing), writing
    assert all(p["buildings"] == total for p in writing)  # all read before tiles are written
    assert final["progress"]["percent"] == 100.0


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    distributed = pytest.importorskip("distributed", reason="the 'distributed' extra is missing")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def test_jobs_run_on_a_dask_cluster_when_configured(
    make_server: Callable[..., InProcessServer],
    dask_scheduler: str,
    big_city: list[Path],
    tmp_path: Path,
) -> None:
    """Same tileset as a job on local processes; the report says the tasks ran on Dask."""
    files = big_city[:3]
    tilesets = {}
    for name, settings in (
        ("dask", {"dask_scheduler": dask_scheduler}),
        ("local", {}),
    ):
        server = make_server(data_dir=tmp_path / name, **settings)
        with server.client() as client:
            job = upload(client, files).json()
            done = wait_for(client, job["id"], timeout=180)
            assert done["status"] == "successful", done
            report = client.get(f"/jobs/{job['id']}/report").json()
            assert report["tiling"]["executor"] == name
            tileset = client.get(f"/jobs/{job['id']}/results/tileset.json")
            assert tileset.status_code == 200
            tilesets[name] = tileset.content
        server.stop()
    assert tilesets["dask"] == tilesets["local"]


@pytest.mark.slow  # waits for the Dask client's connect timeout (30 s)
def test_a_job_fails_clearly_when_the_dask_scheduler_is_unreachable(
    make_server: Callable[..., InProcessServer], big_city: list[Path]
) -> None:
    pytest.importorskip("distributed", reason="the 'distributed' extra is missing")
    server = make_server(dask_scheduler="tcp://127.0.0.1:9")  # discard port: nothing listens
    with server.client() as client:
        job = upload(client, big_city[:1]).json()
        done = wait_for(client, job["id"], timeout=180)
    assert done["status"] == "failed"
    assert "tcp://127.0.0.1:9" in done["message"]
