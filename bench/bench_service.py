"""Load test of ``citymodel serve`` on loopback: many clients fetching tiles, jobs submitted meanwhile.

1. Starts ``citymodel serve`` as a separate process on a free 127.0.0.1 port with a fresh data
   folder, uploads a generated city (``--buildings``), waits for the job and lists every file
   of its tileset (walking tileset.json, external tilesets and implicit subtrees over HTTP).
2. For ``--seconds``: ``--clients`` concurrent clients (httpx, asyncio, one connection each)
   fetch those files round-robin (``Accept-Encoding: gzip, br``; bodies are read raw, not
   decompressed, so the clients' CPU goes to HTTP), and ``--submitters`` clients
   upload a small city as a new job, wait for it to finish and start over.
3. Prints requests/s, MB/s, latency percentiles (p50/p90/p99/max) of tile requests, errors,
   the CPU time the server process spent per request (comparable across loaded and idle
   machines, unlike the rates), and the submission latency and jobs completed; ``--json FILE``
   writes the numbers.

Bounded on purpose: loopback only, at most 200 clients and 120 s. The clients run on the same
machine as the server (and share its CPUs), so the numbers are a floor for a real deployment.

Examples
--------
    .venv/bin/python bench/bench_service.py --seconds 10 --clients 50 --submitters 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import posixpath
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from citymodel.synthetic import SyntheticCityOptions, write_city, write_city_tiles
from citymodel.tiler.implicit import available_tiles, expand_template
from citymodel.tiler.subtree import decode_subtree

HOST = "127.0.0.1"
CITYMODEL = Path(sys.executable).parent / "citymodel"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_server(data: Path, port: int, log: Path, extra: list[str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(CITYMODEL),
                "serve",
                "--data",
                str(data),
                "--host",
                HOST,
                "--port",
                str(port),
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://{HOST}:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start in 60 s")


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) of the server process itself (not its job processes)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def submit(client: httpx.Client, files: list[Path], options: dict[str, Any]) -> str:
    parts = [("file", (p.name, p.read_bytes())) for p in files]
    response = client.post("/jobs", files=parts, data={"options": json.dumps(options)})
    response.raise_for_status()
    return str(response.json()["id"])


def wait_done(client: httpx.Client, job_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
        if doc["status"] in ("successful", "failed", "dismissed"):
            return doc
        time.sleep(0.2)
    raise SystemExit(f"job {job_id} did not finish")


def tileset_files(client: httpx.Client, base: str) -> list[str]:
    """Every file of the served tileset (relative URIs), as a client would walk it."""
    found: list[str] = []

    def fetch(rel: str) -> bytes:
        response = client.get(f"{base}/{rel}")
        response.raise_for_status()
        found.append(rel)
        return response.content

    def tileset(rel: str) -> None:
        folder = posixpath.dirname(rel)
        tile(json.loads(fetch(rel))["root"], folder)

    def tile(node: dict[str, Any], folder: str) -> None:
        if "implicitTiling" in node:
            spec = node["implicitTiling"]
            levels = int(spec["subtreeLevels"])
            subtrees = posixpath.join(folder, spec["subtrees"]["uri"])
            content = posixpath.join(folder, node["content"]["uri"])
            for key, flags in available_tiles(
                lambda k: decode_subtree(
                    fetch(expand_template(subtrees, k)), subtree_levels=levels
                ),
                subtree_levels=levels,
                available_levels=int(spec["availableLevels"]),
            ):
                if flags[0]:
                    fetch(expand_template(content, key))
            return
        if "content" in node:
            uri = posixpath.join(folder, node["content"]["uri"])
            tileset(uri) if uri.endswith(".json") else fetch(uri)
        for child in node.get("children", []):
            tile(child, folder)

    tileset("tileset.json")
    return found


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    bytes: int = 0
    submit_latencies: list[float] = field(default_factory=list)
    jobs_done: int = 0
    jobs_failed: int = 0
    window_start: float = 0.0
    window: float = 0.0  # seconds from the start until the last tile request ended
    server_cpu: float = 0.0  # CPU seconds of the server process in that window


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def tile_client(
    client: httpx.AsyncClient, files: list[str], offset: int, stop: float, stats: Stats
) -> None:
    """One client: a request at a time, round-robin over the files, until ``stop``."""
    n = offset
    while time.monotonic() < stop:
        rel = files[n % len(files)]
        n += 1
        start = time.perf_counter()
        size = 0
        try:  # raw bytes as sent: the client does not spend CPU decompressing
            async with client.stream("GET", rel) as response:
                async for chunk in response.aiter_raw():
                    size += len(chunk)
        except httpx.HTTPError:
            stats.errors += 1
            continue
        stats.latencies.append(time.perf_counter() - start)
        if response.status_code != 200:
            stats.errors += 1
        stats.bytes += size


async def job_client(client: httpx.AsyncClient, city: Path, stop: float, stats: Stats) -> None:
    """Submit a job, wait for it, repeat until ``stop``."""
    body = city.read_bytes()
    while time.monotonic() < stop:
        start = time.perf_counter()
        response = await client.post("/jobs", files=[("file", (city.name, body))])
        stats.submit_latencies.append(time.perf_counter() - start)
        if response.status_code != 201:
            stats.errors += 1
            continue
        job = response.json()["id"]
        while True:
            doc = (await client.get(f"/jobs/{job}")).json()
            if doc["status"] in ("successful", "failed", "dismissed"):
                if doc["status"] == "successful":
                    stats.jobs_done += 1
                else:
                    stats.jobs_failed += 1
                break
            if time.monotonic() > stop + 120:
                break
            await asyncio.sleep(0.2)


async def load(
    url: str, files: list[str], city: Path, server_pid: int, args: argparse.Namespace
) -> Stats:
    """Run the clients (one pooled connection each) for ``args.seconds``."""
    stats = Stats()
    # one pool with a connection per client: creating 50 httpx clients costs seconds of CPU
    # (an SSL context each) on a loaded machine, which would eat into the measured window
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    tiles = httpx.AsyncClient(
        base_url=url, limits=limits, headers={"Accept-Encoding": "gzip, br"}, timeout=60
    )
    jobs = httpx.AsyncClient(base_url=url, timeout=120)
    async with tiles, jobs:
        stats.window_start, cpu_start = time.monotonic(), server_cpu(server_pid)
        stop = stats.window_start + args.seconds
        submitters = [
            asyncio.create_task(job_client(jobs, city, stop, stats)) for _ in range(args.submitters)
        ]
        await asyncio.gather(
            *(tile_client(tiles, files, i * 7, stop, stats) for i in range(args.clients))
        )
        stats.window = time.monotonic() - stats.window_start
        stats.server_cpu = server_cpu(server_pid) - cpu_start
        await asyncio.gather(*submitters)  # let the last submitted jobs finish
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--submitters", type=int, default=2)
    parser.add_argument("--buildings", type=int, default=2000, help="city served to the clients")
    parser.add_argument("--implicit", action="store_true", help="tile the served city implicitly")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not (1 <= args.clients <= 200 and 0 < args.seconds <= 120 and 0 <= args.submitters <= 8):
        raise SystemExit("bounded load test: 1-200 clients, at most 120 s, 0-8 submitters")

    with tempfile.TemporaryDirectory(prefix="citymodel-bench-") as tmp:
        work = Path(tmp)
        served = write_city_tiles(
            work / "city",
            SyntheticCityOptions(n_buildings=args.buildings, seed=11, tile_size_m=500),
        )
        small = write_city(work / "small.gml", SyntheticCityOptions(n_buildings=30, seed=3)).path
        port = free_port()
        url = f"http://{HOST}:{port}"
        server = start_server(work / "data", port, work / "server.log", ["--job-processes", "1"])
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                job = submit(client, served, {"implicit": args.implicit})
                doc = wait_done(client, job)
                if doc["status"] != "successful":
                    raise SystemExit(f"the served job failed: {doc['message']}")
                files = tileset_files(client, f"/jobs/{job}/results")
            rel = [f"/jobs/{job}/results/{f}" for f in files]
            stats = asyncio.run(load(url, rel, small, server.pid, args))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)

    n, elapsed, cpu_used = len(stats.latencies), stats.window, stats.server_cpu
    result = {
        "machine": f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        "clients": args.clients,
        "submitters": args.submitters,
        "seconds": round(elapsed, 2),
        "tileset_files": len(files),
        "requests": n,
        "requests_per_s": round(n / elapsed, 1),
        "mb_per_s": round(stats.bytes / elapsed / 1e6, 2),
        "latency_ms": {
            q: round(1000 * percentile(stats.latencies, p), 1)
            for q, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))
        },
        "errors": stats.errors,
        "server_cpu_s": round(cpu_used, 2),
        "server_cpu_ms_per_request": round(1000 * cpu_used / n, 2) if n else None,
        "server_core_share": round(cpu_used / elapsed, 2),  # < 1: the server was starved
        "submissions": len(stats.submit_latencies),
        "submit_latency_ms": {
            "p50": round(1000 * percentile(stats.submit_latencies, 50), 1),
            "p99": round(1000 * percentile(stats.submit_latencies, 99), 1),
        },
        "jobs_completed": stats.jobs_done,
        "jobs_failed": stats.jobs_failed,
    }
    print(json.dumps(result, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
