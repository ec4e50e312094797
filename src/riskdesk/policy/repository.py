"""SQL of tier policies, limit requests, the approval matrix and delegations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from riskdesk.models import (
    ApprovalAuthority,
    ApprovalDelegation,
    CreditProfile,
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


def profiles(session: Session, customer_ids: Sequence[int]) -> dict[int, CreditProfile]:
    """Credit profiles by customer id."""
    return {
        p.customer_id: p
        for p in session.scalars(
            select(CreditProfile).where(CreditProfile.customer_id.in_(list(customer_ids)))
        )
    }


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


def list_requests(
    session: Session,
    *,
    status: str | None,
    customer_id: int | None,
    owner_ids: tuple[int, ...] | None,
    limit: int,
) -> list[LimitRequest]:
    """Limit requests, newest first, narrowed to visible customers when owner_ids is given."""
    from riskdesk.models import Customer

    stmt = select(LimitRequest).order_by(LimitRequest.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(LimitRequest.status == status)
    if customer_id is not None:
        stmt = stmt.where(LimitRequest.customer_id == customer_id)
    if owner_ids is not None:
        stmt = stmt.join(Customer, Customer.id == LimitRequest.customer_id).where(
            Customer.owner_id.in_(owner_ids)
        )
    return list(session.scalars(stmt))


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
