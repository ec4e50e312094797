"""API shapes of the expected credit loss: runs, their matrix, movement, customers, and the
forward-looking adjustments."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from riskdesk.customers.schemas import Segment
from riskdesk.ecl.matrix import (
    MAX_LOOKBACK_MONTHS,
    MIN_LOOKBACK_MONTHS,
    PORTFOLIO,
    UNSEGMENTED,
)
from riskdesk.kit.validation import InputModel, LongText, PastDate

# What an adjustment may name: the whole portfolio, a customer segment, or "no segment".
ADJUSTABLE = (PORTFOLIO, *(s.value for s in Segment), UNSEGMENTED)


class AdjustmentStatus(StrEnum):
    """Lifecycle of a forward-looking adjustment."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


class RunIn(InputModel):
    """Compute (or find) the provision matrix as of a reporting date."""

    as_of: PastDate | None = Field(default=None, description="reporting date; default today")
    lookback_months: int = Field(
        default=24, ge=MIN_LOOKBACK_MONTHS, le=MAX_LOOKBACK_MONTHS, description="history window"
    )


class AdjustmentIn(InputModel):
    """A proposed forward-looking multiplier for a segment (or the portfolio)."""

    segment: str = Field(description="portfolio, a customer segment, or none")
    multiplier: float = Field(ge=0.5, le=3.0, description="applied to the historical rates")
    reason: LongText = Field(min_length=10, description="why the future differs from the past")

    @field_validator("segment")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in ADJUSTABLE:
            raise ValueError(f"segment must be one of {', '.join(ADJUSTABLE)}")
        return value


class DecisionIn(InputModel):
    """A second person's decision on a proposed adjustment."""

    comment: LongText | None = None


class AdjustmentRead(BaseModel):
    """A forward-looking adjustment and who proposed and decided it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    segment: str
    multiplier: float
    reason: str
    status: AdjustmentStatus
    proposed_by_id: int
    proposed_at: dt.datetime
    decided_by_id: int | None
    decided_at: dt.datetime | None
    decision_comment: str | None


class RunRead(BaseModel):
    """A stored run of the provision matrix."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    as_of: dt.date
    lookback_months: int
    customers: int
    total_balance: Decimal
    total_ecl: Decimal
    created_by_id: int | None
    created_at: dt.datetime


class MatrixRow(BaseModel):
    """One ageing bucket of a segment's matrix (rates are shares: 0.05 is 5%)."""

    segment: str
    bucket: str
    rates_from: str
    base: Decimal = Field(description="month-end balances in the bucket over the window")
    rolled: Decimal = Field(description="of it, what sat in a later bucket a month later")
    stayed: Decimal = Field(description="of it, what sat in the same bucket a month later")
    roll_rate: float
    historical_rate: float
    multiplier: float
    adjusted_rate: float
    balance: Decimal
    ecl: Decimal


class MonthEndBalance(BaseModel):
    """An input: a segment's open balance in a bucket at a month end."""

    segment: str
    date: dt.date
    bucket: str
    balance: Decimal


class SegmentTotal(BaseModel):
    """A segment's balance and ECL on the reporting date."""

    segment: str
    rates_from: str
    balance: Decimal
    ecl: Decimal
    coverage: float | None = Field(description="ECL / balance")


class Movement(BaseModel):
    """The change of one segment's bucket since the previous run."""

    segment: str
    bucket: str
    balance_change: Decimal
    adjusted_rate_change: float
    ecl_change: Decimal


class RunDetail(RunRead):
    """A run with its matrix, inputs, totals and movement against the previous run."""

    matrix: list[MatrixRow]
    month_end_balances: list[MonthEndBalance]
    adjustments: list[dict[str, object]]
    segments: list[SegmentTotal]
    previous_run_id: int | None
    movement: list[Movement]


class CustomerResult(BaseModel):
    """A customer's balances per bucket on the reporting date and their ECL."""

    model_config = ConfigDict(from_attributes=True)

    customer_id: int
    name: str | None = Field(default=None, description="company name (individuals: none)")
    segment: str
    rates_from: str
    current: Decimal
    dpd_1_30: Decimal
    dpd_31_60: Decimal
    dpd_61_90: Decimal
    dpd_91_180: Decimal
    dpd_over_180: Decimal
    balance: Decimal
    ecl: Decimal
