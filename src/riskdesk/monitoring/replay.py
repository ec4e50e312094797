"""Warning replays: the whole warning pack run over the stored history as of past business
dates, into a result of its own (never the live queue), and judged per warning type.

Everything is read once (events, scores, bureau reports, purchase days); each replay date then
computes the indicators as of that date, derives what else rules read as of it (churn
probability from a BG/NBD fit on purchases up to it, score and bureau moves, utilisation of
the open receivables), runs the rules and the detectors, and keeps the hits. A loop over
dates, each one vectorised over the customers.

Credit limits and payment terms are put back as they were on each date from the change log,
and risk tiers from the scores stored by then. What a replay cannot know of the past:
utilisation counts open receivables only (not orders not yet invoiced), so rules reading it
are approximated.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl
from sqlalchemy.orm import Session

from riskdesk.indicators import repository as indicator_repo
from riskdesk.indicators.compute import EventFrames, compute
from riskdesk.kit.errors import NotFound, ValidationFailed
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import WarningBacktest
from riskdesk.monitoring import backtest, churn, measure, pack
from riskdesk.monitoring import repository as repo
from riskdesk.monitoring.detectors import anomaly_hits
from riskdesk.monitoring.warning_types import (
    BEHAVIOUR_TYPES,
    CHURN_GAP_DAYS,
    DECOY_RESEMBLES,
    DEFAULT_DPD,
)
from riskdesk.privacy import consent
from riskdesk.scoring import repository as scoring_repo

Every = Literal["week", "month"]
MAX_DATES = 160  # three years of weeks


@dataclass(frozen=True)
class History:
    """Everything a replay reads, loaded once."""

    frames: EventFrames
    attributes: pl.DataFrame  # customer_id, kind, segment, region, industry
    profiles: pl.DataFrame  # customer_id, risk_tier, credit_limit, payment_terms_days (now)
    profile_changes: pl.DataFrame  # customer_id, field, changed_on, old_value
    scores: pl.DataFrame  # score_history
    bureau: pl.DataFrame  # bureau_history
    purchase_days: pl.DataFrame  # customer_id, day
    unwatched: frozenset[int]


def load_history(session: Session, end: dt.date, *, frames: bool = True) -> History:
    """Read what a replay up to ``end`` needs (``frames=False``: all but the event frames,
    which a batch replay reads from a frames directory or a lake)."""
    return History(
        frames=indicator_repo.load_frames(session) if frames else EventFrames.empty(),
        attributes=scoring_repo.plain_attributes(session, None, end),
        profiles=repo.static_profiles(session),
        profile_changes=repo.profile_changes(session),
        scores=repo.score_history(session, None),
        bureau=repo.bureau_history(session, None),
        purchase_days=repo.purchase_days(session, end),
        unwatched=frozenset(consent.without_consent(session, "behaviour_monitoring", None)),
    )


def replay_dates(start: dt.date, end: dt.date, every: Every) -> list[dt.date]:
    """The business dates of a replay: each week's Sunday or each month's last day from
    ``start`` to ``end`` (``end`` itself the last one)."""
    if start > end:
        raise ValidationFailed("the replay starts after it ends", field="from")
    days: list[dt.date] = []
    if every == "week":
        day = start + dt.timedelta(days=(6 - start.weekday()) % 7)
        while day < end:
            days.append(day)
            day += dt.timedelta(days=7)
    else:
        day = start
        while True:
            first_next = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
            month_end = first_next - dt.timedelta(days=1)
            if month_end >= end:
                break
            days.append(month_end)
            day = first_next
    days.append(end)
    if len(days) > MAX_DATES:
        raise ValidationFailed(
            f"{len(days)} replay dates; at most {MAX_DATES} (replay monthly, or a shorter span)",
            field="every",
        )
    return days


class _Fits:
    """BG/NBD refitted on purchases up to each quarter's start, as a live system refits on a
    schedule (a fit per replay date would cost seconds each and change little)."""

    def __init__(self, days: pl.DataFrame) -> None:
        self.days = days
        self.cache: dict[dt.date, churn.BgNbd | None] = {}

    def at(self, day: dt.date) -> churn.BgNbd | None:
        quarter = quarter_of(day)
        if quarter not in self.cache:
            summary = churn.summarise(self.days, quarter, customer="customer_id", day="day")
            self.cache[quarter] = fit_of(summary)
        return self.cache[quarter]


def quarter_of(day: dt.date) -> dt.date:
    """The first day of ``day``'s quarter: the purchases up to it are what the churn model
    used on ``day`` was fitted on."""
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def fit_of(summary: pl.DataFrame) -> churn.BgNbd | None:
    """BG/NBD fitted on ``churn.summarise``'s summary (sorted by customer: the fit depends on
    the order of its terms), or None with fewer than five buying customers."""
    try:
        return churn.fit(*(summary[c].to_numpy() for c in ("x", "t_x", "T")))
    except ValueError:
        return None


class _Indicators:
    """Indicators as of a date, each date computed once (the anomaly detector reads months
    back, which other replay dates reuse)."""

    def __init__(self, frames: EventFrames) -> None:
        self.frames = frames
        self.cache: dict[dt.date, pl.DataFrame] = {}

    def at(self, day: dt.date) -> pl.DataFrame:
        if day not in self.cache:
            self.cache[day] = compute(self.frames, day)
        return self.cache[day]


def values_as_of(
    history: History, day: dt.date, indicators: pl.DataFrame, fit: churn.BgNbd | None
) -> pl.DataFrame:
    """Every name a rule may read, as of ``day``, for the customers who had bought by then."""
    values = (
        indicators.filter(pl.col("tenure_days").is_not_null())
        .join(history.attributes, on="customer_id", how="left")
        .join(
            pack.profiles_as_of(history.profiles, history.profile_changes, history.scores, day),
            on="customer_id",
            how="left",
        )
        .with_columns(
            utilisation=pl.when(pl.col("credit_limit") > 0).then(
                pl.col("ar_open_total") / pl.col("credit_limit")
            )
        )
    )
    latest = (
        history.scores.filter(pl.col("as_of") <= day)
        .sort("customer_id", "as_of", "seq")
        .group_by("customer_id")
        .last()
        .select("customer_id", "score")
    )
    values = (
        values.join(latest, on="customer_id", how="left")
        .join(pack.score_moves(history.scores, day), on="customer_id", how="left")
        .join(pack.bureau_moves(history.bureau, day), on="customer_id", how="left")
        .join(
            pack.churn_values(
                history.purchase_days,
                fit,
                day,
                indicators.select("customer_id", "avg_order_value_365d"),
            ),
            on="customer_id",
            how="left",
        )
    )
    if history.unwatched:
        values = values.filter(~pl.col("customer_id").is_in(sorted(history.unwatched)))
    return values


def replay(
    history: History,
    packs: Mapping[str, Sequence[pack.PackRule]],
    days: Sequence[dt.date],
    *,
    detectors: bool = True,
    indicators_at: Callable[[dt.date], pl.DataFrame] | None = None,
    fit_at: Callable[[dt.date], churn.BgNbd | None] | None = None,
    on_date: Callable[[dt.date, pl.DataFrame, pl.DataFrame], None] | None = None,
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Hits (day, customer_id, code, warning_type) of each pack on every replay date, and how
    many customers were live on each (day, customers). A rule with a clear expression counts
    as hitting on the dates its alert would be held open (``measure.held_open``). The packs
    share the values, computed once per date, so comparing two costs little more than
    replaying one.

    A batch engine replays a bucket of customers: ``indicators_at`` (the indicators as of a
    date, ranked against the whole population) and ``fit_at`` (the churn model used on a
    date, fitted on everyone) then stand in for computing both from ``history`` alone, and
    ``on_date(day, values, hits)`` sees each date's values and rule hits (detectors need
    the whole population and past month ends: a batch runs without them)."""
    fits = _Fits(history.purchase_days)
    computed = _Indicators(history.frames)
    indicators_of = indicators_at or computed.at
    fit_of_day = fit_at or fits.at
    found: dict[str, list[pl.DataFrame]] = {name: [] for name in packs}
    cleared: dict[str, list[pl.DataFrame]] = {name: [] for name in packs}
    live: list[tuple[dt.date, int]] = []
    for day in days:  # a loop over dates; each date is vectorised over the customers
        current = indicators_of(day)
        values = values_as_of(history, day, current, fit_of_day(day))
        live.append((day, values.height))
        detected = None
        if detectors:
            past = [computed.at(end) for end in _month_ends_before(day, 6)]
            detected = anomaly_hits(values, past).select("customer_id", "code", "warning_type")
        for name, rules in packs.items():  # a pack or two
            hits = pack.rule_hits(values, rules)
            if on_date is not None:
                on_date(day, values, hits)
            if detected is not None:
                hits = pl.concat([hits, detected])
            found[name].append(hits.with_columns(day=pl.lit(day)))
            cleared[name].append(pack.rule_clears(values, rules).with_columns(day=pl.lit(day)))
    out = {
        name: measure.held_open(
            pl.concat(frames).select(list(measure.HITS_SCHEMA))
            if frames
            else pl.DataFrame(schema=measure.HITS_SCHEMA),
            pl.concat(cleared[name]),
            days,
            [r.code for r in packs[name] if r.clear is not None],
        )
        for name, frames in found.items()
    }
    return out, pl.DataFrame(live, schema={"day": pl.Date, "customers": pl.Int64}, orient="row")


def _month_ends_before(day: dt.date, months: int) -> list[dt.date]:
    """The last ``months`` month ends strictly before ``day``'s month."""
    ends = []
    cursor = day.replace(day=1) - dt.timedelta(days=1)
    for _ in range(months):
        ends.append(cursor)
        cursor = cursor.replace(day=1) - dt.timedelta(days=1)
    return ends


def read_labels(path: Path, session: Session) -> pl.DataFrame:
    """Labels from a CSV file: customer (an id, or source:external_id), behaviour,
    onset_date (optional)."""
    from riskdesk.customers import repository as customer_repo

    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"customer", "behaviour"} <= set(rows[0]):
        raise ValidationFailed("labels need the columns customer and behaviour", field="labels")

    def ref(key: str) -> tuple[str, str]:
        source, _, external = key.strip().partition(":")
        return source, external

    refs = {ref(r["customer"]) for r in rows if ":" in r["customer"]}
    ids = customer_repo.customer_ids_by_ref(session, refs) if refs else {}
    out = []
    for n, r in enumerate(rows, start=2):  # a label file's rows, to read them
        key = r["customer"].strip()
        cid = ids.get(ref(key)) if ":" in key else int(key) if key.isdigit() else None
        if cid is None:
            continue  # a customer this database does not hold
        onset = (r.get("onset_date") or "").strip()
        try:
            day = dt.date.fromisoformat(onset) if onset else None
        except ValueError:
            raise ValidationFailed(
                f"row {n}: onset_date {onset!r} is no date", field="labels"
            ) from None
        out.append((cid, r["behaviour"].strip(), day))
    return pl.DataFrame(
        out,
        schema={"customer_id": pl.Int64, "behaviour": pl.String, "onset_date": pl.Date},
        orient="row",
    )


def run(
    session: Session,
    *,
    start: dt.date,
    end: dt.date,
    every: Every = "month",
    rules: Sequence[pack.PackRule] | None = None,
    labels: pl.DataFrame | None = None,
    horizon_days: int = 180,
    detectors: bool = True,
) -> dict[str, Any]:
    """Replay the pack (the active one unless ``rules``) from ``start`` to ``end`` and judge it:
    per warning type, hits per period, alerts, customers flagged, and precision, recall and
    lead time against recorded outcomes (defaults: 90+ days past due; churn: a 180-day gap;
    confirmed alerts), and per behaviour against ``labels`` when given."""
    days = replay_dates(start, end, every)
    history = load_history(session, end)
    pack_rules = list(rules) if rules is not None else active_pack(session)
    hits, live = replay(history, {"pack": pack_rules}, days, detectors=detectors)
    outcomes = _outcomes(session, history, end, horizon_days)
    return _judged(hits["pack"], live, days, outcomes, pack_rules, labels, every)


def record(
    session: Session, report: Mapping[str, Any], *, created_by_id: int | None
) -> WarningBacktest:
    """Keep what a replay of the active pack measured: each warning type's precision against
    its outcome, which from now on grades the severity of new alerts of that type (until
    people have closed enough of a rule's own alerts to measure it live)."""
    backtest_row = WarningBacktest(
        measured_at=utcnow(),
        date_from=dt.date.fromisoformat(report["from"]),
        date_to=dt.date.fromisoformat(report["to"]),
        every=report["every"],
        precisions={
            code: {
                "precision": entry.get("precision"),
                "flagged_customers": entry["customers_flagged"],
            }
            for code, entry in report["types"].items()
        },
        open_share=report["open_at_end"]["share"],
        rules=list(report["rules"]),
        created_by_id=created_by_id,
    )
    repo.add_backtest(session, backtest_row)
    return backtest_row


def compare(
    session: Session,
    version_id: int,
    *,
    start: dt.date,
    end: dt.date,
    every: Every = "month",
    horizon_days: int = 180,
) -> dict[str, Any]:
    """The active pack and the pack as it would be with a rule version (a draft, usually)
    in place of its rule's active one, replayed side by side over the same dates: what
    approving the version would change. Rules only: the detectors are the same either way."""
    from riskdesk.monitoring.service import checked

    version = repo.get_version(session, version_id)
    if version is None:
        raise NotFound(f"no rule version {version_id}", field="version_id")
    rule = next(r for r in repo.rules(session) if r.id == version.rule_id)
    current = active_pack(session)
    candidate = [r for r in current if r.code != rule.code] + [
        pack.PackRule(
            rule.code,
            rule.warning_type,
            checked(version.expression),
            version.scope or {},
            version.id,
            checked(version.clear_expression) if version.clear_expression else None,
        )
    ]
    days = replay_dates(start, end, every)
    history = load_history(session, end)
    hits, live = replay(
        history, {"current": current, "candidate": candidate}, days, detectors=False
    )
    outcomes = _outcomes(session, history, end, horizon_days)
    return {
        "rule": rule.code,
        "warning_type": rule.warning_type,
        "version": version.version,
        "version_id": version.id,
        "current": _judged(hits["current"], live, days, outcomes, current, None, every),
        "candidate": _judged(hits["candidate"], live, days, outcomes, candidate, None, every),
    }


@dataclass(frozen=True)
class _Outcomes:
    """What happened: defaults, churns and confirmed alerts, judged on everything stored up
    to the end of the replay plus the horizon (``end``)."""

    defaults: pl.DataFrame
    churns: pl.DataFrame
    confirmed: pl.DataFrame
    end: dt.date
    horizon_days: int


def _outcomes(session: Session, history: History, end: dt.date, horizon: int) -> _Outcomes:
    judge = min(end + dt.timedelta(days=horizon), _last_event_day(history, end))
    return _Outcomes(
        defaults=backtest.default_dates(history.frames, judge, DEFAULT_DPD),
        churns=backtest.churn_dates(history.frames, judge, CHURN_GAP_DAYS),
        confirmed=repo.confirmed_alerts(session),
        end=judge,
        horizon_days=horizon,
    )


def _judged(
    hits: pl.DataFrame,
    live: pl.DataFrame,
    days: Sequence[dt.date],
    outcomes: _Outcomes,
    rules: Sequence[pack.PackRule],
    labels: pl.DataFrame | None,
    every: str,
) -> dict[str, Any]:
    alerts = measure.episodes(hits, days)
    report = measure.summary(hits, alerts, days, live)
    for code, entry in report["types"].items():
        kind = entry["outcome"]
        if kind in ("default", "churn"):
            entry.update(
                measure.by_outcome(
                    alerts,
                    outcomes.defaults if kind == "default" else outcomes.churns,
                    [code],
                    start=days[0],
                    end=outcomes.end,
                    horizon_days=outcomes.horizon_days,
                )
            )
        else:
            entry.update(measure.by_confirmation(alerts, outcomes.confirmed, [code]))
    if labels is not None:
        report["labels"] = measure.by_labels(
            alerts,
            labels,
            BEHAVIOUR_TYPES,
            DECOY_RESEMBLES,
            {"deteriorating": outcomes.defaults, "churner": outcomes.churns},
            end=days[-1],
        )
    report.update(
        {
            "from": days[0].isoformat(),
            "to": days[-1].isoformat(),
            "every": every,
            "dates": [d.isoformat() for d in days],
            "horizon_days": outcomes.horizon_days,
            "rules": sorted(r.code for r in rules),
        }
    )
    return report


def _last_event_day(history: History, end: dt.date) -> dt.date:
    """The last day the record knows of (an order or a payment): outcomes are judged up to it,
    never on days nobody has seen yet (an invoice's due date can lie ahead)."""
    days = [history.frames.orders["day"].max(), history.frames.payments["day"].max()]
    known = [d for d in days if isinstance(d, dt.date)]
    return max([end, *known])


def active_pack(session: Session) -> list[pack.PackRule]:
    """The active rules as a replay evaluates them."""
    from riskdesk.monitoring.service import checked

    return [
        pack.PackRule(
            rule.code,
            rule.warning_type,
            checked(v.expression),
            v.scope or {},
            v.id,
            checked(v.clear_expression) if v.clear_expression else None,
        )
        for rule, v in repo.active_versions(session)
    ]


def active_severities(session: Session) -> dict[str, str]:
    """The severity of each active rule's version, by rule code."""
    return {rule.code: v.severity for rule, v in repo.active_versions(session)}


def shipped_pack() -> list[pack.PackRule]:
    """The default pack as shipped (default_rules.yaml), as a replay evaluates it."""
    from riskdesk.monitoring.service import checked, shipped_specs
    from riskdesk.monitoring.warning_types import type_of

    return [
        pack.PackRule(
            s["code"],
            s.get("warning_type") or type_of(s["code"], s["category"]),
            checked(s["expression"]),
            s.get("scope") or {},
            clear=checked(s["clear_expression"]) if s.get("clear_expression") else None,
        )
        for s in shipped_specs()
    ]
