"""POST /api/v1/imports on a real engine, not the tests' single shared connection.

The import writes in transactions of its own. The request's session (which checked the token,
and on SQLite began a writing transaction) must end first; otherwise the import waited on it,
first on the in-process writer lock, then in SQLite's busy handler, and answered 503 after a
minute while every other writer queued behind it.
"""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import select

from riskdesk.db import make_sessionmaker
from riskdesk.main import create_app
from riskdesk.models import AuditEntry
from riskdesk.security import service as security_service


def test_api_import_commits_on_a_real_engine_and_names_the_caller(own_backend, settings) -> None:  # type: ignore[no-untyped-def]
    factory = make_sessionmaker(own_backend.engine)
    with factory.begin() as session:
        user = security_service.get_user_by_username_or_raise(session, "manager")
        scopes = sorted(p.value for p in security_service.permissions_for(user.role))
        _, raw = security_service.issue_token(session, user=user, name="t", scopes=scopes)
    app = create_app(settings, session_factory=factory)
    csv = (
        "source,external_id,kind,name,tax_id\n"
        "erp,IMP-RE-1,company,实引进出口有限公司,91330100000000011X\n"
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        started = time.monotonic()
        response = client.post(
            "/api/v1/imports",
            headers={"Authorization": f"Bearer {raw}"},
            data={"kind": "customers", "skip_invalid": "true"},
            files={"file": ("c.csv", csv.encode(), "text/csv")},
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 200, (response.status_code, response.text, f"{elapsed:.1f} s")
    assert elapsed < 10
    with factory() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.request == "POST /api/v1/imports")
        ).all()
    assert entries and {e.actor for e in entries} == {"manager"}
