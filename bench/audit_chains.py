"""Writers at once on PostgreSQL: the audit log kept in chains against one head for all.

    PYTHONPATH=src:. .venv/bin/python bench/audit_chains.py [--clients 1,4,8] [--seconds 5]
        [--rounds 3] [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

One fresh PostgreSQL schema, migrated, with 100 companies per client. A client is a process
of its own (its own engine and pool, as another server worker would be) that runs, for
``--seconds``, one small write transaction after another: a ``unit_of_work`` that loads one
of its own companies and changes its industry through the ORM, so the audit hooks run as in
the product and clients never wait for each other's rows. Three modes, side by side in every
round (their order turned each round, so all see the same machine load):

- ``chains``: the code as it is: the connection's chain, else the next free head.
- ``single``: ``audit.repository._take_head`` replaced by what ``append`` did before 0026:
  lock the one head (here chain 0's row) with ``FOR UPDATE`` and wait for it.
- ``off``: ``session.info["audit_off"]``: the hooks note the changes, nothing is appended.

Every client count runs in every mode once per round, one right after the other; the median
of the rounds is printed, and the ratios are the medians of each round's own ratio (a round's
modes ran seconds apart, so a ratio drifts less with the machine's load than a rate). Beside
the rates, the mean time a transaction spent taking its head (``_take_head``: the statement
that locks it, waiting included), and how many clients were waiting on a lock, on average,
in ``pg_stat_activity`` sampled every 10 ms: the serialisation point itself, which a busy
machine's CPU, shared by the clients' own Python, does not blur the way it blurs a rate. Each
client does one transaction before the clock starts (connecting, caches); the keyring is
generated in memory. The log is verified at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import threading
import time
from collections import Counter
from typing import Any

from bench import databases
from rich.console import Console
from rich.table import Table
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from tests.factories import company

from riskdesk import bootstrap
from riskdesk.audit import repository as audit_repo
from riskdesk.audit import service as audit_service
from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import AuditEntry, AuditHead, Customer
from riskdesk.pipeline import intake
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
APP_NAME = "riskdesk_audit_chains_bench"
MODES = ("chains", "single", "off")
PER_CLIENT = 100
console = Console(width=200)


def _single_head(session: Session) -> tuple[int, int, str]:
    """The head as append took it before 0026: one row for every writer, waited for."""
    found = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.chain == 0).with_for_update()
    ).one()
    return 0, int(found.seq), str(found.hash)


def client(
    url: str,
    schema: str,
    mode: str,
    ids: list[int],
    seconds: float,
    start: Any,
    results: Any,
) -> None:
    """One client process: write until the time is up, report how many transactions and
    the seconds spent taking heads."""
    taking = _single_head if mode == "single" else audit_repo._take_head
    spent = [0.0]

    def timed(session: Session) -> tuple[int, int, str]:
        started = time.perf_counter()
        try:
            return taking(session)
        finally:
            spent[0] += time.perf_counter() - started

    audit_repo._take_head = timed  # type: ignore[assignment]
    engine = make_engine(
        url,
        connect_args={"options": f"-csearch_path={schema}", "application_name": APP_NAME},
    )
    factory = make_sessionmaker(engine)

    def write(n: int) -> None:
        with unit_of_work(factory) as session:
            customer = session.get(Customer, ids[n % len(ids)])
            assert customer is not None
            customer.industry = f"industry {n}"
            customer.updated_at = utcnow()
            if mode == "off":
                session.info["audit_off"] = True

    write(0)  # connected, caches warm
    start.wait()
    spent[0] = 0.0
    done, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        done += 1
        write(done)
    results.put((done, spent[0]))
    engine.dispose()


class LockWaits:
    """Samples pg_stat_activity while a run goes: how many clients wait on a lock."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample)

    def _sample(self) -> None:
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :app "
            "AND wait_event_type = 'Lock'"
        )
        with self.engine.connect() as conn:
            while not self._stop.is_set():
                self.samples.append(int(conn.execute(query, {"app": APP_NAME}).scalar_one()))
                conn.rollback()
                time.sleep(0.01)

    def __enter__(self) -> LockWaits:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.engine.dispose()

    @property
    def mean(self) -> float:
        """Clients waiting on a lock, on average over the samples."""
        return statistics.mean(self.samples) if self.samples else 0.0


def run(
    db: databases.Database, mode: str, clients: int, ids: list[int], seconds: float
) -> tuple[float, float, float]:
    """Transactions per second of ``clients`` processes writing at once, the mean
    milliseconds a transaction spent taking its head, and how many clients waited on a lock
    on average."""
    ctx = mp.get_context("fork")  # the keyring and hooks of this process come along
    start = ctx.Barrier(clients + 1)
    results = ctx.Queue()
    assert db.schema is not None
    procs = [
        ctx.Process(
            target=client,
            args=(
                db.url,
                db.schema,
                mode,
                ids[c * PER_CLIENT : (c + 1) * PER_CLIENT],
                seconds,
                start,
                results,
            ),
        )
        for c in range(clients)
    ]
    for p in procs:
        p.start()
    start.wait()
    with LockWaits(db.url) as waits:
        reports = [results.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0, p.exitcode
    done = sum(n for n, _ in reports)
    return done / seconds, sum(s for _, s in reports) / max(1, done) * 1000, waits.mean


def setup(db: databases.Database, customers: int) -> list[int]:
    """The bench user and the companies; their ids in order."""
    with unit_of_work(db.factory) as session:
        user = security_service.create_user(
            session,
            username="bench",
            display_name="bench",
            role=Role.CREDIT_MANAGER,
            password="Quiet-harbour-lamp-2026",
        )
        principal = security_service.system_principal(session, user)
        records = [company(f"CH{i:05d}") for i in range(customers)]
        report = intake.ingest(session, principal, "customers", records)
        assert report.created == customers, report
    with db.factory() as session:
        return list(session.scalars(select(Customer.id).order_by(Customer.id)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db-url", default=PG_URL)
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    databases.throwaway_keyring()
    bootstrap.install()  # the audit trail's hooks, as every entry point
    db = databases.open_database("postgresql", args.db_url, "chains")
    tps: dict[tuple[str, int], list[float]] = {}
    head_ms: dict[tuple[str, int], list[float]] = {}
    waiting: dict[tuple[str, int], list[float]] = {}
    try:
        ids = setup(db, PER_CLIENT * max(counts))
        db.engine.dispose()  # no connection of this process is handed to the clients
        for r in range(args.rounds):
            modes = MODES if r % 2 == 0 else tuple(reversed(MODES))
            for clients in counts:
                for mode in modes:
                    rate, taking, waited = run(db, mode, clients, ids, args.seconds)
                    tps.setdefault((mode, clients), []).append(rate)
                    head_ms.setdefault((mode, clients), []).append(taking)
                    waiting.setdefault((mode, clients), []).append(waited)
                    console.log(
                        f"round {r + 1}: {mode:>6}, {clients} client(s): {rate:,.0f} tx/s, "
                        f"{taking:.2f} ms taking the head, {waited:.2f} waiting on a lock"
                    )
        with db.factory() as session:
            verified = audit_service.verify(session)
            chains = Counter(session.scalars(select(AuditEntry.chain)))
    finally:
        db.drop()
    table = Table(
        "clients",
        "single head",
        "chains",
        "chains / single",
        "audit off",
        "chains / off",
        "taking the head: single",
        "chains",
        "waiting on a lock: single",
        "chains",
        title=f"tx/s and ms per transaction, median of {args.rounds} rounds of {args.seconds:g} s",
    )
    for clients in counts:
        med = {m: statistics.median(tps[(m, clients)]) for m in MODES}
        chains_, single, off = (tps[(m, clients)] for m in MODES)
        table.add_row(
            str(clients),
            f"{med['single']:,.0f}",
            f"{med['chains']:,.0f}",
            f"{statistics.median(c / s for c, s in zip(chains_, single, strict=True)):.2f}x",
            f"{med['off']:,.0f}",
            f"{statistics.median(c / o for c, o in zip(chains_, off, strict=True)):.2f}",
            f"{statistics.median(head_ms[('single', clients)]):.2f} ms",
            f"{statistics.median(head_ms[('chains', clients)]):.2f} ms",
            f"{statistics.median(waiting[('single', clients)]):.2f}",
            f"{statistics.median(waiting[('chains', clients)]):.2f}",
        )
    console.print(table)
    for (mode, clients), rates in sorted(tps.items()):
        heads = ", ".join(f"{m:.2f}" for m in head_ms[(mode, clients)])
        waits = ", ".join(f"{w:.2f}" for w in waiting[(mode, clients)])
        rates_text = ", ".join(f"{r:,.0f}" for r in rates)
        console.print(
            f"{mode} {clients}: {rates_text} tx/s; {heads} ms taking the head; "
            f"{waits} waiting on a lock"
        )
    console.print(f"entries per chain: {dict(sorted(chains.items()))}")
    console.print(
        f"audit verify: {verified.entries:,} entries, "
        f"{'whole' if verified.ok else verified.findings[:3]}"
    )


if __name__ == "__main__":
    main()
