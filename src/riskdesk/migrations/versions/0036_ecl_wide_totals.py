"""ECL balances and totals as numeric(38, 2): a sum of amounts may not fit one amount's width

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-06 11:10:00
"""

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NARROW = sa.Numeric(18, 2)
WIDE = sa.Numeric(38, 2)
COLUMNS = {
    "ecl_runs": ("total_balance", "total_ecl"),
    "ecl_customer_results": (
        "current",
        "dpd_1_30",
        "dpd_31_60",
        "dpd_61_90",
        "dpd_91_180",
        "dpd_over_180",
        "balance",
        "ecl",
    ),
}


def _alter(old: sa.Numeric[Decimal], new: sa.Numeric[Decimal]) -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(column, existing_type=old, type_=new, existing_nullable=False)


def upgrade() -> None:
    _alter(NARROW, WIDE)


def downgrade() -> None:
    _alter(WIDE, NARROW)
