"""The relationship view's pages: logging a call, visit or e-mail on the credit file, a
customer's whole interaction timeline (searchable), and a search of the notes of every
customer the user may see."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from riskdesk.customers import repository as customer_repo
from riskdesk.customers import service as customer_service
from riskdesk.db import SessionDep
from riskdesk.kit.errors import RiskdeskError
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import from_local, zone
from riskdesk.kit.validation import PathId
from riskdesk.pipeline import intake
from riskdesk.relationship import service as relationship_service
from riskdesk.security.deps import CanEventsRead, CanInteractionsWrite
from riskdesk.security.permissions import Permission
from riskdesk.ui.customer_pages import credit_file
from riskdesk.ui.forms import FormDep, FormErrors, filled
from riskdesk.ui.relationship_panel import new_form_key
from riskdesk.ui.render import Reason, display_zone, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
LOG_FIELDS = ("channel", "kind", "occurred_at", "note", "next_step", "next_step_on")
_FORM_KEY = re.compile(r"^[0-9a-f]{16}$")
SearchText = Annotated[str | None, Query(max_length=200)]
PageNumber = Annotated[int, Query(ge=1, le=100_000)]


# ---------------------------------------------------------------- logging an interaction


def _form_key(form: Any) -> str:
    """The key the form was shown with: sending the same form twice (a double click, the back
    button) records one interaction. A missing or malformed key gets a fresh one."""
    key = form.get("form_key")
    return key if isinstance(key, str) and _FORM_KEY.match(key) else new_form_key()


def _on_display_clock(request: Request, data: dict[str, Any]) -> dict[str, str]:
    """The typed time (a datetime-local field has no zone) read on the clock the page shows,
    as an instant with its offset; a time that does not parse is left for intake to refuse."""
    typed = data.get("occurred_at")
    try:
        when = dt.datetime.fromisoformat(typed) if isinstance(typed, str) else None
    except ValueError:
        return {}
    if when is None or when.tzinfo is not None:
        return {}
    try:
        return {"occurred_at": from_local(when, zone(display_zone(request))).isoformat()}
    except OverflowError:  # year 1 or 9999 pushed off the calendar: intake judges it as typed
        return {}


@router.post("/customers/{customer_id}/interactions", response_class=HTMLResponse)
def log_interaction(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanInteractionsWrite,
    form: FormDep,
) -> Response:
    """Log a call, visit or e-mail with its notes and next step on the credit file: an event
    like one sent by a CRM (source "ui", the form's key), through the same intake."""
    data = filled(form, LOG_FIELDS)
    key = _form_key(form)
    try:
        customer_service.get_customer_or_raise(session, principal, customer_id)
        record = {
            "source": "ui",
            "external_id": f"ui-{key}",
            "customer_code": customer_repo.customer_code(customer_id),
            **data,
            **_on_display_clock(request, data),
        }
        report = intake.ingest(session, principal, "interactions", [record], channel="ui")
    except RiskdeskError as exc:
        session.rollback()
        details = getattr(exc, "details", None) or []
        errors: FormErrors = [(d.field, Reason.of_detail(d)) for d in details] or [
            (exc.field, Reason.of_error(exc))
        ]
        if any(getattr(r, "code", None) == "idempotency_conflict" for _, r in errors):
            # The form was sent before with other words (back, edit, send): it cannot change
            # what is recorded. A fresh form keeps what was typed, to log it anew.
            key = new_form_key()
            already = Reason(
                "this form was already sent with other content; what you typed is kept: send "
                "it again to log it as a new interaction",
                "form_already_sent",
            )
            errors = [(None, already)]
        return credit_file(
            request,
            session,
            principal,
            customer_id,
            status_code=exc.status_code,
            form_errors=[(f if f in LOG_FIELDS else None, r) for f, r in errors],
            relationship_form={"form": data, "form_key": key},
        )
    done = "logged" if report.results[0].status == "created" else "duplicate"
    return RedirectResponse(
        f"/customers/{customer_id}?interaction={done}#relationship-panel", status_code=303
    )


# ---------------------------------------------------------------- a customer's timeline


@router.get("/customers/{customer_id}/interactions", response_class=HTMLResponse)
def customer_timeline(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanEventsRead,
    q: SearchText = None,
    page: PageNumber = 1,
) -> Response:
    """A customer's interactions, newest first, paged; ``q`` keeps those whose notes hold
    every word."""
    customer = customer_service.get_customer_or_raise(session, principal, customer_id)
    found = relationship_service.timeline(
        session, principal, customer_id, q=q, page=PageParams(page, PAGE_SIZE)
    )
    return render(
        request,
        "interactions.html",
        principal,
        customer=customer,
        found=found,
        q=q or "",
        view_query=urlencode({"q": q} if q else {}),
        can_log=principal.can(Permission.INTERACTIONS_WRITE) and customer.status != "merged",
    )


# ---------------------------------------------------------------- searching the notes


@router.get("/interactions", response_class=HTMLResponse)
def search_interactions(
    request: Request,
    session: SessionDep,
    principal: CanEventsRead,
    q: SearchText = None,
    page: PageNumber = 1,
) -> Response:
    """Interactions whose notes hold every word typed, of the customers the user may see."""
    words = relationship_service.search_words(q)
    found = (
        relationship_service.search(session, principal, q=q or "", page=PageParams(page, PAGE_SIZE))
        if words
        else None
    )
    return render(
        request,
        "interactions.html",
        principal,
        customer=None,
        found=found,
        q=q or "",
        view_query=urlencode({"q": q} if q else {}),
        can_log=False,
    )
