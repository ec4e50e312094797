"""Early-warning rules with four-eyes versions, evaluated per customer after events and over
everyone in batch, and the anomaly and churn detectors.

Monitoring only finds: what rules and detectors find comes back as ``Findings`` (hits per rule
or detector, plain data) and nothing here writes an alert. ``riskdesk.alerts``, a floor above,
raises them (``alert_service.evaluate`` and ``raise_alerts``): it imports monitoring, and
monitoring never imports alerts (docs/architecture.md, CONVENTIONS "Which way the arrows
run")."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from sqlalchemy.orm import Session

from riskdesk.config import get_settings
from riskdesk.customers import service as customer_service
from riskdesk.indicators import service as indicator_service
from riskdesk.kit.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from riskdesk.kit.timeutil import month_ends, today, utcnow
from riskdesk.models import ChurnFit, RuleVersion, WarningRule
from riskdesk.monitoring import churn, pack
from riskdesk.monitoring import repository as repo
from riskdesk.monitoring.detectors import ANOMALY_CODE, ANOMALY_TITLES, Z, far_table, ranking
from riskdesk.monitoring.rules import (
    VOCABULARY,
    Rule,
    RuleError,
    compile_rule,
    fires,
    fires_frame,
)
from riskdesk.monitoring.warning_types import type_of
from riskdesk.privacy import consent
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal, ensure_second_person

# Customers a backtest must have flagged for a warning type before its precision counts.
MIN_FLAGGED = 10


def checked(expression: str, *, field: str = "expression") -> Rule:
    """A rule's expression (or clear expression: ``field``), compiled; errors name the field
    and the column."""
    try:
        return _compiled(expression)
    except RuleError as exc:
        raise ValidationFailed(str(exc), field=field, code="invalid_rule") from exc


@lru_cache(maxsize=1024)
def _compiled(expression: str) -> Rule:
    # Every event evaluates the whole pack; parsing each rule again each time cost 0.4 ms.
    return compile_rule(expression)


# Up to this many customers, rules run row by row in plain Python (25 µs a customer for the
# pack) rather than as a Polars plan per rule (about 0.3 ms each, whatever the size); the
# property test in tests/monitoring/test_rules.py holds the two to the same answers.
ROW_BY_ROW = 32


# ---------------------------------------------------------------- rules


def shipped_specs() -> list[dict[str, Any]]:
    """The default pack as shipped with this release (``default_rules.yaml``)."""
    return list(
        yaml.safe_load((Path(__file__).parent / "default_rules.yaml").read_text(encoding="utf-8"))
    )


def install_default_rules(session: Session) -> int:
    """Add the shipped rules that are missing (active at once); how many. (The shipped
    playbooks come with ``alert_service.install_default_pack``.)"""
    added = 0
    now = utcnow()
    for spec in shipped_specs():
        if repo.rule_by_code(session, spec["code"]) is not None:
            continue
        checked(spec["expression"])
        if spec.get("clear_expression"):
            checked(spec["clear_expression"], field="clear_expression")
        rule = WarningRule(
            code=spec["code"],
            name_en=spec["name_en"],
            name_zh=spec["name_zh"],
            category=spec["category"],
            warning_type=spec.get("warning_type") or type_of(spec["code"], spec["category"]),
        )
        session.add(rule)
        session.flush()
        session.add(
            RuleVersion(
                rule_id=rule.id,
                version=1,
                status="active",
                expression=spec["expression"],
                clear_expression=spec.get("clear_expression"),
                severity=spec["severity"],
                scope=spec.get("scope", {}),
                dedup_days=spec["dedup_days"],
                actions=spec.get("actions", []),
                note="default pack",
                created_at=now,
                activated_at=now,
            )
        )
        added += 1
    session.flush()
    return added


# What a version of a shipped rule is compared on when the shipped pack changes.
SHIPPED_FIELDS = ("expression", "clear_expression", "severity", "scope", "dedup_days")


def draft_shipped_changes(
    session: Session, principal: Principal
) -> tuple[list[tuple[str, RuleVersion]], list[str]]:
    """For an install whose rules came from an older default pack: a draft version of each
    shipped rule whose active version differs from the pack as shipped now, for a person to
    replay and approve (four eyes, like any change); the same again drafts nothing. Returns
    the drafts made and the codes skipped because a draft or approved version of theirs is
    waiting for a decision. Missing shipped rules are ``install_default_rules``'s."""
    active = {rule.code: version for rule, version in repo.active_versions(session)}
    drafted: list[tuple[str, RuleVersion]] = []
    waiting: list[str] = []
    for spec in shipped_specs():
        current = active.get(spec["code"])
        if current is None:  # missing, or retired on purpose: not this function's call
            continue
        wanted = {
            "expression": spec["expression"],
            "clear_expression": spec.get("clear_expression"),
            "severity": spec["severity"],
            "scope": spec.get("scope") or {},
            "dedup_days": spec["dedup_days"],
        }
        if all(getattr(current, f) == wanted[f] for f in SHIPPED_FIELDS):
            continue
        try:
            version, created = add_version(
                session,
                principal,
                spec["code"],
                {**wanted, "actions": list(current.actions), "note": "default pack update"},
            )
        except Conflict:
            waiting.append(spec["code"])
            continue
        if created:
            drafted.append((spec["code"], version))
    return drafted, waiting


def get_rule(session: Session, code: str) -> WarningRule | None:
    """A rule by its code, or None."""
    return repo.rule_by_code(session, code)


def list_rules(session: Session) -> list[tuple[WarningRule, list[RuleVersion]]]:
    """Every rule with its versions."""
    return [(r, repo.versions_of(session, r.id)) for r in repo.rules(session)]


def _rule_or_raise(session: Session, code: str) -> WarningRule:
    rule = repo.rule_by_code(session, code)
    if rule is None:
        raise NotFound(f"no rule {code!r}", field="code")
    return rule


def create_rule(
    session: Session, principal: Principal, spec: dict[str, Any]
) -> tuple[WarningRule, RuleVersion, bool]:
    """A new rule with a first draft version; the same again changes nothing."""
    checked(spec["expression"])
    if spec.get("clear_expression"):
        checked(spec["clear_expression"], field="clear_expression")
    existing = repo.rule_by_code(session, spec["code"])
    if existing is not None:
        versions = repo.versions_of(session, existing.id)
        if len(versions) == 1 and versions[0].expression == spec["expression"]:
            return existing, versions[0], False
        raise Conflict(
            f"rule {spec['code']!r} exists; add a version to change it",
            field="code",
            code="already_exists",
        )
    rule = WarningRule(
        code=spec["code"],
        name_en=spec["name_en"],
        name_zh=spec["name_zh"],
        category=spec["category"],
        warning_type=spec.get("warning_type") or type_of(spec["code"], spec["category"]),
    )
    session.add(rule)
    session.flush()
    return rule, _draft(session, principal, rule, spec), True


def _draft(
    session: Session, principal: Principal, rule: WarningRule, spec: dict[str, Any]
) -> RuleVersion:
    version = RuleVersion(
        rule_id=rule.id,
        version=repo.next_version(session, rule.id),
        status="draft",
        expression=spec["expression"],
        clear_expression=spec.get("clear_expression"),
        severity=spec["severity"],
        scope=spec.get("scope") or {},
        dedup_days=spec["dedup_days"],
        actions=spec.get("actions") or [],
        note=spec.get("note"),
        created_by_id=principal.user_id,
        created_at=utcnow(),
    )
    session.add(version)
    session.flush()
    return version


def add_version(
    session: Session, principal: Principal, code: str, spec: dict[str, Any]
) -> tuple[RuleVersion, bool]:
    """A new draft of a rule; the same draft again changes nothing."""
    checked(spec["expression"])
    if spec.get("clear_expression"):
        checked(spec["clear_expression"], field="clear_expression")
    rule = _rule_or_raise(session, code)
    for v in repo.versions_of(session, rule.id):
        if v.status in ("draft", "approved"):
            same = (v.expression, v.clear_expression, v.severity)
            if same == (spec["expression"], spec.get("clear_expression"), spec["severity"]):
                return v, False
            raise Conflict(
                f"version {v.version} of {code} is {v.status}; decide it first",
                field="code",
                code="draft_open",
            )
    return _draft(session, principal, rule, spec), True


def save_draft(session: Session, principal: Principal, spec: dict[str, Any]) -> RuleVersion:
    """A draft of a new rule, or a new draft version of an existing one (by code)."""
    if repo.rule_by_code(session, spec["code"]) is None:
        return create_rule(session, principal, spec)[1]
    return add_version(session, principal, spec["code"], spec)[0]


def get_version_or_raise(session: Session, version_id: int) -> RuleVersion:
    """A rule version, or NotFound naming ``version_id``."""
    version = repo.get_version(session, version_id)
    if version is None:
        raise NotFound(f"no rule version {version_id}", field="version_id")
    return version


def _version_or_raise(session: Session, version_id: int, status: str) -> RuleVersion:
    version = repo.get_version(session, version_id, lock=True)
    if version is None:
        raise NotFound(f"no rule version {version_id}", field="version_id")
    if version.status != status:
        raise Conflict(
            f"version {version_id} is {version.status}, not {status}", code="wrong_state"
        )
    return version


def approve(session: Session, principal: Principal, version_id: int) -> RuleVersion:
    """A second person approves a draft (it is not active until activated)."""
    if not principal.can(Permission.CHANGES_APPROVE):
        raise PermissionDenied("approving rules needs 'changes:approve'")
    version = _version_or_raise(session, version_id, "draft")
    ensure_second_person(principal, version.created_by_id, "nobody approves their own rule")
    checked(version.expression)
    version.status = "approved"
    version.approved_by_id = principal.user_id
    version.approved_at = utcnow()
    session.flush()
    return version


def activate(session: Session, principal: Principal, version_id: int) -> RuleVersion:
    """Put an approved version live; the version it replaces retires."""
    version = _version_or_raise(session, version_id, "approved")
    now = utcnow()
    for other in repo.versions_of(session, version.rule_id):
        if other.status == "active":
            other.status = "retired"
            other.retired_at = now
    version.status = "active"
    version.activated_at = now
    session.flush()
    return version


def retire(session: Session, principal: Principal, version_id: int) -> RuleVersion:
    """Stop an active version (the rule then checks nothing until another is activated)."""
    version = _version_or_raise(session, version_id, "active")
    version.status = "retired"
    version.retired_at = utcnow()
    session.flush()
    return version


def reject(session: Session, principal: Principal, version_id: int) -> RuleVersion:
    """Reject (or withdraw) a draft or an approved version that never went live."""
    version = repo.get_version(session, version_id, lock=True)
    if version is None:
        raise NotFound(f"no rule version {version_id}", field="version_id")
    if version.status not in ("draft", "approved"):
        raise Conflict(f"version {version_id} is {version.status}", code="wrong_state")
    version.status = "rejected"
    session.flush()
    return version


# ---------------------------------------------------------------- evaluation


def rule_values(
    session: Session,
    customer_ids: Sequence[int] | None,
    indicators: pl.DataFrame | None = None,
    *,
    as_of: dt.date | None = None,
) -> pl.DataFrame:
    """Every name a rule may read, one row per live customer, as of a business date (default
    today). Indicators are the stored ones unless given; as of another date than today they
    are computed as of it (against the stored population for given customers)."""
    from riskdesk.indicators import repository as indicator_repo
    from riskdesk.indicators.compute import compute
    from riskdesk.scoring.service import factor_frame

    day = as_of or today()
    if indicators is None and day != today():
        reference = indicator_service.population(session) if customer_ids is not None else None
        frames = indicator_repo.load_frames(
            session, list(customer_ids) if customer_ids is not None else None
        )
        indicators = compute(frames, day, reference=reference)
    frame = factor_frame(session, customer_ids, day, {"indicator"}, indicators)
    frame = frame.select(
        "customer_id",
        *[
            pl.col(c).alias(c.split(".", 1)[1])
            for c in frame.columns
            if c.startswith(("indicator.", "attribute.")) and c.split(".", 1)[1] in VOCABULARY
        ],
    )
    grace = get_settings().overdue_grace_days
    if grace:  # warnings wait for late payment feeds (RISKDESK_OVERDUE_GRACE_DAYS)
        late = indicator_service.receivables_after_grace(
            session, customer_ids, as_of=day, grace_days=grace
        )
        frame = frame.drop([c for c in late.columns[1:] if c in frame.columns]).join(
            late, on="customer_id", how="left"
        )
    values = (
        frame.join(repo.profile_values(session, customer_ids), on="customer_id", how="left")
        .join(
            pack.score_moves(repo.score_history(session, customer_ids), day),
            on="customer_id",
            how="left",
        )
        .join(
            pack.bureau_moves(repo.bureau_history(session, customer_ids), day),
            on="customer_id",
            how="left",
        )
    )
    fit = repo.latest_churn_fit(session)
    model = churn.BgNbd(fit.r, fit.alpha, fit.a, fit.b) if fit is not None else None
    order_value = (
        values.select("customer_id", "avg_order_value_365d")
        if "avg_order_value_365d" in values.columns
        else None
    )
    churned = pack.churn_values_of(
        churn.summary_of(repo.purchase_counts(session, day, customer_ids), day)
        if model is not None
        else None,
        model,
        order_value,
    )
    return values.join(churned, on="customer_id", how="left")


@dataclass(frozen=True)
class Hits:
    """What one rule or detector found: computed, no alert raised yet."""

    source: str
    code: str
    category: str
    warning_type: str
    severity: str
    titles: tuple[str, str]
    dedup_days: int
    version_id: int | None
    hits: list[tuple[int, dict[str, Any]]]  # (customer id, evidence)


@dataclass(frozen=True)
class Judged:
    """Whom a rule evaluation judged, on what, by which rules: what lets an alert whose rule
    no longer fires for its customer clear itself (``alert_service`` does that)."""

    customer_ids: frozenset[int] | None  # asked for; None: everyone
    values: pl.DataFrame  # customer_id and the names the rules read, per watched customer
    rules: dict[str, tuple[int, tuple[str, ...]]]  # code -> (version judged, names it reads)
    active_codes: frozenset[str]  # rules with an active version; the others are retired
    unwatched: frozenset[int]  # judged customers without behaviour-monitoring consent
    # code -> the version's clear expression, for rules whose alerts clear only once it holds
    clears: dict[str, Rule] = field(default_factory=dict)


@dataclass(frozen=True)
class Findings:
    """What an evaluation over many customers found, to raise in a short write."""

    customers: int
    hits: list[Hits]
    purpose: str  # the consent it needs, re-checked when raising
    marks: pl.DataFrame | None = None  # the customers' state when read (run over everyone)
    judged: Judged | None = None  # rule evaluations: whom and by what (None: detectors)


def find_rule_hits(
    session: Session,
    customer_ids: Sequence[int] | None,
    *,
    indicators: pl.DataFrame | None = None,
    as_of: dt.date | None = None,
) -> Findings:
    """Run every active rule over customers (None: all) as of a business date (default today),
    vectorised per rule: reads and computes only."""
    from riskdesk.scoring import service as scoring_service

    marks = scoring_service.freshness(session) if customer_ids is None else None
    active = repo.active_versions(session)
    asked = frozenset(customer_ids) if customer_ids is not None else None
    if not active or (customer_ids is not None and not customer_ids):
        nobody = pl.DataFrame(schema={"customer_id": pl.Int64})
        judged = Judged(asked, nobody, {}, frozenset(), frozenset())
        return Findings(0, [], "behaviour_monitoring", marks, judged)
    values = rule_values(session, customer_ids, indicators, as_of=as_of)
    # Individuals who have not consented to behaviour monitoring are not watched.
    unwatched = consent.without_consent(session, "behaviour_monitoring", customer_ids)
    if unwatched:
        values = values.filter(~pl.col("customer_id").is_in(sorted(unwatched)))
    found = []
    rules: dict[str, tuple[int, tuple[str, ...]]] = {}
    clears: dict[str, Rule] = {}
    for rule, version in active:  # a loop over rules, not customers
        compiled = checked(version.expression)
        judged_reads = set(compiled.reads)
        if version.clear_expression:
            clears[rule.code] = checked(version.clear_expression, field="clear_expression")
            judged_reads |= clears[rule.code].reads
        rules[rule.code] = (version.id, tuple(sorted(judged_reads)))
        mine = values.filter(pack.in_scope(version.scope))
        if mine.height <= ROW_BY_ROW:  # the customers of one event batch
            reads = sorted(compiled.reads)
            evidence = [
                {"customer_id": row["customer_id"], **{n: row.get(n) for n in reads}}
                for row in mine.to_dicts()
                if fires(compiled, row)
            ]
        else:
            hits = mine.filter(fires_frame(rule=compiled, frame=mine))
            evidence = hits.select("customer_id", *sorted(compiled.reads)).to_dicts()
        if evidence:
            found.append(
                Hits(
                    source="rule",
                    code=rule.code,
                    category=rule.category,
                    warning_type=rule.warning_type,
                    severity=version.severity,
                    titles=(rule.name_en, rule.name_zh),
                    dedup_days=version.dedup_days,
                    version_id=version.id,
                    hits=[(row.pop("customer_id"), row) for row in evidence],
                )
            )
    names = sorted({n for _, reads in rules.values() for n in reads})
    read = values.select(
        "customer_id", *[n if n in values.columns else pl.lit(None).alias(n) for n in names]
    )
    judged = Judged(asked, read, rules, frozenset(rules), frozenset(unwatched), clears)
    return Findings(values.height, found, "behaviour_monitoring", marks, judged)


def still_judged(session: Session, findings: Findings) -> Judged | None:
    """What a rule evaluation judged, narrowed like ``still_current`` to what still holds in
    the writing transaction: for a run over everyone, only customers unchanged since the
    snapshot (live, consenting) keep their values, only versions still active their verdict;
    consent and the active rules are read again."""
    judged = findings.judged
    if judged is None or findings.marks is None:
        return judged
    from riskdesk.scoring import service as scoring_service

    _, live = scoring_service.unchanged_since(session, findings.marks)
    unwatched = consent.without_consent(session, findings.purpose, None)
    active = {rule.code: version.id for rule, version in repo.active_versions(session)}
    return Judged(
        judged.customer_ids,  # None for the whole run; a part's customers (``parts``)
        judged.values.filter(pl.col("customer_id").is_in(sorted(live - unwatched))),
        {c: r for c, r in judged.rules.items() if active.get(c) == r[0]},
        frozenset(active),
        frozenset(unwatched),
        {c: r for c, r in judged.clears.items() if active.get(c) == judged.rules[c][0]},
    )


def parts(findings: Findings, size: int) -> list[Findings]:
    """A run's findings cut into parts of about ``size`` customers each, to raise in short
    transactions one after another: each part's hits, its customers' state when read and,
    for a rule evaluation, what it judged of them (so a part clears only its own customers'
    quiet alerts). The judged customers are the ones read (``marks``), else those hit.

    Open alerts of customers the run did not read (created or merged into since) are left to
    their own events' evaluations, which a run over everyone in one transaction would have
    cleared were their rule retired or their consent withdrawn."""
    if findings.marks is not None:
        ids = findings.marks["customer_id"].unique().sort().to_list()
    else:
        ids = sorted({cid for h in findings.hits for cid, _ in h.hits})
    if len(ids) <= size:
        return [findings]
    bounds = [ids[start] for start in range(0, len(ids), size)]
    chunks = [ids[start : start + size] for start in range(0, len(ids), size)]
    # Each hit goes to its part by the first customer id of each part (a search, not a scan
    # of every hit per part).
    grouped: list[list[list[tuple[int, dict[str, Any]]]]] = [
        [[] for _ in findings.hits] for _ in chunks
    ]
    for n, h in enumerate(findings.hits):
        for cid, evidence in h.hits:
            grouped[max(bisect.bisect_right(bounds, cid) - 1, 0)][n].append((cid, evidence))
    found = []
    for chunk, hits in zip(chunks, grouped, strict=True):
        keep = pl.col("customer_id").is_in(chunk)
        judged = findings.judged
        if judged is not None:
            judged = replace(
                judged,
                customer_ids=frozenset(chunk),
                values=judged.values.filter(keep),
                unwatched=judged.unwatched & frozenset(chunk),
            )
        found.append(
            Findings(
                len(chunk),
                [replace(h, hits=part) for h, part in zip(findings.hits, hits, strict=True)],
                findings.purpose,
                findings.marks.filter(keep) if findings.marks is not None else None,
                judged,
            )
        )
    return found


def still_current(session: Session, findings: Findings) -> list[Hits]:
    """The hits of an evaluation that still hold, read in the writing transaction.

    Findings of a run over everyone were computed from a snapshot; this re-checks what may
    have changed since: hits on customers whose indicators were refreshed meanwhile (their own
    events evaluated them on newer values), merged away, or no longer consenting are dropped,
    and so are the hits of a rule version no longer active. Findings for given customers (no
    snapshot) are current as they are."""
    from riskdesk.scoring import service as scoring_service

    found = findings.hits
    if findings.marks is None or not found:
        return found
    _, live = scoring_service.unchanged_since(session, findings.marks)
    keep = live - consent.without_consent(session, findings.purpose, None)
    active = {v.id for _, v in repo.active_versions(session)}
    return [
        replace(h, hits=[(cid, e) for cid, e in h.hits if cid in keep])
        for h in found
        if h.version_id is None or h.version_id in active
    ]


# ---------------------------------------------------------------- detectors


def find_anomalies(
    session: Session,
    *,
    months: int = 6,
    z_threshold: float = Z,
    as_of: dt.date | None = None,
    top: int = 20,
) -> tuple[Findings, list[dict[str, Any]]]:
    """The anomaly detectors over everyone as of a date (reads and computes only): the
    customers with an indicator far above both their own history and their peers (to raise),
    and the ``top`` most unusual customers overall by the multivariate detector, with their
    drivers (a ranking for an analyst; it raises nothing)."""
    from riskdesk.indicators import repository as indicator_repo
    from riskdesk.indicators.compute import compute
    from riskdesk.monitoring import anomaly
    from riskdesk.scoring import service as scoring_service

    marks = scoring_service.freshness(session)
    day = as_of or today()
    frames = indicator_repo.load_frames(session)
    current = compute(frames, day).join(
        frames.customers.select("customer_id", "segment"), on="customer_id", how="left"
    )
    if current.height == 0:
        return Findings(0, [], "behaviour_monitoring", marks), []
    past = [compute(frames, end) for end in month_ends(day, months)]  # a loop over months
    table = far_table(current, past, z_threshold)
    unwatched = consent.without_consent(session, "behaviour_monitoring", None)
    if unwatched:  # measured with everyone (peers), raised and ranked only where consented
        table = table.filter(~pl.col("customer_id").is_in(sorted(unwatched)))
        current = current.filter(~pl.col("customer_id").is_in(sorted(unwatched)))
    single = [
        (row["customer_id"], anomaly.evidence(row, row["far"]))
        for row in table.filter(pl.col("far").list.len() > 0).to_dicts()
    ]
    hits = Hits(
        "detector", ANOMALY_CODE, "other", "anomaly", "low", ANOMALY_TITLES, 30, None, single
    )
    return Findings(table.height, [hits], "behaviour_monitoring", marks), ranking(current, top)


# ---------------------------------------------------------------- churn risk

CHURN_HORIZON_WEEKS = 13.0  # the next quarter


def compute_churn_fit(session: Session, *, as_of: dt.date | None = None) -> ChurnFit:
    """Fit BG/NBD on every customer's purchase days up to a date (reads and computes; the
    fit is returned unsaved)."""
    as_of = as_of or today()
    summary = churn.summarise(
        repo.purchase_days(session, as_of), as_of, customer="customer_id", day="day"
    )
    if summary.height < 5:
        raise ValidationFailed(
            f"{summary.height} customers have purchases; BG/NBD needs at least 5", field="as_of"
        )
    model = churn.fit(*(summary[c].to_numpy() for c in ("x", "t_x", "T")))
    return ChurnFit(
        as_of=as_of, r=model.r, alpha=model.alpha, a=model.a, b=model.b, customers=summary.height
    )


def store_churn_fit(session: Session, fit: ChurnFit) -> ChurnFit:
    """Keep a fit's parameters (the latest one is what credit files read)."""
    session.add(fit)
    session.flush()
    return fit


def fit_churn(session: Session, *, as_of: dt.date | None = None) -> ChurnFit:
    """Fit BG/NBD on every customer's purchase days up to a date and keep the parameters."""
    return store_churn_fit(session, compute_churn_fit(session, as_of=as_of))


def churn_risk(
    session: Session, customer_ids: Sequence[int] | None, *, as_of: dt.date | None = None
) -> pl.DataFrame:
    """Each customer's churn risk: the BG/NBD probability of having dropped out, raised by the
    decline signals (fewer orders and contacts than their own norm, falling satisfaction).

    risk = 1 - p_alive * (1 - decline / 2), decline the mean of the signals available (0-1).
    Columns: customer_id, p_alive, expected_purchases (next 13 weeks), decline, risk, band.
    Empty when no model is fitted."""
    fit = repo.latest_churn_fit(session)
    if fit is None:
        return pl.DataFrame()
    as_of = as_of or today()
    model = churn.BgNbd(fit.r, fit.alpha, fit.a, fit.b)
    summary = churn.summarise(
        repo.purchase_days(session, as_of, customer_ids), as_of, customer="customer_id", day="day"
    ).rename({"customer": "customer_id"})
    x, t_x, big_t = (summary[c].to_numpy() for c in ("x", "t_x", "T"))
    from riskdesk.scoring.service import factor_frame

    # Only the three decline indicators are needed, not everything a rule may read.
    values = factor_frame(session, customer_ids, as_of, {"indicator"}).rename(
        lambda c: c.removeprefix("indicator.")
    )
    signals = {
        "order_frequency_trend": (1 - pl.col("order_frequency_trend")).clip(0, 1),
        "interaction_trend": (1 - pl.col("interaction_trend")).clip(0, 1),
        # Slope of satisfaction (0-100 scale) per 30 days: -20 a month counts as full decline.
        "satisfaction_trend": (-pl.col("satisfaction_trend") / 20).clip(0, 1),
    }
    present = [expr for name, expr in signals.items() if name in values.columns]
    decline = values.select(
        "customer_id",
        (pl.mean_horizontal(*present) if present else pl.lit(None, pl.Float64)).alias("decline"),
    )
    return (
        summary.select(
            "customer_id",
            pl.Series("p_alive", model.p_alive(x, t_x, big_t)),
            pl.Series("expected_purchases", model.expected(x, t_x, big_t, CHURN_HORIZON_WEEKS)),
        )
        .join(decline, on="customer_id", how="left")
        .with_columns(pl.col("decline").fill_null(0.0))
        .with_columns((1 - pl.col("p_alive") * (1 - pl.col("decline") / 2)).alias("risk"))
        .with_columns(
            pl.when(pl.col("risk") >= 0.6)
            .then(pl.lit("high"))
            .when(pl.col("risk") >= 0.3)
            .then(pl.lit("medium"))
            .otherwise(pl.lit("low"))
            .alias("band")
        )
    )


def churn_risk_of(
    session: Session, principal: Principal, customer_id: int
) -> tuple[ChurnFit | None, dict[str, Any]]:
    """One customer's churn risk (empty before a fit or a first purchase), and the fit."""
    customer = customer_service.get_customer_or_raise(session, principal, customer_id)
    if consent.without_consent(session, "behaviour_monitoring", [customer.id]):
        return repo.latest_churn_fit(session), {}  # not watched: no churn risk is derived
    frame = churn_risk(session, [customer_id])
    return repo.latest_churn_fit(session), frame.row(0, named=True) if frame.height else {}


def backtested_precision(session: Session) -> dict[str, float]:
    """Each warning type's precision in the newest backtest of the active pack, for the types
    it flagged enough customers of to count; empty before any backtest."""
    latest = repo.latest_backtest(session)
    out: dict[str, float] = {}
    for kind, figures in (latest.precisions if latest is not None else {}).items():
        value, flagged = figures.get("precision"), figures.get("flagged_customers")
        if isinstance(value, int | float) and isinstance(flagged, int) and flagged >= MIN_FLAGGED:
            out[kind] = float(value)
    return out


def churn_stakes(session: Session, customer_ids: Sequence[int]) -> pl.DataFrame:
    """customer_id, value_at_risk: a quarter's expected purchases at the average order value,
    times the probability the customer is gone (BG/NBD, the latest fit), as of today; empty
    before a fit."""
    from riskdesk.scoring import repository as scoring_repo

    fit = repo.latest_churn_fit(session)
    if fit is None or not customer_ids:
        return pl.DataFrame(schema={"customer_id": pl.Int64, "value_at_risk": pl.Float64})
    day = today()
    stored = scoring_repo.indicator_values(session, customer_ids, ("avg_order_value_365d",))
    order_value = stored.select(
        "customer_id", pl.col("indicator.avg_order_value_365d").alias("avg_order_value_365d")
    )
    values = pack.churn_values_of(
        churn.summary_of(repo.purchase_counts(session, day, customer_ids), day),
        churn.BgNbd(fit.r, fit.alpha, fit.a, fit.b),
        order_value,
    )
    return values.select("customer_id", value_at_risk="churn_value_at_stake")
