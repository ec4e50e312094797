"""What the first scoring run of a month adds by keeping the models' matured performance.

    PYTHONPATH=.:src .venv/bin/python bench/matured_bench.py [--backend sqlite|postgresql]
        [--customers 2000] [--months 24] [--rounds 3]
        [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

A fresh database gets the demo population (``--customers`` over ``--months``) and a WoE
scorecard model trained on its history (a challenger, as `make run` trains). Then, alternately
in each round, the read phase of a scoring run (``scoring.service.plan_rescore``: everyone's
indicators, model scores and scorecard scores from one snapshot) is timed three times: as the
first run since the model was trained (nothing kept: 12 month ends computed from the
history), as a month's first run after that (11 months kept, the one that matured since
computed), and as a later run of the month (all kept, nothing computed). Also timed alone:
``registry.matured_due`` with nothing kept. Prints medians as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time

from bench import databases
from sqlalchemy import update

from riskdesk import bootstrap
from riskdesk.db import reading, unit_of_work
from riskdesk.demo.loader import load_demo
from riskdesk.kit.timeutil import today
from riskdesk.models import ModelVersion
from riskdesk.scoring import registry
from riskdesk.scoring import service as scoring_service
from riskdesk.security import service as security_service


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    databases.throwaway_keyring()
    bootstrap.install()
    db = databases.open_database(args.backend, args.db_url, "matured")
    try:
        started = time.perf_counter()
        with unit_of_work(db.factory) as session:
            load_demo(session, customers=args.customers, months=args.months, seed=0)
        loaded_s = time.perf_counter() - started
        observation = today() - dt.timedelta(days=365)
        with reading(db.factory) as session:
            user = security_service.get_user_by_username_or_raise(session, "analyst")
            principal = security_service.system_principal(session, user)
            X, y, _ = registry.history_dataset(session, observation, 365)
        trained = registry.fit_model(
            principal, family="scorecard", X=X, y=y, monotone={}, folds=3, seed=0
        )
        with unit_of_work(db.factory) as session:
            version = registry.store_model(
                session, principal, trained, name="bench", data_source="history",
                target="90+ dpd", observation=observation, horizon_days=365,
            )  # fmt: skip
            version_id = version.id

        with reading(db.factory) as session:
            rows = registry.matured_due(session, today())[version_id]
        last_month = today().replace(day=1) - dt.timedelta(days=1)

        def kept(on: dt.date | None, performance: list[dict[str, object]] | None) -> None:
            with unit_of_work(db.factory) as session:
                session.execute(
                    update(ModelVersion)
                    .where(ModelVersion.id == version_id)
                    .values(matured_as_of=on, matured_performance=performance)
                )

        def plan() -> tuple[float, int]:
            with reading(db.factory) as session:
                t0 = time.perf_counter()
                found = scoring_service.plan_rescore(session)
                return time.perf_counter() - t0, len(found.matured)

        first, month, later, alone = [], [], [], []
        for _ in range(args.rounds):
            kept(None, None)
            seconds, due = plan()
            assert due == 1
            first.append(seconds)
            kept(last_month, rows[:-1])
            seconds, due = plan()
            assert due == 1
            month.append(seconds)
            kept(today(), rows)
            seconds, due = plan()
            assert due == 0
            later.append(seconds)
            kept(None, None)
            with reading(db.factory) as session:
                t0 = time.perf_counter()
                registry.matured_due(session, today())
                alone.append(time.perf_counter() - t0)
        print(json.dumps({
            "backend": args.backend, "customers": args.customers, "months": args.months,
            "demo_load_s": round(loaded_s, 1), "rounds": args.rounds,
            "plan_first_since_training_s": round(statistics.median(first), 2),
            "plan_month_first_run_s": round(statistics.median(month), 2),
            "plan_later_run_s": round(statistics.median(later), 2),
            "matured_due_alone_s": round(statistics.median(alone), 2),
            "first_over_later": round(statistics.median(first) / statistics.median(later), 2),
            "month_over_later": round(statistics.median(month) / statistics.median(later), 2),
        }))  # fmt: skip
    finally:
        db.drop()


if __name__ == "__main__":
    main()
