"""What the audit trail records of requests: a read writes nothing, and a route is logged by its
own template (ids as {names}, in their places, prefixes included)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from riskdesk.alerts import service as alert_service
from riskdesk.demo.loader import load_demo
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import (
    Alert,
    AlertCase,
    AuditEntry,
    Customer,
    CustomerExternalRef,
    ImportJob,
    LimitRequest,
    ModelVersion,
    Scorecard,
    ScorecardVersion,
)
from tests.factories import company, uscc


def _last_seq(db: Session) -> int:
    """The newest entry's id (ids, not numbers: the log is kept in several chains)."""
    return db.scalar(select(func.max(AuditEntry.id))) or 0


def _since(db: Session, last_id: int) -> list[AuditEntry]:
    db.expire_all()
    stmt = select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id)
    return list(db.scalars(stmt))


def _expired_request(db: Session, manager: Any, customer_id: int) -> int:
    """A pending limit request whose expiry date has passed (the sweep has not run yet)."""
    made = manager.post(
        f"/api/v1/customers/{customer_id}/limit-requests",
        json={"requested_limit": "123456.00", "reason": "season", "expires_in_days": 1},
    )
    assert made.status_code in (200, 201), made.text
    request_id = int(made.json()["id"])
    db.execute(
        update(LimitRequest)
        .where(LimitRequest.id == request_id)
        .values(expires_at=utcnow() - dt.timedelta(minutes=1))
    )
    db.commit()
    return request_id


def test_listing_limit_requests_writes_nothing(db, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    customer_id = db.scalar(select(func.min(Customer.id)))
    if customer_id is None:
        made = manager.post("/api/v1/customers", json=company("AT-1"))
        assert made.status_code == 201, made.text
        customer_id = made.json()["id"]
    request_id = _expired_request(db, manager, customer_id)
    before = _last_seq(db)
    listed = manager.get("/api/v1/limit-requests")
    assert listed.status_code == 200
    # Shown as what it is now, though nothing was written to say so.
    assert {r["id"]: r["status"] for r in listed.json()}[request_id] == "expired"
    pending = manager.get("/api/v1/limit-requests", params={"status": "pending"}).json()
    assert request_id not in {r["id"] for r in pending}
    assert request_id in {
        r["id"] for r in manager.get("/api/v1/limit-requests", params={"status": "expired"}).json()
    }
    assert manager.get("/limit-requests").status_code == 200
    assert manager.get(f"/customers/{customer_id}").status_code == 200
    assert [(e.request, e.detail) for e in _since(db, before) if e.action == "write"] == []
    assert db.get(LimitRequest, request_id).status == "pending"  # type: ignore[union-attr]


def _ids(db: Session, client_for: Any) -> dict[str, Any]:
    """An existing id for each path parameter of the API's GET routes (what the demo does not
    make is made here: a document, an import, a credit decision, a review)."""
    manager, analyst = client_for("manager"), client_for("analyst")
    customer_id = db.scalar(
        select(Alert.customer_id).where(Alert.customer_id.is_not(None)).limit(1)
    ) or db.scalar(select(func.min(Customer.id)))
    ref = db.execute(
        select(CustomerExternalRef.source, CustomerExternalRef.external_id).where(
            CustomerExternalRef.customer_id == customer_id
        )
    ).first()
    assert ref is not None
    document = manager.post(
        f"/api/v1/customers/{customer_id}/documents",
        files={"file": ("合同.pdf", b"%PDF-1.4 sweep", "application/pdf")},
        data={"category": "contract"},
    )
    imported = manager.post(
        "/api/v1/imports",
        data={"kind": "customers", "skip_invalid": "true"},
        files={
            "file": (
                "c.csv",
                f"source,external_id,kind,name,tax_id\nerp,SW-1,company,扫描贸易有限公司,{uscc()}\n".encode(),
                "text/csv",
            )
        },
    )
    checked = manager.post(
        "/api/v1/credit-checks",
        json={
            "source": "erp",
            "order_external_id": "SW-ORDER-1",
            "customer_source": ref.source,
            "customer_external_id": ref.external_id,
            "amount": "1000.00",
            "currency": "CNY",
        },
    )
    review = analyst.post(f"/api/v1/customers/{customer_id}/reviews")
    for made in (document, imported, checked, review):
        assert made.status_code in (200, 201), made.text
    if db.scalar(select(func.min(Alert.id))) is None:
        # No earlier test left an alert in this database: an invoice long overdue raises one.
        alert_service.install_default_pack(db)
        db.commit()
        overdue = manager.post(
            "/api/v1/invoices?wait=30",
            json={
                "source": ref.source,
                "external_id": "SW-INV-1",
                "customer_external_id": ref.external_id,
                "amount": "5000.00",
                "currency": "CNY",
                "issue_date": (today() - dt.timedelta(days=90)).isoformat(),
                "due_date": (today() - dt.timedelta(days=60)).isoformat(),
            },
        )
        assert overdue.status_code == 201, overdue.text
        assert overdue.headers["Riskdesk-Processing"] == "done"
    # A background job, queued (the test app runs no job worker): its routes read it.
    queued = manager.post("/api/v1/scoring-runs", json={}, headers={"Prefer": "respond-async"})
    assert queued.status_code == 202, queued.text
    subscribed = manager.put("/api/v1/me/subscriptions/committee_pack", json={})
    assert subscribed.status_code == 200, subscribed.text
    # An expected-credit-loss run over the shortest window it takes.
    ecl = manager.post("/api/v1/ecl/runs", json={"lookback_months": 6})
    assert ecl.status_code in (200, 201), ecl.text
    first = {
        "background_job_id": queued.json()["id"],
        "run_id": ecl.json()["id"],
        "customer_id": customer_id,
        "document_id": document.json()["id"],
        "job_id": db.scalar(select(func.max(ImportJob.id))),
        "decision_id": checked.json()["decision"]["id"],
        "code": db.scalar(select(func.min(Scorecard.code))),
        "review_id": review.json()["id"],
        "alert_id": db.scalar(select(func.min(Alert.id))),
        "case_id": db.scalar(select(func.min(AlertCase.id))),
        "scorecard_version_id": db.scalar(select(func.min(ScorecardVersion.id))),
        # No model is trained here (it takes a labelled history): its routes answer 404.
        "model_version_id": db.scalar(select(func.min(ModelVersion.id))) or 1,
        "kind": "committee_pack",  # the manager's report subscription, made above
        "filename": "customers.csv",  # an import template
    }
    assert None not in first.values(), first
    return first


# Who calls a route the manager may not: the first of these whose role may.
OTHERS = ("auditor", "admin")


# Routes that need a query to run at all (a search needs its words).
QUERIES = {"/api/v1/interactions": {"q": "crawl"}}


def test_no_get_route_writes_and_each_is_logged_by_its_template(db, client_for) -> None:  # type: ignore[no-untyped-def]
    load_demo(db, customers=12, months=8, seed=3)  # 8: an ECL run needs 6 month ends
    db.commit()
    ids = _ids(db, client_for)
    callers = [client_for(name) for name in ("manager", *OTHERS)]
    _expired_request(db, callers[0], ids["customer_id"])
    spec = callers[0].get("/api/v1/openapi.json").json()
    routes = [p for p, methods in spec["paths"].items() if "get" in methods]
    assert len(routes) >= 60
    writes: list[Any] = []
    misnamed: list[Any] = []
    missed: list[Any] = []
    for path in routes:

        def value(match: re.Match[str], path: str = path) -> str:
            name = match.group(1)
            if name == "job_id" and path.startswith("/api/v1/jobs"):
                name = "background_job_id"  # imports' jobs are the other "job_id"
            if name == "version_id":
                name = (
                    "model_version_id"
                    if path.startswith("/api/v1/models")
                    else ("scorecard_version_id")
                )
            return str(ids[name])

        before = _last_seq(db)
        for caller in callers:
            response = caller.get(re.sub(r"\{([^}]+)\}", value, path), params=QUERIES.get(path))
            if response.status_code != 403:
                break
        assert response.status_code < 500, (path, response.text)
        if response.status_code != 200:
            missed.append((path, response.status_code))
        for entry in _since(db, before):
            if entry.action == "write":
                writes.append((path, entry.request, entry.detail))
            if entry.request != f"GET {path}":
                misnamed.append((path, entry.request))
    assert (writes, misnamed) == ([], []), (writes, misnamed)
    # Every route really ran on a record (but the model registry's, which has none).
    assert {p for p, _ in missed} <= {
        "/api/v1/models/{version_id}",
        "/api/v1/models/{version_id}/monitoring",
    }, missed


def test_a_route_with_equal_ids_is_logged_with_each_name_in_its_place(db, client_for) -> None:  # type: ignore[no-untyped-def]
    """Alert n in case n: the values cannot tell the names apart, the route can."""
    manager = client_for("manager")
    made = manager.post("/api/v1/customers", json=company("AT-2"))
    assert made.status_code == 201, made.text
    same = 1 + max(
        db.scalar(select(func.max(Alert.id))) or 0, db.scalar(select(func.max(AlertCase.id))) or 0
    )
    db.add(AlertCase(id=same, customer_id=made.json()["id"], status="open"))
    db.flush()
    db.add(
        Alert(
            id=same,
            customer_id=made.json()["id"],
            source="rule",
            rule_code="TEST",
            category="payment",
            warning_type="payment_deterioration",
            severity="high",
            status="open",
            title_en="test",
            title_zh="测试",
            evidence={},
            observed_on=dt.date(2026, 1, 1),
            case_id=same,
        )
    )
    db.commit()
    before = _last_seq(db)
    moved = manager.post(
        f"/cases/{same}/alerts/{same}/move", data={"status": "acknowledged"}, follow_redirects=False
    )
    assert moved.status_code == 303, moved.text
    assert db.get(Alert, same).status == "acknowledged"  # type: ignore[union-attr]
    requests = {e.request for e in _since(db, before) if e.action == "write"}
    assert requests == {"POST /cases/{case_id}/alerts/{alert_id}/move"}
    # The API's routes carry their prefix.
    before = _last_seq(db)
    moved = manager.post(f"/api/v1/alerts/{same}/move", json={"status": "in_progress"})
    assert moved.status_code == 200, moved.text
    requests = {e.request for e in _since(db, before) if e.action == "write"}
    assert requests == {"POST /api/v1/alerts/{alert_id}/move"}


def test_a_statement_is_recorded_by_the_rows_it_changed(db, client_for) -> None:  # type: ignore[no-untyped-def]
    """An UPDATE that matched nothing changed nothing: no entry (the expiry sweep, idle)."""
    from riskdesk.policy import service as policy_service

    before = _last_seq(db)
    assert policy_service.expire_due(db) == 0
    db.commit()
    assert _since(db, before) == []
    manager = client_for("manager")
    made = manager.post("/api/v1/customers", json=company("AT-3"))
    request_id = _expired_request(db, manager, made.json()["id"])
    before = _last_seq(db)
    assert policy_service.expire_due(db) == 1
    db.commit()
    [entry] = _since(db, before)
    assert entry.detail["changes"] == [
        {"table": "limit_requests", "op": "update", "rows": 1, "fields": ["decided_at", "status"]}
    ]
    assert db.get(LimitRequest, request_id).status == "expired"  # type: ignore[union-attr]
