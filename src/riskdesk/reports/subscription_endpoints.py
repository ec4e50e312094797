"""API of the caller's own report subscriptions (the monthly committee pack, the weekly
portfolio summary by e-mail)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from riskdesk.db import SessionDep
from riskdesk.reports import subscriptions as service
from riskdesk.reports.subscription_schemas import ReportKind, SubscriptionIn, SubscriptionRead
from riskdesk.security.deps import CanPortfolioRead

router = APIRouter(tags=["reports"])
KindPath = Annotated[ReportKind, Path(description="committee_pack or weekly_summary")]


@router.get("/me/subscriptions", response_model=list[SubscriptionRead])
def my_subscriptions(session: SessionDep, principal: CanPortfolioRead) -> list[SubscriptionRead]:
    """Your report subscriptions."""
    return [SubscriptionRead.model_validate(s) for s in service.mine(session, principal)]


@router.get("/me/subscriptions/{kind}", response_model=SubscriptionRead)
def my_subscription(
    kind: KindPath, session: SessionDep, principal: CanPortfolioRead
) -> SubscriptionRead:
    """One of your report subscriptions."""
    return SubscriptionRead.model_validate(service.get_or_raise(session, principal, kind))


@router.put("/me/subscriptions/{kind}", response_model=SubscriptionRead)
def subscribe(
    kind: KindPath, body: SubscriptionIn, session: SessionDep, principal: CanPortfolioRead
) -> SubscriptionRead:
    """Subscribe to a report by e-mail (or change the language, filters, or pause it with
    ``active: false``); sending the same body again changes nothing."""
    return SubscriptionRead.model_validate(service.put(session, principal, kind, body))


@router.delete("/me/subscriptions/{kind}", status_code=204, response_class=Response)
def unsubscribe(kind: KindPath, session: SessionDep, principal: CanPortfolioRead) -> Response:
    """Unsubscribe; nothing to do (still 204) when you were not subscribed."""
    service.remove(session, principal, kind)
    return Response(status_code=204)
