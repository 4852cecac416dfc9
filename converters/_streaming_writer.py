"""The life cycle shared by the streaming feature writers (CityJSON, CityGML).

A writer is a context manager: leaving the ``with`` block normally closes it (the output is
finished and moved into place), leaving it with an exception aborts it (nothing is left
behind). Writing to a closed writer is an :class:`~citymodel.errors.OutputError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Self

from citymodel.errors import OutputError
from citymodel.model import Feature

__all__ = ["StreamingWriter"]


class StreamingWriter(ABC):
    """Base of the writers that stream top-level features into one output file.

    Subclasses set :attr:`path` and implement :meth:`write`, :meth:`flush`, :meth:`close`
    (setting ``_closed``) and ``_discard`` (what :meth:`abort` removes); they call
    :meth:`_check_open` before writing.
    """

    path: Path
    """The output file."""
    _closed: bool = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self.abort()

    @property
    def closed(self) -> bool:
        """True once the writer was closed or aborted."""
        return self._closed

    def _check_open(self) -> None:
        """Raise :class:`OutputError` when the writer is closed."""
        if self._closed:
            raise OutputError(f"{self.path}: the writer is closed")

    @abstractmethod
    def write(self, feature: Feature) -> None:
        """Add one top-level feature (its children are written with it)."""

    @abstractmethod
    def flush(self) -> None:
        """Write out what is held back, so that the written counts are complete."""

    @abstractmethod
    def close(self) -> None:
        """Finish the output and move it into place (nothing happens when closed)."""

    def abort(self) -> None:
        """Discard the output: nothing is left behind (nothing happens when closed)."""
        if self._closed:
            return
        self._closed = True
        self._discard()

    @abstractmethod
    def _discard(self) -> None:
        """Remove everything written so far (called once, by :meth:`abort`)."""
