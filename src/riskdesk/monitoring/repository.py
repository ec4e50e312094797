"""SQL of early warning: rules and versions, the values rules read, purchase days and churn
fits. (Alerts, cases, playbooks and notifications are the alerts package's, a floor up.)"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl
from sqlalchemy import Date, Float, cast, distinct, func, select
from sqlalchemy.orm import Session

from riskdesk.customers.repository import rows_in
from riskdesk.models import (
    ChurnFit,
    CreditExposure,
    CreditFileChange,
    CreditFileVersion,
    CreditProfile,
    CreditReport,
    CustomerScore,
    ExposureCategory,
    RuleVersion,
    ScorecardVersion,
    WarningBacktest,
    WarningRule,
)
from riskdesk.scoring.repository import settled


def rules(session: Session) -> list[WarningRule]:
    """Every rule, by category and code."""
    return list(
        session.scalars(select(WarningRule).order_by(WarningRule.category, WarningRule.code))
    )


def rule_by_code(session: Session, code: str) -> WarningRule | None:
    """A rule by its code."""
    return session.scalars(select(WarningRule).where(WarningRule.code == code)).one_or_none()


def versions_of(session: Session, rule_id: int) -> list[RuleVersion]:
    """A rule's versions, newest first."""
    return list(
        session.scalars(
            select(RuleVersion)
            .where(RuleVersion.rule_id == rule_id)
            .order_by(RuleVersion.version.desc())
        )
    )


def get_version(session: Session, version_id: int, *, lock: bool = False) -> RuleVersion | None:
    """A rule version (locked for update when asked)."""
    stmt = select(RuleVersion).where(RuleVersion.id == version_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def next_version(session: Session, rule_id: int) -> int:
    """One more than the rule's highest version."""
    top = session.scalar(
        select(func.max(RuleVersion.version)).where(RuleVersion.rule_id == rule_id)
    )
    return int(top or 0) + 1


def active_versions(session: Session) -> list[tuple[WarningRule, RuleVersion]]:
    """The active version of every rule that has one."""
    rows = session.execute(
        select(WarningRule, RuleVersion)
        .join(RuleVersion, RuleVersion.rule_id == WarningRule.id)
        .where(RuleVersion.status == "active")
        .order_by(WarningRule.code)
    )
    return [(r, v) for r, v in rows]


def profile_values(session: Session, customer_ids: Sequence[int] | None) -> pl.DataFrame:
    """Profile fields rules read, and utilisation from the counted exposure."""
    counted = select(ExposureCategory.code).where(ExposureCategory.counts_in_limit.is_(True))
    exposure = (
        select(
            CreditExposure.customer_id.label("cid"),
            func.sum(cast(CreditExposure.amount, Float)).label("counted"),
        )
        .where(CreditExposure.category.in_(counted))
        .group_by(CreditExposure.customer_id)
        .subquery()
    )
    stmt = select(
        CreditProfile.customer_id,
        CreditProfile.risk_tier,
        CreditProfile.rating,
        cast(CreditProfile.score, Float),
        cast(CreditProfile.credit_limit, Float),
        cast(CreditProfile.payment_terms_days, Float),
        exposure.c.counted,
    ).outerjoin(exposure, exposure.c.cid == CreditProfile.customer_id)
    rows = rows_in(session, stmt, CreditProfile.customer_id, customer_ids)
    frame = pl.DataFrame(
        [tuple(r) for r in rows],
        schema={
            "customer_id": pl.Int64,
            "risk_tier": pl.String,
            "rating": pl.String,
            "score": pl.Float64,
            "credit_limit": pl.Float64,
            "payment_terms_days": pl.Float64,
            "_counted": pl.Float64,
        },
        orient="row",
    )
    return frame.with_columns(
        utilisation=pl.when(pl.col("credit_limit") > 0).then(
            pl.col("_counted").fill_null(0.0) / pl.col("credit_limit")
        )
    ).drop("_counted")


def _not_cancelled(order: Any) -> Any:
    """A cancelled order was no purchase."""
    from riskdesk.models import OrderCancellation

    return ~select(OrderCancellation.id).where(OrderCancellation.order_id == order.id).exists()


def purchase_days(
    session: Session, as_of: dt.date, customer_ids: Sequence[int] | None = None
) -> pl.DataFrame:
    """customer_id, day: the days each customer ordered on, up to a date."""
    from riskdesk.models import Order

    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    stmt = select(Order.customer_id, Order.ordered_at).where(
        Order.ordered_at < end, _not_cancelled(Order)
    )
    rows = (
        rows_in(session, stmt, Order.customer_id, list(customer_ids))
        if customer_ids is not None
        else session.execute(stmt).all()
    )
    frame = pl.DataFrame(
        [tuple(r) for r in rows],
        schema={"customer_id": pl.Int64, "ordered_at": pl.Datetime("us", "UTC")},
        orient="row",
    )
    return frame.select("customer_id", pl.col("ordered_at").dt.date().alias("day")).unique()


def purchase_counts(
    session: Session, as_of: dt.date, customer_ids: Sequence[int] | None = None
) -> pl.DataFrame:
    """customer_id, days, first, last: how many distinct days each customer ordered on up to
    a date, the first and the last (UTC days), counted by the database: one row a customer
    comes back, not one an order (the event path needs them for every batch)."""
    from riskdesk.models import Order

    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    if session.get_bind().dialect.name == "postgresql":
        day: Any = cast(func.timezone("UTC", Order.ordered_at), Date)
    else:  # stored as naive UTC text: its first ten characters are the day
        day = func.substr(Order.ordered_at, 1, 10)
    stmt = (
        select(Order.customer_id, func.count(distinct(day)), func.min(day), func.max(day))
        .where(Order.ordered_at < end, _not_cancelled(Order))
        .group_by(Order.customer_id)
    )
    rows = (
        rows_in(session, stmt, Order.customer_id, list(customer_ids))
        if customer_ids is not None
        else session.execute(stmt).all()
    )
    frame = pl.DataFrame(
        [(r[0], r[1], str(r[2]), str(r[3])) for r in rows],
        schema={"customer_id": pl.Int64, "days": pl.Int64, "first": pl.String, "last": pl.String},
        orient="row",
    )
    return frame.with_columns(pl.col("first", "last").str.to_date("%Y-%m-%d"))


def latest_backtest(session: Session) -> WarningBacktest | None:
    """The newest recorded backtest of the active pack."""
    stmt = select(WarningBacktest).order_by(
        WarningBacktest.measured_at.desc(), WarningBacktest.id.desc()
    )
    return session.scalars(stmt.limit(1)).first()


def add_backtest(session: Session, backtest: WarningBacktest) -> None:
    """Record a backtest."""
    session.add(backtest)
    session.flush()


def latest_churn_fit(session: Session) -> ChurnFit | None:
    """The newest BG/NBD fit."""
    return session.scalar(select(ChurnFit).order_by(ChurnFit.id.desc()).limit(1))


def score_history(session: Session, customer_ids: Sequence[int] | None) -> pl.DataFrame:
    """Every stored score: customer_id, as_of, seq (later runs higher), score, version_id,
    risk_tier and rank, the rating's position on its scale (0 the best; null when the scale
    lacks it)."""
    stmt = select(
        CustomerScore.customer_id,
        CustomerScore.as_of,
        CustomerScore.id,
        cast(CustomerScore.score, Float),
        CustomerScore.scorecard_version_id,
        CustomerScore.rating,
        CustomerScore.risk_tier,
    ).where(settled(CustomerScore.run_id))
    rows = rows_in(session, stmt, CustomerScore.customer_id, customer_ids)
    frame = pl.DataFrame(
        [tuple(r) for r in rows],
        schema={
            "customer_id": pl.Int64,
            "as_of": pl.Date,
            "seq": pl.Int64,
            "score": pl.Float64,
            "version_id": pl.Int64,
            "rating": pl.String,
            "risk_tier": pl.String,
        },
        orient="row",
    )
    order: list[tuple[int, str, int]] = []
    versions = frame["version_id"].unique().drop_nulls().to_list()
    for version in session.scalars(
        select(ScorecardVersion).where(ScorecardVersion.id.in_(versions))
    ):
        bands = sorted(version.definition.get("ratings", []), key=lambda b: -b["min"])
        order += [(version.id, b["code"], i) for i, b in enumerate(bands)]
    ranks = pl.DataFrame(
        order, schema={"version_id": pl.Int64, "rating": pl.String, "rank": pl.Int64}, orient="row"
    )
    return frame.join(ranks, on=["version_id", "rating"], how="left").drop("rating")


def bureau_history(session: Session, customer_ids: Sequence[int] | None) -> pl.DataFrame:
    """Every bureau score: customer_id, report_date, seq, score."""
    stmt = select(
        CreditReport.customer_id,
        CreditReport.report_date,
        CreditReport.id,
        cast(CreditReport.score, Float),
    ).where(CreditReport.score.is_not(None))
    rows = rows_in(session, stmt, CreditReport.customer_id, customer_ids)
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={
            "customer_id": pl.Int64,
            "report_date": pl.Date,
            "seq": pl.Int64,
            "score": pl.Float64,
        },
        orient="row",
    )


def confirmed_alerts(session: Session) -> pl.DataFrame:
    """customer_id, warning_type, observed_on of every alert people closed as confirmed."""
    from riskdesk.models import Alert

    rows = session.execute(
        select(Alert.customer_id, Alert.warning_type, Alert.observed_on).where(
            Alert.outcome == "confirmed", Alert.customer_id.is_not(None)
        )
    ).all()
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={"customer_id": pl.Int64, "warning_type": pl.String, "observed_on": pl.Date},
        orient="row",
    )


def demo_labels(session: Session) -> pl.DataFrame:
    """customer_id, behaviour, onset_date the demo generator gave each customer (to score a
    replay with; never read while warnings are evaluated)."""
    from riskdesk.models import DemoBehaviour

    rows = session.execute(
        select(DemoBehaviour.customer_id, DemoBehaviour.behaviour, DemoBehaviour.onset_date).where(
            DemoBehaviour.customer_id.is_not(None)
        )
    ).all()
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={"customer_id": pl.Int64, "behaviour": pl.String, "onset_date": pl.Date},
        orient="row",
    )


def profile_changes(session: Session) -> pl.DataFrame:
    """customer_id, field, changed_on, old_value of every recorded change to a credit limit or
    payment terms, oldest first: what lets a replay put back the values of a past date."""
    stmt = (
        select(
            CreditFileVersion.customer_id,
            CreditFileChange.field,
            CreditFileVersion.changed_at,
            CreditFileChange.old_value,
        )
        .join(CreditFileVersion, CreditFileVersion.id == CreditFileChange.version_id)
        .where(CreditFileChange.field.in_(("credit_limit", "payment_terms_days")))
        .order_by(CreditFileVersion.changed_at, CreditFileChange.id)
    )
    return pl.DataFrame(
        [(c, f, at.date(), old) for c, f, at, old in session.execute(stmt)],
        schema={
            "customer_id": pl.Int64,
            "field": pl.String,
            "changed_on": pl.Date,
            "old_value": pl.String,
        },
        orient="row",
    )


def static_profiles(session: Session) -> pl.DataFrame:
    """customer_id, risk_tier, credit_limit, payment_terms_days as stored now (a replay puts
    back the values of its dates with ``profile_changes`` and the scores' tiers)."""
    rows = session.execute(
        select(
            CreditProfile.customer_id,
            CreditProfile.risk_tier,
            cast(CreditProfile.credit_limit, Float),
            cast(CreditProfile.payment_terms_days, Float),
        )
    ).all()
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={
            "customer_id": pl.Int64,
            "risk_tier": pl.String,
            "credit_limit": pl.Float64,
            "payment_terms_days": pl.Float64,
        },
        orient="row",
    )
