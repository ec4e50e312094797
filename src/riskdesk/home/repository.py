"""SQL of the home pages: every figure is a GROUP BY (or a short list) in the database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, String, and_, case, cast, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from riskdesk.customers import repository as customer_repo
from riskdesk.jobs import repository as job_repo
from riskdesk.models import (
    Alert,
    AuditEntry,
    Complaint,
    CreditDecision,
    Customer,
    Delivery,
    GroupLimitChange,
    Job,
    LimitRequest,
    PendingChange,
    RuleVersion,
    SurveyResponse,
    User,
    WarningRule,
)

ALERT_CLOSED = ("resolved", "dismissed")
COMPLAINT_OPEN = ("open", "in_progress")
COMPLAINT_CLOSED = ("resolved", "closed")


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _day_text(session: Session, column: Any) -> Any:
    """A UTC timestamp's day as 'YYYY-MM-DD' text, in the database's own dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)  # SQLite keeps UTC without a zone


def _visible_alerts(stmt: Any, owner_ids: tuple[int, ...] | None, within: Any = None) -> Any:
    """Alerts on the customers the caller may see and, when ``within`` (a SELECT of customer
    ids) is given, on those customers only: an alert on no customer (a product's) is then out."""
    if within is not None:
        stmt = stmt.where(Alert.customer_id.in_(within))
    if owner_ids is None:
        return stmt
    return stmt.join(Customer, Customer.id == Alert.customer_id).where(
        Customer.owner_id.in_(owner_ids)
    )


# ---------------------------------------------------------------- risk analyst


def alert_queue(
    session: Session,
    assignees: tuple[int, ...],
    owner_ids: tuple[int, ...] | None,
    now: dt.datetime,
    day_end: dt.datetime,
    within: Any = None,
) -> tuple[int, int, int]:
    """(open, due before ``day_end``, past due) of the alerts assigned to ``assignees``."""
    stmt = select(
        func.count(),
        _count_if(Alert.due_at < day_end),
        _count_if(Alert.due_at < now),
    ).where(Alert.status.not_in(ALERT_CLOSED), Alert.assigned_to_id.in_(assignees))
    n, due, late = session.execute(_visible_alerts(stmt, owner_ids, within)).one()
    return int(n), int(due), int(late)


def sla_record(
    session: Session,
    assignees: tuple[int, ...],
    owner_ids: tuple[int, ...] | None,
    since: Any,
    within: Any = None,
) -> tuple[int, int]:
    """(on time, late) of the alerts assigned to ``assignees`` closed since a moment; late:
    escalated, or closed after its due time."""
    late = or_(Alert.escalation_level > 0, Alert.closed_at > Alert.due_at)
    stmt = select(_count_if(~late), _count_if(late)).where(
        Alert.status.in_(ALERT_CLOSED),
        Alert.closed_at >= since,
        Alert.assigned_to_id.in_(assignees),
    )
    on_time, n_late = session.execute(_visible_alerts(stmt, owner_ids, within)).one()
    return int(on_time), int(n_late)


def alerts_by_day_and_code(
    session: Session, owner_ids: tuple[int, ...] | None, since: dt.date, within: Any = None
) -> list[tuple[dt.date, str, str, int]]:
    """(business day observed, rule code, warning type, alerts) since a day, over the visible
    alerts."""
    stmt = (
        select(Alert.observed_on, Alert.rule_code, Alert.warning_type, func.count())
        .where(Alert.observed_on >= since)
        .group_by(Alert.observed_on, Alert.rule_code, Alert.warning_type)
    )
    rows = session.execute(_visible_alerts(stmt, owner_ids, within))
    return [(d, str(c), str(w), int(n)) for d, c, w, n in rows]


def rule_names(session: Session, codes: list[str]) -> dict[str, tuple[str, str]]:
    """Rule code -> (English name, Chinese name) of the rules among ``codes``."""
    if not codes:
        return {}
    stmt = select(WarningRule.code, WarningRule.name_en, WarningRule.name_zh).where(
        WarningRule.code.in_(codes)
    )
    return {str(c): (str(en), str(zh)) for c, en, zh in session.execute(stmt)}


# ---------------------------------------------------------------- sales


def held_orders(session: Session, scope: Any, limit: int) -> list[Any]:
    """Orders of the customers in scope held by the credit check, the oldest first."""
    return list(
        session.execute(
            select(
                CreditDecision.id,
                CreditDecision.customer_id,
                CreditDecision.amount,
                CreditDecision.currency,
                CreditDecision.created_at,
            )
            .where(
                CreditDecision.status == "held",
                CreditDecision.customer_id.in_(customer_repo.matching_ids(scope)),
            )
            .order_by(CreditDecision.created_at, CreditDecision.id)
            .limit(limit)
        )
    )


def pending_requests(session: Session, scope: Any, now: dt.datetime, limit: int) -> list[Any]:
    """Limit requests of the customers in scope waiting for a decision, the oldest first."""
    return list(
        session.execute(
            select(
                LimitRequest.id,
                LimitRequest.customer_id,
                LimitRequest.current_limit,
                LimitRequest.requested_limit,
                LimitRequest.currency,
                LimitRequest.requested_at,
            )
            .where(
                LimitRequest.status == "pending",
                LimitRequest.expires_at >= now,
                LimitRequest.customer_id.in_(customer_repo.matching_ids(scope)),
            )
            .order_by(LimitRequest.requested_at, LimitRequest.id)
            .limit(limit)
        )
    )


# ---------------------------------------------------------------- customer service


def complaint_sla(
    session: Session,
    owner_ids: tuple[int, ...] | None,
    now: dt.datetime,
    since: dt.datetime,
    within: Any = None,
) -> list[tuple[str, str, int]]:
    """(product or '', SLA status, complaints): open ones now (within or breached SLA, as the
    complaint desk counts a breach), closed ones since a moment (on time or late)."""
    breached = or_(
        and_(Complaint.responded_at.is_(None), Complaint.respond_by < now),
        Complaint.resolve_by < now,
    )
    late = or_(
        Complaint.resolved_at > Complaint.resolve_by,
        Complaint.responded_at > Complaint.respond_by,
    )
    status = case(
        (Complaint.status.in_(COMPLAINT_OPEN) & breached, literal("open_breached")),
        (Complaint.status.in_(COMPLAINT_OPEN), literal("open_within")),
        (late, literal("closed_late")),
        else_=literal("closed_on_time"),
    ).label("sla")
    product = func.coalesce(Complaint.product, "").label("product")
    stmt = (
        select(product, status, func.count())
        .join(Customer, Customer.id == Complaint.customer_id)
        .where(
            or_(
                Complaint.status.in_(COMPLAINT_OPEN),
                and_(
                    Complaint.status.in_(COMPLAINT_CLOSED),
                    func.coalesce(Complaint.resolved_at, Complaint.opened_at) >= since,
                ),
            )
        )
        .group_by(product, status)
    )
    if owner_ids is not None:
        stmt = stmt.where(Customer.owner_id.in_(owner_ids))
    if within is not None:
        stmt = stmt.where(Complaint.customer_id.in_(within))
    return [(str(p), str(s), int(n)) for p, s, n in session.execute(stmt)]


def satisfaction_by_day(
    session: Session, owner_ids: tuple[int, ...] | None, since: dt.datetime, within: Any = None
) -> list[tuple[str, str, int, int]]:
    """(day 'YYYY-MM-DD', survey type, responses, sum of scores) since a moment."""
    day = _day_text(session, SurveyResponse.responded_at).label("day")
    stmt = (
        select(day, SurveyResponse.survey_type, func.count(), func.sum(SurveyResponse.score))
        .join(Customer, Customer.id == SurveyResponse.customer_id)
        .where(SurveyResponse.responded_at >= since)
        .group_by(day, SurveyResponse.survey_type)
    )
    if owner_ids is not None:
        stmt = stmt.where(Customer.owner_id.in_(owner_ids))
    if within is not None:
        stmt = stmt.where(SurveyResponse.customer_id.in_(within))
    return [(str(d), str(k), int(n), int(s or 0)) for d, k, n, s in session.execute(stmt)]


def live_customer_ids(
    session: Session, owner_ids: tuple[int, ...] | None, within: Any = None
) -> list[int]:
    """The ids of the live customers the caller may see (among ``within`` when given)."""
    scope = customer_repo.CustomerFilter(owner_ids=owner_ids, within=within)
    return [int(i) for i in session.scalars(customer_repo.matching_ids(scope))]


# ---------------------------------------------------------------- auditor


def _quarter_hour_text(session: Session, column: Any) -> Any:
    """A UTC timestamp's quarter hour as 'YYYY-MM-DD HH:MM' text (minutes 00, 15, 30, 45): fine
    enough to be put on any zone's calendar day (some are 30 or 45 minutes off the hour)."""
    if session.get_bind().dialect.name == "postgresql":
        utc = func.timezone("UTC", column)
        quarter = (cast(func.extract("minute", utc), Integer) // 15) * 15
        return func.concat(
            func.to_char(utc, "YYYY-MM-DD HH24:"), func.lpad(cast(quarter, String), 2, "0")
        )
    minute = cast(func.strftime("%M", column), Integer)
    return func.strftime("%Y-%m-%d %H:", column).concat(func.printf("%02d", (minute // 15) * 15))


def audit_by_quarter_hour_and_action(
    session: Session, since: dt.datetime
) -> list[tuple[str, str, int]]:
    """(UTC quarter hour 'YYYY-MM-DD HH:MM', action, entries) of the audit log since a moment:
    the caller puts them on the days of its display zone."""
    quarter = _quarter_hour_text(session, AuditEntry.at).label("quarter")
    stmt = (
        select(quarter, AuditEntry.action, func.count())
        .where(AuditEntry.at >= since)
        .group_by(quarter, AuditEntry.action)
    )
    return [(str(q), str(a), int(n)) for q, a, n in session.execute(stmt)]


def decisions_by_person(session: Session, since: dt.datetime) -> list[tuple[int, str, int, int]]:
    """(user id, username, approved, rejected): four-eyes decisions since a moment, over
    credit-file changes, limit requests, group limit changes and rule versions."""
    parts = [
        select(model.decided_by_id.label("who"), model.status.label("status")).where(
            model.decided_by_id.is_not(None),
            model.decided_at >= since,
            model.status.in_(("approved", "rejected")),
        )
        for model in (PendingChange, LimitRequest, GroupLimitChange)
    ]
    parts.append(
        select(RuleVersion.approved_by_id.label("who"), literal("approved").label("status")).where(
            RuleVersion.approved_by_id.is_not(None), RuleVersion.approved_at >= since
        )
    )
    decisions = union_all(*parts).subquery("decisions")
    approved = _count_if(decisions.c.status == "approved")
    stmt = (
        select(
            User.id,
            User.username,
            approved,
            _count_if(decisions.c.status == "rejected"),
        )
        .join(User, User.id == decisions.c.who)
        .group_by(User.id, User.username)
        .order_by(func.count().desc(), User.username)
    )
    return [(int(i), str(u), int(a), int(r)) for i, u, a, r in session.execute(stmt)]


def personal_data_by_person(
    session: Session, since: dt.datetime, limit: int
) -> list[tuple[str, int, int]]:
    """(actor, views, reveals) of personal data since a moment, the most in all first: shown
    in full on a page (view) and revealed on request (reveal)."""
    views = _count_if(AuditEntry.action == "view")
    reveals = _count_if(AuditEntry.action == "reveal")
    stmt = (
        select(AuditEntry.actor, views, reveals)
        .where(AuditEntry.action.in_(("view", "reveal")), AuditEntry.at >= since)
        .group_by(AuditEntry.actor)
        .order_by(func.count().desc(), AuditEntry.actor)
        .limit(limit)
    )
    return [(str(a), int(v), int(r)) for a, v, r in session.execute(stmt)]


# ---------------------------------------------------------------- admin


def jobs_by_status(session: Session, since: dt.datetime) -> dict[str, int]:
    """Background jobs queued or running now, and those that ended since a moment, by status."""
    # The same set as the job list's ``since`` filter, which the tiles link to.
    stmt = (
        select(Job.status, func.count())
        .where(job_repo.active_or_ended_since(since))
        .group_by(Job.status)
    )
    return {str(s): int(n) for s, n in session.execute(stmt)}


def deliveries_by_status(session: Session, since: dt.datetime) -> dict[str, int]:
    """Outbox messages waiting now (pending, failed and to be retried), and those delivered or
    given up since a moment, by status."""
    stmt = (
        select(Delivery.status, func.count())
        .where(
            or_(
                Delivery.status.in_(("pending", "failed")),
                func.coalesce(Delivery.delivered_at, Delivery.created_at) >= since,
            )
        )
        .group_by(Delivery.status)
    )
    return {str(s): int(n) for s, n in session.execute(stmt)}


def latest_job_heartbeat(session: Session) -> dt.datetime | None:
    """The newest heartbeat of a running background job."""
    found: dt.datetime | None = session.scalar(
        select(func.max(Job.heartbeat_at)).where(Job.status == "running")
    )
    if found is not None and found.tzinfo is None:  # func.max loses the column's type
        found = found.replace(tzinfo=dt.UTC)
    return found


def schema_revision(session: Session) -> str | None:
    """The Alembic revision the database is at (None: not migrated by Alembic)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(session.connection()).get_current_revision()


def database_kind(session: Session) -> str:
    """The database's dialect: sqlite or postgresql."""
    return str(session.get_bind().dialect.name)


ZERO = Decimal("0.00")
