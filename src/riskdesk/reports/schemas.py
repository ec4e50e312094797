"""What an export is asked with and answers; the customer credit report as one document.

The credit report's values are kept as data (amounts, dates, enum codes, texts in both
languages where the domain gives both); its renderers (PDF and print page) translate and format
them for the reader. Personal data in it is already shown or masked exactly as the credit file
shows it to the same caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from riskdesk.credit.schemas import ExposureRead
from riskdesk.customers.schemas import ContactRead, CustomerRead, StatementRead
from riskdesk.kit.exports import Column

ExportLocale = Literal["zh-CN", "en"]


@dataclass(frozen=True)
class ListExport:
    """One list that exports: its name (file name, audit record), its title (translation key:
    the localised file name and the sheet's name) and its columns."""

    name: str
    title: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class ExportFile:
    """A file on its way out: the bytes as they are produced, and what to call them."""

    chunks: Iterator[bytes]
    media_type: str
    disposition: str
    rows: int


# ---------------------------------------------------------------- the credit report

ReportFormat = Literal["pdf", "html"]


class Bilingual(BaseModel):
    """A text the domain wrote in both languages."""

    en: str
    zh: str


class ScoreSummary(BaseModel):
    """The latest score with its rating, tier and reason codes."""

    score: int
    rating: str
    risk_tier: str
    scorecard: str | None
    scored_at: dt.datetime
    as_of: dt.date
    reasons: list[Bilingual]


class ScorePoint(BaseModel):
    """One earlier score."""

    as_of: dt.date
    score: int
    rating: str


class AgeingBucket(BaseModel):
    """Open receivables in one ageing bucket."""

    bucket: str  # current, 1_30, ... over_120
    amount: float | None


class Measure(BaseModel):
    """One behaviour indicator as the catalogue describes it."""

    name: str
    unit: str  # days, share, score, count, CNY
    label: Bilingual
    value: float | None


class StatementRatios(BaseModel):
    """A financial statement with its ratios and Altman score (scoring/ratios.py)."""

    statement: StatementRead
    altman_model: str | None  # z, z_prime, z_double_prime
    altman_score: float | None
    altman_zone: str | None  # safe, grey, distress
    ratios: dict[str, float | None]


class AlertItem(BaseModel):
    """An early warning raised on the customer."""

    id: int
    severity: str
    status: str
    title: Bilingual
    observed_on: dt.date
    last_hit_at: dt.datetime
    case_id: int | None
    outcome: str | None


class CaseItem(BaseModel):
    """A case grouping the customer's alerts."""

    id: int
    status: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    alerts: int


class DecisionItem(BaseModel):
    """An order credit check and its documented decision."""

    created_at: dt.datetime
    order: str
    amount: Decimal
    currency: str
    outcome: str  # approve, hold, reject
    status: str
    reasons: list[Bilingual]


class LimitRequestItem(BaseModel):
    """A limit request and who decided it."""

    id: int
    requested_at: dt.datetime
    current_limit: Decimal
    requested_limit: Decimal
    currency: str
    status: str
    origin: str
    reason: str
    requested_by: str | None
    decided_by: str | None
    decided_at: dt.datetime | None
    comment: str | None


class BureauItem(BaseModel):
    """A bureau report; its own answer (payload) only for roles that see personal data."""

    source: str
    report_date: dt.date
    score: int | None
    recommended_limit: Decimal | None
    details: list[tuple[str, str]]
    masked: bool


class CreditReport(BaseModel):
    """Everything the credit report shows about one customer, as of its generation."""

    generated_at: dt.datetime
    generated_by: str
    customer: CustomerRead
    contacts: list[ContactRead]
    score: ScoreSummary | None
    score_history: list[ScorePoint]
    exposure: ExposureRead
    recommended_limit: Decimal | None
    ageing: list[AgeingBucket]
    indicators_as_of: dt.date | None
    payment_behaviour: list[Measure]
    statements: list[StatementRatios]
    bureau: list[BureauItem]
    alerts: list[AlertItem]
    cases: list[CaseItem]
    decisions: list[DecisionItem]
    limit_requests: list[LimitRequestItem]
    masked: list[str] = Field(
        default_factory=list, description="personal data shown masked for the caller's role"
    )
