"""How long an event intake waits while a scoring, ECL or rule run runs as a background job.

    PYTHONPATH=.:src .venv/bin/python bench/jobs_intake_bench.py [--kind scoring|ecl|rules]
        [--customers 1000] [--months 12] [--backend sqlite|postgresql]
        [--db-url postgresql+psycopg://...] [--chunk 250]

Builds a database (a SQLite file by default: the single writer is SQLite's; or a fresh
PostgreSQL schema, which has no database-wide write lock): for a scoring run the demo
population (for a rule run too: every active rule over everyone); for an ECL run
``bench/ecl_bench.py``'s invoices and payments, bulk-loaded (a
monthly invoice per customer over ``--months``). Then, in one process as the server would: a job
worker thread runs the queued job over everyone while the main thread posts orders one after
another, each in its own intake transaction (validate, write the event and its exposure, queue
its work, commit: what the API does before it answers). Each intake's time is recorded, first
with no job running (idle), then while the job runs; the job's phases are timed beside: its
whole store (its short transactions, the last one, and for a scoring run the profiles copied
after it, a slice at a time) and the longest of them. ``--chunk`` sets
the customers per short transaction of the store (a huge value: the store in one part).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from typing import Any

from bench import databases, ecl_bench

from riskdesk import bootstrap
from riskdesk.db import unit_of_work
from riskdesk.demo.loader import ensure_demo_users
from riskdesk.ecl import service as ecl_service
from riskdesk.jobs import kinds
from riskdesk.jobs import service as jobs
from riskdesk.kit.timeutil import today
from riskdesk.pipeline import intake
from riskdesk.scoring import service as scoring_service
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Permission

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def main() -> None:
    """Build, then measure idle and during the job."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--idle", type=int, default=100, help="intakes measured with no job")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--db-url", default=PG_URL)
    parser.add_argument("--kind", choices=["scoring", "ecl", "rules"], default="scoring")
    parser.add_argument(
        "--chunk",
        type=int,
        default=0,
        help="customers per store slice (default: the product's; for scoring 0 is a version "
        "that stores in one transaction)",
    )
    args = parser.parse_args()
    databases.throwaway_keyring()
    bootstrap.install()
    kinds.register_all()
    service: Any = {"ecl": ecl_service, "rules": kinds}.get(args.kind, scoring_service)
    setting = "RAISE_CHUNK" if args.kind == "rules" else "STORE_CHUNK"
    args.chunk = args.chunk or getattr(service, setting, 0)
    setattr(service, setting, args.chunk)
    db = databases.open_database(args.backend, args.db_url, "jobs")
    try:
        measure(db, args)
    finally:
        db.drop()


def measure(db: databases.Database, args: argparse.Namespace) -> None:
    """Load the demo, then time intakes idle and beside the job."""
    from riskdesk.demo.loader import load_demo

    factory = db.factory
    started = time.perf_counter()
    if args.kind == "ecl":
        ecl_bench.populate(db, ecl_bench.generate(args.customers, args.months, today()))
        if db.label == "postgresql":  # the rows came with their ids: move the sequences on
            with db.engine.begin() as conn:
                for table in ("customers", "invoices", "payments"):
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
    with unit_of_work(factory) as session:
        if args.kind == "ecl":
            ensure_demo_users(session)
        else:
            load_demo(session, customers=args.customers, months=args.months, seed=0)
        manager = security_service.get_user_by_username_or_raise(session, "manager")
        principal = security_service.system_principal(session, manager)
        intake.ingest(session, principal, "customers", [databases.BENCH_CUSTOMER])
    print(
        f"{db.label}: {args.kind} data: {args.customers} customers, {args.months} months, built in "
        f"{time.perf_counter() - started:.0f} s; store slices of {args.chunk} customers",
        flush=True,
    )
    n = 0

    spans: list[tuple[float, float]] = []

    def post() -> float:
        nonlocal n
        n += 1
        t0 = time.perf_counter()
        with unit_of_work(factory) as session:
            intake.ingest(session, principal, "orders", [databases.bench_order(f"BJ-{n}")])
        spans.append((t0, time.perf_counter()))
        return (time.perf_counter() - t0) * 1000

    idle = [post() for _ in range(args.idle)]
    spans.clear()
    phases: dict[str, float] = {"longest": 0.0}
    real_store, real_stage = jobs.JobContext.store, getattr(jobs.JobContext, "stage", None)

    def timed_stage(
        self: jobs.JobContext, write: Any, done: int = 0, total: int = 0, **kw: Any
    ) -> Any:
        assert real_stage is not None
        t0 = time.perf_counter()
        try:
            return real_stage(self, write, done, total, **kw)
        finally:
            spent = time.perf_counter() - t0
            phases.setdefault("first", t0)
            phases["longest"] = max(phases["longest"], spent)
            phases["slices"] = phases.get("slices", 0) + 1

    # Since the run's last transaction stopped copying the profiles, they are copied a slice
    # at a time after it, each a short write of its own: timed as slices of the store.
    real_copy = getattr(kinds, "_copy_profiles", None)

    def timed_copy(factory: Any, run_id: int, slices: list[list[int]]) -> None:
        assert real_copy is not None
        for ids in slices:
            t0 = time.perf_counter()
            real_copy(factory, run_id, [ids])
            spent = time.perf_counter() - t0
            phases["longest"] = max(phases["longest"], spent)
            phases["slices"] = phases.get("slices", 0) + 1
            phases["end"] = time.perf_counter()
            phases["store"] = phases["end"] - phases["first"]

    def timed_store(self: jobs.JobContext, write: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real_store(self, write)
        finally:
            phases["end"] = time.perf_counter()
            phases["last"] = phases["end"] - t0
            phases["store"] = phases["end"] - phases.setdefault("first", t0)

    jobs.JobContext.store = timed_store  # type: ignore[method-assign]
    if real_stage is not None:  # (a version that stores in one transaction has no stage)
        jobs.JobContext.stage = timed_stage  # type: ignore[method-assign]
    if real_copy is not None:
        kinds._copy_profiles = timed_copy  # type: ignore[attr-defined]
    with unit_of_work(factory) as session:
        if args.kind == "ecl":
            job = jobs.enqueue(
                session,
                principal,
                kind=kinds.ECL_RUN,
                permission=Permission.ECL_RUN,
                parameters={"as_of": None, "lookback_months": min(args.months - 1, 24)},
            )
        elif args.kind == "rules":
            job = jobs.enqueue(
                session,
                principal,
                kind=kinds.RULE_RUN,
                permission=Permission.RULES_MANAGE,
                parameters={"as_of": None},
            )
        else:
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
    print(
        f"job {job_id}: {status}, {phases['job']:.1f} s, of which store {phases['store']:.2f} s "
        f"in {int(phases.get('slices', 0))} short transactions (longest "
        f"{phases['longest'] * 1000:.0f} ms) and the last one ({phases['last'] * 1000:.0f} ms)"
    )
    print("| intake | orders | median | p99 | max |")
    print("| --- | ---: | ---: | ---: | ---: |")
    # The intakes that overlapped the store (its first short transaction to the end of its
    # last): what waits on the job's writes; the others ran beside its read and compute.
    storing = [
        (end - start) * 1000
        for start, end in spans
        if end > phases["first"] and start < phases["end"]
    ]
    computing = [
        (end - start) * 1000
        for start, end in spans
        if not (end > phases["first"] and start < phases["end"])
    ]
    for label, values in (
        ("idle", idle),
        (f"during the {args.kind} job", during),
        ("- of which beside its read and compute", computing),
        ("- of which overlapping its store", storing),
    ):
        if not values:
            print(f"| {label} | 0 | | | |")
            continue
        print(
            f"| {label} | {len(values)} | {statistics.median(values):.0f} ms | "
            f"{databases.nearest_rank(values, 0.99):.0f} ms | {max(values):.0f} ms |"
        )


if __name__ == "__main__":
    main()
