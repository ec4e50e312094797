"""audit log kept in 16 chains: audit_log.chain, a head row per chain

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 09:00:00

The single chain becomes chain 0, its entries and head unchanged (their MACs cover no chain
number, and chain 0 keeps that form, so they verify as before and old checkpoints, which name
the chain "audit_log", still anchor it); chains 1-15 start at the genesis head.

The downgrade works while only chain 0 holds entries; once other chains do, it refuses: their
entries cannot join one chain without signing the history again, which is what the log exists
to prevent.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As at this revision (riskdesk.models.audit.CHAINS may change later, with a migration).
CHAINS = 16
GENESIS = "0" * 64


def _heads_table(key: sa.Column[int]) -> sa.Table:
    return op.create_table(
        "audit_head",
        key,
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint(key.name, name=op.f("pk_audit_head")),
    )


def upgrade() -> None:
    bind = op.get_bind()
    old = bind.execute(sa.text("SELECT seq, hash, mac FROM audit_head WHERE id = 1")).one_or_none()

    op.add_column("audit_log", sa.Column("chain", sa.SmallInteger(), nullable=True))
    op.execute("UPDATE audit_log SET chain = 0")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("chain", existing_type=sa.SmallInteger(), nullable=False)
        batch_op.drop_constraint("uq_audit_log_seq", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_audit_log_chain_seq"), ["chain", "seq"])

    op.drop_table("audit_head")
    heads = _heads_table(sa.Column("chain", sa.SmallInteger(), nullable=False, autoincrement=False))
    # A head row that was missing stays missing: verify names it (it was never created empty).
    rows = [] if old is None else [{"chain": 0, "seq": old.seq, "hash": old.hash, "mac": old.mac}]
    rows += [{"chain": c, "seq": 0, "hash": GENESIS, "mac": ""} for c in range(1, CHAINS)]
    op.bulk_insert(heads, rows)


def downgrade() -> None:
    bind = op.get_bind()
    entries = bind.execute(sa.text("SELECT count(*) FROM audit_log WHERE chain <> 0")).scalar()
    moved = bind.execute(
        sa.text("SELECT count(*) FROM audit_head WHERE chain <> 0 AND seq <> 0")
    ).scalar()
    if entries or moved:
        raise RuntimeError(
            f"cannot downgrade below 0027: {entries} audit entries are in chains other than 0, "
            "and one chain cannot hold them without signing the history again. Restore a "
            "backup taken before the upgrade instead, or stay at 0027."
        )
    head = bind.execute(
        sa.text("SELECT seq, hash, mac FROM audit_head WHERE chain = 0")
    ).one_or_none()

    op.drop_table("audit_head")
    heads = _heads_table(sa.Column("id", sa.Integer(), nullable=False))
    if head is not None:
        op.bulk_insert(heads, [{"id": 1, "seq": head.seq, "hash": head.hash, "mac": head.mac}])

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_log_chain_seq"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_audit_log_seq"), ["seq"])
        batch_op.drop_column("chain")
