"""A separate `riskdesk worker` process's memory while it processes a long stream of events.

    PYTHONPATH=.:src .venv/bin/python bench/worker_memory.py [--backend sqlite|postgresql]
        [--events 200000] [--customers 2000] [--batch 500] [--samples 20]
        [--per-customer N] [--log FILE]
        [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

A fresh database gets ``--customers`` companies. A `riskdesk worker` process (one thread, the
production layout's worker) processes them (so it is warm), then runs on while this process
posts orders through the normal intake (validate, write, exposure, queue, commit), ``--batch``
a transaction, each order for a random customer, until ``--events`` are written; it then waits
for the queue to drain. The worker's resident memory (VmRSS) is read ``--samples`` times along
the stream. The figures: RSS at each sample, and the slope of a least-squares line through the
second half of the samples (MB per 100,000 events), which is near 0 when memory is flat.

With ``--per-customer N`` the stream's customers come and go, as in a business with turnover:
the ``--customers`` active ones are a window that moves on by one customer every N events (new
companies are filed through intake as it reaches them), so each customer gets about N orders
and what any customer's indicator state holds stays bounded however long the stream runs.
Without it the same customers take every order, and their states (two years of orders) grow
with the stream.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from bench import databases
from sqlalchemy import func, select
from tests.factories import company

from riskdesk import bootstrap
from riskdesk.db import unit_of_work
from riskdesk.demo.loader import ensure_demo_users
from riskdesk.models import QueuedWork
from riskdesk.pipeline import intake
from riskdesk.security import keys
from riskdesk.security import repository as users_repo
from riskdesk.security import service as security_service


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def queued(db: databases.Database) -> int:
    """Rows waiting in the event queue (one per customer with work waiting)."""
    with db.factory() as session:
        return session.scalar(select(func.count()).select_from(QueuedWork)) or 0


def drained(db: databases.Database) -> None:
    """Wait until the event queue is empty."""
    while queued(db):
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument(
        "--per-customer", type=int, default=0, help="move the active customers on (0: never)"
    )
    parser.add_argument("--db-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--log", type=Path, help="append each sample here as a JSON line (kept if the run is cut)"
    )
    args = parser.parse_args()
    keyring = keys.generate().to_json()
    keys.use(keyring)
    bootstrap.install()
    db = databases.open_database(args.backend, args.db_url, "memory")
    try:
        with unit_of_work(db.factory) as session:
            ensure_demo_users(session)
            user = users_repo.get_user_by_username(session, "manager")
            assert user is not None
            who = security_service.system_principal(session, user)
            for start in range(0, args.customers, 500):
                top = min(start + 500, args.customers)
                intake.ingest(
                    session, who, "customers", [company(f"M{n}") for n in range(start, top)]
                )
        url = db.engine.url.render_as_string(hide_password=False)
        if db.schema:
            url = str(db.engine.url.update_query_dict({"options": f"-csearch_path={db.schema}"}))
        env = {**os.environ, "RISKDESK_DATABASE_URL": url, "RISKDESK_KEYRING": keyring,
               "RISKDESK_EVENT_LINGER_SECONDS": "0.05"}  # fmt: skip
        worker = subprocess.Popen(
            [sys.executable, "-m", "riskdesk.cli.main", "worker", "--threads", "1"], env=env
        )
        drained(db)  # the customers' own work: the worker is warm (imports, pools) from here
        rng = random.Random(0)
        samples: list[tuple[int, float]] = []
        every = max(args.batch, args.events // args.samples)
        written, day, filed = 0, 0, args.customers
        started = time.perf_counter()
        while written < args.events:
            records = []
            base, newcomers = 0, []
            if args.per_customer:  # file the companies this transaction's window reaches
                while filed < (written + args.batch) // args.per_customer + args.customers:
                    newcomers.append(company(f"M{filed}"))
                    filed += 1
            for _ in range(args.batch):
                written += 1
                amount = f"{rng.randint(10, 500) * 10}.00"
                if args.per_customer:
                    base = written // args.per_customer
                records.append({
                    "source": "erp", "external_id": f"O{written}",
                    "customer_external_id": f"M{base + rng.randrange(args.customers)}",
                    "ordered_at": f"2026-{1 + (day // 28) % 11:02d}-{1 + day % 28:02d}T08:00:00Z",
                    "amount": amount, "currency": "CNY", "payment_method": "credit",
                    "lines": [{"category": "food", "amount": amount}],
                })  # fmt: skip
            day += 1
            with unit_of_work(db.factory) as session:
                user = users_repo.get_user_by_username(session, "manager")
                assert user is not None
                who = security_service.system_principal(session, user)
                if newcomers:
                    intake.ingest(session, who, "customers", newcomers)
                intake.ingest(session, who, "orders", records)
            if written % every < args.batch:
                samples.append((written, rss_mb(worker.pid)))
                seconds = round(time.perf_counter() - started, 1)
                line = {"written": written, "rss_mb": round(samples[-1][1], 1),
                        "queued": queued(db), "seconds": seconds}  # fmt: skip
                print(json.dumps(line), file=sys.stderr)
                if args.log:
                    with args.log.open("a") as log:
                        log.write(json.dumps(line) + "\n")
        intake_s = time.perf_counter() - started
        drained(db)
        samples.append((written, rss_mb(worker.pid)))
        total_s = time.perf_counter() - started
        worker.terminate()
        worker.wait(timeout=60)
        half = samples[len(samples) // 2 :]
        n = len(half)
        mx = sum(x for x, _ in half) / n
        my = sum(y for _, y in half) / n
        var = sum((x - mx) ** 2 for x, _ in half) or 1.0
        slope = sum((x - mx) * (y - my) for x, y in half) / var * 100_000
        print(json.dumps({
            "backend": args.backend, "events": written, "customers": args.customers,
            "customers_filed": filed if args.per_customer else args.customers,
            "intake_s": round(intake_s, 1), "total_s": round(total_s, 1),
            "rss_mb": [[x, round(y, 1)] for x, y in samples],
            "slope_mb_per_100k_events_second_half": round(slope, 2),
        }, indent=1))  # fmt: skip
    finally:
        db.drop()


if __name__ == "__main__":
    main()
