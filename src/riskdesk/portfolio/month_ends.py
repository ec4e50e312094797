"""The dashboard's stored month ends: each customer's receivables by ageing bucket at the
month ends of the trend window, and the month's sales, kept so that an answer sums stored
rows instead of deriving every past month end from every invoice and payment.

A past month end changes only through a late event (an invoice issued, or a payment made, on
or before it, recorded after) or a merge moving events. The triggers of migration 0038 mark
the customer stale when one arrives; the dashboard derives stale customers afresh and the
stored rows of the others, so its figures never depend on when this job last ran. The job
(``refresh``: the server every RISKDESK_MONTH_END_INTERVAL_SECONDS, or `riskdesk portfolio
month-ends`) stores the month ends missing from the window and stores stale customers again.

Every write is a short transaction (a slice of customers, one INSERT ... SELECT): on SQLite
the one writer is free between them. A month end is read only once all its rows are written
and summed (``ready``); one left half written by a stopped process is dropped and stored
again by the next pass.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.db import unit_of_work
from riskdesk.kit.timeutil import today
from riskdesk.pipeline import repository as leases
from riskdesk.portfolio import month_end_repository as repo
from riskdesk.portfolio import trends as trend_math

log = logging.getLogger(__name__)

TREND_MONTHS = 12  # the dashboard's trend: 12 months, opened by the month end before them
SLICE_CUSTOMERS = 5_000  # customers per transaction when a month end is stored
STALE_BATCH = 500  # stale customers stored again per transaction
STALE_MARKS = 20_000  # marks cleared per transaction at most (a late event marks once)
LEASE_ID = 1  # one refresh at a time across processes (an advisory lock, or a file lock)


def window(day: dt.date) -> list[dt.date]:
    """The month ends kept on ``day``, oldest first: the 13 the dashboard's trend reads, and
    one before them, so that last month's committee pack (its trend ends at last month's end)
    reads stored month ends too."""
    return trend_math.cutoffs(day, TREND_MONTHS + 1)[:-1]


def month_before(month_end: dt.date) -> dt.date:
    """The month end before a month end."""
    return month_end.replace(day=1) - dt.timedelta(days=1)


@dataclass
class RefreshResult:
    """What a pass did."""

    stored: list[dt.date] = field(default_factory=list)
    dropped: list[dt.date] = field(default_factory=list)
    restored: int = 0  # stale customers stored again
    skipped: bool = False  # another process held the lease: nothing was done
    balances: tuple[int, int] | None = None  # rebuild: open invoices kept before, after
    incomplete: bool = False  # event writers stayed busy: a month end waits for the next pass


def _lease(factory: sessionmaker[Session], *, wait: bool) -> Any:
    bind = factory.kw["bind"]
    if wait:
        return _held(leases.job_lease(bind, LEASE_ID, scope="month_ends"))
    return leases.try_job_lease(bind, LEASE_ID, scope="month_ends")


@contextmanager
def _held(lease: Any) -> Iterator[bool]:
    with lease:
        yield True


def refresh(
    factory: sessionmaker[Session], *, day: dt.date | None = None, wait: bool = False
) -> RefreshResult:
    """Store the window's missing month ends, drop those outside it and any left half
    written, and store stale customers again. Skipped while another process's pass runs,
    unless ``wait`` (a one-off run: the CLI, the demo), which waits for it to end."""
    result = RefreshResult()
    with _lease(factory, wait=wait) as got:
        if not got:  # another process's pass is running: it does this one's work
            result.skipped = True
            return result
        _pass(factory, day, result)
    _log(result)
    return result


def rebuild(
    factory: sessionmaker[Session], *, day: dt.date | None = None, wait: bool = False
) -> RefreshResult:
    """Derive the kept balances afresh and store every month end of the window again, after
    events were changed by hand (an UPDATE or DELETE the triggers do not follow). Skipped
    (``skipped``) while another pass runs (unless ``wait``) or, on PostgreSQL, while event
    writers stay busy for 2 s; ``incomplete`` when the writers stayed busy for a later month
    end (the next pass stores it; until then the trend is derived)."""
    result = RefreshResult()
    with _lease(factory, wait=wait) as got:
        if not got:
            result.skipped = True
            return result
        try:
            with unit_of_work(factory) as session:
                repo.hold_event_writers(session)  # no event lands between the read and write
                result.balances = repo.rebuild_balances(session)
        except OperationalError:
            log.warning("rebuild: the event writers were busy; nothing was changed")
            result.skipped = True
            return result
        with factory() as session:
            known = sorted(repo.months(session))
        for month_end in known:
            _drop(factory, month_end)
            result.dropped.append(month_end)
        _pass(factory, day, result)
    _log(result)
    return result


def _pass(factory: sessionmaker[Session], day: dt.date | None, result: RefreshResult) -> None:
    """One pass under the lease (``refresh``)."""
    # A month end not yet passed is not final: never stored, whatever day is asked for.
    wanted = [m for m in window(day or today()) if m < today()]
    with factory() as session:
        known = repo.months(session)
        empty = not repo.any_invoice(session)
    for month_end, ready in sorted(known.items()):
        # Not ready under the lease: a stopped pass left it; outside the window: too old.
        if not ready or month_end not in wanted:
            _drop(factory, month_end)
            result.dropped.append(month_end)
    for month_end in [] if empty else wanted:
        if not known.get(month_end):
            if not _store(factory, month_end):
                result.incomplete = True  # the event writers were busy: the next pass
                break
            result.stored.append(month_end)
    result.restored = _restore_stale(factory)


def _log(result: RefreshResult) -> None:
    if result.stored or result.dropped or result.restored:
        log.info(
            "month ends: stored %s, dropped %s, %d stale customers stored again",
            [d.isoformat() for d in result.stored],
            [d.isoformat() for d in result.dropped],
            result.restored,
        )


def _drop(factory: sessionmaker[Session], month_end: dt.date) -> None:
    with unit_of_work(factory) as session:
        repo.unready(session, month_end)  # first: no answer reads it from here on
        low, high = repo.id_range(session)
    for start in range(low, high + 1, SLICE_CUSTOMERS):
        with unit_of_work(factory) as session:
            repo.drop_rows(session, month_end, id_from=start, id_to=start + SLICE_CUSTOMERS - 1)
    with unit_of_work(factory) as session:
        repo.drop_rows(session, month_end)  # rows of customers merged away since
        # Last: a drop stopped before this leaves the month end not ready, and the next
        # pass drops it again.
        repo.forget_month(session, month_end)


def _store(factory: sessionmaker[Session], month_end: dt.date) -> bool:
    """Store one month end; False when the event writers could not be held (PostgreSQL)."""
    before = month_before(month_end)
    try:
        with unit_of_work(factory) as session:
            # From this commit on, an event dated on or before the month end marks its
            # customer stale; the slices below read after it, so no event falls between.
            repo.hold_event_writers(session)
            repo.begin_month(session, month_end)
            low, high = repo.id_range(session)
    except OperationalError:
        log.warning("month end %s: the event writers were busy; next pass", month_end)
        return False
    for start in range(low, high + 1, SLICE_CUSTOMERS):
        with unit_of_work(factory) as session:
            end = start + SLICE_CUSTOMERS - 1
            # A slice written by a pass that stopped before marking it ready, or left by a
            # drop that stopped half way, goes first.
            repo.drop_rows(session, month_end, id_from=start, id_to=end)
            repo.store_rows(session, before, month_end, id_from=start, id_to=end)
    with unit_of_work(factory) as session:
        repo.finish_month(session, month_end)
    return True


def _restore_stale(factory: sessionmaker[Session]) -> int:
    restored = 0
    while True:
        with unit_of_work(factory) as session:
            marks = repo.stale(session, STALE_BATCH, STALE_MARKS)
            if not marks:
                return restored
            ids = sorted({customer for _, customer in marks})
            ready = sorted(m for m, r in repo.months(session).items() if r)
            old = repo.sums_by_month(session, ready, ids=ids)
            for month_end in ready:
                repo.drop_rows(session, month_end, only=ids)
                repo.store_rows(session, month_before(month_end), month_end, only=ids)
            new = repo.sums_by_month(session, ready, ids=ids)
            for month_end in ready:
                was, now = old.get(month_end, repo.ZEROS), new.get(month_end, repo.ZEROS)
                if was != now:
                    delta = tuple(n - w for n, w in zip(now, was, strict=True))
                    repo.add_to_totals(session, month_end, delta)  # type: ignore[arg-type]
            # By id: a mark written meanwhile (an event after these reads) stays.
            repo.clear_stale(session, [mark for mark, _ in marks])
            restored += len(ids)
