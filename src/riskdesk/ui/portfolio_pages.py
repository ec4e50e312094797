"""The credit manager's home page: the portfolio dashboard, where every figure links to the
list behind it, already filtered."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from riskdesk.alerts.endpoints import Blank
from riskdesk.db import SessionDep
from riskdesk.kit.validation import DbId
from riskdesk.portfolio import service as portfolio_service
from riskdesk.portfolio.schemas import MonthTrend, PortfolioFilter, PortfolioSummary
from riskdesk.security.deps import CanPortfolioRead
from riskdesk.ui.i18n import Translator, pick_locale
from riskdesk.ui.migration_view import migration_context
from riskdesk.ui.render import render

router = APIRouter(include_in_schema=False)
PERIODS = (7, 30, 90, 365)
SCOPE_KEYS = ("region", "segment", "owner_id", "tier", "industry")


def scope_query(flt: PortfolioFilter, **extra: Any) -> str:
    """The filters (and more) as a query string for the lists behind the figures."""
    values = {k: getattr(flt, k) for k in SCOPE_KEYS} | extra
    return urlencode({k: v for k, v in values.items() if v not in (None, "")})


def scoped_link(path: str, flt: PortfolioFilter, **extra: Any) -> str:
    query = scope_query(flt, **extra)
    return f"{path}?{query}" if query else path


def _amount(value: Any) -> float:
    return round(float(value), 2)


def charts(s: PortfolioSummary, t: Translator) -> dict[str, str]:
    """The data-series of each chart (JSON), with a link per bar to the list behind it."""
    f = s.filters
    since = s.alerts.since.isoformat()
    funnel = (
        ("raised", s.alerts.raised, {"status": "any"}),
        ("worked", s.alerts.worked, {"status": "worked"}),
        ("closed", s.alerts.closed, {"status": "closed"}),
        ("confirmed", s.alerts.confirmed, {"status": "any", "outcome": "confirmed"}),
        ("false_alarm", s.alerts.false_alarm, {"status": "any", "outcome": "false_alarm"}),
        ("sla_breached", s.alerts.sla_breached, {"status": "any", "sla": "breached"}),
    )
    data: dict[str, dict[str, Any]] = {
        "utilisation": {
            "labels": [t(f"portfolio.band.{b.band}") for b in s.utilisation],
            "values": [_amount(b.exposure) for b in s.utilisation],
            "counts": [b.customers for b in s.utilisation],
            "links": [scoped_link("/customers", f, utilisation=b.band) for b in s.utilisation],
        },
        "ageing": {
            "labels": [t(f"portfolio.bucket.{a.bucket}") for a in s.ageing],
            "values": [_amount(a.amount) for a in s.ageing],
            "counts": [a.customers for a in s.ageing],
            "links": [scoped_link("/customers", f, ageing=a.bucket) for a in s.ageing],
        },
        "tiers": {
            "labels": [t(f"tier.{x.tier}") for x in s.tiers],
            "values": [_amount(x.exposure) for x in s.tiers],
            "counts": [x.customers for x in s.tiers],
            "links": [scoped_link("/customers", f, tier=x.tier) for x in s.tiers],
        },
        "alerts": {
            "labels": [t(f"portfolio.alerts.{name}") for name, _, _ in funnel],
            "values": [n for _, n, _ in funnel],
            "links": [
                scoped_link("/alerts", f, observed_from=since, **extra) for _, _, extra in funnel
            ],
            "count": True,
        },
    }
    for c in s.concentration:
        data[f"concentration_{c.dimension}"] = {
            "labels": [_concentration_label(t, c.dimension, i) for i in c.items],
            "values": [_amount(i.exposure) for i in c.items],
            "links": [_concentration_link(f, c.dimension, i) for i in c.items],
            "horizontal": True,
        }
    data |= _trend_charts(s, t)
    for value in data.values():
        if "counts" in value:
            value["count_label"] = t("portfolio.customers_unit")
    return {name: json.dumps(value, ensure_ascii=False) for name, value in data.items()}


def _month_label(t: Translator, month: MonthTrend) -> str:
    if month.month_to_date:
        return t("portfolio.trend.to_date")
    return f"{month.month_end.year}-{month.month_end.month:02d}"


def _trend_charts(s: PortfolioSummary, t: Translator) -> dict[str, dict[str, Any]]:
    """The ageing by month (stacked), DSO with best DSO and ADD, and CEI (lines). Only today's
    bar links: the customer list filters by today's ageing, not a past month's."""
    f = s.filters
    labels = [_month_label(t, m) for m in s.trends]
    last = len(s.trends) - 1
    return {
        "ageing_trend": {
            "labels": labels,
            "series": [
                {
                    "name": t(f"portfolio.bucket.{bucket}"),
                    "values": [_amount(m.ageing[bucket]) for m in s.trends],
                    "links": [
                        scoped_link("/customers", f, ageing=bucket) if i == last else None
                        for i in range(len(s.trends))
                    ],
                }
                for bucket in portfolio_service.BUCKETS
            ],
        },
        "dso": {
            "dates": labels,
            "series": {
                t("portfolio.trend.dso"): [m.dso for m in s.trends],
                t("portfolio.trend.best_dso"): [m.best_dso for m in s.trends],
                t("portfolio.trend.add"): [m.add for m in s.trends],
            },
            "shared": True,
            "points": True,
            "unit": t("portfolio.trend.days_unit"),
        },
        "cei": {
            "dates": labels,
            "series": {t("portfolio.trend.cei"): [m.cei for m in s.trends]},
            "shared": True,
            "points": True,
            "unit": "%",
        },
    }


def latest_full_month(s: PortfolioSummary) -> MonthTrend | None:
    """The last whole month of the trends (the month so far is too early to judge)."""
    return next((m for m in reversed(s.trends) if not m.month_to_date), None)


def _concentration_label(t: Translator, dimension: str, item: Any) -> str:
    if item.customer_id is not None:
        return t("portfolio.single_name", code=f"C{item.customer_id:07d}")
    if item.key == "unknown" and dimension != "group":
        return t("portfolio.unknown")
    if dimension == "industry":  # an industry of the catalogue in the reader's words
        return t.messages.get(f"industry.{item.key}") or str(item.name or item.key)
    return str(item.name or item.key)


def _concentration_link(flt: PortfolioFilter, dimension: str, item: Any) -> str:
    if item.customer_id is not None:
        return f"/customers/{item.customer_id}"
    if item.key == "unknown":
        return scoped_link("/customers", flt)  # the list cannot ask for "no industry" yet
    return scoped_link("/customers", flt, **{dimension: item.key})


def page_filter(
    region: Annotated[str | None, Query(max_length=64)] = None,
    segment: Annotated[str | None, Query(max_length=64)] = None,
    owner_id: Annotated[DbId | None, Blank, Query()] = None,
    tier: Annotated[str | None, Query(max_length=16)] = None,
    industry: Annotated[str | None, Query(max_length=64)] = None,
) -> PortfolioFilter:
    """The filter bar's choices (an empty choice, "all", is no filter)."""
    return PortfolioFilter(
        region=region or None,
        segment=segment or None,
        owner_id=owner_id,
        tier=tier or None,
        industry=industry or None,
    )


PageFilter = Annotated[PortfolioFilter, Depends(page_filter)]


@router.get("/portfolio", response_class=HTMLResponse)
def portfolio_page(
    request: Request,
    session: SessionDep,
    principal: CanPortfolioRead,
    scope: PageFilter,
    period_days: Annotated[int, Query(ge=1, le=3660)] = 30,
) -> Response:
    """The portfolio dashboard over the customers the caller may see, filtered."""
    flt = scope.model_copy(update={"period_days": period_days})
    s = portfolio_service.summary(session, principal, flt=flt)
    t = Translator(pick_locale(request, request.app.state.settings.default_locale))
    return render(
        request,
        "portfolio.html",
        principal,
        s=s,
        flt=flt,
        options=portfolio_service.filter_options(session, principal),
        periods=sorted({*PERIODS, period_days}),
        charts=charts(s, t),
        latest=latest_full_month(s),
        link=lambda path, **extra: scoped_link(path, flt, **extra),
        since=s.alerts.since.isoformat(),
        **migration_context(request, session, principal, flt),
    )
