"""The latest indicator values of each customer."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary
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


class StagedIndicatorSnapshot(Base):
    """A snapshot a batch stored in one of its short transactions, not yet current: applied to
    ``indicator_snapshots`` in the batch's last transaction, unless the customer's snapshot
    changed from ``seen_at`` (what the batch read) meanwhile."""

    __tablename__ = "staged_indicator_snapshots"

    batch_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # e.g. a scoring run's id
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    values: Mapped[dict[str, Any]] = mapped_column(JSONType)
    seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class IndicatorState(Base):
    """The events a customer's indicators can still reach (``indicators.state``), as an Arrow
    IPC document: what processing an event reads instead of the customer's whole history."""

    __tablename__ = "indicator_states"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    trimmed_as_of: Mapped[dt.date] = mapped_column(Date)
    built_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # read whole from the record
    events: Mapped[bytes] = mapped_column(LargeBinary)


class IndicatorReference(Base):
    """The population the peer percentile and RFM scores rank against, summarised
    (``indicators.compute.Reference``): stored by a batch, or built from the snapshots once a
    day, so that processing an event never reads the whole population."""

    __tablename__ = "indicator_references"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    customers: Mapped[int] = mapped_column()
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType)
