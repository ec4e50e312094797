"""complaints: indexes for the desk at volume (status + opened, opened + product)

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-07 10:00:00

At 100,000 complaints the desk's count, its default order and its product trend scanned the
table; these two indexes let the count and the first page read the status index and the trend
read (opened_at, product) alone.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0046"
down_revision: str | None = "0045"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_complaints_status_opened", "complaints", ["status", "opened_at"])
    op.create_index("ix_complaints_opened_product", "complaints", ["opened_at", "product"])


def downgrade() -> None:
    op.drop_index("ix_complaints_opened_product", table_name="complaints")
    op.drop_index("ix_complaints_status_opened", table_name="complaints")
