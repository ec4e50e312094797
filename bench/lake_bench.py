"""The lake export: rows per second of a full and an incremental export, beside a plain
Polars write_parquet of the same rows already in memory.

    export RISKDESK_DATABASE_URL=sqlite:////tmp/lakebench/demo.db
    riskdesk db upgrade && riskdesk demo --customers 2000 --months 24 --seed 1
    PYTHONPATH=.:src .venv/bin/python bench/lake_bench.py --db-url $RISKDESK_DATABASE_URL \
        [--new 20000]

Side by side in one run, on a database the demo populated (it is written to: NEW orders are
added for the incremental export, then removed):
- full: ``lake.export`` into an empty directory (one read snapshot, every kind);
- plain: the same rows as the export wrote them, read into memory first (not timed), then
  written by ``DataFrame.write_parquet`` one file per kind: the floor for the Parquet part;
- the database read alone: ``indicators.service.load_history`` (the batch's read of the same
  tables into frames, corrections applied in SQL): what any copy must at least pay;
- incremental: NEW orders inserted by SQL, then ``lake.export`` again into the same lake;
- nothing new: one more export, which writes nothing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from riskdesk import bootstrap
from riskdesk.db import make_engine, make_sessionmaker, reading
from riskdesk.indicators import service as indicator_service
from riskdesk.indicators.compute import SCHEMAS
from riskdesk.lake import service


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--new", type=int, default=20_000)
    args = parser.parse_args()
    bootstrap.install()
    factory = make_sessionmaker(make_engine(args.db_url))
    out = Path(tempfile.mkdtemp(prefix="lakebench-"))
    target = str(out / "lake")

    started = time.perf_counter()
    with reading(factory) as session:
        full = service.export(session, target)
    full_s = time.perf_counter() - started
    rows = sum(full.rows.values())

    started = time.perf_counter()
    with reading(factory) as session:
        history = indicator_service.load_history(session)
    read_s = time.perf_counter() - started
    read_rows = sum(getattr(history, n).height for n in SCHEMAS)

    tables = service.read_tables(target)
    plain_dir = out / "plain"
    plain_dir.mkdir()
    started = time.perf_counter()
    for kind, frame in tables.items():
        frame.write_parquet(plain_dir / f"{kind}.parquet")
    plain_s = time.perf_counter() - started

    with factory.begin() as session:
        top = session.scalar(text("SELECT max(id) FROM orders")) or 0
        session.execute(
            text(
                "INSERT INTO orders (customer_id, source, external_id, content_hash, received_at,"
                " ordered_at, amount, currency, channel, payment_method)"
                " SELECT customer_id, 'bench', 'bench-' || id, content_hash, received_at,"
                " ordered_at, amount, currency, channel, payment_method FROM orders"
                " ORDER BY id LIMIT :n"
            ),
            {"n": args.new},
        )
    try:
        started = time.perf_counter()
        with reading(factory) as session:
            step = service.export(session, target)
        step_s = time.perf_counter() - started
        started = time.perf_counter()
        with reading(factory) as session:
            idle = service.export(session, target)
        idle_s = time.perf_counter() - started
    finally:
        with factory.begin() as session:
            session.execute(text("DELETE FROM orders WHERE id > :top"), {"top": top})

    print(f"load: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores")
    print(f"rows per kind: {full.rows}")
    print(f"full export:        {rows:>9} rows in {full_s:6.2f} s = {rows / full_s:>9.0f} rows/s")
    print(f"plain write_parquet:{rows:>9} rows in {plain_s:6.2f} s = {rows / plain_s:>9.0f} rows/s")
    print(f"  ratio export / plain: {full_s / plain_s:.1f}x")
    per_s = read_rows / read_s
    print(f"load_history (read): {read_rows:>8} rows in {read_s:6.2f} s = {per_s:>9.0f} rows/s")
    print(f"  ratio export / read: {full_s / read_s:.2f}x")
    n = step.event_rows
    print(f"incremental export: {n:>9} rows in {step_s:6.2f} s = {n / step_s:>9.0f} rows/s"
          f" (files {step.files})")  # fmt: skip
    print(f"nothing new:        wrote={idle.wrote} in {idle_s:6.2f} s")
    lake_bytes = sum(p.stat().st_size for p in (out / "lake").rglob("*.parquet"))
    plain_bytes = sum(p.stat().st_size for p in plain_dir.rglob("*.parquet"))
    print(f"size: lake {lake_bytes / 1e6:.1f} MB, plain {plain_bytes / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
