"""The queue of customer changes waiting for a second person."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from riskdesk.customers import service as customer_service
from riskdesk.db import SessionDep
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.validation import PathId
from riskdesk.security.deps import CanChangesApprove, CanCustomersRead
from riskdesk.security.permissions import Permission
from riskdesk.ui.lists import LIST_PAGE_SIZE, list_pager
from riskdesk.ui.render import render

router = APIRouter(include_in_schema=False)


@router.get("/approvals", response_class=HTMLResponse)
def approvals_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    done: Annotated[int | None, Query(ge=1)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    sort: Annotated[str, Query(pattern="^-?(requested|customer)$")] = "requested",
) -> Response:
    """The queue of changes waiting for a second person, a page at a time, the longest
    waiting first, or newest or by customer."""
    pending, total = customer_service.page_pending(
        session, principal, status="pending", page=PageParams(page, LIST_PAGE_SIZE), sort=sort
    )
    return render(
        request,
        "approvals.html",
        principal,
        pending=pending,
        done=done,
        done_status=status if status in ("approved", "rejected", "withdrawn") else None,
        can_approve=principal.can(Permission.CHANGES_APPROVE),
        pager=list_pager("/approvals", {}, sort, page, total),
        sorts=("requested", "-requested", "customer"),
    )


@router.post("/approvals/{change_id}/approve")
def approve_change(
    change_id: PathId,
    session: SessionDep,
    principal: CanChangesApprove,
    comment: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Approve a change."""
    customer_service.approve_change(session, principal, change_id, comment)
    return RedirectResponse(f"/approvals?done={change_id}&status=approved", status_code=303)


@router.post("/approvals/{change_id}/reject")
def reject_change(
    change_id: PathId,
    session: SessionDep,
    principal: CanCustomersRead,
    comment: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Reject a change, or withdraw one's own."""
    change = customer_service.reject_change(session, principal, change_id, comment)
    return RedirectResponse(f"/approvals?done={change_id}&status={change.status}", status_code=303)
