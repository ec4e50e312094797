"""Operations: readiness for load balancers, and Prometheus metrics for those who may read them."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from riskdesk.alerts import service as alert_service
from riskdesk.kit.metrics import REGISTRY
from riskdesk.main import create_app
from tests.factories import company
from tests.monitoring.test_alerts import invoice


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_ready_says_whether_the_database_answers(app, settings) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app) as client:
        answer = client.get("/api/v1/ready")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ready", "checks": {"database": "ok"}}
    # A node whose database is away: 503, and nothing about why.
    gone = create_engine("sqlite:////nonexistent-dir/riskdesk.db")
    away = create_app(settings, session_factory=sessionmaker(gone))
    with TestClient(away) as client:
        answer = client.get("/api/v1/ready")
    assert answer.status_code == 503
    assert answer.json() == {"status": "unavailable", "checks": {"database": "unavailable"}}


def test_metrics_count_committed_work_for_those_who_may_read_them(app, db, client_for) -> None:  # type: ignore[no-untyped-def]
    alert_service.install_default_pack(db)
    db.commit()
    manager, admin = client_for("manager"), client_for("admin")
    assert TestClient(app).get("/api/v1/metrics").status_code == 401
    assert manager.get("/api/v1/metrics").status_code == 403
    written = _value("riskdesk_events_written_total", kind="invoices")
    raised = _value("riskdesk_alerts_raised_total", warning_type="default_risk", severity="low")
    created = manager.post("/api/v1/customers", json=company("M1"))
    assert created.status_code in (200, 201), created.text
    refused = manager.post("/api/v1/invoices", json=invoice("X1", "M1", "-5", 40))
    assert refused.status_code == 422  # rolled back: counts nothing
    assert _value("riskdesk_events_written_total", kind="invoices") == written
    ok = manager.post("/api/v1/invoices", json=invoice("M1I", "M1", "3000.00", 45))
    assert ok.status_code in (200, 201), ok.text
    assert _value("riskdesk_events_written_total", kind="invoices") == written + 1
    # 45 days past due on 3,000: a low default-risk alert (2,850 at stake).
    after = _value("riskdesk_alerts_raised_total", warning_type="default_risk", severity="low")
    assert after == raised + 1
    customer = created.json()["id"]
    assert manager.get(f"/api/v1/customers/{customer}").status_code == 200
    answer = admin.get("/api/v1/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    # Latency by the route's template, not its path: one series for every customer.
    assert 'route="/api/v1/customers/{customer_id}"' in text
    assert f"/api/v1/customers/{customer}" not in text
    assert "python_gc_objects_collected_total" in text
