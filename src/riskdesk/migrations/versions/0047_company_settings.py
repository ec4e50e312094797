"""company_settings: values an administrator sets for the whole company (display time zone)

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-07 10:00:00

Empty at first: until a value is set, the configured default applies (RISKDESK_TIME_ZONE for
the display time zone), so an upgrade changes nothing on screen.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from riskdesk.models.types import UTCDateTime

revision: str = "0047"
down_revision: str | None = "0046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "company_settings",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_company_settings_updated_by_id_users")
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_company_settings")),
    )


def downgrade() -> None:
    op.drop_table("company_settings")
