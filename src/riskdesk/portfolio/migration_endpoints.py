"""API of the rating migration matrix."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from riskdesk.db import SessionDep
from riskdesk.portfolio import migration
from riskdesk.portfolio.migration_schemas import RatingMigration
from riskdesk.portfolio.schemas import PortfolioFilter
from riskdesk.security.deps import CanPortfolioRead

router = APIRouter(tags=["portfolio"])


@router.get("/portfolio/migration", response_model=RatingMigration)
def rating_migration(
    session: SessionDep,
    principal: CanPortfolioRead,
    quarter: Annotated[
        str | None, Query(max_length=6, description="e.g. 2026Q3; default this quarter")
    ] = None,
    region: Annotated[str | None, Query(max_length=64)] = None,
    segment: Annotated[str | None, Query(max_length=64)] = None,
    owner_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    tier: Annotated[str | None, Query(max_length=16)] = None,
    industry: Annotated[str | None, Query(max_length=64)] = None,
) -> RatingMigration:
    """Each customer's latest rating at the end of the previous quarter against its latest at
    the end of this one (today while it runs), counted by (from, to) in the scorecard's order,
    with the shares upgraded, unchanged and downgraded; over the customers you may see."""
    flt = PortfolioFilter(
        region=region, segment=segment, owner_id=owner_id, tier=tier, industry=industry
    )
    return migration.migration(session, principal, flt=flt, quarter=quarter)
