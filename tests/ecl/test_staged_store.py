"""An ECL run as a job stores its customers in parts, each a short transaction, under a run
no reader reads until the last transaction marks it done; a job that stops leaves nothing, and
a run finished meanwhile with the same inputs stands."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from riskdesk.ecl import service as ecl_service
from riskdesk.jobs import service as jobs
from riskdesk.models import EclCustomerResult, EclRun, Job
from tests.ecl.test_endpoints import BODY, RUNS

ASYNC = {"Prefer": "respond-async"}


def _count(db: Session, model: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_the_parts_are_read_by_nobody_until_the_run_is_done(
    portfolio,
    manager,
    factory,
    db,
    monkeypatch,
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ecl_service, "STORE_CHUNK", 1)
    seen: list[dict[str, Any]] = []
    store = ecl_service.store_customers

    def watched(session: Session, run_id: int, rows: Any) -> None:
        # Between two parts: the run and its first parts are stored, and no reader sees them.
        with factory() as other:
            run = other.get(EclRun, run_id)
            assert run is not None
            seen.append({
                "status": run.status,
                "rows": _count_rows(other, run_id),
                "listed": manager.get(RUNS).json(),
                "one": manager.get(f"{RUNS}/{run_id}").status_code,
                "customers": manager.get(f"{RUNS}/{run_id}/customers").status_code,
            })  # fmt: skip
        store(session, run_id, rows)

    monkeypatch.setattr(ecl_service, "store_customers", watched)
    started = manager.post(RUNS, json=BODY, headers=ASYNC)
    assert started.status_code == 202, started.text
    assert jobs.run_next(factory) == started.json()["id"]
    done = manager.get(started.headers["Location"]).json()
    assert done["status"] == "done", done
    assert [s["rows"] for s in seen] == [0, 1, 2]  # three customers, one a part
    assert {s["status"] for s in seen} == {"storing"}
    assert all(s["listed"] == [] and s["one"] == s["customers"] == 404 for s in seen)
    run_id = done["result"]["id"]
    assert Decimal(done["result"]["total_ecl"]) == Decimal("3142.86")
    assert [r["id"] for r in manager.get(RUNS).json()] == [run_id]
    assert manager.get(f"{RUNS}/{run_id}/customers").json()["total"] == 3
    # The same inputs asked for again: the job's run, nothing stored twice.
    again = manager.post(RUNS, json=BODY)
    assert again.status_code == 200 and again.json()["id"] == run_id
    assert (_count(db, EclRun), _count(db, EclCustomerResult)) == (1, 3)


def _count_rows(session: Session, run_id: int) -> int:
    stmt = select(func.count()).select_from(EclCustomerResult)
    return int(session.scalar(stmt.where(EclCustomerResult.run_id == run_id)) or 0)


def test_a_job_that_fails_between_parts_leaves_nothing(
    portfolio,
    manager,
    factory,
    db,
    monkeypatch,
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ecl_service, "STORE_CHUNK", 1)
    calls: list[int] = []
    store = ecl_service.store_customers

    def failing(session: Session, run_id: int, rows: Any) -> None:
        calls.append(run_id)
        if len(calls) == 2:
            raise RuntimeError("the disk filled up")
        store(session, run_id, rows)

    monkeypatch.setattr(ecl_service, "store_customers", failing)
    started = manager.post(RUNS, json=BODY, headers=ASYNC)
    jobs.run_next(factory)
    failed = manager.get(started.headers["Location"]).json()
    assert failed["status"] == "failed", failed
    db.expire_all()
    assert (_count(db, EclRun), _count(db, EclCustomerResult)) == (0, 0)
    # Run again, it stores the whole run once.
    monkeypatch.setattr(ecl_service, "store_customers", store)
    again = manager.post(RUNS, json=BODY)
    assert again.status_code == 201, again.text
    assert (_count(db, EclRun), _count(db, EclCustomerResult)) == (1, 3)


def test_a_run_finished_meanwhile_with_the_same_inputs_stands(
    portfolio,
    manager,
    factory,
    db,
    monkeypatch,
) -> None:  # type: ignore[no-untyped-def]
    store = ecl_service.store_customers
    sync: list[int] = []

    def overtaken(session: Session, run_id: int, rows: Any) -> None:
        store(session, run_id, rows)
        if not sync:  # another request stores the same run while the job is between parts
            sync.append(0)
            answer = manager.post(RUNS, json=BODY)
            assert answer.status_code == 201, answer.text
            sync[0] = answer.json()["id"]

    monkeypatch.setattr(ecl_service, "store_customers", overtaken)
    started = manager.post(RUNS, json=BODY, headers=ASYNC)
    jobs.run_next(factory)
    done = manager.get(started.headers["Location"]).json()
    assert done["status"] == "done", done
    assert done["result"]["id"] == sync[0]
    db.expire_all()
    assert (_count(db, EclRun), _count(db, EclCustomerResult)) == (1, 3)
    assert db.scalar(select(EclRun.status)) == "done"


def test_a_cancelled_job_discards_its_parts(
    portfolio,
    manager,
    factory,
    db,
    monkeypatch,
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ecl_service, "STORE_CHUNK", 1)
    store = ecl_service.store_customers

    def cancelled(session: Session, run_id: int, rows: Any) -> None:
        store(session, run_id, rows)
        job_id = session.scalar(select(Job.id).order_by(Job.id.desc()))
        with factory() as other:  # the cancel arrives between parts
            assert manager.post(f"/api/v1/jobs/{job_id}/cancel").status_code in (200, 202)
            other.commit()

    monkeypatch.setattr(ecl_service, "store_customers", cancelled)
    started = manager.post(RUNS, json=BODY, headers=ASYNC)
    jobs.run_next(factory)
    ended = manager.get(started.headers["Location"]).json()
    assert ended["status"] == "cancelled", ended
    db.expire_all()
    assert (_count(db, EclRun), _count(db, EclCustomerResult)) == (0, 0)


@pytest.mark.parametrize("chunk", [2, 5000])
def test_the_parts_store_what_one_transaction_does(
    portfolio,
    manager,
    factory,
    db,
    monkeypatch,
    chunk,
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ecl_service, "STORE_CHUNK", chunk)
    started = manager.post(RUNS, json=BODY, headers=ASYNC)
    jobs.run_next(factory)
    job_run = manager.get(started.headers["Location"]).json()["result"]["id"]
    staged = manager.get(f"{RUNS}/{job_run}/customers").json()["items"]
    db.execute(EclCustomerResult.__table__.delete())
    db.execute(EclRun.__table__.delete())
    db.commit()
    direct = manager.post(RUNS, json=BODY)
    assert direct.status_code == 201, direct.text
    one = manager.get(f"{RUNS}/{direct.json()['id']}/customers").json()["items"]
    assert staged == one


def test_a_run_finished_between_the_last_check_and_the_last_write_stands(
    portfolio, manager, factory, db, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The request's run is committed after the job's last transaction looked for one (on
    PostgreSQL another writer can; here the look is made to miss it): the unique index
    refuses a second done run, and the job answers with the one that stands."""
    from riskdesk.ecl import repository as ecl_repo

    store = ecl_service.store_customers
    find = ecl_repo.find_run
    state = {"sync": 0, "miss": False}

    def overtaken(session: Session, run_id: int, rows: Any) -> None:
        store(session, run_id, rows)
        if not state["sync"]:
            state["sync"] = -1
            answer = manager.post(RUNS, json=BODY)
            assert answer.status_code == 201, answer.text
            state["sync"] = answer.json()["id"]
            state["miss"] = True  # the job's next look misses it

    def finding(session: Session, *args: Any) -> Any:
        if state["miss"]:
            state["miss"] = False
            return None
        return find(session, *args)

    monkeypatch.setattr(ecl_service, "store_customers", overtaken)
    monkeypatch.setattr(ecl_repo, "find_run", finding)
    started = manager.post(RUNS, json=BODY, headers=ASYNC)
    jobs.run_next(factory)
    done = manager.get(started.headers["Location"]).json()
    assert done["status"] == "done", done
    assert done["result"]["id"] == state["sync"]
    db.expire_all()
    assert (_count(db, EclRun), _count(db, EclCustomerResult)) == (1, 3)
