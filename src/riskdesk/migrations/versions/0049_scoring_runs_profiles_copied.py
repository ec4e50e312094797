"""scoring_runs.profiles_copied_at: the run whose profiles all carry its scores

Revision ID: 0049
Revises: 0048
Create Date: 2026-12-07 17:00:00

The job reaper looks for profiles a lost process left behind only in the current run while
this is null, instead of joining the run's scores to every profile on each pass. Runs done
before the upgrade are marked, except the newest: the reaper's first pass checks that one
and marks it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from riskdesk.models.types import UTCDateTime

revision: str = "0049"
down_revision: str | None = "0048"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE, not batch mode: SQLite's batch copy of the table breaks the BI views
    # reading it (0035); both databases add and drop a nullable column in place.
    op.add_column(
        "scoring_runs", sa.Column("profiles_copied_at", UTCDateTime(timezone=True), nullable=True)
    )
    op.execute(
        "UPDATE scoring_runs SET profiles_copied_at = COALESCE(finished_at, started_at) "
        "WHERE status = 'done' AND id < "
        "(SELECT max(id) FROM scoring_runs WHERE status = 'done')"
    )


def downgrade() -> None:
    op.drop_column("scoring_runs", "profiles_copied_at")
