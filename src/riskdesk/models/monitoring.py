"""Early-warning rules with versions, and the alerts they raise."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from riskdesk.db import Base
from riskdesk.kit.timeutil import utcnow
from riskdesk.models.types import JSONType, PersonalData, UTCDateTime


class WarningRule(Base):
    """A named early-warning rule; what it checks lives in its versions."""

    __tablename__ = "warning_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_en: Mapped[str] = mapped_column(String(255))
    name_zh: Mapped[str] = mapped_column(String(255))
    category: Mapped[str] = mapped_column(String(32))
    # The signal it claims (monitoring.warning_types), judged by that type's outcome.
    warning_type: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RuleVersion(Base):
    """One version of a rule: draft -> approved -> active -> retired (or rejected)."""

    __tablename__ = "rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("warning_rules.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    expression: Mapped[str] = mapped_column(Text)
    # None: its alerts clear once it no longer fires; else only once this holds as well.
    clear_expression: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))
    # {"kinds": [...], "segments": [...]}; empty lists: every customer
    scope: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    dedup_days: Mapped[int] = mapped_column(Integer)
    actions: Mapped[list[str]] = mapped_column(JSONType, default=list)
    note: Mapped[str | None] = mapped_column(Text)
    # None: shipped with Riskdesk (the default pack)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Alert(Base):
    """A warning about a customer, raised by a rule (or a detector), with its evidence.

    A rule that fires again for the same customer within its de-duplication window refreshes
    the open alert instead of raising another.
    """

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_customer_rule", "customer_id", "rule_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # None for a product-level alert (a complaint surge on one product), which names the product.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    product: Mapped[str | None] = mapped_column(String(128), index=True)
    source: Mapped[str] = mapped_column(String(16))  # rule, detector, model
    rule_code: Mapped[str] = mapped_column(String(64))
    rule_version_id: Mapped[int | None] = mapped_column(ForeignKey("rule_versions.id"))
    category: Mapped[str] = mapped_column(String(32))
    warning_type: Mapped[str] = mapped_column(String(32), index=True)
    # From what is at stake and how often its signal comes true (alerts.priority), no higher
    # than its rule's severity; a product-level alert takes its detector's.
    severity: Mapped[str] = mapped_column(String(16), index=True)
    # What grades it: the amount at stake (CNY) and the signal's precision; None on a
    # product-level alert and on alerts from before revision 0026.
    stake: Mapped[float | None] = mapped_column(Float)
    precision: Mapped[float | None] = mapped_column(Float)
    # open -> acknowledged -> in_progress -> resolved | dismissed
    status: Mapped[str] = mapped_column(String(16), index=True)
    title_en: Mapped[str] = mapped_column(String(255))
    title_zh: Mapped[str] = mapped_column(String(255))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType)
    hits: Mapped[int] = mapped_column(Integer, default=1)
    # The business date whose data raised it, apart from when it was written (raised_at).
    observed_on: Mapped[dt.date] = mapped_column(Date, index=True)
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_hit_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[str | None] = mapped_column(String(16))  # confirmed, false_alarm
    # False when its team's weekly alert budget was spent: listed in the queue, not notified.
    notified: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Set when Riskdesk resolved it because its condition no longer held ("invoice paid").
    cleared_reason: Mapped[str | None] = mapped_column(String(255))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("alert_cases.id"), index=True)
    # The SLA: who must act by when; a breach escalates one level and sets a new due time.
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WarningBacktest(Base):
    """A replay of the active pack over past dates, kept for what it measured: each warning
    type's precision against its outcome grades the severity of new alerts of that type."""

    __tablename__ = "warning_backtests"

    id: Mapped[int] = mapped_column(primary_key=True)
    measured_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    date_from: Mapped[dt.date] = mapped_column(Date)
    date_to: Mapped[dt.date] = mapped_column(Date)
    every: Mapped[str] = mapped_column(String(8))
    # warning type -> {"precision": float | None, "flagged_customers": int}
    precisions: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # The share of live customers with an open alert on the last date.
    open_share: Mapped[float | None] = mapped_column(Float)
    rules: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # None: the server's own schedule or the demo
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class AlertCase(Base):
    """A customer's alerts grouped into one case, open while any of them is."""

    __tablename__ = "alert_cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # open, closed
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # What is at stake (CNY), by which the worklist is ordered: expected loss for credit
    # signals, value at risk for churn (alerts.priority); None until first judged.
    priority: Mapped[float | None] = mapped_column(Float, index=True)
    priority_basis: Mapped[str | None] = mapped_column(String(24))


class AlertRoute(Base):
    """Who gets new alerts: the first route (by position) whose conditions all match."""

    __tablename__ = "alert_routes"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=100)
    category: Mapped[str | None] = mapped_column(String(32))
    min_severity: Mapped[str | None] = mapped_column(String(16))
    region: Mapped[str | None] = mapped_column(String(64))
    segment: Mapped[str | None] = mapped_column(String(64))
    # "owner" (the customer's owner) or a user
    assign_to_owner: Mapped[bool] = mapped_column(default=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    escalate_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertSla(Base):
    """How long the assignee has to act on a new alert of a severity (its due time is raised
    at plus these hours); a change applies to alerts raised afterwards."""

    __tablename__ = "alert_slas"

    severity: Mapped[str] = mapped_column(String(16), primary_key=True)
    hours: Mapped[int] = mapped_column(Integer)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertComment(Base):
    """A comment on an alert; @username mentions are kept."""

    __tablename__ = "alert_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    mentions: Mapped[list[int]] = mapped_column(JSONType, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Playbook(Base):
    """What to do about an alert: steps, each run automatically or offered to the assignee."""

    __tablename__ = "playbooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_en: Mapped[str] = mapped_column(String(255))
    name_zh: Mapped[str] = mapped_column(String(255))
    # Applies to alerts of this rule, or (rule_code None) to any alert at or above min_severity.
    rule_code: Mapped[str | None] = mapped_column(String(64))
    min_severity: Mapped[str | None] = mapped_column(String(16))
    # [{"action": "...", "auto": true|false, "params": {...}}]
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertAction(Base):
    """An action of a playbook on an alert: offered, done, or waiting for approval; who did
    it (None: Riskdesk, automatically) and what it produced."""

    __tablename__ = "alert_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    playbook_id: Mapped[int | None] = mapped_column(ForeignKey("playbooks.id"))
    action: Mapped[str] = mapped_column(String(32))
    auto: Mapped[bool] = mapped_column(default=False)
    # offered -> open (a task) -> done; or awaiting_approval (a credit change); cancelled when
    # its alert cleared itself before anyone carried it out
    status: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    performed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Notification(Base):
    """A message for one user in the app: an alert given to them, escalated, or a mention."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))  # alert_assigned, alert_escalated, mention
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    title_en: Mapped[str] = mapped_column(String(255))
    title_zh: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class NotificationSetting(Base):
    """How one user wants to hear about alerts: channels and the least severity."""

    __tablename__ = "notification_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    in_app: Mapped[bool] = mapped_column(default=True)
    email: Mapped[bool] = mapped_column(default=False)
    min_severity: Mapped[str] = mapped_column(String(16), default="low")
    mentions: Mapped[bool] = mapped_column(default=True)


class WebhookEndpoint(Base):
    """A system that wants to hear about alerts: events are POSTed to its URL as JSON, signed
    with HMAC-SHA256 under its secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    # The signing secret must be readable to sign with, so it is encrypted, not hashed.
    secret: Mapped[str] = mapped_column(PersonalData("webhook_endpoints.secret"))
    events: Mapped[list[str]] = mapped_column(JSONType)
    min_severity: Mapped[str] = mapped_column(String(16), default="low")
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """One message to send out (an e-mail or a webhook call), written in the same transaction
    as what it reports, then sent by the delivery worker with retries: the outbox and its log."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # email, webhook
    event: Mapped[str] = mapped_column(String(32))  # alert.raised, alert.escalated, ...
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    subject: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # pending -> delivered; or failed (to be retried) -> ... -> dead after the last attempt
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    # The pass that claimed it: only that pass records the result (a slow pass whose lease ran
    # out must not overwrite what the worker that took over recorded).
    claim: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ChurnFit(Base):
    """BG/NBD parameters fitted on every customer's purchase days as of a date; the newest one
    gives each customer's probability of still being active."""

    __tablename__ = "churn_fits"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    r: Mapped[float] = mapped_column(Float)
    alpha: Mapped[float] = mapped_column(Float)
    a: Mapped[float] = mapped_column(Float)
    b: Mapped[float] = mapped_column(Float)
    customers: Mapped[int] = mapped_column(Integer)
    fitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
