"""Background jobs: queue a long operation, run it in a worker in three phases (read a
snapshot, compute holding nothing, store briefly), report its progress, cancel it, and reap
the jobs whose process died.

A job is marked done in the same transaction as what it stored, so an attempt that dies
before its commit stored nothing and may run again, and one that committed is never run
again: a job's result is stored once however often it is attempted.

A large store may first stage its rows in short transactions of their own (``stage``), under
a record no reader reads until the last transaction makes it current and marks the job done.
Such a kind names a ``discard`` that deletes what an unfinished attempt staged: run when the
job fails or is cancelled, when the reaper finds it lost, and (by the kind) before it stages
again.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.audit.trail import set_context
from riskdesk.db import snapshot, unit_of_work
from riskdesk.jobs import repository as repo
from riskdesk.kit.errors import Conflict, NotFound, PermissionDenied, RiskdeskError
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Job
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal

log = logging.getLogger(__name__)
T = TypeVar("T")

STATUSES = ("queued", "running", "done", "failed", "cancelled")
MAX_ATTEMPTS = 2  # a job whose process died runs once more, then fails
INTERRUPTED = "the job's process stopped before it finished; nothing of it was stored"


class JobCancelled(Exception):
    """The job was asked to stop (or is no longer this attempt's): roll back and leave."""


@dataclass(frozen=True)
class JobKind:
    """An operation that runs as a job: the permission it needs and how it runs."""

    name: str
    permission: Permission
    run: Callable[[JobContext], None]
    # Deletes what the job's unfinished attempts staged (session, job id); None: stages nothing.
    discard: Callable[[Session, int], object] | None = None
    # Finishes, in transactions of its own, what a done job leaves to do after its result's
    # commit when its process is lost (the reaper runs it); None: nothing is left after.
    recover: Callable[[sessionmaker[Session]], object] | None = None


KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> None:
    """Make an operation runnable as a job (the kinds register themselves from above)."""
    KINDS[kind.name] = kind


# ---------------------------------------------------------------- queue, read, cancel

_wakeups: set[threading.Event] = set()


def register_wakeup(wakeup: threading.Event) -> None:
    """Have a worker of this process woken when a job is queued here."""
    _wakeups.add(wakeup)


def unregister_wakeup(wakeup: threading.Event) -> None:
    """Stop waking a worker that stopped."""
    _wakeups.discard(wakeup)


def _wake(_: Session) -> None:
    for wakeup in list(_wakeups):
        wakeup.set()


def enqueue(
    session: Session,
    principal: Principal,
    *,
    kind: str,
    permission: Permission,
    parameters: dict[str, Any],
) -> Job:
    """Queue an operation as a job of the caller's; a worker runs it once this commits."""
    if not principal.can(permission):
        raise PermissionDenied(f"requires {permission.value}", code="permission_denied")
    job = repo.add(
        session,
        Job(
            kind=kind,
            permission=permission.value,
            parameters=parameters,
            status="queued",
            phase="queued",
            progress_done=0,
            progress_total=0,
            cancel_requested=False,
            attempts=0,
            created_by_id=principal.user_id,
        ),
    )
    event.listen(session, "after_commit", _wake, once=True)
    return job


def reads_every_job(principal: Principal) -> bool:
    """Auditors, and operators (who watch the system's work), read every job."""
    return principal.can(Permission.AUDIT_READ) or principal.can(Permission.SYSTEM_MONITOR)


def may_read(principal: Principal, job: Job) -> bool:
    """The starter, whoever may run the operation, auditors and operators read a job."""
    return (
        job.created_by_id == principal.user_id
        or job.permission in principal.permissions
        or reads_every_job(principal)
    )


def get_job_or_raise(session: Session, principal: Principal, job_id: int) -> Job:
    """A job the caller may read; 404 alike for one missing and one not theirs to see."""
    job = repo.get(session, job_id)
    if job is None or not may_read(principal, job):
        raise NotFound(f"job {job_id} not found", code="job_not_found")
    return job


def list_jobs(
    session: Session,
    principal: Principal,
    *,
    kind: str | None,
    status: str | None,
    params: PageParams,
    since: dt.datetime | None = None,
) -> tuple[list[Job], int]:
    """The jobs the caller may read, newest first; with ``since``, only those still queued or
    running and those that ended since then (a time without a zone is UTC)."""
    visible = None
    if not reads_every_job(principal):
        visible = (principal.user_id, sorted(p.value for p in principal.permissions))
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    return repo.page(
        session, kind=kind, status=status, visible_to=visible, params=params, since=since
    )


def list_all(
    session: Session, *, kind: str | None, status: str | None, params: PageParams
) -> tuple[list[Job], int]:
    """Every job, newest first: for the operator at the command line, who runs the system."""
    return repo.page(session, kind=kind, status=status, visible_to=None, params=params)


def get_any_or_raise(session: Session, job_id: int) -> Job:
    """Any job by id, for the operator at the command line."""
    job = repo.get(session, job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found", code="job_not_found")
    return job


def cancel(session: Session, principal: Principal, job_id: int) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next progress point
    (its store phase, if begun, is rolled back). Only its starter or whoever may run it."""
    job = get_job_or_raise(session, principal, job_id)
    if job.created_by_id != principal.user_id and job.permission not in principal.permissions:
        raise PermissionDenied("only its starter or a holder of its permission may cancel a job")
    return _cancel(session, job)


def cancel_any(session: Session, job_id: int) -> Job:
    """Cancel any job, as ``cancel`` does: for the operator at the command line."""
    return _cancel(session, get_any_or_raise(session, job_id))


def _cancel(session: Session, job: Job) -> Job:
    if job.status == "queued":
        job.status, job.phase, job.finished_at = "cancelled", "cancelled", utcnow()
    elif job.status == "running":
        job.cancel_requested = True
    else:
        raise Conflict(f"the job is already {job.status}", code="job_finished")
    session.flush()
    return job


# ---------------------------------------------------------------- running

# Progress of the jobs this process runs, by id: the store phase holds SQLite's one write
# lock, so its progress is kept here rather than written (the job row has the rest).
_LIVE: dict[int, tuple[str, int, int]] = {}
_LIVE_LOCK = threading.Lock()


def progress_of(job: Job) -> tuple[str, int, int]:
    """(phase, done, total) of a job, live when this process runs it."""
    if job.status == "running":
        with _LIVE_LOCK:
            live = _LIVE.get(job.id)
        if live is not None:
            return live
    return job.phase, job.progress_done, job.progress_total


class JobContext:
    """What a running job's operation sees: its parameters, its phases and its progress."""

    def __init__(self, factory: sessionmaker[Session], job: Job) -> None:
        self.factory = factory
        self.job_id, self.attempt = job.id, job.attempts
        self.parameters: dict[str, Any] = dict(job.parameters)
        self.created_by_id = job.created_by_id
        self.permission = Permission(job.permission)
        self._storing = False

    def progress(self, phase: str, done: int = 0, total: int = 0) -> None:
        """Report progress, in a short transaction of its own; a progress point: raises
        JobCancelled when the job was asked to stop."""
        with _LIVE_LOCK:
            _LIVE[self.job_id] = (phase, done, total)
        if self._storing:
            # The store's own transaction holds the write lock (SQLite): only read the flag.
            with self.factory() as session:
                stop = repo.cancel_requested(session, self.job_id, self.attempt)
        else:
            with unit_of_work(self.factory) as session:
                stop = repo.record_progress(session, self.job_id, self.attempt, phase, done, total)
        if stop is None or stop:
            raise JobCancelled(self.job_id)

    def principal(self, session: Session) -> Principal:
        """The starter, with the permissions of their role now."""
        user = security_service.get_user_or_raise(session, self.created_by_id)
        return security_service.principal_for(session, user, via="system")

    @contextmanager
    def reading(self, phase: str = "reading") -> Iterator[Session]:
        """The read phase: a session on one read-only snapshot."""
        self.progress(phase)
        with self.factory() as session, snapshot(session):
            yield session

    def _audited(self, session: Session) -> None:
        principal = self.principal(session)
        set_context(
            session,
            actor_id=principal.user_id,
            actor=principal.user.username,
            channel="job",
            object_type="job",
            object_id=str(self.job_id),
        )

    def stage(
        self,
        write: Callable[[Session], T],
        done: int = 0,
        total: int = 0,
        *,
        phase: str = "storing",
    ) -> T:
        """One short transaction of a large store: ``write`` stores a part that no reader reads
        yet (the kind's last transaction, in ``store``, makes it current). Records progress in
        the same transaction, and is a progress point: a cancel (or a lost job) rolls it back."""
        with _LIVE_LOCK:
            _LIVE[self.job_id] = (phase, done, total)
        with unit_of_work(self.factory) as session:
            stop = repo.record_progress(session, self.job_id, self.attempt, phase, done, total)
            if stop is None or stop:
                raise JobCancelled(self.job_id)
            self._audited(session)
            return write(session)

    def store(self, write: Callable[[Session], dict[str, Any]]) -> dict[str, Any]:
        """The store phase: ``write`` stores the result and returns it as JSON, in one
        transaction that also marks the job done; a cancel (or a lost job) rolls it back."""
        self.progress("storing")
        self._storing = True
        try:
            with unit_of_work(self.factory) as session:
                self._audited(session)
                result = write(session)
                session.flush()
                if not repo.finish_done(session, self.job_id, self.attempt, result):
                    raise JobCancelled(self.job_id)
            return result
        finally:
            self._storing = False


def worker_name() -> str:
    """Who runs a job: host, process and thread."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


def run_next(factory: sessionmaker[Session]) -> int | None:
    """Claim the oldest queued job and run it; its id, or None when none was queued."""
    with unit_of_work(factory) as session:
        job = repo.claim_next(session, worker_name(), sorted(KINDS))
        if job is None:
            return None
        session.expunge(job)
    with _LIVE_LOCK:
        _LIVE[job.id] = ("starting", 0, 0)
    try:
        with repo.lease(factory.kw["bind"], job.id):
            _run(factory, job)
    finally:
        with _LIVE_LOCK:
            _LIVE.pop(job.id, None)
    return job.id


def _run(factory: sessionmaker[Session], job: Job) -> None:
    ctx = JobContext(factory, job)
    kind = KINDS.get(job.kind)
    try:
        if kind is None:
            raise RiskdeskError(f"no operation {job.kind!r} in this process", code="job_unknown")
        kind.run(ctx)
    except JobCancelled:
        with unit_of_work(factory) as session:
            if repo.cancel_requested(session, job.id, job.attempts):
                repo.finish_other(session, job.id, job.attempts, "cancelled")
                _discard(session, kind, job.id)
        log.info("job %s (%s) cancelled", job.id, job.kind)
    except RiskdeskError as exc:
        # A domain error's message names what was wrong (a field, a state), never a person.
        _failed(factory, job, kind, exc.code, exc.message)
    except Exception as exc:
        log.exception("job %s (%s) failed", job.id, job.kind)
        _failed(factory, job, kind, "job_failed", f"the job failed: {type(exc).__name__}")


def _discard(session: Session, kind: JobKind | None, job_id: int) -> None:
    """Delete what the job staged, in the transaction that ends it (nothing when it staged
    nothing; its staged rows are never read either way)."""
    if kind is not None and kind.discard is not None:
        kind.discard(session, job_id)


def _failed(
    factory: sessionmaker[Session], job: Job, kind: JobKind | None, code: str, message: str
) -> None:
    with unit_of_work(factory) as session:
        if repo.finish_other(
            session, job.id, job.attempts, "failed", error_code=code, error_message=message
        ):
            _discard(session, kind, job.id)


def reap_lost(factory: sessionmaker[Session], *, grace_seconds: float = 60.0) -> list[int]:
    """Queue again (or, after their last attempt, fail) the running jobs whose process is
    gone: no lease held, no progress within the grace, not run by this process. Their ids.

    Safe to run again: a job is done in the commit that stored its result, so a lost attempt
    stored nothing."""
    bind = factory.kw["bind"]
    cutoff = utcnow() - dt.timedelta(seconds=grace_seconds)
    with factory() as session:
        candidates = [
            (j.id, j.attempts) for j in repo.running(session) if repo.silent_since(j) <= cutoff
        ]
    with _LIVE_LOCK:
        here = set(_LIVE)
    lost = [(i, a) for i, a in candidates if i not in here and not repo.lease_held(bind, i)]
    if not lost:
        return []
    with unit_of_work(factory) as session:
        for job_id, attempt in lost:
            job = repo.get(session, job_id)
            if job is None or job.status != "running" or job.attempts != attempt:
                continue  # it finished or moved on meanwhile
            # Whatever the lost attempt staged goes; a next attempt stages afresh.
            _discard(session, KINDS.get(job.kind), job.id)
            if job.cancel_requested:
                job.status, job.phase = "cancelled", "cancelled"
                job.finished_at = utcnow()
            elif job.attempts < MAX_ATTEMPTS:
                job.status, job.phase, job.worker = "queued", "queued", None
            else:
                job.status, job.phase, job.finished_at = "failed", "failed", utcnow()
                job.error_code, job.error_message = "job_interrupted", INTERRUPTED
        session.flush()
    log.warning("jobs %s lost their process and were reaped", [i for i, _ in lost])
    return [i for i, _ in lost]


def recover(factory: sessionmaker[Session]) -> None:
    """Run each kind's recovery of what a lost process left after a job's result (reaper)."""
    for kind in list(KINDS.values()):
        if kind.recover is not None:
            kind.recover(factory)


def active_jobs(session: Session) -> list[Job]:
    """Running and queued jobs (for status)."""
    return repo.active(session)


def counts_by_status(session: Session) -> dict[str, int]:
    """Jobs in each status, every status named."""
    found = repo.counts_by_status(session)
    return {status: found.get(status, 0) for status in STATUSES}
