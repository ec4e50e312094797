"""The monthly credit committee pack: the portfolio dashboard as of the month's end, the
quarter's rating migration, the top risks, how the early warnings of the month were worked,
and the latest expected credit loss. Built from the domains' services; written as PDF
(committee_pdf) and .xlsx (committee_xlsx)."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Any

from sqlalchemy.orm import Session

from riskdesk.audit import trail
from riskdesk.ecl import service as ecl_service
from riskdesk.kit.errors import ValidationFailed
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models.customers import customer_code
from riskdesk.portfolio import migration as migration_service
from riskdesk.portfolio import service as portfolio_service
from riskdesk.portfolio.schemas import PortfolioFilter
from riskdesk.reports import committee_repository as repo
from riskdesk.reports.committee_schemas import (
    CommitteePack,
    EclBucket,
    EclSection,
    RiskyCustomer,
    WarningEffect,
)
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
WORST = 20
COUNTS = ("raised", "worked", "confirmed", "false_alarm", "sla_breached", "open")


def month_of(day: dt.date) -> str:
    """2026-11."""
    return f"{day.year:04d}-{day.month:02d}"


def previous_month(day: dt.date) -> str:
    """The month before the one ``day`` falls in."""
    return month_of(day.replace(day=1) - dt.timedelta(days=1))


def month_period(month: str | None, now: dt.date) -> tuple[str, dt.date, dt.date]:
    """(month, its first day, its last day or ``now`` while it runs); default: last month."""
    name = month or previous_month(now)
    found = MONTH.match(name)
    if found is None or not 1 <= int(found[2]) <= 12 or int(found[1]) < 1900:
        raise ValidationFailed(f"month {name!r} is not like 2026-11", field="month")
    year, number = int(found[1]), int(found[2])
    start = dt.date(year, number, 1)
    if start > now:
        raise ValidationFailed(f"month {name!r} has not begun", field="month")
    end = dt.date(year, number, calendar.monthrange(year, number)[1])
    return name, start, min(end, now)


def _precision(confirmed: int, false_alarm: int) -> float | None:
    judged = confirmed + false_alarm
    return confirmed / judged if judged else None


def _warnings(rows: list[dict[str, Any]]) -> tuple[list[WarningEffect], WarningEffect]:
    effects = [
        WarningEffect(**r, precision=_precision(r["confirmed"], r["false_alarm"])) for r in rows
    ]
    sums = {name: sum(int(getattr(e, name)) for e in effects) for name in COUNTS}
    total = WarningEffect(
        warning_type="",
        rule_code="",
        **sums,
        precision=_precision(sums["confirmed"], sums["false_alarm"]),
    )
    return effects, total


def warnings_between(
    session: Session,
    principal: Principal,
    flt: PortfolioFilter,
    start: dt.date,
    end: dt.date,
    now: dt.datetime,
) -> WarningEffect:
    """The alerts observed from ``start`` to ``end`` over the customers in scope, in total."""
    scope = portfolio_service.scope_of(principal, flt)
    return _warnings(repo.alert_effectiveness(session, scope, start, end, now))[1]


def _ecl(session: Session, end: dt.date) -> EclSection | None:
    """The latest run as of the month's end, with its movement against the run before."""
    run = next((r for r in ecl_service.list_runs(session, 200) if r.as_of <= end), None)
    if run is None:
        return None
    detail = ecl_service.run_detail(session, run)
    previous = (
        ecl_service.get_run_or_raise(session, detail.previous_run_id)
        if detail.previous_run_id
        else None
    )
    return EclSection(
        run_id=run.id,
        as_of=run.as_of,
        total_balance=run.total_balance,
        total_ecl=run.total_ecl,
        coverage=float(run.total_ecl / run.total_balance) if run.total_balance else None,
        previous_run_id=detail.previous_run_id,
        previous_total_ecl=previous.total_ecl if previous else None,
        buckets=[
            EclBucket(
                segment=row.segment,
                bucket=row.bucket,
                balance=row.balance,
                adjusted_rate=row.adjusted_rate,
                ecl=row.ecl,
            )
            for row in detail.matrix
            if row.segment == "portfolio"
        ],
        segments=detail.segments,
        movement=[m for m in detail.movement if m.segment == "portfolio"],
    )


def build(
    session: Session,
    principal: Principal,
    *,
    month: str | None,
    flt: PortfolioFilter | None = None,
    now: dt.datetime | None = None,
) -> CommitteePack:
    """Every figure of one month's pack over the customers the caller may see."""
    moment = now or utcnow()
    name, start, end = month_period(month, moment.date() if now else today())
    # The dashboard's alert funnel counts from ``as_of - period_days`` on: the month itself.
    flt = (flt or PortfolioFilter()).model_copy(update={"period_days": (end - start).days})
    summary = portfolio_service.summary(session, principal, flt=flt, as_of=end)
    scope = portfolio_service.scope_of(principal, flt)
    quarter = migration_service.quarter_of(end)
    rating_migration = migration_service.migration(
        session, principal, flt=flt, quarter=quarter, now=end
    )
    worst = [
        RiskyCustomer(
            customer_id=cid,
            code=customer_code(cid),
            name=company if kind == "company" else None,
            tier=tier,
            overdue=repo.money(overdue),
            days_past_due=(end - earliest).days,
        )
        for cid, kind, company, tier, overdue, earliest in repo.worst_customers(
            session, scope, end, WORST
        )
    ]
    warnings, total = _warnings(repo.alert_effectiveness(session, scope, start, end, moment))
    # A committee reads rules by name, in the pack's language, not by their codes.
    names = repo.rule_names(session, sorted({e.rule_code for e in warnings}))
    for e in warnings:
        e.rule_name_en, e.rule_name_zh = names.get(e.rule_code, (None, None))
    shown = Permission.ECL_READ in principal.permissions
    return CommitteePack(
        month=name,
        start=start,
        end=end,
        generated_at=moment,
        generated_by=principal.user.display_name,
        summary=summary,
        migration=rating_migration,
        worst=worst,
        warnings=warnings,
        warnings_total=total,
        ecl=_ecl(session, end) if shown else None,
        ecl_shown=shown,
    )


def record_generation(session: Session, pack: CommitteePack, *, fmt: str, locale: str) -> None:
    """Note in the audit log that the pack left the system: which month, format, language."""
    trail.viewed(
        session,
        object_type="committee_pack",
        object_id=pack.month,
        fields=[f"month={pack.month}", f"format={fmt}", f"locale={locale}"],
        action="committee_pack",
    )
