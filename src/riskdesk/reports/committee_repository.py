"""SQL of the credit committee pack beyond the dashboard's: the worst customers and the
warnings' effectiveness by type and rule, each one GROUP BY over the customers in scope."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from riskdesk.events import repository as event_repo
from riskdesk.kit.money import quantize
from riskdesk.models import Alert, CreditProfile, Customer, Invoice, WarningRule
from riskdesk.portfolio.repository import CENT, Scope, scoped_ids
from riskdesk.scoring.definition import TIERS


def worst_customers(session: Session, scope: Scope, as_of: dt.date, limit: int) -> list[Any]:
    """The customers in scope with money past due on ``as_of``, riskiest tier first, then the
    most overdue: (customer id, kind, company name, tier, overdue, earliest due date)."""
    # Payments net of reversals and adjustments (events.repository.settlement_flows).
    flows = event_repo.settlement_flows(
        select(Invoice.id).where(
            Invoice.customer_id.in_(scoped_ids(scope)), Invoice.due_date < as_of
        )
    )
    paid = (
        select(flows.c.invoice_id, func.sum(flows.c.amount).label("paid"))
        .where(flows.c.day <= as_of)  # as it stood then: later payments had not come in
        .group_by(flows.c.invoice_id)
        .subquery("paid")
    )
    open_amount = Invoice.amount - func.coalesce(paid.c.paid, 0)
    overdue = (
        select(
            Invoice.customer_id.label("customer_id"),
            func.sum(open_amount).label("overdue"),
            func.min(Invoice.due_date).label("earliest_due"),
        )
        .outerjoin(paid, paid.c.invoice_id == Invoice.id)
        .where(
            Invoice.customer_id.in_(scoped_ids(scope)),
            Invoice.due_date < as_of,
            open_amount > CENT,
        )
        .group_by(Invoice.customer_id)
        .subquery("overdue")
    )
    # Riskiest first: critical is the last of TIERS; no tier sorts after every tier.
    rank = case(*[(CreditProfile.risk_tier == tier, -i) for i, tier in enumerate(TIERS)], else_=1)
    stmt = (
        select(
            Customer.id,
            Customer.kind,
            Customer.company_name,
            CreditProfile.risk_tier,
            overdue.c.overdue,
            overdue.c.earliest_due,
        )
        .join(overdue, overdue.c.customer_id == Customer.id)
        .outerjoin(CreditProfile, CreditProfile.customer_id == Customer.id)
        .order_by(rank, overdue.c.overdue.desc(), Customer.id)
        .limit(limit)
    )
    return list(session.execute(stmt))


def alert_effectiveness(
    session: Session, scope: Scope, start: dt.date, end: dt.date, now: dt.datetime
) -> list[dict[str, Any]]:
    """Customer alerts observed from ``start`` to ``end`` by warning type and rule: raised,
    worked (taken up), confirmed, false alarms, SLA breaches (as the dashboard counts them)
    and still open."""
    breached = or_(
        Alert.escalation_level > 0,
        and_(Alert.closed_at.is_(None), Alert.due_at < now),
        and_(Alert.closed_at.is_not(None), Alert.closed_at > Alert.due_at),
    )

    def counted(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    stmt = (
        select(
            Alert.warning_type,
            Alert.rule_code,
            func.count(),
            counted(Alert.status != "open"),
            counted(Alert.outcome == "confirmed"),
            counted(Alert.outcome == "false_alarm"),
            counted(breached),
            counted(Alert.status.in_(("open", "acknowledged", "in_progress"))),
        )
        .where(
            Alert.observed_on >= start,
            Alert.observed_on <= end,
            Alert.customer_id.in_(scoped_ids(scope)),
        )
        .group_by(Alert.warning_type, Alert.rule_code)
        .order_by(func.count().desc(), Alert.warning_type, Alert.rule_code)
    )
    names = ("raised", "worked", "confirmed", "false_alarm", "sla_breached", "open")
    return [
        {"warning_type": wt, "rule_code": code}
        | {name: int(v) for name, v in zip(names, values, strict=True)}
        for wt, code, *values in session.execute(stmt)
    ]


def rule_names(session: Session, codes: list[str]) -> dict[str, tuple[str, str]]:
    """Rule code -> (English name, Chinese name) of the rules among ``codes``."""
    if not codes:
        return {}
    stmt = select(WarningRule.code, WarningRule.name_en, WarningRule.name_zh).where(
        WarningRule.code.in_(codes)
    )
    return {str(c): (str(en), str(zh)) for c, en, zh in session.execute(stmt)}


def money(value: Any) -> Decimal:
    """A sum from the database as money with two places."""
    return quantize(Decimal(value or 0))
