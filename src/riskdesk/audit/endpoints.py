"""API of the audit log, for auditors: browse, filter, export, verify."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BeforeValidator, StringConstraints

from riskdesk.audit import service
from riskdesk.audit.repository import AuditFilter
from riskdesk.audit.schemas import (
    AnchorRead,
    AuditEntryRead,
    ChainRead,
    FindingRead,
    VerificationRead,
)
from riskdesk.db import SessionDep
from riskdesk.kit.pagination import MAX_PAGE_SIZE, Page, PageParams
from riskdesk.kit.validation import BusinessTimestamp
from riskdesk.security.deps import CanAuditRead

router = APIRouter(tags=["audit"])


def _blank(value: object) -> object:
    return value if value != "" else None  # an empty form field is no filter


Blank = BeforeValidator(_blank)
Short = Annotated[Annotated[str, StringConstraints(max_length=64)] | None, Blank, Query()]
Actions = Literal["write", "view", "reveal", "export", "erase"]
Channels = Literal["api", "ui", "cli", "job", "system"]


def audit_filter(
    actor: Short = None,
    action: Annotated[Actions | None, Blank, Query()] = None,
    object_type: Annotated[
        Annotated[str, StringConstraints(max_length=32)] | None, Blank, Query()
    ] = None,
    object_id: Short = None,
    channel: Annotated[Channels | None, Blank, Query()] = None,
    since: Annotated[BusinessTimestamp | None, Blank, Query()] = None,
    until: Annotated[BusinessTimestamp | None, Blank, Query()] = None,
    request: Annotated[
        Annotated[str, StringConstraints(max_length=100)] | None,
        Blank,
        Query(description="part of the route"),
    ] = None,
) -> AuditFilter:
    """The filter from query parameters (times without a zone are read as UTC)."""

    def utc(value: dt.datetime | None) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value

    return AuditFilter(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        channel=channel,
        since=utc(since),
        until=utc(until),
        request=request,
    )


FilterDep = Annotated[AuditFilter, Depends(audit_filter)]


@router.get("/audit-log", response_model=Page[AuditEntryRead])
def list_entries(
    session: SessionDep,
    principal: CanAuditRead,
    flt: FilterDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Page[AuditEntryRead]:
    """Entries newest first (by time written, then id), filtered."""
    rows, total = service.search(session, principal, flt, PageParams(page, size))
    return Page(
        items=[AuditEntryRead.model_validate(r) for r in rows], total=total, page=page, size=size
    )


@router.get(
    "/audit-log/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
def export_entries(
    session: SessionDep,
    principal: CanAuditRead,
    flt: FilterDep,
    format: Literal["csv", "jsonl"] = "csv",
) -> StreamingResponse:
    """The matching entries, oldest first (by time written, then id), as CSV or JSON lines
    (the export is logged)."""
    chunks = list(service.export(session, principal, flt, format))
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        iter(chunks),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.{format}"'},
    )


@router.get("/audit-log/verification", response_model=VerificationRead)
def verify_chain(
    request: Request, session: SessionDep, principal: CanAuditRead
) -> VerificationRead:
    """Check every chain now and hold each against its latest checkpoint (as `riskdesk audit
    verify` does)."""
    result = service.verify_for(session, principal, request.app.state.settings)
    return VerificationRead(
        ok=result.ok,
        unanchored=result.unanchored,
        entries=result.entries,
        chains=[
            ChainRead(
                chain=c.chain,
                entries=c.entries,
                head_seq=c.head_seq,
                head_hash=c.head_hash,
                anchored=c.anchored,
            )
            for c in result.used
        ],
        findings=[FindingRead(**asdict(f)) for f in result.findings],
        anchors=[AnchorRead(**asdict(a)) for a in result.anchors],
        checkpoint_files=result.looked_in,
    )
