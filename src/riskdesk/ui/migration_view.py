"""What the portfolio page's rating migration partial needs, kept out of portfolio_pages so
that page changes by one line."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from riskdesk.portfolio import migration as migration_service
from riskdesk.portfolio.schemas import PortfolioFilter
from riskdesk.security.service import Principal


def migration_context(
    request: Request, session: Session, principal: Principal, flt: PortfolioFilter
) -> dict[str, Any]:
    """The matrix of the quarter asked for (``?quarter=2026Q3``; default this one) and the
    name of the quarter before it."""
    found = migration_service.migration(
        session, principal, flt=flt, quarter=request.query_params.get("quarter") or None
    )
    return {"migration": found, "migration_previous": migration_service.quarter_of(found.start)}
