"""Warning quality on demo populations: the alerts open right after the demo loads, and the
warning pack replayed month end by month end over the last year, judged against the
behaviours the generator injected (labels read only to score).

    PYTHONPATH=. .venv/bin/python bench/warning_replay.py [--customers 2000] [--months 24] \
        [--seed 0] [--end-date 2026-11-30] [--replay-months 12] [--out FILE.json]

Run it for two populations (two seeds, two sizes) to see that figures hold beyond the one the
pack was tuned on. Loads into a throwaway SQLite database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

from bench import databases
from sqlalchemy import func, select

from riskdesk import bootstrap
from riskdesk.db import reading, unit_of_work
from riskdesk.demo.loader import load_demo
from riskdesk.models import Alert, Customer
from riskdesk.monitoring import replay
from riskdesk.monitoring import repository as monitoring_repo


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--end-date", default="2026-11-30")
    parser.add_argument("--replay-months", type=int, default=12)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    end = dt.date.fromisoformat(args.end_date)
    databases.throwaway_keyring()
    bootstrap.install()  # the audit trail's hooks, as every entry point
    db = databases.open_database("sqlite", "", "warning_replay")
    try:
        started = time.perf_counter()
        with unit_of_work(db.factory) as session:
            load_demo(
                session, customers=args.customers, months=args.months, seed=args.seed, end_date=end
            )
        loaded = time.perf_counter() - started
        with reading(db.factory) as session:
            customers = session.scalar(select(func.count()).select_from(Customer)) or 0
            open_alerts = (
                session.scalar(
                    select(func.count(func.distinct(Alert.customer_id))).where(
                        Alert.status.not_in(("resolved", "dismissed")),
                        Alert.customer_id.is_not(None),
                    )
                )
                or 0
            )
            # How the open alerts were graded (severity from stake and backtested precision).
            severities = dict(
                session.execute(
                    select(Alert.severity, func.count())
                    .where(Alert.status.not_in(("resolved", "dismissed")))
                    .group_by(Alert.severity)
                ).all()
            )
            start = (end.replace(day=1) - dt.timedelta(days=31 * (args.replay_months - 1))).replace(
                day=1
            )
            started = time.perf_counter()
            report = replay.run(
                session, start=start, end=end, labels=monitoring_repo.demo_labels(session)
            )
            seconds = time.perf_counter() - started
    finally:
        db.drop()
    report["after_load"] = {
        "customers": customers,
        "with_open_alert": open_alerts,
        "share": round(open_alerts / customers, 4) if customers else None,
        "load_seconds": round(loaded, 1),
        "open_alerts_by_severity": severities,
    }
    report["replay_seconds"] = round(seconds, 1)
    print(
        f"{args.customers} customers, seed {args.seed}: {open_alerts} with an open alert after "
        f"load ({report['after_load']['share']:.1%}); replay {start} - {end} in {seconds:.1f} s"
    )
    print(f"open at the replay's end: {report['open_at_end']}")
    print(f"open alerts after load by severity: {severities}")
    for name, entry in report["labels"]["behaviours"].items():
        print(
            f"  {name:14} customers {entry['customers']:4}  recall {entry['recall']}  "
            f"precision {entry['precision']}  flagged {entry['flagged_customers']}  "
            f"lead {entry['median_lead_days']}"
        )
    for name, entry in report["labels"]["decoys"].items():
        print(
            f"  decoy {name:14} ({entry['resembles']}) {entry['flagged']} of "
            f"{entry['customers']} flagged ({entry['flagged_share']})"
        )
    for code, entry in report["types"].items():
        print(
            f"  type {code:22} alerts {entry['alerts']:5}  customers {entry['customers_flagged']:5}"
            f"  precision {entry.get('precision')}  recall {entry.get('recall')}"
            f"  lead {entry.get('median_lead_days')}"
        )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
