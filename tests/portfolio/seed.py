"""A small hand-made portfolio whose every dashboard figure is worked out by hand in the
tests: four live customers (and a merged one that must not count), their exposure, invoices,
held orders, limit requests, alerts and review dates, relative to today's business date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskdesk.ecl.matrix import BUCKETS, PORTFOLIO
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import (
    Alert,
    CreditDecision,
    CreditExposure,
    CreditProfile,
    Customer,
    CustomerGroup,
    EclCustomerResult,
    EclRun,
    Invoice,
    LimitRequest,
    Payment,
)
from riskdesk.security import service as security_service


@dataclass(frozen=True)
class Book:
    """The ids of the seeded customers."""

    a: int  # East, 制造, sales', group HY, high: limit 100,000, exposure 80,000
    b: int  # East, 零售, sales2's, group HY, low: limit 200,000, exposure 50,000
    c: int  # North, 制造, sales2's, no group, medium: limit 50,000, exposure 60,000
    d: int  # North, individual, no owner, unrated: limit 0, exposure 1,000
    merged: int


_seq = iter(range(1, 1_000_000))


def _key() -> str:
    return f"pf-{next(_seq)}"


def _customer(
    session: Session,
    *,
    kind: str = "company",
    name: str,
    region: str,
    segment: str,
    industry: str | None,
    owner_id: int | None,
    group_id: int | None,
    tier: str | None,
    limit: str,
    review: dt.date | None,
    exposure: dict[str, str],
    status: str = "active",
) -> int:
    customer = Customer(
        kind=kind,
        company_name=name if kind == "company" else None,
        person_name=name if kind == "individual" else None,
        region=region,
        segment=segment,
        industry=industry,
        owner_id=owner_id,
        group_id=group_id,
        status=status,
    )
    session.add(customer)
    session.flush()
    session.add(
        CreditProfile(
            customer_id=customer.id,
            risk_tier=tier,
            credit_limit=Decimal(limit),
            next_review_date=review,
        )
    )
    for category in ("open_orders", "open_receivables", "reserved", "special", "consignment"):
        amount = Decimal(exposure.get(category, "0"))
        session.add(CreditExposure(customer_id=customer.id, category=category, amount=amount))
    session.flush()
    return customer.id


def _invoice(session: Session, cid: int, amount: str, due: dt.date, paid: str = "0") -> None:
    invoice = Invoice(
        customer_id=cid,
        source="erp",
        external_id=_key(),
        content_hash="x",
        amount=Decimal(amount),
        currency="CNY",
        issue_date=due - dt.timedelta(days=30),
        due_date=due,
    )
    session.add(invoice)
    session.flush()
    if Decimal(paid):
        session.add(
            Payment(
                customer_id=cid,
                source="erp",
                external_id=_key(),
                content_hash="x",
                invoice_id=invoice.id,
                amount=Decimal(paid),
                currency="CNY",
                paid_on=due,
                method="bank_transfer",
            )
        )


def _decision(session: Session, cid: int, amount: str, status: str) -> None:
    session.add(
        CreditDecision(
            customer_id=cid,
            source="erp",
            order_external_id=_key(),
            amount=Decimal(amount),
            currency="CNY",
            outcome="hold" if status == "held" else "approve",
            status=status,
            checks=[],
            inputs={},
            decided_by="system",
        )
    )


def _request(
    session: Session, cid: int, by: int, current: str, asked: str, status: str, days: int
) -> None:
    session.add(
        LimitRequest(
            customer_id=cid,
            current_limit=Decimal(current),
            requested_limit=Decimal(asked),
            currency="CNY",
            reason="test",
            origin="sales",
            status=status,
            requested_by_id=by,
            expires_at=utcnow() + dt.timedelta(days=days),
        )
    )


def _alert(
    session: Session, cid: int | None, observed: dt.date, status: str, **extra: object
) -> None:
    session.add(
        Alert(
            customer_id=cid,
            product=None if cid else "P-1",
            source="rule",
            rule_code="dpd_30",
            category="payment",
            warning_type="default_risk",  # a valid type: the pack names it in words
            severity="high",
            status=status,
            title_en="Overdue",
            title_zh="逾期",
            evidence={},
            observed_on=observed,
            **extra,
        )
    )


def seed(session: Session) -> Book:
    """Write the portfolio (the caller commits)."""
    day = today()
    now = utcnow()
    user = {
        name: security_service.get_user_by_username_or_raise(session, name).id
        for name in ("manager", "sales", "sales2")
    }
    group = session.scalar(select(CustomerGroup).where(CustomerGroup.code == "HY"))
    if group is None:
        group = CustomerGroup(code="HY", name="恒远集团")
        session.add(group)
        session.flush()
    a = _customer(
        session, name="杭州恒远制造有限公司", region="East", segment="b2b_sme", industry="制造",
        owner_id=user["sales"], group_id=group.id, tier="high", limit="100000",
        review=day - dt.timedelta(days=1),
        exposure={"open_receivables": "60000", "open_orders": "20000", "consignment": "5000"},
    )  # fmt: skip
    b = _customer(
        session, name="恒远零售有限公司", region="East", segment="b2b_enterprise",
        industry="零售", owner_id=user["sales2"], group_id=group.id, tier="low",
        limit="200000", review=day + dt.timedelta(days=20),
        exposure={"open_receivables": "50000"},
    )  # fmt: skip
    c = _customer(
        session, name="北方机械制造有限公司", region="North", segment="b2b_sme", industry="制造",
        owner_id=user["sales2"], group_id=None, tier="medium", limit="50000",
        review=day + dt.timedelta(days=40), exposure={"open_receivables": "60000"},
    )  # fmt: skip
    d = _customer(
        session, kind="individual", name="王五", region="North", segment="consumer",
        industry=None, owner_id=None, group_id=None, tier=None, limit="0", review=None,
        exposure={"special": "1000"},
    )  # fmt: skip
    merged = _customer(
        session, name="已合并公司", region="East", segment="b2b_sme", industry="制造",
        owner_id=user["sales"], group_id=None, tier="critical", limit="1",
        review=day - dt.timedelta(days=5), exposure={"open_receivables": "999999"},
        status="merged",
    )  # fmt: skip
    # Ageing as of today, at the bucket edges: due today is current; 30 days late is 1-30,
    # 31 is 31-60; 90 is 61-90, 91 is over 90.
    _invoice(session, a, "30000", day + dt.timedelta(days=10))
    _invoice(session, a, "20000", day - dt.timedelta(days=30), paid="5000")
    _invoice(session, a, "15000", day - dt.timedelta(days=31))
    _invoice(session, b, "12000", day)
    _invoice(session, c, "10000", day - dt.timedelta(days=90))
    _invoice(session, c, "8000", day - dt.timedelta(days=91))
    _invoice(session, c, "5000", day - dt.timedelta(days=20), paid="5000")  # settled
    _invoice(session, merged, "50000", day - dt.timedelta(days=100))
    _decision(session, a, "7000", "held")
    _decision(session, c, "3000", "held")
    _decision(session, b, "9000", "approved")
    _decision(session, merged, "4000", "held")
    _request(session, a, user["sales"], "100000", "150000", "pending", 5)
    _request(session, c, user["sales2"], "50000", "80000", "pending", -1)  # expired
    _request(session, b, user["sales2"], "200000", "250000", "approved", 5)
    hour = dt.timedelta(hours=1)
    _alert(session, a, day - dt.timedelta(days=5), "open", due_at=now - hour)  # breached
    _alert(
        session, a, day - dt.timedelta(days=10), "resolved", outcome="confirmed",
        closed_at=now - 24 * hour, due_at=now,
    )  # fmt: skip
    _alert(
        session, c, day - dt.timedelta(days=3), "dismissed", outcome="false_alarm",
        closed_at=now - hour, due_at=now, escalation_level=1,
    )  # fmt: skip
    _alert(session, c, day - dt.timedelta(days=60), "open")  # before the period
    _alert(session, b, day - dt.timedelta(days=1), "acknowledged", due_at=now + 24 * hour)
    _alert(session, None, day - dt.timedelta(days=1), "open")  # a product alert
    _alert(session, merged, day - dt.timedelta(days=1), "open")
    session.flush()
    return Book(a=a, b=b, c=c, d=d, merged=merged)


def _matrix(balance: str, ecl: str) -> list[dict[str, object]]:
    """A portfolio matrix holding the whole balance and ECL in the current bucket (enough for
    the run's report to render)."""
    rate = float(Decimal(ecl) / Decimal(balance)) if Decimal(balance) else 0.0
    return [
        {
            "segment": PORTFOLIO,
            "bucket": b,
            "rates_from": PORTFOLIO,
            "base": 0,
            "rolled": 0,
            "stayed": 0,
            "roll_rate": 0.0,
            "historical_rate": rate,
            "multiplier": 1.0,
            "adjusted_rate": rate,
            "balance": float(balance) if b == BUCKETS[0] else 0.0,
            "ecl": float(ecl) if b == BUCKETS[0] else 0.0,
        }
        for b in BUCKETS
    ]


def ecl_run(
    db: Session, as_of: dt.date, balance: str, ecl: str, rows: dict[int, tuple[str, str]]
) -> int:
    """Store an ECL run with these totals and customer results (balance, ECL), committed."""
    run = EclRun(
        as_of=as_of, lookback_months=12, inputs_hash=f"h{as_of}{balance}", customers=len(rows),
        total_balance=Decimal(balance), total_ecl=Decimal(ecl), matrix=_matrix(balance, ecl),
        month_end_balances=[], adjustments=[],
    )  # fmt: skip
    db.add(run)
    db.flush()
    zero = Decimal(0)
    for cid, (bal, loss) in rows.items():
        db.add(
            EclCustomerResult(
                run_id=run.id, customer_id=cid, segment="b2b_sme", rates_from="b2b_sme",
                current=Decimal(bal), dpd_1_30=zero, dpd_31_60=zero, dpd_61_90=zero,
                dpd_91_180=zero, dpd_over_180=zero, balance=Decimal(bal), ecl=Decimal(loss),
            )
        )  # fmt: skip
    db.commit()
    return run.id
