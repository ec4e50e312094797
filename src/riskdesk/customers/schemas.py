"""Request and response models of the credit file."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from riskdesk.kit.validation import (
    USCC,
    Amount,
    BusinessDate,
    Currency,
    DbId,
    Email,
    ExternalId,
    InputModel,
    JsonObject,
    LongText,
    PastDate,
    Phone,
    ResidentId,
    SignedAmount,
    SourceName,
    Text64,
    Text128,
    Text255,
)
from riskdesk.privacy.schemas import ConsentIn


class CustomerKind(StrEnum):
    """A company (B2B) or an individual (consumer)."""

    COMPANY = "company"
    INDIVIDUAL = "individual"


class CustomerStatus(StrEnum):
    """Lifecycle of a customer."""

    PROSPECT = "prospect"
    ACTIVE = "active"
    INACTIVE = "inactive"
    CLOSED = "closed"
    MERGED = "merged"


class Segment(StrEnum):
    """Customer segments; peers are compared within a segment."""

    B2B_ENTERPRISE = "b2b_enterprise"
    B2B_SME = "b2b_sme"
    CONSUMER = "consumer"


RATINGS = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C", "D")


class _Strict(InputModel):
    """Unknown fields refused, text stripped and free of control characters."""


class CustomerFields(_Strict):
    """Fields a client may set on a customer (all optional: used for updates too)."""

    name: Text255 | None = None
    tax_id: USCC | None = None
    national_id: ResidentId | None = None
    phone: Phone | None = None
    email: Email | None = None
    address: LongText | None = None
    bank_account: str | None = Field(default=None, pattern=r"^[0-9 -]{8,34}$")
    segment: Segment | None = None
    industry: Text64 | None = None
    region: Text64 | None = None
    owner: Text64 | None = Field(default=None, description="username of the responsible user")
    group_code: Text64 | None = None
    group_name: Text255 | None = None
    status: CustomerStatus | None = None
    credit_limit: Amount | None = None
    limit_currency: Currency | None = Field(
        default=None, validation_alias=AliasChoices("limit_currency", "currency")
    )
    limit_valid_from: BusinessDate | None = None
    limit_valid_to: BusinessDate | None = None
    payment_terms_days: int | None = Field(default=None, ge=0, le=365)
    prepayment_required: bool | None = None
    rating_override: str | None = Field(default=None, pattern="^(" + "|".join(RATINGS) + ")$")
    blocked: bool | None = None
    blocked_reason: LongText | None = None
    last_review_date: PastDate | None = None
    next_review_date: BusinessDate | None = None

    @model_validator(mode="after")
    def _cross_field(self) -> CustomerFields:
        if (
            self.limit_valid_from
            and self.limit_valid_to
            and self.limit_valid_to < self.limit_valid_from
        ):
            raise ValueError("limit_valid_to must not be before limit_valid_from")
        if self.blocked and not self.blocked_reason:
            raise ValueError("blocked_reason is required when blocking a customer")
        if self.status == CustomerStatus.MERGED:
            raise ValueError("status 'merged' is set only by a merge")
        return self


class CustomerCreate(CustomerFields):
    """A new customer, or an update of a known one matched by (source, external_id)."""

    source: SourceName
    external_id: ExternalId
    kind: CustomerKind
    name: Text255
    consents: list[ConsentIn] | None = Field(
        default=None,
        max_length=10,
        description="consents the person gave where the record came from (shop sign-up, form)",
    )
    reason: LongText | None = None

    @model_validator(mode="after")
    def _kind_rules(self) -> CustomerCreate:
        if self.kind == CustomerKind.COMPANY and self.national_id:
            raise ValueError("national_id is for individuals; companies have a tax_id")
        if self.kind == CustomerKind.INDIVIDUAL and self.tax_id:
            raise ValueError("tax_id is for companies; individuals have a national_id")
        return self


class CustomerUpdate(CustomerFields):
    """A change to a credit file; critical fields wait for a second person's approval."""

    reason: LongText | None = None
    expected_version: int | None = Field(
        default=None, ge=1, description="reject the change if the file moved on"
    )


class UserRef(BaseModel):
    """A user, briefly."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str


class GroupRef(BaseModel):
    """A customer group, briefly."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str


class ExternalRefRead(BaseModel):
    """An id in a source system."""

    model_config = ConfigDict(from_attributes=True)

    source: str
    external_id: str


class CreditProfileRead(BaseModel):
    """The customer's credit profile."""

    model_config = ConfigDict(from_attributes=True)

    score: int | None
    rating: str | None
    rating_override: str | None
    risk_tier: str | None
    credit_limit: Decimal
    limit_currency: str
    limit_valid_from: dt.date | None
    limit_valid_to: dt.date | None
    payment_terms_days: int
    prepayment_required: bool
    blocked: bool
    blocked_reason: str | None
    last_review_date: dt.date | None
    next_review_date: dt.date | None


class CustomerSummary(BaseModel):
    """A row of the customer list."""

    id: int
    code: str
    kind: str
    name: str
    tax_id: str | None
    segment: str | None
    industry: str | None
    region: str | None
    status: str
    owner: UserRef | None
    risk_tier: str | None
    rating: str | None
    credit_limit: Decimal
    limit_currency: str
    blocked: bool


class CustomerRead(BaseModel):
    """The whole credit file header: master data and credit profile."""

    id: int
    code: str
    kind: str
    name: str
    tax_id: str | None
    national_id: str | None
    phone: str | None
    email: str | None
    address: str | None
    bank_account: str | None
    segment: str | None
    industry: str | None
    region: str | None
    status: str
    owner: UserRef | None
    group: GroupRef | None
    merged_into: str | None
    external_refs: list[ExternalRefRead]
    profile: CreditProfileRead
    version: int
    pending_changes: int
    created_at: dt.datetime
    updated_at: dt.datetime
    masked: list[str] = Field(
        default_factory=list,
        description="fields shown masked for your role; POST .../reveal shows one in full",
    )
    erased_at: dt.datetime | None = Field(
        default=None, description="when the person's data was erased (a data-subject request)"
    )


class FieldChange(BaseModel):
    """One field's old and new value."""

    field: str
    old: str | None
    new: str | None


class VersionRead(BaseModel):
    """One entry of a credit file's history."""

    version: int
    action: str
    changed_at: dt.datetime
    changed_by: UserRef | None
    approved_by: UserRef | None
    reason: str | None
    channel: str
    changes: list[FieldChange]


class PendingChangeRead(BaseModel):
    """A change waiting for approval."""

    id: int
    customer_id: int
    customer_code: str
    customer_name: str
    status: str
    requested_by: UserRef
    requested_at: dt.datetime
    reason: str | None
    channel: str
    decided_by: UserRef | None
    decided_at: dt.datetime | None
    decision_comment: str | None
    changes: list[FieldChange]


class UpdateResult(BaseModel):
    """What an update did: applied at once, and/or waiting for approval."""

    customer: CustomerRead
    applied: list[FieldChange]
    pending_change: PendingChangeRead | None


class Decision(_Strict):
    """Approve or reject a pending change."""

    comment: LongText | None = None


class ContactCreate(_Strict):
    """A contact person."""

    name: Text128
    title: Text128 | None = None
    phone: Phone | None = None
    email: Email | None = None
    is_primary: bool = False
    reason: LongText | None = None


class ContactRead(BaseModel):
    """A contact person."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    title: str | None
    phone: str | None
    email: str | None
    is_primary: bool
    masked: list[str] = Field(default_factory=list)


class RevealRequest(_Strict):
    """Which value to show in full, and why (the reason is kept in the audit log)."""

    field: Literal["national_id", "phone", "email", "address", "bank_account"]
    reason: str = Field(min_length=3, max_length=500)
    contact_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class RevealResult(BaseModel):
    """The value in full."""

    field: str
    value: str | None
    contact_id: int | None = None


STATEMENT_FIGURES = (
    "revenue",
    "total_assets",
    "total_liabilities",
    "current_assets",
    "current_liabilities",
    "retained_earnings",
    "ebit",
    "equity",
    "net_income",
    "cash",
    "inventory",
    "interest_expense",
    "market_value_equity",
)


class StatementCreate(_Strict):
    """Key figures of one period's financial statements."""

    customer_code: str | None = Field(default=None, pattern=r"^[Cc]\d{1,9}$")
    customer_external_id: ExternalId | None = None
    customer_source: SourceName | None = None
    source: SourceName | None = None
    period_end: PastDate
    period_type: str = Field(default="annual", pattern="^(annual|half_year|quarter)$")
    currency: Currency = "CNY"
    revenue: SignedAmount | None = None
    total_assets: SignedAmount | None = None
    total_liabilities: SignedAmount | None = None
    current_assets: SignedAmount | None = None
    current_liabilities: SignedAmount | None = None
    retained_earnings: SignedAmount | None = None
    ebit: SignedAmount | None = None
    equity: SignedAmount | None = None
    net_income: SignedAmount | None = None
    cash: SignedAmount | None = None
    inventory: SignedAmount | None = None
    interest_expense: SignedAmount | None = None
    # Listed companies: market capitalisation at the period end (for Altman's original Z).
    market_value_equity: SignedAmount | None = None

    @model_validator(mode="after")
    def _consistent(self) -> StatementCreate:
        _check_customer_ref(
            self.customer_code, self.customer_external_id, self.customer_source or self.source
        )
        for part, whole in (
            ("current_assets", "total_assets"),
            ("current_liabilities", "total_liabilities"),
            ("cash", "total_assets"),
            ("inventory", "current_assets"),
        ):
            p, w = getattr(self, part), getattr(self, whole)
            if p is not None and w is not None and p > w:
                raise ValueError(f"{part} cannot exceed {whole}")
        for name in (
            "total_assets",
            "total_liabilities",
            "current_assets",
            "current_liabilities",
            "cash",
            "inventory",
            "market_value_equity",
        ):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} cannot be negative")
        return self


class StatementRead(BaseModel):
    """A stored statement."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    period_end: dt.date
    period_type: str
    currency: str
    revenue: Decimal | None
    total_assets: Decimal | None
    total_liabilities: Decimal | None
    current_assets: Decimal | None
    current_liabilities: Decimal | None
    retained_earnings: Decimal | None
    ebit: Decimal | None
    equity: Decimal | None
    net_income: Decimal | None
    cash: Decimal | None
    inventory: Decimal | None
    interest_expense: Decimal | None
    market_value_equity: Decimal | None
    source: str | None


class CreditReportCreate(_Strict):
    """A report from an external credit bureau."""

    customer_code: str | None = Field(default=None, pattern=r"^[Cc]\d{1,9}$")
    customer_external_id: ExternalId | None = None
    customer_source: SourceName | None = None
    source: SourceName
    external_id: ExternalId
    report_date: PastDate
    score: int | None = Field(default=None, ge=0, le=1000)
    recommended_limit: Amount | None = None
    payload: JsonObject | None = None

    @model_validator(mode="after")
    def _customer(self) -> CreditReportCreate:
        _check_customer_ref(self.customer_code, self.customer_external_id, self.customer_source)
        return self


def _check_customer_ref(code: str | None, external_id: str | None, source: str | None) -> None:
    if (code is None) == (external_id is None):
        raise ValueError("give exactly one of customer_code and customer_external_id")
    if external_id is not None and source is None:
        raise ValueError("customer_source is required with customer_external_id")


class CreditReportRead(BaseModel):
    """A stored bureau report."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    external_id: str
    report_date: dt.date
    score: int | None
    recommended_limit: Decimal | None
    payload: dict[str, Any] | None
    masked: list[str] = Field(default_factory=list)


class DocumentRead(BaseModel):
    """A document's metadata."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    category: str | None
    description: str | None
    uploaded_at: dt.datetime


class DuplicateCandidate(BaseModel):
    """Two customers that may be the same."""

    first: CustomerSummary
    second: CustomerSummary
    reason: str
    similarity: float


class MergeRequest(_Strict):
    """Fold ``duplicate`` into ``survivor``."""

    duplicate_id: DbId
    reason: LongText = Field(min_length=3)
