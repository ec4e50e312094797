"""Consent per customer and purpose, legal holds, and the record of erasures."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from riskdesk.db import Base
from riskdesk.kit.timeutil import utcnow
from riskdesk.models.types import UTCDateTime

PURPOSES = ("credit_assessment", "behaviour_monitoring", "marketing")


class Consent(Base):
    """A consent given or withdrawn; the latest record per customer and purpose is in force."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_customer_purpose", "customer_id", "purpose", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    purpose: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool] = mapped_column(Boolean)
    notice_version: Mapped[str] = mapped_column(String(32))
    given_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # when the person said so
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[str | None] = mapped_column(String(255))  # e.g. the signed form's number


class LegalHold(Base):
    """Data that must be kept (litigation, a regulator's request): blocks erasure."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    placed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    placed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Erasure(Base):
    """A customer's personal data was erased: when, by whom, why (no values kept)."""

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), unique=True)
    erased_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    erased_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(16))  # request (a data subject's) or retention
