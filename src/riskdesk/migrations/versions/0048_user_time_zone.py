"""users.time_zone: a person's own display time zone, over the company's

Revision ID: 0048
Revises: 0047
Create Date: 2026-12-07 14:00:00

Null for everyone at first: the company's display time zone applies until a user picks one,
so an upgrade changes nothing on screen.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0048"
down_revision: str | None = "0047"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("time_zone")
