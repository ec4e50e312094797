"""invoice_balances, receivable month ends: what the portfolio dashboard keeps instead of
deriving it from every invoice and payment per answer

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-06 15:00:00

Triggers keep both whoever writes the events (intake, imports, a merge, SQL by hand):
- an invoice adds its balance row; a payment adds to its invoice's paid amount, and the row
  goes once the invoice is settled (within half a cent: payments are positive, so a settled
  invoice stays settled); a merge moving an invoice moves its row;
- an invoice issued, or a payment made, on or before the latest month end stored (or being
  stored) marks its customer stale, and so does a merge moving events: the dashboard then
  derives that customer afresh until the month-end job stores it again.
The balances of the invoices already recorded are filled here; the month ends are stored by
the month-end job (portfolio.month_ends), which the dashboard does without until it has run.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from riskdesk.models.types import Money, MoneyTotal, UTCDateTime

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Settled: within half a cent. Stale: dated on or before the latest month end stored, or
# being stored (any month end at all, for a merge moving events).

SQLITE_TRIGGERS = (
    """CREATE TRIGGER trg_invoices_kept AFTER INSERT ON invoices BEGIN
        INSERT INTO invoice_balances (invoice_id, customer_id, issue_date, due_date, amount, paid)
        VALUES (NEW.id, NEW.customer_id, NEW.issue_date, NEW.due_date, NEW.amount, 0);
        INSERT INTO receivable_month_stale (customer_id)
        SELECT NEW.customer_id
        WHERE NEW.issue_date <= (SELECT max(month_end) FROM receivable_month_totals);
    END""",
    """CREATE TRIGGER trg_payments_kept AFTER INSERT ON payments BEGIN
        UPDATE invoice_balances SET paid = paid + NEW.amount WHERE invoice_id = NEW.invoice_id;
        DELETE FROM invoice_balances
        WHERE invoice_id = NEW.invoice_id AND amount - paid <= 0.005;
        INSERT INTO receivable_month_stale (customer_id)
        SELECT customer_id FROM invoices
        WHERE id = NEW.invoice_id
          AND NEW.paid_on <= (SELECT max(month_end) FROM receivable_month_totals);
    END""",
    """CREATE TRIGGER trg_invoices_moved AFTER UPDATE OF customer_id ON invoices
    WHEN OLD.customer_id IS NOT NEW.customer_id BEGIN
        UPDATE invoice_balances SET customer_id = NEW.customer_id WHERE invoice_id = NEW.id;
        INSERT INTO receivable_month_stale (customer_id)
        SELECT OLD.customer_id WHERE EXISTS (SELECT 1 FROM receivable_month_totals);
        INSERT INTO receivable_month_stale (customer_id)
        SELECT NEW.customer_id WHERE EXISTS (SELECT 1 FROM receivable_month_totals);
    END""",
    """CREATE TRIGGER trg_payments_moved AFTER UPDATE OF customer_id ON payments
    WHEN OLD.customer_id IS NOT NEW.customer_id BEGIN
        INSERT INTO receivable_month_stale (customer_id)
        SELECT OLD.customer_id WHERE EXISTS (SELECT 1 FROM receivable_month_totals);
        INSERT INTO receivable_month_stale (customer_id)
        SELECT NEW.customer_id WHERE EXISTS (SELECT 1 FROM receivable_month_totals);
    END""",
)
SQLITE_DROPS = (
    "trg_invoices_kept",
    "trg_payments_kept",
    "trg_invoices_moved",
    "trg_payments_moved",
)

PG_FUNCTIONS = (
    """CREATE FUNCTION riskdesk_invoice_kept() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO invoice_balances (invoice_id, customer_id, issue_date, due_date, amount, paid)
        VALUES (NEW.id, NEW.customer_id, NEW.issue_date, NEW.due_date, NEW.amount, 0);
        IF NEW.issue_date <= (SELECT max(month_end) FROM receivable_month_totals) THEN
            INSERT INTO receivable_month_stale (customer_id) VALUES (NEW.customer_id);
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION riskdesk_payment_kept() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE invoice_balances SET paid = paid + NEW.amount WHERE invoice_id = NEW.invoice_id;
        DELETE FROM invoice_balances
        WHERE invoice_id = NEW.invoice_id AND amount - paid <= 0.005;
        IF NEW.paid_on <= (SELECT max(month_end) FROM receivable_month_totals) THEN
            -- The invoice's customer: the figures follow the invoice.
            INSERT INTO receivable_month_stale (customer_id)
            SELECT customer_id FROM invoices WHERE id = NEW.invoice_id;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION riskdesk_events_moved() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_TABLE_NAME = 'invoices' THEN
            UPDATE invoice_balances SET customer_id = NEW.customer_id WHERE invoice_id = NEW.id;
        END IF;
        IF EXISTS (SELECT 1 FROM receivable_month_totals) THEN
            INSERT INTO receivable_month_stale (customer_id)
            VALUES (OLD.customer_id), (NEW.customer_id);
        END IF;
        RETURN NULL;
    END $$""",
)
PG_TRIGGERS = (
    "CREATE TRIGGER trg_invoices_kept AFTER INSERT ON invoices "
    "FOR EACH ROW EXECUTE FUNCTION riskdesk_invoice_kept()",
    "CREATE TRIGGER trg_payments_kept AFTER INSERT ON payments "
    "FOR EACH ROW EXECUTE FUNCTION riskdesk_payment_kept()",
    "CREATE TRIGGER trg_invoices_moved AFTER UPDATE OF customer_id ON invoices FOR EACH ROW "
    "WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id) "
    "EXECUTE FUNCTION riskdesk_events_moved()",
    "CREATE TRIGGER trg_payments_moved AFTER UPDATE OF customer_id ON payments FOR EACH ROW "
    "WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id) "
    "EXECUTE FUNCTION riskdesk_events_moved()",
)
PG_DROPS = (
    ("trg_invoices_kept", "invoices"),
    ("trg_payments_kept", "payments"),
    ("trg_invoices_moved", "invoices"),
    ("trg_payments_moved", "payments"),
)
PG_FUNCTION_NAMES = ("riskdesk_invoice_kept", "riskdesk_payment_kept", "riskdesk_events_moved")

BACKFILL = """
INSERT INTO invoice_balances (invoice_id, customer_id, issue_date, due_date, amount, paid)
SELECT i.id, i.customer_id, i.issue_date, i.due_date, i.amount, COALESCE(p.paid, 0)
FROM invoices i
LEFT JOIN (SELECT invoice_id, SUM(amount) AS paid FROM payments GROUP BY invoice_id) p
    ON p.invoice_id = i.id
WHERE i.amount - COALESCE(p.paid, 0) > 0.005
"""

BUCKETS = ("current", "dpd_1_30", "dpd_31_60", "dpd_61_90", "dpd_over_90", "sales")


def upgrade() -> None:
    op.create_table(
        "invoice_balances",
        sa.Column("invoice_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("paid", MoneyTotal, nullable=False),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_invoice_balances")),
    )
    op.create_index(op.f("ix_invoice_balances_customer_id"), "invoice_balances", ["customer_id"])
    op.create_table(
        "receivable_month_ends",
        sa.Column("month_end", sa.Date(), nullable=False),
        sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=False),
        *(sa.Column(name, MoneyTotal, nullable=False) for name in BUCKETS),
        sa.PrimaryKeyConstraint("month_end", "customer_id", name=op.f("pk_receivable_month_ends")),
    )
    op.create_table(
        "receivable_month_totals",
        sa.Column("month_end", sa.Date(), nullable=False),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("computed_at", UTCDateTime(timezone=True), nullable=False),
        *(sa.Column(name, MoneyTotal, nullable=False) for name in BUCKETS),
        sa.PrimaryKeyConstraint("month_end", name=op.f("pk_receivable_month_totals")),
    )
    op.create_table(
        "receivable_month_stale",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receivable_month_stale")),
    )
    op.create_index(
        op.f("ix_receivable_month_stale_customer_id"), "receivable_month_stale", ["customer_id"]
    )
    # The month-to-date sales read the invoices issued since the last month end.
    op.create_index(op.f("ix_invoices_issue_date"), "invoices", ["issue_date"])
    op.execute(BACKFILL)
    if op.get_bind().dialect.name == "postgresql":
        for statement in (*PG_FUNCTIONS, *PG_TRIGGERS):
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for trigger, table in PG_DROPS:
            op.execute(sa.text(f"DROP TRIGGER {trigger} ON {table}"))
        for function in PG_FUNCTION_NAMES:
            op.execute(sa.text(f"DROP FUNCTION {function}()"))
    else:
        for trigger in SQLITE_DROPS:
            op.execute(sa.text(f"DROP TRIGGER {trigger}"))
    op.drop_index(op.f("ix_invoices_issue_date"), table_name="invoices")
    op.drop_index(
        op.f("ix_receivable_month_stale_customer_id"), table_name="receivable_month_stale"
    )
    op.drop_table("receivable_month_stale")
    op.drop_table("receivable_month_totals")
    op.drop_table("receivable_month_ends")
    op.drop_index(op.f("ix_invoice_balances_customer_id"), table_name="invoice_balances")
    op.drop_table("invoice_balances")
