"""Commit, answer, then process: the event queue, its workers, waiting, faults and dead letters."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.alerts import service as alert_service
from riskdesk.config import get_settings
from riskdesk.customers import repository as customer_repo
from riskdesk.db import make_sessionmaker, unit_of_work
from riskdesk.main import create_app
from riskdesk.models import Alert, DeadLetter, QueuedWork
from riskdesk.pipeline import intake, processing
from riskdesk.pipeline import repository as repo
from riskdesk.pipeline.tasks import EventWorker
from riskdesk.security import service as security_service
from tests.conftest import principal, processed
from tests.factories import company
from tests.monitoring.test_alerts import invoice


def queued(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(QueuedWork)) or 0)


def overdue_alerts(db: Session, customer_id: int) -> int:
    stmt = select(func.count()).select_from(Alert)
    stmt = stmt.where(Alert.customer_id == customer_id, Alert.rule_code == "new_overdue")
    return int(db.scalar(stmt) or 0)


def _customers(db: Session, *external_ids: str, **extra: Any) -> dict[str, int]:
    alert_service.install_default_pack(db)
    p = principal(db, "manager")
    intake.ingest(db, p, "customers", [company(x, **extra) for x in external_ids])
    processed(db)
    db.commit()
    refs = customer_repo.customer_ids_by_ref(db, {("erp", x) for x in external_ids})
    return {ext: cid for (_, ext), cid in refs.items()}


def test_an_event_is_answered_once_committed_and_processed_after(db, manager) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(db, "Q1")
    got = manager.post("/api/v1/invoices?wait=0", json=invoice("QI1", "Q1", "5000.00", 45))
    assert got.status_code == 201, got.text
    assert got.headers["Riskdesk-Processing"] == "queued"
    # Committed and its exposure applied; the early warning is not raised yet.
    assert queued(db) == 1 and overdue_alerts(db, ids["Q1"]) == 0
    assert processed(db) == 1
    assert queued(db) == 0 and overdue_alerts(db, ids["Q1"]) == 1
    # Processing the same customer again (a redelivery) changes nothing.
    processing.enqueue(db, [ids["Q1"]], "invoices", partitions=64)
    assert processed(db) == 1 and overdue_alerts(db, ids["Q1"]) == 1


def test_a_client_may_wait_for_processing(db, manager) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(db, "Q2")
    batch = {"records": [invoice("QI2", "Q2", "5000.00", 45)]}
    got = manager.post("/api/v1/invoices/batch?wait=10", json=batch)
    assert got.status_code == 200, got.text
    assert got.json()["processing"] == "done" and got.headers["Riskdesk-Processing"] == "done"
    assert queued(db) == 0 and overdue_alerts(db, ids["Q2"]) == 1
    # A resend writes nothing, so nothing is queued: done at once.
    again = manager.post("/api/v1/invoices/batch?wait=0", json=batch)
    assert again.json()["duplicates"] == 1 and again.json()["processing"] == "done"
    assert queued(db) == 0
    bad = manager.post("/api/v1/invoices/batch?wait=-1", json=batch)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "query.wait"


def test_a_group_shares_one_partition() -> None:
    partitions = {processing.partition_of(cid, 7, 64) for cid in range(1, 200)}
    assert len(partitions) == 1
    alone = {processing.partition_of(cid, None, 64) for cid in range(1, 2000)}
    assert len(alone) == 64 and all(0 <= p < 64 for p in alone)


def test_intake_queues_a_groups_members_in_one_partition(db) -> None:  # type: ignore[no-untyped-def]
    grouped = {"group_code": "QG", "group_name": "测试集团"}
    ids = _customers(db, *[f"G{n}" for n in range(6)], **grouped)
    intake.ingest(
        db,
        principal(db, "manager"),
        "invoices",
        [invoice(f"GI{n}", f"G{n}", "100.00", -10) for n in range(6)],
    )
    rows = db.scalars(select(QueuedWork)).all()
    assert {r.customer_id for r in rows} == set(ids.values())
    assert len({r.partition_no for r in rows}) == 1


def test_a_poison_customer_goes_to_dead_letters_and_the_others_go_on(  # type: ignore[no-untyped-def]
    db, factory, monkeypatch
) -> None:
    ids = _customers(db, "OK1", "OK2", "BAD")
    settings = get_settings()
    real_work = processing.work

    def work(session: Session, customer_ids: list[int]) -> None:
        if ids["BAD"] in customer_ids:
            raise RuntimeError("cannot process this customer")
        real_work(session, customer_ids)

    monkeypatch.setattr(processing, "work", work)
    p = principal(db, "manager")
    # Three customers alone in partitions of their own would not show isolation: one partition.
    monkeypatch.setattr(processing, "partition_of", lambda *_: 5)
    intake.ingest(
        db,
        p,
        "invoices",
        [
            invoice("PI1", "OK1", "5000.00", 45),
            invoice("PI2", "BAD", "5000.00", 45),
            invoice("PI3", "OK2", "5000.00", 45),
        ],
    )
    db.commit()
    for _ in range(settings.event_max_deliveries + 3):
        processing.process_partition(factory, 5, settings)
    assert overdue_alerts(db, ids["OK1"]) == 1 and overdue_alerts(db, ids["OK2"]) == 1
    assert queued(db) == 0
    (letter,) = db.scalars(select(DeadLetter)).all()
    assert letter.customer_id == ids["BAD"] and letter.attempts == settings.event_max_deliveries
    assert "cannot process this customer" in letter.error
    figures = processing.queue_figures(db)
    assert figures.dead_letters == 1 and figures.rows == 0
    # Fixed: queued again, and processed.
    monkeypatch.setattr(processing, "work", real_work)
    with unit_of_work(factory) as session:
        assert processing.retry_dead_letters(session, None, partitions=64) == 1
    assert processing.queue_figures(db).dead_letters == 0 and queued(db) == 1
    assert processed(db) == 1 and overdue_alerts(db, ids["BAD"]) == 1


def test_a_worker_killed_before_its_commit_loses_nothing_and_raises_once(  # type: ignore[no-untyped-def]
    db, factory, monkeypatch
) -> None:
    ids = _customers(db, "K1")
    intake.ingest(db, principal(db, "manager"), "invoices", [invoice("KI1", "K1", "5000.00", 45)])
    db.commit()
    real_delete = repo.delete_queued

    def killed(*_: Any) -> None:
        raise SystemExit("killed")  # not an Exception: nothing counts it as a failure

    monkeypatch.setattr(repo, "delete_queued", killed)
    (partition,) = repo.partitions_with_work(db)
    with pytest.raises(SystemExit):
        processing.process_partition(factory, partition, get_settings())
    # The alert it raised rolled back with it; the work is still queued, with no attempt spent.
    assert overdue_alerts(db, ids["K1"]) == 0
    (row,) = db.scalars(select(QueuedWork)).all()
    db.refresh(row)
    assert row.attempts == 0
    monkeypatch.setattr(repo, "delete_queued", real_delete)
    batch = processing.process_partition(factory, partition, get_settings())
    assert batch is not None and batch.rows == 1 and not batch.failed
    assert overdue_alerts(db, ids["K1"]) == 1 and queued(db) == 0


def test_status_and_metrics_show_the_queue(db, client_for) -> None:  # type: ignore[no-untyped-def]
    _customers(db, "S1")
    intake.ingest(db, principal(db, "manager"), "invoices", [invoice("SI1", "S1", "5000.00", 45)])
    db.commit()
    figures = processing.queue_figures(db)
    assert figures.rows == 1 and len(figures.partitions) == 1 and figures.lag_seconds >= 0
    monitor = client_for("admin", scopes=["system:monitor"])
    text = monitor.get("/api/v1/metrics").text
    assert "riskdesk_event_queue_rows 1.0" in text
    assert "riskdesk_dead_letters_waiting 0.0" in text


# ---------------------------------------------------------------- real engines


def _token(factory: sessionmaker[Session]) -> str:
    with factory.begin() as session:
        user = security_service.get_user_by_username_or_raise(session, "manager")
        scopes = sorted(p.value for p in security_service.permissions_for(user.role))
        _, raw = security_service.issue_token(session, user=user, name="t", scopes=scopes)
    return raw


def test_the_embedded_worker_raises_the_alert_after_the_answer(own_backend, settings) -> None:  # type: ignore[no-untyped-def]
    factory = make_sessionmaker(own_backend.engine)
    with unit_of_work(factory) as session:
        ids = _customers(session, "E1")
    raw = _token(factory)
    live = settings.model_copy(update={"event_workers": 1, "event_wait_seconds": 0})
    app = create_app(live, session_factory=factory)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {raw}"
        sent = time.monotonic()
        got = client.post("/api/v1/invoices", json=invoice("EI1", "E1", "5000.00", 45))
        assert got.status_code == 201 and got.headers["Riskdesk-Processing"] == "queued"
        seen = None
        while time.monotonic() - sent < 30:
            with factory() as session:
                if overdue_alerts(session, ids["E1"]):
                    seen = time.monotonic() - sent
                    break
            time.sleep(0.01)
    # How soon is a benchmark's question (bench/realtime_bench.py), not a timed test's.
    assert seen is not None, seen
    with factory() as session:
        assert queued(session) == 0


def test_two_workers_never_own_one_partition(own_backend) -> None:  # type: ignore[no-untyped-def]
    if own_backend.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: its write lock is the fence")
    factory = make_sessionmaker(own_backend.engine)
    with unit_of_work(factory) as session:
        ids = _customers(session, "F1")
        intake.ingest(
            session, principal(session, "manager"), "invoices", [invoice("FI1", "F1", "5.00", 45)]
        )
    with factory() as session:
        (partition,) = repo.partitions_with_work(session)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with unit_of_work(factory) as session:
            assert repo.fence(session, partition)
            holding.set()
            release.wait(10)

    owner = threading.Thread(target=hold)
    owner.start()
    assert holding.wait(10)
    try:
        # Owned elsewhere: this worker leaves the partition alone.
        assert processing.process_partition(factory, partition, get_settings()) is None
        with factory() as session:
            assert queued(session) == 1
    finally:
        release.set()
        owner.join()
    batch = processing.process_partition(factory, partition, get_settings())
    assert batch is not None and batch.rows == 1
    with factory() as session:
        assert overdue_alerts(session, ids["F1"]) == 1


def test_workers_in_parallel_process_everything_once(own_backend) -> None:  # type: ignore[no-untyped-def]
    factory = make_sessionmaker(own_backend.engine)
    names = [f"W{n}" for n in range(24)]
    with unit_of_work(factory) as session:
        ids = _customers(session, *names)
        intake.ingest(
            session,
            principal(session, "manager"),
            "invoices",
            [invoice(f"WI{n}", name, "5000.00", 45) for n, name in enumerate(names)],
        )
    settings = get_settings().model_copy(update={"event_batch_customers": 2})
    workers = [EventWorker(factory, settings, number=n) for n in range(3)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with factory() as session:
            if not queued(session):
                break
        time.sleep(0.05)
    for w in workers:
        w.stop()
    assert sum(w.processed for w in workers) == len(names)
    with factory() as session:
        assert queued(session) == 0
        assert all(overdue_alerts(session, ids[n]) == 1 for n in names)
