"""Time helpers: timestamps are timezone-aware UTC, dates are business dates."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones


def utcnow() -> dt.datetime:
    """Now, in UTC, timezone-aware."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """Treat a naive timestamp as UTC (SQLite returns naive ones) and convert aware ones."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def today() -> dt.date:
    """Today's business date (UTC; the display zone changes how instants read, not this)."""
    return utcnow().date()


def month_ends(day: dt.date, months: int) -> list[dt.date]:
    """The last ``months`` month ends before ``day``'s month, oldest first."""
    ends: list[dt.date] = []
    end = day.replace(day=1) - dt.timedelta(days=1)
    for _ in range(months):
        ends.append(end)
        end = end.replace(day=1) - dt.timedelta(days=1)
    return sorted(ends)


# ---------------------------------------------------------------- display time zone
#
# Instants are stored and exchanged in UTC; people read them on their own clock. The display
# zone is an IANA name (Asia/Shanghai) a company sets once; these helpers convert to it and
# read a person's typed times in it. Business dates (due dates, order dates) are never shifted.


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """The IANA zone names this machine knows (its tzdata)."""
    return frozenset(available_timezones())


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The zone of an IANA name (UTC for a name the machine does not know)."""
    if name not in zone_names() and name != "UTC":
        return ZoneInfo("UTC")
    return ZoneInfo(name)


def local(value: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """A UTC instant (naive means UTC, as SQLite returns it) on the clock of ``tz``; one at
    the calendar's edge (year 1 or 9999) that the zone would push past it, as stored."""
    try:
        return as_utc(value).astimezone(tz)
    except OverflowError:
        return value if value.tzinfo is None else value.replace(tzinfo=None)


def local_today(tz: dt.tzinfo) -> dt.date:
    """Today's date on the clock of ``tz``."""
    return utcnow().astimezone(tz).date()


def local_midnight(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """The UTC instant at which ``day`` starts on the clock of ``tz``."""
    return dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)


def from_local(value: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """A time a person typed, as a UTC instant: a naive one is read on the clock of ``tz``
    (a time skipped by a DST change moves forward, a repeated one is its first occurrence),
    one with an offset keeps it."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz, fold=0)
    return value.astimezone(dt.UTC)


def offset_label(tz: dt.tzinfo, at: dt.datetime | None = None) -> str:
    """The zone's offset from UTC at an instant (now by default), as ``UTC+08:00``."""
    try:
        offset = (at or utcnow()).astimezone(tz).utcoffset() or dt.timedelta(0)
    except (OverflowError, ValueError):  # an instant at the calendar's edge: today's offset
        offset = utcnow().astimezone(tz).utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"
