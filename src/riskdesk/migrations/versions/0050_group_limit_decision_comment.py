"""group_limit_changes.decision_comment: why a group limit change was approved or rejected

Revision ID: 0050
Revises: 0049
Create Date: 2026-12-07 18:00:00

Limit requests and credit-file changes kept the decider's comment; a group limit decision
kept none. Null for decisions made before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0050"
down_revision: str | None = "0049"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # In place on both databases (a batch copy of the table is not needed for a nullable column).
    op.add_column("group_limit_changes", sa.Column("decision_comment", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("group_limit_changes", "decision_comment")
