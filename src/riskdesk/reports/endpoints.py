"""The customer credit report as a PDF download."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from riskdesk.db import SessionDep
from riskdesk.kit.i18n import Translator, pick_locale
from riskdesk.kit.validation import PathId
from riskdesk.reports import pdf, service
from riskdesk.reports.formatting import View
from riskdesk.reports.schemas import ReportFormat
from riskdesk.security.deps import CanCustomersRead

router = APIRouter(tags=["reports"])

Lang = Annotated[
    Literal["zh-CN", "en"] | None,
    Query(description="the report's language; default: the caller's (cookie, Accept-Language)"),
]


def report_locale(request: Request, lang: str | None) -> str:
    """The language asked for, else the caller's."""
    return lang or pick_locale(request, request.app.state.settings.default_locale)


def content_disposition(name: str, fallback: str) -> str:
    """An attachment's name, with its UTF-8 form per RFC 5987 when it is not plain ASCII."""
    if name.isascii():
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def download_name(code: str, day: str, locale: str, fmt: ReportFormat) -> tuple[str, str]:
    """The file's name in the reader's language, and its ASCII stand-in."""
    ascii_name = f"credit-report-{code}-{day}.{fmt}"
    if locale == "zh-CN":
        return f"信用报告-{code}-{day}.{fmt}", ascii_name
    return ascii_name, ascii_name


@router.get(
    "/customers/{customer_id}/report.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "the credit report"}},
)
def credit_report_pdf(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanCustomersRead,
    lang: Lang = None,
) -> Response:
    """The customer credit report (客户信用报告) as a PDF, masked as the credit file is for the
    caller; each download is written to the audit log."""
    locale = report_locale(request, lang)
    report = service.build(session, principal, customer_id)
    body = pdf.render(report, View(locale, Translator(locale)), request.app.state.settings.data_dir)
    service.record_generation(session, report, fmt="pdf", locale=locale)
    name, fallback = download_name(
        report.customer.code, report.generated_at.date().isoformat(), locale, "pdf"
    )
    return Response(
        content=body,
        media_type="application/pdf",
        headers={"Content-Disposition": content_disposition(name, fallback)},
    )
