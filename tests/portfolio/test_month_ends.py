"""The stored month ends and the kept invoice balances: the dashboard reads them instead of
deriving every month end from every invoice and payment, and must answer exactly what the
derivation answers, through late events, merges and a job stopped half way.

The book is test_trends' hand-made one (as of 2026-03-15), whose figures are worked by hand
there; here every answer is compared with the derivation itself (``ageing_history``)."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.kit.timeutil import today
from riskdesk.models import (
    Customer,
    Invoice,
    InvoiceAdjustment,
    InvoiceBalance,
    Payment,
    PaymentReversal,
    ReceivableMonthEnd,
    ReceivableMonthStale,
    ReceivableMonthTotal,
)
from riskdesk.portfolio import month_end_repository, month_ends, service
from riskdesk.portfolio import repository as repo
from riskdesk.portfolio import trends as trend_math
from riskdesk.portfolio.schemas import PortfolioFilter
from tests.conftest import principal
from tests.portfolio.seed import _key
from tests.portfolio.test_trends import AS_OF, D, _book, _invoice

BUCKETS = ("current", "1_30", "31_60", "61_90", "over_90")


def _trends(db: Session, user: str = "manager", **filters: Any) -> list[tuple[Any, ...]]:
    found = service.summary(
        db, principal(db, user), flt=PortfolioFilter(**filters), as_of=AS_OF
    ).trends
    return [(t.month_end, t.ageing, t.sales, t.dso, t.best_dso, t.add, t.cei) for t in found]


def _derived(db: Session, user: str = "manager", **filters: Any) -> list[tuple[Any, ...]]:
    """The trend columns derived in one statement, as before anything was stored."""
    scope = service.scope_of(principal(db, user), PortfolioFilter(**filters))
    dates = trend_math.cutoffs(AS_OF, service.TREND_MONTHS)
    ageing, sales = repo.ageing_history(db, scope, dates)
    return [(end, a, s) for end, a, s in zip(dates[1:], ageing[1:], sales, strict=True)]


def _same(db: Session, user: str = "manager", **filters: Any) -> None:
    answered = _trends(db, user, **filters)
    derived = _derived(db, user, **filters)
    assert [(e, a, s) for e, a, s, *_ in answered] == derived, (user, filters)


def _same_before_and_after_the_job(
    db: Session, factory: sessionmaker[Session], **filters: Any
) -> None:
    """The whole book and one filtered view equal the derivation while the late events are
    stale, and again once the month-end job has stored them."""
    for views in ({}, filters):
        _same(db, **views)
    db.commit()
    month_ends.refresh(factory, day=AS_OF)
    for views in ({}, filters):
        _same(db, **views)


def _stored(db: Session) -> dict[dt.date, bool]:
    db.expire_all()
    return month_end_repository.months(db)


def test_stored_month_ends_answer_what_is_derived(
    db: Session, factory: sessionmaker[Session]
) -> None:
    _book(db)
    before = {
        who: _trends(db, user, **f)
        for who, user, f in (
            ("book", "manager", {}),
            ("north", "manager", {"region": "North"}),
            ("own", "sales", {}),
        )
    }
    result = month_ends.refresh(factory, day=AS_OF)
    window = month_ends.window(AS_OF)
    assert result.stored == window and len(window) == 14
    assert window[0] == D(2025, 1, 31) and window[-1] == D(2026, 2, 28)
    assert _stored(db) == dict.fromkeys(window, True)
    # Only customers with something open or invoiced are stored; the merged one never is.
    rows = db.execute(
        select(ReceivableMonthEnd.customer_id, ReceivableMonthEnd.current,
               ReceivableMonthEnd.dpd_61_90, ReceivableMonthEnd.sales)
        .where(ReceivableMonthEnd.month_end == D(2026, 1, 31))
        .order_by(ReceivableMonthEnd.customer_id)
    ).all()  # fmt: skip
    assert [(int(c), int(s)) for _, c, _, s in rows] == [(3000, 3000), (0, 0)]
    assert [int(r[2]) for r in rows] == [0, 2000]
    total = db.get(ReceivableMonthTotal, D(2026, 1, 31))
    assert total is not None and (total.current, total.dpd_1_30, total.dpd_61_90) == (
        Decimal("3000.00"), Decimal("600.00"), Decimal("2000.00"),
    )  # fmt: skip
    assert before["book"] == _trends(db)
    assert before["north"] == _trends(db, region="North")
    assert before["own"] == _trends(db, "sales")
    # A second pass has nothing to do.
    again = month_ends.refresh(factory, day=AS_OF)
    assert (again.stored, again.dropped, again.restored) == ([], [], 0)


def test_the_answer_reads_what_is_stored(db: Session, factory: sessionmaker[Session]) -> None:
    """Not a derivation that happens to agree: a stored total moved by hand moves the answer
    for the whole book, and a stored row moves a filtered one."""
    ids = _book(db)
    month_ends.refresh(factory, day=AS_OF)
    january = D(2026, 1, 31)
    db.execute(
        update(ReceivableMonthTotal)
        .where(ReceivableMonthTotal.month_end == january)
        .values(current=ReceivableMonthTotal.current + 1)
    )
    db.execute(
        update(ReceivableMonthEnd)
        .where(ReceivableMonthEnd.month_end == january, ReceivableMonthEnd.customer_id == ids["b"])
        .values(dpd_61_90=ReceivableMonthEnd.dpd_61_90 + 7)
    )
    book = {t[0]: t[1] for t in _trends(db)}
    assert book[january]["current"] == Decimal("3001.00")
    north = {t[0]: t[1] for t in _trends(db, region="North")}
    assert north[january]["61_90"] == Decimal("2007.00")


def test_a_late_payment_is_derived_until_stored_again(
    db: Session, factory: sessionmaker[Session]
) -> None:
    ids = _book(db)
    month_ends.refresh(factory, day=AS_OF)
    # I2 (3,000, due 2026-02-14) part paid on 2026-01-20, recorded only now.
    i2 = db.scalar(select(Invoice.id).where(Invoice.amount == Decimal("3000")))
    db.add(
        Payment(customer_id=ids["a"], source="erp", external_id=_key(), content_hash="x",
                invoice_id=i2, amount=Decimal("1000"), currency="CNY",
                paid_on=D(2026, 1, 20), method="bank_transfer")
    )  # fmt: skip
    db.flush()
    marks = db.scalars(select(ReceivableMonthStale.customer_id)).all()
    assert marks == [ids["a"]]
    january = {t[0]: t[1] for t in _trends(db)}[D(2026, 1, 31)]
    assert january["current"] == Decimal("2000.00")  # 3,000 less the late 1,000
    for user, filters in (("manager", {}), ("manager", {"region": "East"}), ("sales", {})):
        _same(db, user, **filters)
    db.commit()
    result = month_ends.refresh(factory, day=AS_OF)
    assert result.restored == 1 and result.stored == []
    assert db.scalar(select(func.count()).select_from(ReceivableMonthStale)) == 0
    total = db.get(ReceivableMonthTotal, D(2026, 1, 31))
    db.refresh(total)
    assert total is not None and total.current == Decimal("2000.00")
    for user, filters in (("manager", {}), ("manager", {"region": "North"}), ("sales", {})):
        _same(db, user, **filters)


def test_a_late_invoice_and_a_current_one(db: Session, factory: sessionmaker[Session]) -> None:
    ids = _book(db)
    month_ends.refresh(factory, day=AS_OF)
    # Dated after the last stored month end: no stored month changes, nothing is stale.
    _invoice(db, ids["b"], "800", D(2026, 3, 2), D(2026, 4, 1))
    assert db.scalar(select(func.count()).select_from(ReceivableMonthStale)) == 0
    # Dated in December, recorded now: B is stale until stored again.
    _invoice(db, ids["b"], "250", D(2025, 12, 5), D(2026, 1, 4))
    assert db.scalars(select(ReceivableMonthStale.customer_id)).all() == [ids["b"]]
    _same_before_and_after_the_job(db, factory, region="North")


def test_a_merge_moving_events_keeps_the_book_exact(
    db: Session, factory: sessionmaker[Session]
) -> None:
    ids = _book(db)
    month_ends.refresh(factory, day=AS_OF)
    # What a merge does to the events: B's move to A, and B is merged away.
    for model in (Invoice, Payment):
        db.execute(update(model).where(model.customer_id == ids["b"]).values(customer_id=ids["a"]))
    db.execute(update(Customer).where(Customer.id == ids["b"]).values(status="merged"))
    db.flush()
    assert set(db.scalars(select(ReceivableMonthStale.customer_id))) == {ids["a"], ids["b"]}
    assert set(db.scalars(select(InvoiceBalance.customer_id))) == {ids["a"], ids["m"]}
    _same_before_and_after_the_job(db, factory, region="East")
    assert db.scalar(
        select(func.count()).select_from(ReceivableMonthEnd)
        .where(ReceivableMonthEnd.customer_id == ids["b"])
    ) == 0  # fmt: skip


def test_a_pass_stopped_half_way_is_stored_again(
    db: Session, factory: sessionmaker[Session]
) -> None:
    _book(db)
    month_ends.refresh(factory, day=AS_OF)
    expected = _trends(db)
    # A pass stopped after the rows of one slice: the month end is there but not ready.
    last = D(2026, 2, 28)
    db.execute(
        update(ReceivableMonthTotal)
        .where(ReceivableMonthTotal.month_end == last)
        .values(ready=False, current=0, dpd_1_30=0)
    )
    db.commit()
    assert _trends(db) == expected  # derived meanwhile, not read half written
    result = month_ends.refresh(factory, day=AS_OF)
    assert result.dropped == [last] and result.stored == [last]
    assert _stored(db)[last] is True
    assert _trends(db) == expected


def test_the_window_moves_with_the_month(db: Session, factory: sessionmaker[Session]) -> None:
    _book(db)
    month_ends.refresh(factory, day=AS_OF)
    result = month_ends.refresh(factory, day=D(2026, 4, 2))
    assert result.stored == [D(2026, 3, 31)] and result.dropped == [D(2025, 1, 31)]
    assert min(_stored(db)) == D(2025, 2, 28)
    assert db.scalar(
        select(func.count()).select_from(ReceivableMonthEnd)
        .where(ReceivableMonthEnd.month_end == D(2025, 1, 31))
    ) == 0  # fmt: skip


def _kept(db: Session) -> dict[int, Decimal]:
    """Invoice id -> open amount, as kept by the triggers."""
    stmt = select(InvoiceBalance.invoice_id, InvoiceBalance.amount, InvoiceBalance.paid)
    return {int(i): Decimal(a) - Decimal(p) for i, a, p in db.execute(stmt)}


def _open_derived(db: Session) -> dict[int, Decimal]:
    """Invoice id -> open amount, derived from every invoice, payment and correction: the
    invoice's amount plus its adjustments, less its payments not reversed."""

    def per_invoice(column: Any, amount: Any, *where: Any) -> Any:
        return (
            select(column.label("invoice_id"), func.sum(amount).label("total"))
            .where(*where)
            .group_by(column)
            .subquery()
        )

    reversed_ = select(PaymentReversal.payment_id)
    paid = per_invoice(Payment.invoice_id, Payment.amount, Payment.id.not_in(reversed_))
    adjusted = per_invoice(InvoiceAdjustment.invoice_id, InvoiceAdjustment.amount)
    open_amount = (
        Invoice.amount + func.coalesce(adjusted.c.total, 0) - func.coalesce(paid.c.total, 0)
    )
    stmt = (
        select(Invoice.id, open_amount)
        .outerjoin(paid, paid.c.invoice_id == Invoice.id)
        .outerjoin(adjusted, adjusted.c.invoice_id == Invoice.id)
    )
    return {int(i): Decimal(o) for i, o in db.execute(stmt) if Decimal(o) > Decimal("0.005")}


def test_kept_balances_are_the_open_invoices_of_today(db: Session) -> None:
    ids = _book(db)
    day = today()

    def kept() -> dict[int, Decimal]:
        return _kept(db)

    def derived() -> dict[int, Decimal]:
        return _open_derived(db)

    assert kept() == derived()
    # Settled in full (with a part payment first): the row goes; part paid: it stays, less.
    b_open = db.scalar(
        select(Invoice.id).where(Invoice.customer_id == ids["b"], Invoice.amount == 500)
    )
    for value in ("200", "299.996"):
        db.add(Payment(customer_id=ids["b"], source="erp", external_id=_key(), content_hash="x",
                       invoice_id=b_open, amount=Decimal(value), currency="CNY", paid_on=day,
                       method="bank_transfer"))  # fmt: skip
        db.flush()
        if value == "200":
            assert kept()[b_open] == Decimal("300.00")
    assert b_open not in kept()
    assert kept() == derived()
    # The ageing card reads the kept balances for today and derives another day's.
    scope = repo.Scope()
    assert repo.ageing(db, scope, day, kept=True) == repo.ageing(db, scope, day)
    # Either database's form of the ageing gives the same figures, on either database.
    for when in (day, AS_OF, D(2026, 1, 31)):
        for source in (repo._open_invoices, repo._kept_open_invoices):
            grouped = repo.ageing_grouped(db, source(scope, when), when)
            assert grouped == repo.ageing_distinct(db, source(scope, when), when)
            assert grouped[0], when


def test_last_months_pack_reads_stored_month_ends(
    db: Session, factory: sessionmaker[Session]
) -> None:
    """The committee pack asks for the summary as of last month's end: its whole trend, the
    end itself included, is in the window."""
    _book(db)
    end = D(2026, 2, 28)

    def pack_trend() -> list[Any]:
        found = service.summary(db, principal(db, "manager"), flt=PortfolioFilter(), as_of=end)
        return [(t.month_end, t.ageing, t.sales, t.cei) for t in found.trends]

    derived = pack_trend()
    month_ends.refresh(factory, day=AS_OF)
    assert set(trend_math.cutoffs(end, service.TREND_MONTHS)) <= set(_stored(db))
    db.execute(
        update(ReceivableMonthTotal)
        .where(ReceivableMonthTotal.month_end == end)
        .values(sales=ReceivableMonthTotal.sales + 1)
    )
    moved = pack_trend()
    assert moved[-1][2] == derived[-1][2] + 1  # read from the store
    assert moved[:-1] == derived[:-1]


def test_today_reads_the_kept_balances_and_the_months_sales(
    db: Session, factory: sessionmaker[Session]
) -> None:
    """As of today (the dashboard's default): stored month ends, today's ageing from the kept
    balances and the sales since the last month end, against the derivation of them all; an
    invoice issued this month counts in this month's sales."""
    ids = _book(db)  # dated in 2025-2026: most of it before today's window, some inside it
    day = today()
    # Something in every part of today's window: last month, and this month (issued on its
    # first day, which is today at the latest).
    last_end = trend_math.cutoffs(day, 1)[-2]
    first = last_end + dt.timedelta(days=1)
    _invoice(db, ids["a"], "1200", last_end - dt.timedelta(days=3), first + dt.timedelta(days=20))
    _invoice(db, ids["b"], "300", first, day + dt.timedelta(days=30))
    db.commit()

    def answered(user: str, **filters: Any) -> list[tuple[Any, ...]]:
        found = service.summary(db, principal(db, user), flt=PortfolioFilter(**filters)).trends
        return [(t.month_end, t.ageing, t.sales) for t in found]

    def derived(user: str, **filters: Any) -> list[tuple[Any, ...]]:
        scope = service.scope_of(principal(db, user), PortfolioFilter(**filters))
        dates = trend_math.cutoffs(day, service.TREND_MONTHS)
        ageing, sales = repo.ageing_history(db, scope, dates)
        return list(zip(dates[1:], ageing[1:], sales, strict=True))

    month_ends.refresh(factory)
    assert set(month_ends.window(day)) == set(_stored(db))
    for user, filters in (("manager", {}), ("manager", {"region": "North"}), ("sales", {})):
        assert answered(user, **filters) == derived(user, **filters), (user, filters)
    this_month = answered("manager")[-1]
    assert this_month[2] >= Decimal("300")


def test_many_late_events_of_one_customer_are_stored_once(
    db: Session, factory: sessionmaker[Session]
) -> None:
    ids = _book(db)
    month_ends.refresh(factory, day=AS_OF)
    for n in range(30):  # a back-filled feed: thirty late invoices of B, one of A
        _invoice(db, ids["b"], "10", D(2025, 12, 1 + n % 28), D(2026, 1, 1 + n % 28))
    _invoice(db, ids["a"], "20", D(2025, 12, 2), D(2026, 1, 2))
    db.commit()
    assert db.scalar(select(func.count()).select_from(ReceivableMonthStale)) == 31
    _same(db)
    result = month_ends.refresh(factory, day=AS_OF)
    assert result.restored == 2
    assert db.scalar(select(func.count()).select_from(ReceivableMonthStale)) == 0
    _same(db)
    _same(db, region="North")


def _late_payment(db: Session, cid: int) -> None:
    """1,000 of I2 (A's 3,000) paid 2026-01-20, recorded now, under customer ``cid``."""
    i2 = db.scalar(select(Invoice.id).where(Invoice.amount == Decimal("3000")))
    db.add(
        Payment(customer_id=cid, source="erp", external_id=_key(), content_hash="x",
                invoice_id=i2, amount=Decimal("1000"), currency="CNY",
                paid_on=D(2026, 1, 20), method="bank_transfer")
    )  # fmt: skip


@pytest.mark.parametrize("filters", [{}, {"region": "East"}])
def test_a_late_event_during_an_answer(
    own_backend: Any, monkeypatch: pytest.MonkeyPatch, filters: dict[str, str]
) -> None:
    """Another request records a late payment between the answer's statements (PostgreSQL
    reads each statement at its own moment): each month is the book before it or after it,
    never one without the customer."""
    factory = sessionmaker(bind=own_backend.engine, expire_on_commit=False)
    with factory() as db:
        ids = _book(db)
        db.commit()
    month_ends.refresh(factory, day=AS_OF)
    with factory() as db:
        before = _derived(db, **filters)
    read = month_end_repository.stale_customers

    def stale_customers(session: Session, limit: int) -> list[int]:
        found = read(session, limit)
        with factory() as other:
            _late_payment(other, ids["a"])
            other.commit()
        return found

    monkeypatch.setattr(month_end_repository, "stale_customers", stale_customers)
    with factory() as db:
        answered = [(e, a, s) for e, a, s, *_ in _trends(db, **filters)]
    monkeypatch.setattr(month_end_repository, "stale_customers", read)
    with factory() as db:
        after = _derived(db, **filters)
    assert before != after
    # Each month's figures are the book's at one moment, before the event or after it (the
    # statements of one answer read at their own moments), never without the customer.
    for month, was, now in zip(answered, before, after, strict=True):
        assert month in (was, now), month[0]


def test_the_job_storing_again_during_an_answer(
    own_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The month-end job stores a stale customer again between the answer's statements: it
    is counted once."""
    factory = sessionmaker(bind=own_backend.engine, expire_on_commit=False)
    with factory() as db:
        ids = _book(db)
        db.commit()
    month_ends.refresh(factory, day=AS_OF)
    with factory() as db:
        _late_payment(db, ids["a"])
        db.commit()
    read = month_end_repository.stale_customers

    def stale_customers(session: Session, limit: int) -> list[int]:
        found = read(session, limit)
        assert month_ends.refresh(factory, day=AS_OF).restored == 1
        return found

    monkeypatch.setattr(month_end_repository, "stale_customers", stale_customers)
    for filters in ({}, {"region": "East"}):
        with factory() as db:
            answered = [(e, a, s) for e, a, s, *_ in _trends(db, **filters)]
        with factory() as db:
            assert answered == _derived(db, **filters), filters
        with factory() as db:  # stale again for the next round
            _late_payment(db, ids["a"])
            db.commit()


def test_many_stale_customers_derive_the_whole_trend(
    db: Session, factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _book(db)
    month_ends.refresh(factory, day=AS_OF)
    _late_payment(db, ids["a"])
    _invoice(db, ids["b"], "250", D(2025, 12, 5), D(2026, 1, 4))
    db.commit()
    monkeypatch.setattr(service, "STALE_DERIVED_AT_MOST", 1)
    assert service._stored_month_ends(db, repo.Scope(), trend_math.cutoffs(AS_OF, 12)) is None
    _same(db)
    _same(db, region="North")


def test_a_payment_marks_its_invoices_customer(db: Session, factory: sessionmaker[Session]) -> None:
    ids = _book(db)
    month_ends.refresh(factory, day=AS_OF)
    _late_payment(db, ids["b"])  # A's invoice, recorded under B (SQL by hand)
    db.flush()
    assert db.scalars(select(ReceivableMonthStale.customer_id)).all() == [ids["a"]]
    _same(db)


def test_a_drop_stopped_half_way_and_an_empty_book(
    db: Session, factory: sessionmaker[Session]
) -> None:
    # An empty book stores no month ends: its first history would mark every event.
    assert month_ends.refresh(factory, day=AS_OF).stored == []
    _book(db)
    assert db.scalar(select(func.count()).select_from(ReceivableMonthStale)) == 0
    month_ends.refresh(factory, day=AS_OF)
    expected = _trends(db)
    # A drop stopped after taking the month end out of reach, before its rows went.
    last = D(2026, 2, 28)
    month_end_repository.unready(db, last)
    db.commit()
    assert _trends(db) == expected
    result = month_ends.refresh(factory, day=AS_OF)
    assert result.dropped == [last] and result.stored == [last]
    # A drop of an older pass stopped after its totals went but before all its rows did:
    # storing the month end again replaces the rows left, slice by slice.
    db.execute(delete(ReceivableMonthTotal).where(ReceivableMonthTotal.month_end == last))
    db.commit()
    assert month_ends.refresh(factory, day=AS_OF).stored == [last]
    assert _trends(db) == expected


def test_rebuild_follows_events_changed_by_hand(
    db: Session, factory: sessionmaker[Session]
) -> None:
    """An UPDATE and a DELETE in SQL by hand, which the triggers do not follow: the kept
    balances and the stored month ends are wrong until `riskdesk portfolio rebuild`, and
    exactly the derivation after it."""
    ids = _book(db)
    month_ends.refresh(factory, day=AS_OF)
    _same(db)
    # A payment's amount corrected, and an unpaid invoice deleted, behind the triggers' back.
    paid = db.scalars(select(Payment).order_by(Payment.id)).first()
    assert paid is not None
    db.execute(update(Payment).where(Payment.id == paid.id).values(amount=paid.amount / 2))
    unpaid = db.scalar(
        select(Invoice.id)
        .where(Invoice.customer_id == ids["b"], ~Invoice.id.in_(select(Payment.invoice_id)))
        .order_by(Invoice.id)
    )
    assert unpaid is not None
    db.execute(delete(Invoice).where(Invoice.id == unpaid))
    db.commit()
    assert _kept(db) != _open_derived(db)
    # The stored figures no longer answer what the events derive.
    assert [(e, a, s) for e, a, s, *_ in _trends(db)] != _derived(db)
    result = month_ends.rebuild(factory, day=AS_OF)
    assert not result.skipped and result.balances is not None
    assert result.balances[1] == len(_open_derived(db))
    assert sorted(result.dropped) == month_ends.window(AS_OF) == result.stored
    db.expire_all()
    assert _kept(db) == _open_derived(db)
    _same(db)
    _same(db, region="North")
    scope = repo.Scope()
    assert repo.ageing(db, scope, today(), kept=True) == repo.ageing(db, scope, today())


def test_a_pass_while_another_runs_is_skipped(db: Session, factory: sessionmaker[Session]) -> None:
    """The month-end job's lease is tried, not waited for: a second process's pass (the
    server's and a cron's `riskdesk portfolio month-ends`) skips instead of queueing."""
    from riskdesk.pipeline import repository as leases

    _book(db)
    db.commit()
    bind = factory.kw["bind"]
    with leases.try_job_lease(bind, month_ends.LEASE_ID, scope="month_ends") as got:
        assert got
        skipped = month_ends.refresh(factory, day=AS_OF)
        assert skipped.skipped and skipped.stored == []
        assert month_ends.rebuild(factory, day=AS_OF).skipped
        assert _stored(db) == {}
    done = month_ends.refresh(factory, day=AS_OF)
    assert not done.skipped and done.stored == month_ends.window(AS_OF)


def test_a_rebuild_the_writers_cut_short_says_so(
    db: Session, factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Event writers holding their tables past the lock's 2 s stop a pass after some month
    ends: a rebuild, which dropped them all, reports itself incomplete (the CLI exits 1); the
    next pass stores the rest, and the answer is the derivation's all along."""
    _book(db)
    db.commit()
    month_ends.refresh(factory, day=AS_OF)
    real, calls = month_ends._store, []

    def busy_after_two(factory: sessionmaker[Session], month_end: dt.date) -> bool:
        calls.append(month_end)
        return len(calls) <= 2 and real(factory, month_end)

    monkeypatch.setattr(month_ends, "_store", busy_after_two)
    result = month_ends.rebuild(factory, day=AS_OF)
    assert result.incomplete and not result.skipped and len(result.stored) == 2
    _same(db)
    monkeypatch.setattr(month_ends, "_store", real)
    rest = month_ends.refresh(factory, day=AS_OF)
    assert not rest.incomplete and len(rest.stored) == len(month_ends.window(AS_OF)) - 2
    _same(db)


def test_late_corrections_keep_the_balances_and_month_ends_exact(
    db: Session, factory: sessionmaker[Session]
) -> None:
    """A reversal, a credit note and an adjustment up, dated before the month ends stored:
    the kept balances follow at once, the customer is derived afresh until the job stores
    it again, and every answer is the derivation's."""
    ids = _book(db)
    month_ends.refresh(factory, day=AS_OF)
    a = ids["a"]

    def invoice_of(amount: str) -> int:
        found = db.scalar(select(Invoice.id).where(Invoice.amount == Decimal(amount)))
        assert found is not None
        return int(found)

    old = invoice_of("5000")  # paid in full on 2025-01-15, long settled
    payment = db.scalars(select(Payment).where(Payment.invoice_id == old)).one()
    common: dict[str, Any] = {"customer_id": a, "source": "erp", "content_hash": "x"}
    db.add(PaymentReversal(**common, external_id=_key(), payment_id=payment.id,
                           invoice_id=old, amount=payment.amount, currency="CNY",
                           reversed_on=D(2025, 4, 10)))  # fmt: skip
    db.add(InvoiceAdjustment(**common, external_id=_key(), invoice_id=invoice_of("3000"),
                             kind="credit_note", amount=Decimal("-1000"), currency="CNY",
                             adjusted_on=D(2026, 1, 20)))  # fmt: skip
    db.add(InvoiceAdjustment(**common, external_id=_key(), invoice_id=invoice_of("600"),
                             kind="adjustment", amount=Decimal("100"), currency="CNY",
                             adjusted_on=D(2026, 2, 26)))  # fmt: skip
    db.flush()
    assert set(db.scalars(select(ReceivableMonthStale.customer_id))) == {a}
    assert _kept(db) == _open_derived(db)
    assert _kept(db)[old] == Decimal("5000.00") and _kept(db)[invoice_of("600")] == 100
    trends = {t[0]: t[1] for t in _trends(db)}
    assert trends[D(2026, 1, 31)]["current"] == Decimal("2000.00")  # 3,000 less 1,000
    # Paid on 2025-01-15 (settled before the trend's first month end), the payment reversed
    # on 2025-04-10: owed again from then, due since 2025-01-01.
    assert trends[D(2025, 3, 31)]["over_90"] == 0
    assert trends[D(2025, 4, 30)]["over_90"] == Decimal("5000.00")
    _same_before_and_after_the_job(db, factory, region="East")
    assert db.scalar(select(func.count()).select_from(ReceivableMonthStale)) == 0
    # Derived afresh from the events, the balances are the ones kept.
    kept = _kept(db)
    month_end_repository.rebuild_balances(db)
    assert _kept(db) == kept


@pytest.mark.parametrize("first", ["correction", "payment"])
def test_a_payment_and_a_correction_of_one_invoice_at_once(own_backend: Any, first: str) -> None:
    """A payment and a credit note on the same invoice, in two transactions at once (the
    second written while the first is not yet committed): the kept balance counts both. On
    PostgreSQL the correction's trigger derives the balance row afresh, so without its lock
    on the invoice the payment's in-place update missed the replaced row (or the derivation
    missed the payment)."""
    factory = sessionmaker(bind=own_backend.engine, expire_on_commit=False)
    with factory() as db:
        ids = _book(db)
        db.commit()
        invoice = db.scalar(select(Invoice.id).where(Invoice.amount == Decimal("3000")))
        assert invoice is not None
        owed = _kept(db)[invoice]
    common: dict[str, Any] = {"customer_id": ids["a"], "source": "erp", "content_hash": "x"}
    rows = {
        "payment": lambda: Payment(**common, external_id=_key(), invoice_id=invoice,
                                   amount=Decimal("700"), currency="CNY",
                                   paid_on=D(2026, 2, 3), method="bank_transfer"),
        "correction": lambda: InvoiceAdjustment(**common, external_id=_key(),
                                                invoice_id=invoice, kind="credit_note",
                                                amount=Decimal("-500"), currency="CNY",
                                                adjusted_on=D(2026, 2, 3)),
    }  # fmt: skip
    second = "payment" if first == "correction" else "correction"
    errors: list[BaseException] = []

    def write_second() -> None:
        try:
            with factory() as other:
                other.add(rows[second]())
                other.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    with factory() as db:
        db.add(rows[first]())
        db.flush()  # its trigger has run; not committed
        thread = threading.Thread(target=write_second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # the second waits for the first (a lock, either backend)
        db.commit()
    thread.join(30)
    assert not thread.is_alive() and errors == []
    with factory() as db:
        kept = _kept(db)
        assert kept[invoice] == owed - 700 - 500
        assert kept == _open_derived(db)
