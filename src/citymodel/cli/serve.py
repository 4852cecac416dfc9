"""``citymodel serve``: the job API and tile server (needs the ``service`` extra)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from citymodel.errors import MissingDependencyError

__all__ = ["serve"]


@click.command()
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Data folder: job table and one folder per job (created when missing).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Jobs that run at the same time; more wait in the queue.",
)
@click.option(
    "--job-processes",
    default=None,
    type=click.IntRange(min=1),
    help="Tiler worker processes per job (default: the CPUs divided by --workers).",
)
@click.option(
    "--dask-scheduler",
    envvar="CITYMODEL_DASK_SCHEDULER",
    show_envvar=True,
    default=None,
    metavar="ADDRESS",
    help="Run the jobs' tiling tasks on the Dask cluster at ADDRESS (tcp://host:8786) instead "
    "of local processes; the data folder must be on storage the workers mount at the same "
    "path (docs/distributed.md). Needs: pip install 'citymodel[distributed]'.",
)
@click.option(
    "--max-upload-mb",
    default=1024,
    show_default=True,
    type=click.IntRange(min=1),
    help="Largest upload (all files of one job together), MiB.",
)
@click.option(
    "--api-key",
    envvar="CITYMODEL_API_KEY",
    default=None,
    show_envvar=True,
    help="Require this key (Authorization: Bearer KEY or X-API-Key: KEY) to submit, cancel "
    "and delete jobs.",
)
@click.option(
    "--data-root",
    "data_roots",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder whose files jobs may name by server-side path (repeatable; none: uploads only).",
)
@click.option(
    "--grids",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder with extra PROJ grid files for every job (repeatable).",
)
@click.option(
    "--max-attempts",
    default=3,
    show_default=True,
    type=click.IntRange(min=1),
    help="Starts of a job interrupted by server stops before it is marked failed.",
)
@click.option(
    "--max-queued",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Jobs that may wait in the queue; more submissions get 503.",
)
def serve(
    data_dir: Path,
    host: str,
    port: int,
    workers: int,
    job_processes: int | None,
    dask_scheduler: str | None,
    max_upload_mb: int,
    api_key: str | None,
    data_roots: tuple[Path, ...],
    grids: tuple[Path, ...],
    max_attempts: int,
    max_queued: int,
) -> None:
    """Run the job API and tile server: submit tiling jobs over HTTP, watch them, get tiles.

    API documentation at http://HOST:PORT/docs. Jobs survive restarts: queued jobs run, an
    interrupted one starts again.
    """
    try:
        import uvicorn

        from citymodel.service.app import create_app
        from citymodel.service.config import ServiceConfig
        from citymodel.service.state import ServiceState
    except ImportError as err:
        if (err.name or "").split(".")[0] == "citymodel":
            raise  # a broken installation, not a missing extra
        raise MissingDependencyError(err.name or "fastapi", "service") from err

    if host not in ("127.0.0.1", "localhost", "::1") and api_key is None:
        logging.getLogger("citymodel").warning(
            "listening on %s without an API key: anyone who reaches it can submit jobs", host
        )
    config = ServiceConfig(
        data_dir=data_dir,
        host=host,
        port=port,
        workers=workers,
        job_processes=job_processes,
        dask_scheduler=dask_scheduler or None,
        max_upload_bytes=max_upload_mb * 1024 * 1024,
        api_key=api_key or None,
        data_roots=data_roots,
        grids=tuple(g.absolute() for g in grids),
        max_attempts=max_attempts,
        max_queued=max_queued,
    )
    state = ServiceState.open(config)
    click.echo(
        f"citymodel: serving http://{host}:{port}/ (API docs /docs), data {config.data_dir}, "
        f"{workers} job(s) at a time x {config.processes_per_job} process(es), pid {os.getpid()}",
        err=True,
    )
    try:
        uvicorn.run(
            create_app(config, state=state),
            host=host,
            port=port,
            log_level="info"
            if logging.getLogger("citymodel").isEnabledFor(logging.INFO)
            else "warning",
            timeout_graceful_shutdown=10,
        )
    finally:
        state.close()
