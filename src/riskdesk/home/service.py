"""The home pages' figures: the repository's aggregates put in order, over what the caller
may see (sales and customer service: their own customers)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from riskdesk.customers import service as customer_service
from riskdesk.home import repository as repo
from riskdesk.home.schemas import (
    AdminHome,
    AlertQueue,
    AnalystHome,
    Approver,
    AuditorHome,
    ChurnRisk,
    ComplaintSla,
    Count,
    DailyActions,
    HeldOrder,
    ModelHealth,
    MonthlyScore,
    PendingRequest,
    QueueStatus,
    Revealer,
    SalesHome,
    ServiceHome,
    SlaRecord,
    SystemStatus,
    WeeklyCodes,
)
from riskdesk.kit.timeutil import local_midnight, local_today, today, utcnow
from riskdesk.models.customers import customer_code
from riskdesk.monitoring import service as monitoring_service
from riskdesk.pipeline import processing
from riskdesk.portfolio import service as portfolio_service
from riskdesk.portfolio.schemas import PortfolioFilter, PortfolioSummary
from riskdesk.privacy import consent
from riskdesk.scoring import registry
from riskdesk.security.service import Principal

WEEKS = 12
ACTIVE_MODELS = ("champion", "challenger")
LIST_LIMIT = 10
CHURN_TOP = 10
SATISFACTION_MONTHS = 12
SLA_STATUSES = ("open_within", "open_breached", "closed_on_time", "closed_late")
JOB_STATUSES = ("queued", "running", "failed", "done", "cancelled")
DELIVERY_STATUSES = ("pending", "failed", "delivered", "dead")
AUDIT_ACTIONS = ("write", "view", "reveal", "export", "erase")


def _start_of(day: dt.date, tz: dt.tzinfo = dt.UTC) -> dt.datetime:
    """The instant ``day`` starts on the clock of ``tz`` (the pages' display zone)."""
    return local_midnight(day, tz)


def _days(n: int, last: dt.date) -> list[dt.date]:
    return [last - dt.timedelta(days=n - 1 - i) for i in range(n)]


# ---------------------------------------------------------------- risk analyst


def team_of(principal: Principal) -> tuple[int, ...]:
    """Me and my team-mates."""
    return tuple(sorted({principal.user_id, *principal.team_member_ids}))


def _filters(flt: PortfolioFilter | None, period_days: int) -> PortfolioFilter:
    return (flt or PortfolioFilter()).model_copy(update={"period_days": period_days})


def analyst_home(
    session: Session,
    principal: Principal,
    *,
    period_days: int = 30,
    flt: PortfolioFilter | None = None,
    as_of: dt.date | None = None,
    tz: dt.tzinfo = dt.UTC,
) -> AnalystHome:
    """My alert queue and SLA record, alerts by rule code week by week, and model health;
    the alerts narrowed to the customers the portfolio's filters keep (model health is over
    every customer)."""
    day = as_of or today()
    # "Due today" ends at midnight on the reader's clock (the display zone), not UTC's.
    clock_day = as_of or local_today(tz)
    now = utcnow()
    owners = customer_service.visible_owner_ids(principal)
    within = portfolio_service.customers_within(flt)
    me = (principal.user_id,)
    n_open, due, late = repo.alert_queue(
        session, me, owners, now, _start_of(clock_day + dt.timedelta(days=1), tz), within
    )
    team = None
    if principal.team_member_ids:
        team = repo.alert_queue(session, team_of(principal), owners, now, now, within)[0]
    since = day - dt.timedelta(days=period_days)
    on_time, closed_late = repo.sla_record(session, me, owners, _start_of(since, tz), within)
    return AnalystHome(
        as_of=day,
        period_days=period_days,
        filters=_filters(flt, period_days),
        not_narrowed=["models"] if within is not None else [],
        queue=AlertQueue(open=n_open, due_today=due, overdue=late, team_open=team),
        sla=SlaRecord(since=since, on_time=on_time, late=closed_late),
        by_code=weekly_codes(session, owners, day, within),
        models=model_health(session),
    )


def week_start(day: dt.date) -> dt.date:
    """The Monday of a day's week."""
    return day - dt.timedelta(days=day.weekday())


def weekly_codes(
    session: Session, owners: tuple[int, ...] | None, day: dt.date, within: Any = None
) -> WeeklyCodes:
    """Alerts per rule code and per warning type in each of the last 12 weeks (this one
    included)."""
    weeks = [week_start(day) - dt.timedelta(weeks=WEEKS - 1 - i) for i in range(WEEKS)]
    index = {w: i for i, w in enumerate(weeks)}
    codes: dict[str, list[int]] = {}
    types: dict[str, list[int]] = {}
    # A few hundred (day, code, type) rows at most: summed into weeks here.
    rows = repo.alerts_by_day_and_code(session, owners, weeks[0], within)
    for observed, code, warning_type, n in rows:
        i = index.get(week_start(observed))
        if i is not None:
            codes.setdefault(code, [0] * WEEKS)[i] += n
            types.setdefault(warning_type, [0] * WEEKS)[i] += n
    ordered = dict(sorted(codes.items(), key=lambda kv: (-sum(kv[1]), kv[0])))
    names = repo.rule_names(session, list(ordered))
    return WeeklyCodes(
        weeks=weeks,
        codes=ordered,
        names={code: {"en": en, "zh-CN": zh} for code, (en, zh) in names.items()},
        types=dict(sorted(types.items(), key=lambda kv: (-sum(kv[1]), kv[0]))),
    )


def model_health(session: Session) -> list[ModelHealth]:
    """Each active model version's validation AUC, the PSI of its latest scores and its AUC on
    the newest matured outcomes."""
    out = []
    for version in registry.list_models(session):
        if version.status not in ACTIVE_MODELS:
            continue
        psi, as_of = registry.score_stability(session, version)
        auc = (version.metrics or {}).get("auc")
        matured = [m for m in version.matured_performance or [] if m.get("auc") is not None]
        newest = matured[-1] if matured else None
        out.append(
            ModelHealth(
                version_id=version.id,
                name=version.name,
                version=version.version,
                status=version.status,
                validation_auc=float(auc) if isinstance(auc, int | float) else None,
                score_psi=psi,
                scores_as_of=as_of,
                matured_auc=newest["auc"] if newest else None,
                matured_month=newest["month"] if newest else None,
                matured_out_of_time=bool(newest and newest["out_of_time"]),
                matured_as_of=version.matured_as_of,
            )
        )
    return out


# ---------------------------------------------------------------- sales


def sales_home(
    session: Session,
    principal: Principal,
    *,
    flt: PortfolioFilter | None = None,
    as_of: dt.date | None = None,
    summary: PortfolioSummary | None = None,
) -> SalesHome:
    """My customers' limits, exposure and overdue (the portfolio's figures over them, or
    ``summary`` when the caller has it already, computed with the same ``flt``), my held
    orders and pending limit requests, narrowed by the portfolio's filters."""
    flt = flt or PortfolioFilter()
    s = summary or portfolio_service.summary(session, principal, flt=flt, as_of=as_of)
    scope = portfolio_service.scope_of(principal, flt)
    now = utcnow()
    return SalesHome(
        as_of=s.as_of,
        currency=s.currency,
        customers=s.totals.customers,
        credit_limit=s.totals.credit_limit,
        exposure=s.totals.exposure,
        available=s.totals.available,
        utilisation=s.totals.utilisation,
        overdue=s.overdue.overdue,
        overdue_customers=s.overdue.customers,
        held_orders=s.held_orders.count,
        held_amount=s.held_orders.amount,
        limit_requests=s.limit_requests.count,
        held=[
            HeldOrder(
                decision_id=i,
                customer_id=c,
                customer_code=customer_code(c),
                amount=Decimal(a),
                currency=cur,
                decided_at=at,
            )
            for i, c, a, cur, at in repo.held_orders(session, scope, LIST_LIMIT)
        ],
        requests=[
            PendingRequest(
                request_id=i,
                customer_id=c,
                customer_code=customer_code(c),
                current_limit=Decimal(cur_lim),
                requested_limit=Decimal(req),
                currency=cur,
                requested_at=at,
            )
            for i, c, cur_lim, req, cur, at in repo.pending_requests(
                session, scope, now, LIST_LIMIT
            )
        ],
    )


# ---------------------------------------------------------------- customer service


def service_home(
    session: Session,
    principal: Principal,
    *,
    period_days: int = 90,
    flt: PortfolioFilter | None = None,
    as_of: dt.date | None = None,
    tz: dt.tzinfo = dt.UTC,
) -> ServiceHome:
    """Complaints by SLA status and product, the satisfaction trend, my churn risks; all of
    them over the customers the portfolio's filters keep."""
    day = as_of or today()
    now = utcnow()
    owners = customer_service.visible_owner_ids(principal)
    within = portfolio_service.customers_within(flt)
    since = day - dt.timedelta(days=period_days)
    totals = dict.fromkeys(SLA_STATUSES, 0)
    by_product: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SLA_STATUSES, 0))
    for product, status, n in repo.complaint_sla(
        session, owners, now, _start_of(since, tz), within
    ):
        totals[status] += n
        by_product[product][status] += n
    churn, fitted = churn_risks(session, owners, day, within)
    return ServiceHome(
        as_of=day,
        period_days=period_days,
        filters=_filters(flt, period_days),
        not_narrowed=[],
        complaints=ComplaintSla(
            since=since,
            by_product=dict(
                sorted(by_product.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
            ),
            **totals,
        ),
        satisfaction=satisfaction(session, owners, day, within),
        churn_fitted=fitted,
        churn=churn,
    )


def satisfaction(
    session: Session, owners: tuple[int, ...] | None, day: dt.date, within: Any = None
) -> list[MonthlyScore]:
    """The average survey score per month and survey type over the last 12 months."""
    oldest = last_months(day, SATISFACTION_MONTHS)[0]
    first = dt.date(int(oldest[:4]), int(oldest[5:]), 1)
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for day_text, kind, n, total in repo.satisfaction_by_day(
        session, owners, _start_of(first), within
    ):
        cell = sums[(day_text[:7], kind)]
        cell[0] += n
        cell[1] += total
    return [
        MonthlyScore(month=month, survey_type=kind, average=total / n, responses=n)
        for (month, kind), (n, total) in sorted(sums.items())
        if n
    ]


def last_months(last: dt.date, n: int) -> list[str]:
    """The ``n`` months up to ``last``'s, oldest first, as YYYY-MM."""
    year, month = last.year, last.month
    out = []
    for _ in range(n):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def churn_risks(
    session: Session, owners: tuple[int, ...] | None, day: dt.date, within: Any = None
) -> tuple[list[ChurnRisk], bool]:
    """My customers with the highest churn risk (those who refused behaviour monitoring left
    out), and whether a churn model is fitted at all."""
    live = repo.live_customer_ids(session, owners, within)
    # Consent first: no churn risk is derived for a customer who refused behaviour monitoring.
    refused = set(consent.without_consent(session, "behaviour_monitoring", live))
    ids = [cid for cid in live if cid not in refused]
    frame = monitoring_service.churn_risk(session, ids, as_of=day) if ids else None
    if frame is None or frame.height == 0:
        return [], frame is not None and bool(frame.columns)
    top = (
        frame.drop_nulls("risk")
        .sort(["risk", "customer_id"], descending=[True, False])
        .head(CHURN_TOP)
    )
    return [
        ChurnRisk(
            customer_id=int(row["customer_id"]),
            customer_code=customer_code(int(row["customer_id"])),
            risk=float(row["risk"]),
            p_alive=None if row.get("p_alive") is None else float(row["p_alive"]),
            band=row.get("band"),
        )
        for row in top.iter_rows(named=True)
    ], True


# ---------------------------------------------------------------- auditor


AUDITOR_FIGURES = ("activity", "approvers", "reveals")


def auditor_home(
    session: Session,
    principal: Principal,
    *,
    period_days: int = 30,
    flt: PortfolioFilter | None = None,
    as_of: dt.date | None = None,
    tz: dt.tzinfo = dt.UTC,
) -> AuditorHome:
    """Activity per day and action kind, four-eyes decisions by person, personal data seen
    (viewed or revealed) by person.
    These are what people did, over the whole log: the customer filters narrow none of them
    (the log keeps table names and row ids, and many entries concern no customer), and the
    answer says so when a filter is set."""
    day = as_of or local_today(tz)
    since = _start_of(day - dt.timedelta(days=period_days - 1), tz)
    days = _days(period_days, day)
    index = {d: i for i, d in enumerate(days)}
    actions: dict[str, list[int]] = {}
    # Counted per UTC quarter hour, then put on the display zone's calendar days.
    for quarter, action, n in repo.audit_by_quarter_hour_and_action(session, since):
        at = dt.datetime.strptime(quarter, "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC)
        position = index.get(at.astimezone(tz).date())
        if position is not None:
            actions.setdefault(action, [0] * len(days))[position] += n
    order = {a: i for i, a in enumerate(AUDIT_ACTIONS)}
    return AuditorHome(
        as_of=day,
        period_days=period_days,
        filters=_filters(flt, period_days),
        not_narrowed=list(AUDITOR_FIGURES) if portfolio_service.is_narrowed(flt) else [],
        since=since,
        activity=DailyActions(
            days=days, actions=dict(sorted(actions.items(), key=lambda kv: order.get(kv[0], 99)))
        ),
        approvers=[
            Approver(user_id=i, username=u, approved=a, rejected=r)
            for i, u, a, r in repo.decisions_by_person(session, since)
        ],
        self_approvals_recorded=False,
        reveals=[
            Revealer(actor=a, views=v, reveals=r)
            for a, v, r in repo.personal_data_by_person(session, since, 20)
        ],
    )


# ---------------------------------------------------------------- admin


def admin_home(
    session: Session, principal: Principal, *, as_of: dt.date | None = None
) -> AdminHome:
    """Jobs and deliveries over the last 24 hours, and the system's status."""
    from riskdesk.migrations import runner

    now = utcnow()
    since = now - dt.timedelta(hours=24)
    jobs = repo.jobs_by_status(session, since)
    deliveries = repo.deliveries_by_status(session, since)
    queue = processing.queue_figures(session)
    return AdminHome(
        as_of=as_of or today(),
        since=since,
        jobs=[Count(key=s, count=jobs.get(s, 0)) for s in JOB_STATUSES],
        deliveries=[Count(key=s, count=deliveries.get(s, 0)) for s in DELIVERY_STATUSES],
        system=SystemStatus(
            database=repo.database_kind(session),
            revision=repo.schema_revision(session),
            head_revision=runner.head_revision(),
            queue=QueueStatus(
                rows=queue.rows,
                partitions=len(queue.partitions),
                max_lag_seconds=max((p.lag_seconds for p in queue.partitions), default=0.0),
                dead_letters=queue.dead_letters,
            ),
            job_heartbeat_at=repo.latest_job_heartbeat(session),
        ),
    )
