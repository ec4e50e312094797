"""warning types on rules and alerts; the reason an alert cleared itself

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 04:00:00

Rules and alerts from before this revision take the type of their code when it is a shipped
one, else of their category (``monitoring.warning_types.type_of``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A copy of the mappings as they were at this revision (a migration never imports live code).
BY_RULE_CODE = {
    "new_overdue": "default_risk",
    "ageing_worsening": "default_risk",
    "paying_late": "payment_deterioration",
    "score_drop": "payment_deterioration",
    "rating_downgrade": "payment_deterioration",
    "bureau_score_drop": "payment_deterioration",
    "resale_frequency": "resale",
    "return_abuse": "return_abuse",
    "returns_without_reason": "return_abuse",
    "cod_share_rising": "cod_shift",
    "order_size_spike": "order_spike",
    "drifting_away": "churn",
    "satisfaction_falling": "dissatisfaction",
    "complaint_surge": "complaint_wave",
    "complaint_surge_product": "complaint_wave",
    "utilisation_high": "limit_exposure",
    "anomaly_indicator": "anomaly",
    "anomaly_multivariate": "anomaly",
}
BY_CATEGORY = {
    "purchase": "order_spike",
    "payment": "payment_deterioration",
    "receivables": "default_risk",
    "exposure": "limit_exposure",
    "score": "payment_deterioration",
    "returns": "return_abuse",
    "complaints": "complaint_wave",
    "satisfaction": "dissatisfaction",
    "churn": "churn",
}


def _typed(table: str, code_column: str) -> sa.Update:
    """UPDATE table SET warning_type = (by code, else by category, else anomaly)."""
    t = sa.table(table, sa.column(code_column), sa.column("category"), sa.column("warning_type"))
    whens = [(t.c[code_column] == k, v) for k, v in BY_RULE_CODE.items()]
    whens += [(t.c.category == k, v) for k, v in BY_CATEGORY.items()]
    return t.update().values(warning_type=sa.case(*whens, else_="anomaly"))


def upgrade() -> None:
    with op.batch_alter_table("warning_rules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("warning_type", sa.String(length=32), nullable=True))
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("warning_type", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("cleared_reason", sa.String(length=255), nullable=True))
    op.execute(_typed("warning_rules", "code"))
    op.execute(_typed("alerts", "rule_code"))
    with op.batch_alter_table("warning_rules", schema=None) as batch_op:
        batch_op.alter_column("warning_type", existing_type=sa.String(length=32), nullable=False)
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.alter_column("warning_type", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_index(batch_op.f("ix_alerts_warning_type"), ["warning_type"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_warning_type"))
        batch_op.drop_column("cleared_reason")
        batch_op.drop_column("warning_type")
    with op.batch_alter_table("warning_rules", schema=None) as batch_op:
        batch_op.drop_column("warning_type")
