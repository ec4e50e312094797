"""The provision matrix, computed with Polars and free of database and web imports.

The method (docs/ecl.md has a worked example):

1. Each invoice's open balance at a month end is its amount less the payments (net of their
   reversals and of the invoice's adjustments: ``events.repository.settlement_flows``) dated on or
   before that month end; an invoice issued after it does not exist yet, and a payment dated
   after it has not happened yet (no look-ahead). Its days past due there are the month end
   less its due date; the balance falls into one ageing bucket (``BUCKET_EDGES``).
2. Between two consecutive month ends, each invoice open in bucket b at the first either sits
   in a later bucket at the second (it *rolled*), in the same bucket (it *stayed*: a wide
   bucket, or a long payment term), or is gone (paid). Summed over the window per segment and
   bucket, weighted by balance: rolled share r_b and stayed share s_b.
3. The roll rate of b is the share that eventually rolls on, r_b / (1 - s_b): what stays gets
   the same chances again next month. The loss rate of the last bucket is 100% (the file holds
   no write-offs nor recoveries; 180+ days past due is twice the default definition).
   Historical loss rate of b = product of the roll rates from b to the last bucket but one,
   times the last bucket's rate.
4. A segment with too little history (``MIN_SEGMENT_MONTHS`` month ends with balances, and
   ``MIN_SEGMENT_BALANCE`` of month-end balances in all) uses the portfolio's rates.
5. The adjusted rate is the historical one times the segment's forward-looking multiplier,
   capped at 100%; a customer's ECL is the sum over buckets of their balance as of the
   reporting date times the adjusted rate of their segment.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import polars as pl

# Ageing buckets by days past due: (code, lowest, highest) with None for "no upper edge".
BUCKET_EDGES: tuple[tuple[str, int, int | None], ...] = (
    ("current", -(10**6), 0),
    ("1_30", 1, 30),
    ("31_60", 31, 60),
    ("61_90", 61, 90),
    ("91_180", 91, 180),
    ("over_180", 181, None),
)
BUCKETS: tuple[str, ...] = tuple(code for code, _, _ in BUCKET_EDGES)
LAST_BUCKET_LOSS_RATE = 1.0
MIN_LOOKBACK_MONTHS = 6
MAX_LOOKBACK_MONTHS = 60
MIN_SEGMENT_MONTHS = 6  # month ends with a balance a segment needs for rates of its own
MIN_SEGMENT_BALANCE = 100_000.0  # month-end balances summed over the window, in the currency
PORTFOLIO = "portfolio"  # the rates of everyone, and a segment's name for "no segment"
UNSEGMENTED = "none"
CENT = 0.005  # an invoice is settled when less than half a cent is open

INVOICE_SCHEMA: dict[str, pl.DataType] = {
    "invoice_id": pl.Int64(),
    "customer_id": pl.Int64(),
    "issue_date": pl.Date(),
    "due_date": pl.Date(),
    "amount": pl.Float64(),
}
PAYMENT_SCHEMA: dict[str, pl.DataType] = {
    "invoice_id": pl.Int64(),
    "day": pl.Date(),
    "amount": pl.Float64(),
}
CUSTOMER_SCHEMA: dict[str, pl.DataType] = {"customer_id": pl.Int64(), "segment": pl.String()}


def month_end(day: dt.date) -> dt.date:
    """The last day of ``day``'s month."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def observation_dates(as_of: dt.date, lookback_months: int) -> list[dt.date]:
    """The month ends of the window, oldest first: ``lookback_months`` transitions ending at
    the last month end on or before ``as_of``."""
    last = as_of if month_end(as_of) == as_of else as_of.replace(day=1) - dt.timedelta(days=1)
    ends = [last]
    for _ in range(lookback_months):
        ends.append(ends[-1].replace(day=1) - dt.timedelta(days=1))
    return sorted(ends)


def bucket_of(dpd: pl.Expr) -> pl.Expr:
    """The ageing bucket's index (0 = current) for days past due."""
    expr: Any = pl.when(dpd <= BUCKET_EDGES[0][2]).then(pl.lit(0, pl.Int8))
    for index, (_, _, high) in enumerate(BUCKET_EDGES[1:], start=1):
        expr = expr.when(dpd <= high if high is not None else pl.lit(True)).then(
            pl.lit(index, pl.Int8)
        )
    result: pl.Expr = expr.otherwise(pl.lit(len(BUCKETS) - 1, pl.Int8))
    return result


def open_balances(
    invoices: pl.DataFrame, payments: pl.DataFrame, dates: list[dt.date]
) -> pl.DataFrame:
    """invoice_id, customer_id, k (index into ``dates``), balance and bucket of every invoice
    open at each of ``dates``, as of that date: issued on or before it, less what was paid on
    or before it."""
    if not dates or invoices.is_empty():
        return pl.DataFrame(
            schema={
                "invoice_id": pl.Int64,
                "customer_id": pl.Int64,
                "k": pl.Int32,
                "balance": pl.Float64,
                "bucket": pl.Int8,
            }
        )
    grid = pl.Series("date", dates, dtype=pl.Date)
    count = len(dates)
    # The first observation on or after a day; payments dated after the last one never count.
    inv = invoices.lazy().with_columns(
        first_k=grid.search_sorted(invoices["issue_date"], side="left").cast(pl.Int32)
    )
    pays = (
        payments.lazy()
        .with_columns(k=grid.search_sorted(payments["day"], side="left").cast(pl.Int32))
        .filter(pl.col("k") < count)
        .group_by("invoice_id", "k")
        .agg(pl.col("amount").sum().alias("paid"))
    )
    # The first observation at which the invoice is settled in full for good: it is open
    # before it. Corrections make payments signed (a reversal, an adjustment up owe again): an
    # invoice is settled for good only from the last observation that owed more.
    settled = (
        pays.join(inv.select("invoice_id", "amount", "first_k"), on="invoice_id")
        .with_columns(k=pl.max_horizontal("k", "first_k"))
        .group_by("invoice_id", "k")
        .agg(pl.col("paid").sum(), pl.col("amount").first())
        .sort("invoice_id", "k")
        .with_columns(
            cum=pl.col("paid").cum_sum().over("invoice_id"),
            reopened_k=pl.when(pl.col("paid") < 0)
            .then(pl.col("k"))
            .max()
            .over("invoice_id")
            .fill_null(-1),
        )
        .filter(pl.col("cum") >= pl.col("amount") - CENT, pl.col("k") >= pl.col("reopened_k"))
        .group_by("invoice_id")
        .agg(pl.col("k").min().alias("settled_k"))
    )
    rows = (
        inv.filter(pl.col("first_k") < count)
        .join(settled, on="invoice_id", how="left")
        .with_columns(end_k=pl.col("settled_k").fill_null(count).cast(pl.Int32))
        .filter(pl.col("end_k") > pl.col("first_k"))
        .with_columns(k=pl.int_ranges("first_k", "end_k", dtype=pl.Int32))
        .explode("k")
        .select("invoice_id", "customer_id", "k", "due_date", "amount")
    )
    # Part payments: what was paid by each observation (only invoices paid in part reach here).
    paid_by = (
        rows.select("invoice_id", "k")
        .join(pays.rename({"k": "pay_k"}), on="invoice_id")
        .filter(pl.col("pay_k") <= pl.col("k"))
        .group_by("invoice_id", "k")
        .agg(pl.col("paid").sum())
    )
    dates_frame = pl.LazyFrame({"k": pl.Series(range(count), dtype=pl.Int32), "date": grid})
    return (
        rows.join(paid_by, on=["invoice_id", "k"], how="left")
        .join(dates_frame, on="k")
        .with_columns(balance=pl.col("amount") - pl.col("paid").fill_null(0.0))
        .filter(pl.col("balance") >= CENT)
        .with_columns(
            bucket=bucket_of((pl.col("date") - pl.col("due_date")).dt.total_days()),
        )
        .select("invoice_id", "customer_id", "k", "balance", "bucket")
        .collect()
    )


@dataclass(frozen=True)
class Adjustment:
    """A forward-looking multiplier for a segment (or the portfolio), with its reason."""

    segment: str
    multiplier: float
    reason: str
    adjustment_id: int | None = None


@dataclass
class Matrix:
    """What a run computed: its inputs, the rates per segment, and the customers' ECL."""

    dates: list[dt.date]
    # segment, date, bucket, balance: the inputs (month-end balances per bucket).
    month_end_balances: pl.DataFrame
    # segment, bucket, base, rolled, stayed, months: the transitions summed over the window.
    transitions: pl.DataFrame
    # segment, bucket, roll_rate, historical_rate, multiplier, adjusted_rate, rates_from,
    # balance, ecl: the provision matrix per segment (and "portfolio" for everyone).
    rates: pl.DataFrame
    # customer_id, segment, rates_from, one balance column per bucket, balance, ecl.
    customers: pl.DataFrame
    adjustments: list[Adjustment] = field(default_factory=list)

    @property
    def history_months(self) -> int:
        """Month ends of the window at which the portfolio had an open balance."""
        found = self.month_end_balances.filter(
            (pl.col("segment") == PORTFOLIO) & (pl.col("balance") > 0)
        )["date"].n_unique()
        return int(found)


def _segments(customers: pl.DataFrame) -> pl.LazyFrame:
    return customers.lazy().select(
        "customer_id", pl.col("segment").fill_null(UNSEGMENTED).alias("segment")
    )


def _with_portfolio(frame: pl.LazyFrame) -> pl.LazyFrame:
    """The rows once per segment and once more as the portfolio."""
    return pl.concat([frame, frame.with_columns(segment=pl.lit(PORTFOLIO))])


def _transitions(balances: pl.DataFrame, segments: pl.LazyFrame, last_k: int) -> pl.LazyFrame:
    """Per segment and bucket: balance at month end m, and of it what rolled on or stayed at
    m + 1 (the balance at m of the invoices concerned, so the shares weigh by balance)."""
    start = balances.lazy().select("invoice_id", "customer_id", "k", "balance", "bucket")
    following = balances.lazy().select(
        "invoice_id", (pl.col("k") - 1).alias("k"), pl.col("bucket").alias("next_bucket")
    )
    moves = (
        start.filter(pl.col("k") < last_k)
        .join(following, on=["invoice_id", "k"], how="left")
        .join(segments, on="customer_id", how="left")
        .with_columns(
            segment=pl.col("segment").fill_null(UNSEGMENTED),
            rolled=pl.when(pl.col("next_bucket") > pl.col("bucket")).then(pl.col("balance")),
            stayed=pl.when(pl.col("next_bucket") == pl.col("bucket")).then(pl.col("balance")),
        )
    )
    return (
        _with_portfolio(moves)
        .group_by("segment", "bucket")
        .agg(
            pl.col("balance").sum().alias("base"),
            pl.col("rolled").sum(),
            pl.col("stayed").sum(),
            pl.col("k").n_unique().alias("months"),
        )
    )


def _rates(transitions: pl.DataFrame) -> pl.DataFrame:
    """Roll rate and historical loss rate per segment and bucket (all buckets present)."""
    grid = (
        transitions.select("segment")
        .unique()
        .join(pl.DataFrame({"bucket": pl.Series(range(len(BUCKETS)), dtype=pl.Int8)}), how="cross")
    )
    frame = grid.join(transitions, on=["segment", "bucket"], how="left").with_columns(
        pl.col("base", "rolled", "stayed").fill_null(0.0)
    )
    moving = pl.col("base") - pl.col("stayed")
    frame = frame.with_columns(
        roll_rate=pl.when(pl.col("bucket") == len(BUCKETS) - 1)
        .then(pl.lit(LAST_BUCKET_LOSS_RATE))
        .when(moving > CENT)
        .then((pl.col("rolled") / moving).clip(0.0, 1.0))
        # Nothing seen leaving the bucket (no balance, or all of it stayed): no evidence of
        # cures, so the prudent rate.
        .otherwise(pl.lit(1.0))
    )
    # Historical loss rate: the product of the roll rates from the bucket to the last; a
    # reverse cumulative product per segment.
    return (
        frame.sort("segment", "bucket", descending=[False, True])
        .with_columns(historical_rate=pl.col("roll_rate").cum_prod().over("segment"))
        .sort("segment", "bucket")
    )


def _choose(
    rates: pl.DataFrame,
    month_end_balances: pl.LazyFrame,
    min_months: int,
    min_balance: float,
) -> pl.DataFrame:
    """Each segment's rates: its own where its history suffices, else the portfolio's."""
    history = (
        month_end_balances.filter(pl.col("balance") > 0)
        .group_by("segment")
        .agg(pl.col("date").n_unique().alias("months"), pl.col("balance").sum().alias("total"))
        .collect()
    )
    enough = history.filter((pl.col("months") >= min_months) & (pl.col("total") >= min_balance))[
        "segment"
    ]
    portfolio = rates.filter(pl.col("segment") == PORTFOLIO).select(
        "bucket",
        pl.col("roll_rate").alias("_p_roll"),
        pl.col("historical_rate").alias("_p_hist"),
    )
    own = pl.col("segment").is_in(enough.implode()) | (pl.col("segment") == PORTFOLIO)
    return (
        rates.join(portfolio, on="bucket", how="left")
        .with_columns(rates_from=pl.when(own).then(pl.col("segment")).otherwise(pl.lit(PORTFOLIO)))
        .with_columns(
            roll_rate=pl.when(own).then(pl.col("roll_rate")).otherwise(pl.col("_p_roll")),
            historical_rate=pl.when(own)
            .then(pl.col("historical_rate"))
            .otherwise(pl.col("_p_hist")),
        )
        .drop("_p_roll", "_p_hist")
    )


def compute(
    invoices: pl.DataFrame,
    payments: pl.DataFrame,
    customers: pl.DataFrame,
    as_of: dt.date,
    lookback_months: int,
    adjustments: list[Adjustment] | None = None,
    *,
    min_segment_months: int = MIN_SEGMENT_MONTHS,
    min_segment_balance: float = MIN_SEGMENT_BALANCE,
) -> Matrix:
    """The provision matrix as of ``as_of`` from the history of ``lookback_months`` months
    (frames as in INVOICE_SCHEMA, PAYMENT_SCHEMA, CUSTOMER_SCHEMA)."""
    if not MIN_LOOKBACK_MONTHS <= lookback_months <= MAX_LOOKBACK_MONTHS:
        raise ValueError(
            f"lookback_months must be between {MIN_LOOKBACK_MONTHS} and {MAX_LOOKBACK_MONTHS}"
        )
    adjustments = adjustments or []
    # Nothing dated after the reporting date is looked at, whatever the frames hold.
    invoices = invoices.filter(pl.col("issue_date") <= as_of)
    payments = payments.filter(pl.col("day") <= as_of)
    dates = observation_dates(as_of, lookback_months)
    segments = _segments(customers)
    history = open_balances(invoices, payments, dates)
    with_segment = (
        history.lazy()
        .join(segments, on="customer_id", how="left")
        .with_columns(pl.col("segment").fill_null(UNSEGMENTED))
    )
    dates_frame = pl.LazyFrame(
        {"k": pl.Series(range(len(dates)), dtype=pl.Int32), "date": pl.Series(dates)}
    )
    month_end_balances = (
        _with_portfolio(with_segment)
        .group_by("segment", "k", "bucket")
        .agg(pl.col("balance").sum())
        .join(dates_frame, on="k")
        .select("segment", "date", "bucket", "balance")
        .sort("segment", "date", "bucket")
    )
    transitions = (
        _transitions(history, segments, len(dates) - 1).sort("segment", "bucket").collect()
    )
    segment_names = sorted(
        set(segments.select("segment").unique().collect()["segment"].to_list())
        | set(transitions["segment"].to_list())
        | {PORTFOLIO}
    )
    if transitions.is_empty():
        transitions = pl.DataFrame(
            {"segment": [PORTFOLIO], "bucket": [0], "base": [0.0], "rolled": [0.0],
             "stayed": [0.0], "months": [0]},
            schema_overrides={"bucket": pl.Int8, "months": pl.UInt32},
        )  # fmt: skip
    base_rates = _rates(transitions)
    # Segments with no history at all still get a row of (the portfolio's) rates.
    missing = [s for s in segment_names if s not in set(base_rates["segment"].to_list())]
    if missing:
        filler = (
            base_rates.filter(pl.col("segment") == PORTFOLIO)
            .drop("segment")
            .with_columns(pl.lit(0.0).alias(c) for c in ("base", "rolled", "stayed"))
            .with_columns(months=pl.lit(0, pl.UInt32))
        )
        base_rates = pl.concat(
            [base_rates, *[filler.with_columns(segment=pl.lit(s)) for s in missing]],
            how="diagonal",
        ).select(base_rates.columns)
    chosen = _choose(base_rates, month_end_balances, min_segment_months, min_segment_balance)
    multipliers = {a.segment: a.multiplier for a in adjustments}
    default = multipliers.get(PORTFOLIO, 1.0)
    mult = pl.DataFrame(
        {
            "segment": segment_names,
            "multiplier": [multipliers.get(s, default) for s in segment_names],
        }
    )
    rates = (
        chosen.join(mult, on="segment", how="left")
        .with_columns(pl.col("multiplier").fill_null(default))
        .with_columns(
            adjusted_rate=(pl.col("historical_rate") * pl.col("multiplier")).clip(0.0, 1.0)
        )
    )
    # Balances as of the reporting date itself, per customer and bucket.
    now = open_balances(invoices, payments, [as_of])
    wide = (
        now.lazy()
        .group_by("customer_id", "bucket")
        .agg(pl.col("balance").sum())
        .collect()
        .pivot(on="bucket", index="customer_id", values="balance")
    )
    for index in range(len(BUCKETS)):
        if str(index) not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64).alias(str(index)))
    wide = wide.rename({str(i): b for i, b in enumerate(BUCKETS)}).with_columns(
        pl.col(BUCKETS).fill_null(0.0)
    )
    adjusted = rates.filter(pl.col("segment") != PORTFOLIO).select(
        "segment", "bucket", "adjusted_rate", "rates_from"
    )
    by_segment = adjusted.pivot(
        on="bucket", index=["segment", "rates_from"], values="adjusted_rate"
    )
    for index in range(len(BUCKETS)):
        # An empty book has no segment rows, so the pivot has no bucket columns.
        if str(index) not in by_segment.columns:
            by_segment = by_segment.with_columns(pl.lit(None, pl.Float64).alias(str(index)))
    by_segment = by_segment.rename({str(i): f"_r{i}" for i in range(len(BUCKETS))})
    per_customer = (
        wide.join(segments.collect(), on="customer_id", how="left")
        .with_columns(pl.col("segment").fill_null(UNSEGMENTED))
        .join(by_segment, on="segment", how="left")
        .with_columns(
            balance=pl.sum_horizontal(BUCKETS),
            ecl=pl.sum_horizontal(
                [pl.col(b) * pl.col(f"_r{i}").fill_null(0.0) for i, b in enumerate(BUCKETS)]
            ),
        )
        .select("customer_id", "segment", "rates_from", *BUCKETS, "balance", "ecl")
        .sort("customer_id")
    )
    # The matrix's balance and ECL columns: today's balances per segment and bucket.
    long = per_customer.unpivot(
        index=["customer_id", "segment"], on=list(BUCKETS), variable_name="_b", value_name="_bal"
    ).with_columns(
        bucket=pl.col("_b").replace_strict(
            {b: i for i, b in enumerate(BUCKETS)}, return_dtype=pl.Int8
        )
    )
    today = (
        _with_portfolio(long.lazy())
        .group_by("segment", "bucket")
        .agg(pl.col("_bal").sum().alias("balance"))
        .collect()
    )
    rates = (
        rates.join(today, on=["segment", "bucket"], how="left")
        .with_columns(pl.col("balance").fill_null(0.0))
        .with_columns(ecl=pl.col("balance") * pl.col("adjusted_rate"))
    )
    # The portfolio's ECL is the sum of the segments' (each at its own rates), not the
    # portfolio rates applied to the total.
    seg_ecl = (
        rates.filter(pl.col("segment") != PORTFOLIO)
        .group_by("bucket")
        .agg(pl.col("ecl").sum().alias("_seg_ecl"))
    )
    rates = (
        rates.join(seg_ecl, on="bucket", how="left")
        .with_columns(
            ecl=pl.when(pl.col("segment") == PORTFOLIO)
            .then(pl.col("_seg_ecl").fill_null(0.0))
            .otherwise(pl.col("ecl"))
        )
        .drop("_seg_ecl")
        .select(
            "segment",
            "bucket",
            "rates_from",
            "base",
            "rolled",
            "stayed",
            "roll_rate",
            "historical_rate",
            "multiplier",
            "adjusted_rate",
            "balance",
            "ecl",
        )
        .sort("segment", "bucket")
    )
    return Matrix(
        dates=dates,
        month_end_balances=month_end_balances.collect(),
        transitions=transitions,
        rates=rates,
        customers=per_customer,
        adjustments=[a for a in adjustments if a.segment in multipliers],
    )
