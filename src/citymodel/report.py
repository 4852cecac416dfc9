"""The job report: what was read, written and skipped (and why), as machine-readable JSON."""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citymodel.atomic import write_bytes_atomic
from citymodel.errors import StrictModeError

__all__ = ["JobReport", "SkipRecord", "write_json_atomic"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SkipRecord:
    """A feature (or part of one) that was not converted."""

    id: str | None
    file: str | None
    line: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form ``{id, file, line, reason}``."""
        return {"id": self.id, "file": self.file, "line": self.line, "reason": self.reason}


@dataclass(slots=True)
class JobReport:
    """Collects inputs, CRS, counts, skips and warnings of one job.

    Parameters
    ----------
    strict
        When True, :meth:`skip` raises :class:`~citymodel.errors.StrictModeError` instead of
        recording.
    """

    strict: bool = False
    inputs: list[str] = field(default_factory=list)
    crs: dict[str, Any] = field(default_factory=dict)
    read: Counter[str] = field(default_factory=Counter)
    written: Counter[str] = field(default_factory=Counter)
    skipped: list[SkipRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    def skip(
        self,
        reason: str,
        *,
        id: str | None = None,  # noqa: A002 - matches the JSON key of the report
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        """Record a skipped feature (or raise in strict mode) and log it."""
        record = SkipRecord(id=id, file=file, line=line, reason=reason)
        where = ", ".join(
            str(x)
            for x in (file if line is None else f"{file}:{line}", id and f"feature {id}")
            if x
        )
        if self.strict:
            raise StrictModeError(f"{where}: {reason} (skipping is not allowed with --strict)")
        self.skipped.append(record)
        log.warning("skipped %s: %s", where, reason)

    def warn(self, message: str) -> None:
        """Record a job-level warning (logged once)."""
        if message not in self.warnings:
            self.warnings.append(message)
            log.warning(message)

    def merge(self, other: JobReport) -> None:
        """Add what ``other`` collected (e.g. a worker process's report) to this report.

        Inputs, outputs and skip records are appended, CRS entries and counts added, warnings
        de-duplicated; numbers in ``extra`` (also inside nested dicts) are summed, other
        ``extra`` entries are kept when this report has them already. Nothing is logged again.
        """
        self.inputs.extend(other.inputs)
        self.crs.update(other.crs)
        self.read.update(other.read)
        self.written.update(other.written)
        self.skipped.extend(other.skipped)
        self.warnings.extend(m for m in other.warnings if m not in self.warnings)
        self.outputs.extend(other.outputs)
        _add_counts(self.extra, other.extra)

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-serialisable dict."""
        return {
            "inputs": self.inputs,
            "crs": self.crs,
            "counts": {
                "read": dict(self.read),
                "written": dict(self.written),
                "skipped": len(self.skipped),
            },
            "skipped": [s.to_dict() for s in self.skipped],
            "warnings": self.warnings,
            "outputs": self.outputs,
            "elapsed_s": round(time.time() - self.started, 3),
            **self.extra,
        }

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the report as JSON (atomically)."""
        write_json_atomic(Path(path), self.to_dict())


def _add_counts(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    for key, value in other.items():
        mine = into.get(key)
        if isinstance(value, Mapping) and isinstance(mine, dict):
            _add_counts(mine, value)
        elif (
            isinstance(value, (int, float))
            and isinstance(mine, (int, float))
            and not isinstance(value, bool)
        ):
            into[key] = mine + value
        elif key not in into:
            into[key] = copy.deepcopy(value)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as UTF-8 JSON to ``path`` via a temporary file and rename."""
    write_bytes_atomic(path, json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"))
