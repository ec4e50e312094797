"""Batch indicators for a large portfolio: Polars (ours) against pandas and a bare group-by.

    PYTHONPATH=src:. .venv/bin/python bench/indicators_bench.py [--customers N] [--events N]
    PYTHONPATH=src:. .venv/bin/python bench/indicators_bench.py --check [--customers N] [--events N]

(defaults: 100000 customers and 10000000 events; with --check 2000 and 200000)

Generates a synthetic event history (orders with their lines, invoices, payments, returns,
complaints, survey answers, interactions; about EVENTS rows in all) for CUSTOMERS customers, with
numpy, then runs each method in its own process on the same data and reports wall time and the
process's peak resident memory:

- riskdesk: ``indicators.compute.compute`` - the whole catalogue (75 indicators);
- pandas: a straightforward pandas implementation of the same whole catalogue, with the same
  definitions (boolean masks, masked columns summed in one ``groupby`` per source, ``merge``,
  ``sort_values`` with ``cumsum`` and ``groupby().tail()``; numpy only for the PAYDEX
  interpolation and the RFM quintile cuts):
  order, return, complaint and interaction counts and amounts per window, average order value,
  the 30-day purchase activity against the median of the 12 30-day periods before, the peer
  percentile of the 90-day amount within the segment, the category shift (total variation
  distance between the category shares of the last 90 days and of days 90-454), the last order
  against the median order of the year before it, cash-on-delivery share, return rates and
  return-reason shares, days past due (max and weighted), days beyond terms (90 and 365 days),
  the share of late invoices, DSO, best possible DSO and average days delinquent, PAYDEX, days
  from order to payment, ageing buckets, open and overdue receivables, oldest overdue invoice,
  weighted, open and resolved complaints, latest CSAT and NPS and the trend of the last 5
  answers, recency, tenure, purchase interval, order and interaction trends and RFM quintile
  scores; settlement day of an invoice = the day its running payment sum reaches the amount
  less half a cent;
- bare group-by: one Polars group-by pass per source over the same columns (sums and counts) -
  the floor any implementation that reads those columns has to pay.

With ``--check`` nothing is timed: both implementations run in this process on a small data set
(and on a variant with partial and split payments, open complaints, missing segments and events
after the as-of date) and every indicator column is compared; the exit status is non-zero when
any differs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import resource
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from riskdesk.indicators.catalogue import (
    AGEING_BUCKETS,
    NAMES,
    RETURN_REASONS,
    UNRECEIVED_CLAIM_REASONS,
    WINDOWS,
)

if TYPE_CHECKING:
    import pandas as pd

AS_OF = dt.date(2026, 6, 30)
SHARES = {
    "orders": 0.30,
    "invoices": 0.24,
    "payments": 0.20,
    "returns": 0.02,
    "complaints": 0.01,
    "surveys": 0.03,
    "interactions": 0.10,
}  # lines: one per order


def generate(customers: int, events: int, seed: int = 0) -> dict[str, pl.DataFrame]:
    """A synthetic event history (vectorised; the same seed gives the same data)."""
    rng = np.random.default_rng(seed)
    start = np.datetime64(AS_OF) - np.timedelta64(729, "D")

    def days(n: int) -> np.ndarray:
        return start + rng.integers(0, 730, n).astype("timedelta64[D]")

    n_orders = int(events * SHARES["orders"])
    order_cust = rng.integers(1, customers + 1, n_orders)
    order_day = days(n_orders)
    amount = np.round(rng.lognormal(7, 1.2, n_orders), 2)
    orders = pl.DataFrame(
        {
            "order_id": np.arange(n_orders),
            "customer_id": order_cust,
            "day": order_day,
            "amount": amount,
            "payment_method": rng.choice(
                ["credit", "cash_on_delivery", "prepaid"], n_orders, p=[0.7, 0.2, 0.1]
            ),
        }
    )
    lines = pl.DataFrame(
        {
            "order_id": np.arange(n_orders),
            "customer_id": order_cust,
            "day": order_day,
            "category": rng.choice(list("abcdef"), n_orders),
            "quantity": rng.integers(1, 10, n_orders).astype(float),
            "amount": amount,
        }
    )
    n_inv = int(events * SHARES["invoices"])
    inv_order = rng.choice(n_orders, n_inv, replace=False)
    issue = order_day[inv_order]
    invoices = pl.DataFrame(
        {
            "invoice_id": np.arange(n_inv),
            "customer_id": order_cust[inv_order],
            "order_id": inv_order,
            "issue_date": issue,
            "due_date": issue + rng.choice([15, 30, 45, 60], n_inv).astype("timedelta64[D]"),
            "amount": amount[inv_order],
        }
    )
    n_pay = int(events * SHARES["payments"])
    pay_inv = rng.choice(n_inv, n_pay, replace=False)
    paid_day = invoices["due_date"].to_numpy()[pay_inv] + rng.integers(-20, 60, n_pay).astype(
        "timedelta64[D]"
    )
    payments = pl.DataFrame(
        {
            "invoice_id": pay_inv,
            "customer_id": order_cust[inv_order][pay_inv],
            "day": paid_day,
            "amount": amount[inv_order][pay_inv],
        }
    )
    n_ret = int(events * SHARES["returns"])
    ret_order = rng.choice(n_orders, n_ret, replace=False)
    returns = pl.DataFrame(
        {
            "customer_id": order_cust[ret_order],
            "day": order_day[ret_order] + np.timedelta64(5, "D"),
            "amount": np.round(amount[ret_order] * 0.5, 2),
            "reason": rng.choice(
                ["defective", "no_reason", "changed_mind", "item_not_received", "empty_package"],
                n_ret,
            ),
        }
    )

    def stamps(n: int) -> pl.Series:
        return pl.Series(
            days(n).astype("datetime64[us]")
            + rng.integers(0, 86_400_000_000, n).astype("timedelta64[us]")
        )

    n_comp = int(events * SHARES["complaints"])
    opened = stamps(n_comp)
    complaints = pl.DataFrame(
        {
            "customer_id": rng.integers(1, customers + 1, n_comp),
            "opened_at": opened,
            "resolved_at": opened
            + pl.Series(rng.integers(3600, 20 * 86400, n_comp) * 1_000_000).cast(pl.Duration("us")),
            "severity": rng.choice(["low", "medium", "high", "critical"], n_comp),
        }
    ).with_columns(pl.col("opened_at", "resolved_at").dt.replace_time_zone("UTC"))
    n_surv = int(events * SHARES["surveys"])
    surveys = pl.DataFrame(
        {
            "customer_id": rng.integers(1, customers + 1, n_surv),
            "responded_at": stamps(n_surv),
            "survey_type": rng.choice(["csat", "nps"], n_surv),
            "score": rng.integers(1, 6, n_surv).astype(float),
        }
    ).with_columns(pl.col("responded_at").dt.replace_time_zone("UTC"))
    n_int = int(events * SHARES["interactions"])
    interactions = pl.DataFrame(
        {"customer_id": rng.integers(1, customers + 1, n_int), "day": days(n_int)}
    )
    custs = pl.DataFrame(
        {
            "customer_id": np.arange(1, customers + 1),
            "segment": rng.choice(["b2b_sme", "b2b_enterprise", "consumer"], customers),
        }
    )
    frames = {
        "customers": custs,
        "orders": orders,
        "order_lines": lines,
        "invoices": invoices,
        "payments": payments,
        "returns": returns,
        "complaints": complaints,
        "surveys": surveys,
        "interactions": interactions,
    }
    return {k: _cast(k, v) for k, v in frames.items()}


def _cast(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    from riskdesk.indicators.compute import SCHEMAS

    return frame.select([pl.col(c).cast(t) for c, t in SCHEMAS[name].items()])


def run_riskdesk(frames: dict[str, pl.DataFrame]) -> int:
    from riskdesk.indicators.compute import EventFrames, compute

    return compute(EventFrames(**frames), AS_OF).height


def run_bare(frames: dict[str, pl.DataFrame]) -> int:
    """One group-by pass per source over the columns the indicators read."""
    outs = [
        frames["orders"]
        .group_by("customer_id")
        .agg(pl.col("amount").sum(), pl.len(), pl.col("day").max()),
        frames["order_lines"].group_by("customer_id").agg(pl.col("amount").sum()),
        frames["invoices"]
        .group_by("customer_id")
        .agg(pl.col("amount").sum(), pl.col("due_date").min()),
        frames["payments"].group_by("customer_id").agg(pl.col("amount").sum()),
        frames["returns"].group_by("customer_id").agg(pl.col("amount").sum()),
        frames["complaints"].group_by("customer_id").agg(pl.len()),
        frames["surveys"].group_by("customer_id").agg(pl.col("score").mean()),
        frames["interactions"].group_by("customer_id").agg(pl.col("day").max()),
    ]
    return sum(o.height for o in outs)


def to_pandas(frames: dict[str, pl.DataFrame]) -> dict[str, Any]:
    """The same data as pandas frames (not timed: each method starts from its own frames)."""
    import pandas as pd

    return {
        name: pd.DataFrame({c: f[c].to_numpy() for c in f.columns}) for name, f in frames.items()
    }


class _Frames(dict):  # type: ignore[type-arg]
    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        return _Native(value)


class _Native:
    def __init__(self, frame: Any) -> None:
        self.frame = frame

    def to_pandas(self) -> Any:
        return self.frame.copy()


# --- pandas: the whole catalogue, the way one would write it in pandas ---------------------------


def _pd_ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den where den > 0, missing otherwise."""
    return num / den.where(den > 0)


def _pd_age(days: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    return (as_of - days).dt.days


def _pd_purchases(orders: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    import pandas as pd

    orders = orders[orders["day"] <= as_of]
    age = _pd_age(orders["day"], as_of)
    year = age < 365
    masked: dict[str, pd.Series] = {"customer_id": orders["customer_id"], "age": age}
    for w in WINDOWS:
        masked[f"orders_count_{w}d"] = (age < w).astype(float)
        masked[f"orders_amount_{w}d"] = orders["amount"].where(age < w, 0.0)
    masked["year_amount"] = orders["amount"].where(year)
    masked["year_age"] = age.where(year)
    masked["cod"] = (orders["payment_method"] == "cash_on_delivery").astype(float).where(age < 90)
    agg = {c: "sum" for c in masked if c.startswith("orders_")}
    out = (
        pd.DataFrame(masked)
        .groupby("customer_id")
        .agg(
            {**agg, "year_amount": "mean", "cod": "mean", "age": ["min", "max"], "year_age": "max"}
        )
    )
    out.columns = [
        *agg,
        "avg_order_value_365d",
        "cod_share_90d",
        "days_since_last_order",
        "tenure_days",
        "first_age_365",
    ]
    # The 12 30-day periods before the last 30 days (a period without orders counts as 0).
    base = orders[(age >= 30) & (age < 390)]
    periods = (
        base.groupby(["customer_id", age[base.index] // 30])["amount"]
        .sum()
        .unstack(fill_value=0.0)
        .reindex(index=out.index, columns=range(1, 13), fill_value=0.0)
    )
    out["purchase_activity_ratio_30d"] = _pd_ratio(out["orders_amount_30d"], periods.median(axis=1))
    # The last order against the median order of the 365 days before it (itself excluded).
    ordered = orders[["customer_id", "day", "order_id", "amount"]].sort_values(
        ["customer_id", "day", "order_id"]
    )
    is_last = ~ordered["customer_id"].duplicated(keep="last")
    last = ordered[is_last].set_index("customer_id")
    last_day = ordered.groupby("customer_id")["day"].transform("max")
    before = ordered[~is_last & ((last_day - ordered["day"]).dt.days < 365)]
    usual = before.groupby("customer_id")["amount"].median()
    out["last_order_size_ratio"] = _pd_ratio(last["amount"], usual.reindex(last.index))
    n_365 = out["orders_count_365d"]
    out["expected_purchase_interval_days"] = (
        out["first_age_365"] - out["days_since_last_order"]
    ) / (n_365 - 1).where(n_365 > 1)
    out["order_frequency_trend"] = _pd_ratio(out["orders_count_90d"], n_365 * 90 / 365)
    return out.drop(columns="first_age_365")


def _pd_category_shift(lines: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    import pandas as pd

    lines = lines[lines["day"] <= as_of]
    age = _pd_age(lines["day"], as_of)

    def shares(part: pd.DataFrame) -> pd.Series:
        per = part.groupby(["customer_id", "category"])["amount"].sum()
        return per / per.groupby(level="customer_id").transform("sum")

    both = pd.concat(
        {"p": shares(lines[age < 90]), "q": shares(lines[(age >= 90) & (age < 455)])}, axis=1
    )
    # Total variation distance, only where both periods have purchases.
    tvd = 0.5 * (both["p"].fillna(0) - both["q"].fillna(0)).abs().groupby(level=0).sum()
    has = both.notna().groupby(level=0).any()
    return tvd.where(has["p"] & has["q"])


def _pd_receivables(
    invoices: pd.DataFrame, payments: pd.DataFrame, orders: pd.DataFrame, as_of: pd.Timestamp
) -> pd.DataFrame:
    import pandas as pd

    from riskdesk.indicators.compute import CENT, PAYDEX_POINTS

    # Settlement: the first day the running sum of an invoice's payments reaches its amount.
    pays = payments[payments["day"] <= as_of].sort_values(["invoice_id", "day"], kind="stable")
    pays = pays.merge(
        invoices[["invoice_id", "amount"]].rename(columns={"amount": "invoiced"}),
        on="invoice_id",
        how="left",
    )
    pays["cum"] = pays.groupby("invoice_id")["amount"].cumsum()
    settled_on = (
        pays[pays["cum"] >= pays["invoiced"] - CENT].groupby("invoice_id")["day"].min()
    ).rename("settled_on")
    paid = pays.groupby("invoice_id")["amount"].sum().rename("paid")
    inv = (
        invoices[invoices["issue_date"] <= as_of]
        .join(paid, on="invoice_id")
        .join(settled_on, on="invoice_id")
        .merge(
            orders[["order_id", "day"]].rename(columns={"day": "order_day"}),
            on="order_id",
            how="left",
        )
    )
    amount = inv["amount"]
    left = (amount - inv["paid"].fillna(0.0)).clip(lower=0.0)
    open_ = left.where(left >= CENT, 0.0)
    overdue_days = _pd_age(inv["due_date"], as_of)
    issue_age = _pd_age(inv["issue_date"], as_of)
    settled = inv["settled_on"].notna()
    settle_age = _pd_age(inv["settled_on"], as_of)
    beyond = (inv["settled_on"] - inv["due_date"]).dt.days
    is_open = open_ > 0
    dpd = overdue_days.where(is_open & (overdue_days > 0), 0)
    overdue = is_open & (dpd > 0)
    buckets = {
        "current": is_open & (dpd == 0),
        "1_30": overdue & (dpd <= 30),
        "31_60": (dpd > 30) & (dpd <= 60),
        "61_90": (dpd > 60) & (dpd <= 90),
        "91_120": (dpd > 90) & (dpd <= 120),
        "over_120": dpd > 120,
    }
    experiences = (settled & (settle_age < 365)) | overdue
    xs, ys = zip(*PAYDEX_POINTS, strict=True)
    points = np.interp(beyond.where(settled, overdue_days), xs, ys)
    due_in_year = (inv["due_date"] <= as_of) & (overdue_days < 365)
    late = (settled & (beyond > 0)) | (~settled & (overdue_days > 0))
    masked: dict[str, Any] = {
        "customer_id": inv["customer_id"],
        "dpd_max": dpd,
        "open_x_dpd": open_ * dpd,
        "ar_open_total": open_,
        "overdue_open": open_.where(overdue, 0.0),
        "invoiced_90d": amount.where(issue_age < 90, 0.0),
        "oldest_overdue_age_days": issue_age.where(overdue),
        "late_invoice_share_365d": late.astype(float).where(due_in_year),
        "paydex_points": (points * amount).where(experiences, 0.0),
        "paydex_amount": amount.where(experiences, 0.0),
        "avg_days_order_to_payment_365d": (inv["settled_on"] - inv["order_day"]).dt.days.where(
            settled & (settle_age < 365)
        ),
    }
    for name, cond in buckets.items():
        masked[f"ar_{name}"] = open_.where(cond, 0.0)
    for w in (90, 365):
        paid_in = settled & (settle_age < w)
        masked[f"dbt_days_{w}"] = (beyond.clip(lower=0) * amount).where(paid_in, 0.0)
        masked[f"dbt_amount_{w}"] = amount.where(paid_in, 0.0)
    how = {c: "sum" for c in masked if c != "customer_id"}
    how |= {
        "dpd_max": "max",
        "oldest_overdue_age_days": "max",
        "late_invoice_share_365d": "mean",
        "avg_days_order_to_payment_365d": "mean",
    }
    out = pd.DataFrame(masked).groupby("customer_id").agg(how)
    out["dpd_weighted"] = _pd_ratio(out["open_x_dpd"], out["ar_open_total"])
    out["paydex"] = _pd_ratio(out["paydex_points"], out["paydex_amount"])
    for w in (90, 365):
        out[f"dbt_weighted_{w}d"] = _pd_ratio(out[f"dbt_days_{w}"], out[f"dbt_amount_{w}"])
    out["overdue_ratio"] = _pd_ratio(out["overdue_open"], out["ar_open_total"])
    out["dso_90d"] = _pd_ratio(out["ar_open_total"] * 90, out["invoiced_90d"])
    out["best_possible_dso_90d"] = _pd_ratio(out["ar_current"] * 90, out["invoiced_90d"])
    out["avg_days_delinquent"] = out["dso_90d"] - out["best_possible_dso_90d"]
    return out


def _pd_returns(returns: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    import pandas as pd

    returns = returns[returns["day"] <= as_of]
    age = _pd_age(returns["day"], as_of)
    masked: dict[str, pd.Series] = {"customer_id": returns["customer_id"]}
    for w in WINDOWS:
        masked[f"returns_count_{w}d"] = (age < w).astype(float)
        masked[f"returns_amount_{w}d"] = returns["amount"].where(age < w, 0.0)
    out = pd.DataFrame(masked).groupby("customer_id").sum()
    # Reason shares of the year's returns (a customer with returns, none this year: missing).
    year = returns[age < 365]
    reasons = (
        year.groupby(["customer_id", "reason"])
        .size()
        .unstack(fill_value=0)
        .reindex(index=out.index, columns=list(RETURN_REASONS), fill_value=0)
    )
    shares = reasons.div(out["returns_count_365d"].where(out["returns_count_365d"] > 0), axis=0)
    shares.columns = [f"return_reason_share_{r}_365d" for r in RETURN_REASONS]
    claims = returns[(age < 90) & returns["reason"].isin(UNRECEIVED_CLAIM_REASONS)]
    unreceived = claims.groupby("customer_id")["amount"].agg(["size", "sum"])
    unreceived.columns = [
        "returns_unreceived_claims_count_90d",
        "returns_unreceived_claims_amount_90d",
    ]
    return out.join(shares).join(unreceived.astype(float))


def _pd_complaints(complaints: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    import pandas as pd

    from riskdesk.indicators.compute import SEVERITY_WEIGHTS

    end = as_of + pd.Timedelta(days=1)  # up to the end of the as-of day
    comp = complaints[complaints["opened_at"] < end]
    age = (as_of - comp["opened_at"].dt.normalize()).dt.days
    resolved_at = comp["resolved_at"]
    resolved = resolved_at.notna() & (resolved_at < end)
    in_year = resolved & ((as_of - resolved_at.dt.normalize()).dt.days < 365)
    resolution = (resolved_at - comp["opened_at"]).dt.total_seconds() / 86400
    weight = comp["severity"].map(SEVERITY_WEIGHTS).astype(float).fillna(1.0)
    return (
        pd.DataFrame(
            {
                "customer_id": comp["customer_id"],
                "complaints_count_90d": (age < 90).astype(float),
                "complaints_count_365d": (age < 365).astype(float),
                "complaints_weighted_90d": weight.where(age < 90, 0.0),
                "complaints_open": (~resolved).astype(float),
                "complaint_resolution_days_365d": resolution.where(in_year),
            }
        )
        .groupby("customer_id")
        .agg(
            {
                "complaints_count_90d": "sum",
                "complaints_count_365d": "sum",
                "complaints_weighted_90d": "sum",
                "complaints_open": "sum",
                "complaint_resolution_days_365d": "mean",
            }
        )
    )


def _pd_satisfaction(surveys: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    import pandas as pd

    end = as_of + pd.Timedelta(days=1)
    surveys = surveys[surveys["responded_at"] < end].sort_values(["customer_id", "responded_at"])
    csat = surveys["survey_type"] == "csat"
    nps = surveys["survey_type"] == "nps"
    out = pd.DataFrame(
        {
            "csat_latest": surveys[csat]
            .groupby("customer_id")
            .tail(1)
            .set_index("customer_id")["score"],
            "nps_latest": surveys[nps]
            .groupby("customer_id")
            .tail(1)
            .set_index("customer_id")["score"],
        },
        index=pd.Index(surveys["customer_id"].unique(), name="customer_id"),
    )
    # Least-squares slope of the last 5 answers (0-100) against time in 30-day units (whole
    # seconds, as compute.py's epoch("s")).
    last5 = surveys.groupby("customer_id").tail(5)
    seconds = (last5["responded_at"] - pd.Timestamp(0)) // pd.Timedelta(seconds=1)
    t = seconds.astype(float) / (30 * 86400)
    score = last5["score"]
    norm = (score - 1).mul(25).where(last5["survey_type"] == "csat", score * 10)
    by = last5["customer_id"]
    dt_ = t - t.groupby(by).transform("mean")
    dn = norm - norm.groupby(by).transform("mean")
    sxx = (dt_ * dt_).groupby(by).sum()
    out["satisfaction_trend"] = (dt_ * dn).groupby(by).sum() / sxx.where(sxx > 0)
    return out


def _pd_interactions(interactions: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    import pandas as pd

    acts = interactions[interactions["day"] <= as_of]
    age = _pd_age(acts["day"], as_of)
    out = (
        pd.DataFrame(
            {
                "customer_id": acts["customer_id"],
                "days_since_last_interaction": age,
                "interactions_count_90d": (age < 90).astype(float),
                "interactions_365d": (age < 365).astype(float),
            }
        )
        .groupby("customer_id")
        .agg(
            {
                "days_since_last_interaction": "min",
                "interactions_count_90d": "sum",
                "interactions_365d": "sum",
            }
        )
    )
    out["interaction_trend"] = _pd_ratio(
        out["interactions_count_90d"], out["interactions_365d"] * 90 / 365
    )
    return out.drop(columns="interactions_365d")


def _pd_quintile(values: pd.Series, higher_is_better: bool) -> pd.Series:
    """Quintile score 1-5 against the customers that have the measure; without it: 1."""
    import pandas as pd

    ref = values.dropna().to_numpy()
    if ref.size == 0:
        return pd.Series(np.where(values.isna(), 1.0, np.nan), index=values.index)
    cuts = np.quantile(ref, [0.2, 0.4, 0.6, 0.8])
    if higher_is_better:
        score = 1 + np.searchsorted(cuts, values, side="left")
    else:
        score = 5 - np.searchsorted(cuts, values, side="right")
    return pd.Series(np.where(values.isna(), 1.0, score), index=values.index)


# Zero, not missing, for a customer without any such events (as compute.py's _ZERO_WHEN_NONE).
_PD_ZERO_WHEN_NONE = (
    [f"{kind}_{w}d" for kind in ("orders_count", "orders_amount") for w in WINDOWS]
    + [f"{kind}_{w}d" for kind in ("returns_count", "returns_amount") for w in WINDOWS]
    + [f"ar_{b}" for b in AGEING_BUCKETS]
    + ["returns_unreceived_claims_count_90d", "returns_unreceived_claims_amount_90d"]
    + ["ar_open_total", "complaints_count_90d", "complaints_count_365d"]
    + ["complaints_weighted_90d", "complaints_open", "interactions_count_90d", "dpd_max"]
)


def run_pandas(frames: dict[str, Any]) -> pd.DataFrame:
    """Every indicator of the catalogue, the way one would write it in pandas."""
    import pandas as pd

    as_of = pd.Timestamp(AS_OF)
    customers = frames["customers"].to_pandas()
    orders = frames["orders"].to_pandas()
    parts = [
        _pd_purchases(orders, as_of),
        _pd_category_shift(frames["order_lines"].to_pandas(), as_of).rename("category_shift_90d"),
        _pd_receivables(
            frames["invoices"].to_pandas(), frames["payments"].to_pandas(), orders, as_of
        ),
        _pd_returns(frames["returns"].to_pandas(), as_of),
        _pd_complaints(frames["complaints"].to_pandas(), as_of),
        _pd_satisfaction(frames["surveys"].to_pandas(), as_of),
        _pd_interactions(frames["interactions"].to_pandas(), as_of),
    ]
    out = customers.set_index("customer_id")
    for part in parts:
        out = out.join(part)
    out[_PD_ZERO_WHEN_NONE] = out[_PD_ZERO_WHEN_NONE].fillna(0.0)
    for w in WINDOWS:
        out[f"return_rate_{w}d"] = _pd_ratio(
            out[f"returns_amount_{w}d"], out[f"orders_amount_{w}d"]
        )
    # Population: percentile within the segment (share at or below), RFM quintiles.
    segment = out["segment"].fillna("")
    out["orders_amount_peer_percentile_90d"] = (
        out.groupby(segment)["orders_amount_90d"].rank(method="max", pct=True) * 100
    )
    out["rfm_recency_score"] = _pd_quintile(out["days_since_last_order"], False)
    out["rfm_frequency_score"] = _pd_quintile(out["orders_count_365d"], True)
    out["rfm_monetary_score"] = _pd_quintile(out["orders_amount_365d"], True)
    return out[list(NAMES)].astype(float).sort_index().reset_index()


METHODS = {"riskdesk": run_riskdesk, "pandas": run_pandas, "bare group-by": run_bare}


def _child(method: str, customers: int, events: int, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    frames: Any = generate(customers, events)
    rows = sum(f.height for f in frames.values())
    if method == "pandas":
        frames = _Frames(to_pandas(frames))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    out = METHODS[method](frames)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put(
        {
            "method": method,
            "seconds": elapsed,
            "rows_in": rows,
            "rows_out": out if isinstance(out, int) else len(out),
            "peak_rss_mb": peak / 1024,
            "peak_over_data_mb": (peak - base) / 1024,
        }
    )


# --- --check: the pandas implementation against compute.py -------------------------------------


def _edge_cases(frames: dict[str, pl.DataFrame], seed: int = 1) -> dict[str, pl.DataFrame]:
    """The same data with what the generator lacks: invoices paid in parts or only partly (and
    to within less than a cent), events after the as-of date, open complaints, no segment."""
    rng = np.random.default_rng(seed)
    out = dict(frames)
    pays = frames["payments"]
    kind = rng.integers(0, 5, pays.height)  # 0 whole, 1 two parts, 2 part only, 3 short by 0.004
    first = pays.with_columns(
        amount=pl.Series(
            np.select(
                [kind == 1, kind == 2, kind == 3],
                [
                    np.round(pays["amount"].to_numpy() * 0.6, 2),
                    pays["amount"].to_numpy() * 0.3,
                    pays["amount"].to_numpy() - 0.004,
                ],
                pays["amount"].to_numpy(),
            )
        ),
        day=pl.col("day") - pl.duration(days=pl.Series(np.where(kind == 1, 10, 0))),
    )
    second = pays.filter(pl.Series(kind == 1)).with_columns(
        amount=pl.col("amount") - (pl.col("amount") * 0.6).round(2)
    )
    out["payments"] = pl.concat([first, second])
    for name in ("orders", "order_lines", "returns", "interactions"):
        later = pl.Series(rng.random(frames[name].height) < 0.02)
        out[name] = frames[name].with_columns(
            day=pl.when(later).then(pl.col("day") + pl.duration(days=20)).otherwise(pl.col("day"))
        )
    out["complaints"] = frames["complaints"].with_columns(
        resolved_at=pl.when(pl.Series(rng.random(frames["complaints"].height) < 0.1))
        .then(None)
        .otherwise(pl.col("resolved_at"))
    )
    out["customers"] = frames["customers"].with_columns(
        segment=pl.when(pl.Series(rng.random(frames["customers"].height) < 0.05))
        .then(None)
        .otherwise(pl.col("segment"))
    )
    return {k: _cast(k, v) for k, v in out.items()}


def _differences(ours: pl.DataFrame, theirs: pd.DataFrame) -> dict[str, int]:
    """Rows that differ, per indicator (missing equals missing; floats to 1e-6 rel. and abs.)."""
    ids = ours["customer_id"].to_numpy()
    if len(ids) != len(theirs) or not np.array_equal(ids, theirs["customer_id"].to_numpy()):
        return {"customer_id": max(len(ids), len(theirs))}
    missing = [n for n in NAMES if n not in theirs.columns]
    diffs = {n: len(ids) for n in missing}
    for name in NAMES:
        if name in missing:
            continue
        a = ours[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
        b = theirs[name].to_numpy(dtype=float, na_value=np.nan)
        both_missing = np.isnan(a) & np.isnan(b)
        close = np.abs(a - b) <= np.maximum(1e-6, 1e-6 * np.maximum(np.abs(a), np.abs(b)))
        bad = int((~(both_missing | close)).sum())
        if bad:
            diffs[name] = bad
    return diffs


def check(customers: int, events: int) -> int:
    from riskdesk.indicators.compute import EventFrames, compute

    frames = generate(customers, events)
    failed = False
    for label, data in (("generated", frames), ("edge cases", _edge_cases(frames))):
        ours = compute(EventFrames(**data), AS_OF)
        theirs = run_pandas(_Frames(to_pandas(data)))
        diffs = _differences(ours, theirs)
        print(
            json.dumps(
                {
                    "check": label,
                    "customers": ours.height,
                    "columns": len(NAMES),
                    "differing_columns": len(diffs),
                    "differing_rows": diffs,
                }
            ),
            flush=True,
        )
        failed = failed or bool(diffs)
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=None, help="100000 (--check: 2000)")
    parser.add_argument("--events", type=int, default=None, help="10000000 (--check: 200000)")
    parser.add_argument(
        "--check", action="store_true", help="compare pandas with riskdesk, column by column"
    )
    args = parser.parse_args()
    if args.check:
        raise SystemExit(check(args.customers or 2_000, args.events or 200_000))
    customers = args.customers or 100_000
    events = args.events or 10_000_000
    results: list[dict[str, Any]] = []
    for method in METHODS:
        queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        proc = mp.Process(target=_child, args=(method, customers, events, queue))
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"{method} failed (exit code {proc.exitcode})")
        results.append(queue.get(timeout=10))
        print(json.dumps(results[-1]), flush=True)
    by = {r["method"]: r for r in results}
    print(
        json.dumps(
            {
                "customers": customers,
                "event_rows": by["riskdesk"]["rows_in"],
                "pandas_over_riskdesk": by["pandas"]["seconds"] / by["riskdesk"]["seconds"],
                "riskdesk_over_bare_groupby": by["riskdesk"]["seconds"]
                / by["bare group-by"]["seconds"],
            }
        )
    )


if __name__ == "__main__":
    main()
