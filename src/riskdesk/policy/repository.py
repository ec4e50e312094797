"""SQL of tier policies, limit requests, the approval matrix and delegations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Float, bindparam, cast, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from riskdesk.customers.repository import rows_in
from riskdesk.db import count_rows, stream_rows
from riskdesk.models import (
    ApprovalAuthority,
    ApprovalDelegation,
    CreditProfile,
    CreditReview,
    LimitRequest,
    TierPolicy,
)
from riskdesk.policy.formula import POLICY_COLUMNS


def policies(session: Session) -> list[TierPolicy]:
    """Every tier's policy."""
    return list(session.scalars(select(TierPolicy).order_by(TierPolicy.tier)))


def get_policy(session: Session, tier: str) -> TierPolicy | None:
    """One tier's policy."""
    return session.get(TierPolicy, tier)


def policy_frame(session: Session) -> pl.DataFrame:
    """The policies as a frame for the formula."""
    rows = [{name: getattr(p, name) for name in POLICY_COLUMNS} for p in policies(session)]
    return pl.DataFrame(
        [
            {
                **r,
                "min_limit": float(r["min_limit"]),
                "max_limit": float(r["max_limit"]) if r["max_limit"] is not None else None,
                "round_to": float(r["round_to"]),
            }
            for r in rows
        ],
        schema=POLICY_COLUMNS,
    )


def current_limits(session: Session, customer_ids: Sequence[int] | None) -> pl.DataFrame:
    """Tier, limit and its currency on the credit profiles of some customers (None: all)."""
    stmt = select(
        CreditProfile.customer_id,
        CreditProfile.risk_tier,
        cast(CreditProfile.credit_limit, Float),
        CreditProfile.limit_currency,
    )
    rows = rows_in(session, stmt, CreditProfile.customer_id, customer_ids)
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={
            "customer_id": pl.Int64,
            "risk_tier": pl.String,
            "current_limit": pl.Float64,
            "limit_currency": pl.String,
        },
        orient="row",
    )


def get_request(session: Session, request_id: int, *, lock: bool = False) -> LimitRequest | None:
    """A limit request (locked for update when asked)."""
    stmt = select(LimitRequest).where(LimitRequest.id == request_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def pending_for(session: Session, customer_id: int) -> list[LimitRequest]:
    """A customer's pending requests."""
    return list(
        session.scalars(
            select(LimitRequest).where(
                LimitRequest.customer_id == customer_id, LimitRequest.status == "pending"
            )
        )
    )


# The request list's orders (``-`` in front: the other way round); ties by id, the same way.
REQUEST_SORTS = ("requested", "amount", "expires")


def list_requests(
    session: Session,
    *,
    status: str | None,
    customer_id: int | None,
    owner_ids: tuple[int, ...] | None,
    limit: int,
    now: dt.datetime,
    within: Any = None,
    offset: int = 0,
    sort: str = "-requested",
) -> list[LimitRequest]:
    """Limit requests, newest first unless ``sort`` says otherwise, narrowed to visible
    customers when owner_ids is given (and to a SELECT of customer ids, ``within``); by status
    as of ``now`` (a pending request past its expiry counts as expired)."""
    from riskdesk.models import Customer

    stmt = select(LimitRequest).join(Customer, Customer.id == LimitRequest.customer_id)
    stmt = _requests_query(stmt, status, customer_id, owner_ids, now, within, sort=sort)
    return list(session.scalars(stmt.offset(offset).limit(limit)))


def _requests_query(
    stmt: Any,
    status: str | None,
    customer_id: int | None,
    owner_ids: tuple[int, ...] | None,
    now: dt.datetime,
    within: Any = None,
    *,
    sort: str = "-requested",
) -> Any:
    """The list's narrowing and order, over a SELECT that already joins Customer."""
    from riskdesk.models import Customer

    descending = sort.startswith("-")
    key = {"amount": LimitRequest.requested_limit, "expires": LimitRequest.expires_at}.get(
        sort.removeprefix("-")
    )
    order: list[Any] = [] if key is None else [key.desc() if descending else key.asc()]
    order.append(LimitRequest.id.desc() if descending else LimitRequest.id.asc())
    stmt = stmt.order_by(*order)
    if within is not None:
        stmt = stmt.where(LimitRequest.customer_id.in_(within))
    lapsed = (LimitRequest.status == "pending") & (LimitRequest.expires_at < now)
    if status == "pending":
        stmt = stmt.where(LimitRequest.status == "pending", LimitRequest.expires_at >= now)
    elif status == "expired":
        stmt = stmt.where((LimitRequest.status == "expired") | lapsed)
    elif status:
        stmt = stmt.where(LimitRequest.status == status)
    if customer_id is not None:
        stmt = stmt.where(LimitRequest.customer_id == customer_id)
    if owner_ids is not None:
        stmt = stmt.where(Customer.owner_id.in_(owner_ids))
    return stmt


def requests_for_export(
    session: Session,
    *,
    status: str | None,
    customer_id: int | None,
    owner_ids: tuple[int, ...] | None,
    now: dt.datetime,
    chunk: int,
    within: Any = None,
) -> Iterator[Any]:
    """Limit requests as ``list_requests`` narrows them, with the customer's name columns and
    the requester's and decider's names, streamed ``chunk`` rows at a time."""
    from riskdesk.models import Customer, User

    requester, decider = aliased(User), aliased(User)
    stmt = (
        select(
            LimitRequest,
            Customer.kind,
            Customer.company_name,
            Customer.person_name,
            requester.display_name.label("requested_by"),
            decider.display_name.label("decided_by"),
        )
        .join(Customer, Customer.id == LimitRequest.customer_id)
        .outerjoin(requester, requester.id == LimitRequest.requested_by_id)
        .outerjoin(decider, decider.id == LimitRequest.decided_by_id)
    )
    narrowed = _requests_query(stmt, status, customer_id, owner_ids, now, within)
    return stream_rows(session, narrowed, chunk)


def count_requests(
    session: Session,
    *,
    status: str | None,
    customer_id: int | None,
    owner_ids: tuple[int, ...] | None,
    now: dt.datetime,
    within: Any = None,
) -> int:
    """How many requests ``list_requests`` would narrow to, without its limit."""
    from riskdesk.models import Customer

    stmt = select(LimitRequest.id).join(Customer, Customer.id == LimitRequest.customer_id)
    return count_rows(session, _requests_query(stmt, status, customer_id, owner_ids, now, within))


def expire(session: Session, now: dt.datetime) -> int:
    """Mark pending requests past their expiry as expired; how many."""
    result = session.execute(
        update(LimitRequest)
        .where(LimitRequest.status == "pending", LimitRequest.expires_at < now)
        .values(status="expired", decided_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def authorities(session: Session) -> list[ApprovalAuthority]:
    """The approval matrix."""
    return list(
        session.scalars(
            select(ApprovalAuthority).order_by(
                ApprovalAuthority.role, ApprovalAuthority.user_id, ApprovalAuthority.tier
            )
        )
    )


def authorities_for(session: Session, users: Sequence[tuple[int, str]]) -> list[ApprovalAuthority]:
    """Matrix rows that apply to any of the (user id, role) pairs."""
    if not users:
        return []
    conditions = [
        or_(ApprovalAuthority.user_id == uid, ApprovalAuthority.role == role) for uid, role in users
    ]
    return list(session.scalars(select(ApprovalAuthority).where(or_(*conditions))))


def get_authority(session: Session, authority_id: int) -> ApprovalAuthority | None:
    """A matrix row."""
    return session.get(ApprovalAuthority, authority_id)


def active_delegations_to(session: Session, user_id: int, day: dt.date) -> list[ApprovalDelegation]:
    """Delegations a user holds on a day."""
    return list(
        session.scalars(
            select(ApprovalDelegation).where(
                ApprovalDelegation.to_user_id == user_id,
                ApprovalDelegation.revoked_at.is_(None),
                ApprovalDelegation.valid_from <= day,
                ApprovalDelegation.valid_to >= day,
            )
        )
    )


def delegations(session: Session, user_id: int | None = None) -> list[ApprovalDelegation]:
    """Delegations, newest first (given by or to a user when given)."""
    stmt = select(ApprovalDelegation).order_by(ApprovalDelegation.id.desc())
    if user_id is not None:
        stmt = stmt.where(
            or_(
                ApprovalDelegation.from_user_id == user_id,
                ApprovalDelegation.to_user_id == user_id,
            )
        )
    return list(session.scalars(stmt))


def get_delegation(session: Session, delegation_id: int) -> ApprovalDelegation | None:
    """A delegation."""
    return session.get(ApprovalDelegation, delegation_id)


# ---------------------------------------------------------------- reviews


def review_schedule(session: Session, customer_ids: Sequence[int] | None) -> pl.DataFrame:
    """Tier, last and next review date of live customers with a tier (None: all)."""
    from riskdesk.models import Customer

    stmt = (
        select(
            CreditProfile.customer_id,
            CreditProfile.risk_tier,
            CreditProfile.last_review_date,
            CreditProfile.next_review_date,
        )
        .join(Customer, Customer.id == CreditProfile.customer_id)
        .where(CreditProfile.risk_tier.is_not(None), Customer.status.not_in(("merged", "closed")))
    )
    rows = rows_in(session, stmt, Customer.id, customer_ids)
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={
            "customer_id": pl.Int64,
            "tier": pl.String,
            "last_review_date": pl.Date,
            "next_review_date": pl.Date,
        },
        orient="row",
    )


def set_next_review_dates(session: Session, rows: list[dict[str, object]]) -> None:
    """Set next_review_date on profiles (rows: cid, next)."""
    table: Any = CreditProfile.__table__
    stmt = (
        update(table)
        .where(table.c.customer_id == bindparam("cid"))
        .values(next_review_date=bindparam("next"))
    )
    for i in range(0, len(rows), 5000):
        session.execute(stmt, rows[i : i + 5000])


def review_queue(
    session: Session,
    until: dt.date,
    owner_ids: tuple[int, ...] | None,
    limit: int,
    within: Any = None,
) -> list[Any]:
    """Customers whose next review is due by ``until``, earliest first, with any open review
    (``within``: a SELECT of the customer ids to keep to)."""
    return list(session.execute(_queue_query(until, owner_ids, within).limit(limit)))


# The review queue's orders: by due date, by customer number (the code is C and the id; names
# of individuals are encrypted, so they cannot be sorted by the database).
QUEUE_SORTS = ("due", "customer")


def page_queue(
    session: Session,
    until: dt.date,
    owner_ids: tuple[int, ...] | None,
    within: Any = None,
    *,
    offset: int,
    limit: int,
    sort: str = "due",
) -> list[Any]:
    """One page of the review queue, sorted by one of ``QUEUE_SORTS`` (``-``: descending),
    the customer id breaking ties."""
    stmt = _queue_query(until, owner_ids, within, sort=sort)
    return list(session.execute(stmt.offset(offset).limit(limit)))


def _queue_query(
    until: dt.date, owner_ids: tuple[int, ...] | None, within: Any = None, *, sort: str = "due"
) -> Any:
    from riskdesk.models import Customer

    descending = sort.startswith("-")
    keys: list[Any] = (
        [CreditProfile.next_review_date, Customer.id]
        if sort.removeprefix("-") == "due"
        else [Customer.id]
    )
    order = [k.desc() if descending else k.asc() for k in keys]

    open_review = (
        select(CreditReview.customer_id, func.max(CreditReview.id).label("review_id"))
        .where(CreditReview.status == "open")
        .group_by(CreditReview.customer_id)
        .subquery()
    )
    stmt = (
        select(Customer, CreditProfile, open_review.c.review_id)
        .join(CreditProfile, CreditProfile.customer_id == Customer.id)
        .outerjoin(open_review, open_review.c.customer_id == Customer.id)
        .where(
            CreditProfile.next_review_date <= until,
            Customer.status.not_in(("merged", "closed")),
        )
        .order_by(*order)
    )
    if owner_ids is not None:
        stmt = stmt.where(Customer.owner_id.in_(owner_ids))
    if within is not None:
        stmt = stmt.where(Customer.id.in_(within))
    return stmt


def queue_for_export(
    session: Session,
    until: dt.date,
    owner_ids: tuple[int, ...] | None,
    chunk: int,
    within: Any = None,
) -> Iterator[Any]:
    """The review queue without its limit, streamed ``chunk`` rows at a time."""
    return stream_rows(session, _queue_query(until, owner_ids, within), chunk)


def count_queue(
    session: Session, until: dt.date, owner_ids: tuple[int, ...] | None, within: Any = None
) -> int:
    """How many customers the review queue holds, without its limit."""
    return count_rows(session, _queue_query(until, owner_ids, within))


def get_review(session: Session, review_id: int, *, lock: bool = False) -> CreditReview | None:
    """A review (locked for update when asked)."""
    stmt = select(CreditReview).where(CreditReview.id == review_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def open_review_of(session: Session, customer_id: int) -> CreditReview | None:
    """A customer's open review, if any."""
    return session.scalars(
        select(CreditReview).where(
            CreditReview.customer_id == customer_id, CreditReview.status == "open"
        )
    ).first()


def reviews_of(session: Session, customer_id: int) -> list[CreditReview]:
    """A customer's reviews, newest first."""
    return list(
        session.scalars(
            select(CreditReview)
            .where(CreditReview.customer_id == customer_id)
            .order_by(CreditReview.id.desc())
        )
    )
