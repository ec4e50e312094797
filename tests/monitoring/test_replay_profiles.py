"""Replays put back the credit limits, payment terms and risk tiers of each past date."""

from __future__ import annotations

import datetime as dt

import polars as pl

from riskdesk.monitoring import pack
from riskdesk.monitoring import repository as monitoring_repo
from tests.customers.test_endpoints import create
from tests.factories import company

D = dt.date


def test_profiles_as_of_a_past_date() -> None:
    now = pl.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "risk_tier": ["low", "high", "medium"],
            "credit_limit": [250_000.0, 80_000.0, 10_000.0],
            "payment_terms_days": [60.0, 30.0, 30.0],
        }
    )
    # 1's limit went 100,000 -> 200,000 on 1 March, -> 250,000 on 1 June, its terms 30 -> 60 on
    # 1 June; 2's limit was first set on 1 May (nothing before).
    changes = pl.DataFrame(
        {
            "customer_id": [1, 2, 1, 1],
            "field": ["credit_limit", "credit_limit", "credit_limit", "payment_terms_days"],
            "changed_on": [D(2026, 3, 1), D(2026, 5, 1), D(2026, 6, 1), D(2026, 6, 1)],
            "old_value": ["100000.00", None, "200000.00", "30"],
        }
    )
    # 2 was first scored in April (high), then low in July; 1 and 3 were never scored: their
    # tier is what was set by hand, today's.
    scores = pl.DataFrame(
        {
            "customer_id": [2, 2],
            "as_of": [D(2026, 4, 30), D(2026, 7, 31)],
            "seq": [1, 2],
            "risk_tier": ["high", "low"],
        }
    )

    def on(day: dt.date) -> list[tuple[object, ...]]:
        return pack.profiles_as_of(now, changes, scores, day).sort("customer_id").rows()

    assert on(D(2026, 2, 1)) == [
        (1, "low", 100_000.0, 30.0),
        (2, None, None, 30.0),
        (3, "medium", 10_000.0, 30.0),
    ]
    assert on(D(2026, 5, 15)) == [
        (1, "low", 200_000.0, 30.0),
        (2, "high", 80_000.0, 30.0),
        (3, "medium", 10_000.0, 30.0),
    ]
    assert (
        on(D(2026, 8, 1)) == now.with_columns(risk_tier=pl.Series(["low", "low", "medium"])).rows()
    )


def test_the_change_log_gives_the_old_limit(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    customer_id = create(manager, company("R1"))
    pending = client_for("analyst").patch(
        f"/api/v1/customers/{customer_id}", json={"credit_limit": "250000", "reason": "review"}
    )
    change = pending.json()["pending_change"]["id"]
    assert manager.post(f"/api/v1/pending-changes/{change}/approve", json={}).status_code == 200
    changes = monitoring_repo.profile_changes(db).filter(pl.col("customer_id") == customer_id)
    assert changes.select("field", "old_value").rows() == [("credit_limit", "100000.00")]
    now = monitoring_repo.static_profiles(db)
    scores = monitoring_repo.score_history(db, None)
    yesterday = dt.date.today() - dt.timedelta(days=1)
    before = pack.profiles_as_of(now, changes, scores, yesterday).filter(
        pl.col("customer_id") == customer_id
    )
    assert before["credit_limit"].to_list() == [100_000.0]
    today = pack.profiles_as_of(now, changes, scores, dt.date.today())
    assert today.filter(pl.col("customer_id") == customer_id)["credit_limit"].to_list() == [
        250_000.0
    ]
