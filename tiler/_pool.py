"""The tiler's process pool: :class:`citymodel._pool.TaskRunner` (shared with ``convert``).

The tiler's pool preloads the tiler's task modules in the pool's fork server (see
:mod:`citymodel._pool`), so that every worker starts with them imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from citymodel._pool import (
    IN_FLIGHT_PER_JOB,
    _LogRelay,
    _portable,
    default_jobs,
    start_fork_server,
)
from citymodel._pool import TaskRunner as _TaskRunner

__all__ = [
    "IN_FLIGHT_PER_JOB",
    "PRELOAD",
    "TaskRunner",
    "_LogRelay",
    "_portable",
    "default_jobs",
    "start_fork_server",
]

PRELOAD: Final = (
    "citymodel.tiler.build",
    "citymodel.converters.citygml",
    "citymodel.converters._citygml_chunks",
)
"""Modules of the tiler's pass-1 and pass-2 tasks (readers are found through entry points)."""


class TaskRunner(_TaskRunner):
    """:class:`citymodel._pool.TaskRunner` with the tiler's modules preloaded (``preload``)."""

    def __init__(
        self, jobs: int, grids: tuple[Path, ...] = (), *, preload: Sequence[str] = PRELOAD
    ) -> None:
        super().__init__(jobs, grids, preload=preload)
