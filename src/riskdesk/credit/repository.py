"""SQL of credit exposure, check steps and decisions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from riskdesk.audit import trail
from riskdesk.customers.repository import CustomerFilter, chunks, conditions
from riskdesk.db import count_rows, stream_columns, stream_rows
from riskdesk.events import repository as event_repo
from riskdesk.kit.money import quantize
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import (
    ConfigStamp,
    CreditCheckRule,
    CreditDecision,
    CreditExposure,
    CreditProfile,
    Customer,
    CustomerExternalRef,
    CustomerGroup,
    ExposureCategory,
    GroupLimitChange,
    Invoice,
    Order,
    OrderCancellation,
    SpecialExposure,
    User,
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


def ensure_rows(
    session: Session, customer_ids: Sequence[int], codes: Sequence[str] | None = None
) -> None:
    """Create the zero exposure rows customers lack (concurrent callers cannot clash); codes:
    the categories, when the caller has them."""
    if codes is None:
        codes = [c.code for c in categories(session)]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    now = utcnow()
    for part in chunks(sorted(set(customer_ids))):
        # Nearly every intake names customers that have their rows: one read finds them, so
        # the insert (and its audit entry) is left for the few that lack some.
        complete = {
            cid
            for cid, n in session.execute(
                select(CreditExposure.customer_id, func.count())
                .where(CreditExposure.customer_id.in_(part), CreditExposure.category.in_(codes))
                .group_by(CreditExposure.customer_id)
            )
            if n == len(set(codes))
        }
        rows = [
            {"customer_id": cid, "category": code, "amount": Decimal(0), "updated_at": now}
            for cid in part
            if cid not in complete
            for code in codes
        ]
        if rows:
            # One statement run for many rows, not one statement of many rows: a VALUES list
            # sized by the batch is a new prepared statement of megabytes each time, and the
            # driver's statement cache kept 128 of them (SQLite: 0.75 GB during a 1M-row import).
            session.execute(insert(CreditExposure).on_conflict_do_nothing(), rows)


_EXPOSURE: Any = CreditExposure.__table__
# Built once: every credit check and every intake of orders, invoices and payments runs it.
_ADD_DELTA = (
    update(_EXPOSURE)
    .where(_EXPOSURE.c.customer_id == bindparam("cid"), _EXPOSURE.c.category == bindparam("cat"))
    .values(amount=_EXPOSURE.c.amount + bindparam("delta"), updated_at=bindparam("now"))
)


def add_deltas(session: Session, deltas: dict[tuple[int, str], Decimal]) -> None:
    """Add amounts to exposure rows (which must exist)."""
    changes = [
        {"cid": cid, "cat": cat, "delta": delta, "now": utcnow()}
        for (cid, cat), delta in sorted(deltas.items())
        if delta != 0
    ]
    if not changes:
        return
    session.connection().execute(_ADD_DELTA, changes)
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


def _overdue_columns(customer_id: Any, today: dt.date | ColumnElement[dt.date]) -> Any:
    """A one-row subquery: oldest overdue due date, overdue amount, open amount."""
    paid = event_repo.settled_on_invoice()  # net of reversals and adjustments
    per_invoice = (
        select(Invoice.due_date.label("due"), (Invoice.amount - paid).label("open"))
        .where(Invoice.customer_id == customer_id)
        .subquery()
    )
    is_open = per_invoice.c.open > CENT
    overdue = and_(is_open, per_invoice.c.due < today)
    return select(
        func.min(case((overdue, per_invoice.c.due))).label("oldest"),
        func.coalesce(func.sum(case((overdue, per_invoice.c.open), else_=0)), 0).label("overdue"),
        func.coalesce(func.sum(case((is_open, per_invoice.c.open), else_=0)), 0).label("open"),
    ).subquery("overdue_position")


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, str):  # SQLite hands back an aggregated date as text
        return dt.date.fromisoformat(value)
    return value  # type: ignore[no-any-return]


def overdue_position(
    session: Session, customer_id: int, today: dt.date
) -> tuple[dt.date | None, Decimal, Decimal]:
    """(oldest overdue due date, overdue amount, open amount), aggregated by the database."""
    position = _overdue_columns(customer_id, today)
    oldest, overdue_amount, open_amount = session.execute(select(position)).one()
    return _as_date(oldest), quantize(Decimal(overdue_amount)), quantize(Decimal(open_amount))


# ---------------------------------------------------------------- the order credit check
#
# A check reads in two statements: everything about the customer before it takes any lock
# (check_inputs), then, under the lock, what concurrent checks change (locked_exposure).


def config_stamp(session: Session, name: str = "credit_check") -> int:
    """The configuration's current stamp (changed by triggers on every change)."""
    return int(session.scalar(select(ConfigStamp.stamp).where(ConfigStamp.name == name)) or 0)


@dataclass(frozen=True)
class CheckInputs:
    """What a check reads of a customer before it locks anything."""

    customer_id: int
    kind: str
    status: str
    owner_id: int | None
    group_id: int | None
    group_code: str | None
    group_limit: Decimal | None
    credit_limit: Decimal
    limit_currency: str
    limit_valid_from: dt.date | None
    limit_valid_to: dt.date | None
    blocked: bool
    blocked_reason: str | None
    prepayment_required: bool
    risk_tier: str | None
    oldest_overdue: dt.date | None
    overdue_amount: Decimal
    open_amount: Decimal
    decision_id: int | None  # a decision already made on this order
    stamp: int  # of the configuration


# The check's statements are built once, with bound parameters: building a statement of this
# size costs several times more Python than the database takes to run it.
_STAMP = select(ConfigStamp.stamp).where(ConfigStamp.name == "credit_check").scalar_subquery()
_ORDER_KEY = (
    select(CreditDecision.id)
    .where(
        CreditDecision.source == bindparam("order_source"),
        CreditDecision.order_external_id == bindparam("order_external_id"),
    )
    .scalar_subquery()
)


@cache
def _check_inputs_statement(by_ref: bool) -> Any:
    target: ColumnElement[Any]
    if by_ref:
        target = (
            select(CustomerExternalRef.customer_id)
            .where(
                CustomerExternalRef.source == bindparam("ref_source"),
                CustomerExternalRef.external_id == bindparam("ref_external_id"),
            )
            .scalar_subquery()
        )
    else:  # a merged customer stands for its survivor
        live = select(func.coalesce(Customer.merged_into_id, Customer.id))
        target = live.where(Customer.id == bindparam("customer_id")).scalar_subquery()
    overdue = _overdue_columns(target, bindparam("today", type_=Date))
    return (
        select(
            Customer.id,
            Customer.kind,
            Customer.status,
            Customer.owner_id,
            Customer.group_id,
            CustomerGroup.code,
            CustomerGroup.credit_limit,
            CreditProfile.credit_limit,
            CreditProfile.limit_currency,
            CreditProfile.limit_valid_from,
            CreditProfile.limit_valid_to,
            CreditProfile.blocked,
            CreditProfile.blocked_reason,
            CreditProfile.prepayment_required,
            CreditProfile.risk_tier,
            overdue.c.oldest,
            overdue.c.overdue,
            overdue.c.open,
            _ORDER_KEY,
            _STAMP,
        )
        .select_from(Customer)
        .join(CreditProfile, CreditProfile.customer_id == Customer.id)
        .outerjoin(CustomerGroup, CustomerGroup.id == Customer.group_id)
        .join(overdue, literal(True))
        .where(Customer.id == target)
    )


def check_inputs(
    session: Session,
    *,
    order_key: tuple[str, str],
    today: dt.date,
    customer_id: int | None = None,
    ref: tuple[str, str] | None = None,
) -> CheckInputs | None:
    """The customer, credit profile, group, overdue position, any decision already made on the
    order and the configuration's stamp, in one statement; None when no such customer. The
    customer is given by id (a merged one stands for its survivor) or by (source, external
    id)."""
    params: dict[str, Any] = {
        "order_source": order_key[0],
        "order_external_id": order_key[1],
        "today": today,
    }
    if ref is not None:
        params |= {"ref_source": ref[0], "ref_external_id": ref[1]}
    else:
        params["customer_id"] = customer_id
    stmt = _check_inputs_statement(ref is not None)
    row = session.connection().execute(stmt, params).first()
    if row is None:
        return None
    return CheckInputs(
        customer_id=row[0],
        kind=row[1],
        status=row[2],
        owner_id=row[3],
        group_id=row[4],
        group_code=row[5],
        group_limit=quantize(Decimal(row[6])) if row[6] is not None else None,
        credit_limit=quantize(Decimal(row[7])),
        limit_currency=row[8],
        limit_valid_from=row[9],
        limit_valid_to=row[10],
        blocked=bool(row[11]),
        blocked_reason=row[12],
        prepayment_required=bool(row[13]),
        risk_tier=row[14],
        oldest_overdue=_as_date(row[15]),
        overdue_amount=quantize(Decimal(row[16])),
        open_amount=quantize(Decimal(row[17])),
        decision_id=row[18],
        stamp=int(row[19] or 0),
    )


@dataclass(frozen=True)
class LockedExposure:
    """What a check reads under its lock: what concurrent checks and merges change."""

    amounts: dict[str, Decimal]  # the customer's exposure by category
    status: str
    group_id: int | None
    others_in_group: Decimal  # counted exposure of the group's other live members
    decision_id: int | None
    stamp: int  # of the configuration


_LOCK_GROUP = select(CustomerGroup.id).where(CustomerGroup.id == bindparam("group_id"))


def lock_group(session: Session, group_id: int) -> None:
    """PostgreSQL: lock a group's row until the transaction ends, so that checks of its members
    run one after another (SQLite: the write lock already does)."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection().execute(_LOCK_GROUP.with_for_update(), {"group_id": group_id})


@cache
def _locked_statement(postgres: bool) -> Any:
    member = aliased(Customer)
    others = aliased(CreditExposure)
    in_group = (
        select(func.coalesce(func.sum(others.amount), 0))
        .join(member, member.id == others.customer_id)
        .where(
            member.group_id == Customer.group_id,
            member.id != Customer.id,
            member.status != "merged",
            others.category.in_(bindparam("counted", expanding=True)),
        )
        .scalar_subquery()
    )
    stmt = (
        select(
            CreditExposure.category,
            CreditExposure.amount,
            Customer.status,
            Customer.group_id,
            in_group,
            _ORDER_KEY,
            _STAMP,
        )
        .select_from(CreditExposure)
        .join(Customer, Customer.id == CreditExposure.customer_id)
        .where(CreditExposure.customer_id == bindparam("customer_id"))
    )
    return stmt.with_for_update(of=CreditExposure) if postgres else stmt


def locked_exposure(
    session: Session, customer_id: int, counted: Sequence[str], order_key: tuple[str, str]
) -> LockedExposure | None:
    """The customer's exposure rows, locked until the transaction ends (PostgreSQL; on SQLite
    the caller holds the write lock), with the group's other members' counted exposure, the
    customer's status and group, any decision already made on the order and the
    configuration's stamp, in one statement. None when the customer has no exposure rows yet."""
    stmt = _locked_statement(session.get_bind().dialect.name == "postgresql")
    params = {
        "customer_id": customer_id,
        "counted": list(counted),
        "order_source": order_key[0],
        "order_external_id": order_key[1],
    }
    rows = session.connection().execute(stmt, params).all()
    if not rows:
        return None
    first = rows[0]
    return LockedExposure(
        amounts={cat: quantize(Decimal(amount)) for cat, amount, *_ in rows},
        status=first[2],
        group_id=first[3],
        others_in_group=quantize(Decimal(first[4])),
        decision_id=first[5],
        stamp=int(first[6] or 0),
    )


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
    cancelled = select(OrderCancellation.id).where(OrderCancellation.order_id == Order.id)
    orders = select(Order.customer_id, Order.amount, invoiced).where(
        Order.payment_method.not_in(NON_CREDIT_METHODS), ~cancelled.exists()
    )
    for cid, amount, inv in scoped(orders, Order.customer_id):
        left = quantize(Decimal(amount) - Decimal(inv))
        if left > 0:
            result[(cid, "open_orders")] = result.get((cid, "open_orders"), Decimal(0)) + left
    # Paid net of reversals, less the invoice's adjustments (credit notes settle).
    paid = event_repo.settled_on_invoice()
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


_DECISIONS: Any = CreditDecision.__table__
_INSERT_DECISION = insert(_DECISIONS).returning(_DECISIONS.c.id)


def insert_decision(session: Session, values: dict[str, Any]) -> int:
    """Insert a credit decision; its id. A Core statement, noted for the audit entry as the
    ORM's flush would note it: that flush took a third of a credit check's own time."""
    decision_id = int(session.connection().execute(_INSERT_DECISION, values).scalar_one())
    trail.noted_write(session, "credit_decisions", "insert", 1, ids=[decision_id])
    return decision_id


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


# The decision list's orders (``-`` in front: the other way round); ties by id, the same way.
DECISION_SORTS = ("created", "amount")


def list_decisions(
    session: Session,
    *,
    status: str | None = None,
    customer_id: int | None = None,
    owner_ids: tuple[int, ...] | None = None,
    limit: int = 200,
    within: Any = None,
    offset: int = 0,
    sort: str = "-created",
) -> list[CreditDecision]:
    """Decisions, newest first unless ``sort`` says otherwise (``within``: a SELECT of the
    customer ids to keep to)."""
    stmt = _decisions_query(
        select(CreditDecision), status, customer_id, owner_ids, within, sort=sort
    )
    return list(session.scalars(stmt.offset(offset).limit(limit)))


def _decisions_query(
    stmt: Any,
    status: str | None,
    customer_id: int | None,
    owner_ids: tuple[int, ...] | None,
    within: Any = None,
    *,
    sort: str = "-created",
) -> Any:
    stmt = stmt.join(Customer, Customer.id == CreditDecision.customer_id)
    if within is not None:
        stmt = stmt.where(CreditDecision.customer_id.in_(within))
    if status:
        stmt = stmt.where(CreditDecision.status == status)
    if customer_id is not None:
        stmt = stmt.where(CreditDecision.customer_id == customer_id)
    if owner_ids is not None:
        stmt = stmt.where(Customer.owner_id.in_(owner_ids))
    descending = sort.startswith("-")
    key = CreditDecision.amount if sort.removeprefix("-") == "amount" else None
    order: list[Any] = [] if key is None else [key.desc() if descending else key.asc()]
    order.append(CreditDecision.id.desc() if descending else CreditDecision.id.asc())
    return stmt.order_by(*order)


def decisions_for_export(
    session: Session,
    *,
    status: str | None,
    customer_id: int | None,
    owner_ids: tuple[int, ...] | None,
    chunk: int,
    within: Any = None,
) -> Iterator[Any]:
    """Decisions as ``list_decisions`` narrows them, with the customer's name columns and the
    requester's name, streamed ``chunk`` rows at a time."""
    requester = aliased(User)
    stmt = _decisions_query(
        select(
            CreditDecision,
            Customer.kind,
            Customer.company_name,
            Customer.person_name,
            requester.display_name.label("requested_by"),
        ).outerjoin(requester, requester.id == CreditDecision.requested_by_id),
        status,
        customer_id,
        owner_ids,
        within,
    )
    return stream_rows(session, stmt, chunk)


def count_decisions(
    session: Session,
    *,
    status: str | None,
    customer_id: int | None,
    owner_ids: tuple[int, ...] | None,
    within: Any = None,
) -> int:
    """How many decisions ``list_decisions`` would narrow to, without its limit."""
    return count_rows(
        session,
        _decisions_query(select(CreditDecision.id), status, customer_id, owner_ids, within),
    )


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


def group_changes(session: Session, group_id: int) -> list[GroupLimitChange]:
    """Every limit change of a group (waiting and decided), newest first."""
    stmt = select(GroupLimitChange).where(GroupLimitChange.group_id == group_id)
    return list(session.scalars(stmt.order_by(GroupLimitChange.id.desc())))


def exposure_for_export(session: Session, flt: CustomerFilter, *, chunk: int) -> Iterator[Any]:
    """Each filtered customer's stored exposure, counted in the limit and for information
    only, beside the limit and its validity, by customer id, streamed ``chunk`` rows at a time
    (one grouped read of the running exposure table, no computation per customer)."""
    counted = func.sum(
        case((ExposureCategory.counts_in_limit.is_(True), CreditExposure.amount), else_=0)
    )
    info = func.sum(
        case((ExposureCategory.counts_in_limit.is_(True), 0), else_=CreditExposure.amount)
    )
    amounts = (
        select(
            CreditExposure.customer_id,
            counted.label("counted"),
            info.label("information_only"),
        )
        .join(ExposureCategory, ExposureCategory.code == CreditExposure.category)
        .group_by(CreditExposure.customer_id)
        .subquery()
    )
    stmt = (
        select(
            Customer.id,
            Customer.kind,
            Customer.company_name,
            Customer.person_name,
            CreditProfile.risk_tier,
            CreditProfile.credit_limit,
            CreditProfile.limit_currency,
            CreditProfile.limit_valid_from,
            CreditProfile.limit_valid_to,
            CreditProfile.blocked,
            amounts.c.counted,
            amounts.c.information_only,
        )
        .join(CreditProfile, CreditProfile.customer_id == Customer.id)
        .outerjoin(amounts, amounts.c.customer_id == Customer.id)
        .where(*conditions(flt))
        .order_by(Customer.id)
    )
    return stream_columns(session, stmt, chunk)
