"""SQL of report subscriptions: the caller's own, the due ones, the claim of a period, and
the e-mail queued in the notification outbox (the deliveries table)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from riskdesk.models import Delivery, ReportSubscription, User


def of_user(session: Session, user_id: int) -> list[ReportSubscription]:
    """A user's subscriptions, by kind."""
    stmt = (
        select(ReportSubscription)
        .where(ReportSubscription.user_id == user_id)
        .order_by(ReportSubscription.kind)
    )
    return list(session.scalars(stmt))


def get(session: Session, user_id: int, kind: str) -> ReportSubscription | None:
    """A user's subscription to one kind of report."""
    stmt = select(ReportSubscription).where(
        ReportSubscription.user_id == user_id, ReportSubscription.kind == kind
    )
    return session.scalars(stmt).first()


def add(session: Session, subscription: ReportSubscription) -> ReportSubscription:
    """Store a new subscription."""
    session.add(subscription)
    session.flush()
    return subscription


def remove(session: Session, user_id: int, kind: str) -> int:
    """Delete a user's subscription; how many rows went (0 or 1)."""
    stmt = delete(ReportSubscription).where(
        ReportSubscription.user_id == user_id, ReportSubscription.kind == kind
    )
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def due(session: Session, kinds: Sequence[str], period: dict[str, str]) -> list[Any]:
    """Active subscriptions of these kinds, of active users, not yet sent for their kind's
    period: (subscription, user)."""
    if not kinds:
        return []
    stmt = (
        select(ReportSubscription, User)
        .join(User, User.id == ReportSubscription.user_id)
        .where(
            ReportSubscription.kind.in_(list(kinds)),
            ReportSubscription.active.is_(True),
            User.is_active.is_(True),
            or_(
                *[
                    (ReportSubscription.kind == kind)
                    & or_(
                        ReportSubscription.last_period.is_(None),
                        ReportSubscription.last_period < period[kind],
                    )
                    for kind in kinds
                ]
            ),
        )
        .order_by(ReportSubscription.id)
    )
    return [(sub, user) for sub, user in session.execute(stmt)]


def claim(session: Session, subscription_id: int, period: str, now: dt.datetime) -> bool:
    """Mark a subscription sent for a period, unless it already was, or a later one was (by a
    concurrent pass, or a replay of an old day): whether this pass may queue the e-mail.
    Periods compare as text: 2026-11 < 2026-12 and 2026-W05 < 2026-W49."""
    stmt = (
        update(ReportSubscription)
        .where(
            ReportSubscription.id == subscription_id,
            or_(
                ReportSubscription.last_period.is_(None),
                ReportSubscription.last_period < period,
            ),
        )
        .values(last_period=period, last_sent_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def queue_email(
    session: Session,
    *,
    user_id: int,
    event: str,
    subject: str,
    payload: dict[str, Any],
    now: dt.datetime,
) -> Delivery:
    """An e-mail in the outbox; the delivery worker sends it (the address is read then)."""
    delivery = Delivery(
        channel="email",
        event=event,
        user_id=user_id,
        subject=subject[:255],
        payload=payload,
        status="pending",
        attempts=0,
        next_attempt_at=now,
    )
    session.add(delivery)
    session.flush()
    return delivery
