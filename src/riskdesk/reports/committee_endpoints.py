"""API of the monthly credit committee pack: the same figures as PDF or .xlsx."""

from __future__ import annotations

import io
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from riskdesk.company import service as company_service
from riskdesk.db import SessionDep
from riskdesk.kit.exports import MEDIA_TYPES
from riskdesk.kit.timeutil import zone
from riskdesk.portfolio.deps import ScopeFilter
from riskdesk.reports import committee, committee_pdf, committee_xlsx
from riskdesk.reports.committee_schemas import CommitteePack
from riskdesk.reports.endpoints import LangQuery, locale_of
from riskdesk.reports.formatting import View, translator
from riskdesk.security.deps import CanPortfolioRead

router = APIRouter(tags=["reports"])

MonthQuery = Annotated[
    str | None, Query(max_length=7, description="e.g. 2026-11; default last month")
]


PackFilter = ScopeFilter  # the customers the pack covers


def disposition(month: str, locale: str, fmt: Literal["pdf", "xlsx"]) -> str:
    """The pack's file name with the month; in Chinese also as UTF-8 (RFC 5987)."""
    ascii_name = f"credit-committee-pack-{month}.{fmt}"
    if locale != "zh-CN":
        return f'attachment; filename="{ascii_name}"'
    local = quote(f"授信委员会月度报告-{month}.{fmt}", safe="")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{local}"


def render_pdf(pack: CommitteePack, locale: str, request: Request, session: Session) -> bytes:
    """The pack as PDF bytes (times on the company's display clock, named)."""
    default = request.app.state.settings.time_zone
    view = View(
        locale, translator(locale), zone(company_service.display_time_zone(session, default))
    )
    return committee_pdf.render(pack, view, request.app.state.settings.data_dir)


def render_xlsx(pack: CommitteePack, locale: str) -> bytes:
    """The pack as .xlsx bytes (a few hundred rows: built in memory)."""
    target = io.BytesIO()
    committee_xlsx.write(target, pack, locale)
    return target.getvalue()


@router.get(
    "/reports/committee-pack.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "the pack"}},
)
def committee_pack_pdf(
    request: Request,
    session: SessionDep,
    principal: CanPortfolioRead,
    flt: PackFilter,
    month: MonthQuery = None,
    lang: LangQuery = None,
) -> Response:
    """The monthly credit committee pack (授信委员会月度报告) as a PDF: portfolio summary,
    rating migration, top risks, warning effectiveness and expected credit loss, over the
    customers you may see. Customers appear by code; each download is audit-logged."""
    locale = locale_of(request, lang)
    pack = committee.build(session, principal, month=month, flt=flt)
    body = render_pdf(pack, locale, request, session)
    committee.record_generation(session, pack, fmt="pdf", locale=locale)
    return Response(
        content=body,
        media_type="application/pdf",
        headers={"Content-Disposition": disposition(pack.month, locale, "pdf")},
    )


@router.get(
    "/reports/committee-pack.xlsx",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPES["xlsx"]: {}}, "description": "the pack"}},
)
def committee_pack_xlsx(
    request: Request,
    session: SessionDep,
    principal: CanPortfolioRead,
    flt: PackFilter,
    month: MonthQuery = None,
    lang: LangQuery = None,
) -> Response:
    """The monthly credit committee pack as an .xlsx workbook, a sheet per section with typed
    cells; the same figures as the PDF."""
    locale = locale_of(request, lang)
    pack = committee.build(session, principal, month=month, flt=flt)
    body = render_xlsx(pack, locale)
    committee.record_generation(session, pack, fmt="xlsx", locale=locale)
    return Response(
        content=body,
        media_type=MEDIA_TYPES["xlsx"],
        headers={"Content-Disposition": disposition(pack.month, locale, "xlsx")},
    )
