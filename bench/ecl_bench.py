"""Expected credit loss at portfolio scale: one run's read, compute and store.

    PYTHONPATH=src:. .venv/bin/python bench/ecl_bench.py [--customers 100000] [--months 30]
        [--backend sqlite|postgresql|both] [--lookback 24]
        [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Builds a fresh database per backend (a temporary SQLite file in WAL mode, or a fresh
PostgreSQL schema; dropped afterwards) with CUSTOMERS companies in three segments and
``--months`` of monthly invoices per customer (due 30 days after issue), each paid, in one
or (one in five) two parts, by a delay drawn from the customer's payment habit: 85% pay
within 10 days of the due date, 11% 10-45 days late, 3.5% 40-150 days late, and 0.5% stop
paying from some month on; 0.2% of all invoices are never paid (disputes). The rows are
bulk-loaded (COPY on PostgreSQL, executemany on SQLite; not timed).

Then times, as ``POST /api/v1/ecl/runs`` runs them (``ecl.service``), as of the last month end:

- read: invoices, payments and segments into Polars (``ecl.repository.receivables``);
- compute: month-end balances per invoice over the window, roll rates, the matrix per
  segment, every customer's ECL (``ecl.matrix.compute``, Polars, no loop per customer), and
  the digest of the inputs;
- store: the run and one result row per customer with an open balance, in one transaction
  (and its commit); then the same run again, which finds the stored one (idempotent repeat);
- read back: the run's report (matrix, totals, movement) and the first page of its customers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import time
from typing import Any

import numpy as np
import polars as pl
from bench import databases

from riskdesk import bootstrap
from riskdesk.db import snapshot, unit_of_work
from riskdesk.ecl import matrix
from riskdesk.ecl import repository as ecl_repo
from riskdesk.ecl import service as ecl_service
from riskdesk.kit.pagination import PageParams

SEGMENTS = ("b2b_enterprise", "b2b_sme", "consumer")
HASH = "0" * 64


def generate(customers: int, months: int, as_of: dt.date, seed: int = 0) -> dict[str, Any]:
    """Customers, their monthly invoices and payments, as Polars frames."""
    rng = np.random.default_rng(seed)
    # Payment habits: on time, late, very late, and stops paying from some month on.
    habit = rng.choice(4, size=customers, p=[0.85, 0.11, 0.035, 0.005])
    segment = rng.choice(len(SEGMENTS), size=customers, p=[0.2, 0.5, 0.3])
    stops = rng.integers(0, months, size=customers)
    cust = np.repeat(np.arange(1, customers + 1), months)
    month = np.tile(np.arange(months), customers)
    first = np.datetime64(as_of - dt.timedelta(days=int(months * 30.4)))
    issue = first + (month * 30.4).astype("timedelta64[D]")
    issue = issue + rng.integers(0, 28, size=cust.size).astype("timedelta64[D]")
    due = issue + np.timedelta64(30, "D")
    scale = np.array([20_000.0, 5_000.0, 800.0])[segment[cust - 1]]
    amount = np.round(rng.lognormal(0, 0.6, size=cust.size) * scale, 2)
    h = habit[cust - 1]
    never = (h == 3) & (month >= stops[cust - 1]) | (rng.random(cust.size) < 0.002)
    delay = np.select(
        [h == 0, h == 1, h == 2],
        [rng.integers(-10, 11, cust.size), rng.integers(10, 46, cust.size),
         rng.integers(40, 151, cust.size)],
        default=rng.integers(0, 30, cust.size),
    )  # fmt: skip
    keep = issue <= np.datetime64(as_of)
    invoices = pl.DataFrame(
        {
            "id": np.arange(1, cust.size + 1)[keep],
            "customer_id": cust[keep],
            "issue_date": issue[keep].astype("datetime64[D]"),
            "due_date": due[keep].astype("datetime64[D]"),
            "amount": amount[keep],
            "paid_on": (due + delay.astype("timedelta64[D]"))[keep].astype("datetime64[D]"),
            "never": never[keep],
        }
    )
    # One invoice in five is paid in two parts: 40%, and the rest ten days later.
    paying = invoices.filter(~pl.col("never"))
    whole = paying.filter(pl.col("id") % 5 != 0).select(
        pl.col("id").alias("invoice_id"), "customer_id", pl.col("paid_on"), "amount"
    )
    parts = paying.filter(pl.col("id") % 5 == 0)
    first_part = parts.select(
        pl.col("id").alias("invoice_id"), "customer_id", "paid_on",
        (pl.col("amount") * 0.4).round(2).alias("amount"),
    )  # fmt: skip
    second_part = parts.select(
        pl.col("id").alias("invoice_id"), "customer_id",
        (pl.col("paid_on") + dt.timedelta(days=10)).alias("paid_on"),
        (pl.col("amount") - (pl.col("amount") * 0.4).round(2)).round(2).alias("amount"),
    )  # fmt: skip
    payments = pl.concat([whole, first_part, second_part]).filter(pl.col("paid_on") <= as_of)
    return {
        "segment": segment,
        "invoices": invoices.drop("paid_on", "never"),
        "payments": payments.with_row_index("id", offset=1),
    }


def _copy(db: databases.Database, table: str, frame: pl.DataFrame) -> None:
    """Bulk-load a frame: COPY on PostgreSQL, executemany on SQLite, in one transaction."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        columns = ", ".join(frame.columns)
        if db.label == "postgresql":
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in frame.iter_rows():
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in frame.columns)
            texts = frame.with_columns(pl.col(pl.Date, pl.Datetime).cast(pl.String))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", texts.rows())
        raw.commit()
    finally:
        raw.close()


def populate(db: databases.Database, data: dict[str, Any]) -> tuple[int, int]:
    """Bulk-load customers, invoices and payments; (invoices, payments)."""
    now = (
        dt.datetime.now(dt.UTC).replace(tzinfo=None)
        if db.label == "sqlite"
        else (dt.datetime.now(dt.UTC))
    )
    segment = data["segment"]
    customers = pl.DataFrame(
        {
            "id": np.arange(1, segment.size + 1),
            "kind": "company",
            "segment": [SEGMENTS[s] for s in segment.tolist()],
        }
    ).with_columns(
        company_name=pl.format("基准客户{}有限公司", "id"), status=pl.lit("active"),
        version=pl.lit(1), created_at=pl.lit(now), updated_at=pl.lit(now),
    )  # fmt: skip
    _copy(db, "customers", customers)
    common = {"source": pl.lit("bench"), "content_hash": pl.lit(HASH), "received_at": pl.lit(now),
              "currency": pl.lit("CNY")}  # fmt: skip
    invoices = data["invoices"].with_columns(external_id=pl.format("I{}", "id"), **common)
    _copy(db, "invoices", invoices)
    payments = data["payments"].with_columns(
        external_id=pl.format("P{}", "id"), method=pl.lit("bank_transfer"),
        overpayment=pl.lit(False), **common,
    )  # fmt: skip
    _copy(db, "payments", payments)
    return invoices.height, payments.height


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Build the data on one backend and time a run."""
    as_of = dt.date.fromisoformat(args.as_of)
    db = databases.open_database(backend, args.db_url, "ecl")
    try:
        data = generate(args.customers, args.months, as_of)
        started = time.perf_counter()
        invoices, payments = populate(db, data)
        t_load = time.perf_counter() - started
        with unit_of_work(db.factory) as session:
            started, cpu = time.perf_counter(), time.process_time()
            with snapshot(session):
                frames = ecl_repo.receivables(session, as_of)
            t_read, c_read = time.perf_counter() - started, time.process_time() - cpu
        started, cpu = time.perf_counter(), time.process_time()
        result = matrix.compute(*frames, as_of, args.lookback)
        t_matrix, c_matrix = time.perf_counter() - started, time.process_time() - cpu
        started = time.perf_counter()
        digest = ecl_service.inputs_digest(as_of, args.lookback, result)
        t_digest = time.perf_counter() - started
        plan = ecl_service.Plan(as_of, args.lookback, result, digest)
        with unit_of_work(db.factory) as session:
            started, cpu = time.perf_counter(), time.process_time()
            run_row, created = ecl_service.store_run(session, plan, None)
            session.flush()
            t_store, c_store = time.perf_counter() - started, time.process_time() - cpu
            started = time.perf_counter()
        t_commit = time.perf_counter() - started
        assert created
        with unit_of_work(db.factory) as session:
            started = time.perf_counter()
            again, created_again = ecl_service.store_run(session, plan, None)
            t_repeat = time.perf_counter() - started
            assert not created_again and again.id == run_row.id
            started = time.perf_counter()
            found = ecl_service.get_run_or_raise(session, run_row.id)
            detail = ecl_service.run_detail(session, found)
            page = ecl_service.customer_page(session, found, None, PageParams(1, 50))
            t_report = time.perf_counter() - started
        portfolio = [r for r in detail.matrix if r.segment == matrix.PORTFOLIO]
        return {
            "backend": backend,
            "customers": args.customers,
            "invoices": invoices,
            "payments": payments,
            "lookback_months": args.lookback,
            "month_end_cells": int(result.month_end_balances.height),
            "customers_with_balance": run_row.customers,
            "load_s": round(t_load, 1),
            "read_s": round(t_read, 2),
            "compute_matrix_s": round(t_matrix, 2),
            "digest_s": round(t_digest, 2),
            "store_s": round(t_store, 2),
            "commit_s": round(t_commit, 2),
            "repeat_s": round(t_repeat, 3),
            "report_s": round(t_report, 3),
            "run_total_s": round(t_read + t_matrix + t_digest + t_store + t_commit, 2),
            "cpu_read_s": round(c_read, 2),
            "cpu_compute_matrix_s": round(c_matrix, 2),
            "cpu_store_s": round(c_store, 2),
            "load_average_1m": round(os.getloadavg()[0], 1),
            "peak_rss_mb": round(_rss_mb()),
            "total_balance": str(run_row.total_balance),
            "total_ecl": str(run_row.total_ecl),
            "historical_rates": [round(r.historical_rate, 4) for r in portfolio],
            "first_page": len(page.items),
        }
    finally:
        db.drop()


def main() -> None:
    databases.throwaway_keyring()
    bootstrap.install()  # the audit trail's hooks, as every entry point
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=30)
    parser.add_argument("--lookback", type=int, default=24)
    parser.add_argument("--as-of", default="2026-09-30")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--db-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    for backend in backends:
        print(json.dumps(run(backend, args), ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
