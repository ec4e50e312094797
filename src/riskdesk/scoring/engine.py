"""Scoring: a definition applied to factor values, vectorised over any number of customers.

``score_frame`` is the only path used to score customers, in batch and one at a time.
``score_one`` computes the same thing for one customer in plain Python; it explains a score on
screen and lets the tests prove the vectorised formulas right.

Points are added in the factors' order, starting from the base points, and the total is rounded
half up, in both paths, so the two agree to the last point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from riskdesk.scoring.definition import Band, Definition, Factor

LOST_EPSILON = 1e-9  # a factor that lost less than this did not pull the score down
LOST_DIGITS = 9  # points lost are compared at this precision, so near-equal factors tie


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def factor_points(factor: Factor, value: Any) -> float:
    """The points one factor gives for one value."""
    if _missing(value):
        return float(factor.missing_points)
    if factor.weight is not None:
        w = factor.weight
        share = min(max((float(value) - w.lower) / (w.upper - w.lower), 0.0), 1.0)
        if not w.higher_is_better:
            share = 1.0 - share
        return share * w.points
    assert factor.bins is not None
    if not factor.input.numeric:
        for b in factor.bins:
            if b.values is not None and str(value) in b.values:
                return float(b.points)
        return float(factor.missing_points)
    x = float(value)
    for b in factor.bins:
        if b.upper is None or x < b.upper:
            return float(b.points)
    raise AssertionError("numeric bins cover every value")  # the last bin has no upper bound


def _band(bands: list[Band], score: int) -> str:
    for b in bands:
        if b.min <= score <= b.max:
            return b.code
    raise AssertionError(f"score {score} is in no band")  # bands cover 0-1000


def _round(total: float) -> int:
    return math.floor(total + 0.5)


@dataclass(frozen=True)
class Scored:
    """One customer's score, with each factor's points and the reasons, worst first."""

    score: int
    rating: str
    tier: str
    points: dict[str, float]
    reasons: list[str]


def score_one(definition: Definition, values: Mapping[str, Any]) -> Scored:
    """Score one customer from a mapping of factor code to value (plain Python)."""
    total = float(definition.base_points)
    points: dict[str, float] = {}
    for f in definition.factors:
        points[f.code] = factor_points(f, values.get(f.code))
        total = total + points[f.code]
    score = _round(total)
    # Rounded: the vectorised path computes the same points with other float operations, and
    # two factors equal but for the last bits must tie (and fall to the factors' order) alike.
    lost = [
        (round(f.point_range()[1] - points[f.code], LOST_DIGITS), i, f.code)
        for i, f in enumerate(definition.factors)
    ]
    worst = sorted((x for x in lost if x[0] > LOST_EPSILON), key=lambda x: (-x[0], x[1]))
    return Scored(
        score=score,
        rating=_band(definition.ratings, score),
        tier=_band(definition.tiers, score),
        points=points,
        reasons=[code for _, _, code in worst[: definition.reason_count]],
    )


def _cases(cases: list[tuple[pl.Expr, pl.Expr]], default: pl.Expr) -> pl.Expr:
    """when/then in order, else ``default`` (also when there are no cases)."""
    if not cases:
        return default
    chain: Any = pl
    for cond, value in cases:
        chain = chain.when(cond).then(value)
    result: pl.Expr = chain.otherwise(default)
    return result


def _points_expr(factor: Factor) -> pl.Expr:
    col = pl.col(factor.code)
    if factor.weight is not None:
        w = factor.weight
        share = ((col.cast(pl.Float64) - w.lower) / (w.upper - w.lower)).clip(0.0, 1.0)
        if not w.higher_is_better:
            share = 1.0 - share
        given: pl.Expr = share * w.points
        missing = col.is_null() | col.cast(pl.Float64).is_nan()
    elif not factor.input.numeric:
        assert factor.bins is not None
        given = _cases(
            [
                (col.cast(pl.String).is_in(b.values or []), pl.lit(float(b.points)))
                for b in factor.bins
            ],
            pl.lit(float(factor.missing_points)),
        )
        missing = col.is_null()
    else:
        assert factor.bins is not None
        x = col.cast(pl.Float64)
        given = _cases(
            [(x < b.upper, pl.lit(float(b.points))) for b in factor.bins[:-1]],
            pl.lit(float(factor.bins[-1].points)),
        )
        missing = col.is_null() | x.is_nan()
    return pl.when(missing).then(float(factor.missing_points)).otherwise(given).cast(pl.Float64)


def _band_expr(bands: list[Band], score: pl.Expr) -> pl.Expr:
    return _cases([(score <= b.max, pl.lit(b.code)) for b in bands[:-1]], pl.lit(bands[-1].code))


def score_frame(definition: Definition, values: pl.DataFrame) -> pl.DataFrame:
    """Score every row of ``values`` (customer_id and one column per factor code).

    Returns customer_id, score, rating, tier, ``points_<code>`` for each factor and ``reasons``
    (factor codes, worst first).
    """
    factors = definition.factors
    missing_cols = [f.code for f in factors if f.code not in values.columns]
    frame = values.with_columns([pl.lit(None).alias(c) for c in missing_cols])
    points = frame.select(
        "customer_id", *[_points_expr(f).alias(f"points_{f.code}") for f in factors]
    )
    total: pl.Expr = pl.lit(float(definition.base_points))
    for f in factors:
        total = total + pl.col(f"points_{f.code}")
    scored = points.with_columns(score=(total + 0.5).floor().cast(pl.Int64)).with_columns(
        rating=_band_expr(definition.ratings, pl.col("score")),
        tier=_band_expr(definition.tiers, pl.col("score")),
    )
    # Reasons: each factor's points below its best, largest first (ties: the factors' order).
    lost = scored.select(
        "customer_id",
        *[
            (f.point_range()[1] - pl.col(f"points_{f.code}")).round(LOST_DIGITS).alias(str(i))
            for i, f in enumerate(factors)
        ],
    ).unpivot(index="customer_id", variable_name="factor", value_name="lost")
    codes = pl.DataFrame(
        {"factor": [str(i) for i in range(len(factors))], "code": [f.code for f in factors]}
    ).with_columns(order=pl.col("factor").cast(pl.Int64))
    reasons = (
        lost.filter(pl.col("lost") > LOST_EPSILON)
        .join(codes, on="factor")
        .sort(["customer_id", "lost", "order"], descending=[False, True, False])
        .group_by("customer_id", maintain_order=True)
        .head(definition.reason_count)
        .group_by("customer_id")
        .agg(pl.col("code").alias("reasons"))
    )
    return scored.join(reasons, on="customer_id", how="left").with_columns(
        pl.col("reasons").fill_null(pl.lit([], dtype=pl.List(pl.String)))
    )
