"""The monthly credit committee pack (授信委员会月度报告): every figure it shows, gathered once
and then written as PDF or .xlsx. Customers appear by code (and a company's name); an
individual's name is personal data and is never in the pack."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel

from riskdesk.ecl.schemas import Movement, SegmentTotal
from riskdesk.portfolio.migration_schemas import RatingMigration
from riskdesk.portfolio.schemas import PortfolioSummary


class RiskyCustomer(BaseModel):
    """A customer with money past due, among the riskiest."""

    customer_id: int
    code: str
    name: str | None  # a company's name; None for an individual
    tier: str | None
    overdue: Decimal
    days_past_due: int  # of the oldest open invoice past due


class WarningEffect(BaseModel):
    """How the alerts of one warning type and rule raised in the month were worked."""

    warning_type: str
    rule_code: str
    # The rule's name in each language; None for a detector's code or a rule since deleted.
    rule_name_en: str | None = None
    rule_name_zh: str | None = None
    raised: int
    worked: int
    confirmed: int
    false_alarm: int
    sla_breached: int
    open: int
    precision: float | None  # confirmed / (confirmed + false alarms)


class EclBucket(BaseModel):
    """One ageing bucket of the portfolio's provision matrix."""

    segment: str
    bucket: str
    balance: Decimal
    adjusted_rate: float
    ecl: Decimal


class EclSection(BaseModel):
    """The latest expected credit loss run on or before the month's end."""

    run_id: int
    as_of: dt.date
    total_balance: Decimal
    total_ecl: Decimal
    coverage: float | None
    previous_run_id: int | None
    previous_total_ecl: Decimal | None
    buckets: list[EclBucket]
    segments: list[SegmentTotal]
    movement: list[Movement]


class CommitteePack(BaseModel):
    """The pack of one month."""

    month: str  # 2026-11
    start: dt.date
    end: dt.date  # the month's last day, or today while it runs
    generated_at: dt.datetime
    generated_by: str
    summary: PortfolioSummary
    migration: RatingMigration
    worst: list[RiskyCustomer]
    warnings: list[WarningEffect]
    warnings_total: WarningEffect
    ecl: EclSection | None
    ecl_shown: bool  # False: the caller may not read ECL (ecl:read)
