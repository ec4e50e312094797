"""Exposure follows the events and never drifts; credit checks decide, record and reserve;
the worklist releases, rejects and rechecks; concurrent checks never overspend the limit."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from riskdesk.credit import service
from riskdesk.db import make_sessionmaker, unit_of_work
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.main import create_app
from riskdesk.models import CreditExposure
from riskdesk.security import service as security_service
from tests.conftest import ingest, principal
from tests.factories import company


def ago(n: int) -> str:
    return (today() - dt.timedelta(days=n)).isoformat()


def order(ext: str, customer: str, amount: str, method: str = "credit", days: int = 5) -> dict:  # type: ignore[type-arg]
    return {
        "source": "erp",
        "external_id": ext,
        "customer_external_id": customer,
        "ordered_at": f"{ago(days)}T08:00:00Z",
        "amount": amount,
        "currency": "CNY",
        "payment_method": method,
        "lines": [{"category": "x", "amount": amount}],
    }


def invoice(
    ext: str,
    customer: str,
    amount: str,
    order_ext: str | None = None,
    issued: int = 5,
    due: int = -25,
) -> dict:  # type: ignore[type-arg]
    return {
        "source": "erp",
        "external_id": ext,
        "customer_external_id": customer,
        "order_external_id": order_ext,
        "amount": amount,
        "currency": "CNY",
        "issue_date": ago(issued),
        "due_date": ago(due),
    }


def pay(ext: str, invoice_ext: str, amount: str, **extra: object) -> dict:  # type: ignore[type-arg]
    return {
        "source": "erp",
        "external_id": ext,
        "invoice_external_id": invoice_ext,
        "amount": amount,
        "currency": "CNY",
        "paid_on": ago(1),
        **extra,
    }


def exposure(client, cid: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    body = client.get(f"/api/v1/customers/{cid}/exposure").json()
    return {line["category"]: line["amount"] for line in body["lines"]} | {
        "counted": body["counted"],
        "available": body["available"],
    }


def check(client, ext: str, amount: str, customer: str = "CR1", **extra: object):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/credit-checks",
        json={
            "source": "erp",
            "order_external_id": ext,
            "customer_external_id": customer,
            "customer_source": "erp",
            "amount": amount,
            "currency": "CNY",
            **extra,
        },
    )


@pytest.fixture
def cid(manager) -> int:  # type: ignore[no-untyped-def]
    return int(
        manager.post("/api/v1/customers", json=company("CR1", credit_limit="10000")).json()["id"]
    )


def test_exposure_follows_orders_invoices_and_payments(manager, db, cid) -> None:
    manager.post("/api/v1/orders", json=order("EO1", "CR1", "3000.00"))
    manager.post("/api/v1/orders", json=order("EO2", "CR1", "500.00", method="prepaid"))
    e = exposure(manager, cid)
    assert (e["open_orders"], e["open_receivables"]) == ("3000.00", "0.00")
    manager.post("/api/v1/invoices", json=invoice("EI1", "CR1", "1000.00", "EO1"))
    e = exposure(manager, cid)
    assert (e["open_orders"], e["open_receivables"]) == ("2000.00", "1000.00")
    manager.post("/api/v1/payments", json=pay("EP1", "EI1", "400.00"))
    assert exposure(manager, cid)["open_receivables"] == "600.00"
    manager.post("/api/v1/payments", json=pay("EP2", "EI1", "900.00", overpayment=True))
    e = exposure(manager, cid)
    assert e["open_receivables"] == "0.00"  # an overpayment never makes exposure negative
    assert e["counted"] == "2000.00" and e["available"] == "8000.00"
    assert service.verify(db) == []


def test_verify_finds_and_repairs_drift(manager, db, cid) -> None:
    manager.post("/api/v1/orders", json=order("EO3", "CR1", "700.00"))
    db.execute(
        update(CreditExposure)
        .where(CreditExposure.customer_id == cid, CreditExposure.category == "open_orders")
        .values(amount=Decimal("1.00"))
    )
    differences = service.verify(db)
    assert [(d.customer_id, d.category, d.stored, d.expected) for d in differences] == [
        (cid, "open_orders", Decimal("1.00"), Decimal("700.00"))
    ]
    service.verify(db, repair=True)
    assert service.verify(db) == []


def test_check_approves_reserves_and_the_order_consumes_it(manager, cid) -> None:
    response = check(manager, "SO1", "4000.00")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["outcome"] == "approve" and body["decision"]["status"] == "approved"
    assert body["available_before"] == "10000.00"
    assert body["decision"]["inputs"]["exposure"] == "0.00"
    assert {c["code"] for c in body["decision"]["checks"]} >= {"blocked", "limit"}
    assert exposure(manager, cid)["reserved"] == "4000.00"
    again = check(manager, "SO1", "4000.00")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["decision"]["id"] == body["decision"]["id"]
    assert check(manager, "SO1", "4001.00").status_code == 409
    manager.post("/api/v1/orders", json=order("SO1", "CR1", "3900.00"))
    e = exposure(manager, cid)
    assert (e["reserved"], e["open_orders"]) == ("0.00", "3900.00")
    decision = manager.get(f"/api/v1/credit-decisions/{body['decision']['id']}").json()
    assert decision["status"] == "consumed"


def test_hold_worklist_release_and_four_eyes(manager, client_for, cid) -> None:
    sales = client_for("sales")
    manager.patch(f"/api/v1/customers/{cid}", json={"owner": "sales"})
    held = check(sales, "SO2", "12000.00").json()
    assert held["outcome"] == "hold"
    assert any("exceeds the limit" in r for r in held["reasons_en"])
    assert any("超过额度" in r for r in held["reasons_zh"])
    worklist = manager.get("/api/v1/credit-decisions?status=held").json()
    assert [d["id"] for d in worklist] == [held["decision"]["id"]]
    decision_id = held["decision"]["id"]
    assert (
        sales.post(
            f"/api/v1/credit-decisions/{decision_id}/release", json={"reason": "trust me"}
        ).status_code
        == 403
    )
    released = manager.post(
        f"/api/v1/credit-decisions/{decision_id}/release",
        json={"reason": "one-off project, agreed with sales head"},
    )
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "released"
    assert released.json()["resolved_by_id"] is not None
    assert exposure(manager, cid)["reserved"] == "12000.00"
    assert (
        manager.post(
            f"/api/v1/credit-decisions/{decision_id}/release", json={"reason": "again"}
        ).status_code
        == 409
    )


def test_requester_cannot_release_own_order(manager, client_for, cid) -> None:
    decision_id = check(manager, "SO3", "20000.00").json()["decision"]["id"]
    own = manager.post(f"/api/v1/credit-decisions/{decision_id}/release", json={"reason": "mine"})
    assert own.status_code == 403 and own.json()["error"]["code"] == "four_eyes"
    rejected = client_for("manager2").post(
        f"/api/v1/credit-decisions/{decision_id}/reject", json={"reason": "too large"}
    )
    assert rejected.json()["status"] == "rejected"


def test_payment_triggers_recheck_of_held_orders(manager, cid) -> None:
    manager.post("/api/v1/invoices", json=invoice("OV1", "CR1", "500.00", issued=100, due=70))
    manager.post("/api/v1/invoices", json=invoice("NV1", "CR1", "200.00"))  # not yet due
    held = check(manager, "SO4", "1000.00").json()
    assert held["outcome"] == "hold"
    inputs = held["decision"]["inputs"]
    assert (inputs["oldest_overdue_days"], inputs["overdue_amount"], inputs["open_amount"]) == (
        70,
        "500.00",
        "700.00",
    )
    assert any(
        c["code"] == "oldest_overdue" and c["result"] == "hold" for c in held["decision"]["checks"]
    )
    manager.post("/api/v1/payments", json=pay("OVP", "OV1", "500.00"))
    decision = manager.get(f"/api/v1/credit-decisions/{held['decision']['id']}").json()
    assert decision["status"] == "approved"
    assert decision["decided_by"] == "auto:payment" and decision["recheck_count"] == 1


def test_limit_change_triggers_recheck(manager, client_for, cid) -> None:
    held = check(manager, "SO5", "15000.00").json()
    assert held["outcome"] == "hold"
    change = (
        client_for("analyst")
        .patch(f"/api/v1/customers/{cid}", json={"credit_limit": "20000"})
        .json()
    )
    manager.post(f"/api/v1/pending-changes/{change['pending_change']['id']}/approve", json={})
    decision = manager.get(f"/api/v1/credit-decisions/{held['decision']['id']}").json()
    assert decision["status"] == "approved" and decision["decided_by"] == "auto:limit_change"


def test_blocked_customer_is_rejected(manager, client_for, cid) -> None:
    change = manager.patch(
        f"/api/v1/customers/{cid}", json={"blocked": True, "blocked_reason": "insolvency filing"}
    ).json()
    client_for("manager2").post(
        f"/api/v1/pending-changes/{change['pending_change']['id']}/approve", json={}
    )
    result = check(manager, "SO6", "10.00").json()
    assert result["outcome"] == "reject"
    assert "insolvency filing" in " ".join(result["reasons_en"])


def test_group_limit_with_four_eyes_and_recheck(manager, client_for) -> None:
    for n in (1, 2):
        manager.post(
            "/api/v1/customers",
            json=company(f"GR{n}", credit_limit="50000", group_code="GX", group_name="测试集团"),
        )
    change = manager.post(
        "/api/v1/customer-groups/GX/limit-changes",
        json={"credit_limit": "30000", "reason": "group review"},
    ).json()
    assert change["status"] == "pending" and change["old_limit"] is None
    own = manager.post(f"/api/v1/group-limit-changes/{change['id']}/approve")
    assert own.status_code == 403 and own.json()["error"]["code"] == "four_eyes"
    too_long = client_for("manager2").post(
        f"/api/v1/group-limit-changes/{change['id']}/approve", json={"comment": "x" * 2001}
    )
    assert too_long.status_code == 422 and "comment" in too_long.text
    approved = client_for("manager2").post(
        f"/api/v1/group-limit-changes/{change['id']}/approve",
        json={"comment": "  two members, one contract  "},
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["decision_comment"] == "two members, one contract"
    assert check(manager, "GO1", "20000.00", customer="GR1").json()["outcome"] == "approve"
    second = check(manager, "GO2", "15000.00", customer="GR2").json()
    assert second["outcome"] == "hold"
    assert any(
        c["code"] == "group_limit" and c["result"] == "hold" for c in second["decision"]["checks"]
    )
    groups = {g["code"]: g for g in manager.get("/api/v1/customer-groups").json()}
    assert groups["GX"]["members"] == 2 and groups["GX"]["exposure"] == "20000.00"
    # Raising the group limit rechecks the held order.
    raise_it = client_for("manager2").post(
        "/api/v1/customer-groups/GX/limit-changes",
        json={"credit_limit": "40000", "reason": "growth"},
    )
    manager.post(f"/api/v1/group-limit-changes/{raise_it.json()['id']}/approve")
    decision = manager.get(f"/api/v1/credit-decisions/{second['decision']['id']}").json()
    assert decision["status"] == "approved"
    assert (
        client_for("analyst")
        .post(
            "/api/v1/customer-groups/GX/limit-changes", json={"credit_limit": "1", "reason": "nope"}
        )
        .status_code
        == 403
    )


def test_special_exposure_and_information_only_categories(manager, cid) -> None:
    added = manager.post(
        f"/api/v1/customers/{cid}/special-exposures",
        json={"category": "special", "amount": "6000", "description": "bank guarantee given"},
    )
    assert added.status_code == 201, added.text
    manager.post(
        f"/api/v1/customers/{cid}/special-exposures",
        json={
            "category": "consignment",
            "amount": "50000",
            "description": "stock at customer's warehouse",
        },
    )
    e = exposure(manager, cid)
    assert e["counted"] == "6000.00" and e["available"] == "4000.00"
    held = check(manager, "SO7", "4600.00").json()
    assert held["outcome"] == "hold"  # 6,000 + 4,600 is over 10,000 + 5%
    manager.delete(f"/api/v1/customers/{cid}/special-exposures/{added.json()['id']}")
    # Releasing the guarantee rechecks the held order, which now passes and reserves its amount.
    decision = manager.get(f"/api/v1/credit-decisions/{held['decision']['id']}").json()
    assert decision["status"] == "approved"
    assert exposure(manager, cid)["available"] == "5400.00"
    bad = manager.post(
        f"/api/v1/customers/{cid}/special-exposures",
        json={"category": "open_orders", "amount": "1", "description": "x" * 5},
    )
    assert bad.status_code == 422


def test_rules_are_configurable(manager, client_for, cid) -> None:
    response = manager.patch(
        "/api/v1/credit-check-rules/limit",
        json={"reaction": "reject", "params": {"tolerance_pct": 0}},
    )
    assert response.status_code == 200
    assert check(manager, "SO8", "10000.01").json()["outcome"] == "reject"
    assert (
        client_for("analyst")
        .patch("/api/v1/credit-check-rules/limit", json={"enabled": False})
        .status_code
        == 403
    )
    for bad in (
        {"tolerance_pct": [1]},
        {"tolerance_pct": -1},
        {"colour": 1},
        {"tolerance_pct": True},
    ):
        response = manager.patch("/api/v1/credit-check-rules/limit", json={"params": bad})
        assert response.status_code == 422, bad
    bad_tiers = manager.patch(
        "/api/v1/credit-check-rules/prepayment", json={"params": {"tiers": ["purple"]}}
    )
    assert bad_tiers.status_code == 422 and bad_tiers.json()["error"]["field"] == "params.tiers"
    rules = manager.get("/api/v1/credit-check-rules").json()
    assert [r["code"] for r in rules][:3] == ["blocked", "prepayment", "limit"]


def test_unknown_customer_and_visibility(manager, client_for, cid) -> None:
    assert check(manager, "SO9", "1.00", customer="NOPE").status_code == 404
    assert check(client_for("sales2"), "SO10", "1.00").status_code == 404
    assert client_for("auditor").post("/api/v1/credit-checks", json={}).status_code == 403


def test_concurrent_checks_never_exceed_available_credit(
    own_backend, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Forty simultaneous checks of 500 against a 10,000 limit (+5%): exactly 21 pass."""
    real_position = service._position

    def slow_position(*args, **kwargs):  # type: ignore[no-untyped-def]
        # Widen the gap between reading the exposure and reserving, so the requests overlap.
        position = real_position(*args, **kwargs)
        time.sleep(0.05)
        return position

    monkeypatch.setattr(service, "_position", slow_position)
    backend = own_backend  # it commits for real
    factory = make_sessionmaker(backend.engine)
    suffix = f"{backend.name}{threading.get_ident() % 10000}"
    with unit_of_work(factory) as session:
        ingest(
            session,
            principal(session, "manager"),
            "customers",
            [company(f"CC{suffix}", credit_limit="10000", region="Concurrency")],
        )
        user = security_service.get_user_by_username_or_raise(session, "manager")
        token, raw = security_service.issue_token(
            session, user=user, name="cc", scopes=["credit_checks:run"]
        )
        # A token used in the last minute is not written to again; without this, the first
        # use would update the token row and serialise the requests on its lock.
        token.last_used_at = utcnow()
    from riskdesk.config import Settings

    app = create_app(
        Settings(
            database_url="sqlite://",
            secret_key="x" * 32,
            data_dir=tmp_path,
            delivery_interval_seconds=0,
            complaint_surge_seconds=0,  # no periodic worker on the test's connection
            event_workers=0,  # the request processes its own events (wait below)
            job_workers=0,  # nor a job worker or reaper (tests run jobs themselves)
            job_reap_interval_seconds=0,
            event_wait_seconds=30,
            warning_backtest_days=0,
        ),
        session_factory=factory,
    )
    results: list[dict] = []  # type: ignore[type-arg]
    barrier = threading.Barrier(40)

    def fire(n: int) -> None:
        with TestClient(app, raise_server_exceptions=False) as client:
            barrier.wait()
            response = client.post(
                "/api/v1/credit-checks",
                headers={"Authorization": f"Bearer {raw}"},
                json={
                    "source": "cc",
                    "order_external_id": f"{suffix}-{n}",
                    "customer_external_id": f"CC{suffix}",
                    "customer_source": "erp",
                    "amount": "500.00",
                    "currency": "CNY",
                },
            )
            results.append({"status": response.status_code, **response.json()})

    threads = [threading.Thread(target=fire, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r["status"] == 201 for r in results), [r for r in results if r["status"] != 201]
    approved = [r for r in results if r["outcome"] == "approve"]
    assert len(approved) == 21
    with unit_of_work(factory) as session:
        cid = approved[0]["decision"]["customer_id"]
        assert service.verify(session, customer_ids=[cid]) == []


def test_a_batch_over_several_slices_leaves_out_only_each_slices_new_rows(
    manager, db, cid, monkeypatch
) -> None:
    """Each slice of orders (invoices) leaves out only its own new invoices (payments) when it
    reads what was invoiced (paid) before: with every new id of an import in each statement,
    `riskdesk demo --customers 2000` passed PostgreSQL's 65,535 parameters."""
    from sqlalchemy import event

    from riskdesk.customers import repository as customer_repo

    whole = customer_repo.chunks
    monkeypatch.setattr(customer_repo, "chunks", lambda values, size=2: whole(values, 2))
    for n in range(5):
        manager.post("/api/v1/orders", json=order(f"BO{n}", "CR1", "1000.00"))
    widest: list[int] = []

    def count(_conn, _cursor, statement, parameters, *_args) -> None:  # type: ignore[no-untyped-def]
        if "NOT IN" in statement:
            widest.append(len(parameters))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        invoices = [
            invoice(f"BI{n}{part}", "CR1", amount, f"BO{n}")
            for n in range(5)
            for part, amount in (("a", "300.00"), ("b", "200.00"))
        ]
        answer = manager.post("/api/v1/invoices/batch", json={"records": invoices})
        assert answer.status_code == 200, answer.text
        payments = [
            pay(f"BP{n}{part}", f"BI{n}{part}", "100.00") for n in range(5) for part in "ab"
        ]
        answer = manager.post("/api/v1/payments/batch", json={"records": payments})
        assert answer.status_code == 200, answer.text
    finally:
        event.remove(engine, "before_cursor_execute", count)
    e = exposure(manager, cid)
    assert (e["open_orders"], e["open_receivables"]) == ("2500.00", "1500.00")
    assert service.verify(db) == []
    # A slice's two orders (invoices), their four new rows and the sums' literals at most:
    # with all ten new rows in every statement it was 13 (15).
    assert widest and max(widest) <= 7, widest
