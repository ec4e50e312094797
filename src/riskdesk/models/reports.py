"""What a user asked to receive by e-mail: the monthly committee pack, the weekly summary."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from riskdesk.db import Base
from riskdesk.kit.timeutil import utcnow
from riskdesk.models.types import JSONType, UTCDateTime


class ReportSubscription(Base):
    """One user's subscription to one kind of report, in a language, over a scope."""

    __tablename__ = "report_subscriptions"
    __table_args__ = (UniqueConstraint("user_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))  # committee_pack, weekly_summary
    language: Mapped[str] = mapped_column(String(8))  # zh-CN, en
    # The portfolio filters (region, segment, industry, tier, owner_id) the report covers.
    filters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The last period queued (2026-11, 2026-W48): a second pass for it queues nothing.
    last_period: Mapped[str | None] = mapped_column(String(16))
    last_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
