"""encrypted bureau reports: credit_reports.payload becomes sealed text

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-24 23:59:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from riskdesk.security import keys

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMN = "credit_reports.payload"
BATCH = 1000


def _rewrite(convert) -> None:  # type: ignore[no-untyped-def]
    """Rewrite every payload in batches by id (a large table never sits in memory whole)."""
    conn = op.get_bind()
    table = sa.table("credit_reports", sa.column("id"), sa.column("payload", sa.Text()))
    after = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.id, table.c.payload)
            .where(table.c.id > after, table.c.payload.is_not(None))
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        conn.execute(
            sa.update(table).where(table.c.id == sa.bindparam("rid")),
            [{"rid": rid, "payload": convert(value)} for rid, value in rows],
        )
        after = rows[-1][0]


def _seal(value: str) -> str:
    if value.startswith(f"{keys.FORMAT}:"):
        return value
    return keys.seal(json.dumps(json.loads(value), ensure_ascii=False, sort_keys=True), COLUMN)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "credit_reports",
            "payload",
            existing_type=postgresql.JSONB(astext_type=sa.Text()),
            type_=sa.Text(),
            postgresql_using="payload::text",
        )
    else:
        with op.batch_alter_table("credit_reports", schema=None) as batch_op:
            batch_op.alter_column("payload", existing_type=sa.JSON(), type_=sa.Text())
    _rewrite(_seal)


def downgrade() -> None:
    _rewrite(lambda value: keys.open_sealed(value, COLUMN))
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "credit_reports",
            "payload",
            existing_type=sa.Text(),
            type_=postgresql.JSONB(astext_type=sa.Text()),
            postgresql_using="payload::jsonb",
        )
    else:
        with op.batch_alter_table("credit_reports", schema=None) as batch_op:
            batch_op.alter_column("payload", existing_type=sa.Text(), type_=sa.JSON())
