"""The customer credit report as a print-styled page (the PDF's twin, drawn from the same
document)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from riskdesk.db import SessionDep
from riskdesk.kit.timeutil import zone
from riskdesk.kit.validation import PathId
from riskdesk.reports import credit_report as report_service
from riskdesk.reports.endpoints import LangQuery
from riskdesk.reports.formatting import View
from riskdesk.security.deps import CanCustomersRead
from riskdesk.ui.i18n import Translator, pick_locale
from riskdesk.ui.render import display_zone, render

router = APIRouter(include_in_schema=False)


@router.get("/customers/{customer_id}/report", response_class=HTMLResponse)
def credit_report_page(
    request: Request,
    customer_id: PathId,
    session: SessionDep,
    principal: CanCustomersRead,
    lang: LangQuery = None,
) -> Response:
    """The credit report, ready to print (A4, a page per section, no menu on paper)."""
    # The UI's language (cookie first) unless the link asks for one: the API's choice reads
    # only Accept-Language, which would give an English user a Chinese report.
    locale = lang or pick_locale(request, request.app.state.settings.default_locale)
    report = report_service.build(session, principal, customer_id)
    report_service.record_generation(session, report, fmt="html", locale=locale)
    t = Translator(locale)
    return render(
        request,
        "credit_report.html",
        principal,
        r=report,
        v=View(locale, t, zone(display_zone(request))),
        t=t,
        locale=locale,
        ageing_total=sum(b.amount or 0.0 for b in report.ageing),
    )
