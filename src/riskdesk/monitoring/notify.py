"""In-app notifications, by each user's own settings."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from riskdesk.kit.errors import NotFound
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Alert, Notification, NotificationSetting
from riskdesk.monitoring import repository as repo

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def settings_of(session: Session, user_id: int) -> NotificationSetting:
    """A user's settings (the defaults until they change them)."""
    found = repo.notification_setting(session, user_id)
    return found or NotificationSetting(
        user_id=user_id, in_app=True, email=False, min_severity="low", mentions=True
    )


def save_settings(
    session: Session, user_id: int, *, in_app: bool, email: bool, min_severity: str, mentions: bool
) -> NotificationSetting:
    """Store a user's settings."""
    found = repo.notification_setting(session, user_id)
    if found is None:
        found = NotificationSetting(user_id=user_id)
        session.add(found)
    found.in_app, found.email, found.min_severity, found.mentions = (
        in_app,
        email,
        min_severity,
        mentions,
    )
    session.flush()
    return found


def about_alerts(session: Session, alerts: Sequence[Alert], kind: str) -> int:
    """Tell each alert's assignee, if their settings want it; how many were told."""
    told = 0
    for alert in alerts:  # the alerts just assigned or escalated
        if alert.assigned_to_id is None:
            continue
        wanted = settings_of(session, alert.assigned_to_id)
        if not wanted.in_app or SEVERITY_RANK[alert.severity] < SEVERITY_RANK[wanted.min_severity]:
            continue
        verb_en = "escalated to you" if kind == "alert_escalated" else "for you"
        verb_zh = "已升级给您" if kind == "alert_escalated" else "待您处理"
        session.add(
            Notification(
                user_id=alert.assigned_to_id,
                kind=kind,
                alert_id=alert.id,
                title_en=f"{alert.title_en} ({alert.severity}): {verb_en}",
                title_zh=f"{alert.title_zh}（{alert.severity}）：{verb_zh}",
            )
        )
        told += 1
    session.flush()
    return told


def about_mentions(session: Session, alert: Alert, user_ids: Sequence[int], author: str) -> None:
    """Tell mentioned users, unless they turned mentions off."""
    for user_id in user_ids:
        if not settings_of(session, user_id).mentions:
            continue
        session.add(
            Notification(
                user_id=user_id,
                kind="mention",
                alert_id=alert.id,
                title_en=f"{author} mentioned you on alert {alert.id}",
                title_zh=f"{author} 在预警 {alert.id} 中提到了您",
            )
        )
    session.flush()


def inbox(session: Session, user_id: int, *, unread_only: bool, limit: int) -> list[Notification]:
    """A user's notifications, newest first."""
    return repo.notifications_of(session, user_id, unread_only=unread_only, limit=limit)


def mark_read(session: Session, user_id: int, notification_id: int) -> Notification:
    """Mark one of the user's notifications read (again: no change)."""
    found = repo.get_notification(session, notification_id)
    if found is None or found.user_id != user_id:
        raise NotFound(f"no notification {notification_id}", field="notification_id")
    if found.read_at is None:
        found.read_at = utcnow()
        session.flush()
    return found
