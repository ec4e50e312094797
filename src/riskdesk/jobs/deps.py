"""Asking for a long operation as a job: ``Prefer: respond-async`` (RFC 7240) and the 202
answer that points at the job."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from riskdesk.db import begin_store
from riskdesk.jobs import service
from riskdesk.jobs.schemas import JobError, JobProgress, JobRead
from riskdesk.models import Job
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal

# What the long operations' OpenAPI says of the asynchronous answer.
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "model": JobRead,
        "description": "with `Prefer: respond-async`: queued as a job; `Location` is the job",
    }
}


def wants_async(request: Request) -> bool:
    """Whether the client sent ``Prefer: respond-async`` (among other preferences, maybe)."""
    for header in request.headers.getlist("prefer"):
        for preference in header.split(","):
            if preference.split(";")[0].split("=")[0].strip().lower() == "respond-async":
                return True
    return False


def job_read(job: Job) -> JobRead:
    """A job as the API shows it (live progress when this process runs it)."""
    phase, done, total = service.progress_of(job)
    error = None
    if job.error_code is not None:
        error = JobError(code=job.error_code, message=job.error_message or "")
    return JobRead(
        id=job.id,
        kind=job.kind,
        status=job.status,
        parameters=job.parameters,
        progress=JobProgress(phase=phase, done=done, total=total),
        result=job.result,
        error=error,
        cancel_requested=job.cancel_requested,
        attempts=job.attempts,
        created_by_id=job.created_by_id,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def start_job(
    session: Session,
    principal: Principal,
    *,
    kind: str,
    permission: Permission,
    parameters: dict[str, Any],
) -> JSONResponse:
    """Queue the operation as a job and answer 202 with it and its ``Location``."""
    begin_store(session)  # a reads-first request: queueing is its one short write
    job = service.enqueue(
        session, principal, kind=kind, permission=permission, parameters=parameters
    )
    return JSONResponse(
        job_read(job).model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/api/v1/jobs/{job.id}", "Preference-Applied": "respond-async"},
    )
