"""read-only views for BI tools (bi_*): the portfolio without personal data

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-06 08:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (a later change of a view is a new migration); docs/bi.md describes each column.
# Personal data (an individual's name, identity number, phone, e-mail, address, bank account,
# their blind indexes, free-text reasons and alert evidence) is left out, not masked: what a BI
# tool never receives cannot leak from it.
AGEING = (
    "ar_current",
    "ar_1_30",
    "ar_31_60",
    "ar_61_90",
    "ar_91_120",
    "ar_over_120",
    "ar_open_total",
    "overdue_ratio",
    "dpd_max",
    "dso_90d",
    "best_possible_dso_90d",
)


def _views(postgres: bool) -> dict[str, str]:
    if postgres:
        number = "'C' || lpad(c.id::text, 7, '0')"
        ageing = ", ".join(f"(s.\"values\" ->> '{n}')::numeric AS {n}" for n in AGEING)
    else:
        number = "'C' || substr('0000000' || c.id, -7, 7)"
        ageing = ", ".join(f"json_extract(s.\"values\", '$.{n}') AS {n}" for n in AGEING)
    return {
        # Only constants of this module are formatted in: no outside text.
        "bi_customers": f"""
            SELECT c.id AS customer_id, {number} AS customer_no, c.kind,
                   CASE WHEN c.kind = 'company' THEN c.company_name END AS company_name,
                   CASE WHEN c.kind = 'company' THEN c.tax_id END AS tax_id,
                   c.segment, c.industry, c.region, c.status, c.owner_id, c.group_id,
                   c.merged_into_id, c.erased_at IS NOT NULL AS erased, c.created_at,
                   p.credit_limit, p.limit_currency, p.limit_valid_from, p.limit_valid_to,
                   p.payment_terms_days, p.prepayment_required, p.blocked, p.score,
                   COALESCE(p.rating_override, p.rating) AS rating, p.risk_tier, p.scored_at,
                   p.last_review_date, p.next_review_date
            FROM customers c LEFT JOIN credit_profiles p ON p.customer_id = c.id""",  # noqa: S608
        "bi_exposure": """
            SELECT e.customer_id, e.category, e.amount, e.updated_at
            FROM credit_exposures e""",
        "bi_ageing": f"""
            SELECT s.customer_id, s.as_of, s.computed_at, {ageing}
            FROM indicator_snapshots s""",  # noqa: S608
        "bi_scores": """
            SELECT s.id AS score_id, s.customer_id, s.scorecard_version_id, s.run_id, s.as_of,
                   s.scored_at, s.score, s.rating, s.risk_tier
            FROM customer_scores s
            WHERE s.run_id IS NULL
               OR s.run_id NOT IN (SELECT r.id FROM scoring_runs r WHERE r.status <> 'done')""",
        "bi_alerts": """
            SELECT a.id AS alert_id, a.customer_id, a.case_id, a.source, a.rule_code,
                   a.category, a.warning_type, a.severity, a.status, a.outcome,
                   a.cleared_reason, a.hits, a.stake, a.precision, a.observed_on, a.raised_at,
                   a.last_hit_at, a.due_at, a.closed_at, a.assigned_to_id, a.escalation_level
            FROM alerts a""",
        "bi_decisions": """
            SELECT d.id AS decision_id, d.customer_id, d.source, d.order_external_id, d.amount,
                   d.currency, d.outcome, d.status, d.reserved, d.decided_by,
                   d.requested_by_id, d.resolved_by_id, d.recheck_count, d.created_at,
                   d.updated_at
            FROM credit_decisions d""",
        "bi_limit_requests": """
            SELECT r.id AS request_id, r.customer_id, r.current_limit, r.requested_limit,
                   r.currency, r.risk_tier, r.origin, r.status, r.requested_by_id,
                   r.requested_at, r.decided_by_id, r.decided_at, r.expires_at
            FROM limit_requests r""",
    }


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, body in _views(postgres).items():
        op.execute(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    for name in reversed(list(_views(False))):
        op.execute(f"DROP VIEW IF EXISTS {name}")
