"""Detectors beyond the rule language, over a table of values as of one date. Pure: Polars.

- ``anomaly_indicator``: an indicator far above (robust z at least ``Z``, on log(1 + x)) both
  the customer's peers (same segment) and the customer's own history at the last month ends;
  only indicators with spread among the peers and in the customer's history are judged
  (``anomaly``).
- The multivariate detector (``anomaly.isolation``) only ranks: it names the most unusual
  customers and their drivers for an analyst to look at, and opens no alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from riskdesk.monitoring import anomaly

Z = 5.0
ANOMALY_CODE = "anomaly_indicator"
ANOMALY_TITLES = (
    "An indicator far from the customer's own history and peers",
    "指标显著偏离自身历史与同类客户",
)


def far_table(
    values: pl.DataFrame, past: Sequence[pl.DataFrame], z_threshold: float = Z
) -> pl.DataFrame:
    """Per customer: the indicator values, ``peer_<f>`` and ``own_<f>`` deviations, and
    ``far``, the indicators far from both. ``values`` needs customer_id, segment and the
    features; ``past`` the features at earlier month ends."""
    features = anomaly.FEATURES
    current = values.select("customer_id", "segment", *features)
    if current.height == 0:
        return current.with_columns(far=pl.lit([], dtype=pl.List(pl.String)))
    history = (
        pl.concat([p.select("customer_id", *features) for p in past])
        if past
        else current.select("customer_id", *features).clear()
    )
    # Amounts, counts and ratios are skewed: on their own scale an ordinary big month is four
    # MADs out. Deviations are measured on log(1 + x), where they are roughly symmetric.
    logged = [pl.col(f).cast(pl.Float64).clip(lower_bound=0).log1p().alias(f) for f in features]
    scaled = current.with_columns(logged)
    table = current.join(anomaly.peer_deviations(scaled), on="customer_id").join(
        anomaly.own_deviations(history.with_columns(logged), scaled), on="customer_id", how="left"
    )
    # Above, not below: a quiet month is what the churn and drifting signals judge, and a
    # value falling to 0 is far on a log scale without being a warning.
    both = [
        (pl.col(f"peer_{f}") >= z_threshold) & (pl.col(f"own_{f}") >= z_threshold) for f in features
    ]
    return table.with_columns(
        far=pl.concat_list(
            [
                pl.when(c.fill_null(False)).then(pl.lit(f))
                for c, f in zip(both, features, strict=True)
            ]
        ).list.drop_nulls()
    )


def anomaly_hits(
    values: pl.DataFrame, past: Sequence[pl.DataFrame], z_threshold: float = Z
) -> pl.DataFrame:
    """customer_id, code, warning_type and ``far``, the indicators that are far, of the
    customers flagged."""
    table = far_table(values, past, z_threshold).filter(pl.col("far").list.len() > 0)
    return table.select(
        "customer_id", code=pl.lit(ANOMALY_CODE), warning_type=pl.lit("anomaly"), far="far"
    )


def ranking(
    values: pl.DataFrame, top: int = 20, contamination: float = 0.02
) -> list[dict[str, Any]]:
    """The most unusual customers overall (IsolationForest), with their three drivers."""
    if values.height == 0:
        return []
    scored = anomaly.isolation(
        values.select("customer_id", *anomaly.FEATURES), contamination=contamination
    )
    best = scored.drop_nulls("anomaly_score").sort("anomaly_score", descending=True).head(top)
    rows = values.join(best, on="customer_id")
    return [
        {
            "customer_id": r["customer_id"],
            "anomaly_score": round(float(r["anomaly_score"]), 4),
            "drivers": {name: r.get(name) for name in r["drivers"]},
        }
        for r in rows.sort("anomaly_score", descending=True).to_dicts()
    ]
