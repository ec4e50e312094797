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

import argparse
import datetime as dt
import re
import statistics
import time
from typing import Any

from bench import databases
from bench.alert_queue_bench import PG_URL, signed_in
from bench.portfolio_bench import _insert, fill
from fastapi.testclient import TestClient
from sqlalchemy import case, update

from riskdesk import bootstrap
from riskdesk.config import Settings
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.main import create_app
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


def run_backend(backend: str, args: argparse.Namespace) -> list[tuple[str, float, str, int]]:
    """Fill one database, then time every view on it: (view, median ms, total, statements)."""
    db = databases.open_database(backend, args.db_url, "customer_list")
    try:
        started = time.perf_counter()
        populate(db.factory, args.customers, args.alerts)
        print(
            f"{backend}: {args.customers:,} customers, {args.alerts:,} alerts in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        if backend == "postgresql":
            with db.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        settings = Settings(
            database_url="sqlite://",
            secret_key="bench-secret-key-0123456789",
            event_workers=0,
            job_workers=0,
            delivery_interval_seconds=0,
            warning_backtest_days=0,
            complaint_surge_seconds=0,
            audit_checkpoint_interval_seconds=0,
            import_reap_interval_seconds=0,
            job_reap_interval_seconds=0,
            report_schedule_interval_seconds=0,
            month_end_interval_seconds=0,
        )
        app = create_app(settings, session_factory=db.factory)
        clock = databases.StatementClock(db.engine, per_statement=args.per_statement)
        results = []
        with TestClient(app):  # the lifespan: started once
            clients = {u: signed_in(app, u) for u in {v[1] for v in VIEWS}}
            for label, user, query in VIEWS:
                client = clients[user]
                times = []
                answer = None
                for _ in range(args.rounds + 1):  # the first round warms up
                    clock.reset()
                    t0 = time.perf_counter()
                    answer = client.get(f"/customers?{query}")
                    times.append((time.perf_counter() - t0) * 1000)
                    assert answer.status_code == 200, (label, answer.status_code)
                assert answer is not None
                total = re.search(r"共 ([\d,]+) ", answer.text)
                median = statistics.median(times[1:])
                shown = total.group(1) if total else "?"
                results.append((label, median, shown, clock.count))
                print(
                    f"  {backend:10s} {median:7.0f} ms  total {shown:>7s}  "
                    f"{clock.count:2d} statements  {label}",
                    flush=True,
                )
                if args.per_statement:
                    clock.slowest(3)
        return results
    finally:
        db.drop()


def main() -> None:
    databases.throwaway_keyring()
    bootstrap.install()
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--db-url", default=PG_URL)
    parser.add_argument("--per-statement", action="store_true")
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    figures = {b: run_backend(b, args) for b in backends}
    print("\n| view | " + " | ".join(f"{b} (median ms)" for b in backends) + " | total |")
    print("| --- | " + " | ".join("---:" for _ in backends) + " | ---: |")
    for i, (label, _, _) in enumerate(VIEWS):
        cells = " | ".join(f"{figures[b][i][1]:.0f}" for b in backends)
        print(f"| {label} | {cells} | {figures[backends[0]][i][2]} |")


if __name__ == "__main__":
    main()
