"""Batch indicators for a large portfolio: Polars (ours) against pandas and a bare group-by.

    PYTHONPATH=. .venv/bin/python bench/indicators_bench.py [--customers 100000] [--events 10000000]

Generates a synthetic event history (orders with their lines, invoices, payments, returns,
complaints, survey answers, interactions; about EVENTS rows in all) for CUSTOMERS customers, with
numpy, then runs each method in its own process on the same data and reports wall time and the
process's peak resident memory:

- riskdesk: ``indicators.compute.compute`` - the whole catalogue (71 indicators);
- riskdesk-core: the same function, for comparison with pandas on the same subset;
- pandas: a straightforward pandas implementation (boolean masks and groupby per window) of the
  core subset: order, return, complaint and interaction counts and amounts per window, return
  rates, average order value, cash-on-delivery share, recency and tenure, open receivables, ageing
  buckets, days past due, overdue ratio and DSO;
- bare group-by: one Polars group-by pass per source over the same columns (sums and counts) -
  the floor any implementation that reads those columns has to pay.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import resource
import time
from typing import Any

import numpy as np
import polars as pl

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
            "reason": rng.choice(["defective", "no_reason", "changed_mind"], n_ret),
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


def run_pandas(frames: dict[str, Any]) -> int:
    """The core subset, the way one would write it in pandas."""
    import pandas as pd

    as_of = pd.Timestamp(AS_OF)
    cust = frames["customers"].to_pandas().set_index("customer_id")
    out = pd.DataFrame(index=cust.index)
    orders = frames["orders"].to_pandas()
    orders["age"] = (as_of - pd.to_datetime(orders["day"])).dt.days
    for w in (7, 30, 90, 365):
        recent = orders[orders["age"] < w].groupby("customer_id")["amount"]
        out[f"orders_count_{w}d"] = recent.count()
        out[f"orders_amount_{w}d"] = recent.sum()
    year = orders[orders["age"] < 365]
    out["avg_order_value_365d"] = year.groupby("customer_id")["amount"].mean()
    q = orders[orders["age"] < 90].copy()
    q["cod"] = q["payment_method"] == "cash_on_delivery"
    out["cod_share_90d"] = q.groupby("customer_id")["cod"].mean()
    out["days_since_last_order"] = orders.groupby("customer_id")["age"].min()
    out["tenure_days"] = orders.groupby("customer_id")["age"].max()
    returns = frames["returns"].to_pandas()
    returns["age"] = (as_of - pd.to_datetime(returns["day"])).dt.days
    for w in (7, 30, 90, 365):
        recent = returns[returns["age"] < w].groupby("customer_id")["amount"]
        out[f"returns_count_{w}d"] = recent.count()
        out[f"returns_amount_{w}d"] = recent.sum()
        out[f"return_rate_{w}d"] = out[f"returns_amount_{w}d"] / out[f"orders_amount_{w}d"]
    invoices = frames["invoices"].to_pandas()
    payments = frames["payments"].to_pandas()
    payments = payments[pd.to_datetime(payments["day"]) <= as_of]
    paid = payments.groupby("invoice_id")["amount"].sum().rename("paid")
    inv = invoices[pd.to_datetime(invoices["issue_date"]) <= as_of].join(paid, on="invoice_id")
    inv["paid"] = inv["paid"].fillna(0)
    inv["open"] = (inv["amount"] - inv["paid"]).clip(lower=0)
    inv["dpd"] = (as_of - pd.to_datetime(inv["due_date"])).dt.days.clip(lower=0)
    inv.loc[inv["open"] <= 0, "dpd"] = 0
    grouped = inv.groupby("customer_id")
    out["ar_open_total"] = grouped["open"].sum()
    out["dpd_max"] = grouped["dpd"].max()
    for name, lo, hi in (
        ("1_30", 1, 30),
        ("31_60", 31, 60),
        ("61_90", 61, 90),
        ("91_120", 91, 120),
        ("over_120", 121, 10**9),
    ):
        part = inv[(inv["open"] > 0) & (inv["dpd"] >= lo) & (inv["dpd"] <= hi)]
        out[f"ar_{name}"] = part.groupby("customer_id")["open"].sum()
    out["ar_current"] = (
        inv[(inv["open"] > 0) & (inv["dpd"] == 0)].groupby("customer_id")["open"].sum()
    )
    overdue = inv[(inv["open"] > 0) & (inv["dpd"] > 0)].groupby("customer_id")["open"].sum()
    out["overdue_ratio"] = overdue / out["ar_open_total"]
    inv["issue_age"] = (as_of - pd.to_datetime(inv["issue_date"])).dt.days
    invoiced = inv[inv["issue_age"] < 90].groupby("customer_id")["amount"].sum()
    out["dso_90d"] = out["ar_open_total"] * 90 / invoiced
    comp = frames["complaints"].to_pandas()
    comp["age"] = (as_of - pd.to_datetime(comp["opened_at"])).dt.days
    for w in (90, 365):
        out[f"complaints_count_{w}d"] = comp[comp["age"] < w].groupby("customer_id").size()
    acts = frames["interactions"].to_pandas()
    acts["age"] = (as_of - pd.to_datetime(acts["day"])).dt.days
    out["days_since_last_interaction"] = acts.groupby("customer_id")["age"].min()
    out["interactions_count_90d"] = acts[acts["age"] < 90].groupby("customer_id").size()
    return len(out)


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
            "rows_out": out,
            "peak_rss_mb": peak / 1024,
            "peak_over_data_mb": (peak - base) / 1024,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    for method in METHODS:
        queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        proc = mp.Process(target=_child, args=(method, args.customers, args.events, queue))
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
                "customers": args.customers,
                "event_rows": by["riskdesk"]["rows_in"],
                "pandas_over_riskdesk": by["pandas"]["seconds"] / by["riskdesk"]["seconds"],
                "riskdesk_over_bare_groupby": by["riskdesk"]["seconds"]
                / by["bare group-by"]["seconds"],
            }
        )
    )


if __name__ == "__main__":
    main()
