"""API of the expected credit loss: runs of the provision matrix and the forward-looking
adjustments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from riskdesk.db import SessionDep, begin_store, reads_first, snapshot
from riskdesk.ecl import service
from riskdesk.ecl.schemas import (
    ADJUSTABLE,
    AdjustmentIn,
    AdjustmentRead,
    CustomerResult,
    DecisionIn,
    RunDetail,
    RunIn,
    RunRead,
)
from riskdesk.jobs.deps import ACCEPTED, start_job, wants_async
from riskdesk.kit.errors import ValidationFailed
from riskdesk.kit.pagination import MAX_PAGE_SIZE, Page, PageParams
from riskdesk.kit.validation import PathId
from riskdesk.security.deps import CanEclRead, CanEclRun
from riskdesk.security.permissions import Permission

router = APIRouter(tags=["ecl"])
ECL_RUN_JOB = "ecl_run"


@router.post(
    "/ecl/runs",
    response_model=RunDetail,
    status_code=201,
    responses={
        200: {"model": RunDetail, "description": "the run with these inputs, stored before"},
        **ACCEPTED,
    },
)
@reads_first
def create_run(
    body: RunIn, session: SessionDep, principal: CanEclRun, request: Request, response: Response
) -> RunDetail | JSONResponse:
    """Compute the provision matrix as of a reporting date and store it (201), or answer the
    run already stored with the same inputs (200). Computed from one snapshot with no lock
    held, stored in a short write. With ``Prefer: respond-async``: a job (202)."""
    if wants_async(request):
        return start_job(
            session,
            principal,
            kind=ECL_RUN_JOB,
            permission=Permission.ECL_RUN,
            parameters=body.model_dump(mode="json"),
        )
    with snapshot(session):
        plan = service.plan_run(session, as_of=body.as_of, lookback_months=body.lookback_months)
    begin_store(session)
    run, created = service.store_run(session, plan, principal)
    response.status_code = 201 if created else 200
    return service.run_detail(session, run)


@router.get("/ecl/runs", response_model=list[RunRead])
def list_runs(
    session: SessionDep,
    _: CanEclRead,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[RunRead]:
    """The latest runs, newest reporting date first."""
    return [RunRead.model_validate(r) for r in service.list_runs(session, limit)]


@router.get("/ecl/runs/{run_id}", response_model=RunDetail)
def get_run(run_id: PathId, session: SessionDep, _: CanEclRead) -> RunDetail:
    """A run: the matrix per segment and bucket, its inputs, totals per segment, and the
    movement against the previous run."""
    return service.run_detail(session, service.get_run_or_raise(session, run_id))


@router.get("/ecl/runs/{run_id}/customers", response_model=Page[CustomerResult])
def run_customers(
    run_id: PathId,
    session: SessionDep,
    _: CanEclRead,
    segment: Annotated[str | None, Query(max_length=64)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Page[CustomerResult]:
    """A run's customers with their balances per bucket and ECL, largest ECL first."""
    if segment is not None and segment not in ADJUSTABLE:
        raise ValidationFailed(f"unknown segment {segment!r}", field="segment")
    return service.customer_page(
        session, service.get_run_or_raise(session, run_id), segment, PageParams(page, size)
    )


@router.get("/ecl/adjustments", response_model=list[AdjustmentRead])
def list_adjustments(session: SessionDep, _: CanEclRead) -> list[AdjustmentRead]:
    """Every forward-looking adjustment, newest first."""
    return [AdjustmentRead.model_validate(a) for a in service.list_adjustments(session)]


@router.post("/ecl/adjustments", response_model=AdjustmentRead, status_code=201)
def propose_adjustment(
    body: AdjustmentIn, session: SessionDep, principal: CanEclRun
) -> AdjustmentRead:
    """Propose a multiplier on a segment's historical loss rates, with its reason; it applies
    to runs once a second person approves it."""
    return AdjustmentRead.model_validate(service.propose_adjustment(session, principal, body))


@router.post("/ecl/adjustments/{adjustment_id}/approve", response_model=AdjustmentRead)
def approve_adjustment(
    adjustment_id: PathId, body: DecisionIn, session: SessionDep, principal: CanEclRun
) -> AdjustmentRead:
    """A second person approves a proposed adjustment (it replaces the segment's current)."""
    return AdjustmentRead.model_validate(
        service.decide_adjustment(
            session, principal, adjustment_id, approve=True, comment=body.comment
        )
    )


@router.post("/ecl/adjustments/{adjustment_id}/reject", response_model=AdjustmentRead)
def reject_adjustment(
    adjustment_id: PathId, body: DecisionIn, session: SessionDep, principal: CanEclRun
) -> AdjustmentRead:
    """A second person rejects a proposed adjustment."""
    return AdjustmentRead.model_validate(
        service.decide_adjustment(
            session, principal, adjustment_id, approve=False, comment=body.comment
        )
    )
