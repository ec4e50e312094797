"""What the portfolio dashboard answers: the filters it was asked with and every figure."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, Field


class PortfolioFilter(BaseModel):
    """Which customers the figures cover, and the period of the flow figures (alerts)."""

    region: str | None = Field(default=None, max_length=64)
    segment: str | None = Field(default=None, max_length=64)
    owner_id: int | None = Field(default=None, ge=1)
    tier: str | None = Field(default=None, max_length=16)
    industry: str | None = Field(default=None, max_length=64)
    period_days: int = Field(default=30, ge=1, le=3660)


class Totals(BaseModel):
    """Exposure and limits in total."""

    customers: int
    exposure: Decimal
    credit_limit: Decimal
    available: Decimal
    utilisation: float | None  # exposure / limits; None without limits


class UtilisationBand(BaseModel):
    """Customers whose exposure / limit falls in a band (``no_limit``: limit zero)."""

    band: str
    customers: int
    exposure: Decimal
    credit_limit: Decimal


class Overdue(BaseModel):
    """Open receivables and the part past its due date."""

    open_receivables: Decimal
    overdue: Decimal
    share: float | None  # overdue / open receivables
    customers: int  # with something overdue


class AgeingBucket(BaseModel):
    """Open receivables by days past due: current, 1_30, 31_60, 61_90, over_90."""

    bucket: str
    customers: int
    amount: Decimal


class TierShare(BaseModel):
    """Customers, exposure and limits of one risk tier (``unrated``: no tier yet)."""

    tier: str
    customers: int
    exposure: Decimal
    credit_limit: Decimal


class TopExposure(BaseModel):
    """One of the largest exposures. An individual's name is personal data: not shown here."""

    customer_id: int
    code: str
    name: str | None
    tier: str | None
    exposure: Decimal
    credit_limit: Decimal
    utilisation: float | None


class ConcentrationItem(BaseModel):
    """Exposure of one industry, region or group (or a customer outside any group)."""

    key: str | None  # industry, region or group code; None for a customer outside any group
    name: str | None  # the group's name
    customer_id: int | None  # for a customer outside any group
    exposure: Decimal
    share: float


class Concentration(BaseModel):
    """Exposure by one dimension: the largest, and the Herfindahl-Hirschman index over all
    (0 to 10,000; above 2,500 is commonly read as highly concentrated)."""

    dimension: str
    hhi: float | None
    items: list[ConcentrationItem]


class WorkWaiting(BaseModel):
    """Held orders or limit requests waiting for a decision."""

    count: int
    amount: Decimal


class AlertFunnel(BaseModel):
    """Customer alerts observed in the period, and how far they were worked."""

    since: dt.date
    raised: int
    worked: int  # taken up: acknowledged or further
    closed: int  # resolved or dismissed
    confirmed: int
    false_alarm: int
    sla_breached: int
    open: int


class ReviewsDue(BaseModel):
    """Periodic reviews overdue and due within the horizon."""

    overdue: int
    due: int
    horizon_days: int


class MonthTrend(BaseModel):
    """One month of the collection trends: at its end (or today, for the month so far) the
    open receivables by ageing bucket, and over the month the credit sales, DSO, best possible
    DSO, average days delinquent (ADD = DSO - best DSO) and the collection effectiveness index
    (CEI, percent). A ratio is None where it has no meaning (no sales; nothing collectable)."""

    month_end: dt.date  # the month's last day, or today for the month so far
    days: int  # days in the month (so far)
    month_to_date: bool
    sales: Decimal  # invoices issued in the month
    ar: Decimal  # open receivables at month end
    current_ar: Decimal  # of which not yet due
    ageing: dict[str, Decimal]  # current, 1_30, 31_60, 61_90, over_90
    dso: float | None
    best_dso: float | None
    add: float | None
    cei: float | None


class EclCard(BaseModel):
    """The latest stored expected credit loss run (``run_id`` None: no run yet). Without
    filters, the run's own totals; with filters, its results summed over the customers in
    scope (``scoped``)."""

    run_id: int | None
    as_of: dt.date | None
    customers: int
    balance: Decimal
    ecl: Decimal
    coverage: float | None  # ECL / balance
    scoped: bool


class PortfolioSummary(BaseModel):
    """The credit manager's portfolio dashboard."""

    as_of: dt.date
    currency: str
    filters: PortfolioFilter
    totals: Totals
    utilisation: list[UtilisationBand]
    overdue: Overdue
    ageing: list[AgeingBucket]
    tiers: list[TierShare]
    top_exposures: list[TopExposure]
    concentration: list[Concentration]
    held_orders: WorkWaiting
    limit_requests: WorkWaiting
    alerts: AlertFunnel
    reviews: ReviewsDue
    trends: list[MonthTrend]  # the last 12 months, then the month so far
    ecl: EclCard | None  # None: the caller may not read ECL
