"""Peer tools for benchmarks: py3dtiles in its own virtual environment, measured subprocesses.

py3dtiles is never a dependency of citymodel (it pins ``numpy<2.4`` and pulls numba, llvmlite
and pyzmq, ARCHITECTURE.md): :func:`peer_python` creates ``build/peer-venv`` on first use and
installs ``py3dtiles`` (12.x, from PyPI) there, under a file lock so that concurrent benchmark
runs share one environment.

:func:`run_measured` runs a command and reports wall time and the peak resident memory of its
whole process tree (sampled every 20 ms with psutil, so short spikes between samples can be
missed; the sum over workers matters for tools that fork, as py3dtiles does), and the tree's CPU
time (each process's last sample, so up to 20 ms per process is missed): on a shared machine CPU
time compares tools more fairly than wall time.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEER_VENV = REPO / "build" / "peer-venv"
PY3DTILES_SPEC = "py3dtiles==12.*"
_SAMPLE_S = 0.02


def peer_python(*specs: str, venv: Path = PEER_VENV) -> Path:
    """The Python of the peer venv with py3dtiles and ``specs`` installed (made on first use).

    ``specs`` are further pip requirements (e.g. ``"ifcopenshell==0.9.*"`` for py3dtiles' IFC
    tiler). The venv's ``.installed`` file lists what was installed, one requirement a line.
    """
    wanted = [PY3DTILES_SPEC, *specs]
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with (venv.parent / ".peer-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        installed = marker.read_text().split() if marker.is_file() else []
        missing = [s for s in wanted if s not in installed]
        if not missing and python.is_file():
            return python
        if not python.is_file():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True
            )
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *missing], check=True)
        marker.write_text("\n".join([*installed, *missing]) + "\n")
    return python


def peer_tool(name: str, *specs: str) -> Path:
    """An executable installed in the peer venv (e.g. ``py3dtiles``)."""
    tool = peer_python(*specs).parent / name
    if not tool.is_file():
        raise FileNotFoundError(f"{tool} is missing; check {PEER_VENV}")
    return tool


@dataclass(frozen=True)
class Measured:
    """Outcome of one measured command."""

    returncode: int
    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0
    """User + system CPU time of the process tree (last sample of each process)."""


def _proc_children(pid: int) -> list[int] | None:
    """Child process ids from ``/proc/PID/task/*/children`` (None where Linux lacks the file)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return None
    children: list[int] = []
    for task in tasks:
        try:
            children.extend(int(c) for c in (task / "children").read_text().split())
        except FileNotFoundError:
            if not (task / "stat").exists():  # the thread ended meanwhile
                continue
            return None
        except OSError:
            continue
    return children


def _descendants(process: object) -> list[object]:
    """The processes below ``process``.

    Walks ``/proc/PID/task/*/children`` (a few small reads per member of the tree) instead of
    psutil's ``children(recursive=True)``, which reads every process of the machine: at 50
    samples per second that cost about 15 % of a core, taken from the tool being measured.
    """
    import psutil

    assert isinstance(process, psutil.Process)
    found: list[object] = []
    pending = [process.pid]
    while pending:
        children = _proc_children(pending.pop())
        if children is None:
            return list(process.children(recursive=True))
        for pid in children:
            with contextlib.suppress(psutil.Error):
                found.append(psutil.Process(pid))
            pending.append(pid)
    return found


def _sample(process: object, cpu: dict[int, float]) -> int:
    """RSS of the process tree (bytes); records each member's CPU time in ``cpu``."""
    import psutil

    assert isinstance(process, psutil.Process)
    total = 0
    try:
        members = [process, *_descendants(process)]
    except psutil.Error:
        return 0
    for member in members:
        try:
            with member.oneshot():
                total += member.memory_info().rss
                times = member.cpu_times()
        except psutil.Error:
            continue
        cpu[member.pid] = times.user + times.system
    return total


def run_measured(
    command: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 3600.0,
) -> Measured:
    """Run ``command``; wall time and the peak RSS of the process and all its descendants."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watched = psutil.Process(proc.pid)
    peak = 0
    cpu: dict[int, float] = {}
    deadline = start + timeout
    while proc.poll() is None:
        peak = max(peak, _sample(watched, cpu))
        if time.perf_counter() > deadline:
            # The whole tree: a hung tool's workers would keep running and hold its pipes.
            try:
                members = watched.children(recursive=True)
            except psutil.Error:
                members = []
            for member in [*members, watched]:
                with contextlib.suppress(psutil.Error):
                    member.kill()
            break
        time.sleep(_SAMPLE_S)
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - start
    return Measured(proc.returncode, seconds, peak / 2**20, stdout, stderr, sum(cpu.values()))


def _run_check(tool: Path, path: Path) -> tuple[int, list[str], str]:
    result = subprocess.run(
        ["bash", str(tool), str(path)], capture_output=True, text=True, check=False
    )
    return result.returncode, result.stdout.strip().splitlines(), result.stderr


_FETCH_RETRIES = 2
"""Further checks after check-tileset's loaders walk failed only with "fetch failed"."""


def _fetch_flake(lines: list[str]) -> bool:
    """True when the only failed check is the loaders walk, failing with "fetch failed"."""
    failed = [line.split()[1] for line in lines if line.startswith("-- ") and " FAIL " in line]
    return failed == ["loaders"] and any("fetch failed" in line for line in lines)


def check_tileset(path: Path) -> tuple[bool, str]:
    """Run ../shared/tools/check-tileset; (passed, summary line). (False, reason) if unavailable.

    The loaders.gl walk fetches every tile from a loopback HTTP server running in its own Node
    process; on tilesets of a few hundred tiles it fails about every second run with "fetch
    failed" on one random tile (measured on an idle machine; the same bytes pass when checked
    again). Only that failure is checked again, at most :data:`_FETCH_RETRIES` times, and the
    summary says how often it happened.
    """
    tool = REPO.parent / "shared" / "tools" / "check-tileset"
    if not tool.is_file() or shutil.which("node") is None:
        return False, "check-tileset unavailable (needs ../shared/tools and node)"
    code, lines, stderr = _run_check(tool, path)
    flakes = 0
    while flakes < _FETCH_RETRIES and _fetch_flake(lines):
        flakes += 1
        code, lines, stderr = _run_check(tool, path)
    note = (
        f" (checked {flakes + 1} times: loaders 'fetch failed' {flakes}x before)" if flakes else ""
    )
    if not lines:
        return False, stderr.strip()[-300:]
    failed = [line.split()[1] for line in lines if line.startswith("-- ") and " FAIL " in line]
    summary = lines[-1] + (f" (failed: {', '.join(failed)})" if failed else "") + note
    return code == 0, summary
