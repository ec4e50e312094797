"""The portfolio dashboard's summary on a large book: how long one answer takes.

    PYTHONPATH=src:. .venv/bin/python bench/portfolio_bench.py [--customers 100000]
        [--invoices 3] [--rounds 3] [--backend sqlite|postgresql]
        [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

A fresh database, migrated, filled with plain INSERTs (no intake, no events processed):
``--customers`` companies over 8 regions, 12 industries, 4 tiers and 500 groups (a third in
none), each with a credit limit, two exposure rows, ``--invoices`` invoices due between 150
days ago and 30 days ahead (every other one part-paid), and one alert, held order and limit
request per 50 customers. Then ``portfolio.service.summary`` as a credit manager, unfiltered
and filtered by region, and as a sales person who owns 1/20 of the book; the median of
``--rounds`` (after one warm-up) is printed, wall and CPU time, with the statements' count:
first with every past month end derived per answer, then again after the month-end job
(``portfolio.month_ends.refresh``, timed too) has stored them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from decimal import Decimal
from typing import Any

from bench import databases
from sqlalchemy import insert

from riskdesk import bootstrap
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import (
    Alert,
    CreditDecision,
    CreditExposure,
    CreditProfile,
    Customer,
    CustomerGroup,
    Invoice,
    LimitRequest,
    Payment,
)
from riskdesk.portfolio import month_ends, service
from riskdesk.portfolio import repository as repo
from riskdesk.portfolio.schemas import PortfolioFilter
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role

BATCH = 20_000


def _insert(session: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        session.execute(insert(model), rows[start : start + BATCH])


def fill(factory: Any, customers: int, invoices: int) -> tuple[int, int]:
    """Write the book; the ids of a credit manager and of a sales person."""
    day, now = today(), utcnow()
    with factory.begin() as session:
        manager = security_service.create_user(
            session, username="manager", display_name="m", role=Role.CREDIT_MANAGER,
            password="Bench-pass-2026",
        )  # fmt: skip
        sales = security_service.create_user(
            session, username="sales", display_name="s", role=Role.SALES,
            password="Bench-pass-2026", team="bench",
        )  # fmt: skip
        session.flush()
        _insert(
            session,
            CustomerGroup,
            [{"id": g, "code": f"G{g}", "name": f"集团{g}"} for g in range(1, 501)],
        )
        ids = range(1, customers + 1)
        _insert(session, Customer, [
            {"id": i, "kind": "company", "company_name": f"公司{i}", "region": f"R{i % 8}",
             "industry": f"I{i % 12}", "segment": "b2b_sme", "status": "active",
             "owner_id": sales.id if i % 20 == 0 else None,
             "group_id": (i % 500) + 1 if i % 3 else None, "version": 1}
            for i in ids
        ])  # fmt: skip
        _insert(session, CreditProfile, [
            {"customer_id": i, "risk_tier": ("low", "medium", "high", "critical")[i % 4],
             "credit_limit": Decimal(10_000 + (i % 97) * 1_000), "limit_currency": "CNY",
             "payment_terms_days": 30, "prepayment_required": False, "blocked": False,
             "next_review_date": day + dt.timedelta(days=(i % 200) - 50)}
            for i in ids
        ])  # fmt: skip
        _insert(session, CreditExposure, [
            {"customer_id": i, "category": cat, "amount": Decimal((i * k) % 90_000),
             "updated_at": now}
            for i in ids
            for cat, k in (("open_receivables", 7), ("open_orders", 3))
        ])  # fmt: skip
        invoice_rows = [
            {"id": i * invoices + n, "customer_id": i, "source": "bench",
             "external_id": f"{i}-{n}", "content_hash": "x", "amount": Decimal(5_000 + n * 100),
             "currency": "CNY", "issue_date": day - dt.timedelta(days=200),
             "due_date": day + dt.timedelta(days=30 - (i * 7 + n * 31) % 180), "received_at": now}
            for i in ids
            for n in range(invoices)
        ]  # fmt: skip
        _insert(session, Invoice, invoice_rows)
        _insert(session, Payment, [
            {"customer_id": r["customer_id"], "source": "bench", "external_id": f"p{r['id']}",
             "content_hash": "x", "invoice_id": r["id"], "amount": Decimal(2_000),
             "currency": "CNY", "paid_on": day, "method": "bank_transfer", "overpayment": False,
             "received_at": now}
            for r in invoice_rows[::2]
        ])  # fmt: skip
        sample = range(1, customers + 1, 50)
        _insert(session, Alert, [
            {"customer_id": i, "source": "rule", "rule_code": "r", "category": "payment",
             "warning_type": "new_overdue", "severity": "high", "status": "open",
             "title_en": "t", "title_zh": "t", "evidence": {}, "hits": 1,
             "observed_on": day - dt.timedelta(days=i % 40), "raised_at": now,
             "last_hit_at": now, "notified": True, "escalation_level": 0,
             "due_at": now - dt.timedelta(hours=i % 3)}
            for i in sample
        ])  # fmt: skip
        _insert(session, CreditDecision, [
            {"customer_id": i, "source": "bench", "order_external_id": str(i),
             "amount": Decimal(1_000), "currency": "CNY", "outcome": "hold", "status": "held",
             "reserved": Decimal(0), "checks": [], "inputs": {}, "decided_by": "system",
             "created_at": now, "updated_at": now, "recheck_count": 0}
            for i in sample
        ])  # fmt: skip
        _insert(session, LimitRequest, [
            {"customer_id": i, "current_limit": Decimal(10_000),
             "requested_limit": Decimal(20_000),
             "currency": "CNY", "reason": "r", "origin": "sales", "status": "pending",
             "requested_by_id": sales.id, "requested_at": now,
             "expires_at": now + dt.timedelta(days=5)}
            for i in sample
        ])  # fmt: skip
        return manager.id, sales.id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--db-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--per-statement", action="store_true", help="print where the last round's time went"
    )
    args = parser.parse_args()
    bootstrap.install()
    databases.throwaway_keyring()
    db = databases.open_database(args.backend, args.db_url, "portfolio")
    try:
        started = time.perf_counter()
        manager_id, sales_id = fill(db.factory, args.customers, args.invoices)
        if args.backend == "postgresql":
            with db.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        print(f"{args.backend}: {args.customers:,} customers, {args.customers * args.invoices:,} "
              f"invoices written in {time.perf_counter() - started:.1f} s")  # fmt: skip
        clock = databases.StatementClock(db.engine, per_statement=args.per_statement)

        def answer(label: str) -> None:
            for who, user_id, flt in (
                ("credit manager, whole book", manager_id, PortfolioFilter()),
                ("credit manager, one region", manager_id, PortfolioFilter(region="R3")),
                ("sales, own customers", sales_id, PortfolioFilter()),
            ):
                times, cpu = [], []
                for _ in range(args.rounds + 1):
                    with db.factory() as session:
                        user = security_service.get_user_by_username_or_raise(
                            session, "manager" if user_id == manager_id else "sales"
                        )
                        principal = security_service.system_principal(session, user)
                        clock.reset()
                        t0, c0 = time.perf_counter(), time.process_time()
                        summary = service.summary(session, principal, flt=flt)
                        times.append(time.perf_counter() - t0)
                        cpu.append(time.process_time() - c0)
                print(
                    f"  {label:<8} {who:<28} {statistics.median(times[1:]) * 1000:7.0f} ms wall, "
                    f"{statistics.median(cpu[1:]) * 1000:6.0f} ms CPU ({clock.count} statements; "
                    f"{summary.totals.customers:,} customers, "
                    f"exposure {summary.totals.exposure:,.2f})"
                )
                clock.slowest(8)

        # Side by side in one run: every month end derived per answer (before the month-end
        # job has run), then read from what the job stored.
        answer("derived")
        t0, c0 = time.perf_counter(), time.process_time()
        result = month_ends.refresh(db.factory)
        print(
            f"  month-end job: {len(result.stored)} month ends stored in "
            f"{time.perf_counter() - t0:.1f} s ({time.process_time() - c0:.1f} s CPU)"
        )
        answer("stored")
        # Today's ageing from the kept balances against the derivation from every invoice and
        # payment, alternately.
        kept_cpu: dict[bool, list[float]] = {True: [], False: []}
        with db.factory() as session:
            for _ in range(args.rounds + 1):
                for kept in (False, True):
                    c0 = time.process_time()
                    repo.ageing(session, repo.Scope(), today(), kept=kept)
                    kept_cpu[kept].append(time.process_time() - c0)
        print(
            "  today's ageing, whole book, CPU: derived "
            f"{statistics.median(kept_cpu[False][1:]) * 1000:.0f} ms, kept "
            f"{statistics.median(kept_cpu[True][1:]) * 1000:.0f} ms"
        )
    finally:
        db.drop()


if __name__ == "__main__":
    main()
