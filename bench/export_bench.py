"""Exporting the customer list: 100,000 rows to CSV and to .xlsx, time and peak memory.

    PYTHONPATH=.:src .venv/bin/python bench/export_bench.py [--customers 100000]
        [--backend sqlite|postgresql|both] [--db-url URL]

Builds a fresh database per backend (a SQLite file, or a fresh PostgreSQL schema) with
CUSTOMERS customers written by bulk inserts (nine in ten companies, one in ten individuals
whose names are encrypted, as the credit file keeps them), their credit profiles and five
owners. Then, side by side in one run, a credit manager's export of the whole list:

- service, CSV: ``customers.service.export_rows`` through ``kit.exports.csv_chunks``;
- service, xlsx: the same rows through ``kit.exports.xlsx_chunks`` (constant memory);
- service, xlsx by xlsxwriter: the same rows and columns written by xlsxwriter in its
  constant-memory mode (typed cells, formats, frozen bold header), the writer the product
  used first: the figure that made it write the sheet XML itself;
- HTTP API, CSV and xlsx: ``GET /api/v1/customers/export`` on a Uvicorn server in this process,
  the body streamed by an HTTP client and counted.

Each is timed (wall clock) with its resident-set high-water mark (VmHWM, reset before each
run through /proc/self/clear_refs) and then run again under tracemalloc for the Python heap's
peak (tracemalloc slows the run; its time is not the figure).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import socket
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2 as httpx
import uvicorn
import xlsxwriter
from bench import databases
from sqlalchemy import insert

from riskdesk import bootstrap
from riskdesk.customers import service as customer_service
from riskdesk.customers.repository import CustomerFilter
from riskdesk.db import unit_of_work
from riskdesk.kit.exports import CHUNK_ROWS, csv_chunks, label_of, xlsx_chunks
from riskdesk.kit.messages import translator
from riskdesk.main import create_app
from riskdesk.models import CreditProfile, Customer
from riskdesk.reports import service as report_service
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
OWNERS = 5  # each costs an argon2 hash to create
TIERS = ("low", "medium", "high", "critical", None)
SEGMENTS = ("b2b_enterprise", "b2b_sme", "consumer")


def populate(factory: Any, n: int) -> str:
    """CUSTOMERS customers with profiles and owners; an API token of a credit manager."""
    now = dt.datetime.now(dt.UTC)
    with unit_of_work(factory) as session:
        owners = [
            security_service.create_user(
                session,
                username=f"sales{i}",
                display_name=f"销售{i}",
                role=Role.SALES,
                password="bench-password-0123",
            ).id
            for i in range(OWNERS)
        ]
        manager = security_service.create_user(
            session,
            username="manager",
            display_name="manager",
            role=Role.CREDIT_MANAGER,
            password="bench-password-0123",
        )
        scopes = sorted(p.value for p in security_service.permissions_for(manager.role))
        _, token = security_service.issue_token(session, user=manager, name="bench", scopes=scopes)
        for start in range(1, n + 1, 5000):
            ids = range(start, min(start + 5000, n + 1))
            session.execute(
                insert(Customer),
                [
                    {
                        "id": cid,
                        "kind": "individual" if cid % 10 == 0 else "company",
                        "company_name": None if cid % 10 == 0 else f"基准贸易{cid}有限公司",
                        "person_name": f"客户{cid}" if cid % 10 == 0 else None,
                        "tax_id": None if cid % 10 == 0 else f"91330100{cid:010d}",
                        "segment": SEGMENTS[cid % 3],
                        "industry": "wholesale",
                        "region": ("East", "North", "South")[cid % 3],
                        "status": "active",
                        "owner_id": owners[cid % OWNERS],
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for cid in ids
                ],
            )
            session.execute(
                insert(CreditProfile),
                [
                    {
                        "customer_id": cid,
                        "risk_tier": TIERS[cid % 5],
                        "rating": "BBB",
                        "score": 500 + cid % 300,
                        "credit_limit": Decimal(10_000 + cid % 90_000) + Decimal("0.50"),
                        "limit_currency": "CNY",
                        "payment_terms_days": 30,
                        "blocked": cid % 97 == 0,
                        "next_review_date": dt.date(2027, 1, 1) + dt.timedelta(days=cid % 365),
                    }
                    for cid in ids
                ],
            )
    return token


def _hwm_reset() -> None:
    # Linux: writing 5 resets the peak resident set (VmHWM) to the current one.
    Path("/proc/self/clear_refs").write_text("5")


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024  # MiB
    return -1


def measure(run: Callable[[], int], heap: bool = True) -> dict[str, Any]:
    """Wall time, bytes and the RSS high-water of one run; then (``heap``) the tracemalloc
    peak of another."""
    _hwm_reset()
    before = _status("VmRSS")
    started, cpu = time.perf_counter(), time.process_time()
    size = run()
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    peak_rss = _status("VmHWM")
    heap_peak = -(2**20)
    if heap:
        tracemalloc.start()
        run()
        _, heap_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {
        "seconds": round(seconds, 2),
        # This process's CPU (the server's threads too, for the API): what a shared, loaded
        # machine disturbs least.
        "cpu_seconds": round(cpu_seconds, 2),
        "mib": round(size / 2**20, 1),
        "rss_before_mib": before,
        "rss_peak_mib": peak_rss,
        "rss_growth_mib": peak_rss - before,
        "heap_peak_mib": round(heap_peak / 2**20, 1),
    }


def xlsxwriter_file(target: Any, columns: Any, rows: Iterator[Any], translate: Any) -> None:
    """The list written by xlsxwriter, constant memory: what kit.exports.write_xlsx replaced."""
    book = xlsxwriter.Workbook(
        target, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    sheet = book.add_worksheet("客户列表")
    bold = book.add_format({"bold": True})
    formats = {
        kind: book.add_format({"num_format": f})
        for kind, f in (("money", "#,##0.00"), ("integer", "0"), ("date", "yyyy-mm-dd"))
    }
    for i, column in enumerate(columns):
        sheet.set_column(i, i, 14)
        sheet.write_string(0, i, translate(column.label), bold)
    sheet.freeze_panes(1, 0)
    for r, row in enumerate(rows, start=1):
        for i, column in enumerate(columns):
            value = row.get(column.key)
            if value is None:
                continue
            if column.kind in formats and column.kind != "date":
                sheet.write_number(r, i, float(value), formats[column.kind])
            elif column.kind == "date":
                sheet.write_datetime(r, i, dt.datetime.combine(value, dt.time()), formats["date"])
            elif column.kind in ("enum", "boolean"):
                sheet.write_string(r, i, label_of(column, value, translate))
            else:
                sheet.write_string(r, i, str(value))
    book.close()


def service_run(factory: Any, fmt: str) -> Callable[[], int]:
    """The customer list exported through the service, as the endpoint does."""
    translate = translator("zh-CN")

    def run() -> int:
        with factory() as session:
            manager = security_service.get_user_by_username_or_raise(session, "manager")
            principal = security_service.system_principal(session, manager)
        with factory() as reading:
            rows = customer_service.export_rows(
                reading, principal, flt=CustomerFilter(), chunk=CHUNK_ROWS
            )
            columns = report_service.CUSTOMERS.columns
            if fmt == "xlsxwriter":
                with tempfile.TemporaryFile() as target:
                    xlsxwriter_file(target, columns, rows, translate)
                    return target.seek(0, 2)
            chunks: Iterator[bytes] = (
                csv_chunks(columns, rows, translate)
                if fmt == "csv"
                else xlsx_chunks(columns, rows, translate, title="客户列表")
            )
            return sum(len(c) for c in chunks)

    return run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api_run(base: str, token: str, fmt: str) -> Callable[[], int]:
    """The customer list downloaded from the API, streamed and counted."""

    def run() -> int:
        size = 0
        with httpx.stream(
            "GET",
            f"{base}/api/v1/customers/export",
            params={"format": fmt, "lang": "zh-CN"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=600,
        ) as answer:
            answer.raise_for_status()
            for chunk in answer.iter_bytes():
                size += len(chunk)
        return size

    return run


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Build one database, then every export on it."""
    db = databases.open_database(backend, args.db_url, "exports")
    try:
        started = time.perf_counter()
        token = populate(db.factory, args.customers)
        print(f"{backend}: {args.customers:,} customers in {time.perf_counter() - started:.0f} s")
        result: dict[str, Any] = {"backend": backend, "customers": args.customers}
        # xlsxwriter, the baseline, once (first backend) and timed only: it takes minutes.
        formats = ("csv", "xlsx", "xlsxwriter") if backend == args.first else ("csv", "xlsx")
        for fmt in formats:
            result[f"service {fmt}"] = measure(service_run(db.factory, fmt), fmt != "xlsxwriter")
            print(backend, f"service {fmt}", json.dumps(result[f"service {fmt}"]), flush=True)
        app = create_app(databases.quiet_settings(), session_factory=db.factory)
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            for fmt in ("csv", "xlsx"):
                result[f"API {fmt}"] = measure(api_run(f"http://127.0.0.1:{port}", token, fmt))
                print(backend, f"API {fmt}", json.dumps(result[f"API {fmt}"]), flush=True)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
        return result
    finally:
        db.drop()


def table(results: list[dict[str, Any]]) -> str:
    """The figures as a Markdown table."""
    lines = [
        "| backend | export | rows | file | wall time | CPU time | ≤ 10 s | RSS peak (growth) "
        "| Python heap peak (tracemalloc) |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for result in results:
        for key in ("service csv", "service xlsx", "service xlsxwriter", "API csv", "API xlsx"):
            if key not in result:
                continue
            fig = result[key]
            lines.append(
                f"| {result['backend']} | {key} | {result['customers']:,} | {fig['mib']} MiB "
                f"| {fig['seconds']} s | {fig['cpu_seconds']} s "
                f"| {'yes' if fig['seconds'] <= 10 else 'no'} "
                f"| {fig['rss_peak_mib']} MiB (+{fig['rss_growth_mib']}) "
                f"| {fig['heap_peak_mib'] if fig['heap_peak_mib'] >= 0 else '-'} MiB |"
            )
    return "\n".join(lines)


def main() -> None:
    databases.throwaway_keyring()
    bootstrap.install()
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--db-url", default=PG_URL)
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    args.first = backends[0]
    results = [run_backend(b, args) for b in backends]
    print(table(results))


if __name__ == "__main__":
    main()
