"""A generated population for the batch engine tests (and bench/spark_bench.py): every frame of
``SCHEMAS``, vectorised with numpy, the same seed giving the same data.

Beside ordinary customers it holds what the indicators must cope with: customers without any
event, no segment, very uneven activity, invoices paid late, early, in two parts, only partly or
short by less than a cent, returns of every reason, open complaints, CSAT and NPS answers, and
events after the as-of date.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from riskdesk.indicators.catalogue import RETURN_REASONS
from riskdesk.indicators.compute import SCHEMAS, EventFrames

AS_OF = dt.date(2026, 6, 30)
# Shares of the events by source (order lines: one or two per order, on top).
SHARES = {
    "orders": 0.30,
    "invoices": 0.22,
    "payments": 0.22,
    "returns": 0.04,
    "complaints": 0.02,
    "surveys": 0.04,
    "interactions": 0.16,
}
SEGMENTS = ("b2b_sme", "b2b_enterprise", "consumer")


def generate(customers: int, events: int, seed: int = 0) -> EventFrames:
    """``customers`` customers (a twentieth without events) and about ``events`` events."""
    rng = np.random.default_rng(seed)
    # Ids with gaps, so that nothing depends on them being 1..N.
    ids = 1_000 + 7 * np.arange(customers, dtype=np.int64)
    active = ids[: max(1, customers - customers // 20)]
    # Very uneven activity: most customers buy a little, a few a lot.
    weight = rng.gamma(0.7, 1.0, active.size)
    weight /= weight.sum()
    first_day = rng.integers(0, 900, active.size)  # days before AS_OF the customer started
    start = np.datetime64(AS_OF)

    def who(n: int) -> tuple[np.ndarray, np.ndarray]:
        pick = rng.choice(active.size, n, p=weight)
        # Days ago within the customer's tenure; 2% fall after the as-of date.
        ago = (rng.random(n) * (first_day[pick] + 1)).astype(np.int64)
        ago = np.where(rng.random(n) < 0.02, -rng.integers(1, 30, n), ago)
        return active[pick], ago

    def days(ago: np.ndarray) -> np.ndarray:
        return start - ago.astype("timedelta64[D]")

    def stamps(ago: np.ndarray) -> pl.Series:
        second = rng.integers(0, 86_400_000_000, ago.size).astype("timedelta64[us]")
        return pl.Series(days(ago).astype("datetime64[us]") + second).dt.replace_time_zone("UTC")

    n_orders = int(events * SHARES["orders"])
    order_cust, order_ago = who(n_orders)
    amount = np.round(rng.lognormal(7, 1.2, n_orders), 2)
    orders = pl.DataFrame(
        {
            "order_id": np.arange(1, n_orders + 1),
            "customer_id": order_cust,
            "day": days(order_ago),
            "amount": amount,
            "payment_method": rng.choice(
                ["credit", "cash_on_delivery", "prepaid"], n_orders, p=[0.7, 0.2, 0.1]
            ),
        }
    )
    two = rng.random(n_orders) < 0.4  # some orders have a second line
    line_order = np.concatenate([np.arange(n_orders), np.flatnonzero(two)])
    share = np.where(np.isin(np.arange(n_orders), np.flatnonzero(two)), 0.5, 1.0)
    order_lines = pl.DataFrame(
        {
            "order_id": line_order + 1,
            "customer_id": order_cust[line_order],
            "day": days(order_ago[line_order]),
            "category": rng.choice(list("abcdefg"), line_order.size),
            "quantity": rng.integers(1, 40, line_order.size).astype(float),
            "amount": np.round(amount[line_order] * share[line_order], 2),
        }
    )
    n_inv = min(int(events * SHARES["invoices"]), n_orders)
    inv_order = rng.choice(n_orders, n_inv, replace=False)
    issue = days(order_ago[inv_order])
    due = issue + rng.choice([15, 30, 45, 60], n_inv).astype("timedelta64[D]")
    invoices = pl.DataFrame(
        {
            "invoice_id": np.arange(1, n_inv + 1),
            "customer_id": order_cust[inv_order],
            "order_id": inv_order + 1,
            "issue_date": issue,
            "due_date": due,
            "amount": amount[inv_order],
        }
    )
    # Payments: most invoices paid, early or late (some very late), whole, in two parts, only
    # partly, or short by less than half a cent; the rest stay open.
    n_pay = min(int(events * SHARES["payments"]), n_inv)
    pay_inv = rng.choice(n_inv, n_pay, replace=False)
    lateness = np.where(
        rng.random(n_pay) < 0.15, rng.integers(30, 200, n_pay), rng.integers(-20, 25, n_pay)
    )
    paid = due[pay_inv] + lateness.astype("timedelta64[D]")
    whole = amount[inv_order][pay_inv]
    kind = rng.integers(0, 6, n_pay)  # 0-2 whole, 3 two parts, 4 part only, 5 short by 0.004
    first_amount = np.select(
        [kind == 3, kind == 4, kind == 5],
        [np.round(whole * 0.6, 2), np.round(whole * 0.3, 2), whole - 0.004],
        whole,
    )
    parts = kind == 3
    pay_cust = order_cust[inv_order][pay_inv]
    payments = pl.DataFrame(
        {
            "invoice_id": np.concatenate([pay_inv, pay_inv[parts]]) + 1,
            "customer_id": np.concatenate([pay_cust, pay_cust[parts]]),
            "day": np.concatenate(
                [paid - np.where(parts, 10, 0).astype("timedelta64[D]"), paid[parts]]
            ),
            "amount": np.concatenate([first_amount, whole[parts] - first_amount[parts]]),
        }
    )
    n_ret = int(events * SHARES["returns"])
    ret_order = rng.choice(n_orders, n_ret)
    returns = pl.DataFrame(
        {
            "customer_id": order_cust[ret_order],
            "day": days(order_ago[ret_order] - rng.integers(1, 20, n_ret)),
            "amount": np.round(amount[ret_order] * rng.choice([0.2, 0.5, 1.0], n_ret), 2),
            "reason": rng.choice(list(RETURN_REASONS), n_ret),
        }
    )
    n_comp = int(events * SHARES["complaints"])
    comp_cust, comp_ago = who(n_comp)
    opened = stamps(comp_ago)
    resolved = opened + pl.Series(rng.integers(3600, 30 * 86400, n_comp) * 1_000_000).cast(
        pl.Duration("us")
    )
    complaints = pl.DataFrame(
        {
            "customer_id": comp_cust,
            "opened_at": opened,
            "resolved_at": resolved,
            "severity": rng.choice(["low", "medium", "high", "critical"], n_comp),
        }
    ).with_columns(  # a tenth still open
        resolved_at=pl.when(pl.Series(rng.random(n_comp) < 0.1)).then(None).otherwise("resolved_at")
    )
    n_surv = int(events * SHARES["surveys"])
    surv_cust, surv_ago = who(n_surv)
    survey_type = rng.choice(["csat", "nps"], n_surv)
    surveys = pl.DataFrame(
        {
            "customer_id": surv_cust,
            "responded_at": stamps(surv_ago),
            "survey_type": survey_type,
            "score": np.where(
                survey_type == "csat", rng.integers(1, 6, n_surv), rng.integers(0, 11, n_surv)
            ).astype(float),
        }
    )
    n_int = int(events * SHARES["interactions"])
    int_cust, int_ago = who(n_int)
    interactions = pl.DataFrame({"customer_id": int_cust, "day": days(int_ago)})
    segment = rng.choice(list(SEGMENTS), customers).astype(object)
    segment[rng.random(customers) < 0.05] = None
    custs = pl.DataFrame(
        {"customer_id": ids, "segment": pl.Series(segment.tolist(), dtype=pl.String())}
    )
    frames = {
        "customers": custs,
        "orders": orders,
        "order_lines": order_lines,
        "invoices": invoices,
        "payments": payments,
        "returns": returns,
        "complaints": complaints,
        "surveys": surveys,
        "interactions": interactions,
    }
    return EventFrames(
        **{
            name: frame.select([pl.col(c).cast(t) for c, t in SCHEMAS[name].items()])
            for name, frame in frames.items()
        }
    )


def event_count(frames: EventFrames) -> int:
    """Rows of every frame but customers."""
    return sum(getattr(frames, name).height for name in SCHEMAS if name != "customers")
