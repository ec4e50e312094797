"""Rescoring a whole portfolio: batch indicators, then every customer scored and stored.

    PYTHONPATH=. .venv/bin/python bench/scoring_bench.py [--customers 100000] [--events 10000000]
        [--db-url URL] [--loop-sample 5000]

Builds a fresh database (SQLite file, or a fresh PostgreSQL schema) with CUSTOMERS companies,
a bureau report for a third of them and a financial statement for a quarter, and an approved
scorecard of eight factors (indicators, company ratios, a bureau score, an attribute). It
generates the same synthetic event history as ``catalogue_bench.py`` and times:

- batch indicators: ``indicators.compute.compute`` over all events (Polars);
- scoring: ``scoring.service.score_customers`` over everyone with those indicators - reading
  attributes, reports and statements, computing ratios, scoring vectorised, and writing one
  score row per customer plus the credit profiles, in one transaction;
- scoring only, vectorised (``engine.score_frame`` over everyone), against the alternative in
  the same run: ``engine.score_one`` in a Python loop per customer, on LOOP_SAMPLE customers,
  scaled to the portfolio (neither writes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import polars as pl
from bench import databases
from bench.catalogue_bench import AS_OF, generate
from sqlalchemy import insert, text

from riskdesk import bootstrap
from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
from riskdesk.indicators.compute import SCHEMAS, compute
from riskdesk.migrations import runner
from riskdesk.models import (
    CreditProfile,
    CreditReport,
    Customer,
    FinancialStatement,
)
from riskdesk.scoring import service
from riskdesk.scoring.definition import Definition
from riskdesk.scoring.engine import score_frame, score_one
from riskdesk.scoring.schemas import ScorecardCreate
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role

RATINGS = [
    {"code": "AAA", "min": 900, "max": 1000},
    {"code": "AA", "min": 800, "max": 899},
    {"code": "A", "min": 700, "max": 799},
    {"code": "BBB", "min": 600, "max": 699},
    {"code": "BB", "min": 500, "max": 599},
    {"code": "B", "min": 400, "max": 499},
    {"code": "C", "min": 0, "max": 399},
]
TIERS = [
    {"code": "critical", "min": 0, "max": 399},
    {"code": "high", "min": 400, "max": 599},
    {"code": "medium", "min": 600, "max": 799},
    {"code": "low", "min": 800, "max": 1000},
]


def definition() -> dict[str, Any]:
    """Eight factors of every source."""

    def bins(cuts: list[float], points: list[int]) -> list[dict[str, Any]]:
        edges: list[float | None] = [None, *cuts, None]
        return [
            {"lower": lo, "upper": hi, "points": p}
            for (lo, hi), p in zip(itertools.pairwise(edges), points, strict=True)
        ]

    return {
        "base_points": 100,
        "factors": [
            {"code": "dpd", "source": "indicator", "name": "dpd_max",
             "bins": bins([1, 31, 91], [200, 120, 40, 0]), "missing_points": 100},
            {"code": "paydex", "source": "indicator", "name": "paydex",
             "weight": {"points": 150, "lower": 20, "upper": 100}, "missing_points": 60},
            {"code": "overdue", "source": "indicator", "name": "overdue_ratio",
             "bins": bins([0.05, 0.2, 0.5], [100, 70, 30, 0]), "missing_points": 100},
            {"code": "returns", "source": "indicator", "name": "return_rate_365d",
             "bins": bins([0.05, 0.15], [80, 40, 0]), "missing_points": 60},
            {"code": "activity", "source": "indicator", "name": "purchase_activity_ratio_30d",
             "bins": bins([0.3, 0.8], [0, 40, 60]), "missing_points": 20},
            {"code": "altman", "source": "ratio", "name": "altman_score",
             "bins": bins([1.1, 2.6], [0, 50, 100]), "missing_points": 40},
            {"code": "bureau", "source": "bureau", "name": "bureau_score",
             "weight": {"points": 150, "lower": 300, "upper": 900}, "missing_points": 60},
            {"code": "segment", "source": "attribute", "name": "segment",
             "bins": [{"values": ["b2b_enterprise"], "points": 60},
                      {"values": ["b2b_sme"], "points": 40}], "missing_points": 20},
        ],
        "ratings": RATINGS,
        "tiers": TIERS,
    }  # fmt: skip


def populate(factory: Any, customers: pl.DataFrame) -> None:
    """Customers with profiles, some bureau reports and statements, two users, a scorecard."""
    n = customers.height
    now = dt.datetime.now(dt.UTC)
    with unit_of_work(factory) as session:
        rows = [
            {"id": cid, "kind": "company", "company_name": f"基准客户{cid}有限公司",
             "segment": seg, "status": "active", "version": 1, "created_at": now,
             "updated_at": now}
            for cid, seg in customers.iter_rows()
        ]  # fmt: skip
        for i in range(0, n, 5000):
            session.execute(insert(Customer), rows[i : i + 5000])
            session.execute(
                insert(CreditProfile),
                [{"customer_id": r["id"], "payment_terms_days": 30} for r in rows[i : i + 5000]],
            )
        reports = [
            {"customer_id": cid, "source": "bureau", "external_id": f"R{cid}",
             "report_date": AS_OF - dt.timedelta(days=cid % 300), "score": 300 + cid % 600,
             "content_hash": "0" * 64, "created_at": now}
            for cid in range(1, n + 1, 3)
        ]  # fmt: skip
        statements = [
            {"customer_id": cid, "period_end": dt.date(2025, 12, 31), "period_type": "annual",
             "currency": "CNY", "total_assets": 1000 + cid % 500, "current_assets": 500,
             "current_liabilities": 200 + cid % 300, "retained_earnings": 100, "ebit": 80,
             "equity": 400, "total_liabilities": 600 + cid % 500, "revenue": 1500,
             "created_at": now}
            for cid in range(1, n + 1, 4)
        ]  # fmt: skip
        for part in range(0, len(reports), 5000):
            session.execute(insert(CreditReport), reports[part : part + 5000])
        for part in range(0, len(statements), 5000):
            session.execute(insert(FinancialStatement), statements[part : part + 5000])
        users = [
            security_service.create_user(
                session, username=u, display_name=u, role=Role.CREDIT_MANAGER,
                password="Quiet-harbour-lamp-2026",
            )
            for u in ("author", "approver")
        ]  # fmt: skip
        author, approver = (security_service.system_principal(session, u) for u in users)
        _, draft, _ = service.create_scorecard(
            session,
            author,
            ScorecardCreate.model_validate(
                {"code": "bench", "name": "Bench", "definition": definition()}
            ),
        )
        service.approve(session, approver, draft.id, None)


def main() -> None:
    databases.throwaway_keyring()
    bootstrap.install()  # the audit trail's hooks, as every entry point
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--db-url", default=None)
    parser.add_argument("--loop-sample", type=int, default=5000)
    args = parser.parse_args()
    schema = None
    if args.db_url:
        schema = f"rdscore_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.db_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(args.db_url, connect_args={"options": f"-csearch_path={schema}"})
        label = "postgresql"
    else:
        engine = make_engine(f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}")
        label = "sqlite"
    runner.upgrade(engine)
    factory = make_sessionmaker(engine)
    frames = generate(args.customers, args.events)
    populate(factory, frames.customers)

    started = time.perf_counter()
    indicators = compute(frames, AS_OF)
    t_indicators = time.perf_counter() - started

    with unit_of_work(factory) as session:
        started = time.perf_counter()
        summary = service.score_customers(
            session, None, trigger="bench", as_of=AS_OF, indicators=indicators
        )
        session.flush()
        t_scoring = time.perf_counter() - started
        started = time.perf_counter()
    t_commit = time.perf_counter() - started

    # The alternative: one customer at a time in Python (scoring only), on a sample.
    with unit_of_work(factory) as session:
        d = Definition.model_validate(definition())
        values = service.factor_frame(
            session, None, AS_OF, {"indicator", "ratio", "bureau", "attribute"}, indicators
        ).head(args.loop_sample)
        renamed = values.select(
            "customer_id", *[pl.col(f"{f.source}.{f.name}").alias(f.code) for f in d.factors]
        )
        started = time.perf_counter()
        for row in renamed.iter_rows(named=True):
            score_one(d, row)
        t_loop = (time.perf_counter() - started) * args.customers / renamed.height
        everyone = service.factor_frame(
            session, None, AS_OF, {"indicator", "ratio", "bureau", "attribute"}, indicators
        ).select("customer_id", *[pl.col(f"{f.source}.{f.name}").alias(f.code) for f in d.factors])
        started = time.perf_counter()
        score_frame(d, everyone)
        t_vector = time.perf_counter() - started

    print(
        json.dumps(
            {
                "backend": label,
                "customers": args.customers,
                "event_rows": sum(getattr(frames, name).height for name in SCHEMAS),
                "scored": summary.scored,
                "batch_indicators_s": round(t_indicators, 2),
                "scoring_and_store_s": round(t_scoring, 2),
                "commit_s": round(t_commit, 2),
                "vectorised_scoring_only_s": round(t_vector, 3),
                "python_loop_scoring_only_s_scaled": round(t_loop, 2),
                "loop_sample": renamed.height,
            }
        )
    )
    engine.dispose()
    if schema:
        admin = make_engine(args.db_url)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
