"""Scorecards with four-eyes versioning, and scoring customers in batch or a few at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from riskdesk.customers import service as customer_service
from riskdesk.kit import signals
from riskdesk.kit.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import CustomerScore, Scorecard, ScorecardVersion, ScoringRun
from riskdesk.privacy import consent
from riskdesk.scoring import ratios, registry, steps
from riskdesk.scoring import repository as repo
from riskdesk.scoring.definition import TIERS, Definition
from riskdesk.scoring.engine import score_frame

# Re-exported: other domains read the factor frame through this service.
from riskdesk.scoring.factors import factor_frame as factor_frame
from riskdesk.scoring.schemas import ScorecardCreate, VersionCreate
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal, ensure_second_person, ensure_still_allowed

# ---------------------------------------------------------------- scorecards and versions


def list_scorecards(session: Session) -> list[tuple[Scorecard, list[ScorecardVersion]]]:
    """Every scorecard with its versions."""
    return [(s, repo.versions(session, s.id)) for s in repo.scorecards(session)]


def get_scorecard(session: Session, code: str) -> tuple[Scorecard, list[ScorecardVersion]]:
    """One scorecard with its versions."""
    card = repo.scorecard_by_code(session, code)
    if card is None:
        raise NotFound(f"no scorecard {code!r}", field="code")
    return card, repo.versions(session, card.id)


def _definition_json(definition: Definition) -> dict[str, Any]:
    return definition.model_dump(mode="json", exclude_none=True)


def create_scorecard(
    session: Session, principal: Principal, body: ScorecardCreate
) -> tuple[Scorecard, ScorecardVersion, bool]:
    """A new scorecard with a first draft; (scorecard, draft, created). The same again: no-op."""
    existing = repo.scorecard_by_code(session, body.code)
    definition = _definition_json(body.definition)
    if existing is not None:
        versions = repo.versions(session, existing.id)
        same = (
            existing.name == body.name
            and existing.customer_kind == body.customer_kind
            and existing.segments == body.segments
            and existing.priority == body.priority
            and len(versions) == 1
            and versions[0].definition == definition
        )
        if same:
            return existing, versions[0], False
        raise Conflict(
            f"scorecard {body.code!r} exists; add a version to change it",
            field="code",
            code="already_exists",
        )
    card = Scorecard(
        code=body.code,
        name=body.name,
        customer_kind=body.customer_kind,
        segments=body.segments,
        priority=body.priority,
        created_by_id=principal.user_id,
    )
    session.add(card)
    session.flush()
    draft = _new_draft(session, principal, card, definition, body.note)
    return card, draft, True


def _new_draft(
    session: Session,
    principal: Principal,
    card: Scorecard,
    definition: dict[str, Any],
    note: str | None,
) -> ScorecardVersion:
    now = utcnow()
    draft = ScorecardVersion(
        scorecard_id=card.id,
        version=repo.next_version_number(session, card.id),
        status="draft",
        definition=definition,
        note=note,
        created_by_id=principal.user_id,
        created_at=now,
        updated_by_id=principal.user_id,
        updated_at=now,
    )
    session.add(draft)
    session.flush()
    return draft


def add_version(
    session: Session, principal: Principal, code: str, body: VersionCreate
) -> tuple[ScorecardVersion, bool]:
    """A new draft version; (draft, created). One draft at a time: edit the open one."""
    card, versions = get_scorecard(session, code)
    definition = _definition_json(body.definition)
    for v in versions:
        if v.status == "draft":
            if v.definition == definition:
                return v, False
            raise Conflict(
                f"version {v.version} of {code} is still a draft; edit or reject it first",
                field="code",
                code="draft_open",
            )
    return _new_draft(session, principal, card, definition, body.note), True


def _draft_or_raise(session: Session, version_id: int) -> ScorecardVersion:
    version = repo.get_version(session, version_id, lock=True)
    if version is None:
        raise NotFound(f"no scorecard version {version_id}", field="version_id")
    if version.status != "draft":
        raise Conflict(
            f"version {version_id} is {version.status}, no longer a draft", code="not_a_draft"
        )
    return version


def edit_draft(
    session: Session,
    principal: Principal,
    version_id: int,
    body: VersionCreate,
    *,
    seen: str | None = None,
) -> ScorecardVersion:
    """Change a draft; the editor becomes one more person who may not approve it. With
    ``seen`` (the draft's ``draft_stamp`` when the editor opened it), a draft someone changed
    since is refused, unless the edit changes nothing."""
    version = _draft_or_raise(session, version_id)
    definition = _definition_json(body.definition)
    if version.definition == definition and version.note == body.note:
        return version
    if seen is not None and seen != draft_stamp(version):
        raise Conflict(
            f"version {version_id} was changed by someone else since you opened it",
            field="version_id",
            code="draft_changed",
        )
    version.definition = definition
    version.note = body.note
    version.updated_by_id = principal.user_id
    version.updated_at = utcnow()
    session.flush()
    return version


def draft_stamp(version: ScorecardVersion) -> str:
    """When a draft was last changed, as an editor keeps it to notice a later change."""
    return version.updated_at.replace(tzinfo=None).isoformat()


def get_version_or_raise(session: Session, version_id: int) -> ScorecardVersion:
    """A scorecard version by id."""
    version = repo.get_version(session, version_id)
    if version is None:
        raise NotFound(f"no scorecard version {version_id}", field="version_id")
    return version


def scorecard_of(session: Session, version: ScorecardVersion) -> Scorecard:
    """The scorecard a version belongs to."""
    return next(c for c in repo.scorecards(session) if c.id == version.scorecard_id)


def approve(
    session: Session, principal: Principal, version_id: int, comment: str | None
) -> ScorecardVersion:
    """Make a draft the active version (four eyes); the version it replaces retires."""
    if not principal.can(Permission.CHANGES_APPROVE):
        raise PermissionDenied("approving a scorecard needs 'changes:approve'")
    version = _draft_or_raise(session, version_id)
    ensure_second_person(principal, version.created_by_id, "nobody approves their own scorecard")
    ensure_second_person(principal, version.updated_by_id, "you edited this draft; ask a colleague")
    # Saved definitions were valid when saved; the catalogue may have changed since.
    try:
        Definition.model_validate(version.definition)
    except ValueError as exc:
        raise ValidationFailed(f"the draft is no longer valid: {exc}", field="definition") from exc
    now = utcnow()
    for other in repo.versions(session, version.scorecard_id):
        if other.status == "active":
            other.status = "retired"
            other.retired_at = now
    version.status = "active"
    version.decided_by_id = principal.user_id
    version.decided_at = now
    version.decision_comment = comment
    version.activated_at = now
    session.flush()
    return version


def reject(
    session: Session, principal: Principal, version_id: int, comment: str | None
) -> ScorecardVersion:
    """Reject a draft (an approver), or withdraw one's own."""
    version = _draft_or_raise(session, version_id)
    own = principal.user_id in (version.created_by_id, version.updated_by_id)
    if not own and not principal.can(Permission.CHANGES_APPROVE):
        raise PermissionDenied("rejecting a scorecard needs 'changes:approve'")
    version.status = "rejected"
    version.decided_by_id = principal.user_id
    version.decided_at = utcnow()
    version.decision_comment = comment
    session.flush()
    return version


# ---------------------------------------------------------------- factor values


_needs = steps.needs
_complete = steps.complete
_fitting = steps.fitting


def _shown(value: pl.Expr, numeric: bool, zh: bool, share: bool = False) -> pl.Expr:
    """A factor's value in its reason text: a share as a percentage (1 -> 100%, 0.123 ->
    12.3%), other numbers whole or with two decimals, a category as it is."""
    missing = pl.lit("缺失" if zh else "missing")
    if not numeric:
        return value.cast(pl.String).fill_null(missing)
    x = value.cast(pl.Float64)
    if share:
        x = (x * 100).round(6)  # 0.14 * 100 is 14.000000000000002
    whole = x.round(0).cast(pl.Int64, strict=False).cast(pl.String)
    text = (
        pl.when(x == x.round(0)).then(whole).otherwise(x.round(1 if share else 2).cast(pl.String))
    )
    if share:
        text = pl.concat_str([text, pl.lit("%")])
    return pl.when(x.is_null() | x.is_nan()).then(missing).otherwise(text)


def _explained(definition: Definition, result: pl.DataFrame) -> pl.DataFrame:
    """Rounded values and points, and each factor's reason text in both languages, vectorised."""
    cols: list[pl.Expr] = []
    for f in definition.factors:
        value = pl.col(f"value_{f.code}")
        points = pl.col(f"points_{f.code}")
        best = f"{f.point_range()[1]:.0f}"
        got = points.round(0).cast(pl.Int64).cast(pl.String)
        cols += [
            (value.cast(pl.Float64).fill_nan(None).round(6) if f.input.numeric else value).alias(
                f"value_{f.code}"
            ),
            points.round(4).alias(f"points_{f.code}"),
            pl.format(
                "{}: {} ({} of {} points)",
                pl.lit(f.en),
                _shown(value, f.input.numeric, zh=False, share=f.input.share),
                got,
                pl.lit(best),
            ).alias(f"en_{f.code}"),
            pl.format(
                "{}：{}（得 {} 分，满分 {}）",
                pl.lit(f.zh),
                _shown(value, f.input.numeric, zh=True, share=f.input.share),
                got,
                pl.lit(best),
            ).alias(f"zh_{f.code}"),
        ]
    return result.with_columns(cols)


@dataclass(frozen=True)
class ScoringSummary:
    """What a scoring pass did."""

    run_id: int | None
    scored: int
    unscored: int
    changed: int
    seconds: float


@dataclass(frozen=True)
class ComputedScores:
    """Scores computed from one read, not stored yet."""

    versions: list[int]  # the active scorecard versions they come from
    rows: list[dict[str, Any]]  # customer_scores rows, without their run
    scored: int  # customers a scorecard fitted
    unscored: int  # customers none fitted, or not consenting


def compute_scores(
    session: Session,
    customer_ids: Sequence[int] | None,
    *,
    as_of: dt.date,
    indicators: pl.DataFrame | None = None,
    champion: pl.DataFrame | None = None,
) -> ComputedScores:
    """Score customers (None: every live customer) with the active scorecard that fits each:
    reads and computes only. A few customers after their events get a row only where the score
    differs from their latest one; a run over everyone gets a row for each."""
    active = repo.active_versions(session)
    versions = [v.id for _, v in active]
    if not active or (customer_ids is not None and not customer_ids):
        return ComputedScores(versions, [], 0, 0)
    cards = active_cards(active)
    definitions = [c.definition for c in cards]
    frame = factor_frame(session, customer_ids, as_of, _needs(definitions), indicators, champion)
    frame = _complete(frame, definitions)
    # Individuals who have not consented to credit assessment are not scored.
    unassessed = consent.without_consent(session, "credit_assessment", customer_ids)
    skipped = 0
    if unassessed:
        keep = ~pl.col("customer_id").is_in(sorted(unassessed))
        skipped = frame.height - frame.filter(keep).height
        frame = frame.filter(keep)
    rows: list[dict[str, Any]] = []
    every = customer_ids is None
    previous = {} if every else repo.latest_scores(session, frame["customer_id"].to_list())
    scored_at = utcnow()
    done = 0
    for card, result in steps.scored_by_cards(cards, frame):
        definition = card.definition
        done += result.height
        best = {f.code: f.point_range()[1] for f in definition.factors}
        for row in _explained(definition, result).iter_rows(named=True):
            cid = row["customer_id"]
            old = previous.get(cid)
            if (
                not every
                and old is not None
                and old.scorecard_version_id == card.version_id
                and (old.score, old.rating, old.risk_tier)
                == (row["score"], row["rating"], row["tier"])
            ):
                continue
            factors = {
                code: {"value": row[f"value_{code}"], "points": row[f"points_{code}"]}
                for code in best
            }
            rows.append(
                {
                    "customer_id": cid,
                    "scorecard_version_id": card.version_id,
                    "run_id": None,
                    "as_of": as_of,
                    "scored_at": scored_at,
                    "score": row["score"],
                    "rating": row["rating"],
                    "risk_tier": row["tier"],
                    "factors": factors,
                    "reasons": [
                        {
                            "factor": c,
                            "value": row[f"value_{c}"],
                            "points": row[f"points_{c}"],
                            "max_points": best[c],
                            "en": row[f"en_{c}"],
                            "zh": row[f"zh_{c}"],
                        }
                        for c in row["reasons"]
                    ],
                }
            )
    return ComputedScores(versions, rows, done, frame.height - done + skipped)


def active_cards(active: Sequence[tuple[Scorecard, ScorecardVersion]]) -> list[steps.ActiveCard]:
    """Active scorecard versions (repository.active_versions) as scoring needs them."""
    return [
        steps.ActiveCard(
            v.id,
            c.code,
            v.version,
            c.customer_kind,
            list(c.segments or []),
            Definition.model_validate(v.definition),
        )
        for c, v in active
    ]


@dataclass(frozen=True)
class BatchInputs:
    """What a scoring run reads from the database, read once for a batch engine that computes
    elsewhere (riskdesk.batch.scoring): the active scorecards and live models, and every live
    customer's stored inputs as of a date (``factors.stored_inputs`` of the sources the cards
    read, without indicators: the batch computes them) with whether they may be assessed."""

    as_of: dt.date
    cards: list[steps.ActiveCard]
    models: list[steps.LiveModel]
    customers: pl.DataFrame  # customer_id, assessed, attribute.* and the other sources' columns


def batch_inputs(session: Session, *, as_of: dt.date) -> BatchInputs:
    """The reads of plan_rescore's scoring, for a batch engine (BatchInputs)."""
    from riskdesk.scoring.factors import stored_inputs

    cards = active_cards(repo.active_versions(session))
    sources = _needs([c.definition for c in cards])
    customers = stored_inputs(session, None, as_of, sources, indicators=False)
    unassessed = consent.without_consent(session, "credit_assessment", None)
    customers = customers.select(
        "customer_id",
        (~pl.col("customer_id").is_in(sorted(unassessed))).alias("assessed"),
        *[c for c in customers.columns if c != "customer_id"],
    )
    return BatchInputs(as_of, cards, registry.live_models(session), customers)


def store_scores(
    session: Session,
    computed: ComputedScores,
    *,
    trigger: str,
    as_of: dt.date,
    started: dt.datetime,
    requested_by: int | None = None,
    run: bool,
    keep: set[int] | None = None,
) -> ScoringSummary:
    """Store computed scores (only of the customers in ``keep``, when given): a run over
    everyone stores them under a run and updates the profiles in one statement."""
    rows = computed.rows
    if keep is not None:
        rows = [r for r in rows if r["customer_id"] in keep]
    scored = computed.scored - (len(computed.rows) - len(rows))
    found: ScoringRun | None = None
    if run:
        found = repo.add_run(
            session,
            ScoringRun(
                trigger=trigger,
                as_of=as_of,
                versions=computed.versions,
                requested_by_id=requested_by,
                started_at=started,
            ),
        )
        for r in rows:
            r["run_id"] = found.id
    repo.insert_scores(session, rows)
    if found is not None:
        repo.update_profiles_from_run(session, found.id)
    else:
        repo.update_profiles(
            session,
            [
                {k: r[k] for k in ("customer_id", "score", "rating", "risk_tier", "scored_at")}
                for r in rows
            ],
        )
    if rows:
        signals.publish(
            signals.SCORES_STORED,
            session=session,
            customer_ids=None if found is not None else [r["customer_id"] for r in rows],
        )
    return _finish(found, scored, computed.unscored, len(rows), started)


def score_customers(
    session: Session,
    customer_ids: Sequence[int] | None,
    *,
    trigger: str,
    as_of: dt.date | None = None,
    requested_by: int | None = None,
    indicators: pl.DataFrame | None = None,
) -> ScoringSummary:
    """Score customers (None: every live customer) with the active scorecard that fits each,
    and store the scores in the caller's transaction.

    A run over everyone stores every score under a run; scoring a few customers after their
    events stores a score only when it differs from their latest one.
    """
    started = utcnow()
    as_of = as_of or today()
    computed = compute_scores(session, customer_ids, as_of=as_of, indicators=indicators)
    return store_scores(
        session,
        computed,
        trigger=trigger,
        as_of=as_of,
        started=started,
        requested_by=requested_by,
        run=customer_ids is None,
    )


def _finish(
    run: ScoringRun | None, scored: int, unscored: int, changed: int, started: dt.datetime
) -> ScoringSummary:
    finished = utcnow()
    if run is not None:
        run.customers = scored
        run.unscored = unscored
        run.finished_at = finished
    return ScoringSummary(
        run.id if run else None, scored, unscored, changed, (finished - started).total_seconds()
    )


@dataclass(frozen=True)
class RescorePlan:
    """What a scoring run over everyone computed from one snapshot, to store in a short write."""

    as_of: dt.date
    started: dt.datetime
    indicators: pl.DataFrame
    models: list[registry.ModelScores]
    scores: ComputedScores
    marks: pl.DataFrame  # each customer's state when read (repository.freshness)
    # The active models' matured performance, when this is a month's first run (registry).
    matured: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    # The consent record when read: consents recorded after it are checked again at the end.
    consent_mark: int = 0


def plan_rescore(session: Session, *, as_of: dt.date | None = None) -> RescorePlan:
    """The read-and-compute phase of a scoring run: everyone's indicators, model scores and
    scorecard scores, from one snapshot, nothing written."""
    from riskdesk.indicators import service as indicator_service

    started = utcnow()
    as_of = as_of or today()
    marks = freshness(session)
    consent_mark = consent.mark(session)
    # One read of the history for today's indicators and, in a month's first run, the models'
    # matured performance.
    history = indicator_service.load_history(session)
    matured = registry.matured_due(session, as_of, frames=history)
    indicators = indicator_service.compute_batch(session, as_of=as_of, frames=history)
    del history  # the largest thing read: not held while the scores are computed
    # Models first: a scorecard may read the champion's score.
    models = registry.predict_customers(session, None, as_of=as_of, indicators=indicators)
    scores = compute_scores(
        session,
        None,
        as_of=as_of,
        indicators=indicators,
        champion=registry.champion_frame(models),
    )
    return RescorePlan(as_of, started, indicators, models, scores, marks, matured, consent_mark)


def freshness(session: Session) -> pl.DataFrame:
    """Each customer's marks of change, to read with a batch's snapshot (unchanged_since)."""
    return repo.freshness(session)


def unchanged_since(session: Session, marks: pl.DataFrame) -> tuple[list[int], set[int]]:
    """Of the customers in ``marks`` (read with a snapshot), those whose indicators and score
    no one stored since, and of those the ones still live (not merged away): what a batch
    computed from the snapshot may be stored for them without undoing a newer write."""
    now = repo.freshness(session, marks["customer_id"].to_list() if marks.height < 5000 else None)
    untouched = marks.join(now, on="customer_id", suffix="_now").filter(
        pl.col("indicators_at").eq_missing(pl.col("indicators_at_now"))
        & pl.col("scored_at").eq_missing(pl.col("scored_at_now"))
    )
    live = untouched.filter(pl.col("live_now"))["customer_id"].to_list()
    return untouched["customer_id"].to_list(), set(live)


# Customers per short transaction when a job stores a scoring run (read at each run, so tests
# can make it small). An intake waits for at most one slice: docs/benchmarks.md, "Jobs beside
# intake", has the times.
STORE_CHUNK = 100


def slices_of(ids: Sequence[int]) -> list[list[int]]:
    """Customers in slices of STORE_CHUNK, one short transaction each; at least one slice
    (maybe empty), so a loop of transactions always runs the last one."""
    size = max(1, STORE_CHUNK)
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)] or [[]]


def store_slices(plan: RescorePlan) -> list[list[int]]:
    """The plan's customers in slices, one short transaction each."""
    return slices_of(plan.marks["customer_id"].to_list())


def begin_run(
    session: Session,
    plan: RescorePlan,
    principal: Principal | None,
    *,
    trigger: str,
    job_id: int | None = None,
) -> int:
    """The first store of a scoring run: the run, "storing", read by nobody until
    finish_rescore marks it done. Its id."""
    if principal is not None:
        ensure_still_allowed(session, principal, Permission.SCORING_MANAGE)
    run = repo.add_run(
        session,
        ScoringRun(
            trigger=trigger,
            as_of=plan.as_of,
            versions=plan.scores.versions,
            requested_by_id=principal.user_id if principal else None,
            started_at=plan.started,
            status="storing",
            job_id=job_id,
        ),
    )
    return run.id


def stage_rescore(
    session: Session, plan: RescorePlan, run_id: int, customer_ids: Sequence[int] | None
) -> int:
    """Store a slice of a run (None: all of it) under the run, unread until it is done.

    Re-checks who changed since the snapshot: a customer whose indicators or score another
    writer refreshed meanwhile (their events came in) keeps those newer values, and one merged
    away or no longer consenting to credit assessment gets nothing stored. How many scores."""
    from riskdesk.indicators import service as indicator_service

    marks = plan.marks
    if customer_ids is not None:
        marks = marks.filter(pl.col("customer_id").is_in(list(customer_ids)))
    untouched, live = unchanged_since(session, marks)
    seen = dict(zip(marks["customer_id"].to_list(), marks["indicators_at"].to_list(), strict=True))
    indicator_service.stage_batch(
        session,
        plan.indicators.filter(pl.col("customer_id").is_in(untouched)),
        batch_id=run_id,
        as_of=plan.as_of,
        seen=seen,
    )
    assessed = live - consent.without_consent(session, "credit_assessment", customer_ids)
    registry.store_model_scores(
        session, plan.models, as_of=plan.as_of, keep=assessed, run_id=run_id
    )
    rows = [{**r, "run_id": run_id} for r in plan.scores.rows if r["customer_id"] in assessed]
    repo.insert_scores(session, rows)
    return len(rows)


def apply_rescore(session: Session, run_id: int, customer_ids: Sequence[int] | None) -> None:
    """Make a slice of a stored run's indicators current (None: all of them), once every slice
    is stored: one short transaction a slice, so the run's last transaction does not grow
    with its customers.

    A customer whose indicators another writer stored since the run read keeps them, and the
    run's scores for them go (they were computed from the values replaced). Indicators are
    each customer's own values, as an event's are, not the run's: a reader may see a slice's
    new indicators beside the previous run's scores until finish_rescore."""
    from riskdesk.indicators import service as indicator_service

    moved = repo.moved_since_read(session, run_id, customer_ids)
    if moved:
        repo.drop_run_rows(session, run_id, moved)
    indicator_service.apply_batch(session, batch_id=run_id, customer_ids=customer_ids)
    indicator_service.drop_staged(session, batch_id=run_id, customer_ids=customer_ids)


def finish_rescore(session: Session, plan: RescorePlan, run_id: int) -> ScoringSummary:
    """The last store of a scoring run, one short transaction whatever its size: drop the
    scores of customers changed since their slice was applied (merged away, scored anew, no
    longer consenting), and mark the run done; readers see all its scores at once. The
    profiles take the scores after, a slice at a time (copy_profiles), and the population
    summary of the new indicators is stored after that (store_population)."""
    run = repo.get_run(session, run_id)
    if run is None or run.status != "storing":
        raise Conflict(f"scoring run {run_id} is not being stored", code="run_not_storing")
    changed = repo.changed_since_applied(session, run_id)
    # Each slice left out who had no consent when it was stored; of consents since, only
    # those recorded after the read can have changed that.
    withdrawn = consent.withdrawn_since(session, "credit_assessment", plan.consent_mark)
    if changed or withdrawn:
        repo.drop_run_rows(session, run_id, sorted(set(changed) | withdrawn))
    stored = repo.count_run_scores(session, run_id)
    registry.keep_matured(session, plan.matured, as_of=plan.as_of)
    run.status = "done"
    scored = plan.scores.scored - (len(plan.scores.rows) - stored)
    summary = _finish(run, scored, plan.scores.unscored, stored, plan.started)
    session.flush()  # done now: what this transaction reads next sees the run
    return summary


def copy_profiles(
    session: Session, run_id: int, customer_ids: Sequence[int] | None, *, last: bool
) -> None:
    """Copy a current run's scores onto some customers' credit profiles (None: all) and
    schedule their reviews from the new tiers. Never over a newer score, so a slice copied
    twice (after a lost process) changes nothing. The last slice records the run's profiles
    copied, so the reaper's next look at it reads one row (profiles_behind)."""
    if customer_ids is None or customer_ids:
        repo.update_profiles_from_run(session, run_id, customer_ids)
        signals.publish(signals.SCORES_STORED, session=session, customer_ids=customer_ids)
    if last:
        repo.mark_profiles_copied(session, run_id)


def profiles_behind(session: Session) -> tuple[int | None, list[int]]:
    """The current run if its profiles are not yet recorded as copied, and the customers whose
    profile does not carry its score: what a process lost between making a run current and
    copying its profiles left (recover). (None, []) when nothing is left: a read of one row."""
    latest = repo.latest_done_run(session)
    if latest is None or latest[1]:
        return None, []
    return latest[0], repo.profiles_behind(session, latest[0])


def discard_staged(session: Session, *, job_id: int) -> list[int]:
    """Delete the runs a job began storing and never finished (it failed, was cancelled, or
    its process died), with everything stored under them. Their ids."""
    from riskdesk.indicators import service as indicator_service

    runs = repo.staged_runs(session, job_id)
    for run_id in runs:
        repo.drop_run_rows(session, run_id, None)
        indicator_service.drop_staged(session, batch_id=run_id, customer_ids=None)
        repo.delete_run(session, run_id)
    return runs


def clear_applied(session: Session) -> None:
    """Forget the staged indicators of runs that are done (applied: a job clears its own right
    after, unless it stopped first) or gone."""
    from riskdesk.indicators import service as indicator_service

    for batch_id in repo.applied_batches(session):
        indicator_service.drop_staged(session, batch_id=batch_id, customer_ids=None)


def store_rescore(
    session: Session, plan: RescorePlan, principal: Principal | None, *, trigger: str
) -> ScoringSummary:
    """The store phase of a scoring run in the caller's one transaction (a request or a
    command): begin_run, stage_rescore, apply_rescore, finish_rescore and copy_profiles
    together. A job runs the same steps in short transactions of their own."""
    from riskdesk.indicators import service as indicator_service

    run_id = begin_run(session, plan, principal, trigger=trigger)
    stage_rescore(session, plan, run_id, None)
    apply_rescore(session, run_id, None)
    summary = finish_rescore(session, plan, run_id)
    copy_profiles(session, run_id, None, last=True)
    indicator_service.store_population(session, as_of=plan.as_of)
    return summary


def rescore_all(
    session: Session, principal: Principal | None, *, trigger: str, as_of: dt.date | None = None
) -> ScoringSummary:
    """Recompute every customer's indicators in batch, then score everyone: one action, in the
    caller's transaction (a request or command over a real database runs it in two phases:
    plan_rescore in a snapshot, store_rescore in a short write)."""
    return store_rescore(session, plan_rescore(session, as_of=as_of), principal, trigger=trigger)


def score_one_customer(session: Session, principal: Principal, customer_id: int) -> CustomerScore:
    """Score one customer now, from their stored indicators, and return the stored score."""
    customer_service.get_customer_or_raise(session, principal, customer_id)  # visibility
    if not repo.active_versions(session):
        raise Conflict("no scorecard is active yet", code="no_active_scorecard")
    score_customers(session, [customer_id], trigger="on_demand", requested_by=principal.user_id)
    latest = repo.latest_scores(session, [customer_id]).get(customer_id)
    if latest is None:
        raise Conflict(
            "no active scorecard applies to this customer (kind or segment)",
            code="no_scorecard_fits",
        )
    return latest


def version_labels(session: Session, version_ids: Sequence[int]) -> dict[int, str]:
    """'name v3' for scorecard versions, for display."""
    versions = repo.versions_by_id(session, sorted(set(version_ids)))
    names = {c.id: c.name for c in repo.scorecards(session)}
    return {vid: f"{names[v.scorecard_id]} v{v.version}" for vid, v in versions.items()}


def history(
    session: Session, principal: Principal, customer_id: int, limit: int = 50
) -> list[CustomerScore]:
    """A customer's scores, newest first."""
    customer_service.get_customer_or_raise(session, principal, customer_id)
    return repo.score_history(session, customer_id, limit)


def statement_ratios(
    session: Session, principal: Principal, customer_id: int
) -> dict[int, dict[str, Any]]:
    """Statement id -> its Altman model, score and zone and its ratios, as scorecards read them
    (``ratios.company_ratios``; listed and manufacturer decided as for scoring)."""
    customer_service.get_customer_or_raise(session, principal, customer_id)
    frame = repo.statements_with_flags(session, [customer_id])
    if frame.is_empty():
        return {}
    ids = frame["_id"].to_list()
    result = ratios.company_ratios(frame.drop("_id"))
    return dict(zip(ids, result.to_dicts(), strict=True))


def preview(session: Session, version_id: int) -> dict[str, Any]:
    """What a version would give today: ratings and tiers over the customers its scorecard fits,
    beside what they have now. Nothing is stored."""
    version = repo.get_version(session, version_id)
    if version is None:
        raise NotFound(f"no scorecard version {version_id}", field="version_id")
    card = next(c for c in repo.scorecards(session) if c.id == version.scorecard_id)
    definition = Definition.model_validate(version.definition)
    return preview_definition(
        session, definition, customer_kind=card.customer_kind, segments=card.segments
    )


def _moves(scored: pl.DataFrame, current: pl.DataFrame, definition: Definition) -> dict[str, Any]:
    """How many customers a definition would move to a better or a worse rating and tier than
    they have now (rated by none before, or by a rating the definition does not know: new)."""
    ratings = [b.code for b in definition.ratings]  # lowest scores first
    ranks = {"rating": {c: i for i, c in enumerate(ratings)}}
    ranks["tier"] = {c: -i for i, c in enumerate(TIERS)}  # the safest ranks highest
    both = scored.select("customer_id", "rating", "tier").join(
        current.rename({"rating": "old_rating", "risk_tier": "old_tier"}),
        on="customer_id",
        how="left",
    )
    moves: dict[str, Any] = {}
    for kind, new, old in (("rating", "rating", "old_rating"), ("tier", "tier", "old_tier")):
        rank = ranks[kind]
        counts = {"up": 0, "down": 0, "same": 0, "new": 0}
        for now, before in both.select(new, old).iter_rows():  # one row per customer scored
            if before not in rank or now not in rank:
                counts["new"] += 1
            elif rank[now] > rank[before]:
                counts["up"] += 1
            elif rank[now] < rank[before]:
                counts["down"] += 1
            else:
                counts["same"] += 1
        moves[kind] = counts
    return moves


def preview_definition(
    session: Session,
    definition: Definition,
    *,
    customer_kind: str | None,
    segments: Sequence[str],
) -> dict[str, Any]:
    """What a definition (saved or not) would give today over the customers of that kind and
    segments, beside the ratings and tiers they have now, and how many would move. Nothing is
    stored."""
    frame = _complete(factor_frame(session, None, today(), _needs([definition])), [definition])
    mine = frame.filter(_fitting(customer_kind, segments))
    values = mine.select(
        "customer_id",
        *[pl.col(f"{f.source}.{f.name}").alias(f.code) for f in definition.factors],
    )
    scored = score_frame(definition, values)
    current = repo.current_ratings(session, mine["customer_id"].to_list())

    def counts(frame: pl.DataFrame, col: str) -> dict[str, int]:
        return {str(k): int(v) for k, v in frame.group_by(col).len().rows() if k is not None}

    return {
        "customers": scored.height,
        "mean_score": float(scored["score"].mean()) if scored.height else None,  # type: ignore[arg-type]
        "ratings": [b.code for b in reversed(definition.ratings)],
        "tiers": [b.code for b in reversed(definition.tiers)],
        "proposed_ratings": counts(scored, "rating"),
        "proposed_tiers": counts(scored, "tier"),
        "current_ratings": counts(current, "rating"),
        "current_tiers": counts(current, "risk_tier"),
        "moves": _moves(scored, current, definition),
    }


def recent_runs(session: Session, limit: int = 20) -> list[ScoringRun]:
    """The latest scoring runs."""
    return repo.runs(session, limit)


def rating_order(session: Session) -> list[str]:
    """The rating codes of the active scorecards, best (highest scores) first; a code several
    scorecards share keeps its best place."""
    best: dict[str, int] = {}
    for _, version in repo.active_versions(session):
        for band in version.definition.get("ratings", []):
            code, top = str(band["code"]), int(band["max"])
            best[code] = max(best.get(code, top), top)
    return sorted(best, key=lambda code: (-best[code], code))
