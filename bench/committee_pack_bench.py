"""The monthly credit committee pack at the demo size: how long the PDF and the .xlsx take.

    PYTHONPATH=.:src .venv/bin/python bench/committee_pack_bench.py [--customers 500]
        [--months 13] [--rounds 3] [--backend sqlite|postgresql]
        [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Loads a demo population (the generator `make run` uses: scores, alerts from the default rules)
into a fresh database, scores everyone again as of the end of the previous quarter (so the
rating migration has two dates to compare), stores an ECL run as of the end of last month and
one a month earlier (the movement), then, as a credit manager, for last month: gathers the pack
(``committee.build``; ``--month`` another, such as this one, whose alerts the demo raised
today), draws the PDF (Chinese and English) and writes the .xlsx. The font's
working face is built first (once per installation, as `riskdesk serve` does at start). Prints
the median of ``--rounds`` (after one warm-up) in seconds, and the slowest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import databases

from riskdesk import bootstrap
from riskdesk.db import unit_of_work
from riskdesk.demo.loader import load_demo
from riskdesk.ecl import service as ecl_service
from riskdesk.kit.timeutil import today
from riskdesk.portfolio import migration
from riskdesk.reports import committee, committee_pdf, committee_xlsx, fonts, pdf
from riskdesk.reports.formatting import View, translator
from riskdesk.scoring import service as scoring_service
from riskdesk.security import service as security_service


def timed(rounds: int, work: Callable[[], Any]) -> dict[str, float]:
    """Median and slowest of ``rounds`` runs after one warm-up."""
    work()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return {"median": round(statistics.median(times), 3), "slowest": round(max(times), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--month", help="e.g. 2026-12 (default: last month)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--db-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    databases.throwaway_keyring()
    bootstrap.install()
    db = databases.open_database(args.backend, args.db_url, "committee_pack")
    data_dir = Path(tempfile.mkdtemp(prefix="rd-pack-bench-"))
    day = today()
    month_end = day.replace(day=1) - dt.timedelta(days=1)
    result: dict[str, Any] = {"backend": args.backend, "customers": args.customers}
    try:
        started = time.perf_counter()
        with unit_of_work(db.factory) as session:
            load_demo(session, customers=args.customers, months=args.months, seed=0)
        _, quarter_start, _ = migration.period(migration.quarter_of(month_end), day)
        with unit_of_work(db.factory) as session:
            scoring_service.score_customers(session, None, trigger="bench", as_of=quarter_start)
        with unit_of_work(db.factory) as session:
            for as_of in ((month_end.replace(day=1) - dt.timedelta(days=1)), month_end):
                plan = ecl_service.plan_run(session, as_of=as_of, lookback_months=6)
                ecl_service.store_run(session, plan, None)
        result["load_seconds"] = round(time.perf_counter() - started, 1)
        fonts.working_face(data_dir)
        pdf.warm_up(data_dir)

        month = args.month or committee.month_of(month_end)
        with db.factory() as session:
            manager = security_service.get_user_by_username_or_raise(session, "manager")
            principal = security_service.system_principal(session, manager)

            def build() -> committee.CommitteePack:
                return committee.build(session, principal, month=month)

            pack = build()
            result["pack"] = {
                "month": month,
                "customers": pack.summary.totals.customers,
                "rated_both": pack.migration.rated_both,
                "alerts": pack.warnings_total.raised,
                "warning_rows": len(pack.warnings),
                "ecl_run": pack.ecl.run_id if pack.ecl else None,
            }
            result["gather"] = timed(args.rounds, build)
            for locale in ("zh-CN", "en"):
                view = View(locale, translator(locale))
                result[f"pdf_draw_{locale}"] = timed(
                    args.rounds, lambda v=view: committee_pdf.render(pack, v, data_dir)
                )
                result[f"pdf_total_{locale}"] = timed(
                    args.rounds,
                    lambda v=view: committee_pdf.render(build(), v, data_dir),
                )
            t = translator("zh-CN")
            result["xlsx_total_zh-CN"] = timed(
                args.rounds, lambda: committee_xlsx.write(io.BytesIO(), build(), t)
            )
            size = io.BytesIO()
            committee_xlsx.write(size, pack, t)
            result["xlsx_bytes"] = len(size.getvalue())
            result["pdf_bytes"] = len(committee_pdf.render(pack, View("zh-CN", t), data_dir))
        print(json.dumps(result, indent=2, ensure_ascii=False))
    finally:
        db.drop()


if __name__ == "__main__":
    main()
