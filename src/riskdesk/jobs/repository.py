"""SQL of background jobs: queueing, claiming, progress, outcome and the lost-job search."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, func, or_, select, update
from sqlalchemy.orm import Session

from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Job
from riskdesk.pipeline import repository as leases

ACTIVE = ("queued", "running")
LEASE_SCOPE = "job"  # leases of jobs, apart from those of imports (which number their own)


def add(session: Session, job: Job) -> Job:
    """Queue a job."""
    session.add(job)
    session.flush()
    return job


def get(session: Session, job_id: int) -> Job | None:
    """A job by id (read afresh)."""
    return session.get(Job, job_id, populate_existing=True)


def active_or_ended_since(since: dt.datetime) -> Any:
    """Jobs queued or running now, or that ended (or were created, when no end is recorded)
    at or after a moment."""
    return or_(
        Job.status.in_(ACTIVE),
        func.coalesce(Job.finished_at, Job.created_at) >= since,
    )


def page(
    session: Session,
    *,
    kind: str | None,
    status: str | None,
    visible_to: tuple[int, Sequence[str]] | None,
    params: PageParams,
    since: dt.datetime | None = None,
) -> tuple[list[Job], int]:
    """Jobs newest first; ``visible_to`` (user id, permissions held) narrows to the jobs the
    caller started or whose operation the caller may run; ``since`` to those still queued or
    running and those that ended at or after it (as the admin's home counts them)."""
    stmt = select(Job)
    if since is not None:
        stmt = stmt.where(active_or_ended_since(since))
    if kind is not None:
        stmt = stmt.where(Job.kind == kind)
    if status is not None:
        stmt = stmt.where(Job.status == status)
    if visible_to is not None:
        user_id, permissions = visible_to
        stmt = stmt.where(or_(Job.created_by_id == user_id, Job.permission.in_(permissions)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Job.id.desc()).offset(params.offset).limit(params.size))
    return list(rows), total


def claim_next(session: Session, worker: str, kinds: Sequence[str]) -> Job | None:
    """Take the oldest queued job of the kinds this worker runs, in the caller's writing
    transaction (a kind a newer release added waits for a worker that knows it).

    PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so workers of many processes never take one job
    twice nor wait on each other. SQLite: the writing transaction holds the database's one
    write lock, so one worker at a time claims."""
    stmt = select(Job).where(Job.status == "queued", Job.kind.in_(kinds)).order_by(Job.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    job = session.scalars(stmt).first()
    if job is None:
        return None
    now = utcnow()
    job.status, job.phase, job.worker = "running", "starting", worker[:120]
    job.attempts += 1
    job.started_at = job.heartbeat_at = now
    job.progress_done = job.progress_total = 0
    session.flush()
    return job


def record_progress(
    session: Session, job_id: int, attempt: int, phase: str, done: int, total: int
) -> bool | None:
    """Write a running job's progress and heartbeat; whether a cancel was asked for, or None
    when the job is no longer this attempt's to run (reaped and queued again, say)."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "running", Job.attempts == attempt)
        .values(phase=phase, progress_done=done, progress_total=total, heartbeat_at=utcnow())
    )
    return cancel_requested(session, job_id, attempt)


def cancel_requested(session: Session, job_id: int, attempt: int) -> bool | None:
    """Whether the running attempt was asked to stop; None when it no longer runs it."""
    row = session.execute(
        select(Job.cancel_requested).where(
            Job.id == job_id, Job.status == "running", Job.attempts == attempt
        )
    ).first()
    return None if row is None else bool(row[0])


def finish_done(session: Session, job_id: int, attempt: int, result: dict[str, Any]) -> bool:
    """Mark the attempt done with its result, in the store phase's own transaction, unless a
    cancel came first or the attempt lost the job; whether it was marked. A job is done in
    the same commit as what it stored, so its result is never stored twice."""
    marked = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            Job.status == "running",
            Job.attempts == attempt,
            Job.cancel_requested.is_(False),
        )
        .values(status="done", phase="done", result=result, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(marked, "rowcount", 0))


def finish_other(
    session: Session,
    job_id: int,
    attempt: int,
    status: str,
    *,
    error_code: str | None = None,
    error_message: str | None = None,
) -> bool:
    """Mark the attempt failed or cancelled (its store, if any, was rolled back)."""
    marked = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "running", Job.attempts == attempt)
        .values(
            status=status,
            phase=status,
            error_code=error_code,
            error_message=error_message[:500] if error_message else None,
            finished_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(marked, "rowcount", 0))


def running(session: Session) -> list[Job]:
    """Jobs recorded as running (some may have lost their process)."""
    return list(session.scalars(select(Job).where(Job.status == "running").order_by(Job.id)))


def active(session: Session) -> list[Job]:
    """Running and queued jobs, oldest first."""
    return list(session.scalars(select(Job).where(Job.status.in_(ACTIVE)).order_by(Job.id)))


def counts_by_status(session: Session) -> dict[str, int]:
    """How many jobs there are in each status."""
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {status: int(n) for status, n in rows}


def lease(bind: Engine | Connection, job_id: int) -> Any:
    """Hold the job's lease while its attempt runs (see pipeline.repository.job_lease)."""
    return leases.job_lease(bind, job_id, scope=LEASE_SCOPE)


def lease_held(bind: Engine | Connection, job_id: int) -> bool:
    """Whether some process still runs the job."""
    return leases.lease_held(bind, job_id, scope=LEASE_SCOPE)


def silent_since(job: Job) -> dt.datetime:
    """When the running job last showed it was alive."""
    return job.heartbeat_at or job.started_at or job.created_at
