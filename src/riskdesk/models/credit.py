"""Credit exposure, the configurable credit-check steps and documented credit decisions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from riskdesk.db import Base
from riskdesk.kit.timeutil import utcnow
from riskdesk.models.types import JSONType, Money, UTCDateTime


class ExposureCategory(Base):
    """A kind of exposure, counted in the limit check or shown for information only."""

    __tablename__ = "exposure_categories"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_en: Mapped[str] = mapped_column(String(128))
    name_zh: Mapped[str] = mapped_column(String(128))
    counts_in_limit: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class CreditExposure(Base):
    """A customer's running exposure in one category, kept up to date by every event."""

    __tablename__ = "credit_exposures"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    category: Mapped[str] = mapped_column(ForeignKey("exposure_categories.code"), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SpecialExposure(Base):
    """Exposure that no event shows: guarantees, disputed deliveries, consignment stock."""

    __tablename__ = "special_exposures"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    category: Mapped[str] = mapped_column(ForeignKey("exposure_categories.code"))
    amount: Mapped[Decimal] = mapped_column(Money)
    description: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CreditCheckRule(Base):
    """One step of the order credit check, with its reaction and parameters."""

    __tablename__ = "credit_check_rules"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    reaction: Mapped[str] = mapped_column(String(8))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ConfigStamp(Base):
    """A random number the database changes (triggers, migration 0030) whenever a part of the
    configuration changes: what a process cached is good while the stamp is the same."""

    __tablename__ = "config_stamps"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    stamp: Mapped[int] = mapped_column(BigInteger)


class CreditDecision(Base):
    """A documented answer to 'may this customer have this order on credit?'."""

    __tablename__ = "credit_decisions"
    __table_args__ = (
        UniqueConstraint("source", "order_external_id"),
        Index("ix_credit_decisions_status_customer", "status", "customer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    source: Mapped[str] = mapped_column(String(64))
    order_external_id: Mapped[str] = mapped_column(String(128))
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    outcome: Mapped[str] = mapped_column(String(8))  # approve | hold | reject
    status: Mapped[str] = mapped_column(String(16))  # approved|held|rejected|released|consumed
    reserved: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution_reason: Mapped[str | None] = mapped_column(Text)
    recheck_count: Mapped[int] = mapped_column(Integer, default=0)


class GroupLimitChange(Base):
    """A change of a customer group's credit limit, applied when a second person approves it."""

    __tablename__ = "group_limit_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("customer_groups.id"), index=True)
    old_limit: Mapped[Decimal | None] = mapped_column(Money)
    new_limit: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_comment: Mapped[str | None] = mapped_column(Text)
