"""The model registry: train on the company's history or a labelled file, store versions with
their metrics, score customers with champion and challengers, promote with four eyes, and watch
stability (PSI) and performance on matured outcomes.

Only the champion decides: its score is what a scorecard factor of source ``model`` reads.
Challengers are scored and stored beside it, for comparison.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from riskdesk.indicators import repository as indicator_repo
from riskdesk.indicators.catalogue import NAMES
from riskdesk.indicators.compute import EventFrames, compute, defaults_in_window
from riskdesk.kit.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from riskdesk.kit.timeutil import month_ends, today, utcnow
from riskdesk.models import ModelVersion
from riskdesk.privacy import consent
from riskdesk.scoring import repository as repo
from riskdesk.scoring import steps
from riskdesk.scoring.factors import factor_frame
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal, ensure_second_person, ensure_still_allowed

ATTRIBUTES = repo.PLAIN_ATTRIBUTES
SCOREABLE = frozenset(NAMES) | frozenset(ATTRIBUTES)


_pandas = steps.as_pandas


def history_dataset(
    session: Session,
    observation: dt.date,
    horizon_days: int = 365,
    *,
    as_of: dt.date | None = None,
) -> tuple[Any, np.ndarray, list[int]]:
    """Features as of ``observation`` for customers who had bought by then, and the label:
    an invoice due within the next ``horizon_days`` went 90+ days past due."""
    as_of = as_of or today()
    end = observation + dt.timedelta(days=horizon_days)
    if end > as_of:
        raise ValidationFailed(
            f"the outcome window ends {end}, after today: choose an observation date on or "
            f"before {as_of - dt.timedelta(days=horizon_days)}",
            field="observation",
        )
    frames = indicator_repo.load_frames(session)
    indicators = compute(frames, observation).filter(pl.col("tenure_days").is_not_null())
    labels = defaults_in_window(frames, observation, end, as_of)
    attributes = repo.plain_attributes(session, None, observation)
    data = (
        indicators.join(attributes, on="customer_id", how="inner")
        .join(labels, on="customer_id", how="left")
        .with_columns(pl.col("bad").fill_null(False))
        .sort("customer_id")
    )
    if data.height == 0:
        raise ValidationFailed(
            f"no customer had bought by {observation}", field="observation", code="no_data"
        )
    X = _pandas(data.select(*NAMES, "kind", "segment"))
    return X, data["bad"].cast(pl.Int64).to_numpy(), data["customer_id"].to_list()


@dataclass(frozen=True)
class TrainedModel:
    """A model cross-validated and fitted, not stored yet."""

    family: str
    features: list[str]
    monotone: dict[str, int]
    metrics: dict[str, Any]
    artifact: dict[str, Any]
    points_table: list[dict[str, Any]] | None
    reference: dict[str, Any]
    rows: int
    bad_rate: float


def fit_model(
    principal: Principal,
    *,
    family: str,
    X: Any,
    y: np.ndarray,
    monotone: Mapping[str, int] | None = None,
    folds: int = 5,
    seed: int = 0,
) -> TrainedModel:
    """Cross-validate and fit on all rows: the long part of a training, which needs no
    database (so it runs with no transaction open; see db.snapshot)."""
    from riskdesk.scoring import modelling

    if not principal.can(Permission.SCORING_MANAGE):
        raise PermissionDenied("training models needs 'scoring:manage'")
    results = modelling.evaluate(X, y, folds=folds, seed=seed, families=[family], monotone=monotone)
    model = modelling.fit(family, X, y, seed=seed, monotone=monotone)
    p = model.predict_bad_probability(X)
    kinds = {f: modelling.column_kind(X[f]) for f in model.features}
    reference = {
        # The scores as stored (whole points): against unrounded training scores, a model
        # whose scores crowd near 1000 would show a shift that is only rounding.
        "score": modelling.reference_bins(model_score(p)),
        "features": {
            f: modelling.reference_bins(X[f].to_numpy(dtype=float))
            for f, kind in kinds.items()
            if kind != modelling.CATEGORICAL
        },
    }
    return TrainedModel(
        family=family,
        features=list(model.features),
        monotone=dict(monotone or {}),
        metrics=results[0].as_dict(),
        artifact=model.to_dict(),
        points_table=model.points_table() if hasattr(model, "points_table") else None,
        reference=reference,
        rows=len(y),
        bad_rate=float(np.mean(y)),
    )


STORE_ATTEMPTS = 3


def store_model(
    session: Session,
    principal: Principal,
    trained: TrainedModel,
    *,
    name: str,
    data_source: str,
    target: str,
    observation: dt.date | None = None,
    horizon_days: int | None = None,
) -> ModelVersion:
    """Store a fitted model as the next challenger version of its name: the short write.

    Re-checks what may have changed while the model was fitted: the caller may have lost the
    right to train, and another training of the same name may have stored a version since,
    so the number is taken here (and taken again if a concurrent store took it first)."""
    ensure_still_allowed(session, principal, Permission.SCORING_MANAGE)
    for attempt in range(1, STORE_ATTEMPTS + 1):
        version = ModelVersion(
            name=name,
            version=repo.next_model_version(session, name),
            family=trained.family,
            status="challenger",
            data_source=data_source,
            target=target,
            observation_date=observation,
            horizon_days=horizon_days,
            rows=trained.rows,
            bad_rate=trained.bad_rate,
            features=trained.features,
            monotone=trained.monotone,
            metrics=trained.metrics,
            artifact=trained.artifact,
            points_table=trained.points_table,
            reference=trained.reference,
            created_by_id=principal.user_id,
            created_at=utcnow(),
        )
        if repo.add_model_version(session, version) or attempt == STORE_ATTEMPTS:
            break
    if version.id is None:
        raise Conflict(
            f"model {name!r} gets new versions faster than they can be numbered; train again",
            field="name",
            code="version_taken",
        )
    return version


def train(
    session: Session,
    principal: Principal,
    *,
    name: str,
    family: str,
    X: Any,
    y: np.ndarray,
    data_source: str,
    target: str,
    observation: dt.date | None = None,
    horizon_days: int | None = None,
    monotone: Mapping[str, int] | None = None,
    folds: int = 5,
    seed: int = 0,
) -> ModelVersion:
    """Fit and store in the caller's transaction (fine for small data; a request or command
    over the whole history fits outside it: fit_model, then store_model)."""
    trained = fit_model(
        principal, family=family, X=X, y=y, monotone=monotone, folds=folds, seed=seed
    )
    return store_model(
        session,
        principal,
        trained,
        name=name,
        data_source=data_source,
        target=target,
        observation=observation,
        horizon_days=horizon_days,
    )


def scoreable(version: ModelVersion) -> bool:
    """True when every feature is something Riskdesk keeps for each customer."""
    return set(version.features) <= SCOREABLE


def _features_frame(
    session: Session,
    customer_ids: Sequence[int] | None,
    as_of: dt.date,
    indicators: pl.DataFrame | None,
) -> pl.DataFrame:
    return steps.features_of(factor_frame(session, customer_ids, as_of, {"indicator"}, indicators))


# The pure part of scoring with models (steps), under the names other code knows.
model_score = steps.model_score
ModelScores = steps.ModelScores
champion_frame = steps.champion_frame


def live_models(session: Session) -> list[steps.LiveModel]:
    """The champion and every challenger Riskdesk can feed, as scoring needs them."""
    return [
        steps.LiveModel(v.id, v.name, v.version, v.status == "champion", v.artifact)
        for v in repo.live_models(session)
        if scoreable(v)
    ]


def predict_customers(
    session: Session,
    customer_ids: Sequence[int] | None,
    *,
    as_of: dt.date,
    indicators: pl.DataFrame | None = None,
) -> list[ModelScores]:
    """The scores the champion and every challenger Riskdesk can feed give customers (read
    and compute only)."""
    models = live_models(session)
    if not models:
        return []
    frame = _features_frame(session, customer_ids, as_of, indicators)
    # Individuals who have not consented to credit assessment get no model score either.
    unassessed = consent.without_consent(session, "credit_assessment", customer_ids)
    if unassessed:
        frame = frame.filter(~pl.col("customer_id").is_in(sorted(unassessed)))
    return steps.predict_frame(models, frame)


def store_model_scores(
    session: Session,
    predictions: Sequence[ModelScores],
    *,
    as_of: dt.date,
    keep: set[int] | None = None,
    run_id: int | None = None,
) -> int:
    """Store computed model scores (only of the customers in ``keep``, when given; under a
    scoring run when given); how many."""
    now = utcnow()
    stored = 0
    for found in predictions:
        rows = [
            {
                "model_version_id": found.version_id,
                "customer_id": cid,
                "as_of": as_of,
                "scored_at": now,
                "bad_probability": float(pd_),
                "score": int(s),
                "run_id": run_id,
            }
            for cid, pd_, s in zip(
                found.customer_ids, found.bad_probability, found.score, strict=True
            )
            if keep is None or cid in keep
        ]
        repo.insert_model_scores(session, rows)
        stored += len(rows)
    return stored


def score_customers(
    session: Session,
    customer_ids: Sequence[int] | None,
    *,
    as_of: dt.date | None = None,
    indicators: pl.DataFrame | None = None,
) -> int:
    """Score customers with the champion and every challenger that Riskdesk can feed; how many
    scores were stored."""
    as_of = as_of or today()
    predictions = predict_customers(session, customer_ids, as_of=as_of, indicators=indicators)
    return store_model_scores(session, predictions, as_of=as_of)


def list_models(session: Session) -> list[ModelVersion]:
    """Every model version, newest first."""
    return repo.model_versions(session)


def get_model(session: Session, version_id: int) -> ModelVersion:
    """One model version."""
    version = repo.get_model_version(session, version_id)
    if version is None:
        raise NotFound(f"no model version {version_id}", field="version_id")
    return version


def request_promotion(session: Session, principal: Principal, version_id: int) -> ModelVersion:
    """Ask for a challenger to become champion; a second person approves."""
    version = get_model(session, version_id)
    if version.status != "challenger":
        raise Conflict(f"version {version_id} is {version.status}", code="not_a_challenger")
    if not scoreable(version):
        raise Conflict(
            "this model reads columns Riskdesk does not keep per customer; it cannot decide",
            code="not_scoreable",
        )
    version.promotion_requested_by_id = principal.user_id
    version.promotion_requested_at = utcnow()
    session.flush()
    return version


def approve_promotion(session: Session, principal: Principal, version_id: int) -> ModelVersion:
    """Make a challenger the champion of its name (four eyes); the old champion retires."""
    if not principal.can(Permission.CHANGES_APPROVE):
        raise PermissionDenied("approving a promotion needs 'changes:approve'")
    version = get_model(session, version_id)
    if version.status != "challenger" or version.promotion_requested_by_id is None:
        raise Conflict(f"version {version_id} awaits no promotion", code="no_promotion_requested")
    ensure_second_person(principal, version.promotion_requested_by_id)
    ensure_second_person(principal, version.created_by_id, "you trained this model")
    now = utcnow()
    for other in repo.model_versions(session, version.name):
        if other.status == "champion":
            other.status = "retired"
            other.retired_at = now
    version.status = "champion"
    version.promoted_by_id = principal.user_id
    version.promoted_at = now
    session.flush()
    return version


def monitor(session: Session, version_id: int, *, months: int = 12) -> dict[str, Any]:
    """Stability against training (PSI of the score and of each feature) and AUC / KS month by
    month on outcomes that have matured."""
    from riskdesk.scoring import modelling

    version = get_model(session, version_id)
    day = today()
    out: dict[str, Any] = {"version_id": version.id, "score_psi": None, "feature_psi": {}}
    psi, as_of = score_stability(session, version)
    if psi is not None:
        out["score_psi"], out["scores_as_of"] = psi, as_of
    if scoreable(version):
        frame = _features_frame(session, None, day, None)
        for feature, ref in version.reference.get("features", {}).items():
            if feature in frame.columns:
                current = frame[feature].cast(pl.Float64).fill_null(np.nan).to_numpy()
                out["feature_psi"][feature] = modelling.psi(
                    ref["shares"], modelling.bin_shares(current, ref["edges"])
                )
    out["performance"] = matured_performances(session, [version], day, months).get(version.id, [])
    return out


def score_stability(session: Session, version: ModelVersion) -> tuple[float | None, dt.date | None]:
    """PSI of a version's latest scores against its training scores, and their day (None, None
    before it scored anyone)."""
    from riskdesk.scoring import modelling

    latest = repo.latest_model_scores(session, version.id)
    if not latest:
        return None, None
    ref = version.reference["score"]
    psi = modelling.psi(ref["shares"], modelling.bin_shares(latest, ref["edges"]))
    return psi, repo.latest_model_as_of(session, version.id)


# The statuses whose performance is watched (scored at each run).
ACTIVE = ("champion", "challenger")
# Days past due that make a customer bad in a model's outcome window.
DEFAULT_DAYS = 90


def matured_performances(
    session: Session,
    versions: Sequence[ModelVersion],
    day: dt.date,
    months: int = 12,
    *,
    kept: Mapping[int, Sequence[dict[str, Any]]] | None = None,
    frames: EventFrames | None = None,
) -> dict[int, list[dict[str, Any]]]:
    """Each scoreable version's AUC and KS month by month, oldest first, on the month ends
    before ``day`` whose outcome window is over; one read of the history serves them all.
    A month found in ``kept`` (version id -> rows computed earlier) is reused, not recomputed;
    ``frames``: the whole history, when the caller has read it already."""
    from riskdesk.scoring import modelling

    todo = [v for v in versions if scoreable(v)]
    if not todo:
        return {}
    history: list[Any] = []  # the event frames and attributes, read when a month needs them
    out: dict[int, list[dict[str, Any]]] = {}
    for horizon in sorted({v.horizon_days or 365 for v in todo}):
        group = [v for v in todo if (v.horizon_days or 365) == horizon]
        models = {v.id: modelling.FittedModel.from_dict(v.artifact) for v in group}
        rows: dict[int, list[dict[str, Any]]] = {v.id: [] for v in group}
        # Month ends whose outcome window is over, newest first.
        for start in reversed(month_ends(day - dt.timedelta(days=horizon), months)):
            month = start.strftime("%Y-%m")
            # Only a month whose labels were final when kept: an invoice due near the end of
            # the outcome window is bad only once it is DEFAULT_DAYS late, so a month computed
            # sooner is computed again.
            reused = {
                v.id: found
                for v in group
                for found in (kept or {}).get(v.id, ())
                if found.get("month") == month and found.get("settled")
            }
            if len(reused) == len(group):
                for version_id, found in reused.items():
                    rows[version_id].append(found)
                continue
            if not history:
                history += [frames if frames is not None else indicator_repo.load_frames(session)]
                history += [repo.plain_attributes(session, None, day)]
            events, attributes = history
            data = (
                compute(events, start)
                .filter(pl.col("tenure_days").is_not_null())
                .join(attributes, on="customer_id")
                .join(
                    defaults_in_window(
                        events, start, start + dt.timedelta(days=horizon), day, days=DEFAULT_DAYS
                    ),
                    on="customer_id",
                    how="left",
                )
                .with_columns(pl.col("bad").fill_null(False))
            )
            if data.height == 0:
                break
            y = data["bad"].cast(pl.Int64).to_numpy()
            for version in group:
                if version.id in reused:
                    rows[version.id].append(reused[version.id])
                    continue
                entry: dict[str, Any] = {
                    "month": month,
                    # The labels can no longer change (see above).
                    "settled": day >= start + dt.timedelta(days=horizon + DEFAULT_DAYS),
                    # Out of time: features after the training snapshot (False: the model may
                    # have seen outcomes from this window while training).
                    "out_of_time": version.observation_date is not None
                    and start > version.observation_date,
                    "customers": data.height,
                    "bad_rate": float(y.mean()),
                    "auc": None,
                    "ks": None,
                }
                if 0 < y.sum() < len(y):
                    model = models[version.id]
                    p = model.predict_bad_probability(_pandas(data.select(model.features)))
                    entry["auc"] = modelling.auc(y, p)
                    entry["ks"] = modelling.ks(y, p)
                rows[version.id].append(entry)
        out |= {vid: list(reversed(found)) for vid, found in rows.items()}
    return out


def matured_due(
    session: Session, as_of: dt.date, *, frames: EventFrames | None = None
) -> dict[int, list[dict[str, Any]]]:
    """The matured performance of each active version whose kept figures are from a month
    before ``as_of``'s (or none). The first scoring run of a month computes the months whose
    labels could still change (their window ended less than DEFAULT_DAYS ago, and the month
    that matured since: a window that ends mid-month is picked up by the next month's first
    run) and reuses the settled months as they were computed (the model's page recomputes
    every month from today's record); the month's later runs reuse them all."""
    month = (as_of.year, as_of.month)
    due = [
        v
        for v in list_models(session)
        if v.status in ACTIVE
        and (v.matured_as_of is None or (v.matured_as_of.year, v.matured_as_of.month) < month)
    ]
    kept = {v.id: v.matured_performance for v in due if v.matured_performance}
    return matured_performances(session, due, as_of, kept=kept, frames=frames)


def keep_matured(
    session: Session, performances: Mapping[int, list[dict[str, Any]]], *, as_of: dt.date
) -> None:
    """Keep computed matured performance on its versions (never over figures of the same or a
    later day, even when two runs store at once)."""
    for version_id, rows in performances.items():
        repo.keep_matured(session, version_id, rows, as_of=as_of)


def scores_of(
    session: Session, principal: Principal, customer_id: int, limit: int = 50
) -> list[Any]:
    """A customer's model scores, newest first."""
    from riskdesk.customers import service as customer_service

    customer_service.get_customer_or_raise(session, principal, customer_id)
    return repo.model_scores_of(session, customer_id, limit)
