"""Long operations as jobs: ``Prefer: respond-async`` answers 202 with the job, a worker runs
it in its read / compute / store phases with progress, and the result equals the synchronous
answer; cancel, failure (nothing half-stored), reaping of a job whose process died, and who may
see a job. The tests run the worker's step (``run_next``) themselves (job_workers=0)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers
from starlette.requests import Request

from riskdesk.jobs import repository as job_repo
from riskdesk.jobs import service as jobs
from riskdesk.jobs.deps import wants_async
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import (
    CustomerScore,
    IndicatorSnapshot,
    Job,
    ModelScore,
    ModelVersion,
    ScoringRun,
)
from riskdesk.scoring import service as scoring_service
from tests.scoring.test_service import _active, _portfolio, card

ASYNC = {"Prefer": "respond-async"}
RUN_FIELDS = ("trigger", "as_of", "customers", "unscored", "versions", "requested_by_id")


def _request(prefer: str | None) -> Request:
    headers = Headers({"prefer": prefer} if prefer is not None else {})
    return Request({"type": "http", "headers": headers.raw, "method": "POST", "path": "/"})


@pytest.mark.parametrize(
    ("prefer", "wanted"),
    [
        ("respond-async", True),
        ("return=minimal, respond-async", True),
        ("Respond-Async; foo=bar", True),
        ("wait=10", False),
        ("return=representation", False),
        (None, False),
    ],
)
def test_prefer_respond_async_is_read_as_rfc_7240_says(prefer: str | None, wanted: bool) -> None:
    assert wants_async(_request(prefer)) is wanted


def _counts(db: Session) -> dict[str, int]:
    db.expire_all()
    return {
        model.__tablename__: db.scalar(select(func.count()).select_from(model)) or 0
        for model in (ScoringRun, CustomerScore, IndicatorSnapshot, ModelScore, ModelVersion)
    }


@pytest.fixture
def scored(db, manager, client_for):  # type: ignore[no-untyped-def]
    """The scoring tests' portfolio with an active scorecard."""
    _portfolio(db)
    _active(db, client_for, manager, card())
    return db


def _start(client: Any, path: str, body: Any = None) -> dict[str, Any]:
    started = client.post(path, json=body, headers=ASYNC)
    assert started.status_code == 202, started.text
    job = started.json()
    assert started.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert started.headers["Preference-Applied"] == "respond-async"
    assert job["status"] == "queued" and job["result"] is None
    return job


def test_async_scoring_run_answers_202_then_runs_to_the_synchronous_result(
    scored, manager, factory
) -> None:  # type: ignore[no-untyped-def]
    sync = manager.post("/api/v1/scoring-runs", json={})
    assert sync.status_code == 201, sync.text
    before = _counts(scored)
    job = _start(manager, "/api/v1/scoring-runs", {})
    # Nothing ran yet: queueing stored no run.
    assert _counts(scored) == before
    assert jobs.run_next(factory) == job["id"]
    done = manager.get(f"/api/v1/jobs/{job['id']}").json()
    assert done["status"] == "done" and done["error"] is None, done
    assert done["progress"]["phase"] == "done" and done["attempts"] == 1
    result = done["result"]
    assert {k: result[k] for k in RUN_FIELDS} == {k: sync.json()[k] for k in RUN_FIELDS}
    assert result["id"] != sync.json()["id"]
    assert manager.get("/api/v1/scoring-runs").json()[0]["id"] == result["id"]
    # Running again finds nothing queued: the job is not run (or stored) twice.
    assert jobs.run_next(factory) is None
    assert _counts(scored)["scoring_runs"] == before["scoring_runs"] + 1


def test_progress_moves_through_the_phases_and_is_written_as_it_goes(
    scored, manager, factory, db, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[str, int, int, str]] = []
    real = jobs.JobContext.progress

    def spy(self: jobs.JobContext, phase: str, done: int = 0, total: int = 0) -> None:
        real(self, phase, done, total)
        # What any API node reads: the row (outside the store phase).
        with factory() as s:
            row = s.get(Job, self.job_id)
            assert row is not None
            seen.append((phase, done, total, row.phase))

    monkeypatch.setattr(jobs.JobContext, "progress", spy)
    job = _start(manager, "/api/v1/scoring-runs", {})
    jobs.run_next(factory)
    assert [s[0] for s in seen] == ["computing", "storing"]
    # Written before the store began; the store's own progress is kept in memory.
    assert seen[0][3] == "computing"
    assert manager.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "done"


def _timeless(value: Any) -> Any:
    """The value without how long things took (which differs from one fit to the next)."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if not k.endswith("seconds")}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def test_training_as_a_job_reports_its_fit_and_equals_the_synchronous_model(
    db, client_for, factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.demo.loader import load_demo

    load_demo(db, customers=120, months=24, seed=1)
    db.commit()
    analyst = client_for("analyst")
    body = {"name": "pd", "family": "scorecard", "folds": 3, "seed": 7}
    sync = analyst.post("/api/v1/models/train-from-history", json=body)
    assert sync.status_code == 201, sync.text
    phases: list[tuple[str, int, int]] = []
    real = jobs.JobContext.progress

    def spy(self: jobs.JobContext, phase: str, done: int = 0, total: int = 0) -> None:
        phases.append((phase, done, total))
        real(self, phase, done, total)

    monkeypatch.setattr(jobs.JobContext, "progress", spy)
    job = _start(analyst, "/api/v1/models/train-from-history", body)
    jobs.run_next(factory)
    assert phases == [
        ("reading", 0, 0),
        ("computing", 1, 2),
        ("computing", 2, 2),
        ("storing", 0, 0),
    ]
    done = analyst.get(f"/api/v1/jobs/{job['id']}").json()
    assert done["status"] == "done", done
    model, expected = done["result"], sync.json()
    assert model["version"] == expected["version"] + 1
    for key in ("family", "status", "rows", "bad_rate", "metrics", "features"):
        assert _timeless(model[key]) == _timeless(expected[key]), key


def test_a_queued_job_cancelled_never_runs(scored, manager, factory) -> None:  # type: ignore[no-untyped-def]
    before = _counts(scored)
    job = _start(manager, "/api/v1/scoring-runs", {})
    cancelled = manager.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert jobs.run_next(factory) is None
    assert _counts(scored) == before
    again = manager.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_finished"


def test_a_running_job_cancelled_stops_at_its_next_progress_point(
    scored, manager, factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    before = _counts(scored)
    job = _start(manager, "/api/v1/scoring-runs", {})
    real = jobs.JobContext.store

    def cancel_then_store(self: jobs.JobContext, write: Any) -> Any:
        # Computed, about to store: the cancel arrives (the test's one connection is read-only
        # inside the snapshot, so it comes right after it).
        answer = manager.post(f"/api/v1/jobs/{job['id']}/cancel")
        assert answer.status_code == 200 and answer.json()["cancel_requested"] is True
        assert answer.json()["status"] == "running"
        return real(self, write)

    monkeypatch.setattr(jobs.JobContext, "store", cancel_then_store)
    jobs.run_next(factory)
    assert manager.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "cancelled"
    assert _counts(scored) == before


def test_a_cancel_that_lands_during_the_store_rolls_the_store_back(
    scored, manager, factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    before = _counts(scored)
    job = _start(manager, "/api/v1/scoring-runs", {})
    real_progress, real_store = jobs.JobContext.progress, scoring_service.finish_rescore
    stored: list[int] = []

    def cancel_once_past_the_check(self: jobs.JobContext, phase: str, *a: Any) -> None:
        real_progress(self, phase, *a)
        if phase == "storing":
            # Past the store's progress point: the cancel lands while it writes (on the test's
            # one connection it must commit before the store's transaction begins).
            assert manager.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 200

    def store_and_count(session: Session, *args: Any, **kw: Any) -> Any:
        summary = real_store(session, *args, **kw)
        stored.append(_counts(session)["scoring_runs"])
        return summary

    monkeypatch.setattr(jobs.JobContext, "progress", cancel_once_past_the_check)
    monkeypatch.setattr(scoring_service, "finish_rescore", store_and_count)
    jobs.run_next(factory)
    assert stored == [before["scoring_runs"] + 1]  # it was written...
    assert manager.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "cancelled"
    assert _counts(scored) == before  # ...and rolled back


def test_a_failing_job_records_its_error_and_stores_nothing(
    scored, manager, factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    before = _counts(scored)
    job = _start(manager, "/api/v1/scoring-runs", {})

    def broken(*args: Any, **kw: Any) -> None:
        raise RuntimeError("disk on fire: customer 42 Zhang San")

    # Fails in the store's last transaction, after the run's slices were staged and its
    # indicators made current.
    monkeypatch.setattr(scoring_service.repo, "count_run_scores", broken)
    jobs.run_next(factory)
    failed = manager.get(f"/api/v1/jobs/{job['id']}").json()
    assert failed["status"] == "failed" and failed["result"] is None
    assert failed["error"] == {"code": "job_failed", "message": "the job failed: RuntimeError"}
    assert _counts(scored) == before


def test_a_domain_error_is_the_jobs_readable_error(db, client_for, factory) -> None:  # type: ignore[no-untyped-def]
    analyst = client_for("analyst")
    # Too few rows to train on: the synchronous request answers the same error.
    body = {"name": "pd", "family": "scorecard", "folds": 3}
    sync = analyst.post("/api/v1/models/train-from-history", json=body)
    assert sync.status_code == 422, sync.text
    job = _start(analyst, "/api/v1/models/train-from-history", body)
    jobs.run_next(factory)
    failed = analyst.get(f"/api/v1/jobs/{job['id']}").json()
    assert failed["status"] == "failed"
    assert failed["error"] == {
        "code": sync.json()["error"]["code"],
        "message": sync.json()["error"]["message"],
    }


def _claimed_and_abandoned(factory: sessionmaker[Session], job_id: int, silent_s: int) -> None:
    """As a worker that claimed the job and then died: running, no lease, silent since."""
    from riskdesk.db import unit_of_work

    with unit_of_work(factory) as s:
        claimed = job_repo.claim_next(s, "dead-host:1:t", sorted(jobs.KINDS))
        assert claimed is not None and claimed.id == job_id
        claimed.heartbeat_at = utcnow() - dt.timedelta(seconds=silent_s)


def test_a_job_whose_worker_died_is_queued_again_then_runs_once(scored, manager, factory) -> None:  # type: ignore[no-untyped-def]
    before = _counts(scored)
    job = _start(manager, "/api/v1/scoring-runs", {})
    _claimed_and_abandoned(factory, job["id"], silent_s=10)
    # Within the grace it may still be starting: left alone.
    assert jobs.reap_lost(factory, grace_seconds=60) == []
    _claimed_and_abandoned_again = manager.get(f"/api/v1/jobs/{job['id']}").json()
    assert _claimed_and_abandoned_again["status"] == "running"
    with factory() as s:
        s.execute(
            update(Job)
            .where(Job.id == job["id"])
            .values(heartbeat_at=utcnow() - dt.timedelta(seconds=120))
        )
        s.commit()
    # A live lease keeps it however silent it is.
    with job_repo.lease(factory.kw["bind"], job["id"]):
        assert jobs.reap_lost(factory, grace_seconds=60) == []
    assert jobs.reap_lost(factory, grace_seconds=60) == [job["id"]]
    requeued = manager.get(f"/api/v1/jobs/{job['id']}").json()
    assert (requeued["status"], requeued["attempts"]) == ("queued", 1)
    assert jobs.run_next(factory) == job["id"]
    done = manager.get(f"/api/v1/jobs/{job['id']}").json()
    assert (done["status"], done["attempts"]) == ("done", 2)
    assert _counts(scored)["scoring_runs"] == before["scoring_runs"] + 1


def test_a_job_lost_on_its_last_attempt_fails(scored, manager, factory) -> None:  # type: ignore[no-untyped-def]
    job = _start(manager, "/api/v1/scoring-runs", {})
    with factory() as s:
        s.execute(update(Job).where(Job.id == job["id"]).values(attempts=jobs.MAX_ATTEMPTS - 1))
        s.commit()
    _claimed_and_abandoned(factory, job["id"], silent_s=600)
    assert jobs.reap_lost(factory, grace_seconds=60) == [job["id"]]
    failed = manager.get(f"/api/v1/jobs/{job['id']}").json()
    assert failed["status"] == "failed" and failed["error"]["code"] == "job_interrupted"


def test_who_may_start_read_list_and_cancel_a_job(scored, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    sales, service, auditor = client_for("sales"), client_for("service"), client_for("auditor")
    assert sales.post("/api/v1/scoring-runs", json={}, headers=ASYNC).status_code == 403
    job = _start(manager, "/api/v1/scoring-runs", {})
    path = f"/api/v1/jobs/{job['id']}"
    missing = sales.get("/api/v1/jobs/999999")
    for other in (sales, service):
        hidden = other.get(path)
        # Not theirs to see: answered exactly as a job that does not exist.
        assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "job_not_found"
        assert hidden.json()["error"]["message"].replace(str(job["id"]), "N") == missing.json()[
            "error"
        ]["message"].replace("999999", "N")
        assert other.post(f"{path}/cancel").status_code == 404
        assert job["id"] not in [j["id"] for j in other.get("/api/v1/jobs").json()["items"]]
    assert auditor.get(path).status_code == 200
    assert job["id"] in [j["id"] for j in auditor.get("/api/v1/jobs").json()["items"]]
    assert auditor.post(f"{path}/cancel").status_code == 403  # reads all, runs nothing
    assert client_for("admin").get(path).status_code == 200  # the operator watches the work
    # Whoever may run the operation reads it (a second credit manager).
    assert client_for("manager2").get(path).status_code == 200
    listed = manager.get("/api/v1/jobs", params={"kind": "scoring_run", "status": "queued"}).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]] and listed["total"] == 1
    bad = manager.get("/api/v1/jobs", params={"status": "sleeping"})
    assert bad.status_code == 422 and "status" in bad.text


@pytest.mark.parametrize(
    ("path", "body", "params", "created"),
    [
        ("/api/v1/rules/backtest", {"expression": "dpd_max > 30", "months": 6}, None, 200),
        ("/api/v1/churn-fits", None, None, 201),
        ("/api/v1/rule-runs", None, None, 201),
        ("/api/v1/anomaly-runs", None, {"months": 3, "top": 5}, 201),
    ],
)
def test_the_monitoring_operations_as_jobs_equal_their_synchronous_answers(
    db, manager, factory, path, body, params, created
) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.demo.loader import load_demo

    load_demo(db, customers=60, months=14, seed=3)
    db.commit()
    sync = manager.post(path, json=body, params=params)
    assert sync.status_code == created, sync.text
    started = manager.post(path, json=body, params=params, headers=ASYNC)
    assert started.status_code == 202, started.text
    jobs.run_next(factory)
    done = manager.get(started.headers["Location"]).json()
    assert done["status"] == "done", done
    expected, result = sync.json(), done["result"]
    for volatile in ("id", "fitted_at", "created_at", "refreshed", "raised"):
        expected.pop(volatile, None)
        result.pop(volatile, None)
    # Two fits of the same purchases give the same parameters: the customers are summed in one
    # order (on the likelihood's flat ridges a different order once moved b by 1.2%).
    assert result == expected


def test_bad_input_is_refused_before_anything_is_queued(db, manager) -> None:  # type: ignore[no-untyped-def]
    bad = manager.post("/api/v1/rules/backtest", json={"expression": "dpd_max >"}, headers=ASYNC)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "expression"
    late = manager.post(
        "/api/v1/warning-replays", json={"from": "2026-01-01", "to": "2025-01-01"}, headers=ASYNC
    )
    assert late.status_code == 422 and late.json()["error"]["field"] == "from"
    assert manager.get("/api/v1/jobs").json()["total"] == 0


def test_metrics_count_jobs_by_status(scored, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    _start(manager, "/api/v1/scoring-runs", {})
    text = client_for("admin").get("/api/v1/metrics").text
    assert 'riskdesk_jobs{status="queued"} 1.0' in text
    assert 'riskdesk_jobs{status="failed"} 0.0' in text


def test_the_audit_log_says_who_started_a_job_and_what_it_stored(
    scored, manager, factory, db
) -> None:  # type: ignore[no-untyped-def]
    import json

    from riskdesk.models import AuditEntry

    last = db.scalar(select(func.max(AuditEntry.id))) or 0
    job = _start(manager, "/api/v1/scoring-runs", {})
    jobs.run_next(factory)
    db.expire_all()
    entries = list(db.scalars(select(AuditEntry).where(AuditEntry.id > last)))
    started = [e for e in entries if '"jobs"' in json.dumps(e.detail) and e.channel == "api"]
    assert [e.actor for e in started] == ["manager"]
    # The store's transactions (the run begun, its slices staged, then the last one that makes
    # it current with the "done" mark): each in the starter's name, naming the job.
    stored = [e for e in entries if e.channel == "job"]
    assert len(stored) >= 2 and {e.actor for e in stored} == {"manager"}
    assert {(e.object_type, e.object_id) for e in stored} == {("job", str(job["id"]))}
    assert "scoring_runs" in json.dumps(stored[-1].detail) and "jobs" in json.dumps(
        stored[-1].detail
    )
    # Progress reports are bookkeeping: no entry holds only them.
    for e in entries:
        detail = json.dumps(e.detail)
        assert not (
            "progress_done" in detail and "scoring_runs" not in detail and "status" not in detail
        )


@pytest.mark.parametrize("status", ["failed", "cancelled", "done"])
def test_an_ended_job_never_reads_as_waiting_for_a_worker(status: str) -> None:
    """The jobs page shows an ended job's phase as how it ended, whatever phase its row last
    recorded."""
    from riskdesk.models import Job
    from riskdesk.ui import job_pages

    job = Job(
        id=7,
        kind="model_training",
        status=status,
        phase="queued",
        progress_done=0,
        progress_total=0,
        created_by_id=1,
        result=None,
    )
    view = job_pages._view(job, {1: "Li Wei"})
    assert view["phase"] == status and not view["active"]
