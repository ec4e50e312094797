"""The alert SLAs as policy: the hours to act per severity are read and changed through the API
(rules:manage), validated field by field, audited, and idempotent; a change applies to alerts
raised afterwards, while alerts already raised keep their due time."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from riskdesk.alerts import service as alert_service
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Alert, AlertSla, AuditEntry
from riskdesk.security import service as security_service
from tests.conftest import ingest, principal
from tests.monitoring.test_alerts import _setup, invoice

SHIPPED = {"critical": 4, "high": 24, "medium": 72, "low": 168}


def _last_entry(db) -> int:  # type: ignore[no-untyped-def]
    return db.scalar(select(func.max(AuditEntry.id))) or 0


def _writes_since(db, last_id: int) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    db.expire_all()
    stmt = select(AuditEntry).where(AuditEntry.id > last_id, AuditEntry.action == "write")
    return list(db.scalars(stmt.order_by(AuditEntry.id)))


def test_the_migration_seeds_the_shipped_hours(db) -> None:  # type: ignore[no-untyped-def]
    assert {s.severity: s.hours for s in db.scalars(select(AlertSla))} == SHIPPED
    assert alert_service.sla_hours(db) == SHIPPED == alert_service.DEFAULT_SLA_HOURS


def test_slas_are_listed_and_changed_once_with_an_audit_entry(db, client_for) -> None:  # type: ignore[no-untyped-def]
    sales = client_for("sales")
    listed = sales.get("/api/v1/alert-slas")
    assert listed.status_code == 200
    assert [(s["severity"], s["hours"]) for s in listed.json()] == list(SHIPPED.items())
    assert all(s["updated_by_id"] is None for s in listed.json())
    # Who may change routes may change SLAs; the others may not.
    for other in (sales, client_for("auditor")):
        assert other.put("/api/v1/alert-slas/high", json={"hours": 12}).status_code == 403
    analyst = client_for("analyst")
    before = _last_entry(db)
    changed = analyst.put("/api/v1/alert-slas/high", json={"hours": 12})
    assert changed.status_code == 200, changed.text
    analyst_id = security_service.get_user_by_username_or_raise(db, "analyst").id
    body = changed.json()
    assert (body["severity"], body["hours"], body["updated_by_id"]) == ("high", 12, analyst_id)
    [entry] = _writes_since(db, before)
    assert entry.request == "PUT /api/v1/alert-slas/{severity}" and entry.actor == "analyst"
    assert entry.detail["changes"] == [
        {"table": "alert_slas", "op": "update", "rows": 1, "ids": ["high"],
         "fields": ["hours", "updated_at", "updated_by_id"]}
    ]  # fmt: skip
    # The same hours again change nothing: not the row, not who and when, no entry.
    manager = client_for("manager")  # (its token is a write of its own)
    before = _last_entry(db)
    again = manager.put("/api/v1/alert-slas/high", json={"hours": 12})
    assert again.status_code == 200 and again.json() == body
    assert _writes_since(db, before) == []
    assert alert_service.sla_hours(db) == SHIPPED | {"high": 12}
    shown = {s["severity"]: s["hours"] for s in sales.get("/api/v1/alert-slas").json()}
    assert shown == SHIPPED | {"high": 12}


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"hours": 0}, "greater_than_equal"),
        ({"hours": 2161}, "less_than_equal"),
        ({"hours": -4}, "greater_than_equal"),
        ({"hours": 1.5}, "int_from_float"),
        ({"hours": "abc"}, "int_parsing"),
        ({"hours": True}, "int_type"),
        ({"hours": None}, "int_type"),
        ({}, "missing"),
    ],
)
def test_bad_hours_are_refused_on_their_field(db, client_for, payload, code) -> None:  # type: ignore[no-untyped-def]
    analyst = client_for("analyst")
    before = _last_entry(db)
    refused = analyst.put("/api/v1/alert-slas/critical", json=payload)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["field"] == "hours", error
    assert code in refused.text
    assert _writes_since(db, before) == []
    assert alert_service.sla_hours(db)["critical"] == 4


def test_the_bounds_are_accepted_and_an_unknown_severity_is_not(client_for) -> None:  # type: ignore[no-untyped-def]
    analyst = client_for("analyst")
    assert analyst.put("/api/v1/alert-slas/low", json={"hours": 2160}).json()["hours"] == 2160
    assert analyst.put("/api/v1/alert-slas/low", json={"hours": 1}).json()["hours"] == 1
    assert analyst.put("/api/v1/alert-slas/extreme", json={"hours": 5}).status_code == 422
    extra = analyst.put("/api/v1/alert-slas/low", json={"hours": 5, "minutes": 3})
    assert extra.status_code == 422


def _hours(alert: dict) -> float:  # type: ignore[type-arg]
    due = dt.datetime.fromisoformat(alert["due_at"])
    return (due - dt.datetime.fromisoformat(alert["raised_at"])).total_seconds() / 3600


def test_a_new_alert_gets_the_new_sla_and_an_old_one_keeps_its_own(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    p = principal(db, "manager")
    ingest(db, p, "invoices", [invoice("S1", "A", "150000.00", 70)])
    db.commit()

    def alerts_of(customer: str) -> list[dict]:  # type: ignore[type-arg]
        params = {"customer_id": ids[customer], "limit": 1000}
        return list(manager.get("/api/v1/alerts", params=params).json())

    old = alerts_of("A")
    assert old and all(_hours(a) == SHIPPED[a["severity"]] for a in old)
    changed = {"critical": 2, "high": 10, "medium": 30, "low": 100}
    analyst = client_for("analyst")
    for severity, hours in changed.items():
        saved = analyst.put(f"/api/v1/alert-slas/{severity}", json={"hours": hours})
        assert saved.status_code == 200, saved.text
    ingest(db, p, "invoices", [invoice("S2", "B", "150000.00", 70)])
    db.commit()
    new = alerts_of("B")
    assert new and all(_hours(a) == changed[a["severity"]] for a in new)
    # The alerts raised before the change keep their due time.
    assert {a["id"]: a["due_at"] for a in alerts_of("A")} == {a["id"]: a["due_at"] for a in old}
    # An escalation sets the next due time from the hours in force: half of them.
    breached = old[0]
    db.execute(
        update(Alert)
        .where(Alert.id == breached["id"])
        .values(due_at=utcnow() - dt.timedelta(minutes=5))
    )
    db.commit()
    assert analyst.post("/api/v1/alert-escalations").json()["escalated"] >= 1
    escalated = manager.get(f"/api/v1/alerts/{breached['id']}").json()
    remaining = dt.datetime.fromisoformat(escalated["due_at"]) - utcnow()
    half = dt.timedelta(hours=max(changed[escalated["severity"]] / 2, 1))
    assert half - dt.timedelta(minutes=5) < remaining <= half


def test_a_product_alert_gets_the_sla_in_force(db) -> None:  # type: ignore[no-untyped-def]
    db.get(AlertSla, "high").hours = 9
    db.flush()
    now = utcnow()
    raised, _ = alert_service.raise_product_alerts(
        db,
        [("SLA-widget", "high", {"complaints": 5})],
        code="complaint_wave",
        category="complaints",
        titles=("{product}", "{product}"),
        dedup_days=7,
        now=now,
    )
    assert raised == 1
    alert = db.scalars(select(Alert).where(Alert.product == "SLA-widget")).one()
    assert alert.due_at - alert.raised_at == dt.timedelta(hours=9)


def test_the_queue_judges_due_soon_by_the_hours_in_force() -> None:
    now = utcnow()
    alert = Alert(severity="high", due_at=now + dt.timedelta(hours=5), escalation_level=0)
    assert alert_service.sla_state(alert, now) == "due_soon"  # within a quarter of 24 hours
    assert alert_service.sla_state(alert, now, hours={"high": 8}) == "on_time"
