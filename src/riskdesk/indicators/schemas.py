"""Indicators as the API shows them."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel


class IndicatorValue(BaseModel):
    """One indicator with its definition and the customer's value."""

    name: str
    group: str
    unit: str
    window_days: int | None
    description_en: str
    description_zh: str
    value: float | None


class IndicatorsRead(BaseModel):
    """A customer's indicators as of a date."""

    as_of: dt.date | None
    computed_at: dt.datetime | None
    indicators: list[IndicatorValue]


class IndicatorDefinition(BaseModel):
    """A catalogue entry."""

    name: str
    group: str
    unit: str
    window_days: int | None
    description_en: str
    description_zh: str
    population: bool
