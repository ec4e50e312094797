"""Churn: the BG/NBD buy-till-you-die model fitted on purchase histories.

Each customer buys at their own Poisson rate while alive and may drop out after any purchase
(Fader, Hardie & Lee, "Counting Your Customers the Easy Way", Marketing Science 24(2), 2005).
From a customer's repeat purchases ``x``, the time of the last one ``t_x`` and the time since
the first one ``T`` (in weeks), it gives the probability that the customer is still active and
the purchases to expect in the next period. The four parameters are fitted by maximum
likelihood over all customers at once (numpy and scipy, vectorised; no loop per customer).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import optimize, special

FloatArray = npt.NDArray[np.float64]
WEEK = 7.0


@dataclass(frozen=True)
class BgNbd:
    """Fitted BG/NBD parameters: purchase rate Gamma(r, alpha), dropout Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def p_alive(self, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        """Probability each customer is still active at T."""
        ratio = self._dropout_ratio(x, t_x, T)
        return 1.0 / (1.0 + ratio)

    def _dropout_ratio(self, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = (
                np.log(self.a)
                - np.log(np.maximum(self.b + x - 1, 1e-12))
                + (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x))
            )
        return np.where(x > 0, np.exp(np.minimum(log_ratio, 700.0)), 0.0)

    def expected(self, x: FloatArray, t_x: FloatArray, T: FloatArray, t: float) -> FloatArray:
        """Purchases each customer is expected to make in the next ``t`` weeks."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + T + t)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        first = (a + b + x - 1) / (a - 1)
        second = 1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp
        result: FloatArray = first * second / (1.0 + self._dropout_ratio(x, t_x, T))
        return result


def _negative_log_likelihood(
    params: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> float:
    r, alpha, a, b = np.exp(params)
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = (
        special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    ll = a1 + a2 + np.logaddexp(a3, a4)
    return float(-ll.sum())


def fit(x: FloatArray, t_x: FloatArray, T: FloatArray) -> BgNbd:
    """Maximum-likelihood parameters for the given customers (x repeat purchases, weeks)."""
    if len(x) < 5:
        raise ValueError("need at least 5 customers to fit")
    # The likelihood has long flat ridges: start from a few places and keep the best.
    scale = max(float(np.mean(T)), 1.0)
    starts = [
        [0.5, scale / 4, 1.0, 3.0],
        [0.25, scale / 8, 0.8, 2.5],
        [1.0, scale, 2.0, 8.0],
    ]
    best: Any = None
    for start in starts:
        result = optimize.minimize(
            _negative_log_likelihood, np.log(np.array(start)), args=(x, t_x, T),
            method="L-BFGS-B", bounds=[(-8.0, 8.0)] * 4,
        )  # fmt: skip
        if best is None or result.fun < best.fun:
            best = result
    result = best
    r, alpha, a, b = np.exp(result.x)
    # The expectation divides by a - 1; a = 1 exactly is a removable point, step off it.
    if abs(a - 1.0) < 1e-6:
        a = 1.0 + 1e-6
    return BgNbd(float(r), float(alpha), float(a), float(b))


def summarise(
    transactions: pl.DataFrame, cutoff: dt.date, *, customer: str = "customer", day: str = "day"
) -> pl.DataFrame:
    """customer, x, t_x, T (weeks) from purchases on or before the cutoff; purchases on the
    same day count once."""
    days = (
        transactions.filter(pl.col(day) <= cutoff)
        .select(pl.col(customer).alias("customer"), pl.col(day).alias("day"))
        .unique()
    )
    # Sorted: the likelihood's sum depends on the order of its terms in the last bits, and on
    # its flat ridges that is enough to send two fits of the same data 1% apart.
    return (
        days.group_by("customer")
        .agg(
            x=(pl.len() - 1).cast(pl.Float64),
            t_x=(pl.col("day").max() - pl.col("day").min()).dt.total_days() / WEEK,
            T=(pl.lit(cutoff) - pl.col("day").min()).dt.total_days() / WEEK,
        )
        .sort("customer")
    )


def summary_of(counted: pl.DataFrame, cutoff: dt.date) -> pl.DataFrame:
    """customer_id, x, t_x, T (weeks) from customer_id, days (distinct purchase days), first
    and last (dates): ``summarise`` of purchases already counted, up to the cutoff."""
    return counted.select(
        "customer_id",
        x=(pl.col("days") - 1).cast(pl.Float64),
        t_x=(pl.col("last") - pl.col("first")).dt.total_days() / WEEK,
        T=(pl.lit(cutoff) - pl.col("first")).dt.total_days() / WEEK,
    )


def _metrics(predicted: FloatArray, actual: FloatArray) -> dict[str, float | None]:
    error = predicted - actual
    correlation = (
        float(np.corrcoef(predicted, actual)[0, 1])
        if np.std(predicted) > 0 and np.std(actual) > 0
        else None
    )
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "correlation": correlation,
        "total_predicted": float(np.sum(predicted)),
        "total_actual": float(np.sum(actual)),
    }


def backtest(
    transactions: pl.DataFrame,
    cutoff: dt.date,
    until: dt.date,
    *,
    customer: str = "customer",
    day: str = "day",
) -> dict[str, Any]:
    """Fit on purchases up to the cutoff, predict each customer's purchases until ``until``,
    and compare with what they did, beside two naive baselines."""
    if until <= cutoff:
        raise ValueError("until must be after the cutoff")
    summary = summarise(transactions, cutoff, customer=customer, day=day)
    if summary.height < 5:
        raise ValueError("fewer than 5 customers bought before the cutoff")
    after = (
        transactions.filter((pl.col(day) > cutoff) & (pl.col(day) <= until))
        .select(pl.col(customer).alias("customer"), pl.col(day).alias("day"))
        .unique()
        .group_by("customer")
        .agg(actual=pl.len().cast(pl.Float64))
    )
    data = summary.join(after, on="customer", how="left").with_columns(
        pl.col("actual").fill_null(0.0)
    )
    x, t_x, T = (data[c].to_numpy().astype(float) for c in ("x", "t_x", "T"))
    actual = data["actual"].to_numpy().astype(float)
    horizon = (until - cutoff).days / WEEK
    model = fit(x, t_x, T)
    predicted = model.expected(x, t_x, T, horizon)
    # Naive: each customer keeps their own past rate; or everyone buys at the average rate.
    own_rate = (x + 1) / np.maximum(T, 1.0) * horizon
    average = np.full_like(actual, float(np.sum(x + 1) / np.sum(np.maximum(T, 1.0))) * horizon)
    return {
        "customers": int(data.height),
        "cutoff": cutoff.isoformat(),
        "until": until.isoformat(),
        "horizon_weeks": horizon,
        "parameters": {"r": model.r, "alpha": model.alpha, "a": model.a, "b": model.b},
        "bgnbd": _metrics(predicted, actual),
        "naive_own_rate": _metrics(own_rate, actual),
        "naive_average_rate": _metrics(average, actual),
        "mean_p_alive": float(np.mean(model.p_alive(x, t_x, T))),
    }
