"""The credit policy editors in the browser: tier policies (/policy/tiers), the approval matrix
and delegations (/policy/approvals), alert routing and SLAs (/policy/alert-routes).

Each page calls the same service functions under the same permissions as the API
(policy/endpoints.py, alerts/endpoints.py). None of these changes waits for a second person in
the API, so none does here: a saved change is in force at once (and in the audit log). A form's
refused fields are shown next to each field and in a summary, in the reader's language."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from riskdesk.alerts import service as alert_service
from riskdesk.alerts.schemas import RouteIn, SlaIn
from riskdesk.db import SessionDep
from riskdesk.kit.errors import RiskdeskError
from riskdesk.kit.validation import PathId
from riskdesk.policy import service as policy_service
from riskdesk.policy.schemas import AuthorityIn, DelegationIn, TierPolicyIn
from riskdesk.security import service as security_service
from riskdesk.security.deps import (
    CanCreditPolicyManage,
    CanCustomersRead,
    CanLimitRequestsApprove,
    CanRulesManage,
)
from riskdesk.security.permissions import Permission, Role, permissions_for
from riskdesk.ui.alert_pages import ALERT_CATEGORIES
from riskdesk.ui.forms import FormDep, Refusal, filled, form_context, form_failure
from riskdesk.ui.render import render

router = APIRouter(include_in_schema=False)

TIERS = ("low", "medium", "high", "critical")
SEVERITIES = ("low", "medium", "high", "critical")
TIER_FIELDS = (
    "limit_multiplier",
    "payment_terms_days",
    "review_months",
    "equity_share",
    "revenue_share",
    "min_limit",
    "max_limit",
    "round_to",
)
TIER_CHECKBOXES = ("prepayment_required", "use_bureau_limit")
Tier = Annotated[str, Path(pattern="^(low|medium|high|critical)$")]
Severity = Annotated[str, Path(pattern="^(low|medium|high|critical)$")]
Done = Annotated[str | None, Query(pattern="^(saved|unchanged|added|removed|revoked)$")]

# The schemas' cross-field checks (model validators) name no field: the field they are about,
# and a code each language says it from.
_CROSS_FIELD = {
    "max_limit must not be below min_limit": ("max_limit", "below_min_limit"),
    "valid_to must not be before valid_from": ("valid_to", "before_valid_from"),
    "give either role or username": ("username", "role_or_username"),
}


def _people(session: Any) -> dict[int, str]:
    return {u.id: u.display_name or u.username for u in security_service.list_users(session)}


def _approvers(session: Any) -> list[Any]:
    """Active users whose role approves limit requests (whom one may delegate to)."""
    return [
        u
        for u in security_service.list_users(session)
        if u.is_active and Permission.LIMIT_REQUESTS_APPROVE in permissions_for(u.role)
    ]


def _checked(form: Any, names: tuple[str, ...]) -> dict[str, bool]:
    return {name: name in form for name in names}


# ---------------------------------------------------------------- tier policies


def _tiers(
    request: Request,
    session: Any,
    principal: Any,
    *,
    editing: str | None = None,
    form: dict[str, Any] | None = None,
    refused: Refusal | None = None,
    done: str | None = None,
) -> Response:
    policies = {p.tier: p for p in policy_service.list_policies(session)}
    return render(
        request,
        "policy_tiers.html",
        principal,
        policies=[policies[t] for t in TIERS if t in policies],
        people=_people(session),
        can_edit=principal.can(Permission.CREDIT_POLICY_MANAGE),
        editing=editing,
        done=done,
        **form_context(form, refused),
    )


@router.get("/policy/tiers", response_class=HTMLResponse)
def tiers_page(
    request: Request, session: SessionDep, principal: CanCustomersRead, done: Done = None
) -> Response:
    """Each risk tier's credit policy, and (for credit managers) a form per tier."""
    return _tiers(request, session, principal, done=done)


@router.post("/policy/tiers/{tier}", response_class=HTMLResponse)
def save_tier(
    request: Request,
    tier: Tier,
    session: SessionDep,
    principal: CanCreditPolicyManage,
    form: FormDep,
) -> Response:
    """Change a tier's limit formula, terms, prepayment or review frequency."""
    data: dict[str, Any] = filled(form, TIER_FIELDS) | _checked(form, TIER_CHECKBOXES)
    try:
        body = TierPolicyIn.model_validate(data)
        before = {p.tier: p.updated_at for p in policy_service.list_policies(session)}.get(tier)
        policy = policy_service.update_policy(session, principal, tier, body)
    except (ValidationError, RiskdeskError) as exc:
        refused = form_failure(session, exc, _CROSS_FIELD)
        return _tiers(request, session, principal, editing=tier, form=data, refused=refused)
    done = "unchanged" if before == policy.updated_at else "saved"
    return RedirectResponse(f"/policy/tiers?done={done}#tier-{tier}", status_code=303)


# ---------------------------------------------------------------- approval matrix, delegations


def _approvals(
    request: Request,
    session: Any,
    principal: Any,
    *,
    form: dict[str, Any] | None = None,
    refused: Refusal | None = None,
    which: str | None = None,
    done: str | None = None,
) -> Response:
    can_delegate = principal.can(Permission.LIMIT_REQUESTS_APPROVE)
    users = security_service.list_users(session)
    return render(
        request,
        "policy_approvals.html",
        principal,
        authorities=policy_service.list_authorities(session),
        delegations=policy_service.list_delegations(session, principal) if can_delegate else [],
        people=_people(session),
        usernames={u.id: u.username for u in users},
        users=[u for u in users if u.is_active],
        approvers=[u for u in _approvers(session) if u.id != principal.user_id],
        roles=[r.value for r in Role],
        tiers=TIERS,
        can_edit=principal.can(Permission.CREDIT_POLICY_MANAGE),
        can_delegate=can_delegate,
        which=which,
        done=done,
        **form_context(form, refused),
    )


@router.get("/policy/approvals", response_class=HTMLResponse)
def approvals_page(
    request: Request, session: SessionDep, principal: CanCustomersRead, done: Done = None
) -> Response:
    """The approval matrix (who may approve limits up to what), and one's delegations."""
    return _approvals(request, session, principal, done=done)


@router.post("/policy/authorities", response_class=HTMLResponse)
def add_authority(
    request: Request, session: SessionDep, principal: CanCreditPolicyManage, form: FormDep
) -> Response:
    """Add a row to the approval matrix (the same row again changes nothing)."""
    data = filled(form, ("role", "username", "tier", "max_limit"))
    try:
        _, created = policy_service.add_authority(session, AuthorityIn.model_validate(data))
    except (ValidationError, RiskdeskError) as exc:
        refused = form_failure(session, exc, _CROSS_FIELD)
        return _approvals(
            request, session, principal, form=data, which="authority", refused=refused
        )
    return RedirectResponse(
        f"/policy/approvals?done={'added' if created else 'saved'}#authorities", status_code=303
    )


@router.post("/policy/authorities/{authority_id}/remove", response_class=HTMLResponse)
def remove_authority(
    request: Request, authority_id: PathId, session: SessionDep, principal: CanCreditPolicyManage
) -> Response:
    """Remove a row of the approval matrix."""
    try:
        policy_service.remove_authority(session, authority_id)
    except RiskdeskError as exc:
        return _approvals(request, session, principal, refused=form_failure(session, exc))
    return RedirectResponse("/policy/approvals?done=removed#authorities", status_code=303)


@router.post("/policy/delegations", response_class=HTMLResponse)
def delegate(
    request: Request, session: SessionDep, principal: CanLimitRequestsApprove, form: FormDep
) -> Response:
    """Lend one's approval authority to a colleague for a period."""
    data = filled(form, ("to_username", "valid_from", "valid_to", "reason"))
    try:
        _, created = policy_service.delegate(session, principal, DelegationIn.model_validate(data))
    except (ValidationError, RiskdeskError) as exc:
        refused = form_failure(session, exc, _CROSS_FIELD)
        return _approvals(
            request, session, principal, form=data, which="delegation", refused=refused
        )
    done = "added" if created else "unchanged"
    return RedirectResponse(f"/policy/approvals?done={done}#delegations", status_code=303)


@router.post("/policy/delegations/{delegation_id}/revoke", response_class=HTMLResponse)
def revoke_delegation(
    request: Request,
    delegation_id: PathId,
    session: SessionDep,
    principal: CanLimitRequestsApprove,
) -> Response:
    """End a delegation one gave (again: nothing changes)."""
    try:
        policy_service.revoke_delegation(session, principal, delegation_id)
    except RiskdeskError as exc:
        return _approvals(request, session, principal, refused=form_failure(session, exc))
    return RedirectResponse("/policy/approvals?done=revoked#delegations", status_code=303)


# ---------------------------------------------------------------- alert routing and SLAs


def _routes(
    request: Request,
    session: Any,
    principal: Any,
    *,
    form: dict[str, Any] | None = None,
    refused: Refusal | None = None,
    done: str | None = None,
    editing_sla: str | None = None,
    sla_form: dict[str, Any] | None = None,
) -> Response:
    return render(
        request,
        "policy_routes.html",
        principal,
        routes=alert_service.list_routes(session),
        people=_people(session),
        users=[u for u in security_service.list_users(session) if u.is_active],
        slas=alert_service.list_slas(session),
        editing_sla=editing_sla,
        sla_form=sla_form or {},
        categories=ALERT_CATEGORIES,
        severities=SEVERITIES,
        can_edit=principal.can(Permission.RULES_MANAGE),
        done=done,
        **form_context(form, refused),
    )


@router.get("/policy/alert-routes", response_class=HTMLResponse)
def routes_page(
    request: Request, session: SessionDep, principal: CanCustomersRead, done: Done = None
) -> Response:
    """Who gets new alerts (the first matching route), and the response time per severity."""
    return _routes(request, session, principal, done=done)


@router.post("/policy/alert-routes", response_class=HTMLResponse)
def add_route(
    request: Request, session: SessionDep, principal: CanRulesManage, form: FormDep
) -> Response:
    """Add a routing rule (the same rule again changes nothing)."""
    data: dict[str, Any] = filled(
        form, ("position", "category", "min_severity", "region", "segment", "username")
    )
    data |= filled(form, ("escalate_to",)) | _checked(form, ("assign_to_owner",))
    try:
        _, added = alert_service.add_route(session, RouteIn.model_validate(data))
    except (ValidationError, RiskdeskError) as exc:
        refused = form_failure(session, exc, _CROSS_FIELD)
        return _routes(request, session, principal, form=data, refused=refused)
    done = "added" if added else "unchanged"
    return RedirectResponse(f"/policy/alert-routes?done={done}#routes", status_code=303)


@router.post("/policy/alert-routes/{route_id}/remove", response_class=HTMLResponse)
def remove_route(
    request: Request, route_id: PathId, session: SessionDep, principal: CanRulesManage
) -> Response:
    """Remove a routing rule."""
    try:
        alert_service.remove_route(session, route_id)
    except RiskdeskError as exc:
        return _routes(request, session, principal, refused=form_failure(session, exc))
    return RedirectResponse("/policy/alert-routes?done=removed#routes", status_code=303)


@router.post("/policy/alert-slas/{severity}", response_class=HTMLResponse)
def save_sla(
    request: Request,
    severity: Severity,
    session: SessionDep,
    principal: CanRulesManage,
    form: FormDep,
) -> Response:
    """Change the hours to act on alerts of a severity raised from now on (alerts already
    raised keep their due time); the same hours again change nothing."""
    data = filled(form, ("hours",))
    try:
        before = alert_service.sla_hours(session)[severity]
        sla = alert_service.update_sla(session, principal, severity, SlaIn.model_validate(data))
    except (ValidationError, RiskdeskError) as exc:
        refused = form_failure(session, exc, _CROSS_FIELD)
        return _routes(
            request, session, principal, editing_sla=severity, sla_form=data, refused=refused
        )
    done = "unchanged" if before == sla.hours else "saved"
    return RedirectResponse(f"/policy/alert-routes?done={done}#sla", status_code=303)
