"""The event path after intake: queued work → indicators → rules → alerts → playbooks.

Intake validates, writes the events, applies their exposure (a credit check needs it at once),
queues one row per customer it touched and commits (``enqueue``). Workers then process the
queue a partition at a time (``process_partition``): the partition is the hash of the
customer's group, or of the customer, mod ``event_partitions``, so one worker at a time owns
all of a group's work and processes it in the order it was committed.

Exactly once: a batch's effects (indicator snapshots, alerts, playbook actions) and the
deletion of its queue rows commit in one transaction. A worker that dies before the commit
leaves the rows queued and nothing done; the next owner processes them again from the start.
Processing recomputes state from the event record, so doing it again changes nothing.

A batch that fails is rolled back and its rows count an attempt; a row that has failed once
is retried alone (with its customer's other rows), so one poison customer never holds up the
others, and after ``event_max_deliveries`` attempts it goes to dead letters.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.alerts import service as alert_service
from riskdesk.config import Settings
from riskdesk.db import unit_of_work
from riskdesk.indicators import service as indicator_service
from riskdesk.kit import metrics
from riskdesk.kit.timeutil import utcnow
from riskdesk.pipeline import repository as repo

log = logging.getLogger(__name__)

Processing = Literal["done", "queued"]  # how far an intake's processing got when it answered
QUEUED_KEY = "riskdesk.queued"  # session.info: ids of the queue rows this session wrote
PUBLISH_KEY = "riskdesk.to_publish"  # session.info: rows to hand the bus once committed
CLAIM_ROWS_PER_CUSTOMER = 4  # rows read per customer a batch may take (a customer has several)
QUEUE_SCAN_LIMIT = 50_000  # rows of one partition process_now takes at a time
MAX_REFS = 5_000  # row ids a queue row carries; beyond, the customer's state is rebuilt

# Set when a transaction in this process commits queued work: its workers look at once.
_wakeups: list[threading.Event] = []
# Handed the rows of every commit in this process that queued work (the NATS bus publishes them).
_publishers: list[Callable[[list[WorkRef]], None]] = []
_wakeups_lock = threading.Lock()


def partition_of(customer_id: int, group_id: int | None, partitions: int) -> int:
    """The queue partition of a customer: its group's, when it has one."""
    key = f"g{group_id}" if group_id is not None else f"c{customer_id}"
    return zlib.crc32(key.encode()) % partitions


@dataclass(frozen=True)
class WorkRef:
    """A queue row as a bus carries it: enough to find the row and its partition."""

    queue_id: int
    partition: int
    enqueued_at: dt.datetime

    @property
    def key(self) -> str:
        """The row's idempotency key (``Nats-Msg-Id``): its id and when it was queued, since
        SQLite gives a deleted row's id to the next row once the queue has emptied."""
        return f"{self.queue_id}.{(self.enqueued_at - _EPOCH) // dt.timedelta(microseconds=1)}"


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def enqueue(
    session: Session,
    customer_ids: Iterable[int],
    kind: str,
    *,
    partitions: int,
    refs: Mapping[int, Iterable[int] | None] | None = None,
    waiting: Mapping[int, int] | None = None,
) -> dict[int, int]:
    """Queue the customers' new events for processing once this transaction commits; the
    queue row of each customer.

    ``refs`` gives, per customer, the ids of the rows of ``kind`` written for it, which the
    worker reads into the customer's indicator state; a customer without them (or with too
    many) has its state rebuilt from the event record. ``waiting`` names queue rows of the
    same kind written earlier by the same intake (a file import's earlier parts): a customer's
    new rows join its row if that is still waiting, rather than queueing one row per part."""
    groups = repo.customer_groups(session, customer_ids)
    joined = _join_waiting(session, kind, groups, refs, waiting) if waiting else {}
    rows: list[dict[str, object]] = []
    homes: list[int] = []
    fresh: list[int] = []
    for cid, gid in sorted(groups.items()):
        if cid in joined:
            continue
        fresh.append(cid)
        ids = refs.get(cid) if refs is not None else None
        listed = sorted(set(ids)) if ids is not None else None
        homes.append(partition_of(cid, gid, partitions))
        rows.append(
            {
                "partition_no": homes[-1],
                "customer_id": cid,
                "kind": kind,
                "refs": listed if listed is not None and len(listed) <= MAX_REFS else None,
            }
        )
    now = utcnow()
    ids = repo.enqueue(session, rows, now=now)
    queued = {**joined, **dict(zip(fresh, ids, strict=True))}
    if ids:
        session.info.setdefault(QUEUED_KEY, []).extend(ids)
        session.info.setdefault(PUBLISH_KEY, []).extend(
            WorkRef(qid, home, now) for qid, home in zip(ids, homes, strict=True)
        )
        metrics.count_on_commit(session, metrics.WORK_QUEUED, (kind,), len(ids))
    # A joined row's worker may have passed it by while this transaction owned its partition.
    if (ids or joined) and not event.contains(session, "after_commit", _wake_workers):
        event.listen(session, "after_commit", _wake_workers)
        event.listen(session, "after_rollback", _forget_unpublished)
    return queued


def _join_waiting(
    session: Session,
    kind: str,
    groups: Mapping[int, int | None],
    refs: Mapping[int, Iterable[int] | None] | None,
    waiting: Mapping[int, int],
) -> dict[int, int]:
    """Add customers' new rows to their queue rows still waiting (``enqueue``): the customers
    joined, with their row. The refs are the union, or None (rebuild) when either is unknown
    or too many.

    A row is joined only if it is still the customer's, of this kind, not yet attempted, and
    this transaction owns its partition (the fence workers take): a worker owning it may be
    processing the row, which must not be changed under it, nor its partition's later rows
    run before it; this transaction never waits for that worker. On SQLite a row id may have
    been given to another customer's row since (the queue emptied), hence the checks. Any
    other customer gets a new row."""
    mine = {cid: waiting[cid] for cid in groups if cid in waiting}
    if not mine:
        return {}
    found = repo.waiting_rows(session, sorted(mine.values()))
    owned = {p for p in sorted({r.partition_no for r in found}) if repo.fence(session, p)}
    ids = [r.id for r in found if r.partition_no in owned]
    held = {r.id: r for r in repo.waiting_rows(session, ids, lock=True)} if ids else {}
    changed: dict[int, list[int] | None] = {}
    joined: dict[int, int] = {}
    for cid, qid in mine.items():
        row = held.get(qid)
        if row is None or row.customer_id != cid or row.kind != kind:
            continue
        new = refs.get(cid) if refs is not None else None
        union = None if row.refs is None or new is None else sorted(set(row.refs) | set(new))
        changed[qid] = union if union is not None and len(union) <= MAX_REFS else None
        joined[cid] = qid
    repo.set_refs(session, changed)
    return joined


def queued_ids(session: Session) -> list[int]:
    """The queue rows this session's transaction wrote."""
    return list(session.info.get(QUEUED_KEY, ()))


def _wake_workers(session: Session) -> None:
    committed: list[WorkRef] = session.info.pop(PUBLISH_KEY, [])
    with _wakeups_lock:
        for wakeup in _wakeups:
            wakeup.set()
        publishers = list(_publishers)
    for publish in publishers if committed else ():
        try:
            publish(committed)
        except Exception:  # never the request's failure: the bus relay publishes it later
            log.exception("publishing committed work failed")


def _forget_unpublished(session: Session) -> None:
    session.info.pop(PUBLISH_KEY, None)


def register_publisher(publish: Callable[[list[WorkRef]], None]) -> None:
    """Have ``publish`` handed the queue rows of every transaction this process commits (it
    must not block: it runs in the committing thread)."""
    with _wakeups_lock:
        _publishers.append(publish)


def unregister_publisher(publish: Callable[[list[WorkRef]], None]) -> None:
    """Stop handing committed rows to ``publish``."""
    with _wakeups_lock:
        if publish in _publishers:
            _publishers.remove(publish)


def register_wakeup(wakeup: threading.Event) -> None:
    """Have ``wakeup`` set whenever this process commits queued work."""
    with _wakeups_lock:
        _wakeups.append(wakeup)


def unregister_wakeup(wakeup: threading.Event) -> None:
    """Stop setting ``wakeup``."""
    with _wakeups_lock:
        if wakeup in _wakeups:
            _wakeups.remove(wakeup)


# ---------------------------------------------------------------- processing


@dataclass(frozen=True)
class Batch:
    """What one transaction of a worker did."""

    partitions: tuple[int, ...]
    rows: int
    customers: int
    failed: bool = False
    buried: int = 0


def _collect(
    session: Session, partitions: Sequence[int], settings: Settings, taken: list[int]
) -> list[repo.Claimed]:
    """The rows one batch processes: the oldest of each partition this worker can own, in
    order, up to ``event_batch_customers`` customers; or a row that failed before, alone with
    its customer's other rows of that partition (a poison customer is isolated from the rest).

    Every partition the batch takes rows from stays owned until the transaction ends."""
    limit = settings.event_batch_customers
    rows: list[repo.Claimed] = []
    customers: set[int] = set()
    for partition in partitions:
        if len(customers) >= limit:
            break
        if not repo.fence(session, partition):
            continue  # another worker owns it now
        claimed = repo.claim(session, partition, limit * CLAIM_ROWS_PER_CUSTOMER)
        if not claimed:
            continue
        if claimed[0].attempts > 0:
            if rows:
                continue  # it is retried in a batch of its own
            first = claimed[0].customer_id
            rows = [r for r in claimed if r.customer_id == first]
            break
        for row in claimed:
            if row.attempts > 0:
                break  # (cannot happen: failed rows head their partition) keep the order
            if row.customer_id not in customers:
                if len(customers) >= limit:
                    break
                customers.add(row.customer_id)
            rows.append(row)
    taken.extend(r.id for r in rows)
    return rows


def changes_of(rows: Iterable[repo.Claimed]) -> dict[int, indicator_service.Changes]:
    """Per customer, the rows its queued work names (kind -> ids), or None when any of its
    work does not say (a replay, a retry, work queued before ids were kept)."""
    unknown: set[int] = set()
    named: dict[int, dict[str, list[int]]] = {}
    for row in rows:
        if row.refs is None:
            unknown.add(row.customer_id)
        else:
            named.setdefault(row.customer_id, {}).setdefault(row.kind, []).extend(row.refs)
    out: dict[int, indicator_service.Changes] = dict.fromkeys(unknown)
    out |= {cid: kinds for cid, kinds in named.items() if cid not in unknown}
    return out


def work(session: Session, changes: Mapping[int, indicator_service.Changes]) -> None:
    """Process customers' committed events: indicators, then rules, alerts and playbooks."""
    ids = repo.live_customers(session, changes)
    if ids:
        done = indicator_service.advance(session, {c: changes[c] for c in ids})
        alert_service.evaluate(session, ids, indicators=done.values)


def _process(
    session: Session, partitions: Sequence[int], settings: Settings, taken: list[int]
) -> Batch | None:
    rows = _collect(session, partitions, settings, taken)
    if not rows:
        return None
    changes = changes_of(rows)
    work(session, changes)
    repo.delete_queued(session, [r.id for r in rows])
    metrics.count_on_commit(session, metrics.WORK_PROCESSED, (), len(rows))
    return Batch(tuple(sorted({r.partition_no for r in rows})), len(rows), len(changes))


def process_batch(
    factory: sessionmaker[Session], partitions: Sequence[int], settings: Settings
) -> Batch | None:
    """Process one batch from the given partitions (in that order) in a transaction of its
    own; None when they had nothing for this worker (empty, or owned by others)."""
    taken: list[int] = []
    try:
        with unit_of_work(factory) as session:
            return _process(session, partitions, settings, taken)
    except Exception as exc:
        if not taken:
            raise  # not the work's failure (the database away, say): no attempt is counted
        # The batch rolled back, so nothing of it happened; its rows count one attempt.
        log.exception("processing queued work failed (partitions %s)", sorted(set(partitions)))
        return _failed(factory, settings, exc, taken)


def process_partition(
    factory: sessionmaker[Session], partition: int, settings: Settings
) -> Batch | None:
    """Process one batch of one partition (see ``process_batch``)."""
    return process_batch(factory, [partition], settings)


def _failed(
    factory: sessionmaker[Session], settings: Settings, exc: Exception, taken: list[int]
) -> Batch:
    # The first line only: the engine hides statement parameters, so no personal data is kept.
    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]
    with unit_of_work(factory) as session:
        rows = repo.queued_rows(session, taken)  # those no other worker processed meanwhile
        dead = []
        for row in rows:
            row.attempts += 1
            row.last_error = reason
            if row.attempts >= settings.event_max_deliveries:
                dead.append(row)
        session.flush()
        if dead:
            repo.bury(session, dead, reason)
            metrics.count_on_commit(session, metrics.DEAD_LETTERS, (), len(dead))
            log.error(
                "%s queued row(s) went to dead letters after %s attempts",
                len(dead),
                settings.event_max_deliveries,
            )
        return Batch(
            tuple(sorted({r.partition_no for r in rows})),
            len(rows),
            len({r.customer_id for r in rows}),
            failed=True,
            buried=len(dead),
        )


def process_pass(
    factory: sessionmaker[Session], settings: Settings, *, start: int = 0
) -> Batch | None:
    """One batch over the partitions that have work, beginning at ``start`` (workers begin at
    different partitions, so they rarely meet)."""
    with factory() as session:
        partitions = repo.partitions_with_work(session)
        session.rollback()
    if not partitions:
        return None
    return process_batch(factory, sorted(partitions, key=lambda p: (p < start, p)), settings)


def process_now(session: Session, settings: Settings) -> int:
    """Process all the queued work this session can see, in its own transaction and as one
    run (the demo load, tests of the services); rows processed."""
    done = 0
    while True:
        rows: list[repo.Claimed] = []
        for partition in repo.partitions_with_work(session):
            if repo.fence(session, partition):
                rows.extend(repo.claim(session, partition, QUEUE_SCAN_LIMIT))
        if not rows:
            return done
        changes = changes_of(rows)
        customers = sorted(changes)
        step = settings.event_batch_customers
        for start in range(0, len(customers), step):
            work(session, {c: changes[c] for c in customers[start : start + step]})
        repo.delete_queued(session, [r.id for r in rows])
        metrics.count_on_commit(session, metrics.WORK_PROCESSED, (), len(rows))
        done += len(rows)
        session.flush()


def wait_for(
    factory: sessionmaker[Session], ids: Sequence[int], seconds: float, settings: Settings
) -> bool:
    """Wait until the given queue rows are processed, helping the workers with their
    partitions meanwhile; False when they are not done within ``seconds``."""
    if not ids:
        return True
    deadline = time.monotonic() + seconds
    while True:
        try:
            with factory() as session:
                left = repo.queued_partitions(session, ids)
                session.rollback()
            if not left:
                return True
            batch = process_batch(factory, sorted(left), settings)
            progressed = batch is not None and not batch.failed
        except Exception:
            log.exception("waiting for queued work failed")
            return False
        if time.monotonic() >= deadline:
            return False
        if not progressed:
            time.sleep(0.02)  # another worker holds the partitions: let it finish


def settle(
    session: Session,
    factory: sessionmaker[Session],
    settings: Settings,
    wait: float | None,
) -> Processing:
    """After an intake: commit, then wait up to ``wait`` seconds (None: the configured
    default) for its events to be processed; "done", or "queued" when they are not yet."""
    ids = queued_ids(session)
    if not ids:
        return "done"
    seconds = settings.event_wait_seconds if wait is None else wait
    if seconds <= 0:
        return "queued"
    session.commit()
    session.info.pop(QUEUED_KEY, None)
    return "done" if wait_for(factory, ids, seconds, settings) else "queued"


# ---------------------------------------------------------------- a bus's bookkeeping


def still_queued(factory: sessionmaker[Session], ids: Sequence[int]) -> dict[int, int]:
    """Of the given rows, those still queued (not processed, not buried), with their
    attempts so far."""
    if not ids:
        return {}
    with factory() as session:
        found = repo.queued_attempts(session, ids)
        session.rollback()
    return found


def bury_undelivered(
    factory: sessionmaker[Session], queue_id: int, deliveries: int, settings: Settings
) -> bool | None:
    """Send a row to dead letters whose bus message was delivered ``deliveries`` times and
    never answered (each worker that held it was lost: a customer whose processing kills the
    worker is never counted as a failure). True: buried; False: processed or buried already;
    None: another worker owns its partition now."""
    with unit_of_work(factory) as session:
        rows = repo.queued_rows(session, [queue_id])
        if not rows:
            return False
        row = rows[0]
        if not repo.fence(session, row.partition_no):
            return None
        reason = f"delivered {deliveries} times and never processed (its workers were lost)"
        row.attempts = max(row.attempts, deliveries)
        row.last_error = reason
        session.flush()
        repo.bury(session, [row], reason)
        metrics.count_on_commit(session, metrics.DEAD_LETTERS, (), 1)
    log.error("a queued row went to dead letters after %s deliveries", deliveries)
    return True


def waiting_work(
    factory: sessionmaker[Session], older_than_seconds: float, limit: int
) -> tuple[int, list[WorkRef]]:
    """(rows queued in all, the oldest ``limit`` of those queued over ``older_than_seconds``
    ago): what a bus relay compares with the bus and publishes again."""
    before = utcnow() - dt.timedelta(seconds=older_than_seconds)
    with factory() as session:
        total = repo.queued_count(session)
        rows = repo.waiting_since(session, before, limit) if total else []
        waiting = [WorkRef(r.id, r.partition_no, r.enqueued_at) for r in rows]
        session.rollback()
    return total, waiting


# ---------------------------------------------------------------- operations


@dataclass(frozen=True)
class PartitionLag:
    """One partition's waiting work."""

    partition: int
    rows: int
    lag_seconds: float


@dataclass(frozen=True)
class QueueFigures:
    """The event queue now: waiting work per partition, and dead letters not yet retried."""

    partitions: list[PartitionLag]
    dead_letters: int

    @property
    def rows(self) -> int:
        """Rows waiting in all."""
        return sum(p.rows for p in self.partitions)

    @property
    def lag_seconds(self) -> float:
        """Age of the oldest waiting row; 0 when none waits."""
        return max((p.lag_seconds for p in self.partitions), default=0.0)


def queue_figures(session: Session) -> QueueFigures:
    """The queue's lag per partition and its dead letters."""
    now = utcnow()
    return QueueFigures(
        partitions=[
            PartitionLag(p, n, max(0.0, (now - oldest).total_seconds()))
            for p, n, oldest in repo.lag(session)
        ],
        dead_letters=repo.dead_letter_count(session),
    )


def queue_everyone(session: Session, *, partitions: int) -> int:
    """Queue every standing customer for processing (a rebuild); how many."""
    customers = repo.live_customers(session, None)
    enqueue(session, customers, "replay", partitions=partitions)
    return len(customers)


def retry_dead_letters(session: Session, ids: Sequence[int] | None, *, partitions: int) -> int:
    """Queue dead letters again (the given ones, or all); how many. Their original partition is
    recomputed: the customer may have joined a group since."""
    letters = repo.dead_letters_by_id(session, ids)
    if not letters:
        return 0
    now = utcnow()
    by_kind: dict[str, list[int]] = {}
    for letter in letters:
        letter.retried_at = now
        by_kind.setdefault(letter.kind, []).append(letter.customer_id)
    session.flush()
    for kind, customers in by_kind.items():
        enqueue(session, customers, kind, partitions=partitions)
    return len(letters)
