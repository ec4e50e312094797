"""Test fixtures: every database test runs on SQLite and, when configured, on PostgreSQL.

Each backend gets a fresh schema migrated with Alembic once per test session; each test runs
inside a transaction that is rolled back, so tests never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from riskdesk import bootstrap
from riskdesk.config import Settings, get_settings
from riskdesk.db import make_engine
from riskdesk.main import create_app
from riskdesk.migrations import runner
from riskdesk.pipeline import intake, processing
from riskdesk.security import keys
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role
from riskdesk.security.service import Principal

PG_URL = os.environ.get("RISKDESK_TEST_DATABASE_URL")
# The Redis the shared-state tests use; each test keeps to keys of its own prefix.
REDIS_URL = os.environ.get("RISKDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PASSWORD = "Test-pass-2026"
TEST_USERS = (
    ("manager", Role.CREDIT_MANAGER, None),
    ("manager2", Role.CREDIT_MANAGER, None),
    ("analyst", Role.RISK_ANALYST, None),
    ("sales", Role.SALES, "east"),
    ("sales_east2", Role.SALES, "east"),
    ("sales2", Role.SALES, "north"),
    ("service", Role.CUSTOMER_SERVICE, "east"),
    ("auditor", Role.AUDITOR, None),
    ("admin", Role.ADMIN, None),
)


def pytest_configure(config: pytest.Config) -> None:
    # Tests never touch the developer's var/keyring.json: each run has a keyring of its own.
    keys.use(keys.generate().to_json())
    # As every entry point does: the audit trail sees the fixtures' writes too.
    bootstrap.install()
    if IN_CI and not PG_URL:
        raise pytest.UsageError(
            "CI=true needs RISKDESK_TEST_DATABASE_URL (PostgreSQL); "
            "PostgreSQL tests are never skipped in CI"
        )


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


@dataclass
class Backend:
    """One migrated database for the test session."""

    name: str
    engine: Engine


def _make_pg(worker: str) -> tuple[Engine, str]:
    assert PG_URL is not None
    schema = f"rdtest_{worker}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        raise RuntimeError(
            f"PostgreSQL at RISKDESK_TEST_DATABASE_URL is unreachable: {exc}"
        ) from exc
    finally:
        admin.dispose()
    engine = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    return engine, schema


@contextmanager
def _migrated(name: str, sqlite_dir: Path, pg_label: str) -> Iterator[Backend]:
    """A fresh database of one backend, migrated, with the test users; dropped afterwards."""
    schema = None
    if name == "sqlite":
        engine = make_engine(f"sqlite:///{sqlite_dir / 'test.db'}")
    else:
        engine, schema = _make_pg(pg_label)
    try:
        runner.upgrade(engine)
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        with factory.begin() as session:
            for username, role, team in TEST_USERS:
                security_service.create_user(
                    session,
                    username=username,
                    display_name=username,
                    role=role,
                    password=PASSWORD,
                    team=team,
                )
        yield Backend(name, engine)
    finally:
        engine.dispose()
        if schema is not None:
            admin = make_engine(PG_URL or "")
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


@pytest.fixture(scope="session", params=_backends())
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[Backend]:
    """A migrated database with the test users, per backend."""
    with _migrated(request.param, tmp_path_factory.mktemp("db"), worker_id) as found:
        yield found


@pytest.fixture
def own_backend(backend: Backend, tmp_path: Path, worker_id: str) -> Iterator[Backend]:
    """A database of the test's own, for tests that must really commit (concurrency): what
    they leave behind never reaches the shared database the other tests count on."""
    with _migrated(backend.name, tmp_path, f"{worker_id}_own") as found:
        yield found


@pytest.fixture
def connection(backend: Backend) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    with backend.engine.connect() as conn:
        outer = conn.begin()
        try:
            yield conn
        finally:
            outer.rollback()


@pytest.fixture
def factory(connection: Connection) -> sessionmaker[Session]:
    """Sessions on the test's connection; their commits only release savepoints."""
    return sessionmaker(
        bind=connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )


@pytest.fixture
def db(factory: sessionmaker[Session]) -> Iterator[Session]:
    """The test's own session."""
    with factory() as session:
        yield session


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for an app under test (documents under a temporary dir)."""
    return Settings(
        database_url="sqlite://",
        secret_key="test-secret-key-0123456789",
        data_dir=tmp_path / "data",
        delivery_interval_seconds=0,  # tests send deliveries themselves
        audit_checkpoint_interval_seconds=0,  # no worker thread on the test's connection
        import_reap_interval_seconds=0,  # nor an import reaper
        warning_backtest_days=0,  # nor a backtest worker
        complaint_surge_seconds=0,  # nor a complaint-surge worker
        event_workers=0,  # the request processes its own events (wait below)
        job_workers=0,  # tests run queued jobs themselves
        job_reap_interval_seconds=0,  # nor a job reaper
        report_schedule_interval_seconds=0,  # nor the report e-mails
        month_end_interval_seconds=0,  # nor the dashboard's month ends
        event_wait_seconds=30,
    )


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of the test's own on the test Redis (RISKDESK_TEST_REDIS_URL); its keys are
    deleted afterwards. Skipped without a Redis, except in CI."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        if IN_CI:
            pytest.fail(f"no Redis at RISKDESK_TEST_REDIS_URL ({type(exc).__name__})")
        pytest.skip("no Redis at RISKDESK_TEST_REDIS_URL")
    prefix = f"rdtest:{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()


@pytest.fixture
def redis_settings(settings: Settings, redis_prefix: str) -> Settings:
    """The test settings, sharing state through the test Redis under the test's prefix."""
    return settings.model_copy(
        update={"redis_url": SecretStr(REDIS_URL), "redis_key_prefix": redis_prefix}
    )


@pytest.fixture
def app(settings: Settings, factory: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    """The application wired to the test transaction."""
    return create_app(settings, session_factory=factory)


def principal(db: Session, username: str, scopes: list[str] | None = None):  # type: ignore[no-untyped-def]
    """The principal of a test user (with token scopes when given)."""
    user = security_service.get_user_by_username_or_raise(db, username)
    return security_service.principal_for(
        db, user, via="token" if scopes else "system", scopes=scopes
    )


@pytest.fixture
def client_for(app, db: Session):  # type: ignore[no-untyped-def]
    """A TestClient authenticated with a fresh API token of a test user."""
    clients: list[TestClient] = []

    def make(username: str, scopes: list[str] | None = None) -> TestClient:
        user = security_service.get_user_by_username_or_raise(db, username)
        all_scopes = scopes or sorted(p.value for p in security_service.permissions_for(user.role))
        _, raw = security_service.issue_token(db, user=user, name="test", scopes=all_scopes)
        db.commit()
        client = TestClient(app, raise_server_exceptions=False)
        client.headers["Authorization"] = f"Bearer {raw}"
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def manager(client_for):  # type: ignore[no-untyped-def]
    """API client of a credit manager."""
    return client_for("manager")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Schemathesis 4.32 under pytest 9 gives every operation of ``@schema.parametrize()`` the
    same node id (``...::test_api``), so a failure line, --lf and JUnit cannot say which
    operation failed. Name each by its operation: ``...::test_api[GET /api/v1/customers]``."""
    for item in items:
        label = getattr(item, "operation_label", None)
        if label and "[" not in item.nodeid:
            item._id = item._id.with_params(label)  # pytest 9's structured node id


def processed(session: Session) -> int:
    """Process the event queue in the session's own transaction, as a worker would once it
    commits; rows processed."""
    return processing.process_now(session, get_settings())


def ingest(session: Session, principal: Principal, kind: str, records: Any, **options: Any) -> Any:
    """A service-level intake, then its processing (indicators, rules, alerts)."""
    report = intake.ingest(session, principal, kind, records, **options)
    processed(session)
    return report


def processed_import(factory: sessionmaker[Session], result: Any) -> Any:
    """A file import's result, once a worker processed what it queued."""
    assert processing.wait_for(factory, result.queued, 60, get_settings()), "still queued"
    return result
