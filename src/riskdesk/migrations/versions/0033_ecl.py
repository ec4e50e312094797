"""ecl: forward-looking adjustments and stored runs of the expected credit loss matrix

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from riskdesk.models.types import JSONType, UTCDateTime

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(18, 2, asdecimal=True)


def upgrade() -> None:
    op.create_table(
        "ecl_adjustments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("multiplier", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("proposed_by_id", sa.Integer(), nullable=False),
        sa.Column("proposed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"],
            ["users.id"],
            name=op.f("fk_ecl_adjustments_proposed_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_ecl_adjustments_decided_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ecl_adjustments")),
    )
    op.create_index("ix_ecl_adjustments_segment", "ecl_adjustments", ["segment"])
    op.create_index("ix_ecl_adjustments_status", "ecl_adjustments", ["status"])
    op.create_table(
        "ecl_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("lookback_months", sa.Integer(), nullable=False),
        sa.Column("inputs_hash", sa.String(length=64), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("total_balance", MONEY, nullable=False),
        sa.Column("total_ecl", MONEY, nullable=False),
        sa.Column("matrix", JSONType, nullable=False),
        sa.Column("month_end_balances", JSONType, nullable=False),
        sa.Column("adjustments", JSONType, nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_ecl_runs_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ecl_runs")),
        sa.UniqueConstraint(
            "as_of",
            "lookback_months",
            "inputs_hash",
            name=op.f("uq_ecl_runs_as_of_lookback_months_inputs_hash"),
        ),
    )
    op.create_index("ix_ecl_runs_as_of", "ecl_runs", ["as_of"])
    op.create_table(
        "ecl_customer_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("rates_from", sa.String(length=64), nullable=False),
        sa.Column("current", MONEY, nullable=False),
        sa.Column("dpd_1_30", MONEY, nullable=False),
        sa.Column("dpd_31_60", MONEY, nullable=False),
        sa.Column("dpd_61_90", MONEY, nullable=False),
        sa.Column("dpd_91_180", MONEY, nullable=False),
        sa.Column("dpd_over_180", MONEY, nullable=False),
        sa.Column("balance", MONEY, nullable=False),
        sa.Column("ecl", MONEY, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["ecl_runs.id"], name=op.f("fk_ecl_customer_results_run_id_ecl_runs")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_ecl_customer_results_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ecl_customer_results")),
    )
    op.create_index(
        "ix_ecl_customer_results_run_customer",
        "ecl_customer_results",
        ["run_id", "customer_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_ecl_customer_results_run_customer", table_name="ecl_customer_results")
    op.drop_table("ecl_customer_results")
    op.drop_index("ix_ecl_runs_as_of", table_name="ecl_runs")
    op.drop_table("ecl_runs")
    op.drop_index("ix_ecl_adjustments_status", table_name="ecl_adjustments")
    op.drop_index("ix_ecl_adjustments_segment", table_name="ecl_adjustments")
    op.drop_table("ecl_adjustments")
