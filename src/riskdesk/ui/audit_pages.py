"""The auditor's page: browse and filter the audit log, export it, check the chain."""

from __future__ import annotations

import datetime as dt
from contextlib import suppress
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from jinja2 import pass_context
from jinja2.runtime import Context

from riskdesk.audit import endpoints as audit_api
from riskdesk.audit import service as audit_service
from riskdesk.audit.repository import AuditFilter
from riskdesk.db import SessionDep
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import from_local, zone
from riskdesk.security.deps import CanAuditRead
from riskdesk.ui import audit_view
from riskdesk.ui.render import display_zone, render, templates

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
# What the log records entries about (set_context / trail.viewed), offered by name in the
# filter: the raw code typed in a box meant nothing to a reader in Chinese.
OBJECT_TYPES = (
    "customer", "customer_list", "customer_search", "alert", "user", "job", "export",
    "committee_pack", "audit_log", "lake",
)  # fmt: skip


@pass_context
def _change(context: Context, change: dict[str, Any]) -> str:
    return audit_view.change_label(context["t"], change)


@pass_context
def _item(context: Context, item: str) -> str:
    return audit_view.item_label(context["t"], str(item))


@pass_context
def _object(context: Context, object_type: str | None, object_id: str | None) -> str:
    return audit_view.object_label(context["t"], object_type, object_id)


templates.env.filters["audit_change"] = _change
templates.env.filters["audit_item"] = _item
templates.env.filters["audit_object"] = _object


def _query(flt: AuditFilter) -> str:
    from urllib.parse import urlencode

    values = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in vars(flt).items()}
    return urlencode({k: v for k, v in values.items() if v})


def _on_display_clock(request: Request, flt: AuditFilter) -> AuditFilter:
    """The page's From and Until (datetime-local fields, no zone) read on the clock the page
    shows times on; the API reads a time without a zone as UTC, and the page's own links
    (export, next page) carry the instant with its offset."""
    tz = zone(display_zone(request))
    changed: dict[str, Any] = {}
    for name in ("since", "until"):
        typed = request.query_params.get(name, "")
        value = getattr(flt, name)
        try:
            naive = typed and dt.datetime.fromisoformat(typed.strip()).tzinfo is None
        except ValueError:
            naive = False
        if value is not None and naive:
            with suppress(OverflowError):  # at the calendar's edge: kept as UTC
                changed[name] = from_local(value.replace(tzinfo=None), tz)
    return replace(flt, **changed) if changed else flt


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: SessionDep,
    principal: CanAuditRead,
    flt: Annotated[AuditFilter, Depends(audit_api.audit_filter)],
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    verify: bool = False,
) -> Response:
    """Entries newest first, with filters, export links and (on request) the chain check."""
    flt = _on_display_clock(request, flt)
    rows, total = audit_service.search(session, principal, flt, PageParams(page, PAGE_SIZE))
    return render(
        request,
        "audit.html",
        principal,
        entries=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        flt=flt,
        query=_query(flt),
        verification=(
            audit_service.verify_for(session, principal, request.app.state.settings)
            if verify
            else None
        ),
        actions=("write", "view", "reveal", "export", "erase"),
        channels=("api", "ui", "cli", "job", "system"),
        object_types=OBJECT_TYPES,
    )


@router.get("/audit/export")
def audit_export(
    request: Request,
    session: SessionDep,
    principal: CanAuditRead,
    flt: Annotated[AuditFilter, Depends(audit_api.audit_filter)],
    format: Literal["csv", "jsonl"] = "csv",
) -> StreamingResponse:
    """The filtered log as a file (the same as the API's export)."""
    return audit_api.export_entries(session, principal, _on_display_clock(request, flt), format)
