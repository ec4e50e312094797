"""How well the default rule pack finds the behaviours the demo generator injected.

    PYTHONPATH=. .venv/bin/python bench/warning_quality.py [--customers 2000] [--months 24]

Loads the demo population into a fresh SQLite database (the normal intake; the demo installs the
default rule pack and runs it once over everyone), then compares the customers each group of
rules alerted on with the customers the generator gave that behaviour (``demo_behaviours``):

- precision: of the customers the group alerted on, the share that have the behaviour;
- recall: of the customers with the behaviour (onset on or before the last day), the share the
  group alerted on.

It also times evaluating the whole pack over everyone, and for one customer, and measures the
detectors and models against the same labels:

- the anomaly detectors (robust z-scores and IsolationForest): precision against the injected
  problem behaviours (all but good payers and new customers), the share of good payers flagged,
  recall per behaviour;
- churn risk (BG/NBD combined with the decline signals, fitted by the demo): precision and recall
  of the "high" band for churners, beside p_alive alone below 0.5;
- complaint surges per product: the check run as of every week end of the last 26 weeks, against
  the complaint wave the generator injected (its product and start; it lasts 3-6 weeks): the
  first week it is flagged, and every other product-week flagged (false alarms).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
from bench import databases
from sqlalchemy import select

from riskdesk.alerts import service as alert_service
from riskdesk.complaints import repository as complaints_repo
from riskdesk.complaints import service as complaints_service
from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
from riskdesk.demo.loader import load_demo
from riskdesk.kit.timeutil import today, utcnow
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
    databases.throwaway_keyring()
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
        batch = alert_service.evaluate(session, None)
        batch_seconds = time.perf_counter() - started
        one = session.scalar(select(Alert.customer_id).limit(1))
        started = time.perf_counter()
        for _ in range(20):
            alert_service.evaluate(session, [one])
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
    extra = _detectors(factory, labels)
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
                **extra,
            }
        )
    )


def _detectors(factory: Any, labels: dict[str, set[int]]) -> dict[str, Any]:
    """Anomaly, churn-risk and complaint-surge quality against the demo's labels."""
    # Good payers are the ordinary customers; new customers have no history to depart from.
    unusual = set().union(
        *(v for k, v in labels.items() if k not in ("good_payer", "new_customer"))
    )
    out: dict[str, Any] = {}
    with unit_of_work(factory) as session:
        started = time.perf_counter()
        alert_service.detect_anomalies(session)
        out["anomaly_run_s"] = round(time.perf_counter() - started, 2)
        flagged = {
            cid
            for (cid,) in session.execute(
                select(Alert.customer_id).where(Alert.rule_code.like("anomaly_%"))
            )
        }
        out["anomaly"] = {
            "alerted": len(flagged),
            "precision_any_behaviour": _ratio(len(flagged & unusual), len(flagged)),
            "good_payers_flagged": _ratio(
                len(flagged & labels.get("good_payer", set())), len(labels.get("good_payer", ()))
            ),
            "recall_by_behaviour": {
                k: _ratio(len(flagged & v), len(v)) for k, v in sorted(labels.items())
            },
        }
        risk = service.churn_risk(session, None)
        churners = labels.get("churner", set())
        for name, expr in (
            ("churn_risk_high", pl.col("band") == "high"),
            ("p_alive_below_half", pl.col("p_alive") < 0.5),
        ):
            picked = set(risk.filter(expr)["customer_id"].to_list())
            out[name] = {
                "flagged": len(picked),
                "precision": _ratio(len(picked & churners), len(picked)),
                "recall": _ratio(len(picked & churners), len(churners)),
            }
        wave = session.execute(
            select(DemoBehaviour.onset_date, DemoBehaviour.detail).where(
                DemoBehaviour.behaviour == "complaint_wave"
            )
        ).first()
        frame = complaints_repo.complaint_frame(session, utcnow() - dt.timedelta(days=26 * 7 + 120))
        session.rollback()  # the measurements raised alerts; keep the demo as loaded
    cfg = complaints_service.SurgeConfig()
    first_hit, false_alarms, weeks = None, 0, 0
    end = utcnow()
    for back in range(26, -1, -1):  # week ends, oldest first
        as_of = end - dt.timedelta(weeks=back)
        weeks += 1
        for product in complaints_service.surges(frame, as_of, cfg)["product"].to_list():
            in_wave = (
                wave is not None
                and product == wave.detail
                and wave.onset_date <= as_of.date() <= wave.onset_date + dt.timedelta(days=42 + 14)
            )
            if in_wave and first_hit is None:
                first_hit = as_of.date()
            elif not in_wave:
                false_alarms += 1
    out["complaint_surge"] = {
        "wave_product": wave.detail if wave else None,
        "wave_start": wave.onset_date.isoformat() if wave else None,
        "weeks_checked": weeks,
        "first_flagged": first_hit.isoformat() if first_hit else None,
        "days_after_start": (first_hit - wave.onset_date).days if first_hit and wave else None,
        "false_alarm_product_weeks": false_alarms,
    }
    return out


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


if __name__ == "__main__":
    main()
