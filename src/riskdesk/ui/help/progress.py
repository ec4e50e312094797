"""Practice mode's checks: has this user done a step yet? Each reads what the action itself
wrote (who decided, closed, commented...), never a tick of its own."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from riskdesk.models import (
    Alert,
    AlertCase,
    AlertComment,
    Complaint,
    CreditDecision,
    CreditReview,
    Customer,
    LimitRequest,
    NotificationSetting,
    PendingChange,
)


def _any(session: Session, stmt: Select[tuple[bool]]) -> bool:
    return bool(session.scalar(stmt))


def limit_decided(session: Session, user_id: int) -> bool:
    """The user approved or rejected someone's limit request."""
    return _any(session, select(exists().where(LimitRequest.decided_by_id == user_id)))


def limit_requested(session: Session, user_id: int) -> bool:
    """The user asked for a limit."""
    return _any(session, select(exists().where(LimitRequest.requested_by_id == user_id)))


def change_decided(session: Session, user_id: int) -> bool:
    """The user approved or rejected a change someone else asked for."""
    return _any(
        session,
        select(
            exists().where(
                PendingChange.decided_by_id == user_id,
                PendingChange.requested_by_id != user_id,
                # The demo loader's own approvals (by manager2) are not the trainee's.
                PendingChange.channel != "demo",
            )
        ),
    )


def order_resolved(session: Session, user_id: int) -> bool:
    """The user released or rejected a held order."""
    return _any(session, select(exists().where(CreditDecision.resolved_by_id == user_id)))


def alert_worked(session: Session, user_id: int) -> bool:
    """An alert of the user's has moved on from open."""
    return _any(
        session,
        select(exists().where(Alert.assigned_to_id == user_id, Alert.status != "open")),
    )


def alert_closed(session: Session, user_id: int) -> bool:
    """The user resolved or dismissed an alert."""
    return _any(session, select(exists().where(Alert.closed_by_id == user_id)))


def case_commented(session: Session, user_id: int) -> bool:
    """The user commented on an alert of a case."""
    return _any(session, select(exists().where(AlertComment.author_id == user_id)))


def review_signed(session: Session, user_id: int) -> bool:
    """The user signed off a review."""
    return _any(session, select(exists().where(CreditReview.signed_off_by_id == user_id)))


def complaint_answered(session: Session, user_id: int) -> bool:
    """A complaint assigned to the user has an answer."""
    return _any(
        session,
        select(
            exists().where(Complaint.assigned_to_id == user_id, Complaint.responded_at.is_not(None))
        ),
    )


def notifications_saved(session: Session, user_id: int) -> bool:
    """The user saved their notification settings."""
    return _any(session, select(exists().where(NotificationSetting.user_id == user_id)))


CHECKS: dict[str, Callable[[Session, int], bool]] = {
    "limit_decided": limit_decided,
    "limit_requested": limit_requested,
    "change_decided": change_decided,
    "order_resolved": order_resolved,
    "alert_worked": alert_worked,
    "alert_closed": alert_closed,
    "case_commented": case_commented,
    "review_signed": review_signed,
    "complaint_answered": complaint_answered,
    "notifications_saved": notifications_saved,
}


def a_customer(session: Session, owner_ids: tuple[int, ...] | None) -> int | None:
    """A customer the user may see (of ``owner_ids`` when the role sees only its own)."""
    stmt = select(Customer.id).where(Customer.merged_into_id.is_(None))
    if owner_ids is not None:
        stmt = stmt.where(Customer.owner_id.in_(owner_ids))
    return session.scalar(stmt.order_by(Customer.id).limit(1))


def an_open_case(session: Session, owner_ids: tuple[int, ...] | None) -> int | None:
    """An open case of a customer the user may see, the most at stake first."""
    stmt = (
        select(AlertCase.id)
        .join(Customer, Customer.id == AlertCase.customer_id)
        .where(AlertCase.status == "open")
    )
    if owner_ids is not None:
        stmt = stmt.where(Customer.owner_id.in_(owner_ids))
    return session.scalar(
        stmt.order_by(AlertCase.priority.desc().nulls_last(), AlertCase.id).limit(1)
    )
