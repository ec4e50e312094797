"""The pages of the people who act on warnings: the complaint desk, the case page, each user's
notification settings, the playbook editor, and the admin's webhooks and delivery log."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from riskdesk.alerts import notify, playbooks
from riskdesk.alerts import repository as alerts_repo
from riskdesk.alerts import service as alert_service
from riskdesk.alerts.endpoints import Blank
from riskdesk.alerts.schemas import (
    NotificationSettingsIn,
    PlaybookIn,
    PlaybookUpdate,
    WebhookIn,
)
from riskdesk.complaints import service as complaints_service
from riskdesk.complaints.schemas import ResponseIn
from riskdesk.customers import repository as customer_repo
from riskdesk.customers.repository import CustomerFilter
from riskdesk.db import SessionDep
from riskdesk.kit.errors import PermissionDenied, RiskdeskError, ValidationFailed
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import utcnow
from riskdesk.kit.validation import PathId
from riskdesk.monitoring import service as monitoring_service
from riskdesk.pipeline import intake, processing
from riskdesk.security import repository as users_repo
from riskdesk.security.deps import (
    CanAlertsWork,
    CanComplaintsWork,
    CanCustomersRead,
    CanIntegrationsManage,
    CanRulesManage,
    CurrentPrincipal,
)
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal
from riskdesk.ui.forms import FormDep, filled, form_failure
from riskdesk.ui.lists import LIST_PAGE_SIZE, ScopeDep, list_pager, scope_shown, within_scope
from riskdesk.ui.render import Reason, render

router = APIRouter(include_in_schema=False)

COMPLAINT_CATEGORIES = ("product_quality", "delivery", "billing", "service", "other")
SEVERITIES = ("low", "medium", "high", "critical")
# The desk's orders offered, the default (newest first) first.
DESK_SORTS = ("-opened", "opened", "respond_by", "resolve_by", "-severity")
UI_WAIT_SECONDS = 5.0  # a desk form waits this long for its record's processing


# ---------------------------------------------------------------- complaint desk


def _desk(
    request: Request,
    session: Any,
    principal: Any,
    *,
    status: str = "open_any",
    category: str | None = None,
    product: str | None = None,
    breached: bool = False,
    scope: CustomerFilter | None = None,
    done: str | None = None,
    page: int = 1,
    sort: str = "-opened",
    status_code: int = 200,
    form_errors: list[tuple[str | None, str]] | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    # Every figure of the desk is over the customers its list is: the page's customer filters
    # (a region, a segment, ...) narrow the trend and the product surges as they do the list.
    within = within_scope(scope)
    rows, total = complaints_service.page_desk(
        session, principal, status=status, category=category, product=product,
        breached=breached, within=within, page=PageParams(page, LIST_PAGE_SIZE), sort=sort,
    )  # fmt: skip
    customers = customer_repo.customers_with_profiles(
        session, sorted({r.complaint.customer_id for r in rows})
    )
    trend = complaints_service.trend(session, principal, weeks=26, top=6, within=within)
    series = {s["product"]: s["counts"] for s in trend["series"]}
    surges: list[tuple[Any, int | None]]
    if within is None:
        surges = [(a, None) for a in complaints_service.product_alerts(session)]
    else:
        surges = list(complaints_service.product_alerts_among(session, principal, within=within))
    shown_scope = scope_shown(session, scope)
    # The desk's own filters, kept in its pages and its sort with the customer scope.
    filters = {"status": status, "category": category, "product": product,
               "breached": "true" if breached else None}  # fmt: skip
    kept = {k: (v, v) for k, v in filters.items() if v} | shown_scope
    return render(
        request,
        "complaints.html",
        principal,
        status_code=status_code,
        rows=rows,
        names={cid: (c.code, c.name) for cid, (c, _) in customers.items()},
        product_alerts=surges,
        scope_query=urlencode({k: v for k, (v, _) in shown_scope.items()}),
        # Counts of one kind: one axis for every product, whole numbers, a legend naming them.
        trend=json.dumps({"dates": trend["weeks"], "series": series, "shared": True, "count": True})
        if series
        else None,
        status=status,
        category=category,
        product=product,
        breached=breached,
        categories=COMPLAINT_CATEGORIES,
        scope=shown_scope,
        export_query=urlencode(
            {
                k: v
                for k, v in {
                    "status": status,
                    "category": category,
                    "product": product,
                    "breached": "true" if breached else None,
                    **{k: v for k, (v, _) in shown_scope.items()},
                }.items()
                if v
            }
        ),
        severities=SEVERITIES,
        pager=list_pager("/complaints", kept, sort, page, total),
        sorts=DESK_SORTS,
        can_record=principal.can(Permission.SERVICE_EVENTS_WRITE),
        complaint_form=new_form_identity(),
        survey_form=new_form_identity(),
        done=done,
        form_errors=form_errors or [],
        form=form or {},
    )


@router.get("/complaints", response_class=HTMLResponse)
def complaints_page(
    request: Request,
    session: SessionDep,
    principal: CanComplaintsWork,
    scope: ScopeDep,
    status: Annotated[
        str, Query(pattern="^(open_any|open|in_progress|resolved|closed)$")
    ] = "open_any",
    category: Annotated[str | None, Query(max_length=32)] = None,
    product: Annotated[str | None, Query(max_length=128)] = None,
    breached: bool = False,
    done: Annotated[str | None, Query(max_length=32)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    sort: Annotated[str, Query(pattern="^-?(opened|respond_by|resolve_by|severity)$")] = "-opened",
) -> Response:
    """The complaint desk: what waits for an answer, SLA breaches, product trends (of a
    region, a segment, ... when opened from a home's figure), a page at a time, newest first
    or by deadline or severity."""
    return _desk(
        request,
        session,
        principal,
        status=status,
        category=category if category in COMPLAINT_CATEGORIES else None,
        product=product or None,
        breached=breached,
        scope=scope,
        done=done,
        page=page,
        sort=sort,
    )


_FORM_KEY = re.compile(r"^[0-9a-f]{16}$")


def _form_identity(form: Any, stamp: str) -> dict[str, str]:
    """The record's key and time, fixed when the form was shown: sending the same form twice
    (a double click, the back button) is then a duplicate, which changes nothing."""
    key, taken = form.get("form_key"), form.get("taken_at")
    if not (isinstance(key, str) and _FORM_KEY.match(key)):
        key = secrets.token_hex(8)
    try:
        when = dt.datetime.fromisoformat(str(taken))
        if when.tzinfo is None or not dt.timedelta(0) <= utcnow() - when <= dt.timedelta(days=1):
            raise ValueError
    except ValueError:
        when = utcnow()
    return {"external_id": f"ui-{key}", stamp: when.isoformat()}


def new_form_identity() -> dict[str, str]:
    """A fresh key and time for a form about to be shown."""
    return {"form_key": secrets.token_hex(8), "taken_at": utcnow().isoformat()}


def _record_on_desk(
    request: Request,
    session: Any,
    principal: Any,
    *,
    kind: str,
    what: str,
    record: dict[str, Any],
    shown: dict[str, Any],
    done: str,
) -> Response:
    """Take one record from a desk form through the intake; back to the desk, or the desk with
    the fields named and what was typed (nothing half-written)."""
    try:
        if not principal.can(Permission.SERVICE_EVENTS_WRITE):
            raise PermissionDenied(f"you may not record {what}")
        intake.ingest(session, principal, kind, [record], channel="ui")
        # The desk shows what the record changed (a complaint's alert): it waits a little for
        # the worker; past that the page shows what is processed so far.
        processing.settle(
            session, request.app.state.sessionmaker, request.app.state.settings, UI_WAIT_SECONDS
        )
    except intake.IntakeRejected as exc:
        session.rollback()
        errors: list[tuple[str | None, str]] = [(d.field, Reason.of_detail(d)) for d in exc.details]
        return _desk(request, session, principal, status_code=422, form_errors=errors, form=shown)
    except (ValidationError, RiskdeskError) as exc:
        status, errors = form_failure(session, exc)
        return _desk(
            request, session, principal, status_code=status, form_errors=errors, form=shown
        )
    return RedirectResponse(f"/complaints?done={done}", status_code=303)


@router.post("/complaints/new", response_class=HTMLResponse)
def record_complaint(
    request: Request, session: SessionDep, principal: CanComplaintsWork, form: FormDep
) -> Response:
    """Record a complaint taken on the phone or at the counter."""
    fields = ("customer_code", "category", "product", "severity", "description")
    data = filled(form, fields)
    record = {"source": "ui", **_form_identity(form, "opened_at"), **data}
    return _record_on_desk(
        request,
        session,
        principal,
        kind="complaints",
        what="complaints",
        record=record,
        shown=data,
        done="recorded",
    )


@router.post("/complaints/surveys/new", response_class=HTMLResponse)
def record_survey(
    request: Request, session: SessionDep, principal: CanComplaintsWork, form: FormDep
) -> Response:
    """Record a satisfaction answer (CSAT 1-5 or NPS 0-10) given on the phone or in person."""
    fields = ("customer_code", "survey_type", "score", "comment")
    data = filled(form, fields)
    record = {"source": "ui", **_form_identity(form, "responded_at"), **data}
    shown = {f"survey_{k}": v for k, v in data.items()}
    return _record_on_desk(
        request,
        session,
        principal,
        kind="surveys",
        what="survey answers",
        record=record,
        shown=shown,
        done="survey",
    )


@router.post("/complaints/{complaint_id}/respond")
def respond_to_complaint(
    request: Request,
    complaint_id: PathId,
    session: SessionDep,
    principal: CanComplaintsWork,
    response: Annotated[str, Form(max_length=4000)] = "",
    resolve: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    """Answer a complaint, or resolve it."""
    try:
        if resolve:
            complaints_service.resolve(session, principal, complaint_id, response.strip() or None)
        else:
            body = ResponseIn.model_validate({"response": response})
            complaints_service.respond(session, principal, complaint_id, body.response)
    except (ValidationError, RiskdeskError) as exc:
        status, errors = form_failure(session, exc)
        return _desk(request, session, principal, status_code=status, form_errors=errors)
    return RedirectResponse(f"/complaints?done={complaint_id}", status_code=303)


# ---------------------------------------------------------------- case page


def _case(
    request: Request,
    session: Any,
    principal: Any,
    case_id: int,
    *,
    status_code: int = 200,
    form_errors: list[tuple[str | None, str]] | None = None,
) -> Response:
    case, alerts, timeline, actions = alert_service.case_timeline(session, principal, case_id)
    customers = customer_repo.customers_with_profiles(session, [case.customer_id])
    user_ids = {e.user_id for e in timeline if e.user_id} | {
        a.assigned_to_id for a in alerts if a.assigned_to_id
    }
    return render(
        request,
        "case.html",
        principal,
        status_code=status_code,
        case=case,
        customer=customers[case.customer_id][0] if case.customer_id in customers else None,
        alerts=alerts,
        timeline=timeline,
        actions=actions,
        users={u.id: u.display_name for u in users_repo.users_by_ids(session, sorted(user_ids))},
        can_work=principal.can(Permission.ALERTS_WORK),
        form_errors=form_errors or [],
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request, case_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> Response:
    """A customer's case: its alerts with evidence, the timeline, actions and comments."""
    return _case(request, session, principal, case_id)


@router.post("/cases/{case_id}/comments", response_class=HTMLResponse)
def comment_on_case(
    request: Request,
    case_id: PathId,
    session: SessionDep,
    principal: CanAlertsWork,
    alert_id: Annotated[int, Form(ge=1)],
    body: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Comment on one of the case's alerts (@name tells a colleague)."""
    try:
        _, alerts = alert_service.case_of(session, principal, case_id)
        if alert_id not in {a.id for a in alerts}:
            raise ValidationFailed("that alert is not part of this case", field="alert_id")
        if not body.strip():
            raise ValidationFailed("a comment cannot be empty", field="body")
        alert_service.comment(session, principal, alert_id, body.strip())
    except RiskdeskError as exc:
        status, errors = form_failure(session, exc)
        return _case(request, session, principal, case_id, status_code=status, form_errors=errors)
    return RedirectResponse(f"/cases/{case_id}#timeline", status_code=303)


@router.post("/cases/{case_id}/alerts/{alert_id}/move", response_class=HTMLResponse)
def move_case_alert(
    request: Request,
    case_id: PathId,
    alert_id: PathId,
    session: SessionDep,
    principal: CanAlertsWork,
    status: Annotated[str, Form(pattern="^(acknowledged|in_progress|resolved|dismissed)$")],
    outcome: Annotated[str | None, Blank, Form(pattern="^(confirmed|false_alarm)$")] = None,
) -> Response:
    """Move one of the case's alerts on."""
    try:
        alert_service.move(
            session, principal, alert_id, status,
            outcome if status in ("resolved", "dismissed") else None,
        )  # fmt: skip
    except RiskdeskError as exc:
        status_code, errors = form_failure(session, exc)
        return _case(
            request, session, principal, case_id, status_code=status_code, form_errors=errors
        )
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/actions/{action_id}", response_class=HTMLResponse)
def work_case_action(
    request: Request,
    case_id: PathId,
    action_id: PathId,
    session: SessionDep,
    principal: CanAlertsWork,
    do: Annotated[str, Form(pattern="^(run|complete)$")],
) -> Response:
    """Carry out an offered step, or mark a task done."""
    try:
        if do == "run":
            playbooks.run_offered(session, principal, action_id)
        else:
            playbooks.complete_task(session, principal, action_id)
    except RiskdeskError as exc:
        status_code, errors = form_failure(session, exc)
        return _case(
            request, session, principal, case_id, status_code=status_code, form_errors=errors
        )
    return RedirectResponse(f"/cases/{case_id}#actions", status_code=303)


# ---------------------------------------------------------------- my notifications


def _inbox(session: Session, principal: Principal) -> dict[str, Any]:
    """The newest notifications, each with the customer it is about (if I may see them)."""
    inbox = notify.inbox(session, principal.user_id, unread_only=False, limit=100)
    return {"inbox": inbox, "customers": notify.inbox_customers(session, principal, inbox)}


@router.get("/me/notifications", response_class=HTMLResponse)
def notifications_page(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    saved: bool = False,
) -> Response:
    """My notifications and how I want to receive them."""
    return render(
        request,
        "notifications.html",
        principal,
        **_inbox(session, principal),
        settings=notify.settings_of(session, principal.user_id),
        has_email=bool(principal.user.email),
        severities=SEVERITIES,
        saved=saved,
        form_errors=[],
    )


@router.post("/me/notifications", response_class=HTMLResponse)
def save_notification_settings(
    request: Request, session: SessionDep, principal: CurrentPrincipal, form: FormDep
) -> Response:
    """Save my notification settings."""
    try:
        body = NotificationSettingsIn.model_validate(
            {
                "in_app": form.get("in_app") == "on",
                "email": form.get("email") == "on",
                "mentions": form.get("mentions") == "on",
                "min_severity": form.get("min_severity") or "low",
            }
        )
        notify.save_settings(session, principal.user_id, **body.model_dump())
    except (ValidationError, RiskdeskError) as exc:
        status, errors = form_failure(session, exc)
        return render(
            request,
            "notifications.html",
            principal,
            status_code=status,
            **_inbox(session, principal),
            settings=notify.settings_of(session, principal.user_id),
            has_email=bool(principal.user.email),
            severities=SEVERITIES,
            saved=False,
            form_errors=errors,
        )
    return RedirectResponse("/me/notifications?saved=true", status_code=303)


# ---------------------------------------------------------------- playbook editor

STEP_ROWS = 6


def _playbooks_page(
    request: Request,
    session: Any,
    principal: Any,
    *,
    edit: str | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
    form_errors: list[tuple[str | None, str]] | None = None,
    done: str | None = None,
) -> Response:
    books = alerts_repo.playbooks(session)
    editing = next((b for b in books if b.code == edit), None)
    if form is None and editing is not None:
        form = {
            "code": editing.code,
            "name_en": editing.name_en,
            "name_zh": editing.name_zh,
            "rule_code": editing.rule_code or "",
            "min_severity": editing.min_severity or "",
            "active": editing.active,
            "steps": editing.steps,
        }
    return render(
        request,
        "playbooks.html",
        principal,
        status_code=status_code,
        playbooks=books,
        rules=[rule for rule, _ in monitoring_service.list_rules(session)],
        actions=playbooks.ACTIONS,
        severities=SEVERITIES,
        step_rows=STEP_ROWS,
        form=form or {"steps": [], "active": True},
        editing=editing is not None or bool(form and form.get("editing")),
        can_manage=principal.can(Permission.RULES_MANAGE),
        form_errors=form_errors or [],
        done=done,
    )


@router.get("/playbooks", response_class=HTMLResponse)
def playbooks_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    edit: Annotated[str | None, Query(max_length=64)] = None,
    done: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Playbooks, and the editor for a new or an existing one."""
    return _playbooks_page(request, session, principal, edit=edit, done=done)


def _steps_from(form: Any) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for i in range(STEP_ROWS):  # the editor's fixed rows
        action = form.get(f"step_action_{i}")
        if not action:
            continue
        params: dict[str, Any] = {}
        for name in ("percent", "days"):
            raw = form.get(f"step_{name}_{i}")
            if isinstance(raw, str) and raw.strip():
                params[name] = raw.strip()
        steps.append({"action": action, "auto": form.get(f"step_auto_{i}") == "on",
                      "params": params})  # fmt: skip
    return steps


@router.post("/playbooks", response_class=HTMLResponse)
def save_playbook(
    request: Request, session: SessionDep, principal: CanRulesManage, form: FormDep
) -> Response:
    """Create a playbook, or save the one being edited."""
    data: dict[str, Any] = filled(form, ("code", "name_en", "name_zh", "rule_code", "min_severity"))
    data["steps"] = _steps_from(form)
    editing = form.get("editing") == "1"
    try:
        if editing:
            body = PlaybookUpdate.model_validate(
                {k: v for k, v in data.items() if k != "code"}
                | {"active": form.get("active") == "on"}
            )
            playbooks.update(session, data.get("code", ""), body.model_dump(mode="json"))
        else:
            created = PlaybookIn.model_validate(data)
            playbooks.add(session, created.model_dump(mode="json"))
    except (ValidationError, RiskdeskError) as exc:
        status, errors = form_failure(session, exc)
        shown = data | {"editing": editing, "active": form.get("active") == "on"}
        return _playbooks_page(
            request, session, principal, form=shown, status_code=status, form_errors=errors
        )
    return RedirectResponse(f"/playbooks?done={data.get('code', '')}", status_code=303)


# ---------------------------------------------------------------- integrations (admin)


def _integrations(
    request: Request,
    session: Any,
    principal: Any,
    *,
    status_code: int = 200,
    secret: tuple[str, str] | None = None,
    form_errors: list[tuple[str | None, str]] | None = None,
    form: dict[str, Any] | None = None,
    done: str | None = None,
) -> Response:
    return render(
        request,
        "integrations.html",
        principal,
        status_code=status_code,
        webhooks=alerts_repo.webhook_endpoints(session, active_only=False),
        deliveries=alerts_repo.deliveries(
            session, channel=None, status=None, endpoint_id=None, alert_id=None, limit=100
        ),
        events=notify.EVENTS,
        severities=SEVERITIES,
        secret=secret,
        form_errors=form_errors or [],
        form=form or {},
        done=done,
    )


@router.get("/integrations", response_class=HTMLResponse)
def integrations_page(
    request: Request,
    session: SessionDep,
    principal: CanIntegrationsManage,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """Webhook receivers and the delivery log of e-mails and webhook calls."""
    return _integrations(request, session, principal, done=done)


@router.post("/integrations/webhooks", response_class=HTMLResponse)
def add_webhook(
    request: Request, session: SessionDep, principal: CanIntegrationsManage, form: FormDep
) -> Response:
    """Register a receiver; its secret is shown on the answer page, once."""
    data: dict[str, Any] = filled(form, ("name", "url", "min_severity"))
    data["events"] = [e for e in form.getlist("events") if isinstance(e, str)]
    try:
        body = WebhookIn.model_validate(data)
        endpoint, secret = notify.create_webhook(
            session,
            **body.model_dump(),
            created_by_id=principal.user_id,
            allowed_networks=request.app.state.settings.webhook_networks(),
        )
    except (ValidationError, RiskdeskError) as exc:
        status, errors = form_failure(session, exc)
        return _integrations(
            request, session, principal, status_code=status, form_errors=errors, form=data
        )
    return _integrations(request, session, principal, secret=(endpoint.name, secret))


@router.post("/integrations/webhooks/{endpoint_id}", response_class=HTMLResponse)
def change_webhook(
    request: Request,
    endpoint_id: PathId,
    session: SessionDep,
    principal: CanIntegrationsManage,
    do: Annotated[str, Form(pattern="^(enable|disable|ping|rotate)$")],
) -> Response:
    """Turn a receiver on or off, send it a test call, or give it a new secret."""
    try:
        if do == "ping":
            notify.ping(session, endpoint_id)
        elif do == "rotate":
            endpoint, secret = notify.rotate_secret(session, endpoint_id)
            return _integrations(request, session, principal, secret=(endpoint.name, secret))
        else:
            notify.update_webhook(session, endpoint_id, {"active": do == "enable"})
    except RiskdeskError as exc:
        status, errors = form_failure(session, exc)
        return _integrations(request, session, principal, status_code=status, form_errors=errors)
    return RedirectResponse(f"/integrations?done={do}", status_code=303)


@router.post("/integrations/deliveries/{delivery_id}/retry", response_class=HTMLResponse)
def retry_delivery(
    request: Request, delivery_id: PathId, session: SessionDep, principal: CanIntegrationsManage
) -> Response:
    """Send a failed or dead delivery again."""
    try:
        notify.retry(session, delivery_id)
    except RiskdeskError as exc:
        status, errors = form_failure(session, exc)
        return _integrations(request, session, principal, status_code=status, form_errors=errors)
    return RedirectResponse("/integrations?done=retry", status_code=303)
