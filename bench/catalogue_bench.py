"""The indicator catalogue against a straightforward pandas version and a bare Polars pass
(issue 17, deliverable 0).

    PYTHONPATH=src:. .venv/bin/python bench/catalogue_bench.py \
        [--customers 100000] [--events 10000000] [--rounds 5] [--check-customers 3000] \
        [--reference]

Generates one synthetic population with numpy (about EVENTS rows in all, over two years: orders
and one line each, invoices for most orders, payments for most invoices, some in two parts,
returns, complaints, survey answers, interactions), then, in this one process:

1. checks the pandas version against ``compute`` on a smaller population (every indicator of
   the catalogue; missing equals missing, numbers to 1e-9 relative and absolute); the bench
   stops if any column differs;
2. times, alternating, ROUNDS rounds of: ``compute`` (the whole catalogue), the pandas version
   of the same catalogue, the bare Polars pass, and, with ``--reference``, the frozen copy of
   ``compute`` before issue 17 (tests/indicators/compute_before.py); then each part of
   ``compute`` (and of the frozen copy) alone; and prints medians and ratios.

The pandas version is written the way a competent analyst would: masked columns aggregated in
one ``groupby`` per source and window family, ``merge``, ``sort_values`` with ``cumsum``,
``groupby().tail()``; no row-wise ``apply`` and no Python loop over customers. Where pandas
has no vectorised equivalent it reuses numpy/scipy the same way ``compute`` does: the scipy
tail probabilities (``_surprises`` and the soft-return surprises) and the stored-population
ranking (``summarise``/``_population``'s numpy) are called as they are, on pandas' columns.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from riskdesk.indicators import compute as product
from riskdesk.indicators.catalogue import (
    NAMES,
    RETURN_REASONS,
    SOFT_RETURN_REASONS,
    UNRECEIVED_CLAIM_REASONS,
    WINDOWS,
)

AS_OF = dt.date(2026, 6, 30)
# Shares of EVENTS by source (order lines: one per order).
SHARES = {
    "orders": 0.25,
    "order_lines": 0.25,
    "invoices": 0.20,
    "payments": 0.17,
    "returns": 0.02,
    "complaints": 0.01,
    "surveys": 0.03,
    "interactions": 0.07,
}
PARTS = (
    "_purchases",
    "_lines",
    "_category_shift",
    "_receivables",
    "_returns",
    "_complaints",
    "_satisfaction",
    "_interactions",
)


def generate(customers: int, events: int, seed: int = 0) -> product.EventFrames:
    """A synthetic event history (vectorised; the same seed gives the same data).

    Besides whole payments it has invoices paid in two parts, paid only in part and short by
    less than a cent, events after the as-of date, open complaints and customers without a
    segment, so that every branch of the formulas is timed and checked."""
    rng = np.random.default_rng(seed)
    start = np.datetime64(AS_OF) - np.timedelta64(729, "D")

    def days(n: int) -> np.ndarray:
        # A few days after the as-of date too: they must be ignored.
        return start + rng.integers(0, 740, n).astype("timedelta64[D]")

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
            "quantity": rng.integers(1, 40, n_orders).astype(float),
            "amount": amount,
        }
    )
    n_inv = int(events * SHARES["invoices"])
    inv_order = np.sort(rng.choice(n_orders, n_inv, replace=False))
    issue = order_day[inv_order]
    inv_amount = amount[inv_order]
    due = issue + rng.choice([15, 30, 45, 60], n_inv).astype("timedelta64[D]")
    invoices = pl.DataFrame(
        {
            "invoice_id": np.arange(n_inv),
            "customer_id": order_cust[inv_order],
            "order_id": inv_order,
            "issue_date": issue,
            "due_date": due,
            "amount": inv_amount,
        }
    )
    # Payments: most invoices whole, some in two parts (60/40, ten days apart), some in part only
    # and some short by 0.004 (settled: less than half a cent open).
    n_paid = int(events * SHARES["payments"] / 1.1)
    pay_inv = rng.choice(n_inv, n_paid, replace=False)
    kind = rng.choice(4, n_paid, p=[0.8, 0.1, 0.05, 0.05])
    paid_day = due[pay_inv] + rng.integers(-20, 60, n_paid).astype("timedelta64[D]")
    full = inv_amount[pay_inv]
    first_amount = np.select(
        [kind == 1, kind == 2, kind == 3],
        [np.round(full * 0.6, 2), np.round(full * 0.3, 2), full - 0.004],
        full,
    )
    two = kind == 1
    payments = pl.DataFrame(
        {
            "invoice_id": np.concatenate([pay_inv, pay_inv[two]]),
            "customer_id": np.concatenate(
                [order_cust[inv_order][pay_inv], order_cust[inv_order][pay_inv[two]]]
            ),
            "day": np.concatenate(
                [paid_day - np.where(two, 10, 0).astype("timedelta64[D]"), paid_day[two]]
            ),
            "amount": np.concatenate([first_amount, np.round(full[two] - first_amount[two], 2)]),
        }
    )
    n_ret = int(events * SHARES["returns"])
    ret_order = rng.choice(n_orders, n_ret, replace=False)
    returns = pl.DataFrame(
        {
            "customer_id": order_cust[ret_order],
            "day": order_day[ret_order] + np.timedelta64(5, "D"),
            "amount": np.round(amount[ret_order] * 0.5, 2),
            "reason": rng.choice(list(RETURN_REASONS), n_ret),
        }
    )

    def stamps(n: int) -> pl.Series:
        return pl.Series(
            days(n).astype("datetime64[us]")
            + rng.integers(0, 86_400_000_000, n).astype("timedelta64[us]")
        )

    n_comp = int(events * SHARES["complaints"])
    opened = stamps(n_comp)
    resolution = pl.Series(rng.integers(3600, 20 * 86400, n_comp) * 1_000_000)
    complaints = pl.DataFrame(
        {
            "customer_id": rng.integers(1, customers + 1, n_comp),
            "opened_at": opened,
            "resolved_at": opened + resolution.cast(pl.Duration("us")),
            "severity": rng.choice(["low", "medium", "high", "critical", "unknown"], n_comp),
        }
    ).with_columns(
        pl.col("opened_at", "resolved_at").dt.replace_time_zone("UTC"),
    )
    complaints = complaints.with_columns(
        resolved_at=pl.when(pl.Series(rng.random(n_comp) < 0.1))
        .then(None)
        .otherwise(pl.col("resolved_at"))
    )
    n_surv = int(events * SHARES["surveys"])
    kinds = rng.choice(["csat", "nps"], n_surv)
    surveys = pl.DataFrame(
        {
            "customer_id": rng.integers(1, customers + 1, n_surv),
            "responded_at": stamps(n_surv),
            "survey_type": kinds,
            "score": np.where(
                kinds == "csat", rng.integers(1, 6, n_surv), rng.integers(0, 11, n_surv)
            ).astype(float),
        }
    ).with_columns(pl.col("responded_at").dt.replace_time_zone("UTC"))
    n_int = int(events * SHARES["interactions"])
    interactions = pl.DataFrame(
        {"customer_id": rng.integers(1, customers + 1, n_int), "day": days(n_int)}
    )
    segment = rng.choice(["b2b_sme", "b2b_enterprise", "consumer", ""], customers,
                         p=[0.3, 0.2, 0.45, 0.05])  # fmt: skip
    custs = pl.DataFrame(
        {"customer_id": np.arange(1, customers + 1), "segment": segment}
    ).with_columns(segment=pl.when(pl.col("segment") == "").then(None).otherwise("segment"))
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
    return product.EventFrames(
        **{
            name: frame.select([pl.col(c).cast(t) for c, t in product.SCHEMAS[name].items()])
            for name, frame in frames.items()
        }
    )


# --- pandas: the same catalogue, the way a competent analyst writes it ---------------------------


def to_pandas(frames: product.EventFrames) -> dict[str, pd.DataFrame]:
    """The same data as pandas frames (not timed: each method starts from its own frames)."""
    return {name: getattr(frames, name).to_pandas() for name in product.SCHEMAS}


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den where den > 0, missing otherwise."""
    return num / den.where(den > 0)


def _days(col: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    return (as_of - col).dt.days


def _pd_purchases(orders: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    o = orders[orders["day"] <= as_of].copy()
    age = _days(o["day"], as_of)
    o["age"] = age
    cod = o["payment_method"] == "cash_on_delivery"
    before = (age >= 90) & (age < product.BEFORE_END)
    cols: dict[str, Any] = {"customer_id": o["customer_id"]}
    for w in WINDOWS:
        cols[f"orders_count_{w}d"] = (age < w).astype(float)
        cols[f"orders_amount_{w}d"] = o["amount"].where(age < w, 0.0)
    cols["_cod_90"] = (cod & (age < 90)).astype(float)
    cols["_orders_before"] = before.astype(float)
    cols["_orders_year_ago"] = ((age >= 365) & (age < product.BEFORE_END)).astype(float)
    cols["_cod_before"] = (cod & before).astype(float)
    cols["days_since_last_order"] = age
    cols["tenure_days"] = age
    cols["_first_age_365"] = age.where(age < 365)
    cols["_last_day"] = o["day"]
    how = {c: "sum" for c in cols if c != "customer_id"}
    how |= {
        "days_since_last_order": "min",
        "tenure_days": "max",
        "_first_age_365": "max",
        "_last_day": "max",
    }
    out = pd.DataFrame(cols).groupby("customer_id").agg(how)
    out[["days_since_last_order", "tenure_days"]] = out[
        ["days_since_last_order", "tenure_days"]
    ].astype(float)
    # Baseline: the median of the twelve 30-day periods before the current one (empty ones 0).
    base = o[(age >= 30) & (age < 390)]
    periods = (
        base.groupby(["customer_id", base["age"] // 30])["amount"]
        .sum()
        .unstack(fill_value=0.0)
        .reindex(columns=range(1, 13), fill_value=0.0)
    )
    out["_baseline"] = periods.median(axis=1)
    # The last order (by day, then id); the usual size is the median order of the year before
    # it; and the orders a year before the current silence.
    last = (
        o.sort_values(["customer_id", "day", "order_id"])
        .drop_duplicates("customer_id", keep="last")
        .set_index("customer_id")
    )
    out["_last_amount"] = last["amount"]
    j = o[["customer_id", "order_id", "day", "amount"]].join(
        last[["order_id", "day"]].rename(columns={"order_id": "_last_id", "day": "_last"}),
        on="customer_id",
    )
    not_last = j["order_id"] != j["_last_id"]
    since = (j["_last"] - j["day"]).dt.days
    usual = j["amount"].where(not_last & (since < 365))
    j["_usual"] = usual
    j["_log"] = np.log(usual.clip(lower=1.0))
    j["_in"] = (
        (j["day"] >= j["_last"] - pd.Timedelta(days=365))
        & (j["day"] <= as_of - pd.Timedelta(days=365))
    ).astype(float)
    u = j.groupby("customer_id").agg(
        _usual=("_usual", "median"),
        _log_mean=("_log", "mean"),
        _log_sd=("_log", "std"),
        _n_usual=("_log", "count"),
        _n_year_before=("_in", "sum"),
    )
    out = out.join(u)
    # Gaps between distinct order days over two years.
    g = (
        o.loc[age < 730, ["customer_id", "day"]]
        .drop_duplicates()
        .sort_values(["customer_id", "day"])
    )
    g["_gap"] = g.groupby("customer_id")["day"].diff().dt.days
    gaps = g.groupby("customer_id").agg(
        _longest=("_gap", "max"), _order_days=("day", "size"), _first=("day", "min")
    )
    gaps["_active"] = (out["_last_day"].reindex(gaps.index) - gaps["_first"]).dt.days
    enough = gaps["_order_days"] >= 3
    out["longest_order_gap_730d"] = gaps["_longest"].astype(float).where(enough)
    day_rate = ((gaps["_order_days"] - 1) / gaps["_active"]).where(enough & (gaps["_active"] >= 30))
    span = out["tenure_days"].clip(upper=float(product.BEFORE_END)) - 90
    known = span >= product.MIN_SPAN
    n90, n365, ob = out["orders_count_90d"], out["orders_count_365d"], out["_orders_before"]
    out["order_frequency_trend"] = (n90 / (ob * 90 / span)).where(known & (ob > 0))
    out["_lam_orders"] = ((ob + 0.5) * 90 / span).where(known)
    out["_span"] = span.where(known)
    out["cod_share_usual"] = (out["_cod_before"] / ob).where(ob >= 5)
    out["silence_surprise"] = (
        day_rate.reindex(out.index) * out["days_since_last_order"] / np.log(10)
    )
    out["last_order_size_z"] = (
        (np.log(out["_last_amount"].clip(lower=1.0)) - out["_log_mean"])
        / out["_log_sd"].fillna(0.0).clip(lower=0.25)
    ).where(out["_n_usual"] >= 6)
    silence = _days(out["_last_day"], as_of)
    out["silence_last_year_orders"] = out["_n_year_before"].where(
        out["tenure_days"] >= silence + 365
    )
    out["avg_order_value_365d"] = _ratio(out["orders_amount_365d"], n365)
    out["cod_share_90d"] = _ratio(out["_cod_90"], n90)
    out["purchase_activity_ratio_30d"] = _ratio(out["orders_amount_30d"], out["_baseline"])
    out["last_order_size_ratio"] = _ratio(out["_last_amount"], out["_usual"])
    out["expected_purchase_interval_days"] = (
        (out["_first_age_365"] - out["days_since_last_order"]) / (n365 - 1)
    ).where(n365 > 1)
    return out


def _pd_lines(lines: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    li = lines[lines["day"] <= as_of]
    age = _days(li["day"], as_of)
    out = (
        pd.DataFrame(
            {
                "customer_id": li["customer_id"],
                "recent": li["quantity"].where(age < 90),
                "earlier": li["quantity"].where((age >= 90) & (age < product.BEFORE_END)),
            }
        )
        .groupby("customer_id")
        .agg(
            line_units_90d=("recent", "median"),
            n_recent=("recent", "count"),
            before=("earlier", "median"),
            n_earlier=("earlier", "count"),
        )
    )
    ok = (out["n_recent"] >= 3) & (out["n_earlier"] >= 3) & (out["before"] > 0)
    out["line_units_ratio_90d"] = (out["line_units_90d"] / out["before"]).where(ok)
    return out[["line_units_90d", "line_units_ratio_90d"]]


def _pd_category_shift(lines: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    li = lines[lines["day"] <= as_of]
    age = _days(li["day"], as_of)

    def shares(part: pd.DataFrame) -> pd.Series:
        per = part.groupby(["customer_id", "category"])["amount"].sum()
        return per / per.groupby(level="customer_id").transform("sum")

    both = pd.concat(
        {"p": shares(li[age < 90]), "q": shares(li[(age >= 90) & (age < 455)])}, axis=1
    )
    # Total variation distance, only where both periods have purchases.
    tvd = 0.5 * (both["p"].fillna(0) - both["q"].fillna(0)).abs().groupby(level=0).sum()
    has = both.notna().groupby(level=0).any()
    return tvd.where(has["p"] & has["q"]).rename("category_shift_90d")


def _pd_receivables(
    invoices: pd.DataFrame, payments: pd.DataFrame, orders: pd.DataFrame, as_of: pd.Timestamp
) -> pd.DataFrame:
    cent = product.CENT
    # Settlement: the first day the running sum of an invoice's payments reaches its amount.
    pays = payments[payments["day"] <= as_of].sort_values(["invoice_id", "day"], kind="stable")
    pays = pays.merge(
        invoices[["invoice_id", "amount"]].rename(columns={"amount": "invoiced"}), on="invoice_id"
    )
    pays["cum"] = pays.groupby("invoice_id")["amount"].cumsum()
    settled_on = pays[pays["cum"] >= pays["invoiced"] - cent].groupby("invoice_id")["day"].min()
    paid = pays.groupby("invoice_id")["amount"].sum()
    inv = invoices[invoices["issue_date"] <= as_of].copy()
    inv["paid"] = inv["invoice_id"].map(paid)
    inv["settled_on"] = inv["invoice_id"].map(settled_on)
    amount = inv["amount"]
    left = (amount - inv["paid"].fillna(0.0)).clip(lower=0.0)
    open_ = left.where(left >= cent, 0.0)
    overdue_days = _days(inv["due_date"], as_of)
    issue_age = _days(inv["issue_date"], as_of)
    settled = inv["settled_on"].notna()
    settle_age = _days(inv["settled_on"], as_of)
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
    xs, ys = zip(*product.PAYDEX_POINTS, strict=True)
    points = np.interp(beyond.where(settled, overdue_days).astype(float), xs, ys)
    due_in_year = (overdue_days >= 0) & (overdue_days < 365)
    late = (settled & (beyond > 0)) | (~settled & (overdue_days > 0))
    lateness = (
        beyond.where(settled, overdue_days.where(overdue_days >= 0)).astype(float).clip(lower=0)
    )
    recent = (overdue_days >= 0) & (overdue_days < 90)
    earlier = (overdue_days >= 90) & (overdue_days < product.BEFORE_END)
    in_year = settled & (settle_age < 365)
    order_day = inv["order_id"].where(in_year).map(orders.set_index("order_id")["day"])
    cols: dict[str, Any] = {
        "customer_id": inv["customer_id"],
        "dpd_max": dpd.astype(float),
        "open_x_dpd": open_ * dpd,
        "ar_open_total": open_,
        "overdue_open": open_.where(overdue, 0.0),
        "invoiced_90d": amount.where(issue_age < 90, 0.0),
        "oldest_overdue_age_days": issue_age.where(overdue),
        "late_invoice_share_365d": late.astype(float).where(due_in_year),
        "paydex_points": (points * amount).where(experiences, 0.0),
        "paydex_amount": amount.where(experiences, 0.0),
        "avg_days_order_to_payment_365d": (inv["settled_on"] - order_day).dt.days,
        "late_days_90d": lateness.where(recent),
        "late_days_usual": lateness.where(earlier),
        "late_days_usual_p90": lateness.where(earlier),
        "_late_var": lateness.where(earlier),
    }
    for name, cond in buckets.items():
        cols[f"ar_{name}"] = open_.where(cond, 0.0)
    for w in (90, 365):
        paid_in = settled & (settle_age < w)
        cols[f"dbt_days_{w}"] = (beyond.clip(lower=0) * amount).where(paid_in, 0.0)
        cols[f"dbt_amount_{w}"] = amount.where(paid_in, 0.0)
    how: dict[str, Any] = {c: "sum" for c in cols if c != "customer_id"}
    how |= {
        "dpd_max": "max",
        "oldest_overdue_age_days": "max",
        "late_invoice_share_365d": "mean",
        "avg_days_order_to_payment_365d": "mean",
        "late_days_90d": "mean",
        "late_days_usual": "mean",
        "_late_var": "var",
    }
    frame = pd.DataFrame(cols)
    g = frame.groupby("customer_id")
    out = g.agg({k: v for k, v in how.items() if k != "late_days_usual_p90"})
    # A 90th percentile per group through groupby's own quantile (vectorised, no apply).
    out["late_days_usual_p90"] = g["late_days_usual_p90"].quantile(0.9)
    counts = g[["late_days_90d", "late_days_usual"]].count()
    n_recent, n_before = counts["late_days_90d"], counts["late_days_usual"]
    out["dpd_weighted"] = _ratio(out["open_x_dpd"], out["ar_open_total"])
    out["paydex"] = _ratio(out["paydex_points"], out["paydex_amount"])
    for w in (90, 365):
        out[f"dbt_weighted_{w}d"] = _ratio(out[f"dbt_days_{w}"], out[f"dbt_amount_{w}"])
    out["overdue_ratio"] = _ratio(out["overdue_open"], out["ar_open_total"])
    out["dso_90d"] = _ratio(out["ar_open_total"] * 90, out["invoiced_90d"])
    out["best_possible_dso_90d"] = _ratio(out["ar_current"] * 90, out["invoiced_90d"])
    out["avg_days_delinquent"] = out["dso_90d"] - out["best_possible_dso_90d"]
    var = out["_late_var"].fillna(0.0).clip(lower=product.LATE_VAR_FLOOR)
    out["late_days_z_90d"] = (
        (out["late_days_90d"] - out["late_days_usual"])
        / np.sqrt(var * (1 / n_recent + 1 / n_before))
    ).where((n_recent >= 2) & (n_before >= 4))
    out["late_days_usual"] = out["late_days_usual"].where(n_before >= 4)
    out["late_days_usual_p90"] = out["late_days_usual_p90"].where(n_before >= 4)
    return out


def _pd_returns(returns: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    r = returns[returns["day"] <= as_of]
    age = _days(r["day"], as_of)
    year = age < 365
    soft = r["reason"].isin(SOFT_RETURN_REASONS)
    unreceived = (age < 90) & r["reason"].isin(UNRECEIVED_CLAIM_REASONS)
    cols: dict[str, Any] = {"customer_id": r["customer_id"]}
    for w in WINDOWS:
        cols[f"returns_count_{w}d"] = (age < w).astype(float)
        cols[f"returns_amount_{w}d"] = r["amount"].where(age < w, 0.0)
    for reason in RETURN_REASONS:
        cols[f"_reason_{reason}"] = ((r["reason"] == reason) & year).astype(float)
    cols["returns_soft_count_90d"] = (soft & (age < 90)).astype(float)
    cols["returns_soft_count_365d"] = (soft & year).astype(float)
    cols["_soft_amount_365d"] = r["amount"].where(soft & year, 0.0)
    cols["returns_unreceived_claims_count_90d"] = unreceived.astype(float)
    cols["returns_unreceived_claims_amount_90d"] = r["amount"].where(unreceived, 0.0)
    out = pd.DataFrame(cols).groupby("customer_id").sum()
    for reason in RETURN_REASONS:
        out[f"return_reason_share_{reason}_365d"] = _ratio(
            out.pop(f"_reason_{reason}"), out["returns_count_365d"]
        )
    return out


def _pd_complaints(complaints: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    end = pd.Timestamp(as_of, tz="UTC") + pd.Timedelta(days=1)  # the end of the as-of day
    day0 = pd.Timestamp(as_of, tz="UTC")
    c = complaints[complaints["opened_at"] < end]
    age = (day0 - c["opened_at"].dt.floor("D")).dt.days
    resolved_at = c["resolved_at"]
    resolved = resolved_at.notna() & (resolved_at < end)
    in_year = resolved & ((day0 - resolved_at.dt.floor("D")).dt.days < 365)
    resolution = (resolved_at - c["opened_at"]).dt.total_seconds() / 86400
    weight = c["severity"].map(product.SEVERITY_WEIGHTS).astype(float).fillna(1.0)
    return (
        pd.DataFrame(
            {
                "customer_id": c["customer_id"],
                "complaints_count_90d": (age < 90).astype(float),
                "complaints_count_365d": (age < 365).astype(float),
                "_complaints_before": ((age >= 90) & (age < product.BEFORE_END)).astype(float),
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
                "_complaints_before": "sum",
                "complaints_weighted_90d": "sum",
                "complaints_open": "sum",
                "complaint_resolution_days_365d": "mean",
            }
        )
    )


def _pd_satisfaction(surveys: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    end = pd.Timestamp(as_of, tz="UTC") + pd.Timedelta(days=1)
    day0 = pd.Timestamp(as_of, tz="UTC")
    s = surveys[surveys["responded_at"] < end].sort_values(["customer_id", "responded_at"])
    csat = s["survey_type"] == "csat"
    norm = ((s["score"] - 1) * 25).where(csat, s["score"] * 10)
    out = pd.DataFrame(index=pd.Index(s["customer_id"].unique(), name="customer_id"))
    out["csat_latest"] = s[csat].groupby("customer_id")["score"].last()
    out["nps_latest"] = s[s["survey_type"] == "nps"].groupby("customer_id")["score"].last()
    # Least-squares slope of the last 5 answers (0-100) against time in 30-day units (whole
    # seconds, as compute.py's epoch("s")).
    last5 = s.groupby("customer_id").tail(5)
    seconds = (last5["responded_at"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    t = seconds.astype(float) / (30 * 86400)
    n5 = norm[last5.index]
    by = last5["customer_id"]
    dt_ = t - t.groupby(by).transform("mean")
    dn = n5 - n5.groupby(by).transform("mean")
    sxx = (dt_ * dt_).groupby(by).sum()
    out["satisfaction_trend"] = (dt_ * dn).groupby(by).sum() / sxx.where(sxx > 0)
    age = (day0 - s["responded_at"].dt.floor("D")).dt.days
    d = (
        pd.DataFrame(
            {
                "customer_id": s["customer_id"],
                "recent": norm.where(age < 180),
                "earlier": norm.where((age >= 180) & (age < 730)),
            }
        )
        .groupby("customer_id")
        .agg(
            m_r=("recent", "mean"),
            n_r=("recent", "count"),
            v_r=("recent", "var"),
            m_e=("earlier", "mean"),
            n_e=("earlier", "count"),
            v_e=("earlier", "var"),
        )
    )
    enough = (d["n_r"] >= 2) & (d["n_e"] >= 3)
    var = np.maximum(
        np.maximum(d["v_r"].fillna(0.0), d["v_e"].fillna(0.0)), product.SATISFACTION_VAR_FLOOR
    )
    drop = d["m_e"] - d["m_r"]
    out["satisfaction_drop"] = drop.where(enough)
    out["satisfaction_drop_z"] = (drop / np.sqrt(var * (1 / d["n_r"] + 1 / d["n_e"]))).where(enough)
    return out


def _pd_interactions(interactions: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    a = interactions[interactions["day"] <= as_of]
    age = _days(a["day"], as_of)
    out = (
        pd.DataFrame(
            {
                "customer_id": a["customer_id"],
                "days_since_last_interaction": age,
                "interactions_count_90d": (age < 90).astype(float),
                "_before": ((age >= 90) & (age < product.BEFORE_END)).astype(float),
                "_first": age,
            }
        )
        .groupby("customer_id")
        .agg(
            {
                "days_since_last_interaction": "min",
                "interactions_count_90d": "sum",
                "_before": "sum",
                "_first": "max",
            }
        )
    )
    span = out["_first"].astype(float).clip(upper=float(product.BEFORE_END)) - 90
    out["interaction_trend"] = (out["interactions_count_90d"] / (out["_before"] * 90 / span)).where(
        (span >= product.MIN_SPAN) & (out["_before"] > 0)
    )
    return out


def _pd_surprise(tail: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        out: np.ndarray = np.minimum(-np.log10(np.maximum(tail, 0.0)), product.SURPRISE_CAP)
    return out + 0.0


def _pd_surprises(out: pd.DataFrame) -> None:
    """The scipy tail probabilities (the same calls as compute's; there is no pandas way)."""
    from scipy import stats

    n90 = out["orders_count_90d"].to_numpy(float)
    lam = out["_lam_orders"].to_numpy(float)
    span = out["_span"].to_numpy(float)
    safe_lam = np.nan_to_num(lam, nan=1.0)
    out["order_rate_surprise_90d"] = np.where(
        np.isnan(lam), np.nan, _pd_surprise(stats.poisson.sf(n90 - 1, safe_lam))
    )
    year_ago = out["_orders_year_ago"].to_numpy(float) + 0.5
    judged = out["tenure_days"].to_numpy(float) >= product.BEFORE_END
    drop_lam = np.minimum(safe_lam, np.nan_to_num(year_ago, nan=1.0))
    out["order_rate_drop_surprise_90d"] = np.where(
        judged, _pd_surprise(stats.poisson.cdf(n90, drop_lam)), np.nan
    )
    c_lam = (out["_complaints_before"].fillna(0.0).to_numpy(float) + 0.5) * 90 / span
    out["complaint_rate_surprise_90d"] = np.where(
        np.isnan(span),
        np.nan,
        _pd_surprise(
            stats.poisson.sf(
                out["complaints_count_90d"].to_numpy(float) - 1, np.nan_to_num(c_lam, nan=1.0)
            )
        ),
    )
    before = out["_orders_before"].fillna(0.0).to_numpy(float)
    share = (out["_cod_before"].fillna(0.0).to_numpy(float) + 1) / (before + 2)
    cod90 = out["_cod_90"].fillna(0.0).to_numpy(float)
    enough = (before >= 5) & (n90 >= 3)
    out["cod_shift_surprise_90d"] = np.where(
        enough,
        _pd_surprise(stats.binom.sf(cod90 - 1, np.maximum(n90, 1).astype(int), share)),
        np.nan,
    )


def _pd_population(out: pd.DataFrame) -> None:
    """Peer percentile, peer units, soft-return surprises and RFM scores against the customers
    computed (to the cent, as compute ranks)."""
    from scipy import stats

    segment = out["segment"].fillna("")
    ranked = [
        "orders_amount_90d",
        "line_units_90d",
        "returns_soft_count_90d",
        "returns_soft_count_365d",
        "orders_count_90d",
        "orders_count_365d",
        "orders_amount_365d",
        "days_since_last_order",
    ]
    cents = out[ranked].round(2)
    amount = cents["orders_amount_90d"].fillna(0.0)
    out["orders_amount_peer_percentile_90d"] = (
        amount.groupby(segment).rank(method="max", pct=True) * 100
    )
    units = cents["line_units_90d"]
    peer_units = units.groupby(segment).transform("median")
    out["line_units_peer_ratio_90d"] = (units / peer_units).where(peer_units > 0)
    sums = cents[["returns_soft_count_365d", "orders_count_365d"]].fillna(0.0).groupby(segment)
    soft = sums["returns_soft_count_365d"].transform("sum")
    orders = sums["orders_count_365d"].transform("sum")
    rate = np.maximum((soft + 1) / (orders + 200), product.SOFT_RATE_FLOOR).to_numpy()
    for w in (90, 365):
        k = cents[f"returns_soft_count_{w}d"].fillna(0.0).to_numpy()
        n = np.maximum(cents[f"orders_count_{w}d"].fillna(0.0).to_numpy(), k)
        tail = stats.binom.sf(k - 1, n.astype(int), rate)
        out[f"return_abuse_surprise_{w}d"] = np.where(n > 0, _pd_surprise(tail), np.nan)
    for name, col, higher in (
        ("rfm_recency_score", "days_since_last_order", False),
        ("rfm_frequency_score", "orders_count_365d", True),
        ("rfm_monetary_score", "orders_amount_365d", True),
    ):
        values = cents[col]
        known = values.dropna()
        if known.empty:
            out[name] = np.where(values.isna(), 1.0, np.nan)
            continue
        cuts = known.quantile(list(product.RFM_CUTS)).to_numpy()
        side = "left" if higher else "right"
        rank = np.searchsorted(cuts, values.to_numpy(), side=side)
        out[name] = np.where(values.isna(), 1.0, 1 + rank if higher else 5 - rank)


_ZERO_WHEN_NONE = list(product._ZERO_WHEN_NONE)
# Adding some 30 columns one by one to the joined frame is what an analyst writes; pandas warns.
warnings.filterwarnings("ignore", category=pd.errors.PerformanceWarning)


def run_pandas(frames: dict[str, pd.DataFrame], as_of: dt.date = AS_OF) -> pd.DataFrame:
    """Every indicator of the catalogue, the way one would write it in pandas."""
    ts = pd.Timestamp(as_of)
    orders = frames["orders"]
    parts = [
        _pd_purchases(orders, ts),
        _pd_lines(frames["order_lines"], ts),
        _pd_category_shift(frames["order_lines"], ts),
        _pd_receivables(frames["invoices"], frames["payments"], orders, ts),
        _pd_returns(frames["returns"], ts),
        _pd_complaints(frames["complaints"], ts),
        _pd_satisfaction(frames["surveys"], ts),
        _pd_interactions(frames["interactions"], ts),
    ]
    out = frames["customers"].set_index("customer_id")
    for part in parts:
        out = out.join(part)
    out[_ZERO_WHEN_NONE] = out[_ZERO_WHEN_NONE].fillna(0.0)
    for w in WINDOWS:
        out[f"return_rate_{w}d"] = _ratio(out[f"returns_amount_{w}d"], out[f"orders_amount_{w}d"])
    out["returns_soft_amount_share_365d"] = _ratio(
        out["_soft_amount_365d"], out["orders_amount_365d"]
    )
    _pd_surprises(out)
    _pd_population(out)
    return out[list(NAMES)].astype(float).sort_index().reset_index()


# --- the floor: one bare Polars group-by per source --------------------------------------------


def run_bare(frames: product.EventFrames) -> int:
    """One group-by pass per source over the columns the catalogue reads: sums, counts, max."""
    f = frames
    outs = [
        f.orders.lazy()
        .group_by("customer_id")
        .agg(pl.col("amount").sum(), pl.len(), pl.col("day").max(), pl.col("order_id").max()),
        f.order_lines.lazy()
        .group_by("customer_id")
        .agg(pl.col("amount").sum(), pl.col("quantity").sum(), pl.col("category").max()),
        f.invoices.lazy()
        .group_by("customer_id")
        .agg(pl.col("amount").sum(), pl.col("due_date").max(), pl.col("issue_date").max()),
        f.payments.lazy().group_by("customer_id").agg(pl.col("amount").sum(), pl.col("day").max()),
        f.returns.lazy()
        .group_by("customer_id")
        .agg(pl.col("amount").sum(), pl.col("day").max(), pl.col("reason").max()),
        f.complaints.lazy()
        .group_by("customer_id")
        .agg(pl.len(), pl.col("opened_at").max(), pl.col("resolved_at").max()),
        f.surveys.lazy()
        .group_by("customer_id")
        .agg(pl.col("score").sum(), pl.col("responded_at").max(), pl.col("survey_type").max()),
        f.interactions.lazy().group_by("customer_id").agg(pl.col("day").max(), pl.len()),
    ]
    return sum(o.height for o in pl.collect_all(outs))


# --- check and timing ---------------------------------------------------------------------------

TOLERANCE = 1e-9  # relative and absolute; missing equals missing


def differences(ours: pl.DataFrame, theirs: pd.DataFrame) -> dict[str, int]:
    """Rows that differ, per indicator."""
    ids = ours["customer_id"].to_numpy()
    if len(ids) != len(theirs) or not np.array_equal(ids, theirs["customer_id"].to_numpy()):
        return {"customer_id": max(len(ids), len(theirs))}
    diffs = {}
    for name in NAMES:
        a = ours[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
        b = theirs[name].to_numpy(dtype=float, na_value=np.nan)
        same = (np.isnan(a) & np.isnan(b)) | (
            np.abs(a - b) <= np.maximum(TOLERANCE, TOLERANCE * np.maximum(np.abs(a), np.abs(b)))
        )
        if bad := int((~same).sum()):
            diffs[name] = bad
    return diffs


def check(customers: int, events: int) -> dict[str, Any]:
    """The pandas version and the frozen copy of compute against compute, every indicator."""
    from tests.indicators import compute_before

    frames = generate(customers, events, seed=1)
    ours = product.compute(frames, AS_OF)
    theirs = run_pandas(to_pandas(frames))
    before = compute_before.compute(
        compute_before.EventFrames(**{n: getattr(frames, n) for n in product.SCHEMAS}), AS_OF
    )
    return {
        "customers": customers,
        "events": sum(getattr(frames, n).height for n in product.SCHEMAS if n != "customers"),
        "indicators": len(NAMES),
        "tolerance": TOLERANCE,
        "pandas_differing": differences(ours, theirs),
        "before_differing": differences(ours, before.to_pandas()),
        "null_share": round(
            float(ours.select(NAMES).null_count().sum_horizontal()[0]) / (ours.height * len(NAMES)),
            3,
        ),
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(fn: Callable[[], Any], cpu: list[float] | None = None) -> float:
    """Wall seconds of fn(); its CPU seconds (all threads) appended to ``cpu``: on a shared
    machine the work done varies less than the time it takes."""
    started, cpu_started = time.perf_counter(), _cpu()
    fn()
    if cpu is not None:
        cpu.append(_cpu() - cpu_started)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--check-customers", type=int, default=3_000)
    parser.add_argument("--check-events", type=int, default=300_000)
    parser.add_argument(
        "--reference", action="store_true", help="also time the frozen copy of compute"
    )
    parser.add_argument("--no-pandas", action="store_true", help="skip pandas (profiling)")
    args = parser.parse_args()
    checked = check(args.check_customers, args.check_events)
    print(json.dumps({"check": checked}), flush=True)
    if checked["pandas_differing"]:
        raise SystemExit("the pandas version differs from compute")
    frames = generate(args.customers, args.events)
    rows = sum(getattr(frames, n).height for n in product.SCHEMAS if n != "customers")
    methods: dict[str, Callable[[], Any]] = {"compute": lambda: product.compute(frames, AS_OF)}
    if args.reference:
        from tests.indicators import compute_before

        old = compute_before.EventFrames(**{n: getattr(frames, n) for n in product.SCHEMAS})
        methods["compute before"] = lambda: compute_before.compute(old, AS_OF)
    if not args.no_pandas:
        pdf = to_pandas(frames)
        methods["pandas"] = lambda: run_pandas(pdf)
    methods["bare polars"] = lambda: run_bare(frames)
    times: dict[str, list[float]] = {m: [] for m in methods}
    cpu: dict[str, list[float]] = {m: [] for m in methods}
    for fn in methods.values():  # warm-up, not counted
        fn()
    for _ in range(args.rounds):
        for m, fn in methods.items():
            times[m].append(_timed(fn, cpu[m]))
    parts: dict[str, list[float]] = {}
    parts_cpu: dict[str, list[float]] = {}
    impls = [("", product)]
    if args.reference:
        impls.append((" before", compute_before))
    for _ in range(args.rounds):
        for suffix, module in impls:
            ef = frames if module is product else old
            for part in PARTS:
                lf = getattr(module, part)(ef, AS_OF)
                spent = parts_cpu.setdefault(part + suffix, [])
                parts.setdefault(part + suffix, []).append(_timed(lf.collect, spent))
    med = {m: statistics.median(t) for m, t in times.items()}
    med_cpu = {m: statistics.median(t) for m, t in cpu.items()}
    result: dict[str, Any] = {
        "customers": args.customers,
        "event_rows": rows,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "median_seconds": {m: round(v, 3) for m, v in med.items()},
        "all_seconds": {m: [round(x, 3) for x in t] for m, t in times.items()},
        "median_cpu_seconds": {m: round(v, 3) for m, v in med_cpu.items()},
        "part_median_seconds": {p: round(statistics.median(t), 3) for p, t in parts.items()},
        "part_median_cpu_seconds": {
            p: round(statistics.median(t), 3) for p, t in parts_cpu.items()
        },
        "compute_over_bare": round(med["compute"] / med["bare polars"], 2),
        "compute_over_bare_cpu": round(med_cpu["compute"] / med_cpu["bare polars"], 2),
    }
    if "pandas" in med:
        result["pandas_over_compute"] = round(med["pandas"] / med["compute"], 2)
        result["pandas_over_compute_cpu"] = round(med_cpu["pandas"] / med_cpu["compute"], 2)
    if args.reference:
        result["before_over_bare"] = round(med["compute before"] / med["bare polars"], 2)
        result["before_over_compute"] = round(med["compute before"] / med["compute"], 2)
        result["before_over_compute_cpu"] = round(med_cpu["compute before"] / med_cpu["compute"], 2)
        if "pandas" in med:
            result["pandas_over_before"] = round(med["pandas"] / med["compute before"], 2)
    print(json.dumps(result, indent=1), flush=True)


if __name__ == "__main__":
    main()
