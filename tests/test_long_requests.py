"""Long requests on a real engine must not hold back the writers (issue 12, defect 12).

On SQLite a request that is not a GET used to begin writing at once (BEGIN IMMEDIATE, under the
process's writer lock), so a training from history held every order post and credit check for
as long as it computed (34 s seen). Now such a request reads a snapshot, computes with nothing
held, and writes the result in a short transaction.

Each test starts the long request in a thread, holds it in its compute phase (a hook waits on
an event, so the timing does not depend on the machine), then posts an order and a credit check
from the main thread: they must answer quickly while the long request still runs. Runs on a
database of its own with committing sessions (own_backend), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import importlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from riskdesk.config import Settings
from riskdesk.db import begin_store, make_sessionmaker, reading, snapshot, unit_of_work
from riskdesk.demo.loader import load_demo
from riskdesk.main import create_app
from riskdesk.models import ModelVersion, User
from riskdesk.security import service as security_service
from tests.conftest import _migrated
from tests.factories import company, order

QUICK_SECONDS = 2.0
HELD_SECONDS = 15.0  # how long the hook holds the long request at most


@dataclass
class Desk:
    """An app on a committed demo history, and a token per user."""

    client: TestClient
    tokens: dict[str, str]
    factory: Any

    def post(self, user: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        return self.client.post(path, headers=headers, **kwargs)

    def get(self, user: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        return self.client.get(path, headers=headers, **kwargs)

    def fresh_token(self, username: str) -> str:
        """A token never used: its first use writes its bookkeeping (last_used_at)."""
        with self.factory.begin() as session:
            user = security_service.get_user_by_username_or_raise(session, username)
            scopes = sorted(p.value for p in security_service.permissions_for(user.role))
            _, raw = security_service.issue_token(session, user=user, name="t", scopes=scopes)
        self.tokens[f"{username}-fresh"] = raw
        return f"{username}-fresh"


@pytest.fixture(scope="module")
def desk(backend, tmp_path_factory, worker_id) -> Iterator[Desk]:  # type: ignore[no-untyped-def]
    """One committed demo history for the module's tests (loading it takes a while)."""
    with _migrated(backend.name, tmp_path_factory.mktemp("long"), f"{worker_id}_long") as own:
        factory = make_sessionmaker(own.engine)
        tokens = {}
        with factory.begin() as session:
            load_demo(session, customers=120, months=24, seed=1)
            for username in ("analyst", "manager"):
                user = security_service.get_user_by_username_or_raise(session, username)
                scopes = sorted(p.value for p in security_service.permissions_for(user.role))
                _, tokens[username] = security_service.issue_token(
                    session, user=user, name="t", scopes=scopes
                )
        settings = Settings(
            database_url="sqlite://",
            secret_key="test-secret-key-0123456789",
            data_dir=tmp_path_factory.mktemp("long-data"),
            delivery_interval_seconds=0,
            complaint_surge_seconds=0,  # no periodic worker on the test's connection
            event_workers=0,  # the request processes its own events (wait below)
            job_workers=0,  # nor a job worker or reaper (tests run jobs themselves)
            job_reap_interval_seconds=0,
            report_schedule_interval_seconds=0,  # nor the report e-mails
            month_end_interval_seconds=0,  # nor the dashboard's month ends
            event_wait_seconds=30,
            warning_backtest_days=0,
        )
        app = create_app(settings, session_factory=factory)
        with TestClient(app, raise_server_exceptions=False) as client:
            desk = Desk(client, tokens, factory)
            made = desk.post("manager", "/api/v1/customers", json=company("LONG1"))
            assert made.status_code == 201, made.text
            yield desk


class Hold:
    """Wraps a function of the long request's compute phase: its first call signals that it
    is reached, then waits until released (at most HELD_SECONDS); later calls (the order's own
    processing may call it too) pass straight through."""

    def __init__(self, module: Any, name: str) -> None:
        self.reached = threading.Event()
        self.released = threading.Event()
        self.module, self.name = module, name
        self.original = getattr(module, name)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Hold:
        def held(*args: Any, **kwargs: Any) -> Any:
            if not self.reached.is_set():
                self.reached.set()
                self.released.wait(HELD_SECONDS)
            return self.original(*args, **kwargs)

        monkeypatch.setattr(self.module, self.name, held)
        return self


_orders = itertools.count(1)


def _writers_answer_while_held(desk: Desk, hold: Hold, start: Callable[[], Any]) -> Any:
    """Start the long request, and while it is held in its compute phase post an order and a
    credit check; both must answer quickly. The long request's response."""
    answer: dict[str, Any] = {}

    def run() -> None:
        answer["response"] = start()

    n = next(_orders)
    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert hold.reached.wait(60), "the long request never reached its compute phase"
        timings = {}
        started = time.monotonic()
        posted = desk.post("manager", "/api/v1/orders", json=order(f"LONG-O{n}", "LONG1"))
        timings["order"] = time.monotonic() - started
        started = time.monotonic()
        checked = desk.post(
            "manager",
            "/api/v1/credit-checks",
            json={
                "source": "erp",
                "order_external_id": f"LONG-C{n}",
                "customer_external_id": "LONG1",
                "customer_source": "erp",
                "amount": "500.00",
                "currency": "CNY",
            },
        )
        timings["credit check"] = time.monotonic() - started
        still_running = worker.is_alive()
    finally:
        hold.released.set()
        worker.join(120)
    assert posted.status_code == 201, posted.text
    assert checked.status_code in (200, 201), checked.text
    assert all(t < QUICK_SECONDS for t in timings.values()), timings
    assert still_running, "the long request had ended: nothing was measured against it"
    return answer["response"]


def test_an_order_and_a_credit_check_answer_while_a_model_trains(desk, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.scoring import modelling

    hold = Hold(modelling, "evaluate").install(monkeypatch)
    trained = _writers_answer_while_held(
        desk,
        hold,
        lambda: desk.post(
            "analyst",
            "/api/v1/models/train-from-history",
            json={"name": "pd-held", "family": "scorecard", "folds": 3},
        ),
    )
    assert trained.status_code == 201, trained.text
    assert (trained.json()["name"], trained.json()["version"]) == ("pd-held", 1)
    with desk.factory() as session:
        stored = select(func.count()).where(ModelVersion.name == "pd-held")
        assert session.scalar(stored) == 1


@pytest.mark.parametrize(
    ("path", "module", "function", "status"),
    [
        ("/api/v1/scoring-runs", "riskdesk.scoring.steps", "score_frame", 201),
        ("/api/v1/rule-runs", "riskdesk.monitoring.service", "rule_values", 201),
        ("/api/v1/anomaly-runs", "riskdesk.monitoring.anomaly", "isolation", 201),
        ("/api/v1/churn-fits", "riskdesk.monitoring.churn", "fit", 201),
        ("/api/v1/rules/backtest", "riskdesk.monitoring.backtest", "compute", 200),
        ("/api/v1/privacy/retention-runs", "riskdesk.privacy.service", "run_retention", 200),
    ],
)
def test_writers_answer_while_a_batch_computes(  # type: ignore[no-untyped-def]
    desk, monkeypatch, path: str, module: str, function: str, status: int
) -> None:
    hold = Hold(importlib.import_module(module), function).install(monkeypatch)
    body = {"expression": "dpd_max > 30", "months": 3} if "backtest" in path else {}
    done = _writers_answer_while_held(desk, hold, lambda: desk.post("manager", path, json=body))
    assert done.status_code == status, done.text


def test_a_long_read_with_a_fresh_token_holds_no_write_lock(desk, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A GET used to keep the write lock its token's bookkeeping took (SQLite) to its end."""
    from riskdesk.credit import repository as credit_repo

    hold = Hold(credit_repo, "stored").install(monkeypatch)
    fresh = desk.fresh_token("manager")
    found = _writers_answer_while_held(
        desk, hold, lambda: desk.get(fresh, "/api/v1/exposure/verify")
    )
    assert found.status_code == 200, found.text


def test_a_snapshot_reads_only_and_leaves_its_connection_writable(own_backend) -> None:  # type: ignore[no-untyped-def]
    """A stray write in the read phase fails at once instead of taking the write lock, and the
    pooled connection serves the next writer as usual."""
    factory = make_sessionmaker(own_backend.engine)
    rename = update(User).where(User.username == "auditor").values(display_name="changed")
    with factory() as session:
        with pytest.raises(DBAPIError), snapshot(session):
            assert session.scalar(select(func.count()).select_from(User))
            session.execute(rename)
        begin_store(session)
        session.execute(rename)
        session.commit()
    with unit_of_work(factory) as session:
        session.execute(update(User).where(User.username == "auditor").values(display_name="a"))
    with reading(factory) as session:
        names = session.scalars(select(User.display_name).where(User.username == "auditor"))
        assert list(names) == ["a"]
