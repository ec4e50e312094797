"""SQL of credit exposure, check steps and decisions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, case, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from riskdesk.audit import trail
from riskdesk.customers.repository import chunks
from riskdesk.kit.money import quantize
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import (
    CreditCheckRule,
    CreditDecision,
    CreditExposure,
    Customer,
    CustomerGroup,
    ExposureCategory,
    GroupLimitChange,
    Invoice,
    Order,
    Payment,
    SpecialExposure,
)

NON_CREDIT_METHODS = ("prepaid", "card")
RESERVING_STATUSES = ("approved", "released")
CENT = Decimal("0.005")  # less than half a cent open is settled


def categories(session: Session) -> list[ExposureCategory]:
    """The exposure categories in display order."""
    return list(session.scalars(select(ExposureCategory).order_by(ExposureCategory.position)))


def get_category(session: Session, code: str) -> ExposureCategory | None:
    """A category by code."""
    return session.get(ExposureCategory, code)


def ensure_rows(session: Session, customer_ids: Sequence[int]) -> None:
    """Create the zero exposure rows customers lack (concurrent callers cannot clash)."""
    codes = [c.code for c in categories(session)]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    now = utcnow()
    for part in chunks(sorted(set(customer_ids))):
        rows = [
            {"customer_id": cid, "category": code, "amount": Decimal(0), "updated_at": now}
            for cid in part
            for code in codes
        ]
        if rows:
            # One statement run for many rows, not one statement of many rows: a VALUES list
            # sized by the batch is a new prepared statement of megabytes each time, and the
            # driver's statement cache kept 128 of them (SQLite: 0.75 GB during a 1M-row import).
            session.execute(insert(CreditExposure).on_conflict_do_nothing(), rows)


def add_deltas(session: Session, deltas: dict[tuple[int, str], Decimal]) -> None:
    """Add amounts to exposure rows (which must exist)."""
    changes = [
        {"cid": cid, "cat": cat, "delta": delta, "now": utcnow()}
        for (cid, cat), delta in sorted(deltas.items())
        if delta != 0
    ]
    if not changes:
        return
    table: Any = CreditExposure.__table__
    stmt = (
        update(table)
        .where(table.c.customer_id == bindparam("cid"), table.c.category == bindparam("cat"))
        .values(amount=table.c.amount + bindparam("delta"), updated_at=bindparam("now"))
    )
    session.connection().execute(stmt, changes)
    trail.noted_write(session, "credit_exposures", "update", len(changes), {"amount"})


def lock_exposure(session: Session, customer_id: int, group_id: int | None) -> dict[str, Decimal]:
    """Read a customer's exposure rows, locked until the transaction ends (PostgreSQL), so
    credit checks of one customer (and its group) run one after another."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if group_id is not None and postgres:
        session.execute(
            select(CustomerGroup.id).where(CustomerGroup.id == group_id).with_for_update()
        )
    stmt = select(CreditExposure.category, CreditExposure.amount).where(
        CreditExposure.customer_id == customer_id
    )
    if postgres:
        stmt = stmt.with_for_update()
    # SQLite: the writing transaction already holds the database's write lock.
    return {cat: quantize(Decimal(amount)) for cat, amount in session.execute(stmt)}


def exposures(session: Session, customer_ids: Sequence[int]) -> dict[int, dict[str, Decimal]]:
    """Stored exposure by customer and category."""
    result: dict[int, dict[str, Decimal]] = {}
    for part in chunks(list(customer_ids)):
        stmt = select(
            CreditExposure.customer_id, CreditExposure.category, CreditExposure.amount
        ).where(CreditExposure.customer_id.in_(part))
        for cid, cat, amount in session.execute(stmt):
            result.setdefault(cid, {})[cat] = quantize(Decimal(amount))
    return result


def group_exposure(session: Session, group_id: int, counted: Sequence[str]) -> Decimal:
    """Counted exposure of every live customer in a group."""
    stmt = (
        select(func.coalesce(func.sum(CreditExposure.amount), 0))
        .join(Customer, Customer.id == CreditExposure.customer_id)
        .where(
            Customer.group_id == group_id,
            Customer.status != "merged",
            CreditExposure.category.in_(list(counted)),
        )
    )
    return quantize(Decimal(session.scalar(stmt) or 0))


def overdue_position(
    session: Session, customer_id: int, today: dt.date
) -> tuple[dt.date | None, Decimal, Decimal]:
    """(oldest overdue due date, overdue amount, open amount), aggregated by the database."""
    paid = (
        select(func.coalesce(func.sum(Payment.amount), 0))
        .where(Payment.invoice_id == Invoice.id)
        .scalar_subquery()
    )
    per_invoice = (
        select(Invoice.due_date.label("due"), (Invoice.amount - paid).label("open"))
        .where(Invoice.customer_id == customer_id)
        .subquery()
    )
    is_open = per_invoice.c.open > CENT
    overdue = and_(is_open, per_invoice.c.due < today)
    stmt = select(
        func.min(case((overdue, per_invoice.c.due))),
        func.coalesce(func.sum(case((overdue, per_invoice.c.open), else_=0)), 0),
        func.coalesce(func.sum(case((is_open, per_invoice.c.open), else_=0)), 0),
    )
    oldest, overdue_amount, open_amount = session.execute(stmt).one()
    if isinstance(oldest, str):  # SQLite hands back an aggregated date as text
        oldest = dt.date.fromisoformat(oldest)
    return oldest, quantize(Decimal(overdue_amount)), quantize(Decimal(open_amount))


def recompute(
    session: Session, customer_ids: Sequence[int] | None = None
) -> dict[tuple[int, str], Decimal]:
    """Exposure as the events say it is, for verification (nonzero amounts only)."""
    result: dict[tuple[int, str], Decimal] = {}

    def scoped(stmt: Any, column: Any) -> list[Any]:
        if customer_ids is None:
            return list(session.execute(stmt))
        rows: list[Any] = []
        for part in chunks(list(customer_ids)):
            rows.extend(session.execute(stmt.where(column.in_(part))))
        return rows

    invoiced = (
        select(func.coalesce(func.sum(Invoice.amount), 0))
        .where(Invoice.order_id == Order.id)
        .scalar_subquery()
    )
    orders = select(Order.customer_id, Order.amount, invoiced).where(
        Order.payment_method.not_in(NON_CREDIT_METHODS)
    )
    for cid, amount, inv in scoped(orders, Order.customer_id):
        left = quantize(Decimal(amount) - Decimal(inv))
        if left > 0:
            result[(cid, "open_orders")] = result.get((cid, "open_orders"), Decimal(0)) + left
    paid = (
        select(func.coalesce(func.sum(Payment.amount), 0))
        .where(Payment.invoice_id == Invoice.id)
        .scalar_subquery()
    )
    invoices = select(Invoice.customer_id, Invoice.amount, paid)
    for cid, amount, pay in scoped(invoices, Invoice.customer_id):
        left = quantize(Decimal(amount) - Decimal(pay))
        if left > 0:
            key = (cid, "open_receivables")
            result[key] = result.get(key, Decimal(0)) + left
    reserved = (
        select(CreditDecision.customer_id, func.sum(CreditDecision.reserved))
        .where(CreditDecision.status.in_(RESERVING_STATUSES))
        .group_by(CreditDecision.customer_id)
    )
    for cid, amount in scoped(reserved, CreditDecision.customer_id):
        if amount:
            result[(cid, "reserved")] = quantize(Decimal(amount))
    special = (
        select(
            SpecialExposure.customer_id, SpecialExposure.category, func.sum(SpecialExposure.amount)
        )
        .where(SpecialExposure.released_at.is_(None))
        .group_by(SpecialExposure.customer_id, SpecialExposure.category)
    )
    for cid, cat, amount in scoped(special, SpecialExposure.customer_id):
        if amount:
            result[(cid, cat)] = quantize(Decimal(amount))
    return {k: v for k, v in result.items() if v != 0}


def stored(
    session: Session, customer_ids: Sequence[int] | None = None
) -> dict[tuple[int, str], Decimal]:
    """Stored exposure (nonzero amounts only)."""
    stmt = select(CreditExposure.customer_id, CreditExposure.category, CreditExposure.amount)
    rows: list[Any] = []
    if customer_ids is None:
        rows = list(session.execute(stmt))
    else:
        for part in chunks(list(customer_ids)):
            rows.extend(session.execute(stmt.where(CreditExposure.customer_id.in_(part))))
    return {(cid, cat): quantize(Decimal(a)) for cid, cat, a in rows if quantize(Decimal(a)) != 0}


def set_amounts(session: Session, amounts: dict[tuple[int, str], Decimal]) -> None:
    """Overwrite exposure amounts (repair)."""
    table: Any = CreditExposure.__table__
    stmt = (
        update(table)
        .where(table.c.customer_id == bindparam("cid"), table.c.category == bindparam("cat"))
        .values(amount=bindparam("amount"), updated_at=bindparam("now"))
    )
    rows = [
        {"cid": cid, "cat": cat, "amount": amount, "now": utcnow()}
        for (cid, cat), amount in sorted(amounts.items())
    ]
    if rows:
        session.connection().execute(stmt, rows)
        trail.noted_write(session, "credit_exposures", "update", len(rows), {"amount"})


def rules(session: Session) -> list[CreditCheckRule]:
    """The check steps in order."""
    return list(session.scalars(select(CreditCheckRule).order_by(CreditCheckRule.position)))


def get_rule(session: Session, code: str) -> CreditCheckRule | None:
    """A check step by code."""
    return session.get(CreditCheckRule, code)


def decision_by_key(session: Session, source: str, order_external_id: str) -> CreditDecision | None:
    """The decision on an order, if one was made."""
    stmt = select(CreditDecision).where(
        CreditDecision.source == source, CreditDecision.order_external_id == order_external_id
    )
    return session.scalars(stmt).first()


def decisions_by_keys(
    session: Session, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], CreditDecision]:
    """Decisions keyed by (source, order external id)."""
    result: dict[tuple[str, str], CreditDecision] = {}
    by_source: dict[str, list[str]] = {}
    for source, ext in keys:
        by_source.setdefault(source, []).append(ext)
    for source, ids in by_source.items():
        for part in chunks(sorted(ids)):
            stmt = select(CreditDecision).where(
                CreditDecision.source == source, CreditDecision.order_external_id.in_(part)
            )
            for row in session.scalars(stmt):
                result[(row.source, row.order_external_id)] = row
    return result


def get_decision(
    session: Session, decision_id: int, *, lock: bool = False
) -> CreditDecision | None:
    """A decision by id (locked for update on PostgreSQL when asked)."""
    stmt = select(CreditDecision).where(CreditDecision.id == decision_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def list_decisions(
    session: Session,
    *,
    status: str | None = None,
    customer_id: int | None = None,
    owner_ids: tuple[int, ...] | None = None,
    limit: int = 200,
) -> list[CreditDecision]:
    """Decisions, newest first."""
    stmt = select(CreditDecision).join(Customer, Customer.id == CreditDecision.customer_id)
    if status:
        stmt = stmt.where(CreditDecision.status == status)
    if customer_id is not None:
        stmt = stmt.where(CreditDecision.customer_id == customer_id)
    if owner_ids is not None:
        stmt = stmt.where(Customer.owner_id.in_(owner_ids))
    return list(session.scalars(stmt.order_by(CreditDecision.id.desc()).limit(limit)))


def held_for(session: Session, customer_ids: Sequence[int]) -> list[CreditDecision]:
    """Held decisions of some customers, oldest first."""
    result: list[CreditDecision] = []
    for part in chunks(sorted(set(customer_ids))):
        stmt = select(CreditDecision).where(
            and_(CreditDecision.status == "held", CreditDecision.customer_id.in_(part))
        )
        result.extend(session.scalars(stmt.order_by(CreditDecision.id)))
    return result


def special_exposures(session: Session, customer_id: int) -> list[SpecialExposure]:
    """A customer's special exposure entries, newest first."""
    stmt = select(SpecialExposure).where(SpecialExposure.customer_id == customer_id)
    return list(session.scalars(stmt.order_by(SpecialExposure.id.desc())))


def get_special(session: Session, entry_id: int) -> SpecialExposure | None:
    """A special exposure entry by id."""
    return session.get(SpecialExposure, entry_id)


def groups_with_members(session: Session) -> list[tuple[CustomerGroup, int]]:
    """Every group with its number of live members."""
    members = (
        select(func.count())
        .where(Customer.group_id == CustomerGroup.id, Customer.status != "merged")
        .scalar_subquery()
    )
    return [
        (g, int(n))
        for g, n in session.execute(select(CustomerGroup, members).order_by(CustomerGroup.code))
    ]


def group_member_ids(session: Session, group_id: int) -> list[int]:
    """Live members of a group."""
    return list(
        session.scalars(
            select(Customer.id).where(Customer.group_id == group_id, Customer.status != "merged")
        )
    )


def get_group_change(session: Session, change_id: int) -> GroupLimitChange | None:
    """A group limit change by id."""
    return session.get(GroupLimitChange, change_id)


def pending_group_changes(session: Session, group_id: int | None = None) -> list[GroupLimitChange]:
    """Group limit changes waiting for approval, oldest first."""
    stmt = select(GroupLimitChange).where(GroupLimitChange.status == "pending")
    if group_id is not None:
        stmt = stmt.where(GroupLimitChange.group_id == group_id)
    return list(session.scalars(stmt.order_by(GroupLimitChange.id)))
