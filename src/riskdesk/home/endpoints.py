"""API of the home pages: one endpoint per role's home, its figures as JSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from riskdesk.db import SessionDep
from riskdesk.home import service
from riskdesk.home.schemas import AdminHome, AnalystHome, AuditorHome, SalesHome, ServiceHome
from riskdesk.portfolio.deps import ScopeFilter
from riskdesk.security.deps import (
    CanAlertsWork,
    CanAuditRead,
    CanComplaintsWork,
    CanPortfolioRead,
    CanSystemMonitor,
)

router = APIRouter(prefix="/home", tags=["home"])
Period = Annotated[int, Query(ge=1, le=366)]


@router.get("/analyst", response_model=AnalystHome)
def analyst_home(
    session: SessionDep, principal: CanAlertsWork, flt: ScopeFilter, period_days: Period = 30
) -> AnalystHome:
    """My alert queue and SLA record, alerts by rule code over 12 weeks, model health; the
    alerts narrowed by the portfolio's filters (model health is over every customer)."""
    return service.analyst_home(session, principal, period_days=period_days, flt=flt)


@router.get("/sales", response_model=SalesHome)
def sales_home(
    session: SessionDep,
    principal: CanPortfolioRead,
    flt: ScopeFilter,
) -> SalesHome:
    """My customers' limits, exposure, utilisation and overdue; held orders, limit requests;
    narrowed by the portfolio's filters."""
    return service.sales_home(session, principal, flt=flt)


@router.get("/service", response_model=ServiceHome)
def service_home(
    session: SessionDep, principal: CanComplaintsWork, flt: ScopeFilter, period_days: Period = 90
) -> ServiceHome:
    """Complaints by SLA status and product, satisfaction by month, my top churn risks,
    narrowed by the portfolio's filters."""
    return service.service_home(session, principal, period_days=period_days, flt=flt)


@router.get("/auditor", response_model=AuditorHome)
def auditor_home(
    session: SessionDep, principal: CanAuditRead, flt: ScopeFilter, period_days: Period = 30
) -> AuditorHome:
    """Audit activity per day, four-eyes decisions by person, reveals of personal data: the
    whole log (the customer filters are echoed, and ``not_narrowed`` names what they leave
    whole)."""
    return service.auditor_home(session, principal, period_days=period_days, flt=flt)


@router.get("/admin", response_model=AdminHome)
def admin_home(session: SessionDep, principal: CanSystemMonitor) -> AdminHome:
    """Jobs and deliveries of the last 24 hours, database, schema and queue status."""
    return service.admin_home(session, principal)
