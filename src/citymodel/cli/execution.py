"""``--executor``, ``--scheduler`` and ``--scratch-dir``: where the tiler's tasks run and spill."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from citymodel.tiler.executor import EXECUTORS, Executor

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["execution_options", "resolve_executor"]


def execution_options(f: F) -> F:
    """``--executor``, ``--scheduler`` and ``--scratch-dir`` (see :func:`resolve_executor`)."""
    f = click.option(
        "--scratch-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Folder for the temporary scratch store (default: beside the output). With a "
        "Dask cluster it must be on storage all workers mount at the same path.",
    )(f)
    f = click.option(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="Address of a running Dask scheduler (e.g. tcp://host:8786); implies --executor "
        "dask. Inputs, output and --scratch-dir must then be on shared storage.",
    )(f)
    f = click.option(
        "--executor",
        type=click.Choice(EXECUTORS),
        default=None,
        help="Where the tasks run: local (process pool, the default) or dask (a local Dask "
        "cluster of --jobs workers, or the cluster at --scheduler; needs: pip install "
        "'citymodel[distributed]').",
    )(f)
    return f


def resolve_executor(executor: str | None, scheduler: str | None) -> Executor:
    """The executor asked for: ``--executor``, else ``dask`` with ``--scheduler``, else local.

    Raises
    ------
    click.BadParameter
        For ``--executor local`` with ``--scheduler``.
    """
    if executor is None:
        return "dask" if scheduler is not None else "local"
    if executor == "local" and scheduler is not None:
        raise click.BadParameter(
            "a scheduler address needs --executor dask", param_hint="--scheduler"
        )
    return "dask" if executor == "dask" else "local"
