"""SQL of import jobs, the leases that tell a running job from a lost one, and the event
queue."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Customer, DeadLetter, ImportJob, ImportMapping, QueuedWork


def list_jobs(session: Session, *, user_id: int | None, limit: int = 50) -> list[ImportJob]:
    """Latest import jobs, of one user or of everyone."""
    stmt = select(ImportJob).order_by(ImportJob.id.desc()).limit(limit)
    if user_id is not None:
        stmt = stmt.where(ImportJob.created_by_id == user_id)
    return list(session.scalars(stmt))


def get_job(session: Session, job_id: int) -> ImportJob | None:
    """A job by id."""
    return session.get(ImportJob, job_id)


def job_for_update(session: Session, job_id: int) -> ImportJob | None:
    """A job, locked for the transaction (PostgreSQL; SQLite's writer holds the one lock)."""
    return session.get(ImportJob, job_id, with_for_update=True, populate_existing=True)


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
# ``scope`` tells imports ("import") from background jobs ("job"): each numbers its own ids.
_LOCAL_LEASES: set[tuple[str, int]] = set()  # in-memory SQLite: the database dies with it


def _engine(bind: Engine | Connection) -> Engine:
    return bind.engine if isinstance(bind, Connection) else bind


def _pg_scope(scope: str) -> str:
    return f"/riskdesk {scope} job"


def _lock_file(engine: Engine, job_id: int, scope: str) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    folder = Path(database).with_name(Path(database).name + ".imports")
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / (f"job-{job_id}.lock" if scope == "import" else f"{scope}-{job_id}.lock")


@contextmanager
def job_lease(bind: Engine | Connection, job_id: int, *, scope: str = "import") -> Iterator[None]:
    """Hold the job's lease while the block runs, waiting for it if another process holds it."""
    with _lease(bind, job_id, scope, wait=True):
        yield


@contextmanager
def try_job_lease(
    bind: Engine | Connection, job_id: int, *, scope: str = "import"
) -> Iterator[bool]:
    """Hold the job's lease while the block runs if it is free; the block is told whether it
    got it (a periodic job another process is running skips its pass instead of queueing)."""
    with _lease(bind, job_id, scope, wait=False) as got:
        yield got


@contextmanager
def _lease(bind: Engine | Connection, job_id: int, scope: str, *, wait: bool) -> Iterator[bool]:
    engine = _engine(bind)
    key = {"scope": _pg_scope(scope), "id": job_id}
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            take = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
            got = conn.execute(text(f"SELECT {take}({_PG_KEY})"), key).scalar()
            got = True if wait else bool(got)
            conn.commit()
            try:
                yield got
            finally:
                if got:
                    conn.execute(text(f"SELECT pg_advisory_unlock({_PG_KEY})"), key)
                    conn.commit()
        return
    path = _lock_file(engine, job_id, scope)
    if path is None:
        got = wait or (scope, job_id) not in _LOCAL_LEASES
        if got:
            _LOCAL_LEASES.add((scope, job_id))
        try:
            yield got
        finally:
            if got:
                _LOCAL_LEASES.discard((scope, job_id))
        return
    fd = _locked_file(path, wait=wait)
    if fd is None:
        yield False
        return
    try:
        yield True
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)  # closing drops the lock


def _locked_file(path: Path, *, wait: bool) -> int | None:
    """A descriptor of the lock file, locked; None when another process holds it (``wait``
    False). The holder deletes the file as it lets go, so a lock taken on a file already
    deleted, or replaced since it was opened, is let go and taken again on the new one."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            return fd
        os.close(fd)


def lease_held(bind: Engine | Connection, job_id: int, *, scope: str = "import") -> bool:
    """Whether some process still holds the job's lease."""
    engine = _engine(bind)
    key = {"scope": _pg_scope(scope), "id": job_id}
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            free = conn.execute(text(f"SELECT pg_try_advisory_lock({_PG_KEY})"), key).scalar_one()
            if free:
                conn.execute(
                    text(f"SELECT pg_advisory_unlock({_PG_KEY})"),
                    key,
                )
            conn.commit()
            return not free
    path = _lock_file(engine, job_id, scope)
    if path is None:
        return (scope, job_id) in _LOCAL_LEASES
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


# ---------------------------------------------------------------- the event queue
#
# Intake commits a row per customer it touched; workers claim a partition's rows in id order.
# On PostgreSQL a worker first takes the partition's advisory lock for its transaction (two
# workers never own one partition, so a customer's work is never reordered), then locks the
# rows FOR UPDATE SKIP LOCKED; the rows are deleted in the transaction that does their work.
# On SQLite every writing transaction holds the database's one write lock: that is the fence.

_QUEUE_SCOPE = "/riskdesk event partition"


def customer_groups(session: Session, customer_ids: Iterable[int]) -> dict[int, int | None]:
    """Each customer's group (None when it has none)."""
    ids = sorted(set(customer_ids))
    found: dict[int, int | None] = {}
    for start in range(0, len(ids), 5000):
        part = ids[start : start + 5000]
        rows = session.execute(select(Customer.id, Customer.group_id).where(Customer.id.in_(part)))
        found.update((int(cid), gid) for cid, gid in rows)
    return found


def live_customers(session: Session, customer_ids: Iterable[int] | None) -> list[int]:
    """The given customers (None: all) that still stand (not merged into another)."""
    stmt = select(Customer.id).where(Customer.status != "merged").order_by(Customer.id)
    if customer_ids is None:
        return list(session.scalars(stmt))
    ids = sorted(set(customer_ids))
    found: list[int] = []
    for start in range(0, len(ids), 5000):
        found.extend(session.scalars(stmt.where(Customer.id.in_(ids[start : start + 5000]))))
    return found


def enqueue(session: Session, rows: list[dict[str, Any]], *, now: dt.datetime) -> list[int]:
    """Queue work rows (partition_no, customer_id, kind), in order; their ids."""
    if not rows:
        return []
    values = [{**r, "enqueued_at": now, "attempts": 0} for r in rows]
    return list(
        session.scalars(
            insert(QueuedWork).returning(QueuedWork.id, sort_by_parameter_order=True), values
        )
    )


class Waiting(NamedTuple):
    """A queue row still waiting for its first attempt."""

    id: int
    partition_no: int
    customer_id: int
    kind: str
    refs: list[int] | None


def waiting_rows(session: Session, ids: Sequence[int], *, lock: bool = False) -> list[Waiting]:
    """Of these queue rows, those still waiting for their first attempt (``lock``: locked
    until this transaction ends, on PostgreSQL)."""
    stmt = select(*(getattr(QueuedWork, name) for name in Waiting._fields)).where(
        QueuedWork.id.in_(ids), QueuedWork.attempts == 0
    )
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.order_by(QueuedWork.id).with_for_update()
    return [Waiting(*row) for row in session.execute(stmt)]


def set_refs(session: Session, refs: dict[int, list[int] | None]) -> None:
    """Replace the refs of queue rows (read by ``waiting_rows`` under their partitions'
    fences)."""
    if refs:
        session.execute(
            update(QueuedWork), [{"id": qid, "refs": listed} for qid, listed in refs.items()]
        )


def fence(session: Session, partition: int) -> bool:
    """Own the partition until this transaction ends; False when another worker owns it."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(
        session.execute(
            text("SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || :scope), :p)"),
            {"scope": _QUEUE_SCOPE, "p": partition},
        ).scalar_one()
    )


class Claimed(NamedTuple):
    """A queued row as a worker reads it (plain columns: no ORM object per row, since a batch
    reads hundreds and only deletes them)."""

    id: int
    partition_no: int
    customer_id: int
    kind: str
    attempts: int
    refs: list[int] | None


def claim(session: Session, partition: int, limit: int) -> list[Claimed]:
    """The partition's oldest queued rows, locked for this transaction."""
    stmt = (
        select(*(getattr(QueuedWork, name) for name in Claimed._fields))
        .where(QueuedWork.partition_no == partition)
        .order_by(QueuedWork.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return [Claimed(*row) for row in session.execute(stmt)]


def delete_queued(session: Session, ids: Sequence[int]) -> None:
    """Remove processed rows."""
    for start in range(0, len(ids), 5000):
        session.execute(
            delete(QueuedWork).where(QueuedWork.id.in_(ids[start : start + 5000])),
            execution_options={"synchronize_session": False},  # none is loaded as an object
        )


def partitions_with_work(session: Session) -> list[int]:
    """Partitions that have queued rows."""
    return list(
        session.scalars(
            select(QueuedWork.partition_no).distinct().order_by(QueuedWork.partition_no)
        )
    )


def queued_partitions(session: Session, ids: Sequence[int]) -> set[int]:
    """The partitions of those of the given rows that are still queued."""
    found: set[int] = set()
    for start in range(0, len(ids), 5000):
        part = ids[start : start + 5000]
        found.update(
            session.scalars(
                select(QueuedWork.partition_no).where(QueuedWork.id.in_(part)).distinct()
            )
        )
    return found


def queued_rows(session: Session, ids: Sequence[int]) -> list[QueuedWork]:
    """The given rows, those still queued."""
    return list(
        session.scalars(select(QueuedWork).where(QueuedWork.id.in_(ids)).order_by(QueuedWork.id))
    )


def queued_attempts(session: Session, ids: Sequence[int]) -> dict[int, int]:
    """Of the given rows, those still queued, with their attempts so far."""
    found: dict[int, int] = {}
    for start in range(0, len(ids), 5000):
        part = ids[start : start + 5000]
        found.update(
            (int(i), int(n))
            for i, n in session.execute(
                select(QueuedWork.id, QueuedWork.attempts).where(QueuedWork.id.in_(part))
            )
        )
    return found


def waiting_since(session: Session, before: dt.datetime, limit: int) -> list[QueuedWork]:
    """The oldest rows queued before ``before``, oldest first."""
    return list(
        session.scalars(
            select(QueuedWork)
            .where(QueuedWork.enqueued_at < before)
            .order_by(QueuedWork.id)
            .limit(limit)
        )
    )


def queued_count(session: Session) -> int:
    """Rows waiting in all."""
    return int(session.scalar(select(func.count()).select_from(QueuedWork)) or 0)


def bury(session: Session, rows: Sequence[QueuedWork], error: str) -> None:
    """Move rows to dead letters."""
    now = utcnow()
    session.add_all(
        DeadLetter(
            queue_id=r.id,
            partition_no=r.partition_no,
            customer_id=r.customer_id,
            kind=r.kind,
            enqueued_at=r.enqueued_at,
            failed_at=now,
            attempts=r.attempts,
            error=error[:1000],
        )
        for r in rows
    )
    delete_queued(session, [r.id for r in rows])


def lag(session: Session) -> list[tuple[int, int, dt.datetime]]:
    """(partition, rows queued, oldest enqueued) of each partition with work."""
    return [
        (int(p), int(n), oldest)
        for p, n, oldest in session.execute(
            select(QueuedWork.partition_no, func.count(), func.min(QueuedWork.enqueued_at))
            .group_by(QueuedWork.partition_no)
            .order_by(QueuedWork.partition_no)
        )
    ]


def dead_letters(
    session: Session, *, include_retried: bool = False, limit: int = 200
) -> list[DeadLetter]:
    """Dead letters, newest first."""
    stmt = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if not include_retried:
        stmt = stmt.where(DeadLetter.retried_at.is_(None))
    return list(session.scalars(stmt))


def dead_letter_count(session: Session) -> int:
    """Dead letters not yet retried."""
    return int(
        session.scalar(
            select(func.count()).select_from(DeadLetter).where(DeadLetter.retried_at.is_(None))
        )
        or 0
    )


def dead_letters_by_id(session: Session, ids: Sequence[int] | None) -> list[DeadLetter]:
    """Dead letters not yet retried, the given ones or (None) all."""
    stmt = select(DeadLetter).where(DeadLetter.retried_at.is_(None)).order_by(DeadLetter.id)
    if ids is not None:
        stmt = stmt.where(DeadLetter.id.in_(ids))
    return list(session.scalars(stmt))


# ---------------------------------------------------------------- saved mappings


def list_mappings(session: Session) -> list[ImportMapping]:
    """The saved column mappings, by name and kind."""
    return list(
        session.scalars(select(ImportMapping).order_by(ImportMapping.name, ImportMapping.kind))
    )


def get_mapping(session: Session, mapping_id: int) -> ImportMapping | None:
    """A saved mapping by id."""
    return session.get(ImportMapping, mapping_id)


def mapping_named(session: Session, name: str, kind: str) -> ImportMapping | None:
    """The mapping saved under a name for a kind."""
    return session.scalars(
        select(ImportMapping).where(ImportMapping.name == name, ImportMapping.kind == kind)
    ).first()


def add_mapping(session: Session, mapping: ImportMapping) -> ImportMapping:
    """Store a new saved mapping."""
    session.add(mapping)
    session.flush()
    return mapping


def delete_mapping(session: Session, mapping: ImportMapping) -> None:
    """Forget a saved mapping."""
    session.delete(mapping)
    session.flush()
