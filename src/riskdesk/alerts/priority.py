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

An alert's severity (and so its SLA and who hears of it) follows from the same two figures:
the level its stake reaches (``RISKDESK_ALERT_SEVERITY_STAKES``), no higher than its
signal's precision allows and no higher than its rule's own severity.
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

SEVERITIES = ("low", "medium", "high", "critical")
# The least precision for a level: a signal wrong as often as right never asks anyone to act
# within a day, and only a reliable one within hours.
LEAST_PRECISION = {"critical": 0.8, "high": 0.5}


def precision_of(
    alerts: pl.DataFrame,
    live: Mapping[str, tuple[int, int]],
    backtested: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """``alerts`` (rule_code, warning_type, ...) with ``precision``: the rule's live share of
    confirmed among closed alerts when it has ``MIN_CLOSED`` of them (``live``: code ->
    (confirmed, false alarms)), else its type's precision in the latest backtest of the
    active pack (``backtested``: type -> precision), else the shipped prior of its type."""
    measured = {
        code: confirmed / (confirmed + false)
        for code, (confirmed, false) in live.items()
        if confirmed + false >= MIN_CLOSED
    }
    by_type = {**PRIOR_PRECISION, **(backtested or {})}
    return alerts.with_columns(
        precision=pl.col("rule_code")
        .replace_strict(measured, default=None, return_dtype=pl.Float64)
        .fill_null(
            pl.col("warning_type").replace_strict(
                by_type, default=DEFAULT_PRECISION, return_dtype=pl.Float64
            )
        )
    )


def severities(staked: pl.DataFrame, least_stakes: Mapping[str, float]) -> pl.DataFrame:
    """``staked`` (stake, precision, cap: the rule's severity) with ``severity``: the highest
    level whose least stake (``least_stakes``: medium, high, critical, in CNY) the stake
    reaches, lowered to what the precision allows (``LEAST_PRECISION``) and to the cap."""
    rank = {level: i for i, level in enumerate(SEVERITIES)}
    stake = pl.col("stake").fill_null(0.0)
    precision = pl.col("precision").fill_null(0.0)
    by_stake = (
        pl.when(stake >= least_stakes["critical"])
        .then(3)
        .when(stake >= least_stakes["high"])
        .then(2)
        .when(stake >= least_stakes["medium"])
        .then(1)
        .otherwise(0)
    )
    by_precision = (
        pl.when(precision >= LEAST_PRECISION["critical"])
        .then(3)
        .when(precision >= LEAST_PRECISION["high"])
        .then(2)
        .otherwise(1)
    )
    cap = pl.col("cap").replace_strict(rank, default=3, return_dtype=pl.Int32)
    level = pl.min_horizontal(by_stake, by_precision, cap)
    return staked.with_columns(
        severity=level.replace_strict(dict(enumerate(SEVERITIES)), return_dtype=pl.String)
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
