"""How long an event intake waits while a scoring run runs as a background job (SQLite).

    PYTHONPATH=src .venv/bin/python bench/jobs_intake_bench.py [--customers 1000] [--months 12]

Builds a demo database in a SQLite file (the single writer is SQLite's; PostgreSQL has no
database-wide write lock), then, in one process as the server would: a job worker thread runs
a queued scoring run over everyone while the main thread posts orders one after another, each
in its own intake transaction (validate, write the event and its exposure, queue its work,
commit: what the API does before it answers). Each intake's time is recorded, first with no job
running (idle), then while the job runs; the job's phases are timed beside.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from riskdesk import bootstrap
from riskdesk.config import get_settings
from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
from riskdesk.jobs import kinds
from riskdesk.jobs import service as jobs
from riskdesk.migrations import runner
from riskdesk.pipeline import intake
from riskdesk.security import keys
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Permission


def _order(n: int) -> dict[str, Any]:
    return {
        "source": "bench",
        "external_id": f"BJ-{n}",
        "customer_external_id": "BENCH-1",
        "customer_source": "erp",
        "ordered_at": "2026-01-10T08:00:00Z",
        "amount": "100.00",
        "currency": "CNY",
        "payment_method": "credit",
        "lines": [{"category": "electronics", "amount": "100.00"}],
    }


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    """Build, then measure idle and during the job."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--idle", type=int, default=100, help="intakes measured with no job")
    args = parser.parse_args()
    keys.use(keys.generate().to_json())
    bootstrap.install()
    kinds.register_all()
    folder = Path(tempfile.mkdtemp(prefix="rd-jobs-bench-"))
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    runner.upgrade(engine)
    factory = make_sessionmaker(engine)
    from riskdesk.demo.loader import load_demo

    started = time.perf_counter()
    with unit_of_work(factory) as session:
        load_demo(session, customers=args.customers, months=args.months, seed=0)
        manager = security_service.get_user_by_username_or_raise(session, "manager")
        principal = security_service.system_principal(session, manager)
        intake.ingest(
            session,
            principal,
            "customers",
            [
                {
                    "source": "erp",
                    "external_id": "BENCH-1",
                    "kind": "company",
                    "name": "基准测试有限公司",
                    "segment": "b2b_sme",
                    "credit_limit": "100000000.00",
                    "limit_currency": "CNY",
                }
            ],
        )
    print(
        f"demo data: {args.customers} customers, {args.months} months, built in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    settings = get_settings()
    del settings  # the intake below needs no settings; the app's would be the defaults
    n = 0

    def post() -> float:
        nonlocal n
        n += 1
        t0 = time.perf_counter()
        with unit_of_work(factory) as session:
            intake.ingest(session, principal, "orders", [_order(n)])
        return (time.perf_counter() - t0) * 1000

    idle = [post() for _ in range(args.idle)]
    phases: dict[str, float] = {}
    real_store = jobs.JobContext.store

    def timed_store(self: jobs.JobContext, write: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real_store(self, write)
        finally:
            phases["store"] = time.perf_counter() - t0

    jobs.JobContext.store = timed_store  # type: ignore[method-assign]
    with unit_of_work(factory) as session:
        job = jobs.enqueue(
            session,
            principal,
            kind=kinds.SCORING_RUN,
            permission=Permission.SCORING_MANAGE,
            parameters={"as_of": None},
        )
        job_id = job.id
    done = threading.Event()

    def work() -> None:
        t0 = time.perf_counter()
        jobs.run_next(factory)
        phases["job"] = time.perf_counter() - t0
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    during: list[float] = []
    while not done.is_set():
        during.append(post())
    worker.join()
    with factory() as session:
        status = jobs.get_job_or_raise(session, principal, job_id).status
    engine.dispose()
    print(f"job {job_id}: {status}, {phases['job']:.1f} s, of which store {phases['store']:.2f} s")
    print("| intake | orders | median | p99 | max |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, values in (("idle", idle), ("during the scoring job", during)):
        print(
            f"| {label} | {len(values)} | {statistics.median(values):.0f} ms | "
            f"{_pct(values, 0.99):.0f} ms | {max(values):.0f} ms |"
        )


if __name__ == "__main__":
    main()
