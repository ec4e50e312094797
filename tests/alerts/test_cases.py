"""Alert routing, SLA and escalation, a customer's alerts grouped into one case, comments with
mentions."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Alert
from riskdesk.security import service as security_service
from tests.conftest import ingest, principal
from tests.monitoring.test_alerts import _setup, invoice


def _user(db, name: str) -> int:  # type: ignore[no-untyped-def]
    return security_service.get_user_by_username_or_raise(db, name).id


def test_routing_sla_case_escalation_and_comments(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    analyst = client_for("analyst")
    route = analyst.post(
        "/api/v1/alert-routes",
        json={"category": "payment", "min_severity": "high", "assign_to_owner": True,
              "username": "analyst", "escalate_to": "manager2", "position": 1},
    )  # fmt: skip
    assert route.status_code == 201, route.text
    bad = analyst.post("/api/v1/alert-routes", json={"assign_to_owner": False})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "username"
    p = principal(db, "manager")
    ingest(
        db,
        p,
        "invoices",
        [invoice("C1", "A", "150000.00", 70), invoice("C2", "B", "150000.00", 60)],
    )
    db.commit()
    alerts = {
        (a["customer_id"], a["rule_code"]): a
        for a in manager.get("/api/v1/alerts", params={"limit": 1000}).json()
    }
    a_overdue = alerts[(ids["A"], "new_overdue")]
    b_overdue = alerts[(ids["B"], "new_overdue")]
    # A has an owner (sales): the route gives it to the owner; B has none: to the analyst.
    assert a_overdue["assigned_to_id"] == _user(db, "sales")
    assert b_overdue["assigned_to_id"] == _user(db, "analyst")
    raised = dt.datetime.fromisoformat(a_overdue["raised_at"])
    assert dt.datetime.fromisoformat(a_overdue["due_at"]) - raised == dt.timedelta(hours=24)
    # Every alert of a customer sits in one case.
    a_alerts = [a for (cid, _), a in alerts.items() if cid == ids["A"]]
    assert len(a_alerts) >= 2 and len({a["case_id"] for a in a_alerts}) == 1
    case_id = a_overdue["case_id"]
    case = manager.get(f"/api/v1/cases/{case_id}").json()
    assert case["status"] == "open" and {a["id"] for a in case["alerts"]} == {
        a["id"] for a in a_alerts
    }

    # SLA breached: escalate to the route's escalation user, one level up, due sooner.
    db.execute(
        update(Alert)
        .where(Alert.id == b_overdue["id"])
        .values(due_at=utcnow() - dt.timedelta(minutes=5))
    )
    db.commit()
    assert analyst.post("/api/v1/alert-escalations").json() == {"escalated": 1}
    escalated = manager.get(f"/api/v1/alerts/{b_overdue['id']}").json()
    assert escalated["escalation_level"] == 1
    assert escalated["assigned_to_id"] == _user(db, "manager2")
    remaining = dt.datetime.fromisoformat(escalated["due_at"]) - utcnow()
    assert dt.timedelta(hours=11) < remaining <= dt.timedelta(hours=12)
    assert analyst.post("/api/v1/alert-escalations").json() == {"escalated": 0}

    # Comments keep mentions of real users only.
    said = analyst.post(
        f"/api/v1/alerts/{b_overdue['id']}/comments",
        json={"body": "@manager2 please call them; cc @nobody"},
    )
    assert said.status_code == 201 and said.json()["mentions"] == [_user(db, "manager2")]
    listed = manager.get(f"/api/v1/alerts/{b_overdue['id']}/comments").json()
    assert [c["body"] for c in listed] == ["@manager2 please call them; cc @nobody"]
    assert client_for("sales").get(f"/api/v1/alerts/{b_overdue['id']}/comments").status_code == 404

    # The case closes when its last alert does.
    for alert in a_alerts:
        moved = manager.post(
            f"/api/v1/alerts/{alert['id']}/move",
            json={"status": "dismissed", "outcome": "false_alarm"},
        )
        assert moved.status_code == 200
    closed = manager.get(f"/api/v1/cases/{case_id}").json()
    assert closed["status"] == "closed" and closed["closed_at"] is not None


@pytest.mark.parametrize("severity", ["low", "critical"])
def test_sla_hours_by_severity(severity: str) -> None:
    from riskdesk.alerts.service import DEFAULT_SLA_HOURS

    assert DEFAULT_SLA_HOURS[severity] == {"low": 168, "critical": 4}[severity]
