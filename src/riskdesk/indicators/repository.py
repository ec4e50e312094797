"""SQL of the indicators: read events into Polars frames in one query per source, store results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl
from sqlalchemy import Float, cast, delete, insert, select
from sqlalchemy.orm import Session

from riskdesk.customers.repository import chunks, rows_in
from riskdesk.indicators.compute import SCHEMAS, EventFrames
from riskdesk.models import (
    Complaint,
    Customer,
    IndicatorSnapshot,
    Interaction,
    Invoice,
    Order,
    OrderLine,
    Payment,
    Return,
    SurveyResponse,
)

_TS = pl.Datetime("us", "UTC")


def _frame(
    session: Session,
    stmt: Any,
    schema: dict[str, Any],
    customer_col: Any,
    customer_ids: Sequence[int] | None,
) -> pl.DataFrame:
    rows = rows_in(session, stmt, customer_col, customer_ids)
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")


def load_frames(session: Session, customer_ids: Sequence[int] | None = None) -> EventFrames:
    """Every source the indicators read, for some customers or (None) for all live ones."""
    amount = cast(Order.amount, Float)
    customers = _frame(
        session,
        select(Customer.id, Customer.segment).where(Customer.status != "merged"),
        SCHEMAS["customers"],
        Customer.id,
        customer_ids,
    )
    orders = _frame(
        session,
        select(Order.id, Order.customer_id, Order.ordered_at, amount, Order.payment_method),
        {
            "order_id": pl.Int64,
            "customer_id": pl.Int64,
            "day": _TS,
            "amount": pl.Float64,
            "payment_method": pl.String,
        },
        Order.customer_id,
        customer_ids,
    ).with_columns(pl.col("day").dt.date())
    lines = _frame(
        session,
        select(
            OrderLine.order_id,
            Order.customer_id,
            Order.ordered_at,
            OrderLine.category,
            cast(OrderLine.quantity, Float),
            cast(OrderLine.amount, Float),
        ).join(Order, Order.id == OrderLine.order_id),
        {
            "order_id": pl.Int64,
            "customer_id": pl.Int64,
            "day": _TS,
            "category": pl.String,
            "quantity": pl.Float64,
            "amount": pl.Float64,
        },
        Order.customer_id,
        customer_ids,
    ).with_columns(pl.col("day").dt.date())
    invoices = _frame(
        session,
        select(
            Invoice.id,
            Invoice.customer_id,
            Invoice.order_id,
            Invoice.issue_date,
            Invoice.due_date,
            cast(Invoice.amount, Float),
        ),
        SCHEMAS["invoices"],
        Invoice.customer_id,
        customer_ids,
    )
    payments = _frame(
        session,
        select(
            Payment.invoice_id, Payment.customer_id, Payment.paid_on, cast(Payment.amount, Float)
        ),
        SCHEMAS["payments"],
        Payment.customer_id,
        customer_ids,
    )
    returns = _frame(
        session,
        select(Return.customer_id, Return.returned_on, cast(Return.amount, Float), Return.reason),
        SCHEMAS["returns"],
        Return.customer_id,
        customer_ids,
    )
    complaints = _frame(
        session,
        select(
            Complaint.customer_id, Complaint.opened_at, Complaint.resolved_at, Complaint.severity
        ),
        SCHEMAS["complaints"],
        Complaint.customer_id,
        customer_ids,
    )
    surveys = _frame(
        session,
        select(
            SurveyResponse.customer_id,
            SurveyResponse.responded_at,
            SurveyResponse.survey_type,
            cast(SurveyResponse.score, Float),
        ),
        SCHEMAS["surveys"],
        SurveyResponse.customer_id,
        customer_ids,
    )
    interactions = _frame(
        session,
        select(Interaction.customer_id, Interaction.occurred_at),
        {"customer_id": pl.Int64, "day": _TS},
        Interaction.customer_id,
        customer_ids,
    ).with_columns(pl.col("day").dt.date())
    return EventFrames(
        customers=customers,
        orders=orders,
        order_lines=lines,
        invoices=invoices,
        payments=payments,
        returns=returns,
        complaints=complaints,
        surveys=surveys,
        interactions=interactions,
    )


def reference(session: Session) -> pl.DataFrame | None:
    """The latest stored values the population indicators rank against, or None."""
    from riskdesk.indicators.compute import REFERENCE_COLUMNS

    # The database picks the few values out of each JSON document (json_extract, ->>): decoding
    # every document in Python cost 18 µs a customer, on every event.
    names = REFERENCE_COLUMNS[1:]
    stmt = select(
        Customer.segment, *[IndicatorSnapshot.values[n].as_float().label(n) for n in names]
    ).join(Customer, Customer.id == IndicatorSnapshot.customer_id)
    rows = session.execute(stmt).all()
    if not rows:
        return None
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={"segment": pl.String, **{n: pl.Float64 for n in names}},
        orient="row",
    )


def store(
    session: Session, result: pl.DataFrame, *, as_of: dt.date, computed_at: dt.datetime
) -> int:
    """Replace the snapshots of the customers in ``result``."""
    ids = result["customer_id"].to_list()
    for part in chunks(ids):
        session.execute(delete(IndicatorSnapshot).where(IndicatorSnapshot.customer_id.in_(part)))
    names = [c for c in result.columns if c != "customer_id"]
    rows = [
        {
            "customer_id": row[0],
            "as_of": as_of,
            "computed_at": computed_at,
            "values": {
                n: (None if v is None or v != v else float(v))
                for n, v in zip(names, row[1:], strict=True)
            },
        }
        for row in result.iter_rows()
    ]
    for part in chunks(rows, 2000):
        session.execute(insert(IndicatorSnapshot), list(part))
    return len(rows)


def drop_snapshots(session: Session, customer_ids: Sequence[int]) -> None:
    """Delete the snapshots of some customers."""
    for part in chunks(list(customer_ids)):
        session.execute(delete(IndicatorSnapshot).where(IndicatorSnapshot.customer_id.in_(part)))


def get_snapshot(session: Session, customer_id: int) -> IndicatorSnapshot | None:
    """A customer's latest indicator values."""
    return session.get(IndicatorSnapshot, customer_id)
