"""The alert queue: filters, order, pages, moving an alert on and bulk actions."""

from __future__ import annotations

from typing import Annotated, Literal, get_args
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from riskdesk.alerts import service as alert_service
from riskdesk.alerts.endpoints import Blank
from riskdesk.customers import repository as customer_repo
from riskdesk.db import SessionDep
from riskdesk.kit.errors import ValidationFailed
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import utcnow
from riskdesk.kit.validation import BusinessDate, DbId, PathId
from riskdesk.monitoring import service as monitoring_service
from riskdesk.monitoring import warning_types
from riskdesk.monitoring.schemas import Category
from riskdesk.security import repository as users_repo
from riskdesk.security.deps import CanAlertsWork, CanCustomersRead
from riskdesk.security.permissions import Permission
from riskdesk.ui.i18n import pick_locale
from riskdesk.ui.lists import ScopeDep, scope_shown, within_scope
from riskdesk.ui.render import render

router = APIRouter(include_in_schema=False)


WARNING_TYPES = warning_types.CODES
ALERT_CATEGORIES: tuple[str, ...] = get_args(Category)


ALERT_PAGE_SIZES = (25, 50, 100, 200)
_BULK_IDS = "^[0-9]{1,10}(,[0-9]{1,10}){0,199}$"
_BULK_REFUSED = "^[0-9]{1,10}:[a-z_]{1,32}(,[0-9]{1,10}:[a-z_]{1,32}){0,199}$"
# The query names the queue keeps in its address: filters, sort, page and page size.
QUEUE_KEYS = (
    "status", "severity", "category", "warning_type", "observed_from", "observed_to",
    "outcome", "sla", "code", "assigned", "region", "segment", "owner_id", "tier", "industry",
    "order", "size", "page",
)  # fmt: skip


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    scope: ScopeDep,
    status: Annotated[
        str,
        Query(
            pattern="^(open|acknowledged|in_progress|resolved|dismissed|open_any|worked|closed|any)$"
        ),
    ] = "open_any",
    severity: Annotated[str | None, Query(pattern="^(|low|medium|high|critical)$")] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    warning_type: Annotated[str | None, Query(max_length=32)] = None,
    observed_from: Annotated[BusinessDate | None, Blank, Query()] = None,
    observed_to: Annotated[BusinessDate | None, Blank, Query()] = None,
    done: Annotated[int | None, Query(ge=1)] = None,
    order: Annotated[
        Literal["priority", "recent", "raised", "severity", "due"], Query()
    ] = "priority",
    outcome: Annotated[str | None, Query(pattern="^(|confirmed|false_alarm)$")] = None,
    sla: Annotated[str | None, Query(pattern="^(|breached)$")] = None,
    code: Annotated[str | None, Query(max_length=64)] = None,
    assigned: Annotated[str | None, Query(pattern="^(|me|team)$")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
    bulk: Annotated[str | None, Query(pattern="^(acknowledge|assign|resolve|dismiss)$")] = None,
    bulk_done: Annotated[str | None, Query(pattern=_BULK_IDS)] = None,
    bulk_same: Annotated[str | None, Query(pattern=_BULK_IDS)] = None,
    bulk_refused: Annotated[str | None, Query(pattern=_BULK_REFUSED)] = None,
) -> Response:
    """The alert queue, a page at a time with the total, in the chosen order (the most at
    stake, recently hit, recently raised, most severe, soonest due), with filters, the
    assignee, due time and SLA of each alert, bulk actions and a download of what the
    filters match. Filters, order and page are all in the address, to bookmark or share."""
    if observed_from and observed_to and observed_from > observed_to:
        raise ValidationFailed("observed_from lies after observed_to", field="observed_from")
    if size not in ALERT_PAGE_SIZES:
        raise ValidationFailed(f"the page size is one of {ALERT_PAGE_SIZES}", field="size")
    category = category if category in ALERT_CATEGORIES else None
    warning_type = warning_type if warning_type in WARNING_TYPES else None
    now = utcnow()
    flt = alert_service.AlertFilter(
        status=status,
        severity=severity or None,
        category=category,
        warning_types=(warning_type,) if warning_type else (),
        codes=(code,) if code else (),
        observed_from=observed_from,
        observed_to=observed_to,
        outcome=outcome or None,
        breached_at=now if sla else None,
        within=within_scope(scope),
        assigned_to=alert_service.assignees(principal, assigned),
    )
    alerts, total = alert_service.queue(
        session, principal, flt, sort=order, page=PageParams(page=page, size=size)
    )
    pages = max(1, -(-total // size))
    stakes = alert_service.case_priorities(
        session, sorted({a.case_id for a in alerts if a.case_id is not None})
    )
    sla_hours = alert_service.sla_hours(session)  # what "due soon" means, per severity
    shown = {
        "status": status,
        "severity": severity,
        "category": category,
        "warning_type": warning_type,
        "observed_from": observed_from.isoformat() if observed_from else None,
        "observed_to": observed_to.isoformat() if observed_to else None,
        "outcome": outcome or None,
        "sla": sla or None,
        "code": code or None,
        "assigned": assigned or None,
        **{k: v for k, (v, _) in scope_shown(session, scope).items()},
    }
    customers = customer_repo.customers_with_profiles(
        session, sorted({a.customer_id for a in alerts if a.customer_id is not None})
    )
    people = users_repo.users_by_ids(
        session, sorted({a.assigned_to_id for a in alerts if a.assigned_to_id is not None})
    )
    shown_scope = scope_shown(
        session, scope, outcome=outcome, sla=sla, code=code, assigned=assigned or None
    )
    if code and (rule := monitoring_service.get_rule(session, code)) is not None:
        # The rule by its name in the reader's language, not its code.
        zh = pick_locale(request, request.app.state.settings.default_locale) == "zh-CN"
        shown_scope["code"] = (code, rule.name_zh if zh else rule.name_en)
    # The view's address without its page: each pager link and sort adds its own.
    view = {k: v for k, v in shown.items() if v} | {"order": order, "size": str(size)}
    can_work = principal.can(Permission.ALERTS_WORK)
    return render(
        request,
        "alerts.html",
        principal,
        alerts=alerts,
        total=total,
        page=page,
        pages=pages,
        size=size,
        sizes=ALERT_PAGE_SIZES,
        first_row=(page - 1) * size + 1 if alerts else 0,
        view_query=urlencode(view),
        this_query=urlencode(view | {"page": str(page)}),
        names={cid: (c.code, c.name) for cid, (c, _) in customers.items()},
        assignee_names={u.id: u.display_name or u.username for u in people},
        sla={a.id: alert_service.sla_state(a, now, hours=sla_hours) for a in alerts},
        status=status,
        severity=severity,
        category=category,
        categories=ALERT_CATEGORIES,
        warning_type=warning_type,
        warning_types=WARNING_TYPES,
        observed_from=shown["observed_from"],
        observed_to=shown["observed_to"],
        export_query=urlencode({k: v for k, v in shown.items() if v}),
        done=done,
        can_work=can_work,
        assignable=alert_service.assignable_users(session, principal) if can_work else [],
        order=order,
        orders=alert_service.QUEUE_SORTS,
        stakes=stakes,
        scope=shown_scope,
        bulk=bulk,
        bulk_done=bulk_done.split(",") if bulk_done else [],
        bulk_same=bulk_same.split(",") if bulk_same else [],
        bulk_refused=[r.split(":") for r in bulk_refused.split(",")] if bulk_refused else [],
    )


@router.post("/alerts/{alert_id}/move")
def move_alert(
    alert_id: PathId,
    session: SessionDep,
    principal: CanAlertsWork,
    status: Annotated[str, Form(pattern="^(acknowledged|in_progress|resolved|dismissed)$")],
    outcome: Annotated[str | None, Blank, Form(pattern="^(confirmed|false_alarm)$")] = None,
) -> Response:
    """Move an alert on from the queue. Closing it needs an outcome chosen: none is
    preselected, and none chosen is refused naming the field."""
    alert_service.move(
        session,
        principal,
        alert_id,
        status,
        outcome if status in ("resolved", "dismissed") else None,
    )
    return RedirectResponse(f"/alerts?done={alert_id}", status_code=303)


@router.post("/alerts/bulk")
def bulk_alerts(
    session: SessionDep,
    principal: CanAlertsWork,
    action: Annotated[str, Form(pattern="^(acknowledge|assign|resolve|dismiss)$")],
    alert_ids: Annotated[list[DbId] | None, Form(max_length=alert_service.BULK_MAX)] = None,
    outcome: Annotated[str | None, Blank, Form(pattern="^(confirmed|false_alarm)$")] = None,
    assignee: Annotated[DbId | None, Blank, Form()] = None,
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Acknowledge, assign, resolve or dismiss the selected alerts, each checked as one
    (``alert_service.bulk``); back to the same view of the queue, which says which were
    done, which already were, and which were refused and why."""
    result = alert_service.bulk(
        session, principal, alert_ids or [], action, outcome=outcome, assignee_id=assignee
    )
    # Back to the view the request came from: only the queue's own query names are kept.
    kept = [(k, v) for k, v in parse_qsl(back) if k in QUEUE_KEYS]
    said = {
        "bulk": action,
        "bulk_done": ",".join(map(str, result.done)),
        "bulk_same": ",".join(map(str, result.unchanged)),
        "bulk_refused": ",".join(f"{i}:{c}" for i, c in result.refused),
    }
    query = urlencode(kept + [(k, v) for k, v in said.items() if v])
    return RedirectResponse(f"/alerts?{query}", status_code=303)
