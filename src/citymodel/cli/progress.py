"""A minimal progress line on stderr, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Self

__all__ = ["ProgressLine", "eta"]


def eta(elapsed_s: float, done: int, total: int) -> str:
    """``", ETA 1:05"`` from the time spent on ``done`` of ``total`` steps; empty when unknown."""
    if done <= 0 or done >= total or elapsed_s <= 0:
        return ""
    remaining = round(elapsed_s / done * (total - done))
    minutes, seconds = divmod(remaining, 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
    return f", ETA {text}"


class ProgressLine:
    """Prints ``label: N objects (rate/s)`` at most 5 times a second; silent when not a TTY.

    :meth:`stage` shows ``label: stage done/total, ETA`` instead (files read, tiles written);
    the ETA extrapolates the time spent in the current stage.
    """

    def __init__(self, label: str, *, enabled: bool | None = None) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.start = time.perf_counter()
        self.last = 0.0
        self.total_done = 0
        self._file_done: dict[str, int] = {}
        self._stage: tuple[str, float] | None = None
        self.buildings = 0

    def __call__(self, file: str, done: int) -> None:
        """Record that ``done`` objects of ``file`` are finished and redraw if due."""
        self.total_done += done - self._file_done.get(file, 0)
        self._file_done[file] = done
        now = time.perf_counter()
        if not self.enabled or now - self.last < 0.2:
            return
        self.last = now
        rate = self.total_done / max(now - self.start, 1e-9)
        name = file if len(file) < 50 else "…" + file[-49:]
        sys.stderr.write(f"\r{self.label}: {self.total_done} objects ({rate:,.0f}/s) {name}\x1b[K")
        sys.stderr.flush()

    def stage(self, name: str, done: int, total: int) -> None:
        """Show ``label: name done/total, ETA`` (files read, tiles written); redraw if due.

        Stage ``"buildings"`` is a running count without a total: it is shown after the
        current stage (``tile: read 3/8, 1,234 buildings``).
        """
        if name == "buildings":
            self.buildings = done
            return
        now = time.perf_counter()
        if self._stage is None or self._stage[0] != name:
            self._stage = (name, now)
        if not self.enabled or (now - self.last < 0.2 and done < total):
            return
        self.last = now
        sys.stderr.write(
            f"\r{self.label}: {name} {done}/{total}"
            + (f", {self.buildings:,} buildings" if self.buildings else "")
            + f"{eta(now - self._stage[1], done, total)}\x1b[K"
        )
        sys.stderr.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.enabled and self.last:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
