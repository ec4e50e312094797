"""Every API operation, driven by Schemathesis from the OpenAPI document, in process.

Each operation is its own test (``test_api[POST /api/v1/...]``) on the usual fixtures: ``backend``
is overridden here with a small demo population (so ids and customer codes can resolve), each
operation runs in a transaction that is rolled back, and it calls as the first demo user whose
role may call it (manager, else admin, ...), with a token of all that user's permissions.

Checks: no 5xx, the response body matches the documented schema, the status code and the
content type are documented (every API route declares the shared error answers: 400, 401, 403,
404, 409, 413, 422, 429, 503).

Budget: a few examples per operation (``RISKDESK_SCHEMATHESIS_EXAMPLES``, default 5) plus
Schemathesis' coverage cases (boundaries, wrong types); the module takes ~100 s on SQLite on two
cores, with or without ``-n 2``, and as much again on PostgreSQL when it is configured. The
``pytest_collection_modifyitems`` hook in conftest.py gives readable node ids under pytest 9.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import CHECKS as REGISTRY
from schemathesis.checks import load_all_checks
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.config import Settings
from riskdesk.db import make_engine
from riskdesk.demo.loader import load_demo
from riskdesk.main import API_PREFIX, API_ROUTERS, create_app
from riskdesk.migrations import runner
from riskdesk.security import service as security_service
from riskdesk.security.matrix import operations
from riskdesk.security.permissions import Role
from tests.conftest import PG_URL, Backend, _backends, _make_pg

load_all_checks()

EXAMPLES = int(os.environ.get("RISKDESK_SCHEMATHESIS_EXAMPLES", "5"))
# The same names as `schemathesis run --checks`.
CHECK_NAMES = [
    "not_a_server_error",
    "response_schema_conformance",
    "status_code_conformance",
    "content_type_conformance",
]
CHECKS = REGISTRY.get_by_names(CHECK_NAMES)

# Who calls each operation: the first of these whose role may (demo usernames).
CALLERS = (
    ("manager", Role.CREDIT_MANAGER),
    ("admin", Role.ADMIN),
    ("analyst", Role.RISK_ANALYST),
    ("service", Role.CUSTOMER_SERVICE),
    ("sales", Role.SALES),
    ("auditor", Role.AUDITOR),
)
CALLER = {
    (op.method, op.path): next((u for u, role in CALLERS if op.allows(role)), "manager")
    for op in operations(API_ROUTERS, API_PREFIX)
}

# The document, from an app that is never started (no database is touched to build it).
_doc_app = create_app(
    Settings(
        database_url="sqlite://",
        secret_key="schemathesis-doc-0123456789",
        data_dir=Path("/nonexistent"),
        delivery_interval_seconds=0,
    )
)
schema = schemathesis.openapi.from_dict(_doc_app.openapi())


@pytest.fixture(scope="module", params=_backends())
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[Backend]:
    """Overrides conftest's: a database of this module's own (SQLite, and PostgreSQL when
    configured) with the demo users and a small demo population, so path ids and customer
    codes resolve now and then."""
    schema = None
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('st') / 'demo.db'}")
    else:
        engine, schema = _make_pg(f"st_{worker_id}")
    try:
        runner.upgrade(engine)
        with sessionmaker(bind=engine, expire_on_commit=False).begin() as session:
            load_demo(session, customers=30, months=6, seed=0)
        yield Backend(request.param, engine)
    finally:
        engine.dispose()
        if schema is not None:
            admin = make_engine(PG_URL or "")
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


@pytest.fixture(scope="module")
def module_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One app for the module (building one per operation costs ~0.2 s each); each test points
    it at its own rolled-back transaction (``api`` below)."""
    app = create_app(
        Settings(
            database_url="sqlite://",
            secret_key="test-secret-key-0123456789",
            data_dir=tmp_path_factory.mktemp("st-data"),
            delivery_interval_seconds=0,
            audit_checkpoint_interval_seconds=0,  # no worker thread on a test connection
            import_reap_interval_seconds=0,  # nor an import reaper
            warning_backtest_days=0,  # nor a backtest worker
            complaint_surge_seconds=0,  # nor a complaint-surge worker
            event_workers=0,  # the request processes its own events (wait below)
            job_workers=0,  # nor a job worker or reaper (tests run jobs themselves)
            job_reap_interval_seconds=0,
            report_schedule_interval_seconds=0,  # nor the report e-mails
            month_end_interval_seconds=0,  # nor the dashboard's month ends
            event_wait_seconds=30,
        ),
        session_factory=sessionmaker(),  # replaced per test; keeps the lifespan off the database
    )
    return app, _answering(app)


@pytest.fixture
def api(module_app: Any, factory: sessionmaker[Session]) -> Any:
    """The module's app, on this test's transaction (conftest's ``factory``)."""
    app, asgi = module_app
    app.state.sessionmaker = factory
    return asgi


@pytest.fixture
def tokens(db: Session) -> dict[str, str]:
    """A bearer token per demo caller, carrying all of its role's permissions (lazily issued)."""
    issued: dict[str, str] = {}

    class Tokens(dict[str, str]):
        def __missing__(self, username: str) -> str:
            user = security_service.get_user_by_username_or_raise(db, username)
            scopes = sorted(p.value for p in security_service.permissions_for(user.role))
            _, raw = security_service.issue_token(db, user=user, name="schemathesis", scopes=scopes)
            db.commit()
            self[username] = raw
            return raw

    return Tokens(issued)


def _answering(app: Any) -> Any:
    """The app, minus Starlette re-raising an unhandled error after it has sent the 500: the
    not_a_server_error check then reports it with the request that caused it (and a curl line)."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        try:
            await app(scope, receive, send)
        except Exception:
            if scope["type"] != "http":
                raise

    return wrapped


def test_every_integer_path_parameter_is_bounded() -> None:
    """An id beyond the database's integer range is refused with a 422 (PathId), never sent to
    the database: deterministic, and cheaper than hoping the fuzzer draws 2**63."""
    unbounded = [
        f"{method.upper()} {path} {p['name']}"
        for path, methods in _doc_app.openapi()["paths"].items()
        for method, op in methods.items()
        for p in op.get("parameters", [])
        if p["in"] == "path"
        and p["schema"].get("type") == "integer"
        and "maximum" not in p["schema"]
    ]
    assert unbounded == []


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every CI run; a failure reproduces locally
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)
def test_api(case: Any, api: Any, tokens: dict[str, str]) -> None:
    caller = CALLER.get((case.method.upper(), case.path), "manager")
    case.call_and_validate(
        app=api,
        headers={"Authorization": f"Bearer {tokens[caller]}"},
        checks=CHECKS,
    )
