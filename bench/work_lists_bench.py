"""The work lists at volume: held orders, limit requests, reviews, complaints and approvals.

    PYTHONPATH=src:. .venv/bin/python bench/work_lists_bench.py [--customers 100000]
        [--rows 100000] [--rounds 5] [--backend sqlite|postgresql|both]
        [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--per-statement]
        [--only /complaints]

A fresh database per backend (a SQLite file, or a fresh PostgreSQL schema), migrated, filled
with plain INSERTs: the book of ``portfolio_bench.fill`` without invoices (companies with credit
profiles, reviews falling due from 50 days ago to 150 days ahead, one in twenty owned by the
sales user), then ``--rows`` rows in each of the lists' tables: order credit decisions (one in
twenty held), limit requests (one in ten pending), credit reviews (one in ten open, the rest
completed), complaints (two in five not resolved) and changes waiting for a second person (one
in fifty pending), each with one field.

Each view is the page as a browser asks for it, through the application in this process
(``TestClient``: routing, the session cookie, the count, the page's query, the render in
Chinese), signed in as its user; the median of ``--rounds`` (after one warm-up) is printed in
ms with the page's total and the statements' count.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from bench import databases
from bench.portfolio_bench import _insert, fill
from sqlalchemy import select

from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import (
    Complaint,
    CreditDecision,
    CreditReview,
    LimitRequest,
    PendingChange,
    PendingChangeItem,
    User,
)

BATCH = 10_000
TOTAL = r"共 ([\d,]+) 条"
# (path, label, user, query): each list's default view, its sorts, its deepest page, and the
# sales user's own customers where the list is narrowed by owner.
VIEWS = (
    ("/worklist", "held orders, newest first", "manager", ""),
    ("/worklist", "held orders, largest amount first", "manager", "sort=-amount"),
    ("/worklist", "held orders, by amount, last page", "manager", "sort=amount&page=200"),
    ("/worklist", "held orders, sales (own customers)", "sales", ""),
    ("/limit-requests", "limit requests, newest first", "manager", ""),
    ("/limit-requests", "limit requests, largest first", "manager", "sort=-amount"),
    ("/limit-requests", "limit requests, expiring first, last page", "manager",
     "sort=expires&page=400"),
    ("/limit-requests", "limit requests, sales (own customers)", "sales", ""),
    ("/reviews", "reviews due in 60 days, soonest first", "manager", ""),
    ("/reviews", "reviews due in 150 days, by customer, last page", "manager",
     "horizon=150&sort=customer&page=4000"),
    ("/reviews", "reviews, sales (own customers)", "sales", ""),
    ("/complaints", "complaints not resolved, newest first", "manager", ""),
    ("/complaints", "complaints, respond-by soonest, last page", "manager",
     "sort=respond_by&page=1600"),
    ("/complaints", "complaints, most severe first", "manager", "sort=-severity"),
    ("/complaints", "complaints breaching SLA", "manager", "breached=true"),
    ("/complaints", "complaints, resolved, newest first, page 1,000", "manager",
     "status=resolved&page=1000"),
    ("/approvals", "approvals, longest waiting first", "manager", ""),
    ("/approvals", "approvals, by customer, last page", "manager", "sort=customer&page=80"),
)  # fmt: skip


def populate(factory: Any, customers: int, rows: int) -> None:
    """The book, then ``rows`` rows in each work list's table."""
    fill(factory, customers, 0)
    day, now = today(), utcnow()
    with factory.begin() as session:
        manager = session.scalar(select(User.id).where(User.username == "manager"))
        for start in range(0, rows, BATCH):
            part = range(start, min(start + BATCH, rows))

            def customer(n: int) -> int:
                # Spread over the book, the sales user's twentieth included.
                return (n * 7_919 + n // 20) % customers + 1

            _insert(session, CreditDecision, [
                {"customer_id": customer(n), "source": "bench", "order_external_id": f"o{n}",
                 "amount": Decimal(1_000 + (n * 37) % 90_000), "currency": "CNY",
                 "outcome": "hold" if n % 20 == 0 else "approve",
                 "status": "held" if n % 20 == 0 else "consumed", "reserved": Decimal(0),
                 "checks": [], "inputs": {}, "decided_by": "policy",
                 "created_at": now - dt.timedelta(minutes=n), "updated_at": now,
                 "recheck_count": 0}
                for n in part
            ])  # fmt: skip
            _insert(session, LimitRequest, [
                {"customer_id": customer(n), "current_limit": Decimal(10_000),
                 "requested_limit": Decimal(20_000 + (n * 53) % 200_000), "currency": "CNY",
                 "risk_tier": "medium", "reason": "bench", "origin": "sales",
                 "status": "pending" if n % 10 == 0 else ("approved", "rejected")[n % 2],
                 "requested_by_id": manager, "requested_at": now - dt.timedelta(minutes=n),
                 "expires_at": now + dt.timedelta(days=1 + n % 29)}
                for n in part
            ])  # fmt: skip
            _insert(session, CreditReview, [
                {"customer_id": customer(n), "status": "open" if n % 10 == 0 else "completed",
                 "due_date": day + dt.timedelta(days=n % 60), "risk_tier": "medium",
                 "evidence": {"score": 600}, "opened_by_id": manager,
                 "opened_at": now - dt.timedelta(days=n % 400)}
                for n in part
            ])  # fmt: skip
            _insert(session, Complaint, [
                {"customer_id": customer(n), "source": "bench", "external_id": f"c{n}",
                 "content_hash": "x", "received_at": now, "category": "quality",
                 "product": f"P{n % 40}",
                 "severity": ("low", "medium", "high", "critical")[n % 4],
                 "status": ("open", "in_progress", "resolved", "closed", "resolved")[n % 5],
                 "opened_at": now - dt.timedelta(hours=n % 2_000),
                 "respond_by": now + dt.timedelta(hours=24 - n % 72),
                 "resolve_by": now + dt.timedelta(days=7 - n % 14), "description": "bench"}
                for n in part
            ])  # fmt: skip
            _insert(session, PendingChange, [
                {"id": n + 1, "customer_id": customer(n),
                 "status": "pending" if n % 50 == 0 else ("approved", "rejected")[n % 2],
                 "requested_by_id": manager, "requested_at": now - dt.timedelta(minutes=n),
                 "reason": "bench", "channel": "ui"}
                for n in part
            ])  # fmt: skip
            _insert(session, PendingChangeItem, [
                {"pending_change_id": n + 1, "field": "credit_limit", "old_value": "10000",
                 "new_value": "20000"}
                for n in part
            ])  # fmt: skip


def main() -> None:
    parser = databases.page_bench_options(rounds=5)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--only", help="one list's path, e.g. /complaints")
    args = parser.parse_args()
    pages = [
        (path, [(label, user, query) for p, label, user, query in VIEWS if p == path])
        for path in dict.fromkeys(v[0] for v in VIEWS)
        if path == (args.only or path)
    ]
    databases.run_page_bench(
        args,
        "work_lists",
        lambda factory: populate(factory, args.customers, args.rows),
        f"{args.customers:,} customers, {args.rows:,} rows a list",
        pages,
        total=TOTAL,
    )


if __name__ == "__main__":
    main()
