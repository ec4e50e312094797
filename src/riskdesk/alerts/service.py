"""Alerts and cases: raising de-duplicated alerts from what the early-warning engine found,
routing them to an owner with an SLA, filing them in the customer's case, escalating them,
comments, and moving them to an outcome that measures warning quality.

Alerts stand on the floor above monitoring: ``evaluate`` asks ``monitoring_service`` to find
rule hits and raises them; ``raise_alerts`` raises any ``Findings`` (rules, anomaly detectors),
``raise_product_alerts`` what the complaint desk found. Monitoring only finds and never imports
alerts; an alert names its rule by code. Inside the package imports run one way (see
``riskdesk.alerts``): the service starts playbooks and sends notifications; playbooks never
import the service."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.alerts import notify, playbooks, priority
from riskdesk.alerts import repository as repo
from riskdesk.alerts.visibility import check_visible, sees_product_alerts
from riskdesk.audit import trail
from riskdesk.config import get_settings
from riskdesk.customers import service as customer_service
from riskdesk.kit import metrics, signals
from riskdesk.kit.errors import Conflict, NotFound, ValidationFailed
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import Alert, AlertCase, AlertComment, AlertRoute, AlertSla
from riskdesk.models.customers import customer_code
from riskdesk.monitoring import service as monitoring_service
from riskdesk.monitoring.rules import fires_frame
from riskdesk.monitoring.service import Findings, Hits
from riskdesk.security import repository as users_repo
from riskdesk.security.permissions import Permission, permissions_for
from riskdesk.security.service import Principal, principal_for

CLOSED = repo.CLOSED
SEVERITIES = ("low", "medium", "high", "critical")
TRANSITIONS = {
    "open": {"acknowledged", "in_progress", "resolved", "dismissed"},
    "acknowledged": {"in_progress", "resolved", "dismissed"},
    "in_progress": {"resolved", "dismissed"},
}


# Hours to act by severity, as shipped (migration 0043 seeds the stored policy with them, and
# they stand in for a severity whose row is missing); a breach escalates one level. The hours
# in force are read with ``sla_hours``.
DEFAULT_SLA_HOURS = {"critical": 4, "high": 24, "medium": 72, "low": 168}
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def install_default_playbooks(session: Session) -> int:
    """Add the shipped playbooks that are missing; how many."""
    return playbooks.install_defaults(session)


def install_default_pack(session: Session) -> int:
    """Add the shipped playbooks and early-warning rules that are missing (rules active at
    once); how many rules were added."""
    install_default_playbooks(session)
    return monitoring_service.install_default_rules(session)


# ---------------------------------------------------------------- raising


@dataclass(frozen=True)
class EvaluationSummary:
    """What an evaluation did."""

    customers: int
    raised: int
    refreshed: int
    cleared: int = 0


def raise_alerts(
    session: Session, findings: Findings, *, as_of: dt.date | None = None
) -> EvaluationSummary:
    """Raise what an evaluation found: a new alert per hit, or a refresh of the open one of
    the same code within its de-duplication window. New alerts are observed on ``as_of``, the
    business date whose data was judged (default: today). A rule evaluation also clears the
    judged customers' alerts whose rule no longer fires (``clear_quiet``).

    Findings of a run over everyone came from a snapshot: only the hits that still hold in
    this writing transaction are raised (``monitoring_service.still_current``), and only
    customers unchanged since then are cleared (``monitoring_service.still_judged``)."""
    now = utcnow()
    observed_on = as_of or today()
    refreshed = 0
    current = monitoring_service.still_current(session, findings)
    existing = repo.open_alerts_of(
        session, sorted({cid for h in current for cid, _ in h.hits}), [h.code for h in current]
    )
    new: list[dict[str, Any]] = []
    for h in current:
        rows, f = _sort_hits(h, existing, now=now, observed_on=observed_on)
        new += rows
        refreshed += f
    # Every rule's new alerts at once: grading, routing, playbooks and priorities read the
    # same facts whichever rule fired, so one pass of each serves the whole batch.
    raised = raise_new(session, new, now)
    cleared = 0
    judged = monitoring_service.still_judged(session, findings)
    if judged is not None:
        fired = {h.code: {cid for cid, _ in h.hits} for h in current if h.source == "rule"}
        cleared = clear_quiet(session, judged, fired, now=now)
    session.flush()
    # What is at stake moved with the hits (new evidence, cleared alerts): the touched cases'
    # priorities follow. New alerts' cases were prioritised when raised.
    if judged is not None and judged.customer_ids is None:  # a run over everyone
        prioritise(session, repo.open_case_ids(session))
    else:
        touched = {cid for h in current for cid, _ in h.hits}
        if judged is not None and judged.customer_ids is not None:
            touched |= judged.customer_ids
        if touched:
            cases = repo.open_cases(session, sorted(touched))
            prioritise(session, [c.id for c in cases.values()])
    return EvaluationSummary(findings.customers, raised, refreshed, cleared)


def evaluate(
    session: Session,
    customer_ids: Sequence[int] | None,
    *,
    indicators: pl.DataFrame | None = None,
    as_of: dt.date | None = None,
) -> EvaluationSummary:
    """Run every active rule over customers (None: all), vectorised per rule; raise new
    alerts (observed on ``as_of``, default today), or refresh the open one of the same rule
    within its de-duplication window."""
    findings = monitoring_service.find_rule_hits(
        session, customer_ids, indicators=indicators, as_of=as_of
    )
    return raise_alerts(session, findings, as_of=as_of)


# Why Riskdesk resolved an alert itself (alerts.cleared_reason): stable codes the UI translates.
CLEARED_REASONS = ("invoice_paid", "condition_cleared", "rule_retired", "not_watched")
# Receivables names that only count what is overdue: 0 (or nothing) on all of them means
# everything due was paid. Open totals and what is not yet due say nothing about that.
OWED_PREFIXES = ("dpd_", "overdue_", "oldest_overdue_", "ar_")
NOT_OVERDUE = frozenset({"ar_current", "ar_open_total"})


def overdue_measure(name: str) -> bool:
    """Whether a name a rule reads measures overdue receivables (days past due, an overdue
    ageing bucket, the overdue share)."""
    return name.startswith(OWED_PREFIXES) and name not in NOT_OVERDUE


def clear_quiet(
    session: Session,
    judged: monitoring_service.Judged,
    fired: dict[str, set[int]],
    *,
    now: dt.datetime,
) -> int:
    """Resolve the judged customers' alerts whose condition no longer holds; how many.

    Every alert a rule raised that is not closed (open, acknowledged or in progress) clears
    itself when, for its customer: the customer no longer consents to behaviour monitoring
    (``not_watched``); the rule whose version raised it has no active version left
    (``rule_retired``); or the rule was judged on the customer and did not fire
    (``invoice_paid`` when the overdue measures the rule reads are all 0, else
    ``condition_cleared``). A replaced version is judged by its successor.

    Alerts people are working (acknowledged, in progress) clear too, without a comment: the
    warning is over whoever holds it, what they did stays on record (their steps, comments,
    the changes they asked for), and an alert left open on a condition that no longer holds
    would count as live work in every queue and measure, and would make the alerts left open
    depend on the order the data came in. The alert becomes "resolved" with no outcome
    (nobody judged the warning; ``live_effectiveness`` counts it as cleared), closed by
    Riskdesk's system user, with the reason in ``cleared_reason`` and the values that cleared
    it in its evidence under "cleared_with" (none for an unwatched customer, whose data is
    not read, nor for a retired rule). The steps it started that nobody carried out are
    cancelled (``playbooks.cancel_unfinished``), a case whose last open alert it was closes,
    webhooks hear ``alert.closed``, and the writes are in the transaction's audit entry like
    any move.

    Vectorised per rule: one read of the open alerts, one frame join per rule."""
    session.flush()  # the alerts this evaluation just refreshed, before reading them again
    found = repo.open_rule_alerts(
        session, sorted(judged.customer_ids) if judged.customer_ids is not None else None
    )
    if not found:
        return 0
    alerts = pl.DataFrame(
        found,
        schema={"alert_id": pl.Int64, "customer_id": pl.Int64, "rule_code": pl.String,
                "version_id": pl.Int64},
        orient="row",
    )  # fmt: skip
    reasons: dict[int, tuple[str, dict[str, Any] | None]] = {}
    unwatched = pl.col("customer_id").is_in(sorted(judged.unwatched))
    # Retired: raised by a version of a rule that has no active version now.
    retired = pl.col("version_id").is_not_null() & ~pl.col("rule_code").is_in(
        sorted(judged.active_codes)
    )
    for reason, which in (("not_watched", unwatched), ("rule_retired", retired & ~unwatched)):
        for alert_id in alerts.filter(which)["alert_id"].to_list():
            reasons[alert_id] = (reason, None)
    rest = alerts.filter(~unwatched & ~retired).drop("version_id")
    held = set(rest["rule_code"].to_list()) & set(judged.rules)  # the rules with open alerts
    for code in sorted(held):  # a loop over rules, not customers
        reads = judged.rules[code][1]
        quiet = (
            rest.filter(pl.col("rule_code") == code)
            .filter(~pl.col("customer_id").is_in(sorted(fired.get(code, set()))))
            .join(judged.values.select("customer_id", *reads), on="customer_id", how="inner")
        )
        clear = judged.clears.get(code)
        if clear is not None and quiet.height:  # hysteresis: quiet is not enough
            quiet = quiet.filter(fires_frame(clear, quiet))
        if quiet.height == 0:
            continue
        measures = [n for n in reads if overdue_measure(n)]
        paid = (
            pl.all_horizontal([pl.col(n).fill_null(0) == 0 for n in measures])
            if measures
            else pl.lit(False)
        )
        quiet = quiet.with_columns(
            pl.when(paid)
            .then(pl.lit("invoice_paid"))
            .otherwise(pl.lit("condition_cleared"))
            .alias("_reason"),
            *[pl.col(n).fill_nan(None) for n in reads if quiet.schema[n].is_float()],
        )
        for row in quiet.select("alert_id", "_reason", *reads).to_dicts():
            alert_id, reason = row.pop("alert_id"), row.pop("_reason")
            reasons[alert_id] = (reason, row)
    if not reasons:
        return 0
    system = playbooks.system_principal(session)
    closing = repo.lock_open_alerts(session, sorted(reasons))
    for alert in closing:  # the alerts that clear, written in one flush
        reason, values = reasons[alert.id]
        alert.status = "resolved"
        alert.outcome = None
        alert.cleared_reason = reason
        alert.closed_at = now
        alert.closed_by_id = system.user_id
        if values is not None:
            alert.evidence = {**alert.evidence, "cleared_with": values}
    session.flush()
    if not closing:
        return 0
    playbooks.cancel_unfinished(session, system, {a.id: reasons[a.id][0] for a in closing}, now)
    repo.close_cases_if_done(session, [a.case_id for a in closing if a.case_id is not None], now)
    notify.about_cleared(session, closing)
    return len(closing)


def raise_hits(
    session: Session,
    hits: list[tuple[int, dict[str, Any]]],
    *,
    source: str,
    code: str,
    category: str,
    warning_type: str,
    severity: str,
    titles: tuple[str, str],
    dedup_days: int,
    version_id: int | None,
    now: dt.datetime,
    observed_on: dt.date | None = None,
) -> tuple[int, int]:
    """Raise an alert per hit, or refresh the open one of the same code within the window;
    (raised, refreshed). New alerts are observed on ``observed_on`` (default: today); a
    refresh keeps the date its alert was raised on."""
    if not hits:
        return 0, 0
    found = Hits(
        source, code, category, warning_type, severity, titles, dedup_days, version_id, hits
    )
    existing = repo.open_alerts_of(session, [cid for cid, _ in hits], [code])
    new, refreshed = _sort_hits(found, existing, now=now, observed_on=observed_on or today())
    return raise_new(session, new, now), refreshed


def _sort_hits(
    h: Hits, existing: dict[tuple[int, str], Alert], *, now: dt.datetime, observed_on: dt.date
) -> tuple[list[dict[str, Any]], int]:
    """One rule's hits: the open alert of the code within its window is refreshed; the others
    become rows of new alerts (returned, with the number refreshed)."""
    window = dt.timedelta(days=h.dedup_days)
    new: list[dict[str, Any]] = []
    refreshed = 0
    for cid, evidence in h.hits:  # only the customers that were hit
        alert = existing.get((cid, h.code))
        if alert is not None and now - alert.last_hit_at <= window:
            alert.hits += 1
            alert.last_hit_at = now
            alert.evidence = evidence
            refreshed += 1
            continue
        new.append(
            {
                "customer_id": cid,
                "source": h.source,
                "rule_code": h.code,
                "rule_version_id": h.version_id,
                "category": h.category,
                "warning_type": h.warning_type,
                "severity": h.severity,
                "status": "open",
                "title_en": h.titles[0],
                "title_zh": h.titles[1],
                "evidence": evidence,
                "hits": 1,
                "observed_on": observed_on,
                "raised_at": now,
                "last_hit_at": now,
            }
        )
    return new, refreshed


def raise_new(session: Session, new: list[dict[str, Any]], now: dt.datetime) -> int:
    """Grade, route, file and insert new alerts, then start their playbooks, prioritise their
    cases and notify within the budget; how many were raised."""
    if not new:
        return 0
    _grade(session, new)
    _route_and_file(session, new, now)
    repo.insert_alerts(session, new)
    # Playbooks: offer the steps, run the automatic ones (logged) on the new alerts.
    raised = repo.alerts_raised_at(session, now, sorted({row["rule_code"] for row in new}))
    for row in new:
        labels = (row["warning_type"], row["severity"])
        metrics.count_on_commit(session, metrics.ALERTS_RAISED, labels, 1)
    playbooks.start(session, raised)
    priorities = prioritise(session, sorted({a.case_id for a in raised if a.case_id}))
    notify.about_alerts(session, within_budget(session, raised, priorities, now), "alert_assigned")
    return len(new)


# ---------------------------------------------------------------- the worklist


def prioritise(session: Session, case_ids: Sequence[int]) -> dict[int, float]:
    """Recompute what is at stake in some cases (``alerts.priority``) from their open alerts,
    the customers' counted exposure, the champion model's PD and the churn value at risk, and
    store it; case id -> priority. Each open alert's stake and precision are stored too, and
    an alert whose stake grew past its severity is raised to the new level, with that level's
    SLA from now where it is sooner (never lowered: people may be working to the old one)."""
    alerts = repo.open_case_alerts(session, case_ids)
    if alerts.height == 0:
        return {}
    staked = _staked(session, alerts)
    cases = priority.case_priorities(staked)
    repo.set_priorities(session, cases)
    graded = priority.severities(
        staked.with_columns(pl.col("cap").fill_null(pl.col("severity_was"))),
        get_settings().alert_severity_stakes,
    )
    now = utcnow()
    rank = pl.col("severity").replace_strict(SEVERITY_RANK, return_dtype=pl.Int32)
    was = pl.col("severity_was").replace_strict(SEVERITY_RANK, return_dtype=pl.Int32)
    rose = graded.with_columns(_rose=rank > was)
    changes = rose.filter(~pl.col("_rose")).select("id", "stake", "precision").to_dicts()
    risen = rose.filter(pl.col("_rose")).to_dicts()
    hours = sla_hours(session) if risen else {}
    for row in risen:  # the few whose stake outgrew them
        due = now + dt.timedelta(hours=hours[row["severity"]])
        changes.append(
            {
                "id": row["id"],
                "stake": row["stake"],
                "precision": row["precision"],
                "severity": row["severity"],
                "due_at": min(due, row["due_at"]) if row["due_at"] else due,
            }
        )
    repo.set_stakes(session, changes)
    return dict(zip(cases["case_id"].to_list(), cases["priority"].to_list(), strict=True))


def _staked(session: Session, alerts: pl.DataFrame) -> pl.DataFrame:
    """``alerts`` (customer_id, rule_code, warning_type, ...) with each one's ``precision``
    (live, else backtested, else the prior of its type), ``stake`` and its ``basis``."""
    customers = alerts["customer_id"].unique().to_list()
    live: dict[str, tuple[int, int]] = {}
    codes = alerts["rule_code"].unique().to_list()
    for code, _status, outcome, _reason, n in repo.outcome_counts(session, codes):
        confirmed, false = live.get(code, (0, 0))
        if outcome == "confirmed":
            confirmed += n
        elif outcome == "false_alarm":
            false += n
        live[code] = (confirmed, false)
    facts = (
        repo.counted_exposure(session, customers)
        .join(repo.champion_pd(session, customers), on="customer_id", how="full", coalesce=True)
        .join(
            monitoring_service.churn_stakes(session, customers),
            on="customer_id",
            how="full",
            coalesce=True,
        )
    )
    backtested = monitoring_service.backtested_precision(session)
    return priority.stakes(priority.precision_of(alerts, live, backtested), facts)


def _grade(session: Session, new: list[dict[str, Any]]) -> None:
    """Give new alerts their severity, stake and precision: the level what is at stake
    reaches, no higher than the signal's precision allows and the rule's severity (``cap``)."""
    frame = pl.DataFrame(
        {
            "_i": list(range(len(new))),
            "customer_id": [a["customer_id"] for a in new],
            "rule_code": [a["rule_code"] for a in new],
            "warning_type": [a["warning_type"] for a in new],
            "cap": [a["severity"] for a in new],
        },
        schema={
            "_i": pl.Int64,
            "customer_id": pl.Int64,
            "rule_code": pl.String,
            "warning_type": pl.String,
            "cap": pl.String,
        },
    )
    graded = priority.severities(
        _staked(session, frame), get_settings().alert_severity_stakes
    ).sort("_i")
    for alert, row in zip(new, graded.iter_rows(named=True), strict=True):
        alert["severity"] = row["severity"]
        alert["stake"] = row["stake"]
        alert["precision"] = row["precision"]


def within_budget(
    session: Session, alerts: Sequence[Alert], priorities: dict[int, float], now: dt.datetime
) -> list[Alert]:
    """The new alerts to notify: all without a budget; with one
    (``RISKDESK_ALERT_BUDGET_PER_WEEK``), per team of the assignee, as many as the team's week
    has left, the highest priority first. The others stay in the queue, marked not notified."""
    budget = get_settings().alert_budget_per_week
    if not budget:
        return list(alerts)
    week = dt.datetime.combine(
        now.date() - dt.timedelta(days=now.weekday()), dt.time(), tzinfo=dt.UTC
    )
    assignees = sorted({a.assigned_to_id for a in alerts if a.assigned_to_id is not None})
    teams = repo.team_keys(session, assignees)
    spent = repo.notified_this_week(session, week, assignees)
    # This run's own alerts are stored already (notified until told otherwise): not spent yet.
    for alert in alerts:
        if alert.assigned_to_id in teams:
            mine = teams[alert.assigned_to_id]
            spent[mine] = spent.get(mine, 0) - 1
    told: list[Alert] = []
    ranked = sorted(alerts, key=lambda a: -(priorities.get(a.case_id or 0) or 0.0))
    for alert in ranked:  # this run's new alerts, highest stake first
        key = teams.get(alert.assigned_to_id or 0)
        if key is None:
            told.append(alert)
            continue
        if spent.get(key, 0) < budget:
            spent[key] = spent.get(key, 0) + 1
            told.append(alert)
        else:
            alert.notified = False
    session.flush()
    return told


def _route_and_file(session: Session, new: list[dict[str, Any]], now: dt.datetime) -> None:
    """Give new alerts an owner (the first matching route), a due time, and a case."""
    routes = repo.routes(session)
    facts = repo.routing_facts(session, sorted({a["customer_id"] for a in new}))
    cases = repo.open_cases(session, sorted(facts))
    hours = sla_hours(session)
    for alert in new:  # the new alerts only, a handful per event batch
        cid = alert["customer_id"]
        owner, region, segment = facts.get(cid, (None, None, None))
        assignee = owner
        for route in routes:
            if route.category and route.category != alert["category"]:
                continue
            if (
                route.min_severity
                and SEVERITY_RANK[alert["severity"]] < SEVERITY_RANK[route.min_severity]
            ):
                continue
            if route.region and route.region != region:
                continue
            if route.segment and route.segment != segment:
                continue
            assignee = owner if route.assign_to_owner and owner else route.user_id
            break
        alert["assigned_to_id"] = assignee
        alert["due_at"] = now + dt.timedelta(hours=hours[alert["severity"]])
        alert["escalation_level"] = 0
        case = cases.get(cid)
        if case is None:
            case = AlertCase(customer_id=cid, status="open", opened_at=now)
            session.add(case)
            session.flush()
            cases[cid] = case
        alert["case_id"] = case.id


def raise_product_alerts(
    session: Session,
    hits: list[tuple[str, str, dict[str, Any]]],
    *,
    code: str,
    category: str,
    titles: tuple[str, str],
    dedup_days: int,
    now: dt.datetime,
    observed_on: dt.date | None = None,
) -> tuple[int, int]:
    """Raise a product-level alert per (product, severity, evidence), or refresh the open one
    within the window; (raised, refreshed). Titles are formats with {product}; new alerts are
    observed on ``observed_on`` (default: today)."""
    if not hits:
        return 0, 0
    observed_on = observed_on or today()
    existing = repo.open_product_alerts(session, code, [p for p, _, _ in hits])
    assignee = _product_assignee(session, category)
    hours = sla_hours(session)
    new: list[dict[str, Any]] = []
    refreshed = 0
    for product, severity, evidence in hits:  # the products that surged, a handful
        alert = existing.get(product)
        if alert is not None and now - alert.last_hit_at <= dt.timedelta(days=dedup_days):
            alert.hits += 1
            alert.last_hit_at = now
            alert.evidence = evidence
            if SEVERITY_RANK[severity] > SEVERITY_RANK[alert.severity]:
                alert.severity = severity
            refreshed += 1
            continue
        new.append(
            {
                "customer_id": None,
                "product": product,
                "source": "detector",
                "rule_code": code,
                "rule_version_id": None,
                "category": category,
                "warning_type": "complaint_wave",
                "severity": severity,
                "status": "open",
                "title_en": titles[0].format(product=product)[:255],
                "title_zh": titles[1].format(product=product)[:255],
                "evidence": evidence,
                "hits": 1,
                "observed_on": observed_on,
                "raised_at": now,
                "last_hit_at": now,
                "assigned_to_id": assignee,
                "due_at": now + dt.timedelta(hours=hours[severity]),
                "escalation_level": 0,
            }
        )
    if new:
        repo.insert_alerts(session, new)
        notify.about_alerts(session, repo.alerts_raised_at(session, now, [code]), "alert_assigned")
    session.flush()
    return len(new), refreshed


def _product_assignee(session: Session, category: str) -> int | None:
    """A product alert has no customer, so no owner: the first route for its category that
    names a user and no region or segment, else customer service, else a credit manager."""
    for route in repo.routes(session):
        if (
            route.category in (None, category)
            and route.user_id
            and not (route.region or route.segment)
        ):
            return route.user_id
    return repo.first_user_with_role(session, "customer_service") or repo.first_user_with_role(
        session, "credit_manager"
    )


def escalate_overdue(session: Session, *, now: dt.datetime | None = None) -> int:
    """Escalate every alert past its due time: one level up, to the route's escalation user
    or a credit manager, with a new due time; how many."""
    now = now or utcnow()
    overdue = repo.overdue_alerts(session, now)
    if not overdue:
        return 0
    fallback = repo.first_user_with_role(session, "credit_manager")
    routes = repo.routes(session)
    sla = sla_hours(session)
    for alert in overdue:
        target = next(
            (
                r.escalate_to_id
                for r in routes
                if r.escalate_to_id and r.category in (None, alert.category)
            ),
            fallback,
        )
        alert.escalation_level += 1
        alert.escalated_at = now
        if target is not None:
            alert.assigned_to_id = target
        # A breach at the next level comes sooner: half the time again, at least an hour.
        hours = max(sla[alert.severity] / (2**alert.escalation_level), 1)
        alert.due_at = now + dt.timedelta(hours=hours)
    session.flush()
    notify.about_alerts(session, overdue, "alert_escalated")
    return len(overdue)


# ---------------------------------------------------------------- working alerts


def list_alerts(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    severity: str | None = None,
    category: str | None = None,
    customer_id: int | None = None,
    observed_from: dt.date | None = None,
    observed_to: dt.date | None = None,
    warning_type: str | None = None,
    limit: int = 200,
    by_priority: bool = False,
    outcome: str | None = None,
    breached_at: dt.datetime | None = None,
    within: Any = None,
    codes: tuple[str, ...] = (),
    assigned_to: tuple[int, ...] = (),
) -> list[Alert]:
    """Alerts the caller may see, most recently hit first, or the most at stake first;
    ``breached_at``: those past their SLA then; ``within``: a SELECT of customer ids;
    ``codes``: of these rules; ``assigned_to``: assigned to one of these users."""
    return repo.list_alerts(
        session,
        codes=codes,
        assigned_to=assigned_to,
        outcome=outcome,
        breached_at=breached_at,
        within=within,
        by_priority=by_priority,
        status=status,
        severity=severity,
        category=category,
        warning_type=warning_type,
        customer_id=customer_id,
        observed_from=observed_from,
        observed_to=observed_to,
        owner_ids=customer_service.visible_owner_ids(principal),
        with_products=sees_product_alerts(principal),
        limit=limit,
    )


AlertFilter = repo.AlertFilter
EXPORT_BATCH = 1000


def assignees(principal: Principal, assigned: str | None) -> tuple[int, ...]:
    """Whose alerts ``assigned`` asks for: ``me``, my ``team`` (me and my team-mates), or
    anyone's (empty)."""
    if assigned == "me":
        return (principal.user_id,)
    if assigned == "team":
        return tuple(sorted({principal.user_id, *principal.team_member_ids}))
    return ()


def page_alerts(
    session: Session,
    principal: Principal,
    flt: AlertFilter,
    *,
    after: int | None = None,
    limit: int = 200,
) -> tuple[list[Alert], int | None]:
    """A page of the alerts the caller may see, newest first by id, after the alert with id
    ``after`` (None: from the newest); with the id to continue after, None on the last page."""
    # One row past the page tells whether another page follows without a count.
    found = repo.page_alerts(
        session,
        flt,
        owner_ids=customer_service.visible_owner_ids(principal),
        with_products=sees_product_alerts(principal),
        before_id=after,
        limit=limit + 1,
    )
    page = found[:limit]
    return page, (page[-1].id if len(found) > limit and page else None)


EXPORT_COLUMNS = (
    "id", "customer_id", "customer_code", "product", "source", "code", "category", "warning_type",
    "severity", "stake", "precision", "status", "outcome", "cleared_reason", "observed_on",
    "raised_at", "last_hit_at", "closed_at", "assignee", "assignee_id", "title_en", "title_zh",
    "hits",
)  # fmt: skip


def export_alerts(
    session: Session,
    factory: sessionmaker[Session],
    principal: Principal,
    flt: AlertFilter,
    fmt: str,
) -> Iterator[str]:
    """Every alert the caller may see that matches, newest first, as CSV (no evidence) or JSON
    lines (with evidence), in text chunks. The export is logged in ``session`` now; the rows
    are read as the chunks are taken, ``EXPORT_BATCH`` at a time, each batch in a short session
    of ``factory``, so neither the alerts nor a transaction are held for the whole download."""
    trail.viewed(
        session,
        object_type="alert",
        object_id="export",
        fields=[f"{k}={v}" for k, v in flt.said().items()] + [f"format={fmt}"],
        action="export",
    )
    return _export_chunks(
        factory,
        owner_ids=customer_service.visible_owner_ids(principal),
        with_products=sees_product_alerts(principal),
        flt=flt,
        fmt=fmt,
    )


def _export_batches(
    factory: sessionmaker[Session],
    *,
    owner_ids: tuple[int, ...] | None,
    with_products: bool,
    flt: AlertFilter,
    typed: bool = False,
) -> Iterator[list[dict[str, Any]]]:
    """The matching alerts as export rows (with their evidence), a batch at a time. Walking
    down by id, alerts raised during the download (higher ids) are never reached."""
    before: int | None = None
    while True:
        with factory() as session:
            batch = repo.page_alerts(
                session,
                flt,
                owner_ids=owner_ids,
                with_products=with_products,
                before_id=before,
                limit=EXPORT_BATCH,
            )
            names = repo.usernames(
                session, [a.assigned_to_id for a in batch if a.assigned_to_id is not None]
            )
            rows = [{**_export_row(a, names, typed), "evidence": a.evidence} for a in batch]
        if not batch:
            return
        yield rows
        if len(batch) < EXPORT_BATCH:
            return
        before = batch[-1].id


def export_typed_rows(
    factory: sessionmaker[Session], principal: Principal, flt: AlertFilter
) -> Iterator[dict[str, Any]]:
    """The matching alerts as typed rows (dates as dates, amounts as numbers) for a
    spreadsheet, newest first, read in batches as ``export_alerts`` reads them."""
    batches = _export_batches(
        factory,
        owner_ids=customer_service.visible_owner_ids(principal),
        with_products=sees_product_alerts(principal),
        flt=flt,
        typed=True,
    )
    for rows in batches:
        yield from rows


def count_alerts(session: Session, principal: Principal, flt: AlertFilter) -> int:
    """How many alerts the caller may see match the filter."""
    return repo.count_alerts(
        session,
        flt,
        owner_ids=customer_service.visible_owner_ids(principal),
        with_products=sees_product_alerts(principal),
    )


def _export_row(alert: Alert, names: dict[int, str], typed: bool = False) -> dict[str, Any]:
    def stamp(value: dt.datetime | None) -> Any:
        return value if typed or value is None else value.isoformat()

    return {
        "id": alert.id,
        "customer_id": alert.customer_id,
        "customer_code": customer_code(alert.customer_id) if alert.customer_id else None,
        "product": alert.product,
        "source": alert.source,
        "code": alert.rule_code,
        "category": alert.category,
        "warning_type": alert.warning_type,
        "severity": alert.severity,
        "stake": None if alert.stake is None else round(alert.stake, 2),
        "precision": None if alert.precision is None else round(alert.precision, 4),
        "status": alert.status,
        "outcome": alert.outcome,
        "cleared_reason": alert.cleared_reason,
        "observed_on": alert.observed_on if typed else alert.observed_on.isoformat(),
        "raised_at": stamp(alert.raised_at),
        "last_hit_at": stamp(alert.last_hit_at),
        "closed_at": stamp(alert.closed_at),
        "assignee": names.get(alert.assigned_to_id) if alert.assigned_to_id else None,
        "assignee_id": alert.assigned_to_id,
        "title_en": alert.title_en,
        "title_zh": alert.title_zh,
        "hits": alert.hits,
    }


def _export_chunks(
    factory: sessionmaker[Session],
    *,
    owner_ids: tuple[int, ...] | None,
    with_products: bool,
    flt: AlertFilter,
    fmt: str,
) -> Iterator[str]:
    batches = _export_batches(factory, owner_ids=owner_ids, with_products=with_products, flt=flt)
    if fmt == "jsonl":
        for rows in batches:
            yield "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    yield buffer.getvalue()
    for rows in batches:
        buffer.seek(0)
        buffer.truncate()
        for row in rows:
            writer.writerow([_cell(row[c]) for c in EXPORT_COLUMNS])
        yield buffer.getvalue()


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A cell starting like a formula would run in a spreadsheet (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def case_priorities(session: Session, case_ids: Sequence[int]) -> dict[int, tuple[Any, Any]]:
    """(priority, basis) of some cases (the caller has the alerts that name them)."""
    return repo.case_priorities(session, case_ids)


def worklist(
    session: Session, principal: Principal, *, limit: int = 50, offset: int = 0
) -> tuple[list[tuple[AlertCase, int, list[str]]], int]:
    """The open cases the caller may see, the most at stake first, and how many there are."""
    return repo.worklist(session, customer_service.visible_owner_ids(principal), limit, offset)


def count_cases(session: Session, principal: Principal) -> int:
    """How many open cases the caller may see."""
    return repo.count_worklist(session, customer_service.visible_owner_ids(principal))


def export_cases(session: Session, principal: Principal, *, chunk: int) -> Iterator[dict[str, Any]]:
    """The open cases' rows for a file, the most at stake first, streamed."""
    batches = repo.worklist_for_export(
        session, customer_service.visible_owner_ids(principal), chunk
    )
    for batch in batches:
        for (case, kind, company_name, person_name), n, kinds in batch:
            yield {
                "id": case.id,
                "customer_code": customer_code(case.customer_id),
                "customer_name": customer_service.shown_name(kind, company_name, person_name),
                "priority": case.priority,
                "priority_basis": case.priority_basis,
                "open_alerts": n,
                "warning_types": kinds,
                "opened_at": case.opened_at,
            }


def get_alert(session: Session, principal: Principal, alert_id: int) -> Alert:
    """One alert, if the caller may see it."""
    alert = repo.get_alert(session, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}", field="alert_id")
    check_visible(session, principal, alert)
    return alert


def move(
    session: Session,
    principal: Principal,
    alert_id: int,
    status: str,
    outcome: str | None = None,
) -> Alert:
    """Move an alert along open -> acknowledged -> in progress -> resolved or dismissed.
    Closing records the outcome: a confirmed risk or a false alarm."""
    alert = repo.get_alert(session, alert_id, lock=True)
    if alert is None:
        raise NotFound(f"no alert {alert_id}", field="alert_id")
    check_visible(session, principal, alert)
    if status == alert.status:
        return alert  # the same request again
    if status not in TRANSITIONS.get(alert.status, set()):
        raise Conflict(
            f"an alert that is {alert.status} cannot become {status}", code="wrong_state"
        )
    if status in ("resolved", "dismissed"):
        if outcome not in ("confirmed", "false_alarm"):
            raise ValidationFailed(
                "closing an alert needs the outcome: confirmed or false_alarm",
                field="outcome",
                code="missing",
            )
        alert.outcome = outcome
        alert.closed_at = utcnow()
        alert.closed_by_id = principal.user_id
    alert.status = status
    if alert.assigned_to_id is None:
        alert.assigned_to_id = principal.user_id
    session.flush()
    if status in ("resolved", "dismissed"):
        if alert.case_id is not None:
            repo.close_case_if_done(session, alert.case_id, alert.closed_at or utcnow())
        notify.about_closing(session, alert)
    return alert


# How the alert queue may be sorted: the most at stake, the most recently hit, the most
# recently raised, the most severe, the soonest due.
QUEUE_SORTS = ("priority", "recent", "raised", "severity", "due")


def queue(
    session: Session, principal: Principal, flt: AlertFilter, *, sort: str, page: PageParams
) -> tuple[list[Alert], int]:
    """A page of the alert queue (what the caller may see, narrowed by ``flt``, in ``sort``
    order) and how many alerts match in all."""
    if sort not in QUEUE_SORTS:
        raise ValidationFailed(f"unknown sort {sort!r}", field="sort")
    owner_ids = customer_service.visible_owner_ids(principal)
    with_products = sees_product_alerts(principal)
    total = repo.count_alerts(session, flt, owner_ids=owner_ids, with_products=with_products)
    rows = repo.queue_alerts(
        session,
        flt,
        owner_ids=owner_ids,
        with_products=with_products,
        sort=sort,
        offset=page.offset,
        limit=page.size,
    )
    return rows, total


def sla_state(
    alert: Alert,
    now: dt.datetime,
    *,
    soon: dt.timedelta | None = None,
    hours: Mapping[str, int] | None = None,
) -> str | None:
    """Where an alert stands against its SLA: ``breached`` (escalated, closed late, or open
    past due), ``due_soon`` (open, due within ``soon``, default a quarter of its severity's
    ``hours``: pass ``sla_hours``, read once for a page of alerts), ``on_time``; None when it
    has no due time."""
    if alert.due_at is None:
        return None
    if alert.escalation_level > 0:
        return "breached"
    if alert.closed_at is not None:
        return "breached" if alert.closed_at > alert.due_at else "on_time"
    if alert.due_at < now:
        return "breached"
    window = soon or dt.timedelta(hours=(hours or DEFAULT_SLA_HOURS).get(alert.severity, 24) / 4)
    return "due_soon" if alert.due_at - now <= window else "on_time"


def assignable_users(session: Session, principal: Principal) -> list[tuple[int, str, str]]:
    """(id, username, display name) of the users the caller may give alerts to: active users
    who work alerts; a caller limited to their own customers (sales, customer service) gives
    them only to themselves and their team-mates. Whether the colleague may see a given
    alert is checked when it is assigned."""
    mine = set(principal.visible_owner_ids) if principal.own_customers_only else None
    found = []
    for user in users_repo.list_users(session):  # the staff, a few dozen
        if not user.is_active or (mine is not None and user.id not in mine):
            continue
        if Permission.ALERTS_WORK in permissions_for(user.role):
            found.append((user.id, user.username, user.display_name or user.username))
    return sorted(found, key=lambda u: u[1])


def assign(session: Session, principal: Principal, alert_id: int, user_id: int) -> Alert:
    """Give an alert that is not closed to a colleague the caller may assign to (see
    ``assignable_users``) who may see it. Assigning it to whom it is assigned changes
    nothing."""
    alert = repo.get_alert(session, alert_id, lock=True)
    if alert is None:
        raise NotFound(f"no alert {alert_id}", field="alert_id")
    check_visible(session, principal, alert)
    if alert.assigned_to_id == user_id:
        return alert  # the same request again
    if alert.status in CLOSED:
        raise Conflict(f"an alert that is {alert.status} cannot be assigned", code="wrong_state")
    if user_id not in {u[0] for u in assignable_users(session, principal)}:
        raise ValidationFailed(f"you may not assign alerts to user {user_id}", field="assignee")
    user = users_repo.get_user(session, user_id)
    if user is None or not _may_see(session, user, alert):
        raise ValidationFailed(f"user {user_id} may not see alert {alert_id}", field="assignee")
    alert.assigned_to_id = user_id
    session.flush()
    notify.about_alerts(session, [alert], "alert_assigned")
    return alert


BULK_ACTIONS = ("acknowledge", "assign", "resolve", "dismiss")
BULK_MAX = 200


@dataclass(frozen=True)
class BulkResult:
    """What a bulk action did, alert by alert: ``done`` changed, ``unchanged`` were already
    so (a repeated request), ``refused`` (alert id, error code, field) were left as they
    were."""

    done: tuple[int, ...]
    unchanged: tuple[int, ...]
    refused: tuple[tuple[int, str], ...]


def bulk(
    session: Session,
    principal: Principal,
    alert_ids: Sequence[int],
    action: str,
    *,
    outcome: str | None = None,
    assignee_id: int | None = None,
) -> BulkResult:
    """Acknowledge, assign, resolve or dismiss several alerts, each through the same service
    function (and checks) as one: ``move`` or ``assign``. Each alert is its own savepoint:
    one that is refused (not visible, wrong state, an assignee who may not have it) is left
    exactly as it was and reported, the others are done; the result says which. Repeating
    the request finds them done and changes nothing."""
    if action not in BULK_ACTIONS:
        raise ValidationFailed(f"unknown action {action!r}", field="action")
    ids = sorted(set(alert_ids))  # sorted: concurrent bulk requests lock in the same order
    if not ids:
        raise ValidationFailed("select at least one alert", field="alert_ids", code="missing")
    if len(ids) > BULK_MAX:
        raise ValidationFailed(f"at most {BULK_MAX} alerts at once", field="alert_ids")
    if action in ("resolve", "dismiss") and outcome not in ("confirmed", "false_alarm"):
        # Refused as a whole before anything is touched: no alert can close without it.
        raise ValidationFailed(
            "closing an alert needs the outcome: confirmed or false_alarm",
            field="outcome",
            code="missing",
        )
    if action == "assign" and assignee_id is None:
        raise ValidationFailed("choose whom to assign to", field="assignee", code="missing")
    status = {"acknowledge": "acknowledged", "resolve": "resolved", "dismiss": "dismissed"}
    done: list[int] = []
    unchanged: list[int] = []
    refused: list[tuple[int, str]] = []
    for alert_id in ids:  # at most BULK_MAX, each locked and checked as one would be
        try:
            with session.begin_nested():
                before = repo.get_alert(session, alert_id, lock=True)
                was = (before.status, before.assigned_to_id) if before is not None else None
                if action == "assign":
                    assert assignee_id is not None
                    alert = assign(session, principal, alert_id, assignee_id)
                else:
                    alert = move(session, principal, alert_id, status[action], outcome)
        except (NotFound, Conflict, ValidationFailed) as exc:
            refused.append((alert_id, "not_found" if isinstance(exc, NotFound) else exc.code))
            continue
        if was == (alert.status, alert.assigned_to_id):
            unchanged.append(alert_id)
        else:
            done.append(alert_id)
    return BulkResult(tuple(done), tuple(unchanged), tuple(refused))


def outcome_counts(session: Session) -> list[Any]:
    """(rule code, status, outcome, cleared reason, count) over every alert: how warnings
    turned out."""
    return repo.outcome_counts(session)


def live_effectiveness(session: Session) -> list[dict[str, Any]]:
    """Per rule, from the alerts people closed: confirmed, false alarms, precision; and apart
    from those, the alerts that cleared themselves (``cleared``, and by reason), which nobody
    judged and so count neither as confirmed nor as false alarms."""
    out: dict[str, dict[str, Any]] = {}
    for code, status, outcome, reason, n in outcome_counts(session):
        entry = out.setdefault(
            code,
            {"rule_code": code, "alerts": 0, "open": 0, "confirmed": 0, "false_alarm": 0,
             "cleared": 0, "cleared_by_reason": {}},
        )  # fmt: skip
        entry["alerts"] += n
        if outcome in ("confirmed", "false_alarm"):
            entry[outcome] += n
        elif reason is not None:
            entry["cleared"] += n
            entry["cleared_by_reason"][reason] = entry["cleared_by_reason"].get(reason, 0) + n
        elif status not in CLOSED:
            entry["open"] += n
    for entry in out.values():
        closed = entry["confirmed"] + entry["false_alarm"]
        entry["precision"] = entry["confirmed"] / closed if closed else None
    return sorted(out.values(), key=lambda e: e["rule_code"])


_MENTION = re.compile(r"@([A-Za-z0-9_.\-]{1,64})")


def comment(session: Session, principal: Principal, alert_id: int, body: str) -> AlertComment:
    """Comment on an alert; @username mentions of real users are kept."""
    alert = get_alert(session, principal, alert_id)
    names = set(_MENTION.findall(body))
    mentioned = [
        u.id
        for n in sorted(names)  # the few names in one comment
        if (u := users_repo.get_user_by_username(session, n)) and _may_see(session, u, alert)
    ]
    entry = AlertComment(
        alert_id=alert.id, author_id=principal.user_id, body=body, mentions=mentioned
    )
    session.add(entry)
    session.flush()
    notify.about_mentions(session, alert, mentioned, principal.user.username)
    return entry


def _may_see(session: Session, user: Any, alert: Alert) -> bool:
    """Whether a mentioned colleague may see the alert: the mention (and its e-mail) must not
    show them a customer outside their view."""
    if not user.is_active:
        return False
    them = principal_for(session, user, via="mention")
    if not them.can(Permission.ALERTS_WORK) and not them.can(Permission.CUSTOMERS_READ):
        return False
    try:
        check_visible(session, them, alert)
    except NotFound:
        return False
    return True


def comments(session: Session, principal: Principal, alert_id: int) -> list[AlertComment]:
    """An alert's comments, oldest first."""
    alert = get_alert(session, principal, alert_id)
    return repo.comments_of(session, alert.id)


def cases_of_customer(
    session: Session, principal: Principal, customer_id: int
) -> list[tuple[AlertCase, int]]:
    """A customer's cases (newest first) with their alert counts, for whoever sees it."""
    customer_service.get_customer_or_raise(session, principal, customer_id)
    return [(case, int(n)) for case, n in repo.cases_of_customer(session, customer_id)]


def case_of(session: Session, principal: Principal, case_id: int) -> tuple[AlertCase, list[Alert]]:
    """A case and its alerts."""
    case = repo.get_case(session, case_id)
    missing = NotFound(f"no case {case_id}", field="case_id")
    if case is None:
        raise missing
    customer_service.ensure_visible(session, principal, case.customer_id, missing)
    return case, repo.alerts_of_case(session, case.id)


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened on a case."""

    at: dt.datetime
    kind: str  # raised, escalated, closed, action, action_done, comment
    alert_id: int
    user_id: int | None
    detail: dict[str, Any]


def case_timeline(
    session: Session, principal: Principal, case_id: int
) -> tuple[AlertCase, list[Alert], list[TimelineEntry], dict[int, list[Any]]]:
    """A case, its alerts, everything that happened on it in time order, and each alert's
    actions."""
    case, alerts = case_of(session, principal, case_id)
    entries: list[TimelineEntry] = []
    actions: dict[int, list[Any]] = {}
    for alert in alerts:  # the alerts of one case
        entries.append(TimelineEntry(alert.raised_at, "raised", alert.id, None, {}))
        if alert.escalated_at:
            entries.append(
                TimelineEntry(
                    alert.escalated_at,
                    "escalated",
                    alert.id,
                    alert.assigned_to_id,
                    {"level": alert.escalation_level},
                )
            )
        if alert.closed_at:
            entries.append(
                TimelineEntry(
                    alert.closed_at,
                    "closed",
                    alert.id,
                    alert.closed_by_id,
                    {
                        "status": alert.status,
                        "outcome": alert.outcome,
                        "cleared_reason": alert.cleared_reason,
                    },
                )
            )
        actions[alert.id] = playbooks.actions_of(session, principal, alert.id)
        for action in actions[alert.id]:
            entries.append(
                TimelineEntry(
                    action.created_at,
                    "action",
                    alert.id,
                    action.performed_by_id,
                    {"action": action.action, "status": action.status, "auto": action.auto},
                )
            )
            if action.completed_at and action.status == "done":
                entries.append(
                    TimelineEntry(
                        action.completed_at,
                        "action_done",
                        alert.id,
                        action.performed_by_id,
                        {"action": action.action},
                    )
                )
        for note in repo.comments_of(session, alert.id):
            entries.append(
                TimelineEntry(
                    note.created_at, "comment", alert.id, note.author_id, {"body": note.body}
                )
            )
    entries.sort(key=lambda e: (e.at, e.alert_id))
    return case, alerts, entries, actions


# ---------------------------------------------------------------- routing


def add_route(session: Session, body: Any) -> tuple[AlertRoute, bool]:
    """Add a routing rule (users by username); (the rule, added). The same rule again changes
    nothing."""

    def user_id(name: str | None, field: str) -> int | None:
        if name is None:
            return None
        user = users_repo.get_user_by_username(session, name)
        if user is None:
            raise NotFound(f"no user {name!r}", field=field)
        return user.id

    route = AlertRoute(
        position=body.position,
        category=body.category,
        min_severity=body.min_severity,
        region=body.region,
        segment=body.segment,
        assign_to_owner=body.assign_to_owner,
        user_id=user_id(body.username, "username"),
        escalate_to_id=user_id(body.escalate_to, "escalate_to"),
    )
    if not route.assign_to_owner and route.user_id is None:
        raise ValidationFailed("give username, or assign_to_owner", field="username")

    def key(r: AlertRoute) -> tuple[Any, ...]:
        return (
            r.position, r.category, r.min_severity, r.region, r.segment,
            bool(r.assign_to_owner), r.user_id, r.escalate_to_id,
        )  # fmt: skip

    for existing in repo.routes(session):
        if key(existing) == key(route):
            return existing, False
    session.add(route)
    session.flush()
    return route, True


def list_routes(session: Session) -> list[AlertRoute]:
    """The routing rules in the order they are tried."""
    return repo.routes(session)


def remove_route(session: Session, route_id: int) -> None:
    """Remove a routing rule."""
    route = session.get(AlertRoute, route_id)
    if route is None:
        raise NotFound(f"no route {route_id}", field="route_id")
    session.delete(route)
    session.flush()


# ---------------------------------------------------------------- SLAs


def sla_hours(session: Session) -> dict[str, int]:
    """The hours to act on a new alert, by severity, as stored now.

    Read from the database each time, not cached: it is four rows by key, read once per batch
    of new alerts (beside the routes, read the same way), per escalation sweep and per page
    of the queue; a cache shared by the API nodes and the workers would need a stamp to check,
    which costs the same read."""
    return DEFAULT_SLA_HOURS | {s.severity: s.hours for s in repo.slas(session)}


def list_slas(session: Session) -> list[AlertSla]:
    """The SLA of every severity, the most severe first (a missing row: the shipped hours)."""
    stored = {s.severity: s for s in repo.slas(session)}
    return [
        stored.get(s) or AlertSla(severity=s, hours=DEFAULT_SLA_HOURS[s], updated_at=None)
        for s in reversed(SEVERITIES)
    ]


def update_sla(session: Session, principal: Principal, severity: str, body: Any) -> AlertSla:
    """Set the hours to act on alerts of a severity raised from now on (alerts already raised
    keep their due time); the same hours again change nothing (not even who and when)."""
    if severity not in SEVERITIES:
        raise NotFound(f"no severity {severity!r}", field="severity")
    sla = repo.get_sla(session, severity)
    if sla is None:
        sla = AlertSla(severity=severity, hours=DEFAULT_SLA_HOURS[severity])
        session.add(sla)
    elif sla.hours == body.hours:
        return sla
    sla.hours = body.hours
    sla.updated_by_id = principal.user_id
    sla.updated_at = utcnow()
    session.flush()
    return sla


def _on_customers_merged(session: Session, survivor_id: int, duplicate_id: int, **_: Any) -> None:
    """Alerts and cases follow the duplicate's events to the survivor: the warnings were about
    the same debtor, and their owners keep working them there. (The survivor's rules run once
    the merge is done, in ``pipeline.merge``.)"""
    repo.move_alerts(session, from_id=duplicate_id, to_id=survivor_id, now=utcnow())


signals.subscribe(signals.CUSTOMERS_MERGED, _on_customers_merged)
