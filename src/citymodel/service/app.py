"""The HTTP application: job API (OGC API - Processes words), results tile server, health.

=========================================  =====================================================
``POST /jobs``                             submit: multipart ``file`` (1..n) + ``options`` JSON,
                                           or JSON ``{"paths": [...], "options": {...}}``;
                                           201, ``Location``, status document
``GET /jobs``                              list (``status``, ``limit``, ``offset``), newest first
``GET /jobs/{id}``                         status document with progress and links
``DELETE /jobs/{id}``                      cancel a queued/running job, or delete a finished one
``GET /jobs/{id}/report``                  the job report (JSON)
``GET /jobs/{id}/log``                     log of the job process (text)
``GET /jobs/{id}/results``                 OGC results document (links to the outputs)
``GET /jobs/{id}/results/{path}``          the tileset: ``tileset.json`` and every file below it
                                           (3TZ jobs: served from inside the archive)
``GET /jobs/{id}/results.3tz``             the archive of a 3TZ job
``GET /processes``, ``/processes/tile``    OGC process list and description
``POST /processes/tile/execution``         the same as ``POST /jobs`` (OGC execute; JSON bodies
                                           may also be ``{"inputs": {"paths", ...options}}``)
``GET /health``                            liveness (503 when a worker thread died)
``GET /docs``, ``/openapi.json``           OpenAPI description
``GET /``                                  browsers: redirect to the viewer; else OGC landing
``GET /viewer/``, ``/viewer/{id}``         the CesiumJS viewer (:mod:`citymodel.service.viewer`)
                                           listing successful jobs / showing one job's tileset
=========================================  =====================================================

Write endpoints need the API key when one is configured (``Authorization: Bearer KEY`` or
``X-API-Key: KEY``); cross-site browser requests to them are refused (an ``Origin`` header
naming another host), so a web page cannot submit jobs through a visitor's browser.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import anyio.to_thread
from fastapi import Depends, FastAPI, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic.json_schema import models_json_schema

from citymodel import __version__
from citymodel.service.config import ServiceConfig
from citymodel.service.files import FileServer, FileServerOptions, open_source
from citymodel.service.jobs import (
    PROCESS_ID,
    RESULTS_REL,
    JobError,
    JobManager,
    status_info,
)
from citymodel.service.options import PathsJobRequest, TileJobOptions
from citymodel.service.schemas import Health, JobList, StatusInfo
from citymodel.service.state import ServiceState
from citymodel.service.store import STATUSES, JobRecord, JobStatus
from citymodel.service.viewer import ViewerOptions, viewer_routes
from citymodel.service.worker import job_output

__all__ = ["create_app"]

_JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_PROBLEM = {"description": "refused", "content": {"application/json": {}}}

_bearer = HTTPBearer(auto_error=False, description="The server's API key as a bearer token.")
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The server's API key."
)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _problem(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _submission_body_schema() -> dict[str, Any]:
    """The request bodies of ``POST /jobs`` (two media types), for the OpenAPI description."""
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "City model files (CityGML .gml/.xml/.gml.gz/.zip).",
                        },
                        "options": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "description": "JSON object, see the TileJobOptions schema.",
                        },
                    },
                },
                "encoding": {"options": {"contentType": "application/json"}},
            },
            "application/json": {"schema": {"$ref": "#/components/schemas/PathsJobRequest"}},
        },
    }


def create_app(config: ServiceConfig, *, state: ServiceState | None = None) -> FastAPI:
    """The ASGI application of ``citymodel serve``.

    Parameters
    ----------
    config
        Server settings.
    state
        An opened :class:`ServiceState` (the CLI opens it first, so a locked data folder is a
        clear error before the server listens); opened at startup when None. The worker
        threads start with the application and stop (running jobs queued again) with it.
    """
    holder: dict[str, ServiceState] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = state if state is not None else ServiceState.open(config)
        holder["state"] = current
        current.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(current.close)

    app = FastAPI(
        title="citymodel",
        version=__version__,
        description="City models (CityGML) to georeferenced 3D Tiles: job API and tile server.",
        lifespan=lifespan,
    )
    files = FileServer(options=FileServerOptions(immutable=True))

    def manager() -> JobManager:
        return holder["state"].jobs

    def authorise(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        api_key: Annotated[str | None, Depends(_api_key_header)],
    ) -> None:
        # a browser names the page's origin; a page elsewhere may not write here. (A page
        # cannot add X-Forwarded-Host without a CORS preflight, which is never granted, so
        # trusting it for reverse proxies that rewrite Host is safe.)
        origin = request.headers.get("origin")
        hosts = {
            request.headers[h].lower() for h in ("host", "x-forwarded-host") if h in request.headers
        }
        if origin is not None and urlsplit(origin).netloc.lower() not in hosts:  # "null" too
            raise JobError(403, "cross-site requests may not submit or delete jobs")
        expected = config.api_key
        if expected is None:
            return
        given = bearer.credentials if bearer is not None else api_key
        if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
            raise JobError(
                401,
                "missing or wrong API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                {"WWW-Authenticate": "Bearer"},
            )

    def job_or_404(job_id: str) -> JobRecord:
        record = holder["state"].store.get(job_id) if _JOB_ID.match(job_id) else None
        if record is None:
            raise JobError(404, f"no job {job_id}")
        return record

    def describe(request: Request, record: JobRecord) -> dict[str, Any]:
        base = _base_url(request)
        return status_info(
            record,
            base,
            report_exists=config.job(record.id).report.is_file(),
            viewer_href=f"{base}/viewer/{record.id}",
        )

    @app.exception_handler(JobError)
    async def _job_error(request: Request, err: JobError) -> JSONResponse:
        return _problem(err.status, err.detail, err.headers)

    # -- jobs ------------------------------------------------------------------------------

    async def submit(request: Request) -> JSONResponse:
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media == "multipart/form-data":
            record = await manager().submit_upload(request)
        elif media == "application/json":
            record = await manager().submit_json(request)
        else:
            raise JobError(
                415, "send multipart/form-data (field 'file') or application/json ('paths')"
            )
        document = describe(request, record)
        return JSONResponse(
            document, status_code=201, headers={"Location": document["links"][0]["href"]}
        )

    submit_doc: dict[str, Any] = {
        "status_code": 201,
        "response_model": StatusInfo,
        "dependencies": [Depends(authorise)],
        "responses": {
            201: {"description": "Accepted; the job's URL is in Location."},
            **dict.fromkeys((400, 401, 403, 413, 415, 422, 503, 507), _PROBLEM),
        },
        "openapi_extra": {"requestBody": _submission_body_schema()},
    }

    @app.post("/jobs", summary="Submit a tiling job", tags=["jobs"], **submit_doc)
    async def post_job(request: Request) -> JSONResponse:
        """Upload city model files (multipart) or name files on the server (JSON ``paths``)."""
        return await submit(request)

    @app.post(
        f"/processes/{PROCESS_ID}/execution",
        summary="Execute the tile process (OGC API - Processes)",
        tags=["processes"],
        **submit_doc,
    )
    async def execute(request: Request) -> JSONResponse:
        """The same as ``POST /jobs``; always asynchronous (201 and a job)."""
        return await submit(request)

    @app.get("/jobs", response_model=JobList, summary="List jobs", tags=["jobs"])
    def list_jobs(
        request: Request,
        status: Annotated[list[JobStatus] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Jobs newest first, optionally only some statuses (repeat ``status``)."""
        store = holder["state"].store
        wanted = tuple(status or ())
        records = store.page(statuses=wanted, limit=limit, offset=offset)
        counts = store.counts()
        matched = sum(counts[s] for s in (wanted or STATUSES))
        url = f"{_base_url(request)}/jobs"
        query = "".join(f"&status={s}" for s in wanted)
        links = [
            {
                "href": f"{url}?limit={limit}&offset={offset}{query}",
                "rel": "self",
                "type": "application/json",
            }
        ]
        if offset + len(records) < matched:
            links.append(
                {
                    "href": f"{url}?limit={limit}&offset={offset + limit}{query}",
                    "rel": "next",
                    "type": "application/json",
                }
            )
        return {
            "jobs": [describe(request, r) for r in records],
            "numberMatched": matched,
            "links": links,
        }

    @app.get(
        "/jobs/{job_id}",
        response_model=StatusInfo,
        summary="Status of a job",
        tags=["jobs"],
        responses={404: _PROBLEM},
    )
    def get_job(request: Request, job_id: str) -> dict[str, Any]:
        """Status, progress (stage, counts, percent), message and links of a job."""
        return describe(request, job_or_404(job_id))

    @app.delete(
        "/jobs/{job_id}",
        response_model=StatusInfo,
        summary="Cancel or delete a job",
        tags=["jobs"],
        dependencies=[Depends(authorise)],
        responses=dict.fromkeys((401, 403, 404, 409, 503), _PROBLEM),
    )
    def delete_job(request: Request, job_id: str) -> dict[str, Any]:
        """Cancel a queued or running job, or delete a finished one.

        A cancelled job's process is killed and its status becomes ``dismissed``; a finished
        job is deleted with its folder.
        """
        job_or_404(job_id)
        record, deleted = manager().dismiss(job_id)
        document = describe(request, record)
        if deleted:  # gone with its folder: dismissed in OGC terms
            document.update(status="dismissed", message="deleted with its results", links=[])
        return document

    @app.get(
        "/jobs/{job_id}/report",
        summary="Report of a job",
        tags=["jobs"],
        responses={200: {"content": {"application/json": {}}}, 404: _PROBLEM},
    )
    def get_report(job_id: str) -> FileResponse:
        """Inputs, CRS, counts, skipped features with reasons, warnings, tiling summary."""
        job_or_404(job_id)
        path = config.job(job_id).report
        if not path.is_file():
            raise JobError(404, f"job {job_id} has no report yet")
        return FileResponse(path, media_type="application/json")

    @app.get(
        "/jobs/{job_id}/log",
        summary="Log of a job",
        tags=["jobs"],
        responses={200: {"content": {"text/plain": {}}}, 404: _PROBLEM},
    )
    def get_log(job_id: str) -> FileResponse:
        """What the job process logged, every attempt."""
        job_or_404(job_id)
        path = config.job(job_id).log
        if not path.is_file():
            raise JobError(404, f"job {job_id} has not started yet")
        return FileResponse(path, media_type="text/plain; charset=utf-8")

    def finished_output(job_id: str) -> tuple[JobRecord, Any]:
        record = job_or_404(job_id)
        if record.status != "successful":
            raise JobError(404, f"job {job_id} has no results ({record.status})")
        return record, job_output(config.job(job_id), str(record.options.get("output")))

    @app.get(
        "/jobs/{job_id}/results",
        summary="Results of a job (OGC)",
        tags=["jobs"],
        responses={404: _PROBLEM},
    )
    def get_results(request: Request, job_id: str) -> dict[str, Any]:
        """Links to the outputs of a successful job."""
        record, _ = finished_output(job_id)
        url = f"{_base_url(request)}/jobs/{job_id}"
        results: dict[str, Any] = {
            "tileset": {
                "href": f"{url}/results/tileset.json",
                "type": "application/json",
                "rel": RESULTS_REL,
            },
        }
        if record.options.get("output") == "3tz":
            results["archive"] = {"href": f"{url}/results.3tz", "type": "application/zip"}
        return results

    @app.api_route("/jobs/{job_id}/results.3tz", methods=["HEAD"], include_in_schema=False)
    @app.get(
        "/jobs/{job_id}/results.3tz",
        summary="3TZ archive of a job",
        tags=["jobs"],
        responses={200: {"content": {"application/zip": {}}}, 404: _PROBLEM},
    )
    def get_archive(job_id: str) -> FileResponse:
        """The archive of a job run with ``"output": "3tz"`` (ranges supported)."""
        record, output = finished_output(job_id)
        if record.options.get("output") != "3tz":
            raise JobError(404, f"job {job_id} wrote a tileset folder, not an archive")
        return FileResponse(output, media_type="application/zip", filename=f"{job_id}.3tz")

    @app.api_route(
        "/jobs/{job_id}/results/{path:path}", methods=["HEAD", "OPTIONS"], include_in_schema=False
    )
    @app.get(
        "/jobs/{job_id}/results/{path:path}",
        summary="Tileset files of a job",
        tags=["tiles"],
        responses={404: _PROBLEM},
    )
    async def get_result_file(request: Request, job_id: str, path: str) -> Response:
        """``tileset.json`` and every file it references (CORS, ETag, Range, gzip/br)."""
        _, output = await anyio.to_thread.run_sync(finished_output, job_id)
        return await files.serve(request, open_source(output), path)

    # -- processes and health --------------------------------------------------------------

    @app.get("/processes", summary="Processes offered", tags=["processes"])
    def get_processes(request: Request) -> dict[str, Any]:
        """The one process, ``tile`` (OGC API - Processes process list)."""
        summary = _process_summary(_base_url(request))
        return {
            "processes": [summary],
            "links": [
                {
                    "href": f"{_base_url(request)}/processes",
                    "rel": "self",
                    "type": "application/json",
                }
            ],
        }

    @app.get(
        f"/processes/{PROCESS_ID}", summary="Description of the tile process", tags=["processes"]
    )
    def get_process(request: Request) -> dict[str, Any]:
        """Inputs (files or paths and the tile options) and output of ``tile``."""
        return _process_description(_base_url(request))

    @app.get(
        "/health",
        response_model=Health,
        summary="Liveness",
        tags=["service"],
        responses={503: {"model": Health}},
    )
    def health() -> Any:
        """``ok`` while the job table answers and every worker thread runs."""
        current = holder["state"]
        counts = current.store.counts()
        healthy = current.runner.healthy
        document = {
            "status": "ok" if healthy else "degraded",
            "version": __version__,
            "workers": config.workers,
            "running": current.runner.running(),
            "jobs": counts,
        }
        return document if healthy else JSONResponse(document, status_code=503)

    @app.get("/", summary="Landing page", tags=["service"], include_in_schema=True)
    def landing(request: Request) -> Response:
        """Browsers go to the viewer; API clients get the OGC landing page (links)."""
        if "text/html" in request.headers.get("accept", ""):
            return RedirectResponse(f"{request.scope.get('root_path', '')}/viewer/", 307)
        base = _base_url(request)
        links = [
            ("/openapi.json", "service-desc", "application/vnd.oai.openapi+json;version=3.0"),
            ("/docs", "service-doc", "text/html"),
            ("/processes", "http://www.opengis.net/def/rel/ogc/1.0/processes", "application/json"),
            ("/jobs", "http://www.opengis.net/def/rel/ogc/1.0/job-list", "application/json"),
            ("/viewer/", "alternate", "text/html"),
        ]
        return JSONResponse(
            {
                "title": "citymodel",
                "description": app.description,
                "links": [{"href": base + h, "rel": r, "type": t} for h, r, t in links],
            }
        )

    def viewable(name: str) -> str | None:
        record = holder["state"].store.get(name) if _JOB_ID.match(name) else None
        if record is None or record.status != "successful":
            return None
        return f"/jobs/{record.id}/results/tileset.json"

    def listing() -> list[tuple[str, str]]:
        records = holder["state"].store.page(statuses=("successful",), limit=100)
        return [
            (
                f"{Path(r.inputs[0]).name if r.inputs else r.id} ({r.id[:8]})",
                f"/jobs/{r.id}/results/tileset.json",
            )
            for r in records
        ]

    app.router.routes.extend(
        viewer_routes(ViewerOptions(resolve=viewable, listing=listing, title="citymodel jobs"))
    )
    _install_openapi(app)
    return app


def _process_summary(base: str) -> dict[str, Any]:
    return {
        "id": PROCESS_ID,
        "title": "City model to 3D Tiles",
        "description": "Tile CityGML files into a georeferenced 3D Tiles tileset "
        "(folder or 3TZ), as `citymodel tile` does.",
        "version": __version__,
        "jobControlOptions": ["async-execute", "dismiss"],
        "outputTransmission": ["reference"],
        "links": [
            {"href": f"{base}/processes/{PROCESS_ID}", "rel": "self", "type": "application/json"},
            {
                "href": f"{base}/processes/{PROCESS_ID}/execution",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/execute",
                "type": "application/json",
            },
        ],
    }


def _process_description(base: str) -> dict[str, Any]:
    schema = TileJobOptions.model_json_schema()
    inputs: dict[str, Any] = {
        "file": {
            "title": "City model files (multipart uploads to POST /jobs)",
            "schema": {"type": "string", "contentEncoding": "binary"},
            "minOccurs": 0,
            "maxOccurs": "unbounded",
        },
        "paths": {
            "title": "Files or folders on the server, inside a data root",
            "schema": {"type": "array", "items": {"type": "string"}},
            "minOccurs": 0,
        },
    }
    for name, prop in schema["properties"].items():
        inputs[name] = {
            "title": prop.get("description", name),
            "schema": {k: v for k, v in prop.items() if k not in ("title", "description")},
            "minOccurs": 0,
        }
    return {
        **_process_summary(base),
        "inputs": inputs,
        "outputs": {
            "tileset": {
                "title": "3D Tiles tileset (tileset.json with its contents)",
                "schema": {"type": "string", "contentMediaType": "application/json"},
            }
        },
    }


def _install_openapi(app: FastAPI) -> None:
    """Add the job request schemas (used by the hand-written request bodies) to the components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _, definitions = models_json_schema(
                [(PathsJobRequest, "validation"), (TileJobOptions, "validation")],
                ref_template="#/components/schemas/{model}",
            )
            components = document.setdefault("components", {}).setdefault("schemas", {})
            components.update(definitions.get("$defs", {}))
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
