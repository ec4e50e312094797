"""Event to visible alert, and sustained events per second, on SQLite and on PostgreSQL.

    PYTHONPATH=. .venv/bin/python bench/realtime_bench.py --backend sqlite|postgresql|both
        [--customers 500] [--months 12] [--latency-events 500] [--loaded-events 300]
        [--load-rate 100] [--events 5000] [--events-one 1000] [--phases latency,throughput]
        [--processes] [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Each backend gets a fresh database: a temporary SQLite file in WAL mode (the embedded default)
or a fresh PostgreSQL schema, dropped afterwards. It is migrated, and the demo population is
loaded through the normal intake (``load_demo``: customers, ``--months`` of events, the demo
scorecard, the default rule pack installed and run once over everyone).

Latency, through the real API: Riskdesk runs under Uvicorn (one worker, the embedded default's
in-process delivery worker on) on 127.0.0.1, and a client in another process sends single events
one at a time with a bearer token (POST /api/v1/<kind>): invoices already 45 days overdue (the
default rule ``new_overdue`` must fire), payments of open invoices, new orders, returns. For each
event it reads the customer's alerts before (not timed), then times from the start of the POST
until a separate request (GET /api/v1/alerts?customer_id=, its own session and connection)
returns an alert that is new or was refreshed by the event: "event to visible alert". Events
that should raise one are polled for up to 5 s; the others get one read. The same is then done
while a second client thread posts batches of 50 orders for other customers at a fixed pace
(``--load-rate`` orders/s: "under load").

Throughput, in process: a stream of orders, invoices for them (one in ten already overdue),
payments of the previous wave's invoices and some returns (``--events-one`` and ``--events``
events, rounded up to whole waves of 50 orders), sent as transactions of 1 and of 50 records
(a unit of work around ``intake.ingest``: validate, write, exposure, queue, commit, as a request
does). Five runs, each on a stream of its own: intake alone and then the queue drained by one
worker thread (1 and 50 records), or by two (50 records); and intake with one worker running at
the same time, as the server runs them (50 and 1 records). The same rows (read back, with new
external ids) are then inserted raw into the same tables of the same database with SQLAlchemy
Core ``insert`` (executemany, the same records per transaction, no validation, exposure, queue,
indicators or rules): the floor of any pipeline.

``--processes`` adds five runs with the workers as separate ``riskdesk worker`` processes (one
event thread each, no job threads), as production runs them beside the API nodes: the queue
drained by 1 and by 2 processes (stopped with SIGSTOP while the intake writes, so the drain is
timed alone), and intake with 1 and 2 processes running (50 records a transaction), and with 1
(one record a transaction).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvicorn
from bench import databases
from bench.databases import Database
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from riskdesk import bootstrap
from riskdesk.alerts import service as alert_service
from riskdesk.config import Settings
from riskdesk.credit import service as credit_service
from riskdesk.db import unit_of_work
from riskdesk.demo.loader import load_demo
from riskdesk.indicators import repository as indicator_repo
from riskdesk.indicators import service as indicator_service
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.main import create_app
from riskdesk.models import (
    Alert,
    Customer,
    Invoice,
    Order,
    OrderLine,
    Payment,
    Return,
)
from riskdesk.monitoring import service as monitoring_service
from riskdesk.pipeline import intake
from riskdesk.pipeline.tasks import EventWorker
from riskdesk.security import keys
from riskdesk.security import repository as users_repo
from riskdesk.security import service as security_service
from riskdesk.security.service import Principal

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SOURCE = "bench"
PATHS = {"orders": "orders", "invoices": "invoices", "payments": "payments", "returns": "returns"}
MODELS: dict[str, Any] = {
    "orders": Order,
    "invoices": Invoice,
    "payments": Payment,
    "returns": Return,
}
OPEN = ("open", "acknowledged", "in_progress")
WAVE = 50  # orders per wave of the throughput stream


# ---------------------------------------------------------------- database


def open_database(backend: str, pg_url: str) -> Database:
    """A temporary SQLite file (WAL) or a fresh PostgreSQL schema, migrated."""
    return databases.open_database(backend, pg_url, "realtime", pool_size=20, max_overflow=10)


def manager_principal(session: Session) -> Principal:
    """The demo credit manager, as a request's principal would be loaded."""
    user = users_repo.get_user_by_username(session, "manager")
    assert user is not None
    return security_service.system_principal(session, user)


# ---------------------------------------------------------------- latency events


def _ago(days: int) -> str:
    return (today() - dt.timedelta(days=days)).isoformat()


def overdue_invoice(ext: str, customer_id: int, amount: str) -> dict[str, Any]:
    """An invoice 45 days past due: ``new_overdue`` (dpd_max > 30) must fire."""
    return {
        "source": SOURCE,
        "external_id": ext,
        "customer_code": f"C{customer_id}",
        "amount": amount,
        "currency": "CNY",
        "issue_date": _ago(75),
        "due_date": _ago(45),
    }


def new_order(ext: str, customer_id: int, amount: str) -> dict[str, Any]:
    """A one-line credit order placed two days ago."""
    return {
        "source": SOURCE,
        "external_id": ext,
        "customer_code": f"C{customer_id}",
        "ordered_at": (utcnow() - dt.timedelta(days=2)).isoformat(),
        "amount": amount,
        "currency": "CNY",
        "channel": "sales_rep",
        "payment_method": "credit",
        "lines": [{"category": "electronics", "product": "E-1", "quantity": "1", "amount": amount}],
    }


def payment(source: str, ext: str, invoice_ext: str, amount: Decimal) -> dict[str, Any]:
    """A payment of an invoice, from the system that issued it; the invoice tells whose it is."""
    return {
        "source": source,
        "external_id": ext,
        "invoice_external_id": invoice_ext,
        "amount": f"{amount:.2f}",
        "currency": "CNY",
        "paid_on": today().isoformat(),
    }


def return_of(source: str, ext: str, order_ext: str, amount: Decimal) -> dict[str, Any]:
    """Goods returned against an order, reported by the system that took the order."""
    return {
        "source": source,
        "external_id": ext,
        "order_external_id": order_ext,
        "amount": f"{amount:.2f}",
        "currency": "CNY",
        "returned_on": today().isoformat(),
        "reason": "defective",
    }


def plan_probe_events(
    session: Session, *, count: int, loaded: int, rng: random.Random
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[int]]:
    """Single events for the idle and the loaded probe, and the background's customers.

    40% overdue invoices, 20% payments of open invoices, 25% new orders, 15% returns; the probe
    and the background writer work on disjoint customers.
    """
    ids = list(session.scalars(select(Customer.id).order_by(Customer.id)))
    rng.shuffle(ids)
    cut = int(len(ids) * 0.6)
    probe, background = ids[:cut], ids[cut:]
    mine = set(probe)
    alerted = set(
        session.scalars(
            select(Alert.customer_id).where(
                Alert.rule_code == "new_overdue", Alert.status.in_(OPEN)
            )
        )
    )
    fresh = [c for c in probe if c not in alerted]
    paid = (
        select(func.coalesce(func.sum(Payment.amount), 0))
        .where(Payment.invoice_id == Invoice.id)
        .scalar_subquery()
    )
    invoices = [
        (source, ext, cid, Decimal(str(amount)) - Decimal(str(done)).quantize(Decimal("0.01")))
        for source, ext, cid, amount, done in session.execute(
            select(Invoice.source, Invoice.external_id, Invoice.customer_id, Invoice.amount, paid)
        )
        if cid in mine
    ]
    invoices = [i for i in invoices if i[3] > 0]
    returned = (
        select(func.coalesce(func.sum(Return.amount), 0))
        .where(Return.order_id == Order.id)
        .scalar_subquery()
    )
    orders = [
        (source, ext, cid)
        for source, ext, cid, amount, done in session.execute(
            select(Order.source, Order.external_id, Order.customer_id, Order.amount, returned)
        )
        if cid in mine and Decimal(str(amount)) - Decimal(str(done)) > 20
    ]
    rng.shuffle(invoices)
    rng.shuffle(orders)
    events: list[dict[str, Any]] = []
    for i in range(count + loaded):
        ext = f"L{i + 1:06d}"
        u = rng.random()
        if u < 0.40:
            cid = fresh.pop() if fresh else rng.choice(probe)
            rec = overdue_invoice(ext, cid, f"{rng.randint(500, 20000)}.00")
            events.append(_event("invoices", rec, cid, expect=True, index=i))
        elif u < 0.60 and invoices:
            source, inv_ext, cid, left = invoices.pop()
            rec = payment(source, f"{SOURCE}-{ext}", inv_ext, left)
            events.append(_event("payments", rec, cid, expect=False, index=i))
        elif u < 0.85 or not orders:
            cid = rng.choice(probe)
            rec = new_order(ext, cid, f"{rng.randint(200, 8000)}.00")
            events.append(_event("orders", rec, cid, expect=False, index=i))
        else:
            source, order_ext, cid = orders.pop()
            rec = return_of(source, f"{SOURCE}-{ext}", order_ext, Decimal("10.00"))
            events.append(_event("returns", rec, cid, expect=False, index=i))
    return events[:count], events[count:], background


def _event(
    kind: str, record: dict[str, Any], cid: int, *, expect: bool, index: int
) -> dict[str, Any]:
    return {"kind": kind, "record": record, "customer_id": cid, "expect": expect, "i": index}


# ---------------------------------------------------------------- the probe (another process)


def _probe(
    url: str,
    token: str,
    events: list[dict[str, Any]],
    background: list[int],
    rate: float,
    queue: mp.Queue,  # type: ignore[type-arg]
) -> None:
    """Send each event alone and time it to the alert a separate read sees (with ``background``
    customers: while another thread posts batches of 50 orders at ``rate`` orders/s)."""
    import httpx2 as httpx

    headers = {"Authorization": f"Bearer {token}"}
    stop = threading.Event()
    written = [0, 0.0, 0]  # background: events, seconds, errors

    def writer() -> None:
        rng = random.Random(1)
        n = 0
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            started = time.perf_counter()
            while not stop.is_set():
                # A fixed pace (a batch every 50 / rate s), not as fast as it can: a saturated
                # writer makes any queue grow without bound.
                pause = started + n / rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                records = []
                for _ in range(50):
                    n += 1
                    cid = rng.choice(background)
                    records.append(new_order(f"W{n:07d}", cid, f"{rng.randint(200, 8000)}.00"))
                response = client.post("/api/v1/orders/batch", json={"records": records})
                if response.status_code == 200:
                    written[0] += len(records)
                else:
                    written[2] += 1
            written[1] = time.perf_counter() - started

    thread = None
    if background:
        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        time.sleep(2.0)  # let the writer reach its pace
    results = []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:

        def alerts(cid: int) -> set[tuple[int, int, str]]:
            response = client.get("/api/v1/alerts", params={"customer_id": cid})
            response.raise_for_status()
            return {(a["id"], a["hits"], a["rule_code"]) for a in response.json()}

        for event in events:
            cid = event["customer_id"]
            before = alerts(cid)
            started = time.perf_counter()
            response = client.post(f"/api/v1/{PATHS[event['kind']]}", json=event["record"])
            acknowledged = time.perf_counter() - started
            visible = None
            codes: list[str] = []
            deadline = started + (5.0 if event["expect"] else 0.0)
            while True:
                changed = alerts(cid) - before
                if changed:
                    visible = time.perf_counter() - started
                    codes = sorted({c for _, _, c in changed})
                    break
                if time.perf_counter() >= deadline:
                    break
            results.append(
                {
                    "kind": event["kind"],
                    "status": response.status_code,
                    "expect": event["expect"],
                    "acknowledged_s": acknowledged,
                    "visible_s": visible,
                    "codes": codes,
                }
            )
    stop.set()
    if thread is not None:
        thread.join(60)
    queue.put({"results": results, "background": written})


def _quantiles(values: list[float]) -> dict[str, float | None]:
    """p50, p95, p99 and max in ms (nearest rank)."""
    if not values:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return round(databases.nearest_rank(ordered, q) * 1000, 1)

    return {
        "n": len(ordered),
        "p50_ms": rank(0.50),
        "p95_ms": rank(0.95),
        "p99_ms": rank(0.99),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def summarise_probe(results: list[dict[str, Any]], background: list[float]) -> dict[str, Any]:
    """Latency figures of one probe run."""
    errors = [r for r in results if r["status"] >= 300]
    expected = [r for r in results if r["expect"]]
    seen = [r["visible_s"] for r in expected if "new_overdue" in r["codes"]]
    raised = [r for r in results if r["visible_s"] is not None]
    by_kind: dict[str, int] = {}
    for r in results:
        by_kind[r["kind"]] = by_kind.get(r["kind"], 0) + 1
    codes: dict[str, int] = {}
    for r in raised:
        for c in r["codes"]:
            codes[c] = codes.get(c, 0) + 1
    out: dict[str, Any] = {
        "events": len(results),
        "by_kind": by_kind,
        "errors": len(errors),
        "error_statuses": sorted({r["status"] for r in errors}),
        "acknowledged": _quantiles([r["acknowledged_s"] for r in results]),
        "event_to_visible_alert": _quantiles([r["visible_s"] for r in raised]),
        "overdue_invoice_to_visible_new_overdue": _quantiles(seen),
        "expected_alert": len(expected),
        "expected_and_visible": len(seen),
        "events_with_alert": len(raised),
        "alert_codes": codes,
        "visible_over_1s": sum(1 for r in raised if r["visible_s"] > 1.0),
    }
    if background[0] or background[2]:
        out["background_orders_per_s"] = round(background[0] / max(background[1], 1e-9), 1)
        out["background_errors"] = int(background[2])
    return out


def measure_latency(
    db: Database,
    token: str,
    idle: list[dict[str, Any]],
    loaded: list[dict[str, Any]],
    background: list[int],
    rate: float,
) -> dict[str, Any]:
    """Serve the app and run the probe idle, then under load."""
    app = create_app(
        Settings(
            database_url="sqlite://",
            secret_key="r" * 32,
            data_dir=Path(tempfile.mkdtemp()),
            log_level="WARNING",
        ),
        session_factory=db.factory,
    )
    port = databases.free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    databases.wait_until(lambda: server.started, seconds=60, every=0.05, what="the server")
    url = f"http://127.0.0.1:{port}"
    ctx = mp.get_context("spawn")
    out = {}
    for label, events, others in (("idle", idle, []), ("under_load", loaded, background)):
        if not events:
            continue
        queue = ctx.Queue()
        proc = ctx.Process(target=_probe, args=(url, token, events, others, rate, queue))
        proc.start()
        result = queue.get()
        proc.join()
        out[label] = summarise_probe(result["results"], result["background"])
        print(json.dumps({"backend": db.label, "latency": label, **out[label]}), flush=True)
    server.should_exit = True
    thread.join(10)
    return out


# ---------------------------------------------------------------- throughput


def plan_stream(
    customers: list[int], *, events: int, batch: int, tag: str, seed: int
) -> list[tuple[str, list[dict[str, Any]]]]:
    """About ``events`` events as (kind, records) transactions of ``batch`` records.

    Waves of 50 orders, an invoice for each (one in ten already overdue), payments of the
    previous wave's invoices, and every fifth wave 50 returns of this wave's orders.
    """
    rng = random.Random(seed)
    stream: list[tuple[str, list[dict[str, Any]]]] = []
    previous: list[tuple[str, Decimal]] = []
    total = wave = 0
    while total < events:
        wave += 1
        orders, invoices, returns = [], [], []
        for k in range(WAVE):
            cid = rng.choice(customers)
            amount = Decimal(rng.randint(200, 8000))
            order_ext = f"{tag}O{wave:05d}-{k:02d}"
            orders.append(new_order(order_ext, cid, f"{amount:.2f}"))
            inv = {
                "source": SOURCE,
                "external_id": f"{tag}I{wave:05d}-{k:02d}",
                "customer_code": f"C{cid}",
                "order_external_id": order_ext,
                "amount": f"{amount:.2f}",
                "currency": "CNY",
            }
            if rng.random() < 0.1:
                inv.update(issue_date=_ago(75), due_date=_ago(45))
            else:
                inv.update(
                    issue_date=_ago(1), due_date=(today() + dt.timedelta(days=29)).isoformat()
                )
            invoices.append(inv)
            if wave % 5 == 0:
                returns.append(
                    return_of(SOURCE, f"{tag}R{wave:05d}-{k:02d}", order_ext, amount / 10)
                )
        payments = [
            payment(SOURCE, f"{tag}P{wave:05d}-{k:02d}", inv_ext, amount)
            for k, (inv_ext, amount) in enumerate(previous)
        ]
        previous = [(i["external_id"], Decimal(i["amount"])) for i in invoices]
        for kind, records in (
            ("orders", orders),
            ("invoices", invoices),
            ("payments", payments),
            ("returns", returns),
        ):
            for start in range(0, len(records), batch):
                stream.append((kind, records[start : start + batch]))
                total += len(records[start : start + batch])
    return stream


# Steps of the intake timed inside the pipeline run (module attributes, looked up at call time).
STEPS = (
    ("indicators.advance", indicator_service, "advance"),
    ("  of which the population", indicator_service, "population"),
    ("  of which the states read", indicator_repo, "load_states"),
    ("  of which changed rows read", indicator_repo, "load_changes"),
    ("  of which compute()", indicator_service, "compute"),
    ("alerts.evaluate", alert_service, "evaluate"),
    ("  of which rule_values()", monitoring_service, "rule_values"),
    ("  of which alerts raised", alert_service, "raise_new"),
    ("credit.apply_events", credit_service, "apply_events"),
)


@contextmanager
def timed_steps() -> Iterator[dict[str, float]]:
    """Seconds spent in each step of ``STEPS`` while the block runs."""
    spent = {label: 0.0 for label, _, _ in STEPS}
    originals = []
    for label, module, name in STEPS:
        original = getattr(module, name)
        originals.append((module, name, original))

        def wrapped(*a: Any, _f: Any = original, _label: str = label, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return _f(*a, **k)
            finally:
                spent[_label] += time.perf_counter() - started

        setattr(module, name, wrapped)
    try:
        yield spent
    finally:
        for module, name, original in originals:
            setattr(module, name, original)


def run_intake(db: Database, stream: list[tuple[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Each transaction through the intake as a request runs it: validate, write, exposure,
    queue, commit (processing is the workers')."""
    events = sum(len(r) for _, r in stream)
    started = time.perf_counter()
    for kind, records in stream:
        with unit_of_work(db.factory) as session:
            report = intake.ingest(session, manager_principal(session), kind, records)
            if report.created != len(records):
                raise SystemExit(f"{kind}: {report.model_dump_json()[:2000]}")
    seconds = time.perf_counter() - started
    return {"events": events, "transactions": len(stream), "seconds": seconds}


def drain(db: Database, workers: int) -> dict[str, Any]:
    """Process the queue with ``workers`` worker threads until it is empty."""
    settings = Settings(database_url="sqlite://", secret_key="r" * 32)
    rows = databases.queued_rows(db.factory)
    running = [EventWorker(db.factory, settings, number=n) for n in range(workers)]
    with timed_steps() as spent:
        started = time.perf_counter()
        for w in running:
            w.start()
        databases.wait_drained(db.factory)
        seconds = time.perf_counter() - started
        for w in running:
            w.stop()
    return {
        "workers": workers,
        "queue_rows": rows,
        "seconds": seconds,
        "ms_in_steps": {k: round(v * 1000) for k, v in spent.items()},
    }


def run_end_to_end(
    db: Database, stream: list[tuple[str, list[dict[str, Any]]]], workers: int
) -> dict[str, Any]:
    """Intake and ``workers`` worker threads at once, as a server runs them: the time from the
    first intake until every event is processed."""
    settings = Settings(database_url="sqlite://", secret_key="r" * 32)
    running = [EventWorker(db.factory, settings, number=n) for n in range(workers)]
    started = time.perf_counter()
    for w in running:
        w.start()
    intake_part = run_intake(db, stream)
    databases.wait_drained(db.factory)
    seconds = time.perf_counter() - started
    for w in running:
        w.stop()
    return {"events": intake_part["events"], "intake_s": intake_part["seconds"], "seconds": seconds}


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


@contextmanager
def worker_processes(db: Database, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` separate ``riskdesk worker`` processes (one event thread, no job threads) on
    the bench's database, started and warm (imports, pools, the idle queue polled) before the
    block; stopped after it."""
    url = db.engine.url.render_as_string(hide_password=False)
    if db.schema:
        url = db.engine.url.update_query_dict(
            {"options": f"-csearch_path={db.schema}"}
        ).render_as_string(hide_password=False)
    env = {
        **os.environ,
        "RISKDESK_DATABASE_URL": url,
        "RISKDESK_KEYRING": keys.current().to_json(),
        "RISKDESK_EVENT_LINGER_SECONDS": "0.05",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "riskdesk.cli.main", "worker", "--threads", "1", "--jobs", "0"],
            env=env,
        )
        for _ in range(count)
    ]
    try:
        # Warm once their CPU time stands still for a second (at least 3 s after the start).
        time.sleep(3)
        last = [-1] * count
        for _ in range(60):
            now = [_cpu_ticks(p.pid) for p in procs]
            if now == last:
                break
            last = now
            time.sleep(1)
        yield procs
    finally:
        for p in procs:
            p.send_signal(signal.SIGCONT)
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def drain_processes(
    db: Database, stream: list[tuple[str, list[dict[str, Any]]]], count: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Intake with the worker processes stopped (SIGSTOP, idle between polls), then the queue
    drained by them: (intake, drain) as ``run_intake`` and ``drain`` give them."""
    with worker_processes(db, count) as procs:
        for p in procs:
            p.send_signal(signal.SIGSTOP)
        took = run_intake(db, stream)
        rows = databases.queued_rows(db.factory)
        started = time.perf_counter()
        for p in procs:
            p.send_signal(signal.SIGCONT)
        databases.wait_drained(db.factory)
        seconds = time.perf_counter() - started
    return took, {"workers": count, "queue_rows": rows, "seconds": seconds, "ms_in_steps": {}}


def end_to_end_processes(
    db: Database, stream: list[tuple[str, list[dict[str, Any]]]], count: int
) -> dict[str, Any]:
    """Intake in this process while ``count`` worker processes run, as API nodes and
    ``riskdesk worker`` processes do: the time from the first intake until every event is
    processed."""
    with worker_processes(db, count):
        started = time.perf_counter()
        intake_part = run_intake(db, stream)
        databases.wait_drained(db.factory)
        seconds = time.perf_counter() - started
    return {"events": intake_part["events"], "intake_s": intake_part["seconds"], "seconds": seconds}


def _stored_rows(
    db: Database, stream: list[tuple[str, list[dict[str, Any]]]]
) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    """The rows the pipeline wrote for the stream, by (kind, external_id), and order lines."""
    wanted: dict[str, set[str]] = {}
    for kind, records in stream:
        wanted.setdefault(kind, set()).update(r["external_id"] for r in records)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    lines: dict[int, list[dict[str, Any]]] = {}
    with db.factory() as session:
        for kind, keys in wanted.items():
            table = MODELS[kind].__table__
            ordered = sorted(keys)
            for start in range(0, len(ordered), 500):
                part = ordered[start : start + 500]
                stmt = select(table).where(table.c.source == SOURCE, table.c.external_id.in_(part))
                for row in session.execute(stmt).mappings():
                    rows[(kind, row["external_id"])] = dict(row)
        order_ids = [r["id"] for (k, _), r in rows.items() if k == "orders"]
        table = OrderLine.__table__
        for start in range(0, len(order_ids), 500):
            part = order_ids[start : start + 500]
            for row in session.execute(select(table).where(table.c.order_id.in_(part))).mappings():
                lines.setdefault(row["order_id"], []).append(dict(row))
    return rows, lines


def run_raw(
    db: Database, stream: list[tuple[str, list[dict[str, Any]]]], tag: str
) -> dict[str, Any]:
    """The same rows, inserted with Core executemany in the same transactions."""
    rows, lines = _stored_rows(db, stream)
    plan = []
    for kind, records in stream:
        batch = []
        for r in records:
            row = dict(rows[(kind, r["external_id"])])
            old_id = row.pop("id")
            row["external_id"] = f"{tag}{row['external_id']}"
            batch.append(
                (row, [{k: v for k, v in ln.items() if k != "id"} for ln in lines.get(old_id, [])])
            )
        plan.append((kind, batch))
    started = time.perf_counter()
    for kind, batch in plan:
        model = MODELS[kind]
        with db.engine.begin() as conn:
            if kind == "orders":
                ids = (
                    conn.execute(
                        insert(model).returning(model.id, sort_by_parameter_order=True),
                        [row for row, _ in batch],
                    )
                    .scalars()
                    .all()
                )
                conn.execute(
                    insert(OrderLine),
                    [
                        {**ln, "order_id": new}
                        for new, (_, lns) in zip(ids, batch, strict=True)
                        for ln in lns
                    ],
                )
            else:
                conn.execute(insert(model), [row for row, _ in batch])
    seconds = time.perf_counter() - started
    return {"events": sum(len(b) for _, b in plan), "transactions": len(plan), "seconds": seconds}


def measure_throughput(
    db: Database, *, events: int, events_one: int, processes: bool = False
) -> dict[str, Any]:
    """Intake (commit, queue) and processing (1 and 2 workers, and both at once) against raw
    inserts of the same rows, for transactions of 1 and of 50 records; side by side. With
    ``processes`` the same again with the workers as separate ``riskdesk worker`` processes."""
    with db.factory() as session:
        customers = list(session.scalars(select(Customer.id).order_by(Customer.id)))
    out = {}
    plans = [(1, events_one, 1, "drain"), (50, events, 1, "drain"), (50, events, 2, "drain")]
    plans += [(50, events, 1, "end_to_end"), (1, events_one, 1, "end_to_end")]
    if processes:
        plans += [(50, events, 1, "drain_proc"), (50, events, 2, "drain_proc")]
        plans += [(50, events, 1, "end_to_end_proc"), (50, events, 2, "end_to_end_proc")]
        plans += [(1, events_one, 1, "end_to_end_proc")]
    for n, (batch, count, workers, how) in enumerate(plans):
        tag = f"T{n}-"
        stream = plan_stream(customers, events=count, batch=batch, tag=tag, seed=n)
        with db.factory() as session:
            alerts_before = session.scalar(select(func.count()).select_from(Alert)) or 0
        if how == "drain":
            took = run_intake(db, stream)
            work = drain(db, workers)
            whole = took["seconds"] + work["seconds"]
        elif how == "drain_proc":
            took, work = drain_processes(db, stream, workers)
            whole = took["seconds"] + work["seconds"]
        else:
            runner = end_to_end_processes if how == "end_to_end_proc" else run_end_to_end
            both = runner(db, stream, workers)
            took = {"events": both["events"], "seconds": both["intake_s"]}
            work = {"seconds": both["seconds"] - both["intake_s"], "ms_in_steps": {}}
            whole = both["seconds"]
        raw = run_raw(db, stream, f"raw{n}-")
        with db.factory() as session:
            alerts_after = session.scalar(select(func.count()).select_from(Alert)) or 0
        result = {
            "records_per_transaction": batch,
            "how": how,
            "workers": workers,
            "events": took["events"],
            "intake_events_per_s": round(took["events"] / took["seconds"], 1),
            "processing_s": round(work["seconds"], 2),
            "events_per_s_to_processed": round(took["events"] / whole, 1),
            "raw_events_per_s": round(raw["events"] / raw["seconds"], 1),
            "intake_share_of_raw": round(raw["seconds"] / took["seconds"], 3),
            "processed_share_of_raw": round(raw["seconds"] / whole, 3),
            "alerts_raised_or_kept": alerts_after - alerts_before,
            "ms_in_steps": work["ms_in_steps"],
        }
        out[f"batch_{batch}_{how}_{workers}w"] = result
        print(json.dumps({"backend": db.label, "throughput": result}), flush=True)
    return out


# ---------------------------------------------------------------- main


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Everything for one backend, on a fresh database."""
    db = open_database(backend, args.db_url)
    try:
        started = time.perf_counter()
        with unit_of_work(db.factory) as session:
            load_demo(session, customers=args.customers, months=args.months, seed=0)
        load_s = time.perf_counter() - started
        with db.factory() as session:
            counts = {
                kind: session.scalar(select(func.count()).select_from(model)) or 0
                for kind, model in MODELS.items()
            }
            alerts = session.scalar(select(func.count()).select_from(Alert)) or 0
        setup = {
            "customers": args.customers,
            "months": args.months,
            "demo_load_s": round(load_s, 1),
            "event_rows": counts,
            "alerts_after_load": alerts,
        }
        print(json.dumps({"backend": backend, "setup": setup}), flush=True)
        out: dict[str, Any] = {"backend": backend, "setup": setup}
        if "latency" in args.phases:
            with unit_of_work(db.factory) as session:
                user = users_repo.get_user_by_username(session, "manager")
                assert user is not None
                scopes = sorted(p.value for p in security_service.permissions_for(user.role))
                _, token = security_service.issue_token(
                    session, user=user, name="bench", scopes=scopes
                )
                idle, loaded, background = plan_probe_events(
                    session,
                    count=args.latency_events,
                    loaded=args.loaded_events,
                    rng=random.Random(0),
                )
            out["latency"] = measure_latency(db, token, idle, loaded, background, args.load_rate)
        if "throughput" in args.phases:
            out["throughput"] = measure_throughput(
                db, events=args.events, events_one=args.events_one, processes=args.processes
            )
        return out
    finally:
        db.drop()


def table(results: list[dict[str, Any]]) -> str:
    """A short human-readable summary."""
    lines = []
    for r in results:
        b = r["backend"]
        for label, lat in r.get("latency", {}).items():
            v, a = lat["event_to_visible_alert"], lat["acknowledged"]
            lines.append(
                f"{b:10} {label:10} event->visible alert p50 {v['p50_ms']} ms  p95 {v['p95_ms']}"
                f"  p99 {v['p99_ms']}  max {v['max_ms']}  ({lat['events_with_alert']} of "
                f"{lat['events']} events raised or refreshed one; {lat['expected_and_visible']}"
                f"/{lat['expected_alert']} expected)  POST p50 {a['p50_ms']} p99 {a['p99_ms']} ms"
            )
        for t in r.get("throughput", {}).values():
            lines.append(
                f"{b:10} batch {t['records_per_transaction']:>3} {t['how']:15} "
                f"{t['workers']}w  intake {t['intake_events_per_s']:>8} ev/s  to processed "
                f"{t['events_per_s_to_processed']:>8} ev/s  raw insert {t['raw_events_per_s']:>9}"
                f" ev/s  intake/raw {t['intake_share_of_raw']:.1%}  processed/raw "
                f"{t['processed_share_of_raw']:.1%}  ({t['events']} events)"
            )
    return "\n".join(lines)


def main() -> None:
    databases.throwaway_keyring()
    bootstrap.install()  # the audit trail's hooks, as every entry point
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--db-url", default=PG_URL)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--latency-events", type=int, default=500)
    parser.add_argument("--loaded-events", type=int, default=300)
    parser.add_argument(
        "--load-rate", type=float, default=100, help="background orders/s while under load"
    )
    parser.add_argument("--events", type=int, default=5000, help="stream of 50-record batches")
    parser.add_argument("--events-one", type=int, default=1000, help="stream of single records")
    parser.add_argument("--phases", default="latency,throughput")
    parser.add_argument(
        "--processes",
        action="store_true",
        help="also drain with separate `riskdesk worker` processes (1 and 2)",
    )
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = [run_backend(b, args) for b in backends]
    print(json.dumps(results, indent=2))
    print(table(results))


if __name__ == "__main__":
    main()
