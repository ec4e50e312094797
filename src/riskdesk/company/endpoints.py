"""Company settings over the API: the display time zone, the company's and each user's own."""

from __future__ import annotations

from fastapi import APIRouter, Request

from riskdesk.company import service
from riskdesk.company.schemas import MyTimeZoneIn, MyTimeZoneRead, TimeZoneIn, TimeZoneRead
from riskdesk.db import SessionDep
from riskdesk.security.deps import CanSettingsManage, CurrentPrincipal

router = APIRouter(tags=["settings"])


@router.get("/settings/time-zone", response_model=TimeZoneRead)
def get_time_zone(request: Request, session: SessionDep, _: CurrentPrincipal) -> TimeZoneRead:
    """The zone the UI shows times in (any signed-in caller may read it; API times are UTC)."""
    default = request.app.state.settings.time_zone
    return TimeZoneRead(**service.time_zone_view(session, default))


@router.put("/settings/time-zone", response_model=TimeZoneRead)
def set_time_zone(
    request: Request, body: TimeZoneIn, session: SessionDep, principal: CanSettingsManage
) -> TimeZoneRead:
    """Set the company's display time zone (an IANA name); the same zone again changes
    nothing. Recorded in the audit log."""
    service.set_time_zone(session, principal, body.time_zone)
    return TimeZoneRead(**service.time_zone_view(session, request.app.state.settings.time_zone))


@router.get("/me/time-zone", response_model=MyTimeZoneRead)
def get_my_time_zone(
    request: Request, session: SessionDep, principal: CurrentPrincipal
) -> MyTimeZoneRead:
    """Your own display time zone (null: the company's applies) and the one your pages use."""
    default = request.app.state.settings.time_zone
    return MyTimeZoneRead(**service.my_time_zone_view(session, principal.user, default))


@router.put("/me/time-zone", response_model=MyTimeZoneRead)
def set_my_time_zone(
    request: Request, body: MyTimeZoneIn, session: SessionDep, principal: CurrentPrincipal
) -> MyTimeZoneRead:
    """Set your own display time zone (an IANA name), or null to follow the company's again;
    the same value again changes nothing. Only for a signed-in person (403 for API tokens).
    Recorded in the audit log as a change of your user."""
    user = service.set_my_time_zone(session, principal, time_zone=body.time_zone)
    default = request.app.state.settings.time_zone
    return MyTimeZoneRead(**service.my_time_zone_view(session, user, default))
