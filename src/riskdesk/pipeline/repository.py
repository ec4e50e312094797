"""SQL of import jobs, and the leases that tell a running job from a lost one."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, select, text
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


def running_jobs(session: Session) -> list[ImportJob]:
    """Jobs recorded as running (some may have lost their process)."""
    return list(session.scalars(select(ImportJob).where(ImportJob.status == "running")))


# ---------------------------------------------------------------- leases
#
# A running import holds a lease on its job: an advisory lock on PostgreSQL, a file lock next
# to the SQLite database. The operating system or the server drops it when the process dies,
# however it dies, so a "running" job whose lease is free has lost its process. A heartbeat
# column could not work here: the import's own transaction holds SQLite's only write lock.

# Advisory locks are database-wide, so their key names the schema as well as the job: two
# deployments (or test runs) in schemas of one database each have a job 1.
_PG_KEY = "hashtext(current_schema() || :scope), :id"
_PG_SCOPE = "/riskdesk import job"
_LOCAL_LEASES: set[int] = set()  # in-memory SQLite: the database dies with the process


def _engine(bind: Engine | Connection) -> Engine:
    return bind.engine if isinstance(bind, Connection) else bind


def _lock_file(engine: Engine, job_id: int) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    folder = Path(database).with_name(Path(database).name + ".imports")
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"job-{job_id}.lock"


@contextmanager
def job_lease(bind: Engine | Connection, job_id: int) -> Iterator[None]:
    """Hold the job's lease while the block runs."""
    engine = _engine(bind)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(
                text(f"SELECT pg_advisory_lock({_PG_KEY})"), {"scope": _PG_SCOPE, "id": job_id}
            )
            conn.commit()
            try:
                yield
            finally:
                conn.execute(
                    text(f"SELECT pg_advisory_unlock({_PG_KEY})"),
                    {"scope": _PG_SCOPE, "id": job_id},
                )
                conn.commit()
        return
    path = _lock_file(engine, job_id)
    if path is None:
        _LOCAL_LEASES.add(job_id)
        try:
            yield
        finally:
            _LOCAL_LEASES.discard(job_id)
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)  # closing drops the lock


def lease_held(bind: Engine | Connection, job_id: int) -> bool:
    """Whether some process still holds the job's lease."""
    engine = _engine(bind)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            free = conn.execute(
                text(f"SELECT pg_try_advisory_lock({_PG_KEY})"), {"scope": _PG_SCOPE, "id": job_id}
            ).scalar_one()
            if free:
                conn.execute(
                    text(f"SELECT pg_advisory_unlock({_PG_KEY})"),
                    {"scope": _PG_SCOPE, "id": job_id},
                )
            conn.commit()
            return not free
    path = _lock_file(engine, job_id)
    if path is None:
        return job_id in _LOCAL_LEASES
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
