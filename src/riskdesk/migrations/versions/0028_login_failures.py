"""login_failures: the login throttle's failed sign-ins, shared by every API node

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05 23:00:00

The throttle counted in each process before; nothing is carried over (its window is minutes).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from riskdesk.models.types import UTCDateTime

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address_key", sa.String(length=64), nullable=False),
        sa.Column("failed_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_login_failures_address_key"), "login_failures", ["address_key"])
    op.create_index(op.f("ix_login_failures_failed_at"), "login_failures", ["failed_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_login_failures_failed_at"), table_name="login_failures")
    op.drop_index(op.f("ix_login_failures_address_key"), table_name="login_failures")
    op.drop_table("login_failures")
