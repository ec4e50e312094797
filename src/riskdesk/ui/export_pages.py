"""The list pages' downloads: each list under the page's filters as Excel or CSV, labelled in
the page's language. Each calls the API's export with the filter the page itself parses, so a
file holds exactly what the page lists (every page of it)."""

from __future__ import annotations

from typing import Annotated, Literal, cast

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from riskdesk.alerts.endpoints import AlertFilterDep
from riskdesk.complaints.endpoints import DeskFilterDep
from riskdesk.credit.endpoints import DecisionFilter
from riskdesk.db import SessionDep
from riskdesk.kit.exports import ExportFormat
from riskdesk.policy.endpoints import RequestFilter
from riskdesk.reports import endpoints as reports_api
from riskdesk.reports.schemas import ExportLocale
from riskdesk.security.deps import CanComplaintsWork, CanCustomersRead
from riskdesk.ui import portfolio_pages
from riskdesk.ui.customer_pages import PageCustomerFilter
from riskdesk.ui.i18n import pick_locale

router = APIRouter(include_in_schema=False)
FormatQuery = Annotated[ExportFormat, Query()]


def _locale(request: Request) -> ExportLocale:
    return cast(ExportLocale, pick_locale(request, request.app.state.settings.default_locale))


@router.get("/customers/export")
def customers_export(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    chosen: PageCustomerFilter,
    format: FormatQuery = "csv",
) -> StreamingResponse:
    """The customer list under the page's search and filters."""
    flt, said = chosen
    return reports_api.customers_file(
        request, session, principal, flt, format, _locale(request), said=said
    )


@router.get("/ageing/export")
def ageing_export(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    chosen: PageCustomerFilter,
    format: FormatQuery = "csv",
) -> StreamingResponse:
    """Receivables ageing per customer, for the customers the customer list's filters select."""
    flt, said = chosen
    return reports_api.ageing_file(
        request, session, principal, flt, format, _locale(request), said=said
    )


@router.get("/exposure/export")
def exposure_export(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    chosen: PageCustomerFilter,
    format: FormatQuery = "csv",
) -> StreamingResponse:
    """Credit exposure per customer, for the customers the customer list's filters select."""
    flt, said = chosen
    return reports_api.exposure_file(
        request, session, principal, flt, format, _locale(request), said=said
    )


@router.get("/alerts/export")
def alerts_export(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    flt: AlertFilterDep,
    format: Literal["csv", "jsonl", "xlsx"] = "csv",
) -> StreamingResponse:
    """The queue's alerts under its filters: the portfolio's customer filters (a region, a
    tier...) and ``assigned`` are the queue's and the API's alike."""
    return reports_api.export_alerts(request, session, principal, flt, format, _locale(request))


@router.get("/worklist/export")
def held_orders_export(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    scope: portfolio_pages.PageFilter,
    format: FormatQuery = "csv",
) -> StreamingResponse:
    """The held orders the worklist shows (of a region, a tier, ... as the page was opened)."""
    flt = DecisionFilter(status="held")
    return reports_api.export_decisions(
        request, session, principal, flt, scope, format, _locale(request)
    )


@router.get("/limit-requests/export")
def limit_requests_export(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    scope: portfolio_pages.PageFilter,
    format: FormatQuery = "csv",
) -> StreamingResponse:
    """The pending limit requests the page shows (of a region, a tier, ...)."""
    flt = RequestFilter(status="pending")
    return reports_api.export_requests(
        request, session, principal, flt, scope, format, _locale(request)
    )


@router.get("/reviews/export")
def reviews_export(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    scope: portfolio_pages.PageFilter,
    horizon: Annotated[int, Query(ge=0, le=366)] = 30,
    format: FormatQuery = "csv",
) -> StreamingResponse:
    """The review queue under the page's horizon (and its region, tier, ...)."""
    return reports_api.export_review_queue(
        request, session, principal, scope, horizon, format, _locale(request)
    )


@router.get("/complaints/export")
def complaints_export(
    request: Request,
    session: SessionDep,
    principal: CanComplaintsWork,
    flt: DeskFilterDep,
    scope: portfolio_pages.PageFilter,
    format: FormatQuery = "csv",
) -> StreamingResponse:
    """The complaint desk under the page's filters (a region, a segment, ... too)."""
    return reports_api.export_complaints(
        request, session, principal, flt, scope, format, _locale(request)
    )
