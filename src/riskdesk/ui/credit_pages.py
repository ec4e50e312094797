"""The credit work lists: limit requests, orders held by the credit check, periodic reviews,
and customer groups with their limits."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from riskdesk.credit import service as credit_service
from riskdesk.credit.schemas import GroupDecisionIn, GroupLimitIn
from riskdesk.customers import repository as customer_repo
from riskdesk.customers import service as customer_service
from riskdesk.db import SessionDep
from riskdesk.indicators.catalogue import CATALOGUE as INDICATOR_CATALOGUE
from riskdesk.kit.errors import RiskdeskError, ValidationFailed
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.validation import PathId
from riskdesk.policy import service as policy_service
from riskdesk.policy.schemas import ReviewComplete
from riskdesk.security import repository as users_repo
from riskdesk.security.deps import (
    CanChangesApprove,
    CanCreditDecisionsResolve,
    CanCreditPolicyManage,
    CanCustomersRead,
    CanLimitRequestsCreate,
    CanReviewsPerform,
)
from riskdesk.security.permissions import Permission
from riskdesk.ui.forms import FormDep, filled, form_failure
from riskdesk.ui.i18n import pick_locale
from riskdesk.ui.lists import (
    LIST_PAGE_SIZE,
    SCOPE_NAMES,
    ScopeDep,
    list_pager,
    scope_query,
    scope_shown,
    within_scope,
)
from riskdesk.ui.render import render

router = APIRouter(include_in_schema=False)


DECISION_STATUSES = ("approved", "held", "rejected", "released", "consumed")


@router.get("/limit-requests", response_class=HTMLResponse)
def limit_requests_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    scope: ScopeDep,
    done: Annotated[int | None, Query(ge=1)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    sort: Annotated[str, Query(pattern="^-?(requested|amount|expires)$")] = "-requested",
) -> Response:
    """Limit requests waiting for a decision (of a region, a tier, ... when asked), a page at a
    time, newest first or by amount or expiry."""
    pending, total = policy_service.page_requests(
        session, principal, status="pending", within=within_scope(scope),
        page=PageParams(page, LIST_PAGE_SIZE), sort=sort,
    )  # fmt: skip
    customers = customer_repo.customers_with_profiles(
        session, sorted({r.customer_id for r in pending})
    )
    people = {
        uid: users_repo.get_user(session, uid) for uid in {r.requested_by_id for r in pending}
    }
    shown = scope_shown(session, scope)
    return render(
        request,
        "limit_requests.html",
        principal,
        pending=pending,
        names={cid: (c.code, c.name) for cid, (c, _) in customers.items()},
        people={uid: (u.display_name if u else str(uid)) for uid, u in people.items()},
        done=done,
        done_status=status if status in ("approved", "rejected", "withdrawn") else None,
        can_approve=principal.can(Permission.LIMIT_REQUESTS_APPROVE),
        scope=shown,
        pager=list_pager("/limit-requests", shown, sort, page, total),
        sorts=("-requested", "requested", "-amount", "amount", "expires"),
        export_query=scope_query(shown),
    )


@router.get("/limit-requests/{request_id:int}", response_class=HTMLResponse)
def limit_request_page(
    request: Request, request_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> Response:
    """One limit request: the customer, requested against current limit, who asked and why,
    its status and the decision with its note."""
    req = policy_service.get_request_or_raise(session, principal, request_id)
    customer = customer_service.get_customer_or_raise(session, principal, req.customer_id)
    people = {
        uid: (u.display_name if (u := users_repo.get_user(session, uid)) else str(uid))
        for uid in {req.requested_by_id, req.decided_by_id, req.on_behalf_of_id}
        if uid is not None
    }
    return render(
        request,
        "limit_request.html",
        principal,
        r=req,
        customer=customer,
        people=people,
        can_approve=principal.can(Permission.LIMIT_REQUESTS_APPROVE),
        can_decide=principal.can(Permission.LIMIT_REQUESTS_CREATE),
    )


@router.post("/limit-requests/{request_id}/{action}")
def decide_limit_request(
    request_id: PathId,
    action: str,
    session: SessionDep,
    principal: CanLimitRequestsCreate,
    comment: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Approve (within one's authority) or reject a limit request; withdraw one's own."""
    if action == "approve":
        decided = policy_service.approve(session, principal, request_id, comment)
    elif action == "reject":
        decided = policy_service.reject(session, principal, request_id, comment)
    else:
        raise ValidationFailed(f"unknown action {action!r}", field="action")
    return RedirectResponse(
        f"/limit-requests?done={request_id}&status={decided.status}", status_code=303
    )


# Long enough for the monthly reviews of critical customers (a month can be 31 days).
REVIEW_HORIZON_DAYS = 60
REVIEW_HORIZONS = (7, 30, 60, 90)


@router.get("/reviews", response_class=HTMLResponse)
def reviews_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    scope: ScopeDep,
    horizon: Annotated[int, Query(ge=0, le=366)] = REVIEW_HORIZON_DAYS,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    sort: Annotated[str, Query(pattern="^-?(due|customer)$")] = "due",
) -> Response:
    """The review queue: overdue and soon-due periodic reviews (of a region, a tier, ...), a
    page at a time, soonest first or by customer."""
    queue, total = policy_service.page_queue(
        session, principal, horizon_days=horizon, within=within_scope(scope),
        page=PageParams(page, LIST_PAGE_SIZE), sort=sort,
    )  # fmt: skip
    shown = scope_shown(session, scope)
    # The pages keep the horizon too (it is not a customer filter, so not in the scope note).
    paged = shown | {"horizon": (str(horizon), str(horizon))}
    return render(
        request,
        "reviews.html",
        principal,
        queue=queue,
        scope=shown,
        export_query=scope_query(shown, horizon=str(horizon)),
        horizon=horizon,
        horizons=REVIEW_HORIZONS,
        # The scope's filters and the order are kept when the horizon changes.
        kept={
            k: v for k, v in request.query_params.items() if (k in SCOPE_NAMES or k == "sort") and v
        },
        can_review=principal.can(Permission.REVIEWS_PERFORM),
        pager=list_pager("/reviews", paged, sort, page, total),
        sorts=("due", "-due", "customer", "-customer"),
    )


@router.post("/customers/{customer_id}/reviews")
def start_review(
    customer_id: PathId, session: SessionDep, principal: CanReviewsPerform
) -> Response:
    """Open (or continue) a customer's review."""
    review, _ = policy_service.open_review(session, principal, customer_id)
    return RedirectResponse(f"/reviews/{review.id}", status_code=303)


def _review_page(
    request: Request,
    session: Any,
    principal: Any,
    review_id: int,
    *,
    status_code: int = 200,
    form_errors: list[tuple[str | None, str]] | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    review = policy_service.get_review(session, principal, review_id)
    customer = customer_service.read_customer(session, principal, review.customer_id)
    zh = pick_locale(request, request.app.state.settings.default_locale) == "zh-CN"
    labels = {i.name: (i.zh if zh else i.en) for i in INDICATOR_CATALOGUE}
    return render(
        request,
        "review.html",
        principal,
        status_code=status_code,
        r=review,
        customer=customer,
        labels=labels,
        can_review=principal.can(Permission.REVIEWS_PERFORM),
        form_errors=form_errors or [],
        form=form or {},
    )


@router.get("/reviews/{review_id}", response_class=HTMLResponse)
def review_page(
    request: Request, review_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> Response:
    """A review: the evidence captured when it was opened, and the decision form."""
    return _review_page(request, session, principal, review_id)


@router.post("/reviews/{review_id}/complete", response_class=HTMLResponse)
def complete_review(
    request: Request,
    review_id: PathId,
    session: SessionDep,
    principal: CanReviewsPerform,
    form: FormDep,
) -> Response:
    """Sign off a review."""
    data = filled(form, ("outcome", "comment", "new_limit"))
    try:
        review = policy_service.complete_review(
            session, principal, review_id, ReviewComplete.model_validate(data)
        )
    except (ValidationError, RiskdeskError) as exc:
        status, errors = form_failure(session, exc)
        return _review_page(
            request,
            session,
            principal,
            review_id,
            status_code=status,
            form_errors=errors,
            form=data,
        )
    return RedirectResponse(f"/reviews/{review.id}", status_code=303)


@router.get("/worklist", response_class=HTMLResponse)
def worklist_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    scope: ScopeDep,
    done: Annotated[int | None, Query(ge=1)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    sort: Annotated[str, Query(pattern="^-?(created|amount)$")] = "-created",
) -> Response:
    """Orders held by the credit check, waiting for a person (of a region, a tier, ...), a
    page at a time, newest first or by amount."""
    held, total = credit_service.page_decisions(
        session, principal, status="held", within=within_scope(scope),
        page=PageParams(page, LIST_PAGE_SIZE), sort=sort,
    )  # fmt: skip
    customers = customer_repo.customers_with_profiles(
        session, sorted({d.customer_id for d in held})
    )
    shown = scope_shown(session, scope)
    return render(
        request,
        "worklist.html",
        principal,
        held=held,
        names={cid: (c.code, c.name) for cid, (c, _) in customers.items()},
        done=done,
        done_status=status if status in DECISION_STATUSES else None,
        can_resolve=principal.can(Permission.CREDIT_DECISIONS_RESOLVE),
        scope=shown,
        pager=list_pager("/worklist", shown, sort, page, total),
        sorts=("-created", "created", "-amount", "amount"),
        export_query=scope_query(shown),
    )


@router.post("/worklist/{decision_id}/{action}")
def resolve_held(
    decision_id: PathId,
    action: str,
    session: SessionDep,
    principal: CanCreditDecisionsResolve,
    reason: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Release, reject or recheck a held order."""
    text = (reason or "").strip()
    if action == "recheck":
        decision = credit_service.recheck(session, principal, decision_id)
    elif action in ("release", "reject"):
        if len(text) < 3:
            raise ValidationFailed(
                "give a reason of at least 3 characters",
                field="reason",
                code="string_too_short" if text else "missing",
            )
        fn = credit_service.release if action == "release" else credit_service.reject
        decision = fn(session, principal, decision_id, text)
    else:
        raise ValidationFailed(f"unknown action {action!r}", field="action")
    return RedirectResponse(
        f"/worklist?done={decision_id}&status={decision.status}", status_code=303
    )


def _groups(
    request: Request,
    session: Any,
    principal: Any,
    *,
    status_code: int = 200,
    form_errors: list[tuple[str | None, str]] | None = None,
    form: dict[str, Any] | None = None,
    done: int | None = None,
    done_status: str | None = None,
) -> Response:
    groups = credit_service.list_groups(session)
    pending = credit_service.pending_group_limits(session)
    codes = {g.id: (g.code, g.name) for g, _, _ in groups}
    people = {
        uid: users_repo.get_user(session, uid) for uid in {c.requested_by_id for c in pending}
    }
    return render(
        request,
        "groups.html",
        principal,
        status_code=status_code,
        groups=groups,
        pending=pending,
        codes=codes,
        people={uid: (u.display_name if u else str(uid)) for uid, u in people.items()},
        can_request=principal.can(Permission.CREDIT_POLICY_MANAGE),
        can_approve=principal.can(Permission.CHANGES_APPROVE),
        form_errors=form_errors or [],
        form=form or {},
        done=done,
        done_status=done_status,
    )


@router.get("/groups", response_class=HTMLResponse)
def groups_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    done: Annotated[int | None, Query(ge=1)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """Customer groups: limit, exposure, utilisation and limit changes waiting for approval."""
    return _groups(
        request,
        session,
        principal,
        done=done,
        done_status=status if status in ("pending", "approved", "rejected") else None,
    )


@router.get("/groups/{code}", response_class=HTMLResponse)
def group_page(
    request: Request,
    code: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    principal: CanCustomersRead,
) -> Response:
    """One customer group: its limit against its counted exposure, the members the caller may
    see with their tier, limit, exposure and utilisation, and its limit changes."""
    group = credit_service.get_group_or_raise(session, code)
    members, member_count = credit_service.group_members(session, principal, group.id)
    changes = credit_service.group_limit_history(session, group.id)
    exposure = next(e for g, _, e in credit_service.list_groups(session) if g.id == group.id)
    uids = {c.requested_by_id for c in changes} | {c.decided_by_id for c in changes}
    people = {
        uid: (u.display_name if (u := users_repo.get_user(session, uid)) else str(uid))
        for uid in uids
        if uid is not None
    }
    return render(
        request,
        "group.html",
        principal,
        g=group,
        members=members,
        member_count=member_count,
        exposure=exposure,
        changes=changes,
        people=people,
        can_approve=principal.can(Permission.CHANGES_APPROVE),
    )


@router.post("/groups/{code}/limit", response_class=HTMLResponse)
def request_group_limit(
    request: Request,
    code: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    principal: CanCreditPolicyManage,
    form: FormDep,
) -> Response:
    """Ask for a new group limit (empty removes it); a second person approves it."""
    data: dict[str, Any] = {"code": code}
    for name in ("credit_limit", "limit_currency", "reason"):
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            data[name] = value.strip()
    try:
        body = GroupLimitIn.model_validate({k: v for k, v in data.items() if k != "code"})
        change = credit_service.request_group_limit(
            session, principal, code, body.credit_limit, body.limit_currency, body.reason
        )
    except (ValidationError, RiskdeskError) as exc:
        status, errors = form_failure(session, exc)
        return _groups(
            request,
            session,
            principal,
            status_code=status,
            form_errors=errors,
            form=data,
        )
    return RedirectResponse(f"/groups?done={change.id}&status=pending", status_code=303)


@router.post("/group-limit-changes/{change_id}/{action}")
def decide_group_limit(
    change_id: PathId,
    action: str,
    session: SessionDep,
    principal: CanChangesApprove,
    form: FormDep,
) -> Response:
    """Approve or reject a group limit change (not one's own), with a comment."""
    if action not in ("approve", "reject"):
        raise ValidationFailed(f"unknown action {action!r}", field="action")
    body = GroupDecisionIn.model_validate({"comment": form.get("comment") or None})
    change = credit_service.decide_group_limit(
        session, principal, change_id, approve=action == "approve", comment=body.comment
    )
    return RedirectResponse(f"/groups?done={change_id}&status={change.status}", status_code=303)
