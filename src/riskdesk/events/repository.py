"""SQL of the event record."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import func, insert, literal_column, select, union_all
from sqlalchemy.orm import Session

from riskdesk.customers.repository import chunks, key_chunks, rows_in
from riskdesk.kit.money import quantize
from riskdesk.models import (
    Complaint,
    Contract,
    Interaction,
    Invoice,
    InvoiceAdjustment,
    Order,
    OrderCancellation,
    OrderLine,
    Payment,
    PaymentReversal,
    Return,
    SurveyResponse,
)

EventModel = (
    type[Order]
    | type[Invoice]
    | type[Payment]
    | type[Return]
    | type[Complaint]
    | type[SurveyResponse]
    | type[Interaction]
    | type[Contract]
)


def existing_keys(
    session: Session, model: Any, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, str]]:
    """(id, content hash) of stored events keyed by (source, external_id)."""
    result: dict[tuple[str, str], tuple[int, str]] = {}
    for source, part in key_chunks(keys):
        stmt = select(model.source, model.external_id, model.id, model.content_hash).where(
            model.source == source, model.external_id.in_(part)
        )
        for source, external_id, event_id, digest in session.execute(stmt):
            result[(source, external_id)] = (event_id, digest)
    return result


def settled_on_invoice(leave_out_payments: Sequence[int] = ()) -> Any:
    """A correlated scalar of what settles an invoice (``Invoice`` of the outer query): its
    payments (but those left out) less the reversed ones, less its adjustments (a credit note
    settles, an adjustment up owes more). Its amount less this is what is open."""
    paid = (
        select(func.coalesce(func.sum(Payment.amount), 0))
        .where(Payment.invoice_id == Invoice.id, Payment.id.not_in(leave_out_payments))
        .scalar_subquery()
    )
    reversed_ = (
        select(func.coalesce(func.sum(PaymentReversal.amount), 0))
        .where(PaymentReversal.invoice_id == Invoice.id)
        .scalar_subquery()
    )
    adjusted = (
        select(func.coalesce(func.sum(InvoiceAdjustment.amount), 0))
        .where(InvoiceAdjustment.invoice_id == Invoice.id)
        .scalar_subquery()
    )
    return paid - reversed_ - adjusted


def lock_by_key(session: Session, model: Any, keys: set[tuple[str, str]]) -> None:
    """Lock the rows of ``model`` (orders, invoices) with these keys until the transaction
    ends, in id order (two writers never wait for each other in a circle); a no-op on SQLite,
    whose one writer holds the whole database.

    What a writer checks against them next (what is open on an invoice, whether an order is
    invoiced or cancelled) is read after the lock, in a statement of its own: PostgreSQL
    (READ COMMITTED) then sees what a writer that held the lock before committed."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for source, part in key_chunks(keys):
        session.execute(
            select(model.id)
            .where(model.source == source, model.external_id.in_(part))
            .order_by(model.id)
            .with_for_update()
        ).all()


def invoices_by_key(
    session: Session, keys: set[tuple[str, str]], *, lock: bool = False
) -> dict[tuple[str, str], tuple[Invoice, Decimal]]:
    """Invoices and what settles each so far (payments net of reversals and adjustments:
    ``settled_on_invoice``), keyed by (source, external_id); locked first when ``lock`` (a
    writer about to settle or change them)."""
    if lock:
        lock_by_key(session, Invoice, keys)
    result: dict[tuple[str, str], tuple[Invoice, Decimal]] = {}
    settled = settled_on_invoice()
    for source, part in key_chunks(keys):
        stmt = select(Invoice, settled).where(
            Invoice.source == source, Invoice.external_id.in_(part)
        )
        for invoice, settled_amount in session.execute(stmt):
            # SQLite sums NUMERIC as floats; round back to cents before comparing money.
            result[(invoice.source, invoice.external_id)] = (
                invoice,
                quantize(Decimal(settled_amount)),
            )
    return result


def settlement_flows(invoice_ids: Any | None = None) -> Any:
    """What settles invoices, dated, as a subquery (invoice_id, day, amount): payments, less
    reversals (dated when reversed) and adjustments (a credit note settles, an adjustment up
    owes more). ``invoice_ids``: a selectable of the invoices wanted (None: all). Summed up
    to a day, it is what settled each invoice by then."""

    def only(stmt: Any, column: Any) -> Any:
        return stmt if invoice_ids is None else stmt.where(column.in_(invoice_ids))

    flows = union_all(
        only(
            select(
                Payment.invoice_id.label("invoice_id"),
                Payment.paid_on.label("day"),
                Payment.amount.label("amount"),
            ),
            Payment.invoice_id,
        ),
        only(
            select(
                PaymentReversal.invoice_id,
                PaymentReversal.reversed_on,
                (literal_column("0") - PaymentReversal.amount),
            ),
            PaymentReversal.invoice_id,
        ),
        only(
            select(
                InvoiceAdjustment.invoice_id,
                InvoiceAdjustment.adjusted_on,
                (literal_column("0") - InvoiceAdjustment.amount),
            ),
            InvoiceAdjustment.invoice_id,
        ),
    )
    return flows.subquery("settlements")


def invoice_openings(
    session: Session, invoice_ids: Sequence[int]
) -> dict[int, tuple[int, Decimal]]:
    """Per invoice: (customer, amount still open, which may be below zero when overpaid)."""
    result: dict[int, tuple[int, Decimal]] = {}
    open_amount = Invoice.amount - settled_on_invoice()
    for part in chunks(list(invoice_ids)):
        stmt = select(Invoice.id, Invoice.customer_id, open_amount).where(Invoice.id.in_(part))
        for iid, cid, amount in session.execute(stmt):
            result[iid] = (cid, quantize(Decimal(amount)))
    return result


def payments_by_key(
    session: Session, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], tuple[Payment, bool]]:
    """Payments and whether each is reversed already, keyed by (source, external_id)."""
    result: dict[tuple[str, str], tuple[Payment, bool]] = {}
    reversed_ = select(PaymentReversal.id).where(PaymentReversal.payment_id == Payment.id).exists()
    for source, part in key_chunks(keys):
        stmt = select(Payment, reversed_).where(
            Payment.source == source, Payment.external_id.in_(part)
        )
        for payment, is_reversed in session.execute(stmt):
            result[(payment.source, payment.external_id)] = (payment, bool(is_reversed))
    return result


class OrderFound(NamedTuple):
    """An order named by a record, with what the record is checked against."""

    order: Order
    returned: Decimal  # the amount returned on it so far
    cancelled: bool
    invoiced: bool  # any invoice names it


def orders_by_key(
    session: Session, keys: set[tuple[str, str]], *, lock: bool = False
) -> dict[tuple[str, str], OrderFound]:
    """Orders with what is returned on each so far and whether it is cancelled or invoiced,
    keyed by (source, external_id); locked first when ``lock`` (a writer about to invoice,
    return or cancel them)."""
    if lock:
        lock_by_key(session, Order, keys)
    result: dict[tuple[str, str], OrderFound] = {}
    returned = (
        select(func.coalesce(func.sum(Return.amount), 0))
        .where(Return.order_id == Order.id)
        .scalar_subquery()
    )
    cancelled = select(OrderCancellation.id).where(OrderCancellation.order_id == Order.id).exists()
    invoiced = select(Invoice.id).where(Invoice.order_id == Order.id).exists()
    for source, part in key_chunks(keys):
        stmt = select(Order, returned, cancelled, invoiced).where(
            Order.source == source, Order.external_id.in_(part)
        )
        for order, returned_amount, is_cancelled, is_invoiced in session.execute(stmt):
            result[(order.source, order.external_id)] = OrderFound(
                order, quantize(Decimal(returned_amount)), bool(is_cancelled), bool(is_invoiced)
            )
    return result


def insert_rows(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Bulk insert, returning the new ids in the order of ``rows``."""
    if not rows:
        return []
    stmt = insert(model).returning(model.id, sort_by_parameter_order=True)
    return [row_id for (row_id,) in session.execute(stmt, list(rows))]


def insert_lines(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk insert order lines."""
    if rows:
        session.execute(insert(OrderLine), list(rows))


def recent_events(session: Session, customer_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """The customer's latest events of every kind, newest first."""
    result: list[dict[str, Any]] = []
    specs: list[tuple[str, Any, Any, Any, Any, Any]] = [
        ("order", Order, Order.ordered_at, Order.amount, Order.currency, Order.payment_method),
        (
            "invoice",
            Invoice,
            Invoice.issue_date,
            Invoice.amount,
            Invoice.currency,
            Invoice.due_date,
        ),
        ("payment", Payment, Payment.paid_on, Payment.amount, Payment.currency, Payment.method),
        ("return", Return, Return.returned_on, Return.amount, Return.currency, Return.reason),
        ("complaint", Complaint, Complaint.opened_at, None, None, Complaint.category),
        ("survey", SurveyResponse, SurveyResponse.responded_at, None, None, SurveyResponse.score),
        ("interaction", Interaction, Interaction.occurred_at, None, None, Interaction.kind),
        (
            "contract",
            Contract,
            Contract.signed_on,
            Contract.value,
            Contract.currency,
            Contract.fulfilment_status,
        ),
        # Corrections, with the signed change they make (a credit note's is negative).
        (
            "order_cancellation",
            OrderCancellation,
            OrderCancellation.cancelled_on,
            None,
            None,
            OrderCancellation.reason,
        ),
        (
            "invoice_adjustment",
            InvoiceAdjustment,
            InvoiceAdjustment.adjusted_on,
            InvoiceAdjustment.amount,
            InvoiceAdjustment.currency,
            InvoiceAdjustment.kind,
        ),
        (
            "payment_reversal",
            PaymentReversal,
            PaymentReversal.reversed_on,
            PaymentReversal.amount,
            PaymentReversal.currency,
            PaymentReversal.reason,
        ),
    ]
    for kind, model, when, amount, currency, detail in specs:
        cols = [
            model.id,
            model.source,
            model.external_id,
            when,
            amount if amount is not None else None,
            currency,
            detail,
        ]
        stmt = (
            select(*[c for c in cols if c is not None])
            .where(model.customer_id == customer_id)
            .order_by(when.desc())
            .limit(limit)
        )
        for row in session.execute(stmt):
            values = list(row)
            event = {
                "kind": kind,
                "id": values[0],
                "source": values[1],
                "external_id": values[2],
                "when": values[3],
            }
            if amount is not None:
                event["amount"], event["currency"], event["detail"] = (
                    values[4],
                    values[5],
                    values[6],
                )
            else:
                event["amount"], event["currency"], event["detail"] = None, None, values[4]
            result.append(event)

    def sort_key(e: dict[str, Any]) -> str:
        return str(e["when"].isoformat())

    result.sort(key=sort_key, reverse=True)
    return result[:limit]


def count_events(session: Session, customer_id: int) -> dict[str, int]:
    """How many events of each kind a customer has."""
    counts = {}
    for kind, model in (
        ("orders", Order),
        ("invoices", Invoice),
        ("payments", Payment),
        ("returns", Return),
        ("complaints", Complaint),
        ("surveys", SurveyResponse),
        ("interactions", Interaction),
        ("contracts", Contract),
    ):
        stmt = select(func.count()).select_from(model).where(model.customer_id == customer_id)
        counts[kind] = session.scalar(stmt) or 0
    return counts


def order_history(session: Session, customer_id: int) -> list[tuple[Any, Decimal]]:
    """(ordered_at, amount) of a customer's orders, oldest first."""
    stmt = select(Order.ordered_at, Order.amount).where(Order.customer_id == customer_id)
    return [(when, amount) for when, amount in session.execute(stmt.order_by(Order.ordered_at))]


def products_bought(session: Session, customer_ids: Sequence[int]) -> dict[int, set[str]]:
    """The products each customer has ordered (to recognise one named in a complaint)."""
    found: dict[int, set[str]] = {cid: set() for cid in customer_ids}
    stmt = (
        select(Order.customer_id, OrderLine.product)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(OrderLine.product.is_not(None))
        .distinct()
    )
    for cid, product in rows_in(session, stmt, Order.customer_id, list(customer_ids)):
        found[cid].add(product)
    return found
