"""API of alerts and cases, routes, comments, playbooks and their actions, notifications,
webhooks and deliveries; and the rule and anomaly runs that raise alerts, with the rules' live
effectiveness from their outcomes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator, StringConstraints

from riskdesk.alerts import notify, playbooks, service
from riskdesk.alerts import repository as alerts_repo
from riskdesk.alerts.schemas import (
    ActionRead,
    AlertMove,
    AlertRead,
    AnomalyRunRead,
    CaseRead,
    CommentIn,
    CommentRead,
    DeliveryRead,
    EvaluationRead,
    NotificationRead,
    NotificationSettingsIn,
    NotificationSettingsRead,
    PlaybookIn,
    PlaybookRead,
    PlaybookUpdate,
    RankedCustomer,
    RouteIn,
    RouteRead,
    SlaIn,
    SlaRead,
    WebhookIn,
    WebhookRead,
    WebhookSecret,
    WebhookUpdate,
    WorklistCase,
)
from riskdesk.customers import service as customer_service
from riskdesk.customers.repository import CustomerFilter
from riskdesk.db import SessionDep, begin_store, reads_first, snapshot
from riskdesk.jobs.deps import ACCEPTED, start_job, wants_async
from riskdesk.kit.errors import ValidationFailed
from riskdesk.kit.pagination import decode_cursor, encode_cursor
from riskdesk.kit.timeutil import utcnow
from riskdesk.kit.validation import BusinessDate, BusinessTimestamp, PastDate, PathId
from riskdesk.monitoring import service as monitoring_service
from riskdesk.monitoring.warning_types import WarningTypeCode
from riskdesk.security.deps import (
    CanAlertsWork,
    CanCustomersRead,
    CanIntegrationsManage,
    CanRulesManage,
    CurrentPrincipal,
)
from riskdesk.security.permissions import Permission

router = APIRouter(tags=["early warning"])
SeverityPath = Annotated[str, Path(pattern="^(low|medium|high|critical)$")]

Code = Annotated[str, Path(max_length=64)]


def _blank(value: object) -> object:
    return value if value != "" else None  # an empty form field is no filter


Blank = BeforeValidator(_blank)
RuleCode = Annotated[str, StringConstraints(max_length=64, pattern=r"^[A-Za-z0-9_.,:-]*$")]


def alert_filter(
    status: Annotated[
        Literal[
            "open",
            "acknowledged",
            "in_progress",
            "resolved",
            "dismissed",
            "open_any",
            "worked",
            "closed",
            "any",
        ]
        | None,
        Blank,
        Query(
            description="open_any: every alert not yet closed; worked: taken up (any status "
            "but open); closed: resolved or dismissed; any: every status"
        ),
    ] = None,
    severity: Annotated[Literal["low", "medium", "high", "critical"] | None, Blank, Query()] = None,
    category: Annotated[
        Annotated[str, StringConstraints(max_length=32)] | None, Blank, Query()
    ] = None,
    customer_id: Annotated[int | None, Blank, Query(ge=1, le=2_147_483_647)] = None,
    warning_type: Annotated[
        list[WarningTypeCode] | None,
        Query(description="the signal the alert claims; repeat it for several"),
    ] = None,
    code: Annotated[
        list[RuleCode] | None,
        Query(
            max_length=50,
            description="rule or detector code; repeat it, or give a comma-separated list",
        ),
    ] = None,
    observed_from: Annotated[
        BusinessDate | None, Blank, Query(description="observed on or after (business date)")
    ] = None,
    observed_to: Annotated[
        BusinessDate | None, Blank, Query(description="observed on or before (business date)")
    ] = None,
    raised_from: Annotated[
        BusinessTimestamp | None, Blank, Query(description="raised at or after (UTC if no zone)")
    ] = None,
    raised_to: Annotated[
        BusinessTimestamp | None, Blank, Query(description="raised at or before (UTC if no zone)")
    ] = None,
    outcome: Annotated[Literal["confirmed", "false_alarm"] | None, Blank, Query()] = None,
    sla: Annotated[
        Literal["breached"] | None,
        Blank,
        Query(description="breached: escalated, closed after its due time, or open past it"),
    ] = None,
    region: Annotated[
        Annotated[str, StringConstraints(max_length=64)] | None,
        Blank,
        Query(description="the customer's region"),
    ] = None,
    segment: Annotated[
        Annotated[str, StringConstraints(max_length=64)] | None,
        Blank,
        Query(description="the customer's segment"),
    ] = None,
    owner_id: Annotated[
        int | None,
        Blank,
        Query(ge=1, le=2_147_483_647, description="the user who owns the customer"),
    ] = None,
    tier: Annotated[
        Annotated[str, StringConstraints(max_length=16)] | None,
        Blank,
        Query(description="the customer's risk tier; unrated: none yet"),
    ] = None,
    industry: Annotated[
        Annotated[str, StringConstraints(max_length=64)] | None,
        Blank,
        Query(description="the customer's industry"),
    ] = None,
    assigned: Annotated[
        Literal["me", "team"] | None,
        Blank,
        Query(description="me: assigned to me; team: to me or my team-mates"),
    ] = None,
    *,
    principal: CurrentPrincipal,
) -> service.AlertFilter:
    """The alert filter from query parameters: the alert's own, the customer filters of the
    portfolio dashboard (region, segment, owner, tier, industry) and whose work it is."""
    if observed_from and observed_to and observed_from > observed_to:
        raise ValidationFailed("observed_from lies after observed_to", field="observed_from")
    if raised_from and raised_to and raised_from > raised_to:
        raise ValidationFailed("raised_from lies after raised_to", field="raised_from")
    codes = sorted({c.strip() for part in code or () for c in part.split(",") if c.strip()})
    if len(codes) > 50:
        raise ValidationFailed("at most 50 codes", field="code")
    customers = CustomerFilter(
        region=region, segment=segment, owner_id=owner_id, risk_tier=tier, industry=industry
    )
    return service.AlertFilter(
        status=status,
        severity=severity,
        category=category,
        warning_types=tuple(sorted(set(warning_type or ()))),
        customer_id=customer_id,
        codes=tuple(codes),
        observed_from=observed_from,
        observed_to=observed_to,
        raised_from=raised_from,
        raised_to=raised_to,
        outcome=outcome,
        breached_at=utcnow() if sla == "breached" else None,
        within=customer_service.ids_matching(customers) if customers != CustomerFilter() else None,
        customers=tuple(
            (k, str(v))
            for k, v in {
                "region": region,
                "segment": segment,
                "owner_id": owner_id,
                "tier": tier,
                "industry": industry,
            }.items()
            if v is not None
        ),
        assigned_to=service.assignees(principal, assigned),
    )


AlertFilterDep = Annotated[service.AlertFilter, Depends(alert_filter)]

PAGE_HEADERS = {
    "X-Next-Cursor": {
        "description": "the cursor of the next page; absent on the last page",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": 'the next page\'s address, as `<url>; rel="next"`; absent on the last page',
        "schema": {"type": "string"},
    },
}


@router.get(
    "/alerts",
    response_model=list[AlertRead],
    responses={200: {"description": "a page of alerts", "headers": PAGE_HEADERS}},
)
def list_alerts(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: CanCustomersRead,
    flt: AlertFilterDep,
    cursor: Annotated[
        str | None,
        Query(max_length=64, description="from X-Next-Cursor of the page before"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AlertRead]:
    """Alerts the caller may see, newest first, a page at a time: while there are more, the
    answer carries the next page's cursor in X-Next-Cursor and its address in Link."""
    after = decode_cursor(cursor) if cursor else None
    alerts, last = service.page_alerts(session, principal, flt, after=after, limit=limit)
    if last is not None:
        following = encode_cursor(last)
        response.headers["X-Next-Cursor"] = following
        url = request.url.include_query_params(cursor=following)
        response.headers["Link"] = f'<{url}>; rel="next"'
    return [AlertRead.model_validate(a) for a in alerts]


@router.get("/alerts/{alert_id}", response_model=AlertRead)
def get_alert(alert_id: PathId, session: SessionDep, principal: CanCustomersRead) -> AlertRead:
    """One alert with its evidence."""
    return AlertRead.model_validate(service.get_alert(session, principal, alert_id))


@router.post("/alerts/{alert_id}/move", response_model=AlertRead)
def move_alert(
    alert_id: PathId, body: AlertMove, session: SessionDep, principal: CanAlertsWork
) -> AlertRead:
    """Acknowledge, start, resolve or dismiss an alert (closing records the outcome)."""
    return AlertRead.model_validate(
        service.move(session, principal, alert_id, body.status, body.outcome)
    )


@router.get("/alert-routes", response_model=list[RouteRead])
def list_routes(session: SessionDep, _: CanCustomersRead) -> list[RouteRead]:
    """Routing rules: who gets new alerts."""
    return [RouteRead.model_validate(r) for r in service.list_routes(session)]


@router.post("/alert-routes", response_model=RouteRead, status_code=201)
def add_route(body: RouteIn, session: SessionDep, _: CanRulesManage) -> RouteRead:
    """Add a routing rule; the first match (by position) assigns a new alert."""
    route, _added = service.add_route(session, body)
    return RouteRead.model_validate(route)


@router.delete("/alert-routes/{route_id}", status_code=204)
def remove_route(route_id: PathId, session: SessionDep, _: CanRulesManage) -> Response:
    """Remove a routing rule."""
    service.remove_route(session, route_id)
    return Response(status_code=204)


@router.get("/alert-slas", response_model=list[SlaRead])
def list_slas(session: SessionDep, _: CanCustomersRead) -> list[SlaRead]:
    """The hours to act on a new alert, per severity, the most severe first."""
    return [SlaRead.model_validate(s) for s in service.list_slas(session)]


@router.put("/alert-slas/{severity}", response_model=SlaRead)
def update_sla(
    severity: SeverityPath, body: SlaIn, session: SessionDep, principal: CanRulesManage
) -> SlaRead:
    """Set the hours to act on alerts of a severity raised from now on (alerts already raised
    keep their due time); the same hours again change nothing."""
    return SlaRead.model_validate(service.update_sla(session, principal, severity, body))


@router.post("/alert-escalations")
def escalate(session: SessionDep, _: CanRulesManage) -> dict[str, int]:
    """Escalate every alert past its SLA now (the scheduler does this too)."""
    return {"escalated": service.escalate_overdue(session)}


@router.get("/alerts/{alert_id}/comments", response_model=list[CommentRead])
def list_comments(
    alert_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> list[CommentRead]:
    """An alert's comments, oldest first."""
    return [CommentRead.model_validate(c) for c in service.comments(session, principal, alert_id)]


@router.post("/alerts/{alert_id}/comments", response_model=CommentRead, status_code=201)
def add_comment(
    alert_id: PathId, body: CommentIn, session: SessionDep, principal: CanAlertsWork
) -> CommentRead:
    """Comment on an alert; @username mentions a colleague."""
    return CommentRead.model_validate(service.comment(session, principal, alert_id, body.body))


@router.get("/cases/{case_id}", response_model=CaseRead)
def get_case(case_id: PathId, session: SessionDep, principal: CanCustomersRead) -> CaseRead:
    """A customer's case with its alerts."""
    case, alerts = service.case_of(session, principal, case_id)
    return CaseRead(
        id=case.id,
        customer_id=case.customer_id,
        status=case.status,
        opened_at=case.opened_at,
        closed_at=case.closed_at,
        priority=case.priority,
        priority_basis=case.priority_basis,
        alerts=[AlertRead.model_validate(a) for a in alerts],
    )


@router.get(
    "/worklist",
    response_model=list[WorklistCase],
    responses={200: {"headers": {"X-Total-Count": {"schema": {"type": "integer"}}}}},
)
def worklist(
    response: Response,
    session: SessionDep,
    principal: CanCustomersRead,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[WorklistCase]:
    """The open cases the caller may see, the most at stake first: a customer's alerts form one
    case, whose priority is the expected loss (PD x exposure) for credit signals, the value at
    risk for churn, the exposure at risk otherwise. The total is in X-Total-Count."""
    cases, total = service.worklist(session, principal, limit=limit, offset=offset)
    response.headers["X-Total-Count"] = str(total)
    return [
        WorklistCase(
            case_id=case.id,
            customer_id=case.customer_id,
            priority=case.priority,
            priority_basis=case.priority_basis,
            open_alerts=n,
            warning_types=kinds,
            opened_at=case.opened_at,
        )
        for case, n, kinds in cases
    ]


@router.get("/playbooks", response_model=list[PlaybookRead])
def list_playbooks(session: SessionDep, _: CanCustomersRead) -> list[PlaybookRead]:
    """Every playbook."""
    return [PlaybookRead.model_validate(p) for p in alerts_repo.playbooks(session)]


@router.post("/playbooks", response_model=PlaybookRead, status_code=201)
def add_playbook(body: PlaybookIn, session: SessionDep, _: CanRulesManage) -> PlaybookRead:
    """Add a playbook; it applies to alerts raised from now on."""
    return PlaybookRead.model_validate(playbooks.add(session, body.model_dump(mode="json")))


@router.put("/playbooks/{code}", response_model=PlaybookRead)
def update_playbook(
    code: Code, body: PlaybookUpdate, session: SessionDep, _: CanRulesManage
) -> PlaybookRead:
    """Change a playbook; alerts raised from now on follow the new steps."""
    return PlaybookRead.model_validate(
        playbooks.update(session, code, body.model_dump(mode="json"))
    )


@router.get("/alerts/{alert_id}/actions", response_model=list[ActionRead])
def list_actions(
    alert_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> list[ActionRead]:
    """An alert's actions: offered steps, tasks, automatic actions, changes awaiting approval."""
    return [
        ActionRead.model_validate(a) for a in playbooks.actions_of(session, principal, alert_id)
    ]


@router.post("/alert-actions/{action_id}/run", response_model=ActionRead)
def run_action(action_id: PathId, session: SessionDep, principal: CanAlertsWork) -> ActionRead:
    """Carry out an offered step (credit changes go to the approval queue)."""
    return ActionRead.model_validate(playbooks.run_offered(session, principal, action_id))


@router.post("/alert-actions/{action_id}/complete", response_model=ActionRead)
def complete_action(action_id: PathId, session: SessionDep, principal: CanAlertsWork) -> ActionRead:
    """Mark a task done."""
    return ActionRead.model_validate(playbooks.complete_task(session, principal, action_id))


@router.get("/me/notifications", response_model=list[NotificationRead])
def my_notifications(
    session: SessionDep,
    principal: CurrentPrincipal,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[NotificationRead]:
    """My notifications, newest first."""
    return [
        NotificationRead.model_validate(n)
        for n in notify.inbox(session, principal.user_id, unread_only=unread, limit=limit)
    ]


@router.post("/me/notifications/{notification_id}/read", response_model=NotificationRead)
def read_notification(
    notification_id: PathId, session: SessionDep, principal: CurrentPrincipal
) -> NotificationRead:
    """Mark one of my notifications read."""
    return NotificationRead.model_validate(
        notify.mark_read(session, principal.user_id, notification_id)
    )


@router.get("/me/notification-settings", response_model=NotificationSettingsRead)
def my_settings(session: SessionDep, principal: CurrentPrincipal) -> NotificationSettingsRead:
    """How I hear about alerts."""
    return NotificationSettingsRead.model_validate(notify.settings_of(session, principal.user_id))


@router.put("/me/notification-settings", response_model=NotificationSettingsRead)
def save_settings(
    body: NotificationSettingsIn, session: SessionDep, principal: CurrentPrincipal
) -> NotificationSettingsRead:
    """Choose how I hear about alerts."""
    return NotificationSettingsRead.model_validate(
        notify.save_settings(session, principal.user_id, **body.model_dump())
    )


@router.get("/webhooks", response_model=list[WebhookRead])
def list_webhooks(session: SessionDep, principal: CanIntegrationsManage) -> list[WebhookRead]:
    """The systems told about alerts."""
    return [
        WebhookRead.model_validate(w)
        for w in alerts_repo.webhook_endpoints(session, active_only=False)
    ]


@router.post("/webhooks", response_model=WebhookSecret, status_code=201)
def create_webhook(
    body: WebhookIn, request: Request, session: SessionDep, principal: CanIntegrationsManage
) -> WebhookSecret:
    """Register an endpoint (a public address, unless the operator allows its network); the
    answer holds its signing secret, shown this once."""
    endpoint, secret = notify.create_webhook(
        session,
        **body.model_dump(),
        created_by_id=principal.user_id,
        allowed_networks=request.app.state.settings.webhook_networks(),
    )
    return WebhookSecret(**WebhookRead.model_validate(endpoint).model_dump(), secret=secret)


@router.patch("/webhooks/{endpoint_id}", response_model=WebhookRead)
def update_webhook(
    endpoint_id: PathId,
    body: WebhookUpdate,
    request: Request,
    session: SessionDep,
    principal: CanIntegrationsManage,
) -> WebhookRead:
    """Change an endpoint, or turn it off (its log stays)."""
    return WebhookRead.model_validate(
        notify.update_webhook(
            session,
            endpoint_id,
            body.model_dump(exclude_unset=True),
            request.app.state.settings.webhook_networks(),
        )
    )


@router.post("/webhooks/{endpoint_id}/secret", response_model=WebhookSecret)
def rotate_webhook_secret(
    endpoint_id: PathId, session: SessionDep, principal: CanIntegrationsManage
) -> WebhookSecret:
    """Issue a new signing secret; the old one stops at once."""
    endpoint, secret = notify.rotate_secret(session, endpoint_id)
    return WebhookSecret(**WebhookRead.model_validate(endpoint).model_dump(), secret=secret)


@router.post("/webhooks/{endpoint_id}/ping", response_model=DeliveryRead, status_code=202)
def ping_webhook(
    endpoint_id: PathId, session: SessionDep, principal: CanIntegrationsManage
) -> DeliveryRead:
    """Queue a signed test call to the endpoint."""
    return DeliveryRead.model_validate(notify.ping(session, endpoint_id))


@router.get("/deliveries", response_model=list[DeliveryRead])
def list_deliveries(
    session: SessionDep,
    principal: CanIntegrationsManage,
    channel: Annotated[str | None, Query(pattern="^(email|webhook)$")] = None,
    status: Annotated[
        str | None, Query(pattern="^(pending|sending|delivered|failed|dead)$")
    ] = None,
    endpoint_id: Annotated[int | None, Query(ge=1)] = None,
    alert_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryRead]:
    """The delivery log: every e-mail and webhook call, newest first."""
    return [
        DeliveryRead.model_validate(d)
        for d in alerts_repo.deliveries(
            session,
            channel=channel,
            status=status,
            endpoint_id=endpoint_id,
            alert_id=alert_id,
            limit=limit,
        )
    ]


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryRead)
def retry_delivery(
    delivery_id: PathId, session: SessionDep, principal: CanIntegrationsManage
) -> DeliveryRead:
    """Send a failed or dead delivery again at the worker's next pass."""
    return DeliveryRead.model_validate(notify.retry(session, delivery_id))


# ---------------------------------------------------------------- rule and anomaly runs


@router.get("/rules/effectiveness")
def effectiveness(session: SessionDep, _: CanCustomersRead) -> list[dict[str, Any]]:
    """Per rule, from the alerts people closed: confirmed, false alarms, precision."""
    return service.live_effectiveness(session)


@router.post("/rule-runs", response_model=EvaluationRead, status_code=201, responses=ACCEPTED)
@reads_first
def run_rules(
    session: SessionDep,
    principal: CanRulesManage,
    request: Request,
    as_of: Annotated[
        PastDate | None, Blank, Query(description="business date to judge as of (default today)")
    ] = None,
) -> EvaluationRead | JSONResponse:
    """Evaluate every active rule over every customer as of a business date (from one snapshot,
    with no lock held; the alerts, observed on that date, are raised, and those whose rule no
    longer fires cleared, in a short write). With ``Prefer: respond-async``: a job (202)."""
    if wants_async(request):
        return start_job(
            session,
            principal,
            kind="rule_run",
            permission=Permission.RULES_MANAGE,
            parameters={"as_of": as_of.isoformat() if as_of else None},
        )
    with snapshot(session):
        findings = monitoring_service.find_rule_hits(session, None, as_of=as_of)
    begin_store(session)
    summary = service.raise_alerts(session, findings, as_of=as_of)
    return EvaluationRead(
        customers=summary.customers,
        raised=summary.raised,
        refreshed=summary.refreshed,
        cleared=summary.cleared,
    )


@router.post("/anomaly-runs", response_model=AnomalyRunRead, status_code=201, responses=ACCEPTED)
@reads_first
def run_anomalies(
    session: SessionDep,
    principal: CanRulesManage,
    request: Request,
    months: Annotated[int, Query(ge=2, le=24)] = 6,
    z_threshold: Annotated[float, Query(ge=1, le=50)] = 5.0,
    top: Annotated[int, Query(ge=0, le=200)] = 20,
    as_of: Annotated[
        PastDate | None, Blank, Query(description="business date to judge as of (default today)")
    ] = None,
) -> AnomalyRunRead | JSONResponse:
    """Run the anomaly detectors over everyone: an alert for each customer with an indicator
    far above both their own history and their peers, naming it; and the ``top`` most unusual
    customers overall by the multivariate detector, ranked, which raises no alert (computed
    from one snapshot with no lock held, raised in a short write). With
    ``Prefer: respond-async``: a job (202)."""
    if wants_async(request):
        return start_job(
            session,
            principal,
            kind="anomaly_run",
            permission=Permission.RULES_MANAGE,
            parameters={
                "months": months,
                "z_threshold": z_threshold,
                "top": top,
                "as_of": as_of.isoformat() if as_of else None,
            },
        )
    with snapshot(session):
        findings, ranked = monitoring_service.find_anomalies(
            session, months=months, z_threshold=z_threshold, top=top, as_of=as_of
        )
    begin_store(session)
    summary = service.raise_alerts(session, findings, as_of=as_of)
    return AnomalyRunRead(
        customers=summary.customers,
        raised=summary.raised,
        refreshed=summary.refreshed,
        ranking=[RankedCustomer.model_validate(r) for r in ranked],
    )
