"""What the alerts API accepts and returns: alerts, cases, routes, comments, playbooks and
their actions, notifications, webhooks and deliveries, and what a rule run raised."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from riskdesk.kit.validation import InputModel, bounded_json

# What a rule warns about and how badly: monitoring (below) defines them, alerts carry them.
from riskdesk.monitoring.schemas import Category, Severity


class _Strict(InputModel):
    """Unknown fields refused, text stripped and free of control characters."""


class AlertRead(BaseModel):
    """An alert and where it stands."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int | None  # None: a product-level alert
    product: str | None
    source: str
    rule_code: str
    rule_version_id: int | None
    category: str
    warning_type: str  # the signal it claims (monitoring.warning_types)
    severity: str  # from ``stake`` and ``precision``, no higher than its rule's severity
    # What is at stake (CNY; expected loss, or value at risk for churn) and how often its
    # signal comes true; None on product-level alerts and alerts from before they were kept.
    stake: float | None
    precision: float | None
    status: str
    title_en: str
    title_zh: str
    evidence: dict[str, Any]
    hits: int
    observed_on: dt.date  # the business date whose data raised it
    raised_at: dt.datetime  # when it was written
    last_hit_at: dt.datetime
    assigned_to_id: int | None
    outcome: str | None
    cleared_reason: str | None  # why Riskdesk resolved it: its condition no longer held
    notified: bool  # False: beyond its team's weekly alert budget, listed but not notified
    closed_at: dt.datetime | None
    case_id: int | None
    due_at: dt.datetime | None
    escalation_level: int


class AlertMove(_Strict):
    """Move an alert on; closing needs the outcome."""

    status: Literal["acknowledged", "in_progress", "resolved", "dismissed"]
    outcome: Literal["confirmed", "false_alarm"] | None = None


class RouteIn(_Strict):
    """A routing rule: conditions (None: any) and who gets the alert."""

    position: int = Field(default=100, ge=0, le=10_000)
    category: Category | None = None
    min_severity: Severity | None = None
    region: str | None = Field(default=None, max_length=64)
    segment: str | None = Field(default=None, max_length=64)
    assign_to_owner: bool = True
    username: str | None = Field(default=None, max_length=64)
    escalate_to: str | None = Field(default=None, max_length=64)


class RouteRead(BaseModel):
    """A routing rule as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    position: int
    category: str | None
    min_severity: str | None
    region: str | None
    segment: str | None
    assign_to_owner: bool
    user_id: int | None
    escalate_to_id: int | None


class SlaIn(_Strict):
    """The hours to act on new alerts of a severity: whole hours, up to 90 days."""

    hours: int = Field(ge=1, le=2160)

    @field_validator("hours", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        # JSON true would otherwise be read as 1 hour.
        if isinstance(value, bool):
            raise PydanticCustomError("int_type", "Input should be a valid integer")
        return value


class SlaRead(BaseModel):
    """The hours to act on new alerts of a severity, and who changed them last (none: as
    shipped)."""

    model_config = ConfigDict(from_attributes=True)

    severity: str
    hours: int
    updated_by_id: int | None
    updated_at: dt.datetime | None


class CommentIn(_Strict):
    """A comment; @username mentions colleagues."""

    body: str = Field(min_length=1, max_length=4000)


class CommentRead(BaseModel):
    """A comment on an alert."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    alert_id: int
    author_id: int
    body: str
    mentions: list[int]
    created_at: dt.datetime


class CaseRead(BaseModel):
    """A customer's case and its alerts."""

    id: int
    customer_id: int
    status: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    priority: float | None = None  # what is at stake, CNY
    priority_basis: str | None = None  # expected_loss, value_at_risk, exposure_at_risk
    alerts: list[AlertRead]


class PlaybookStep(_Strict):
    """One step of a playbook."""

    action: Literal[
        "contact_customer",
        "start_collection",
        "retention_offer",
        "hold_orders",
        "reduce_limit",
        "require_prepayment",
        "shorten_terms",
        "escalate",
    ]
    auto: bool = False
    params: Annotated[dict[str, float], bounded_json(max_depth=1, max_nodes=200)] = Field(
        default_factory=dict
    )


class PlaybookIn(_Strict):
    """A playbook for a rule, or for any alert from a severity up."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    name_en: str = Field(min_length=1, max_length=255)
    name_zh: str = Field(min_length=1, max_length=255)
    rule_code: str | None = Field(default=None, max_length=64)
    min_severity: Severity | None = None
    steps: list[PlaybookStep] = Field(min_length=1, max_length=20)


class PlaybookUpdate(_Strict):
    """A playbook's new content (its code stays)."""

    name_en: str = Field(min_length=1, max_length=255)
    name_zh: str = Field(min_length=1, max_length=255)
    rule_code: str | None = Field(default=None, max_length=64)
    min_severity: Severity | None = None
    steps: list[PlaybookStep] = Field(min_length=1, max_length=20)
    active: bool = True


class PlaybookRead(BaseModel):
    """A playbook."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name_en: str
    name_zh: str
    rule_code: str | None
    min_severity: str | None
    steps: list[dict[str, Any]]
    active: bool


class ActionRead(BaseModel):
    """An action on an alert: offered, a task, done or awaiting approval; logged."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    alert_id: int
    playbook_id: int | None
    action: str
    auto: bool
    status: str
    detail: dict[str, Any]
    assigned_to_id: int | None
    due_at: dt.datetime | None
    performed_by_id: int | None
    created_at: dt.datetime
    completed_at: dt.datetime | None


class NotificationRead(BaseModel):
    """A notification."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    alert_id: int | None
    title_en: str
    title_zh: str
    created_at: dt.datetime
    read_at: dt.datetime | None


class NotificationSettingsIn(_Strict):
    """How I want to hear about alerts."""

    in_app: bool = True
    email: bool = False
    min_severity: Severity = "low"
    mentions: bool = True


class NotificationSettingsRead(NotificationSettingsIn):
    """My notification settings."""

    model_config = ConfigDict(from_attributes=True, extra="ignore")


WebhookEvent = Literal["alert.raised", "alert.escalated", "alert.closed"]


def _http_url(value: str) -> str:
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number in range)
    except ValueError as exc:
        raise ValueError(f"has an invalid port: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


HttpUrlText = Annotated[str, Field(min_length=8, max_length=2048), AfterValidator(_http_url)]


class WebhookIn(_Strict):
    """A system to tell about alerts."""

    name: str = Field(min_length=1, max_length=128)
    url: HttpUrlText
    events: list[WebhookEvent] = Field(min_length=1, max_length=10)
    min_severity: Severity = "low"


class WebhookUpdate(_Strict):
    """What to change about an endpoint (omitted: unchanged)."""

    url: HttpUrlText | None = None
    events: list[WebhookEvent] | None = Field(default=None, min_length=1, max_length=10)
    min_severity: Severity | None = None
    active: bool | None = None


class WebhookRead(BaseModel):
    """An endpoint (never its secret)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    url: str
    events: list[str]
    min_severity: str
    active: bool
    created_at: dt.datetime


class WebhookSecret(WebhookRead):
    """An endpoint with its signing secret: shown when it is made or rotated, never again."""

    secret: str


class DeliveryRead(BaseModel):
    """One e-mail or webhook call and how its attempts went."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    event: str
    endpoint_id: int | None
    user_id: int | None
    alert_id: int | None
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    last_status_code: int | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


class WorklistCase(BaseModel):
    """An open case in the worklist."""

    case_id: int
    customer_id: int
    priority: float | None  # what is at stake, CNY
    priority_basis: str | None  # expected_loss, value_at_risk, exposure_at_risk
    open_alerts: int
    warning_types: list[str]
    opened_at: dt.datetime


class EvaluationRead(BaseModel):
    """What a rule run did."""

    customers: int
    raised: int
    refreshed: int
    cleared: int = 0  # alerts resolved because their rule no longer fires (rule runs only)


class RankedCustomer(BaseModel):
    """One of the most unusual customers by the multivariate detector, and why."""

    customer_id: int
    anomaly_score: float
    drivers: dict[str, float | None]  # the three indicators furthest from everyone's


class AnomalyRunRead(EvaluationRead):
    """What an anomaly run raised, and the multivariate ranking (which raises nothing)."""

    ranking: list[RankedCustomer]
