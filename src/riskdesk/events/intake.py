"""Intake handlers for the event kinds: resolve references, catch resends, write in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel
from sqlalchemy.orm import Session

from riskdesk.customers import service as customer_service
from riskdesk.events import classify
from riskdesk.events import repository as repo
from riskdesk.events.schemas import (
    ComplaintIn,
    ContractIn,
    CreditNoteIn,
    EventIn,
    InteractionIn,
    InvoiceAdjustmentIn,
    InvoiceIn,
    OrderCancellationIn,
    OrderIn,
    PaymentIn,
    PaymentReversalIn,
    ReturnIn,
    SurveyIn,
)
from riskdesk.kit.intake import Item, WriteContext, default_group_rows
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import (
    Complaint,
    Contract,
    Interaction,
    Invoice,
    InvoiceAdjustment,
    Order,
    OrderCancellation,
    Payment,
    PaymentReversal,
    Return,
    SurveyResponse,
)

WRITE_CHUNK = 2000
REF_FIELDS = {"customer_code", "customer_external_id", "customer_source"}
CUSTOMER_FIELDS = ("customer_code", "customer_external_id", "customer_source")


class EventHandler:
    """Resolve customers and keys, write rows in bulk; kinds add their own references."""

    kind: ClassVar[str]
    schema: ClassVar[type[BaseModel]]
    model: ClassVar[Any]
    drop_fields: ClassVar[frozenset[str]] = frozenset()
    group_fields: ClassVar[tuple[str, ...]] = ()

    @property
    def file_fields(self) -> tuple[str, ...]:
        """Fields a file may map."""
        return tuple(self.schema.model_fields)

    def key(self, record: EventIn) -> tuple[str, str]:
        """(source, external_id)."""
        return (record.source, record.external_id)

    def group_rows(self, rows: list[dict[str, Any]], numbers: Sequence[int]) -> list[Item]:
        """One row, one event."""
        return default_group_rows(rows, numbers)

    def resolve(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """Customers, keys already stored, then the kind's own references."""
        customer_service.resolve_customer_refs(session, ctx.principal, items)
        stored = repo.existing_keys(
            session, self.model, {self.key(i.record) for i in items if i.ok}
        )
        for item in items:
            if not item.ok:
                continue
            found = stored.get(self.key(item.record))
            if found is None:
                continue
            event_id, digest = found
            if digest == item.content_hash:
                item.status = "duplicate"
                item.existing_id = item.result_id = event_id
            else:
                item.fail(
                    "external_id",
                    "this key was already used for a record with other "
                    "content; events are append-only",
                    "idempotency_conflict",
                )
        self.resolve_refs(session, [i for i in items if i.ok and i.status == "new"], ctx)

    def resolve_refs(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """Kind-specific references and rules (none by default)."""

    def row_for(self, item: Item, ctx: WriteContext, received: Any) -> dict[str, Any]:
        """The table row of one record."""
        data: dict[str, Any] = item.record.model_dump(exclude=REF_FIELDS | self.drop_fields)
        data.update(
            customer_id=item.customer_id,
            content_hash=item.content_hash,
            received_at=received,
            import_job_id=ctx.import_job_id,
            **item.refs,
        )
        return data

    def write(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """Insert new events in chunks, reporting progress."""
        received = utcnow()
        new = [i for i in items if i.ok and i.status == "new"]
        for start in range(0, len(new), WRITE_CHUNK):
            part = new[start : start + WRITE_CHUNK]
            ids = repo.insert_rows(
                session, self.model, [self.row_for(i, ctx, received) for i in part]
            )
            for item, new_id in zip(part, ids, strict=True):
                item.result_id = new_id
                item.status = "created"
            self.after_insert(session, part)
            if ctx.progress:
                ctx.progress(len(part))

    def after_insert(self, session: Session, items: Sequence[Item]) -> None:
        """Child rows (order lines)."""


def _writing(ctx: WriteContext) -> bool:
    """Whether the records are written in this transaction as they are checked (not a file's
    check on a read-only snapshot): then the orders and invoices they check against are
    locked, so that two writers at once cannot both pass a check only one may (two credit
    notes for what is open once; a cancellation and an invoice of one order)."""
    return ctx.carry is None


def _carried(ctx: WriteContext, name: str) -> dict[Any, Any]:
    """What the earlier chunks of a file being checked left under ``name``, or a new dict."""
    if ctx.carry is None:
        return {}
    found: dict[Any, Any] = ctx.carry.setdefault(name, {})
    return found


def _ref_key(record: Any, source_field: str, id_field: str) -> tuple[str, str]:
    return (getattr(record, source_field, None) or record.source, getattr(record, id_field))


class OrderHandler(EventHandler):
    """Orders with their lines; file rows with the same external_id are one order."""

    kind = "orders"
    schema = OrderIn
    model = Order
    drop_fields = frozenset({"lines"})
    group_fields = ("source", "external_id")
    line_fields = ("category", "product", "quantity", "line_amount")

    @property
    def file_fields(self) -> tuple[str, ...]:
        """Order fields plus one line per row."""
        return tuple(f for f in OrderIn.model_fields if f != "lines") + self.line_fields

    def group_rows(self, rows: list[dict[str, Any]], numbers: Sequence[int]) -> list[Item]:
        """Rows sharing (source, external_id) are the lines of one order."""
        items: dict[tuple[Any, Any], Item] = {}
        ordered: list[Item] = []
        for number, row in zip(numbers, rows, strict=True):
            line = {
                "category": row.get("category"),
                "product": row.get("product"),
                "quantity": row.get("quantity") or "1",
                "amount": row.get("line_amount") or row.get("amount"),
            }
            head = {k: v for k, v in row.items() if k not in self.line_fields}
            key = (head.get("source"), head.get("external_id"))
            item = items.get(key) if key[1] else None
            if item is None:
                item = Item(row=number, raw={**head, "lines": [line]})
                ordered.append(item)
                if key[1]:
                    items[key] = item
            else:
                item.raw["lines"].append(line)
                if not row.get("line_amount"):
                    item.fail(
                        "line_amount",
                        "orders with several lines need line_amount on each row",
                        "required",
                    )
        return ordered

    def after_insert(self, session: Session, items: Sequence[Item]) -> None:
        """Store the lines of the new orders."""
        repo.insert_lines(
            session,
            [
                {
                    "order_id": item.result_id,
                    "line_no": n,
                    "category": line.category,
                    "product": line.product,
                    "quantity": line.quantity,
                    "amount": line.amount,
                }
                for item in items
                for n, line in enumerate(item.record.lines, start=1)
            ],
        )


class InvoiceHandler(EventHandler):
    """Invoices, optionally against an order of the same customer."""

    kind = "invoices"
    schema = InvoiceIn
    model = Invoice
    drop_fields = frozenset({"order_external_id"})

    def resolve_refs(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """The order, if named, must exist and be the customer's."""
        wanted = {
            _ref_key(i.record, "source", "order_external_id")
            for i in items
            if i.record.order_external_id
        }
        orders = repo.orders_by_key(session, wanted, lock=_writing(ctx))
        for item in items:
            if not item.record.order_external_id:
                item.refs["order_id"] = None
                continue
            found = orders.get(_ref_key(item.record, "source", "order_external_id"))
            if found is not None and found.cancelled:
                item.fail("order_external_id", "the order is cancelled", "order_cancelled")
                continue
            if found is None:
                item.fail(
                    "order_external_id", "no such order from this source", "unknown_reference"
                )
            elif found.order.customer_id != item.customer_id:
                item.fail(
                    "order_external_id",
                    "the order belongs to another customer",
                    "customer_mismatch",
                )
            else:
                item.refs["order_id"] = found.order.id


class PaymentHandler(EventHandler):
    """Payments: the invoice must exist, match the currency and have enough open."""

    kind = "payments"
    schema = PaymentIn
    model = Payment
    drop_fields = frozenset({"invoice_external_id"})

    def resolve_refs(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """Check each payment against its invoice's open amount, in batch order."""
        keys = {_ref_key(i.record, "source", "invoice_external_id") for i in items}
        invoices = repo.invoices_by_key(session, keys, lock=_writing(ctx))
        # A file checked before it is written: its earlier chunks' payments count as paid.
        paid_in_batch: dict[int, Decimal] = _carried(ctx, "paid")
        for item in items:
            rec = item.record
            found = invoices.get(_ref_key(rec, "source", "invoice_external_id"))
            if found is None:
                item.fail(
                    "invoice_external_id", "no such invoice from this source", "unknown_reference"
                )
                continue
            invoice, paid = found
            if item.customer_id is not None and item.customer_id != invoice.customer_id:
                item.fail(
                    _customer_field(rec),
                    "the invoice belongs to another customer",
                    "customer_mismatch",
                )
                continue
            if rec.currency != invoice.currency:
                item.fail("currency", f"the invoice is in {invoice.currency}", "currency_mismatch")
                continue
            # ``paid``: what settles the invoice, net of reversals and adjustments.
            already = paid + paid_in_batch.get(invoice.id, Decimal(0))
            open_amount = invoice.amount - already
            if rec.amount > open_amount and not rec.overpayment:
                item.fail(
                    "amount",
                    f"exceeds the invoice's open amount {open_amount:.2f}; "
                    "set overpayment to accept it",
                    "exceeds_open_amount",
                )
                continue
            paid_in_batch[invoice.id] = paid_in_batch.get(invoice.id, Decimal(0)) + rec.amount
            item.customer_id = invoice.customer_id
            item.refs["invoice_id"] = invoice.id


class ReturnHandler(EventHandler):
    """Returns: the order must exist and not be returned beyond its amount."""

    kind = "returns"
    schema = ReturnIn
    model = Return
    drop_fields = frozenset({"order_external_id"})

    def resolve_refs(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """Check each return against its order, in batch order."""
        keys = {_ref_key(i.record, "source", "order_external_id") for i in items}
        orders = repo.orders_by_key(session, keys, lock=_writing(ctx))
        returned_in_batch: dict[int, Decimal] = _carried(ctx, "returned")
        for item in items:
            rec = item.record
            found = orders.get(_ref_key(rec, "source", "order_external_id"))
            if found is None:
                item.fail(
                    "order_external_id", "no such order from this source", "unknown_reference"
                )
                continue
            if found.cancelled:
                item.fail("order_external_id", "the order is cancelled", "order_cancelled")
                continue
            order, returned = found.order, found.returned
            if item.customer_id is not None and item.customer_id != order.customer_id:
                item.fail(
                    _customer_field(rec),
                    "the order belongs to another customer",
                    "customer_mismatch",
                )
                continue
            if rec.currency != order.currency:
                item.fail("currency", f"the order is in {order.currency}", "currency_mismatch")
                continue
            if rec.returned_on < order.ordered_at.date():
                item.fail("returned_on", "a return cannot precede its order", "before_order")
                continue
            already = returned + returned_in_batch.get(order.id, Decimal(0))
            if rec.amount > order.amount - already:
                item.fail(
                    "amount",
                    f"exceeds what is left to return on the order ({order.amount - already:.2f})",
                    "exceeds_order_amount",
                )
                continue
            returned_in_batch[order.id] = returned_in_batch.get(order.id, Decimal(0)) + rec.amount
            item.customer_id = order.customer_id
            item.refs["order_id"] = order.id


class ComplaintHandler(EventHandler):
    """Complaints."""

    kind = "complaints"
    schema = ComplaintIn
    model = Complaint

    def resolve_refs(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """Classify what the source left open, and set the response SLA of open ones."""
        unnamed = [
            i.customer_id for i in items if i.record.product is None and i.record.description
        ]
        bought = repo.products_bought(session, sorted({c for c in unnamed if c is not None}))
        for item in items:
            rec = item.record
            if rec.category is None:
                item.refs["category"] = classify.category(rec.description)
                item.refs["classified"] = "auto"
            if rec.product is None and rec.description and item.customer_id in bought:
                named = classify.product(rec.description, bought[item.customer_id])
                if named:
                    item.refs["product"] = named
                    item.refs["classified"] = "auto"
            if rec.status in ("open", "in_progress"):
                item.refs.update(classify.sla_times(rec.severity, rec.opened_at))


class SurveyHandler(EventHandler):
    """Survey responses."""

    kind = "surveys"
    schema = SurveyIn
    model = SurveyResponse


class InteractionHandler(EventHandler):
    """Interactions, each with the user who recorded it."""

    kind = "interactions"
    schema = InteractionIn
    model = Interaction

    def row_for(self, item: Item, ctx: WriteContext, received: Any) -> dict[str, Any]:
        """The row, with who recorded it (the form's user, or the API token's)."""
        row = super().row_for(item, ctx, received)
        row["recorded_by_id"] = getattr(ctx.principal, "user_id", None)
        return row


class ContractHandler(EventHandler):
    """Contracts."""

    kind = "contracts"
    schema = ContractIn
    model = Contract


# ---------------------------------------------------------------- corrections


def _customer_field(record: Any) -> str:
    return "customer_code" if record.customer_code else "customer_external_id"


class OrderCancellationHandler(EventHandler):
    """Cancellations: the order must exist, be open (not cancelled) and not yet invoiced."""

    kind = "order_cancellations"
    schema = OrderCancellationIn
    model = OrderCancellation
    drop_fields = frozenset({"order_external_id"})

    def resolve_refs(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """Check each cancellation against its order, in batch order."""
        keys = {_ref_key(i.record, "source", "order_external_id") for i in items}
        orders = repo.orders_by_key(session, keys, lock=_writing(ctx))
        cancelled_in_batch: dict[int, int] = _carried(ctx, "cancelled")
        for item in items:
            rec = item.record
            found = orders.get(_ref_key(rec, "source", "order_external_id"))
            if found is None:
                item.fail(
                    "order_external_id", "no such order from this source", "unknown_reference"
                )
                continue
            order, cancelled, invoiced = found.order, found.cancelled, found.invoiced
            if item.customer_id is not None and item.customer_id != order.customer_id:
                item.fail(
                    _customer_field(rec),
                    "the order belongs to another customer",
                    "customer_mismatch",
                )
            elif cancelled or order.id in cancelled_in_batch:
                item.fail(
                    "order_external_id", "the order is already cancelled", "already_cancelled"
                )
            elif invoiced:
                item.fail(
                    "order_external_id",
                    "the order is already invoiced; credit or adjust its invoice instead",
                    "already_invoiced",
                )
            elif rec.cancelled_on < order.ordered_at.date():
                item.fail("cancelled_on", "a cancellation cannot precede its order", "before_order")
            else:
                cancelled_in_batch[order.id] = item.row
                item.customer_id = order.customer_id
                item.refs["order_id"] = order.id


class _InvoiceChangeHandler(EventHandler):
    """Credit notes and adjustments: the invoice must exist and be in the same currency, and
    what lowers it may not exceed what is still open on it."""

    model = InvoiceAdjustment
    drop_fields = frozenset({"invoice_external_id"})
    adjustment_kind: ClassVar[str]
    dated: ClassVar[str]

    def change(self, record: Any) -> Decimal:
        """The signed change of the invoice's amount."""
        return Decimal(record.amount)

    def resolve_refs(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """Check each change against its invoice's open amount, in batch order."""
        keys = {_ref_key(i.record, "source", "invoice_external_id") for i in items}
        invoices = repo.invoices_by_key(session, keys, lock=_writing(ctx))
        # What earlier records of the batch (or of a file's earlier chunks) settle, per invoice.
        settled_in_batch: dict[int, Decimal] = _carried(ctx, "adjusted")
        for item in items:
            rec = item.record
            found = invoices.get(_ref_key(rec, "source", "invoice_external_id"))
            if found is None:
                item.fail(
                    "invoice_external_id", "no such invoice from this source", "unknown_reference"
                )
                continue
            invoice, settled = found
            change = self.change(rec)
            open_amount = invoice.amount - settled - settled_in_batch.get(invoice.id, Decimal(0))
            if item.customer_id is not None and item.customer_id != invoice.customer_id:
                item.fail(
                    _customer_field(rec),
                    "the invoice belongs to another customer",
                    "customer_mismatch",
                )
            elif rec.currency != invoice.currency:
                item.fail("currency", f"the invoice is in {invoice.currency}", "currency_mismatch")
            elif getattr(rec, self.dated) < invoice.issue_date:
                item.fail(self.dated, "cannot precede the invoice's issue date", "before_invoice")
            elif change < 0 and -change > open_amount:
                item.fail(
                    "amount",
                    f"exceeds the invoice's open amount {max(open_amount, Decimal(0)):.2f}",
                    "exceeds_open_amount",
                )
            else:
                settled_in_batch[invoice.id] = settled_in_batch.get(invoice.id, Decimal(0)) - change
                item.customer_id = invoice.customer_id
                item.refs["invoice_id"] = invoice.id

    def row_for(self, item: Item, ctx: WriteContext, received: Any) -> dict[str, Any]:
        """The adjustment row: the signed change, dated, and of which kind."""
        data = super().row_for(item, ctx, received)
        data.pop(self.dated, None)
        data.update(
            kind=self.adjustment_kind,
            amount=self.change(item.record),
            adjusted_on=getattr(item.record, self.dated),
        )
        return data


class CreditNoteHandler(_InvoiceChangeHandler):
    """Credit notes: the invoice asks for that much less."""

    kind = "credit_notes"
    schema = CreditNoteIn
    adjustment_kind = "credit_note"
    dated = "issued_on"

    def change(self, record: Any) -> Decimal:
        """A credit note lowers the invoice."""
        return -Decimal(record.amount)


class InvoiceAdjustmentHandler(_InvoiceChangeHandler):
    """Adjustments of an invoice's amount, either way."""

    kind = "invoice_adjustments"
    schema = InvoiceAdjustmentIn
    adjustment_kind = "adjustment"
    dated = "adjusted_on"


class PaymentReversalHandler(EventHandler):
    """Reversals: the payment must exist and not be reversed already."""

    kind = "payment_reversals"
    schema = PaymentReversalIn
    model = PaymentReversal
    drop_fields = frozenset({"payment_external_id"})

    def resolve_refs(self, session: Session, items: Sequence[Item], ctx: WriteContext) -> None:
        """Check each reversal against its payment, in batch order."""
        keys = {_ref_key(i.record, "source", "payment_external_id") for i in items}
        payments = repo.payments_by_key(session, keys)
        reversed_in_batch: dict[int, int] = _carried(ctx, "reversed")
        for item in items:
            rec = item.record
            found = payments.get(_ref_key(rec, "source", "payment_external_id"))
            if found is None:
                item.fail(
                    "payment_external_id", "no such payment from this source", "unknown_reference"
                )
                continue
            payment, is_reversed = found
            if item.customer_id is not None and item.customer_id != payment.customer_id:
                item.fail(
                    _customer_field(rec),
                    "the payment belongs to another customer",
                    "customer_mismatch",
                )
            elif is_reversed or payment.id in reversed_in_batch:
                item.fail(
                    "payment_external_id", "the payment is already reversed", "already_reversed"
                )
            elif rec.reversed_on < payment.paid_on:
                item.fail("reversed_on", "a reversal cannot precede its payment", "before_payment")
            else:
                reversed_in_batch[payment.id] = item.row
                item.customer_id = payment.customer_id
                item.refs.update(
                    payment_id=payment.id,
                    invoice_id=payment.invoice_id,
                    amount=payment.amount,
                    currency=payment.currency,
                )


EVENT_HANDLERS: dict[str, EventHandler] = {
    h.kind: h
    for h in (
        OrderHandler(),
        InvoiceHandler(),
        PaymentHandler(),
        ReturnHandler(),
        ComplaintHandler(),
        SurveyHandler(),
        InteractionHandler(),
        ContractHandler(),
        OrderCancellationHandler(),
        CreditNoteHandler(),
        InvoiceAdjustmentHandler(),
        PaymentReversalHandler(),
    )
}
