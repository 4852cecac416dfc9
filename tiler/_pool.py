"""The tiler's process pool: :class:`citymodel._pool.TaskRunner` (shared with ``convert``)."""

from __future__ import annotations

from citymodel._pool import IN_FLIGHT_PER_JOB, TaskRunner, _LogRelay, _portable

__all__ = ["IN_FLIGHT_PER_JOB", "TaskRunner", "_LogRelay", "_portable"]
