"""alerts.observed_on: the business date whose data raised an alert

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 23:30:00

Alerts raised before this revision were judged on the data of the day they were written, so
their business date is raised_at's date (UTC).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("observed_on", sa.Date(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE alerts SET observed_on = (raised_at AT TIME ZONE 'UTC')::date")
    else:  # SQLite keeps UTC timestamps without their zone
        op.execute("UPDATE alerts SET observed_on = date(raised_at)")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.alter_column("observed_on", existing_type=sa.Date(), nullable=False)
        batch_op.create_index(batch_op.f("ix_alerts_observed_on"), ["observed_on"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_observed_on"))
        batch_op.drop_column("observed_on")
