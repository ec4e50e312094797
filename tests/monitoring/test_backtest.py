"""Backtests over the history (outcome dates, hits per month, recall, days early, false
alarms) and the live effectiveness of rules from their alerts' outcomes."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from riskdesk.demo.loader import load_demo
from riskdesk.indicators.compute import SCHEMAS, EventFrames
from riskdesk.monitoring.backtest import churn_dates, default_dates

AS_OF = dt.date(2026, 6, 30)


def frames(**rows: list[dict]) -> EventFrames:  # type: ignore[type-arg]
    return EventFrames(
        **{name: pl.DataFrame(rows.get(name, []), schema=s) for name, s in SCHEMAS.items()}
    )


def d(n: int) -> dt.date:
    return AS_OF - dt.timedelta(days=n)


def test_outcome_dates() -> None:
    invoices = [
        # paid 100 days late: defaulted 90 days after the due date
        {"invoice_id": 1, "customer_id": 1, "order_id": None, "issue_date": d(300),
         "due_date": d(270), "amount": 100.0},
        # still open, 120 days past due
        {"invoice_id": 2, "customer_id": 2, "order_id": None, "issue_date": d(150),
         "due_date": d(120), "amount": 100.0},
        # paid 10 days late: no default
        {"invoice_id": 3, "customer_id": 3, "order_id": None, "issue_date": d(100),
         "due_date": d(70), "amount": 100.0},
    ]  # fmt: skip
    payments = [
        {"invoice_id": 1, "customer_id": 1, "day": d(170), "amount": 100.0},
        {"invoice_id": 3, "customer_id": 3, "day": d(60), "amount": 100.0},
    ]
    out = {r["customer_id"]: r["outcome_date"] for r in default_dates(
        frames(invoices=invoices, payments=payments), AS_OF
    ).to_dicts()}  # fmt: skip
    assert out == {1: d(180), 2: d(30)}
    orders = [
        {"order_id": i, "customer_id": c, "day": d(day), "amount": 1.0, "payment_method": "credit"}
        for i, (c, day) in enumerate([(1, 400), (1, 150), (1, 10), (2, 300), (2, 250)])
    ]
    gaps = {r["customer_id"]: r["outcome_date"] for r in churn_dates(
        frames(orders=orders), AS_OF
    ).to_dicts()}  # fmt: skip
    # customer 1: 250 days between orders -> churned 180 days after the first of them
    # customer 2: no order since 250 days ago -> churned 180 days after it
    assert gaps == {1: d(400 - 180), 2: d(250 - 180)}


@pytest.fixture
def history(db):  # type: ignore[no-untyped-def]
    load_demo(db, customers=120, months=24, seed=1)
    db.commit()
    return db


def test_backtest_and_live_effectiveness(history, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    analyst = client_for("analyst")
    bad = analyst.post("/api/v1/rules/backtest", json={"expression": "dpd_max >"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "expression"
    result = analyst.post(
        "/api/v1/rules/backtest",
        json={"expression": "dpd_max > 30", "months": 6, "horizon_days": 180},
    )
    assert result.status_code == 200, result.text
    r = result.json()
    assert [m["month"] for m in r["monthly"]] == sorted(m["month"] for m in r["monthly"])
    assert len(r["monthly"]) == 6 and all(m["customers"] > 0 for m in r["monthly"])
    assert r["outcomes"] > 0 and 0 <= r["caught"] <= r["outcomes"]
    assert r["recall"] == pytest.approx(r["caught"] / r["outcomes"])
    if r["caught"]:
        assert r["median_days_early"] > 0
    assert 0 <= r["false_alarm_rate"] <= 1
    # A rule that never fires catches nothing and raises no false alarm.
    never = analyst.post(
        "/api/v1/rules/backtest", json={"expression": "dpd_max < 0", "months": 3}
    ).json()
    assert never["caught"] == 0 and never["false_alarm_rate"] is None
    churn = analyst.post(
        "/api/v1/rules/backtest",
        json={"expression": "order_frequency_trend < 0.5", "months": 3, "outcome": "churn"},
    )
    assert churn.status_code == 200 and churn.json()["outcome"] == "churn"
    assert client_for("sales").post("/api/v1/rules/backtest", json={
        "expression": "dpd_max > 30"
    }).status_code == 403  # fmt: skip

    # Live: the demo raised alerts; close two and the rule's precision follows.
    alerts = manager.get("/api/v1/alerts", params={"status": "open"}).json()
    assert alerts
    code = alerts[0]["rule_code"]
    same = [a for a in alerts if a["rule_code"] == code][:2]
    outcomes = ["confirmed", "false_alarm"][: len(same)]
    for alert, outcome in zip(same, outcomes, strict=True):
        moved = analyst.post(
            f"/api/v1/alerts/{alert['id']}/move", json={"status": "resolved", "outcome": outcome}
        )
        assert moved.status_code == 200
    live = {e["rule_code"]: e for e in manager.get("/api/v1/rules/effectiveness").json()}
    assert live[code]["confirmed"] == 1
    assert live[code]["precision"] == pytest.approx(1 / len(same))
