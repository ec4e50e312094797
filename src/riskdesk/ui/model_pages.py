"""Scoring: the scorecards and their versions, scoring runs, and the model registry with
each model's monitoring and promotion."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from riskdesk.db import SessionDep
from riskdesk.jobs import service as job_service
from riskdesk.kit.errors import ValidationFailed
from riskdesk.kit.validation import PathId
from riskdesk.scoring import registry
from riskdesk.scoring import service as scoring_service
from riskdesk.security import repository as users_repo
from riskdesk.security.deps import CanChangesApprove, CanCustomersRead, CanScoringManage
from riskdesk.security.permissions import Permission
from riskdesk.ui.i18n import pick_locale
from riskdesk.ui.render import indicator_label, render

router = APIRouter(include_in_schema=False)


@router.get("/scorecards", response_class=HTMLResponse)
def scorecards_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    done: Annotated[int | None, Query(ge=1)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """Scorecards, their versions, and drafts with a preview of what they would do."""
    cards = scoring_service.list_scorecards(session)
    drafts = [v for _, versions in cards for v in versions if v.status == "draft"]
    authors = {v.created_by_id for _, versions in cards for v in versions}
    return render(
        request,
        "scorecards.html",
        principal,
        cards=cards,
        previews={v.id: scoring_service.preview(session, v.id) for v in drafts},
        people={
            uid: (u.display_name if (u := users_repo.get_user(session, uid)) else "")
            for uid in authors
        },
        can_approve=principal.can(Permission.CHANGES_APPROVE),
        can_run=principal.can(Permission.SCORING_MANAGE),
        runs=scoring_service.recent_runs(session, 1),
        done=done,
        done_status=status if status in ("active", "rejected", "submitted") else None,
    )


@router.post("/scorecard-versions/{version_id}/{action}")
def decide_scorecard_version(
    version_id: PathId,
    action: str,
    session: SessionDep,
    principal: CanScoringManage,
    comment: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Approve (not one's own) or reject a scorecard draft."""
    if action == "approve":
        version = scoring_service.approve(session, principal, version_id, comment)
    elif action == "reject":
        version = scoring_service.reject(session, principal, version_id, comment)
    else:
        raise ValidationFailed(f"unknown action {action!r}", field="action")
    return RedirectResponse(
        f"/scorecards?done={version_id}&status={version.status}", status_code=303
    )


@router.post("/scoring-runs")
def run_scoring(session: SessionDep, principal: CanScoringManage) -> Response:
    """Recompute indicators and rescore everyone, as a background job: its page shows the
    progress and then the result."""
    job = job_service.enqueue(
        session,
        principal,
        kind="scoring_run",
        permission=Permission.SCORING_MANAGE,
        parameters={"as_of": None},
    )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


# PSI readings (as the page's hint says): below 0.1 stable, up to 0.25 watch, above shifted.
PSI_WATCH, PSI_SHIFTED = 0.1, 0.25
PSI_SCALE = 0.5  # the bars beside the values run from 0 to this (longer ones are capped)


def psi_band(value: float) -> str:
    """How a feature's PSI reads: stable, watch or shifted."""
    if value < PSI_WATCH:
        return "stable"
    return "watch" if value <= PSI_SHIFTED else "shifted"


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, session: SessionDep, principal: CanCustomersRead) -> Response:
    """The model registry."""
    return render(request, "models.html", principal, models=registry.list_models(session))


@router.get("/models/{version_id}", response_class=HTMLResponse)
def model_page(
    request: Request,
    version_id: PathId,
    session: SessionDep,
    principal: CanCustomersRead,
    done: Annotated[str | None, Query(pattern="^(requested|promoted)$")] = None,
) -> Response:
    """One model: validation, stability (PSI) and matured performance, as charts."""
    model = registry.get_model(session, version_id)
    monitoring = registry.monitor(session, version_id)
    worst = sorted(monitoring["feature_psi"].items(), key=lambda kv: -kv[1])[:15]
    model_locale = pick_locale(request, request.app.state.settings.default_locale)
    performance = monitoring["performance"]
    me = principal.user_id
    return render(
        request,
        "model.html",
        principal,
        m=model,
        monitoring=monitoring,
        done=done,
        # A table, not a chart: fifteen feature names read in full, each with its value.
        psi_rows=[
            (indicator_label(k, model_locale), v, psi_band(v), min(v / PSI_SCALE, 1.0))
            for k, v in worst
        ],
        performance_chart=json.dumps(
            {
                "dates": [p["month"] for p in performance],
                "series": {
                    "AUC": [p["auc"] for p in performance],
                    "KS": [p["ks"] for p in performance],
                },
                # One axis from 0 to 1: AUC and KS read against each other.
                "shared": True,
                "min": 0,
                "max": 1,
            }
        )
        if performance
        else None,
        can_promote=principal.can(Permission.SCORING_MANAGE)
        and model.status == "challenger"
        and model.promotion_requested_by_id is None,
        can_approve=principal.can(Permission.CHANGES_APPROVE)
        and model.status == "challenger"
        and model.promotion_requested_by_id not in (None, me)
        and model.created_by_id != me,
    )


@router.post("/models/{version_id}/promote")
def request_model_promotion(
    version_id: PathId, session: SessionDep, principal: CanScoringManage
) -> Response:
    """Ask for a challenger to become champion."""
    registry.request_promotion(session, principal, version_id)
    return RedirectResponse(f"/models/{version_id}?done=requested", status_code=303)


@router.post("/models/{version_id}/approve-promotion")
def approve_model_promotion(
    version_id: PathId, session: SessionDep, principal: CanChangesApprove
) -> Response:
    """Approve a promotion (not one's own request, not one's own model)."""
    registry.approve_promotion(session, principal, version_id)
    return RedirectResponse(f"/models/{version_id}?done=promoted", status_code=303)
