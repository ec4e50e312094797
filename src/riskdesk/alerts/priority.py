"""What is at stake in a case: the worklist's order. Pure: Polars only.

A customer's open alerts form one case. Each alert puts an amount at stake:

- credit signals (default risk, payment deterioration, limit / exposure, cash on delivery):
  the expected loss, PD x exposure, with PD from the champion model where one has scored the
  customer, else the signal's precision (how often an alert of this rule came true: measured
  live once people have closed enough of them, else the replayed figure of its type);
- churn and dissatisfaction: the value at risk, a quarter's expected purchases times the
  probability the customer is gone (BG/NBD), times the signal's precision;
- the other signals (resale, return abuse, order spikes, complaints, anomalies): the exposure
  times the signal's precision, what a wrong credit decision about the customer would cost.

The case's priority is the largest stake among its alerts, with that alert's basis.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

CREDIT = ("default_risk", "payment_deterioration", "limit_exposure", "cod_shift")
CHURN = ("churn", "dissatisfaction")

# The precision of each type where nothing better is known: the replayed figures of the
# default pack on the demo populations (docs/benchmarks.md, "Warning replays"), rounded down;
# 0.5 for types no replay could score (no outcome in the events and no confirmation yet).
PRIOR_PRECISION: dict[str, float] = {
    "default_risk": 0.95,
    "payment_deterioration": 0.85,
    "limit_exposure": 0.9,
    "churn": 0.5,
    "dissatisfaction": 0.45,
    "resale": 0.9,
    "return_abuse": 0.85,
}
DEFAULT_PRECISION = 0.5
MIN_CLOSED = 20  # closed alerts of a rule before its live precision replaces the prior


def precision_of(alerts: pl.DataFrame, live: Mapping[str, tuple[int, int]]) -> pl.DataFrame:
    """``alerts`` (rule_code, warning_type, ...) with ``precision``: the rule's live share of
    confirmed among closed alerts when it has ``MIN_CLOSED`` of them (``live``: code ->
    (confirmed, false alarms)), else the prior of its type."""
    measured = {
        code: confirmed / (confirmed + false)
        for code, (confirmed, false) in live.items()
        if confirmed + false >= MIN_CLOSED
    }
    return alerts.with_columns(
        precision=pl.col("rule_code")
        .replace_strict(measured, default=None, return_dtype=pl.Float64)
        .fill_null(
            pl.col("warning_type").replace_strict(
                PRIOR_PRECISION, default=DEFAULT_PRECISION, return_dtype=pl.Float64
            )
        )
    )


def stakes(alerts: pl.DataFrame, facts: pl.DataFrame) -> pl.DataFrame:
    """Per alert (customer_id, warning_type, precision, ...): ``stake`` in CNY and its
    ``basis``. ``facts``: customer_id, exposure, pd (champion model; null if none),
    value_at_risk (churn; null if unknown)."""
    joined = alerts.join(facts, on="customer_id", how="left").with_columns(
        pl.col("exposure").fill_null(0.0).clip(lower_bound=0.0)
    )
    kind = pl.col("warning_type")
    return joined.with_columns(
        stake=pl.when(kind.is_in(CREDIT))
        .then(pl.coalesce("pd", "precision") * pl.col("exposure"))
        .when(kind.is_in(CHURN))
        .then(pl.col("value_at_risk").fill_null(0.0) * pl.col("precision"))
        .otherwise(pl.col("exposure") * pl.col("precision")),
        basis=pl.when(kind.is_in(CREDIT))
        .then(pl.lit("expected_loss"))
        .when(kind.is_in(CHURN))
        .then(pl.lit("value_at_risk"))
        .otherwise(pl.lit("exposure_at_risk")),
    )


def case_priorities(staked: pl.DataFrame) -> pl.DataFrame:
    """case_id, priority, priority_basis: each case's largest stake and its basis."""
    return (
        staked.sort("stake", descending=True, nulls_last=True)
        .group_by("case_id", maintain_order=True)
        .agg(
            pl.col("stake").first().alias("priority"),
            pl.col("basis").first().alias("priority_basis"),
        )
    )
