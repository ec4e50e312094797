"""rule_versions.clear_expression: hysteresis; alerts.stake and alerts.precision: what grades an alert's severity; warning_backtests: the
replays of the active pack whose measured precision grades new alerts

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 22:00:00

Alerts from before this revision keep the severity their rule gave them, and have no stake
or precision until their case is next prioritised.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from riskdesk.models.types import UTCDateTime

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rule_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clear_expression", sa.Text(), nullable=True))
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stake", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("precision", sa.Float(), nullable=True))
    op.create_table(
        "warning_backtests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("measured_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("date_from", sa.Date(), nullable=False),
        sa.Column("date_to", sa.Date(), nullable=False),
        sa.Column("every", sa.String(length=8), nullable=False),
        sa.Column("precisions", JSON, nullable=False),
        sa.Column("open_share", sa.Float(), nullable=True),
        sa.Column("rules", JSON, nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_warning_backtests_measured_at"), "warning_backtests", ["measured_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_warning_backtests_measured_at"), table_name="warning_backtests")
    op.drop_table("warning_backtests")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("precision")
        batch_op.drop_column("stake")
    with op.batch_alter_table("rule_versions", schema=None) as batch_op:
        batch_op.drop_column("clear_expression")
