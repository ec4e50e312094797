"""The home pages' figures against the hand-made book of tests/home/seed.py."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

from sqlalchemy import func, select

from riskdesk.home import service
from riskdesk.kit.timeutil import today
from riskdesk.models import AuditEntry
from riskdesk.models.customers import customer_code
from tests.conftest import principal
from tests.home.seed import HomeBook


def test_the_analyst_queue_sla_and_alerts_by_rule(db, home_book: HomeBook) -> None:  # type: ignore[no-untyped-def]
    h = service.analyst_home(db, principal(db, "analyst"))
    assert (h.queue.open, h.queue.due_today, h.queue.overdue) == (3, 2, 1)
    assert h.queue.team_open is None  # the analyst has no team
    assert (h.sla.on_time, h.sla.late) == (1, 2)
    assert len(h.by_code.weeks) == 12
    assert h.by_code.weeks[-1] == service.week_start(today())
    assert all(w.weekday() == 0 for w in h.by_code.weeks)
    # Seven of the portfolio's (all within 12 weeks), seven of ours this week (one too old).
    assert list(h.by_code.codes) == ["dpd_30", "utilisation_high"]
    assert sum(h.by_code.codes["dpd_30"]) == 7
    assert h.by_code.codes["utilisation_high"] == [0] * 11 + [7]
    # Rule names for the legend; dpd_30 is no rule on file (the chart shows its code).
    assert h.by_code.names["utilisation_high"]["zh-CN"] == "额度接近用尽且付款变差"
    assert "dpd_30" not in h.by_code.names
    # The same alerts by warning type: every one of the 14 counted once, under its type.
    assert sum(sum(v) for v in h.by_code.types.values()) == 14
    assert h.by_code.types["limit_exposure"][-1] >= 7
    challenger, champion = h.models  # newest first; the retired version is left out
    assert (champion.name, champion.version, champion.status) == ("pd_home", 2, "champion")
    assert (challenger.version, challenger.status) == (3, "challenger")
    assert (challenger.score_psi, challenger.scores_as_of) == (None, None)  # scored nobody
    assert champion.validation_auc == 0.812 and champion.scores_as_of == today()
    # AUC on the newest matured month that had one, as the month's first scoring run kept it.
    assert (champion.matured_auc, champion.matured_month) == (0.74, "2025-10")
    assert champion.matured_out_of_time and champion.matured_as_of == today()
    assert (challenger.matured_auc, challenger.matured_month) == (None, None)
    expected = (2 / 3 - 1 / 2) * math.log(4 / 3) + (1 / 3 - 1 / 2) * math.log(2 / 3)
    assert champion.score_psi is not None and abs(champion.score_psi - expected) < 1e-4


def test_a_team_queue_and_a_salesperson_sees_only_their_customers(db, home_book: HomeBook) -> None:  # type: ignore[no-untyped-def]
    # sales (east team) sees customer a only: the open limit-breach alert on a is the analyst's.
    h = service.analyst_home(db, principal(db, "sales"))
    assert (h.queue.open, h.queue.team_open) == (0, 0)
    assert h.by_code.codes["utilisation_high"][-1] == 2  # the two on a observed this week
    # a's two and the merged customer's (sales' too; the alert queue lists it as well)
    assert sum(h.by_code.codes["dpd_30"]) == 3


def test_the_sales_home(db, home_book: HomeBook) -> None:  # type: ignore[no-untyped-def]
    a = home_book.book.a
    h = service.sales_home(db, principal(db, "sales"))
    assert h.customers == 1
    assert (h.credit_limit, h.exposure, h.available) == (
        Decimal("100000.00"),
        Decimal("80000.00"),
        Decimal("20000.00"),
    )
    assert h.utilisation == 0.8
    assert (h.overdue, h.overdue_customers) == (Decimal("30000.00"), 1)
    assert (h.held_orders, h.held_amount, h.limit_requests) == (1, Decimal("7000.00"), 1)
    assert [(d.customer_code, d.amount) for d in h.held] == [(customer_code(a), Decimal("7000"))]
    assert [(r.customer_id, r.requested_limit) for r in h.requests] == [(a, Decimal("150000"))]


def test_the_customer_service_home(db, home_book: HomeBook) -> None:  # type: ignore[no-untyped-def]
    h = service.service_home(db, principal(db, "service"))
    c = h.complaints
    assert (c.open_within, c.open_breached, c.closed_on_time, c.closed_late) == (1, 2, 1, 1)
    assert c.by_product == {
        "P-A": {"open_within": 1, "open_breached": 1, "closed_on_time": 0, "closed_late": 0},
        "P-B": {"open_within": 0, "open_breached": 1, "closed_on_time": 1, "closed_late": 0},
        "": {"open_within": 0, "open_breached": 0, "closed_on_time": 0, "closed_late": 1},
    }
    recent = home_book.recent_survey.strftime("%Y-%m")
    older = home_book.older_survey.strftime("%Y-%m")
    assert [(m.month, m.survey_type, m.average, m.responses) for m in h.satisfaction] == [
        (older, "csat", 5.0, 1),
        (recent, "csat", 3.0, 2),
        (recent, "nps", 8.0, 1),
    ]
    assert (h.churn_fitted, h.churn) == (False, [])  # no churn model fitted
    # The credit manager sees the north team's complaint and survey too.
    everyone = service.service_home(db, principal(db, "manager"))
    assert everyone.complaints.open_within == 2
    assert next(m.average for m in everyone.satisfaction if m.month == recent) == 7 / 3


def test_the_auditor_home(db, home_book: HomeBook) -> None:  # type: ignore[no-untyped-def]
    h = service.auditor_home(db, principal(db, "auditor"))
    assert len(h.activity.days) == 30 and h.activity.days[-1] == today()
    assert h.activity.actions["reveal"][-1] == 3
    writes = db.scalar(
        select(func.count()).where(AuditEntry.action == "write", AuditEntry.at >= h.since)
    )
    assert sum(h.activity.actions.get("write", [])) == writes
    assert [(a.username, a.approved, a.rejected) for a in h.approvers] == [
        ("manager", 2, 0),
        ("manager2", 0, 1),
    ]
    # Views and reveals of personal data by person, the most in all first: the same entries
    # as the activity's "view" and "reveal" figures (the card once counted reveals only, under
    # the views' name, and said "none" beside a figure of views).
    assert [(r.actor, r.views, r.reveals) for r in h.reveals] == [
        ("sales", 2, 2),
        ("analyst", 3, 0),
        ("service", 0, 1),
    ]
    assert sum(r.views for r in h.reveals) == sum(h.activity.actions["view"])
    assert sum(r.reveals for r in h.reveals) == sum(h.activity.actions["reveal"])
    assert h.self_approvals_recorded is False


def test_the_admin_home(db, home_book: HomeBook) -> None:  # type: ignore[no-untyped-def]
    h = service.admin_home(db, principal(db, "admin"))
    assert {c.key: c.count for c in h.jobs} == {
        "queued": 1,
        "running": 1,
        "failed": 1,
        "done": 0,
        "cancelled": 0,
    }
    assert {c.key: c.count for c in h.deliveries} == {
        "pending": 2,
        "failed": 1,
        "delivered": 1,
        "dead": 0,
    }
    assert h.system.database == db.get_bind().dialect.name
    assert h.system.revision == h.system.head_revision  # the test database is migrated
    assert h.system.queue.rows >= 0 and h.system.queue.dead_letters == 0
    beat = h.system.job_heartbeat_at
    assert beat is not None and dt.timedelta(0) < dt.datetime.now(dt.UTC) - beat < dt.timedelta(
        minutes=5
    )


def test_the_portfolio_filters_narrow_the_analyst_home(db, home_book: HomeBook) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.portfolio.schemas import PortfolioFilter

    north = PortfolioFilter(region="North")  # customers c and d
    h = service.analyst_home(db, principal(db, "analyst"), flt=north)
    # Of the analyst's three open alerts only c's (due in three days) is in the North; of the
    # three closed in the period only c's escalated one.
    assert (h.queue.open, h.queue.due_today, h.queue.overdue) == (1, 0, 0)
    assert (h.sla.on_time, h.sla.late) == (0, 1)
    # utilisation_high on c this week: in progress, the manager's open one, the dismissed one;
    # dpd_30 on c: three and sixty days ago (a's, b's, the product's and the merged
    # customer's are out).
    assert list(h.by_code.codes) == ["utilisation_high", "dpd_30"]
    assert h.by_code.codes["utilisation_high"] == [0] * 11 + [3]
    assert sum(h.by_code.codes["dpd_30"]) == 2
    assert len(h.models) == 2 and h.not_narrowed == ["models"]  # models: every customer
    assert h.filters.region == "North" and h.filters.period_days == 30
    # The b2b_enterprise segment is b alone: its acknowledged alert is due today.
    b_only = service.analyst_home(
        db, principal(db, "analyst"), flt=PortfolioFilter(segment="b2b_enterprise")
    )
    assert (b_only.queue.open, b_only.queue.due_today, b_only.queue.overdue) == (1, 1, 0)
    # Filters narrow within what the caller may see: sales have no customer in the North.
    theirs = service.analyst_home(db, principal(db, "sales"), flt=north)
    assert theirs.by_code.codes == {}
    assert service.analyst_home(db, principal(db, "analyst")).not_narrowed == []


def test_the_portfolio_filters_narrow_the_service_home(db, home_book: HomeBook) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.portfolio.schemas import PortfolioFilter

    enterprise = PortfolioFilter(segment="b2b_enterprise")  # customer b alone
    h = service.service_home(db, principal(db, "manager"), flt=enterprise)
    c = h.complaints
    assert (c.open_within, c.open_breached, c.closed_on_time, c.closed_late) == (1, 0, 0, 0)
    assert c.by_product == {
        "P-A": {"open_within": 1, "open_breached": 0, "closed_on_time": 0, "closed_late": 0}
    }
    recent = home_book.recent_survey.strftime("%Y-%m")
    assert [(m.month, m.survey_type, m.average) for m in h.satisfaction] == [(recent, "csat", 1.0)]
    assert h.not_narrowed == []
    # Customer service (the east team: customer a) see nothing of b however filtered.
    theirs = service.service_home(db, principal(db, "service"), flt=enterprise)
    assert theirs.complaints.open_within == 0 and theirs.satisfaction == []
    # a is in the b2b_sme segment: the same figures as unfiltered.
    sme = service.service_home(db, principal(db, "service"), flt=PortfolioFilter(segment="b2b_sme"))
    s = sme.complaints
    assert (s.open_within, s.open_breached, s.closed_on_time, s.closed_late) == (1, 2, 1, 1)
    # The North has no complaints at all.
    north = service.service_home(db, principal(db, "manager"), flt=PortfolioFilter(region="North"))
    assert north.complaints.by_product == {} and north.satisfaction == []


def test_the_auditor_home_stays_whole_and_says_so(db, home_book: HomeBook) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.portfolio.schemas import PortfolioFilter

    whole = service.auditor_home(db, principal(db, "auditor"))
    east = service.auditor_home(db, principal(db, "auditor"), flt=PortfolioFilter(region="East"))
    assert whole.not_narrowed == []
    assert east.not_narrowed == ["activity", "approvers", "reveals"]
    assert (east.approvers, east.reveals) == (whole.approvers, whole.reveals)
    assert east.filters.region == "East"
