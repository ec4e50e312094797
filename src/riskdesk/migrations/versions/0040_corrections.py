"""corrections as events: order cancellations, invoice adjustments (credit notes), payment
reversals

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-06 22:00:00

Corrections are events of their own, each naming the event it corrects; the corrected
event stays as it was sent. The balances migration 0038's triggers keep follow them: an
adjustment or a reversal derives its invoice's balance row afresh (an invoice settled may be
owed again, one open may become settled), and one dated on or before the latest month end
stored marks the invoice's customer stale, as a late payment does. In invoice_balances,
``paid`` is what settles the invoice: its payments less the reversed ones, less the
adjustments (a credit note of 100 settles 100; an adjustment up of 100 owes 100 more).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from riskdesk.models.types import Money, UTCDateTime

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The balance row of the invoice :id derived afresh (as portfolio.month_end_repository's
# rebuild_balances derives every one): kept while more than half a cent is open.
_REDERIVE = """
        DELETE FROM invoice_balances WHERE invoice_id = {id};
        INSERT INTO invoice_balances (invoice_id, customer_id, issue_date, due_date, amount, paid)
        SELECT i.id, i.customer_id, i.issue_date, i.due_date, i.amount,
               COALESCE((SELECT SUM(p.amount) FROM payments p WHERE p.invoice_id = i.id), 0)
             - COALESCE((SELECT SUM(r.amount) FROM payment_reversals r
                         WHERE r.invoice_id = i.id), 0)
             - COALESCE((SELECT SUM(a.amount) FROM invoice_adjustments a
                         WHERE a.invoice_id = i.id), 0)
        FROM invoices i WHERE i.id = {id};
        DELETE FROM invoice_balances WHERE invoice_id = {id} AND amount - paid <= 0.005;"""

SQLITE_TRIGGERS = tuple(
    f"""CREATE TRIGGER trg_{table}_kept AFTER INSERT ON {table} BEGIN
        {_REDERIVE.format(id="NEW.invoice_id")}
        INSERT INTO receivable_month_stale (customer_id)
        SELECT customer_id FROM invoices
        WHERE id = NEW.invoice_id
          AND NEW.{dated} <= (SELECT max(month_end) FROM receivable_month_totals);
    END"""  # noqa: S608
    for table, dated in (
        ("invoice_adjustments", "adjusted_on"),
        ("payment_reversals", "reversed_on"),
    )
)
SQLITE_MOVED = tuple(
    f"""CREATE TRIGGER trg_{table}_moved AFTER UPDATE OF customer_id ON {table}
    WHEN OLD.customer_id IS NOT NEW.customer_id BEGIN
        INSERT INTO receivable_month_stale (customer_id)
        SELECT OLD.customer_id WHERE EXISTS (SELECT 1 FROM receivable_month_totals);
        INSERT INTO receivable_month_stale (customer_id)
        SELECT NEW.customer_id WHERE EXISTS (SELECT 1 FROM receivable_month_totals);
    END"""  # noqa: S608
    for table in ("invoice_adjustments", "payment_reversals")
)
# PostgreSQL: the invoice's row is locked first. A payment's insert holds a key-share lock on
# its invoice (the foreign key's check, taken before any AFTER trigger of ours) and adds to the
# balance row in place; a correction derives the row afresh (delete, insert). Without the lock a
# payment committed meanwhile would be left out of the derivation, or its in-place update would
# miss the row the correction replaced (READ COMMITTED skips a deleted row). With it, whichever
# comes second waits for the first to commit, and each statement after the wait sees it.
PG_FUNCTIONS = tuple(
    f"""CREATE FUNCTION riskdesk_{table}_kept() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM 1 FROM invoices WHERE id = NEW.invoice_id FOR UPDATE;
        {_REDERIVE.format(id="NEW.invoice_id")}
        IF NEW.{dated} <= (SELECT max(month_end) FROM receivable_month_totals) THEN
            INSERT INTO receivable_month_stale (customer_id)
            SELECT customer_id FROM invoices WHERE id = NEW.invoice_id;
        END IF;
        RETURN NULL;
    END $$"""  # noqa: S608
    for table, dated in (
        ("invoice_adjustments", "adjusted_on"),
        ("payment_reversals", "reversed_on"),
    )
)
PG_TRIGGERS = tuple(
    statement
    for table in ("invoice_adjustments", "payment_reversals")
    for statement in (
        f"CREATE TRIGGER trg_{table}_kept AFTER INSERT ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION riskdesk_{table}_kept()",
        # riskdesk_events_moved is migration 0038's: it marks both customers stale.
        f"CREATE TRIGGER trg_{table}_moved AFTER UPDATE OF customer_id ON {table} FOR EACH ROW "
        "WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id) "
        "EXECUTE FUNCTION riskdesk_events_moved()",
    )
)


def _event_columns(table: str) -> list[Any]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("import_job_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f(f"fk_{table}_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["import_job_id"],
            ["import_jobs.id"],
            name=op.f(f"fk_{table}_import_job_id_import_jobs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("source", "external_id", name=op.f(f"uq_{table}_source_external_id")),
    ]


def upgrade() -> None:
    op.create_table(
        "order_cancellations",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("cancelled_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        *_event_columns("order_cancellations"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_cancellations_order_id_orders")
        ),
        sa.UniqueConstraint("order_id", name=op.f("uq_order_cancellations_order_id")),
    )
    op.create_table(
        "invoice_adjustments",
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("adjusted_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        *_event_columns("invoice_adjustments"),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_adjustments_invoice_id_invoices")
        ),
    )
    op.create_table(
        "payment_reversals",
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reversed_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        *_event_columns("payment_reversals"),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_reversals_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_payment_reversals_invoice_id_invoices")
        ),
        sa.UniqueConstraint("payment_id", name=op.f("uq_payment_reversals_payment_id")),
    )
    for table, columns in (
        ("order_cancellations", ("customer_id",)),
        ("invoice_adjustments", ("customer_id", "invoice_id")),
        ("payment_reversals", ("customer_id", "invoice_id")),
    ):
        for column in columns:
            op.create_index(op.f(f"ix_{table}_{column}"), table, [column])
    if op.get_bind().dialect.name == "postgresql":
        for statement in (*PG_FUNCTIONS, *PG_TRIGGERS):
            op.execute(statement)
    else:
        for statement in (*SQLITE_TRIGGERS, *SQLITE_MOVED):
            op.execute(statement)


def downgrade() -> None:
    tables = ("invoice_adjustments", "payment_reversals")
    if op.get_bind().dialect.name == "postgresql":
        for table in tables:
            op.execute(sa.text(f"DROP TRIGGER trg_{table}_kept ON {table}"))
            op.execute(sa.text(f"DROP TRIGGER trg_{table}_moved ON {table}"))
            op.execute(sa.text(f"DROP FUNCTION riskdesk_{table}_kept()"))
    else:
        for table in tables:
            op.execute(sa.text(f"DROP TRIGGER trg_{table}_kept"))
            op.execute(sa.text(f"DROP TRIGGER trg_{table}_moved"))
    op.drop_table("payment_reversals")
    op.drop_table("invoice_adjustments")
    op.drop_table("order_cancellations")
