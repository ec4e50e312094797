"""API of the rating migration matrix."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from riskdesk.db import SessionDep
from riskdesk.portfolio import migration
from riskdesk.portfolio.deps import ScopeFilter
from riskdesk.portfolio.migration_schemas import RatingMigration
from riskdesk.security.deps import CanPortfolioRead

router = APIRouter(tags=["portfolio"])


@router.get("/portfolio/migration", response_model=RatingMigration)
def rating_migration(
    session: SessionDep,
    principal: CanPortfolioRead,
    flt: ScopeFilter,
    quarter: Annotated[
        str | None, Query(max_length=6, description="e.g. 2026Q3; default this quarter")
    ] = None,
) -> RatingMigration:
    """Each customer's latest rating at the end of the previous quarter against its latest at
    the end of this one (today while it runs), counted by (from, to) in the scorecard's order,
    with the shares upgraded, unchanged and downgraded; over the customers you may see."""
    return migration.migration(session, principal, flt=flt, quarter=quarter)
