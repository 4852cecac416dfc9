"""Task functions for the executor tests: top-level, so Dask workers can import them."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from citymodel.errors import InputError

log = logging.getLogger("citymodel.tests.tasks")


def log_and_double(value: int) -> int:
    """One warning with the same text from every task, one info record naming the value."""
    log.warning("the same warning from every task")
    log.info("task %d ran", value)
    return 2 * value


def raise_input_error(line: int) -> None:
    raise InputError("bad polygon", path="city.gml", line=line, feature_id="DEBY_1")


class _Unpicklable(Exception):
    def __init__(self, message: str, code: int) -> None:  # pickle calls cls(message) only
        super().__init__(message)
        self.code = code


def raise_unpicklable(value: int) -> None:
    raise _Unpicklable(f"broken {value}", value)


def sleep_then_mark(job: tuple[str, float]) -> str:
    """Sleep ``seconds`` then create the marker file ``path`` (shows a task ran to its end)."""
    path, seconds = job
    time.sleep(seconds)
    Path(path).touch()
    return path
