"""The order credit check against the same server's cheapest authenticated endpoint (issue 14).

    PYTHONPATH=.:src .venv/bin/python bench/credit_check_bench.py [--backend both]
        [--seconds 8] [--rounds 3] [--concurrency 16] [--customers 1000] [--before REV]
        [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

For each backend, loads one fresh database (a SQLite file, or a fresh PostgreSQL schema) through
the normal intake: customers with limits, a fifth of them in groups of five with a group limit,
and three invoices each (one past due, one part paid). Then starts a real ``riskdesk serve``
process on it (one Uvicorn worker, the periodic workers off) and drives it from a separate
load-generator process over loopback: the same client, token and number of connections for
every endpoint. In each round it measures ``GET /api/v1/me`` (the cheapest authenticated route:
the token, its user, a constant answer), then ``POST /api/v1/credit-checks`` (each a new order
for a random customer: read, decide, record the decision, reserve), then ``GET /api/v1/health``
(no authentication, for reference). Rounds alternate so that machine noise falls on all of
them; the figures are the median rate over the rounds and the percentiles over every request.
The server's CPU time per request (from /proc) is given too: on a machine shared with other work
it moves much less than the rates do.

``--before REV`` first serves the same database with ``src/`` as of that commit (``git
archive``), then with this checkout, so before and after are compared in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2 as httpx
from bench import databases
from bench.databases import Database
from sqlalchemy import update
from tests.factories import uscc

from riskdesk import bootstrap
from riskdesk.db import unit_of_work
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import CustomerGroup
from riskdesk.pipeline import intake
from riskdesk.security import keys
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role

ROOT = Path(__file__).resolve().parent.parent
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
KINDS = ("me", "check", "health")
GROUP_SIZE = 5


# ---------------------------------------------------------------- data


def _ago(days: int) -> str:
    return (today() - dt.timedelta(days=days)).isoformat()


def load(db: Database, customers: int) -> tuple[str, dict[str, int]]:
    """Customers, groups and invoices through the intake; a token for the checks."""
    grouped = customers // 5
    with unit_of_work(db.factory) as session:
        user = security_service.create_user(
            session,
            username="bench",
            display_name="bench",
            role=Role.CREDIT_MANAGER,
            password="Quiet-harbour-lamp-2026",
        )
        principal = security_service.system_principal(session, user)

        def ingest(kind: str, records: list[dict[str, Any]]) -> None:
            for start in range(0, len(records), 1000):
                intake.ingest_items(
                    session,
                    principal,
                    kind,
                    [
                        intake.Item(row=n, raw=r)
                        for n, r in enumerate(records[start : start + 1000], 1)
                    ],
                    skip_invalid=False,
                    channel="bench",
                    refresh_indicators=False,
                )

        ingest(
            "customers",
            [
                {
                    "source": "erp",
                    "external_id": f"B{i:05d}",
                    "kind": "company",
                    "name": f"基准客户{i}有限公司",
                    "tax_id": uscc(700000 + i),
                    "credit_limit": "100000000",
                    "payment_terms_days": 30,
                    **(
                        {"group_code": f"G{i // GROUP_SIZE:04d}", "group_name": f"集团{i}"}
                        if i < grouped
                        else {}
                    ),
                }
                for i in range(customers)
            ],
        )
        session.execute(update(CustomerGroup).values(credit_limit=400_000_000))
        invoices = []
        for i in range(customers):
            for n, (issued, due) in enumerate(((90, 60), (40, 10), (10, -20))):
                invoices.append(
                    {
                        "source": "erp",
                        "external_id": f"I{i:05d}-{n}",
                        "customer_external_id": f"B{i:05d}",
                        "amount": f"{1000 + 10 * n + i % 7}.00",
                        "currency": "CNY",
                        "issue_date": _ago(issued),
                        "due_date": _ago(due),
                    }
                )
        ingest("invoices", invoices)
        ingest(
            "payments",
            [
                {
                    "source": "erp",
                    "external_id": f"P{i:05d}",
                    "invoice_external_id": f"I{i:05d}-1",
                    "amount": "400.00",
                    "currency": "CNY",
                    "paid_on": _ago(5),
                }
                for i in range(customers)
            ],
        )
        token, raw = security_service.issue_token(
            session, user=user, name="bench", scopes=["credit_checks:run"]
        )
        token.last_used_at = utcnow()
    sizes = {
        "customers": customers,
        "grouped": grouped,
        "invoices": 3 * customers,
        "payments": customers,
    }
    return raw, sizes


# ---------------------------------------------------------------- the server


def sources_at(revision: str, into: Path) -> Path:
    """src/ as of a commit (git archive)."""
    archive = into / "src.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", revision, "src"], check=True, stdout=out)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


class Server:
    """``riskdesk serve`` from a given src/ in a process of its own."""

    def __init__(self, src: Path, url: str, home: Path) -> None:
        self.port = databases.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RISKDESK_")}
        env |= {
            "PYTHONPATH": str(src),
            "RISKDESK_DATABASE_URL": url,
            "RISKDESK_KEYRING": keys.current().to_json(),
            "RISKDESK_SECRET_KEY": "bench-secret-key-0123456789",
            "RISKDESK_DATA_DIR": str(home),
            "RISKDESK_LOG_LEVEL": "warning",
            # Nothing else runs in the server while it is measured.
            "RISKDESK_EVENT_WORKERS": "0",
            "RISKDESK_DELIVERY_INTERVAL_SECONDS": "0",
            "RISKDESK_COMPLAINT_SURGE_SECONDS": "0",
            "RISKDESK_AUDIT_CHECKPOINT_INTERVAL_SECONDS": "0",
            "RISKDESK_IMPORT_REAP_INTERVAL_SECONDS": "0",
            "RISKDESK_WARNING_BACKTEST_DAYS": "0",
        }
        home.mkdir(parents=True, exist_ok=True)
        self.log = (home / "server.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "riskdesk.cli.main", "serve", "--port", str(self.port)],
            env=env,
            cwd=home,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server ended: {(home / 'server.log').read_text()}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        """Stop the server process."""
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


def server_url(db: Database) -> str:
    """The database URL a server process opens (PostgreSQL: the schema in the URL)."""
    if db.schema is None:
        return db.engine.url.render_as_string(hide_password=False)
    url = db.engine.url.update_query_dict({"options": f"-csearch_path={db.schema}"})
    return url.render_as_string(hide_password=False)


# ---------------------------------------------------------------- the load


def _drive(
    url: str,
    token: str,
    customers: int,
    seconds: float,
    concurrency: int,
    kind: str,
    queue: mp.Queue,  # type: ignore[type-arg]
) -> None:
    async def worker(
        client: httpx.AsyncClient, latencies: list[float], errors: list[int], deadline: float
    ) -> None:
        rng = random.Random()
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            if kind == "health":
                response = await client.get("/api/v1/health")
            elif kind == "me":
                response = await client.get("/api/v1/me")
            else:
                response = await client.post(
                    "/api/v1/credit-checks",
                    json={
                        "source": "bench",
                        "order_external_id": uuid.uuid4().hex,
                        "customer_external_id": f"B{rng.randrange(customers):05d}",
                        "customer_source": "erp",
                        "amount": f"{rng.randint(100, 5000)}.00",
                        "currency": "CNY",
                    },
                )
            latencies.append(time.perf_counter() - start)
            if response.status_code >= 300:
                errors.append(response.status_code)

    async def main() -> None:
        latencies: list[float] = []
        errors: list[int] = []
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(
            base_url=url, limits=limits, timeout=60, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            await client.get("/api/v1/health")  # connections warm
            started = time.perf_counter()
            deadline = started + seconds
            await asyncio.gather(
                *[worker(client, latencies, errors, deadline) for _ in range(concurrency)]
            )
            elapsed = time.perf_counter() - started
        queue.put({"seconds": elapsed, "errors": errors, "latencies": latencies})

    asyncio.run(main())


def measure(url: str, token: str, args: argparse.Namespace, kind: str) -> dict[str, Any]:
    """One timed run of one endpoint from a separate load-generator process."""
    queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    proc = mp.Process(
        target=_drive,
        args=(url, token, args.customers, args.seconds, args.concurrency, kind, queue),
    )
    proc.start()
    result = queue.get()
    proc.join()
    return result


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rank(ordered: list[float], q: float) -> float:
    return round(ordered[max(math.ceil(q * len(ordered)) - 1, 0)] * 1000, 1)


def profile(server: Server, out: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy (installed by hand, not a dependency) sampling the server while it checks."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            "py-spy",
            "record",
            "--pid",
            str(server.process.pid),
            "--format",
            "raw",
            "--idle",
            "--threads",
            "--duration",
            str(int(seconds)),
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_code(label: str, src: Path, db: Database, token: str, args: argparse.Namespace) -> Any:
    """Serve the database with one src/ and measure every endpoint, round after round."""
    server = Server(src, server_url(db), Path(tempfile.mkdtemp()) / label)
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    try:
        measure(server.url, token, argparse.Namespace(**{**vars(args), "seconds": 2}), "check")
        for n in range(args.rounds):
            for kind in KINDS:
                spy = None
                if args.profile and n == 0 and kind == "check":
                    spy = profile(server, Path(args.profile) / f"{label}.txt", args.seconds)
                cpu = cpu_seconds(server.process.pid)
                runs[kind].append(measure(server.url, token, args, kind))
                runs[kind][-1]["cpu"] = cpu_seconds(server.process.pid) - cpu
                if spy is not None:
                    spy.wait()
    finally:
        server.stop()
    out: dict[str, Any] = {}
    for kind, results in runs.items():
        latencies = sorted(x for r in results for x in r["latencies"])
        errors = [e for r in results for e in r["errors"]]
        out[kind] = {
            "rps": round(statistics.median(len(r["latencies"]) / r["seconds"] for r in results)),
            "rps_rounds": [round(len(r["latencies"]) / r["seconds"]) for r in results],
            "requests": len(latencies),
            "errors": len(errors),
            "error_codes": sorted(set(errors)),
            "p50_ms": _rank(latencies, 0.50),
            "p99_ms": _rank(latencies, 0.99),
            # The server's CPU per request: what a loaded, shared machine disturbs least.
            "cpu_ms": round(1000 * sum(r["cpu"] for r in results) / len(latencies), 2),
        }
    out["ratio_rps"] = round(out["check"]["rps"] / out["me"]["rps"], 3)
    out["ratio_p99"] = round(out["check"]["p99_ms"] / out["me"]["p99_ms"], 2)
    out["ratio_cpu"] = round(out["me"]["cpu_ms"] / out["check"]["cpu_ms"], 3)
    return out


def run_backend(backend: str, args: argparse.Namespace, codes: dict[str, Path]) -> Any:
    """Load one database of the backend and measure each code version on it."""
    db = databases.open_database(backend, args.db_url, "credit")
    try:
        started = time.perf_counter()
        token, sizes = load(db, args.customers)
        print(f"{backend}: loaded {sizes} in {time.perf_counter() - started:.0f} s", flush=True)
        result: dict[str, Any] = {"backend": backend, "data": sizes}
        for label, src in codes.items():
            result[label] = run_code(f"{backend}-{label}", src, db, token, args)
            print(json.dumps({backend: {label: result[label]}}), flush=True)
        return result
    finally:
        db.drop()


def table(results: list[dict[str, Any]], labels: list[str]) -> str:
    """The figures as a Markdown table."""
    lines = [
        "| backend | code | endpoint | requests/s (rounds) | p50 | p99 | server CPU per request "
        "| check / me: rate | p99 | me / check: CPU |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        for label in labels:
            run = result[label]
            for kind, name in (
                ("me", "`GET /api/v1/me`"),
                ("check", "`POST /api/v1/credit-checks`"),
                ("health", "`GET /api/v1/health` (no auth)"),
            ):
                fig = run[kind]
                rounds = ", ".join(f"{x:,}" for x in fig["rps_rounds"])
                ratios = (
                    f"{run['ratio_rps']:.0%} | {run['ratio_p99']:.2f}x | {run['ratio_cpu']:.0%}"
                    if kind == "check"
                    else " |  | "
                )
                errors = f" ({fig['errors']} errors)" if fig["errors"] else ""
                lines.append(
                    f"| {result['backend']} | {label} | {name} | {fig['rps']:,} ({rounds}){errors}"
                    f" | {fig['p50_ms']} ms | {fig['p99_ms']} ms | {fig['cpu_ms']} ms | {ratios} |"
                )
    return "\n".join(lines)


def main() -> None:
    databases.throwaway_keyring()  # passed on to the servers: nothing read from var/
    bootstrap.install()
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--db-url", default=PG_URL)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--before", default=None, help="a commit to compare with (git archive)")
    parser.add_argument("--profile", default=None, help="a directory for py-spy's samples")
    args = parser.parse_args()
    codes: dict[str, Path] = {}
    if args.before:
        codes["before"] = sources_at(args.before, Path(tempfile.mkdtemp()))
    codes["after"] = ROOT / "src"
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = [run_backend(b, args, codes) for b in backends]
    print(json.dumps(results, indent=2))
    print(table(results, list(codes)))


if __name__ == "__main__":
    main()
