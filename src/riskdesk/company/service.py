"""Company settings: the display time zone, set by an administrator, cached per process; and
each user's own zone over it (``users.time_zone``, read from the principal: no query).

Every page reads the zone, so each process keeps it a few seconds per database (per bind:
tests give every test its own connection) instead of asking on every page. The process that
changes it drops its copy when the change commits (or rolls back); other processes (API nodes,
workers) see it within ``CACHE_SECONDS``. A stamp like the credit check's (migration 0031)
would cost the same one-row read per page as the value itself, so the value is what is read.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from riskdesk.company import repository as repo
from riskdesk.kit.errors import PermissionDenied, ValidationFailed
from riskdesk.kit.timeutil import offset_label, utcnow, zone, zone_names
from riskdesk.models import CompanySetting
from riskdesk.security import service as security_service
from riskdesk.security.service import Caller, Principal

TIME_ZONE = "display_time_zone"
CACHE_SECONDS = 10.0

# bind -> (read at, monotonic; the stored value, None while unset)
_zones: weakref.WeakKeyDictionary[Any, tuple[float, str | None]] = weakref.WeakKeyDictionary()
_zones_lock = threading.Lock()


def _bind_of(session: Session) -> Any:
    # A session on an engine is keyed by the engine; one on a connection (the tests' sessions,
    # joined to a transaction that is rolled back) by that connection.
    return session.get_bind()


def forget(session: Session) -> None:
    """Drop this process's copy of the settings of the session's database."""
    with _zones_lock:
        _zones.pop(_bind_of(session), None)


def stored_time_zone(session: Session) -> str | None:
    """The zone the company set (None while unset), from the process's cache."""
    bind = _bind_of(session)
    now = time.monotonic()
    found = _zones.get(bind)
    if found is not None and now - found[0] < CACHE_SECONDS:
        return found[1]
    value = repo.setting_value(session, TIME_ZONE)
    with _zones_lock:
        _zones[bind] = (now, value)
    return value


def _known(name: str | None) -> str | None:
    # A name a later tzdata dropped falls back (to the company's, the default) rather than
    # failing pages.
    return name if name is not None and (name == "UTC" or name in zone_names()) else None


def display_time_zone(session: Session, default: str) -> str:
    """The company's display zone: the one set, else ``default`` (RISKDESK_TIME_ZONE)."""
    return _known(stored_time_zone(session)) or default


def time_zone_for(session: Session, user: Caller | None, default: str) -> tuple[str, bool]:
    """The zone a user's pages show times in, and whether it is their own: their own when
    set, else the company's."""
    own = _known(user.time_zone) if user is not None else None
    return (own, True) if own is not None else (display_time_zone(session, default), False)


def time_zone_view(session: Session, default: str) -> dict[str, Any]:
    """The setting as the API and the settings page show it."""
    row = repo.get_setting(session, TIME_ZONE)
    name = row.value if row is not None else default
    return {
        "time_zone": name,
        "offset": offset_label(zone(name)),
        "configured": default,
        "is_set": row is not None,
        "updated_by_id": row.updated_by_id if row is not None else None,
        "updated_at": row.updated_at if row is not None else None,
    }


def validate_time_zone(name: str) -> str:
    """An IANA zone name this machine knows, or a ValidationFailed naming the field."""
    name = name.strip()
    if name != "UTC" and name not in zone_names():
        raise ValidationFailed(
            f"time_zone: {name!r} is not an IANA time zone (e.g. Asia/Shanghai, Europe/Berlin)",
            field="time_zone",
            code="unknown_time_zone",
        )
    return name


def set_time_zone(session: Session, principal: Principal, name: str) -> CompanySetting | None:
    """Set the company's display time zone (the audit log records the change with who made
    it); the same zone again changes nothing. Returns the row (None: nothing was set)."""
    name = validate_time_zone(name)
    row = repo.get_setting(session, TIME_ZONE)
    if row is not None and row.value == name:
        return row
    if row is None:
        row = CompanySetting(name=TIME_ZONE, value=name)
        session.add(row)
    row.value = name
    row.updated_by_id = principal.user_id
    row.updated_at = utcnow()
    session.flush()
    _forget_when_done(session)
    return row


def time_zone_for_offline(user: Caller | None, default: str) -> tuple[str, bool]:
    """As :func:`time_zone_for` without the database (an error page while it is away): the
    user's own zone when set, else ``default``."""
    own = _known(user.time_zone) if user is not None else None
    return (own, True) if own is not None else (default, False)


def my_time_zone_view(session: Session, user: Caller, default: str) -> dict[str, Any]:
    """A user's own zone as the API and the "My settings" page show it: theirs (None: the
    company's), the one in force, and the company's."""
    company = display_time_zone(session, default)
    in_force, own = time_zone_for(session, user, default)
    return {
        "time_zone": user.time_zone,
        "effective": in_force,
        "offset": offset_label(zone(in_force)),
        "is_own": own,
        "company_time_zone": company,
        "company_offset": offset_label(zone(company)),
    }


def set_my_time_zone(session: Session, principal: Principal, *, time_zone: str | None) -> Caller:
    """Set (or clear with None, back to the company's) the caller's own display time zone;
    the same value again writes nothing. The write is to the caller's own ``users`` row, so
    the audit log records it as a change of that user. Only a signed-in person: a token has no
    scope for a person's preferences (and one an administrator issued for them must not move
    their clock). Returns the caller as now stored."""
    if principal.via == "token":
        raise PermissionDenied(
            "API tokens cannot change a user's settings; sign in", code="permission_denied"
        )
    value = validate_time_zone(time_zone) if time_zone is not None else None
    user = security_service.get_user_or_raise(session, principal.user_id)
    if user.time_zone != value:
        user.time_zone = value
        session.flush()
    return Caller.of(user)


def _forget_when_done(session: Session) -> None:
    """Drop the cached copy now and again when the transaction ends either way: a page drawn
    before the commit must not keep the old zone, nor one after a rollback the new one."""
    forget(session)
    session.info[_CHANGED] = _bind_of(session)


_CHANGED = "riskdesk.company.changed"


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _transaction_ended(session: Session, *_: Any) -> None:
    bind = session.info.pop(_CHANGED, None)
    if bind is not None:
        with _zones_lock:
            _zones.pop(bind, None)
