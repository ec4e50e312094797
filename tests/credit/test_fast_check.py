"""The order credit check reads in two statements and caches its configuration: the statements
of one check are counted, a change of the configuration (through the API, by SQL in the same
transaction, from another process) is seen by the next check, and concurrent checks of a
group's members never overspend the group limit."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, select, text, update
from sqlalchemy.engine import Connection

from riskdesk.config import Settings
from riskdesk.credit import service
from riskdesk.db import make_sessionmaker, unit_of_work
from riskdesk.kit.timeutil import utcnow
from riskdesk.main import create_app
from riskdesk.models import AuditEntry, CustomerGroup
from riskdesk.security import service as security_service
from tests.conftest import Backend, ingest, principal
from tests.credit.test_service import check
from tests.factories import company

SRC = Path(__file__).resolve().parents[2] / "src"
# Statements of other domains a request makes around the check: who is calling, the audit log.
AROUND = ("api_tokens", "FROM users", "audit_log", "audit_head")
CONFIG_TABLES = ("credit_check_rules", "exposure_categories")


def statements(connection: Connection, send: Callable[[], Any]) -> tuple[Any, list[str]]:
    """What ``send`` returned, and every SQL statement run on the connection meanwhile."""
    seen: list[str] = []

    def note(*args: Any) -> None:
        seen.append(" ".join(str(args[2]).split()))

    event.listen(connection, "before_cursor_execute", note)
    try:
        result = send()
    finally:
        event.remove(connection, "before_cursor_execute", note)
    savepoints = ("SAVEPOINT", "RELEASE", "ROLLBACK")  # the test's own transaction
    return result, [s for s in seen if not s.upper().startswith(savepoints)]


def own_statements(sql: list[str]) -> list[str]:
    """The check's own statements: not the caller's authentication, nor the audit log."""
    return [s for s in sql if not any(other in s for other in AROUND)]


def test_a_check_reads_in_two_statements(manager, connection, backend) -> None:  # type: ignore[no-untyped-def]
    manager.post("/api/v1/customers", json=company("FC1", credit_limit="10000"))
    manager.post(
        "/api/v1/customers",
        json=company("FC2", credit_limit="10000", group_code="FCG", group_name="快查集团"),
    )
    for customer in ("FC1", "FC2"):  # the first check creates the customer's exposure rows
        assert check(manager, f"W-{customer}", "10.00", customer=customer).status_code == 201
    for customer, grouped in (("FC1", False), ("FC2", True)):
        response, sql = statements(
            connection, lambda c=customer: check(manager, f"X-{c}", "10.00", customer=c)
        )
        assert response.status_code == 201, response.text
        assert response.json()["outcome"] == "approve"
        own = own_statements(sql)
        kinds = [s.split()[0].upper() for s in own]
        group_lock = ["SELECT"] if grouped and backend.name == "postgresql" else []
        # 1: customer, profile, group, overdue position, earlier decision (no lock held);
        # (PostgreSQL, a group's member: the group's row locked);
        # 2: exposure (locked), the group's other members, the configuration's stamp;
        # then the decision and its reservation.
        assert kinds == ["SELECT", *group_lock, "SELECT", "INSERT", "UPDATE"], [s[:90] for s in own]
        first, locked = own[0], own[-3]
        assert all(t in first for t in ("credit_profiles", "invoices", "credit_decisions")), first
        assert all(t in locked for t in ("credit_exposures", "config_stamps")), locked
        assert "credit_decisions" in own[-2] and "credit_exposures" in own[-1]
        # The configuration came from the process's cache.
        assert not [s for s in sql if any(t in s for t in CONFIG_TABLES)], sql


def test_a_duplicate_is_answered_from_the_first_read(manager, connection) -> None:  # type: ignore[no-untyped-def]
    manager.post("/api/v1/customers", json=company("CR1", credit_limit="10000"))
    assert check(manager, "D1", "10.00").status_code == 201
    response, sql = statements(connection, lambda: check(manager, "D1", "10.00"))
    assert response.status_code == 200 and response.json()["duplicate"] is True
    own = own_statements(sql)
    assert len(own) == 2 and all(s.upper().startswith("SELECT") for s in own), own
    assert "FOR UPDATE" not in " ".join(own)


def test_configuration_changes_reach_the_next_check(manager, connection, db) -> None:  # type: ignore[no-untyped-def]
    manager.post("/api/v1/customers", json=company("CR1", credit_limit="10000"))
    assert check(manager, "K1", "10000.00").json()["outcome"] == "approve"  # within 10,000 + 5%
    cached = service.check_config(db)
    assert service.check_config(db) is cached
    # Through the API: the step now rejects and has no tolerance.
    changed = manager.patch(
        "/api/v1/credit-check-rules/limit",
        json={"reaction": "reject", "params": {"tolerance_pct": 0}},
    )
    assert changed.status_code == 200
    assert service.check_config(db).stamp != cached.stamp
    assert check(manager, "K2", "100.00").json()["outcome"] == "reject"
    # By SQL no code of ours ran (an operator, another node): the triggers change the stamp.
    connection.execute(text("UPDATE credit_check_rules SET enabled = false WHERE code = 'limit'"))
    assert check(manager, "K3", "100.00").json()["outcome"] == "approve"
    # A category no longer counted in the limit.
    connection.execute(text("UPDATE credit_check_rules SET enabled = true WHERE code = 'limit'"))
    assert check(manager, "K4", "100.00").json()["outcome"] == "reject"
    answer = manager.patch("/api/v1/exposure-categories/reserved", json={"counts_in_limit": False})
    assert answer.status_code == 200
    result = check(manager, "K5", "100.00").json()
    assert result["outcome"] == "approve", result
    assert result["decision"]["inputs"]["exposure"] == "0.00"


def test_a_rolled_back_change_brings_back_its_stamp_and_content(db) -> None:  # type: ignore[no-untyped-def]
    before = service.check_config(db)
    with db.begin_nested() as change:
        db.execute(text("UPDATE credit_check_rules SET reaction = 'warn' WHERE code = 'limit'"))
        during = service.check_config(db)
        change.rollback()
    after = service.check_config(db)
    assert during.stamp != before.stamp
    assert {r.code: r.reaction for r in during.rules}["limit"] == "warn"
    assert after is before and {r.code: r.reaction for r in after.rules}["limit"] == "hold"


def _app(factory: Any, tmp_path: Path) -> Any:
    return create_app(
        Settings(
            database_url="sqlite://",
            secret_key="x" * 32,
            data_dir=tmp_path,
            delivery_interval_seconds=0,
            complaint_surge_seconds=0,
            audit_checkpoint_interval_seconds=0,
            import_reap_interval_seconds=0,
            event_workers=0,
            event_wait_seconds=30,
            warning_backtest_days=0,
        ),
        session_factory=factory,
    )


def _database_url(backend: Backend) -> str:
    """The URL another process opens the backend with (PostgreSQL: its schema in the URL)."""
    url = backend.engine.url
    if backend.name == "postgresql":
        with backend.engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def _token(factory: Any) -> str:
    with unit_of_work(factory) as session:
        user = security_service.get_user_by_username_or_raise(session, "manager")
        token, raw = security_service.issue_token(
            session, user=user, name="fast", scopes=["credit_checks:run"]
        )
        token.last_used_at = utcnow()  # no bookkeeping write to serialise the requests on
    return raw


def test_a_change_made_by_another_process_reaches_the_cache(own_backend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    factory = make_sessionmaker(own_backend.engine)
    with unit_of_work(factory) as session:
        ingest(
            session,
            principal(session, "manager"),
            "customers",
            [company("XP1", credit_limit="10000")],
        )
    raw = _token(factory)
    with TestClient(_app(factory, tmp_path), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {raw}"
        assert check(client, "P1", "10400.00", customer="XP1").json()["outcome"] == "approve"
        assert check(client, "P2", "200.00", customer="XP1").json()["outcome"] == "hold"
        # Another process (another API node, or an operator's script) changes the step.
        script = (
            "import sys; from sqlalchemy import create_engine, text\n"
            "with create_engine(sys.argv[1]).begin() as conn:\n"
            "    conn.execute(text(\"UPDATE credit_check_rules SET reaction = 'reject' "
            "WHERE code = 'limit'\"))\n"
        )
        subprocess.run(
            [sys.executable, "-c", script, _database_url(own_backend)], check=True, timeout=60
        )
        assert check(client, "P3", "200.00", customer="XP1").json()["outcome"] == "reject"


def test_concurrent_checks_of_a_group_never_exceed_the_group_limit(own_backend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Forty simultaneous checks of 500 spread over four members of a group with a 10,000
    group limit (no tolerance), each member's own limit far above: exactly 20 pass."""
    factory = make_sessionmaker(own_backend.engine)
    members = [f"GM{n}" for n in range(4)]
    with unit_of_work(factory) as session:
        ingest(
            session,
            principal(session, "manager"),
            "customers",
            [
                company(code, credit_limit="1000000", group_code="GCC", group_name="并发集团")
                for code in members
            ],
        )
        session.execute(update(CustomerGroup).values(credit_limit=10000))
    raw = _token(factory)
    app = _app(factory, tmp_path)
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(40)

    def fire(n: int) -> None:
        with TestClient(app, raise_server_exceptions=False) as client:
            client.headers["Authorization"] = f"Bearer {raw}"
            barrier.wait()
            response = check(client, f"GC-{n}", "500.00", customer=members[n % 4])
            results.append({"status": response.status_code, **response.json()})

    threads = [threading.Thread(target=fire, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r["status"] == 201 for r in results), [r for r in results if r["status"] != 201]
    assert len([r for r in results if r["outcome"] == "approve"]) == 20
    with unit_of_work(factory) as session:
        assert service.verify(session) == []


def test_the_audit_entry_names_the_decision(manager, db) -> None:  # type: ignore[no-untyped-def]
    manager.post("/api/v1/customers", json=company("AU1", credit_limit="10000"))
    decision = check(manager, "AU-1", "10.00", customer="AU1").json()["decision"]
    entry = db.scalars(
        select(AuditEntry)
        .where(AuditEntry.request == "POST /api/v1/credit-checks")
        .order_by(AuditEntry.at.desc(), AuditEntry.seq.desc())
        .limit(1)
    ).one()
    changes = {(c["table"], c["op"]): c for c in entry.detail["changes"]}
    assert changes[("credit_decisions", "insert")] == {
        "table": "credit_decisions",
        "op": "insert",
        "rows": 1,
        "ids": [decision["id"]],
    }
    assert changes[("credit_exposures", "update")]["fields"] == ["amount"]
