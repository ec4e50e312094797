"""model_versions.matured_performance: AUC and KS on matured outcomes, kept per model version

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-07 06:10:00

Computed by the first scoring run of each month (a whole-history computation, too heavy for a
page), so the analyst's home shows a model's performance on matured outcomes beside its PSI.
Empty until then; the model's own page still computes it on demand.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from riskdesk.models.types import JSONType

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("matured_performance", JSONType, nullable=True))
        batch.add_column(sa.Column("matured_as_of", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("matured_as_of")
        batch.drop_column("matured_performance")
