"""Credit exposure, checks and decisions as the API shows them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, model_validator

from riskdesk.kit.validation import (
    Currency,
    ExternalId,
    InputModel,
    LongText,
    PositiveAmount,
    SignedAmount,
    SourceName,
    bounded_json,
)


class _Strict(InputModel):
    """Unknown fields refused, text stripped and free of control characters."""


class CreditCheckIn(_Strict):
    """May this customer have this order on credit?"""

    source: SourceName
    order_external_id: ExternalId = Field(
        description="the order's id in the source; with source the idempotency key of the check"
    )
    customer_code: str | None = Field(default=None, pattern=r"^[Cc]\d{1,9}$")
    customer_external_id: ExternalId | None = None
    customer_source: SourceName | None = None
    amount: PositiveAmount
    currency: Currency
    payment_method: Literal["credit", "cash_on_delivery", "prepaid", "card", "bank_transfer"] = (
        "credit"
    )

    @model_validator(mode="after")
    def _one_customer(self) -> CreditCheckIn:
        if (self.customer_code is None) == (self.customer_external_id is None):
            raise ValueError("give exactly one of customer_code and customer_external_id")
        return self


class CheckStep(BaseModel):
    """One step's result, with the reason in both languages."""

    code: str
    result: str
    en: str
    zh: str


class CreditDecisionRead(BaseModel):
    """A documented credit decision."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    source: str
    order_external_id: str
    amount: Decimal
    currency: str
    outcome: str
    status: str
    reserved: Decimal
    checks: list[CheckStep]
    inputs: dict[str, Any]
    decided_by: str
    requested_by_id: int | None
    resolved_by_id: int | None
    resolution_reason: str | None
    recheck_count: int
    created_at: dt.datetime
    updated_at: dt.datetime


class CreditCheckResult(BaseModel):
    """The answer to a credit check."""

    decision: CreditDecisionRead
    outcome: str
    reasons_en: list[str]
    reasons_zh: list[str]
    available_before: Decimal
    duplicate: bool = False


class Resolution(_Strict):
    """Release or reject a held order."""

    reason: LongText = Field(min_length=3)


class ExposureLine(BaseModel):
    """One category of exposure."""

    category: str
    name_en: str
    name_zh: str
    counts_in_limit: bool
    amount: Decimal


class ExposureRead(BaseModel):
    """A customer's exposure against the limit."""

    customer_id: int
    lines: list[ExposureLine]
    counted: Decimal
    information_only: Decimal
    credit_limit: Decimal
    limit_in_force: Decimal
    limit_currency: str
    available: Decimal
    utilisation: float | None
    group_code: str | None
    group_limit: Decimal | None
    group_exposure: Decimal | None


class SpecialExposureIn(_Strict):
    """Exposure no event shows."""

    category: str = Field(min_length=1, max_length=32)
    amount: SignedAmount
    description: LongText = Field(min_length=3)


class SpecialExposureRead(BaseModel):
    """A special exposure entry."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    category: str
    amount: Decimal
    description: str
    created_at: dt.datetime
    released_at: dt.datetime | None


class CheckRuleRead(BaseModel):
    """A configured check step."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    position: int
    enabled: bool
    reaction: str
    params: dict[str, Any]


class CheckRuleUpdate(_Strict):
    """Change a check step."""

    enabled: bool | None = None
    reaction: Literal["warn", "hold", "reject"] | None = None
    params: (
        Annotated[
            dict[str, StrictInt | StrictFloat | list[str] | None],
            bounded_json(max_depth=2, max_nodes=1000),
        ]
        | None
    ) = None


class CategoryUpdate(_Strict):
    """Count a category in the limit check, or show it for information only."""

    counts_in_limit: bool


class ExposureDifference(BaseModel):
    """A stored exposure that does not match the events."""

    customer_id: int
    category: str
    stored: Decimal
    expected: Decimal


class GroupRead(BaseModel):
    """A customer group with its limit and exposure."""

    code: str
    name: str
    credit_limit: Decimal | None
    limit_currency: str
    members: int
    exposure: Decimal


class GroupLimitIn(_Strict):
    """A new group credit limit (None removes it); applied after a second person approves."""

    credit_limit: Decimal | None = Field(default=None, ge=0, max_digits=16, decimal_places=2)
    limit_currency: Currency = "CNY"
    reason: LongText = Field(min_length=3)


class GroupDecisionIn(_Strict):
    """The decider's comment on a group limit change (optional)."""

    comment: str | None = Field(default=None, max_length=2000)


class GroupLimitChangeRead(BaseModel):
    """A group limit change and its state."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    group_id: int
    old_limit: Decimal | None
    new_limit: Decimal | None
    currency: str
    status: str
    reason: str | None
    requested_by_id: int
    requested_at: dt.datetime
    decided_by_id: int | None
    decided_at: dt.datetime | None
    decision_comment: str | None = None
