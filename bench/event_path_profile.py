"""Where a worker's time goes on the event path: py-spy samples of a queue drain.

    PYTHONPATH=.:src .venv/bin/python bench/event_path_profile.py --backend sqlite|postgresql
        [--customers 500] [--months 12] [--events 5000] [--workers 1] [--rate 200]
        [--warm] [--phase drain|intake] [--out /tmp/event_path.raw]

Loads the demo population through the normal intake, posts a stream of ``--events`` events in
transactions of 50 (the realtime bench's stream: orders, invoices, payments, returns) without
processing them, then drains the queue with ``--workers`` worker threads while ``py-spy record``
samples this process (``pip install py-spy``: a measuring tool, not a dependency); with
``--phase intake`` the intake is sampled instead. With
``--warm`` a first stream of 2,000 events is posted and drained unprofiled, so every customer's
indicator state exists (the steady state); without it the profiled drain also builds the
states from the whole record. Prints the share of busy samples whose stack holds each step of
the event path (inclusive), the functions with the most samples of their own (self), and the
deepest Riskdesk function of each sample (what our code was doing), idle threads left out.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import realtime_bench
from bench.databases import throwaway_keyring
from sqlalchemy import select

from riskdesk import bootstrap
from riskdesk.db import unit_of_work
from riskdesk.demo.loader import load_demo
from riskdesk.models import Customer

# Stack frames (function name, file fragment) whose inclusive share is reported, in path order.
STEPS = (
    ("work", "pipeline/processing.py"),
    ("advance", "indicators/service.py"),
    ("load_states", "indicators/repository.py"),
    ("load_changes", "indicators/repository.py"),
    ("from_blobs", "indicators/state.py"),
    ("to_blobs", "indicators/state.py"),
    ("trim", "indicators/state.py"),
    ("merge", "indicators/state.py"),
    ("population", "indicators/service.py"),
    ("compute", "indicators/compute.py"),
    ("store_states", "indicators/repository.py"),
    ("evaluate", "alerts/service.py"),
    ("rule_values", "monitoring/service.py"),
    ("raise_new", "alerts/service.py"),
    ("clear_quiet", "alerts/service.py"),
    ("commit", "sqlalchemy/orm/session.py"),
    ("flush", "sqlalchemy/orm/session.py"),
    ("execute", "sqlalchemy/engine/base.py"),
    ("collect", "polars/lazyframe/frame.py"),
)
IDLE = ("wait (threading.py", "sleep", "select (selectors.py", "_wait_for_tstate_lock")


def _frames(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rpartition(" ")
    return stack.split(";"), int(count)


def _named(frame: str, name: str) -> bool:
    """Whether a py-spy frame ("Class.method (file:line)") is the function ``name``."""
    function = frame.split(" (", 1)[0]
    return function == name or function.endswith(f".{name}")


def summarise(raw: Path, top: int, within: str = "pipeline/processing.py") -> None:
    """Inclusive shares of ``STEPS`` and the top self-time functions, of the busy samples whose
    stack holds ``within`` (the worker's, or the intake's)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    deepest: collections.Counter[str] = collections.Counter()
    busy = 0
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        frames, count = _frames(line)
        if not frames or any(mark in frames[-1] for mark in IDLE):
            continue
        if not any(within in f for f in frames):
            continue
        busy += count
        seen = set()
        for name, where in STEPS:
            if any(_named(f, name) and where in f for f in frames):
                seen.add(f"{name} ({where})")
        for label in seen:
            inclusive[label] += count
        own[frames[-1].split(":")[0]] += count
        ours = [f for f in frames if "riskdesk/" in f and within not in f]
        if ours:
            deepest[ours[-1].split(":")[0]] += count
    print(f"busy worker samples: {busy}")
    for name, where in STEPS:
        label = f"{name} ({where})"
        print(f"  {label:55} {100 * inclusive[label] / max(busy, 1):5.1f}%")
    print("self time, top functions:")
    for label, count in own.most_common(top):
        print(f"  {100 * count / max(busy, 1):5.1f}%  {label}")
    print("the deepest Riskdesk function on the stack, top:")
    for label, count in deepest.most_common(top):
        print(f"  {100 * count / max(busy, 1):5.1f}%  {label}")


@contextmanager
def _sampled(spy: str, rate: int, out: str) -> Iterator[None]:
    """py-spy samples this process while the block runs."""
    command = [spy, "record", "--pid", str(os.getpid()), "--rate", str(rate)]
    command += ["--format", "raw", "--output", out, "--nonblocking"]
    spy_proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        spy_proc.send_signal(signal.SIGINT)
        spy_proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--db-url", default=realtime_bench.PG_URL)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--phase", choices=["drain", "intake"], default="drain")
    parser.add_argument(
        "--warm", action="store_true", help="build the states with a first stream, unprofiled"
    )
    parser.add_argument("--out", default="/tmp/event_path.raw")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    throwaway_keyring()
    bootstrap.install()
    db = realtime_bench.open_database(args.backend, args.db_url)
    try:
        with unit_of_work(db.factory) as session:
            load_demo(session, customers=args.customers, months=args.months, seed=0)
            customers = list(session.scalars(select(Customer.id)))
        if args.warm:
            # A first stream builds every customer's indicator state, as a day of events would.
            warm = realtime_bench.plan_stream(customers, events=2000, batch=50, tag="WU", seed=1)
            realtime_bench.run_intake(db, warm)
            realtime_bench.drain(db, 1)
        stream = realtime_bench.plan_stream(
            customers, events=args.events, batch=50, tag="PF", seed=random.randrange(10**6)
        )
        if args.phase == "intake":
            with _sampled(spy, args.rate, args.out):
                intake = realtime_bench.run_intake(db, stream)
            print(
                f"{args.backend}: {args.customers} customers, {args.months} months; intake of "
                f"{intake['events']} events in {intake['transactions']} transactions: "
                f"{intake['seconds']:.2f} s ({intake['events'] / intake['seconds']:.0f} events/s)"
            )
            summarise(Path(args.out), args.top, within="pipeline/intake.py")
            return
        intake = realtime_bench.run_intake(db, stream)
        rows = realtime_bench.queued_rows(db)
        with _sampled(spy, args.rate, args.out):
            drained = realtime_bench.drain(db, args.workers)
        print(
            f"{args.backend}: {args.customers} customers, {args.months} months; "
            f"{intake['events']} events in {intake['transactions']} transactions queued "
            f"{rows} rows; drained by {args.workers} worker(s) in {drained['seconds']:.2f} s "
            f"({intake['events'] / drained['seconds']:.0f} events/s)"
        )
        print("ms in steps:", drained["ms_in_steps"])
        summarise(Path(args.out), args.top)
    finally:
        db.drop()


if __name__ == "__main__":
    main()
