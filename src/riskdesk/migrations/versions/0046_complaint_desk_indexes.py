"""complaints: indexes for the desk at volume (status + opened, product + opened)

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-07 10:00:00

At 100,000 complaints the desk's count, its default order and its product trend read the table
row by row (the trend through the product index, then each row for its opening time: about half
a second under load). (status, opened_at) serves the count and the first page; (product,
opened_at) lets the trend count from the index alone, and replaces the product index, its prefix.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0046"
down_revision: str | None = "0045"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_complaints_status_opened", "complaints", ["status", "opened_at"])
    op.create_index("ix_complaints_product_opened", "complaints", ["product", "opened_at"])
    op.drop_index("ix_complaints_product", table_name="complaints")


def downgrade() -> None:
    op.create_index("ix_complaints_product", "complaints", ["product"])
    op.drop_index("ix_complaints_product_opened", table_name="complaints")
    op.drop_index("ix_complaints_status_opened", table_name="complaints")
