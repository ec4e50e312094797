"""Event intake: idempotency, references, cross-field rules, batches."""

from __future__ import annotations

import pytest

from tests.factories import company, invoice, order, payment


@pytest.fixture
def customer(manager) -> int:  # type: ignore[no-untyped-def]
    response = manager.post("/api/v1/customers", json=company("EV1"))
    assert response.status_code == 201
    return int(response.json()["id"])


def test_order_created_then_duplicate_then_conflict(manager, customer) -> None:
    record = order("O1", "EV1")
    first = manager.post("/api/v1/orders", json=record)
    assert first.status_code == 201 and first.json()["status"] == "created"
    again = manager.post("/api/v1/orders", json=record)
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate" and again.json()["id"] == first.json()["id"]
    changed = manager.post("/api/v1/orders", json=order("O1", "EV1", amount="2000.00"))
    assert changed.status_code == 422
    assert changed.json()["error"]["details"][0]["code"] == "idempotency_conflict"
    events = manager.get(f"/api/v1/customers/{customer}/events").json()
    assert [(e["kind"], e["external_id"]) for e in events] == [("order", "O1")]


def test_order_lines_must_add_up(manager, customer) -> None:
    record = order("O2", "EV1")
    record["lines"].append({"category": "office", "amount": "5.00"})
    response = manager.post("/api/v1/orders", json=record)
    assert response.status_code == 422
    assert "add up" in response.json()["error"]["message"]


def test_unknown_customer_is_named(manager, customer) -> None:
    response = manager.post("/api/v1/orders", json=order("O3", "NOPE"))
    assert response.status_code == 422
    detail = response.json()["error"]["details"][0]
    assert detail["field"] == "customer_external_id"
    assert detail["code"] == "unknown_reference"


def test_invoice_due_after_issue(manager, customer) -> None:
    response = manager.post("/api/v1/invoices", json=invoice("I1", "EV1", due_date="2026-01-10"))
    assert response.status_code == 422
    assert "due_date" in response.json()["error"]["message"]


def test_payments_cannot_exceed_open_amount(manager, customer) -> None:
    assert manager.post("/api/v1/invoices", json=invoice("I2", "EV1")).status_code == 201
    assert manager.post("/api/v1/payments", json=payment("P1", "I2", "600.00")).status_code == 201
    too_much = manager.post("/api/v1/payments", json=payment("P2", "I2", "500.00"))
    assert too_much.status_code == 422
    detail = too_much.json()["error"]["details"][0]
    assert detail["field"] == "amount" and detail["code"] == "exceeds_open_amount"
    assert "400.00" in detail["reason"]
    marked = manager.post("/api/v1/payments", json=payment("P3", "I2", "500.00", overpayment=True))
    assert marked.status_code == 201
    unknown = manager.post("/api/v1/payments", json=payment("P4", "NOPE"))
    assert unknown.json()["error"]["details"][0]["field"] == "invoice_external_id"
    currency = manager.post("/api/v1/payments", json=payment("P5", "I2", "1.00", currency="USD"))
    assert currency.json()["error"]["details"][0]["code"] == "currency_mismatch"


def test_batch_checks_open_amount_across_records(manager, customer) -> None:
    manager.post("/api/v1/invoices", json=invoice("I3", "EV1"))
    batch = [payment("P10", "I3", "700.00"), payment("P11", "I3", "400.00")]
    response = manager.post("/api/v1/payments/batch", json={"records": batch})
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert [(d["row"], d["field"]) for d in details] == [(2, "amount")]
    # Nothing was written: the first payment can still be sent alone.
    assert manager.post("/api/v1/payments", json=batch[0]).status_code == 201


def test_batch_skip_invalid_reports_each_row(manager, customer) -> None:
    records = [order(f"B{i}", "EV1") for i in range(3)]
    records.insert(1, order("BX", "EV1", amount="-5"))
    records.append(order("B0", "EV1"))  # same as row 1: a duplicate within the batch
    stopped = manager.post("/api/v1/orders/batch", json={"records": records})
    assert stopped.status_code == 422
    assert stopped.json()["error"]["details"][0]["row"] == 2
    response = manager.post("/api/v1/orders/batch", json={"records": records, "skip_invalid": True})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["created"], report["invalid"], report["duplicates"]) == (3, 1, 1)
    statuses = [r["status"] for r in report["results"]]
    assert statuses == ["created", "invalid", "created", "created", "duplicate"]
    assert report["results"][4]["id"] == report["results"][0]["id"]
    again = manager.post(
        "/api/v1/orders/batch", json={"records": records, "skip_invalid": True}
    ).json()
    assert (again["created"], again["duplicates"]) == (0, 4)


def test_batch_size_limit(manager, customer) -> None:
    records = [order(f"Z{i}", "EV1") for i in range(10_001)]
    response = manager.post("/api/v1/orders/batch", json={"records": records})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_returns_are_checked_against_the_order(manager, customer) -> None:
    manager.post("/api/v1/orders", json=order("O5", "EV1", amount="300.00"))
    base = {
        "source": "erp",
        "order_external_id": "O5",
        "currency": "CNY",
        "returned_on": "2026-01-20",
        "reason": "defective",
    }
    ok = manager.post("/api/v1/returns", json={**base, "external_id": "R1", "amount": "200.00"})
    assert ok.status_code == 201, ok.text
    over = manager.post("/api/v1/returns", json={**base, "external_id": "R2", "amount": "150"})
    assert over.json()["error"]["details"][0]["code"] == "exceeds_order_amount"
    early = manager.post(
        "/api/v1/returns",
        json={**base, "external_id": "R3", "amount": "1", "returned_on": "2025-12-01"},
    )
    assert early.json()["error"]["details"][0]["field"] == "returned_on"


def test_service_events_and_rules(manager, client_for, customer) -> None:
    service = client_for("service")
    complaint = {
        "source": "crm",
        "external_id": "CP1",
        "customer_code": f"C{customer:07d}",
        "category": "product_quality",
        "product": "E-1",
        "severity": "high",
        "status": "resolved",
        "opened_at": "2026-01-02T09:00:00Z",
        "resolved_at": "2026-01-03T09:00:00Z",
    }
    missing = service.post("/api/v1/complaints", json=complaint)
    assert missing.status_code == 422  # the customer is not service's to see: unknown to them
    assert missing.json()["error"]["details"][0]["code"] == "unknown_reference"
    unresolved = {**complaint, "resolved_at": None}
    response = manager.post("/api/v1/complaints", json=unresolved)
    assert response.status_code == 422 and "resolved_at" in response.json()["error"]["message"]
    assert manager.post("/api/v1/complaints", json=complaint).status_code == 201
    survey = {
        "source": "crm",
        "external_id": "S1",
        "customer_code": f"C{customer:07d}",
        "survey_type": "csat",
        "score": 9,
        "responded_at": "2026-01-04T09:00:00Z",
    }
    assert manager.post("/api/v1/survey-responses", json=survey).status_code == 422
    assert (
        manager.post("/api/v1/survey-responses", json={**survey, "survey_type": "nps"}).status_code
        == 201
    )
    interaction = {
        "source": "crm",
        "external_id": "IA1",
        "customer_code": f"C{customer:07d}",
        "occurred_at": "2026-01-05T09:00:00Z",
        "channel": "phone",
        "kind": "collection",
    }
    assert manager.post("/api/v1/interactions", json=interaction).status_code == 201
    contract = {
        "source": "erp",
        "external_id": "K1",
        "customer_code": f"C{customer:07d}",
        "signed_on": "2025-06-01",
        "start_date": "2025-07-01",
        "end_date": "2025-06-30",
        "value": "10",
        "currency": "CNY",
    }
    assert manager.post("/api/v1/contracts", json=contract).status_code == 422
    contract["end_date"] = "2026-06-30"
    assert manager.post("/api/v1/contracts", json=contract).status_code == 201
    kinds = {e["kind"] for e in manager.get(f"/api/v1/customers/{customer}/events").json()}
    assert kinds == {"complaint", "survey", "interaction", "contract"}


def test_service_role_may_record_complaints_but_not_orders(manager, client_for) -> None:
    own = manager.post("/api/v1/customers", json=company("EV2", owner="service")).json()["id"]
    service = client_for("service")
    complaint = {
        "source": "crm",
        "external_id": "CP9",
        "customer_code": f"C{own:07d}",
        "category": "delivery",
        "severity": "low",
        "opened_at": "2026-01-02T09:00:00Z",
    }
    assert service.post("/api/v1/complaints", json=complaint).status_code == 201
    assert service.post("/api/v1/orders", json=order("O9", "EV2")).status_code == 403


def test_future_dates_and_malformed_values(manager, customer) -> None:
    future = manager.post(
        "/api/v1/orders", json=order("O7", "EV1", ordered_at="2099-01-01T00:00:00Z")
    )
    assert future.status_code == 422 and future.json()["error"]["field"] == "ordered_at"
    garbage = manager.post("/api/v1/orders", json={"source": "erp"})
    assert garbage.status_code == 422
    fields = {d["field"] for d in garbage.json()["error"]["details"]}
    assert {"external_id", "amount", "currency", "lines"} <= fields
    not_json = manager.post(
        "/api/v1/orders", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422
    assert not_json.json()["error"]["code"] == "validation_failed"


def test_repeat_of_an_invalid_record_is_invalid_too(manager, customer) -> None:
    bad = order("RQ1", "NOBODY")
    response = manager.post(
        "/api/v1/orders/batch",
        json={"records": [bad, bad, order("RQ2", "EV1")], "skip_invalid": True},
    )
    report = response.json()
    assert [r["status"] for r in report["results"]] == ["invalid", "invalid", "created"]
    assert report["results"][1]["errors"][0]["code"] == "invalid_repeat"
    assert report["duplicates"] == 0


def test_claims_without_goods_are_reasons_counted_and_labelled(manager, customer) -> None:
    import datetime as dt

    recent = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).date().isoformat()
    made = manager.post(
        "/api/v1/orders",
        json=order("O-NR", "EV1", amount="500.00", ordered_at=f"{recent}T08:00:00Z"),
    )
    assert made.status_code == 201, made.text
    base = {"source": "erp", "order_external_id": "O-NR", "currency": "CNY", "returned_on": recent}
    claims = (("item_not_received", "120.00"), ("empty_package", "80"))
    for n, (reason, amount) in enumerate(claims):
        sent = manager.post(
            "/api/v1/returns",
            json={**base, "external_id": f"R-NR{n}", "amount": amount, "reason": reason},
        )
        assert sent.status_code == 201, sent.text
    bad = manager.post(
        "/api/v1/returns",
        json={**base, "external_id": "R-NRX", "amount": "1", "reason": "parcel_lost"},
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "reason"
    shown = manager.get(f"/api/v1/customers/{customer}/indicators").json()["indicators"]
    values = {i["name"]: i["value"] for i in shown}
    assert values["returns_unreceived_claims_count_90d"] == 2
    assert values["returns_unreceived_claims_amount_90d"] == 200
    assert values["return_reason_share_empty_package_365d"] == 0.5
    catalogue = {i["name"]: i for i in manager.get("/api/v1/indicators").json()}
    assert "空包裹" in catalogue["return_reason_share_empty_package_365d"]["description_zh"]
    page = manager.get(f"/customers/{customer}", headers={"accept-language": "zh-CN"})
    assert "未收到货" in page.text and "空包裹" in page.text
    english = manager.get(f"/customers/{customer}", headers={"accept-language": "en"})
    assert "Item not received" in english.text and "Empty package" in english.text
