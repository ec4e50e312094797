"""Processing an event's customers: through their stored indicator state against reading their
whole history, side by side in one run, on SQLite and on PostgreSQL.

    PYTHONPATH=.:src .venv/bin/python bench/indicator_state_bench.py
        [--backend sqlite|postgresql|both] [--customers 500] [--months 24]
        [--batch 100] [--rounds 5]
        [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

A fresh database gets the demo population (``load_demo``: ``--months`` of events). Every round
takes each batch of ``--batch`` customers and brings their indicators up to date twice, in one
rolled-back transaction each, alternating which goes first:

- ``state``: ``indicators.service.advance`` with each customer's new rows named (one order id,
  as an order intake queues), so the stored state is read, merged, trimmed and computed;
- ``record``: the same with the changes unknown, which reads the customers' whole history from
  the event tables, as every event did before the state existed.

Before the rounds each customer's state is built once (committed). The figures are the median
seconds per batch of each path, their ratio, and the rows read: the state's events against the
whole history's. The population summary is read by both, so the ratio is the event read alone.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench import databases
from sqlalchemy import func, select

from riskdesk import bootstrap
from riskdesk.db import unit_of_work
from riskdesk.demo.loader import load_demo
from riskdesk.indicators import repository as irepo
from riskdesk.indicators import service, state
from riskdesk.models import Order
from riskdesk.pipeline import repository as prepo


def _rows(frames: object) -> int:
    return sum(getattr(frames, s).height for s in state.SOURCES)


def run(backend: str, args: argparse.Namespace) -> dict[str, float]:
    db = databases.open_database(backend, args.db_url, "state")
    try:
        with unit_of_work(db.factory) as session:
            load_demo(session, customers=args.customers, months=args.months, seed=0)
        with unit_of_work(db.factory) as session:
            ids = prepo.live_customers(session, None)
            batches = [ids[i : i + args.batch] for i in range(0, len(ids), args.batch)]
            for part in batches:
                service.advance(session, dict.fromkeys(part))  # build every state once
            last_order = {
                cid: oid
                for cid, oid in session.execute(
                    select(Order.customer_id, func.max(Order.id)).group_by(Order.customer_id)
                )
            }
        with db.factory() as session:
            history = _rows(irepo.load_frames(session, ids, keyed=True))
            stored = irepo.load_states(session, ids)
            kept = _rows(
                state.from_blobs(
                    {c: b for c, (_, _, b) in stored.items()}, irepo.load_customers(session, ids)
                )
            )
        times: dict[str, list[float]] = {"state": [], "record": []}
        for round_no in range(args.rounds):
            for part in batches:
                named = {c: {"orders": [last_order[c]]} if c in last_order else {} for c in part}
                paths = [("state", named), ("record", dict.fromkeys(part))]
                if round_no % 2:
                    paths.reverse()
                for label, changes in paths:
                    with db.factory() as session:
                        started = time.perf_counter()
                        service.advance(session, changes)
                        times[label].append(time.perf_counter() - started)
                        session.rollback()
        state_s = statistics.median(times["state"])
        record_s = statistics.median(times["record"])
        return {
            "customers": len(ids),
            "history_rows": history,
            "state_rows": kept,
            "state_batch_s": state_s,
            "record_batch_s": record_s,
            "speedup": record_s / state_s,
        }
    finally:
        db.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="both", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    databases.throwaway_keyring()
    bootstrap.install()  # the audit trail's hooks, as every entry point
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        figures = run(backend, args)
        print(
            f"{backend}: {figures['customers']:.0f} customers, "
            f"{figures['history_rows']:.0f} history rows, {figures['state_rows']:.0f} in states; "
            f"per batch of {args.batch}: state {figures['state_batch_s'] * 1000:.0f} ms, "
            f"whole record {figures['record_batch_s'] * 1000:.0f} ms, "
            f"{figures['speedup']:.2f}x"
        )


if __name__ == "__main__":
    main()
