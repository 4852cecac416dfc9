"""A run killed outright leaves staging/scratch folders; the next run on that output cleans up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from citymodel.synthetic import SyntheticCityOptions, write_city
from citymodel.tiler._output import OutputTarget, recover_leftovers, scratch_folder
from citymodel.tiler.validate import validate_tileset


def _dead_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout)


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_leftovers_of_dead_runs_are_removed(tmp_path: Path) -> None:
    dead = _dead_pid()
    for name in (f".out.partial-{dead}", f".out.scratch-{dead}-abc123", f".other.partial-{dead}"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "tile.glb").write_bytes(b"x")
    removed = recover_leftovers(tmp_path / "out")
    assert sorted(p.name for p in removed) == [
        f".out.partial-{dead}",
        f".out.scratch-{dead}-abc123",
    ]
    assert _hidden(tmp_path) == [f".other.partial-{dead}"]  # another output's: not ours to touch


def test_leftovers_of_live_runs_are_kept(tmp_path: Path) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / f".out.partial-{live.pid}").mkdir()
        assert recover_leftovers(tmp_path / "out") == []
        assert _hidden(tmp_path) == [f".out.partial-{live.pid}"]
    finally:
        live.kill()
        live.wait()


def test_previous_tileset_is_restored_when_a_run_died_between_renames(tmp_path: Path) -> None:
    old = tmp_path / f".out.old-{_dead_pid()}"
    old.mkdir()
    (old / "tileset.json").write_text("{}")
    target = OutputTarget.prepare(tmp_path / "out")
    assert (tmp_path / "out" / "tileset.json").read_text() == "{}"
    assert not old.exists()
    target.discard()


def test_scratch_elsewhere_is_cleaned_too(tmp_path: Path) -> None:
    base = tmp_path / "scratch"
    base.mkdir()
    stale = base / f".out.scratch-{_dead_pid()}-zz"
    stale.mkdir()
    fresh = scratch_folder(base, tmp_path / "out")
    assert not stale.exists()
    assert fresh.name.startswith(f".out.scratch-{os.getpid()}-")


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_cleans_up(tmp_path: Path) -> None:
    city = tmp_path / "city.gml"
    write_city(city, SyntheticCityOptions(n_buildings=3000, seed=5))
    out = tmp_path / "out"
    command = [sys.executable, "-c", "from citymodel.cli.main import main; main()", "-q", "tile"]
    command += [str(city), "-o", str(out), "--jobs", "1"]
    proc = subprocess.Popen(command, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.startswith(".out.scratch-") for p in tmp_path.iterdir()):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its workers, as a power cut would
    finally:
        proc.wait()
    assert not out.exists()
    assert any(name.startswith(".out.partial-") for name in _hidden(tmp_path))
    rerun = subprocess.run(command, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert _hidden(tmp_path) == []
    assert validate_tileset(out) == []
