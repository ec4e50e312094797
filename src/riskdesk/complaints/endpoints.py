"""API of the complaint desk (complaints arrive through the events API and file import)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from riskdesk.alerts.schemas import AlertRead
from riskdesk.complaints import service
from riskdesk.complaints.schemas import (
    AssignIn,
    ComplaintRead,
    ResolveIn,
    ResponseIn,
    SurgeRun,
    TrendRead,
)
from riskdesk.db import SessionDep
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.validation import PathId
from riskdesk.models import Complaint
from riskdesk.portfolio import service as portfolio_service
from riskdesk.portfolio.deps import ScopeFilter
from riskdesk.security.deps import CanComplaintsWork

router = APIRouter(tags=["complaints"])


def _late(done: dt.datetime | None, due: dt.datetime | None) -> bool | None:
    return done > due if done is not None and due is not None else None


def _read(complaint: Complaint, breach: str | None = None) -> ComplaintRead:
    c = complaint
    return ComplaintRead.model_validate(c).model_copy(
        update={
            "breach": breach,
            "answered_late": _late(c.responded_at, c.respond_by),
            "resolved_late": _late(c.resolved_at, c.resolve_by),
        }
    )


@dataclass(frozen=True)
class DeskFilter:
    """What the complaint desk is narrowed to."""

    status: str | None = "open_any"
    category: str | None = None
    product: str | None = None
    breached: bool = False
    customer_id: int | None = None


def desk_filter(
    status: Annotated[
        str | None, Query(pattern="^(open_any|open|in_progress|resolved|closed)$")
    ] = "open_any",
    category: Annotated[
        str | None, Query(pattern="^(product_quality|delivery|billing|service|other)$")
    ] = None,
    product: Annotated[str | None, Query(max_length=128)] = None,
    breached: bool = False,
    customer_id: Annotated[int | None, Query(ge=1)] = None,
) -> DeskFilter:
    """The desk's filter from query parameters (the desk's and its export's)."""
    return DeskFilter(status, category, product, breached, customer_id)


DeskFilterDep = Annotated[DeskFilter, Depends(desk_filter)]


# The desk answered 200 complaints (up to 1,000 asked with ``limit``) before it paged; a
# client that asks for no page still gets as many.
DESK_PAGE_SIZE = 200
DESK_MAX_SIZE = 1000


@router.get(
    "/complaints",
    response_model=list[ComplaintRead],
    responses={200: {"headers": {"X-Total-Count": {"schema": {"type": "integer"}}}}},
)
def complaint_desk(
    session: SessionDep,
    principal: CanComplaintsWork,
    flt: DeskFilterDep,
    scope: ScopeFilter,
    response: Response,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=DESK_MAX_SIZE)] = DESK_PAGE_SIZE,
    sort: Annotated[
        str,
        Query(
            pattern="^-?(opened|respond_by|resolve_by|severity)$",
            description="opened, respond_by, resolve_by (deadlines; none last) or severity;"
            " - descending",
        ),
    ] = "-opened",
    limit: Annotated[
        int | None, Query(ge=1, le=DESK_MAX_SIZE, deprecated=True, description="use size")
    ] = None,
) -> list[ComplaintRead]:
    """The complaints I may see, a page at a time, newest first unless ``sort`` says
    otherwise; ``breached`` keeps those past an SLA; the dashboard's customer filters (region,
    segment, ...) narrow it as they narrow its export. The total is in X-Total-Count."""
    within = portfolio_service.customers_within(scope)
    rows, total = service.page_desk(
        session, principal, within=within, page=PageParams(page, limit or size), sort=sort,
        **vars(flt),
    )  # fmt: skip
    response.headers["X-Total-Count"] = str(total)
    return [_read(r.complaint, r.breach) for r in rows]


@router.post("/complaints/{complaint_id}/respond", response_model=ComplaintRead)
def respond(
    complaint_id: PathId, body: ResponseIn, session: SessionDep, principal: CanComplaintsWork
) -> ComplaintRead:
    """Answer a complaint (the first answer settles the response SLA)."""
    return _read(service.respond(session, principal, complaint_id, body.response))


@router.post("/complaints/{complaint_id}/resolve", response_model=ComplaintRead)
def resolve(
    complaint_id: PathId, body: ResolveIn, session: SessionDep, principal: CanComplaintsWork
) -> ComplaintRead:
    """Resolve a complaint."""
    return _read(service.resolve(session, principal, complaint_id, body.response))


@router.post("/complaints/{complaint_id}/assign", response_model=ComplaintRead)
def assign(
    complaint_id: PathId, body: AssignIn, session: SessionDep, principal: CanComplaintsWork
) -> ComplaintRead:
    """Give a complaint to a colleague."""
    return _read(service.assign(session, principal, complaint_id, body.username))


@router.get("/complaint-trend", response_model=TrendRead)
def complaint_trend(
    session: SessionDep,
    principal: CanComplaintsWork,
    scope: ScopeFilter,
    weeks: Annotated[int, Query(ge=4, le=104)] = 26,
    top: Annotated[int, Query(ge=1, le=20)] = 6,
) -> TrendRead:
    """Weekly complaints of the most complained-about products, over the customers the desk
    lists: those I may see, of a region, a segment, ... when given."""
    within = portfolio_service.customers_within(scope)
    return TrendRead(**service.trend(session, principal, weeks=weeks, top=top, within=within))


@router.get("/product-alerts", response_model=list[AlertRead])
def product_alerts(
    session: SessionDep,
    principal: CanComplaintsWork,
    open_only: bool = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[AlertRead]:
    """Product-level alerts (complaint surges), newest first."""
    return [
        AlertRead.model_validate(a)
        for a in service.product_alerts(session, open_only=open_only, limit=limit)
    ]


@router.post("/complaint-surges", response_model=SurgeRun)
def run_surge_check(session: SessionDep, principal: CanComplaintsWork) -> SurgeRun:
    """Check every product for a complaint surge now (the server also does this every
    ``RISKDESK_COMPLAINT_SURGE_SECONDS``)."""
    raised, refreshed = service.detect_surges(session)
    return SurgeRun(raised=raised, refreshed=refreshed)
