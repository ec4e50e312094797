"""API of scorecards, scoring runs and customers' scores."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from riskdesk.db import SessionDep, begin_store, reads_first, snapshot
from riskdesk.jobs.deps import ACCEPTED, start_job, wants_async
from riskdesk.kit.timeutil import today
from riskdesk.kit.validation import PathId
from riskdesk.models import CustomerScore, Scorecard, ScorecardVersion
from riskdesk.scoring import registry, service
from riskdesk.scoring import repository as repo
from riskdesk.scoring.schemas import (
    DecisionIn,
    ModelDetail,
    ModelRead,
    ModelScoreRead,
    ReasonRead,
    RunIn,
    RunRead,
    ScorecardCreate,
    ScorecardRead,
    ScoreRead,
    TrainFromHistory,
    VersionCreate,
    VersionRead,
)
from riskdesk.security.deps import (
    CanChangesApprove,
    CanCustomersRead,
    CanScoringManage,
)
from riskdesk.security.permissions import Permission

router = APIRouter(tags=["scoring"])

Code = Annotated[str, Path(max_length=64)]


def _card(card: Scorecard, versions: list[ScorecardVersion]) -> ScorecardRead:
    return ScorecardRead(
        code=card.code,
        name=card.name,
        customer_kind=card.customer_kind,
        segments=card.segments,
        priority=card.priority,
        versions=[VersionRead.model_validate(v) for v in versions],
    )


def _scores(session: Session, scores: list[CustomerScore]) -> list[ScoreRead]:
    versions = repo.versions_by_id(session, sorted({s.scorecard_version_id for s in scores}))
    cards = {c.id: c.code for c in repo.scorecards(session)}
    return [
        ScoreRead(
            customer_id=s.customer_id,
            score=s.score,
            rating=s.rating,
            risk_tier=s.risk_tier,
            as_of=s.as_of,
            scored_at=s.scored_at,
            scorecard=cards[versions[s.scorecard_version_id].scorecard_id],
            version=versions[s.scorecard_version_id].version,
            reasons=[ReasonRead.model_validate(r) for r in s.reasons],
            factors=s.factors,
        )
        for s in scores
    ]


@router.get("/scorecards", response_model=list[ScorecardRead])
def list_scorecards(session: SessionDep, _: CanCustomersRead) -> list[ScorecardRead]:
    """Every scorecard with its versions."""
    return [_card(c, v) for c, v in service.list_scorecards(session)]


@router.post(
    "/scorecards",
    response_model=ScorecardRead,
    status_code=201,
    responses={200: {"description": "the same scorecard was already created"}},
)
def create_scorecard(
    body: ScorecardCreate, session: SessionDep, principal: CanScoringManage, response: Response
) -> ScorecardRead:
    """Create a scorecard; its first version is a draft until a second person approves it."""
    card, _, created = service.create_scorecard(session, principal, body)
    if not created:
        response.status_code = 200
    return _card(*service.get_scorecard(session, card.code))


@router.get("/scorecards/{code}", response_model=ScorecardRead)
def get_scorecard(code: Code, session: SessionDep, _: CanCustomersRead) -> ScorecardRead:
    """One scorecard with its versions, newest first."""
    return _card(*service.get_scorecard(session, code))


@router.post(
    "/scorecards/{code}/versions",
    response_model=VersionRead,
    status_code=201,
    responses={200: {"description": "the same draft already exists"}},
)
def add_version(
    code: Code,
    body: VersionCreate,
    session: SessionDep,
    principal: CanScoringManage,
    response: Response,
) -> VersionRead:
    """A new draft version; it goes live only when a second person approves it."""
    version, created = service.add_version(session, principal, code, body)
    if not created:
        response.status_code = 200
    return VersionRead.model_validate(version)


@router.put("/scorecard-versions/{version_id}", response_model=VersionRead)
def edit_draft(
    version_id: PathId, body: VersionCreate, session: SessionDep, principal: CanScoringManage
) -> VersionRead:
    """Change a draft version."""
    return VersionRead.model_validate(service.edit_draft(session, principal, version_id, body))


@router.post("/scorecard-versions/{version_id}/approve", response_model=VersionRead)
def approve_version(
    version_id: PathId, body: DecisionIn, session: SessionDep, principal: CanChangesApprove
) -> VersionRead:
    """Approve a draft (not one's own): it becomes active and the previous version retires."""
    return VersionRead.model_validate(service.approve(session, principal, version_id, body.comment))


@router.post("/scorecard-versions/{version_id}/reject", response_model=VersionRead)
def reject_version(
    version_id: PathId, body: DecisionIn, session: SessionDep, principal: CanScoringManage
) -> VersionRead:
    """Reject a draft, or withdraw one's own."""
    return VersionRead.model_validate(service.reject(session, principal, version_id, body.comment))


@router.post("/scoring-runs", response_model=RunRead, status_code=201, responses=ACCEPTED)
@reads_first
def run_scoring(
    body: RunIn, session: SessionDep, principal: CanScoringManage, request: Request
) -> RunRead | JSONResponse:
    """Recompute every customer's indicators and score everyone with the active scorecards
    (computed from one snapshot with no lock held, then stored in a short write). With
    ``Prefer: respond-async``: a job (202), whose result is this answer."""
    if wants_async(request):
        return start_job(
            session,
            principal,
            kind="scoring_run",
            permission=Permission.SCORING_MANAGE,
            parameters=body.model_dump(mode="json"),
        )
    with snapshot(session):
        plan = service.plan_rescore(session, as_of=body.as_of)
    begin_store(session)
    summary = service.store_rescore(session, plan, principal, trigger="manual")
    assert summary.run_id is not None
    return RunRead.model_validate(repo.get_run(session, summary.run_id))


@router.get("/scoring-runs", response_model=list[RunRead])
def list_runs(
    session: SessionDep,
    _: CanCustomersRead,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[RunRead]:
    """The latest scoring runs."""
    return [RunRead.model_validate(r) for r in repo.runs(session, limit)]


@router.post("/customers/{customer_id}/score", response_model=ScoreRead, status_code=201)
def score_customer(
    customer_id: PathId, session: SessionDep, principal: CanScoringManage
) -> ScoreRead:
    """Score one customer now from their stored indicators."""
    return _scores(session, [service.score_one_customer(session, principal, customer_id)])[0]


@router.get("/customers/{customer_id}/scores", response_model=list[ScoreRead])
def score_history(
    customer_id: PathId,
    session: SessionDep,
    principal: CanCustomersRead,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ScoreRead]:
    """A customer's scores with their reasons, newest first."""
    return _scores(session, service.history(session, principal, customer_id, limit))


@router.get("/scorecard-versions/{version_id}/preview")
def preview_version(version_id: PathId, session: SessionDep, _: CanCustomersRead) -> dict[str, Any]:
    """Ratings and tiers the version would give today, beside the current ones (not stored)."""
    return service.preview(session, version_id)


@router.get("/models", response_model=list[ModelRead])
def list_models(session: SessionDep, _: CanCustomersRead) -> list[ModelRead]:
    """Every model version, newest first."""
    return [ModelRead.model_validate(m) for m in registry.list_models(session)]


@router.post(
    "/models/train-from-history", response_model=ModelDetail, status_code=201, responses=ACCEPTED
)
@reads_first
def train_from_history(
    body: TrainFromHistory, session: SessionDep, principal: CanScoringManage, request: Request
) -> ModelDetail | JSONResponse:
    """Train on the company's own history: features as of the observation date, bad = an
    invoice due in the following window went 90+ days past due. Stored as a challenger.

    The fit takes from seconds to minutes and holds no lock: other requests, orders and
    credit checks included, write meanwhile. With ``Prefer: respond-async``: a job (202),
    whose result is this answer."""
    if wants_async(request):
        return start_job(
            session,
            principal,
            kind="model_training",
            permission=Permission.SCORING_MANAGE,
            parameters=body.model_dump(mode="json"),
        )
    observation = body.observation_date or today() - dt.timedelta(days=body.horizon_days)
    with snapshot(session):
        X, y, _ = registry.history_dataset(session, observation, body.horizon_days)
    trained = registry.fit_model(
        principal,
        family=body.family,
        X=X,
        y=y,
        monotone=body.monotone,
        folds=body.folds,
        seed=body.seed,
    )
    begin_store(session)
    version = registry.store_model(
        session,
        principal,
        trained,
        name=body.name,
        data_source=f"history as of {observation}",
        target=f"90+ days past due within {body.horizon_days} days",
        observation=observation,
        horizon_days=body.horizon_days,
    )
    return ModelDetail.model_validate(version)


@router.get("/models/{version_id}", response_model=ModelDetail)
def get_model(version_id: PathId, session: SessionDep, _: CanCustomersRead) -> ModelDetail:
    """One model version with its points table."""
    return ModelDetail.model_validate(registry.get_model(session, version_id))


@router.post("/models/{version_id}/promote", response_model=ModelRead)
def promote(version_id: PathId, session: SessionDep, principal: CanScoringManage) -> ModelRead:
    """Ask for a challenger to become champion; a second person approves."""
    return ModelRead.model_validate(registry.request_promotion(session, principal, version_id))


@router.post("/models/{version_id}/approve-promotion", response_model=ModelRead)
def approve_promotion(
    version_id: PathId, session: SessionDep, principal: CanChangesApprove
) -> ModelRead:
    """Make the challenger champion (not if you asked for it or trained it)."""
    return ModelRead.model_validate(registry.approve_promotion(session, principal, version_id))


@router.get("/models/{version_id}/monitoring")
def monitoring(
    version_id: PathId,
    session: SessionDep,
    _: CanCustomersRead,
    months: Annotated[int, Query(ge=1, le=36)] = 12,
) -> dict[str, Any]:
    """PSI of the score and each feature against training; AUC and KS by month on matured
    outcomes."""
    return registry.monitor(session, version_id, months=months)


@router.get("/customers/{customer_id}/model-scores", response_model=list[ModelScoreRead])
def model_scores(
    customer_id: PathId,
    session: SessionDep,
    principal: CanCustomersRead,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ModelScoreRead]:
    """Champion and challenger scores of a customer, newest first."""
    return [
        ModelScoreRead(
            model=name,
            version=version,
            status=status,
            as_of=s.as_of,
            bad_probability=s.bad_probability,
            score=s.score,
        )
        for s, name, version, status in registry.scores_of(session, principal, customer_id, limit)
    ]
