"""SQL of the stored month ends (models.portfolio): each customer's receivables at a past
month end, written by the month-end job in short transactions, and summed by the dashboard
over the customers in scope instead of deriving them from every invoice and payment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, literal, or_, select, text, update
from sqlalchemy.orm import Session

from riskdesk.events import repository as event_repo
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import (
    Customer,
    Invoice,
    InvoiceBalance,
    ReceivableMonthEnd,
    ReceivableMonthStale,
    ReceivableMonthTotal,
)
from riskdesk.portfolio.repository import (
    BUCKET_NAMES,
    CENT,
    Scope,
    in_bucket,
    money,
    open_at,
    scoped_ids,
)

# The stored columns, in BUCKET_NAMES' order, then the month's sales.
COLUMNS = ("current", "dpd_1_30", "dpd_31_60", "dpd_61_90", "dpd_over_90", "sales")
Sums = tuple[Decimal, Decimal, Decimal, Decimal, Decimal, Decimal]
ZEROS: Sums = (Decimal(0),) * 6


def months(session: Session) -> dict[dt.date, bool]:
    """Every month end stored or being stored -> whether it is ready."""
    stmt = select(ReceivableMonthTotal.month_end, ReceivableMonthTotal.ready)
    return {day: bool(ready) for day, ready in session.execute(stmt)}


def hold_event_writers(session: Session) -> None:
    """On PostgreSQL, wait for the transactions writing invoices or payments (or their
    corrections) to end, and hold
    new ones back until this transaction commits: once it has, every event written later sees
    its month end and marks its customer stale when it falls on or before it (the triggers
    read the month ends when the event is inserted). SQLite has one writer: nothing to do."""
    if session.get_bind().dialect.name == "postgresql":
        # Waiting queues every new event writer behind this lock (a long import would stall
        # intake): give up soon and try at the next pass instead.
        session.execute(text("SET LOCAL lock_timeout = '2s'"))
        tables = "invoices, payments, invoice_adjustments, payment_reversals"
        session.execute(text(f"LOCK TABLE {tables} IN SHARE MODE"))


def rebuild_balances(session: Session) -> tuple[int, int]:
    """Derive every open invoice's balance afresh from the invoices and payments, in place of
    the kept rows (after events were changed by hand, which the triggers do not follow):
    (rows before, rows after). Call after ``hold_event_writers``."""
    before = session.execute(select(func.count()).select_from(InvoiceBalance)).scalar_one()
    session.execute(delete(InvoiceBalance))
    flows = event_repo.settlement_flows()  # payments net of reversals and adjustments
    paid = (
        select(flows.c.invoice_id, func.sum(flows.c.amount).label("paid"))
        .group_by(flows.c.invoice_id)
        .subquery("paid")
    )
    so_far = func.coalesce(paid.c.paid, 0)
    kept = (Invoice.id, Invoice.customer_id, Invoice.issue_date, Invoice.due_date)
    fresh = (
        select(*kept, Invoice.amount, so_far)
        .outerjoin(paid, paid.c.invoice_id == Invoice.id)
        # As the triggers keep them: every invoice until a payment settles it.
        .where(or_(paid.c.paid.is_(None), Invoice.amount - so_far > CENT))
    )
    columns = ["invoice_id", "customer_id", "issue_date", "due_date", "amount", "paid"]
    session.execute(insert(InvoiceBalance).from_select(columns, fresh))
    after = session.execute(select(func.count()).select_from(InvoiceBalance)).scalar_one()
    return int(before), int(after)


def any_invoice(session: Session) -> bool:
    """Whether any invoice is recorded (an empty book stores no month ends: its first
    history would otherwise mark every customer stale, once per event)."""
    return session.execute(select(Invoice.id).limit(1)).first() is not None


def unready(session: Session, month_end: dt.date) -> None:
    """Take a month end out of the dashboard's reach while its rows go."""
    session.execute(
        update(ReceivableMonthTotal)
        .where(ReceivableMonthTotal.month_end == month_end)
        .values(ready=False)
    )


def begin_month(session: Session, month_end: dt.date) -> None:
    """Record a month end as being stored (not ready: the dashboard does not read it yet)."""
    session.add(ReceivableMonthTotal(month_end=month_end, ready=False, computed_at=utcnow()))
    session.flush()


def id_range(session: Session) -> tuple[int, int]:
    """The lowest and highest customer id (0, -1 without customers)."""
    low, high = session.execute(select(func.min(Customer.id), func.max(Customer.id))).one()
    return (int(low), int(high)) if low is not None else (0, -1)


def _rows_select(before: dt.date, month_end: dt.date, ids: Any) -> Any:
    """One row per customer among ``ids`` with anything open at ``month_end`` or invoiced in
    the month after ``before``: what receivable_month_ends stores."""
    invoices = open_at(ids, (before, month_end))
    buckets = [
        func.coalesce(
            func.sum(case((in_bucket(invoices.c.due_date, month_end, b), invoices.c.open_1))), 0
        )
        for b in BUCKET_NAMES
    ]
    issued = and_(invoices.c.issue_date > before, invoices.c.issue_date <= month_end)
    sales = func.coalesce(func.sum(case((issued, invoices.c.amount))), 0)
    return (
        select(literal(month_end), invoices.c.customer_id, *buckets, sales)
        .group_by(invoices.c.customer_id)
        .having(or_(func.count(invoices.c.open_1) > 0, func.sum(case((issued, 1))) > 0))
    )


def store_rows(
    session: Session,
    before: dt.date,
    month_end: dt.date,
    *,
    id_from: int | None = None,
    id_to: int | None = None,
    only: Any = None,
) -> None:
    """Write the month end's rows of the whole book's customers with ids in [id_from, id_to],
    or of ``only``'s ids: one INSERT ... SELECT, nothing read into Python."""
    ids = scoped_ids(Scope())
    if id_from is not None and id_to is not None:
        ids = ids.where(Customer.id.between(id_from, id_to))
    if only is not None:
        ids = ids.where(Customer.id.in_(only))
    stmt = insert(ReceivableMonthEnd).from_select(
        ["month_end", "customer_id", *COLUMNS], _rows_select(before, month_end, ids)
    )
    session.execute(stmt)


def drop_rows(
    session: Session,
    month_end: dt.date,
    *,
    id_from: int | None = None,
    id_to: int | None = None,
    only: Any = None,
) -> int:
    """Delete a month end's rows (of ids in a range, or among ``only``'s); how many."""
    stmt = delete(ReceivableMonthEnd).where(ReceivableMonthEnd.month_end == month_end)
    if id_from is not None and id_to is not None:
        stmt = stmt.where(ReceivableMonthEnd.customer_id.between(id_from, id_to))
    if only is not None:
        stmt = stmt.where(ReceivableMonthEnd.customer_id.in_(only))
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def _sum_columns() -> list[Any]:
    return [func.coalesce(func.sum(getattr(ReceivableMonthEnd, c)), 0) for c in COLUMNS]


def finish_month(session: Session, month_end: dt.date) -> None:
    """Sum a month end's rows into its totals and make it ready (the dashboard reads it)."""
    row = session.execute(
        select(*_sum_columns()).where(ReceivableMonthEnd.month_end == month_end)
    ).one()
    values = dict(zip(COLUMNS, (money(v) for v in row), strict=True))
    session.execute(
        update(ReceivableMonthTotal)
        .where(ReceivableMonthTotal.month_end == month_end)
        .values(ready=True, computed_at=utcnow(), **values)
    )


def forget_month(session: Session, month_end: dt.date) -> None:
    """Remove a month end's totals (its rows are dropped before)."""
    session.execute(delete(ReceivableMonthTotal).where(ReceivableMonthTotal.month_end == month_end))


def stale(session: Session, customers: int, marks: int) -> list[tuple[int, int]]:
    """The marks of up to ``customers`` stale customers, those marked first, at most
    ``marks`` of them: (mark id, customer id). A back-filled import marks a customer once per
    late event; taking its marks together stores it once for all of them."""
    first = (
        select(ReceivableMonthStale.customer_id)
        .group_by(ReceivableMonthStale.customer_id)
        .order_by(func.min(ReceivableMonthStale.id))
        .limit(customers)
        .scalar_subquery()
    )
    stmt = (
        select(ReceivableMonthStale.id, ReceivableMonthStale.customer_id)
        .where(ReceivableMonthStale.customer_id.in_(first))
        .order_by(ReceivableMonthStale.id)
        .limit(marks)
    )
    return [(int(i), int(c)) for i, c in session.execute(stmt)]


def clear_stale(session: Session, mark_ids: Sequence[int]) -> None:
    """Remove the marks handled, by id (a mark written meanwhile stays), a thousand ids a
    statement."""
    for start in range(0, len(mark_ids), 1000):
        chunk = mark_ids[start : start + 1000]
        session.execute(delete(ReceivableMonthStale).where(ReceivableMonthStale.id.in_(chunk)))


def sums_by_month(
    session: Session, month_ends: Sequence[dt.date], *, ids: Any
) -> dict[dt.date, Sums]:
    """The stored rows of ``ids``' customers summed per month end."""
    stmt = (
        select(ReceivableMonthEnd.month_end, *_sum_columns())
        .where(
            ReceivableMonthEnd.month_end.in_(month_ends),
            ReceivableMonthEnd.customer_id.in_(ids),
        )
        .group_by(ReceivableMonthEnd.month_end)
    )
    return {row[0]: tuple(money(v) for v in row[1:]) for row in session.execute(stmt)}  # type: ignore[misc]


def add_to_totals(session: Session, month_end: dt.date, delta: Sums) -> None:
    """Move a ready month end's totals by what replacing some customers' rows changed."""
    values = {c: getattr(ReceivableMonthTotal, c) + d for c, d in zip(COLUMNS, delta, strict=True)}
    session.execute(
        update(ReceivableMonthTotal)
        .where(ReceivableMonthTotal.month_end == month_end)
        .values(computed_at=utcnow(), **values)
    )


def totals_less(
    session: Session, month_ends: Sequence[dt.date], *, less: Sequence[int]
) -> dict[dt.date, Sums]:
    """The whole book's stored sums of ready month ends, less the stored rows of the
    customers ``less``: one statement, so both are read at one moment (PostgreSQL reads each
    statement at its own under READ COMMITTED, and the job may store those rows between)."""
    less_rows = (
        select(
            ReceivableMonthEnd.month_end.label("month_end"),
            *(func.sum(getattr(ReceivableMonthEnd, c)).label(c) for c in COLUMNS),
        )
        .where(
            ReceivableMonthEnd.month_end.in_(month_ends),
            ReceivableMonthEnd.customer_id.in_(less),
        )
        .group_by(ReceivableMonthEnd.month_end)
        .subquery("less_rows")
    )
    stmt = (
        select(
            ReceivableMonthTotal.month_end,
            *(getattr(ReceivableMonthTotal, c) - func.coalesce(less_rows.c[c], 0) for c in COLUMNS),
        )
        .outerjoin(less_rows, less_rows.c.month_end == ReceivableMonthTotal.month_end)
        .where(ReceivableMonthTotal.month_end.in_(month_ends), ReceivableMonthTotal.ready.is_(True))
    )
    return {row[0]: tuple(money(v) for v in row[1:]) for row in session.execute(stmt)}  # type: ignore[misc]


def stale_customers(session: Session, limit: int) -> list[int]:
    """Up to ``limit`` of the customers marked stale (in scope or not)."""
    stmt = select(ReceivableMonthStale.customer_id).distinct().limit(limit)
    return [int(i) for i in session.scalars(stmt)]


def scoped_except(scope: Scope, excluded: Sequence[int]) -> Any:
    """The customers in scope but those ``excluded``, as a subquery."""
    ids = scoped_ids(scope)
    return ids.where(Customer.id.not_in(excluded)) if excluded else ids
