"""An error never reveals a record the caller may not see: probed as a salesperson of another
team against every way a request can name another team's customer or one of its records. A
hidden record answers exactly as a missing one would; a unique key another team holds is
refused without naming who holds it (and the same way whoever holds it)."""

from __future__ import annotations

import re

from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Alert, AlertAction, AlertCase
from tests.factories import company, uscc

MISSING = 999_999


def create(client, record) -> int:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/customers", json=record)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def error_of(response) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """The error, or the first row error of an intake report."""
    body = response.json()["error"]
    if body.get("details"):
        detail = body["details"][0]
        return {"code": detail["code"], "field": detail["field"], "message": detail["reason"]}
    return {"code": body["code"], "field": body["field"], "message": body["message"]}


def names_nothing(text: str, *customer_ids: int) -> None:
    """No code, no "customer <id>" of these customers in an answer."""
    for cid in customer_ids:
        assert f"C{cid:07d}" not in text, text
        assert not re.search(rf"customer {cid}\b", text), text


def same_as_missing(hidden, missing, hidden_id: int) -> None:  # type: ignore[no-untyped-def]
    """A hidden record's answer is the missing one's, but for the id the caller sent."""
    assert hidden.status_code == missing.status_code == 404, (hidden.text, missing.text)
    h, m = error_of(hidden), error_of(missing)
    assert h == {**m, "message": m["message"].replace(str(MISSING), str(hidden_id))}


def hidden_pair(manager) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Two customers of the north team (sales2), which the east team (sales) may not see."""
    return (
        create(manager, company("HID-1", owner="sales2")),
        create(manager, company("HID-2", owner="sales2")),
    )


def test_a_taken_tax_id_does_not_name_its_holder(manager, client_for) -> None:  # type: ignore[no-untyped-def]
    sales = client_for("sales")
    h1, h2 = hidden_pair(manager)
    taxes = {cid: manager.get(f"/api/v1/customers/{cid}").json()["tax_id"] for cid in (h1, h2)}
    answers = []
    for cid, tax_id in taxes.items():
        record = company(f"NEW-{cid}", tax_id=tax_id)
        record.pop("credit_limit"), record.pop("limit_currency"), record.pop("payment_terms_days")
        refused = sales.post("/api/v1/customers", json=record)
        assert refused.status_code == 422, refused.text
        answers.append(error_of(refused))
        names_nothing(refused.text, h1, h2)
    assert answers[0] == answers[1]
    assert answers[0]["field"] == "tax_id" and answers[0]["code"] == "duplicate_tax_id"
    # A change of a visible customer's tax id answers the same way.
    mine = create(manager, company("MINE-1", owner="sales"))
    changes = [
        sales.patch(f"/api/v1/customers/{mine}", json={"tax_id": tax_id, "reason": "typo"})
        for tax_id in taxes.values()
    ]
    assert [c.status_code for c in changes] == [409, 409]
    assert error_of(changes[0]) == error_of(changes[1])
    for change in changes:
        names_nothing(change.text, h1, h2)
    # Whoever may see the holder keeps the helpful answer.
    record = company("NEW-M", tax_id=taxes[h1])
    seen = manager.post("/api/v1/customers", json=record)
    assert f"C{h1:07d}" in error_of(seen)["message"]


def test_an_upsert_of_another_teams_key_does_not_name_the_customer(manager, client_for) -> None:  # type: ignore[no-untyped-def]
    sales = client_for("sales")
    h1, h2 = hidden_pair(manager)
    answers = []
    for cid, ext in ((h1, "HID-1"), (h2, "HID-2")):
        record = company(ext, tax_id=uscc(), region="North")
        record.pop("credit_limit"), record.pop("limit_currency"), record.pop("payment_terms_days")
        refused = sales.post("/api/v1/customers", json=record)
        assert refused.status_code == 422, refused.text
        names_nothing(refused.text, h1, h2)
        error = error_of(refused)
        answers.append({**error, "message": error["message"].replace(ext, "<ext>")})
        assert manager.get(f"/api/v1/customers/{cid}").json()["region"] == "East"  # unchanged
    assert answers[0] == answers[1]
    assert answers[0]["field"] == "external_id" and answers[0]["code"] == "duplicate_external_id"


def test_records_of_another_teams_customers_answer_as_missing(  # type: ignore[no-untyped-def]
    db, manager, client_for
) -> None:
    sales = client_for("sales")
    h1, _ = hidden_pair(manager)
    # A pending change, a held credit decision, a limit request and a review of h1.
    change = client_for("analyst").patch(f"/api/v1/customers/{h1}", json={"credit_limit": "1"})
    change_id = change.json()["pending_change"]["id"]
    decision = manager.post(
        "/api/v1/credit-checks",
        json={
            "source": "erp",
            "order_external_id": "HID-SO1",
            "customer_code": f"C{h1:07d}",
            "amount": "999999.00",
            "currency": "CNY",
        },
    ).json()["decision"]
    request = manager.post(
        f"/api/v1/customers/{h1}/limit-requests",
        json={"requested_limit": "200000", "reason": "growth"},
    ).json()
    # Decided already: its state must not show either.
    client_for("manager2").post(f"/api/v1/limit-requests/{request['id']}/reject", json={})
    review = manager.post(f"/api/v1/customers/{h1}/reviews").json()
    now = utcnow()
    case = AlertCase(customer_id=h1, status="open", opened_at=now)
    db.add(case)
    db.flush()
    alert = Alert(
        customer_id=h1,
        source="rule",
        rule_code="probe",
        category="payment",
        warning_type="payment_deterioration",
        severity="high",
        status="open",
        title_en="probe",
        title_zh="探测",
        evidence={},
        observed_on=now.date(),
        raised_at=now,
        last_hit_at=now,
        case_id=case.id,
    )
    db.add(alert)
    db.flush()
    offered = AlertAction(alert_id=alert.id, action="call_customer", status="offered", detail={})
    task = AlertAction(alert_id=alert.id, action="call_customer", status="open", detail={})
    db.add_all([offered, task])
    db.commit()
    probes = [
        ("POST", "/api/v1/pending-changes/{}/reject", change_id, {}),
        ("GET", "/api/v1/credit-decisions/{}", decision["id"], None),
        ("POST", "/api/v1/limit-requests/{}/reject", request["id"], {}),
        ("GET", "/api/v1/reviews/{}", review["id"], None),
        ("GET", "/api/v1/alerts/{}", alert.id, None),
        ("GET", "/api/v1/alerts/{}/comments", alert.id, None),
        ("GET", "/api/v1/alerts/{}/actions", alert.id, None),
        ("POST", "/api/v1/alerts/{}/comments", alert.id, {"body": "hello"}),
        ("POST", "/api/v1/alerts/{}/move", alert.id, {"status": "acknowledged"}),
        ("GET", "/api/v1/cases/{}", case.id, None),
        ("POST", "/api/v1/alert-actions/{}/run", offered.id, None),
        ("POST", "/api/v1/alert-actions/{}/complete", task.id, None),
    ]
    for method, path, record_id, body in probes:
        hidden = sales.request(method, path.format(record_id), json=body)
        missing = sales.request(method, path.format(MISSING), json=body)
        same_as_missing(hidden, missing, record_id)
        names_nothing(hidden.text, h1)
    # And nothing was changed by the probes.
    pending = manager.get("/api/v1/pending-changes", params={"customer_id": h1}).json()
    assert [p["status"] for p in pending] == ["pending"]


def test_a_merge_does_not_show_another_teams_customer(manager, client_for) -> None:  # type: ignore[no-untyped-def]
    sales = client_for("sales")
    mine = create(manager, company("MRG-E", owner="sales"))
    theirs = create(manager, company("MRG-N", owner="sales2"))
    pending = client_for("analyst").patch(f"/api/v1/customers/{mine}", json={"credit_limit": "5"})
    assert pending.status_code == 200
    merged = manager.post(
        f"/api/v1/customers/{theirs}/merge", json={"duplicate_id": mine, "reason": "one company"}
    )
    assert merged.status_code == 200, merged.text
    # The east team still sees its (now merged) customer, but not whom it was merged into.
    body = sales.get(f"/api/v1/customers/{mine}").json()
    assert body["status"] == "merged" and body["merged_into"] == "another customer"
    for path in ("", "/history", "/pending-changes"):
        response = sales.get(f"/api/v1/customers/{mine}{path}")
        assert response.status_code == 200, response.text
        names_nothing(response.text, theirs)
    # Whoever may see both is told.
    assert manager.get(f"/api/v1/customers/{mine}").json()["merged_into"] == f"C{theirs:07d}"
    history = manager.get(f"/api/v1/customers/{mine}/history").json()
    assert {"field": "merged_into", "old": None, "new": f"C{theirs:07d}"} in history[0]["changes"]


def test_references_to_hidden_customers_answer_as_missing(manager, client_for) -> None:  # type: ignore[no-untyped-def]
    sales = client_for("sales")
    h1, _ = hidden_pair(manager)

    def check(**ref: str):  # type: ignore[no-untyped-def]
        return sales.post(
            "/api/v1/credit-checks",
            json={
                "source": "erp",
                "order_external_id": "HID-SO9",
                "amount": "10.00",
                "currency": "CNY",
                **ref,
            },
        )

    by_ext = check(customer_external_id="HID-1", customer_source="erp")
    by_ext_missing = check(customer_external_id="NOPE-1", customer_source="erp")
    assert by_ext.status_code == by_ext_missing.status_code == 404
    assert error_of(by_ext)["message"].replace("HID-1", "X") == error_of(by_ext_missing)[
        "message"
    ].replace("NOPE-1", "X")
    by_code = check(customer_code=f"C{h1:07d}")
    by_code_missing = check(customer_code=f"C{MISSING:07d}")
    assert by_code.status_code == by_code_missing.status_code == 404
    assert error_of(by_code)["message"].replace(f"C{h1:07d}", "X") == error_of(by_code_missing)[
        "message"
    ].replace(f"C{MISSING:07d}", "X")
