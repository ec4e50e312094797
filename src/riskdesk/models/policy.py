"""Credit policy by risk tier, limit requests, and who may approve them up to what."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from riskdesk.db import Base
from riskdesk.kit.timeutil import utcnow
from riskdesk.models.types import JSONType, Money, UTCDateTime


class TierPolicy(Base):
    """What a risk tier means: the limit formula, terms, prepayment and review frequency.

    Recommended limit = expected monthly purchases x (terms in days / 30) x limit_multiplier;
    for companies capped by shares of equity and revenue and by the bureau's recommended
    limit; then bounded by min/max and rounded down to ``round_to``.
    """

    __tablename__ = "tier_policies"

    tier: Mapped[str] = mapped_column(String(16), primary_key=True)
    limit_multiplier: Mapped[float] = mapped_column(Float)
    payment_terms_days: Mapped[int] = mapped_column(Integer)
    prepayment_required: Mapped[bool] = mapped_column(Boolean, default=False)
    review_months: Mapped[int] = mapped_column(Integer)
    equity_share: Mapped[float | None] = mapped_column(Float)
    revenue_share: Mapped[float | None] = mapped_column(Float)
    use_bureau_limit: Mapped[bool] = mapped_column(Boolean, default=True)
    min_limit: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    max_limit: Mapped[Decimal | None] = mapped_column(Money)
    round_to: Mapped[Decimal] = mapped_column(Money, default=Decimal("1000"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LimitRequest(Base):
    """A request for a new credit limit, decided by someone with enough authority (four eyes)."""

    __tablename__ = "limit_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    current_limit: Mapped[Decimal] = mapped_column(Money)
    requested_limit: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    risk_tier: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(16))  # sales, analyst, policy, manager
    # pending -> approved | rejected | withdrawn | expired
    status: Mapped[str] = mapped_column(String(16), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # When the decider used authority delegated to them: whose.
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_comment: Mapped[str | None] = mapped_column(Text)

    @property
    def current_status(self) -> str:
        """The status as of now: a pending request past its expiry is expired, whether or not
        `riskdesk limits expire` (or a decision on it) has written that yet; a read shows it
        without writing."""
        if self.status == "pending" and self.expires_at < utcnow():
            return "expired"
        return self.status


class ApprovalAuthority(Base):
    """A role or a user may approve limits up to ``max_limit`` for a tier (None: any tier)."""

    __tablename__ = "approval_authorities"

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    tier: Mapped[str | None] = mapped_column(String(16))
    max_limit: Mapped[Decimal] = mapped_column(Money)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApprovalDelegation(Base):
    """One user lends their approval authority to another for a period."""

    __tablename__ = "approval_delegations"

    id: Mapped[int] = mapped_column(primary_key=True)
    from_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    to_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CreditReview(Base):
    """A periodic review of a customer: the evidence seen, the decision, who signed it off."""

    __tablename__ = "credit_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # open -> completed | cancelled
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    risk_tier: Mapped[str | None] = mapped_column(String(16))
    # Indicators, score, rating, reasons, exposure, limit and the policy's recommendation when
    # the review was opened: what the reviewer saw.
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType)
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str | None] = mapped_column(String(24))
    comment: Mapped[str | None] = mapped_column(Text)
    signed_off_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    signed_off_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    next_review_date: Mapped[dt.date | None] = mapped_column(Date)
    limit_request_id: Mapped[int | None] = mapped_column(ForeignKey("limit_requests.id"))
    pending_change_id: Mapped[int | None] = mapped_column(ForeignKey("pending_changes.id"))
