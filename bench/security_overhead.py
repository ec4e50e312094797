"""What the security features cost: field encryption, the audit log on writes, `audit verify`.

    PYTHONPATH=. .venv/bin/python bench/security_overhead.py [--customers 2000,10000]
        [--batch 1000] [--repeat 2] [--reads 5] [--writes 2000] [--block 250]
        [--write-customers 1000]
        [--audit-entries 50000] [--backends sqlite,postgresql]
        [--encryption-backends sqlite,postgresql]
        [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Every database is fresh: a temporary SQLite file (WAL, the embedded default) or a fresh
PostgreSQL schema, migrated and dropped afterwards. The keyring is generated in memory.

1. Field encryption. N individual customers (name, resident ID number, phone, e-mail and
   address: five sealed fields and four blind indexes each) go through the real intake
   (``intake.ingest`` in one unit of work per ``--batch`` records: validate, resolve, write,
   consents, exposure, indicators, rules) with encryption on and off (``keys.seal`` and
   ``keys.open_sealed`` replaced by the identity; blind indexes computed as usual),
   ``--repeat`` times per mode in turns, each into a fresh database. The last database of each
   mode is then read back ``--reads`` times in turns (``select(Customer)``, every row loaded
   and ``.phone`` touched; loading opens every sealed column), best kept. The time spent inside
   ``seal``, ``blind_index`` and ``open_sealed`` with encryption on is reported beside.
2. The audit log on writes. M transactions, each its own ``unit_of_work`` that loads one
   customer and changes its address through the ORM; with the audit hooks as they run, and
   with ``session.info["audit_off"]`` set (the hooks still note the changes, but nothing is
   appended). On and off alternate in blocks of ``--block`` transactions, so both see the same
   machine load. On PostgreSQL the same again with two threads writing at once (other
   customers each); before 0026 their appends queued on the single ``audit_head`` row's
   lock (``bench/audit_chains.py`` measures writers at once since the log has chains).
3. ``audit verify``: ``--audit-entries`` synthetic entries shaped like a write's entry are
   appended through ``audit.repository.append`` (1,000 per transaction), then
   ``audit.service.verify`` walks the whole chain.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from bench import databases
from bench.databases import Database
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker
from tests.factories import person

from riskdesk import bootstrap
from riskdesk.audit import repository as audit_repo
from riskdesk.audit import service as audit_service
from riskdesk.db import unit_of_work
from riskdesk.kit import identifiers
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import AuditEntry, Customer
from riskdesk.pipeline import intake
from riskdesk.security import keys
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role
from riskdesk.security.service import Principal

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
console = Console(width=140)


# ---------------------------------------------------------------- database


def principal(session: Session) -> Principal:
    """The bench user's principal, as a CLI command would load it."""
    user = security_service.get_user_by_username_or_raise(session, "bench")
    return security_service.system_principal(session, user)


def open_database(backend: str, pg_url: str) -> Database:
    """A temporary SQLite file or a fresh PostgreSQL schema, migrated, with the bench user."""
    db = databases.open_database(backend, pg_url, "security")
    with unit_of_work(db.factory) as session:
        security_service.create_user(
            session,
            username="bench",
            display_name="bench",
            role=Role.CREDIT_MANAGER,
            password="Quiet-harbour-lamp-2026",
        )
    return db


@contextmanager
def database(backend: str, pg_url: str) -> Iterator[Database]:
    """:func:`open_database`, dropped afterwards."""
    db = open_database(backend, pg_url)
    try:
        yield db
    finally:
        db.drop()


@contextmanager
def plaintext() -> Iterator[None]:
    """Field encryption off: values are stored and read as given (blind indexes unchanged)."""
    saved = keys.seal, keys.open_sealed
    keys.seal = lambda plain, column: plain
    keys.open_sealed = lambda stored, column: stored
    try:
        yield
    finally:
        keys.seal, keys.open_sealed = saved


# ---------------------------------------------------------------- data


def resident_id(n: int) -> str:
    """A valid resident ID number, different for each n below 365,000."""
    born = dt.date(1960, 1, 1) + dt.timedelta(days=n // 1000)
    body = f"110101{born:%Y%m%d}{n % 1000:03d}"
    return body + identifiers.resident_id_check_char(body)


def individuals(count: int, prefix: str) -> list[dict[str, Any]]:
    """Individual customers with five personal data fields each, all different."""
    return [
        person(
            f"{prefix}{i:06d}",
            name=f"测试{i:06d}",
            national_id=resident_id(i),
            phone=f"138{i:08d}",
            email=f"person{i}@example.com",
            address=f"上海市浦东新区世纪大道{i}号",
        )
        for i in range(count)
    ]


def load_customers(db: Database, records: list[dict[str, Any]], batch: int) -> float:
    """Ingest the records, ``batch`` to a transaction; the seconds it took."""
    gc.collect()
    started = time.perf_counter()
    for start in range(0, len(records), batch):
        with unit_of_work(db.factory) as session:
            report = intake.ingest(
                session, principal(session), "customers", records[start : start + batch]
            )
            assert report.created == len(records[start : start + batch]), report
    return time.perf_counter() - started


def read_all(db: Database) -> tuple[float, int]:
    """Load every customer (which opens every sealed column) and touch the phone."""
    gc.collect()  # else a collection of what earlier steps left may land in either mode's read
    started = time.perf_counter()
    with db.factory() as session:
        customers = session.scalars(select(Customer)).all()
        touched = sum(1 for c in customers if c.phone)
    return time.perf_counter() - started, touched


@contextmanager
def time_in(name: str) -> Iterator[list[float]]:
    """Seconds spent in ``keys.<name>`` (and calls made) while inside."""
    original = getattr(keys, name)
    spent = [0.0, 0]

    def timed(*args: Any) -> Any:
        started = time.perf_counter()
        result = original(*args)
        spent[0] += time.perf_counter() - started
        spent[1] += 1
        return result

    setattr(keys, name, timed)
    try:
        yield spent
    finally:
        setattr(keys, name, original)


# ---------------------------------------------------------------- 1. field encryption


def crypto_alone(count: int = 20_000) -> dict[str, float]:
    """Microseconds to seal, open and blind-index one phone number, outside any database."""
    values = [f"138{i:08d}" for i in range(count)]
    started = time.perf_counter()
    sealed = [keys.seal(v, "customers.phone") for v in values]
    seal_us = (time.perf_counter() - started) / count * 1e6
    started = time.perf_counter()
    for s in sealed:
        keys.open_sealed(s, "customers.phone")
    open_us = (time.perf_counter() - started) / count * 1e6
    started = time.perf_counter()
    for v in values:
        keys.blind_index("phone", v)
    index_us = (time.perf_counter() - started) / count * 1e6
    return {"seal_us": seal_us, "open_us": open_us, "blind_index_us": index_us}


def _mode(mode: str) -> AbstractContextManager[None]:
    return plaintext() if mode == "off" else nullcontext()


def encryption_run(
    backend: str, count: int, args: argparse.Namespace, *, off_first: bool
) -> dict[str, Any]:
    """Intake and read-back of ``count`` individuals, encryption on and off.

    Each intake goes into a fresh database, ``--repeat`` times per mode, on and off in turns;
    the last pair of databases is then read in turns, ``--reads`` times each.
    """
    records = individuals(count, "P")
    out: dict[str, Any] = {"backend": backend, "customers": count}
    intake_s: dict[str, list[float]] = {"on": [], "off": []}
    kept: dict[str, Database] = {}
    sealing = [0.0, 0]
    indexing = [0.0, 0]
    try:
        for rep in range(args.repeat):
            first_off = off_first != (rep % 2 == 1)
            for mode in ("off", "on") if first_off else ("on", "off"):
                if mode in kept:
                    kept.pop(mode).drop()
                db = kept[mode] = open_database(backend, args.db_url)
                with _mode(mode), time_in("seal") as sealed, time_in("blind_index") as index:
                    intake_s[mode].append(load_customers(db, records, args.batch))
                if mode == "on":
                    sealing = [a + b for a, b in zip(sealing, sealed, strict=True)]
                    indexing = [a + b for a, b in zip(indexing, index, strict=True)]
                console.log(
                    f"{backend} {count:,} intake, encryption {mode}: {intake_s[mode][-1]:.2f} s"
                )
        for mode, db in kept.items():
            with db.factory() as session:
                stored = str(session.scalar(text("SELECT phone FROM customers LIMIT 1")))
            assert stored.startswith("v1:" if mode == "on" else "+86"), stored
        read_s: dict[str, list[float]] = {"on": [], "off": []}
        for rep in range(args.reads):
            for mode in ("on", "off") if rep % 2 == 0 else ("off", "on"):
                with _mode(mode):
                    seconds, touched = read_all(kept[mode])
                assert touched == count
                read_s[mode].append(seconds)
        with time_in("open_sealed") as opening:
            read_all(kept["on"])  # not timed: once more, to see the share of opening
    finally:
        for db in kept.values():
            db.drop()
    reps = args.repeat
    for mode in ("on", "off"):
        out[mode] = {"intake_s": statistics.mean(intake_s[mode]), "read_s": min(read_s[mode])}
    out["intake_runs"] = intake_s
    out["seal_s"] = sealing[0] / reps
    out["seals"] = sealing[1] // reps
    out["blind_index_s"] = indexing[0] / reps
    out["blind_indexes"] = indexing[1] // reps
    out["open_s"], out["opens"] = opening
    console.log(f"{backend} {count:,} customers: {out}")
    return out


# ---------------------------------------------------------------- 2. audit log on writes


def _write(factory: sessionmaker[Session], customer_id: int, n: int, audit: bool) -> None:
    with unit_of_work(factory) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        customer.address = f"北京市朝阳区建国路{n}号"
        customer.updated_at = utcnow()
        if not audit:
            session.info["audit_off"] = True


@contextmanager
def timed_appends() -> Iterator[list[float]]:
    """Seconds spent in each ``audit.repository.append`` while inside."""
    spent: list[float] = []
    original = audit_repo.append

    def append(session: Session, entries: list[dict[str, Any]]) -> None:
        started = time.perf_counter()
        original(session, entries)
        spent.append(time.perf_counter() - started)

    audit_repo.append = append  # type: ignore[assignment]
    try:
        yield spent
    finally:
        audit_repo.append = original  # type: ignore[assignment]


def _entries(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def audit_writes(db: Database, ids: list[int], args: argparse.Namespace) -> dict[str, Any]:
    """One writer: M transactions with the audit log on and M with it off, in blocks."""
    seconds = {"on": 0.0, "off": 0.0}
    done = {"on": 0, "off": 0}
    with db.factory() as session:
        before = _entries(session)
    n = 0
    with timed_appends() as appends:
        for r in range(max(1, args.writes // args.block)):
            for mode in ("on", "off") if r % 2 == 0 else ("off", "on"):
                started = time.perf_counter()
                for _ in range(args.block):
                    _write(db.factory, ids[n % len(ids)], n, mode == "on")
                    n += 1
                seconds[mode] += time.perf_counter() - started
                done[mode] += args.block
    with db.factory() as session:
        appended = _entries(session) - before
    assert appended == done["on"], (appended, done)
    return {
        "on_tps": done["on"] / seconds["on"],
        "off_tps": done["off"] / seconds["off"],
        "writes": done["on"],
        "append_ms": statistics.mean(appends) * 1000,
    }


def audit_writes_threads(
    db: Database, ids: list[int], args: argparse.Namespace, threads: int = 2
) -> dict[str, Any]:
    """``threads`` writers at once (each its own customers), audit on and off in turns."""
    per_thread = args.block
    rounds = max(1, args.writes // (per_thread * threads))
    seconds = {"on": 0.0, "off": 0.0}
    done = {"on": 0, "off": 0}
    errors: list[BaseException] = []

    def writer(mine: list[int], audit: bool, offset: int) -> None:
        try:
            for k in range(per_thread):
                _write(db.factory, mine[k % len(mine)], offset + k, audit)
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    offset = 0
    with timed_appends() as appends:
        for r in range(rounds):
            for mode in ("on", "off") if r % 2 == 0 else ("off", "on"):
                workers = [
                    threading.Thread(target=writer, args=(ids[t::threads], mode == "on", offset))
                    for t in range(threads)
                ]
                offset += per_thread
                started = time.perf_counter()
                for w in workers:
                    w.start()
                for w in workers:
                    w.join()
                seconds[mode] += time.perf_counter() - started
                done[mode] += per_thread * threads
                if errors:
                    raise errors[0]
    return {
        "on_tps": done["on"] / seconds["on"],
        "off_tps": done["off"] / seconds["off"],
        "writes": done["on"],
        "append_ms": statistics.mean(appends) * 1000,  # includes waiting for the head's lock
    }


# ---------------------------------------------------------------- 3. audit verify


def synthetic_entry(n: int) -> dict[str, Any]:
    """An entry shaped like a customer update's (``trail._write_entry``)."""
    return {
        "actor_id": 1,
        "actor": "bench",
        "channel": "api",
        "ip": "127.0.0.1",
        "action": "write",
        "request": "PATCH /api/v1/customers/{customer_id}",
        "object_type": "customer",
        "object_id": str(n % 1000 + 1),
        "detail": {
            "changes": [
                {"table": "credit_file_versions", "op": "insert", "rows": 1, "ids": [n]},
                {
                    "table": "customers",
                    "op": "update",
                    "rows": 1,
                    "ids": [n % 1000 + 1],
                    "fields": ["address", "updated_at", "version"],
                },
            ]
        },
    }


def audit_verify(db: Database, count: int, batch: int = 1000) -> dict[str, Any]:
    """Append ``count`` entries in batches, then verify the whole chain."""
    started = time.perf_counter()
    for start in range(0, count, batch):
        with unit_of_work(db.factory) as session:
            audit_repo.append(
                session, [synthetic_entry(n) for n in range(start, min(count, start + batch))]
            )
    append_s = time.perf_counter() - started
    started = time.perf_counter()
    with db.factory() as session:
        result = audit_service.verify(session)
    verify_s = time.perf_counter() - started
    assert result.ok, result.findings[:3]
    return {
        "appended": count,
        "append_eps": count / append_s,
        "entries": result.entries,
        "verify_s": verify_s,
        "verify_eps": result.entries / verify_s,
    }


# ---------------------------------------------------------------- run and report


def audit_run(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Sections 2 and 3 on one fresh database."""
    out: dict[str, Any] = {"backend": backend}
    with database(backend, args.db_url) as db:
        load_customers(db, individuals(args.write_customers, "W"), args.batch)
        with db.factory() as session:
            ids = list(session.scalars(select(Customer.id).order_by(Customer.id)))
        out["one"] = audit_writes(db, ids, args)
        console.log(f"{backend} audit, one writer: {out['one']}")
        if backend == "postgresql":
            out["two"] = audit_writes_threads(db, ids, args)
            console.log(f"{backend} audit, two writers: {out['two']}")
        out["verify"] = audit_verify(db, args.audit_entries)
        console.log(f"{backend} audit verify: {out['verify']}")
    return out


def _ratio(slow: float, fast: float) -> str:
    return f"{slow / fast:.2f}x"


def _share(part: float, whole: float) -> str:
    return f"{part:.2f} s ({part / whole:.0%})"


def report(crypto: dict[str, float], enc: list[dict[str, Any]], aud: list[dict[str, Any]]) -> None:
    """The figures as tables."""
    t = Table(title="Field encryption (intake and read-back of individuals)")
    for col in ("backend", "customers", "step", "encryption on", "off", "on / off",
                "in seal / open", "in blind_index"):  # fmt: skip
        t.add_column(col, justify="left" if col in ("backend", "step") else "right")
    for r in enc:
        on, off = r["on"], r["off"]
        n = r["customers"]
        t.add_row(
            r["backend"], f"{n:,}", "intake (records/s)",
            f"{n / on['intake_s']:,.0f} ({on['intake_s']:.1f} s)",
            f"{n / off['intake_s']:,.0f} ({off['intake_s']:.1f} s)",
            _ratio(on["intake_s"], off["intake_s"]),
            _share(r["seal_s"], on["intake_s"]), _share(r["blind_index_s"], on["intake_s"]),
        )  # fmt: skip
        t.add_row(
            r["backend"], f"{n:,}", "read all (rows/s)",
            f"{n / on['read_s']:,.0f} ({on['read_s'] * 1000:.0f} ms)",
            f"{n / off['read_s']:,.0f} ({off['read_s'] * 1000:.0f} ms)",
            _ratio(on["read_s"], off["read_s"]), _share(r["open_s"], on["read_s"]), "",
        )  # fmt: skip
    console.print(t)
    console.print(
        "intake: mean of the runs; read: best of the runs; the last two columns are the time "
        "spent in those functions with encryption on (read: one more pass, timed apart)"
    )
    console.print(
        f"one phone number alone: seal {crypto['seal_us']:.1f} µs, open {crypto['open_us']:.1f}"
        f" µs, blind index {crypto['blind_index_us']:.1f} µs"
    )
    t = Table(title="Audit log on writes (one customer's address per transaction)")
    for col in ("backend", "writers", "transactions", "audit on", "audit off", "on / off",
                "overhead per tx", "in append"):  # fmt: skip
        t.add_column(col, justify="left" if col == "backend" else "right")
    for r in aud:
        for key, writers in (("one", 1), ("two", 2)):
            if key not in r:
                continue
            w = r[key]
            overhead = 1000 / w["on_tps"] - 1000 / w["off_tps"]
            t.add_row(
                r["backend"], str(writers), f"{w['writes']:,} + {w['writes']:,}",
                f"{w['on_tps']:,.0f} tx/s", f"{w['off_tps']:,.0f} tx/s",
                _ratio(w["off_tps"], w["on_tps"]),
                f"{overhead:.2f} ms" if writers == 1 else f"{overhead * writers:.2f} ms*",
                f"{w['append_ms']:.2f} ms",
            )  # fmt: skip
    console.print(t)
    console.print(
        "* per transaction of one thread (threads / rate), on minus off; 'in append': mean time "
        "in audit.repository.append per transaction (with two writers, waiting for the lock too)"
    )
    t = Table(title="audit verify")
    for col in ("backend", "entries in the chain", "verify", "entries/s", "bulk append"):
        t.add_column(col, justify="left" if col == "backend" else "right")
    for r in aud:
        v = r["verify"]
        t.add_row(
            r["backend"], f"{v['entries']:,}", f"{v['verify_s']:.1f} s",
            f"{v['verify_eps']:,.0f}", f"{v['append_eps']:,.0f} entries/s",
        )  # fmt: skip
    console.print(t)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", default="2000,10000", help="comma-separated sizes")
    parser.add_argument("--batch", type=int, default=1000, help="intake records per transaction")
    parser.add_argument("--repeat", type=int, default=2, help="intakes per size and mode")
    parser.add_argument("--reads", type=int, default=5, help="read-backs per mode (best kept)")
    parser.add_argument("--writes", type=int, default=2000, help="transactions per audit mode")
    parser.add_argument("--block", type=int, default=250, help="transactions per on/off block")
    parser.add_argument("--write-customers", type=int, default=1000)
    parser.add_argument("--audit-entries", type=int, default=50_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--encryption-backends", default="sqlite,postgresql")
    parser.add_argument("--db-url", default=PG_URL)
    args = parser.parse_args()
    databases.throwaway_keyring()
    bootstrap.install()  # the audit trail's hooks, as every entry point
    started = time.perf_counter()
    console.log(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    crypto = crypto_alone()
    # Which mode goes first alternates, so a drift in the machine's load favours neither.
    sizes = [(b, int(n)) for b in args.encryption_backends.split(",") if b
             for n in args.customers.split(",")]  # fmt: skip
    enc = [encryption_run(b, n, args, off_first=i % 2 == 1) for i, (b, n) in enumerate(sizes)]
    aud = [audit_run(b, args) for b in args.backends.split(",") if b]
    report(crypto, enc, aud)
    console.print(
        f"whole run {time.perf_counter() - started:.0f} s; load average now "
        f"{os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
