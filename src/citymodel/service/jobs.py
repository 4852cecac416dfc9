"""Jobs: submission (upload or server-side paths), status documents, cancel and delete.

A job is accepted only when everything that can be checked up front is right: the upload
arrived complete and within the size limit, every file has an accepted suffix and is
recognised by a format reader (header sniffing), the options validate, server-side paths lie
inside a data root. Then its folder holds ``job.json`` and its inputs, its row is
``accepted`` and a worker thread is woken. A refused submission leaves nothing behind.

Status documents use the words of OGC API - Processes (``statusInfo``: ``jobID``,
``status``, ``message``, ``created``/``started``/``finished``/``updated``, ``links``) with
``id`` besides ``jobID`` and ``progress`` as an object ``{stage, done, total, percent,
buildings, tiles}`` instead of a bare percentage.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
from pydantic import ValidationError
from starlette.requests import ClientDisconnect, Request

from citymodel.errors import CityModelError
from citymodel.formats import available_formats, format_for
from citymodel.report import write_json_atomic
from citymodel.service.config import ServiceConfig
from citymodel.service.options import PathsJobRequest, TileJobOptions
from citymodel.service.runner import JobRunner, progress_document
from citymodel.service.store import FINAL_STATUSES, JobRecord, JobStore
from citymodel.service.uploads import UploadError, receive_upload
from citymodel.sources import expand_inputs

__all__ = ["PROCESS_ID", "JobError", "JobManager", "accepted_suffixes", "iso_time", "status_info"]

PROCESS_ID = "tile"
"""The one process this service offers (OGC API - Processes ``processID``)."""

RESULTS_REL = "http://www.opengis.net/def/rel/ogc/1.0/results"

_MAX_JSON_BODY = 1024 * 1024


class JobError(Exception):
    """A refused request: HTTP ``status``, ``detail`` (text or a list of field errors)."""

    def __init__(
        self, status: int, detail: str | list[dict[str, Any]], headers: Mapping[str, str] = {}
    ) -> None:
        super().__init__(detail if isinstance(detail, str) else json.dumps(detail))
        self.status = status
        self.detail = detail
        self.headers = dict(headers)


def accepted_suffixes() -> tuple[str, ...]:
    """File suffixes of every installed format reader (lower case, longest first)."""
    suffixes = {s.lower() for plugin in available_formats().values() for s in plugin.suffixes}
    return tuple(sorted(suffixes, key=lambda s: (-len(s), s)))


def iso_time(seconds: float | None) -> str | None:
    """``2025-01-31T12:00:00.000Z`` for seconds since the epoch (None stays None)."""
    if seconds is None:
        return None
    text = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _field_errors(err: ValidationError, prefix: tuple[str, ...]) -> list[dict[str, Any]]:
    """Pydantic errors in FastAPI's 422 shape (``loc``, ``msg``, ``type``), inputs left out."""
    return [
        {"loc": [*prefix, *map(str, e["loc"])], "msg": e["msg"], "type": e["type"]}
        for e in err.errors(include_url=False)
    ]


def parse_options(text: str | None) -> TileJobOptions:
    """The ``options`` form field (JSON object) as validated options; defaults when absent."""
    if text is None or not text.strip():
        return TileJobOptions()
    try:
        data = json.loads(text)
    except ValueError as err:
        raise JobError(400, f"field 'options' is not JSON: {err}") from None
    if not isinstance(data, dict):
        raise JobError(400, "field 'options' must be a JSON object")
    try:
        return TileJobOptions.model_validate(data)
    except ValidationError as err:
        raise JobError(422, _field_errors(err, ("body", "options"))) from None


def parse_paths_request(data: Any) -> PathsJobRequest:
    """A JSON job body: ``{"paths", "options"}`` or OGC ``{"inputs": {"paths", ...options}}``."""
    if isinstance(data, dict) and set(data) == {"inputs"} and isinstance(data["inputs"], dict):
        inputs = dict(data["inputs"])
        paths = inputs.pop("paths", None)
        data = {"paths": paths, "options": inputs} if paths is not None else {"options": inputs}
    if not isinstance(data, dict):
        raise JobError(400, "the JSON body must be an object with 'paths' (and 'options')")
    try:
        return PathsJobRequest.model_validate(data)
    except ValidationError as err:
        raise JobError(422, _field_errors(err, ("body",))) from None


def _within(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


class JobManager:
    """Submits, describes, cancels and deletes jobs of one data folder."""

    def __init__(self, config: ServiceConfig, store: JobStore, runner: JobRunner) -> None:
        self.config = config
        self.store = store
        self.runner = runner
        self.suffixes = accepted_suffixes()

    # -- submission ------------------------------------------------------------------------

    def _check_room(self) -> None:
        queued = self.store.counts()["accepted"]
        if queued >= self.config.max_queued:
            raise JobError(
                503,
                f"{queued} jobs are waiting already; try again later",
                {"Retry-After": "60"},
            )

    async def submit_upload(self, request: Request) -> JobRecord:
        """A job on the files of a ``multipart/form-data`` request (fields ``file``, ``options``)."""
        self._check_room()
        job_id = str(uuid.uuid4())
        paths = self.config.job(job_id)
        paths.input.mkdir(parents=True)
        try:
            upload = await receive_upload(
                request,
                paths.input,
                max_bytes=self.config.max_upload_bytes,
                allowed_suffixes=self.suffixes,
            )
            if not upload.files:
                raise JobError(400, "no file uploaded: send the city model files in field 'file'")
            options = parse_options(upload.fields.get("options"))
            await anyio.to_thread.run_sync(self._check_files, upload.files)
            inputs = [p.relative_to(paths.root).as_posix() for p in upload.files]
            return await anyio.to_thread.run_sync(self._create, job_id, "upload", inputs, options)
        except UploadError as err:
            shutil.rmtree(paths.root, ignore_errors=True)
            raise JobError(err.status, err.detail) from None
        except ClientDisconnect:
            shutil.rmtree(paths.root, ignore_errors=True)
            raise JobError(400, "the client disconnected during the upload") from None
        except OSError as err:
            shutil.rmtree(paths.root, ignore_errors=True)
            if err.errno == errno.ENOSPC:
                raise JobError(507, "no space left for the upload on the server") from None
            raise
        except BaseException:
            shutil.rmtree(paths.root, ignore_errors=True)
            raise

    async def submit_json(self, request: Request) -> JobRecord:
        """A job on server-side paths: a JSON body (see :func:`parse_paths_request`)."""
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > _MAX_JSON_BODY:
                raise JobError(413, "JSON body larger than 1 MiB")
        try:
            data = json.loads(body)
        except ValueError as err:
            raise JobError(400, f"the body is not JSON: {err}") from None
        job = parse_paths_request(data)
        return await anyio.to_thread.run_sync(self.submit_paths, job)

    def submit_paths(self, job: PathsJobRequest) -> JobRecord:
        """A job on files inside the data roots (checked after resolving symbolic links)."""
        self._check_room()
        files = self._resolve_paths(job.paths)
        self._check_files(files)
        job_id = str(uuid.uuid4())
        paths = self.config.job(job_id)
        paths.root.mkdir(parents=True)
        try:
            return self._create(job_id, "paths", [str(f) for f in files], job.options)
        except BaseException:
            shutil.rmtree(paths.root, ignore_errors=True)
            raise

    def _resolve_paths(self, items: Sequence[str]) -> list[Path]:
        roots = self.config.resolved_roots
        if not roots:
            raise JobError(
                403, "jobs on server-side paths are disabled: start the server with --data-root"
            )
        files: dict[Path, None] = {}
        for item in items:
            if glob.has_magic(item):
                raise JobError(422, f"{item}: wildcards are not supported; give files or folders")
            candidates = [Path(item)] if Path(item).is_absolute() else [r / item for r in roots]
            real = [Path(os.path.realpath(c)) for c in candidates]
            inside = [r for r in real if _within(r, roots)]
            if not inside:
                raise JobError(403, f"{item}: outside the data roots of this server")
            found = next((r for r in inside if r.exists()), None)
            if found is None:
                raise JobError(422, f"{item}: no such file or folder")
            if found.is_dir():
                try:
                    listed = expand_inputs(found)
                except CityModelError as err:
                    raise JobError(422, f"{item}: {err}") from None
            else:
                listed = [found]
            for path in listed:
                target = Path(os.path.realpath(path))
                if not _within(target, roots):
                    raise JobError(403, f"{path}: links outside the data roots of this server")
                if not target.name.lower().endswith(self.suffixes):
                    raise JobError(
                        415,
                        f"{item}: not an accepted city model file; accepted suffixes: "
                        f"{', '.join(self.suffixes)}",
                    )
                files.setdefault(target, None)
        return list(files)

    def _check_files(self, files: Sequence[Path]) -> None:
        """Every input is non-empty and recognised by a format reader (422 otherwise)."""
        for path in files:
            if path.stat().st_size == 0:
                raise JobError(422, f"{path.name}: the file is empty")
            try:
                format_for(path)
            except CityModelError as err:
                message = " ".join(str(err).split())
                raise JobError(
                    422, f"{path.name}: {message.removeprefix(str(path) + ': ')}"
                ) from None

    def _create(
        self, job_id: str, source: str, inputs: list[str], options: TileJobOptions
    ) -> JobRecord:
        now = time.time()
        options_json = options.model_dump(mode="json")
        paths = self.config.job(job_id)
        write_json_atomic(
            paths.spec,
            {
                "id": job_id,
                "process": PROCESS_ID,
                "source": source,
                "inputs": inputs,
                "options": options_json,
            },
        )
        record = JobRecord(
            id=job_id,
            process=PROCESS_ID,
            status="accepted",
            created=now,
            updated=now,
            source="upload" if source == "upload" else "paths",
            inputs=tuple(inputs),
            options=options_json,
            message="queued",
            progress=progress_document("queued"),
        )
        self.store.insert(record)
        self.runner.notify()
        return record

    # -- cancel and delete -----------------------------------------------------------------

    def dismiss(self, job_id: str, *, wait_s: float = 10.0) -> tuple[JobRecord, bool]:
        """Cancel a queued or running job, or delete a finished one (folder and row).

        Returns the job as it is afterwards (dismissed) or as it was (deleted), and whether
        it was deleted.
        """
        record = self.store.get(job_id)
        if record is None:
            raise JobError(404, f"no job {job_id}")
        if record.status in FINAL_STATUSES:
            if not self.store.delete(job_id):
                raise JobError(409, f"job {job_id} changed meanwhile; try again")
            shutil.rmtree(self.config.job(job_id).root, ignore_errors=True)
            return record, True
        if record.status == "accepted" and self.store.dismiss_queued(
            job_id, message="cancelled on request before it started"
        ):
            return self._get(job_id), False
        # running (or claimed by a worker this very moment): kill its process
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.runner.cancel(job_id):
                break
            current = self._get(job_id)
            if current.status in FINAL_STATUSES:
                return current, False
            time.sleep(0.05)
        while time.monotonic() < deadline:
            current = self._get(job_id)
            if current.status in FINAL_STATUSES:
                return current, False
            time.sleep(0.05)
        raise JobError(503, f"job {job_id} is being cancelled; ask again", {"Retry-After": "5"})

    def _get(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        if record is None:
            raise JobError(404, f"no job {job_id}")
        return record


def _link(href: str, rel: str, type_: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": type_, "title": title}


def status_info(
    record: JobRecord,
    base_url: str,
    *,
    report_exists: bool,
    viewer_href: str | None = None,
) -> dict[str, Any]:
    """The status document of a job (OGC API - Processes ``statusInfo`` plus ``id``).

    ``base_url`` is the server's URL without a trailing slash; links are absolute.
    """
    job_url = f"{base_url}/jobs/{record.id}"
    links = [
        _link(job_url, "self", "application/json", "this job"),
        _link(f"{base_url}/jobs", "up", "application/json", "all jobs"),
        _link(f"{job_url}/log", "log", "text/plain", "log of the job process"),
    ]
    if report_exists:
        links.append(_link(f"{job_url}/report", "report", "application/json", "job report"))
    if record.status == "successful":
        links.append(
            _link(
                f"{job_url}/results/tileset.json",
                RESULTS_REL,
                "application/json",
                "3D Tiles tileset",
            )
        )
        if record.options.get("output") == "3tz":
            links.append(
                _link(f"{job_url}/results.3tz", "enclosure", "application/zip", "3TZ archive")
            )
        if viewer_href is not None:
            links.append(_link(viewer_href, "alternate", "text/html", "view the tileset"))
    return {
        "id": record.id,
        "jobID": record.id,
        "processID": record.process,
        "type": "process",
        "status": record.status,
        "message": record.message,
        "created": iso_time(record.created),
        "started": iso_time(record.started),
        "finished": iso_time(record.finished),
        "updated": iso_time(record.updated),
        "progress": dict(record.progress or {}),
        "attempts": record.attempts,
        "inputs": [Path(p).name if record.source == "upload" else p for p in record.inputs],
        "options": dict(record.options),
        "result": None if record.result is None else dict(record.result),
        "links": links,
    }
