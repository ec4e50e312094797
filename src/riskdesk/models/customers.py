"""The credit file: customers, groups, contacts, credit profile, statements, reports, documents,
its version history and pending (dual-review) changes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from riskdesk.db import Base
from riskdesk.kit.timeutil import utcnow
from riskdesk.models.types import Money, PersonalData, PersonalJSON, UTCDateTime
from riskdesk.security import keys


def customer_code(customer_id: int) -> str:
    """The customer number people quote: C and seven digits."""
    return f"C{customer_id:07d}"


class CustomerGroup(Base):
    """A parent company and its subsidiaries, for group-level exposure."""

    __tablename__ = "customer_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    credit_limit: Mapped[Decimal | None] = mapped_column(Money)
    limit_currency: Mapped[str] = mapped_column(String(3), default="CNY")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Customer(Base):
    """A company or an individual that buys on credit."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    # A company's legal name is not personal data; an individual's name is.
    company_name: Mapped[str | None] = mapped_column(String(255), index=True)
    person_name: Mapped[str | None] = mapped_column(PersonalData("customers.person_name"))
    tax_id: Mapped[str | None] = mapped_column(String(32), index=True)
    national_id: Mapped[str | None] = mapped_column(PersonalData("customers.national_id"))
    phone: Mapped[str | None] = mapped_column(PersonalData("customers.phone"))
    email: Mapped[str | None] = mapped_column(PersonalData("customers.email"))
    address: Mapped[str | None] = mapped_column(PersonalData("customers.address"))
    bank_account: Mapped[str | None] = mapped_column(PersonalData("customers.bank_account"))
    # Blind indexes (keyed HMAC of the normalised value) for exact-match search; see keys.py.
    person_name_bidx: Mapped[str | None] = mapped_column(String(32), index=True)
    national_id_bidx: Mapped[str | None] = mapped_column(String(32), index=True)
    phone_bidx: Mapped[str | None] = mapped_column(String(32), index=True)
    email_bidx: Mapped[str | None] = mapped_column(String(32), index=True)
    bank_account_bidx: Mapped[str | None] = mapped_column(String(32), index=True)
    segment: Mapped[str | None] = mapped_column(String(64), index=True)
    industry: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("customer_groups.id"), index=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    # Set when the person's data was erased; the credit history stays, anonymous.
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    profile: Mapped[CreditProfile] = relationship(lazy="raise", uselist=False)

    @property
    def code(self) -> str:
        """The customer number."""
        return customer_code(self.id)

    @property
    def name(self) -> str:
        """The legal name of a company, or the person's name."""
        return (self.company_name if self.kind == "company" else self.person_name) or ""


class CustomerExternalRef(Base):
    """The customer's id in a source system (ERP, CRM, shop)."""

    __tablename__ = "customer_external_refs"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Contact(Base):
    """A person to talk to at the customer."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(PersonalData("contacts.name"))
    title: Mapped[str | None] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(PersonalData("contacts.phone"))
    email: Mapped[str | None] = mapped_column(PersonalData("contacts.email"))
    name_bidx: Mapped[str | None] = mapped_column(String(32), index=True)
    phone_bidx: Mapped[str | None] = mapped_column(String(32), index=True)
    email_bidx: Mapped[str | None] = mapped_column(String(32), index=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CreditProfile(Base):
    """Score, rating, tier, limit and terms of one customer."""

    __tablename__ = "credit_profiles"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    score: Mapped[int | None] = mapped_column(Integer)
    rating: Mapped[str | None] = mapped_column(String(8))
    rating_override: Mapped[str | None] = mapped_column(String(8))
    risk_tier: Mapped[str | None] = mapped_column(String(16), index=True)
    scored_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    credit_limit: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    limit_currency: Mapped[str] = mapped_column(String(3), default="CNY")
    limit_valid_from: Mapped[dt.date | None] = mapped_column(Date)
    limit_valid_to: Mapped[dt.date | None] = mapped_column(Date)
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=0)
    prepayment_required: Mapped[bool] = mapped_column(Boolean, default=False)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    blocked_reason: Mapped[str | None] = mapped_column(Text)
    last_review_date: Mapped[dt.date | None] = mapped_column(Date)
    next_review_date: Mapped[dt.date | None] = mapped_column(Date, index=True)


class FinancialStatement(Base):
    """One period's key figures from a company's financial statements."""

    __tablename__ = "financial_statements"
    __table_args__ = (UniqueConstraint("customer_id", "period_end", "period_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    period_end: Mapped[dt.date] = mapped_column(Date)
    period_type: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    revenue: Mapped[Decimal | None] = mapped_column(Money)
    total_assets: Mapped[Decimal | None] = mapped_column(Money)
    total_liabilities: Mapped[Decimal | None] = mapped_column(Money)
    current_assets: Mapped[Decimal | None] = mapped_column(Money)
    current_liabilities: Mapped[Decimal | None] = mapped_column(Money)
    retained_earnings: Mapped[Decimal | None] = mapped_column(Money)
    ebit: Mapped[Decimal | None] = mapped_column(Money)
    equity: Mapped[Decimal | None] = mapped_column(Money)
    net_income: Mapped[Decimal | None] = mapped_column(Money)
    cash: Mapped[Decimal | None] = mapped_column(Money)
    inventory: Mapped[Decimal | None] = mapped_column(Money)
    interest_expense: Mapped[Decimal | None] = mapped_column(Money)
    # Listed companies only: the market value of their equity (Altman's original Z).
    market_value_equity: Mapped[Decimal | None] = mapped_column(Money)
    source: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CreditReport(Base):
    """A report from an external credit bureau."""

    __tablename__ = "credit_reports"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))
    report_date: Mapped[dt.date] = mapped_column(Date)
    score: Mapped[int | None] = mapped_column(Integer)
    recommended_limit: Mapped[Decimal | None] = mapped_column(Money)
    # The bureau's answer names the person: encrypted like the other personal data.
    payload: Mapped[dict[str, Any] | None] = mapped_column(PersonalJSON("credit_reports.payload"))
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Document(Base):
    """A file attached to a credit file; the bytes live under the data dir, by content hash."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CreditFileVersion(Base):
    """One change to a credit file: who, when, why; the fields are in CreditFileChange."""

    __tablename__ = "credit_file_versions"
    __table_args__ = (UniqueConstraint("customer_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16))


class CreditFileChange(Base):
    """One field's old and new value in a version (values are text: they may be personal data)."""

    __tablename__ = "credit_file_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("credit_file_versions.id"), index=True)
    field: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(PersonalData("credit_file_changes.old_value"))
    new_value: Mapped[str | None] = mapped_column(PersonalData("credit_file_changes.new_value"))


class PendingChange(Base):
    """A change to critical fields that waits for a second person's approval."""

    __tablename__ = "pending_changes"
    __table_args__ = (Index("ix_pending_changes_status_customer", "status", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_comment: Mapped[str | None] = mapped_column(Text)


class PendingChangeItem(Base):
    """One field of a pending change, with the value it had when the change was proposed."""

    __tablename__ = "pending_change_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    pending_change_id: Mapped[int] = mapped_column(ForeignKey("pending_changes.id"), index=True)
    field: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(PersonalData("pending_change_items.old_value"))
    new_value: Mapped[str | None] = mapped_column(PersonalData("pending_change_items.new_value"))


class DemoBehaviour(Base):
    """The behaviour the demo generator gave a customer, kept to measure detection later."""

    __tablename__ = "demo_behaviours"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    behaviour: Mapped[str] = mapped_column(String(32))
    onset_date: Mapped[dt.date | None] = mapped_column(Date)
    detail: Mapped[str | None] = mapped_column(Text)


# ---------------------------------------------------------------- blind indexes

# Index column -> (normalisation kind, encrypted column) for each model with blind indexes.
BLIND_INDEXES: dict[type[Base], dict[str, tuple[str, str]]] = {
    Customer: {
        "person_name_bidx": ("name", "person_name"),
        "national_id_bidx": ("national_id", "national_id"),
        "phone_bidx": ("phone", "phone"),
        "email_bidx": ("email", "email"),
        "bank_account_bidx": ("bank_account", "bank_account"),
    },
    Contact: {
        "name_bidx": ("name", "name"),
        "phone_bidx": ("phone", "phone"),
        "email_bidx": ("email", "email"),
    },
}


def blind_indexes(model: type[Base], values: dict[str, Any]) -> dict[str, str | None]:
    """The index columns for a row about to be bulk-inserted (ORM flushes set them by event)."""
    return {
        index: keys.blind_index(kind, values.get(source))
        for index, (kind, source) in BLIND_INDEXES[model].items()
    }


def _set_blind_indexes(_mapper: Any, _connection: Any, target: Any) -> None:
    for index, (kind, source) in BLIND_INDEXES[type(target)].items():
        setattr(target, index, keys.blind_index(kind, getattr(target, source)))


for _model in BLIND_INDEXES:
    event.listen(_model, "before_insert", _set_blind_indexes)
    event.listen(_model, "before_update", _set_blind_indexes)
