"""The warning pack over a table of values as of one business date: which customers each rule
flags, and the values rules read that are not indicators (churn probability, score and bureau
moves), derived from histories as of that date.

Pure: Polars and numpy only. Live evaluation (``monitoring.service``) and replays
(``monitoring.replay``) both go through here, so a replay judges what live would have judged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from riskdesk.monitoring import churn
from riskdesk.monitoring.rules import VOCABULARY, Rule, fires_frame
from riskdesk.scoring.definition import TIERS

# A customer needs this many repeat purchases before BG/NBD's probability of being alive means
# anything: with fewer, "alive" rests on the population's prior alone.
CHURN_MIN_REPEATS = 3
CHURN_HORIZON_WEEKS = 13.0  # the next quarter


@dataclass(frozen=True)
class PackRule:
    """One rule of the pack as it is evaluated."""

    code: str
    warning_type: str
    rule: Rule
    scope: dict[str, Any]
    version_id: int | None = None
    clear: Rule | None = None  # its alerts clear only once this holds (hysteresis)


def in_scope(scope: dict[str, Any]) -> pl.Expr:
    """Whether a row is one of the customers a rule's scope names (empty: everyone)."""
    fits = pl.lit(True)
    if scope.get("kinds"):
        fits = fits & pl.col("kind").is_in(scope["kinds"])
    if scope.get("segments"):
        fits = fits & pl.col("segment").is_in(scope["segments"])
    return fits


def completed(values: pl.DataFrame) -> pl.DataFrame:
    """``values`` with every name a rule may read (missing ones null)."""
    missing = [
        pl.lit(None, dtype=pl.String if kind == "text" else pl.Float64).alias(name)
        for name, kind in VOCABULARY.items()
        if name not in values.columns
    ]
    return values.with_columns(missing) if missing else values


def rule_hits(values: pl.DataFrame, rules: Sequence[PackRule]) -> pl.DataFrame:
    """customer_id, code, warning_type: every rule that fires for every customer (a loop over
    rules, each one vectorised over the customers)."""
    values = completed(values)
    found = []
    for r in rules:  # a loop over rules, each vectorised over the customers
        mine = values.filter(in_scope(r.scope))
        found.append(
            mine.filter(fires_frame(r.rule, mine)).select(
                "customer_id", code=pl.lit(r.code), warning_type=pl.lit(r.warning_type)
            )
        )
    empty = pl.DataFrame(
        schema={"customer_id": pl.Int64, "code": pl.String, "warning_type": pl.String}
    )
    return pl.concat([empty, *found]) if found else empty


def rule_clears(values: pl.DataFrame, rules: Sequence[PackRule]) -> pl.DataFrame:
    """customer_id, code: for the rules with a clear expression, every customer it holds
    for (whose open alert of the rule may clear once the rule no longer fires)."""
    values = completed(values)
    found = [
        values.filter(fires_frame(r.clear, values)).select("customer_id", code=pl.lit(r.code))
        for r in rules
        if r.clear is not None
    ]
    empty = pl.DataFrame(schema={"customer_id": pl.Int64, "code": pl.String})
    return pl.concat([empty, *found]) if found else empty


TRIGGER_DECIMALS = 6  # what a hit shows of the values that set it off


def trigger_values(
    values: pl.DataFrame, hits: pl.DataFrame, rules: Sequence[PackRule]
) -> pl.DataFrame:
    """customer_id, code, trigger_values: for each hit (``rule_hits``), the names its rule
    reads and their values, as a JSON object (keys sorted; numbers rounded to
    ``TRIGGER_DECIMALS``, NaN as null), what an analyst reads to see why it fired."""
    values = completed(values)
    schema = {"customer_id": pl.Int64, "code": pl.String, "trigger_values": pl.String}
    found = [pl.DataFrame(schema=schema)]
    for r in rules:  # a loop over rules, each vectorised over its hits
        mine = hits.filter(pl.col("code") == r.code).select("customer_id")
        if mine.height == 0:
            continue
        reads = sorted(r.rule.reads)
        shown = [
            pl.col(name).fill_nan(None).round(TRIGGER_DECIMALS)
            if values.schema[name].is_float()
            else pl.col(name)
            for name in reads
        ]
        encoded = pl.struct(shown).struct.json_encode() if shown else pl.lit("{}")
        found.append(
            mine.join(values.select("customer_id", *reads), on="customer_id", how="left").select(
                "customer_id", code=pl.lit(r.code), trigger_values=encoded
            )
        )
    return pl.concat(found)


# ---------------------------------------------------------------- churn


def churn_values(
    purchase_days: pl.DataFrame,
    model: churn.BgNbd | None,
    day: dt.date,
    order_value: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """customer_id, churn_p_alive, churn_value_at_stake from purchase days up to ``day`` (see
    ``churn_values_of``)."""
    if model is None or purchase_days.height == 0:
        return churn_values_of(None, None, order_value)
    summary = churn.summarise(
        purchase_days.filter(pl.col("day") <= day), day, customer="customer_id", day="day"
    ).rename({"customer": "customer_id"}, strict=False)
    return churn_values_of(summary, model, order_value)


def churn_values_of(
    summary: pl.DataFrame | None,
    model: churn.BgNbd | None,
    order_value: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """customer_id, churn_p_alive, churn_value_at_stake from BG/NBD's summary (customer_id, x,
    t_x, T).

    ``churn_p_alive`` is BG/NBD's probability that the customer still buys, for customers with
    at least ``CHURN_MIN_REPEATS`` repeat purchases (null otherwise). ``churn_value_at_stake``
    is what the next quarter would bring were they alive (the purchases BG/NBD expects of an
    active customer of their history, at their average order value over a year), times the
    probability they are gone. ``order_value``: customer_id, avg_order_value_365d."""
    schema = {
        "customer_id": pl.Int64,
        "churn_p_alive": pl.Float64,
        "churn_value_at_stake": pl.Float64,
    }
    if model is None or summary is None or summary.height == 0:
        return pl.DataFrame(schema=schema)
    x, t_x, big_t = (summary[c].to_numpy() for c in ("x", "t_x", "T"))
    alive = model.p_alive(x, t_x, big_t)
    # Purchases per week while alive: BG/NBD's posterior mean rate, (r + x) / (alpha + T).
    rate = (model.r + x) / (model.alpha + big_t)
    frame = summary.select(
        "customer_id",
        pl.when(pl.col("x") >= CHURN_MIN_REPEATS)
        .then(pl.Series(alive))
        .otherwise(None)
        .alias("churn_p_alive"),
        pl.Series("_next_quarter", rate * CHURN_HORIZON_WEEKS),
    )
    if order_value is not None:
        frame = frame.join(order_value, on="customer_id", how="left")
    else:
        frame = frame.with_columns(avg_order_value_365d=pl.lit(None, pl.Float64))
    return frame.select(
        "customer_id",
        "churn_p_alive",
        churn_value_at_stake=(
            (1 - pl.col("churn_p_alive"))
            * pl.col("_next_quarter")
            * pl.col("avg_order_value_365d").fill_null(0.0)
        ),
    )


# ---------------------------------------------------------------- profiles as of a date


def profiles_as_of(
    now: pl.DataFrame, changes: pl.DataFrame, scores: pl.DataFrame, day: dt.date
) -> pl.DataFrame:
    """customer_id, risk_tier, credit_limit, payment_terms_days as they were on ``day``.

    ``now``: the profiles as stored today. ``changes`` (customer_id, field, changed_on,
    old_value, oldest first): a limit or terms changed after ``day`` had, on ``day``, the old
    value of its first later change (a value set at creation has no change row: it held from
    the start). ``scores`` (customer_id, as_of, seq, risk_tier): the tier of the latest score by
    ``day``; a customer scored only later had none yet, one never scored keeps today's."""
    later = (
        changes.filter(pl.col("changed_on") > day)
        .group_by("customer_id", "field")
        .agg(pl.col("old_value").first())
    )
    restored = now
    for name in ("credit_limit", "payment_terms_days"):  # two fields, each vectorised
        was = later.filter(pl.col("field") == name).select(
            "customer_id",
            _was=pl.col("old_value").cast(pl.Float64, strict=False),
            _changed=pl.lit(True),
        )
        restored = (
            restored.join(was, on="customer_id", how="left")
            .with_columns(
                pl.when(pl.col("_changed")).then(pl.col("_was")).otherwise(pl.col(name)).alias(name)
            )
            .drop("_was", "_changed")
        )
    tiers = (
        scores.filter(pl.col("as_of") <= day)
        .sort("customer_id", "as_of", "seq")
        .group_by("customer_id")
        .agg(pl.col("risk_tier").last().alias("_tier"))
    )
    scored = scores.select("customer_id").unique().with_columns(_ever=pl.lit(True))
    return (
        restored.join(tiers, on="customer_id", how="left")
        .join(scored, on="customer_id", how="left")
        .with_columns(
            risk_tier=pl.when(pl.col("_ever")).then(pl.col("_tier")).otherwise(pl.col("risk_tier"))
        )
        .select("customer_id", "risk_tier", "credit_limit", "payment_terms_days")
    )


# ---------------------------------------------------------------- score and bureau moves

# Scores and bureau reports are compared with the one held this long before the latest: a
# move must last, and a score that wobbles between runs does not make a new warning each time.
MOVE_LOOKBACK_DAYS = 90
# How far back the best score, rating and bureau score count for a recovery: an alert on a
# drop clears once the customer is back near their best of this span, or has stayed at the
# new level for all of it (then the new level is theirs).
PEAK_WINDOW_DAYS = 180
TIER_RANK = {tier: i for i, tier in enumerate(TIERS)}  # low 0 ... critical 3


def score_moves(history: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """customer_id, score_drop, rating_notches_down, tier_steps_worse, score_below_peak,
    rating_notches_below_best as of ``day``: the score, the rating and the risk tier held
    ``MOVE_LOOKBACK_DAYS`` before the latest one, minus the latest (ratings by their position
    on the latest scale, best first; tiers low to critical); and how far the latest lies below
    the best of the last ``PEAK_WINDOW_DAYS`` (what a rule's clear expression reads: a
    recovery).

    ``history``: customer_id, as_of, seq (later runs higher), score, version_id, risk_tier,
    rank."""
    known = history.filter(pl.col("as_of") <= day).sort(["customer_id", "as_of", "seq"])
    latest = known.group_by("customer_id").last()
    recent = known.filter(pl.col("as_of") > day - dt.timedelta(days=PEAK_WINDOW_DAYS))
    best = (
        recent.join(latest.select("customer_id", _v=pl.col("version_id")), on="customer_id")
        .group_by("customer_id")
        .agg(
            pl.col("score").max().alias("_peak"),
            pl.col("rank").filter(pl.col("version_id") == pl.col("_v")).min().alias("_best"),
        )
    )
    before = (
        known.join(latest.select("customer_id", _cut=pl.col("as_of")), on="customer_id")
        .filter(pl.col("as_of") <= pl.col("_cut") - pl.duration(days=MOVE_LOOKBACK_DAYS))
        .group_by("customer_id")
        .last()
    )
    both = latest.join(before, on="customer_id", suffix="_before", how="left").join(
        best, on="customer_id", how="left"
    )
    same_scale = pl.col("version_id") == pl.col("version_id_before")
    tier = pl.col("risk_tier").replace_strict(TIER_RANK, default=None, return_dtype=pl.Int64)
    tier_before = pl.col("risk_tier_before").replace_strict(
        TIER_RANK, default=None, return_dtype=pl.Int64
    )
    return both.select(
        "customer_id",
        score_drop=(pl.col("score_before") - pl.col("score")).cast(pl.Float64),
        rating_notches_down=pl.when(same_scale)
        .then(pl.col("rank") - pl.col("rank_before"))
        .cast(pl.Float64),
        tier_steps_worse=(tier - tier_before).cast(pl.Float64),
        score_below_peak=(pl.col("_peak") - pl.col("score")).cast(pl.Float64),
        rating_notches_below_best=(pl.col("rank") - pl.col("_best")).cast(pl.Float64),
    )


def bureau_moves(reports: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """customer_id, bureau_score_drop, bureau_below_peak: the bureau score held
    ``MOVE_LOOKBACK_DAYS`` before the latest report on or before ``day``, minus the latest;
    and the best of the last ``PEAK_WINDOW_DAYS`` minus the latest. ``reports``: customer_id,
    report_date, seq, score."""
    known = reports.filter(pl.col("report_date") <= day).sort(["customer_id", "report_date", "seq"])
    latest = known.group_by("customer_id").last()
    peak = (
        known.filter(pl.col("report_date") > day - dt.timedelta(days=PEAK_WINDOW_DAYS))
        .group_by("customer_id")
        .agg(pl.col("score").max().alias("_peak"))
    )
    before = (
        known.join(latest.select("customer_id", _cut=pl.col("report_date")), on="customer_id")
        .filter(pl.col("report_date") <= pl.col("_cut") - pl.duration(days=MOVE_LOOKBACK_DAYS))
        .group_by("customer_id")
        .last()
    )
    return (
        latest.join(before, on="customer_id", suffix="_before", how="left")
        .join(peak, on="customer_id", how="left")
        .select(
            "customer_id",
            bureau_score_drop=(pl.col("score_before") - pl.col("score")).cast(pl.Float64),
            bureau_below_peak=(pl.col("_peak") - pl.col("score")).cast(pl.Float64),
        )
    )
