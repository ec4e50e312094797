"""The demo population loads through the intake on both databases and records behaviours."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from riskdesk.demo.generator import DECOY_OF
from riskdesk.demo.loader import load_demo
from riskdesk.models import Alert, Customer, DemoBehaviour, Invoice, Order, Payment, User


def test_demo_loads_with_behaviours(db) -> None:  # type: ignore[no-untyped-def]
    summary = load_demo(db, customers=40, months=18, seed=5, end_date=dt.date(2026, 10, 31))
    assert summary.counts["customers"] == 40
    assert summary.counts["orders"] > 100
    assert sum(summary.behaviours.values()) == 41  # every customer, plus the complaint wave
    assert db.scalar(select(func.count()).select_from(DemoBehaviour)) == 41
    linked = db.scalar(
        select(func.count())
        .select_from(DemoBehaviour)
        .where(DemoBehaviour.customer_id.is_not(None))
    )
    assert linked == 40
    # Decoys are stored with the behaviour they resemble in the detail (the schema has no column).
    stored = db.execute(select(DemoBehaviour.behaviour, DemoBehaviour.detail)).all()
    decoys = [(b, d) for b, d in stored if b in DECOY_OF]
    assert decoys and all(d.startswith(f"decoy of {DECOY_OF[b]}: ") for b, d in decoys)
    assert db.scalar(select(func.count()).select_from(Customer)) >= 40
    # Payments never exceed their invoice (the intake would have refused them).
    paid = (
        select(Payment.invoice_id, func.sum(Payment.amount).label("paid"))
        .group_by(Payment.invoice_id)
        .subquery()
    )
    rows = db.execute(
        select(Invoice.amount, paid.c.paid).join(paid, paid.c.invoice_id == Invoice.id)
    ).all()
    assert rows
    # SQLite sums NUMERIC as floats, so compare in cents.
    assert all(round(float(total) * 100) <= round(float(amount) * 100) for amount, total in rows)
    latest = db.scalar(select(func.max(Order.ordered_at)))
    assert latest is not None and latest.date() <= dt.date(2026, 10, 31)
    # Alerts are routed as a credit team would: high and critical to the risk analyst, the
    # rest to the customer's sales owner (every one went to sales before the demo's routes).
    users = {u.username: u.id for u in db.scalars(select(User))}
    assigned = db.execute(
        select(Alert.severity, Alert.assigned_to_id).where(Alert.customer_id.is_not(None))
    ).all()
    serious = [who for severity, who in assigned if severity in ("high", "critical")]
    rest = [who for severity, who in assigned if severity not in ("high", "critical")]
    assert serious and set(serious) == {users["analyst"]}
    assert rest and users["analyst"] not in rest
    assert set(rest) <= {users["sales"], users["sales2"], users["sales3"], None}
