"""Company settings as the API reads and writes them."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from riskdesk.kit.validation import InputModel


class TimeZoneIn(InputModel):
    """The display time zone, an IANA name such as Asia/Shanghai."""

    time_zone: str = Field(min_length=1, max_length=64, examples=["Asia/Shanghai"])


class TimeZoneRead(BaseModel):
    """The zone pages show times in; ``configured`` is the default that applies while none is
    set (RISKDESK_TIME_ZONE). API answers and exports stay in UTC whatever it is."""

    time_zone: str
    offset: str = Field(description="the zone's offset from UTC now, e.g. UTC+08:00")
    configured: str
    is_set: bool
    updated_by_id: int | None
    updated_at: dt.datetime | None


class MyTimeZoneIn(InputModel):
    """Your own display time zone (an IANA name), or null for the company's."""

    time_zone: str | None = Field(min_length=1, max_length=64, examples=["Europe/Berlin"])


class MyTimeZoneRead(BaseModel):
    """Your own display time zone (null: the company's applies) and the one your pages use."""

    time_zone: str | None = Field(description="your own zone; null while the company's applies")
    effective: str = Field(description="the zone your pages show times in")
    offset: str = Field(description="the effective zone's offset from UTC now, e.g. UTC+01:00")
    is_own: bool
    company_time_zone: str
    company_offset: str
