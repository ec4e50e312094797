"""Judging a replay: the alerts the hits would have raised, and how well each warning type
foretold its outcome, or the behaviours a labelled population was given.

Pure: Polars only. Hits come in as (day, customer_id, code, warning_type), one row per rule
that fired for a customer on a replay date. Labels are read only here, to score, never while
the pack is evaluated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from riskdesk.monitoring.warning_types import BY_CODE, CODES

HITS_SCHEMA = {
    "day": pl.Date,
    "customer_id": pl.Int64,
    "code": pl.String,
    "warning_type": pl.String,
}


def held_open(
    hits: pl.DataFrame,
    clears: pl.DataFrame,
    days: Sequence[dt.date],
    codes: Sequence[str],
) -> pl.DataFrame:
    """``hits`` plus, for the rules with a clear expression (``codes``; ``clears``: day,
    customer_id, code, a row where the clear expression holds), a row on every date their
    alert would be held open: from a date the rule fires until the first later date it does
    not fire and its clear expression holds. Live evaluation holds such alerts the same way
    (``alert_service.clear_quiet``)."""
    if not codes or hits.height == 0:
        return hits
    index = pl.DataFrame(
        {"day": list(days), "_i": list(range(len(days)))}, schema={"day": pl.Date, "_i": pl.Int64}
    )
    mine = hits.filter(pl.col("code").is_in(list(codes)))
    if mine.height == 0:
        return hits
    # Every (customer, rule) that ever fired, on every replay date: 1 where it fires, 0 where
    # it clears, carried forward in between (held: neither fired nor cleared).
    pairs = mine.select("customer_id", "code", "warning_type").unique()
    grid = pairs.join(index, how="cross")
    state = (
        grid.join(
            mine.select("day", "customer_id", "code", _fires=pl.lit(1)),
            on=["day", "customer_id", "code"],
            how="left",
        )
        .join(
            clears.select("day", "customer_id", "code", _clears=pl.lit(0)),
            on=["day", "customer_id", "code"],
            how="left",
        )
        .sort("customer_id", "code", "_i")
        .with_columns(
            _state=pl.coalesce("_fires", "_clears").forward_fill().over("customer_id", "code")
        )
    )
    held = state.filter((pl.col("_state") == 1) & pl.col("_fires").is_null())
    return pl.concat([hits, held.select(list(HITS_SCHEMA))])


def episodes(hits: pl.DataFrame, days: Sequence[dt.date]) -> pl.DataFrame:
    """The alerts the hits would have raised, as live evaluation raises and clears them: an
    alert opens the first replay date its rule fires for a customer and clears the first date
    it does not. Columns: customer_id, code, warning_type, opened, cleared (null: still open
    on the last date)."""
    index = pl.DataFrame(
        {"day": list(days), "_i": list(range(len(days)))}, schema={"day": pl.Date, "_i": pl.Int64}
    )
    runs = (
        hits.join(index, on="day")
        .sort("customer_id", "code", "_i")
        .with_columns(
            _new=(pl.col("_i") - pl.col("_i").shift(1).over("customer_id", "code")).fill_null(2)
            != 1
        )
        .with_columns(_run=pl.col("_new").cum_sum().over("customer_id", "code"))
        .group_by("customer_id", "code", "warning_type", "_run")
        .agg(pl.col("_i").min().alias("_first"), pl.col("_i").max().alias("_last"))
    )
    last = len(days) - 1
    return (
        runs.join(index.rename({"day": "opened", "_i": "_first"}), on="_first")
        .join(
            index.rename({"day": "cleared", "_i": "_after"}),
            left_on=pl.col("_last") + 1,
            right_on="_after",
            how="left",
        )
        .with_columns(
            cleared=pl.when(pl.col("_last") == last).then(None).otherwise(pl.col("cleared"))
        )
        .select("customer_id", "code", "warning_type", "opened", "cleared")
    )


def _first_flags(alerts: pl.DataFrame, types: Sequence[str]) -> pl.DataFrame:
    """customer_id and every day an alert of one of ``types`` opened for them."""
    return alerts.filter(pl.col("warning_type").is_in(list(types))).select("customer_id", "opened")


def by_outcome(
    alerts: pl.DataFrame,
    outcomes: pl.DataFrame,
    types: Sequence[str],
    *,
    start: dt.date,
    end: dt.date,
    horizon_days: int,
) -> dict[str, Any]:
    """How alerts of ``types`` foretold an outcome (customer_id, outcome_date).

    A flagged customer is a true warning when the outcome came no later than the horizon
    after an alert (already in default counts: the warning was right). An outcome between
    ``start`` and ``end`` is caught when an alert opened up to the horizon before it; the lead
    time is from the first such alert to the outcome."""
    flags = _first_flags(alerts, types)
    flagged = flags.select("customer_id").unique()
    horizon = pl.duration(days=horizon_days)
    judged = flags.join(outcomes, on="customer_id", how="left").with_columns(
        true=(pl.col("outcome_date") <= pl.col("opened") + horizon).fill_null(False)
    )
    true_customers = judged.filter("true").select("customer_id").unique()
    window = outcomes.filter((pl.col("outcome_date") > start) & (pl.col("outcome_date") <= end))
    caught = (
        flags.join(window, on="customer_id")
        .filter(
            (pl.col("opened") <= pl.col("outcome_date"))
            & (pl.col("opened") >= pl.col("outcome_date") - horizon)
        )
        .group_by("customer_id")
        .agg(
            (pl.col("outcome_date").first() - pl.col("opened").min()).dt.total_days().alias("lead")
        )
    )
    return {
        "flagged_customers": flagged.height,
        "true_warnings": true_customers.height,
        "precision": _share(true_customers.height, flagged.height),
        "outcomes": window.height,
        "caught": caught.height,
        "recall": _share(caught.height, window.height),
        "median_lead_days": _median(caught["lead"]),
    }


def by_confirmation(
    alerts: pl.DataFrame, confirmed: pl.DataFrame, types: Sequence[str]
) -> dict[str, Any]:
    """Precision of alerts of ``types`` against alerts people confirmed (customer_id,
    warning_type): the only outcome signals like resale or return abuse have."""
    flagged = _first_flags(alerts, types).select("customer_id").unique()
    true = flagged.join(
        confirmed.filter(pl.col("warning_type").is_in(list(types))).select("customer_id").unique(),
        on="customer_id",
    )
    return {
        "flagged_customers": flagged.height,
        "confirmed": true.height,
        "precision": _share(true.height, flagged.height) if confirmed.height else None,
        "recall": None,
        "median_lead_days": None,
    }


def by_labels(
    alerts: pl.DataFrame,
    labels: pl.DataFrame,
    behaviour_types: Mapping[str, Sequence[str]],
    decoys: Mapping[str, str],
    outcome_dates: Mapping[str, pl.DataFrame],
    *,
    end: dt.date,
) -> dict[str, Any]:
    """Per injected behaviour (labels: customer_id, behaviour, onset_date): the customers
    given it, how many alerts of its types flagged on or after the onset (recall), how many
    of the customers those types flagged have it (precision), the lead time before its outcome
    where it has one, and per decoy the share flagged for the behaviour it resembles."""
    out: dict[str, Any] = {"behaviours": {}, "decoys": {}}
    for behaviour, types in behaviour_types.items():
        mine = labels.filter(
            (pl.col("behaviour") == behaviour)
            & (pl.col("onset_date").is_null() | (pl.col("onset_date") <= end))
        )
        flags = _first_flags(alerts, types)
        flagged = flags.select("customer_id").unique()
        after_onset = (
            flags.join(mine, on="customer_id")
            .filter(pl.col("onset_date").is_null() | (pl.col("opened") >= pl.col("onset_date")))
            .select("customer_id")
            .unique()
        )
        true = flagged.join(mine.select("customer_id"), on="customer_id")
        entry: dict[str, Any] = {
            "warning_types": list(types),
            "customers": mine.height,
            "caught": after_onset.height,
            "recall": _share(after_onset.height, mine.height),
            "flagged_customers": flagged.height,
            "precision": _share(true.height, flagged.height),
            "median_lead_days": None,
        }
        if behaviour in outcome_dates:
            dates = outcome_dates[behaviour].join(mine.select("customer_id"), on="customer_id")
            leads = (
                flags.join(dates, on="customer_id")
                .filter(pl.col("opened") <= pl.col("outcome_date"))
                .group_by("customer_id")
                .agg((pl.col("outcome_date").first() - pl.col("opened").min()).dt.total_days())
            )
            entry["outcomes"] = dates.height
            entry["median_lead_days"] = _median(leads["outcome_date"]) if leads.height else None
        out["behaviours"][behaviour] = entry
    for decoy, resembles in decoys.items():
        mine = labels.filter(pl.col("behaviour") == decoy).select("customer_id")
        types = behaviour_types.get(resembles, ())
        hit = (
            _first_flags(alerts, types).select("customer_id").unique().join(mine, on="customer_id")
        )
        out["decoys"][decoy] = {
            "resembles": resembles,
            "customers": mine.height,
            "flagged": hit.height,
            "flagged_share": _share(hit.height, mine.height),
        }
    return out


def summary(
    hits: pl.DataFrame,
    alerts: pl.DataFrame,
    days: Sequence[dt.date],
    live: pl.DataFrame,
) -> dict[str, Any]:
    """Per warning type: hits per replay date, alerts raised, customers flagged; and the share
    of live customers with an open alert on the last date. ``live``: day, customers (how many
    customers were live on each date)."""
    per_day = hits.group_by("day", "warning_type").agg(pl.col("customer_id").n_unique().alias("n"))
    types: dict[str, Any] = {}
    for code in CODES:
        mine = alerts.filter(pl.col("warning_type") == code)
        counts = dict(per_day.filter(pl.col("warning_type") == code).select("day", "n").iter_rows())
        types[code] = {
            "name_en": BY_CODE[code].en,
            "name_zh": BY_CODE[code].zh,
            "outcome": BY_CODE[code].outcome,
            "alerts": mine.height,
            "customers_flagged": mine["customer_id"].n_unique(),
            "hits_per_period": [counts.get(d, 0) for d in days],
        }
    last = days[-1]
    open_last = alerts.filter(pl.col("cleared").is_null() & (pl.col("opened") <= last))
    live_last = int(live.filter(pl.col("day") == last)["customers"].sum()) if live.height else 0
    return {
        "types": types,
        "open_at_end": {
            "customers": open_last["customer_id"].n_unique(),
            "alerts": open_last.height,
            "live_customers": live_last,
            "share": _share(open_last["customer_id"].n_unique(), live_last),
        },
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _median(values: pl.Series) -> float | None:
    if values.len() == 0:
        return None
    return float(values.cast(pl.Float64).median())  # type: ignore[arg-type]
