"""The latest indicator values of each customer."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from riskdesk.db import Base
from riskdesk.models.types import JSONType, UTCDateTime


class IndicatorSnapshot(Base):
    """All indicators of one customer as of a date (name -> value, None when undefined)."""

    __tablename__ = "indicator_snapshots"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    values: Mapped[dict[str, Any]] = mapped_column(JSONType)
