"""What the early-warning API accepts and returns: rules, backtests, churn; and the categories
and severities rules warn with (alerts carry them)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from riskdesk.kit.validation import InputModel, PastDate
from riskdesk.monitoring.warning_types import WarningTypeCode

Severity = Literal["low", "medium", "high", "critical"]


Category = Literal[
    "purchase",
    "payment",
    "receivables",
    "exposure",
    "score",
    "returns",
    "complaints",
    "satisfaction",
    "churn",
    "other",
]


class _Strict(InputModel):
    """Unknown fields refused, text stripped and free of control characters."""


class Scope(_Strict):
    """Which customers a rule applies to (empty: all)."""

    kinds: list[Literal["company", "individual"]] = Field(default_factory=list)
    segments: list[str] = Field(default_factory=list, max_length=50)


class RuleVersionIn(_Strict):
    """What a version of a rule checks, and how it warns."""

    expression: str = Field(min_length=1, max_length=4000)
    # When an alert of the rule clears: None, as soon as the rule no longer fires; else only
    # once this holds too (hysteresis: raise on a large move, clear on a real recovery).
    clear_expression: str | None = Field(default=None, min_length=1, max_length=4000)
    severity: Severity
    scope: Scope = Field(default_factory=Scope)
    dedup_days: int = Field(default=30, ge=0, le=365)
    actions: list[str] = Field(default_factory=list, max_length=20)
    note: str | None = Field(default=None, max_length=2000)


class RuleIn(RuleVersionIn):
    """A new rule with its first version (a draft)."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    name_en: str = Field(min_length=1, max_length=255)
    name_zh: str = Field(min_length=1, max_length=255)
    category: Category
    # The signal it claims; None: the type of its category (monitoring.warning_types).
    warning_type: WarningTypeCode | None = None


class CheckIn(_Strict):
    """An expression to check without saving it."""

    expression: str = Field(min_length=1, max_length=4000)


class CheckOut(BaseModel):
    """Whether an expression is valid, and what it reads or where it is wrong."""

    valid: bool
    reads: list[str] = Field(default_factory=list)
    error: str | None = None
    position: int | None = None


class RuleVersionRead(BaseModel):
    """A version of a rule and where it stands."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    version: int
    status: str
    expression: str
    clear_expression: str | None
    severity: str
    scope: dict[str, Any]
    dedup_days: int
    actions: list[str]
    note: str | None
    created_by_id: int | None
    created_at: dt.datetime
    approved_by_id: int | None
    approved_at: dt.datetime | None
    activated_at: dt.datetime | None
    retired_at: dt.datetime | None


class RuleRead(BaseModel):
    """A rule with its versions, newest first."""

    code: str
    name_en: str
    name_zh: str
    category: str
    warning_type: str
    versions: list[RuleVersionRead]


class BacktestIn(_Strict):
    """Run an expression over the history, month end by month end."""

    expression: str = Field(min_length=1, max_length=4000)
    months: int = Field(default=12, ge=1, le=36)
    horizon_days: int = Field(default=180, ge=7, le=730)
    outcome: Literal["default", "churn"] = "default"


class ReplayIn(_Strict):
    """Replay the warning pack over the stored history, as of each date in a span; with a
    rule version, side by side with the pack as it would be with that version."""

    from_: PastDate = Field(alias="from")
    to: PastDate | None = None  # default today
    every: Literal["week", "month"] = "month"
    version_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    horizon_days: int = Field(default=180, ge=7, le=730)


class ChurnFitRead(BaseModel):
    """A BG/NBD fit."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    as_of: dt.date
    r: float
    alpha: float
    a: float
    b: float
    customers: int
    fitted_at: dt.datetime


class ChurnRiskRead(BaseModel):
    """One customer's churn risk."""

    customer_id: int
    p_alive: float | None
    expected_purchases: float | None
    decline: float | None
    risk: float | None
    band: str | None
    fit: ChurnFitRead | None


class PackUpdateRead(BaseModel):
    """A draft of a shipped rule, bringing it to the default pack of this release."""

    code: str
    version: RuleVersionRead


class PackUpdatesRead(BaseModel):
    """The drafts made, and the rules left alone because a version of theirs awaits a
    decision."""

    drafted: list[PackUpdateRead]
    waiting: list[str]
