"""Exception and warning hierarchy of citymodel (standard library only).

Every error raised by the library derives from :class:`CityModelError`. Subclasses also
derive from the builtin a caller would naturally catch (``ValueError``, ``OSError`` ...).
A message says what went wrong, where (file, line, feature id) and what to do about it.

::

    CityModelError(Exception)
    +-- InputError
    |   +-- UnsupportedFormatError(InputError, ValueError)
    |   +-- ParseError(InputError, ValueError)
    |   +-- GeometryError(InputError, ValueError)
    +-- CRSError(CityModelError, ValueError)
    |   +-- GridMissingError
    +-- MissingDependencyError(CityModelError, ImportError)
    +-- TilingError
    +-- OutputError(CityModelError, OSError)
    +-- StrictModeError
    CityModelWarning(UserWarning)
    +-- SkippedFeatureWarning
    +-- CRSWarning
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "CRSError",
    "CRSWarning",
    "CityModelError",
    "CityModelWarning",
    "GeometryError",
    "GridMissingError",
    "InputError",
    "MissingDependencyError",
    "OutputError",
    "ParseError",
    "SkippedFeatureWarning",
    "StrictModeError",
    "TilingError",
    "UnsupportedFormatError",
]


class CityModelError(Exception):
    """Root of every error raised by citymodel."""


class InputError(CityModelError):
    """Bad input data.

    Parameters
    ----------
    message
        What is wrong and what to do.
    path
        The input file, when known.
    line
        1-based line number in ``path``, when known.
    feature_id
        The id of the offending feature, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        feature_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.feature_id = feature_id

    def __str__(self) -> str:
        where = []
        if self.path:
            where.append(self.path if self.line is None else f"{self.path}:{self.line}")
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.feature_id:
            where.append(f"feature {self.feature_id}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class UnsupportedFormatError(InputError, ValueError):
    """No reader recognised the input."""


class ParseError(InputError, ValueError):
    """The input is not well-formed or not of the expected structure."""


class GeometryError(InputError, ValueError):
    """A geometry cannot be used (degenerate ring, bad coordinate count, ...)."""


class CRSError(CityModelError, ValueError):
    """A coordinate reference system cannot be resolved or a transformation is unavailable."""


class GridMissingError(CRSError):
    """A transformation needs a grid file that PROJ cannot find.

    Parameters
    ----------
    message
        Human-readable explanation including how to provide the grid.
    grids
        Short names of the missing grid files (e.g. ``de_bkg_gcg2016.tif``).
    """

    def __init__(self, message: str, *, grids: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.grids = grids


class MissingDependencyError(CityModelError, ImportError):
    """An optional dependency is not installed.

    Parameters
    ----------
    package
        The missing import name.
    extra
        The citymodel extra that installs it (``pip install 'citymodel[extra]'``).
    install
        What to do instead, for a dependency that is no Python package (an executable).
    """

    def __init__(self, package: str, extra: str, *, install: str | None = None) -> None:
        super().__init__(
            f"{package} is needed for this; {install}"
            if install is not None
            else f"{package} is needed for this; install it with: pip install 'citymodel[{extra}]'"
        )
        self.package = package
        self.extra = extra
        self.install = install

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by the constructor's arguments (errors cross process boundaries)."""
        return (_missing_dependency, (self.package, self.extra, self.install))


def _missing_dependency(package: str, extra: str, install: str | None) -> MissingDependencyError:
    """Rebuild a pickled :class:`MissingDependencyError`."""
    return MissingDependencyError(package, extra, install=install)


class TilingError(CityModelError):
    """Partitioning, level-of-detail or tile content generation failed."""


class OutputError(CityModelError, OSError):
    """An output cannot be written (exists, unwritable, unsupported suffix)."""


class StrictModeError(CityModelError):
    """A feature was skipped while ``strict`` mode forbids skipping."""


class CityModelWarning(UserWarning):
    """Base class of citymodel warnings."""


class SkippedFeatureWarning(CityModelWarning):
    """A feature (or part of one) was skipped and recorded in the job report."""


class CRSWarning(CityModelWarning):
    """A CRS assumption was made (e.g. a default vertical datum for a 2D srsName)."""
