"""API of exports: every list as Excel (.xlsx) or CSV, under the list's own filters.

Each export sits beside its list (``GET /<list>/export``), takes the list's filters through the
list's own filter dependency, asks the list's permission, and answers a streamed file named
after the list and the day. Headers and enumerated values follow ``lang`` (else
Accept-Language). The router is included before the domains' routers, so ``/customers/export``
is matched before ``/customers/{customer_id}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from riskdesk.alerts import service as alert_service
from riskdesk.alerts.endpoints import AlertFilterDep
from riskdesk.company import service as company_service
from riskdesk.complaints import service as complaint_service
from riskdesk.complaints.endpoints import DeskFilterDep
from riskdesk.credit import service as credit_service
from riskdesk.credit.endpoints import DecisionFilterDep
from riskdesk.customers import service as customer_service
from riskdesk.customers.endpoints import CustomerFilterDep
from riskdesk.customers.repository import CustomerFilter
from riskdesk.db import SessionDep
from riskdesk.indicators import service as indicator_service
from riskdesk.kit.exports import CHUNK_ROWS, MEDIA_TYPES, Column, ExportFormat
from riskdesk.kit.messages import choose_locale
from riskdesk.kit.timeutil import utcnow, zone
from riskdesk.kit.validation import PathId
from riskdesk.policy import service as policy_service
from riskdesk.policy.endpoints import HorizonQuery, RequestFilterDep
from riskdesk.portfolio import service as portfolio_service
from riskdesk.portfolio.deps import ScopeFilter
from riskdesk.portfolio.schemas import PortfolioFilter
from riskdesk.reports import credit_report, pdf, service
from riskdesk.reports.formatting import View, translator
from riskdesk.reports.schemas import ExportFile, ExportLocale, ListExport, ReportFormat
from riskdesk.security.deps import CanComplaintsWork, CanCustomersRead
from riskdesk.security.service import Principal

router = APIRouter(tags=["exports"])

FormatQuery = Annotated[
    ExportFormat, Query(description="xlsx: typed cells; csv: UTF-8 with a byte order mark")
]
LangQuery = Annotated[
    ExportLocale | None,
    Query(description="language of headers and values; default from Accept-Language"),
]
FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the file, streamed",
        "content": {MEDIA_TYPES["csv"]: {}, MEDIA_TYPES["xlsx"]: {}},
        "headers": {"Content-Disposition": {"schema": {"type": "string"}}},
    }
}
Rows = Callable[[Session], Iterator[Mapping[str, Any]]]


def locale_of(request: Request, lang: str | None) -> str:
    """The language asked for, else the request's (as the UI chooses it)."""
    return lang or choose_locale(
        None, request.headers.get("accept-language", ""), request.app.state.settings.default_locale
    )


def respond(file: ExportFile) -> StreamingResponse:
    """The file as a streamed download."""
    return StreamingResponse(
        file.chunks,
        media_type=file.media_type,
        headers={"Content-Disposition": file.disposition, "X-Total-Count": str(file.rows)},
    )


def _export(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    spec: ListExport,
    fmt: ExportFormat,
    lang: str | None,
    filters: Mapping[str, Any],
    count: int,
    rows: Rows,
    columns: Callable[[str], tuple[Column, ...]] | None = None,
) -> StreamingResponse:
    locale = locale_of(request, lang)
    return respond(
        service.export(
            session,
            request.app.state.sessionmaker,
            principal,
            spec=spec,
            fmt=fmt,
            locale=locale,
            filters=filters,
            count=count,
            rows=rows,
            columns=columns(locale) if columns else None,
        )
    )


def _scope_said(scope: PortfolioFilter) -> dict[str, Any]:
    """The portfolio's customer filters as given, for the export's audit record."""
    return scope.model_dump(exclude={"period_days"}, exclude_none=True)


@router.get("/customers/export", response_class=StreamingResponse, responses=FILE)
def export_customers(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    flt: CustomerFilterDep,
    format: FormatQuery = "csv",
    lang: LangQuery = None,
) -> StreamingResponse:
    """The customer list under its filters (as GET /customers takes them), every page."""
    return customers_file(request, session, principal, flt, format, lang)


def _given(flt: CustomerFilter, said: Mapping[str, Any] | None) -> Mapping[str, Any]:
    # The filters as given for the audit record: never a drill-down's subquery as SQL.
    return {k: v for k, v in vars(flt).items() if k != "within"} if said is None else said


def customers_file(
    request: Request,
    session: Session,
    principal: Principal,
    flt: CustomerFilter,
    fmt: ExportFormat,
    lang: str | None,
    said: Mapping[str, Any] | None = None,
) -> StreamingResponse:
    """The customer export; ``said``: the filters as the caller gave them, for the audit
    record (a page's drill-down, such as an ageing bucket, narrows ``flt`` by a subquery,
    which the record names by its field rather than as SQL)."""
    return _export(
        request,
        session,
        principal,
        spec=service.CUSTOMERS,
        fmt=fmt,
        lang=lang,
        filters=_given(flt, said),
        count=customer_service.export_count(session, principal, flt=flt),
        rows=lambda s: customer_service.export_rows(s, principal, flt=flt, chunk=CHUNK_ROWS),
    )


@router.get(
    "/alerts/export",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}, "application/x-ndjson": {}, MEDIA_TYPES["xlsx"]: {}}}
    },
)
def export_alerts(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    flt: AlertFilterDep,
    format: Literal["csv", "jsonl", "xlsx"] = "csv",
    lang: LangQuery = None,
) -> StreamingResponse:
    """Every alert the caller may see that matches (the list's filters, the customer filters
    and ``assigned`` too), newest first. xlsx: typed columns in the caller's language. csv
    (without evidence) and jsonl (with evidence) keep their field-name headers, for the
    machines that read them. Streamed as read; the export is logged."""
    if format == "xlsx":
        return _export(
            request,
            session,
            principal,
            spec=service.ALERTS,
            fmt=format,
            lang=lang,
            filters=flt.said(),
            count=alert_service.count_alerts(session, principal, flt),
            rows=lambda _: alert_service.export_typed_rows(
                request.app.state.sessionmaker, principal, flt
            ),
            columns=service.alert_columns,
        )
    chunks = alert_service.export_alerts(
        session, request.app.state.sessionmaker, principal, flt, format
    )
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        chunks,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="alerts-{stamp}.{format}"'},
    )


@router.get("/worklist/export", response_class=StreamingResponse, responses=FILE)
def export_cases(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    format: FormatQuery = "csv",
    lang: LangQuery = None,
) -> StreamingResponse:
    """The open cases (GET /worklist), the most at stake first, every page."""
    return _export(
        request,
        session,
        principal,
        spec=service.CASES,
        fmt=format,
        lang=lang,
        filters={},
        count=alert_service.count_cases(session, principal),
        rows=lambda s: alert_service.export_cases(s, principal, chunk=CHUNK_ROWS),
    )


@router.get("/credit-decisions/export", response_class=StreamingResponse, responses=FILE)
def export_decisions(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    flt: DecisionFilterDep,
    scope: ScopeFilter,
    format: FormatQuery = "csv",
    lang: LangQuery = None,
) -> StreamingResponse:
    """Credit decisions under the list's filters (and the portfolio's customer filters, as the
    held-order worklist takes them), newest first, all of them (the list shows the latest
    200); status=held is the held-order worklist, named so in the file."""
    spec = service.HELD_ORDERS if flt.status == "held" else service.DECISIONS
    within = portfolio_service.customers_within(scope)
    return _export(
        request,
        session,
        principal,
        spec=spec,
        fmt=format,
        lang=lang,
        filters=vars(flt) | _scope_said(scope),
        count=credit_service.count_decisions(
            session, principal, status=flt.status, customer_id=None, within=within
        ),
        rows=lambda s: credit_service.export_decisions(
            s, principal, status=flt.status, customer_id=None, chunk=CHUNK_ROWS, within=within
        ),
        columns=lambda locale: service.decision_columns(spec, locale),
    )


@router.get("/limit-requests/export", response_class=StreamingResponse, responses=FILE)
def export_requests(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    flt: RequestFilterDep,
    scope: ScopeFilter,
    format: FormatQuery = "csv",
    lang: LangQuery = None,
) -> StreamingResponse:
    """Limit requests under the list's filters (and the portfolio's customer filters, as the
    limit request page takes them), newest first, all of them."""
    narrowing = vars(flt) | {"within": portfolio_service.customers_within(scope)}
    return _export(
        request,
        session,
        principal,
        spec=service.LIMIT_REQUESTS,
        fmt=format,
        lang=lang,
        filters=vars(flt) | _scope_said(scope),
        count=policy_service.count_requests(session, principal, **narrowing),
        rows=lambda s: policy_service.export_requests(s, principal, chunk=CHUNK_ROWS, **narrowing),
    )


@router.get("/reviews/queue/export", response_class=StreamingResponse, responses=FILE)
def export_review_queue(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    scope: ScopeFilter,
    horizon_days: HorizonQuery = 30,
    format: FormatQuery = "csv",
    lang: LangQuery = None,
) -> StreamingResponse:
    """The review queue (overdue and due within the horizon; of the customers the portfolio's
    filters keep, as the review page takes them), earliest first, all of it."""
    within = portfolio_service.customers_within(scope)
    return _export(
        request,
        session,
        principal,
        spec=service.REVIEWS,
        fmt=format,
        lang=lang,
        filters={"horizon_days": horizon_days} | _scope_said(scope),
        count=policy_service.count_queue(
            session, principal, horizon_days=horizon_days, within=within
        ),
        rows=lambda s: policy_service.export_queue(
            s, principal, horizon_days=horizon_days, chunk=CHUNK_ROWS, within=within
        ),
    )


@router.get("/complaints/export", response_class=StreamingResponse, responses=FILE)
def export_complaints(
    request: Request,
    session: SessionDep,
    principal: CanComplaintsWork,
    flt: DeskFilterDep,
    scope: ScopeFilter,
    format: FormatQuery = "csv",
    lang: LangQuery = None,
) -> StreamingResponse:
    """The complaint desk under its filters (and the portfolio's customer filters), newest
    first, all of it."""
    narrowing = vars(flt) | {"within": portfolio_service.customers_within(scope)}
    return _export(
        request,
        session,
        principal,
        spec=service.COMPLAINTS,
        fmt=format,
        lang=lang,
        filters=vars(flt) | _scope_said(scope),
        count=complaint_service.count_desk(session, principal, **narrowing),
        rows=lambda s: complaint_service.export_desk(s, principal, chunk=CHUNK_ROWS, **narrowing),
    )


@router.get("/ageing/export", response_class=StreamingResponse, responses=FILE)
def export_ageing(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    flt: CustomerFilterDep,
    format: FormatQuery = "csv",
    lang: LangQuery = None,
) -> StreamingResponse:
    """Open receivables by ageing bucket per customer (as of each customer's latest indicator
    run), for the customers the customer list's filters select."""
    return ageing_file(request, session, principal, flt, format, lang)


def ageing_file(
    request: Request,
    session: Session,
    principal: Principal,
    flt: CustomerFilter,
    fmt: ExportFormat,
    lang: str | None,
    said: Mapping[str, Any] | None = None,
) -> StreamingResponse:
    """The ageing export; ``said`` as for ``customers_file``."""
    return _export(
        request,
        session,
        principal,
        spec=service.AGEING,
        fmt=fmt,
        lang=lang,
        filters=_given(flt, said),
        count=customer_service.export_count(session, principal, flt=flt),
        rows=lambda s: indicator_service.export_ageing(s, principal, flt=flt, chunk=CHUNK_ROWS),
    )


@router.get("/exposure/export", response_class=StreamingResponse, responses=FILE)
def export_exposure(
    request: Request,
    session: SessionDep,
    principal: CanCustomersRead,
    flt: CustomerFilterDep,
    format: FormatQuery = "csv",
    lang: LangQuery = None,
) -> StreamingResponse:
    """Credit exposure against the limit in force per customer, for the customers the customer
    list's filters select."""
    return exposure_file(request, session, principal, flt, format, lang)


def exposure_file(
    request: Request,
    session: Session,
    principal: Principal,
    flt: CustomerFilter,
    fmt: ExportFormat,
    lang: str | None,
    said: Mapping[str, Any] | None = None,
) -> StreamingResponse:
    """The exposure export; ``said`` as for ``customers_file``."""
    return _export(
        request,
        session,
        principal,
        spec=service.EXPOSURE,
        fmt=fmt,
        lang=lang,
        filters=_given(flt, said),
        count=customer_service.export_count(session, principal, flt=flt),
        rows=lambda s: credit_service.export_exposure(s, principal, flt=flt, chunk=CHUNK_ROWS),
    )


# ---------------------------------------------------------------- the customer credit report


def report_disposition(code: str, day: str, locale: str, fmt: ReportFormat) -> str:
    """The report's file name with the customer's code and the day; in Chinese also as UTF-8
    per RFC 5987, beside its ASCII stand-in for old clients."""
    ascii_name = f"credit-report-{code}-{day}.{fmt}"
    if locale != "zh-CN":
        return f'attachment; filename="{ascii_name}"'
    local = quote(f"信用报告-{code}-{day}.{fmt}", safe="")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{local}"


@router.get(
    "/customers/{customer_id}/report.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "the credit report"}},
    tags=["reports"],
)
def credit_report_pdf(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanCustomersRead,
    lang: LangQuery = None,
) -> Response:
    """The customer credit report (客户信用报告) as a PDF, masked as the credit file is for the
    caller; each download is written to the audit log."""
    locale = locale_of(request, lang)
    report = credit_report.build(session, principal, customer_id)
    # A document for people: times on the company's display clock, named on the page.
    tz = zone(company_service.display_time_zone(session, request.app.state.settings.time_zone))
    body = pdf.render(
        report, View(locale, translator(locale), tz), request.app.state.settings.data_dir
    )
    credit_report.record_generation(session, report, fmt="pdf", locale=locale)
    day = report.generated_at.date().isoformat()
    return Response(
        content=body,
        media_type="application/pdf",
        headers={
            "Content-Disposition": report_disposition(report.customer.code, day, locale, "pdf")
        },
    )
