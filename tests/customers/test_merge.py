"""A merge leaves nothing behind: the duplicate's debt, reservations, held orders, alerts,
consents and group follow its events to the survivor, so the survivor's credit checks see the
whole debt and stored exposure still equals what `exposure verify` recomputes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from riskdesk.credit import service as credit_service
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import (
    Alert,
    AlertCase,
    CreditExposure,
    Customer,
    IndicatorSnapshot,
)
from tests.factories import company, person


def _day(offset: int) -> str:
    return (today() + dt.timedelta(days=offset)).isoformat()


def create(client, record) -> int:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/customers", json=record)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def post(client, kind: str, body: dict) -> None:  # type: ignore[no-untyped-def,type-arg]
    response = client.post(f"/api/v1/{kind}", json=body)
    assert response.status_code == 201, response.text


def invoice(ext: str, customer: str, amount: str, *, due_in: int = 25) -> dict:  # type: ignore[type-arg]
    """An invoice not yet due: only the limit can stop a check."""
    return {
        "source": "erp",
        "external_id": ext,
        "customer_external_id": customer,
        "amount": amount,
        "currency": "CNY",
        "issue_date": _day(-5),
        "due_date": _day(due_in),
    }


def check(client, ext: str, amount: str, customer: str):  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/credit-checks",
        json={
            "source": "erp",
            "order_external_id": ext,
            "customer_external_id": customer,
            "customer_source": "erp",
            "amount": amount,
            "currency": "CNY",
        },
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def merge(client, survivor: int, duplicate: int):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/customers/{survivor}/merge",
        json={"duplicate_id": duplicate, "reason": "the same company, entered twice"},
    )


def stored(db, cid: int) -> dict[str, Decimal]:  # type: ignore[no-untyped-def]
    rows = db.execute(
        select(CreditExposure.category, CreditExposure.amount).where(
            CreditExposure.customer_id == cid
        )
    )
    return {cat: Decimal(amount) for cat, amount in rows if Decimal(amount) != 0}


def test_merged_debt_counts_against_the_survivors_limit(db, manager) -> None:  # type: ignore[no-untyped-def]
    # The case from the field: A owed 1,260,588.52, B's limit was 112,000, and after merging A
    # into B a 100,000 check for B was approved.
    a = create(manager, company("MG-A", credit_limit="2000000"))
    b = create(manager, company("MG-B", credit_limit="112000"))
    post(manager, "invoices", invoice("MG-I1", "MG-A", "1000000.00"))
    post(manager, "invoices", invoice("MG-I2", "MG-A", "260588.52"))
    assert merge(manager, b, a).status_code == 200
    decision = check(manager, "MG-SO1", "100000.00", "MG-B")
    assert decision["outcome"] in ("hold", "reject"), decision
    assert decision["decision"]["inputs"]["exposure"] == "1260588.52"
    assert any(
        c["code"] == "limit" and c["result"] != "pass" for c in decision["decision"]["checks"]
    )
    # Stored exposure is what the events say, for both customers.
    assert credit_service.verify(db, customer_ids=[a, b]) == []
    assert credit_service.verify(db) == []
    assert stored(db, b) == {"open_receivables": Decimal("1260588.52")}
    assert stored(db, a) == {}
    body = manager.get(f"/api/v1/customers/{b}/exposure").json()
    assert body["counted"] == "1260588.52" and body["available"] == "-1148588.52"


def test_reservations_and_held_orders_move_and_are_rechecked(db, manager) -> None:  # type: ignore[no-untyped-def]
    a = create(manager, company("MR-A", credit_limit="10000"))
    b = create(manager, company("MR-B", credit_limit="50000"))
    approved = check(manager, "MR-SO1", "4000.00", "MR-A")
    held = check(manager, "MR-SO2", "20000.00", "MR-A")
    assert (approved["outcome"], held["outcome"]) == ("approve", "hold")
    post(manager, "invoices", invoice("MR-I1", "MR-B", "1000.00"))
    assert merge(manager, b, a).status_code == 200
    decisions = {d["id"]: d for d in manager.get(f"/api/v1/customers/{b}/credit-decisions").json()}
    assert {approved["decision"]["id"], held["decision"]["id"]} <= set(decisions)
    assert manager.get(f"/api/v1/customers/{a}/credit-decisions").json() == []
    # The held order was rechecked against the survivor: 20,000 fits in 50,000 - 5,000.
    rechecked = decisions[held["decision"]["id"]]
    assert (rechecked["status"], rechecked["decided_by"]) == ("approved", "auto:merge")
    assert stored(db, b) == {"reserved": Decimal("24000.00"), "open_receivables": Decimal("1000")}
    assert stored(db, a) == {}
    assert credit_service.verify(db) == []
    # The order the duplicate's approval reserved for arrives under the old reference: it
    # consumes the reservation on the survivor.
    post(
        manager,
        "orders",
        {
            "source": "erp",
            "external_id": "MR-SO1",
            "customer_external_id": "MR-A",
            "ordered_at": f"{_day(0)}T08:00:00Z",
            "amount": "4000.00",
            "currency": "CNY",
            "payment_method": "credit",
            "lines": [{"category": "x", "amount": "4000.00"}],
        },
    )
    assert stored(db, b)["reserved"] == Decimal("20000.00")
    assert credit_service.verify(db) == []
    # A resend of the duplicate's check is recognised, not decided again.
    again = manager.post(
        "/api/v1/credit-checks",
        json={
            "source": "erp",
            "order_external_id": "MR-SO2",
            "customer_external_id": "MR-A",
            "customer_source": "erp",
            "amount": "20000.00",
            "currency": "CNY",
        },
    )
    assert again.status_code == 200 and again.json()["duplicate"] is True


def test_special_exposure_moves(db, manager) -> None:  # type: ignore[no-untyped-def]
    a = create(manager, company("MS-A"))
    b = create(manager, company("MS-B"))
    added = manager.post(
        f"/api/v1/customers/{a}/special-exposures",
        json={"category": "special", "amount": "6000", "description": "bank guarantee"},
    )
    assert added.status_code == 201, added.text
    assert merge(manager, b, a).status_code == 200
    entries = manager.get(f"/api/v1/customers/{b}/special-exposures").json()
    assert [e["id"] for e in entries] == [added.json()["id"]]
    assert stored(db, b) == {"special": Decimal("6000")}
    assert credit_service.verify(db) == []


def test_group_membership(db, manager) -> None:  # type: ignore[no-untyped-def]
    a = create(manager, company("MM-A", group_code="MMG1", group_name="甲集团"))
    b = create(manager, company("MM-B"))
    post(manager, "invoices", invoice("MM-I1", "MM-A", "3000.00"))
    assert merge(manager, b, a).status_code == 200
    survivor = manager.get(f"/api/v1/customers/{b}").json()
    assert survivor["group"]["code"] == "MMG1"
    groups = {g["code"]: g for g in manager.get("/api/v1/customer-groups").json()}
    assert (groups["MMG1"]["members"], groups["MMG1"]["exposure"]) == (1, "3000.00")
    history = manager.get(f"/api/v1/customers/{b}/history").json()
    assert {"field": "group_code", "old": None, "new": "MMG1"} in history[0]["changes"]
    # Two different groups: a person decides first.
    c = create(manager, company("MM-C", group_code="MMG2", group_name="乙集团"))
    d = create(manager, company("MM-D", group_code="MMG3", group_name="丙集团"))
    refused = merge(manager, c, d)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert (error["field"], error["code"]) == ("group_code", "merge_conflict")
    assert "MMG2" in error["message"] and "MMG3" in error["message"]
    assert manager.get(f"/api/v1/customers/{d}").json()["status"] == "active"


def test_a_block_on_the_duplicate_is_not_lost(manager, client_for) -> None:  # type: ignore[no-untyped-def]
    a = create(manager, company("MB-A"))
    b = create(manager, company("MB-B"))
    change = manager.patch(
        f"/api/v1/customers/{a}", json={"blocked": True, "blocked_reason": "fraud suspicion"}
    ).json()["pending_change"]
    approved = client_for("manager2").post(
        f"/api/v1/pending-changes/{change['id']}/approve", json={}
    )
    assert approved.status_code == 200
    refused = merge(manager, b, a)
    assert refused.status_code == 409
    assert refused.json()["error"]["field"] == "blocked"
    assert manager.get(f"/api/v1/customers/{a}").json()["status"] == "active"


def test_alerts_cases_requests_reviews_and_snapshots(db, manager) -> None:  # type: ignore[no-untyped-def]
    a = create(manager, company("MA-A"))
    b = create(manager, company("MA-B"))
    now = utcnow()
    cases = {}
    for cid in (a, b):
        case = AlertCase(customer_id=cid, status="open", opened_at=now)
        db.add(case)
        db.flush()
        cases[cid] = case.id
        db.add(
            Alert(
                customer_id=cid,
                source="rule",
                rule_code="test_rule",
                category="payment",
                warning_type="payment_deterioration",
                severity="high",
                status="open",
                title_en="test",
                title_zh="测试",
                evidence={},
                observed_on=now.date(),
                raised_at=now,
                last_hit_at=now,
                case_id=case.id,
            )
        )
    db.commit()
    post(manager, "invoices", invoice("MA-I1", "MA-A", "700.00"))
    assert db.get(IndicatorSnapshot, a) is not None
    request = manager.post(
        f"/api/v1/customers/{a}/limit-requests",
        json={"requested_limit": "150000", "reason": "more business"},
    )
    assert request.status_code == 201, request.text
    review = manager.post(f"/api/v1/customers/{a}/reviews")
    assert review.status_code == 201, review.text
    assert merge(manager, b, a).status_code == 200
    db.expire_all()
    alerts = db.scalars(select(Alert).where(Alert.rule_code == "test_rule")).all()
    assert {al.customer_id for al in alerts} == {b}
    assert {al.case_id for al in alerts} == {cases[b]}  # one open case per customer
    moved_case = db.get(AlertCase, cases[a])
    assert (moved_case.customer_id, moved_case.status) == (b, "closed")
    assert db.get(IndicatorSnapshot, a) is None
    snapshot = db.get(IndicatorSnapshot, b)
    assert snapshot is not None and snapshot.values["ar_open_total"] == 700.0
    withdrawn = manager.get("/api/v1/limit-requests", params={"customer_id": a}).json()
    assert [(r["status"], r["decision_comment"]) for r in withdrawn] == [
        ("withdrawn", "the customer was merged into another one")
    ]
    assert manager.get(f"/api/v1/reviews/{review.json()['id']}").json()["status"] == "cancelled"


def test_consents_and_legal_holds_follow_the_person(db, manager) -> None:  # type: ignore[no-untyped-def]
    a = create(manager, person("MP-A"))
    b = create(manager, person("MP-B"))
    # The person withdrew consent to credit assessment under the duplicate, after giving it
    # under the survivor: after the merge the withdrawal is what is in force.
    withdrawn = manager.post(
        f"/api/v1/customers/{a}/consents",
        json={"purpose": "credit_assessment", "granted": False, "notice_version": "2026-01"},
    )
    assert withdrawn.status_code == 201, withdrawn.text
    hold = manager.post(f"/api/v1/customers/{a}/legal-holds", json={"reason": "court order 17"})
    assert hold.status_code == 201, hold.text
    assert merge(manager, b, a).status_code == 200
    status = manager.get(f"/api/v1/customers/{b}/consents").json()
    assert status["current"]["credit_assessment"]["granted"] is False
    assert status["allowed"]["credit_assessment"] is False
    refused = manager.post(
        "/api/v1/credit-checks",
        json={
            "source": "shop",
            "order_external_id": "MP-SO1",
            "customer_code": f"C{b:07d}",
            "amount": "10.00",
            "currency": "CNY",
        },
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "consent_missing"
    holds = manager.get(f"/api/v1/customers/{b}/legal-holds").json()
    assert any("court order 17" in h["reason"] and h["released_at"] is None for h in holds)
    erase = manager.post(f"/api/v1/customers/{b}/erasure", json={"reason": "asked to"})
    assert erase.status_code == 409 and erase.json()["error"]["code"] == "legal_hold"


def test_earlier_merges_follow_and_erased_customers_are_refused(db, manager) -> None:  # type: ignore[no-untyped-def]
    x = create(manager, company("MC-X"))
    a = create(manager, company("MC-A"))
    b = create(manager, company("MC-B"))
    assert merge(manager, a, x).status_code == 200
    assert merge(manager, b, a).status_code == 200
    assert db.get(Customer, x).merged_into_id == b
    # The oldest code still reaches a live customer.
    order = {
        "source": "erp",
        "external_id": "MC-SO1",
        "customer_code": f"C{x:07d}",
        "ordered_at": f"{_day(0)}T08:00:00Z",
        "amount": "10.00",
        "currency": "CNY",
        "lines": [{"category": "x", "amount": "10.00"}],
    }
    assert manager.post("/api/v1/orders", json=order).json()["id"] is not None
    events = manager.get(f"/api/v1/customers/{b}/events").json()
    assert [e["external_id"] for e in events] == ["MC-SO1"]
    p = create(manager, person("MC-P1"))
    q = create(manager, person("MC-P2"))
    erased = manager.post(f"/api/v1/customers/{p}/erasure", json={"reason": "asked to"})
    assert erased.status_code == 200, erased.text
    refused = merge(manager, q, p)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "customer_erased"


def test_a_merge_moves_corrections_with_their_events(db, manager) -> None:  # type: ignore[no-untyped-def]
    """Corrections are events of the customer: they move with the events they correct, and
    a correction sent after the merge, naming the duplicate, is the survivor's."""
    from riskdesk.models import InvoiceAdjustment, PaymentReversal

    a = create(manager, company("MG-CA"))
    b = create(manager, company("MG-CB"))
    post(manager, "invoices", invoice("MG-CI1", "MG-CA", "1000.00"))
    pay = {"source": "erp", "external_id": "MG-CP1", "invoice_external_id": "MG-CI1",
           "amount": "1000.00", "currency": "CNY", "paid_on": _day(-3)}  # fmt: skip
    post(manager, "payments", pay)
    note = {"source": "erp", "external_id": "MG-CN1", "invoice_external_id": "MG-CI1",
            "amount": "100.00", "currency": "CNY", "issued_on": _day(-1)}  # fmt: skip
    reversal = {"source": "erp", "external_id": "MG-CV1", "payment_external_id": "MG-CP1",
                "reversed_on": _day(-2)}  # fmt: skip
    post(manager, "payment-reversals", reversal)
    post(manager, "credit-notes", note)
    assert merge(manager, b, a).status_code == 200
    owners = {
        *db.scalars(select(InvoiceAdjustment.customer_id)),
        *db.scalars(select(PaymentReversal.customer_id)),
    }
    assert owners == {b}
    assert stored(db, b).get("open_receivables") == Decimal("900.00")
    assert credit_service.verify(db) == []
