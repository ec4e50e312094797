"""The reports page: the monthly committee pack to download (month and language), the
caller's e-mail subscriptions, and where the other reports live."""

from __future__ import annotations

import datetime as dt
from typing import cast

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from riskdesk.db import SessionDep
from riskdesk.kit.errors import ValidationFailed
from riskdesk.kit.timeutil import today
from riskdesk.reports import committee
from riskdesk.reports import subscriptions as subscription_service
from riskdesk.reports.subscription_schemas import KINDS, ReportKind, SubscriptionIn
from riskdesk.security.deps import CanPortfolioRead
from riskdesk.security.permissions import Permission
from riskdesk.ui.forms import FormDep, filled
from riskdesk.ui.render import render

router = APIRouter(include_in_schema=False)
MONTHS_OFFERED = 13


def months(day: dt.date) -> list[str]:
    """This month and the twelve before, newest first."""
    found, cursor = [], day.replace(day=1)
    for _ in range(MONTHS_OFFERED):
        found.append(committee.month_of(cursor))
        cursor = (cursor - dt.timedelta(days=1)).replace(day=1)
    return found


@router.get("/reports", response_class=HTMLResponse)
def reports_page(
    request: Request, session: SessionDep, principal: CanPortfolioRead, done: str | None = None
) -> Response:
    """The reports the caller may have, and their subscriptions."""
    day = today()
    mine = {s.kind: s for s in subscription_service.mine(session, principal)}
    return render(
        request,
        "reports.html",
        principal,
        months=months(day),
        default_month=committee.previous_month(day),
        subscriptions=mine,
        kinds=KINDS,
        can_ecl=principal.can(Permission.ECL_READ),
        can_complaints=principal.can(Permission.COMPLAINTS_WORK),
        done=done if done in ("subscribed", "unsubscribed") else None,
    )


@router.post("/reports/subscriptions")
def change_subscription(
    session: SessionDep, principal: CanPortfolioRead, form: FormDep
) -> Response:
    """Subscribe to (or unsubscribe from) a report by e-mail, from the reports page."""
    data = filled(form, ("kind", "language", "action"))
    kind = data.get("kind", "")
    if kind not in KINDS:
        raise ValidationFailed(f"unknown report {kind!r}", field="kind")
    if data.get("action") == "unsubscribe":
        subscription_service.remove(session, principal, cast(ReportKind, kind))
        return RedirectResponse("/reports?done=unsubscribed", status_code=303)
    language = data.get("language", "zh-CN")
    if language not in ("zh-CN", "en"):
        raise ValidationFailed(f"unknown language {language!r}", field="language")
    body = SubscriptionIn.model_validate({"language": language})
    subscription_service.put(session, principal, cast(ReportKind, kind), body)
    return RedirectResponse("/reports?done=subscribed", status_code=303)
