"""The audit log: an append-only, HMAC-chained record of every write and every view of
personal data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from riskdesk.db import Base
from riskdesk.models.types import JSONType, UTCDateTime

GENESIS = "0" * 64


class AuditEntry(Base):
    """Who did what, when and from where; ``hash`` chains it to the entry before."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_object", "object_type", "object_id"),
        Index("ix_audit_log_actor_at", "actor", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key: the log outlives rows
    actor: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))  # api, ui, cli, system
    ip: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16), index=True)  # write, view, reveal, export
    request: Mapped[str | None] = mapped_column(String(200))
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    # Table names, row ids and field names; never values (the log holds no personal data).
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The last entry's sequence number and hash: one row, locked by each append, so entries
    are chained one after the other, and a truncated tail is noticed."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS)
    mac: Mapped[str] = mapped_column(String(64), default="")
