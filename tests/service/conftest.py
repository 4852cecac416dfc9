"""Fixtures for the service tests: generated cities, an in-process app, a real server process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import uvicorn

from citymodel.service.app import create_app
from citymodel.service.config import ServiceConfig
from citymodel.synthetic import SyntheticCityOptions, write_city, write_city_tiles

CITYMODEL = Path(sys.executable).parent / "citymodel"
FINAL = ("successful", "failed", "dismissed")


@pytest.fixture(scope="session")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 LoD2 buildings in one CityGML file (a job of about two seconds)."""
    path = tmp_path_factory.mktemp("cities") / "small_city.gml"
    write_city(path, SyntheticCityOptions(n_buildings=40, seed=5))
    return path


@pytest.fixture(scope="session")
def big_city(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """2,000 LoD2 buildings in 20 files of a 500 m grid (a job of several seconds)."""
    folder = tmp_path_factory.mktemp("big_city")
    return write_city_tiles(
        folder, SyntheticCityOptions(n_buildings=2000, seed=7, tile_size_m=500.0)
    )


@dataclass
class InProcessServer:
    """The app served by uvicorn in a thread of the test process (real HTTP on loopback)."""

    url: str
    config: ServiceConfig
    server: uvicorn.Server
    thread: threading.Thread

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the server did not stop"


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., InProcessServer]]:
    """Start the app in this process (real job processes) on a fresh data folder."""
    opened: list[InProcessServer] = []

    def make(**settings: Any) -> InProcessServer:
        settings.setdefault("data_dir", tmp_path / "data")
        settings.setdefault("job_processes", 1)
        settings.setdefault("progress_interval_s", 0.1)
        config = ServiceConfig(port=free_port(), **settings)
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(config), host="127.0.0.1", port=config.port, log_level="warning"
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        running = InProcessServer(f"http://127.0.0.1:{config.port}", config, server, thread)
        opened.append(running)
        return running

    yield make
    for running in opened:
        if running.thread.is_alive():
            running.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """``citymodel serve`` running as a real process on a loopback port."""

    proc: subprocess.Popen[bytes]
    url: str
    data: Path
    log: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=30)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``citymodel serve --data DIR`` (+ arguments) on a free port; waits for /health."""
    started: list[ServerProcess] = []

    def start(data: Path | None = None, *args: str, timeout: float = 60.0) -> ServerProcess:
        data = data or tmp_path / "data"
        log = tmp_path / f"server-{len(started)}.log"
        for _ in range(3):  # a free port may be taken between the probe and the bind
            port = free_port()
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [
                        str(CITYMODEL),
                        "-v",
                        "serve",
                        "--data",
                        str(data),
                        "--port",
                        str(port),
                        *args,
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            server = ServerProcess(proc, f"http://127.0.0.1:{port}", data, log)
            started.append(server)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                        return server
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            if proc.poll() is None:
                proc.kill()
                break
            if "address already in use" not in server.output().lower():
                break
        pytest.fail(f"citymodel serve did not start:\n{server.output()[-4000:]}")

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.terminate()
            try:
                server.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait()


def wait_for(
    client: httpx.Client,
    job_id: str,
    until: Callable[[dict[str, Any]], bool] = lambda d: d["status"] in FINAL,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Poll ``GET /jobs/{id}`` until ``until(document)``; fail with the last document."""
    deadline = time.monotonic() + timeout
    document: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        document = response.json()
        if until(document):
            return document
        time.sleep(0.1)
    pytest.fail(f"job {job_id} did not get there in {timeout} s: {document}")


def upload(
    client: httpx.Client,
    files: list[Path],
    options: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    url: str = "/jobs",
) -> httpx.Response:
    """``POST /jobs`` with the files as field ``file`` and ``options`` as JSON."""
    import json

    parts = [("file", (p.name, p.read_bytes(), "application/gml+xml")) for p in files]
    data = {"options": json.dumps(options)} if options is not None else None
    return client.post(url, files=parts, data=data, headers=headers)


def group_members(leader: int) -> list[int]:
    """Live (non-zombie) processes in process group ``leader``."""
    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == leader:
                found.append(proc.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return found
