"""The long operations that run as jobs, each in the three phases of db.py (read a snapshot,
compute holding nothing, store in one short transaction that also marks the job done). A
scoring run, whose store grows with the customers, stages it in short transactions first
(jobs.service, "stage") and makes it current in the last one.

Each answers with what its synchronous endpoint answers, as JSON, so a client gets the same
result either way. Registered from above (main, the worker command): the domains queue jobs
through jobs.service and never import this module.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import polars as pl
from pydantic_core import to_jsonable_python
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.alerts import service as alert_service
from riskdesk.alerts.schemas import AnomalyRunRead, EvaluationRead, RankedCustomer
from riskdesk.db import unit_of_work
from riskdesk.ecl import service as ecl_service
from riskdesk.ecl.schemas import RunIn as EclRunIn
from riskdesk.ecl.schemas import RunRead as EclRunRead
from riskdesk.indicators import service as indicator_service
from riskdesk.jobs.service import JobContext, JobKind, register
from riskdesk.kit.errors import ValidationFailed
from riskdesk.kit.timeutil import today
from riskdesk.monitoring import backtest, replay
from riskdesk.monitoring import service as monitoring_service
from riskdesk.monitoring.schemas import BacktestIn, ChurnFitRead, ReplayIn
from riskdesk.scoring import registry
from riskdesk.scoring import repository as scoring_repo
from riskdesk.scoring import service as scoring_service
from riskdesk.scoring.schemas import ModelDetail, RunIn, RunRead, TrainFromHistory
from riskdesk.security.permissions import Permission

log = logging.getLogger(__name__)

SCORING_RUN = "scoring_run"
MODEL_TRAINING = "model_training"
RULE_BACKTEST = "rule_backtest"
WARNING_REPLAY = "warning_replay"
CHURN_FIT = "churn_fit"
RULE_RUN = "rule_run"
ANOMALY_RUN = "anomaly_run"
ECL_RUN = "ecl_run"


def _json(value: Any) -> dict[str, Any]:
    found: dict[str, Any] = to_jsonable_python(value)
    return found


def scoring_run(ctx: JobContext) -> None:
    """Recompute everyone's indicators and score everyone (POST /scoring-runs).

    Every write is a short transaction of at most scoring_service.STORE_CHUNK customers, so an
    event intake waits for one of them at most (SQLite has one writer), whatever the number of
    customers: the run's scores are stored a slice at a time under a run no reader reads, then
    its indicators are made current a slice at a time, then one transaction of a size set by
    what changed meanwhile (not by the customers) marks the run done with the job, and the
    profiles take its scores a slice at a time after."""
    body = RunIn.model_validate(ctx.parameters)
    with ctx.reading("computing") as session:
        plan = scoring_service.plan_rescore(session, as_of=body.as_of)
    slices = scoring_service.store_slices(plan)

    def begin(session: Session) -> int:
        # What an earlier attempt of this job staged goes first: the job stores once.
        scoring_service.discard_staged(session, job_id=ctx.job_id)
        scoring_service.clear_applied(session)
        return scoring_service.begin_run(
            session, plan, ctx.principal(session), trigger="manual", job_id=ctx.job_id
        )

    run_id = ctx.stage(begin, 0, len(slices))
    for done, ids in enumerate(slices):

        def stage(session: Session, ids: list[int] = ids) -> int:
            return scoring_service.stage_rescore(session, plan, run_id, ids)

        ctx.stage(stage, done, len(slices))
    for done, ids in enumerate(slices):

        def apply(session: Session, ids: list[int] = ids) -> None:
            scoring_service.apply_rescore(session, run_id, ids)

        ctx.stage(apply, done, len(slices), phase="applying")

    def write(session: Session) -> dict[str, Any]:
        summary = scoring_service.finish_rescore(session, plan, run_id)
        assert summary.run_id is not None
        run = scoring_repo.get_run(session, summary.run_id)
        return RunRead.model_validate(run).model_dump(mode="json")

    ctx.store(write)
    # After the run is current, each in a short transaction: the profiles take its scores a
    # slice at a time (a process lost meanwhile leaves the rest to recover_scoring_run), and
    # the population the next events rank against is summarised from the indicators just
    # made current (one lost before leaves the previous summary, as good as a day old).
    try:
        _copy_profiles(ctx.factory, run_id, slices)
    except Exception:
        # The job is done and its run current: what is left is the reaper's to finish.
        log.exception("scoring run %s: profiles left for the reaper to copy", run_id)
        return
    with ctx.factory() as session:
        population = indicator_service.snapshots_population(session)
        session.rollback()
    with unit_of_work(ctx.factory) as session:
        indicator_service.keep_population(session, population, as_of=plan.as_of)


def _copy_profiles(factory: sessionmaker[Session], run_id: int, slices: list[list[int]]) -> None:
    for n, ids in enumerate(slices):
        with unit_of_work(factory) as session:
            scoring_service.copy_profiles(session, run_id, ids, last=n == len(slices) - 1)


def recover_scoring_run(factory: sessionmaker[Session]) -> int:
    """Copy the current run's scores onto the profiles a lost process left without them (it
    made the run current and stopped before its last slices); how many. Run by the reaper
    every pass: one row read when the current run's profiles are recorded copied, and safe
    beside a job copying the same run (the copy never goes over a newer score)."""
    with factory() as session:
        run_id, behind = scoring_service.profiles_behind(session)
        session.rollback()
    if run_id is not None:
        _copy_profiles(factory, run_id, scoring_service.slices_of(behind))
    return len(behind)


def _discard_scoring_run(session: Session, job_id: int) -> None:
    scoring_service.discard_staged(session, job_id=job_id)


def model_training(ctx: JobContext) -> None:
    """Train a challenger on the company's history (POST /models/train-from-history)."""
    body = TrainFromHistory.model_validate(ctx.parameters)
    observation = body.observation_date or today() - dt.timedelta(days=body.horizon_days)
    with ctx.reading() as session:
        principal = ctx.principal(session)
        X, y, _ = registry.history_dataset(session, observation, body.horizon_days)
    ctx.progress("computing", 1, 2)
    trained = registry.fit_model(
        principal,
        family=body.family,
        X=X,
        y=y,
        monotone=body.monotone,
        folds=body.folds,
        seed=body.seed,
    )
    ctx.progress("computing", 2, 2)

    def write(session: Session) -> dict[str, Any]:
        version = registry.store_model(
            session,
            ctx.principal(session),
            trained,
            name=body.name,
            data_source=f"history as of {observation}",
            target=f"90+ days past due within {body.horizon_days} days",
            observation=observation,
            horizon_days=body.horizon_days,
        )
        return ModelDetail.model_validate(version).model_dump(mode="json")

    ctx.store(write)


def rule_backtest(ctx: JobContext) -> None:
    """Backtest an expression over the history (POST /rules/backtest); stores nothing."""
    body = BacktestIn.model_validate(ctx.parameters)
    rule = monitoring_service.checked(body.expression)
    with ctx.reading("computing") as session:
        report = backtest.run(
            session, rule, months=body.months, horizon_days=body.horizon_days, outcome=body.outcome
        )
    ctx.store(lambda _: _json(report))


def warning_replay(ctx: JobContext) -> None:
    """Replay the warning pack over the history (POST /warning-replays)."""
    body = ReplayIn.model_validate(ctx.parameters)
    end = body.to or today()
    if body.from_ > end:
        raise ValidationFailed("from lies after to", field="from")
    with ctx.reading("computing") as session:
        if body.version_id is not None:
            compared = replay.compare(
                session,
                body.version_id,
                start=body.from_,
                end=end,
                every=body.every,
                horizon_days=body.horizon_days,
            )
        else:
            report = replay.run(
                session, start=body.from_, end=end, every=body.every, horizon_days=body.horizon_days
            )
    if body.version_id is not None:
        ctx.store(lambda _: _json(compared))
        return

    def write(session: Session) -> dict[str, Any]:
        report["backtest_id"] = replay.record(session, report, created_by_id=ctx.created_by_id).id
        return _json(report)

    ctx.store(write)


def churn_fit(ctx: JobContext) -> None:
    """Fit the churn model on every customer's purchases (POST /churn-fits)."""
    with ctx.reading("computing") as session:
        fit = monitoring_service.compute_churn_fit(session)
    ctx.store(
        lambda session: ChurnFitRead.model_validate(
            monitoring_service.store_churn_fit(session, fit)
        ).model_dump(mode="json")
    )


def _as_of(ctx: JobContext) -> dt.date | None:
    value = ctx.parameters.get("as_of")
    return dt.date.fromisoformat(value) if value else None


# Customers per short transaction of a rule or anomaly run's raising.
RAISE_CHUNK = 1000


def _raise_in_parts(
    ctx: JobContext,
    findings: monitoring_service.Findings,
    as_of: dt.date | None,
    summary: Callable[[int, int, int], dict[str, Any]],
) -> None:
    """Raise a run's findings part by part, each a short transaction (SQLite has one writer:
    an event intake waits for a part, not for the whole run); the last part commits with the
    job and its ``summary`` of (raised, refreshed, cleared).

    Unlike a scoring or ECL run's parts, each part is current once committed: its alerts are
    true findings on their own, notified and worked at once, and a job stopped between parts
    keeps them (raising again refreshes them, never duplicates)."""
    cut = monitoring_service.parts(findings, RAISE_CHUNK)
    totals = [0, 0, 0]

    def add(session: Session, part: monitoring_service.Findings) -> None:
        s = alert_service.raise_alerts(session, part, as_of=as_of)
        for n, value in enumerate((s.raised, s.refreshed, s.cleared)):
            totals[n] += value

    for done, part in enumerate(cut[:-1]):

        def stage(session: Session, part: monitoring_service.Findings = part) -> None:
            add(session, part)

        ctx.stage(stage, done, len(cut))

    def write(session: Session) -> dict[str, Any]:
        add(session, cut[-1])
        return summary(*totals)

    ctx.store(write)


def rule_run(ctx: JobContext) -> None:
    """Evaluate every active rule over everyone and raise alerts (POST /rule-runs)."""
    as_of = _as_of(ctx)
    with ctx.reading("computing") as session:
        findings = monitoring_service.find_rule_hits(session, None, as_of=as_of)

    def summary(raised: int, refreshed: int, cleared: int) -> dict[str, Any]:
        return EvaluationRead(
            customers=findings.customers, raised=raised, refreshed=refreshed, cleared=cleared
        ).model_dump(mode="json")

    _raise_in_parts(ctx, findings, as_of, summary)


def anomaly_run(ctx: JobContext) -> None:
    """Run the anomaly detectors over everyone and raise alerts (POST /anomaly-runs)."""
    p = ctx.parameters
    as_of = _as_of(ctx)
    with ctx.reading("computing") as session:
        findings, ranked = monitoring_service.find_anomalies(
            session, months=p["months"], z_threshold=p["z_threshold"], top=p["top"], as_of=as_of
        )

    def summary(raised: int, refreshed: int, _cleared: int) -> dict[str, Any]:
        return AnomalyRunRead(
            customers=findings.customers,
            raised=raised,
            refreshed=refreshed,
            ranking=[RankedCustomer.model_validate(r) for r in ranked],
        ).model_dump(mode="json")

    _raise_in_parts(ctx, findings, as_of, summary)


def ecl_run(ctx: JobContext) -> None:
    """Compute and store the provision matrix (POST /ecl/runs).

    The customers' rows are stored in parts of ecl_service.STORE_CHUNK, a short transaction
    each, under a run no reader reads until the last transaction marks it done with the job."""
    body = EclRunIn.model_validate(ctx.parameters)
    with ctx.reading("computing") as session:
        plan = ecl_service.plan_run(session, as_of=body.as_of, lookback_months=body.lookback_months)
    rows = ecl_service.customer_rows(plan)
    size = ecl_service.STORE_CHUNK
    parts = [rows.slice(start, size) for start in range(0, rows.height, size)]

    def begin(session: Session) -> int | None:
        return ecl_service.begin_staged(session, plan, ctx.principal(session), ctx.job_id)

    run_id = ctx.stage(begin, 0, len(parts))
    if run_id is not None:
        for done, part in enumerate(parts):

            def stage(session: Session, part: pl.DataFrame = part, run_id: int = run_id) -> None:
                ecl_service.store_customers(session, run_id, part)

            ctx.stage(stage, done, len(parts))

    def write(session: Session) -> dict[str, Any]:
        run, _ = ecl_service.finish_staged(session, plan, ctx.principal(session), run_id)
        # The summary only: the matrix is at /ecl/runs/{id}.
        return EclRunRead.model_validate(run).model_dump(mode="json")

    ctx.store(write)


def _discard_ecl_run(session: Session, job_id: int) -> None:
    ecl_service.discard_staged(session, job_id)


def register_all() -> None:
    """Make every long operation runnable by this process's job workers."""
    register(
        JobKind(
            SCORING_RUN,
            Permission.SCORING_MANAGE,
            scoring_run,
            _discard_scoring_run,
            recover=recover_scoring_run,
        )
    )
    register(JobKind(ECL_RUN, Permission.ECL_RUN, ecl_run, _discard_ecl_run))
    for name, permission, run in (
        (MODEL_TRAINING, Permission.SCORING_MANAGE, model_training),
        (RULE_BACKTEST, Permission.RULES_MANAGE, rule_backtest),
        (WARNING_REPLAY, Permission.RULES_MANAGE, warning_replay),
        (CHURN_FIT, Permission.RULES_MANAGE, churn_fit),
        (RULE_RUN, Permission.RULES_MANAGE, rule_run),
        (ANOMALY_RUN, Permission.RULES_MANAGE, anomaly_run),
    ):
        register(JobKind(name, permission, run))
