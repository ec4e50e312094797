"""Time helpers: timestamps are timezone-aware UTC, dates are business dates."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """Now, in UTC, timezone-aware."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """Treat a naive timestamp as UTC (SQLite returns naive ones) and convert aware ones."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def today() -> dt.date:
    """Today's business date (UTC)."""
    return utcnow().date()


def month_ends(day: dt.date, months: int) -> list[dt.date]:
    """The last ``months`` month ends before ``day``'s month, oldest first."""
    ends: list[dt.date] = []
    end = day.replace(day=1) - dt.timedelta(days=1)
    for _ in range(months):
        ends.append(end)
        end = end.replace(day=1) - dt.timedelta(days=1)
    return sorted(ends)
