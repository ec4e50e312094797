"""Periodic reviews: due dates by tier, the queue, the evidence captured, sign-off and its
follow-ups."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from riskdesk.kit.timeutil import today
from riskdesk.models import CreditProfile
from riskdesk.policy import service
from riskdesk.policy.service import _add_months
from tests.policy.test_policy import _customers
from tests.scoring.test_service import _active, card


def _tier(db, cid: int, tier: str, **values) -> None:  # type: ignore[no-untyped-def]
    db.execute(
        update(CreditProfile)
        .where(CreditProfile.customer_id == cid)
        .values(risk_tier=tier, **values)
    )
    db.commit()


def _profile(db, cid: int) -> CreditProfile:  # type: ignore[no-untyped-def]
    db.expire_all()
    profile = db.get(CreditProfile, cid)
    assert profile is not None
    return profile


def test_due_dates_follow_the_tier(db) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(db)  # M1 medium, H1 high, P1 without a tier
    assert service.schedule_reviews(db) == 2
    assert _profile(db, ids["M1"]).next_review_date == _add_months(today(), 6)
    assert _profile(db, ids["H1"]).next_review_date == _add_months(today(), 3)
    assert _profile(db, ids["P1"]).next_review_date is None
    assert service.schedule_reviews(db) == 0  # nothing new
    # Riskier: critical reviews monthly, so the date comes in; safer never pushes it out.
    _tier(db, ids["M1"], "critical")
    _tier(db, ids["H1"], "low")
    assert service.schedule_reviews(db) == 1
    assert _profile(db, ids["M1"]).next_review_date == _add_months(today(), 1)
    assert _profile(db, ids["H1"]).next_review_date == _add_months(today(), 3)
    # After a review the schedule counts from the last review.
    last = today() - dt.timedelta(days=20)
    _tier(db, ids["H1"], "critical", last_review_date=last)
    service.schedule_reviews(db)
    assert _profile(db, ids["H1"]).next_review_date == _add_months(last, 1)


def test_scoring_run_schedules_reviews(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(db)
    _active(db, client_for, manager, card())
    assert manager.post("/api/v1/scoring-runs", json={}).status_code == 201
    profile = _profile(db, ids["H1"])
    assert profile.risk_tier is not None and profile.next_review_date is not None


def test_queue_review_and_sign_off(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(db)
    _tier(db, ids["M1"], "medium", next_review_date=today() - dt.timedelta(days=3))
    _tier(db, ids["H1"], "high", next_review_date=today() + dt.timedelta(days=10))
    _tier(db, ids["P1"], "low", next_review_date=today() + dt.timedelta(days=200))
    queue = manager.get("/api/v1/reviews/queue").json()
    assert [(e["customer_id"], e["overdue"]) for e in queue] == [
        (ids["M1"], True),
        (ids["H1"], False),
    ]
    sales = client_for("sales")  # owns M1 only
    assert [e["customer_id"] for e in sales.get("/api/v1/reviews/queue").json()] == [ids["M1"]]
    assert sales.post(f"/api/v1/customers/{ids['M1']}/reviews").status_code == 403
    analyst = client_for("analyst")
    opened = analyst.post(f"/api/v1/customers/{ids['M1']}/reviews")
    assert opened.status_code == 201, opened.text
    review = opened.json()
    assert review["status"] == "open" and review["risk_tier"] == "medium"
    assert review["due_date"] == (today() - dt.timedelta(days=3)).isoformat()
    evidence = review["evidence"]
    assert evidence["exposure"]["credit_limit"] == "10000.00"
    assert "dpd_max" in evidence["indicators"]
    assert evidence["recommendation"]["risk_tier"] == "medium"
    again = analyst.post(f"/api/v1/customers/{ids['M1']}/reviews")
    assert again.status_code == 200 and again.json()["id"] == review["id"]
    assert manager.get("/api/v1/reviews/queue").json()[0]["open_review_id"] == review["id"]
    missing = analyst.post(
        f"/api/v1/reviews/{review['id']}/complete",
        json={"outcome": "limit_change", "comment": "raise it"},
    )
    assert missing.status_code == 422 and "new_limit" in missing.text
    done = analyst.post(
        f"/api/v1/reviews/{review['id']}/complete",
        json={"outcome": "limit_change", "comment": "pays on time", "new_limit": "25000.00"},
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "completed" and body["signed_off_by_id"] is not None
    assert body["next_review_date"] == _add_months(today(), 6).isoformat()
    assert body["limit_request_id"] is not None
    request = manager.get("/api/v1/limit-requests", params={"customer_id": ids["M1"]}).json()[0]
    assert request["requested_limit"] == "25000.00" and request["status"] == "pending"
    profile = _profile(db, ids["M1"])
    assert profile.last_review_date == today()
    entry = manager.get(f"/api/v1/customers/{ids['M1']}/history").json()[0]
    assert entry["action"] == "review"
    assert {c["field"] for c in entry["changes"]} == {"last_review_date", "next_review_date"}
    twice = analyst.post(
        f"/api/v1/reviews/{review['id']}/complete",
        json={"outcome": "confirmed", "comment": "again"},
    )
    assert twice.status_code == 409
    assert [e["customer_id"] for e in manager.get("/api/v1/reviews/queue").json()] == [ids["H1"]]


def test_block_and_lower_limit_go_to_the_approval_queue(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(db)
    analyst = client_for("analyst")
    first = analyst.post(f"/api/v1/customers/{ids['H1']}/reviews").json()
    blocked = analyst.post(
        f"/api/v1/reviews/{first['id']}/complete",
        json={"outcome": "block", "comment": "insolvency filing found"},
    ).json()
    pending = manager.get(f"/api/v1/customers/{ids['H1']}/pending-changes").json()
    assert pending[0]["id"] == blocked["pending_change_id"]
    assert {c["field"]: c["new"] for c in pending[0]["changes"]} == {
        "blocked": "true",
        "blocked_reason": "insolvency filing found",
    }
    second = analyst.post(f"/api/v1/customers/{ids['M1']}/reviews").json()
    lower = analyst.post(
        f"/api/v1/reviews/{second['id']}/complete",
        json={"outcome": "limit_change", "comment": "sales fell", "new_limit": "4000.00"},
    ).json()
    assert lower["pending_change_id"] is not None and lower["limit_request_id"] is None
    history = manager.get(f"/api/v1/customers/{ids['M1']}/reviews").json()
    assert [r["outcome"] for r in history] == ["limit_change"]
