"""The customer credit report PDF: is it ready in 2 s (issue 15, deliverable 3)?

    PYTHONPATH=.:src .venv/bin/python bench/credit_report_bench.py [--customers 300]
        [--months 24] [--warm 10] [--backend sqlite|postgresql]
        [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Loads a demo population (the generator `make run` uses) into a fresh database, raises the
early warnings over it, records a few order credit checks and a limit request for the customer
with the richest history (most invoices, statements, bureau reports and alerts), then asks the
app for ``GET /api/v1/customers/{id}/report.pdf`` through its ASGI interface, as a credit
manager: the whole request (reads, document, PDF, audit entry). Prints, in seconds:

- ``font_face_build``: cutting the working face from Noto Sans SC, once per installation
  (``riskdesk serve`` does it in the background at start, then writes one small PDF: with
  ``--warm-up`` the benchmark does the same before the first report);
- ``cold``: the first report of a fresh app in this process (the face on disk);
- ``warm``: the next reports (median, slowest), each in both languages in turn;
- the split of one warm report between gathering the document and drawing the PDF;
- CPU seconds beside wall seconds, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from bench import databases
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from riskdesk import bootstrap
from riskdesk.alerts import service as alert_service
from riskdesk.credit import service as credit_service
from riskdesk.credit.schemas import CreditCheckIn
from riskdesk.db import unit_of_work
from riskdesk.demo.loader import load_demo
from riskdesk.main import create_app
from riskdesk.models import Alert, CreditReport, Customer, FinancialStatement, Invoice
from riskdesk.policy import service as policy_service
from riskdesk.policy.schemas import LimitRequestIn
from riskdesk.reports import credit_report as report_service
from riskdesk.reports import fonts, pdf
from riskdesk.reports.formatting import View, translator
from riskdesk.security import service as security_service


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def richest(session) -> int:  # type: ignore[no-untyped-def]
    """The customer with the most history across the report's sections."""

    def counts(model, column) -> dict[int, int]:  # type: ignore[no-untyped-def]
        rows = session.execute(select(column, func.count()).group_by(column)).all()
        return {int(cid): int(n) for cid, n in rows if cid is not None}

    invoices = counts(Invoice, Invoice.customer_id)
    statements = counts(FinancialStatement, FinancialStatement.customer_id)
    bureau = counts(CreditReport, CreditReport.customer_id)
    alerts = counts(Alert, Alert.customer_id)
    ids = session.scalars(select(Customer.id).where(Customer.kind == "company")).all()
    return max(
        ids,
        key=lambda c: (
            min(statements.get(c, 0), 3) + min(bureau.get(c, 0), 2) + min(alerts.get(c, 0), 5),
            invoices.get(c, 0),
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--warm", type=int, default=10)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--warm-up", action="store_true", help="as `riskdesk serve` starts")
    parser.add_argument("--profile", action="store_true", help="cProfile one PDF (to stderr)")
    parser.add_argument("--db-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    databases.throwaway_keyring()
    bootstrap.install()
    db = databases.open_database(args.backend, args.db_url, "credit_report")
    data_dir = Path(tempfile.mkdtemp(prefix="rd-report-bench-"))
    result: dict[str, object] = {"backend": args.backend, "customers": args.customers}
    try:
        started = time.perf_counter()
        with unit_of_work(db.factory) as session:
            load_demo(session, customers=args.customers, months=args.months, seed=0)
        with unit_of_work(db.factory) as session:
            alert_service.install_default_pack(session)
            alert_service.evaluate(session, None)
        with unit_of_work(db.factory) as session:
            customer_id = richest(session)
            code = session.get(Customer, customer_id).code  # type: ignore[union-attr]
        for n in range(5):
            # A check reads before it writes: each in a transaction of its own.
            with unit_of_work(db.factory) as session:
                manager = security_service.get_user_by_username_or_raise(session, "manager")
                principal = security_service.system_principal(session, manager)
                body = CreditCheckIn(
                    source="bench",
                    order_external_id=f"SO-{n}",
                    customer_code=code,
                    amount=Decimal(20000 * (n + 1)),
                    currency="CNY",
                )
                credit_service.check_order(session, principal, body)
        with unit_of_work(db.factory) as session:
            analyst = security_service.get_user_by_username_or_raise(session, "analyst")
            policy_service.request_limit(
                session,
                security_service.system_principal(session, analyst),
                customer_id,
                LimitRequestIn(requested_limit=Decimal("500000"), reason="busy season"),
            )
        result["load_seconds"] = round(time.perf_counter() - started, 1)
        result["customer_id"] = customer_id

        wall, spent = time.perf_counter(), cpu()
        fonts.working_face(data_dir)
        if args.warm_up:
            pdf.warm_up(data_dir)
        result["warmed_up"] = args.warm_up
        result["font_face_build"] = {
            "wall": round(time.perf_counter() - wall, 2),
            "cpu": round(cpu() - spent, 2),
        }

        settings = databases.quiet_settings(data_dir=data_dir)
        app = create_app(settings, session_factory=db.factory)
        with unit_of_work(db.factory) as session:
            user = security_service.get_user_by_username_or_raise(session, "manager")
            scopes = sorted(p.value for p in security_service.permissions_for(user.role))
            _, token = security_service.issue_token(session, user=user, name="bench", scopes=scopes)
        client = TestClient(app)
        client.headers["Authorization"] = f"Bearer {token}"
        url = f"/api/v1/customers/{customer_id}/report.pdf"

        def timed(lang: str) -> tuple[float, float, int]:
            wall, spent = time.perf_counter(), cpu()
            answer = client.get(url, params={"lang": lang})
            assert answer.status_code == 200, answer.text
            return time.perf_counter() - wall, cpu() - spent, len(answer.content)

        cold = timed("zh-CN")
        result["cold"] = {"wall": round(cold[0], 3), "cpu": round(cold[1], 3), "bytes": cold[2]}
        warm = [timed("zh-CN" if n % 2 == 0 else "en") for n in range(args.warm)]
        walls = sorted(w for w, _, _ in warm)
        result["warm"] = {
            "median_wall": round(statistics.median(walls), 3),
            "max_wall": round(walls[-1], 3),
            "median_cpu": round(statistics.median(c for _, c, _ in warm), 3),
            "bytes": [b for _, _, b in warm[:2]],
        }
        with unit_of_work(db.factory) as session:
            manager = security_service.get_user_by_username_or_raise(session, "manager")
            principal = security_service.system_principal(session, manager)
            wall = time.perf_counter()
            report = report_service.build(session, principal, customer_id)
            gathered = time.perf_counter() - wall
            wall = time.perf_counter()
            if args.profile:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                profiler.runcall(pdf.render, report, View("zh-CN", translator("zh-CN")), data_dir)
                pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(45)
            else:
                pdf.render(report, View("zh-CN", translator("zh-CN")), data_dir)
            drawn = time.perf_counter() - wall
            result["split"] = {
                "document": round(gathered, 3),
                "pdf": round(drawn, 3),
                "whole_face_needed": pdf.needs_full_face(report),
                "sections": {
                    "statements": len(report.statements),
                    "bureau": len(report.bureau),
                    "alerts": len(report.alerts),
                    "decisions": len(report.decisions),
                    "limit_requests": len(report.limit_requests),
                    "payment_measures": len(report.payment_behaviour),
                    "scores": len(report.score_history),
                },
            }
        worst = max(cold[0], walls[-1])
        result["ready_within_2s"] = worst <= 2.0
    finally:
        db.drop()
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
