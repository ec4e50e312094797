"""API of the portfolio dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from riskdesk.db import SessionDep
from riskdesk.portfolio import service
from riskdesk.portfolio.schemas import PortfolioFilter, PortfolioSummary
from riskdesk.security.deps import CanPortfolioRead

router = APIRouter(tags=["portfolio"])


@router.get("/portfolio/summary", response_model=PortfolioSummary)
def portfolio_summary(
    session: SessionDep,
    principal: CanPortfolioRead,
    region: Annotated[str | None, Query(max_length=64)] = None,
    segment: Annotated[str | None, Query(max_length=64)] = None,
    owner_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    tier: Annotated[str | None, Query(max_length=16)] = None,
    industry: Annotated[str | None, Query(max_length=64)] = None,
    period_days: Annotated[int, Query(ge=1, le=3660)] = 30,
) -> PortfolioSummary:
    """Exposure, limits, utilisation, overdue and ageing, tiers, top exposures,
    concentration (HHI), held orders, limit requests, the alert funnel, reviews due, and the
    last 12 months' ageing, DSO, best DSO, ADD and CEI, over the customers you may see (sales:
    your own), narrowed by the filters; with ``ecl:read``, the latest ECL run (else null)."""
    flt = PortfolioFilter(
        region=region,
        segment=segment,
        owner_id=owner_id,
        tier=tier,
        industry=industry,
        period_days=period_days,
    )
    return service.summary(session, principal, flt=flt)
