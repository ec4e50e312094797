"""What the committee pack tests add to the portfolio of tests/portfolio/seed.py and the scores
of tests/portfolio/scores.py: alerts of two rules this month, and two ECL runs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import Alert, EclRun
from tests.portfolio.seed import Book


def _row(bucket: str, balance: str, rate: float, ecl: str) -> dict[str, Any]:
    return {
        "segment": "portfolio", "bucket": bucket, "rates_from": "portfolio", "base": "0",
        "rolled": "0", "stayed": "0", "roll_rate": rate, "historical_rate": rate,
        "multiplier": 1.0, "adjusted_rate": rate, "balance": balance, "ecl": ecl,
    }  # fmt: skip


def seed_pack(session: Session, book: Book) -> None:
    """Alerts: rule pack_pay (default_risk) thrice on a, one confirmed and one a false alarm,
    one escalated; rule pack_churn (churn) once on d, open. ECL: 1,000.00 then 1,500.00."""
    day, now = today(), utcnow()

    def alert(cid: int, rule: str, kind: str, status: str, **extra: object) -> None:
        session.add(
            Alert(
                customer_id=cid, source="rule", rule_code=rule, category="payment",
                warning_type=kind, severity="high", status=status, title_en="t", title_zh="t",
                evidence={}, observed_on=day, due_at=now + dt.timedelta(days=2), **extra,
            )
        )  # fmt: skip

    alert(book.a, "pack_pay", "default_risk", "resolved", outcome="confirmed")
    alert(book.a, "pack_pay", "default_risk", "dismissed", outcome="false_alarm")
    alert(book.a, "pack_pay", "default_risk", "acknowledged", escalation_level=1)
    alert(book.d, "pack_churn", "churn", "open")
    for as_of, rows, total in (
        (day - dt.timedelta(days=35), [_row("current", "40000.00", 0.01, "400.00"),
                                       _row("1_30", "6000.00", 0.1, "600.00")], "1000.00"),
        (day, [_row("current", "50000.00", 0.01, "500.00"),
               _row("1_30", "10000.00", 0.1, "1000.00")], "1500.00"),
    ):  # fmt: skip
        session.add(
            EclRun(
                as_of=as_of, lookback_months=12, inputs_hash=f"pack-{as_of}", customers=3,
                total_balance=sum(Decimal(r["balance"]) for r in rows), total_ecl=Decimal(total),
                matrix=rows, month_end_balances=[], adjustments=[],
            )
        )  # fmt: skip
    session.flush()
