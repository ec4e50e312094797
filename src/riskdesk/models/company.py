"""Company settings: a few values an administrator sets for everyone (the display time zone)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from riskdesk.db import Base
from riskdesk.kit.timeutil import utcnow
from riskdesk.models.types import UTCDateTime


class CompanySetting(Base):
    """One named setting's value, and who set it when (every change is in the audit log)."""

    __tablename__ = "company_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
