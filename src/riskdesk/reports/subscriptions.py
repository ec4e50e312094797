"""Subscriptions to reports by e-mail, and the scheduled step that queues the due ones.

Each active subscription to the committee pack gets one e-mail with last month's headline
figures and links to download the pack (the outbox carries text, not attachments), and the
weekly summary one with last week's: at the first pass after the period ends (normally on the
1st and on Monday; later when the server was down then), and only for the latest period. The
e-mails go through the notification outbox that alert e-mails use (alerts.delivery sends
them). A subscription stores the last period it was sent for and claims a later one with a
conditional UPDATE, so running the step twice, or on two nodes at once, queues each e-mail
once, and an older period (a replayed day) is never sent after a later one. The figures are
worked out as the subscriber: their own customers for sales, nothing for a user who is
disabled or no longer holds ``portfolio:read``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session, sessionmaker

from riskdesk.db import reading, unit_of_work
from riskdesk.kit.errors import NotFound
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import ReportSubscription, User
from riskdesk.portfolio import service as portfolio_service
from riskdesk.portfolio.schemas import PortfolioFilter, PortfolioSummary
from riskdesk.reports import committee
from riskdesk.reports import subscription_repository as repo
from riskdesk.reports.committee_schemas import WarningEffect
from riskdesk.reports.formatting import Translate, money, number, percent, translator
from riskdesk.reports.subscription_schemas import (
    KINDS,
    DueResult,
    ReportKind,
    SubscriptionIn,
)
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal

CURRENCY = "CNY"


# ---------------------------------------------------------------- the caller's own


def mine(session: Session, principal: Principal) -> list[ReportSubscription]:
    """The caller's subscriptions."""
    return repo.of_user(session, principal.user.id)


def get_or_raise(session: Session, principal: Principal, kind: ReportKind) -> ReportSubscription:
    """The caller's subscription to a kind of report."""
    found = repo.get(session, principal.user.id, kind)
    if found is None:
        raise NotFound(f"you have no {kind} subscription", field="kind")
    return found


def put(
    session: Session, principal: Principal, kind: ReportKind, body: SubscriptionIn
) -> ReportSubscription:
    """Subscribe, or change the subscription; the same body again writes nothing."""
    filters = body.filters.model_dump(exclude_none=True)
    found = repo.get(session, principal.user.id, kind)
    if found is None:
        now = utcnow()
        return repo.add(
            session,
            ReportSubscription(
                user_id=principal.user.id,
                kind=kind,
                language=body.language,
                filters=filters,
                active=body.active,
                created_at=now,
                updated_at=now,
            ),
        )
    wanted = {"language": body.language, "filters": filters, "active": body.active}
    if any(getattr(found, k) != v for k, v in wanted.items()):
        for key, value in wanted.items():
            setattr(found, key, value)
        found.updated_at = utcnow()
        session.flush()
    return found


def remove(session: Session, principal: Principal, kind: ReportKind) -> None:
    """Unsubscribe (nothing to do when not subscribed)."""
    repo.remove(session, principal.user.id, kind)


# ---------------------------------------------------------------- the schedule


def periods_due(now: dt.datetime) -> dict[str, str]:
    """Kind -> its latest completed period at ``now``, on any day: last month and last ISO
    week. A subscription is due while its ``last_period`` is older, so a period missed while
    the server was down (all of the 1st, all of a Monday) goes out at the next pass; only the
    latest is sent, never each missed one."""
    day = now.date()
    year, week, _ = (day - dt.timedelta(days=7)).isocalendar()
    return {
        "committee_pack": committee.previous_month(day),
        "weekly_summary": f"{year}-W{week:02d}",
    }


def _week_bounds(period: str) -> tuple[dt.date, dt.date]:
    year, week = period.split("-W")
    monday = dt.date.fromisocalendar(int(year), int(week), 1)
    return monday, monday + dt.timedelta(days=6)


def _line(t: Translate, label: str, value: str) -> str:
    return t("pack.mail.line", label=label, value=value)


def _set(filters: dict[str, Any]) -> dict[str, Any]:
    """The filters that narrow something (an empty one is no filter)."""
    return {k: v for k, v in filters.items() if v not in (None, "")}


def _filters(sub: ReportSubscription) -> PortfolioFilter:
    return PortfolioFilter(**_set(sub.filters))


def _headline(t: Translate, s: PortfolioSummary) -> list[str]:
    """Customers, exposure, utilisation and overdue: the first lines of either e-mail."""
    overdue = t(
        "pack.mail.overdue",
        amount=money(s.overdue.overdue, CURRENCY),
        share=percent(s.overdue.share),
        customers=number(s.overdue.customers, 0),
    )
    return [
        _line(t, t("portfolio.customers"), number(s.totals.customers, 0)),
        _line(t, t("portfolio.exposure"), money(s.totals.exposure, CURRENCY)),
        _line(t, t("portfolio.utilisation"), percent(s.totals.utilisation)),
        _line(t, t("portfolio.overdue"), overdue),
    ]


def _warnings(t: Translate, label: str, w: WarningEffect) -> str:
    counts = t(
        "pack.mail.warnings",
        raised=number(w.raised, 0),
        confirmed=number(w.confirmed, 0),
        false_alarm=number(w.false_alarm, 0),
        breached=number(w.sla_breached, 0),
    )
    return _line(t, label, counts)


def _pack_mail(
    session: Session,
    principal: Principal,
    sub: ReportSubscription,
    period: str,
    public_url: str,
    now: dt.datetime,
) -> tuple[str, str]:
    t = translator(sub.language)
    pack = committee.build(session, principal, month=period, flt=_filters(sub), now=now)
    s, m, w = pack.summary, pack.migration, pack.warnings_total
    query = urlencode({"month": period, "lang": sub.language, **_set(sub.filters)})
    base = public_url.rstrip("/") + "/api/v1/reports/committee-pack"
    lines = [
        t("pack.period", month=period, start=pack.start.isoformat(), end=pack.end.isoformat()),
        "",
        *_headline(t, s),
        _line(
            t,
            t("migration.title") + f" {m.quarter}",
            t(
                "pack.mail.migration",
                up=percent(m.upgraded_share),
                same=percent(m.unchanged_share),
                down=percent(m.downgraded_share),
            ),
        ),
        _warnings(t, t("pack.section.warnings"), w),
    ]
    if pack.ecl is not None:
        lines.append(
            _line(
                t,
                t("pack.section.ecl"),
                f"{money(pack.ecl.total_ecl, CURRENCY)} ({percent(pack.ecl.coverage)})",
            )
        )
    lines += ["", _line(t, "PDF", f"{base}.pdf?{query}"), _line(t, "Excel", f"{base}.xlsx?{query}")]
    return f"[Riskdesk] {t('pack.title')} {period}", "\n".join(lines) + "\n"


def _weekly_mail(
    session: Session,
    principal: Principal,
    sub: ReportSubscription,
    period: str,
    public_url: str,
    now: dt.datetime,
) -> tuple[str, str]:
    t = translator(sub.language)
    monday, sunday = _week_bounds(period)
    flt = _filters(sub).model_copy(update={"period_days": 6})  # alerts from Monday on
    s = portfolio_service.summary(session, principal, flt=flt, as_of=sunday)
    # The week's alerts, Monday to Sunday (the dashboard's funnel runs on to today).
    w = committee.warnings_between(session, principal, flt, monday, sunday, now)
    over_90 = next((a.amount for a in s.ageing if a.bucket == "over_90"), Decimal("0"))
    query = urlencode(_set(sub.filters))
    link = public_url.rstrip("/") + "/portfolio" + (f"?{query}" if query else "")
    lines = [
        t("pack.period", month=period, start=monday.isoformat(), end=sunday.isoformat()),
        "",
        *_headline(t, s),
        _line(t, t("portfolio.bucket.over_90"), money(over_90, CURRENCY)),
        _line(
            t,
            t("portfolio.held_orders"),
            f"{number(s.held_orders.count, 0)} · {money(s.held_orders.amount, CURRENCY)}",
        ),
        _line(
            t,
            t("portfolio.limit_requests"),
            f"{number(s.limit_requests.count, 0)} · {money(s.limit_requests.amount, CURRENCY)}",
        ),
        _line(
            t,
            t("pack.reviews_due"),
            t(
                "pack.reviews_value",
                due=number(s.reviews.due, 0),
                overdue=number(s.reviews.overdue, 0),
            ),
        ),
        _warnings(t, t("pack.mail.alerts_label"), w),
        "",
        _line(t, t("pack.mail.open"), link),
    ]
    return f"[Riskdesk] {t('pack.weekly_title')} {period}", "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Mail:
    """A report e-mail written for one subscription and period, not yet queued."""

    subscription_id: int
    user_id: int
    kind: str
    period: str
    language: str
    subject: str
    body: str


def plan_mails(
    session: Session, *, now: dt.datetime, public_url: str
) -> tuple[list[Mail], DueResult]:
    """The e-mails due at ``now``, written from a read (each subscriber's figures, as they
    may see them); the subscribers who may no longer read the portfolio are counted."""
    periods = periods_due(now)
    result = DueResult(periods=periods)
    mails: list[Mail] = []
    for sub, user in repo.due(session, [k for k in KINDS if k in periods], periods):
        principal = _as_subscriber(session, user)
        if principal is None:
            result.not_permitted += 1
            continue
        period = periods[sub.kind]
        if sub.kind == "committee_pack":
            subject, body = _pack_mail(session, principal, sub, period, public_url, now)
        else:
            subject, body = _weekly_mail(session, principal, sub, period, public_url, now)
        mails.append(Mail(sub.id, user.id, sub.kind, period, sub.language, subject, body))
    return mails, result


def queue_mail(session: Session, mail: Mail, *, now: dt.datetime) -> bool:
    """Claim the subscription's period and queue its e-mail; False when a concurrent or
    earlier pass sent that period already (the claim re-checks in this transaction)."""
    if not repo.claim(session, mail.subscription_id, mail.period, now):
        return False
    repo.queue_email(
        session,
        user_id=mail.user_id,
        event=f"report.{mail.kind}",
        subject=mail.subject,
        payload={
            "report": mail.kind,
            "period": mail.period,
            "language": mail.language,
            "body": mail.body,
        },
        now=now,
    )
    return True


def due_reports(factory: sessionmaker[Session], *, now: dt.datetime, public_url: str) -> DueResult:
    """Queue the e-mails due at ``now`` (see the module's docstring); what was done.

    Written from one read-only snapshot (the figures take a while, and must not hold SQLite's
    write lock), then each queued in a short transaction of its own: one subscriber's failure
    loses nobody else's e-mail, and orders and credit checks wait for a claim, not a pass."""
    with reading(factory) as session:
        mails, result = plan_mails(session, now=now, public_url=public_url)
    for mail in mails:
        with unit_of_work(factory) as session:
            if queue_mail(session, mail, now=now):
                result.queued += 1
            else:
                result.already_sent += 1
    return result


def _as_subscriber(session: Session, user: User) -> Principal | None:
    """The subscriber as a principal, when they may still read the portfolio."""
    if not user.is_active:
        return None
    principal = security_service.principal_for(session, user, via="system")
    return principal if Permission.PORTFOLIO_READ in principal.permissions else None
