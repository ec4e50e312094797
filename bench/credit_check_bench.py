"""Latency and throughput of POST /api/v1/credit-checks against the same server's /health.

    PYTHONPATH=. .venv/bin/python bench/credit_check_bench.py [--db-url URL] [--seconds 15]
        [--concurrency 16] [--customers 1000]

Starts Riskdesk under Uvicorn (one worker) on 127.0.0.1 on a fresh database (SQLite file, or a
fresh PostgreSQL schema), loads customers with limits, then drives each endpoint from a separate
load-generator process over loopback for a fixed time, with a fixed number of connections. Every
credit check is a new order (a new idempotency key) for a random customer, so each one reads the
exposure, locks, decides, records the decision and reserves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import socket
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import uvicorn
from bench import databases
from sqlalchemy import text
from tests.factories import uscc

from riskdesk import bootstrap
from riskdesk.config import Settings
from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
from riskdesk.main import create_app
from riskdesk.migrations import runner
from riskdesk.pipeline import intake
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _drive(
    url: str,
    token: str,
    customers: int,
    seconds: float,
    concurrency: int,
    kind: str,
    queue: mp.Queue,
) -> None:  # type: ignore[type-arg]
    import httpx2 as httpx

    async def worker(
        client: httpx.AsyncClient,
        latencies: list[float],
        errors: list[int],
        deadline: float,
        wid: int,
    ) -> None:
        n = 0
        rng = random.Random(wid)
        while time.perf_counter() < deadline:
            n += 1
            start = time.perf_counter()
            if kind == "health":
                response = await client.get("/api/v1/health")
            else:
                response = await client.post(
                    "/api/v1/credit-checks",
                    json={
                        "source": "bench",
                        "order_external_id": f"{wid}-{n}-{uuid.uuid4().hex[:6]}",
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
            base_url=url, limits=limits, timeout=30, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            deadline = time.perf_counter() + seconds
            started = time.perf_counter()
            await asyncio.gather(
                *[worker(client, latencies, errors, deadline, w) for w in range(concurrency)]
            )
            elapsed = time.perf_counter() - started
        queue.put(
            {
                "requests": len(latencies),
                "seconds": elapsed,
                "errors": len(errors),
                "latencies": latencies,
            }
        )

    asyncio.run(main())


def measure(url: str, token: str, args: argparse.Namespace, kind: str) -> dict[str, float]:
    queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    proc = mp.Process(
        target=_drive,
        args=(url, token, args.customers, args.seconds, args.concurrency, kind, queue),
    )
    proc.start()
    result = queue.get()
    proc.join()
    lat = sorted(result["latencies"])
    return {
        "rps": result["requests"] / result["seconds"],
        "requests": result["requests"],
        "errors": result["errors"],
        "p50_ms": statistics.median(lat) * 1000,
        "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000,
    }


def main() -> None:
    databases.throwaway_keyring()
    bootstrap.install()  # the audit trail's hooks, as every entry point
    parser = argparse.ArgumentParser()
    parser.add_argument("--db-url", default=None)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--customers", type=int, default=1000)
    args = parser.parse_args()
    schema = None
    if args.db_url:
        schema = f"rdbench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.db_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(
            args.db_url,
            connect_args={"options": f"-csearch_path={schema}"},
            pool_size=20,
            max_overflow=10,
        )
        label = "postgresql"
    else:
        engine = make_engine(f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}")
        label = "sqlite"
    runner.upgrade(engine)
    factory = make_sessionmaker(engine)
    with unit_of_work(factory) as session:
        user = security_service.create_user(
            session,
            username="bench",
            display_name="bench",
            role=Role.CREDIT_MANAGER,
            password="Quiet-harbour-lamp-2026",
        )
        principal = security_service.system_principal(session, user)
        records = [
            {
                "source": "erp",
                "external_id": f"B{i:05d}",
                "kind": "company",
                "name": f"基准客户{i}有限公司",
                "tax_id": uscc(700000 + i),
                "credit_limit": "100000000",
                "payment_terms_days": 30,
            }
            for i in range(args.customers)
        ]
        intake.ingest_items(
            session,
            principal,
            "customers",
            [intake.Item(row=n, raw=r) for n, r in enumerate(records, 1)],
            skip_invalid=False,
            channel="bench",
        )
        _token, raw = security_service.issue_token(
            session, user=user, name="bench", scopes=["credit_checks:run"]
        )
    app = create_app(
        Settings(
            database_url="sqlite://",
            secret_key="b" * 32,
            data_dir=Path(tempfile.mkdtemp()),
            log_level="WARNING",
        ),
        session_factory=factory,
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    health = measure(url, raw, args, "health")
    check = measure(url, raw, args, "check")
    server.should_exit = True
    thread.join(10)
    print(
        json.dumps(
            {
                "backend": label,
                "concurrency": args.concurrency,
                "seconds": args.seconds,
                "health": health,
                "credit_check": check,
                "ratio": check["rps"] / health["rps"],
            },
            indent=2,
        )
    )
    engine.dispose()
    if schema:
        admin = make_engine(args.db_url)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
