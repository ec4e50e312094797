"""alert_slas: the hours to act on an alert, per severity, kept as policy

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-07 02:30:00

Until now the hours were a constant in alerts/service.py; they are seeded with its values
(critical 4, high 24, medium 72, low 168), so nothing changes until someone edits them. A
change applies to alerts raised afterwards: an alert's due time is stored when it is raised.
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from riskdesk.models.types import UTCDateTime

revision: str = "0043"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEEDED = {"critical": 4, "high": 24, "medium": 72, "low": 168}


def upgrade() -> None:
    slas = op.create_table(
        "alert_slas",
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("hours", sa.Integer(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_alert_slas_updated_by_id_users")
        ),
        sa.PrimaryKeyConstraint("severity", name=op.f("pk_alert_slas")),
    )
    now = dt.datetime.now(dt.UTC)
    op.bulk_insert(
        slas,
        [{"severity": s, "hours": h, "updated_at": now} for s, h in SEEDED.items()],
    )


def downgrade() -> None:
    op.drop_table("alert_slas")
