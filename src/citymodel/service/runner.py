"""The bounded worker pool: ``workers`` threads, each running one job process at a time.

A job runs in its own process (:mod:`citymodel.service.worker`, started in a new session), so
a cancel kills its whole process group (the tiler's workers too) and a crash of a job
(segfault, out of memory) cannot take the server down. The thread reads the job's progress
lines from a pipe and writes them to the job table at most every ``progress_interval_s``
(and at every stage change), then records how the job ended.

Restart semantics (:meth:`JobRunner.recover`, run before the threads start):

- ``accepted`` jobs simply stay queued and run.
- A job found ``running`` belongs to a server that is gone: its process killed itself when
  the server's end of its stdin pipe closed; any process of its group that is still alive
  (same process group, started after the job) is killed now. The job goes back to the queue
  (``accepted``, with a note in its message) and starts again from its inputs, which are kept
  in its folder; after ``max_attempts`` starts it is marked ``failed`` instead.
- A deliberate stop (:meth:`JobRunner.stop`, the server's shutdown) kills running jobs and
  queues them again without counting the attempt.
- Job folders without a row (an upload interrupted by the crash) are removed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import psutil

from citymodel.service.config import API_KEY_ENV, JobPaths, ServiceConfig
from citymodel.service.store import JobRecord, JobStore

__all__ = ["JobRunner", "progress_document"]

log = logging.getLogger(__name__)

_READ_WEIGHT, _WRITE_WEIGHT = 68.0, 28.0
"""Share of the percentage for reading inputs and for writing tiles (after 2 % for start-up;
the remaining 2 % are the tileset files and the final rename)."""


def progress_document(
    stage: str,
    done: int | None = None,
    total: int | None = None,
    *,
    buildings: int | None = None,
    tiles: int | None = None,
) -> dict[str, Any]:
    """The ``progress`` object of a job: ``{stage, done, total, percent, buildings, tiles}``.

    ``percent`` estimates the whole job: start-up 0-2 %, reading inputs (``done``/``total``
    files) 2-70 %, writing tile contents (``done``/``total`` contents) 70-98 %, 100 % when it
    succeeded. ``tiles`` counts the contents written so far; ``buildings`` the buildings read
    so far (updated as each input file is finished).
    """
    fraction = (done / total) if done is not None and total else 0.0
    percent: float
    if stage == "read":
        percent = 2.0 + _READ_WEIGHT * fraction
    elif stage == "write":
        percent = 2.0 + _READ_WEIGHT + _WRITE_WEIGHT * fraction
        tiles = done if tiles is None else tiles
    elif stage == "done":
        percent = 100.0
    else:
        percent = 0.0
    return {
        "stage": stage,
        "done": done,
        "total": total,
        "percent": round(percent, 1),
        "buildings": buildings,
        "tiles": tiles,
    }


@dataclass(slots=True)
class _Active:
    """A job taken by a worker thread; ``stop`` says why it is being killed, if it is."""

    job_id: str
    proc: subprocess.Popen[bytes] | None = None
    stop: str | None = None  # "cancel" | "shutdown"


def _group_members(leader: int, started: float | None) -> list[psutil.Process]:
    """Live processes of the process group ``leader`` started at or after ``started``."""
    found = []
    for proc in psutil.process_iter(["pid", "create_time", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE or os.getpgid(proc.pid) != leader:
                continue  # a zombie is dead already (and the leader's must stay unreaped)
            if started is not None and proc.info["create_time"] < started - 0.01:
                continue  # an older process whose group number happens to match: not ours
        except (ProcessLookupError, psutil.Error):
            continue
        found.append(proc)
    return found


def _kill_group(leader: int, started: float | None, *, own_child: bool = False) -> int:
    """SIGKILL every live process of a job's process group; return how many there were.

    ``own_child``: the leader is this process's child, reaped by its ``Popen`` (so it is not
    waited for here: psutil would reap it).
    """
    members = _group_members(leader, started)
    for proc in members:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    psutil.wait_procs([p for p in members if not (own_child and p.pid == leader)], timeout=5)
    return len(members)


class JobRunner:
    """Runs queued jobs on ``config.workers`` threads; see the module docstring."""

    def __init__(self, config: ServiceConfig, store: JobStore) -> None:
        self.config = config
        self.store = store
        self._cond = threading.Condition()
        self._active: dict[str, _Active] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = False

    # -- life cycle ------------------------------------------------------------------------

    def recover(self) -> None:
        """Put jobs interrupted by a stop or crash back in the queue; remove orphan folders."""
        cfg = self.config
        for job in self.store.with_status("running"):
            if job.pid is not None:
                killed = _kill_group(job.pid, job.pid_started)
                if killed:
                    log.warning("job %s: killed %d leftover processes", job.id, killed)
            if job.attempts >= cfg.max_attempts:
                self.store.finish(
                    job.id,
                    "failed",
                    message=f"interrupted by a server stop in each of {job.attempts} attempts; "
                    "not started again (submit it anew to retry)",
                )
                log.warning("job %s: failed after %d interrupted attempts", job.id, job.attempts)
            else:
                self.store.requeue(
                    job.id,
                    message=f"attempt {job.attempts} was interrupted by a server stop; "
                    f"queued again (at most {cfg.max_attempts} attempts)",
                    progress=progress_document("queued"),
                )
                log.warning("job %s: interrupted in attempt %d, queued again", job.id, job.attempts)
        known = self.store.ids()
        if cfg.jobs_dir.is_dir():
            for folder in cfg.jobs_dir.iterdir():
                if folder.is_dir() and folder.name not in known:
                    log.warning("removing %s: no job of that id (interrupted upload)", folder)
                    shutil.rmtree(folder, ignore_errors=True)

    def start(self) -> None:
        """Start the worker threads (call :meth:`recover` first)."""
        for n in range(self.config.workers):
            thread = threading.Thread(target=self._work, name=f"job-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the threads; running jobs are killed and queued again for the next start."""
        with self._cond:
            self._stopping = True
            victims = list(self._active.values())
            for active in victims:
                active.stop = "shutdown"
            self._cond.notify_all()
        for active in victims:
            if active.proc is not None:
                _kill_group(active.proc.pid, None, own_child=True)
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def notify(self) -> None:
        """Wake a worker thread: a job was queued."""
        with self._cond:
            self._cond.notify()

    @property
    def healthy(self) -> bool:
        """True while every worker thread is alive."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def running(self) -> int:
        """Jobs being run right now."""
        with self._cond:
            return len(self._active)

    def cancel(self, job_id: str) -> bool:
        """Kill the process of running job ``job_id``; False when no thread runs it."""
        with self._cond:
            active = self._active.get(job_id)
            if active is None:
                return False
            active.stop = active.stop or "cancel"
            proc = active.proc
        if proc is not None:
            _kill_group(proc.pid, None, own_child=True)
        return True

    # -- worker threads --------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                job = None
                while not self._stopping:
                    job = self.store.claim_next(progress_document("starting"))
                    if job is not None:
                        self._active[job.id] = _Active(job.id)
                        break
                    self._cond.wait(timeout=5.0)
                if job is None:
                    return
            try:
                self._run(job)
            except Exception as err:  # the server's fault, not the job's: record, keep going
                log.exception("job %s: the runner failed", job.id)
                self.store.finish(job.id, "failed", message=f"internal server error: {err}")
            finally:
                with self._cond:
                    self._active.pop(job.id, None)

    def _command(self, paths: JobPaths, progress_fd: int) -> list[str]:
        cmd = [
            sys.executable,
            "-X",
            "faulthandler",
            "-m",
            "citymodel.service.worker",
            str(paths.root),
            "--progress-fd",
            str(progress_fd),
            "--processes",
            str(self.config.processes_per_job),
        ]
        for grid in self.config.grids:
            cmd += ["--grids", str(grid)]
        if self.config.dask_scheduler is not None:
            cmd += ["--scheduler", self.config.dask_scheduler]
        return cmd

    def _run(self, job: JobRecord) -> None:
        paths = self.config.job(job.id)
        _clear_output(paths)
        read_fd, write_fd = os.pipe()
        try:
            with paths.log.open("ab") as log_file:
                log_file.write(
                    f"--- attempt {job.attempts} at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n".encode()
                )
                log_file.flush()
                proc = subprocess.Popen(
                    self._command(paths, write_fd),
                    stdin=subprocess.PIPE,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    pass_fds=(write_fd,),
                    start_new_session=True,
                    cwd=paths.root,
                    env={k: v for k, v in os.environ.items() if k != API_KEY_ENV},
                )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        try:
            started = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            started = time.time()
        self.store.set_process(job.id, proc.pid, started)
        with self._cond:
            active = self._active[job.id]
            active.proc = proc
            stop_now = active.stop is not None
        if stop_now:
            _kill_group(proc.pid, None, own_child=True)
        log.info("job %s: attempt %d in process %d", job.id, job.attempts, proc.pid)
        try:
            end = self._follow(job.id, read_fd)
            # wait without reaping, so the group cannot vanish and its number be reused
            # before the leftovers (the tiler's workers of a killed job) are killed
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            _kill_group(proc.pid, None, own_child=True)
            code = proc.wait()
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
        self._record_end(job, paths, code, end)

    def _follow(self, job_id: str, read_fd: int) -> dict[str, Any] | None:
        """Read progress lines until the job process closes the pipe; return its end line."""
        interval = self.config.progress_interval_s
        last_write, last_stage = 0.0, ""
        current: tuple[str, int, int] | None = None
        buildings: int | None = None
        end: dict[str, Any] | None = None
        with os.fdopen(read_fd, "rb") as pipe:
            for raw in pipe:
                try:
                    message = json.loads(raw)
                    if "end" in message:
                        end = dict(message["end"])
                        continue
                    stage, done, total = (
                        str(message["stage"]),
                        int(message["done"]),
                        int(message["total"]),
                    )
                except (ValueError, TypeError, KeyError):
                    log.warning("job %s: unreadable progress line %r", job_id, raw[:200])
                    continue
                if stage == "buildings":  # a running count shown with the current stage
                    buildings = done
                    if current is None:
                        continue
                    stage, done, total = current
                current = (stage, done, total)
                now = time.monotonic()
                if stage != last_stage or done >= total or now - last_write >= interval:
                    self.store.set_progress(
                        job_id, progress_document(stage, done, total, buildings=buildings)
                    )
                    last_write, last_stage = now, stage
        return end

    def _record_end(
        self, job: JobRecord, paths: JobPaths, code: int, end: dict[str, Any] | None
    ) -> None:
        with self._cond:
            stop = self._active[job.id].stop
        if stop == "shutdown":
            _clear_output(paths)
            self.store.requeue(
                job.id,
                message="the server stopped during the job; it runs again at the next start",
                progress=progress_document("queued"),
                count_attempt=False,
            )
            log.info("job %s: stopped with the server, queued again", job.id)
        elif stop == "cancel":
            _clear_output(paths)
            self.store.finish(job.id, "dismissed", message="cancelled on request")
            log.info("job %s: cancelled", job.id)
        elif code == 0 and end is not None and end.get("status") == "successful":
            summary = end.get("summary") or {}
            progress = progress_document(
                "done",
                summary.get("tiles"),
                summary.get("tiles"),
                buildings=summary.get("buildings"),
                tiles=summary.get("tiles"),
            )
            self.store.finish(
                job.id,
                "successful",
                message=_success_message(summary),
                progress=progress,
                result=summary,
            )
            log.info("job %s: successful", job.id)
        else:
            message = (end or {}).get("message") or _exit_message(code)
            self.store.finish(job.id, "failed", message=message)
            log.log(
                logging.WARNING if code < 0 else logging.INFO, "job %s: failed: %s", job.id, message
            )


def _clear_output(paths: JobPaths) -> None:
    """Remove the output of an earlier or interrupted attempt (and the tiler's staging)."""
    if not paths.root.is_dir():
        return
    for item in paths.root.iterdir():
        if item.name == "output" or item.name.startswith(".output."):
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item, ignore_errors=True)
            else:
                item.unlink(missing_ok=True)
    paths.report.unlink(missing_ok=True)


def _success_message(summary: dict[str, Any]) -> str:
    parts = [f"{summary.get('buildings')} buildings in {summary.get('tiles')} tiles"]
    if summary.get("skipped"):
        parts.append(f"{summary['skipped']} skipped (see the report)")
    return ", ".join(parts)


def _exit_message(code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"the job process was killed by {name}{hint}; see the job log"
    return f"the job process exited with status {code}; see the job log"
