"""Response documents of the job API (for validation and the OpenAPI description)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from citymodel.service.store import JobStatus

__all__ = ["Health", "JobList", "Link", "Progress", "StatusInfo"]


class Link(BaseModel):
    """A link (OGC API style)."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class Progress(BaseModel):
    """Where a job is: ``stage`` (queued, starting, read, write, done), counts and estimate."""

    stage: str = Field(examples=["write"])
    done: int | None = Field(default=None, description="Input files read or tile contents written.")
    total: int | None = Field(default=None, description="Of how many (in this stage).")
    percent: float = Field(description="Estimate for the whole job, 0-100.")
    buildings: int | None = Field(default=None, description="Buildings written (known at the end).")
    tiles: int | None = Field(default=None, description="Tile contents written so far.")


class JobResult(BaseModel):
    """Summary of a successful job (details in its report)."""

    buildings: int | None = None
    buildings_in: int | None = None
    skipped: int | None = None
    warnings: int | None = None
    tiles: int | None = None
    bytes: int | None = None
    format: str | None = None
    tiles_version: str | None = None
    implicit: bool | None = None


class StatusInfo(BaseModel):
    """Status of a job (OGC API - Processes ``statusInfo``, with ``id`` and a progress object)."""

    id: str
    jobID: str
    processID: str
    type: Literal["process"] = "process"
    status: JobStatus
    message: str
    created: str | None
    started: str | None
    finished: str | None
    updated: str | None
    progress: Progress
    attempts: int = Field(description="How often the job was started (restarts included).")
    inputs: list[str]
    options: dict[str, Any]
    result: JobResult | None
    links: list[Link]


class JobList(BaseModel):
    """A page of jobs, newest first."""

    jobs: list[StatusInfo]
    numberMatched: int
    links: list[Link]


class Health(BaseModel):
    """Liveness of the server: job table, worker threads and job counts."""

    status: Literal["ok", "degraded"]
    version: str
    workers: int
    running: int
    jobs: dict[str, int]
