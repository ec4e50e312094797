"""SQL of import jobs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskdesk.models import ImportJob


def list_jobs(session: Session, *, user_id: int | None, limit: int = 50) -> list[ImportJob]:
    """Latest import jobs, of one user or of everyone."""
    stmt = select(ImportJob).order_by(ImportJob.id.desc()).limit(limit)
    if user_id is not None:
        stmt = stmt.where(ImportJob.created_by_id == user_id)
    return list(session.scalars(stmt))


def get_job(session: Session, job_id: int) -> ImportJob | None:
    """A job by id."""
    return session.get(ImportJob, job_id)
