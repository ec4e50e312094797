"""Expected credit loss in the browser: the runs and adjustments (/ecl), and a run's report
(/ecl/runs/{id}): the provision matrix, roll rates, totals per segment, the movement against
the previous run and a chart of ECL by bucket."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from riskdesk.db import SessionDep
from riskdesk.ecl import service as ecl_service
from riskdesk.ecl.matrix import BUCKETS, PORTFOLIO
from riskdesk.ecl.schemas import ADJUSTABLE, AdjustmentIn, AdjustmentStatus, RunIn
from riskdesk.jobs import service as job_service
from riskdesk.kit.errors import ValidationFailed
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import today
from riskdesk.kit.validation import PathId, details_from_validation_error
from riskdesk.security import service as security_service
from riskdesk.security.deps import CanEclRead, CanEclRun
from riskdesk.security.permissions import Permission
from riskdesk.ui.i18n import Translator, pick_locale
from riskdesk.ui.render import render

router = APIRouter(include_in_schema=False)
TOP_CUSTOMERS = 20


def _invalid(exc: ValidationError) -> ValidationFailed:
    """A form's wrong fields as the error the pages render, naming each."""
    details = details_from_validation_error(exc)
    return ValidationFailed(
        details[0].reason if details else "invalid form",
        field=details[0].field if details else None,
        details=details,
    )


def _people(session: SessionDep) -> dict[int, str]:
    return {u.id: u.display_name or u.username for u in security_service.list_users(session)}


@router.get("/ecl", response_class=HTMLResponse)
def ecl_page(
    request: Request,
    session: SessionDep,
    principal: CanEclRead,
    done: Annotated[str | None, Query(pattern="^(proposed|approved|rejected)$")] = None,
) -> Response:
    """The stored runs, the forward-looking adjustments, and (for those allowed) a new run."""
    return render(
        request,
        "ecl.html",
        principal,
        runs=ecl_service.list_runs(session),
        adjustments=ecl_service.list_adjustments(session),
        people=_people(session),
        segments=ADJUSTABLE,
        can_run=principal.can(Permission.ECL_RUN),
        default_as_of=today(),
        done=done,
        proposed=AdjustmentStatus.PROPOSED,
    )


@router.post("/ecl/runs")
def start_run(
    session: SessionDep,
    principal: CanEclRun,
    as_of: Annotated[str | None, Form(max_length=10)] = None,
    lookback_months: Annotated[str, Form(max_length=3)] = "24",
) -> Response:
    """Compute and store a run as a background job; its page follows the progress."""
    try:
        body = RunIn.model_validate({"as_of": as_of or None, "lookback_months": lookback_months})
    except ValidationError as exc:
        raise _invalid(exc) from None
    job = job_service.enqueue(
        session,
        principal,
        kind="ecl_run",
        permission=Permission.ECL_RUN,
        parameters=body.model_dump(mode="json"),
    )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.post("/ecl/adjustments")
def propose_adjustment(
    session: SessionDep,
    principal: CanEclRun,
    segment: Annotated[str, Form(max_length=64)],
    multiplier: Annotated[str, Form(max_length=16)],
    reason: Annotated[str, Form(max_length=4000)],
) -> Response:
    """Propose a forward-looking multiplier; a second person decides it."""
    try:
        body = AdjustmentIn.model_validate(
            {"segment": segment, "multiplier": multiplier, "reason": reason}
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    ecl_service.propose_adjustment(session, principal, body)
    return RedirectResponse("/ecl?done=proposed", status_code=303)


@router.post("/ecl/adjustments/{adjustment_id}/{action}")
def decide_adjustment(
    adjustment_id: PathId,
    action: str,
    session: SessionDep,
    principal: CanEclRun,
    comment: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Approve (not one's own) or reject a proposed adjustment."""
    if action not in ("approve", "reject"):
        raise ValidationFailed(f"unknown action {action!r}", field="action")
    found = ecl_service.decide_adjustment(
        session, principal, adjustment_id, approve=action == "approve", comment=comment or None
    )
    return RedirectResponse(f"/ecl?done={found.status}", status_code=303)


def _chart(rows: list[Any], labels: list[str]) -> str:
    values = [round(float(r.ecl), 2) for r in rows]
    return json.dumps({"labels": labels, "values": values}, ensure_ascii=False)


@router.get("/ecl/runs/{run_id}", response_class=HTMLResponse)
def run_page(
    request: Request,
    run_id: PathId,
    session: SessionDep,
    principal: CanEclRead,
    segment: Annotated[str, Query(max_length=64)] = PORTFOLIO,
) -> Response:
    """A run's report for the portfolio or one segment."""
    run = ecl_service.get_run_or_raise(session, run_id)
    detail = ecl_service.run_detail(session, run)
    shown = sorted({r.segment for r in detail.matrix}, key=lambda s: (s != PORTFOLIO, s))
    if segment not in shown:
        raise ValidationFailed(f"the run has no segment {segment!r}", field="segment")
    rows = [r for r in detail.matrix if r.segment == segment]
    # The roll rates a segment uses: its own, or the portfolio's when it fell back.
    roll_rows = [r for r in detail.matrix if r.segment == rows[0].rates_from]
    moves = [m for m in detail.movement if m.segment == segment]
    history: dict[dt.date, dict[str, Any]] = {}
    for m in detail.month_end_balances:
        if m.segment == segment:
            history.setdefault(m.date, {})[m.bucket] = m.balance
    customers = ecl_service.customer_page(
        session, run, None if segment == PORTFOLIO else segment, PageParams(1, TOP_CUSTOMERS)
    )
    t = Translator(pick_locale(request, request.app.state.settings.default_locale))
    labels = [t("ecl.short." + b) for b in BUCKETS]
    return render(
        request,
        "ecl_run.html",
        principal,
        run=detail,
        segment=segment,
        segments=shown,
        rows=rows,
        roll_rows=roll_rows,
        moves=moves,
        history=sorted(history.items()),
        buckets=BUCKETS,
        customers=customers,
        chart=_chart(rows, labels),
        totals={
            "balance": sum((r.balance for r in rows), start=rows[0].balance * 0),
            "ecl": sum((r.ecl for r in rows), start=rows[0].ecl * 0),
        },
        people=_people(session),
    )
