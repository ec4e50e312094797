"""The customer list page (GET /customers) at volume: how long a whole page answer takes.

    PYTHONPATH=src:. .venv/bin/python bench/customer_list_bench.py [--customers 100000]
        [--alerts 100000] [--rounds 5] [--backend sqlite|postgresql|both]
        [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--per-statement]

A fresh database per backend (a SQLite file, or a fresh PostgreSQL schema), migrated, filled
with plain INSERTs: the book of ``portfolio_bench.fill`` without invoices (companies in 8
regions, credit profiles in four tiers, two exposure lines each, one in twenty owned by the
sales user), scores and ratings on nine in ten profiles, and ``--alerts`` alerts spread over
the customers, three in five open (open, acknowledged, in progress).

Each view is the page as a browser asks for it, through the application in this process
(``TestClient``: routing, the session cookie, the queries, the Jinja render), signed in as
its user; the median of ``--rounds`` (after one warm-up) is printed in ms with the page's
total and the statements' count.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bench import databases
from bench.portfolio_bench import _insert, fill
from sqlalchemy import case, update

from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import Alert, CreditProfile

BATCH = 10_000
# (label, user, query): the default view, a filtered view, the sorts, a deep page.
VIEWS = (
    ("manager, default (by customer no.)", "manager", ""),
    ("manager, region R3 + tier critical", "manager", "region=R3&tier=critical"),
    ("manager, utilisation highest first", "manager", "sort=-utilisation"),
    ("manager, exposure largest first", "manager", "sort=-exposure"),
    ("manager, open alerts most first", "manager", "sort=-alerts"),
    ("manager, score lowest first", "manager", "sort=score"),
    ("manager, name, page 2,000 of 4,000", "manager", "sort=name&page=2000"),
    ("manager, utilisation, last page (4,000)", "manager", "sort=-utilisation&page=4000"),
    ("sales (own customers, 1/20), utilisation", "sales", "sort=-utilisation"),
    ("sales, default", "sales", ""),
)  # fmt: skip


def populate(factory: Any, customers: int, alerts: int) -> None:
    """The book, scores and ratings, and the alerts."""
    fill(factory, customers, 0)
    day, now = today(), utcnow()
    with factory.begin() as session:
        session.execute(
            update(CreditProfile)
            .where(CreditProfile.customer_id % 10 != 0)
            .values(
                score=300 + CreditProfile.customer_id * 37 % 550,
                rating=case(
                    (CreditProfile.customer_id % 4 == 0, "AA"),
                    (CreditProfile.customer_id % 4 == 1, "A"),
                    (CreditProfile.customer_id % 4 == 2, "BB"),
                    else_="B",
                ),
            )
        )
        for start in range(0, alerts, BATCH):
            _insert(session, Alert, [
                {"customer_id": (a * 7_919) % customers + 1, "source": "rule",
                 "rule_code": "bench", "category": "payment", "warning_type": "new_overdue",
                 "severity": ("low", "medium", "high", "critical")[a % 4],
                 "status": ("open", "acknowledged", "in_progress", "resolved", "dismissed")[a % 5],
                 "title_en": "t", "title_zh": "t", "evidence": {}, "hits": 1,
                 "observed_on": day - dt.timedelta(days=a % 90), "raised_at": now,
                 "last_hit_at": now, "notified": True, "escalation_level": 0,
                 "due_at": now + dt.timedelta(days=2)}
                for a in range(start, min(start + BATCH, alerts))
            ])  # fmt: skip


def main() -> None:
    parser = databases.page_bench_options(rounds=5)
    parser.add_argument("--alerts", type=int, default=100_000)
    args = parser.parse_args()
    databases.run_page_bench(
        args,
        "customer_list",
        lambda factory: populate(factory, args.customers, args.alerts),
        f"{args.customers:,} customers, {args.alerts:,} alerts",
        [("/customers", VIEWS)],
        total=r"共 ([\d,]+) ",
    )


if __name__ == "__main__":
    main()
