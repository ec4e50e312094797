"""Event records as clients send them (API, batches, files) and as they are read back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from riskdesk.kit.validation import (
    Amount,
    BusinessDate,
    Currency,
    ExternalId,
    InputModel,
    LongText,
    PastDate,
    PastTimestamp,
    PositiveAmount,
    RawRecord,
    SelfChecked,
    SignedAmount,
    SourceName,
    Text64,
    Text128,
)

Channel = Literal["online", "sales_rep", "marketplace", "phone", "store", "edi", "other"]
PaymentMethodOfOrder = Literal["credit", "cash_on_delivery", "prepaid", "card", "bank_transfer"]
PaymentMethod = Literal["bank_transfer", "cash", "card", "cheque", "bill", "offset", "other"]
ReturnReason = Literal[
    "defective",
    "not_as_described",
    "changed_mind",
    "damaged_in_transit",
    "wrong_item",
    "late_delivery",
    # Claims without goods coming back: refunds asked for parcels said never to have arrived, or
    # to have arrived empty. Return abuse reads these apart from ordinary returns.
    "item_not_received",
    "empty_package",
    "no_reason",
    "other",
]
ComplaintCategory = Literal["product_quality", "delivery", "billing", "service", "other"]
Severity = Literal["low", "medium", "high", "critical"]
ComplaintStatus = Literal["open", "in_progress", "resolved", "closed"]
InteractionChannel = Literal["phone", "email", "visit", "chat", "wechat", "meeting", "other"]
InteractionKind = Literal[
    "sales_call",
    "support",
    "collection",
    "account_review",
    "marketing",
    "complaint_followup",
    "other",
]
FulfilmentStatus = Literal["pending", "in_progress", "fulfilled", "breached", "terminated"]


class _Strict(InputModel):
    """Unknown fields refused, text stripped and free of control characters."""


class EventIn(_Strict):
    """What every event carries: its idempotency key and whose it is."""

    source: SourceName = Field(
        description="the sending system, e.g. erp; with external_id the idempotency key"
    )
    external_id: ExternalId
    customer_code: str | None = Field(default=None, pattern=r"^[Cc]\d{1,9}$")
    customer_external_id: ExternalId | None = None
    customer_source: SourceName | None = Field(
        default=None, description="source of customer_external_id; defaults to source"
    )

    customer_required: ClassVar[bool] = True
    # Fields the kind gained after records of it were stored: left out of the content hash
    # while empty, so a resend of a record stored before them is still the same record.
    later_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _one_customer_ref(self) -> EventIn:
        given = (self.customer_code is not None) + (self.customer_external_id is not None)
        if given > 1:
            raise ValueError("give customer_code or customer_external_id, not both")
        if given == 0 and self.customer_required:
            raise ValueError("customer_code or customer_external_id is required")
        return self


class OrderLineIn(_Strict):
    """One line of an order."""

    category: Text64
    product: Text128 | None = None
    quantity: Decimal = Field(default=Decimal(1), gt=0, max_digits=16, decimal_places=2)
    amount: Amount


class OrderIn(EventIn):
    """An order."""

    ordered_at: PastTimestamp
    amount: PositiveAmount
    currency: Currency
    channel: Channel | None = None
    payment_method: PaymentMethodOfOrder = "credit"
    lines: list[OrderLineIn] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _lines_add_up(self) -> OrderIn:
        total = sum((line.amount for line in self.lines), Decimal(0))
        if total != self.amount:
            raise ValueError(f"line amounts add up to {total}, not the order amount {self.amount}")
        return self


class InvoiceIn(EventIn):
    """An invoice."""

    order_external_id: ExternalId | None = None
    amount: PositiveAmount
    currency: Currency
    issue_date: PastDate
    due_date: BusinessDate

    @model_validator(mode="after")
    def _due_after_issue(self) -> InvoiceIn:
        if self.due_date <= self.issue_date:
            raise ValueError("due_date must be after issue_date")
        return self


class PaymentIn(EventIn):
    """A payment against an invoice; the invoice tells whose it is."""

    customer_required: ClassVar[bool] = False

    invoice_external_id: ExternalId
    amount: PositiveAmount
    currency: Currency
    paid_on: PastDate
    method: PaymentMethod = "bank_transfer"
    overpayment: bool = Field(default=False, description="allow paying more than is open")


class ReturnIn(EventIn):
    """Goods returned against an order; the order tells whose it is."""

    customer_required: ClassVar[bool] = False

    order_external_id: ExternalId
    amount: PositiveAmount
    currency: Currency
    returned_on: PastDate
    reason: ReturnReason
    note: LongText | None = None


class ComplaintIn(EventIn):
    """A complaint."""

    # Omitted: classified from the description (and the product from the names the customer
    # has bought).
    category: ComplaintCategory | None = None
    product: Text128 | None = None
    severity: Severity
    status: ComplaintStatus = "open"
    opened_at: PastTimestamp
    resolved_at: PastTimestamp | None = None
    description: LongText | None = Field(default=None, validate_default=True)

    @field_validator("description")
    @classmethod
    def _something_to_classify(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value and "category" in info.data and info.data["category"] is None:
            raise ValueError("give a category, or a description to classify the complaint from")
        return value

    @model_validator(mode="after")
    def _resolution(self) -> ComplaintIn:
        if self.status in ("resolved", "closed") and self.resolved_at is None:
            raise ValueError(f"resolved_at is required when status is {self.status}")
        if self.status in ("open", "in_progress") and self.resolved_at is not None:
            raise ValueError(f"resolved_at must be empty while status is {self.status}")
        if self.resolved_at is not None and self.resolved_at < self.opened_at:
            raise ValueError("resolved_at cannot be before opened_at")
        return self


class SurveyIn(EventIn):
    """A CSAT (1-5) or NPS (0-10) answer."""

    survey_type: Literal["csat", "nps"]
    score: int
    responded_at: PastTimestamp
    comment: LongText | None = None

    @model_validator(mode="after")
    def _score_range(self) -> SurveyIn:
        low, high = (1, 5) if self.survey_type == "csat" else (0, 10)
        if not low <= self.score <= high:
            raise ValueError(f"{self.survey_type} score must be between {low} and {high}")
        return self


class InteractionIn(EventIn):
    """A contact with the customer: what was said (``note``) and what comes next."""

    later_fields: ClassVar[tuple[str, ...]] = ("next_step", "next_step_on")

    occurred_at: PastTimestamp
    channel: InteractionChannel
    kind: InteractionKind
    note: LongText | None = Field(default=None, description="what was said or agreed")
    next_step: LongText | None = Field(default=None, description="what is to be done next")
    next_step_on: BusinessDate | None = Field(default=None, description="when the next step is due")

    @field_validator("next_step_on")
    @classmethod
    def _next_step_date(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        if value is None:
            return value
        if not info.data.get("next_step"):
            raise PydanticCustomError("next_step_missing", "give the next step this date is for")
        occurred = info.data.get("occurred_at")
        if isinstance(occurred, dt.datetime) and value < occurred.date():
            raise PydanticCustomError(
                "next_step_before_contact", "the next step cannot be due before the contact"
            )
        return value


class ContractIn(EventIn):
    """A contract."""

    signed_on: PastDate
    start_date: BusinessDate | None = None
    end_date: BusinessDate | None = None
    value: Amount | None = None
    currency: Currency | None = None
    fulfilment_status: FulfilmentStatus = "pending"
    payment_terms_days: int | None = Field(default=None, ge=0, le=365)

    later_fields: ClassVar[tuple[str, ...]] = ("payment_terms_days",)

    @model_validator(mode="after")
    def _dates(self) -> ContractIn:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date cannot be before start_date")
        if self.value is not None and self.currency is None:
            raise ValueError("currency is required with value")
        return self


# ---------------------------------------------------------------- corrections


class OrderCancellationIn(EventIn):
    """The cancellation of an order not yet invoiced; the order tells whose it is."""

    customer_required: ClassVar[bool] = False

    order_external_id: ExternalId = Field(description="the order cancelled, from the same source")
    cancelled_on: PastDate
    reason: LongText | None = None


class CreditNoteIn(EventIn):
    """A credit note: part or all of an invoice's open amount no longer owed."""

    customer_required: ClassVar[bool] = False

    invoice_external_id: ExternalId = Field(description="the invoice credited, same source")
    amount: PositiveAmount = Field(description="how much less the invoice asks for")
    currency: Currency
    issued_on: PastDate
    reason: LongText | None = None


class InvoiceAdjustmentIn(EventIn):
    """A correction of an invoice's amount, up (positive) or down (negative)."""

    customer_required: ClassVar[bool] = False

    invoice_external_id: ExternalId = Field(description="the invoice adjusted, same source")
    amount: SignedAmount = Field(description="the change of the invoice's amount, not zero")
    currency: Currency
    adjusted_on: PastDate
    reason: LongText | None = None

    @field_validator("amount")
    @classmethod
    def _not_zero(cls, value: Decimal) -> Decimal:
        if value == 0:
            raise ValueError("an adjustment of zero changes nothing")
        return value


class PaymentReversalIn(EventIn):
    """A payment taken back whole (bounced, returned by the bank); the payment tells whose."""

    customer_required: ClassVar[bool] = False

    payment_external_id: ExternalId = Field(description="the payment reversed, same source")
    reversed_on: PastDate
    reason: LongText | None = None


class IntakeRowResult(BaseModel):
    """What became of one record."""

    row: int
    status: Literal["created", "updated", "pending", "duplicate", "invalid", "new", "existing"]
    id: int | None = None
    external_id: str | None = None
    errors: list[dict[str, object]] = Field(default_factory=list)


class IntakeReport(BaseModel):
    """What became of a single record, a batch or a file."""

    kind: str
    total: int
    created: int
    updated: int
    pending: int
    duplicates: int
    invalid: int
    imported: bool = Field(description="false when invalid rows stopped the whole batch")
    results: list[IntakeRowResult]
    results_complete: bool = Field(
        default=True,
        description="false when a large file's report lists only its first rows and the rows "
        "with errors; the counts always cover every row",
    )
    processing: Literal["done", "queued"] = Field(
        default="done",
        description="done: the records' indicators, rules and alerts are processed; queued: "
        "committed, and a worker processes them shortly (ask to wait with `wait`)",
    )


class BatchIn(InputModel):
    """Up to 10,000 records of one kind."""

    # Each record is checked by its kind's model, which names the row.
    records: Annotated[list[RawRecord], SelfChecked()] = Field(min_length=1)
    skip_invalid: bool = Field(
        default=False,
        description="import the valid records even when others are invalid (they are reported)",
    )


class EventRead(BaseModel):
    """An event as stored (common part)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    customer_id: int
    source: str
    external_id: str
    occurred: dt.datetime | dt.date
    amount: Decimal | None
    currency: str | None
    summary: str
