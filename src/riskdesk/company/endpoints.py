"""Company settings over the API: the display time zone."""

from __future__ import annotations

from fastapi import APIRouter, Request

from riskdesk.company import service
from riskdesk.company.schemas import TimeZoneIn, TimeZoneRead
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
