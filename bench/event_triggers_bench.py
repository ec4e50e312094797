"""What the dashboard's triggers (migration 0038) cost the event path: invoices and payments
inserted with the triggers on and off, alternately, on a fresh database of each backend.

    PYTHONPATH=src:. .venv/bin/python bench/event_triggers_bench.py [--backend both]
        [--customers 2000] [--rows 20000] [--batch 50] [--rounds 3] [--stored]

Each round inserts ``--rows`` invoices, then a payment for each (half of them settling it, half
part-paying), ``--batch`` rows per transaction with Core ``executemany`` (what an intake batch
writes, without its validation); with the triggers off the same rows go into the same tables.
``--stored`` first stores a month end after the events' dates, so every row also marks its
customer stale (the late-event path). Rates are rows per second, median of the rounds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import statistics
import time
from decimal import Decimal

from bench import databases
from sqlalchemy import insert, text

from riskdesk import bootstrap
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import CreditProfile, Customer, Invoice, Payment, ReceivableMonthTotal

TRIGGERS = (
    ("trg_invoices_kept", "invoices"),
    ("trg_payments_kept", "payments"),
)


def _switch(db: databases.Database, on: bool) -> None:
    """Turn the insert triggers on or off (SQLite: drop and recreate them)."""
    if db.label == "postgresql":
        with db.engine.begin() as conn:
            for trigger, table in TRIGGERS:
                verb = "ENABLE" if on else "DISABLE"
                conn.execute(text(f"ALTER TABLE {table} {verb} TRIGGER {trigger}"))
        return
    migration = importlib.import_module("riskdesk.migrations.versions.0038_receivable_month_ends")
    with db.engine.begin() as conn:
        for trigger, _ in TRIGGERS:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
        if on:
            for statement in migration.SQLITE_TRIGGERS[:2]:
                conn.execute(text(statement))


def _round(db: databases.Database, customers: int, rows: int, batch: int, seq: int) -> float:
    day, now = today(), utcnow()
    invoices = [
        {"id": seq + n, "customer_id": 1 + n % customers, "source": "bench",
         "external_id": f"i{seq + n}", "content_hash": "x", "amount": Decimal("1000.00"),
         "currency": "CNY", "issue_date": day - dt.timedelta(days=40),
         "due_date": day - dt.timedelta(days=10), "received_at": now}
        for n in range(rows)
    ]  # fmt: skip
    payments = [
        {"customer_id": r["customer_id"], "source": "bench", "external_id": f"p{r['id']}",
         "content_hash": "x", "invoice_id": r["id"],
         "amount": Decimal("1000.00") if r["id"] % 2 else Decimal("400.00"), "currency": "CNY",
         "paid_on": day - dt.timedelta(days=5), "method": "bank_transfer",
         "overpayment": False, "received_at": now}
        for r in invoices
    ]  # fmt: skip
    started = time.perf_counter()
    for model, records in ((Invoice, invoices), (Payment, payments)):
        for start in range(0, len(records), batch):
            with db.engine.begin() as conn:
                conn.execute(insert(model), records[start : start + batch])
    return 2 * rows / (time.perf_counter() - started)


def run(backend: str, args: argparse.Namespace) -> None:
    db = databases.open_database(backend, args.db_url, "triggers")
    try:
        with db.factory.begin() as session:
            session.execute(insert(Customer), [
                {"id": i, "kind": "company", "company_name": f"c{i}", "region": "R",
                 "segment": "b2b_sme", "status": "active", "version": 1}
                for i in range(1, args.customers + 1)
            ])  # fmt: skip
            session.execute(insert(CreditProfile), [
                {"customer_id": i, "credit_limit": Decimal(100_000), "limit_currency": "CNY",
                 "payment_terms_days": 30, "prepayment_required": False, "blocked": False}
                for i in range(1, args.customers + 1)
            ])  # fmt: skip
            if args.stored:
                session.add(ReceivableMonthTotal(month_end=today(), ready=True))
        rates: dict[bool, list[float]] = {True: [], False: []}
        seq = 1
        for _ in range(args.rounds):
            for on in (True, False):
                _switch(db, on)
                rates[on].append(_round(db, args.customers, args.rows, args.batch, seq))
                seq += args.rows
        _switch(db, True)
        with_t, without = statistics.median(rates[True]), statistics.median(rates[False])
        print(
            f"{backend}: {2 * args.rows:,} rows a round, {args.batch} a transaction"
            f"{', every row late (stale marks)' if args.stored else ''}: "
            f"triggers on {with_t:,.0f} rows/s, off {without:,.0f} rows/s "
            f"({with_t / without:.0%}); rounds on {[round(r) for r in rates[True]]}, "
            f"off {[round(r) for r in rates[False]]}"
        )
    finally:
        db.drop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="both", choices=("sqlite", "postgresql", "both"))
    parser.add_argument("--db-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stored", action="store_true")
    args = parser.parse_args()
    bootstrap.install()
    databases.throwaway_keyring()
    for backend in ("sqlite", "postgresql") if args.backend == "both" else (args.backend,):
        run(backend, args)


if __name__ == "__main__":
    main()
