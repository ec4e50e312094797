"""Company settings in the browser (/settings): the display time zone, for administrators; and
each person's own settings (/me/settings): their own display time zone over the company's.

The pages call the same services as the API (company/endpoints.py) under the same rules; a
saved company zone is in force at once for every page of this process, and within seconds on
other nodes (company/service.py); a person's own zone from their next page. Both changes are
in the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from riskdesk.company import service as company_service
from riskdesk.company.schemas import MyTimeZoneIn, TimeZoneIn
from riskdesk.db import SessionDep
from riskdesk.kit.errors import RiskdeskError
from riskdesk.kit.timeutil import local, offset_label, utcnow, zone, zone_names
from riskdesk.security import service as security_service
from riskdesk.security.deps import CanSettingsManage, CurrentPrincipal
from riskdesk.security.service import Principal
from riskdesk.ui.forms import FormDep, Refusal, filled, form_context, form_failure
from riskdesk.ui.render import format_stamp, render

router = APIRouter(include_in_schema=False)

# Offered first: where the company and its customers and colleagues usually are.
COMMON_ZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "UTC",
)
Done = Annotated[str | None, Query(pattern="^(saved|unchanged)$")]


def _page(
    request: Request,
    session: SessionDep,
    principal: Principal,
    *,
    form: dict[str, str] | None = None,
    refused: Refusal | None = None,
    done: str | None = None,
) -> Response:
    default = request.app.state.settings.time_zone
    view = company_service.time_zone_view(session, default)
    now = utcnow()
    examples = [
        (name, offset_label(zone(name), now), format_stamp(local(now, zone(name)), zone(name)))
        for name in COMMON_ZONES
    ]
    who = (
        security_service.get_user(session, view["updated_by_id"]) if view["updated_by_id"] else None
    )
    return render(
        request,
        "settings.html",
        principal,
        view=view,
        updated_by=(who.display_name or who.username) if who else None,
        now=now,
        examples=examples,
        zones=sorted(zone_names()),
        done=done,
        **form_context(form, refused),
    )


@router.get("/settings", response_class=HTMLResponse)
def settings_page(
    request: Request, session: SessionDep, principal: CanSettingsManage, done: Done = None
) -> Response:
    """The company's settings: the zone every page shows times in."""
    return _page(request, session, principal, done=done)


@router.post("/settings/time-zone", response_class=HTMLResponse)
def save_time_zone(
    request: Request, session: SessionDep, principal: CanSettingsManage, form: FormDep
) -> Response:
    """Set the display time zone; the same zone again changes nothing."""
    data = filled(form, ("time_zone",))
    default = request.app.state.settings.time_zone
    before = company_service.time_zone_view(session, default)
    try:
        body = TimeZoneIn.model_validate(data)
        company_service.set_time_zone(session, principal, body.time_zone)
    except (ValidationError, RiskdeskError) as exc:
        return _page(request, session, principal, form=data, refused=form_failure(session, exc))
    after = company_service.time_zone_view(session, default)
    unchanged = before["is_set"] and before["time_zone"] == after["time_zone"]
    done = "unchanged" if unchanged else "saved"
    return RedirectResponse(f"/settings?done={done}", status_code=303)


def _my_page(
    request: Request,
    session: SessionDep,
    principal: Principal,
    *,
    form: dict[str, str] | None = None,
    refused: Refusal | None = None,
    done: str | None = None,
) -> Response:
    view = company_service.my_time_zone_view(
        session, principal.user, request.app.state.settings.time_zone
    )
    # Offered: Area/Location names; the legacy aliases (PRC, EST, localtime) and Etc/GMT-8
    # (whose sign is inverted) would only confuse. The API still takes any name it knows.
    others = sorted(
        name
        for name in zone_names() - set(COMMON_ZONES)
        if "/" in name and not name.startswith("Etc/")
    )
    return render(
        request,
        "my_settings.html",
        principal,
        view=view,
        common_zones=COMMON_ZONES,
        other_zones=others,
        chosen=(form or {}).get("time_zone", view["time_zone"] or ""),
        done=done,
        **form_context(form, refused),
    )


@router.get("/me/settings", response_class=HTMLResponse)
def my_settings_page(
    request: Request, session: SessionDep, principal: CurrentPrincipal, done: Done = None
) -> Response:
    """My settings: the time zone my pages show times in (mine, or the company's)."""
    return _my_page(request, session, principal, done=done)


@router.post("/me/settings/time-zone", response_class=HTMLResponse)
def save_my_time_zone(
    request: Request, session: SessionDep, principal: CurrentPrincipal, form: FormDep
) -> Response:
    """Set my own display time zone, or follow the company's again (an empty choice); the
    same choice again changes nothing."""
    raw = form.get("time_zone")
    data = {"time_zone": raw.strip() if isinstance(raw, str) else ""}
    before = principal.user.time_zone
    try:
        body = MyTimeZoneIn.model_validate({"time_zone": data["time_zone"] or None})
        after = company_service.set_my_time_zone(session, principal, time_zone=body.time_zone)
    except (ValidationError, RiskdeskError) as exc:
        return _my_page(request, session, principal, form=data, refused=form_failure(session, exc))
    done = "unchanged" if after.time_zone == before else "saved"
    return RedirectResponse(f"/me/settings?done={done}", status_code=303)
