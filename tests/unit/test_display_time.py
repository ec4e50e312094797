"""Times read on the display zone's clock: an instant near midnight, summer time, business
dates left alone, typed times read in the zone."""

from __future__ import annotations

import datetime as dt

import pytest
from jinja2 import Environment

from riskdesk.kit.timeutil import from_local, local_midnight, offset_label, zone
from riskdesk.ui.render import format_day, format_stamp, templates

SHANGHAI = zone("Asia/Shanghai")
BERLIN = zone("Europe/Berlin")


def _render(source: str, **context: object) -> str:
    env: Environment = templates.env
    return env.from_string(source).render(**context)


def test_an_instant_late_in_the_utc_day_is_the_next_day_in_shanghai() -> None:
    instant = dt.datetime(2026, 12, 7, 17, 30, tzinfo=dt.UTC)
    assert format_stamp(instant, SHANGHAI) == "2026-12-08 01:30"
    assert format_day(instant, SHANGHAI) == "2026-12-08"
    assert format_stamp(instant) == "2026-12-07 17:30"  # no zone: UTC as stored


def test_a_naive_instant_from_sqlite_is_utc() -> None:
    assert format_stamp(dt.datetime(2026, 12, 7, 1, 30), SHANGHAI, seconds=True) == (
        "2026-12-07 09:30:00"
    )


def test_summer_time_follows_the_zone() -> None:
    winter = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
    summer = dt.datetime(2026, 7, 15, 12, 0, tzinfo=dt.UTC)
    assert format_stamp(winter, BERLIN) == "2026-01-15 13:00"
    assert format_stamp(summer, BERLIN) == "2026-07-15 14:00"
    assert offset_label(BERLIN, winter) == "UTC+01:00"
    assert offset_label(BERLIN, summer) == "UTC+02:00"
    assert offset_label(zone("Asia/Kolkata"), winter) == "UTC+05:30"
    assert offset_label(zone("America/New_York"), winter) == "UTC-05:00"


def test_business_dates_are_not_shifted() -> None:
    due = dt.date(2026, 12, 7)
    assert format_day(due, SHANGHAI) == "2026-12-07"
    assert format_day(due, zone("America/Los_Angeles")) == "2026-12-07"
    assert _render("{{ d | day }}", d=due, tz=zone("Pacific/Kiritimati")) == "2026-12-07"


def test_the_filters_use_the_pages_zone() -> None:
    instant = dt.datetime(2026, 12, 7, 17, 30, 5, tzinfo=dt.UTC)
    assert _render("{{ v | stamp }}", v=instant, tz=SHANGHAI) == "2026-12-08 01:30"
    assert _render("{{ v | day }}", v=instant, tz=SHANGHAI) == "2026-12-08"
    assert _render("{{ v | stamp(seconds=True) }}", v=instant) == "2026-12-07 17:30:05"
    assert _render("{{ v | utc }}", v=instant, tz=SHANGHAI) == "2026-12-07 17:30:05 UTC"
    assert _render("{{ v | stamp(sep='T') }}", v=instant, tz=BERLIN) == "2026-12-07T18:30"


def test_typed_times_are_read_in_the_zone() -> None:
    typed = dt.datetime(2026, 12, 8, 1, 30)
    assert from_local(typed, SHANGHAI) == dt.datetime(2026, 12, 7, 17, 30, tzinfo=dt.UTC)
    # An explicit offset is kept.
    with_offset = dt.datetime(2026, 12, 8, 1, 30, tzinfo=dt.UTC)
    assert from_local(with_offset, SHANGHAI) == with_offset
    # A wall time skipped by spring forward (02:30 on 29 March in Berlin) still reads.
    skipped = from_local(dt.datetime(2026, 3, 29, 2, 30), BERLIN)
    assert skipped.tzinfo is dt.UTC
    # A repeated one (autumn) is its first occurrence, in summer time.
    repeated = from_local(dt.datetime(2026, 10, 25, 2, 30), BERLIN)
    assert repeated == dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("name", "day", "expected"),
    [
        ("Asia/Shanghai", dt.date(2026, 12, 8), dt.datetime(2026, 12, 7, 16, 0, tzinfo=dt.UTC)),
        ("Europe/Berlin", dt.date(2026, 7, 1), dt.datetime(2026, 6, 30, 22, 0, tzinfo=dt.UTC)),
        ("UTC", dt.date(2026, 12, 8), dt.datetime(2026, 12, 8, 0, 0, tzinfo=dt.UTC)),
    ],
)
def test_a_days_midnight_in_the_zone(name: str, day: dt.date, expected: dt.datetime) -> None:
    assert local_midnight(day, zone(name)) == expected


def test_an_unknown_zone_name_reads_as_utc() -> None:
    assert zone("Mars/Olympus") == zone("UTC")


def test_instants_at_the_calendars_edge_still_show() -> None:
    last = dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC)
    first = dt.datetime(1, 1, 1, 0, 0, tzinfo=dt.UTC)
    assert format_stamp(last, SHANGHAI) == "9999-12-31 23:59"
    assert format_stamp(first, zone("America/New_York")) == "0001-01-01 00:00"
    assert format_day(last, SHANGHAI) == "9999-12-31"


def test_exported_time_columns_name_utc_once() -> None:
    from riskdesk.kit.exports import Column, headers

    columns = (
        Column("raised_at", "raised", "datetime"),
        Column("closed_at", "closed", "datetime"),
        Column("due_date", "due", "date"),
    )
    labels = {"raised": "Raised", "closed": "Closed at (UTC)", "due": "Due date"}
    assert headers(columns, labels.__getitem__) == ["Raised (UTC)", "Closed at (UTC)", "Due date"]
