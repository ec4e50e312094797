"""Alerts clear themselves when their condition no longer holds: on the next evaluation of the
customer (an event batch, an import chunk, a run over everyone), with a reason code, the values
that cleared it, the automatic steps nobody carried out cancelled, and a grace for late payment
feeds."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from riskdesk.alerts import playbooks
from riskdesk.alerts import service as alert_service
from riskdesk.config import Settings
from riskdesk.indicators import service as indicator_service
from riskdesk.indicators.compute import SCHEMAS, EventFrames, compute, receivables
from riskdesk.models import Alert, AlertAction, AlertCase, PendingChange
from riskdesk.monitoring import service as monitoring_service
from riskdesk.pipeline import intake
from tests.conftest import principal, processed
from tests.factories import person
from tests.monitoring.test_alerts import _setup, ago, invoice
from tests.security.test_auth import login


def payment(ext: str, invoice_ext: str, amount: str, days_ago: int) -> dict[str, Any]:
    return {"source": "erp", "external_id": ext, "invoice_external_id": invoice_ext,
            "amount": amount, "currency": "CNY", "paid_on": ago(days_ago)}  # fmt: skip


def alerts_of(db: Session, customer_id: int, code: str = "new_overdue") -> list[Alert]:
    db.expire_all()
    stmt = select(Alert).where(Alert.customer_id == customer_id, Alert.rule_code == code)
    return list(db.scalars(stmt.order_by(Alert.id)))


def steps_of(db: Session, alert_id: int) -> list[AlertAction]:
    stmt = select(AlertAction).where(AlertAction.alert_id == alert_id).order_by(AlertAction.id)
    return list(db.scalars(stmt))


def ingest(db: Session, kind: str, records: list[dict[str, Any]], **kw: Any) -> None:
    if kw:
        from riskdesk.kit.intake import Item

        items = [Item(row=n, raw=r) for n, r in enumerate(records, start=1)]
        intake.ingest_items(db, principal(db, "manager"), kind, items, skip_invalid=False,
                            channel="test", **kw)  # fmt: skip
    else:
        intake.ingest(db, principal(db, "manager"), kind, records)
    processed(db)
    db.commit()


def test_an_alert_being_worked_clears_and_what_people_did_stays(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    analyst = client_for("analyst")
    # new_overdue's playbook: cut the limit and start collection automatically, offer a block.
    analyst.post("/api/v1/playbooks", json={
        "code": "strict", "name_en": "Strict", "name_zh": "严格", "rule_code": "new_overdue",
        "steps": [{"action": "reduce_limit", "auto": True, "params": {"percent": 50}},
                  {"action": "start_collection", "auto": True},
                  {"action": "hold_orders", "auto": False}]})  # fmt: skip
    collection = next(
        p for p in manager.get("/api/v1/playbooks").json() if p["code"] == "collection"
    )
    keep = {k: collection[k] for k in ("name_en", "name_zh", "rule_code", "min_severity", "steps")}
    assert analyst.put("/api/v1/playbooks/collection", json=keep | {"active": False}).is_success
    ingest(db, "invoices", [invoice("W1", "A", "3000.00", 45), invoice("W2", "B", "3000.00", 45)])
    (alert_a,) = alerts_of(db, ids["A"])
    (alert_b,) = alerts_of(db, ids["B"])
    # B is worked: in progress, and the analyst asked for the offered block.
    url = f"/api/v1/alerts/{alert_b.id}/move"
    assert analyst.post(url, json={"status": "in_progress"}).json()["status"] == "in_progress"
    offer = next(s for s in steps_of(db, alert_b.id) if s.status == "offered")
    blocked = analyst.post(f"/api/v1/alert-actions/{offer.id}/run").json()
    asked = blocked["detail"]["pending_change_id"]
    # A's automatic limit cut was approved by a manager before the payment came.
    cut_a = next(s for s in steps_of(db, alert_a.id) if s.action == "reduce_limit")
    approved = cut_a.detail["pending_change_id"]
    assert manager.post(f"/api/v1/pending-changes/{approved}/approve", json={}).is_success

    ingest(
        db, "payments", [payment("WP1", "W1", "3000.00", 10), payment("WP2", "W2", "3000.00", 10)]
    )
    system = playbooks.system_principal(db).user_id
    for before in (alert_a, alert_b):
        (after,) = alerts_of(db, before.customer_id or 0)
        assert (after.status, after.outcome, after.cleared_reason) == (
            "resolved",
            None,
            "invoice_paid",
        )
        assert after.closed_by_id == system
        assert after.evidence["cleared_with"] == {"dpd_max": 0.0, "late_days_usual_p90": None}
    by_action = {s.action: s for s in steps_of(db, alert_b.id) if s.auto}
    assert by_action["start_collection"].status == "cancelled"
    assert by_action["reduce_limit"].status == "cancelled"
    # The automatic cut nobody approved is withdrawn from the approval queue by its author...
    proposed = db.get(PendingChange, by_action["reduce_limit"].detail["pending_change_id"])
    assert proposed is not None and (proposed.status, proposed.decided_by_id) == (
        "withdrawn",
        system,
    )
    # ...what the analyst did stays: the taken offer, the block they asked for, still pending.
    manual = [s for s in steps_of(db, alert_b.id) if not s.auto]
    assert sorted(s.status for s in manual) == ["awaiting_approval", "taken"]
    still = db.get(PendingChange, asked)
    assert still is not None and still.status == "pending"
    assert [p["id"] for p in manager.get("/api/v1/pending-changes").json()] == [asked]
    # A manager's approval of A's cut stands.
    done = db.get(PendingChange, approved)
    assert done is not None and done.status == "approved"
    cut_a_after = next(s for s in steps_of(db, alert_a.id) if s.action == "reduce_limit")
    assert cut_a_after.status == "awaiting_approval"  # decided by a person: left as it was
    # The API shows the reason; effectiveness counts them apart from what people judged.
    shown = manager.get(f"/api/v1/alerts/{alert_b.id}").json()
    assert (shown["status"], shown["outcome"], shown["cleared_reason"]) == (
        "resolved",
        None,
        "invoice_paid",
    )
    live = {e["rule_code"]: e for e in manager.get("/api/v1/rules/effectiveness").json()}
    assert live["new_overdue"]["cleared"] == 2 and live["new_overdue"]["confirmed"] == 0


def test_a_partly_paid_customer_stays_flagged_and_a_cleared_rule_can_fire_again(db) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    ingest(db, "invoices", [invoice("X1", "A", "2000.00", 60), invoice("X2", "A", "500.00", 40)])
    (first,) = alerts_of(db, ids["A"])
    # The older invoice paid; the other is still 40 days past due: the rule still fires.
    ingest(db, "payments", [payment("XP1", "X1", "2000.00", 5)])
    (same,) = alerts_of(db, ids["A"])
    assert (same.id, same.status, same.hits) == (first.id, "open", 2)
    # Paid in part only (still 40 days past due): open.
    ingest(db, "payments", [payment("XP2", "X2", "300.00", 3)])
    assert alerts_of(db, ids["A"])[0].status == "open"
    ingest(db, "payments", [payment("XP3", "X2", "200.00", 2)])
    (cleared,) = alerts_of(db, ids["A"])
    assert (cleared.status, cleared.cleared_reason) == ("resolved", "invoice_paid")
    # The condition comes back: a new alert, the cleared one stays closed.
    ingest(db, "invoices", [invoice("X3", "A", "700.00", 35)])
    again = alerts_of(db, ids["A"])
    assert [a.status for a in again] == ["resolved", "open"] and again[1].id != cleared.id


def test_a_condition_that_clears_without_payment_says_so(db, client_for) -> None:  # type: ignore[no-untyped-def]
    """A rule that reads no overdue measure (orders) clears with ``condition_cleared``, and
    the customer's case closes with its last open alert."""
    ids = _setup(db)
    analyst, manager2 = client_for("analyst"), client_for("manager2")
    made = analyst.post("/api/v1/rules", json={
        "code": "few_orders", "name_en": "Few orders", "name_zh": "订单少", "category": "purchase",
        "severity": "low", "expression": "orders_count_365d < 2", "dedup_days": 30})  # fmt: skip
    version = made.json()["versions"][0]["id"]
    assert manager2.post(f"/api/v1/rule-versions/{version}/approve").is_success
    assert analyst.post(f"/api/v1/rule-versions/{version}/activate").is_success
    alert_service.evaluate(db, [ids["B"]])
    (raised,) = alerts_of(db, ids["B"], "few_orders")
    line = {"category": "office", "amount": "100.00"}
    orders = [{"source": "erp", "external_id": f"FO{i}", "customer_external_id": "B",
               "ordered_at": f"{ago(10 + i)}T09:00:00Z", "amount": "100.00", "currency": "CNY",
               "lines": [line]} for i in range(2)]  # fmt: skip
    ingest(db, "orders", orders)
    (cleared,) = alerts_of(db, ids["B"], "few_orders")
    assert (cleared.id, cleared.status, cleared.cleared_reason) == (
        raised.id, "resolved", "condition_cleared",
    )  # fmt: skip
    assert cleared.evidence["cleared_with"] == {"orders_count_365d": 2.0}
    case = db.get(AlertCase, cleared.case_id)
    assert case is not None and case.status == "closed"


def test_a_run_over_everyone_clears_what_no_longer_holds(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    ingest(db, "invoices", [invoice("Y1", "A", "900.00", 45), invoice("Y2", "B", "900.00", 45)])
    # A's payment is written without evaluating anyone; the nightly batch then judges everyone.
    ingest(db, "payments", [payment("YP1", "Y1", "900.00", 3)], refresh_indicators=False)
    assert alerts_of(db, ids["A"])[0].status == "open"
    indicator_service.run_batch(db)
    summary = alert_service.evaluate(db, None)
    assert summary.cleared == 1
    (a,) = alerts_of(db, ids["A"])
    assert (a.status, a.cleared_reason, a.evidence["cleared_with"]) == (
        "resolved", "invoice_paid", {"dpd_max": 0.0, "late_days_usual_p90": None},
    )  # fmt: skip
    assert alerts_of(db, ids["B"])[0].status == "open"
    # The rule retired: a run over everyone (snapshot, then a short write) clears its alerts.
    rule = next(r for r in manager.get("/api/v1/rules").json() if r["code"] == "new_overdue")
    active = next(v for v in rule["versions"] if v["status"] == "active")
    assert client_for("analyst").post(f"/api/v1/rule-versions/{active['id']}/retire").is_success
    run = client_for("analyst").post("/api/v1/rule-runs")
    assert run.status_code == 201 and run.json()["cleared"] >= 1, run.text
    (b,) = alerts_of(db, ids["B"])
    assert (b.status, b.cleared_reason, b.outcome) == ("resolved", "rule_retired", None)
    assert "cleared_with" not in b.evidence
    # An alert no rule version raised (none of the rules' doing) is not judged by them.
    now = b.raised_at
    db.add(Alert(customer_id=ids["B"], source="rule", rule_code="legacy", category="other",
                 warning_type="other", severity="low", status="open", title_en="legacy",
                 title_zh="旧", evidence={}, observed_on=now.date(), raised_at=now,
                 last_hit_at=now))  # fmt: skip
    db.commit()
    assert alert_service.evaluate(db, None).cleared == 0
    assert alerts_of(db, ids["B"], "legacy")[0].status == "open"


def test_a_run_over_everyone_leaves_alerts_newer_than_its_snapshot(db) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    findings = monitoring_service.find_rule_hits(db, None)  # A owes nothing yet
    ingest(db, "invoices", [invoice("Z1", "A", "900.00", 45)])  # raised by A's own event
    (raised,) = alerts_of(db, ids["A"])
    summary = alert_service.raise_alerts(db, findings)
    db.commit()
    assert summary.cleared == 0
    assert alerts_of(db, ids["A"])[0].status == "open" and raised.status == "open"


def test_a_customer_who_withdraws_consent_is_no_longer_watched(db, client_for) -> None:  # type: ignore[no-untyped-def]
    _setup(db)
    manager = client_for("manager")
    made = manager.post("/api/v1/customers", json=person("Q1", source="erp"))
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    ingest(db, "invoices", [invoice("Q1-I", "Q1", "900.00", 45)])
    (raised,) = alerts_of(db, cid)
    assert raised.status == "open"
    no = {"purpose": "behaviour_monitoring", "granted": False, "notice_version": "2026-03"}
    withdrawn = manager.post(f"/api/v1/customers/{cid}/consents", json=no)
    assert withdrawn.status_code == 201, withdrawn.text
    alert_service.evaluate(db, [cid])
    (cleared,) = alerts_of(db, cid)
    assert (cleared.status, cleared.cleared_reason) == ("resolved", "not_watched")
    assert "cleared_with" not in cleared.evidence  # their data is no longer read


def test_the_pages_say_why_an_alert_cleared(app, db, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    ingest(db, "invoices", [invoice("U1", "A", "900.00", 45)])
    ingest(db, "payments", [payment("UP1", "U1", "900.00", 3)])
    (cleared,) = alerts_of(db, ids["A"])
    browser = login(app, "manager")
    browser.cookies.set("rd_lang", "zh-CN")
    case = browser.get(f"/cases/{cleared.case_id}")
    assert case.status_code == 200
    assert "已自动解除：发票已付清" in case.text and "解除时的取值" in case.text
    assert f'id="cleared-with-{cleared.id}"' in case.text
    queue = browser.get("/alerts", params={"status": "resolved"})
    assert "已自动解除：发票已付清" in queue.text
    assert "cleared_with" not in queue.text  # shown in the case, not as a raw value
    browser.cookies.set("rd_lang", "en")
    assert "cleared automatically: invoice paid" in browser.get(f"/customers/{ids['A']}").text
    assert "1 cleared automatically" in browser.get("/rules").text


# ---------------------------------------------------------------- grace for late payment feeds


def test_receivables_with_grace_count_an_invoice_overdue_only_past_the_grace() -> None:
    today = dt.date(2026, 6, 30)
    invoices = [
        {"invoice_id": i, "customer_id": 1, "order_id": None, "issue_date": today - dt.timedelta(
            days=due + 30), "due_date": today - dt.timedelta(days=due), "amount": 100.0}
        for i, due in enumerate((3, 12))
    ]  # fmt: skip
    frames = EventFrames(**{
        name: pl.DataFrame(invoices if name == "invoices" else
                           ([{"customer_id": 1, "segment": None}] if name == "customers" else []),
                           schema=s)
        for name, s in SCHEMAS.items()})  # fmt: skip
    plain = receivables(frames, today).row(0, named=True)
    full = compute(frames, today).row(0, named=True)
    assert all(plain[k] == full[k] for k in plain), "grace 0 is what compute gives"
    assert (plain["dpd_max"], plain["ar_1_30"], plain["ar_current"]) == (12.0, 200.0, 0.0)
    graced = receivables(frames, today, overdue_grace_days=5).row(0, named=True)
    # The invoice 3 days past due counts as not yet overdue; the other keeps its real 12 days.
    assert (graced["dpd_max"], graced["ar_1_30"], graced["ar_current"]) == (12.0, 100.0, 100.0)
    assert graced["overdue_ratio"] == pytest.approx(0.5)
    none_yet = receivables(frames, today, overdue_grace_days=15).row(0, named=True)
    assert (none_yet["dpd_max"], none_yet["overdue_ratio"]) == (0.0, 0.0)


def test_warnings_wait_for_late_payment_feeds_by_the_grace(db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    monkeypatch.setattr(monitoring_service, "get_settings", lambda: Settings(overdue_grace_days=40))
    ingest(db, "invoices", [invoice("G1", "A", "900.00", 35)])
    assert alerts_of(db, ids["A"]) == []  # 35 days past due, within the 40-day grace
    # The credit file keeps the real days past due; only warnings wait.
    snapshot = indicator_service.get_snapshot(db, ids["A"])
    assert snapshot is not None and snapshot.values["dpd_max"] == 35.0
    ingest(db, "invoices", [invoice("G2", "A", "900.00", 45)])
    (raised,) = alerts_of(db, ids["A"])
    assert raised.evidence == {
        "dpd_max": 45.0,
        "late_days_usual_p90": None,
    }  # past the grace, with its real days
