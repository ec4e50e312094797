"""SQL of scoring: scorecards and versions, the factor values of customers, stored scores."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import polars as pl
from sqlalchemy import Float, bindparam, cast, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from riskdesk.audit import trail
from riskdesk.customers.repository import chunks, rows_in
from riskdesk.indicators.catalogue import NAMES
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import (
    CreditProfile,
    CreditReport,
    Customer,
    CustomerScore,
    FinancialStatement,
    IndicatorSnapshot,
    ModelScore,
    ModelVersion,
    Scorecard,
    ScorecardVersion,
    ScoringRun,
    StagedIndicatorSnapshot,
)
from riskdesk.scoring import steps

# Industries counted as manufacturing for Altman's Z and Z': the word, or a GB/T 4754 section C
# code (13-43).
MANUFACTURING_WORDS = ("manufactur", "制造")


def scorecards(session: Session) -> list[Scorecard]:
    """All scorecards, in the order they are tried on a customer."""
    return list(session.scalars(select(Scorecard).order_by(Scorecard.priority, Scorecard.id)))


def scorecard_by_code(session: Session, code: str) -> Scorecard | None:
    """A scorecard by its code."""
    return session.scalars(select(Scorecard).where(Scorecard.code == code)).one_or_none()


def versions(session: Session, scorecard_id: int) -> list[ScorecardVersion]:
    """A scorecard's versions, newest first."""
    return list(
        session.scalars(
            select(ScorecardVersion)
            .where(ScorecardVersion.scorecard_id == scorecard_id)
            .order_by(ScorecardVersion.version.desc())
        )
    )


def get_version(
    session: Session, version_id: int, *, lock: bool = False
) -> ScorecardVersion | None:
    """A scorecard version by id (locked for update when asked)."""
    stmt = select(ScorecardVersion).where(ScorecardVersion.id == version_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def next_version_number(session: Session, scorecard_id: int) -> int:
    """One more than the scorecard's highest version."""
    top = session.scalar(
        select(func.max(ScorecardVersion.version)).where(
            ScorecardVersion.scorecard_id == scorecard_id
        )
    )
    return int(top or 0) + 1


def active_versions(session: Session) -> list[tuple[Scorecard, ScorecardVersion]]:
    """The active version of each scorecard that has one, in the order they are tried."""
    rows = session.execute(
        select(Scorecard, ScorecardVersion)
        .join(ScorecardVersion, ScorecardVersion.scorecard_id == Scorecard.id)
        .where(ScorecardVersion.status == "active")
        .order_by(Scorecard.priority, Scorecard.id)
    )
    return [(s, v) for s, v in rows]


def versions_by_id(session: Session, ids: Sequence[int]) -> dict[int, ScorecardVersion]:
    """Scorecard versions by id."""
    if not ids:
        return {}
    rows = session.scalars(select(ScorecardVersion).where(ScorecardVersion.id.in_(list(ids))))
    return {v.id: v for v in rows}


# ---------------------------------------------------------------- factor values


def customer_attributes(
    session: Session, customer_ids: Sequence[int] | None, as_of: dt.date
) -> pl.DataFrame:
    """Attributes of live customers: kind, segment, region, industry, terms, file age."""
    stmt = (
        select(
            Customer.id,
            Customer.kind,
            Customer.segment,
            Customer.region,
            Customer.industry,
            CreditProfile.payment_terms_days,
            Customer.created_at,
        )
        .outerjoin(CreditProfile, CreditProfile.customer_id == Customer.id)
        .where(Customer.status != "merged")
    )
    rows = rows_in(session, stmt, Customer.id, customer_ids)
    frame = pl.DataFrame(
        [tuple(r) for r in rows],
        schema={
            "customer_id": pl.Int64,
            "attribute.kind": pl.String,
            "attribute.segment": pl.String,
            "attribute.region": pl.String,
            "attribute.industry": pl.String,
            "attribute.payment_terms_days": pl.Float64,
            "_created": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )
    return frame.with_columns(
        (pl.lit(as_of) - pl.col("_created").dt.date())
        .dt.total_days()
        .cast(pl.Float64)
        .alias("attribute.customer_age_days")
    ).drop("_created")


PLAIN_ATTRIBUTES = steps.PLAIN_ATTRIBUTES


def plain_attributes(
    session: Session, customer_ids: Sequence[int] | None, as_of: dt.date
) -> pl.DataFrame:
    """customer_id with kind, segment, region and industry under their own names."""
    return customer_attributes(session, customer_ids, as_of).select(
        "customer_id", *[pl.col(f"attribute.{a}").alias(a) for a in PLAIN_ATTRIBUTES]
    )


def bureau_values(
    session: Session, customer_ids: Sequence[int] | None, as_of: dt.date
) -> pl.DataFrame:
    """Each customer's latest bureau report on or before the as-of date."""
    stmt = select(
        CreditReport.customer_id,
        CreditReport.report_date,
        CreditReport.id,
        cast(CreditReport.score, Float),
        cast(CreditReport.recommended_limit, Float),
    ).where(CreditReport.report_date <= as_of)
    rows = rows_in(session, stmt, CreditReport.customer_id, customer_ids)
    frame = pl.DataFrame(
        [tuple(r) for r in rows],
        schema={
            "customer_id": pl.Int64,
            "_date": pl.Date,
            "_id": pl.Int64,
            "bureau.bureau_score": pl.Float64,
            "bureau.bureau_recommended_limit": pl.Float64,
        },
        orient="row",
    )
    latest = frame.sort(["customer_id", "_date", "_id"]).group_by("customer_id").last()
    return latest.with_columns(
        (pl.lit(as_of) - pl.col("_date"))
        .dt.total_days()
        .cast(pl.Float64)
        .alias("bureau.bureau_report_age_days")
    ).drop("_date", "_id")


STATEMENT_COLUMNS = (
    "revenue",
    "total_assets",
    "total_liabilities",
    "current_assets",
    "current_liabilities",
    "retained_earnings",
    "ebit",
    "equity",
    "net_income",
    "cash",
    "inventory",
    "interest_expense",
    "market_value_equity",
)


def latest_statements(
    session: Session, customer_ids: Sequence[int] | None, as_of: dt.date
) -> pl.DataFrame:
    """Each company's latest statement on or before the as-of date, with listed/manufacturer."""
    return (
        statements_with_flags(session, customer_ids, as_of)
        .sort(["customer_id", "period_end", "_id"])
        .group_by("customer_id")
        .last()
        .drop("_id")
    )


def statements_with_flags(
    session: Session, customer_ids: Sequence[int] | None, as_of: dt.date | None = None
) -> pl.DataFrame:
    """Every statement (on or before the as-of date, when given) with listed/manufacturer and
    its id as ``_id``, in no particular order."""
    stmt = select(
        FinancialStatement.customer_id,
        FinancialStatement.period_end,
        FinancialStatement.id,
        Customer.industry,
        *[cast(getattr(FinancialStatement, c), Float) for c in STATEMENT_COLUMNS],
    ).join(Customer, Customer.id == FinancialStatement.customer_id)
    if as_of is not None:
        stmt = stmt.where(FinancialStatement.period_end <= as_of)
    rows = rows_in(session, stmt, FinancialStatement.customer_id, customer_ids)
    frame = pl.DataFrame(
        [tuple(r) for r in rows],
        schema={
            "customer_id": pl.Int64,
            "period_end": pl.Date,
            "_id": pl.Int64,
            "_industry": pl.String,
            **{c: pl.Float64 for c in STATEMENT_COLUMNS},
        },
        orient="row",
    )
    industry = pl.col("_industry").fill_null("").str.to_lowercase()
    manufacturer = pl.any_horizontal(
        *[industry.str.contains(w, literal=True) for w in MANUFACTURING_WORDS],
        industry.str.contains(r"^c(1[3-9]|[23][0-9]|4[0-3])"),
    )
    return frame.with_columns(
        listed=pl.col("market_value_equity").is_not_null(), manufacturer=manufacturer
    ).drop("_industry")


def indicator_values(
    session: Session, customer_ids: Sequence[int] | None, names: Sequence[str] = NAMES
) -> pl.DataFrame:
    """The stored indicator values of customers (``indicator.<name>`` columns), all of them or
    only ``names`` (building a column from the JSON documents costs as much as reading them)."""
    stmt = select(IndicatorSnapshot.customer_id, IndicatorSnapshot.values)
    rows = rows_in(session, stmt, IndicatorSnapshot.customer_id, customer_ids)
    data: dict[str, list[Any]] = {"customer_id": [r[0] for r in rows]}
    for name in names:
        data[f"indicator.{name}"] = [r[1].get(name) for r in rows]
    return pl.DataFrame(
        data,
        schema={"customer_id": pl.Int64, **{f"indicator.{n}": pl.Float64 for n in names}},
    )


# ---------------------------------------------------------------- scores


def settled(run_id: Any) -> Any:
    """The condition that a score row (customer_scores or model_scores, by its ``run_id``
    column) is readable: stored outside a run, or by a run that is done. A run a job is still
    storing (or left behind when it stopped) is read by nobody."""
    pending = select(ScoringRun.id).where(ScoringRun.status != "done")
    return or_(run_id.is_(None), run_id.not_in(pending))


def freshness(session: Session, customer_ids: Sequence[int] | None = None) -> pl.DataFrame:
    """Each customer's marks of change: when their indicators were stored, when they were
    scored, whether they are live. A long batch reads them with its snapshot and again before
    it stores, and leaves alone whoever changed in between."""
    stmt = (
        select(
            Customer.id,
            IndicatorSnapshot.computed_at,
            CreditProfile.scored_at,
            Customer.status != "merged",
        )
        .outerjoin(IndicatorSnapshot, IndicatorSnapshot.customer_id == Customer.id)
        .outerjoin(CreditProfile, CreditProfile.customer_id == Customer.id)
    )
    rows = rows_in(session, stmt, Customer.id, customer_ids)
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={
            "customer_id": pl.Int64,
            "indicators_at": pl.Datetime("us", "UTC"),
            "scored_at": pl.Datetime("us", "UTC"),
            "live": pl.Boolean,
        },
        orient="row",
    )


def latest_scores(session: Session, customer_ids: Sequence[int]) -> dict[int, CustomerScore]:
    """Each customer's latest stored score."""
    out: dict[int, CustomerScore] = {}
    for part in chunks(list(customer_ids)):
        newest = (
            select(CustomerScore.customer_id, func.max(CustomerScore.id).label("id"))
            .where(CustomerScore.customer_id.in_(part), settled(CustomerScore.run_id))
            .group_by(CustomerScore.customer_id)
            .subquery()
        )
        for score in session.scalars(
            select(CustomerScore).join(newest, newest.c.id == CustomerScore.id)
        ):
            out[score.customer_id] = score
    return out


def score_history(session: Session, customer_id: int, limit: int) -> list[CustomerScore]:
    """A customer's scores, newest first."""
    return list(
        session.scalars(
            select(CustomerScore)
            .where(CustomerScore.customer_id == customer_id, settled(CustomerScore.run_id))
            .order_by(CustomerScore.id.desc())
            .limit(limit)
        )
    )


_SCORE_COLUMNS = (
    "customer_id",
    "scorecard_version_id",
    "run_id",
    "as_of",
    "scored_at",
    "score",
    "rating",
    "risk_tier",
    "factors",
    "reasons",
)


def insert_scores(session: Session, rows: list[dict[str, Any]]) -> None:
    """Store scores in bulk: COPY on PostgreSQL, a Core executemany elsewhere."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # One COPY stream instead of a round trip per row: 100,000 scores in about a second.
        raw: Any = connection.connection.driver_connection
        columns = ", ".join(_SCORE_COLUMNS)
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY customer_scores ({columns}) FROM STDIN") as copy,
        ):
            for r in rows:
                copy.write_row(
                    [
                        *(r[c] for c in _SCORE_COLUMNS[:-2]),
                        json.dumps(r["factors"], ensure_ascii=False),
                        json.dumps(r["reasons"], ensure_ascii=False),
                    ]
                )
        trail.noted_write(session, "customer_scores", "insert", len(rows))
        return
    table: Any = CustomerScore.__table__
    for part in chunks(rows, 5000):
        session.execute(insert(table), list(part))


def update_profiles(session: Session, rows: list[dict[str, Any]]) -> None:
    """Set score, rating, risk_tier and scored_at on credit profiles (rows keyed customer_id)."""
    table: Any = CreditProfile.__table__
    stmt = (
        update(table)
        .where(table.c.customer_id == bindparam("cid"))
        .values(
            score=bindparam("score"),
            rating=bindparam("rating"),
            risk_tier=bindparam("risk_tier"),
            scored_at=bindparam("scored_at"),
        )
    )
    for part in chunks(rows, 5000):
        session.execute(
            stmt,
            [
                {
                    "cid": r["customer_id"],
                    **{k: r[k] for k in ("score", "rating", "risk_tier", "scored_at")},
                }
                for r in part
            ],
        )


def update_profiles_from_run(
    session: Session, run_id: int, customer_ids: Sequence[int] | None = None
) -> None:
    """Copy a run's scores onto the credit profiles (of some customers; None: all), set-based
    (UPDATE ... FROM). Never over a newer score: a profile scored after the run read keeps it,
    so copying again (a slice after a lost process, say) changes nothing."""
    stmt = (
        update(CreditProfile)
        .where(
            CreditProfile.customer_id == CustomerScore.customer_id,
            CustomerScore.run_id == run_id,
            or_(
                CreditProfile.scored_at.is_(None),
                CreditProfile.scored_at < CustomerScore.scored_at,
            ),
        )
        .values(
            score=CustomerScore.score,
            rating=CustomerScore.rating,
            risk_tier=CustomerScore.risk_tier,
            scored_at=CustomerScore.scored_at,
        )
        .execution_options(synchronize_session=False)
    )
    if customer_ids is None:
        session.execute(stmt)
        return
    for part in chunks(list(customer_ids)):
        session.execute(stmt.where(CreditProfile.customer_id.in_(part)))


def profiles_behind(session: Session, run_id: int) -> list[int]:
    """The customers whose profile does not yet carry their score of a run that is done (a
    process lost between making the run current and copying its last slices)."""
    return list(
        session.scalars(
            select(CustomerScore.customer_id)
            .join(CreditProfile, CreditProfile.customer_id == CustomerScore.customer_id)
            .where(
                CustomerScore.run_id == run_id,
                or_(
                    CreditProfile.scored_at.is_(None),
                    CreditProfile.scored_at < CustomerScore.scored_at,
                ),
            )
            .order_by(CustomerScore.customer_id)
        )
    )


def latest_done_run(session: Session) -> tuple[int, bool] | None:
    """The newest run that is done (current), if any: its id, and whether its profiles are
    all known to carry its scores (profiles_copied_at)."""
    found = session.execute(
        select(ScoringRun.id, ScoringRun.profiles_copied_at.is_not(None))
        .where(ScoringRun.status == "done")
        .order_by(ScoringRun.id.desc())
        .limit(1)
    ).first()
    return None if found is None else (int(found[0]), bool(found[1]))


def mark_profiles_copied(session: Session, run_id: int) -> None:
    """Record that every profile carries a run's scores (the first time only)."""
    session.execute(
        update(ScoringRun)
        .where(ScoringRun.id == run_id, ScoringRun.profiles_copied_at.is_(None))
        .values(profiles_copied_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def moved_since_read(
    session: Session, run_id: int, customer_ids: Sequence[int] | None
) -> list[int]:
    """Of a run's staged customers (some; None: all), those whose indicator snapshot another
    writer stored after the run read: it is no longer the one the run computed from."""
    staged = StagedIndicatorSnapshot
    stmt = (
        select(staged.customer_id)
        .outerjoin(IndicatorSnapshot, IndicatorSnapshot.customer_id == staged.customer_id)
        .where(
            staged.batch_id == run_id,
            IndicatorSnapshot.computed_at.is_distinct_from(staged.seen_at),
        )
    )
    return sorted(r[0] for r in rows_in(session, stmt, staged.customer_id, customer_ids))


def changed_since_applied(session: Session, run_id: int) -> list[int]:
    """The customers of a run being made current whom another writer changed since their
    slice was applied: merged away, or a readable score stored for them since the run began
    storing (ids grow; one stored before their own slice would have kept them out of it).
    Both read by index from the side of the few changes, not the run's rows: the last
    transaction of a run stays short whatever the number of customers."""
    merged = (
        select(Customer.id)
        .join(
            CustomerScore,
            (CustomerScore.customer_id == Customer.id) & (CustomerScore.run_id == run_id),
        )
        .where(Customer.status == "merged")
    )
    found = set(session.scalars(merged))
    first = session.scalar(select(func.min(CustomerScore.id)).where(CustomerScore.run_id == run_id))
    if first is not None:
        rescored = select(CustomerScore.customer_id).where(
            CustomerScore.id > first,
            CustomerScore.run_id.is_distinct_from(run_id),
            settled(CustomerScore.run_id),
        )
        found |= set(session.scalars(rescored))
    return sorted(found)


def drop_run_rows(session: Session, run_id: int, customer_ids: Sequence[int] | None) -> None:
    """Delete a run's scores and model scores (of some customers; None: all of them)."""
    for table in (CustomerScore, ModelScore):
        stmt: Any = delete(table).where(table.run_id == run_id)
        if customer_ids is None:
            session.execute(stmt)
            continue
        for part in chunks(list(customer_ids)):
            session.execute(stmt.where(table.customer_id.in_(part)))


def count_run_scores(session: Session, run_id: int) -> int:
    """How many scores a run stored."""
    found = session.scalar(
        select(func.count()).select_from(CustomerScore).where(CustomerScore.run_id == run_id)
    )
    return int(found or 0)


def applied_batches(session: Session) -> list[int]:
    """Batches of staged indicator snapshots whose run is done or gone (nothing pending)."""
    pending = select(ScoringRun.id).where(ScoringRun.status != "done")
    return list(
        session.scalars(
            select(StagedIndicatorSnapshot.batch_id)
            .where(StagedIndicatorSnapshot.batch_id.not_in(pending))
            .distinct()
        )
    )


def staged_runs(session: Session, job_id: int) -> list[int]:
    """The runs a job began storing and did not finish."""
    return list(
        session.scalars(
            select(ScoringRun.id).where(ScoringRun.job_id == job_id, ScoringRun.status != "done")
        )
    )


def delete_run(session: Session, run_id: int) -> None:
    """Delete a run (its rows first: drop_run_rows)."""
    session.execute(delete(ScoringRun).where(ScoringRun.id == run_id))


def add_run(session: Session, run: ScoringRun) -> ScoringRun:
    """Store a scoring run."""
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, run_id: int) -> ScoringRun | None:
    """A scoring run by id."""
    return session.get(ScoringRun, run_id)


def runs(session: Session, limit: int) -> list[ScoringRun]:
    """The latest scoring runs that are done (one being stored is not shown yet)."""
    return list(
        session.scalars(
            select(ScoringRun)
            .where(ScoringRun.status == "done")
            .order_by(ScoringRun.id.desc())
            .limit(limit)
        )
    )


def current_ratings(session: Session, customer_ids: Sequence[int]) -> pl.DataFrame:
    """The rating and tier on the credit profiles of some customers."""
    rows: list[Any] = []
    for part in chunks(list(customer_ids)):
        rows.extend(
            session.execute(
                select(
                    CreditProfile.customer_id, CreditProfile.rating, CreditProfile.risk_tier
                ).where(CreditProfile.customer_id.in_(part))
            )
        )
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={"customer_id": pl.Int64, "rating": pl.String, "risk_tier": pl.String},
        orient="row",
    )


# ---------------------------------------------------------------- model registry


def next_model_version(session: Session, name: str) -> int:
    """One more than the highest version of a model name."""
    top = session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.name == name))
    return int(top or 0) + 1


def add_model_version(session: Session, version: ModelVersion) -> bool:
    """Insert a model version; False (and nothing inserted) when its number is taken."""
    try:
        with session.begin_nested():
            session.add(version)
    except IntegrityError:
        taken = select(ModelVersion.id).where(
            ModelVersion.name == version.name, ModelVersion.version == version.version
        )
        if session.scalar(taken) is None:
            raise  # some other constraint: not a race for the number
        return False
    return True


def model_versions(session: Session, name: str | None = None) -> list[ModelVersion]:
    """Model versions, newest first (of one name when given)."""
    stmt = select(ModelVersion).order_by(ModelVersion.id.desc())
    if name is not None:
        stmt = stmt.where(ModelVersion.name == name)
    return list(session.scalars(stmt))


def keep_matured(
    session: Session, version_id: int, rows: list[dict[str, Any]], *, as_of: dt.date
) -> None:
    """Store a version's matured performance unless figures of the same or a later day are
    there: one conditional UPDATE, so two runs storing at once cannot put older figures over
    newer ones."""
    session.execute(
        update(ModelVersion)
        .where(
            ModelVersion.id == version_id,
            or_(ModelVersion.matured_as_of.is_(None), ModelVersion.matured_as_of < as_of),
        )
        .values(matured_performance=rows, matured_as_of=as_of)
        .execution_options(synchronize_session="fetch")
    )


def get_model_version(session: Session, version_id: int) -> ModelVersion | None:
    """A model version by id."""
    return session.get(ModelVersion, version_id)


def live_models(session: Session) -> list[ModelVersion]:
    """Champions and challengers."""
    return list(
        session.scalars(
            select(ModelVersion)
            .where(ModelVersion.status.in_(("champion", "challenger")))
            .order_by(ModelVersion.id)
        )
    )


def _copy_or_insert(
    session: Session, table: Any, columns: Sequence[str], rows: list[dict[str, Any]]
) -> None:
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        raw: Any = connection.connection.driver_connection
        names = ", ".join(columns)
        with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row([r[c] for c in columns])
        trail.noted_write(session, table.name, "insert", len(rows))
        return
    for part in chunks(rows, 5000):
        session.execute(insert(table), list(part))


def insert_model_scores(session: Session, rows: list[dict[str, Any]]) -> None:
    """Store model scores in bulk (COPY on PostgreSQL)."""
    if rows:
        table: Any = ModelScore.__table__
        _copy_or_insert(
            session,
            table,
            (
                "model_version_id",
                "customer_id",
                "as_of",
                "scored_at",
                "bad_probability",
                "score",
                "run_id",
            ),
            rows,
        )


def latest_model_as_of(session: Session, version_id: int) -> dt.date | None:
    """The latest day a model version scored customers."""
    return session.scalar(
        select(func.max(ModelScore.as_of)).where(
            ModelScore.model_version_id == version_id, settled(ModelScore.run_id)
        )
    )


def latest_model_scores(session: Session, version_id: int) -> list[int]:
    """The scores a model version gave on its latest day (one per customer, the latest)."""
    day = latest_model_as_of(session, version_id)
    if day is None:
        return []
    newest = (
        select(func.max(ModelScore.id))
        .where(
            ModelScore.model_version_id == version_id,
            ModelScore.as_of == day,
            settled(ModelScore.run_id),
        )
        .group_by(ModelScore.customer_id)
    )
    return [
        int(s) for s in session.scalars(select(ModelScore.score).where(ModelScore.id.in_(newest)))
    ]


def champion_scores(session: Session, customer_ids: Sequence[int] | None) -> pl.DataFrame:
    """Each customer's latest score from each champion model (``model.<name>`` columns)."""
    champions = list(session.scalars(select(ModelVersion).where(ModelVersion.status == "champion")))
    frame = pl.DataFrame(schema={"customer_id": pl.Int64})
    for champion in champions:
        newest = (
            select(func.max(ModelScore.id))
            .where(ModelScore.model_version_id == champion.id, settled(ModelScore.run_id))
            .group_by(ModelScore.customer_id)
        )
        stmt = select(ModelScore.customer_id, cast(ModelScore.score, Float)).where(
            ModelScore.id.in_(newest)
        )
        rows = rows_in(session, stmt, ModelScore.customer_id, customer_ids)
        part = pl.DataFrame(
            [tuple(r) for r in rows],
            schema={"customer_id": pl.Int64, f"model.{champion.name}": pl.Float64},
            orient="row",
        )
        frame = frame.join(part, on="customer_id", how="full", coalesce=True)
    return frame


def model_scores_of(session: Session, customer_id: int, limit: int) -> list[Any]:
    """A customer's model scores with the model's name, version and status, newest first."""
    return list(
        session.execute(
            select(ModelScore, ModelVersion.name, ModelVersion.version, ModelVersion.status)
            .join(ModelVersion, ModelVersion.id == ModelScore.model_version_id)
            .where(ModelScore.customer_id == customer_id, settled(ModelScore.run_id))
            .order_by(ModelScore.id.desc())
            .limit(limit)
        )
    )
