"""What the policy and limit-request API accepts and returns."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from riskdesk.kit.validation import BusinessDate, Currency, InputModel


class _Strict(InputModel):
    """Unknown fields refused, text stripped and free of control characters."""


Amount = Decimal


class TierPolicyIn(_Strict):
    """A tier's policy."""

    limit_multiplier: float = Field(ge=0, le=100)
    payment_terms_days: int = Field(ge=0, le=365)
    prepayment_required: bool = False
    review_months: int = Field(ge=1, le=60)
    equity_share: float | None = Field(default=None, ge=0, le=10)
    revenue_share: float | None = Field(default=None, ge=0, le=10)
    use_bureau_limit: bool = True
    min_limit: Decimal = Field(default=Decimal("0"), ge=0, max_digits=16, decimal_places=2)
    max_limit: Decimal | None = Field(default=None, ge=0, max_digits=16, decimal_places=2)
    round_to: Decimal = Field(default=Decimal("1000"), gt=0, max_digits=16, decimal_places=2)

    @model_validator(mode="after")
    def _bounds(self) -> TierPolicyIn:
        if self.max_limit is not None and self.max_limit < self.min_limit:
            raise ValueError("max_limit must not be below min_limit")
        return self


class TierPolicyRead(TierPolicyIn):
    """A tier's policy as stored."""

    model_config = ConfigDict(from_attributes=True)

    tier: str
    updated_at: dt.datetime


class RecommendationRead(BaseModel):
    """What the policy recommends for a customer, with the parts of the formula."""

    customer_id: int
    risk_tier: str | None
    current_limit: Decimal
    limit_currency: str
    recommended_limit: Decimal | None = None
    expected_monthly_purchases: float | None = None
    formula_limit: float | None = None
    equity_cap: float | None = None
    revenue_cap: float | None = None
    bureau_cap: float | None = None
    payment_terms_days: int | None = None
    prepayment_required: bool | None = None
    review_months: int | None = None
    limit_multiplier: float | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    round_to: float | None = Field(
        default=None, description="The tier's step: the limit is rounded down to a multiple."
    )


class LimitRequestIn(_Strict):
    """Ask for a new credit limit."""

    requested_limit: Decimal = Field(ge=0, max_digits=16, decimal_places=2)
    currency: Currency = "CNY"
    reason: str = Field(min_length=3, max_length=2000)
    expires_in_days: int = Field(default=14, ge=1, le=90)


class DecisionIn(_Strict):
    """A comment on a decision."""

    comment: str | None = Field(default=None, max_length=2000)


class LimitRequestRead(BaseModel):
    """A limit request and where it stands."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    current_limit: Decimal
    requested_limit: Decimal
    currency: str
    risk_tier: str | None
    reason: str
    origin: str
    # As of now: a pending request past its expiry reads as expired before the sweep writes it.
    status: str = Field(validation_alias=AliasChoices("current_status", "status"))
    requested_by_id: int
    requested_at: dt.datetime
    expires_at: dt.datetime
    decided_by_id: int | None
    on_behalf_of_id: int | None
    decided_at: dt.datetime | None
    decision_comment: str | None


class AuthorityIn(_Strict):
    """A row of the approval matrix: a role or a user, a tier or any, up to an amount."""

    role: str | None = Field(
        default=None, pattern="^(credit_manager|risk_analyst|sales|customer_service|auditor|admin)$"
    )
    username: str | None = Field(default=None, max_length=64)
    tier: str | None = Field(default=None, pattern="^(low|medium|high|critical)$")
    max_limit: Decimal = Field(ge=0, max_digits=16, decimal_places=2)

    @model_validator(mode="after")
    def _who(self) -> AuthorityIn:
        if (self.role is None) == (self.username is None):
            raise ValueError("give either role or username")
        return self


class AuthorityRead(BaseModel):
    """A row of the approval matrix."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    role: str | None
    user_id: int | None
    tier: str | None
    max_limit: Decimal


class DelegationIn(_Strict):
    """Lend one's approval authority to a colleague for a period."""

    to_username: str = Field(min_length=1, max_length=64)
    valid_from: BusinessDate
    valid_to: BusinessDate
    reason: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _period(self) -> DelegationIn:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to must not be before valid_from")
        return self


class DelegationRead(BaseModel):
    """A delegation of approval authority."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    from_user_id: int
    to_user_id: int
    valid_from: dt.date
    valid_to: dt.date
    reason: str | None
    revoked_at: dt.datetime | None


class ReviewComplete(_Strict):
    """The reviewer's decision and sign-off."""

    outcome: str = Field(pattern="^(confirmed|watch|limit_change|block)$")
    comment: str = Field(min_length=3, max_length=4000)
    new_limit: Decimal | None = Field(default=None, ge=0, max_digits=16, decimal_places=2)

    @model_validator(mode="after")
    def _limit(self) -> ReviewComplete:
        if self.outcome == "limit_change" and self.new_limit is None:
            raise ValueError("new_limit is required when the outcome is limit_change")
        if self.outcome != "limit_change" and self.new_limit is not None:
            raise ValueError("new_limit is only for the outcome limit_change")
        return self


class ReviewRead(BaseModel):
    """A periodic review: evidence, decision, sign-off."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    status: str
    due_date: dt.date | None
    risk_tier: str | None
    evidence: dict[str, Any]
    opened_by_id: int
    opened_at: dt.datetime
    outcome: str | None
    comment: str | None
    signed_off_by_id: int | None
    signed_off_at: dt.datetime | None
    next_review_date: dt.date | None
    limit_request_id: int | None
    pending_change_id: int | None


class QueueEntry(BaseModel):
    """A customer whose review is due."""

    customer_id: int
    code: str
    name: str
    risk_tier: str | None
    score: int | None
    last_review_date: dt.date | None
    next_review_date: dt.date
    overdue: bool
    open_review_id: int | None
