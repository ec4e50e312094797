"""SQL of the expected credit loss: the receivables history read into Polars in one query per
source, adjustments, and stored runs with their customers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl
from sqlalchemy import Float, cast, delete, func, insert, select
from sqlalchemy.orm import Session

from riskdesk.ecl.matrix import CUSTOMER_SCHEMA, INVOICE_SCHEMA, PAYMENT_SCHEMA
from riskdesk.events import repository as event_repo
from riskdesk.kit.frames import frame_of_rows
from riskdesk.models import Customer, EclAdjustment, EclCustomerResult, EclRun, Invoice

INSERT_CHUNK = 5000


def _frame(session: Session, stmt: Any, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return frame_of_rows(session.execute(stmt), schema)


def receivables(session: Session, as_of: dt.date) -> tuple[pl.DataFrame, ...]:
    """Invoices issued and payments made by ``as_of``, and the live customers' segments."""
    invoices = _frame(
        session,
        select(
            Invoice.id,
            Invoice.customer_id,
            Invoice.issue_date,
            Invoice.due_date,
            cast(Invoice.amount, Float),
        ).where(Invoice.issue_date <= as_of),
        INVOICE_SCHEMA,
    )
    # Payments net of reversals and adjustments, each from its own date (signed).
    flows = event_repo.settlement_flows()
    payments = _frame(
        session,
        select(flows.c.invoice_id, flows.c.day, cast(flows.c.amount, Float)).where(
            flows.c.day <= as_of
        ),
        PAYMENT_SCHEMA,
    )
    customers = _frame(
        session,
        select(Customer.id, Customer.segment).where(Customer.status != "merged"),
        CUSTOMER_SCHEMA,
    )
    return invoices, payments, customers


# ---------------------------------------------------------------- adjustments


def adjustments(session: Session, status: str | None = None) -> list[EclAdjustment]:
    """Adjustments, newest first (of one status when given)."""
    stmt = select(EclAdjustment).order_by(EclAdjustment.id.desc())
    if status is not None:
        stmt = stmt.where(EclAdjustment.status == status)
    return list(session.scalars(stmt))


def get_adjustment(
    session: Session, adjustment_id: int, *, lock: bool = False
) -> EclAdjustment | None:
    """One adjustment (locked for a decision when asked)."""
    stmt = select(EclAdjustment).where(EclAdjustment.id == adjustment_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def add(session: Session, row: Any) -> Any:
    """Add a row and flush."""
    session.add(row)
    session.flush()
    return row


# ---------------------------------------------------------------- runs


# A run a job is still storing is read by nobody: every read below keeps the done ones.
DONE = EclRun.status == "done"


def find_run(
    session: Session, as_of: dt.date, lookback_months: int, inputs_hash: str
) -> EclRun | None:
    """The run with these inputs, if one was stored."""
    return session.scalars(
        select(EclRun).where(
            DONE,
            EclRun.as_of == as_of,
            EclRun.lookback_months == lookback_months,
            EclRun.inputs_hash == inputs_hash,
        )
    ).first()


def staged_run(session: Session, run_id: int) -> EclRun | None:
    """A run a job is storing, locked for its last transaction."""
    return session.scalars(
        select(EclRun).where(EclRun.id == run_id, EclRun.status == "storing").with_for_update()
    ).first()


def delete_staged(session: Session, *, job_id: int | None = None, run_id: int | None = None) -> int:
    """Delete what a job staged (its runs still storing, with their customers): by job or by
    run; the runs deleted."""
    where = [EclRun.status == "storing"]
    where.append(EclRun.job_id == job_id if run_id is None else EclRun.id == run_id)
    ids = list(session.scalars(select(EclRun.id).where(*where)))
    if ids:
        session.execute(delete(EclCustomerResult).where(EclCustomerResult.run_id.in_(ids)))
        session.execute(delete(EclRun).where(EclRun.id.in_(ids)))
    return len(ids)


def insert_customers(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk-insert a run's customer rows."""
    for start in range(0, len(rows), INSERT_CHUNK):
        session.execute(insert(EclCustomerResult), list(rows[start : start + INSERT_CHUNK]))


def get_run(session: Session, run_id: int) -> EclRun | None:
    """One run."""
    return session.scalars(select(EclRun).where(EclRun.id == run_id, DONE)).first()


def runs(session: Session, limit: int) -> list[EclRun]:
    """The latest runs, by reporting date then creation."""
    return list(
        session.scalars(
            select(EclRun).where(DONE).order_by(EclRun.as_of.desc(), EclRun.id.desc()).limit(limit)
        )
    )


def previous_run(session: Session, run: EclRun) -> EclRun | None:
    """The run before this one: the latest stored earlier with a reporting date on or before
    its own."""
    return session.scalars(
        select(EclRun)
        .where(DONE, EclRun.id < run.id, EclRun.as_of <= run.as_of)
        .order_by(EclRun.as_of.desc(), EclRun.id.desc())
        .limit(1)
    ).first()


def customer_page(
    session: Session, run_id: int, *, segment: str | None, offset: int, size: int
) -> tuple[list[tuple[EclCustomerResult, str | None]], int]:
    """A page of a run's customers, largest ECL first, with company names."""
    where = [EclCustomerResult.run_id == run_id]
    if segment is not None:
        where.append(EclCustomerResult.segment == segment)
    total = session.scalar(select(func.count()).select_from(EclCustomerResult).where(*where))
    rows = session.execute(
        select(EclCustomerResult, Customer.company_name)
        .join(Customer, Customer.id == EclCustomerResult.customer_id)
        .where(*where)
        .order_by(EclCustomerResult.ecl.desc(), EclCustomerResult.customer_id)
        .offset(offset)
        .limit(size)
    ).all()
    return [(r, n) for r, n in rows], int(total or 0)
