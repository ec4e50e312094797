"""Playbooks: automatic steps run and logged when an alert is raised, offered steps run by a
person, credit changes waiting for a second person's approval."""

from __future__ import annotations

from tests.conftest import ingest, principal
from tests.monitoring.test_alerts import _setup, invoice


def test_collection_playbook_runs_and_credit_steps_need_approval(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)  # installs the default rules and playbooks
    names = {p["code"] for p in manager.get("/api/v1/playbooks").json()}
    assert {"collection", "ageing", "return_abuse", "churn", "critical"} <= names
    ingest(db, principal(db, "manager"), "invoices", [invoice("P1", "B", "4000.00", 45)])
    db.commit()
    alert = next(
        a for a in manager.get("/api/v1/alerts", params={"customer_id": ids["B"]}).json()
        if a["rule_code"] == "new_overdue"
    )  # fmt: skip
    actions = manager.get(f"/api/v1/alerts/{alert['id']}/actions").json()
    by_action = {a["action"]: a for a in actions}
    collection = by_action["start_collection"]
    # Automatic: done by Riskdesk itself (no person), logged, with the dunning steps.
    assert collection["auto"] and collection["status"] == "open"
    assert collection["performed_by_id"] is None
    assert [s["step"] for s in collection["detail"]["steps"]][:2] == ["reminder", "call"]
    hold = by_action["hold_orders"]
    assert not hold["auto"] and hold["status"] == "offered"

    analyst = client_for("analyst")
    taken = analyst.post(f"/api/v1/alert-actions/{hold['id']}/run")
    assert taken.status_code == 200, taken.text
    change_id = taken.json()["detail"]["pending_change_id"]
    assert taken.json()["status"] == "awaiting_approval" and change_id
    pending = manager.get(f"/api/v1/customers/{ids['B']}/pending-changes").json()
    assert [p["id"] for p in pending] == [change_id]
    assert {c["field"]: c["new"] for c in pending[0]["changes"]}["blocked"] == "true"
    # The analyst asked for it, so the analyst cannot also approve it; a manager does.
    assert analyst.post(f"/api/v1/alert-actions/{hold['id']}/run").status_code == 404
    assert manager.post(f"/api/v1/pending-changes/{change_id}/approve", json={}).status_code == 200
    assert manager.get(f"/api/v1/customers/{ids['B']}").json()["profile"]["blocked"] is True
    done = analyst.post(f"/api/v1/alert-actions/{collection['id']}/complete")
    assert done.status_code == 200 and done.json()["status"] == "done"


def test_automatic_credit_change_is_proposed_by_the_system_user(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    made = client_for("analyst").post(
        "/api/v1/playbooks",
        json={"code": "strict_overdue", "name_en": "Strict", "name_zh": "严格",
              "rule_code": "new_overdue",
              "steps": [{"action": "reduce_limit", "auto": True, "params": {"percent": 50}}]},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    # The rule's own playbook comes first; the new one is for another rule code here.
    bad = client_for("analyst").post(
        "/api/v1/playbooks",
        json={"code": "x", "name_en": "x", "name_zh": "x", "steps": [{"action": "explode"}]},
    )
    assert bad.status_code == 422
    for step in ({"action": "reduce_limit", "params": {"percent": 150}},
                 {"action": "contact_customer", "params": {"days": 3}}):  # fmt: skip
        refused = client_for("analyst").post(
            "/api/v1/playbooks",
            json={"code": "y", "name_en": "y", "name_zh": "y", "steps": [step]},
        )
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "steps"
    # Turning the rule's own playbook off (its content kept) lets the new one apply.
    current = next(p for p in manager.get("/api/v1/playbooks").json() if p["code"] == "collection")
    change = {k: current[k] for k in ("name_en", "name_zh", "rule_code", "min_severity", "steps")}
    off = client_for("analyst").put("/api/v1/playbooks/collection", json=change | {"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    assert client_for("sales").put(
        "/api/v1/playbooks/collection", json=change
    ).status_code == 403  # fmt: skip
    assert client_for("analyst").put("/api/v1/playbooks/nope", json=change).status_code == 404
    too_much = change | {"steps": [{"action": "shorten_terms", "params": {"days": 900}}]}
    refused = client_for("analyst").put("/api/v1/playbooks/collection", json=too_much)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "steps"
    ingest(db, principal(db, "manager"), "invoices", [invoice("P2", "B", "900.00", 45)])
    db.commit()
    alert = next(
        a for a in manager.get("/api/v1/alerts", params={"customer_id": ids["B"]}).json()
        if a["rule_code"] == "new_overdue"
    )  # fmt: skip
    (reduce,) = manager.get(f"/api/v1/alerts/{alert['id']}/actions").json()
    assert reduce["auto"] and reduce["status"] == "awaiting_approval"
    pending = manager.get(f"/api/v1/customers/{ids['B']}/pending-changes").json()[0]
    assert pending["requested_by"]["username"] == "riskdesk-system"
    assert {c["field"]: c["new"] for c in pending["changes"]} == {"credit_limit": "50000.00"}
