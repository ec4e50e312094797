"""Expected credit loss: forward-looking adjustments (four eyes) and stored runs of the
provision matrix with their inputs and each customer's ECL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from riskdesk.db import Base
from riskdesk.kit.timeutil import utcnow
from riskdesk.models.types import JSONType, MoneyTotal, UTCDateTime


class EclAdjustment(Base):
    """A forward-looking multiplier on a segment's historical loss rates, with its reason.

    proposed -> approved (by a second person; it then supersedes the segment's previous one)
    | rejected | withdrawn. A run uses the approved one of each segment.
    """

    __tablename__ = "ecl_adjustments"

    id: Mapped[int] = mapped_column(primary_key=True)
    segment: Mapped[str] = mapped_column(String(64), index=True)
    multiplier: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_comment: Mapped[str | None] = mapped_column(Text)


class EclRun(Base):
    """One provision matrix as of a reporting date: its inputs, rates and totals.

    The same reporting date, window and inputs (balances and adjustments) give the same run:
    ``inputs_hash`` is their digest.
    """

    __tablename__ = "ecl_runs"
    # One finished run per set of inputs; a job's run being stored (status "storing") is
    # read by nobody and may stand beside it until its last transaction.
    __table_args__ = (
        Index(
            "ix_ecl_runs_done_inputs",
            "as_of",
            "lookback_months",
            "inputs_hash",
            unique=True,
            sqlite_where=text("status = 'done'"),
            postgresql_where=text("status = 'done'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date, index=True)
    lookback_months: Mapped[int] = mapped_column(Integer)
    inputs_hash: Mapped[str] = mapped_column(String(64))
    customers: Mapped[int] = mapped_column(Integer)
    total_balance: Mapped[Decimal] = mapped_column(MoneyTotal)
    total_ecl: Mapped[Decimal] = mapped_column(MoneyTotal)
    # rows of the matrix per segment and bucket (rates, balances, ECL, where the rates came
    # from), the month-end balances per segment and bucket, the adjustments used.
    matrix: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    month_end_balances: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    adjustments: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "done", or "storing" while a job stores its customers in short transactions
    status: Mapped[str] = mapped_column(String(16), default="done", server_default="done")
    job_id: Mapped[int | None] = mapped_column(Integer, index=True)  # the job storing it


class EclCustomerResult(Base):
    """A customer's balances per ageing bucket on the reporting date and their ECL."""

    __tablename__ = "ecl_customer_results"
    __table_args__ = (Index("ix_ecl_customer_results_run_customer", "run_id", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ecl_runs.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    segment: Mapped[str] = mapped_column(String(64))
    rates_from: Mapped[str] = mapped_column(String(64))
    current: Mapped[Decimal] = mapped_column(MoneyTotal)
    dpd_1_30: Mapped[Decimal] = mapped_column(MoneyTotal)
    dpd_31_60: Mapped[Decimal] = mapped_column(MoneyTotal)
    dpd_61_90: Mapped[Decimal] = mapped_column(MoneyTotal)
    dpd_91_180: Mapped[Decimal] = mapped_column(MoneyTotal)
    dpd_over_180: Mapped[Decimal] = mapped_column(MoneyTotal)
    balance: Mapped[Decimal] = mapped_column(MoneyTotal)
    ecl: Mapped[Decimal] = mapped_column(MoneyTotal)
