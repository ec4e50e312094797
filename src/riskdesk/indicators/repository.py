"""SQL of the indicators: read events into Polars frames in one query per source, store results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Float, cast, delete, func, insert, select, update
from sqlalchemy.orm import Session

from riskdesk.customers.repository import CustomerFilter, chunks, conditions, rows_in
from riskdesk.db import stream_columns
from riskdesk.indicators import state
from riskdesk.indicators.compute import SCHEMAS, EventFrames
from riskdesk.kit.frames import frame_of_rows
from riskdesk.models import (
    Complaint,
    CreditProfile,
    Customer,
    IndicatorReference,
    IndicatorSnapshot,
    IndicatorState,
    Interaction,
    Invoice,
    InvoiceAdjustment,
    Order,
    OrderCancellation,
    OrderLine,
    Payment,
    PaymentReversal,
    Return,
    StagedIndicatorSnapshot,
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
    return frame_of_rows(rows_in(session, stmt, customer_col, customer_ids), schema)


def _statements(keyed: bool) -> dict[str, tuple[Any, dict[str, Any], Any]]:
    """Per source: the statement, its frame's schema, and its customer column. ``keyed`` adds
    the row id where the formulas' columns lack one (what the indicator state merges by)."""

    def key(column: Any) -> list[Any]:
        return [column] if keyed else []

    def with_key(schema: dict[str, Any]) -> dict[str, Any]:
        return {**schema, state.ID: pl.Int64} if keyed else schema

    # Corrections apply: a cancelled order and a reversed payment are not read, an invoice's
    # amount is its own plus its adjustments (credit notes lower it).
    live_order = (
        ~select(OrderCancellation.id).where(OrderCancellation.order_id == Order.id).exists()
    )
    kept_payment = (
        ~select(PaymentReversal.id).where(PaymentReversal.payment_id == Payment.id).exists()
    )
    adjusted = (
        select(func.coalesce(func.sum(InvoiceAdjustment.amount), 0))
        .where(InvoiceAdjustment.invoice_id == Invoice.id)
        .scalar_subquery()
    )
    return {
        "customers": (
            select(Customer.id, Customer.segment).where(Customer.status != "merged"),
            SCHEMAS["customers"],
            Customer.id,
        ),
        "orders": (
            select(
                Order.id,
                Order.customer_id,
                Order.ordered_at,
                cast(Order.amount, Float),
                Order.payment_method,
            ).where(live_order),
            {**SCHEMAS["orders"], "day": _TS},
            Order.customer_id,
        ),
        "order_lines": (
            select(
                OrderLine.order_id,
                Order.customer_id,
                Order.ordered_at,
                OrderLine.category,
                cast(OrderLine.quantity, Float),
                cast(OrderLine.amount, Float),
            )
            .join(Order, Order.id == OrderLine.order_id)
            .where(live_order),
            {**SCHEMAS["order_lines"], "day": _TS},
            Order.customer_id,
        ),
        "invoices": (
            select(
                Invoice.id,
                Invoice.customer_id,
                Invoice.order_id,
                Invoice.issue_date,
                Invoice.due_date,
                cast(Invoice.amount + adjusted, Float),
            ),
            SCHEMAS["invoices"],
            Invoice.customer_id,
        ),
        "payments": (
            select(
                Payment.invoice_id,
                Payment.customer_id,
                Payment.paid_on,
                cast(Payment.amount, Float),
                *key(Payment.id),
            ).where(kept_payment),
            with_key(SCHEMAS["payments"]),
            Payment.customer_id,
        ),
        "returns": (
            select(
                Return.customer_id,
                Return.returned_on,
                cast(Return.amount, Float),
                Return.reason,
                *key(Return.id),
            ),
            with_key(SCHEMAS["returns"]),
            Return.customer_id,
        ),
        "complaints": (
            select(
                Complaint.customer_id,
                Complaint.opened_at,
                Complaint.resolved_at,
                Complaint.severity,
                *key(Complaint.id),
            ),
            with_key(SCHEMAS["complaints"]),
            Complaint.customer_id,
        ),
        "surveys": (
            select(
                SurveyResponse.customer_id,
                SurveyResponse.responded_at,
                SurveyResponse.survey_type,
                cast(SurveyResponse.score, Float),
                *key(SurveyResponse.id),
            ),
            with_key(SCHEMAS["surveys"]),
            SurveyResponse.customer_id,
        ),
        "interactions": (
            select(Interaction.customer_id, Interaction.occurred_at, *key(Interaction.id)),
            with_key({"customer_id": pl.Int64, "day": _TS}),
            Interaction.customer_id,
        ),
    }


# Sources read with a timestamp that the formulas take as a day.
_AS_DAYS = ("orders", "order_lines", "interactions")


def _read(
    session: Session,
    source: str,
    statements: dict[str, tuple[Any, dict[str, Any], Any]],
    column: Any,
    ids: Sequence[int] | None,
) -> pl.DataFrame:
    stmt, schema, _ = statements[source]
    frame = _frame(session, stmt, schema, column, ids)
    return frame.with_columns(pl.col("day").dt.date()) if source in _AS_DAYS else frame


def load_frames(
    session: Session, customer_ids: Sequence[int] | None = None, *, keyed: bool = False
) -> EventFrames:
    """Every source the indicators read, for some customers or (None) for all live ones;
    ``keyed`` adds each row's id where the formulas' columns lack one."""
    statements = _statements(keyed)
    return EventFrames(
        **{
            source: _read(session, source, statements, customer_col, customer_ids)
            for source, (_, _, customer_col) in statements.items()
        }
    )


def load_changes(session: Session, refs: Mapping[str, Iterable[int]]) -> EventFrames:
    """The rows the given ids name (source -> ids), keyed, with the rows they need: an
    invoice's payments and order, a payment's invoice, an order's lines. The customers frame
    is empty (the caller reads the customers)."""
    statements = _statements(True)

    def ids(source: str) -> list[int]:
        return sorted(set(refs.get(source, ())))

    paid = _read(session, "payments", statements, Payment.id, ids("payments"))
    invoice_ids = sorted(set(ids("invoices")) | set(paid["invoice_id"].drop_nulls().to_list()))
    invoices = _read(session, "invoices", statements, Invoice.id, invoice_ids)
    payments = pl.concat(
        [paid, _read(session, "payments", statements, Payment.invoice_id, invoice_ids)]
    ).unique(state.ID, keep="first", maintain_order=True)
    order_ids = sorted(set(ids("orders")) | set(invoices["order_id"].drop_nulls().to_list()))
    return EventFrames(
        customers=pl.DataFrame(schema=SCHEMAS["customers"]),
        orders=_read(session, "orders", statements, Order.id, order_ids),
        order_lines=_read(session, "order_lines", statements, OrderLine.order_id, order_ids),
        invoices=invoices,
        payments=payments,
        returns=_read(session, "returns", statements, Return.id, ids("returns")),
        complaints=_read(session, "complaints", statements, Complaint.id, ids("complaints")),
        surveys=_read(session, "surveys", statements, SurveyResponse.id, ids("surveys")),
        interactions=_read(
            session, "interactions", statements, Interaction.id, ids("interactions")
        ),
    )


def load_customers(session: Session, customer_ids: Sequence[int]) -> pl.DataFrame:
    """The standing customers among the given ones, as the formulas read them."""
    return _read(session, "customers", _statements(False), Customer.id, customer_ids)


def load_states(
    session: Session, customer_ids: Sequence[int]
) -> dict[int, tuple[dt.date, dt.datetime, bytes]]:
    """Stored indicator states: customer -> (trimmed as of, built at, events)."""
    stmt = select(
        IndicatorState.customer_id,
        IndicatorState.trimmed_as_of,
        IndicatorState.built_at,
        IndicatorState.events,
    )
    rows = rows_in(session, stmt, IndicatorState.customer_id, customer_ids)
    return {r[0]: (r[1], r[2], bytes(r[3])) for r in rows}


def store_states(
    session: Session,
    blobs: Mapping[int, bytes],
    *,
    trimmed_as_of: dt.date,
    built_at: Mapping[int, dt.datetime],
) -> None:
    """Replace the states of the customers in ``blobs``. Only the worker that owns the
    customers' partition writes them, so a delete and insert cannot race another writer."""
    drop_states(session, list(blobs))
    rows = [
        {
            "customer_id": cid,
            "trimmed_as_of": trimmed_as_of,
            "built_at": built_at[cid],
            "events": blob,
        }
        for cid, blob in blobs.items()
    ]
    for part in chunks(rows, 500):
        session.execute(insert(IndicatorState), list(part))


def drop_states(session: Session, customer_ids: Sequence[int]) -> None:
    """Forget some customers' states (the next work rebuilds them from the event record)."""
    for part in chunks(list(customer_ids)):
        session.execute(delete(IndicatorState).where(IndicatorState.customer_id.in_(part)))


def snapshot_population(session: Session) -> pl.DataFrame | None:
    """REFERENCE_COLUMNS of every stored snapshot (the whole population), or None."""
    from riskdesk.indicators.compute import REFERENCE_COLUMNS

    # The database picks the few values out of each JSON document (json_extract, ->>): decoding
    # every document in Python cost 18 µs a customer.
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


def latest_reference(session: Session) -> IndicatorReference | None:
    """The newest stored population summary."""
    stmt = select(IndicatorReference).order_by(IndicatorReference.id.desc()).limit(1)
    return session.scalars(stmt).first()


def store_reference(
    session: Session,
    summary: dict[str, Any],
    *,
    customers: int,
    as_of: dt.date,
    computed_at: dt.datetime,
    keep_days: int = 90,
) -> None:
    """Store a population summary, and forget those older than ``keep_days``."""
    session.execute(
        delete(IndicatorReference).where(
            IndicatorReference.computed_at < computed_at - dt.timedelta(days=keep_days)
        )
    )
    session.add(
        IndicatorReference(
            as_of=as_of, computed_at=computed_at, customers=customers, summary=summary
        )
    )
    session.flush()


def store(
    session: Session, result: pl.DataFrame, *, as_of: dt.date, computed_at: dt.datetime
) -> int:
    """Replace the snapshots of the customers in ``result``."""
    ids = result["customer_id"].to_list()
    for part in chunks(ids):
        session.execute(delete(IndicatorSnapshot).where(IndicatorSnapshot.customer_id.in_(part)))
    rows = _snapshot_rows(result, as_of, computed_at)
    for part in chunks(rows, 2000):
        session.execute(insert(IndicatorSnapshot), list(part))
    return len(rows)


def _snapshot_rows(
    result: pl.DataFrame, as_of: dt.date, computed_at: dt.datetime
) -> list[dict[str, Any]]:
    names = [c for c in result.columns if c != "customer_id"]
    return [
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


def stage(
    session: Session,
    result: pl.DataFrame,
    *,
    batch_id: int,
    as_of: dt.date,
    computed_at: dt.datetime,
    seen: Mapping[int, dt.datetime | None],
) -> int:
    """Keep the snapshots of the customers in ``result`` aside under a batch, with the
    snapshot each customer had when the batch read (``seen``), until apply_staged."""
    rows = _snapshot_rows(result, as_of, computed_at)
    for r in rows:
        r["batch_id"], r["seen_at"] = batch_id, seen.get(r["customer_id"])
    for part in chunks(rows, 2000):
        session.execute(insert(StagedIndicatorSnapshot), list(part))
    return len(rows)


def apply_staged(session: Session, batch_id: int, customer_ids: Sequence[int] | None = None) -> int:
    """Make a batch's staged snapshots (of some customers; None: all) the customers'
    snapshots, set-based: those who have one get it updated in place, the others a new one.

    Guarded row by row: a snapshot another writer stored after the batch read (its
    ``computed_at`` is no longer the staged ``seen_at``) is kept, even when that writer commits
    between the caller's own check and this statement. The staged rows stay for drop_staged."""
    staged = StagedIndicatorSnapshot
    mine = [staged.batch_id == batch_id]
    parts: list[Sequence[int] | None] = (
        [None] if customer_ids is None else list(chunks(list(customer_ids)))
    )
    columns = ("customer_id", "as_of", "computed_at", "values")
    has_one = select(IndicatorSnapshot.customer_id).where(
        IndicatorSnapshot.customer_id == staged.customer_id
    )
    applied = 0
    for part in parts:
        these = mine if part is None else [*mine, staged.customer_id.in_(part)]
        updated = session.execute(
            update(IndicatorSnapshot)
            .where(
                IndicatorSnapshot.customer_id == staged.customer_id,
                IndicatorSnapshot.computed_at.is_not_distinct_from(staged.seen_at),
                *these,
            )
            .values(as_of=staged.as_of, computed_at=staged.computed_at, values=staged.values)
            .execution_options(synchronize_session=False)
        )
        inserted = session.execute(
            insert(IndicatorSnapshot).from_select(
                list(columns),
                select(*[getattr(staged, c) for c in columns]).where(
                    *these, staged.seen_at.is_(None), ~has_one.exists()
                ),
            )
        )
        applied += sum(int(getattr(r, "rowcount", 0) or 0) for r in (updated, inserted))
    return applied


def drop_staged(session: Session, batch_id: int, customer_ids: Sequence[int] | None) -> None:
    """Forget a batch's staged snapshots (of some customers; None: all)."""
    stmt = delete(StagedIndicatorSnapshot).where(StagedIndicatorSnapshot.batch_id == batch_id)
    if customer_ids is None:
        session.execute(stmt)
        return
    for part in chunks(list(customer_ids)):
        session.execute(stmt.where(StagedIndicatorSnapshot.customer_id.in_(part)))


def drop_snapshots(session: Session, customer_ids: Sequence[int]) -> None:
    """Delete the snapshots of some customers."""
    for part in chunks(list(customer_ids)):
        session.execute(delete(IndicatorSnapshot).where(IndicatorSnapshot.customer_id.in_(part)))


def get_snapshot(session: Session, customer_id: int) -> IndicatorSnapshot | None:
    """A customer's latest indicator values."""
    return session.get(IndicatorSnapshot, customer_id)


def ageing_for_export(session: Session, flt: CustomerFilter, *, chunk: int) -> Iterator[Any]:
    """Each filtered customer's latest indicator snapshot (its receivables by ageing bucket)
    beside its tier and currency, by customer id, streamed ``chunk`` rows at a time; a
    customer never computed has no snapshot (None)."""
    stmt = (
        select(
            Customer.id,
            Customer.kind,
            Customer.company_name,
            Customer.person_name,
            CreditProfile.risk_tier,
            CreditProfile.limit_currency,
            IndicatorSnapshot.as_of,
            IndicatorSnapshot.values,
        )
        .join(CreditProfile, CreditProfile.customer_id == Customer.id)
        .outerjoin(IndicatorSnapshot, IndicatorSnapshot.customer_id == Customer.id)
        .where(*conditions(flt))
        .order_by(Customer.id)
    )
    return stream_columns(session, stmt, chunk)
