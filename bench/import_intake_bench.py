"""How long an order intake waits while a large file of orders is imported beside it.

    PYTHONPATH=.:src .venv/bin/python bench/import_intake_bench.py [--rows 100000]
        [--customers 200] [--backend sqlite|postgresql] [--before /work/main/src] [--alone]

One process, as the server: a worker thread imports one file of ROWS one-line orders
(``intake.import_file``, the path of `riskdesk import` and the API) while the main thread posts
orders one at a time through ``intake.ingest``, each in its own unit of work, timing each. First
100 orders with nothing beside them (idle). The import's transactions are timed too (every
``unit_of_work`` the intake module opens), and its check phase where it has one.

``--before SRC`` runs the measurement twice, each in a child process of its own: once with the
code under SRC (e.g. a checkout of the code before the change, whose import is one
transaction) and once with this checkout's, alternately, and prints both side by side, so the
two see the same machine load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HERE = Path(__file__).resolve().parents[1]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """One run with the code on the path; its figures."""
    import polars as pl
    from bench import databases
    from tests.factories import uscc

    from riskdesk import bootstrap
    from riskdesk.db import unit_of_work
    from riskdesk.pipeline import intake
    from riskdesk.security import service as security_service
    from riskdesk.security.permissions import Role

    databases.throwaway_keyring()
    bootstrap.install()
    if args.write_rows and hasattr(intake, "WRITE_ROWS"):
        intake.WRITE_ROWS = args.write_rows
    db = databases.open_database(args.backend, args.db_url, "imports")
    factory = db.factory
    try:
        with unit_of_work(factory) as session:
            security_service.create_user(
                session,
                username="bench",
                display_name="bench",
                role=Role.CREDIT_MANAGER,
                password="Quiet-harbour-lamp-2026",
            )
        with unit_of_work(factory) as session:
            manager = security_service.get_user_by_username_or_raise(session, "bench")
            principal = security_service.system_principal(session, manager)
            intake.ingest(session, principal, "customers", [databases.BENCH_CUSTOMER])
            intake.ingest(
                session,
                principal,
                "customers",
                [
                    {
                        "source": "erp",
                        "external_id": f"IC{n}",
                        "kind": "company",
                        "name": f"导入基准有限公司{n}",
                        "tax_id": uscc(),
                    }
                    for n in range(args.customers)
                ],
            )
        rows = args.rows

        def orders_file(prefix: str) -> bytes:
            return (
                pl.DataFrame(
                    {
                        "source": ["erp"] * rows,
                        "external_id": [f"{prefix}{i:07d}" for i in range(rows)],
                        "customer_external_id": [f"IC{i % args.customers}" for i in range(rows)],
                        "ordered_at": ["2026-01-05T10:00:00+00:00"] * rows,
                        "amount": ["100.00"] * rows,
                        "currency": ["CNY"] * rows,
                        "category": ["office"] * rows,
                    }
                )
                .write_csv()
                .encode()
            )

        def load(session: Any) -> Any:
            user = security_service.get_user_by_username_or_raise(session, "bench")
            return security_service.system_principal(session, user)

        alone = None
        if args.alone:
            # The same size of file with nothing beside it: what the import costs by itself.
            t0 = time.perf_counter()
            intake.import_file(
                factory,
                load,
                kind="orders",
                content=orders_file("IA"),
                filename="alone.csv",
                mapping=None,
                skip_invalid=False,
            )
            alone = time.perf_counter() - t0
        content = orders_file("IB")

        n = 0
        spans: list[tuple[float, float]] = []

        def post() -> None:
            nonlocal n
            n += 1
            t0 = time.perf_counter()
            with unit_of_work(factory) as session:
                intake.ingest(session, principal, "orders", [databases.bench_order(f"BI-{n}")])
            spans.append((t0, time.perf_counter()))

        for _ in range(args.idle):
            post()
        idle = [(b - a) * 1000 for a, b in spans]
        spans.clear()

        # Every transaction the import opens, timed from its start to its commit.
        transactions: list[float] = []
        real_uow = intake.unit_of_work

        @contextlib.contextmanager
        def timed_uow(f: Any) -> Iterator[Any]:
            t0 = time.perf_counter()
            with real_uow(f) as session:
                yield session
            transactions.append((time.perf_counter() - t0) * 1000)

        intake.unit_of_work = timed_uow  # type: ignore[assignment]
        phases: dict[str, float] = {}
        real_check = getattr(intake, "_check_file", None)
        if real_check is not None:  # (the one-transaction import has no check phase)

            def timed_check(*a: Any, **kw: Any) -> Any:
                phases["check_start"] = time.perf_counter()
                try:
                    return real_check(*a, **kw)
                finally:
                    phases["check_end"] = time.perf_counter()

            intake._check_file = timed_check  # type: ignore[attr-defined]
        done = threading.Event()
        outcome: dict[str, Any] = {}

        def work() -> None:
            t0 = time.perf_counter()
            try:
                result = intake.import_file(
                    factory,
                    load,
                    kind="orders",
                    content=content,
                    filename="big.csv",
                    mapping=None,
                    skip_invalid=False,
                )
                outcome["status"] = result.job.status
                outcome["created"] = result.job.created_count
            finally:
                outcome["seconds"] = time.perf_counter() - t0
                done.set()

        worker = threading.Thread(target=work)
        started = time.perf_counter()
        worker.start()
        while not done.is_set():
            post()
        worker.join()
        during = [(b - a) * 1000 for a, b in spans]
        checking = [
            (b - a) * 1000
            for a, b in spans
            if "check_end" in phases and a < phases["check_end"] and b > started
        ]
        writing = [
            (b - a) * 1000 for a, b in spans if "check_end" in phases and b > phases["check_end"]
        ]
        return {
            "label": args.label,
            "rows": rows,
            "import": outcome,
            "alone_seconds": alone,
            "check_seconds": phases["check_end"] - phases["check_start"] if phases else None,
            "transactions": len(transactions),
            "longest_transaction_ms": max(transactions) if transactions else None,
            "intake": {
                "idle": idle,
                "during the import": during,
                "- while it checks": checking,
                "- while it writes": writing,
            },
        }
    finally:
        db.drop()


def _summary(values: list[float]) -> str:
    from bench import databases

    if not values:
        return "0 | | |"
    return (
        f"{len(values)} | {statistics.median(values):.0f} ms | "
        f"{databases.nearest_rank(values, 0.99):.0f} ms | {max(values):,.0f} ms"
    )


def report(results: list[dict[str, Any]]) -> None:
    """One table of intakes, one of the imports, for every run."""
    print("| run | intake | orders | median | p99 | max |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in results:
        for label, values in r["intake"].items():
            if values or not label.startswith("-"):
                print(f"| {r['label']} | {label} | {_summary(values)} |")
    print()
    print("| run | rows | status | alone | beside the orders | check | transactions | longest |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        check = f"{r['check_seconds']:.1f} s" if r["check_seconds"] is not None else "-"
        alone = f"{r['alone_seconds']:.1f} s" if r["alone_seconds"] is not None else "-"
        print(
            f"| {r['label']} | {r['rows']:,} | {r['import'].get('status')} | {alone} | "
            f"{r['import']['seconds']:.1f} s | {check} | {r['transactions']} | "
            f"{r['longest_transaction_ms']:,.0f} ms |"
        )


def main() -> None:
    """Measure here, or (``--before``) both codes in children of their own, side by side."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--idle", type=int, default=100, help="intakes measured alone first")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--db-url", default=PG_URL)
    parser.add_argument("--before", help="src directory of the code to compare with")
    parser.add_argument("--label", default="this code")
    parser.add_argument("--write-rows", type=int, default=0, help="file rows per transaction")
    parser.add_argument(
        "--alone", action="store_true", help="first time one import with nothing beside it"
    )
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.before is None:
        result = measure(args)
        if args.json:
            print("RESULT " + json.dumps(result))
        else:
            report([result])
        return
    print(f"load average before: {os.getloadavg()}", flush=True)
    results = []
    for label, src in (("before", args.before), ("after", str(HERE / "src"))):
        command = [
            sys.executable,
            __file__,
            "--json",
            "--label",
            label,
            *("--rows", str(args.rows), "--customers", str(args.customers)),
            *("--idle", str(args.idle), "--backend", args.backend, "--db-url", args.db_url),
            *(["--alone"] if args.alone else []),
            *("--write-rows", str(args.write_rows)),
        ]
        env = {**os.environ, "PYTHONPATH": f"{HERE}:{src}"}
        t0 = time.perf_counter()
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
        results.append(json.loads(line[len("RESULT ") :]))
        print(
            f"{label}: {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()}",
            flush=True,
        )
    report(results)


if __name__ == "__main__":
    main()
