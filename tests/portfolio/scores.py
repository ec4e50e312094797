"""Hand-made scores for the rating migration over the portfolio of seed.py (2026Q3: from
2026-06-30 to 2026-09-30), on the demo scorecard's rating scale (AAA best ... C worst).

    a: BBB (May) -> A (Aug)            upgraded; a BB scored in October is after the quarter
    b: AA (on 30 Jun itself) -> AA     unchanged; a C stored by an unfinished run is unread
    c: A (Mar) -> CCC (30 Sep)         downgraded; of two scores that day the later one counts
    d: none -> B (Aug)                 newly rated
    merged: AAA -> C                   never counted
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from riskdesk.models import CustomerScore, Scorecard, ScorecardVersion, ScoringRun
from riskdesk.security import service as security_service
from tests.portfolio.seed import Book

RATINGS = (
    ("AAA", 900, 1000), ("AA", 820, 899), ("A", 740, 819), ("BBB", 660, 739),
    ("BB", 580, 659), ("B", 500, 579), ("CCC", 400, 499), ("C", 0, 399),
)  # fmt: skip
TIER = {"AAA": "low", "AA": "low", "A": "low", "BBB": "medium", "BB": "medium", "B": "high",
        "CCC": "critical", "C": "critical"}  # fmt: skip


def _at(day: dt.date, hour: int = 8) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


def seed_scores(session: Session, book: Book) -> None:
    """The scores above, under an active scorecard version carrying the rating scale."""
    manager = security_service.get_user_by_username_or_raise(session, "manager").id
    card = Scorecard(code="migration-test", name="Migration test", segments=[])
    session.add(card)
    session.flush()
    definition: dict[str, Any] = {
        "ratings": [{"code": c, "min": lo, "max": hi} for c, lo, hi in reversed(RATINGS)],
        "tiers": [],
        "factors": [],
    }
    version = ScorecardVersion(
        scorecard_id=card.id, version=1, status="active", definition=definition,
        created_by_id=manager, updated_by_id=manager,
    )  # fmt: skip
    storing = ScoringRun(trigger="test", as_of=dt.date(2026, 9, 1), status="storing")
    session.add_all([version, storing])
    session.flush()

    def score(customer: int, day: dt.date, rating: str, hour: int = 8, run: int | None = None):  # type: ignore[no-untyped-def]
        session.add(
            CustomerScore(
                customer_id=customer, scorecard_version_id=version.id, run_id=run, as_of=day,
                scored_at=_at(day, hour), score=500, rating=rating, risk_tier=TIER[rating],
                factors={}, reasons=[],
            )
        )  # fmt: skip

    d = dt.date
    score(book.a, d(2026, 5, 1), "BBB")
    score(book.a, d(2026, 8, 1), "A")
    score(book.a, d(2026, 10, 5), "BB")
    score(book.b, d(2026, 6, 30), "AA")
    score(book.b, d(2026, 7, 15), "AA")
    score(book.b, d(2026, 9, 1), "C", run=storing.id)
    score(book.c, d(2026, 3, 1), "A")
    score(book.c, d(2026, 9, 30), "B", hour=8)
    score(book.c, d(2026, 9, 30), "CCC", hour=9)
    score(book.d, d(2026, 8, 1), "B")
    score(book.merged, d(2026, 1, 1), "AAA")
    score(book.merged, d(2026, 8, 1), "C")
    session.flush()
