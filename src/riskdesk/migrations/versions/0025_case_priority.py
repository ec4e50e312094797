"""alert_cases.priority: what is at stake in a case; alerts.notified: within the team's budget

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 05:00:00

Cases from before this revision have no priority until their customer is next evaluated;
alerts from before it were all notified.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert_cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("priority_basis", sa.String(length=24), nullable=True))
        batch_op.create_index(batch_op.f("ix_alert_cases_priority"), ["priority"], unique=False)
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("notified", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("notified")
    with op.batch_alter_table("alert_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_cases_priority"))
        batch_op.drop_column("priority_basis")
        batch_op.drop_column("priority")
