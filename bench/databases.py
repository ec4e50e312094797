"""Shared benchmark helpers: throwaway databases (a temporary SQLite file or a fresh
PostgreSQL schema, migrated, dropped afterwards), starting servers, waiting for the event queue
to drain, the customer and order the latency benches post, and the page benches' run (fill a
database per backend, time each page's views)."""

from __future__ import annotations

import argparse
import math
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.db import make_engine, make_sessionmaker
from riskdesk.migrations import runner


@dataclass
class Database:
    """A fresh, migrated database for one backend."""

    label: str
    engine: Engine
    factory: sessionmaker[Session]
    url: str
    schema: str | None

    def drop(self) -> None:
        """Dispose of the engine; drop the PostgreSQL schema or delete the SQLite file."""
        self.engine.dispose()
        if self.label == "sqlite" and self.engine.url.database:
            shutil.rmtree(Path(self.engine.url.database).parent, ignore_errors=True)
        if self.schema:
            admin = make_engine(self.url)
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            admin.dispose()


def open_database(backend: str, pg_url: str, name: str, **pg_engine: Any) -> Database:
    """A temporary SQLite file (``name``.db, WAL) or a fresh PostgreSQL schema, migrated."""
    schema = None
    if backend == "postgresql":
        schema = f"rdbench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(pg_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        engine = make_engine(
            pg_url, connect_args={"options": f"-csearch_path={schema}"}, **pg_engine
        )
    else:
        engine = make_engine(f"sqlite:///{Path(tempfile.mkdtemp()) / f'{name}.db'}")
    runner.upgrade(engine)
    return Database(backend, engine, make_sessionmaker(engine), pg_url, schema)


class StatementClock:
    """Counts the statements an engine runs since ``reset`` and, with ``per_statement``, times
    each one; ``slowest`` prints the slowest of them."""

    def __init__(self, engine: Engine, *, per_statement: bool) -> None:
        self.count = 0
        self.spent: list[tuple[float, str]] = []
        self._started: list[float] = []
        self._timed = per_statement
        event.listen(engine, "before_cursor_execute", self._before)
        if per_statement:
            event.listen(engine, "after_cursor_execute", self._after)

    def reset(self) -> None:
        self.count = 0
        self.spent.clear()

    def _before(self, *_: Any) -> None:
        self.count += 1
        if self._timed:
            self._started.append(time.perf_counter())

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.spent.append((time.perf_counter() - self._started.pop(), statement))

    def slowest(self, n: int) -> None:
        for seconds, statement in sorted(self.spent, reverse=True)[:n]:
            shown = " ".join(statement.split())[:110]
            print(f"      {seconds * 1000:7.0f} ms  {shown}")


def throwaway_keyring() -> None:
    """Keys in memory for the benchmark's throwaway databases: nothing is read from or written
    to var/, and a fresh checkout needs no `riskdesk keys init` to run a benchmark."""
    from riskdesk.security import keys

    keys.use(keys.generate().to_json())


# ---------------------------------------------------------------- servers, queues, figures
#
# Shared by the benchmarks that start a server (Riskdesk under Uvicorn, nats-server) and those
# that wait for the event queue to empty.


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(ready: Callable[[], bool], *, seconds: float, every: float, what: str) -> None:
    """Poll ``ready`` (an exception counts as not yet) until true; RuntimeError after
    ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except Exception:  # not up yet: connection refused, a reset, a time-out
            pass
        time.sleep(every)
    raise RuntimeError(f"{what} did not start within {seconds:g} s")


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    return True


def queued_rows(factory: sessionmaker[Session]) -> int:
    """Work rows waiting in the event queue."""
    from riskdesk.models import QueuedWork

    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(QueuedWork)) or 0)


def wait_drained(factory: sessionmaker[Session], every: float = 0.02) -> None:
    """Return once the event queue is empty (the workers processed everything)."""
    while queued_rows(factory):
        time.sleep(every)


def nearest_rank(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values`` by nearest rank."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


# The customer the latency benches post orders for (a limit no order reaches).
BENCH_CUSTOMER = {
    "source": "erp",
    "external_id": "BENCH-1",
    "kind": "company",
    "name": "基准测试有限公司",
    "segment": "b2b_sme",
    "credit_limit": "100000000.00",
    "limit_currency": "CNY",
}


def bench_order(external_id: str) -> dict[str, Any]:
    """A 100.00 CNY credit order of BENCH_CUSTOMER's."""
    return {
        "source": "bench",
        "external_id": external_id,
        "customer_external_id": BENCH_CUSTOMER["external_id"],
        "customer_source": BENCH_CUSTOMER["source"],
        "ordered_at": "2026-01-10T08:00:00Z",
        "amount": "100.00",
        "currency": "CNY",
        "payment_method": "credit",
        "lines": [{"category": "electronics", "amount": "100.00"}],
    }


# ---------------------------------------------------------------- pages through the app

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "Bench-pass-2026"  # the bench users' (portfolio_bench.fill's too)


def quiet_settings(**extra: Any) -> Any:
    """Settings for an app measured in this process: every background pass off (events, jobs,
    deliveries, backtests, surges, checkpoints, reapers, report schedules, month ends), so
    nothing but the measured requests runs."""
    from riskdesk.config import Settings

    values: dict[str, Any] = {
        "database_url": "sqlite://",
        "secret_key": "bench-secret-key-0123456789",
        "event_workers": 0,
        "job_workers": 0,
        "delivery_interval_seconds": 0,
        "warning_backtest_days": 0,
        "complaint_surge_seconds": 0,
        "audit_checkpoint_interval_seconds": 0,
        "import_reap_interval_seconds": 0,
        "job_reap_interval_seconds": 0,
        "report_schedule_interval_seconds": 0,
        "month_end_interval_seconds": 0,
    }
    return Settings(**{**values, **extra})


def signed_in(app: Any, username: str) -> Any:
    """A browser-like client of ``app`` signed in as ``username``, reading Chinese pages."""
    import re

    from fastapi.testclient import TestClient

    client = TestClient(app)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    client.cookies.set("rd_lang", "zh-CN")
    return client


View = tuple[str, str, str]  # (label, user, query)
PageFigure = tuple[str, float, str, int]  # (label, median ms, total shown, statements)


def time_pages(
    db: Database,
    path: str,
    views: Sequence[View],
    sign_in: Callable[[Any, str], Any],
    *,
    total: str,
    rounds: int,
    per_statement: bool,
) -> list[PageFigure]:
    """Each view of a page (``path?query``, as its user) through the application in this
    process (TestClient: routing, the session cookie, the queries, the render): the median of
    ``rounds`` after one warm-up, the total the page shows (``total``: a pattern whose group 1
    is it) and the statements of the last round; printed as they come."""
    import re
    import statistics

    from fastapi.testclient import TestClient

    from riskdesk.main import create_app

    app = create_app(quiet_settings(), session_factory=db.factory)
    clock = StatementClock(db.engine, per_statement=per_statement)
    results: list[PageFigure] = []
    with TestClient(app):  # the lifespan: started once
        clients = {u: sign_in(app, u) for u in {v[1] for v in views}}
        for label, user, query in views:
            client = clients[user]
            times = []
            answer = None
            for _ in range(rounds + 1):  # the first round warms up
                clock.reset()
                t0 = time.perf_counter()
                answer = client.get(f"{path}?{query}")
                times.append((time.perf_counter() - t0) * 1000)
                assert answer.status_code == 200, (label, answer.status_code)
            assert answer is not None
            found = re.search(total, answer.text)
            median = statistics.median(times[1:])
            shown = found.group(1) if found else "?"
            results.append((label, median, shown, clock.count))
            print(
                f"  {db.label:10s} {median:7.0f} ms  total {shown:>7s}  "
                f"{clock.count:2d} statements  {label}",
                flush=True,
            )
            if per_statement:
                clock.slowest(3)
    return results


def print_page_table(views: Sequence[View], figures: dict[str, list[PageFigure]]) -> None:
    """The views' medians side by side per backend, as a Markdown table."""
    backends = list(figures)
    print("\n| view | " + " | ".join(f"{b} (median ms)" for b in backends) + " | total |")
    print("| --- | " + " | ".join("---:" for _ in backends) + " | ---: |")
    for i, (label, _, _) in enumerate(views):
        cells = " | ".join(f"{figures[b][i][1]:.0f}" for b in backends)
        print(f"| {label} | {cells} | {figures[backends[0]][i][2]} |")


def page_bench_options(*, rounds: int) -> argparse.ArgumentParser:
    """The options every page bench takes (--customers, --rounds, --backend, --db-url,
    --per-statement); the bench adds its own."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--db-url", default=PG_URL)
    parser.add_argument("--per-statement", action="store_true")
    return parser


def run_page_bench(
    args: argparse.Namespace,
    name: str,
    populate: Callable[[sessionmaker[Session]], None],
    filled: str,
    pages: Sequence[tuple[str, Sequence[View]]],
    *,
    total: str,
) -> None:
    """A page bench: per backend of ``--backend``, a fresh database (``name``.db or a schema)
    filled by ``populate`` (timed, printed as ``filled``), analysed on PostgreSQL, then each
    page's views timed (``time_pages``: path, views, the total's pattern); last, the medians
    side by side."""
    from riskdesk import bootstrap

    throwaway_keyring()
    bootstrap.install()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    figures: dict[str, list[PageFigure]] = {}
    for backend in backends:
        db = open_database(backend, args.db_url, name)
        try:
            started = time.perf_counter()
            populate(db.factory)
            print(f"{backend}: {filled} in {time.perf_counter() - started:.0f} s", flush=True)
            if backend == "postgresql":
                with db.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE")
            figures[backend] = []
            for path, views in pages:
                figures[backend] += time_pages(
                    db, path, views, signed_in, total=total, rounds=args.rounds,
                    per_statement=args.per_statement,
                )  # fmt: skip
        finally:
            db.drop()
    print_page_table([view for _, views in pages for view in views], figures)
