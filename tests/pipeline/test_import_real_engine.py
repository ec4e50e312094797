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


def test_a_running_import_shows_its_progress_to_every_node(own_backend, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Each short transaction commits the job's cursor with its rows: every node (and every
    database) sees how far the import is, and the last one marks it done."""
    from riskdesk.kit.tabular import ColumnMapping
    from riskdesk.models import ImportJob
    from riskdesk.pipeline import intake
    from tests.conftest import principal
    from tests.factories import company

    monkeypatch.setattr(intake, "WRITE_ROWS", 1)
    factory = make_sessionmaker(own_backend.engine)
    rows = [company(f"PR{n}") for n in range(3)]
    columns = ["source", "external_id", "kind", "name", "tax_id"]
    csv = ",".join(columns) + "\n" + "".join(",".join(r[c] for c in columns) + "\n" for r in rows)
    seen: list[tuple[str, int, int, int]] = []

    def look(_: int) -> None:
        # What another API node reads between two of the import's transactions.
        with factory() as session:
            job = session.scalars(select(ImportJob).order_by(ImportJob.id.desc())).first()
            assert job is not None
            seen.append((job.status, job.processed_rows, job.total_rows, job.created_count))

    result = intake.import_file(
        factory,
        lambda s: principal(s, "manager"),
        kind="customers",
        content=csv.encode(),
        filename="c.csv",
        mapping=ColumnMapping(),
        skip_invalid=False,
        progress=look,
    )
    assert result.job.status == "done"
    assert seen == [("running", 1, 3, 1), ("running", 2, 3, 2), ("done", 3, 3, 3)]
