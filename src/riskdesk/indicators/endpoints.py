"""API of the indicators."""

from __future__ import annotations

from fastapi import APIRouter

from riskdesk.customers import service as customer_service
from riskdesk.db import SessionDep
from riskdesk.indicators import service
from riskdesk.indicators.catalogue import CATALOGUE
from riskdesk.indicators.schemas import IndicatorDefinition, IndicatorsRead
from riskdesk.kit.validation import PathId
from riskdesk.security.deps import CanCustomersRead

router = APIRouter(tags=["indicators"])


@router.get("/indicators", response_model=list[IndicatorDefinition])
def catalogue(_: CanCustomersRead) -> list[IndicatorDefinition]:
    """The indicator catalogue."""
    return [
        IndicatorDefinition(
            name=i.name,
            group=i.group,
            unit=i.unit,
            window_days=i.window_days,
            description_en=i.en,
            description_zh=i.zh,
            population=i.population,
        )
        for i in CATALOGUE
    ]


@router.get("/customers/{customer_id}/indicators", response_model=IndicatorsRead)
def customer_indicators(
    customer_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> IndicatorsRead:
    """A customer's latest indicator values."""
    customer_service.get_customer_or_raise(session, principal, customer_id)
    return service.snapshot_read(service.get_snapshot(session, customer_id))
