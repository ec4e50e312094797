"""API of the portfolio dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from riskdesk.db import SessionDep
from riskdesk.portfolio import service
from riskdesk.portfolio.deps import ScopeFilter
from riskdesk.portfolio.schemas import PortfolioSummary
from riskdesk.security.deps import CanPortfolioRead

router = APIRouter(tags=["portfolio"])


@router.get("/portfolio/summary", response_model=PortfolioSummary)
def portfolio_summary(
    session: SessionDep,
    principal: CanPortfolioRead,
    scope: ScopeFilter,
    period_days: Annotated[int, Query(ge=1, le=3660)] = 30,
) -> PortfolioSummary:
    """Exposure, limits, utilisation, overdue and ageing, tiers, top exposures,
    concentration (HHI), held orders, limit requests, the alert funnel, reviews due, and the
    last 12 months' ageing, DSO, best DSO, ADD and CEI, over the customers you may see (sales:
    your own), narrowed by the filters; with ``ecl:read``, the latest ECL run (else null)."""
    flt = scope.model_copy(update={"period_days": period_days})
    return service.summary(session, principal, flt=flt)
