"""How long a large file import takes, end to end (read, validate, resolve, write).

    PYTHONPATH=. .venv/bin/python bench/import_bench.py --rows 100000 [--db-url URL] [--excel]

Builds a file of ROWS orders (one line each) for 2,000 customers, imports it through the same
path as `riskdesk import`, and prints the time per phase and rows per second. Alongside, it
imports the same records one API-sized batch at a time and, as the naive baseline, one ORM object
per row, so the ratio shows what the bulk path buys on this machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import random
import tempfile
import time
import uuid
from pathlib import Path

import polars as pl
from bench import databases
from sqlalchemy import text
from tests.factories import uscc

from riskdesk import bootstrap
from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
from riskdesk.kit.intake import Item
from riskdesk.migrations import runner
from riskdesk.models import Order, OrderLine
from riskdesk.pipeline import intake
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role


def build_orders(rows: int, customers: int, prefix: str) -> pl.DataFrame:
    rng = random.Random(7)
    start = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    amounts = [f"{rng.randint(100, 500000) / 100:.2f}" for _ in range(rows)]
    return pl.DataFrame(
        {
            "source": ["erp"] * rows,
            "external_id": [f"{prefix}{i:07d}" for i in range(rows)],
            "customer_external_id": [f"BC{rng.randrange(customers):05d}" for _ in range(rows)],
            "ordered_at": [(start + dt.timedelta(seconds=30 * i)).isoformat() for i in range(rows)],
            "amount": amounts,
            "currency": ["CNY"] * rows,
            "channel": [rng.choice(["online", "sales_rep", "phone"]) for _ in range(rows)],
            "payment_method": [rng.choice(["credit", "cash_on_delivery"]) for _ in range(rows)],
            "category": [rng.choice(["electronics", "food", "office"]) for _ in range(rows)],
            "line_amount": amounts,
        }
    )


def main() -> None:
    databases.throwaway_keyring()
    bootstrap.install()  # the audit trail's hooks, as every entry point
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--db-url", default=None)
    parser.add_argument("--excel", action="store_true", help="also time the same rows as .xlsx")
    parser.add_argument(
        "--naive-rows", type=int, default=10_000, help="rows for the one-object-per-row baseline"
    )
    args = parser.parse_args()

    schema = None
    if args.db_url:
        schema = f"rdbench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.db_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(args.db_url, connect_args={"options": f"-csearch_path={schema}"})
        label = "postgresql"
    else:
        path = Path(tempfile.mkdtemp()) / "bench.db"
        engine = make_engine(f"sqlite:///{path}")
        label = "sqlite"
    runner.upgrade(engine)
    factory = make_sessionmaker(engine)
    with unit_of_work(factory) as session:
        security_service.create_user(
            session,
            username="bench",
            display_name="bench",
            role=Role.CREDIT_MANAGER,
            password="Quiet-harbour-lamp-2026",
        )

    def load(session):  # type: ignore[no-untyped-def]
        user = security_service.get_user_by_username_or_raise(session, "bench")
        return security_service.system_principal(session, user)

    customers = [
        {
            "source": "erp",
            "external_id": f"BC{i:05d}",
            "kind": "company",
            "name": f"基准测试公司{i}有限公司",
            "tax_id": uscc(900000 + i),
        }
        for i in range(args.customers)
    ]
    with unit_of_work(factory) as session:
        intake.ingest_items(
            session,
            load(session),
            "customers",
            [Item(row=n, raw=r) for n, r in enumerate(customers, start=1)],
            skip_invalid=False,
            channel="bench",
        )

    print(f"backend: {label}; {args.rows:,} order rows for {args.customers:,} customers")
    results: list[tuple[str, int, float]] = []

    frame = build_orders(args.rows, args.customers, "BO")
    content = frame.write_csv().encode()
    started = time.perf_counter()
    result = intake.import_file(
        factory,
        load,
        kind="orders",
        content=content,
        filename="orders.csv",
        mapping=None,
        skip_invalid=False,
    )
    elapsed = time.perf_counter() - started
    assert result.job.status == "done", result.job.errors[:3]
    assert result.job.created_count == args.rows
    results.append(("CSV file import (bulk path)", args.rows, elapsed))

    again = time.perf_counter()
    repeat = intake.import_file(
        factory,
        load,
        kind="orders",
        content=content,
        filename="orders.csv",
        mapping=None,
        skip_invalid=False,
    )
    assert repeat.job.duplicate_count == args.rows
    results.append(("same CSV again (all duplicates)", args.rows, time.perf_counter() - again))

    if args.excel:
        xframe = build_orders(args.rows, args.customers, "BX")
        buffer = io.BytesIO()
        xframe.write_excel(buffer)
        started = time.perf_counter()
        xresult = intake.import_file(
            factory,
            load,
            kind="orders",
            content=buffer.getvalue(),
            filename="orders.xlsx",
            mapping=None,
            skip_invalid=False,
        )
        assert xresult.job.status == "done", xresult.job.errors[:3]
        results.append(("Excel file import (bulk path)", args.rows, time.perf_counter() - started))

    cframe = pl.DataFrame(
        {
            "source": ["crm"] * args.rows,
            "external_id": [f"NC{i:07d}" for i in range(args.rows)],
            "kind": ["company"] * args.rows,
            "name": [f"客户{i}贸易有限公司" for i in range(args.rows)],
            "tax_id": [uscc(10_000_000 + i) for i in range(args.rows)],
            "region": ["East"] * args.rows,
            "credit_limit": ["50000"] * args.rows,
            "payment_terms_days": ["30"] * args.rows,
        }
    )
    started = time.perf_counter()
    cresult = intake.import_file(
        factory,
        load,
        kind="customers",
        content=cframe.write_csv().encode(),
        filename="customers.csv",
        mapping=None,
        skip_invalid=False,
    )
    assert cresult.job.status == "done", cresult.job.errors[:3]
    results.append(("customers CSV import (bulk path)", args.rows, time.perf_counter() - started))

    # Naive baseline: validate the same way, then one ORM object per order and per line.
    naive_rows = min(args.naive_rows, args.rows)
    nframe = build_orders(naive_rows, args.customers, "BN")
    items = intake.read_file_items("orders", nframe.write_csv().encode(), "n.csv", None)
    started = time.perf_counter()
    with unit_of_work(factory) as session:
        principal = load(session)
        handler = intake.handler_for("orders")
        from riskdesk.kit.intake import WriteContext, validate_items

        validate_items(handler, items)
        ctx = WriteContext(principal=principal, channel="bench")
        handler.resolve(session, items, ctx)
        for item in items:
            rec = item.record
            order = Order(
                customer_id=item.customer_id,
                source=rec.source,
                external_id=rec.external_id,
                content_hash=item.content_hash,
                ordered_at=rec.ordered_at,
                amount=rec.amount,
                currency=rec.currency,
                channel=rec.channel,
                payment_method=rec.payment_method,
            )
            session.add(order)
            session.flush()
            for n, line in enumerate(rec.lines, start=1):
                session.add(
                    OrderLine(
                        order_id=order.id,
                        line_no=n,
                        category=line.category,
                        product=line.product,
                        quantity=line.quantity,
                        amount=line.amount,
                    )
                )
            session.flush()
    results.append(
        ("naive: one ORM object + flush per row", naive_rows, time.perf_counter() - started)
    )

    width = max(len(r[0]) for r in results)
    for name, rows, seconds in results:
        print(
            f"{name:<{width}}  {rows:>8,} rows  {seconds:8.2f} s  {rows / seconds:>10,.0f} rows/s"
        )
    bulk_rate = results[0][1] / results[0][2]
    naive_rate = results[-1][1] / results[-1][2]
    print(f"bulk path is {bulk_rate / naive_rate:.1f}x the naive rate")
    engine.dispose()
    if schema is not None:
        admin = make_engine(args.db_url)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
