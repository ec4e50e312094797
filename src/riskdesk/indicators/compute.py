"""Indicator formulas, vectorised with Polars over any number of customers.

One function computes every indicator of the catalogue for all customers in the frames given:
the batch run hands it everyone's events, the per-customer refresh hands it one customer's. The
population indicators (peer percentile, RFM scores) rank a customer against a reference: in batch
the population itself, for one customer the latest batch's values.

Windows are "the last N days up to and including the as-of date": an event N-1 days old counts,
one N days old does not. Events dated after the as-of date are ignored.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from riskdesk.indicators.catalogue import (
    AGEING_BUCKETS,
    NAMES,
    RETURN_REASONS,
    SOFT_RETURN_REASONS,
    UNRECEIVED_CLAIM_REASONS,
    WINDOWS,
)

SEVERITY_WEIGHTS = {"low": 1.0, "medium": 2.0, "high": 3.0, "critical": 5.0}
# PAYDEX-style points by days beyond terms (negative: paid early), linear in between.
PAYDEX_POINTS = (
    (-30.0, 100.0),
    (-20.0, 90.0),
    (0.0, 80.0),
    (15.0, 70.0),
    (22.0, 60.0),
    (30.0, 50.0),
    (60.0, 40.0),
    (90.0, 30.0),
    (120.0, 20.0),
)
CENT = 0.005  # an invoice is settled when less than half a cent is open
# "Usual" is the year before the last 90 days: what happens now is compared with it.
BEFORE_END = 455
MIN_SPAN = 90  # days of that year a customer must have been active in for it to be a yardstick
LATE_VAR_FLOOR = 25.0  # (5 days)^2: a perfectly punctual history still wobbles this much
SATISFACTION_VAR_FLOOR = 225.0  # (15 points)^2 on the 0-100 scale: one answer's step is 25
SURPRISE_CAP = 50.0  # -log10 of a tail probability below 1e-50 says nothing more

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "customers": {"customer_id": pl.Int64(), "segment": pl.String()},
    "orders": {
        "order_id": pl.Int64(),
        "customer_id": pl.Int64(),
        "day": pl.Date(),
        "amount": pl.Float64(),
        "payment_method": pl.String(),
    },
    "order_lines": {
        "order_id": pl.Int64(),
        "customer_id": pl.Int64(),
        "day": pl.Date(),
        "category": pl.String(),
        "quantity": pl.Float64(),
        "amount": pl.Float64(),
    },
    "invoices": {
        "invoice_id": pl.Int64(),
        "customer_id": pl.Int64(),
        "order_id": pl.Int64(),
        "issue_date": pl.Date(),
        "due_date": pl.Date(),
        "amount": pl.Float64(),
    },
    "payments": {
        "invoice_id": pl.Int64(),
        "customer_id": pl.Int64(),
        "day": pl.Date(),
        "amount": pl.Float64(),
    },
    "returns": {
        "customer_id": pl.Int64(),
        "day": pl.Date(),
        "amount": pl.Float64(),
        "reason": pl.String(),
    },
    "complaints": {
        "customer_id": pl.Int64(),
        "opened_at": pl.Datetime("us", "UTC"),
        "resolved_at": pl.Datetime("us", "UTC"),
        "severity": pl.String(),
    },
    "surveys": {
        "customer_id": pl.Int64(),
        "responded_at": pl.Datetime("us", "UTC"),
        "survey_type": pl.String(),
        "score": pl.Float64(),
    },
    "interactions": {"customer_id": pl.Int64(), "day": pl.Date()},
}


@dataclass(frozen=True)
class EventFrames:
    """Everything the indicators read, one frame per source (columns as in SCHEMAS)."""

    customers: pl.DataFrame
    orders: pl.DataFrame
    order_lines: pl.DataFrame
    invoices: pl.DataFrame
    payments: pl.DataFrame
    returns: pl.DataFrame
    complaints: pl.DataFrame
    surveys: pl.DataFrame
    interactions: pl.DataFrame

    @classmethod
    def empty(cls) -> EventFrames:
        """No customers, no events."""
        return cls(**{name: pl.DataFrame(schema=schema) for name, schema in SCHEMAS.items()})

    def with_customers(self, customers: pl.DataFrame) -> EventFrames:
        """The same events with another customers frame."""
        return EventFrames(
            customers=customers, **{n: getattr(self, n) for n in SCHEMAS if n != "customers"}
        )

    def for_customers(self, customer_ids: list[int]) -> EventFrames:
        """The same frames narrowed to some customers."""
        ids = pl.Series(customer_ids, dtype=pl.Int64())
        return EventFrames(
            **{
                name: getattr(self, name).filter(pl.col("customer_id").is_in(ids.implode()))
                for name in SCHEMAS
            }
        )


def _age(col: str, as_of: dt.date) -> pl.Expr:
    return (pl.lit(as_of) - pl.col(col)).dt.total_days().cast(pl.Int64)


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num / den).otherwise(None)


def _paydex(days: pl.Expr) -> pl.Expr:
    (x0, y0) = PAYDEX_POINTS[0]
    expr: Any = pl.when(days <= x0).then(pl.lit(y0))
    for (xa, ya), (xb, yb) in itertools.pairwise(PAYDEX_POINTS):
        expr = expr.when(days <= xb).then(ya + (days - xa) * (yb - ya) / (xb - xa))
    result: pl.Expr = expr.otherwise(pl.lit(PAYDEX_POINTS[-1][1]))
    return result


def _purchases(f: EventFrames, as_of: dt.date) -> pl.LazyFrame:
    # Conditional values become columns first, so that the group-by only runs plain sums, counts
    # and extremes, which Polars aggregates on its fast path.
    orders = (
        f.orders.lazy()
        .filter(pl.col("day") <= as_of)
        .with_columns(age=_age("day", as_of))
        .with_columns(
            # The latest order wins by day, then by id (ids are below 2**31).
            _key=pl.col("day").cast(pl.Int64) * (1 << 32) + pl.col("order_id"),
            _cod_90=((pl.col("payment_method") == "cash_on_delivery") & (pl.col("age") < 90)),
            _before=(pl.col("age") >= 90) & (pl.col("age") < BEFORE_END),
            _cod_before=(pl.col("payment_method") == "cash_on_delivery")
            & (pl.col("age") >= 90)
            & (pl.col("age") < BEFORE_END),
            _age_365=pl.when(pl.col("age") < 365).then(pl.col("age")),
            **{f"_in_{w}": pl.col("age") < w for w in WINDOWS},
            **{
                f"_amount_{w}": pl.when(pl.col("age") < w).then(pl.col("amount")).otherwise(0.0)
                for w in WINDOWS
            },
        )
    )
    aggs: list[pl.Expr] = []
    for w in WINDOWS:
        aggs += [
            pl.col(f"_in_{w}").sum().cast(pl.Float64).alias(f"orders_count_{w}d"),
            pl.col(f"_amount_{w}").sum().alias(f"orders_amount_{w}d"),
        ]
    aggs += [
        pl.col("_cod_90").sum().alias("_cod_90"),
        pl.col("_before").sum().cast(pl.Float64).alias("_orders_before"),
        ((pl.col("age") >= 365) & (pl.col("age") < BEFORE_END))
        .sum()
        .cast(pl.Float64)
        .alias("_orders_year_ago"),
        pl.col("_cod_before").sum().cast(pl.Float64).alias("_cod_before"),
        pl.col("age").min().cast(pl.Float64).alias("days_since_last_order"),
        pl.col("age").max().cast(pl.Float64).alias("tenure_days"),
        pl.col("_age_365").max().alias("_first_age_365"),
        pl.col("day").max().alias("_last_day"),
        pl.col("_key").max().alias("_last_key"),
    ]
    out = orders.group_by("customer_id").agg(aggs)
    # Baseline: the median of the twelve 30-day periods before the current one, empty ones as 0.
    periods = (
        orders.filter((pl.col("age") >= 30) & (pl.col("age") < 390))
        .group_by("customer_id", (pl.col("age") // 30).alias("_period"))
        .agg(pl.col("amount").sum())
        .group_by("customer_id")
        .agg(pl.col("amount"), pl.len().alias("_n"))
        .select(
            "customer_id",
            _baseline=pl.concat_list(
                pl.col("amount"), pl.lit(0.0).repeat_by(12 - pl.col("_n"))
            ).list.median(),
        )
    )
    # The usual size: median order of the year before the last order, the last order excluded.
    is_last = pl.col("_key") == pl.col("_last_key")
    usual = (
        orders.select("customer_id", "day", "amount", "_key")
        .join(out.select("customer_id", "_last_day", "_last_key"), on="customer_id")
        .with_columns(
            _last_amount=pl.when(is_last).then(pl.col("amount")),
            _before=pl.when(
                ~is_last & ((pl.col("_last_day") - pl.col("day")).dt.total_days() < 365)
            ).then(pl.col("amount")),
        )
        .with_columns(_log_before=pl.col("_before").clip(lower_bound=1.0).log())
        .group_by("customer_id")
        .agg(
            pl.col("_last_amount").max(),
            pl.col("_before").median().alias("_usual"),
            pl.col("_log_before").mean().alias("_log_mean"),
            pl.col("_log_before").std().alias("_log_sd"),
            pl.col("_log_before").count().alias("_n_usual"),
        )
    )
    # Gaps between order days over two years; the silence since the last order is not one.
    gaps = (
        orders.filter(pl.col("age") < 730)
        .select("customer_id", "day")
        .unique()
        .sort("customer_id", "day")
        .with_columns(
            _gap=(pl.col("day") - pl.col("day").shift(1).over("customer_id")).dt.total_days()
        )
        .group_by("customer_id")
        .agg(
            pl.col("_gap").max().cast(pl.Float64).alias("_longest"),
            pl.len().alias("_order_days"),
            (pl.col("day").max() - pl.col("day").min()).dt.total_days().alias("_active"),
        )
        .select(
            "customer_id",
            longest_order_gap_730d=pl.when(pl.col("_order_days") >= 3).then(pl.col("_longest")),
            # Order days per day while the customer was buying, for the silence test.
            _day_rate=pl.when((pl.col("_order_days") >= 3) & (pl.col("_active") >= 30)).then(
                (pl.col("_order_days") - 1) / pl.col("_active")
            ),
        )
    )
    # Orders a year before the current silence, over as long a span: a seasonal buyer was quiet
    # then too. Only once the record reaches back that far (a first order before it).
    year_before = (
        orders.select("customer_id", "day")
        .join(out.select("customer_id", "_last_day", "tenure_days"), on="customer_id")
        .with_columns(
            _in=(pl.col("day") >= pl.col("_last_day") - pl.duration(days=365))
            & (pl.col("day") <= pl.lit(as_of) - pl.duration(days=365))
        )
        .group_by("customer_id")
        .agg(
            pl.col("_in").sum().cast(pl.Float64).alias("_n"),
            pl.col("tenure_days").first().alias("_tenure"),
            pl.col("_last_day").first().alias("_last"),
        )
        .select(
            "customer_id",
            silence_last_year_orders=pl.when(
                pl.col("_tenure") >= (pl.lit(as_of) - pl.col("_last")).dt.total_days() + 365
            ).then(pl.col("_n")),
        )
    )
    n_365 = pl.col("orders_count_365d")
    # The customer's own earlier rate: orders 90-455 days old, over the part of that year the
    # customer had already been buying. Under 90 days of it (tenure under 180) says nothing.
    span = pl.min_horizontal(pl.col("tenure_days"), pl.lit(float(BEFORE_END))) - 90
    known = span >= MIN_SPAN
    return (
        out.join(periods, on="customer_id", how="left")
        .join(usual, on="customer_id", how="left")
        .join(gaps, on="customer_id", how="left")
        .join(year_before, on="customer_id", how="left")
        .with_columns(
            order_frequency_trend=pl.when(known & (pl.col("_orders_before") > 0)).then(
                pl.col("orders_count_90d") / (pl.col("_orders_before") * 90 / span)
            ),
            _lam_orders=pl.when(known).then((pl.col("_orders_before") + 0.5) * 90 / span),
            _span=pl.when(known).then(span),
            cod_share_usual=pl.when(pl.col("_orders_before") >= 5).then(
                pl.col("_cod_before") / pl.col("_orders_before")
            ),
            # P(no order in the silence) at the customer's own rate, e^(-rate x silence).
            silence_surprise=pl.col("_day_rate") * pl.col("days_since_last_order") / np.log(10),
            last_order_size_z=pl.when(pl.col("_n_usual") >= 6).then(
                (pl.col("_last_amount").clip(lower_bound=1.0).log() - pl.col("_log_mean"))
                / pl.max_horizontal(pl.col("_log_sd"), pl.lit(0.25))
            ),
        )
        .with_columns(
            avg_order_value_365d=_ratio(pl.col("orders_amount_365d"), n_365),
            cod_share_90d=_ratio(pl.col("_cod_90").cast(pl.Float64), pl.col("orders_count_90d")),
            purchase_activity_ratio_30d=_ratio(pl.col("orders_amount_30d"), pl.col("_baseline")),
            last_order_size_ratio=_ratio(pl.col("_last_amount"), pl.col("_usual")),
            expected_purchase_interval_days=pl.when(n_365 > 1)
            .then((pl.col("_first_age_365") - pl.col("days_since_last_order")) / (n_365 - 1))
            .otherwise(None),
        )
        .drop(
            "_log_mean",
            "_log_sd",
            "_n_usual",
            "_first_age_365",
            "_last_day",
            "_last_key",
            "_last_amount",
            "_baseline",
            "_usual",
        )
    )


def _lines(f: EventFrames, as_of: dt.date) -> pl.LazyFrame:
    """Quantity per order line, lately and in the year before: how much of each thing the
    customer buys at a time."""
    lines = f.order_lines.lazy().filter(pl.col("day") <= as_of).with_columns(age=_age("day", as_of))
    out = (
        lines.with_columns(
            _recent=pl.when(pl.col("age") < 90).then(pl.col("quantity")),
            _earlier=pl.when((pl.col("age") >= 90) & (pl.col("age") < BEFORE_END)).then(
                pl.col("quantity")
            ),
        )
        .group_by("customer_id")
        .agg(
            pl.col("_recent").median().alias("line_units_90d"),
            pl.col("_recent").count().alias("_n_recent"),
            pl.col("_earlier").median().alias("_units_before"),
            pl.col("_earlier").count().alias("_n_earlier"),
        )
    )
    return out.with_columns(
        line_units_ratio_90d=pl.when(
            (pl.col("_n_recent") >= 3) & (pl.col("_n_earlier") >= 3) & (pl.col("_units_before") > 0)
        ).then(pl.col("line_units_90d") / pl.col("_units_before"))
    ).drop("_n_recent", "_units_before", "_n_earlier")


def _category_shift(f: EventFrames, as_of: dt.date) -> pl.LazyFrame:
    lines = f.order_lines.lazy().filter(pl.col("day") <= as_of).with_columns(age=_age("day", as_of))
    recent = lines.filter(pl.col("age") < 90)
    before = lines.filter((pl.col("age") >= 90) & (pl.col("age") < 455))

    def shares(frame: pl.LazyFrame, name: str) -> pl.LazyFrame:
        per = frame.group_by("customer_id", "category").agg(pl.col("amount").sum())
        return per.with_columns(
            (pl.col("amount") / pl.col("amount").sum().over("customer_id")).alias(name)
        ).select("customer_id", "category", name)

    both = shares(recent, "p").join(
        shares(before, "q"), on=["customer_id", "category"], how="full", coalesce=True
    )
    # Total variation distance, only where both periods have purchases.
    has = both.group_by("customer_id").agg(
        pl.col("p").is_not_null().any().alias("_hp"),
        pl.col("q").is_not_null().any().alias("_hq"),
        (0.5 * (pl.col("p").fill_null(0) - pl.col("q").fill_null(0)).abs().sum()).alias(
            "category_shift_90d"
        ),
    )
    return has.with_columns(
        category_shift_90d=pl.when(pl.col("_hp") & pl.col("_hq"))
        .then(pl.col("category_shift_90d"))
        .otherwise(None)
    ).drop("_hp", "_hq")


def _settlements(f: EventFrames, as_of: dt.date) -> pl.LazyFrame:
    """Per invoice with payments: the amount paid, and what gives the day the balance reached 0."""
    pays = f.payments.lazy().filter(pl.col("day") <= as_of)
    amounts = f.invoices.lazy().select("invoice_id", pl.col("amount").alias("_inv"))
    totals = pays.group_by("invoice_id").agg(
        pl.col("amount").sum().alias("paid"),
        pl.len().alias("_n"),
        pl.col("day").min().alias("_first"),
    )
    # Most invoices are settled by one payment: its day. Only invoices paid in several parts need
    # the running sum to find the day the balance reached zero.
    crossing = (
        pays.join(totals.filter(pl.col("_n") > 1).select("invoice_id"), on="invoice_id")
        .join(amounts, on="invoice_id")
        .sort(["invoice_id", "day"])
        .with_columns(cum=pl.col("amount").cum_sum().over("invoice_id"))
        .group_by("invoice_id")
        .agg(pl.col("day").filter(pl.col("cum") >= pl.col("_inv") - CENT).min().alias("_multi"))
    )
    return totals.join(crossing, on="invoice_id", how="left")


def _settled_on() -> pl.Expr:
    """The settlement day of an invoice joined to ``_settlements`` (null while open)."""
    return (
        pl.when(pl.col("_n") > 1)
        .then(pl.col("_multi"))
        .when(pl.col("paid") >= pl.col("amount") - CENT)
        .then(pl.col("_first"))
    )


def settlement_days(f: EventFrames, as_of: dt.date) -> pl.LazyFrame:
    """invoice_id and settled_on: the day each invoice's balance reached 0 (null while open)."""
    return (
        f.invoices.lazy()
        .select("invoice_id", "amount")
        .join(_settlements(f, as_of), on="invoice_id", how="left")
        .select("invoice_id", settled_on=_settled_on())
    )


def _receivables(f: EventFrames, as_of: dt.date, grace_days: int = 0) -> pl.LazyFrame:
    """Per customer, what is owed and how late. An open invoice counts as overdue once it is
    more than ``grace_days`` past due (its days past due are then the real ones)."""
    inv = (
        f.invoices.lazy()
        .filter(pl.col("issue_date") <= as_of)
        .join(_settlements(f, as_of), on="invoice_id", how="left")
        .with_columns(settled_on=_settled_on())
        .with_columns(
            open=pl.max_horizontal(pl.col("amount") - pl.col("paid").fill_null(0.0), pl.lit(0.0)),
            overdue_days=(pl.lit(as_of) - pl.col("due_date")).dt.total_days(),
            issue_age=_age("issue_date", as_of),
            settle_age=_age("settled_on", as_of),
            beyond=(pl.col("settled_on") - pl.col("due_date")).dt.total_days(),
            settled=pl.col("settled_on").is_not_null(),
        )
        .with_columns(open=pl.when(pl.col("open") < CENT).then(0.0).otherwise(pl.col("open")))
        .with_columns(
            dpd=pl.when((pl.col("open") > 0) & (pl.col("overdue_days") > grace_days))
            .then(pl.col("overdue_days"))
            .otherwise(0),
            experience_days=pl.when(pl.col("settled"))
            .then(pl.col("beyond"))
            .otherwise(pl.col("overdue_days"))
            .cast(pl.Float64),
        )
    )
    is_open = pl.col("open") > 0
    overdue = is_open & (pl.col("dpd") > 0)
    dpd = pl.col("dpd")
    buckets = {
        "current": is_open & (dpd == 0),
        "1_30": overdue & (dpd <= 30),
        "31_60": (dpd > 30) & (dpd <= 60),
        "61_90": (dpd > 60) & (dpd <= 90),
        "91_120": (dpd > 90) & (dpd <= 120),
        "over_120": dpd > 120,
    }
    experiences = (pl.col("settled") & (pl.col("settle_age") < 365)) | overdue
    due_in_year = (pl.col("due_date") <= as_of) & (_age("due_date", as_of) < 365)
    late = (pl.col("settled") & (pl.col("beyond") > 0)) | (
        ~pl.col("settled") & (pl.col("overdue_days") > grace_days)
    )
    # Conditional values become columns first (null where the condition fails), so that the
    # group-by only runs plain sums, means and extremes on Polars' fast path.
    values: dict[str, pl.Expr] = {
        "_open_dpd": pl.col("open") * dpd,
        "_overdue": pl.when(overdue).then(pl.col("open")),
        "_invoiced_90d": pl.when(pl.col("issue_age") < 90).then(pl.col("amount")),
        "_overdue_age": pl.when(overdue).then(pl.col("issue_age")),
        "_due_in_year": due_in_year,
        "_late_in_year": late & due_in_year,
        "_exp_amount": pl.when(experiences).then(pl.col("amount")),
        "_exp_points": pl.when(experiences).then(
            _paydex(pl.col("experience_days")) * pl.col("amount")
        ),
    }
    values |= {f"_ar_{name}": pl.when(cond).then(pl.col("open")) for name, cond in buckets.items()}
    # Days beyond terms per invoice: as paid, or so far while it is open and past due.
    due_age = _age("due_date", as_of)
    lateness = (
        pl.when(pl.col("settled"))
        .then(pl.col("beyond"))
        .when(due_age >= 0)
        .then(pl.col("overdue_days"))
        .cast(pl.Float64)
        .clip(lower_bound=0)
    )
    values["_late_recent"] = pl.when((due_age >= 0) & (due_age < 90)).then(lateness)
    values["_late_before"] = pl.when((due_age >= 90) & (due_age < BEFORE_END)).then(lateness)
    for w in (90, 365):
        paid_in = pl.col("settled") & (pl.col("settle_age") < w)
        values[f"_paid_{w}"] = pl.when(paid_in).then(pl.col("amount"))
        values[f"_dbt_{w}"] = pl.when(paid_in).then(
            pl.col("beyond").clip(lower_bound=0) * pl.col("amount")
        )
    out = (
        inv.with_columns(**values)
        .group_by("customer_id")
        .agg(
            dpd.max().cast(pl.Float64).alias("dpd_max"),
            pl.col("open").sum().alias("ar_open_total"),
            pl.col("_overdue_age").max().cast(pl.Float64).alias("oldest_overdue_age_days"),
            *[pl.col(f"_ar_{name}").sum().alias(f"ar_{name}") for name in buckets],
            pl.col("_late_recent").mean().alias("late_days_90d"),
            pl.col("_late_recent").count().alias("_late_n"),
            pl.col("_late_before").mean().alias("late_days_usual"),
            pl.col("_late_before").quantile(0.9, "linear").alias("late_days_usual_p90"),
            pl.col("_late_before").var().alias("_late_var"),
            pl.col("_late_before").count().alias("_late_n_before"),
            pl.col(
                "_open_dpd",
                "_overdue",
                "_invoiced_90d",
                "_due_in_year",
                "_late_in_year",
                "_exp_amount",
                "_exp_points",
                "_paid_90",
                "_dbt_90",
                "_paid_365",
                "_dbt_365",
            ).sum(),
        )
    )
    # Order to payment, for invoices settled within the year: joining only those to the orders
    # costs a third of joining every invoice.
    orders = f.orders.lazy().select("order_id", pl.col("day").alias("_order_day"))
    order_to_payment = (
        inv.filter(pl.col("settled") & (pl.col("settle_age") < 365))
        .select("customer_id", "order_id", "settled_on")
        .join(orders, on="order_id")
        .group_by("customer_id")
        .agg(
            (pl.col("settled_on") - pl.col("_order_day"))
            .dt.total_days()
            .mean()
            .alias("avg_days_order_to_payment_365d")
        )
    )
    return (
        out.join(order_to_payment, on="customer_id", how="left")
        .with_columns(
            dpd_weighted=_ratio(pl.col("_open_dpd"), pl.col("ar_open_total")),
            overdue_ratio=_ratio(pl.col("_overdue"), pl.col("ar_open_total")),
            dso_90d=_ratio(pl.col("ar_open_total") * 90, pl.col("_invoiced_90d")),
            best_possible_dso_90d=_ratio(pl.col("ar_current") * 90, pl.col("_invoiced_90d")),
            late_invoice_share_365d=_ratio(
                pl.col("_late_in_year").cast(pl.Float64), pl.col("_due_in_year").cast(pl.Float64)
            ),
            paydex=_ratio(pl.col("_exp_points"), pl.col("_exp_amount")),
            dbt_weighted_90d=_ratio(pl.col("_dbt_90"), pl.col("_paid_90")),
            dbt_weighted_365d=_ratio(pl.col("_dbt_365"), pl.col("_paid_365")),
        )
        .with_columns(
            avg_days_delinquent=pl.col("dso_90d") - pl.col("best_possible_dso_90d"),
            late_days_z_90d=pl.when(
                (pl.col("_late_n") >= 2) & (pl.col("_late_n_before") >= 4)
            ).then(
                (pl.col("late_days_90d") - pl.col("late_days_usual"))
                / (
                    pl.max_horizontal(pl.col("_late_var").fill_null(0.0), pl.lit(LATE_VAR_FLOOR))
                    * (1 / pl.col("_late_n") + 1 / pl.col("_late_n_before"))
                ).sqrt()
            ),
            late_days_usual=pl.when(pl.col("_late_n_before") >= 4).then(pl.col("late_days_usual")),
            late_days_usual_p90=pl.when(pl.col("_late_n_before") >= 4).then(
                pl.col("late_days_usual_p90")
            ),
        )
        .drop(
            "_late_n",
            "_late_var",
            "_late_n_before",
            "_open_dpd",
            "_overdue",
            "_invoiced_90d",
            "_due_in_year",
            "_late_in_year",
            "_exp_amount",
            "_exp_points",
            "_paid_90",
            "_dbt_90",
            "_paid_365",
            "_dbt_365",
        )
    )


def _returns(f: EventFrames, as_of: dt.date) -> pl.LazyFrame:
    rets = f.returns.lazy().filter(pl.col("day") <= as_of).with_columns(age=_age("day", as_of))
    aggs: list[pl.Expr] = []
    for w in WINDOWS:
        recent = pl.col("age") < w
        aggs += [
            recent.sum().cast(pl.Float64).alias(f"returns_count_{w}d"),
            pl.col("amount").filter(recent).sum().alias(f"returns_amount_{w}d"),
        ]
    year = pl.col("age") < 365
    for reason in RETURN_REASONS:
        aggs.append(
            _ratio(
                (pl.col("reason") == reason).filter(year).sum().cast(pl.Float64),
                year.sum().cast(pl.Float64),
            ).alias(f"return_reason_share_{reason}_365d")
        )
    soft = pl.col("reason").is_in(list(SOFT_RETURN_REASONS))
    aggs += [
        (soft & (pl.col("age") < 90)).sum().cast(pl.Float64).alias("returns_soft_count_90d"),
        (soft & year).sum().cast(pl.Float64).alias("returns_soft_count_365d"),
        pl.col("amount").filter(soft & year).sum().alias("_soft_amount_365d"),
    ]
    # Claims without goods: a refund for a parcel said never to have arrived, or to be empty.
    unreceived = (pl.col("age") < 90) & pl.col("reason").is_in(list(UNRECEIVED_CLAIM_REASONS))
    aggs += [
        unreceived.sum().cast(pl.Float64).alias("returns_unreceived_claims_count_90d"),
        pl.col("amount").filter(unreceived).sum().alias("returns_unreceived_claims_amount_90d"),
    ]
    return rets.group_by("customer_id").agg(aggs)


def _complaints(f: EventFrames, as_of: dt.date) -> pl.LazyFrame:
    end = dt.datetime.combine(as_of, dt.time.max, tzinfo=dt.UTC)
    comp = (
        f.complaints.lazy()
        .filter(pl.col("opened_at") <= end)
        .with_columns(
            # Age in calendar days, like every other window: by the day it was opened.
            age=(pl.lit(as_of) - pl.col("opened_at").dt.date()).dt.total_days(),
            weight=pl.col("severity").replace_strict(
                SEVERITY_WEIGHTS, default=1.0, return_dtype=pl.Float64
            ),
            resolved=pl.col("resolved_at").is_not_null() & (pl.col("resolved_at") <= end),
        )
    )
    resolved_in_year = pl.col("resolved") & (
        (pl.lit(as_of) - pl.col("resolved_at").dt.date()).dt.total_days() < 365
    )
    return comp.group_by("customer_id").agg(
        (pl.col("age") < 90).sum().cast(pl.Float64).alias("complaints_count_90d"),
        (pl.col("age") < 365).sum().cast(pl.Float64).alias("complaints_count_365d"),
        ((pl.col("age") >= 90) & (pl.col("age") < BEFORE_END))
        .sum()
        .cast(pl.Float64)
        .alias("_complaints_before"),
        pl.col("weight").filter(pl.col("age") < 90).sum().alias("complaints_weighted_90d"),
        (~pl.col("resolved")).sum().cast(pl.Float64).alias("complaints_open"),
        ((pl.col("resolved_at") - pl.col("opened_at")).dt.total_seconds() / 86400)
        .filter(resolved_in_year)
        .mean()
        .alias("complaint_resolution_days_365d"),
    )


def _satisfaction(f: EventFrames, as_of: dt.date) -> pl.LazyFrame:
    end = dt.datetime.combine(as_of, dt.time.max, tzinfo=dt.UTC)
    surveys = (
        f.surveys.lazy()
        .filter(pl.col("responded_at") <= end)
        .with_columns(
            norm=pl.when(pl.col("survey_type") == "csat")
            .then((pl.col("score") - 1) * 25)
            .otherwise(pl.col("score") * 10),
            t=pl.col("responded_at").dt.epoch("s").cast(pl.Float64) / (30 * 86400),
        )
        .sort(["customer_id", "responded_at"])
    )
    latest = surveys.group_by("customer_id").agg(
        pl.col("score").filter(pl.col("survey_type") == "csat").last().alias("csat_latest"),
        pl.col("score").filter(pl.col("survey_type") == "nps").last().alias("nps_latest"),
    )
    last5 = (
        surveys.group_by("customer_id")
        .tail(5)
        .group_by("customer_id")
        .agg(
            pl.when(pl.col("t").var() > 0)
            .then(pl.cov("t", "norm") / pl.col("t").var())
            .otherwise(None)
            .alias("satisfaction_trend")
        )
    )
    age = (pl.lit(as_of) - pl.col("responded_at").dt.date()).dt.total_days()
    drop = (
        surveys.with_columns(
            _recent=pl.when(age < 180).then(pl.col("norm")),
            _earlier=pl.when((age >= 180) & (age < 730)).then(pl.col("norm")),
        )
        .group_by("customer_id")
        .agg(
            pl.col("_recent").mean().alias("_m_recent"),
            pl.col("_recent").count().alias("_n_recent"),
            pl.col("_recent").var().alias("_v_recent"),
            pl.col("_earlier").mean().alias("_m_earlier"),
            pl.col("_earlier").count().alias("_n_earlier"),
            pl.col("_earlier").var().alias("_v_earlier"),
        )
        .with_columns(
            _enough=(pl.col("_n_recent") >= 2) & (pl.col("_n_earlier") >= 3),
            _var=pl.max_horizontal(
                pl.col("_v_recent").fill_null(0.0),
                pl.col("_v_earlier").fill_null(0.0),
                pl.lit(SATISFACTION_VAR_FLOOR),
            ),
        )
        .select(
            "customer_id",
            satisfaction_drop=pl.when(pl.col("_enough")).then(
                pl.col("_m_earlier") - pl.col("_m_recent")
            ),
            satisfaction_drop_z=pl.when(pl.col("_enough")).then(
                (pl.col("_m_earlier") - pl.col("_m_recent"))
                / (pl.col("_var") * (1 / pl.col("_n_recent") + 1 / pl.col("_n_earlier"))).sqrt()
            ),
        )
    )
    return latest.join(last5, on="customer_id", how="left").join(drop, on="customer_id", how="left")


def _interactions(f: EventFrames, as_of: dt.date) -> pl.LazyFrame:
    acts = f.interactions.lazy().filter(pl.col("day") <= as_of).with_columns(age=_age("day", as_of))
    out = acts.group_by("customer_id").agg(
        pl.col("age").min().cast(pl.Float64).alias("days_since_last_interaction"),
        (pl.col("age") < 90).sum().cast(pl.Float64).alias("interactions_count_90d"),
        ((pl.col("age") >= 90) & (pl.col("age") < BEFORE_END))
        .sum()
        .cast(pl.Float64)
        .alias("_before"),
        pl.col("age").max().cast(pl.Float64).alias("_first"),
    )
    # Against the customer's own rate in the year before, as order_frequency_trend.
    span = pl.min_horizontal(pl.col("_first"), pl.lit(float(BEFORE_END))) - 90
    return out.with_columns(
        interaction_trend=pl.when((span >= MIN_SPAN) & (pl.col("_before") > 0)).then(
            pl.col("interactions_count_90d") / (pl.col("_before") * 90 / span)
        )
    ).drop("_before", "_first")


# Zero, not missing, when a customer has no such events at all.
_ZERO_WHEN_NONE = tuple(
    [f"orders_count_{w}d" for w in WINDOWS]
    + [f"orders_amount_{w}d" for w in WINDOWS]
    + [f"returns_count_{w}d" for w in WINDOWS]
    + [f"returns_amount_{w}d" for w in WINDOWS]
    + [f"ar_{b}" for b in AGEING_BUCKETS]
    + [
        "returns_unreceived_claims_count_90d",
        "returns_unreceived_claims_amount_90d",
        "ar_open_total",
        "complaints_count_90d",
        "complaints_count_365d",
        "complaints_weighted_90d",
        "complaints_open",
        "interactions_count_90d",
        "dpd_max",
    ]
)

REFERENCE_COLUMNS = (
    "segment",
    "orders_amount_90d",
    "days_since_last_order",
    "orders_count_365d",
    "orders_amount_365d",
    "line_units_90d",
    "returns_soft_count_365d",
)
# A segment's rate of unverifiable returns per order is at least this (and a prior of one such
# return in 200 orders steadies small segments).
SOFT_RATE_FLOOR = 0.002


# The indicators that rank a customer against a population (``_population``); every other one
# is the customer's own, computed from the customer's events alone.
POPULATION_NAMES = (
    "line_units_peer_ratio_90d",
    "return_abuse_surprise_90d",
    "return_abuse_surprise_365d",
    "orders_amount_peer_percentile_90d",
    "rfm_recency_score",
    "rfm_frequency_score",
    "rfm_monetary_score",
)
# What compute_base gives: the key, the segment and every customer's own indicator (which
# include everything REFERENCE_COLUMNS and _population read), all Float64.
BASE_COLUMNS = ("customer_id", "segment", *[n for n in NAMES if n not in POPULATION_NAMES])


def compute(
    frames: EventFrames, as_of: dt.date, reference: Reference | pl.DataFrame | None = None
) -> pl.DataFrame:
    """Every indicator for every customer in ``frames.customers`` (one row each).

    ``reference`` is the population to rank against: a stored summary, or REFERENCE_COLUMNS of
    its customers; by default the customers computed here.
    """
    return rank_population(compute_base(frames, as_of), reference)


def compute_base(frames: EventFrames, as_of: dt.date) -> pl.DataFrame:
    """BASE_COLUMNS of every customer in ``frames.customers``: what each customer's own events
    give, so that any split of the customers computes the same rows (a batch engine's bucket)."""
    lazy = frames.customers.lazy().select("customer_id", "segment")
    for part in (
        _purchases(frames, as_of),
        _lines(frames, as_of),
        _category_shift(frames, as_of),
        _receivables(frames, as_of),
        _returns(frames, as_of),
        _complaints(frames, as_of),
        _satisfaction(frames, as_of),
        _interactions(frames, as_of),
    ):
        lazy = lazy.join(part, on="customer_id", how="left")
    lazy = lazy.with_columns([pl.col(c).fill_null(0.0) for c in _ZERO_WHEN_NONE])
    lazy = lazy.with_columns(
        [
            _ratio(pl.col(f"returns_amount_{w}d"), pl.col(f"orders_amount_{w}d")).alias(
                f"return_rate_{w}d"
            )
            for w in WINDOWS
        ]
    )
    lazy = lazy.with_columns(
        returns_soft_amount_share_365d=_ratio(
            pl.col("_soft_amount_365d"), pl.col("orders_amount_365d")
        )
    )
    # One plan for every part: Polars runs the parts in parallel and fuses their aggregations.
    base = _surprises(lazy.collect())
    return base.select(
        "customer_id", "segment", *[pl.col(n).cast(pl.Float64) for n in BASE_COLUMNS[2:]]
    )


def rank_population(
    base: pl.DataFrame, reference: Reference | pl.DataFrame | None = None
) -> pl.DataFrame:
    """The indicators of ``compute`` from ``compute_base``'s rows: the population ones ranked
    against ``reference`` (as in ``compute``; by default ``base`` itself), in catalogue order,
    sorted by customer. Row by row once the Reference is given, so it can run per bucket."""
    if reference is None:
        ref = summarise(base.select(REFERENCE_COLUMNS), points=None)
    elif isinstance(reference, Reference):
        ref = reference
    else:
        ref = summarise(reference, points=None)
    base = _population(base, ref)
    return base.select(["customer_id", *[pl.col(n).cast(pl.Float64) for n in NAMES]]).sort(
        "customer_id"
    )


def _surprise(tail: np.ndarray) -> np.ndarray:
    """-log10 of tail probabilities, capped (a tail of 0 in floating point is "beyond 1e-50")."""
    with np.errstate(divide="ignore"):
        out: np.ndarray = np.minimum(-np.log10(np.maximum(tail, 0.0)), SURPRISE_CAP) + 0.0
    return out


def _surprises(base: pl.DataFrame) -> pl.DataFrame:
    """The tail probabilities scipy computes, vectorised over the customers: orders and
    complaints against the customer's own earlier rate (Poisson), cash on delivery against
    their usual share (binomial)."""

    def column(name: str) -> np.ndarray:
        return base[name].cast(pl.Float64).fill_null(np.nan).to_numpy()

    n90, lam, span = column("orders_count_90d"), column("_lam_orders"), column("_span")
    safe_lam = np.nan_to_num(lam, nan=1.0)
    orders = np.where(np.isnan(lam), np.nan, _surprise(stats.poisson.sf(n90 - 1, safe_lam)))
    # Fewer orders than usual: against the customer's year, or the same 90 days a year ago if
    # those were quieter (a seasonal buyer's off-season). Only once the customer has a year
    # before those 90 days: a first season followed by its off-season is not a drop.
    year_ago = column("_orders_year_ago") + 0.5
    judged = column("tenure_days") >= BEFORE_END
    drop_lam = np.minimum(safe_lam, np.nan_to_num(year_ago, nan=1.0))
    drop = np.where(judged, _surprise(stats.poisson.cdf(n90, drop_lam)), np.nan)
    complaints_n = column("complaints_count_90d")
    complaints_lam = (np.nan_to_num(column("_complaints_before")) + 0.5) * 90 / span
    complaints = np.where(
        np.isnan(span),
        np.nan,
        _surprise(stats.poisson.sf(complaints_n - 1, np.nan_to_num(complaints_lam, nan=1.0))),
    )
    before, cod_before = column("_orders_before"), column("_cod_before")
    share = (np.nan_to_num(cod_before) + 1) / (np.nan_to_num(before) + 2)  # Laplace's rule
    cod90 = np.nan_to_num(column("_cod_90"))
    enough = (np.nan_to_num(before) >= 5) & (n90 >= 3)
    cod = np.where(
        enough, _surprise(stats.binom.sf(cod90 - 1, np.maximum(n90, 1).astype(int), share)), np.nan
    )
    return base.with_columns(
        order_rate_surprise_90d=pl.Series(orders).fill_nan(None),
        order_rate_drop_surprise_90d=pl.Series(drop).fill_nan(None),
        complaint_rate_surprise_90d=pl.Series(complaints).fill_nan(None),
        cod_shift_surprise_90d=pl.Series(cod).fill_nan(None),
    )


def receivables(
    frames: EventFrames, as_of: dt.date, *, overdue_grace_days: int = 0
) -> pl.DataFrame:
    """The receivables indicators (days past due, ageing buckets, overdue share, DSO, paydex,
    ...) of every customer in ``frames.customers``, as ``compute`` gives them, except that an
    open invoice counts as overdue only once it is more than ``overdue_grace_days`` past due."""
    lazy = (
        frames.customers.lazy()
        .select("customer_id")
        .join(_receivables(frames, as_of, overdue_grace_days), on="customer_id", how="left")
    )
    names = [n for n in lazy.collect_schema().names() if n in NAMES]
    return (
        lazy.with_columns([pl.col(c).fill_null(0.0) for c in _ZERO_WHEN_NONE if c in names])
        .select("customer_id", *[pl.col(n).cast(pl.Float64) for n in names])
        .collect()
        .sort("customer_id")
    )


REFERENCE_POINTS = 1001  # a stored segment's money amounts: every value, or this many quantiles
RFM_CUTS = (0.2, 0.4, 0.6, 0.8)
RFM_COLUMNS = ("days_since_last_order", "orders_count_365d", "orders_amount_365d")


@dataclass(frozen=True)
class SegmentReference:
    """What the population indicators read of one segment's customers."""

    amounts: list[float]  # orders_amount_90d to the cent, sorted: every value, or quantiles
    customers: int
    units_median: float | None  # of line_units_90d, among those who have it
    soft_returns: float  # returns_soft_count_365d, summed
    orders: float  # orders_count_365d, summed


@dataclass(frozen=True)
class Reference:
    """The population the peer percentile and the RFM scores rank against, summarised so that
    it is small to store and to read: per segment, the amounts (every value up to
    ``REFERENCE_POINTS`` customers, then quantiles), medians and sums; the RFM quintile cut
    points of the whole population (None where nobody has the measure)."""

    segments: dict[str, SegmentReference]
    cuts: dict[str, list[float] | None]
    customers: int

    def as_json(self) -> dict[str, Any]:
        """The summary as a JSON document."""
        return {
            "customers": self.customers,
            "cuts": self.cuts,
            "segments": {
                name: {
                    "amounts": seg.amounts,
                    "customers": seg.customers,
                    "units_median": seg.units_median,
                    "soft_returns": seg.soft_returns,
                    "orders": seg.orders,
                }
                for name, seg in self.segments.items()
            },
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Reference:
        """A summary stored by ``as_json``."""
        return cls(
            segments={name: SegmentReference(**seg) for name, seg in doc["segments"].items()},
            cuts=doc["cuts"],
            customers=int(doc["customers"]),
        )


def _cents(frame: pl.DataFrame, name: str) -> np.ndarray:
    # Ranked to the cent: sums taken in a different order (one customer alone, or everyone in
    # parallel) may differ in the last bit, and must not change a rank.
    return np.round(frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy(), 2)


def summarise(ref: pl.DataFrame, *, points: int | None = REFERENCE_POINTS) -> Reference:
    """The Reference of a population (REFERENCE_COLUMNS, one row per customer); ``points``
    None keeps every amount (exact, for a batch ranking its own population)."""
    segments = ref["segment"].fill_null("").to_numpy()
    amounts = np.nan_to_num(_cents(ref, "orders_amount_90d"), nan=0.0)
    units = _cents(ref, "line_units_90d")
    soft = np.nan_to_num(_cents(ref, "returns_soft_count_365d"))
    orders = np.nan_to_num(_cents(ref, "orders_count_365d"))
    summary: dict[str, SegmentReference] = {}
    for segment in np.unique(segments):  # a loop over segments, not customers
        mine = segments == segment
        peers = np.sort(amounts[mine])
        if points is not None and peers.size > points:
            peers = np.quantile(peers, np.linspace(0.0, 1.0, points), method="linear")
        known = units[mine & ~np.isnan(units)]
        summary[str(segment)] = SegmentReference(
            amounts=[float(v) for v in peers],
            customers=int(mine.sum()),
            units_median=float(np.median(known)) if known.size else None,
            soft_returns=float(soft[mine].sum()),
            orders=float(orders[mine].sum()),
        )
    cuts: dict[str, list[float] | None] = {}
    for name in RFM_COLUMNS:
        values = _cents(ref, name)
        values = values[~np.isnan(values)]
        cuts[name] = (
            [float(c) for c in np.quantile(values, RFM_CUTS, method="linear")]
            if values.size
            else None
        )
    return Reference(segments=summary, cuts=cuts, customers=ref.height)


def _rank_share(values: np.ndarray, seg: SegmentReference) -> np.ndarray:
    # Share of the segment at or below each value, in percent: exact while every amount is
    # kept, else read off the quantiles.
    if seg.customers == 0 or not seg.amounts:
        return np.full(values.shape, np.nan)
    points = np.asarray(seg.amounts)
    if points.size == seg.customers:
        return np.searchsorted(points, values, side="right") / points.size * 100.0
    share: np.ndarray = np.interp(values, points, np.linspace(0.0, 100.0, points.size))
    return np.where(values >= points[-1], 100.0, np.where(values < points[0], 0.0, share))


def _quintile_score(
    values: np.ndarray, cuts: list[float] | None, higher_is_better: bool
) -> np.ndarray:
    if cuts is None:
        # Nobody to rank against: those without the measure (no orders) still score lowest.
        return np.where(np.isnan(values), 1.0, np.nan)
    if higher_is_better:
        score = 1 + np.searchsorted(cuts, values, side="left")
    else:
        score = 5 - np.searchsorted(cuts, values, side="right")
    return np.where(np.isnan(values), 1.0, score.astype(float))


def _population(base: pl.DataFrame, ref: Reference) -> pl.DataFrame:
    """Peer percentile within segment and RFM quintile scores against the reference."""
    percentile = np.full(base.height, np.nan)
    peer_units = np.full(base.height, np.nan)
    soft_rate = np.full(base.height, np.nan)
    segments = base["segment"].fill_null("").to_numpy()
    amounts = np.nan_to_num(_cents(base, "orders_amount_90d"), nan=0.0)
    nobody = SegmentReference(amounts=[], customers=0, units_median=None, soft_returns=0.0,
                              orders=0.0)  # fmt: skip
    for segment in np.unique(segments):  # a loop over segments, not customers
        mine = segments == segment
        seg = ref.segments.get(str(segment), nobody)
        percentile[mine] = _rank_share(amounts[mine], seg)
        if seg.units_median is not None:
            peer_units[mine] = seg.units_median
        # Peers' rate of unverifiable returns per order (a prior of one in 200 steadies
        # small segments).
        soft_rate[mine] = max((seg.soft_returns + 1) / (seg.orders + 200), SOFT_RATE_FLOOR)
    units = _cents(base, "line_units_90d")
    surprise = {}
    for w in (90, 365):
        k = np.nan_to_num(_cents(base, f"returns_soft_count_{w}d"))
        n = np.maximum(np.nan_to_num(_cents(base, f"orders_count_{w}d")), k)
        tail = stats.binom.sf(k - 1, n.astype(int), soft_rate)
        surprise[w] = np.where(n > 0, _surprise(tail), np.nan)

    return base.with_columns(
        line_units_peer_ratio_90d=pl.Series(
            np.where(peer_units > 0, units / np.where(peer_units > 0, peer_units, 1.0), np.nan)
        ).fill_nan(None),
        return_abuse_surprise_90d=pl.Series(surprise[90]).fill_nan(None),
        return_abuse_surprise_365d=pl.Series(surprise[365]).fill_nan(None),
        orders_amount_peer_percentile_90d=pl.Series(percentile).fill_nan(None),
        rfm_recency_score=pl.Series(
            _quintile_score(
                _cents(base, "days_since_last_order"), ref.cuts["days_since_last_order"], False
            )
        ),
        rfm_frequency_score=pl.Series(
            _quintile_score(_cents(base, "orders_count_365d"), ref.cuts["orders_count_365d"], True)
        ),
        rfm_monetary_score=pl.Series(
            _quintile_score(
                _cents(base, "orders_amount_365d"), ref.cuts["orders_amount_365d"], True
            )
        ),
    ).with_columns(
        [
            pl.col(c).fill_nan(None)
            for c in ("rfm_recency_score", "rfm_frequency_score", "rfm_monetary_score")
        ]
    )


def invoice_lateness(frames: EventFrames, as_of: dt.date) -> pl.LazyFrame:
    """Each invoice's due date and how late it was paid, or is while open, on ``as_of``."""
    return (
        frames.invoices.lazy()
        .join(_settlements(frames, as_of), on="invoice_id", how="left")
        .with_columns(settled_on=_settled_on())
        .select(
            "customer_id",
            "invoice_id",
            "due_date",
            late=(
                pl.col("settled_on").fill_null(pl.lit(as_of)) - pl.col("due_date")
            ).dt.total_days(),
        )
    )


def defaults_in_window(
    frames: EventFrames, start: dt.date, end: dt.date, as_of: dt.date, *, days: int = 90
) -> pl.DataFrame:
    """customer_id and ``bad``: an invoice due after ``start`` and by ``end`` went ``days`` or
    more past due (paid that late, or still open that long on ``as_of``). Customers without
    such invoices are absent."""
    return (
        invoice_lateness(frames, as_of)
        .filter((pl.col("due_date") > start) & (pl.col("due_date") <= end))
        .group_by("customer_id")
        .agg((pl.col("late") >= days).any().alias("bad"))
        .collect()
    )
