"""The customer credit report: one customer's credit file gathered into one document, through
the services of the domains that own each part, so it shows (and masks) what the credit file
shows the same caller, and never more. Each report made is written to the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from riskdesk.alerts import service as alert_service
from riskdesk.audit import trail
from riskdesk.credit import service as credit_service
from riskdesk.customers import service as customer_service
from riskdesk.customers.schemas import CreditReportRead
from riskdesk.indicators import service as indicator_service
from riskdesk.indicators.catalogue import AGEING_BUCKETS
from riskdesk.kit.timeutil import utcnow
from riskdesk.policy import service as policy_service
from riskdesk.reports.schemas import (
    AgeingBucket,
    AlertItem,
    Bilingual,
    BureauItem,
    CaseItem,
    CreditReport,
    DecisionItem,
    LimitRequestItem,
    Measure,
    ReportFormat,
    ScorePoint,
    ScoreSummary,
    StatementRatios,
)
from riskdesk.scoring import service as scoring_service
from riskdesk.security import repository as users_repo
from riskdesk.security.service import Principal

# Payment behaviour: the payments group of the catalogue, and what ageing adds to it.
RECEIVABLE_MEASURES = ("ar_open_total", "overdue_ratio", "oldest_overdue_age_days")
RATIO_NAMES = (
    "current_ratio",
    "quick_ratio",
    "debt_to_assets",
    "debt_to_equity",
    "interest_coverage",
    "return_on_assets",
    "net_margin",
    "asset_turnover",
)
MAX_ROWS = 20  # per list: the latest alerts, decisions, requests (the credit file shows as many)
MAX_BUREAU_DETAILS = 12


def _bureau(report: CreditReportRead) -> BureauItem:
    details: list[tuple[str, str]] = []
    for key, value in (report.payload or {}).items():
        if isinstance(value, str | int | float | bool) and len(details) < MAX_BUREAU_DETAILS:
            details.append((str(key)[:60], str(value)[:120]))
    return BureauItem(
        source=report.source,
        report_date=report.report_date,
        score=report.score,
        recommended_limit=report.recommended_limit,
        details=details,
        masked=bool(report.masked),
    )


def _names(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = sorted(i for i in ids if i is not None)
    return (
        {u.id: u.display_name for u in users_repo.users_by_ids(session, wanted)} if wanted else {}
    )


def _statements(session: Session, principal: Principal, customer_id: int) -> list[StatementRatios]:
    found = customer_service.statements(session, principal, customer_id)
    computed = scoring_service.statement_ratios(session, principal, customer_id)
    result = []
    for statement in found:
        row: dict[str, Any] = computed.get(statement.id, {})
        result.append(
            StatementRatios(
                statement=statement,
                altman_model=row.get("altman_model"),
                altman_score=row.get("altman_score"),
                altman_zone=row.get("altman_zone"),
                ratios={name: row.get(name) for name in RATIO_NAMES},
            )
        )
    return result


def build(session: Session, principal: Principal, customer_id: int) -> CreditReport:
    """The credit report of one customer as this caller may see it (NotFound as the credit file
    answers when the caller may not see the customer)."""
    customer = customer_service.read_customer(session, principal, customer_id)
    contacts = customer_service.contacts(session, principal, customer_id)
    masked = list(customer.masked) + [f"contact.{c.id}.{f}" for c in contacts for f in c.masked]

    scores = scoring_service.history(session, principal, customer_id, 12)
    labels = scoring_service.version_labels(session, [s.scorecard_version_id for s in scores[:1]])
    score = None
    if scores:
        latest = scores[0]
        score = ScoreSummary(
            score=latest.score,
            rating=latest.rating,
            risk_tier=latest.risk_tier,
            scorecard=labels.get(latest.scorecard_version_id),
            scored_at=latest.scored_at,
            as_of=latest.as_of,
            reasons=[
                Bilingual(en=str(r.get("en", "")), zh=str(r.get("zh", "")))
                for r in latest.reasons or []
            ],
        )

    snapshot = indicator_service.snapshot_read(indicator_service.get_snapshot(session, customer_id))
    values = {i.name: i for i in snapshot.indicators}
    ageing = [
        AgeingBucket(bucket=b, amount=values[f"ar_{b}"].value if f"ar_{b}" in values else None)
        for b in AGEING_BUCKETS
    ]
    behaviour = [
        Measure(
            name=i.name,
            unit=i.unit,
            label=Bilingual(en=i.description_en, zh=i.description_zh),
            value=i.value,
        )
        for i in snapshot.indicators
        if i.group == "payments" or i.name in RECEIVABLE_MEASURES
    ]

    bureau = customer_service.reports(session, principal, customer_id)
    if any(r.masked for r in bureau):
        masked.append("credit_report.payload")

    alerts = alert_service.list_alerts(session, principal, customer_id=customer_id)[:MAX_ROWS]
    cases = alert_service.cases_of_customer(session, principal, customer_id)[:MAX_ROWS]
    decisions = credit_service.list_decisions(session, principal, customer_id=customer_id)
    requests = policy_service.list_requests(
        session, principal, customer_id=customer_id, limit=MAX_ROWS
    )
    people: set[int | None] = {r.requested_by_id for r in requests}
    names = _names(session, people | {r.decided_by_id for r in requests})
    recommendation = policy_service.recommendation_for(session, principal, customer_id)

    return CreditReport(
        generated_at=utcnow(),
        generated_by=principal.user.display_name,
        customer=customer,
        contacts=contacts,
        score=score,
        score_history=[ScorePoint(as_of=s.as_of, score=s.score, rating=s.rating) for s in scores],
        exposure=credit_service.exposure_read(session, principal, customer_id),
        recommended_limit=recommendation.get("recommended_limit"),
        ageing=ageing,
        indicators_as_of=snapshot.as_of,
        payment_behaviour=behaviour,
        statements=_statements(session, principal, customer_id),
        bureau=[_bureau(r) for r in bureau],
        alerts=[
            AlertItem(
                id=a.id,
                severity=a.severity,
                status=a.status,
                title=Bilingual(en=a.title_en, zh=a.title_zh),
                observed_on=a.observed_on,
                last_hit_at=a.last_hit_at,
                case_id=a.case_id,
                outcome=a.outcome,
            )
            for a in alerts
        ],
        cases=[
            CaseItem(
                id=c.id, status=c.status, opened_at=c.opened_at, closed_at=c.closed_at, alerts=n
            )
            for c, n in cases
        ],
        decisions=[
            DecisionItem(
                created_at=d.created_at,
                order=f"{d.source}:{d.order_external_id}",
                amount=d.amount,
                currency=d.currency,
                outcome=d.outcome,
                status=d.status,
                reasons=[
                    Bilingual(en=str(c.get("en", "")), zh=str(c.get("zh", "")))
                    for c in d.checks or []
                    if c.get("result") != "pass"
                ],
            )
            for d in decisions[:MAX_ROWS]
        ],
        limit_requests=[
            LimitRequestItem(
                id=r.id,
                requested_at=r.requested_at,
                current_limit=r.current_limit,
                requested_limit=r.requested_limit,
                currency=r.currency,
                status=r.current_status,
                origin=r.origin,
                reason=r.reason,
                requested_by=names.get(r.requested_by_id),
                decided_by=names.get(r.decided_by_id) if r.decided_by_id else None,
                decided_at=r.decided_at,
                comment=r.decision_comment,
            )
            for r in requests
        ],
        masked=masked,
    )


def record_generation(
    session: Session, report: CreditReport, *, fmt: ReportFormat, locale: str
) -> None:
    """Note in the audit log that this report left the system: who (the request's context),
    which customer, in what format and language."""
    trail.viewed(
        session,
        object_type="customer",
        object_id=report.customer.id,
        fields=[f"format={fmt}", f"locale={locale}"],
        action="credit_report",
    )
