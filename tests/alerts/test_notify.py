"""In-app notifications: a new alert tells its assignee, escalation tells the new one, a
mention tells the colleague; each user's settings decide."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Alert, Customer
from tests.conftest import ingest, principal
from tests.monitoring.test_alerts import _setup, invoice
from tests.security.test_auth import login


def test_assignees_escalations_and_mentions_are_told(db, app, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    sales = client_for("sales")  # owns A
    # Sales only wants high alerts and above; medium ones are not worth an interruption.
    saved = sales.put(
        "/api/v1/me/notification-settings",
        json={"in_app": True, "email": False, "min_severity": "high", "mentions": True},
    )
    assert saved.status_code == 200 and saved.json()["min_severity"] == "high"
    assert sales.put(
        "/api/v1/me/notification-settings", json={"min_severity": "extreme"}
    ).status_code == 422  # fmt: skip
    ingest(db, principal(db, "manager"), "invoices", [invoice("N1", "A", "150000.00", 70)])
    db.commit()
    inbox = sales.get("/api/v1/me/notifications").json()
    kinds = [(n["kind"], n["title_en"]) for n in inbox]
    title = "Overdue beyond what is usual for the customer (High): for you"
    assert ("alert_assigned", title) in kinds
    alert_ids = {n["alert_id"] for n in inbox}
    severities = {
        a["id"]: a["severity"]
        for a in manager.get("/api/v1/alerts", params={"customer_id": ids["A"]}).json()
    }
    assert all(severities[i] in ("high", "critical") for i in alert_ids)

    # Escalation tells the new assignee (a credit manager when no route says otherwise).
    overdue = next(a for a in severities if severities[a] == "high")
    db.execute(
        update(Alert).where(Alert.id == overdue).values(due_at=utcnow() - dt.timedelta(minutes=1))
    )
    db.commit()
    client_for("analyst").post("/api/v1/alert-escalations")
    told = manager.get("/api/v1/me/notifications", params={"unread": True}).json()
    assert any(n["kind"] == "alert_escalated" and n["alert_id"] == overdue for n in told)

    # A mention.
    client_for("analyst").post(
        f"/api/v1/alerts/{overdue}/comments", json={"body": "@sales can you call them?"}
    )
    mention = next(
        n for n in sales.get("/api/v1/me/notifications").json() if n["kind"] == "mention"
    )
    assert "analyst mentioned you" in mention["title_en"]
    read = sales.post(f"/api/v1/me/notifications/{mention['id']}/read")
    assert read.status_code == 200 and read.json()["read_at"] is not None
    unread = sales.get("/api/v1/me/notifications", params={"unread": True}).json()
    assert mention["id"] not in {n["id"] for n in unread}
    # Someone else's notification is not yours to read.
    assert manager.post(f"/api/v1/me/notifications/{mention['id']}/read").status_code == 404

    # The page names the customer each notification is about, linked to their file; once
    # the customer is another salesperson's, it no longer does (the title never named them).
    page = login(app, "sales").get("/me/notifications")
    assert page.status_code == 200
    row = page.text.split(f"#{overdue}</a>", 1)[0].rsplit("<tr", 1)[1]
    assert f'href="/customers/{ids["A"]}"' in row and "测试贸易有限公司A" in row
    db.execute(update(Customer).where(Customer.id == ids["A"]).values(owner_id=None))
    db.commit()
    hidden = login(app, "sales").get("/me/notifications")
    assert hidden.status_code == 200 and f"#{overdue}</a>" in hidden.text
    assert "测试贸易有限公司A" not in hidden.text
    assert f'href="/customers/{ids["A"]}"' not in hidden.text


def test_a_mention_does_not_reach_a_colleague_who_may_not_see_the_customer(  # type: ignore[no-untyped-def]
    db, client_for
) -> None:
    _setup(db)  # customer A belongs to sales (east team)
    ingest(db, principal(db, "manager"), "invoices", [invoice("N2", "A", "900.00", 70)])
    db.commit()
    alert_id = client_for("manager").get("/api/v1/alerts").json()[0]["id"]
    posted = client_for("analyst").post(
        f"/api/v1/alerts/{alert_id}/comments", json={"body": "@sales2 @sales_east2 have a look"}
    )
    assert posted.status_code == 201, posted.text
    told = {
        u: [
            n
            for n in client_for(u).get("/api/v1/me/notifications").json()
            if n["kind"] == "mention"
        ]
        for u in ("sales2", "sales_east2")
    }
    assert told["sales2"] == []  # north team: not their customer
    assert len(told["sales_east2"]) == 1  # east team: may see it
