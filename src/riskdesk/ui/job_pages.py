"""Background jobs in the browser: a job's progress (refreshed while it runs), its result or
error, and the list of jobs."""

from __future__ import annotations

import datetime as dt
from contextlib import suppress
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from riskdesk.db import SessionDep
from riskdesk.jobs import service as job_service
from riskdesk.jobs.endpoints import Since
from riskdesk.jobs.schemas import JobStatus
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import from_local, zone
from riskdesk.kit.validation import PathId
from riskdesk.models import Job
from riskdesk.security import service as security_service
from riskdesk.security.deps import CurrentPrincipal
from riskdesk.ui.render import display_zone, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50

# Where the result of each kind of job is seen in full.
RESULT_PAGES = {
    "scoring_run": "/scorecards",
    "model_training": "/models/{id}",
    "rule_run": "/alerts",
    "anomaly_run": "/alerts",
    "ecl_run": "/ecl/runs/{id}",
}
# The figures of a result shown on the job's page (those the result has).
FIGURES = ("customers", "unscored", "raised", "refreshed", "cleared", "version", "rows")


def _starters(session: Session) -> dict[int, str]:
    return {u.id: u.display_name or u.username for u in security_service.list_users(session)}


ENDED = ("done", "failed", "cancelled")


def _view(job: Job, starters: dict[int, str]) -> dict[str, Any]:
    phase, done, total = job_service.progress_of(job)
    if job.status in ENDED:
        # An ended job's phase is how it ended, whatever phase its row last recorded (a job
        # that failed before a worker took it must not read "waiting for a worker").
        phase = job.status
    result = job.result or {}
    link = RESULT_PAGES.get(job.kind)
    return {
        "job": job,
        "phase": phase,
        "done": done,
        "total": total,
        "percent": int(100 * done / total) if total else None,
        "figures": [(k, result[k]) for k in FIGURES if isinstance(result.get(k), int)],
        "result_link": link.format(id=result.get("id")) if link and result else None,
        "as_of": result.get("as_of"),
        "active": job.status in ("queued", "running"),
        "starter": starters.get(job.created_by_id, f"#{job.created_by_id}"),
    }


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    status: JobStatus | None = None,
    since: Since = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """The jobs the caller may read (all of them for auditors and admins), newest first;
    ``since`` (from the admin's home) keeps those still waiting or running and those that
    ended since then. A ``since`` without an offset is a time on the page's clock (the display
    zone); the API reads one as UTC."""
    if since is not None and since.tzinfo is None:
        with suppress(OverflowError):
            since = from_local(since, zone(display_zone(request)))
    rows, total = job_service.list_jobs(
        session,
        principal,
        kind=None,
        status=status,
        params=PageParams(page, PAGE_SIZE),
        since=since,
    )
    starters = _starters(session)
    return render(
        request,
        "jobs.html",
        principal,
        jobs=[_view(j, starters) for j in rows],
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        status=status,
        statuses=job_service.STATUSES,
        since=since.replace(tzinfo=since.tzinfo or dt.UTC) if since else None,
        query=urlencode(
            {k: v for k, v in {"status": status, "since": since and since.isoformat()}.items() if v}
        ),
    )


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(
    request: Request, job_id: PathId, session: SessionDep, principal: CurrentPrincipal
) -> Response:
    """A job's progress while it runs (the fragment refreshes itself), then what came of it."""
    job = job_service.get_job_or_raise(session, principal, job_id)
    template = "partials/job_status.html" if request.headers.get("HX-Request") else "job.html"
    may_cancel = job.created_by_id == principal.user_id or job.permission in principal.permissions
    view = _view(job, _starters(session))
    return render(request, template, principal, may_cancel=may_cancel, **view)


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> Response:
    """Cancel the job (a running one stops at its next progress point)."""
    job_service.cancel(session, principal, job_id)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
