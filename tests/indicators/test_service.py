"""Indicators in the database: refreshed by events, recomputed in batch, served by the API."""

from __future__ import annotations

import datetime as dt

from riskdesk.indicators import service
from riskdesk.kit.timeutil import today
from tests.factories import company


def _days_ago(n: int) -> str:
    return (today() - dt.timedelta(days=n)).isoformat()


def test_events_refresh_indicators_and_batch_agrees(manager, db) -> None:
    cid = manager.post("/api/v1/customers", json=company("IN1")).json()["id"]
    fresh = manager.get(f"/api/v1/customers/{cid}/indicators").json()
    values = {i["name"]: i["value"] for i in fresh["indicators"]}
    assert fresh["as_of"] == today().isoformat()
    assert values["orders_count_365d"] == 0
    for n, ago in enumerate((5, 40)):
        manager.post(
            "/api/v1/orders",
            json={
                "source": "erp",
                "external_id": f"IO{n}",
                "customer_external_id": "IN1",
                "ordered_at": f"{_days_ago(ago)}T09:00:00Z",
                "amount": "1000.00",
                "currency": "CNY",
                "payment_method": "cash_on_delivery" if n == 0 else "credit",
                "lines": [{"category": "food", "amount": "1000.00"}],
            },
        )
    manager.post(
        "/api/v1/invoices",
        json={
            "source": "erp",
            "external_id": "II1",
            "customer_external_id": "IN1",
            "order_external_id": "IO1",
            "amount": "1000.00",
            "currency": "CNY",
            "issue_date": _days_ago(40),
            "due_date": _days_ago(10),
        },
    )
    manager.post(
        "/api/v1/payments",
        json={
            "source": "erp",
            "external_id": "IP1",
            "invoice_external_id": "II1",
            "amount": "250.00",
            "currency": "CNY",
            "paid_on": _days_ago(2),
        },
    )
    body = manager.get(f"/api/v1/customers/{cid}/indicators").json()
    values = {i["name"]: i["value"] for i in body["indicators"]}
    assert values["orders_count_30d"] == 1 and values["orders_count_90d"] == 2
    assert values["cod_share_90d"] == 0.5
    assert values["ar_open_total"] == 750 and values["ar_1_30"] == 750
    assert values["dpd_max"] == 10
    names = {i["name"] for i in body["indicators"]}
    assert {"paydex", "dso_90d", "return_rate_90d", "rfm_recency_score"} <= names
    entry = next(i for i in body["indicators"] if i["name"] == "dso_90d")
    assert entry["description_zh"] and entry["unit"] == "days" and entry["window_days"] == 90
    before = dict(service.get_snapshot(db, cid).values)  # type: ignore[union-attr]
    service.run_batch(db)
    after = service.get_snapshot(db, cid).values  # type: ignore[union-attr]
    own = {k: v for k, v in before.items() if "percentile" not in k and not k.startswith("rfm")}
    assert own == {k: after[k] for k in own}


def test_catalogue_and_visibility(manager, client_for) -> None:
    catalogue = manager.get("/api/v1/indicators").json()
    assert len(catalogue) >= 60
    assert any(c["population"] for c in catalogue)
    other = manager.post("/api/v1/customers", json=company("IN2", owner="sales2")).json()["id"]
    assert client_for("sales").get(f"/api/v1/customers/{other}/indicators").status_code == 404
    assert client_for("sales2").get(f"/api/v1/customers/{other}/indicators").status_code == 200
