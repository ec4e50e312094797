"""The rules page: the rule editor with its live check, backtests and replays run as jobs,
and the approval and activation of rule versions."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from riskdesk.alerts import service as alert_service
from riskdesk.db import SessionDep
from riskdesk.jobs import service as job_service
from riskdesk.kit.errors import NotFound, RiskdeskError, ValidationFailed
from riskdesk.kit.timeutil import today
from riskdesk.kit.validation import PathId
from riskdesk.models import Job
from riskdesk.monitoring import service as monitoring_service
from riskdesk.monitoring.rules import RuleError, compile_rule
from riskdesk.monitoring.schemas import BacktestIn, ReplayIn, RuleIn
from riskdesk.security.deps import CanCustomersRead, CanRulesManage
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal
from riskdesk.ui.alert_pages import ALERT_CATEGORIES, WARNING_TYPES
from riskdesk.ui.forms import FormDep, filled, form_failure
from riskdesk.ui.i18n import Translator, pick_locale
from riskdesk.ui.render import render, rule_error_text

router = APIRouter(include_in_schema=False)


def _rules_page(
    request: Request,
    session: Any,
    principal: Any,
    *,
    status_code: int = 200,
    form_errors: list[tuple[str | None, str]] | None = None,
    form: dict[str, Any] | None = None,
    done: int | None = None,
) -> Response:
    return render(
        request,
        "rules.html",
        principal,
        status_code=status_code,
        rules=monitoring_service.list_rules(session),
        effectiveness={e["rule_code"]: e for e in alert_service.live_effectiveness(session)},
        categories=ALERT_CATEGORIES,
        warning_types=WARNING_TYPES,
        can_manage=principal.can(Permission.RULES_MANAGE),
        can_approve=principal.can(Permission.CHANGES_APPROVE),
        form_errors=form_errors or [],
        form=form or {},
        done=done,
    )


@router.get("/rules", response_class=HTMLResponse)
def rules_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    done: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Rules with their versions and live effectiveness, and the rule editor."""
    return _rules_page(request, session, principal, done=done)


@router.get("/rules/check", response_class=HTMLResponse)
def rule_check(
    request: Request,
    principal: CanCustomersRead,
    expression: Annotated[str, Query(max_length=4000)] = "",
) -> Response:
    """The live syntax check under the editor."""
    if not expression.strip():
        return render(request, "partials/rule_check.html", principal, valid=False, error=None)
    try:
        rule = compile_rule(expression)
    except RuleError as exc:
        return render(
            request,
            "partials/rule_check.html",
            principal,
            valid=False,
            error=rule_error_text(
                Translator(pick_locale(request, request.app.state.settings.default_locale)), exc
            ),
            position=exc.position,
        )
    return render(
        request, "partials/rule_check.html", principal, valid=True, reads=sorted(rule.reads)
    )


# The rules page's backtest and replay run as jobs (a backtest or replay over 12 months takes
# seconds to minutes): the button queues one, its panel follows the job, then draws its result.
PANEL_MONTHS = 12


def _rule_job(session: Session, principal: Principal, job_id: int, kind: str) -> Job:
    """A job of the panel's kind that the caller may read; 404 alike for any other."""
    job = job_service.get_job_or_raise(session, principal, job_id)
    if job.kind != kind:
        raise NotFound(f"job {job_id} not found", code="job_not_found")
    return job


def _job_panel(job: Job) -> dict[str, Any]:
    """What a rules panel shows of its job while it runs (or why it stopped)."""
    phase, done, total = job_service.progress_of(job)
    return {
        "job": job,
        "phase": phase,
        "done": done,
        "total": total,
        "percent": int(100 * done / total) if total else None,
        "active": job.status in ("queued", "running"),
    }


def _backtest_panel(request: Request, principal: Principal, job: Job) -> Response:
    if job.status != "done" or job.result is None:
        return render(request, "partials/rule_backtest.html", principal, **_job_panel(job))
    result = job.result
    chart = json.dumps(
        {
            "labels": [m["month"] for m in result["monthly"]],
            "values": [m["hits"] for m in result["monthly"]],
        }
    )
    return render(request, "partials/rule_backtest.html", principal, job=job, r=result, chart=chart)


@router.post("/rules/backtest", response_class=HTMLResponse)
def rule_backtest(
    request: Request,
    session: SessionDep,
    principal: CanRulesManage,
    expression: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Queue a backtest of the editor's expression over the last 12 months (an error in the
    expression shows at once, and queues nothing)."""
    try:
        compile_rule(expression)
    except RuleError as exc:
        t = Translator(pick_locale(request, request.app.state.settings.default_locale))
        shown = f"{t('rules.invalid', column=exc.position)}: {rule_error_text(t, exc)}"
        return render(request, "partials/rule_backtest.html", principal, error=shown)
    job = job_service.enqueue(
        session,
        principal,
        kind="rule_backtest",
        permission=Permission.RULES_MANAGE,
        parameters=BacktestIn(expression=expression, months=PANEL_MONTHS).model_dump(mode="json"),
    )
    return _backtest_panel(request, principal, job)


@router.get("/rules/backtest/{job_id}", response_class=HTMLResponse)
def rule_backtest_job(
    request: Request, job_id: PathId, session: SessionDep, principal: CanRulesManage
) -> Response:
    """The backtest panel: its job's progress (refreshing itself), then the result."""
    return _backtest_panel(
        request, principal, _rule_job(session, principal, job_id, "rule_backtest")
    )


def _replay_panel(request: Request, principal: Principal, job: Job) -> Response:
    if job.status != "done" or job.result is None:
        return render(request, "partials/rule_replay.html", principal, **_job_panel(job))
    result = job.result
    current, candidate = result["current"], result["candidate"]
    rows = [
        (code, current["types"][code], candidate["types"][code])
        for code in WARNING_TYPES
        if code in current["types"]
        and (
            current["types"][code]["alerts"]
            or candidate["types"][code]["alerts"]
            or code == result["warning_type"]
        )
    ]
    return render(
        request,
        "partials/rule_replay.html",
        principal,
        job=job,
        r=result,
        rows=rows,
        span=(current["from"], current["to"]),
    )


@router.post("/rules/replay", response_class=HTMLResponse)
def rule_replay(
    request: Request,
    session: SessionDep,
    principal: CanRulesManage,
    version_id: Annotated[int, Form(ge=1, le=2_147_483_647)],
) -> Response:
    """Queue the pack's replay over the last 12 months, month end by month end, as it is and
    as it would be with this version: the figures to look at before approving it."""
    monitoring_service.get_version_or_raise(session, version_id)  # a typo fails at once
    end = today()
    start = (end.replace(day=1) - dt.timedelta(days=31 * (PANEL_MONTHS - 1))).replace(day=1)
    body = ReplayIn.model_validate({"from": start, "to": end, "version_id": version_id})
    job = job_service.enqueue(
        session,
        principal,
        kind="warning_replay",
        permission=Permission.RULES_MANAGE,
        parameters=body.model_dump(mode="json", by_alias=True),
    )
    return _replay_panel(request, principal, job)


@router.get("/rules/replay/{job_id}", response_class=HTMLResponse)
def rule_replay_job(
    request: Request, job_id: PathId, session: SessionDep, principal: CanRulesManage
) -> Response:
    """The replay panel: its job's progress (refreshing itself), then the comparison."""
    return _replay_panel(
        request, principal, _rule_job(session, principal, job_id, "warning_replay")
    )


@router.post("/rules", response_class=HTMLResponse)
def create_rule(
    request: Request, session: SessionDep, principal: CanRulesManage, form: FormDep
) -> Response:
    """Save the editor's rule as a draft (a new rule, or a new version of an existing one)."""
    data = filled(
        form,
        (
            "code",
            "name_en",
            "name_zh",
            "category",
            "warning_type",
            "severity",
            "expression",
            "clear_expression",
            "dedup_days",
        ),
    )
    try:
        body = RuleIn.model_validate(data)
        version = monitoring_service.save_draft(session, principal, body.model_dump(mode="json"))
    except (ValidationError, RiskdeskError) as exc:
        status, errors = form_failure(session, exc)
        return _rules_page(
            request,
            session,
            principal,
            status_code=status,
            form_errors=errors,
            form=data,
        )
    return RedirectResponse(f"/rules?done={version.id}#rule-{body.code}", status_code=303)


@router.post("/rule-versions/{version_id}/{action}")
def decide_rule_version(
    version_id: PathId, action: str, session: SessionDep, principal: CanRulesManage
) -> Response:
    """Approve (a second person) or activate a rule version."""
    if action == "approve":
        monitoring_service.approve(session, principal, version_id)
    elif action == "activate":
        monitoring_service.activate(session, principal, version_id)
    else:
        raise ValidationFailed(f"unknown action {action!r}", field="action")
    return RedirectResponse(f"/rules?done={version_id}", status_code=303)
