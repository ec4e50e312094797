"""Backtests: run a rule over the history, month end by month end, and measure it against what
happened afterwards. (The live figures of active rules come from their alerts' outcomes, so
they are ``alert_service.live_effectiveness``, a floor up.)

An outcome is either a default (the first day an invoice reached 90 days past due) or a churn
(the first day a buying customer had gone ``churn_days`` without an order). A hit at month end M
is a true warning when the outcome follows within the horizon: M < outcome <= M + horizon.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import polars as pl
from sqlalchemy.orm import Session

from riskdesk.indicators import repository as indicator_repo
from riskdesk.indicators.compute import EventFrames, compute, invoice_lateness
from riskdesk.kit.timeutil import month_ends, today
from riskdesk.monitoring import repository as repo
from riskdesk.monitoring.rules import VOCABULARY, Rule, fires_frame
from riskdesk.scoring import repository as scoring_repo

Outcome = Literal["default", "churn"]


def default_dates(frames: EventFrames, as_of: dt.date, days: int = 90) -> pl.DataFrame:
    """customer_id and the first day one of their invoices was ``days`` past due."""
    return (
        invoice_lateness(frames, as_of)
        .filter(pl.col("late") >= days)
        .group_by("customer_id")
        .agg((pl.col("due_date").min() + pl.duration(days=days)).alias("outcome_date"))
        .collect()
    )


def churn_dates(frames: EventFrames, as_of: dt.date, days: int = 180) -> pl.DataFrame:
    """customer_id and the first day a gap of ``days`` without an order was complete."""
    gaps = (
        frames.orders.lazy()
        .filter(pl.col("day") <= as_of)
        .select("customer_id", "day")
        .sort(["customer_id", "day"])
        .with_columns(next_day=pl.col("day").shift(-1).over("customer_id"))
        .with_columns(
            gap_end=pl.col("next_day").fill_null(pl.lit(as_of)),
        )
        .filter((pl.col("gap_end") - pl.col("day")).dt.total_days() > days)
        .group_by("customer_id")
        .agg((pl.col("day").min() + pl.duration(days=days)).alias("outcome_date"))
    )
    return gaps.collect()


def run(
    session: Session,
    rule: Rule,
    *,
    months: int = 12,
    horizon_days: int = 180,
    outcome: Outcome = "default",
    as_of: dt.date | None = None,
) -> dict[str, Any]:
    """Hits per month end over the last ``months`` months, and how well they foretold the
    outcome. Indicators are recomputed as of each month end; other fields (score, tier,
    limit) are today's, so a rule reading them is only approximated."""
    day = as_of or today()
    frames = indicator_repo.load_frames(session)
    attributes = repo.profile_values(session, None)
    outcomes = default_dates(frames, day) if outcome == "default" else churn_dates(frames, day)
    customer_kinds = scoring_repo.plain_attributes(session, None, day)
    ends = month_ends(day, months)
    monthly: list[dict[str, Any]] = []
    hits: list[pl.DataFrame] = []
    for end in ends:  # a loop over months, not customers
        values = (
            compute(frames, end)
            .join(customer_kinds, on="customer_id", how="left")
            .join(attributes, on="customer_id", how="left")
        )
        values = values.with_columns(
            [pl.lit(None, dtype=pl.Float64).alias(n) for n in VOCABULARY if n not in values.columns]
        )
        fired = values.filter(fires_frame(rule, values)).select("customer_id")
        hits.append(fired.with_columns(month_end=pl.lit(end)))
        monthly.append(
            {"month": end.strftime("%Y-%m"), "customers": values.height, "hits": fired.height}
        )
    all_hits = (
        pl.concat(hits)
        if hits
        else pl.DataFrame(schema={"customer_id": pl.Int64, "month_end": pl.Date})
    )
    horizon = pl.duration(days=horizon_days)
    judged = all_hits.join(outcomes, on="customer_id", how="left").with_columns(
        true_hit=(pl.col("outcome_date") > pl.col("month_end"))
        & (pl.col("outcome_date") <= pl.col("month_end") + horizon)
    )
    # Outcomes a warning could have foretold: those after the first month end and not after
    # the last month end plus the horizon.
    last_useful = min(day, ends[-1] + dt.timedelta(days=horizon_days))
    window_outcomes = outcomes.filter(
        (pl.col("outcome_date") > ends[0]) & (pl.col("outcome_date") <= last_useful)
    )
    caught = (
        judged.filter(pl.col("true_hit").fill_null(False))
        .group_by("customer_id")
        .agg(
            (pl.col("outcome_date").first() - pl.col("month_end").min())
            .dt.total_days()
            .alias("days_early")
        )
        .join(window_outcomes.select("customer_id"), on="customer_id", how="semi")
    )
    flagged = judged.group_by("customer_id").agg(pl.col("true_hit").fill_null(False).any())
    false_alarms = int((~flagged["true_hit"]).sum()) if flagged.height else 0
    return {
        "outcome": outcome,
        "horizon_days": horizon_days,
        "monthly": monthly,
        "flagged_customers": flagged.height,
        "outcomes": window_outcomes.height,
        "caught": caught.height,
        "recall": caught.height / window_outcomes.height if window_outcomes.height else None,
        "median_days_early": (
            caught.select(pl.col("days_early").cast(pl.Float64).median()).item()
            if caught.height
            else None
        ),
        "false_alarm_rate": false_alarms / flagged.height if flagged.height else None,
    }
