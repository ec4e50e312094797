"""The append-only event record: what customers buy, pay, return and say.

Every event carries an idempotency key (source, external_id) and the hash of its content, so a
resend is recognised as a duplicate and a reuse of the key with other content as a conflict.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from riskdesk.db import Base
from riskdesk.kit.timeutil import utcnow
from riskdesk.models.types import Money, UTCDateTime


class EventMixin:
    """Columns every event has."""

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))
    content_hash: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    import_job_id: Mapped[int | None] = mapped_column(ForeignKey("import_jobs.id"))

    @declared_attr.directive
    def __table_args__(cls) -> tuple[UniqueConstraint]:
        return (UniqueConstraint("source", "external_id"),)


class Order(EventMixin, Base):
    """A customer's order."""

    __tablename__ = "orders"

    ordered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    channel: Mapped[str | None] = mapped_column(String(32))
    payment_method: Mapped[str] = mapped_column(String(32))


class OrderLine(Base):
    """One line of an order."""

    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(64))
    product: Mapped[str | None] = mapped_column(String(128))
    quantity: Mapped[Decimal] = mapped_column(Money)
    amount: Mapped[Decimal] = mapped_column(Money)


class Invoice(EventMixin, Base):
    """An invoice: what the customer owes and by when."""

    __tablename__ = "invoices"

    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    issue_date: Mapped[dt.date] = mapped_column(Date, index=True)
    due_date: Mapped[dt.date] = mapped_column(Date, index=True)


class Payment(EventMixin, Base):
    """A payment against an invoice."""

    __tablename__ = "payments"

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    paid_on: Mapped[dt.date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(32))
    overpayment: Mapped[bool] = mapped_column(Boolean, default=False)


class Return(EventMixin, Base):
    """Goods sent back against an order."""

    __tablename__ = "returns"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    returned_on: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)


class Complaint(EventMixin, Base):
    """A complaint, as recorded by customer service."""

    __tablename__ = "complaints"
    # The desk counts and sorts by status and opening; its product trend counts the products
    # complained about since a moment from the (product, opened_at) index alone.
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_complaints_status_opened", "status", "opened_at"),
        Index("ix_complaints_product_opened", "product", "opened_at"),
    )

    category: Mapped[str] = mapped_column(String(32))
    product: Mapped[str | None] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    description: Mapped[str | None] = mapped_column(Text)
    # How category and product were set: given by the source, or classified from the text.
    classified: Mapped[str] = mapped_column(String(8), default="given", server_default="given")
    # The desk's work on it: who handles it, the response SLA, the answer.
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    respond_by: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    resolve_by: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    response: Mapped[str | None] = mapped_column(Text)


class SurveyResponse(EventMixin, Base):
    """A CSAT (1-5) or NPS (0-10) answer."""

    __tablename__ = "survey_responses"

    survey_type: Mapped[str] = mapped_column(String(8))
    score: Mapped[int] = mapped_column(Integer)
    responded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(Text)


class Interaction(EventMixin, Base):
    """A contact with the customer: call, visit, message; what was said and what comes next.

    ``note`` and ``next_step`` are free text people write about the customer: they may name
    a person, so erasure clears them (privacy/repository.py, FREE_TEXT) and nothing logs them.
    """

    __tablename__ = "interactions"

    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    next_step: Mapped[str | None] = mapped_column(Text)
    next_step_on: Mapped[dt.date | None] = mapped_column(Date)
    # Who recorded it: the signed-in user of the form, or the integration's user of the API.
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Contract(EventMixin, Base):
    """A signed contract and how far it has been fulfilled."""

    __tablename__ = "contracts"

    signed_on: Mapped[dt.date] = mapped_column(Date)
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    value: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    fulfilment_status: Mapped[str] = mapped_column(String(16))
    payment_terms_days: Mapped[int | None] = mapped_column(Integer)


# ---------------------------------------------------------------- corrections
# Events are append-only, so an ERP corrects one by sending another that names it: a
# cancellation of an order, a credit note or adjustment of an invoice, a reversal of a payment.
# Every reading of amounts (exposure, open balances, month ends, indicators) applies them.


class OrderCancellation(EventMixin, Base):
    """An order cancelled before it was invoiced: it no longer counts anywhere."""

    __tablename__ = "order_cancellations"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    cancelled_on: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)


class InvoiceAdjustment(EventMixin, Base):
    """A change of what an invoice asks for: a credit note (``amount`` negative) or an
    adjustment either way; the invoice's amount in effect is its own plus these."""

    __tablename__ = "invoice_adjustments"

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # credit_note | adjustment
    amount: Mapped[Decimal] = mapped_column(Money)  # signed change of the invoice's amount
    currency: Mapped[str] = mapped_column(String(3))
    adjusted_on: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)


class PaymentReversal(EventMixin, Base):
    """A payment taken back whole (a bounced cheque, a returned transfer): its invoice is owed
    again from ``reversed_on``. ``amount`` and ``invoice_id`` repeat the payment's."""

    __tablename__ = "payment_reversals"

    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), unique=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    reversed_on: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
