"""The event path's work queue: what intake committed and a worker has yet to process, and
the work that failed too often (dead letters)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from riskdesk.db import Base
from riskdesk.kit.timeutil import utcnow
from riskdesk.models.types import JSONType, UTCDateTime

# SQLite gives a rowid (autoincrement) only to an INTEGER PRIMARY KEY.
QueueId = BigInteger().with_variant(Integer(), "sqlite")


class QueuedWork(Base):
    """One customer's events of one intake, waiting for indicators, rules and alerts.

    Rows of one partition are processed in id order by one worker at a time, so a customer's
    (or a group's) work is never reordered. Deleted in the transaction that does the work."""

    __tablename__ = "event_queue"
    __table_args__ = (Index("ix_event_queue_partition_no_id", "partition_no", "id"),)

    id: Mapped[int] = mapped_column(QueueId, primary_key=True, autoincrement=True)
    partition_no: Mapped[int] = mapped_column(SmallInteger)
    customer_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    enqueued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    # Ids of the rows of ``kind`` this intake wrote for the customer; None: unknown (rebuild the
    # customer's indicator state from the event record).
    refs: Mapped[list[int] | None] = mapped_column(JSONType)


class DeadLetter(Base):
    """Queued work that failed ``event_max_deliveries`` times; kept until retried."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(BigInteger)
    partition_no: Mapped[int] = mapped_column(SmallInteger)
    customer_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    enqueued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(String(1000))
    retried_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
