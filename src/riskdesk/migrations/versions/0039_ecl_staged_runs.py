"""ECL runs stored by a job in short transactions: a run's status ("storing" until its last
transaction, then "done") and the job storing it; one done run per set of inputs

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-06 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INPUTS = ["as_of", "lookback_months", "inputs_hash"]
DONE = sa.text("status = 'done'")


def upgrade() -> None:
    with op.batch_alter_table("ecl_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), server_default="done", nullable=False)
        )
        batch_op.add_column(sa.Column("job_id", sa.Integer(), nullable=True))
        batch_op.drop_constraint("uq_ecl_runs_as_of_lookback_months_inputs_hash", type_="unique")
        batch_op.create_index("ix_ecl_runs_job_id", ["job_id"])
        batch_op.create_index(
            "ix_ecl_runs_done_inputs",
            INPUTS,
            unique=True,
            sqlite_where=DONE,
            postgresql_where=DONE,
        )


def downgrade() -> None:
    # A run a job left half-stored has no place under the old constraint.
    op.execute("DELETE FROM ecl_customer_results WHERE run_id IN "
               "(SELECT id FROM ecl_runs WHERE status <> 'done')")  # fmt: skip
    op.execute("DELETE FROM ecl_runs WHERE status <> 'done'")
    with op.batch_alter_table("ecl_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_ecl_runs_done_inputs")
        batch_op.drop_index("ix_ecl_runs_job_id")
        batch_op.create_unique_constraint("uq_ecl_runs_as_of_lookback_months_inputs_hash", INPUTS)
        batch_op.drop_column("job_id")
        batch_op.drop_column("status")
