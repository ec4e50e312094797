"""Notifications, by each user's own settings: in the app, by e-mail, and to webhooks.

In-app notifications are rows the user reads. E-mails and webhook calls are written to the
delivery outbox in the same transaction as the alert they report, and sent by the delivery
worker (`riskdesk.alerts.delivery`): an alert rolled back is never announced.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from riskdesk.alerts import addresses
from riskdesk.alerts import repository as repo
from riskdesk.alerts.addresses import IPNetwork
from riskdesk.kit.errors import Conflict, NotFound, ValidationFailed
from riskdesk.kit.messages import translate
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Alert, Delivery, Notification, NotificationSetting, WebhookEndpoint
from riskdesk.security.service import Principal

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def settings_of(session: Session, user_id: int) -> NotificationSetting:
    """A user's settings (the defaults until they change them)."""
    return repo.notification_setting(session, user_id) or _defaults(user_id)


def _defaults(user_id: int) -> NotificationSetting:
    return NotificationSetting(
        user_id=user_id, in_app=True, email=False, min_severity="low", mentions=True
    )


def save_settings(
    session: Session, user_id: int, *, in_app: bool, email: bool, min_severity: str, mentions: bool
) -> NotificationSetting:
    """Store a user's settings; e-mail needs an address on the account."""
    if email and not repo.user_email(session, user_id):
        raise ValidationFailed(
            "your account has no e-mail address; ask an administrator to set one", field="email"
        )
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
    """Tell each alert's assignee, if their settings want it, and the webhooks that subscribe;
    how many assignees were told."""
    told = 0
    event = WEBHOOK_EVENTS[kind]
    endpoints = repo.webhook_endpoints(session, active_only=True)
    # Read once for the batch: a nightly run raises hundreds of alerts for a few assignees.
    assignees = sorted({a.assigned_to_id for a in alerts if a.assigned_to_id is not None})
    stored = repo.notification_settings(session, assignees)
    for alert in alerts:  # the alerts just assigned or escalated
        to_webhooks(session, event, alert, endpoints)
        if alert.assigned_to_id is None:
            continue
        wanted = stored.get(alert.assigned_to_id) or _defaults(alert.assigned_to_id)
        if SEVERITY_RANK[alert.severity] < SEVERITY_RANK[wanted.min_severity]:
            continue
        verb_en = "escalated to you" if kind == "alert_escalated" else "for you"
        verb_zh = "已升级给您" if kind == "alert_escalated" else "待您处理"
        # The severity in each language's words (the stored title is read in that language).
        severity_en = translate("en", f"alerts.severity.{alert.severity}")
        severity_zh = translate("zh-CN", f"alerts.severity.{alert.severity}")
        title_en = f"{alert.title_en} ({severity_en}): {verb_en}"
        title_zh = f"{alert.title_zh}（{severity_zh}）：{verb_zh}"
        if wanted.in_app:
            session.add(
                Notification(
                    user_id=alert.assigned_to_id,
                    kind=kind,
                    alert_id=alert.id,
                    title_en=title_en,
                    title_zh=title_zh,
                )
            )
            told += 1
        if wanted.email:
            _email(session, alert.assigned_to_id, event, alert, title_en, title_zh)
    session.flush()
    return told


# In-app kinds and the webhook event each is published as.
WEBHOOK_EVENTS = {
    "alert_assigned": "alert.raised",
    "alert_escalated": "alert.escalated",
    "alert_closed": "alert.closed",
    "mention": "alert.mentioned",
}
EVENTS = ("alert.raised", "alert.escalated", "alert.closed")


def alert_payload(alert: Alert) -> dict[str, Any]:
    """What a webhook or an e-mail says about an alert: no personal data, only ids and facts."""
    return {
        "id": alert.id,
        "customer_id": alert.customer_id,
        "case_id": alert.case_id,
        "rule_code": alert.rule_code,
        "source": alert.source,
        "category": alert.category,
        "severity": alert.severity,
        "status": alert.status,
        "title_en": alert.title_en,
        "title_zh": alert.title_zh,
        "product": alert.product,
        "evidence": alert.evidence,
        "raised_at": _iso(alert.raised_at),
        "due_at": _iso(alert.due_at),
        "escalation_level": alert.escalation_level,
        "assigned_to_id": alert.assigned_to_id,
        "outcome": alert.outcome,
        "cleared_reason": alert.cleared_reason,
        "closed_at": _iso(alert.closed_at),
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def to_webhooks(
    session: Session,
    event: str,
    alert: Alert,
    endpoints: Sequence[WebhookEndpoint] | None = None,
) -> int:
    """Queue one call per active endpoint that subscribes to the event at this severity."""
    queued = 0
    if endpoints is None:
        endpoints = repo.webhook_endpoints(session, active_only=True)
    for endpoint in endpoints:
        if event not in endpoint.events:
            continue
        if SEVERITY_RANK[alert.severity] < SEVERITY_RANK[endpoint.min_severity]:
            continue
        session.add(
            Delivery(
                channel="webhook",
                event=event,
                endpoint_id=endpoint.id,
                alert_id=alert.id,
                payload={"alert": alert_payload(alert)},
                status="pending",
                attempts=0,
                next_attempt_at=utcnow(),
            )
        )
        queued += 1
    return queued


def _email(
    session: Session, user_id: int, event: str, alert: Alert, title_en: str, title_zh: str
) -> None:
    """Queue an e-mail to a user who wants them (the address is read when it is sent)."""
    session.add(
        Delivery(
            channel="email",
            event=event,
            user_id=user_id,
            alert_id=alert.id,
            subject=" ".join(f"[Riskdesk] {title_zh} / {title_en}".split())[:255],
            payload={"alert": alert_payload(alert), "title_en": title_en, "title_zh": title_zh},
            status="pending",
            attempts=0,
            next_attempt_at=utcnow(),
        )
    )


def about_closing(session: Session, alert: Alert) -> None:
    """Tell the webhooks an alert was closed, with its outcome."""
    to_webhooks(session, "alert.closed", alert)
    session.flush()


def about_cleared(session: Session, alerts: Sequence[Alert]) -> None:
    """Tell the webhooks that alerts closed themselves (no outcome; the reason code in
    ``cleared_reason``)."""
    endpoints = repo.webhook_endpoints(session, active_only=True)
    for alert in alerts:  # the alerts one evaluation cleared
        to_webhooks(session, "alert.closed", alert, endpoints)
    session.flush()


def about_mentions(session: Session, alert: Alert, user_ids: Sequence[int], author: str) -> None:
    """Tell mentioned users, unless they turned mentions off."""
    for user_id in user_ids:
        wanted = settings_of(session, user_id)
        if not wanted.mentions:
            continue
        title_en = f"{author} mentioned you on alert {alert.id}"
        title_zh = f"{author} 在预警 {alert.id} 中提到了您"
        if wanted.in_app:
            session.add(
                Notification(
                    user_id=user_id,
                    kind="mention",
                    alert_id=alert.id,
                    title_en=title_en,
                    title_zh=title_zh,
                )
            )
        if wanted.email:
            _email(session, user_id, "alert.mentioned", alert, title_en, title_zh)
    session.flush()


def inbox(session: Session, user_id: int, *, unread_only: bool, limit: int) -> list[Notification]:
    """A user's notifications, newest first."""
    return repo.notifications_of(session, user_id, unread_only=unread_only, limit=limit)


def inbox_customers(
    session: Session, principal: Principal, notifications: Sequence[Notification]
) -> dict[int, tuple[int, str, str]]:
    """The customer (id, code, name) each notification's alert is about, by alert id: only
    customers the reader may see now (one reassigned since is left unnamed)."""
    from riskdesk.customers import repository as customer_repo
    from riskdesk.customers import service as customer_service

    of_alert = repo.alert_customers(
        session, [n.alert_id for n in notifications if n.alert_id is not None]
    )
    visible = customer_service.visible_among(session, principal, of_alert.values())
    customers = customer_repo.customers_with_profiles(session, sorted(visible))
    return {
        alert_id: (cid, customers[cid][0].code, customers[cid][0].name)
        for alert_id, cid in of_alert.items()
        if cid in customers
    }


def mark_read(session: Session, user_id: int, notification_id: int) -> Notification:
    """Mark one of the user's notifications read (again: no change)."""
    found = repo.get_notification(session, notification_id)
    if found is None or found.user_id != user_id:
        raise NotFound(f"no notification {notification_id}", field="notification_id")
    if found.read_at is None:
        found.read_at = utcnow()
        session.flush()
    return found


def create_webhook(
    session: Session,
    *,
    name: str,
    url: str,
    events: Sequence[str],
    min_severity: str,
    created_by_id: int,
    allowed_networks: Sequence[IPNetwork] = (),
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; its signing secret is returned this once."""
    if repo.webhook_by_name(session, name) is not None:
        raise Conflict(f"a webhook named {name!r} exists", field="name", code="name_taken")
    _check_url(url, allowed_networks)
    secret = secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(
        name=name,
        url=url,
        secret=secret,
        events=sorted(set(events)),
        min_severity=min_severity,
        active=True,
        created_by_id=created_by_id,
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def webhook_or_raise(session: Session, endpoint_id: int) -> WebhookEndpoint:
    """The endpoint, or a 404 naming it."""
    found = repo.get_webhook(session, endpoint_id)
    if found is None:
        raise NotFound(f"no webhook {endpoint_id}", field="endpoint_id")
    return found


def _check_url(url: str, allowed_networks: Sequence[IPNetwork]) -> None:
    try:
        addresses.check_url(url, allowed_networks)
    except addresses.AddressRefused as exc:
        raise ValidationFailed(str(exc), field="url", code="url_not_allowed") from None


def update_webhook(
    session: Session,
    endpoint_id: int,
    changes: dict[str, Any],
    allowed_networks: Sequence[IPNetwork] = (),
) -> WebhookEndpoint:
    """Change an endpoint's URL, events, least severity or whether it is active."""
    endpoint = webhook_or_raise(session, endpoint_id)
    if changes.get("url") is not None:
        _check_url(changes["url"], allowed_networks)
    for key in ("url", "min_severity", "active"):
        if changes.get(key) is not None:
            setattr(endpoint, key, changes[key])
    if changes.get("events") is not None:
        endpoint.events = sorted(set(changes["events"]))
    session.flush()
    return endpoint


def rotate_secret(session: Session, endpoint_id: int) -> tuple[WebhookEndpoint, str]:
    """A new signing secret (the old one stops at once); returned this once."""
    endpoint = webhook_or_raise(session, endpoint_id)
    endpoint.secret = secrets.token_urlsafe(32)
    session.flush()
    return endpoint, endpoint.secret


def ping(session: Session, endpoint_id: int) -> Delivery:
    """Queue a test call, so an integrator can check the URL and the signature."""
    endpoint = webhook_or_raise(session, endpoint_id)
    delivery = Delivery(
        channel="webhook",
        event="ping",
        endpoint_id=endpoint.id,
        payload={"message": "Riskdesk webhook test", "endpoint": endpoint.name},
        status="pending",
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(delivery)
    session.flush()
    return delivery


def retry(session: Session, delivery_id: int) -> Delivery:
    """Send a failed or dead delivery again at the next pass (one more attempt for a dead one)."""
    delivery = repo.get_delivery(session, delivery_id, lock=True)
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id}", field="delivery_id")
    if delivery.status in ("delivered", "sending"):
        raise Conflict(f"the delivery is {delivery.status}", code="wrong_state")
    delivery.status, delivery.next_attempt_at = "pending", utcnow()
    session.flush()
    return delivery
