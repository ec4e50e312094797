"""API of background jobs: list, read and cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from riskdesk.db import SessionDep
from riskdesk.jobs import service
from riskdesk.jobs.deps import job_read
from riskdesk.jobs.schemas import JobRead, JobStatus
from riskdesk.kit.pagination import MAX_PAGE_SIZE, Page, PageParams
from riskdesk.kit.validation import BusinessTimestamp, PathId
from riskdesk.security.deps import CurrentPrincipal

router = APIRouter(tags=["jobs"])

Kind = Annotated[str | None, Query(max_length=40, pattern=r"^[a-z_]+$")]
Since = Annotated[
    BusinessTimestamp | None,
    Query(description="still queued or running, or ended at or after this time (UTC)"),
]


@router.get("/jobs", response_model=Page[JobRead])
def list_jobs(
    session: SessionDep,
    principal: CurrentPrincipal,
    kind: Kind = None,
    status: JobStatus | None = None,
    since: Since = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 25,
) -> Page[JobRead]:
    """The jobs the caller may read (started them, may run their operation, or audits),
    newest first; ``since``: only those still queued or running and those that ended since
    then (the admin's home counts the last 24 hours so)."""
    rows, total = service.list_jobs(
        session, principal, kind=kind, status=status, params=PageParams(page, size), since=since
    )
    return Page[JobRead](items=[job_read(j) for j in rows], total=total, page=page, size=size)


@router.get("/jobs/{job_id}", response_model=JobRead)
def get_job(job_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> JobRead:
    """One job: its progress while it runs, then its result or error."""
    return job_read(service.get_job_or_raise(session, principal, job_id))


@router.post("/jobs/{job_id}/cancel", response_model=JobRead)
def cancel_job(job_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> JobRead:
    """Cancel a queued job, or ask a running one to stop at its next progress point (what it
    was storing is rolled back)."""
    return job_read(service.cancel(session, principal, job_id))
