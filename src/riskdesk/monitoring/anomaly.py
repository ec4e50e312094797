"""Anomaly detection over the indicator vector, vectorised over every customer.

- Robust deviation of each indicator from the customer's peers (same segment) and from the
  customer's own history (the same indicator at the last month ends): (x - median) / (1.4826 *
  MAD), so one extreme peer cannot hide another.
- A multivariate detector (scikit-learn's IsolationForest) over the indicators, standardised
  robustly; each flagged customer gets the indicators that drove it (largest robust deviations).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

MAD_SCALE = 1.4826  # makes the MAD estimate the standard deviation of a normal distribution
# When more than half the values are equal the MAD is 0: the indicator has too little spread
# to say what is far (most peers have no complaint, a month of history held one value), and
# nobody is judged on it. A fallback to the mean absolute deviation made a single complaint
# "far" where most peers had none.
# Differences below this are float noise (sums in another order), not a departure; without it a
# MAD of 1e-13 instead of 0 would switch scales and flip a detection between two runs.
NOISE = 1e-9


def _departure(value: pl.Expr, centre: pl.Expr) -> pl.Expr:
    diff = value - centre
    return pl.when(diff.abs() < NOISE).then(0.0).otherwise(diff)


def _scale(mad: pl.Expr) -> pl.Expr:
    """The robust scale, null where the values have too little spread to judge."""
    return pl.when(mad > NOISE).then(mad * MAD_SCALE)


# Indicators worth watching for departures (levels, not population ranks or lifecycle ages).
FEATURES = (
    "orders_count_30d",
    "orders_amount_30d",
    "purchase_activity_ratio_30d",
    "last_order_size_ratio",
    "cod_share_90d",
    "dpd_max",
    "dbt_weighted_90d",
    "overdue_ratio",
    "late_invoice_share_365d",
    "return_rate_90d",
    "returns_count_90d",
    "complaints_weighted_90d",
    "interaction_trend",
    "order_frequency_trend",
)


MIN_HISTORY = 4  # month ends of a customer's own history before it is a yardstick


def robust_z(values: pl.Expr, by: str | None = None) -> pl.Expr:
    """(x - median) / (1.4826 * MAD) within the group ``by`` (or over everything); null where
    the group's MAD is 0 (too little spread to judge)."""
    median = values.median() if by is None else values.median().over(by)
    deviation = (values - median).abs()
    mad = deviation.median() if by is None else deviation.median().over(by)
    # Clipped: beyond a thousand scales the number says nothing more, and reads badly.
    return (_departure(values, median) / _scale(mad)).clip(-999, 999)


def peer_deviations(frame: pl.DataFrame, features: Sequence[str] = FEATURES) -> pl.DataFrame:
    """customer_id and ``peer_<feature>``: each feature's robust z within the segment."""
    return frame.select(
        "customer_id",
        *[
            robust_z(pl.col(f).cast(pl.Float64).fill_nan(None), "segment").alias(f"peer_{f}")
            for f in features
        ],
    )


def own_deviations(
    history: pl.DataFrame, current: pl.DataFrame, features: Sequence[str] = FEATURES
) -> pl.DataFrame:
    """customer_id and ``own_<feature>``: today's value against the customer's own history,
    null where that history has too little spread (or fewer than ``MIN_HISTORY`` values).

    ``history`` holds the same features for past month ends (one row per customer and date).
    """
    stats = history.group_by("customer_id").agg(
        *[pl.col(f).cast(pl.Float64).median().alias(f"_med_{f}") for f in features],
        *[pl.col(f).cast(pl.Float64).alias(f"_all_{f}") for f in features],
        *[pl.col(f).is_not_null().sum().alias(f"_n_{f}") for f in features],
    )
    joined = current.select("customer_id", *features).join(stats, on="customer_id", how="left")
    cols: list[pl.Expr] = []
    for f in features:
        deviations = (pl.col(f"_all_{f}") - pl.col(f"_med_{f}")).list.eval(pl.element().abs())
        scale = _scale(deviations.list.median())
        departure = _departure(pl.col(f).cast(pl.Float64), pl.col(f"_med_{f}"))
        own = (departure / scale).clip(-999, 999)
        cols.append(pl.when(pl.col(f"_n_{f}") >= MIN_HISTORY).then(own).alias(f"own_{f}"))
    return joined.select("customer_id", *cols)


def isolation(
    frame: pl.DataFrame,
    features: Sequence[str] = FEATURES,
    *,
    contamination: float = 0.02,
    seed: int = 0,
) -> pl.DataFrame:
    """customer_id, ``anomaly_score`` (higher: more unusual), ``anomalous`` and ``drivers``
    (the three features with the largest robust deviation from everyone)."""
    from sklearn.ensemble import IsolationForest

    if frame.height < 10:
        return frame.select(
            "customer_id",
            anomaly_score=pl.lit(None, dtype=pl.Float64),
            anomalous=pl.lit(False),
            drivers=pl.lit([], dtype=pl.List(pl.String)),
        )
    z = frame.select(
        [
            robust_z(pl.col(f).cast(pl.Float64).fill_nan(None))
            .fill_null(0.0)
            .clip(-50, 50)
            .alias(f)
            for f in features
        ]
    )
    matrix = z.to_numpy()
    forest = IsolationForest(contamination=contamination, random_state=seed, n_jobs=1)
    forest.fit(matrix)
    score = -forest.score_samples(matrix)
    flagged = forest.predict(matrix) == -1
    order = np.argsort(-np.abs(matrix), axis=1)[:, :3]
    names = np.asarray(features)
    return pl.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "anomaly_score": score,
            "anomalous": flagged,
            "drivers": [list(names[row]) for row in order],
        }
    )


def evidence(row: dict[str, Any], drivers: Sequence[str]) -> dict[str, Any]:
    """What an anomaly alert shows: each driver's value and its deviations."""
    out: dict[str, Any] = {}
    for name in drivers:
        out[name] = {
            "value": row.get(name),
            "peer_z": _rounded(row.get(f"peer_{name}")),
            "own_z": _rounded(row.get(f"own_{name}")),
        }
    return out


def _rounded(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    return round(float(value), 2)
