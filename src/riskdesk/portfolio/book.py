"""The book's positions, one row per customer in scope, summed and ranked in Polars.

The dashboard reads the positions once and derives the utilisation bands, the tiers, the top
exposures and the concentration from them: one read of the book instead of five aggregates,
each of which joined and grouped the exposures again. Money stays exact (decimal(38, 2)).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

import polars as pl

UNRATED = "unrated"
UNKNOWN = "unknown"
NO_LIMIT = "no_limit"
MONEY = pl.Decimal(38, 2)
AMOUNTS = ("credit_limit", "exposure")
SCHEMA: dict[str, Any] = {
    "customer_id": pl.Int64,
    "industry": pl.Utf8,
    "region": pl.Utf8,
    "group_id": pl.Int64,
    "tier": pl.Utf8,
    # Read as whole cents; decimal(38, 2) in the frame.
    "credit_limit": pl.Int64,
    "exposure": pl.Int64,
}
COLUMNS = tuple(SCHEMA)


def frame(rows: Iterable[Sequence[Any]]) -> pl.DataFrame:
    """The positions as a frame: rows in the order of ``COLUMNS``, amounts in whole cents
    (``repository.positions``); the frame holds them as exact decimals."""
    cents = pl.DataFrame(list(rows), schema=SCHEMA, orient="row")
    return cents.with_columns(pl.col(a).cast(MONEY) / 100 for a in AMOUNTS)


def _band(bands: Sequence[tuple[str, float, float | None]]) -> pl.Expr:
    """The utilisation band, as the SQL CASE has it: exposure against limit × the band's upper
    bound, compared exactly (the bound as a fraction of integers, so no float rounding)."""
    exposure, limit = pl.col("exposure"), pl.col("credit_limit")
    chain: Any = pl.when(limit <= 0).then(pl.lit(NO_LIMIT))
    for band, low, high in bands:
        if high is None:
            bound = Fraction(str(low))
            test = exposure * bound.denominator >= limit * bound.numerator
        else:
            bound = Fraction(str(high))
            test = exposure * bound.denominator < limit * bound.numerator
        chain = chain.when(test).then(pl.lit(band))
    result: pl.Expr = chain.otherwise(pl.lit(bands[-1][0]))
    return result


def by_band_and_tier(
    positions: pl.DataFrame, bands: Sequence[tuple[str, float, float | None]]
) -> list[tuple[str, str, int, Decimal, Decimal]]:
    """(band, tier or ``unrated``, customers, exposure, limit), as the SQL aggregate gave."""
    if positions.is_empty():
        return []
    cells = (
        positions.lazy()
        .group_by(_band(bands).alias("band"), pl.col("tier").fill_null(UNRATED))
        .agg(
            pl.len().alias("n"),
            pl.col("exposure").sum().alias("exposure"),
            pl.col("credit_limit").sum().alias("limit"),
        )
        .sort("band", "tier")
        .collect()
    )
    return [(b, t, int(n), e, lim) for b, t, n, e, lim in cells.iter_rows()]


def band_of(positions: pl.DataFrame, bands: Sequence[tuple[str, float, float | None]]) -> pl.Series:
    """Each customer's utilisation band, in the frame's order."""
    return positions.select(_band(bands).alias("band"))["band"]


def top_exposures(positions: pl.DataFrame, limit: int) -> list[tuple[Any, ...]]:
    """The largest exposures: (customer id, tier, exposure, limit)."""
    top = (
        positions.lazy()
        .filter(pl.col("exposure") > 0)
        .sort(["exposure", "customer_id"], descending=[True, False])
        .head(limit)
        .select("customer_id", "tier", "exposure", "credit_limit")
        .collect()
    )
    return list(top.iter_rows())


def concentration(
    positions: pl.DataFrame, dimension: str, limit: int
) -> tuple[list[tuple[Any, Decimal]], float, float]:
    """Exposure by industry, region or group: the largest ``limit`` keys as (key, exposure),
    and over all keys the sum of squared exposures and the total (for the HHI). A group's key
    is its id; a customer outside any group stands alone, keyed by minus its id."""
    if dimension == "group":
        key = (
            pl.when(pl.col("group_id").is_not_null())
            .then(pl.col("group_id"))
            .otherwise(-pl.col("customer_id"))
        )
    else:
        key = pl.col(dimension).fill_null(UNKNOWN)
    per_key = (
        positions.lazy()
        .filter(pl.col("exposure") > 0)
        .group_by(key.alias("key"))
        .agg(pl.col("exposure").sum())
        .collect()
    )
    if per_key.is_empty():
        return [], 0.0, 0.0
    # The HHI needs no cents: floats, as the squares of billions would overflow integers.
    as_float = per_key["exposure"].cast(pl.Float64)
    squares, total = float((as_float * as_float).sum()), float(as_float.sum())
    top = per_key.sort(["exposure", "key"], descending=[True, False]).head(limit)
    return [(k, e) for k, e in top.iter_rows()], squares, total
