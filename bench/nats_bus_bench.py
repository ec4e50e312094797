"""The event path with the database as the bus against NATS JetStream, side by side.

    PYTHONPATH=.:src .venv/bin/python bench/nats_bus_bench.py --backend sqlite|postgresql|both
        [--customers 300] [--months 6] [--events 3000] [--events-one 300] [--workers 1]

Each backend gets a fresh database with the demo population (``load_demo``). A private
``nats-server -js`` is started on a free port with a temporary store. For each bus (the queue
table polled by ``EventWorker``; NATS with ``BusWorker`` and intake publishing after commit) a
stream of events (``realtime_bench.plan_stream``: orders, invoices, payments, returns) goes
through the intake in transactions of 50 records and of 1, with ``--workers`` worker threads
running meanwhile; the time is from the first intake until the queue is empty. Also timed:
publishing the same number of rows to JetStream alone (what the bus adds per row).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from typing import Any

from bench import databases
from bench.realtime_bench import PG_URL, open_database, plan_stream, run_intake
from sqlalchemy import select

from riskdesk import bootstrap
from riskdesk.config import Settings
from riskdesk.db import unit_of_work
from riskdesk.demo.loader import load_demo
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Customer
from riskdesk.pipeline import processing
from riskdesk.pipeline.bus import NatsBus
from riskdesk.pipeline.processing import WorkRef
from riskdesk.pipeline.tasks import BusWorker, EventWorker


def start_nats() -> tuple[subprocess.Popen[bytes], str, str]:
    """A private nats-server -js: (process, url, store dir)."""
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    port = databases.free_port()
    store = tempfile.mkdtemp(prefix="rdbench-nats-")
    process = subprocess.Popen(
        [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    databases.wait_until(
        lambda: databases.port_open(port), seconds=10, every=0.02, what="nats-server"
    )
    return process, f"nats://127.0.0.1:{port}", store


def end_to_end(
    db: databases.Database,
    stream: list[tuple[str, list[dict[str, Any]]]],
    settings: Settings,
    workers: int,
) -> dict[str, Any]:
    """Intake with ``workers`` running at once, until the queue is empty."""
    bus = NatsBus.from_settings(settings)
    running: list[EventWorker | BusWorker] = []
    if bus is not None:
        bus.start()
        while not bus.ready:
            time.sleep(0.02)
        processing.register_publisher(bus.publish_soon)
        running.extend(BusWorker(db.factory, settings, bus, number=n) for n in range(workers))
    else:
        running.extend(EventWorker(db.factory, settings, number=n) for n in range(workers))
    started = time.perf_counter()
    for w in running:
        w.start()
    intake_part = run_intake(db, stream)
    databases.wait_drained(db.factory)
    seconds = time.perf_counter() - started
    held = 0
    if bus is not None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            figures = bus.figures()
            held = figures.ack_pending + figures.pending
            if not held:
                break
            time.sleep(0.02)
    for w in running:
        w.stop()
    if bus is not None:
        processing.unregister_publisher(bus.publish_soon)
        bus.close()
    return {
        "events": intake_part["events"],
        "transactions": intake_part["transactions"],
        "intake_s": round(intake_part["seconds"], 2),
        "seconds": round(seconds, 2),
        "events_per_s": round(intake_part["events"] / seconds),
        "rows_processed": sum(w.processed for w in running),
        "messages_left": held,
    }


def publish_only(url: str, rows: int) -> dict[str, Any]:
    """Publish ``rows`` work messages (in groups of 50, as a 50-record intake commits them)."""
    bus = NatsBus.from_settings(
        Settings(event_bus=url, event_bus_name=f"pub{uuid.uuid4().hex[:6]}")
    )
    assert bus is not None
    bus.start()
    while not bus.ready:
        time.sleep(0.02)
    now = utcnow()
    refs = [WorkRef(n, n % 64, now) for n in range(1, rows + 1)]
    started = time.perf_counter()
    for start in range(0, rows, 50):
        bus.publish(refs[start : start + 50])
    seconds = time.perf_counter() - started
    bus.close()
    return {"rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds)}


def run_backend(backend: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    db = open_database(backend, args.db_url)
    try:
        with unit_of_work(db.factory) as session:
            load_demo(session, customers=args.customers, months=args.months, seed=0)
        with db.factory() as session:
            customers = list(session.scalars(select(Customer.id)))
        out: dict[str, Any] = {"backend": backend}
        for label, bus_url in (("database", ""), ("nats", url)):
            settings = Settings(
                database_url="sqlite://",
                secret_key="r" * 32,
                event_bus=bus_url,
                event_bus_name=f"b{uuid.uuid4().hex[:8]}",
            )
            for batch, events in ((50, args.events), (1, args.events_one)):
                tag = f"{label[:1].upper()}{batch}"
                stream = plan_stream(customers, events=events, batch=batch, tag=tag, seed=batch)
                result = end_to_end(db, stream, settings, args.workers)
                out[f"{label}, {batch} per transaction"] = result
                print(json.dumps({backend: {f"{label}/{batch}": result}}), flush=True)
        return out
    finally:
        db.drop()


def main() -> None:
    databases.throwaway_keyring()
    bootstrap.install()
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--db-url", default=PG_URL)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--events-one", type=int, default=300)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    process, url, store = start_nats()
    try:
        results: dict[str, Any] = {"publish_only": publish_only(url, 5000)}
        backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
        results["runs"] = [run_backend(b, url, args) for b in backends]
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(store, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
