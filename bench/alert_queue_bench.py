"""The alert queue page (GET /alerts) at volume: how long a whole page answer takes.

    PYTHONPATH=src:. .venv/bin/python bench/alert_queue_bench.py [--alerts 100000]
        [--customers 100000] [--rounds 7] [--backend sqlite|postgresql|both]
        [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--per-statement]

A fresh database per backend (a SQLite file, or a fresh PostgreSQL schema), migrated, filled
with plain INSERTs: ``--customers`` companies with credit profiles (one in twenty owned by the
sales user), a case for each customer with alerts (its priority set) and ``--alerts`` alerts
over the last 90 days: 6 rule codes, four severities, three in five not closed (open,
acknowledged, in progress), a fifth assigned to the analyst, due two days after being raised,
one in eleven escalated.

Each view is the page as a browser asks for it, through the application in this process
(``TestClient``: routing, the session cookie, the queries, the Jinja render), signed in as
its user; the median of ``--rounds`` (after one warm-up) is printed in ms with the page's
total and the statements' count. ``--per-statement`` prints the slowest statements of the
last round of each view.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from bench import databases
from sqlalchemy import insert

from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Alert, AlertCase, CreditProfile, Customer
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role

BATCH = 5_000
RULES = (
    ("OVERDUE_NEW", "new_overdue", "payment"),
    ("LIMIT_BREACH", "limit_breach", "exposure"),
    ("PAY_SLOWDOWN", "payment_delay", "payment"),
    ("ORDER_DROP", "order_drop", "purchase"),
    ("COMPLAINT_SPIKE", "complaint_spike", "complaints"),
    ("RATING_DOWN", "rating_downgrade", "score"),
)
# (label, user, query): the default view, filtered views, other sorts, a deep page.
VIEWS = (
    ("manager, default (open, by priority, 50 a page)", "manager", ""),
    ("manager, newest raised, 200 a page", "manager", "order=raised&size=200"),
    ("manager, high severity + payment + region R3, soonest due", "manager",
     "severity=high&category=payment&region=R3&order=due"),
    ("manager, breached SLA, most severe first", "manager", "sla=breached&order=severity"),
    ("manager, every status, page 1,000 of 2,000", "manager", "status=any&order=raised&page=1000"),
    ("manager, every status, last page (2,000)", "manager", "status=any&order=raised&page=2000"),
    ("analyst, assigned to me, by priority", "analyst", "assigned=me"),
    ("sales (own customers, 1/20), by priority", "sales", ""),
)  # fmt: skip


def _insert(session: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        session.execute(insert(model), rows[start : start + BATCH])


def populate(factory: Any, customers: int, alerts: int) -> None:
    """Users, customers with profiles, their cases and the alerts."""
    now = utcnow()
    with factory.begin() as session:
        users = {}
        for username, role, team in (
            ("manager", Role.CREDIT_MANAGER, None),
            ("analyst", Role.RISK_ANALYST, None),
            ("sales", Role.SALES, "bench"),
        ):
            users[username] = security_service.create_user(
                session, username=username, display_name=username, role=role,
                password=databases.PASSWORD, team=team,
            ).id  # fmt: skip
        session.flush()
        ids = range(1, customers + 1)
        _insert(session, Customer, [
            {"id": i, "kind": "company", "company_name": f"公司{i}", "region": f"R{i % 8}",
             "industry": f"I{i % 12}", "segment": "b2b_sme", "status": "active",
             "owner_id": users["sales"] if i % 20 == 0 else None, "version": 1}
            for i in ids
        ])  # fmt: skip
        _insert(session, CreditProfile, [
            {"customer_id": i, "risk_tier": ("low", "medium", "high", "critical")[i % 4],
             "credit_limit": Decimal(10_000 + (i % 97) * 1_000), "limit_currency": "CNY",
             "payment_terms_days": 30, "prepayment_required": False, "blocked": False}
            for i in ids
        ])  # fmt: skip
        owner = [(a * 7_919) % customers + 1 for a in range(alerts)]
        with_alerts = sorted(set(owner))
        _insert(session, AlertCase, [
            {"id": n + 1, "customer_id": cid, "status": "open",
             "opened_at": now - dt.timedelta(days=90),
             "priority": float((cid * 104_729) % 5_000_000) / 10, "priority_basis": "expected_loss"}
            for n, cid in enumerate(with_alerts)
        ])  # fmt: skip
        case_of = {cid: n + 1 for n, cid in enumerate(with_alerts)}
        rows = []
        for a in range(alerts):
            code, kind, cat = RULES[a % len(RULES)]
            raised = now - dt.timedelta(minutes=(a * 2_591) % (90 * 24 * 60))
            closed = a % 5 >= 3  # not the analyst's (a % 5 == 0) nor the sales user's (a % 20 == 1)
            rows.append(
                {"customer_id": owner[a], "case_id": case_of[owner[a]], "source": "rule",
                 "rule_code": code, "rule_version_id": None, "category": cat,
                 "warning_type": kind, "severity": ("low", "medium", "high", "critical")[a % 4],
                 "status": ("resolved", "dismissed")[a % 2] if closed
                 else ("open", "acknowledged", "in_progress")[a % 3],
                 "title_en": code, "title_zh": code, "evidence": {"dpd_max": a % 90},
                 "hits": 1, "observed_on": raised.date(), "raised_at": raised,
                 "last_hit_at": raised,
                 "assigned_to_id": users["analyst"] if a % 5 == 0 else None,
                 "outcome": ("confirmed", "false_alarm")[a % 3 % 2] if closed else None,
                 "notified": True,
                 "closed_at": raised + dt.timedelta(hours=(a % 7) * 12) if closed else None,
                 "closed_by_id": users["analyst"] if closed else None,
                 "due_at": raised + dt.timedelta(days=2),
                 "escalation_level": 1 if a % 11 == 0 else 0}
            )  # fmt: skip
        _insert(session, Alert, rows)


def main() -> None:
    parser = databases.page_bench_options(rounds=7)
    parser.add_argument("--alerts", type=int, default=100_000)
    args = parser.parse_args()
    databases.run_page_bench(
        args,
        "alert_queue",
        lambda factory: populate(factory, args.customers, args.alerts),
        f"{args.customers:,} customers, {args.alerts:,} alerts",
        [("/alerts", VIEWS)],
        total=r"共 ([\d,]+) 条预警",
    )


if __name__ == "__main__":
    main()
