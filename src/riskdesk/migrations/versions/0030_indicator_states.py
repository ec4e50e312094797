"""indicator_states, indicator_references, and the event ids a queue row carries: incremental
indicators and a stored population reference

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 04:30:00

Every customer starts without a state; the first work for a customer builds it from the event
record, and queue rows written before this carry no ids, which means the same.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from riskdesk.models.types import JSONType, UTCDateTime

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "indicator_states",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("trimmed_as_of", sa.Date(), nullable=False),
        sa.Column("built_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("events", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_indicator_states_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_indicator_states")),
    )
    op.create_table(
        "indicator_references",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("computed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("summary", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_references")),
    )
    with op.batch_alter_table("event_queue") as batch:
        batch.add_column(sa.Column("refs", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("event_queue") as batch:
        batch.drop_column("refs")
    op.drop_table("indicator_references")
    op.drop_table("indicator_states")
