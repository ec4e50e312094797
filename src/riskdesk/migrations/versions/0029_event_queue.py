"""event_queue and dead_letters: intake commits, then workers process by partition

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 01:00:00

Nothing is carried over: before this, intake processed its events in its own transaction.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from riskdesk.models.types import UTCDateTime

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_queue",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("partition_no", sa.SmallInteger(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("enqueued_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_queue")),
    )
    op.create_index("ix_event_queue_partition_no_id", "event_queue", ["partition_no", "id"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.BigInteger(), nullable=False),
        sa.Column("partition_no", sa.SmallInteger(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("enqueued_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("failed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=False),
        sa.Column("retried_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_index(op.f("ix_dead_letters_customer_id"), "dead_letters", ["customer_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dead_letters_customer_id"), table_name="dead_letters")
    op.drop_table("dead_letters")
    op.drop_index("ix_event_queue_partition_no_id", table_name="event_queue")
    op.drop_table("event_queue")
