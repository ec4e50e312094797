"""What each role's home answers: the figures, already grouped, with the period they cover."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel

from riskdesk.portfolio.schemas import PortfolioFilter


class Count(BaseModel):
    """A labelled count (a status, a product, an action kind)."""

    key: str
    count: int


class AlertQueue(BaseModel):
    """Open alerts assigned to me (and to my team), and where they stand against their SLA."""

    open: int
    due_today: int  # still open, due before the end of today (UTC)
    overdue: int  # still open, past due
    team_open: int | None  # None without a team


class SlaRecord(BaseModel):
    """Alerts assigned to me and closed in the period: on time or late (escalated or closed
    after the due time)."""

    since: dt.date
    on_time: int
    late: int


class WeeklyCodes(BaseModel):
    """Alerts observed per week (Monday first) and rule code, oldest week first; and the same
    alerts per warning type (``types``)."""

    weeks: list[dt.date]
    codes: dict[str, list[int]]
    names: dict[str, dict[str, str]]  # rule code -> locale (en, zh-CN) -> the rule's name
    types: dict[str, list[int]] = {}


class ModelHealth(BaseModel):
    """An active model version: its validation AUC (cross-validated when trained), the PSI of
    its latest scores against training, and its AUC on the newest month whose outcomes have
    matured (kept by the month's first scoring run; None before one, or with no bad customer
    in the month)."""

    version_id: int
    name: str
    version: int
    status: str
    validation_auc: float | None
    score_psi: float | None
    scores_as_of: dt.date | None
    matured_auc: float | None = None
    matured_month: str | None = None  # "YYYY-MM": the month end the outcome window began
    matured_out_of_time: bool = False  # after the training snapshot
    matured_as_of: dt.date | None = None  # when it was computed


class AnalystHome(BaseModel):
    """The risk analyst's home."""

    as_of: dt.date
    period_days: int
    filters: PortfolioFilter
    # The figures the customer filters do not narrow (model health is over every customer).
    not_narrowed: list[str]
    queue: AlertQueue
    sla: SlaRecord
    by_code: WeeklyCodes
    models: list[ModelHealth]


class HeldOrder(BaseModel):
    """An order held by the credit check, waiting for a decision."""

    decision_id: int
    customer_id: int
    customer_code: str
    amount: Decimal
    currency: str
    decided_at: dt.datetime


class PendingRequest(BaseModel):
    """A limit request waiting for a decision."""

    request_id: int
    customer_id: int
    customer_code: str
    current_limit: Decimal
    requested_limit: Decimal
    currency: str
    requested_at: dt.datetime


class SalesHome(BaseModel):
    """The salesperson's home: their customers' limits and exposure (the portfolio's figures
    over their own customers), held orders and pending limit requests."""

    as_of: dt.date
    currency: str
    customers: int
    credit_limit: Decimal
    exposure: Decimal
    available: Decimal
    utilisation: float | None
    overdue: Decimal
    overdue_customers: int
    held_orders: int
    held_amount: Decimal
    limit_requests: int
    held: list[HeldOrder]
    requests: list[PendingRequest]


class ComplaintSla(BaseModel):
    """Complaints by SLA status: open within or past SLA, closed (in the period) on time or
    late; by product too."""

    since: dt.date
    open_within: int
    open_breached: int
    closed_on_time: int
    closed_late: int
    by_product: dict[str, dict[str, int]]  # product -> SLA status -> complaints


class MonthlyScore(BaseModel):
    """The average survey score of a month."""

    month: str  # YYYY-MM
    survey_type: str  # csat (1-5) or nps (0-10)
    average: float
    responses: int


class ChurnRisk(BaseModel):
    """One of my customers with a high churn risk (BG/NBD with decline signals)."""

    customer_id: int
    customer_code: str
    risk: float
    p_alive: float | None
    band: str | None


class ServiceHome(BaseModel):
    """The customer-service home."""

    as_of: dt.date
    period_days: int
    filters: PortfolioFilter
    not_narrowed: list[str]
    complaints: ComplaintSla
    satisfaction: list[MonthlyScore]
    churn_fitted: bool
    churn: list[ChurnRisk]


class DailyActions(BaseModel):
    """Audit entries per day and action kind, oldest day first."""

    days: list[dt.date]
    actions: dict[str, list[int]]


class Approver(BaseModel):
    """Four-eyes decisions of one person in the period (credit-file changes, limit requests,
    group limits, rule versions)."""

    user_id: int
    username: str
    approved: int
    rejected: int


class Revealer(BaseModel):
    """Personal data one person saw in the period: shown in full on a page (views) and
    revealed on request, with a reason (reveals)."""

    actor: str
    views: int
    reveals: int


class AuditorHome(BaseModel):
    """The auditor's home."""

    as_of: dt.date
    period_days: int
    filters: PortfolioFilter
    # The audit log, four-eyes decisions and reveals are what people did; the customer
    # filters do not narrow them (listed here when a filter is set).
    not_narrowed: list[str]
    since: dt.datetime
    activity: DailyActions
    approvers: list[Approver]
    # Refused self-approvals roll back with their request and are not recorded.
    self_approvals_recorded: bool
    reveals: list[Revealer]


class QueueStatus(BaseModel):
    """The event queue: rows waiting, partitions with work, the oldest wait, dead letters."""

    rows: int
    partitions: int
    max_lag_seconds: float
    dead_letters: int


class SystemStatus(BaseModel):
    """The database, its schema revision, the event queue and the job workers' heartbeat."""

    database: str
    revision: str | None
    head_revision: str | None
    queue: QueueStatus
    # The newest heartbeat of a running background job (None: no job running). Event workers
    # keep no heartbeat; their queue lag above stands for it.
    job_heartbeat_at: dt.datetime | None


class AdminHome(BaseModel):
    """The admin's home."""

    as_of: dt.date
    since: dt.datetime
    jobs: list[Count]  # queued and running now; failed, done, cancelled in the last 24 h
    deliveries: list[Count]  # pending and failed now; delivered and dead in the last 24 h
    system: SystemStatus
