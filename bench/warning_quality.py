"""How well the default rule pack finds the behaviours the demo generator injected.

    PYTHONPATH=. .venv/bin/python bench/warning_quality.py [--customers 2000] [--months 24]

Loads the demo population into a fresh SQLite database (the normal intake; the demo installs the
default rule pack and runs it once over everyone), then compares the customers each group of
rules alerted on with the customers the generator gave that behaviour (``demo_behaviours``):

- precision: of the customers the group alerted on, the share that have the behaviour;
- recall: of the customers with the behaviour (onset on or before the last day), the share the
  group alerted on.

It also times evaluating the whole pack over everyone, and for one customer.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
from riskdesk.demo.loader import load_demo
from riskdesk.kit.timeutil import today
from riskdesk.migrations import runner
from riskdesk.models import Alert, DemoBehaviour
from riskdesk.monitoring import service

GROUPS = {
    "deteriorating": ("new_overdue", "paying_late", "ageing_worsening", "score_drop"),
    "slow_payer": ("paying_late", "new_overdue"),
    "return_abuser": ("return_abuse", "returns_without_reason"),
    "reseller": ("resale_frequency", "order_size_spike"),
    "churner": ("drifting_away",),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--months", type=int, default=24)
    args = parser.parse_args()
    engine = make_engine(f"sqlite:///{Path(tempfile.mkdtemp()) / 'quality.db'}")
    runner.upgrade(engine)
    factory = make_sessionmaker(engine)
    started = time.perf_counter()
    with unit_of_work(factory) as session:
        load_demo(session, customers=args.customers, months=args.months, seed=0)
    load_seconds = time.perf_counter() - started
    with unit_of_work(factory) as session:
        started = time.perf_counter()
        batch = service.evaluate(session, None)
        batch_seconds = time.perf_counter() - started
        one = session.scalar(select(Alert.customer_id).limit(1))
        started = time.perf_counter()
        for _ in range(20):
            service.evaluate(session, [one])
        one_ms = (time.perf_counter() - started) / 20 * 1000
        session.rollback()  # the timing runs only refreshed alerts; keep the demo's as loaded
    with unit_of_work(factory) as session:
        day = today()
        labels: dict[str, set[int]] = {}
        for cid, behaviour, onset in session.execute(
            select(DemoBehaviour.customer_id, DemoBehaviour.behaviour, DemoBehaviour.onset_date)
        ):
            if cid is not None and (onset is None or onset <= day):
                labels.setdefault(behaviour, set()).add(cid)
        alerted: dict[str, set[int]] = {}
        for cid, code in session.execute(select(Alert.customer_id, Alert.rule_code)):
            alerted.setdefault(code, set()).add(cid)
    results = []
    for behaviour, codes in GROUPS.items():
        flagged = set().union(*(alerted.get(c, set()) for c in codes))
        truth = labels.get(behaviour, set())
        hit = flagged & truth
        results.append(
            {
                "behaviour": behaviour,
                "rules": list(codes),
                "customers_with_behaviour": len(truth),
                "alerted": len(flagged),
                "precision": round(len(hit) / len(flagged), 3) if flagged else None,
                "recall": round(len(hit) / len(truth), 3) if truth else None,
            }
        )
        print(json.dumps(results[-1]))
    print(
        json.dumps(
            {
                "customers": args.customers,
                "months": args.months,
                "demo_load_s": round(load_seconds, 1),
                "pack_over_everyone_s": round(batch_seconds, 3),
                "customers_evaluated": batch.customers,
                "pack_for_one_customer_ms": round(one_ms, 1),
                "alerts_by_rule": {k: len(v) for k, v in sorted(alerted.items())},
            }
        )
    )


if __name__ == "__main__":
    main()
