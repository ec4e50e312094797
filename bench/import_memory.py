"""Peak memory of importing one large file, measured in a process of its own.

    PYTHONPATH=. .venv/bin/python bench/import_memory.py --rows 1000000 [--format csv|xlsx]
        [--backend sqlite|postgresql] [--pg-url URL]

The parent builds a file of ROWS orders (one line each, 2,000 customers) and starts a child
that creates a throwaway database with those customers, resets its peak resident set size
(Linux: /proc/self/clear_refs), imports the file through the same path as `riskdesk import`
and reports the peak (VmHWM) and the time. So the figure is the import's, not the setup's or
the file builder's. The file's bytes are in the child's memory before the reset, as an upload
would be.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def child(path: str, backend: str, pg_url: str, customers: int) -> None:
    """Set up a database, then import the file and print what it cost, as JSON."""
    from bench import databases
    from tests.factories import uscc

    from riskdesk import bootstrap
    from riskdesk.db import unit_of_work
    from riskdesk.kit.intake import Item
    from riskdesk.pipeline import intake
    from riskdesk.security import service as security_service
    from riskdesk.security.permissions import Role

    databases.throwaway_keyring()
    bootstrap.install()  # the audit trail's hooks, as every entry point
    db = databases.open_database(backend, pg_url, "memory")
    try:
        with unit_of_work(db.factory) as session:
            security_service.create_user(
                session,
                username="bench",
                display_name="bench",
                role=Role.CREDIT_MANAGER,
                password="Quiet-harbour-lamp-2026",
            )

        def load(session):  # type: ignore[no-untyped-def]
            user = security_service.get_user_by_username_or_raise(session, "bench")
            return security_service.system_principal(session, user)

        rows = [
            {
                "source": "erp",
                "external_id": f"BC{i:05d}",
                "kind": "company",
                "name": f"基准测试公司{i}有限公司",
                "tax_id": uscc(900000 + i),
            }
            for i in range(customers)
        ]
        with unit_of_work(db.factory) as session:
            intake.ingest_items(
                session,
                load(session),
                "customers",
                [Item(row=n, raw=r) for n, r in enumerate(rows, start=1)],
                skip_invalid=False,
                channel="bench",
            )
        content = Path(path).read_bytes()
        baseline = _status_kb("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # peak RSS starts again from here
        started = time.perf_counter()
        result = intake.import_file(
            db.factory,
            load,
            kind="orders",
            content=content,
            filename=Path(path).name,
            mapping=None,
            skip_invalid=False,
        )
        elapsed = time.perf_counter() - started
        print(
            json.dumps(
                {
                    "status": result.job.status,
                    "created": result.job.created_count,
                    "message": result.job.message,
                    "seconds": round(elapsed, 1),
                    "rss_before_mb": round(baseline / 1024),
                    "peak_mb": round(_status_kb("VmHWM") / 1024),
                    "file_mb": round(len(content) / 2**20, 1),
                }
            )
        )
    finally:
        db.drop()


def build(rows: int, customers: int, fmt: str, directory: Path) -> Path:
    """The orders file, written once."""
    from bench.import_bench import build_orders

    frame = build_orders(rows, customers, "MO")
    path = directory / f"orders.{fmt}"
    if fmt == "csv":
        frame.write_csv(path)
    else:
        frame.write_excel(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.backend, args.pg_url, args.customers)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = build(args.rows, args.customers, args.format, Path(tmp))
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(path),
                "--backend",
                args.backend,
                "--pg-url",
                args.pg_url,
                "--customers",
                str(args.customers),
            ],
            capture_output=True,
            text=True,
        )
        if out.returncode:
            sys.exit(out.stderr)
        figures = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"{args.backend}, {args.rows:,} order rows as {args.format} ({figures['file_mb']} MB): "
        f"{figures['status']}, created {figures['created']:,} in {figures['seconds']} s; "
        f"resident before {figures['rss_before_mb']} MB, peak during the import "
        f"{figures['peak_mb']} MB"
    )
    if figures["message"]:
        print("message:", figures["message"])


if __name__ == "__main__":
    main()
