"""What the portfolio dashboard keeps so that it need not derive it from every invoice and
payment per answer: each open invoice's balance, and each customer's receivables at past
month ends. Both are derived from the event record (migration 0038 keeps them by triggers,
whoever writes the events) and are caches, never a source."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Boolean, Date, Integer
from sqlalchemy.orm import Mapped, mapped_column

from riskdesk.db import Base
from riskdesk.kit.timeutil import utcnow
from riskdesk.models.types import Money, MoneyTotal, UTCDateTime


class InvoiceBalance(Base):
    """An open invoice and what has been paid of it; the row goes when it is settled (to
    within half a cent). Kept by triggers on invoices and payments."""

    __tablename__ = "invoice_balances"

    invoice_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    customer_id: Mapped[int] = mapped_column(Integer, index=True)
    issue_date: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    paid: Mapped[Decimal] = mapped_column(MoneyTotal)


class ReceivableMonthEnd(Base):
    """A customer's open receivables by ageing bucket at a month end, and the invoices issued
    in that month, as the dashboard's trend counts them (only customers with either)."""

    __tablename__ = "receivable_month_ends"

    month_end: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    current: Mapped[Decimal] = mapped_column(MoneyTotal)
    dpd_1_30: Mapped[Decimal] = mapped_column(MoneyTotal)
    dpd_31_60: Mapped[Decimal] = mapped_column(MoneyTotal)
    dpd_61_90: Mapped[Decimal] = mapped_column(MoneyTotal)
    dpd_over_90: Mapped[Decimal] = mapped_column(MoneyTotal)
    sales: Mapped[Decimal] = mapped_column(MoneyTotal)


class ReceivableMonthTotal(Base):
    """A month end being stored (``ready`` false) or stored, with the sums of its customer
    rows: the whole book's figures without reading them. Its presence also tells the
    triggers that events dated on or before it make their customer's rows stale."""

    __tablename__ = "receivable_month_totals"

    month_end: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    ready: Mapped[bool] = mapped_column(Boolean, default=False)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    current: Mapped[Decimal] = mapped_column(MoneyTotal, default=Decimal(0))
    dpd_1_30: Mapped[Decimal] = mapped_column(MoneyTotal, default=Decimal(0))
    dpd_31_60: Mapped[Decimal] = mapped_column(MoneyTotal, default=Decimal(0))
    dpd_61_90: Mapped[Decimal] = mapped_column(MoneyTotal, default=Decimal(0))
    dpd_over_90: Mapped[Decimal] = mapped_column(MoneyTotal, default=Decimal(0))
    sales: Mapped[Decimal] = mapped_column(MoneyTotal, default=Decimal(0))


class ReceivableMonthStale(Base):
    """A customer whose stored month ends an event has made stale (a late invoice or
    payment, or events moved by a merge): the dashboard derives that customer's figures
    afresh until the month-end job stores them again and removes the row."""

    __tablename__ = "receivable_month_stale"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, index=True)
