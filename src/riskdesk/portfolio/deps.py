"""The portfolio's filters as query parameters, shared by every route that narrows the
customers the way the dashboard does (summary, migration, the committee pack, sales' home)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from riskdesk.portfolio.schemas import PortfolioFilter


def scope_filter(
    region: Annotated[str | None, Query(max_length=64)] = None,
    segment: Annotated[str | None, Query(max_length=64)] = None,
    owner_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    tier: Annotated[str | None, Query(max_length=16)] = None,
    industry: Annotated[str | None, Query(max_length=64)] = None,
) -> PortfolioFilter:
    """The customers covered (within those the caller may see); an empty value is no filter."""
    return PortfolioFilter(
        region=region or None,
        segment=segment or None,
        owner_id=owner_id,
        tier=tier or None,
        industry=industry or None,
    )


ScopeFilter = Annotated[PortfolioFilter, Depends(scope_filter)]
