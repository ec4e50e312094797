"""A scoring run stored by a job in short transactions (slices of STORE_CHUNK customers under a
run still "storing"), made current in one last transaction: the result equals a store in one
transaction, a reader between slices sees the previous run whole, a failure or a death midway
leaves nothing readable and nothing behind once cleaned up, and a rerun stores once."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.db import unit_of_work
from riskdesk.jobs import kinds
from riskdesk.jobs import repository as job_repo
from riskdesk.jobs import service as jobs
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import (
    CreditProfile,
    CustomerScore,
    IndicatorSnapshot,
    Job,
    ModelScore,
    ModelVersion,
    ScoringRun,
    StagedIndicatorSnapshot,
)
from riskdesk.scoring import registry
from riskdesk.scoring import repository as scoring_repo
from riskdesk.scoring import service as scoring_service
from tests.jobs.test_jobs import RUN_FIELDS, _start

CUSTOMERS = 24
SLICE = 5


@pytest.fixture
def demo(db, manager, monkeypatch):  # type: ignore[no-untyped-def]
    """A demo population with its active scorecards, a model whose scores every run stores,
    and slices small enough that a run is stored in several."""
    from riskdesk.demo.loader import load_demo

    load_demo(db, customers=CUSTOMERS, months=6, seed=5)
    model = ModelVersion(
        name="staged-pd",
        version=1,
        family="scorecard",
        status="retired",  # not live: the run's predictions are given below
        data_source="test",
        target="test",
        rows=0,
        bad_rate=0.1,
        features=[],
        metrics={},
        artifact={},
        reference={},
    )
    db.add(model)
    db.commit()
    real_plan = scoring_service.plan_rescore

    def plan_with_model(session: Session, **kw: Any) -> scoring_service.RescorePlan:
        plan = real_plan(session, **kw)
        ids = plan.marks["customer_id"].to_list()
        found = registry.ModelScores(
            model.id,
            model.name,
            False,
            ids,
            np.linspace(0.01, 0.5, len(ids)),
            np.arange(len(ids)) + 400,
        )
        return dataclasses.replace(plan, models=[found])

    monkeypatch.setattr(scoring_service, "plan_rescore", plan_with_model)
    monkeypatch.setattr(scoring_service, "STORE_CHUNK", SLICE)
    return model


def _readable(db: Session, model_id: int) -> dict[str, Any]:
    """What readers see: runs listed, each customer's latest score and its history, the
    profiles a credit check reads, indicator snapshots and model scores (no timestamps: two
    runs over the same data compare equal)."""
    db.expire_all()
    ids = list(db.scalars(select(CreditProfile.customer_id).order_by(CreditProfile.customer_id)))
    latest = scoring_repo.latest_scores(db, ids)
    return {
        "runs": [r.id for r in scoring_repo.runs(db, 50)],
        "latest": {
            c: (s.run_id, s.score, s.rating, s.risk_tier, s.scorecard_version_id, s.reasons)
            for c, s in latest.items()
        },
        "history": {c: len(scoring_repo.score_history(db, c, 500)) for c in ids},
        "profiles": {
            p.customer_id: (p.score, p.rating, p.risk_tier)
            for p in db.scalars(select(CreditProfile).order_by(CreditProfile.customer_id))
        },
        "snapshots": {
            s.customer_id: (s.computed_at, s.values) for s in db.scalars(select(IndicatorSnapshot))
        },
        "model": sorted(scoring_repo.latest_model_scores(db, model_id)),
        "model_of": {c: len(scoring_repo.model_scores_of(db, c, 500)) for c in ids},
    }


def _values(state: dict[str, Any]) -> dict[str, Any]:
    """The readable state without run ids and times: what two runs over the same data share."""
    return {
        "latest": {c: v[1:] for c, v in state["latest"].items()},
        "profiles": state["profiles"],
        # Rounded: a batch's float sums differ in their last bits from one run to the next.
        "snapshots": {
            c: {k: None if x is None else round(x, 6) for k, x in v[1].items()}
            for c, v in state["snapshots"].items()
        },
        "model": state["model"],
    }


def _rows(db: Session) -> dict[str, int]:
    db.expire_all()
    return {
        m.__tablename__: db.scalar(select(func.count()).select_from(m)) or 0
        for m in (ScoringRun, CustomerScore, ModelScore, IndicatorSnapshot, StagedIndicatorSnapshot)
    }


def _sync_run(client: Any) -> int:
    answer = client.post("/api/v1/scoring-runs", json={})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


PHASES: list[str] = []


def _spy_stage(monkeypatch: pytest.MonkeyPatch, after: Any) -> list[int]:
    """Call ``after(n)`` once the job's n-th short transaction committed; their count (the
    phase of each in PHASES)."""
    real = jobs.JobContext.stage
    calls: list[int] = []
    PHASES.clear()

    def spy(self: jobs.JobContext, write: Any, done: int = 0, total: int = 0, **kw: Any) -> Any:
        value = real(self, write, done, total, **kw)
        calls.append(done)
        PHASES.append(kw.get("phase", "storing"))
        after(len(calls))
        return value

    monkeypatch.setattr(jobs.JobContext, "stage", spy)
    return calls


def test_a_run_stored_in_many_slices_equals_one_transaction(
    demo, db, manager, factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    sync_id = _sync_run(manager)
    one = _readable(db, demo.id)
    sync_run = manager.get("/api/v1/scoring-runs").json()[0]
    assert sync_run["id"] == sync_id and sync_run["customers"] > SLICE * 2
    calls = _spy_stage(monkeypatch, lambda n: None)
    job = _start(manager, "/api/v1/scoring-runs", {})
    assert jobs.run_next(factory) == job["id"]
    done = manager.get(f"/api/v1/jobs/{job['id']}").json()
    assert done["status"] == "done", done
    # The run began, then one transaction per slice to store its scores and one per slice to
    # make its indicators current: more than a few.
    customers = db.scalar(select(func.count()).select_from(CreditProfile)) or 0
    slices = -(-customers // SLICE)
    assert len(calls) == 1 + 2 * slices and slices >= 3
    assert ["storing"] * (1 + slices) + ["applying"] * slices == PHASES
    many = _readable(db, demo.id)
    assert {k: done["result"][k] for k in RUN_FIELDS} == {k: sync_run[k] for k in RUN_FIELDS}
    assert _values(many) == _values(one)
    assert many["runs"][:2] == [done["result"]["id"], sync_id]
    assert {v[0] for v in many["latest"].values()} == {done["result"]["id"]}
    assert _rows(db)["staged_indicator_snapshots"] == 0


def test_a_reader_between_slices_sees_the_previous_run_whole(
    demo, db, manager, factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    previous = _sync_run(manager)
    before = _readable(db, demo.id)
    assert {v[0] for v in before["latest"].values()} == {previous}
    seen: list[tuple[str, dict[str, Any]]] = []

    def read(n: int) -> None:
        with factory() as reader:
            seen.append((PHASES[-1], _readable(reader, demo.id)))
        # The API too: the list of runs and a customer's scores.
        assert manager.get("/api/v1/scoring-runs").json()[0]["id"] == previous

    calls = _spy_stage(monkeypatch, read)
    job = _start(manager, "/api/v1/scoring-runs", {})
    jobs.run_next(factory)
    assert len(calls) >= 4
    # Staged rows were there to be seen (the run's slices were written)...
    assert all(state == before for phase, state in seen if phase == "storing")
    # ...and while the indicators were made current a slice at a time, each customer's
    # indicators moved on alone (as an event's do), the run and its scores still unread.
    applying = [state for phase, state in seen if phase == "applying"]
    assert applying and applying[-1]["snapshots"] != before["snapshots"]
    unrun = {k: v for k, v in before.items() if k != "snapshots"}
    assert all({k: v for k, v in s.items() if k != "snapshots"} == unrun for s in applying)
    after = _readable(db, demo.id)
    # ...and all became readable at once.
    result = manager.get(f"/api/v1/jobs/{job['id']}").json()["result"]
    assert {v[0] for v in after["latest"].values()} == {result["id"]}
    assert after["history"] == {c: n + 1 for c, n in before["history"].items() if n} | {
        c: n for c, n in before["history"].items() if not n
    }


def test_a_failure_in_a_middle_slice_leaves_the_previous_run_current_and_nothing_behind(
    demo, db, manager, factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    _sync_run(manager)
    before, rows = _readable(db, demo.id), _rows(db)
    real = scoring_service.stage_rescore
    staged: list[int] = []

    def fail_third(session: Session, *args: Any, **kw: Any) -> int:
        if len(staged) == 2:
            raise RuntimeError("disk on fire")
        staged.append(real(session, *args, **kw))
        return staged[-1]

    monkeypatch.setattr(scoring_service, "stage_rescore", fail_third)
    job = _start(manager, "/api/v1/scoring-runs", {})
    jobs.run_next(factory)
    failed = manager.get(f"/api/v1/jobs/{job['id']}").json()
    assert failed["status"] == "failed" and failed["error"]["code"] == "job_failed"
    assert len(staged) == 2 and all(staged)  # two slices had been stored
    assert _readable(db, demo.id) == before
    assert _rows(db) == rows  # the failure path deleted the run and its staged rows


def test_a_cancel_between_slices_leaves_nothing(demo, db, manager, factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _sync_run(manager)
    before, rows = _readable(db, demo.id), _rows(db)
    job = _start(manager, "/api/v1/scoring-runs", {})

    def cancel(n: int) -> None:
        if n == 2:
            assert manager.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 200

    _spy_stage(monkeypatch, cancel)
    jobs.run_next(factory)
    assert manager.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "cancelled"
    assert _readable(db, demo.id) == before
    assert _rows(db) == rows


class _Died(BaseException):
    """The worker's process stops here: no failure path runs."""


def _die_after(monkeypatch: pytest.MonkeyPatch, transactions: int) -> None:
    def die(n: int) -> None:
        if n == transactions:
            raise _Died

    _spy_stage(monkeypatch, die)


def _attempt_that_dies(factory: sessionmaker[Session], job_id: int) -> None:
    """As a worker that claimed the job, staged some slices and died."""
    with unit_of_work(factory) as s:
        job = job_repo.claim_next(s, "dead-host:1:t", sorted(jobs.KINDS))
        assert job is not None and job.id == job_id
        s.expunge(job)
    try:
        with pytest.raises(_Died):
            kinds.scoring_run(jobs.JobContext(factory, job))
    finally:
        # The process is gone, and with it what it knew of its running jobs.
        with jobs._LIVE_LOCK:
            jobs._LIVE.pop(job_id, None)


def test_a_job_that_died_midway_leaves_rows_nobody_reads_which_the_reaper_removes_then_stores_once(
    demo, db, manager, factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    _sync_run(manager)
    before, rows = _readable(db, demo.id), _rows(db)
    job = _start(manager, "/api/v1/scoring-runs", {})
    with monkeypatch.context() as m:
        _die_after(m, 3)
        _attempt_that_dies(factory, job["id"])
    # Orphans: a run still storing, with scores, model scores and staged snapshots...
    orphans = _rows(db)
    assert orphans["scoring_runs"] == rows["scoring_runs"] + 1
    assert orphans["customer_scores"] > rows["customer_scores"]
    assert orphans["model_scores"] > rows["model_scores"]
    assert orphans["staged_indicator_snapshots"] > 0
    # ...that no reader reads.
    assert _readable(db, demo.id) == before
    db.execute(
        update(Job).where(Job.id == job["id"]).values(heartbeat_at=utcnow() - dt.timedelta(hours=1))
    )
    db.commit()
    assert jobs.reap_lost(factory, grace_seconds=60) == [job["id"]]
    assert _rows(db) == rows  # the reaper removed them
    assert jobs.run_next(factory) == job["id"]
    done = manager.get(f"/api/v1/jobs/{job['id']}").json()
    assert (done["status"], done["attempts"]) == ("done", 2)
    after = _rows(db)
    assert after["scoring_runs"] == rows["scoring_runs"] + 1
    assert after["customer_scores"] - rows["customer_scores"] == done["result"]["customers"]
    assert after["staged_indicator_snapshots"] == 0


def test_a_rerun_discards_what_an_earlier_attempt_staged_and_stores_once(
    demo, db, manager, factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    _sync_run(manager)
    rows = _rows(db)
    job = _start(manager, "/api/v1/scoring-runs", {})
    with monkeypatch.context() as m:
        _die_after(m, 2)
        _attempt_that_dies(factory, job["id"])
    # Queued again without the reaper's cleanup (say, by hand): the attempt discards first.
    db.execute(update(Job).where(Job.id == job["id"]).values(status="queued"))
    db.commit()
    assert jobs.run_next(factory) == job["id"]
    assert manager.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "done"
    result = manager.get(f"/api/v1/jobs/{job['id']}").json()["result"]
    after = _rows(db)
    assert after["scoring_runs"] == rows["scoring_runs"] + 1
    assert after["customer_scores"] - rows["customer_scores"] == result["customers"]
    assert after["staged_indicator_snapshots"] == 0
    assert db.scalar(select(func.count()).where(ScoringRun.status != "done")) == 0
    # Running again finds nothing queued: stored exactly once.
    assert jobs.run_next(factory) is None
    assert _rows(db) == after


def test_a_customer_changed_after_their_slice_keeps_the_newer_values(
    demo, db, manager, factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    _sync_run(manager)
    first = db.scalar(select(CreditProfile.customer_id).order_by(CreditProfile.customer_id))
    profile = db.get(CreditProfile, first)
    assert profile is not None
    kept_profile = (profile.score, profile.rating, profile.risk_tier)
    moved = utcnow()

    def event_lands(n: int) -> None:
        if n == 2:  # the first slice (with this customer) is staged: their events come in
            with unit_of_work(factory) as s:
                s.execute(
                    update(IndicatorSnapshot)
                    .where(IndicatorSnapshot.customer_id == first)
                    .values(computed_at=moved, values={"marker": 1.0})
                )

    _spy_stage(monkeypatch, event_lands)
    job = _start(manager, "/api/v1/scoring-runs", {})
    jobs.run_next(factory)
    result = manager.get(f"/api/v1/jobs/{job['id']}").json()["result"]
    db.expire_all()
    snapshot = db.get(IndicatorSnapshot, first)
    assert snapshot is not None and snapshot.values == {"marker": 1.0}
    latest = scoring_repo.latest_scores(db, [first])[first]
    assert latest.run_id != result["id"]
    profile = db.get(CreditProfile, first)
    assert profile is not None
    assert (profile.score, profile.rating, profile.risk_tier) == kept_profile
    assert (
        db.scalar(
            select(func.count()).where(
                CustomerScore.run_id == result["id"], CustomerScore.customer_id == first
            )
        )
        == 0
    )


def test_a_customer_changed_after_their_slice_was_applied_keeps_both(
    demo, db, manager, factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """An event after the run made a customer's indicators current replaces those indicators,
    as any later event does; the run's score for them (computed from what was current at its
    read) stays, and their profile takes it."""
    _sync_run(manager)
    first = db.scalar(select(CreditProfile.customer_id).order_by(CreditProfile.customer_id))
    moved = utcnow()

    def event_lands(n: int) -> None:
        if PHASES[-1] == "applying" and PHASES.count("applying") == 1:
            with unit_of_work(factory) as s:  # the first slice (with this customer) is applied
                s.execute(
                    update(IndicatorSnapshot)
                    .where(IndicatorSnapshot.customer_id == first)
                    .values(computed_at=moved, values={"marker": 1.0})
                )

    _spy_stage(monkeypatch, event_lands)
    job = _start(manager, "/api/v1/scoring-runs", {})
    jobs.run_next(factory)
    result = manager.get(f"/api/v1/jobs/{job['id']}").json()["result"]
    db.expire_all()
    snapshot = db.get(IndicatorSnapshot, first)
    assert snapshot is not None and snapshot.values == {"marker": 1.0}
    latest = scoring_repo.latest_scores(db, [first])[first]
    assert latest.run_id == result["id"]
    profile = db.get(CreditProfile, first)
    assert profile is not None
    assert (profile.score, profile.rating, profile.risk_tier) == (
        latest.score,
        latest.rating,
        latest.risk_tier,
    )


def _profiles_match_latest(db: Session) -> bool:
    db.expire_all()
    profiles = list(db.scalars(select(CreditProfile)))
    latest = scoring_repo.latest_scores(db, [p.customer_id for p in profiles])
    return all(
        (p.score, p.rating, p.risk_tier, p.scored_at)
        == (s.score, s.rating, s.risk_tier, s.scored_at)
        for p in profiles
        if (s := latest.get(p.customer_id)) is not None
    )


def test_a_process_lost_after_the_run_is_current_leaves_profiles_the_reaper_copies(
    demo, db, manager, factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    _sync_run(manager)
    assert _profiles_match_latest(db)
    real = scoring_service.copy_profiles
    copied: list[int] = []

    def copy_one_slice_then_die(*args: Any, **kwargs: Any) -> None:
        if copied:
            raise _Died
        real(*args, **kwargs)
        copied.append(1)

    job = _start(manager, "/api/v1/scoring-runs", {})
    with monkeypatch.context() as m:
        m.setattr(scoring_service, "copy_profiles", copy_one_slice_then_die)
        with pytest.raises(_Died):
            jobs.run_next(factory)
    # The job and its run are done (one commit); the profiles past the first slice are behind.
    assert manager.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "done"
    run_id, behind = scoring_service.profiles_behind(db)
    assert run_id == manager.get("/api/v1/scoring-runs").json()[0]["id"]
    customers = db.scalar(select(func.count()).select_from(CreditProfile)) or 0
    assert SLICE < len(behind) <= customers - SLICE
    assert not _profiles_match_latest(db)
    # The reaper's pass copies them, once, and records the run's profiles copied: the next
    # pass reads the run's row and nothing else.
    jobs.recover(factory)
    assert scoring_service.profiles_behind(db) == (None, [])
    assert _profiles_match_latest(db)
    assert scoring_repo.profiles_behind(db, run_id) == []
    with monkeypatch.context() as m:
        m.setattr(scoring_repo, "profiles_behind", _must_not_read_profiles)
        assert kinds.recover_scoring_run(factory) == 0


def _must_not_read_profiles(*args: Any) -> list[int]:
    raise AssertionError("the reaper read the profiles of a run recorded as copied")


def test_the_reaper_reads_no_profiles_once_a_run_copied_them(
    demo, db, manager, factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A run's last profile slice records it copied, on the job's path and the one
    transaction's path, so each reaper pass costs one row's read, whatever the customers."""
    _sync_run(manager)
    job = _start(manager, "/api/v1/scoring-runs", {})
    jobs.run_next(factory)
    assert manager.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "done"
    db.expire_all()
    runs = list(db.scalars(select(ScoringRun).order_by(ScoringRun.id)))
    assert len(runs) >= 2 and all(r.profiles_copied_at is not None for r in runs[-2:])
    with monkeypatch.context() as m:
        m.setattr(scoring_repo, "profiles_behind", _must_not_read_profiles)
        jobs.recover(factory)
        assert scoring_service.profiles_behind(db) == (None, [])


def test_the_last_transaction_writes_no_row_per_customer(
    demo, db, manager, factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The transaction that makes a run current does not grow with its customers: it writes
    the run, the job and the audit entry, and deletes scores only of customers changed since
    their slice (none here); profiles and indicators are written in slices around it."""
    from sqlalchemy import event

    _sync_run(manager)
    statements: list[str] = []
    real = scoring_service.finish_rescore

    def watched(session: Session, *args: Any, **kw: Any) -> Any:
        def seen(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
            statements.append(" ".join(statement.split()).lower())

        bind = session.connection()
        event.listen(bind, "before_cursor_execute", seen)
        try:
            return real(session, *args, **kw)
        finally:
            event.remove(bind, "before_cursor_execute", seen)

    monkeypatch.setattr(scoring_service, "finish_rescore", watched)
    job = _start(manager, "/api/v1/scoring-runs", {})
    jobs.run_next(factory)
    assert manager.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "done"
    assert statements
    writes = [s for s in statements if s.startswith(("update", "insert", "delete"))]
    assert writes and all(
        table not in s
        for s in writes
        for table in ("credit_profiles", "indicator_snapshots", "customer_scores", "model_scores")
    ), writes
    assert not any("staged_indicator_snapshots" in s for s in statements)


def test_a_consent_withdrawn_while_the_run_is_applied_keeps_its_score_out(
    demo, db, manager, factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.models import Customer

    _sync_run(manager)
    person = db.scalar(
        select(Customer.id)
        .join(CustomerScore, CustomerScore.customer_id == Customer.id)
        .where(Customer.kind == "individual")
        .order_by(Customer.id.desc())
    )
    assert person is not None

    def withdraw(n: int) -> None:
        if PHASES[-1] == "applying" and PHASES.count("applying") == 1:
            answer = manager.post(
                f"/api/v1/customers/{person}/consents",
                json={"purpose": "credit_assessment", "granted": False, "notice_version": "1"},
            )
            assert answer.status_code in (200, 201), answer.text

    _spy_stage(monkeypatch, withdraw)
    job = _start(manager, "/api/v1/scoring-runs", {})
    jobs.run_next(factory)
    result = manager.get(f"/api/v1/jobs/{job['id']}").json()["result"]
    for table in (CustomerScore, ModelScore):
        assert (
            db.scalar(
                select(func.count()).where(
                    table.run_id == result["id"], table.customer_id == person
                )
            )
            == 0
        )
    others = db.scalar(select(func.count()).where(CustomerScore.run_id == result["id"]))
    assert others == result["customers"]
