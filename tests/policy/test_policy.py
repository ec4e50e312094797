"""Credit policy by tier: the recommended-limit formula, limit requests decided within the
approval matrix (four eyes, expiry, delegation), and applying a recommendation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from sqlalchemy import update

from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import CreditProfile, IndicatorSnapshot, LimitRequest
from riskdesk.policy.formula import INPUT_COLUMNS, recommend
from tests.conftest import ingest, principal
from tests.factories import company, resident_id
from tests.security.test_auth import login


def policies() -> pl.DataFrame:
    from riskdesk.policy.formula import POLICY_COLUMNS

    rows = [
        ("low", 1.2, 60, False, 12, 0.2, 0.1, True, 0.0, None, 1000.0),
        ("medium", 1.0, 45, False, 6, 0.15, 0.08, True, 0.0, None, 1000.0),
        ("high", 0.6, 30, False, 3, 0.1, 0.05, True, 5000.0, 100000.0, 500.0),
        ("critical", 0.0, 0, True, 1, 0.05, 0.02, True, 0.0, None, 1000.0),
    ]
    return pl.DataFrame(rows, schema=POLICY_COLUMNS, orient="row")


def customers(*rows: dict[str, Any]) -> pl.DataFrame:
    base = {c: None for c in INPUT_COLUMNS}
    return pl.DataFrame([base | r for r in rows], schema=INPUT_COLUMNS)


def test_formula_caps_bounds_and_rounds() -> None:
    out = recommend(
        customers(
            # 120,000 a year: 10,000 a month x 45/30 x 1.0 = 15,000; equity cap 50,000 x 0.15
            {"customer_id": 1, "kind": "company", "risk_tier": "medium",
             "orders_amount_365d": 120000.0, "equity": 50000.0, "revenue": 1e6},
            # no statements: the formula alone; 10,000 x 60/30 x 1.2 = 24,000
            {"customer_id": 2, "kind": "company", "risk_tier": "low",
             "orders_amount_365d": 120000.0},
            # an individual: no equity cap, but the bureau's limit caps
            {"customer_id": 3, "kind": "individual", "risk_tier": "low",
             "orders_amount_365d": 120000.0, "equity": 10.0, "bureau_recommended_limit": 8800.0},
            # high tier: 10,000 x 30/30 x 0.6 = 6,000 -> at least 5,000, steps of 500
            {"customer_id": 4, "kind": "company", "risk_tier": "high",
             "orders_amount_365d": 120000.0},
            {"customer_id": 5, "kind": "company", "risk_tier": "high", "orders_amount_365d": 0.0},
            {"customer_id": 6, "kind": "company", "risk_tier": None,
             "orders_amount_365d": 120000.0},
            {"customer_id": 7, "kind": "company", "risk_tier": "critical",
             "orders_amount_365d": 120000.0},
        ),
        policies(),
    )  # fmt: skip
    by = {r["customer_id"]: r for r in out.to_dicts()}
    assert by[1]["formula_limit"] == pytest.approx(15000)
    assert by[1]["equity_cap"] == pytest.approx(7500)
    assert by[1]["recommended_limit"] == 7000
    assert by[2]["recommended_limit"] == 24000 and by[2]["equity_cap"] is None
    assert by[3]["equity_cap"] is None and by[3]["recommended_limit"] == 8000
    assert by[4]["recommended_limit"] == 6000
    assert by[5]["recommended_limit"] == 5000
    assert by[6]["recommended_limit"] is None
    assert by[7]["recommended_limit"] == 0 and by[7]["prepayment_required"] is True
    assert by[7]["review_months"] == 1


def _customers(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    from riskdesk.customers import repository as customer_repo

    p = principal(db, "manager")
    ingest(
        db,
        p,
        "customers",
        [
            company("M1", owner="sales", credit_limit="10000.00"),
            company("H1", credit_limit="50000.00"),
            {"source": "erp", "external_id": "P1", "kind": "individual", "name": "李四",
             "national_id": resident_id(4), "credit_limit": "1000.00",
             "consents": [{"purpose": "credit_assessment", "granted": True,
                           "notice_version": "2026-01"}]},
        ],
    )  # fmt: skip
    refs = customer_repo.customer_ids_by_ref(db, {("erp", x) for x in ("M1", "H1", "P1")})
    ids = {ext: cid for (_, ext), cid in refs.items()}
    for ext, tier in (("M1", "medium"), ("H1", "high")):
        db.execute(
            update(CreditProfile)
            .where(CreditProfile.customer_id == ids[ext])
            .values(risk_tier=tier, score=650 if tier == "medium" else 450)
        )
    db.commit()
    return ids


def test_request_approved_within_authority_updates_the_file(db, client_for, manager) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(db)
    sales = client_for("sales")
    body = {"requested_limit": "300000.00", "reason": "new distribution contract"}
    made = sales.post(f"/api/v1/customers/{ids['M1']}/limit-requests", json=body)
    assert made.status_code == 201, made.text
    req = made.json()
    assert (req["status"], req["origin"], req["risk_tier"]) == ("pending", "sales", "medium")
    assert req["current_limit"] == "10000.00"
    again = sales.post(f"/api/v1/customers/{ids['M1']}/limit-requests", json=body)
    assert again.status_code == 200 and again.json()["id"] == req["id"]
    other = sales.post(
        f"/api/v1/customers/{ids['M1']}/limit-requests", json=body | {"requested_limit": "5"}
    )
    assert other.status_code == 409 and other.json()["error"]["code"] == "request_pending"
    # Sales see only their customers.
    assert sales.post(f"/api/v1/customers/{ids['H1']}/limit-requests", json=body).status_code == 404
    assert sales.post(f"/api/v1/limit-requests/{req['id']}/approve", json={}).status_code == 403
    analyst = client_for("analyst")
    ok = analyst.post(f"/api/v1/limit-requests/{req['id']}/approve", json={"comment": "fine"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "approved" and ok.json()["on_behalf_of_id"] is None
    customer = manager.get(f"/api/v1/customers/{ids['M1']}").json()
    assert customer["profile"]["credit_limit"] == "300000.00"
    entry = manager.get(f"/api/v1/customers/{ids['M1']}/history").json()[0]
    assert entry["action"] == "limit_request" and entry["channel"] == "limit_request"
    assert entry["changed_by"]["username"] == "sales"
    assert entry["approved_by"]["username"] == "analyst"
    assert entry["changes"][0]["new"] == "300000.00"
    twice = analyst.post(f"/api/v1/limit-requests/{req['id']}/approve", json={})
    assert twice.status_code == 409


def test_authority_matrix_four_eyes_and_delegation(db, client_for, manager) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(db)
    body = {"requested_limit": "900000.00", "reason": "group guarantee received"}
    req = manager.post(f"/api/v1/customers/{ids['H1']}/limit-requests", json=body).json()
    own = manager.post(f"/api/v1/limit-requests/{req['id']}/approve", json={})
    assert own.status_code == 403 and own.json()["error"]["code"] == "four_eyes"
    analyst = client_for("analyst")
    # Risk analysts approve low and medium tiers only; H1 is high.
    beyond = analyst.post(f"/api/v1/limit-requests/{req['id']}/approve", json={})
    assert beyond.status_code == 403 and beyond.json()["error"]["code"] == "beyond_authority"
    manager2 = client_for("manager2")
    start, end = today().isoformat(), (today() + dt.timedelta(days=7)).isoformat()
    d = manager2.post(
        "/api/v1/approval-delegations",
        json={"to_username": "analyst", "valid_from": start, "valid_to": end, "reason": "leave"},
    )
    assert d.status_code == 201, d.text
    assert manager2.post("/api/v1/approval-delegations", json={
        "to_username": "analyst", "valid_from": start, "valid_to": end, "reason": "leave"
    }).status_code == 200  # fmt: skip
    revoked = manager2.post(f"/api/v1/approval-delegations/{d.json()['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    still = analyst.post(f"/api/v1/limit-requests/{req['id']}/approve", json={})
    assert still.status_code == 403
    d2 = manager2.post(
        "/api/v1/approval-delegations",
        json={"to_username": "analyst", "valid_from": start, "valid_to": end},
    ).json()
    ok = analyst.post(f"/api/v1/limit-requests/{req['id']}/approve", json={})
    assert ok.status_code == 200, ok.text
    manager2_id = d2["from_user_id"]
    assert ok.json()["on_behalf_of_id"] == manager2_id
    # The matrix itself: a larger amount than any row allows is refused even for managers.
    big = manager.post(
        f"/api/v1/customers/{ids['M1']}/limit-requests",
        json={"requested_limit": "9000000.00", "reason": "too much"},
    ).json()
    refused = manager2.post(f"/api/v1/limit-requests/{big['id']}/approve", json={})
    assert refused.status_code == 403 and "5,000,000.00" in refused.json()["error"]["message"]
    row = manager.post(
        "/api/v1/approval-authorities",
        json={"username": "manager2", "tier": "medium", "max_limit": "10000000.00"},
    )
    assert row.status_code == 201
    assert manager2.post(f"/api/v1/limit-requests/{big['id']}/approve", json={}).status_code == 200


def test_a_delegation_goes_only_to_someone_who_approves_and_lends_only_what_is_held(  # type: ignore[no-untyped-def]
    db, client_for, manager
) -> None:
    from riskdesk.security import service as security_service

    start, end = today().isoformat(), (today() + dt.timedelta(days=7)).isoformat()
    period = {"valid_from": start, "valid_to": end, "reason": "leave"}
    manager2 = client_for("manager2")
    # Sales, customer service, auditors and admins cannot approve: no delegation to them.
    for username in ("sales", "service", "auditor", "admin"):
        refused = manager2.post(
            "/api/v1/approval-delegations", json={"to_username": username, **period}
        )
        assert refused.status_code == 422, (username, refused.text)
        error = refused.json()["error"]
        assert (error["code"], error["field"]) == ("delegate_cannot_approve", "to_username")
        assert username in error["message"]
    assert manager2.get("/api/v1/approval-delegations").json() == []
    # An analyst whose role has no row left in the matrix has no authority to lend.
    analyst = client_for("analyst")
    for row in manager.get("/api/v1/approval-authorities").json():
        if row["role"] == "risk_analyst":
            assert manager.delete(f"/api/v1/approval-authorities/{row['id']}").status_code == 204
    empty = analyst.post("/api/v1/approval-delegations", json={"to_username": "manager", **period})
    assert empty.status_code == 403
    assert empty.json()["error"]["code"] == "no_authority_to_delegate"
    # A delegation lends what the delegator holds today: nothing once their role cannot approve,
    # even with a row of their own in the matrix.
    ids = _customers(db)
    big = manager.post(
        f"/api/v1/customers/{ids['M1']}/limit-requests",
        json={"requested_limit": "9000000.00", "reason": "group guarantee"},
    ).json()
    manager.post(
        "/api/v1/approval-authorities",
        json={"username": "manager2", "tier": "medium", "max_limit": "10000000.00"},
    )
    made = manager2.post("/api/v1/approval-delegations", json={"to_username": "analyst", **period})
    assert made.status_code == 201, made.text
    security_service.set_role(db, username="manager2", role="sales")
    db.commit()
    beyond = analyst.post(f"/api/v1/limit-requests/{big['id']}/approve", json={})
    assert beyond.status_code == 403 and beyond.json()["error"]["code"] == "beyond_authority"
    security_service.set_role(db, username="manager2", role="credit_manager")
    db.commit()
    lent = analyst.post(f"/api/v1/limit-requests/{big['id']}/approve", json={})
    assert lent.status_code == 200, lent.text


def test_requests_expire_and_stale_requests_are_refused(db, client_for, manager) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(db)
    old = manager.post(
        f"/api/v1/customers/{ids['M1']}/limit-requests",
        json={"requested_limit": "20000.00", "reason": "season", "expires_in_days": 1},
    ).json()
    db.execute(
        update(LimitRequest)
        .where(LimitRequest.id == old["id"])
        .values(expires_at=utcnow() - dt.timedelta(minutes=1))
    )
    db.commit()
    late = client_for("manager2").post(f"/api/v1/limit-requests/{old['id']}/approve", json={})
    assert late.status_code == 409 and "expired" in late.json()["error"]["message"]
    listed = manager.get("/api/v1/limit-requests", params={"customer_id": ids["M1"]}).json()
    assert [r["status"] for r in listed] == ["expired"]
    # A new request; meanwhile the limit changes another way: approving it now is refused.
    fresh = manager.post(
        f"/api/v1/customers/{ids['M1']}/limit-requests",
        json={"requested_limit": "20000.00", "reason": "season"},
    ).json()
    db.execute(
        update(CreditProfile)
        .where(CreditProfile.customer_id == ids["M1"])
        .values(credit_limit=Decimal("15000"))
    )
    db.commit()
    stale = client_for("manager2").post(f"/api/v1/limit-requests/{fresh['id']}/approve", json={})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_change"
    withdrawn = manager.post(f"/api/v1/limit-requests/{fresh['id']}/reject", json={})
    assert withdrawn.json()["status"] == "withdrawn"


def test_recommendation_shown_and_applied(db, client_for, manager) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(db)
    snapshot = db.get(IndicatorSnapshot, ids["M1"])
    if snapshot is None:
        snapshot = IndicatorSnapshot(customer_id=ids["M1"], as_of=today(), computed_at=utcnow())
        db.add(snapshot)
    snapshot.values = {"orders_amount_365d": 240000.0}
    db.commit()
    rec = manager.get(f"/api/v1/customers/{ids['M1']}/limit-recommendation")
    assert rec.status_code == 200, rec.text
    r = rec.json()
    # 20,000 a month x 45/30 x 1.0
    assert (r["risk_tier"], r["recommended_limit"], r["current_limit"]) == (
        "medium",
        "30000.00",
        "10000.00",
    )
    assert (r["payment_terms_days"], r["review_months"]) == (45, 6)
    applied = manager.post(f"/api/v1/customers/{ids['M1']}/limit-recommendation/apply")
    assert applied.status_code == 200, applied.text
    created = applied.json()
    requests = manager.get("/api/v1/limit-requests", params={"customer_id": ids["M1"]}).json()
    assert requests[0]["id"] == created["limit_request_id"]
    assert (requests[0]["origin"], requests[0]["requested_limit"]) == ("policy", "30000.00")
    # The terms (30 -> 45 days) wait for a second person like any critical field.
    pending = manager.get("/api/v1/pending-changes", params={"customer_id": ids["M1"]}).json()
    assert pending[0]["id"] == created["pending_change_id"]
    assert {c["field"] for c in pending[0]["changes"]} == {"payment_terms_days"}
    # Applying again changes nothing new.
    again = manager.post(f"/api/v1/customers/{ids['M1']}/limit-recommendation/apply").json()
    assert again["limit_request_id"] == created["limit_request_id"]
    assert again["pending_change_id"] is None
    unrated = manager.post(f"/api/v1/customers/{ids['P1']}/limit-recommendation/apply")
    assert unrated.status_code == 409 and unrated.json()["error"]["code"] == "no_recommendation"
    # Without consent to assess them, nothing is recommended and applying says why.
    client_for("manager").post(
        f"/api/v1/customers/{ids['P1']}/consents",
        json={"purpose": "credit_assessment", "granted": False, "notice_version": "2026-01"},
    )
    refused = manager.post(f"/api/v1/customers/{ids['P1']}/limit-recommendation/apply")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "consent_missing"


def test_a_small_recommendation_says_how_it_was_reached(db, app, manager) -> None:  # type: ignore[no-untyped-def]
    """350 a month on 45 days is 525 by the formula, rounded down to the tier's step of 1,000:
    a recommendation of 0, which the API and the credit file explain with the tier's terms."""
    ids = _customers(db)
    snapshot = db.get(IndicatorSnapshot, ids["M1"])
    if snapshot is None:
        snapshot = IndicatorSnapshot(customer_id=ids["M1"], as_of=today(), computed_at=utcnow())
        db.add(snapshot)
    snapshot.values = {"orders_amount_365d": 4200.0}
    db.commit()
    r = manager.get(f"/api/v1/customers/{ids['M1']}/limit-recommendation").json()
    assert (r["recommended_limit"], r["formula_limit"], r["round_to"]) == ("0.00", 525.0, 1000.0)
    assert (r["limit_multiplier"], r["min_limit"]) == (1.0, 0.0)
    for language, words in (
        ("zh-CN", ("月均采购 350.00 × 账期 45 天 ÷ 30 × 系数 1 = 525.00", "按 1,000.00 向下取整")),
        (
            "en",
            (
                "350.00 a month × 45 days ÷ 30 × 1 = 525.00",
                "rounded down to a multiple of 1,000.00",
            ),
        ),
    ):
        browser = login(app, "manager")
        browser.cookies.set("riskdesk_lang", language)
        page = browser.get(f"/customers/{ids['M1']}", headers={"Accept-Language": language})
        shown = page.text.split('id="limit-recommended"', 1)[1].split("</dd>", 1)[0]
        for w in words:
            assert w in shown, (language, shown)
        # The tier's 45 days are not the file's 30 until someone adopts the recommendation.
        differs = page.text.split('id="policy-not-applied">', 1)[1].split("</p>", 1)[0]
        assert ("账期 45 天" if language == "zh-CN" else "45-day terms") in differs
        assert ("账期 30 天" if language == "zh-CN" else "30-day terms") in differs


def test_policy_changes_are_validated(manager, client_for) -> None:  # type: ignore[no-untyped-def]
    listed = manager.get("/api/v1/tier-policies").json()
    assert [p["tier"] for p in listed] == ["critical", "high", "low", "medium"]
    assert {p["tier"]: p["review_months"] for p in listed} == {
        "critical": 1,
        "high": 3,
        "medium": 6,
        "low": 12,
    }
    body = {"limit_multiplier": 0.8, "payment_terms_days": 30, "review_months": 3,
            "min_limit": "1000", "max_limit": "500"}  # fmt: skip
    bad = manager.put("/api/v1/tier-policies/high", json=body)
    assert bad.status_code == 422 and "max_limit" in bad.text
    good = manager.put("/api/v1/tier-policies/high", json=body | {"max_limit": "200000"})
    assert good.status_code == 200 and good.json()["limit_multiplier"] == 0.8
    assert manager.put("/api/v1/tier-policies/extreme", json=body).status_code == 422
    assert client_for("analyst").put("/api/v1/tier-policies/high", json=body).status_code == 403
