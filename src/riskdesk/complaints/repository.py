"""SQL of the complaint desk."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import polars as pl
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from riskdesk.db import count_rows, stream_rows
from riskdesk.models import Alert, Complaint, Customer, SurveyResponse

OPEN = ("open", "in_progress")


def complaint_frame(
    session: Session, since: dt.datetime, products: Sequence[str] | None = None
) -> pl.DataFrame:
    """Complaints about a product opened since a moment: product, customer, category, opened."""
    stmt = select(
        Complaint.product, Complaint.customer_id, Complaint.category, Complaint.opened_at
    ).where(Complaint.product.is_not(None), Complaint.opened_at >= since)
    if products is not None:
        stmt = stmt.where(Complaint.product.in_(list(products)))
    rows = session.execute(stmt).all()
    return pl.DataFrame(
        rows,
        schema={
            "product": pl.String,
            "customer_id": pl.Int64,
            "category": pl.String,
            "opened_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )


def first_complaint_at(session: Session) -> dt.datetime | None:
    """When the complaint record starts: the first complaint about any product."""
    return session.scalar(
        select(func.min(Complaint.opened_at)).where(Complaint.product.is_not(None))
    )


def desk(
    session: Session,
    *,
    status: str | None,
    category: str | None,
    product: str | None,
    breached_at: dt.datetime | None,
    customer_id: int | None,
    owner_ids: tuple[int, ...] | None,
    limit: int,
    within: Any = None,
    offset: int = 0,
    sort: str = "-opened",
) -> list[tuple[Complaint, Customer]]:
    """Complaints with their customers, newest first unless ``sort`` (one of ``DESK_SORTS``,
    ``-``: descending) says otherwise, narrowed by the filters and the caller's visible
    customers."""
    ids = _desk_query(
        select(Complaint.id),
        status=status,
        category=category,
        product=product,
        breached_at=breached_at,
        customer_id=customer_id,
        owner_ids=owner_ids,
        within=within,
    )
    # The page's ids are sorted and cut over narrow columns first, then its rows are read by
    # id: a deep page would otherwise sort whole complaint and customer rows.
    page = list(
        session.scalars(ids.order_by(None).order_by(*_desk_order(sort)).offset(offset).limit(limit))
    )
    if not page:
        return []
    rows = session.execute(
        select(Complaint, Customer)
        .join(Customer, Customer.id == Complaint.customer_id)
        .where(Complaint.id.in_(page))
    ).all()
    by_id = {c.id: (c, cu) for c, cu in rows}
    return [by_id[i] for i in page if i in by_id]


# The desk's orders: when opened, the response and resolution deadlines, the severity.
DESK_SORTS = ("opened", "respond_by", "resolve_by", "severity")
_SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


def _desk_order(sort: str) -> list[Any]:
    """The ORDER BY of a desk sort; complaints without the deadline come last either way
    (the databases disagree on where NULLs go), the id breaks the last ties."""
    descending = sort.startswith("-")
    name = sort.removeprefix("-")
    order: list[Any] = []
    if name == "severity":
        rank = case(_SEVERITY_RANK, value=Complaint.severity, else_=0)
        order.append(rank.desc() if descending else rank.asc())
        # Within a severity, the newest first, as the desk shows them by default.
        order.append(Complaint.opened_at.desc())
    elif name in ("respond_by", "resolve_by"):
        column = getattr(Complaint, name)
        order.append(column.is_(None).asc())
        order.append(column.desc() if descending else column.asc())
    else:
        order.append(Complaint.opened_at.desc() if descending else Complaint.opened_at.asc())
    order.append(Complaint.id.desc() if descending else Complaint.id.asc())
    return order


def desk_for_export(session: Session, *, chunk: int, **narrowing: Any) -> Iterator[Any]:
    """The desk's complaints (narrowed as ``desk``, without its limit) with the customer's
    name columns, streamed ``chunk`` rows at a time."""
    stmt = select(Complaint, Customer.kind, Customer.company_name, Customer.person_name)
    return stream_rows(session, _desk_query(stmt, with_customer=True, **narrowing), chunk)


def count_desk(session: Session, **narrowing: Any) -> int:
    """How many complaints ``desk`` would narrow to, without its limit."""
    return count_rows(session, _desk_query(select(Complaint.id), **narrowing))


def _desk_query(
    stmt: Any,
    *,
    status: str | None,
    category: str | None,
    product: str | None,
    breached_at: dt.datetime | None,
    customer_id: int | None,
    owner_ids: tuple[int, ...] | None,
    within: Any = None,
    with_customer: bool = False,
) -> Any:
    """The desk's narrowing over ``stmt`` (a SELECT from complaints), newest first. Customers
    are joined only where the caller's scope or ``with_customer`` needs their columns: the
    join costs a count over 100,000 complaints several times its time."""
    if with_customer or owner_ids is not None:
        stmt = stmt.join(Customer, Customer.id == Complaint.customer_id)
    stmt = stmt.order_by(Complaint.opened_at.desc(), Complaint.id.desc())
    if status == "open_any":
        stmt = stmt.where(Complaint.status.in_(OPEN))
    elif status:
        stmt = stmt.where(Complaint.status == status)
    if category:
        stmt = stmt.where(Complaint.category == category)
    if product:
        stmt = stmt.where(Complaint.product == product)
    if customer_id is not None:
        stmt = stmt.where(Complaint.customer_id == customer_id)
    if breached_at is not None:
        stmt = stmt.where(
            Complaint.status.in_(OPEN),
            or_(
                and_(Complaint.responded_at.is_(None), Complaint.respond_by < breached_at),
                Complaint.resolve_by < breached_at,
            ),
        )
    if owner_ids is not None:
        stmt = stmt.where(Customer.owner_id.in_(owner_ids))
    if within is not None:  # a SELECT of customer ids (the portfolio's filters)
        stmt = stmt.where(Complaint.customer_id.in_(within))
    return stmt


def get_complaint(session: Session, complaint_id: int, *, lock: bool = False) -> Complaint | None:
    """One complaint (locked for update when asked)."""
    stmt = select(Complaint).where(Complaint.id == complaint_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def _of_customers(stmt: Any, owner_ids: tuple[int, ...] | None, within: Any) -> Any:
    """``stmt`` over complaints kept to the caller's visible customers and those ``within``
    (a SELECT of ids), as the desk keeps them."""
    if owner_ids is not None:
        stmt = stmt.join(Customer, Customer.id == Complaint.customer_id).where(
            Customer.owner_id.in_(owner_ids)
        )
    if within is not None:
        stmt = stmt.where(Complaint.customer_id.in_(within))
    return stmt


def weekly_counts(
    session: Session,
    since: dt.datetime,
    products: Sequence[str],
    *,
    owner_ids: tuple[int, ...] | None = None,
    within: Any = None,
) -> list[Any]:
    """(product, opened_at) of complaints about some products since a moment (of the visible
    customers ``within``)."""
    stmt = select(Complaint.product, Complaint.opened_at).where(
        Complaint.product.in_(list(products)), Complaint.opened_at >= since
    )
    return list(session.execute(_of_customers(stmt, owner_ids, within)))


def top_products(
    session: Session,
    since: dt.datetime,
    limit: int,
    *,
    owner_ids: tuple[int, ...] | None = None,
    within: Any = None,
) -> list[tuple[str, int]]:
    """The products complained about most since a moment (by the visible customers
    ``within``)."""
    stmt = select(Complaint.product, func.count()).where(
        Complaint.product.is_not(None), Complaint.opened_at >= since
    )
    rows = session.execute(
        _of_customers(stmt, owner_ids, within)
        .group_by(Complaint.product)
        .order_by(func.count().desc(), Complaint.product)
        .limit(limit)
    )
    return [(str(p), int(n)) for p, n in rows]


def product_alerts(session: Session, *, open_only: bool, limit: int) -> list[Alert]:
    """Product-level alerts, newest first."""
    stmt = (
        select(Alert)
        .where(Alert.customer_id.is_(None), Alert.product.is_not(None))
        .order_by(Alert.raised_at.desc(), Alert.id.desc())
        .limit(limit)
    )
    if open_only:
        stmt = stmt.where(Alert.status.not_in(("resolved", "dismissed")))
    return list(session.scalars(stmt))


def survey_history(session: Session, customer_id: int, limit: int) -> list[SurveyResponse]:
    """A customer's survey answers, newest first."""
    return list(
        session.scalars(
            select(SurveyResponse)
            .where(SurveyResponse.customer_id == customer_id)
            .order_by(SurveyResponse.responded_at.desc(), SurveyResponse.id.desc())
            .limit(limit)
        )
    )
