"""What the rating migration answers: the matrix of ratings then and now, and the shares."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class MigrationRow(BaseModel):
    """The customers rated ``rating`` at the start, by their rating at the end (``counts``
    follows ``RatingMigration.ratings``)."""

    rating: str
    counts: list[int]
    total: int


class RatingMigration(BaseModel):
    """Rating migration between two quarter ends (or a quarter end and today)."""

    quarter: str = Field(description="the quarter whose movement this is, e.g. 2026Q3")
    start: dt.date = Field(description="the end of the previous quarter")
    end: dt.date = Field(description="the end of the quarter, or today while it runs")
    ratings: list[str] = Field(description="best first, then not_rated")
    rows: list[MigrationRow]
    customers: int
    rated_both: int = Field(description="customers rated at both dates")
    upgraded: int
    unchanged: int
    downgraded: int
    newly_rated: int
    no_longer_rated: int
    upgraded_share: float | None = Field(description="of the customers rated at both dates")
    unchanged_share: float | None
    downgraded_share: float | None
