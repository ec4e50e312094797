"""SQL of alerts: alerts, cases, routes, comments, playbooks and their actions, notifications,
webhook endpoints and the delivery outbox."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Float, and_, cast, func, insert, or_, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from riskdesk.customers.repository import chunks, rows_in
from riskdesk.db import count_rows, stream_rows
from riskdesk.models import (
    Alert,
    AlertAction,
    AlertCase,
    AlertComment,
    AlertRoute,
    AlertSla,
    CreditExposure,
    Delivery,
    ExposureCategory,
    ModelScore,
    ModelVersion,
    Notification,
    NotificationSetting,
    Playbook,
    RuleVersion,
    User,
    WebhookEndpoint,
)
from riskdesk.scoring.repository import settled

CLOSED = ("resolved", "dismissed")


def open_alerts_of(
    session: Session, customer_ids: Sequence[int], rule_codes: Sequence[str]
) -> dict[tuple[int, str], Alert]:
    """The newest open alert of each of some rules for each of some customers, by (customer
    id, rule code)."""
    if not customer_ids or not rule_codes:
        return {}
    stmt = (
        select(Alert)
        .where(Alert.rule_code.in_(sorted(set(rule_codes))), Alert.status.not_in(CLOSED))
        .order_by(Alert.id)
    )
    found: dict[tuple[int, str], Alert] = {}
    for part in chunks(list(customer_ids)):
        for alert in session.scalars(stmt.where(Alert.customer_id.in_(part))):
            found[(int(alert.customer_id or 0), str(alert.rule_code))] = alert
    return found


def open_rule_alerts(
    session: Session, customer_ids: Sequence[int] | None
) -> list[tuple[int, int, str, int | None]]:
    """(alert id, customer id, rule code, rule version id) of every alert a rule raised that
    is not closed, for some customers (None: all)."""
    stmt = select(Alert.id, Alert.customer_id, Alert.rule_code, Alert.rule_version_id).where(
        Alert.source == "rule", Alert.status.not_in(CLOSED), Alert.customer_id.is_not(None)
    )
    rows = rows_in(session, stmt, Alert.customer_id, customer_ids)
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def lock_open_alerts(session: Session, alert_ids: Sequence[int]) -> list[Alert]:
    """Those of some alerts not yet closed, locked for update (as a person moving one locks
    it) and read afresh."""
    found: list[Alert] = []
    stmt = (
        select(Alert)
        .where(Alert.status.not_in(CLOSED))
        .order_by(Alert.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for part in chunks(sorted(alert_ids)):
        found.extend(session.scalars(stmt.where(Alert.id.in_(part))))
    return found


def unfinished_steps(session: Session, alert_ids: Sequence[int]) -> list[AlertAction]:
    """The playbook steps of some alerts that nobody carried out: automatic tasks still open,
    automatic credit changes still awaiting approval, and offers nobody took; locked."""
    stmt = (
        select(AlertAction)
        .where(
            or_(
                AlertAction.status == "offered",
                AlertAction.auto.is_(True) & AlertAction.status.in_(("open", "awaiting_approval")),
            )
        )
        .order_by(AlertAction.id)
        .with_for_update()
    )
    found: list[AlertAction] = []
    for part in chunks(sorted(alert_ids)):
        found.extend(session.scalars(stmt.where(AlertAction.alert_id.in_(part))))
    return found


def insert_alerts(session: Session, rows: list[dict[str, Any]]) -> None:
    """Store new alerts in bulk."""
    table: Any = Alert.__table__
    for part in chunks(rows, 2000):
        session.execute(insert(table), list(part))


def get_alert(session: Session, alert_id: int, *, lock: bool = False) -> Alert | None:
    """An alert (locked for update when asked)."""
    stmt = select(Alert).where(Alert.id == alert_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


@dataclass(frozen=True)
class AlertFilter:
    """What a list or export of alerts is narrowed to (None or empty: any)."""

    # open_any: every alert not yet closed; worked: taken up (any status but open); closed:
    # resolved or dismissed; any (or None): every status.
    status: str | None = None
    severity: str | None = None
    category: str | None = None
    warning_types: tuple[str, ...] = ()
    customer_id: int | None = None
    codes: tuple[str, ...] = ()
    observed_from: dt.date | None = None
    observed_to: dt.date | None = None
    raised_from: dt.datetime | None = None
    raised_to: dt.datetime | None = None
    outcome: str | None = None  # confirmed or false_alarm
    # Past their SLA as of this moment: escalated, closed late, or open past due.
    breached_at: dt.datetime | None = None
    within: Any = None  # a SELECT of the customer ids to keep to (a region, a tier)
    # The customer filters ``within`` was made from, as given (region=East...): what the
    # audit log records of it, the SELECT itself says nothing to a reader.
    customers: tuple[tuple[str, str], ...] = ()
    assigned_to: tuple[int, ...] = ()  # assigned to one of these users (me, my team)

    def said(self) -> dict[str, Any]:
        """The filter as a reader of the audit log would read it: the customer filters in
        place of the SELECT they made, empty ones left out."""
        given = {
            k: v
            for k, v in vars(self).items()
            if k not in ("within", "customers") and v not in (None, ())
        }
        return given | dict(self.customers)


def _narrowed(
    stmt: Any, flt: AlertFilter, owner_ids: tuple[int, ...] | None, with_products: bool
) -> Any:
    """``stmt`` narrowed by the filter and the caller's visible customers (and product-level
    alerts, which have none, when ``with_products``)."""
    from riskdesk.models import Customer

    if flt.status == "open_any":
        stmt = stmt.where(Alert.status.not_in(CLOSED))
    elif flt.status == "worked":
        stmt = stmt.where(Alert.status != "open")
    elif flt.status == "closed":
        stmt = stmt.where(Alert.status.in_(CLOSED))
    elif flt.status and flt.status != "any":
        stmt = stmt.where(Alert.status == flt.status)
    if flt.outcome:
        stmt = stmt.where(Alert.outcome == flt.outcome)
    if flt.breached_at is not None:
        now = flt.breached_at
        stmt = stmt.where(
            or_(
                Alert.escalation_level > 0,
                and_(Alert.closed_at.is_(None), Alert.due_at < now),
                and_(Alert.closed_at.is_not(None), Alert.closed_at > Alert.due_at),
            )
        )
    if flt.within is not None:
        stmt = stmt.where(Alert.customer_id.in_(flt.within))
    if flt.severity:
        stmt = stmt.where(Alert.severity == flt.severity)
    if flt.category:
        stmt = stmt.where(Alert.category == flt.category)
    if flt.warning_types:
        stmt = stmt.where(Alert.warning_type.in_(flt.warning_types))
    if flt.customer_id is not None:
        stmt = stmt.where(Alert.customer_id == flt.customer_id)
    if flt.codes:
        stmt = stmt.where(Alert.rule_code.in_(flt.codes))
    if flt.assigned_to:
        stmt = stmt.where(Alert.assigned_to_id.in_(flt.assigned_to))
    if flt.observed_from is not None:
        stmt = stmt.where(Alert.observed_on >= flt.observed_from)
    if flt.observed_to is not None:
        stmt = stmt.where(Alert.observed_on <= flt.observed_to)
    if flt.raised_from is not None:
        stmt = stmt.where(Alert.raised_at >= flt.raised_from)
    if flt.raised_to is not None:
        stmt = stmt.where(Alert.raised_at <= flt.raised_to)
    if owner_ids is not None:
        mine = Customer.owner_id.in_(owner_ids)
        stmt = stmt.outerjoin(Customer, Customer.id == Alert.customer_id).where(
            or_(mine, Alert.customer_id.is_(None)) if with_products else mine
        )
    elif not with_products:
        stmt = stmt.where(Alert.customer_id.is_not(None))
    return stmt


def list_alerts(
    session: Session,
    *,
    status: str | None,
    severity: str | None,
    category: str | None,
    customer_id: int | None,
    owner_ids: tuple[int, ...] | None,
    limit: int,
    with_products: bool = True,
    observed_from: dt.date | None = None,
    observed_to: dt.date | None = None,
    warning_type: str | None = None,
    by_priority: bool = False,
    outcome: str | None = None,
    breached_at: dt.datetime | None = None,
    within: Any = None,
    codes: tuple[str, ...] = (),
    assigned_to: tuple[int, ...] = (),
) -> list[Alert]:
    """Alerts, most recently hit first (or by their case's priority, the most at stake first),
    narrowed by the filters and the caller's visible customers (and product-level alerts,
    which have none, when ``with_products``)."""
    flt = AlertFilter(
        outcome=outcome,
        breached_at=breached_at,
        within=within,
        status=status,
        severity=severity,
        category=category,
        warning_types=(warning_type,) if warning_type else (),
        customer_id=customer_id,
        observed_from=observed_from,
        observed_to=observed_to,
        codes=codes,
        assigned_to=assigned_to,
    )
    stmt = select(Alert)
    if by_priority:
        stmt = stmt.outerjoin(AlertCase, AlertCase.id == Alert.case_id).order_by(
            AlertCase.priority.desc().nulls_last()
        )
    stmt = stmt.order_by(Alert.last_hit_at.desc(), Alert.id.desc()).limit(limit)
    return list(session.scalars(_narrowed(stmt, flt, owner_ids, with_products)))


def case_priorities(session: Session, case_ids: Sequence[int]) -> dict[int, tuple[Any, Any]]:
    """(priority, basis) of some cases."""
    found: dict[int, tuple[Any, Any]] = {}
    stmt = select(AlertCase.id, AlertCase.priority, AlertCase.priority_basis)
    for part in chunks(sorted(set(case_ids))):
        for cid, value, basis in session.execute(stmt.where(AlertCase.id.in_(part))):
            found[cid] = (value, basis)
    return found


def worklist(
    session: Session, owner_ids: tuple[int, ...] | None, limit: int, offset: int
) -> tuple[list[tuple[AlertCase, int, list[str]]], int]:
    """Open cases the caller may see, the most at stake first: each with its number of open
    alerts and their warning types; and how many there are."""
    stmt = _worklist_query(select(AlertCase), owner_ids)
    total = count_rows(session, stmt)
    cases = list(session.scalars(stmt.limit(limit).offset(offset)))
    kinds = _open_kinds(session, [c.id for c in cases])
    return [(c, len(kinds[c.id]), sorted(set(kinds[c.id]))) for c in cases], total


def _worklist_query(stmt: Any, owner_ids: tuple[int, ...] | None) -> Any:
    from riskdesk.models import Customer

    stmt = stmt.where(AlertCase.status == "open")
    if owner_ids is not None:
        stmt = stmt.where(Customer.owner_id.in_(owner_ids))
    return stmt.join(Customer, Customer.id == AlertCase.customer_id).order_by(
        AlertCase.priority.desc().nulls_last(), AlertCase.id
    )


def count_worklist(session: Session, owner_ids: tuple[int, ...] | None) -> int:
    """How many open cases the caller may see."""
    return count_rows(session, _worklist_query(select(AlertCase.id), owner_ids))


def worklist_for_export(
    session: Session, owner_ids: tuple[int, ...] | None, chunk: int
) -> Iterator[list[tuple[Any, int, list[str]]]]:
    """The open cases as ``worklist`` orders them, with the customer's name columns, in chunks
    of ``chunk`` cases, each with its number of open alerts and their warning types."""
    from riskdesk.models import Customer

    stmt = _worklist_query(
        select(AlertCase, Customer.kind, Customer.company_name, Customer.person_name), owner_ids
    )
    batch: list[Any] = []
    for row in stream_rows(session, stmt, chunk):
        batch.append(row)
        if len(batch) >= chunk:
            yield _with_kinds(session, batch)
            batch = []
    if batch:
        yield _with_kinds(session, batch)


def _with_kinds(session: Session, rows: list[Any]) -> list[tuple[Any, int, list[str]]]:
    kinds = _open_kinds(session, [r[0].id for r in rows])
    return [(r, len(kinds[r[0].id]), sorted(set(kinds[r[0].id]))) for r in rows]


def _open_kinds(session: Session, case_ids: list[int]) -> dict[int, list[str]]:
    kinds: dict[int, list[str]] = {i: [] for i in case_ids}
    cases = case_ids
    if cases:
        rows = session.execute(
            select(Alert.case_id, Alert.warning_type).where(
                Alert.case_id.in_(list(kinds)), Alert.status.not_in(CLOSED)
            )
        )
        for case_id, kind in rows:
            if case_id is not None:
                kinds[case_id].append(kind)
    return kinds


def page_alerts(
    session: Session,
    flt: AlertFilter,
    *,
    owner_ids: tuple[int, ...] | None,
    with_products: bool,
    before_id: int | None,
    limit: int,
) -> list[Alert]:
    """Up to ``limit`` alerts with ids below ``before_id`` (None: from the newest), newest
    first by id, narrowed like ``list_alerts``: a keyset page, as cheap deep as at the top."""
    stmt = select(Alert).order_by(Alert.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(Alert.id < before_id)
    return list(session.scalars(_narrowed(stmt, flt, owner_ids, with_products)))


def queue_alerts(
    session: Session,
    flt: AlertFilter,
    *,
    owner_ids: tuple[int, ...] | None,
    with_products: bool,
    sort: str,
    offset: int,
    limit: int,
) -> list[Alert]:
    """A page of alerts narrowed like ``page_alerts``, in the queue's ``sort`` order: by
    their case's priority (the most at stake first), by last hit, by when raised (newest
    first), by severity (the most severe first) or by due time (the soonest first, none
    last); ties by id, newest first, so that pages never overlap.

    The page's ids are found first, sorting only the narrow columns the order reads, and
    then their rows: sorting whole rows (the evidence with them) to skip thousands of them
    made a deep page take half a second at 100,000 alerts (bench/alert_queue_bench.py)."""
    stmt = select(Alert.id)
    if sort == "priority":
        stmt = stmt.outerjoin(AlertCase, AlertCase.id == Alert.case_id).order_by(
            AlertCase.priority.desc().nulls_last(), Alert.last_hit_at.desc()
        )
    elif sort == "recent":
        stmt = stmt.order_by(Alert.last_hit_at.desc())
    elif sort == "raised":
        stmt = stmt.order_by(Alert.raised_at.desc())
    elif sort == "severity":
        rank = sql_case(
            {"critical": 0, "high": 1, "medium": 2, "low": 3}, value=Alert.severity, else_=4
        )
        stmt = stmt.order_by(rank, Alert.due_at.asc().nulls_last())
    elif sort == "due":
        stmt = stmt.order_by(Alert.due_at.asc().nulls_last())
    stmt = stmt.order_by(Alert.id.desc()).offset(offset).limit(limit)
    ids = list(session.scalars(_narrowed(stmt, flt, owner_ids, with_products)))
    if not ids:
        return []
    found = {a.id: a for a in session.scalars(select(Alert).where(Alert.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def count_alerts(
    session: Session,
    flt: AlertFilter,
    *,
    owner_ids: tuple[int, ...] | None,
    with_products: bool,
) -> int:
    """How many alerts ``page_alerts`` would walk through, narrowed the same way."""
    return count_rows(session, _narrowed(select(Alert.id), flt, owner_ids, with_products))


def alert_customers(session: Session, alert_ids: Sequence[int]) -> dict[int, int]:
    """The customer of each of some alerts (product alerts, which have none, left out)."""
    stmt = select(Alert.id, Alert.customer_id).where(Alert.customer_id.is_not(None))
    return {r[0]: r[1] for r in rows_in(session, stmt, Alert.id, sorted(set(alert_ids)))}


def usernames(session: Session, user_ids: Sequence[int]) -> dict[int, str]:
    """Usernames of some users."""
    stmt = select(User.id, User.username)
    return {r[0]: r[1] for r in rows_in(session, stmt, User.id, sorted(set(user_ids)))}


def alert_counts_since(session: Session, since: dt.datetime) -> int:
    """How many alerts were raised since a moment."""
    return int(session.scalar(select(func.count()).where(Alert.raised_at >= since)) or 0)


def outcome_counts(session: Session, codes: Sequence[str] | None = None) -> list[Any]:
    """(rule code, status, outcome, cleared reason, count) over every alert, or over the
    alerts of some rules (an event's few: not a scan of every alert)."""
    columns = (Alert.rule_code, Alert.status, Alert.outcome, Alert.cleared_reason)
    stmt = select(*columns, func.count()).group_by(*columns)
    if codes is not None:
        stmt = stmt.where(Alert.rule_code.in_(list(codes)))
    return list(session.execute(stmt))


def routes(session: Session) -> list[AlertRoute]:
    """Alert routes in the order they are tried."""
    return list(session.scalars(select(AlertRoute).order_by(AlertRoute.position, AlertRoute.id)))


def slas(session: Session) -> list[AlertSla]:
    """The stored hours to act, one row per severity."""
    return list(session.scalars(select(AlertSla)))


def get_sla(session: Session, severity: str) -> AlertSla | None:
    return session.get(AlertSla, severity)


def routing_facts(session: Session, customer_ids: Sequence[int]) -> dict[int, tuple[Any, Any, Any]]:
    """(owner id, region, segment) of customers."""
    from riskdesk.models import Customer

    stmt = select(Customer.id, Customer.owner_id, Customer.region, Customer.segment)
    return {r[0]: (r[1], r[2], r[3]) for r in rows_in(session, stmt, Customer.id, customer_ids)}


def open_cases(session: Session, customer_ids: Sequence[int]) -> dict[int, AlertCase]:
    """The open case of each of some customers."""
    stmt = select(AlertCase).where(AlertCase.status == "open")
    found: dict[int, AlertCase] = {}
    for part in chunks(list(customer_ids)):
        for case in session.scalars(stmt.where(AlertCase.customer_id.in_(part))):
            found[case.customer_id] = case
    return found


def cases_of_customer(session: Session, customer_id: int, limit: int = 50) -> list[Any]:
    """A customer's cases, newest first, each with how many alerts it holds."""
    count = select(func.count(Alert.id)).where(Alert.case_id == AlertCase.id).scalar_subquery()
    stmt = (
        select(AlertCase, count)
        .where(AlertCase.customer_id == customer_id)
        .order_by(AlertCase.opened_at.desc(), AlertCase.id.desc())
        .limit(limit)
    )
    return list(session.execute(stmt).all())


def move_alerts(session: Session, *, from_id: int, to_id: int, now: dt.datetime) -> None:
    """Give one customer's alerts and cases to another (a merge). When both have an open case,
    the moving case's alerts join the other's, and the emptied case is closed: one open case
    per customer."""
    cases = open_cases(session, [from_id, to_id])
    moving, kept = cases.get(from_id), cases.get(to_id)
    if moving is not None and kept is not None:
        session.execute(
            update(Alert)
            .where(Alert.case_id == moving.id)
            .values(case_id=kept.id)
            .execution_options(synchronize_session=False)
        )
        moving.status = "closed"
        moving.closed_at = now
    for model in (Alert, AlertCase):
        session.execute(
            update(model)
            .where(model.customer_id == from_id)
            .values(customer_id=to_id)
            .execution_options(synchronize_session=False)
        )
    session.flush()


def get_case(session: Session, case_id: int) -> AlertCase | None:
    """A case."""
    return session.get(AlertCase, case_id)


def alerts_of_case(session: Session, case_id: int) -> list[Alert]:
    """A case's alerts, newest first."""
    return list(
        session.scalars(select(Alert).where(Alert.case_id == case_id).order_by(Alert.id.desc()))
    )


def close_case_if_done(session: Session, case_id: int, when: dt.datetime) -> None:
    """Close a case once none of its alerts is open."""
    close_cases_if_done(session, [case_id], when)


def close_cases_if_done(session: Session, case_ids: Sequence[int], when: dt.datetime) -> int:
    """Close those of some cases that have no open alert left; how many."""
    closed = 0
    for part in chunks(sorted(set(case_ids))):
        busy = select(Alert.case_id).where(Alert.case_id.in_(part), Alert.status.not_in(CLOSED))
        done = select(AlertCase).where(
            AlertCase.id.in_(part), AlertCase.status == "open", AlertCase.id.not_in(busy)
        )
        for case in session.scalars(done):
            case.status = "closed"
            case.closed_at = when
            closed += 1
    session.flush()
    return closed


def overdue_alerts(session: Session, now: dt.datetime) -> list[Alert]:
    """Alerts not closed whose due time has passed."""
    return list(
        session.scalars(
            select(Alert).where(Alert.status.not_in(CLOSED), Alert.due_at < now).with_for_update()
        )
    )


def first_user_with_role(session: Session, role: str) -> int | None:
    """The first active user of a role (the default escalation target)."""
    from riskdesk.models import User

    return session.scalar(
        select(User.id).where(User.role == role, User.is_active.is_(True)).order_by(User.id)
    )


def comments_of(session: Session, alert_id: int) -> list[AlertComment]:
    """An alert's comments, oldest first."""
    return list(
        session.scalars(
            select(AlertComment).where(AlertComment.alert_id == alert_id).order_by(AlertComment.id)
        )
    )


def playbooks(session: Session) -> list[Playbook]:
    """Every playbook."""
    return list(session.scalars(select(Playbook).order_by(Playbook.id)))


def playbook_by_code(session: Session, code: str) -> Playbook | None:
    """A playbook by code."""
    return session.scalars(select(Playbook).where(Playbook.code == code)).one_or_none()


def get_playbook(session: Session, playbook_id: int) -> Playbook | None:
    """A playbook by id."""
    return session.get(Playbook, playbook_id)


def get_action(session: Session, action_id: int) -> AlertAction | None:
    """An alert action, locked for update."""
    return session.scalars(
        select(AlertAction).where(AlertAction.id == action_id).with_for_update()
    ).one_or_none()


def actions_of(session: Session, alert_id: int) -> list[AlertAction]:
    """An alert's actions, oldest first."""
    return list(
        session.scalars(
            select(AlertAction).where(AlertAction.alert_id == alert_id).order_by(AlertAction.id)
        )
    )


def alerts_raised_at(session: Session, when: dt.datetime, codes: Sequence[str]) -> list[Alert]:
    """The alerts of some codes raised at one moment (a run's new alerts)."""
    return list(
        session.scalars(
            select(Alert).where(Alert.raised_at == when, Alert.rule_code.in_(list(codes)))
        )
    )


def notification_setting(session: Session, user_id: int) -> NotificationSetting | None:
    """A user's stored notification settings."""
    return session.get(NotificationSetting, user_id)


def notification_settings(
    session: Session, user_ids: Sequence[int]
) -> dict[int, NotificationSetting]:
    """The stored settings of some users (those who never changed theirs are missing)."""
    if not user_ids:
        return {}
    stmt = select(NotificationSetting).where(NotificationSetting.user_id.in_(list(user_ids)))
    return {s.user_id: s for s in session.scalars(stmt)}


def notifications_of(
    session: Session, user_id: int, *, unread_only: bool, limit: int
) -> list[Notification]:
    """A user's notifications, newest first."""
    stmt = (
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return list(session.scalars(stmt))


def get_notification(session: Session, notification_id: int) -> Notification | None:
    """A notification."""
    return session.get(Notification, notification_id)


def user_email(session: Session, user_id: int) -> str | None:
    """Where a user's e-mails go, if anywhere."""
    return session.scalar(select(User.email).where(User.id == user_id))


def webhook_endpoints(session: Session, *, active_only: bool) -> list[WebhookEndpoint]:
    """The webhook endpoints, by name."""
    stmt = select(WebhookEndpoint).order_by(WebhookEndpoint.name)
    if active_only:
        stmt = stmt.where(WebhookEndpoint.active.is_(True))
    return list(session.scalars(stmt))


def get_webhook(session: Session, endpoint_id: int) -> WebhookEndpoint | None:
    """One endpoint."""
    return session.get(WebhookEndpoint, endpoint_id)


def webhook_by_name(session: Session, name: str) -> WebhookEndpoint | None:
    """The endpoint of this name."""
    return session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.name == name))


def _due(now: dt.datetime) -> Any:
    # "sending" past its lease: the worker that claimed it died before recording.
    return (Delivery.status.in_(("pending", "failed", "sending")), Delivery.next_attempt_at <= now)


def any_due_delivery(session: Session, now: dt.datetime) -> bool:
    """Whether anything waits to be sent."""
    return session.scalar(select(Delivery.id).where(*_due(now)).limit(1)) is not None


def claim_due_deliveries(session: Session, now: dt.datetime, limit: int) -> list[Delivery]:
    """Deliveries due to be tried, locked so that a second worker skips them."""
    return list(
        session.scalars(
            select(Delivery)
            .where(*_due(now))
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def deliveries(
    session: Session,
    *,
    channel: str | None,
    status: str | None,
    endpoint_id: int | None,
    alert_id: int | None,
    limit: int,
) -> list[Delivery]:
    """The delivery log, newest first."""
    stmt = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if channel:
        stmt = stmt.where(Delivery.channel == channel)
    if status:
        stmt = stmt.where(Delivery.status == status)
    if endpoint_id is not None:
        stmt = stmt.where(Delivery.endpoint_id == endpoint_id)
    if alert_id is not None:
        stmt = stmt.where(Delivery.alert_id == alert_id)
    return list(session.scalars(stmt))


def get_delivery(session: Session, delivery_id: int, *, lock: bool = False) -> Delivery | None:
    """One delivery."""
    stmt = select(Delivery).where(Delivery.id == delivery_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def get_user(session: Session, user_id: int) -> User | None:
    """One user."""
    return session.get(User, user_id)


def open_product_alerts(
    session: Session, rule_code: str, products: Sequence[str]
) -> dict[str, Alert]:
    """The newest open product-level alert of a rule for each product."""
    stmt = (
        select(Alert)
        .where(
            Alert.rule_code == rule_code,
            Alert.customer_id.is_(None),
            Alert.product.in_(list(products)),
            Alert.status.not_in(CLOSED),
        )
        .order_by(Alert.id)
    )
    return {a.product: a for a in session.scalars(stmt) if a.product is not None}


# ---------------------------------------------------------------- priorities and budgets


def open_case_ids(session: Session) -> list[int]:
    """Every open case."""
    return list(session.scalars(select(AlertCase.id).where(AlertCase.status == "open")))


def open_case_alerts(session: Session, case_ids: Sequence[int]) -> pl.DataFrame:
    """id, case_id, customer_id, rule_code, warning_type, severity_was (its severity now),
    cap (its rule version's severity; null for a detector's) and due_at of the open alerts
    of some cases."""
    stmt = (
        select(
            Alert.id,
            Alert.case_id,
            Alert.customer_id,
            Alert.rule_code,
            Alert.warning_type,
            Alert.severity,
            RuleVersion.severity,
            Alert.due_at,
        )
        .outerjoin(RuleVersion, RuleVersion.id == Alert.rule_version_id)
        .where(Alert.status.not_in(CLOSED))
    )
    rows: list[Any] = []
    for part in chunks(sorted(set(case_ids))):
        rows.extend(session.execute(stmt.where(Alert.case_id.in_(part))))
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={
            "id": pl.Int64,
            "case_id": pl.Int64,
            "customer_id": pl.Int64,
            "rule_code": pl.String,
            "warning_type": pl.String,
            "severity_was": pl.String,
            "cap": pl.String,
            "due_at": pl.Datetime(time_zone="UTC"),
        },
        orient="row",
    )


def set_stakes(session: Session, changes: Sequence[dict[str, Any]]) -> None:
    """Store open alerts' stakes and precisions, and the new severity and due time of those
    whose stake grew past their level (each a dict with the alert's id)."""
    for keys in ({"id", "stake", "precision"}, {"id", "stake", "precision", "severity", "due_at"}):
        rows = [c for c in changes if set(c) == keys]
        if rows:
            session.execute(update(Alert), rows)


def counted_exposure(session: Session, customer_ids: Sequence[int]) -> pl.DataFrame:
    """customer_id, exposure: what counts against each customer's limit."""
    counted = select(ExposureCategory.code).where(ExposureCategory.counts_in_limit.is_(True))
    stmt = (
        select(CreditExposure.customer_id, func.sum(cast(CreditExposure.amount, Float)))
        .where(CreditExposure.category.in_(counted))
        .group_by(CreditExposure.customer_id)
    )
    rows = rows_in(session, stmt, CreditExposure.customer_id, customer_ids)
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={"customer_id": pl.Int64, "exposure": pl.Float64},
        orient="row",
    )


def champion_pd(session: Session, customer_ids: Sequence[int]) -> pl.DataFrame:
    """customer_id, pd: the latest probability of default a champion model gave each customer
    (the highest where several champions scored them)."""
    champions = select(ModelVersion.id).where(ModelVersion.status == "champion")
    newest = (
        select(func.max(ModelScore.id))
        .where(ModelScore.model_version_id.in_(champions), settled(ModelScore.run_id))
        .group_by(ModelScore.customer_id, ModelScore.model_version_id)
    )
    stmt = select(ModelScore.customer_id, ModelScore.bad_probability).where(
        ModelScore.id.in_(newest)
    )
    rows = rows_in(session, stmt, ModelScore.customer_id, customer_ids)
    frame = pl.DataFrame(
        [tuple(r) for r in rows],
        schema={"customer_id": pl.Int64, "pd": pl.Float64},
        orient="row",
    )
    return frame.group_by("customer_id").agg(pl.col("pd").max())


def set_priorities(session: Session, priorities: pl.DataFrame) -> None:
    """Store cases' priorities (case_id, priority, priority_basis)."""
    rows = [
        {"id": r["case_id"], "priority": r["priority"], "priority_basis": r["priority_basis"]}
        for r in priorities.to_dicts()
    ]
    if rows:
        session.execute(update(AlertCase), rows)


def notified_this_week(
    session: Session, since: dt.datetime, user_ids: Sequence[int]
) -> dict[str, int]:
    """Alerts raised since a moment and notified, per team of their assignee (a user without a
    team counts as the team ``user:<id>``), among the teams of some users."""
    teams = team_keys(session, user_ids)
    if not teams:
        return {}
    members = select(User.id, User.team)
    everyone = {uid: (team if team else f"user:{uid}") for uid, team in session.execute(members)}
    wanted = set(teams.values())
    ids = [uid for uid, key in everyone.items() if key in wanted]
    counts: dict[str, int] = {}
    stmt = (
        select(Alert.assigned_to_id, func.count())
        .where(Alert.raised_at >= since, Alert.notified.is_(True))
        .group_by(Alert.assigned_to_id)
    )
    for part in chunks(ids):
        for uid, n in session.execute(stmt.where(Alert.assigned_to_id.in_(part))):
            if uid is not None:
                counts[everyone[uid]] = counts.get(everyone[uid], 0) + n
    return counts


def team_keys(session: Session, user_ids: Sequence[int]) -> dict[int, str]:
    """Each user's team, or ``user:<id>`` for a user without one."""
    found: dict[int, str] = {}
    for part in chunks(sorted(set(user_ids))):
        for uid, team in session.execute(select(User.id, User.team).where(User.id.in_(part))):
            found[uid] = team if team else f"user:{uid}"
    return found


def queue_figures(session: Session, now: dt.datetime) -> dict[str, int]:
    """How the alert queue stands: open alerts, open cases, and open alerts past their SLA."""
    still = Alert.status.not_in(CLOSED)
    alerts = session.scalar(select(func.count()).select_from(Alert).where(still)) or 0
    late = (
        session.scalar(select(func.count()).select_from(Alert).where(still, Alert.due_at < now))
        or 0
    )
    cases = (
        session.scalar(
            select(func.count()).select_from(AlertCase).where(AlertCase.status == "open")
        )
        or 0
    )
    return {"open_alerts": alerts, "open_cases": cases, "past_due": late}
