"""How long an order post and a credit check wait while a long request runs, before and after
issue 12's fix.

    PYTHONPATH=. .venv/bin/python bench/long_request_bench.py [--customers 2000] [--months 24]
        [--before e6cf295] [--family lightgbm]

Builds one demo database (a SQLite file: the problem is SQLite's single writer; PostgreSQL has
no database-wide write lock), then runs each code version on a fresh copy of it: the commit
before the fix (``--before``; its src/ taken with ``git archive``) and this checkout. Each runs
under Uvicorn (one worker) in a subprocess of its own. For each long request - a model training
from history, a scoring run over everyone, a rule backtest - the bench starts it and, while it
runs, posts an order and a credit check in turn, one after another (each a new order for the
same customer), and records how long each took. The long request's own time is shown beside.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
from bench import databases
from sqlalchemy import func, select, text

from riskdesk import bootstrap
from riskdesk.db import make_engine, make_sessionmaker
from riskdesk.migrations import runner
from riskdesk.models import Customer, Invoice, Order, Payment
from riskdesk.security import keys
from riskdesk.security import service as security_service

ROOT = Path(__file__).resolve().parent.parent
LONG_REQUESTS = ("training", "scoring run", "backtest")
PROBES = ("order", "credit check")


def build_database(path: Path, customers: int, months: int) -> dict[str, Any]:
    """The demo history, tokens for an analyst and a manager, and one customer to order for."""
    from riskdesk.demo.loader import load_demo
    from riskdesk.pipeline import intake

    engine = make_engine(f"sqlite:///{path}")
    runner.upgrade(engine)
    factory = make_sessionmaker(engine)
    tokens = {}
    started = time.perf_counter()
    with factory.begin() as session:
        load_demo(session, customers=customers, months=months, seed=0)
        for username in ("analyst", "manager"):
            user = security_service.get_user_by_username_or_raise(session, username)
            scopes = sorted(p.value for p in security_service.permissions_for(user.role))
            _, tokens[username] = security_service.issue_token(
                session, user=user, name="bench", scopes=scopes
            )
        manager = security_service.get_user_by_username_or_raise(session, "manager")
        intake.ingest(
            session,
            security_service.system_principal(session, manager),
            "customers",
            [databases.BENCH_CUSTOMER],
        )
        counts = {
            name: session.scalar(select(func.count()).select_from(model))
            for name, model in (
                ("customers", Customer),
                ("orders", Order),
                ("invoices", Invoice),
                ("payments", Payment),
            )
        }
    with engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    print(f"demo data loaded in {time.perf_counter() - started:.0f} s: {counts}", flush=True)
    return {"tokens": tokens, "counts": counts}


def before_sources(revision: str, into: Path) -> Path:
    """src/ as of a commit (git archive), to run the code before the fix."""
    archive = into / "src.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", revision, "src"], check=True, stdout=out)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


class Server:
    """Riskdesk from a given src/ under Uvicorn in a subprocess, on its own database copy."""

    def __init__(self, src: Path, database: Path, keyring: str, workdir: Path) -> None:
        self.port = databases.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "PYTHONPATH": str(src),
            "RISKDESK_DATABASE_URL": f"sqlite:///{database}",
            "RISKDESK_KEYRING": keyring,
            "RISKDESK_SECRET_KEY": "bench-secret-key-0123456789",
            "RISKDESK_DATA_DIR": str(workdir),
            "RISKDESK_DELIVERY_INTERVAL_SECONDS": "0",
        }
        command = [sys.executable, "-m", "uvicorn", "--factory", "riskdesk.main:create_app"]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port), "--log-level", "warning", "--no-access-log"],
            env=env,
            cwd=workdir,
        )
        databases.wait_until(
            lambda: httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200,
            seconds=120,
            every=0.2,
            what="the server",
        )

    def stop(self) -> None:
        """Stop the server process."""
        self.process.terminate()
        self.process.wait(30)


def _long_request(client: httpx.Client, kind: str, tokens: dict[str, str], family: str) -> Any:
    if kind == "training":
        return client.post(
            "/api/v1/models/train-from-history",
            json={"name": "bench", "family": family, "folds": 3},
            headers={"Authorization": f"Bearer {tokens['analyst']}"},
        )
    if kind == "scoring run":
        return client.post(
            "/api/v1/scoring-runs",
            json={},
            headers={"Authorization": f"Bearer {tokens['manager']}"},
        )
    return client.post(
        "/api/v1/rules/backtest",
        json={"expression": "dpd_max > 30", "months": 12},
        headers={"Authorization": f"Bearer {tokens['manager']}"},
    )


def measure(server: Server, tokens: dict[str, str], family: str) -> dict[str, Any]:
    """Per long request: its time, and the time of each order post and credit check made one
    after another while it ran (an order also refreshes the customer's indicators and runs the
    rules, so it competes for the CPU too; a credit check mostly waits for the write lock)."""
    results: dict[str, Any] = {}
    n = 0
    with httpx.Client(base_url=server.url, timeout=600) as client:
        manager = {"Authorization": f"Bearer {tokens['manager']}"}

        def probe(kind: str) -> tuple[float, int]:
            nonlocal n
            n += 1
            if kind == "order":
                path, body = "/api/v1/orders", databases.bench_order(f"BO-{n}")
            else:
                path, body = (
                    "/api/v1/credit-checks",
                    {
                        "source": "bench",
                        "order_external_id": f"BC-{n}",
                        "customer_external_id": "BENCH-1",
                        "customer_source": "erp",
                        "amount": "100.00",
                        "currency": "CNY",
                    },
                )
            started = time.perf_counter()
            response = client.post(path, headers=manager, json=body)
            if response.status_code >= 300:
                print(f"  {kind} failed: {response.status_code} {response.text[:200]}")
            return time.perf_counter() - started, response.status_code

        results["idle"] = {
            kind: statistics.median(probe(kind)[0] for _ in range(5)) * 1000 for kind in PROBES
        }
        for long in LONG_REQUESTS:
            done: dict[str, Any] = {}

            def run(long: str = long, done: dict[str, Any] = done) -> None:
                with httpx.Client(base_url=server.url, timeout=600) as own:
                    started = time.perf_counter()
                    response = _long_request(own, long, tokens, family)
                    done["seconds"] = time.perf_counter() - started
                    done["status"] = response.status_code

            worker = threading.Thread(target=run)
            worker.start()
            time.sleep(0.5)  # past sign-in, into the work
            waits: dict[str, list[float]] = {kind: [] for kind in PROBES}
            failed = 0
            while worker.is_alive():
                for kind in PROBES:
                    seconds, status = probe(kind)
                    waits[kind].append(seconds * 1000)
                    failed += status >= 300
            worker.join()
            results[long] = {
                "seconds": done["seconds"],
                "status": done["status"],
                "failed": failed,
                **{
                    # (No probe at all when the long request ended within the half second.)
                    kind: {
                        "n": len(w),
                        "first_ms": w[0] if w else None,
                        "median_ms": statistics.median(w) if w else None,
                        "max_ms": max(w, default=None),
                    }
                    for kind, w in waits.items()
                },
            }
            print(f"  {long}: {results[long]}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--before", default="e6cf295", help="the commit before the fix")
    parser.add_argument("--family", default="lightgbm", choices=("lightgbm", "scorecard"))
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    keyring = keys.generate().to_json()
    keys.use(keyring)
    bootstrap.install()  # the audit trail's hooks, as every entry point
    work = Path(tempfile.mkdtemp(prefix="rd-longreq-"))
    try:
        built = build_database(work / "demo.db", args.customers, args.months)
        variants = {
            f"before ({args.before})": before_sources(args.before, work),
            "after (this checkout)": ROOT / "src",
        }
        table: dict[str, Any] = {}
        for label, src in variants.items():
            home = work / label.split()[0]
            home.mkdir()
            database = home / "riskdesk.db"
            shutil.copy(work / "demo.db", database)
            print(f"{label}:", flush=True)
            server = Server(src, database, keyring, home)
            try:
                table[label] = measure(server, built["tokens"], args.family)
            finally:
                server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps({"data": built["counts"], "results": table}))
        return
    print(f"\ndata: {built['counts']}; training family {args.family}")
    print(
        f"{'version':<22} {'long request':<12} {'its time':>9} | {'probe':<12} {'n':>4} "
        f"{'first':>9} {'median':>9} {'max':>9}"
    )
    for label, results in table.items():
        for kind in PROBES:
            idle = results["idle"][kind]
            print(f"{label:<22} {'(idle)':<12} {'':>9} | {kind:<12} {5:>4} {'':>9} "
                  f"{idle:>7.0f}ms")  # fmt: skip
        for long in LONG_REQUESTS:
            r = results[long]
            for kind in PROBES:
                w = r[kind]
                if not w["n"]:
                    print(f"{label:<22} {long:<12} {r['seconds']:>8.1f}s | {kind:<12} {0:>4}")
                    continue
                print(
                    f"{label:<22} {long:<12} {r['seconds']:>8.1f}s | {kind:<12} {w['n']:>4} "
                    f"{w['first_ms']:>7.0f}ms {w['median_ms']:>7.0f}ms {w['max_ms']:>7.0f}ms"
                )
            if r["failed"]:
                print(f"{'':<22} {'':<12} {'':>9} | {r['failed']} probe(s) failed (503)")


if __name__ == "__main__":
    main()
