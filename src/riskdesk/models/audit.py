"""The audit log: append-only, HMAC-chained records of every write and every view of personal
data, kept in CHAINS chains so that concurrent writers do not queue on one head."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from riskdesk.db import Base
from riskdesk.models.types import JSONType, UTCDateTime

GENESIS = "0" * 64
# How many chains the log is kept in, each with its own head row and sequence. A transaction
# holds its chain's head from its append to its commit, so more writers than chains at once
# would queue again: 16 is above the connections one server process uses at once (a pool of
# 5 plus 10 overflow) and costs little (16 head rows, up to 16 checkpoint lines per interval,
# 16 short walks in verify). Changing it needs a migration that adds (or retires) head rows.
CHAINS = 16


class AuditEntry(Base):
    """Who did what, when and from where; ``hash`` chains it to the entry before in its chain."""

    __tablename__ = "audit_log"
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        Index("ix_audit_log_object", "object_type", "object_id"),
        Index("ix_audit_log_actor_at", "actor", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[int] = mapped_column(SmallInteger)  # 0 .. CHAINS - 1
    seq: Mapped[int] = mapped_column(BigInteger)  # the entry's number in its chain, from 1
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
    """A chain's last entry number and hash, with a MAC of its own: one row per chain, locked
    by each append to it, so a chain's entries follow one another and a cut-off tail is
    noticed."""

    __tablename__ = "audit_head"

    chain: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS)
    mac: Mapped[str] = mapped_column(String(64), default="")
