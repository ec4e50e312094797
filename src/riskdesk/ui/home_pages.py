"""The home page of each role, reached from /: what waits for them and how it stands, every
figure a link to the list behind it, already filtered."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from riskdesk.company import service as company_service
from riskdesk.db import SessionDep
from riskdesk.home import service as home_service
from riskdesk.home.schemas import AdminHome, AnalystHome, AuditorHome, ServiceHome
from riskdesk.kit.timeutil import offset_label, zone
from riskdesk.portfolio import service as portfolio_service
from riskdesk.portfolio.schemas import PortfolioFilter
from riskdesk.security.deps import (
    CanAlertsWork,
    CanAuditRead,
    CanComplaintsWork,
    CanPortfolioRead,
    CanSystemMonitor,
)
from riskdesk.security.permissions import Permission, Role
from riskdesk.security.service import Principal
from riskdesk.ui import portfolio_pages
from riskdesk.ui.i18n import Translator, pick_locale
from riskdesk.ui.render import display_zone, render

router = APIRouter(include_in_schema=False)

# Where each role starts, and what that page needs (without it: the customer list).
HOMES: dict[str, tuple[str, Permission]] = {
    Role.CREDIT_MANAGER.value: ("/portfolio", Permission.PORTFOLIO_READ),
    Role.RISK_ANALYST.value: ("/home/analyst", Permission.ALERTS_WORK),
    Role.SALES.value: ("/home/sales", Permission.PORTFOLIO_READ),
    Role.CUSTOMER_SERVICE.value: ("/home/service", Permission.COMPLAINTS_WORK),
    Role.AUDITOR.value: ("/home/auditor", Permission.AUDIT_READ),
    Role.ADMIN.value: ("/home/admin", Permission.SYSTEM_MONITOR),
}
FALLBACK = "/customers"


def home_of(principal: Principal) -> str:
    """The address of the caller's home page."""
    target, permission = HOMES.get(principal.user.role, (FALLBACK, Permission.CUSTOMERS_READ))
    return target if principal.can(permission) else FALLBACK


def link(path: str, **query: Any) -> str:
    """An address with the non-empty parameters as its query."""
    values = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{path}?{urlencode(values)}" if values else path


def _translator(request: Request) -> Translator:
    return Translator(pick_locale(request, request.app.state.settings.default_locale))


def _json(data: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: json.dumps(value, ensure_ascii=False) for name, value in data.items()}


def stacked(
    labels: list[str], series: list[tuple[str, list[int], list[str]]], **options: Any
) -> dict[str, Any]:
    """A stacked bar chart's data: per series its name, values and a link per bar."""
    return {
        "labels": labels,
        "series": [{"name": n, "values": v, "links": links} for n, v, links in series],
        "colors": "palette",  # not a scale (ageing's green to red)
        "count": True,
        **options,
    }


def _scoped(flt: PortfolioFilter) -> Callable[..., str]:
    """A link maker carrying the portfolio's filters (not the period: each list has its own)."""
    return lambda path, **extra: portfolio_pages.scoped_link(path, flt, **extra)


def _home_context(
    session: Any, principal: Principal, flt: PortfolioFilter, period_days: int
) -> dict[str, Any]:
    """What the filter bar of a home needs: the filters, their choices and the periods."""
    return {
        "flt": flt,
        "options": portfolio_service.filter_options(session, principal),
        "periods": sorted({*portfolio_pages.PERIODS, period_days}),
    }


def _zone(request: Request) -> dt.tzinfo:
    return zone(display_zone(request))


def _midnight(day: dt.date) -> str:
    # No zone: the audit page reads it on its display zone's clock, as this page's days are.
    return f"{day.isoformat()}T00:00:00"


# ---------------------------------------------------------------- risk analyst


def analyst_charts(h: AnalystHome, t: Translator) -> dict[str, str]:
    """Alerts by warning type and by rule code week by week (stacked), and my SLA record;
    every bar opens the alert queue with the home's filters."""
    weeks = h.by_code.weeks
    scoped = _scoped(h.filters)

    def rule(code: str) -> str:
        # The rule's name in the reader's language; its code when the rule is not on file.
        return h.by_code.names.get(code, {}).get(t.locale) or code

    return _json(
        {
            "by_code": stacked(
                [w.strftime("%m-%d") for w in weeks],
                [
                    (
                        rule(code),
                        values,
                        [
                            scoped(
                                "/alerts",
                                code=code,
                                status="any",
                                observed_from=w.isoformat(),
                                observed_to=(w + dt.timedelta(days=6)).isoformat(),
                            )
                            for w in weeks
                        ],
                    )
                    for code, values in h.by_code.codes.items()
                ],
            ),
            "by_type": stacked(
                [w.strftime("%m-%d") for w in weeks],
                [
                    (
                        t(f"warning_type.{kind}"),
                        values,
                        [
                            scoped(
                                "/alerts",
                                warning_type=kind,
                                status="any",
                                observed_from=w.isoformat(),
                                observed_to=(w + dt.timedelta(days=6)).isoformat(),
                            )
                            for w in weeks
                        ],
                    )
                    for kind, values in h.by_code.types.items()
                ],
            ),
            "sla": {
                "labels": [t("home.sla.on_time"), t("home.sla.late")],
                "values": [h.sla.on_time, h.sla.late],
                "links": [
                    scoped("/alerts", assigned="me", status="closed"),
                    scoped("/alerts", assigned="me", status="closed", sla="breached"),
                ],
                "count": True,
            },
        }
    )


@router.get("/home/analyst", response_class=HTMLResponse)
def analyst_page(
    request: Request,
    session: SessionDep,
    principal: CanAlertsWork,
    scope: portfolio_pages.PageFilter,
    period_days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> Response:
    """The risk analyst's home: my alert queue, SLA record, alerts by type, model health;
    the alerts of the customers the filters keep."""
    h = home_service.analyst_home(
        session, principal, period_days=period_days, flt=scope, tz=_zone(request)
    )
    return render(
        request,
        "home_analyst.html",
        principal,
        h=h,
        charts=analyst_charts(h, _translator(request)),
        link=_scoped(h.filters),
        **_home_context(session, principal, h.filters, period_days),
    )


# ---------------------------------------------------------------- sales


@router.get("/home/sales", response_class=HTMLResponse)
def sales_page(
    request: Request,
    session: SessionDep,
    principal: CanPortfolioRead,
    flt: portfolio_pages.PageFilter,
) -> Response:
    """The salesperson's home: my customers' limits and exposure, held orders, requests,
    narrowed by the same filters as the portfolio (they live in the address)."""
    # The portfolio's own figures and charts over my customers: the same bars, the same
    # drill-downs (sales see only their own customers there).
    summary = portfolio_service.summary(session, principal, flt=flt)
    h = home_service.sales_home(session, principal, flt=flt, summary=summary)
    charts = portfolio_pages.charts(summary, _translator(request))
    return render(
        request,
        "home_sales.html",
        principal,
        h=h,
        s=summary,
        flt=flt,
        options=portfolio_service.filter_options(session, principal),
        charts={k: charts[k] for k in ("utilisation", "ageing")},
        link=_scoped(flt),
    )


# ---------------------------------------------------------------- customer service


def service_charts(h: ServiceHome, t: Translator) -> dict[str, str]:
    """Complaints per product stacked by SLA status, and satisfaction by month."""
    products = list(h.complaints.by_product)
    scoped = _scoped(h.filters)

    def complaints_of(product: str, status: str) -> str:
        filters: dict[str, Any] = {"product": product}
        if status == "open_within":
            filters["status"] = "open_any"
        elif status == "open_breached":
            filters["breached"] = "true"
        else:
            filters["status"] = "resolved"
        return scoped("/complaints", **filters)

    months = home_service.last_months(h.as_of, home_service.SATISFACTION_MONTHS)
    series: dict[str, list[float | None]] = {}
    for kind in ("csat", "nps"):
        found = {m.month: round(m.average, 2) for m in h.satisfaction if m.survey_type == kind}
        if found:
            series[t(f"home.survey.{kind}")] = [found.get(m) for m in months]
    return _json(
        {
            "complaints": stacked(
                [p or t("home.no_product") for p in products],
                [
                    (
                        t(f"home.complaint_sla.{s}"),
                        [h.complaints.by_product[p][s] for p in products],
                        [complaints_of(p, s) for p in products],
                    )
                    for s in home_service.SLA_STATUSES
                ],
                horizontal=True,
            ),
            # One scale for both (CSAT 1-5, NPS 0-10), so the legend tells them apart.
            "satisfaction": {
                "dates": months,
                "series": series,
                "shared": True,
                "min": 0,
                "max": 10,
                "points": True,  # a month between months without answers is seen
            },
        }
    )


@router.get("/home/service", response_class=HTMLResponse)
def service_page(
    request: Request,
    session: SessionDep,
    principal: CanComplaintsWork,
    scope: portfolio_pages.PageFilter,
    period_days: Annotated[int, Query(ge=1, le=366)] = 90,
) -> Response:
    """The customer-service home: complaints against SLA, satisfaction, churn risks, of the
    customers the filters keep."""
    h = home_service.service_home(
        session, principal, period_days=period_days, flt=scope, tz=_zone(request)
    )
    return render(
        request,
        "home_service.html",
        principal,
        h=h,
        charts=service_charts(h, _translator(request)),
        link=_scoped(h.filters),
        statuses=home_service.SLA_STATUSES,
        **_home_context(session, principal, h.filters, period_days),
    )


# ---------------------------------------------------------------- auditor


def auditor_charts(h: AuditorHome, t: Translator) -> dict[str, str]:
    """Audit entries per day stacked by action; decisions and personal data seen by person."""
    days = h.activity.days
    since = _midnight(h.activity.days[0])  # the first day shown, on the display clock
    by_person = [link("/audit", actor=a.username, action="write", since=since) for a in h.approvers]
    return _json(
        {
            "activity": stacked(
                [d.strftime("%m-%d") for d in days],
                [
                    (
                        t(f"audit.action.{a}"),
                        values,
                        [
                            link(
                                "/audit",
                                action=a,
                                since=_midnight(d),
                                until=_midnight(d + dt.timedelta(days=1)),
                            )
                            for d in days
                        ],
                    )
                    for a, values in h.activity.actions.items()
                ],
            ),
            "approvals": stacked(
                [a.username for a in h.approvers],
                [
                    (t(f"home.decision.{kind}"), [getattr(a, kind) for a in h.approvers], by_person)
                    for kind in ("approved", "rejected")
                ],
                horizontal=True,
            ),
            # The same two actions as the activity's "viewed" and "revealed" figures, so the
            # card and the figures above it count the same entries.
            "reveals": stacked(
                [r.actor for r in h.reveals],
                [
                    (
                        t(f"audit.action.{action}"),
                        [getattr(r, f"{action}s") for r in h.reveals],
                        [
                            link("/audit", action=action, actor=r.actor, since=since)
                            for r in h.reveals
                        ],
                    )
                    for action in ("view", "reveal")
                ],
                horizontal=True,
            ),
        }
    )


@router.get("/home/auditor", response_class=HTMLResponse)
def auditor_page(
    request: Request,
    session: SessionDep,
    principal: CanAuditRead,
    scope: portfolio_pages.PageFilter,
    period_days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> Response:
    """The auditor's home: activity, approvals by person, reveals of personal data, over the
    whole log (a region or segment chosen is kept in the address and the page says it does
    not narrow these figures)."""
    h = home_service.auditor_home(
        session, principal, period_days=period_days, flt=scope, tz=_zone(request)
    )
    return render(
        request,
        "home_auditor.html",
        principal,
        h=h,
        charts=auditor_charts(h, _translator(request)),
        link=link,
        since=_midnight(h.activity.days[0]),
        **_home_context(session, principal, h.filters, period_days),
    )


# ---------------------------------------------------------------- admin


def admin_charts(h: AdminHome, t: Translator) -> dict[str, str]:
    """Jobs and deliveries by status."""
    return _json(
        {
            "jobs": {
                "labels": [t(f"jobs.status.{c.key}") for c in h.jobs],
                "values": [c.count for c in h.jobs],
                # The list the tiles count: still waiting or running, or ended since.
                "links": [link("/jobs", status=c.key, since=h.since.isoformat()) for c in h.jobs],
                "count": True,
            },
            "deliveries": {
                "labels": [t(f"home.delivery.{c.key}") for c in h.deliveries],
                "values": [c.count for c in h.deliveries],
                "links": ["/integrations#deliveries" for _ in h.deliveries],
                "count": True,
            },
        }
    )


@router.get("/home/admin", response_class=HTMLResponse)
def admin_page(request: Request, session: SessionDep, principal: CanSystemMonitor) -> Response:
    """The admin's home: jobs, deliveries and the system's status."""
    h = home_service.admin_home(session, principal)
    # The company's zone, whatever the admin's own (the footer names the page's clock).
    company = company_service.display_time_zone(session, request.app.state.settings.time_zone)
    return render(
        request,
        "home_admin.html",
        principal,
        h=h,
        charts=admin_charts(h, _translator(request)),
        link=link,
        can_integrations=principal.can(Permission.INTEGRATIONS_MANAGE),
        company_zone=(company, offset_label(zone(company))),
    )
