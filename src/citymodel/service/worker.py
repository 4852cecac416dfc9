"""The job process: runs one attempt of one job, ``python -m citymodel.service.worker JOB_DIR``.

The server starts this module in a new session (its own process group, so a cancel kills it
together with the tiler's worker processes) with

- ``stdin``: a pipe the server never writes. End of file means the server is gone (stopped or
  killed); the job then kills its own process group at once, so a job never runs without a
  server watching it and the next server start can run it again without two processes
  writing one folder.
- ``--progress-fd N``: a pipe for JSON lines to the server: ``{"stage", "done", "total"}``
  (from :func:`~citymodel.tiler.build.build_tileset`'s progress callback, at most four a
  second per stage) and a last ``{"end": ...}`` line with status, message and summary.
- ``stdout``/``stderr``: the job's ``log`` file (log records of this process and the tiler's
  workers).

It reads ``job.json`` (inputs and validated options), runs ``build_tileset`` into ``output/``
and writes ``report.json`` however the job ends. Exit status: 0 successful, 1 the job failed
on its input or options (a :class:`~citymodel.errors.CityModelError`, message in the end
line), 2 an unexpected error (traceback in the log).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from citymodel.errors import CityModelError
from citymodel.report import JobReport, write_json_atomic
from citymodel.service.config import JobPaths
from citymodel.service.options import TileJobOptions
from citymodel.tiler.build import build_tileset

__all__ = ["job_inputs", "job_output", "main", "summarise"]

log = logging.getLogger("citymodel.service.worker")

_PROGRESS_INTERVAL_S = 0.25


def _kill_own_group() -> None:
    """Kill this process and every process of its group (the tiler's workers)."""
    if os.getpgrp() == os.getpid():  # never the server's group: only as a session leader
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def _watch_server() -> None:
    """Block on stdin; end of file means the server is gone: stop the job at once."""
    # os.read on the descriptor, not sys.stdin: a daemon thread blocked inside a buffered
    # reader would hold its lock while the interpreter shuts down
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    log.error("the server is gone; stopping the job")
    _kill_own_group()


class _Channel:
    """JSON lines to the server over the progress pipe; a broken pipe stops the job."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._last: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def send(self, message: Mapping[str, Any]) -> None:
        data = (json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self.fd, view) :]
            except BrokenPipeError:
                log.error("the server is gone; stopping the job")
                _kill_own_group()

    def progress(self, stage: str, done: int, total: int) -> None:
        """The ``build_tileset`` progress callback, throttled per stage."""
        now = time.monotonic()
        last = self._last
        recent = last is not None and last[0] == stage and now - last[1] < _PROGRESS_INTERVAL_S
        if recent and done < total:
            return
        self._last = (stage, now)
        self.send({"stage": stage, "done": done, "total": total})


def job_inputs(paths: JobPaths, spec: Mapping[str, Any]) -> list[Path]:
    """The input files of a job: upload names are relative to the job folder."""
    return [paths.root / p if not Path(p).is_absolute() else Path(p) for p in spec["inputs"]]


def job_output(paths: JobPaths, output: str) -> Path:
    """Where the tileset goes: ``output/``, or ``output/tileset.3tz`` for ``output="3tz"``."""
    return paths.archive if output == "3tz" else paths.output


def summarise(report: JobReport) -> dict[str, Any]:
    """The result summary of a finished run, from its report's tiling section."""
    tiling = report.extra.get("tiling", {})
    buildings = tiling.get("buildings", {})
    tiles = tiling.get("tiles", {})
    return {
        "buildings": buildings.get("written"),
        "buildings_in": buildings.get("in"),
        "skipped": len(report.skipped),
        "warnings": len(report.warnings),
        "tiles": tiles.get("with_content"),
        "bytes": tiling.get("bytes", {}).get("total"),
        "format": tiling.get("format"),
        "tiles_version": tiling.get("tiles_version"),
        "implicit": tiling.get("implicit"),
    }


def _write_report(paths: JobPaths, report: JobReport, error: str | None) -> None:
    """``report.json`` with paths inside the job folder made relative to it."""
    data = report.to_dict()
    if error is not None:
        data["error"] = error
    prefix = str(paths.root) + os.sep
    text = json.dumps(data, ensure_ascii=False).replace(json.dumps(prefix)[1:-1], "")
    try:
        write_json_atomic(paths.report, json.loads(text))
    except CityModelError as err:
        log.error("cannot write the job report: %s", err)


def run(
    paths: JobPaths,
    channel: _Channel,
    *,
    processes: int,
    grids: tuple[Path, ...],
    scheduler: str | None = None,
) -> int:
    """Run the job in ``paths``; return the exit status (see the module docstring).

    ``scheduler``: the tiling tasks run on the Dask cluster at this address.
    """
    report = JobReport()
    error: str | None = None
    status, code = "successful", 0
    try:
        spec = json.loads(paths.spec.read_text(encoding="utf-8"))
        options = TileJobOptions.model_validate(spec["options"])
        report.strict = options.strict
        build_tileset(
            job_inputs(paths, spec),
            job_output(paths, options.output),
            options=options.tile_options(jobs=processes, grids=grids, scheduler=scheduler),
            report=report,
            progress=channel.progress,
        )
    except CityModelError as err:
        # one line, with the job folder left out of paths (the client knows its file names)
        error = " ".join(str(err).split()).replace(str(paths.root) + os.sep, "")
        status, code = "failed", 1
        log.error("job failed: %s", error)
    except Exception as err:
        error = f"internal error: {type(err).__name__}: {' '.join(str(err).split())}"
        status, code = "failed", 2
        log.exception("job failed with an internal error")
    _write_report(paths, report, error)
    channel.send(
        {
            "end": {
                "status": status,
                "message": error or "",
                "summary": summarise(report) if code == 0 else None,
            }
        }
    )
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the job process."""
    parser = argparse.ArgumentParser(prog="python -m citymodel.service.worker")
    parser.add_argument("job_dir", type=Path)
    parser.add_argument("--progress-fd", type=int, required=True)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--grids", type=Path, action="append", default=[])
    parser.add_argument("--scheduler", default=None)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the server's terminal is its own
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )
    threading.Thread(target=_watch_server, name="server-watch", daemon=True).start()
    channel = _Channel(args.progress_fd)
    paths = JobPaths(args.job_dir.absolute())
    log.info("job %s: started (pid %d)", paths.root.name, os.getpid())
    code = run(
        paths, channel, processes=args.processes, grids=tuple(args.grids), scheduler=args.scheduler
    )
    log.info("job %s: finished with status %d", paths.root.name, code)
    return code


if __name__ == "__main__":
    sys.exit(main())
