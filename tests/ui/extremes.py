"""Customers stored with values at the edges, written straight into the database (past every
check at the edge, as an old import, a migration or a bug may have left them): dates 0001-01-01
and 9999-12-31, the largest amount a Money column holds, empty strings and missing optional
data. Every page must still draw them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskdesk.models import (
    Alert,
    Complaint,
    Consent,
    Contact,
    Contract,
    CreditExposure,
    CreditFileChange,
    CreditFileVersion,
    CreditProfile,
    CreditReport,
    Customer,
    CustomerScore,
    ExposureCategory,
    FinancialStatement,
    Interaction,
    Invoice,
    Order,
    OrderLine,
    Payment,
    Return,
    ScorecardVersion,
    SurveyResponse,
)

FIRST_DAY = dt.date(1, 1, 1)
LAST_DAY = dt.date(9999, 12, 31)
FIRST_MOMENT = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
LAST_MOMENT = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
HUGE = Decimal("9999999999999999.99")  # Numeric(18, 2) holds no more


def _event(customer_id: int, external_id: str) -> dict[str, object]:
    return {
        "customer_id": customer_id,
        "source": "edge",
        "external_id": external_id,
        "content_hash": "0" * 64,
    }


def seed_extreme_customer(session: Session, owner_id: int) -> int:
    """An individual whose every date is 0001-01-01 or 9999-12-31, every amount the largest,
    every free text empty."""
    customer = Customer(
        kind="individual",
        person_name="",
        phone="",
        email="",
        address="",
        bank_account="",
        national_id="",
        segment="",
        industry="",
        region="",
        status="active",
        owner_id=owner_id,
        created_at=FIRST_MOMENT,
        updated_at=LAST_MOMENT,
    )
    session.add(customer)
    session.flush()
    cid = customer.id
    session.add(
        CreditProfile(
            customer_id=cid,
            score=2_147_483_647,
            rating="",
            scored_at=FIRST_MOMENT,
            credit_limit=HUGE,
            limit_currency="CNY",
            limit_valid_from=FIRST_DAY,
            limit_valid_to=LAST_DAY,
            payment_terms_days=365,
            blocked=True,
            blocked_reason="",
            last_review_date=LAST_DAY,
            next_review_date=FIRST_DAY,
        )
    )
    first = Order(
        **_event(cid, f"edge-o1-{cid}"),
        ordered_at=FIRST_MOMENT,
        amount=HUGE,
        currency="CNY",
        channel="",
        payment_method="credit",
    )
    last = Order(
        **_event(cid, f"edge-o2-{cid}"),
        ordered_at=LAST_MOMENT,
        amount=HUGE,
        currency="CNY",
        channel=None,
        payment_method="credit",
    )
    session.add_all([first, last])
    session.flush()
    session.add_all(
        [
            OrderLine(order_id=first.id, line_no=1, category="", quantity=HUGE, amount=HUGE),
            OrderLine(order_id=last.id, line_no=1, category="x", quantity=Decimal(0), amount=HUGE),
        ]
    )
    old_invoice = Invoice(
        **_event(cid, f"edge-i1-{cid}"),
        order_id=first.id,
        amount=HUGE,
        currency="CNY",
        issue_date=FIRST_DAY,
        due_date=FIRST_DAY,
    )
    late_invoice = Invoice(
        **_event(cid, f"edge-i2-{cid}"),
        amount=HUGE,
        currency="CNY",
        issue_date=LAST_DAY,
        due_date=LAST_DAY,
    )
    session.add_all([old_invoice, late_invoice])
    session.flush()
    session.add_all(
        [
            Payment(
                **_event(cid, f"edge-p1-{cid}"),
                invoice_id=late_invoice.id,
                amount=HUGE,
                currency="CNY",
                paid_on=FIRST_DAY,
                method="",
            ),
            Return(
                **_event(cid, f"edge-r1-{cid}"),
                order_id=last.id,
                amount=HUGE,
                currency="CNY",
                returned_on=LAST_DAY,
                reason="",
                note="",
            ),
            Complaint(
                **_event(cid, f"edge-c1-{cid}"),
                category="",
                product="",
                severity="high",
                status="open",
                opened_at=FIRST_MOMENT,
                resolved_at=LAST_MOMENT,
                description="",
                respond_by=FIRST_MOMENT,
                resolve_by=LAST_MOMENT,
            ),
            SurveyResponse(
                **_event(cid, f"edge-s1-{cid}"),
                survey_type="nps",
                score=10,
                responded_at=LAST_MOMENT,
                comment="",
            ),
            Interaction(
                **_event(cid, f"edge-n1-{cid}"),
                occurred_at=FIRST_MOMENT,
                channel="",
                kind="",
                note="",
            ),
            Contract(
                **_event(cid, f"edge-k1-{cid}"),
                signed_on=FIRST_DAY,
                start_date=FIRST_DAY,
                end_date=LAST_DAY,
                value=HUGE,
                currency="CNY",
                fulfilment_status="",
            ),
            FinancialStatement(
                customer_id=cid,
                period_end=FIRST_DAY,
                period_type="annual",
                currency="CNY",
                revenue=HUGE,
                total_assets=Decimal(0),
                total_liabilities=HUGE,
                equity=-HUGE,
                net_income=-HUGE,
                cash=Decimal(0),
                source="",
            ),
            CreditReport(
                customer_id=cid,
                source="edge",
                external_id=f"edge-b1-{cid}",
                report_date=LAST_DAY,
                score=-2_147_483_648,
                recommended_limit=HUGE,
                payload={},
                content_hash="0" * 64,
            ),
            Contact(customer_id=cid, name="", title="", phone="", email=""),
            Consent(
                customer_id=cid,
                purpose="credit_assessment",
                granted=True,
                notice_version="",
                given_at=FIRST_MOMENT,
                channel="edge",
            ),
            Alert(
                customer_id=cid,
                source="rule",
                rule_code="edge",
                category="other",
                warning_type="anomaly",
                severity="critical",
                status="open",
                title_en="",
                title_zh="",
                evidence={},
                hits=2_147_483_647,
                observed_on=FIRST_MOMENT.date(),
                raised_at=FIRST_MOMENT,
                last_hit_at=LAST_MOMENT,
                due_at=FIRST_MOMENT,
            ),
        ]
    )
    for category in session.scalars(select(ExposureCategory.code)):
        session.add(CreditExposure(customer_id=cid, category=category, amount=HUGE))
    version = session.scalars(select(ScorecardVersion.id)).first()
    if version is not None:  # scores at both ends of time, for the score chart
        for when in (FIRST_MOMENT, LAST_MOMENT):
            session.add(
                CustomerScore(
                    customer_id=cid,
                    scorecard_version_id=version,
                    as_of=when.date(),
                    scored_at=when,
                    score=0,
                    rating="",
                    risk_tier="high",
                    factors={},
                    reasons=[],
                )
            )
    for number, when in ((1, FIRST_MOMENT), (2, LAST_MOMENT)):
        history = CreditFileVersion(
            customer_id=cid,
            version=number,
            changed_at=when,
            action="update",
            reason="",
            channel="edge",
        )
        session.add(history)
        session.flush()
        session.add(CreditFileChange(version_id=history.id, field="", old_value="", new_value=""))
    session.flush()
    return cid


def seed_bare_customer(session: Session, owner_id: int) -> int:
    """A company with nothing but what the database requires: an empty name, no events, no
    score, no history, every optional field missing."""
    customer = Customer(kind="company", company_name="", status="active", owner_id=owner_id)
    session.add(customer)
    session.flush()
    session.add(CreditProfile(customer_id=customer.id))
    session.flush()
    return customer.id
