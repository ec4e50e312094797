"""staged scoring runs: a run's rows stored in short transactions, current once it is done

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from riskdesk.models.types import JSONType, UTCDateTime

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scoring_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="done")
        )
        batch_op.add_column(sa.Column("job_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_scoring_runs_job_id"), ["job_id"], unique=False)
    with op.batch_alter_table("model_scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("run_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_model_scores_run_id"), ["run_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_model_scores_run_id_scoring_runs"), "scoring_runs", ["run_id"], ["id"]
        )
    op.create_table(
        "staged_indicator_snapshots",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("computed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("values", JSONType, nullable=False),
        sa.Column("seen_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint(
            "batch_id", "customer_id", name=op.f("pk_staged_indicator_snapshots")
        ),
    )


def downgrade() -> None:
    op.drop_table("staged_indicator_snapshots")
    with op.batch_alter_table("model_scores", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_model_scores_run_id_scoring_runs"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_model_scores_run_id"))
        batch_op.drop_column("run_id")
    with op.batch_alter_table("scoring_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scoring_runs_job_id"))
        batch_op.drop_column("job_id")
        batch_op.drop_column("status")
