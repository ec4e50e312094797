"""Corrections as events: order cancellations, credit notes, invoice adjustments and payment
reversals, through the API and files. Each is idempotent, validated with errors naming the
field, and moves exposure (still what `exposure verify` derives), the kept invoice balances
and the indicators as the events it corrects did."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from riskdesk.credit import service as credit_service
from riskdesk.indicators import repository as indicator_repo
from riskdesk.indicators import service as indicator_service
from riskdesk.indicators.compute import compute
from riskdesk.kit.timeutil import today
from riskdesk.models import (
    InvoiceAdjustment,
    InvoiceBalance,
    OrderCancellation,
    PaymentReversal,
)
from riskdesk.pipeline import intake
from riskdesk.portfolio import month_end_repository
from tests.conftest import principal, processed, processed_import
from tests.factories import company


def ago(n: int) -> str:
    return (today() - dt.timedelta(days=n)).isoformat()


def order(ext: str, amount: str = "1000.00", method: str = "credit") -> dict[str, Any]:
    return {
        "source": "erp",
        "external_id": ext,
        "customer_external_id": "CX1",
        "ordered_at": f"{ago(20)}T08:00:00Z",
        "amount": amount,
        "currency": "CNY",
        "payment_method": method,
        "lines": [{"category": "office", "amount": amount}],
    }


def invoice(ext: str, amount: str = "1000.00", order_ext: str | None = None) -> dict[str, Any]:
    return {
        "source": "erp",
        "external_id": ext,
        "customer_external_id": "CX1",
        "order_external_id": order_ext,
        "amount": amount,
        "currency": "CNY",
        "issue_date": ago(15),
        "due_date": ago(-15),
    }


def pay(ext: str, invoice_ext: str, amount: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": "erp",
        "external_id": ext,
        "invoice_external_id": invoice_ext,
        "amount": amount,
        "currency": "CNY",
        "paid_on": ago(5),
        **extra,
    }


def cancel(ext: str, order_ext: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": "erp",
        "external_id": ext,
        "order_external_id": order_ext,
        "cancelled_on": ago(10),
        "reason": "客户取消",
        **extra,
    }


def credit_note(ext: str, invoice_ext: str, amount: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": "erp",
        "external_id": ext,
        "invoice_external_id": invoice_ext,
        "amount": amount,
        "currency": "CNY",
        "issued_on": ago(3),
        "reason": "价格折让",
        **extra,
    }


def adjust(ext: str, invoice_ext: str, amount: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": "erp",
        "external_id": ext,
        "invoice_external_id": invoice_ext,
        "amount": amount,
        "currency": "CNY",
        "adjusted_on": ago(3),
        **extra,
    }


def reverse(ext: str, payment_ext: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": "erp",
        "external_id": ext,
        "payment_external_id": payment_ext,
        "reversed_on": ago(2),
        "reason": "退票",
        **extra,
    }


@pytest.fixture
def cid(manager) -> int:  # type: ignore[no-untyped-def]
    response = manager.post("/api/v1/customers", json=company("CX1", credit_limit="50000"))
    assert response.status_code == 201
    return int(response.json()["id"])


def exposure(client: Any, customer_id: int) -> dict[str, str]:
    lines = client.get(f"/api/v1/customers/{customer_id}/exposure").json()["lines"]
    return {line["category"]: line["amount"] for line in lines}


def details(response: Any) -> list[tuple[str | None, str]]:
    assert response.status_code == 422, response.text
    return [(d["field"], d["code"]) for d in response.json()["error"]["details"]]


def kept_open(db: Session) -> dict[int, Decimal]:
    rows = db.execute(
        select(InvoiceBalance.invoice_id, InvoiceBalance.amount - InvoiceBalance.paid)
    )
    return {int(i): Decimal(o).quantize(Decimal("0.01")) for i, o in rows}


def clean(db: Session) -> None:
    """Exposure and the kept balances are what the event record derives."""
    db.expire_all()
    assert credit_service.verify(db) == []
    before = kept_open(db)
    month_end_repository.rebuild_balances(db)
    assert kept_open(db) == before


def post_ok(client: Any, path: str, record: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/v1/{path}", json=record)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "created"
    return body


# ---------------------------------------------------------------- each kind


def test_order_cancellation_frees_the_open_order(manager, db, cid) -> None:
    post_ok(manager, "orders", order("XO1", "3000.00"))
    post_ok(manager, "orders", order("XO2", "500.00", method="prepaid"))
    assert exposure(manager, cid)["open_orders"] == "3000.00"
    done = post_ok(manager, "order-cancellations", cancel("XC1", "XO1"))
    assert exposure(manager, cid)["open_orders"] == "0.00"
    # Sent again: a duplicate that changes nothing; the same key with other content: refused.
    again = manager.post("/api/v1/order-cancellations", json=cancel("XC1", "XO1"))
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["id"] == done["id"]
    other = manager.post("/api/v1/order-cancellations", json=cancel("XC1", "XO1", reason="x"))
    assert details(other) == [("external_id", "idempotency_conflict")]
    # A prepaid order never counted: its cancellation moves nothing.
    post_ok(manager, "order-cancellations", cancel("XC2", "XO2"))
    assert exposure(manager, cid)["open_orders"] == "0.00"
    assert db.scalar(select(func.count()).select_from(OrderCancellation)) == 2
    clean(db)


def test_order_cancellation_rules(manager, db, cid) -> None:
    post_ok(manager, "orders", order("XO3"))
    post_ok(manager, "orders", order("XO4"))
    post_ok(manager, "invoices", invoice("XI4", "400.00", "XO4"))
    unknown = manager.post("/api/v1/order-cancellations", json=cancel("XC3", "NOPE"))
    assert details(unknown) == [("order_external_id", "unknown_reference")]
    invoiced = manager.post("/api/v1/order-cancellations", json=cancel("XC4", "XO4"))
    assert details(invoiced) == [("order_external_id", "already_invoiced")]
    early = manager.post(
        "/api/v1/order-cancellations", json=cancel("XC5", "XO3", cancelled_on=ago(30))
    )
    assert details(early) == [("cancelled_on", "before_order")]
    future = manager.post(
        "/api/v1/order-cancellations", json=cancel("XC5", "XO3", cancelled_on=ago(-30))
    )
    assert [f for f, _ in details(future)] == ["cancelled_on"]
    post_ok(manager, "order-cancellations", cancel("XC6", "XO3"))
    twice = manager.post("/api/v1/order-cancellations", json=cancel("XC7", "XO3"))
    assert details(twice) == [("order_external_id", "already_cancelled")]
    # A cancelled order takes no invoice and no return.
    late_invoice = manager.post("/api/v1/invoices", json=invoice("XI5", "100.00", "XO3"))
    assert details(late_invoice) == [("order_external_id", "order_cancelled")]
    ret = {
        "source": "erp",
        "external_id": "XR1",
        "order_external_id": "XO3",
        "amount": "10.00",
        "currency": "CNY",
        "returned_on": ago(1),
        "reason": "defective",
    }
    assert details(manager.post("/api/v1/returns", json=ret)) == [
        ("order_external_id", "order_cancelled")
    ]
    # Two cancellations of one order in one batch: the second is refused, nothing written.
    post_ok(manager, "orders", order("XO8"))
    batch = manager.post(
        "/api/v1/order-cancellations/batch",
        json={"records": [cancel("XC8", "XO8"), cancel("XC9", "XO8")]},
    )
    assert details(batch) == [("order_external_id", "already_cancelled")]
    assert batch.json()["error"]["details"][0]["row"] == 2
    assert exposure(manager, cid)["open_orders"] == "1600.00"  # XO8, and XO4 less its invoice
    clean(db)


def test_credit_note_lowers_what_is_owed(manager, db, cid) -> None:
    post_ok(manager, "invoices", invoice("XI1", "1000.00"))
    post_ok(manager, "payments", pay("XP1", "XI1", "300.00"))
    assert exposure(manager, cid)["open_receivables"] == "700.00"
    post_ok(manager, "credit-notes", credit_note("XN1", "XI1", "200.00"))
    assert exposure(manager, cid)["open_receivables"] == "500.00"
    stored = db.scalars(select(InvoiceAdjustment)).one()
    assert (stored.kind, stored.amount) == ("credit_note", Decimal("-200.00"))
    again = manager.post("/api/v1/credit-notes", json=credit_note("XN1", "XI1", "200.00"))
    assert again.json()["status"] == "duplicate"
    assert exposure(manager, cid)["open_receivables"] == "500.00"
    conflict = manager.post("/api/v1/credit-notes", json=credit_note("XN1", "XI1", "250.00"))
    assert details(conflict) == [("external_id", "idempotency_conflict")]
    # More than is open (500): refused, naming the amount and what is open.
    too_much = manager.post("/api/v1/credit-notes", json=credit_note("XN2", "XI1", "500.01"))
    assert details(too_much) == [("amount", "exceeds_open_amount")]
    assert "500.00" in too_much.json()["error"]["details"][0]["reason"]
    # A payment is now checked against the lower open amount.
    over = manager.post("/api/v1/payments", json=pay("XP2", "XI1", "600.00"))
    assert details(over) == [("amount", "exceeds_open_amount")]
    # The rest credited: the invoice is settled, its kept balance row goes.
    post_ok(manager, "credit-notes", credit_note("XN3", "XI1", "500.00"))
    assert exposure(manager, cid)["open_receivables"] == "0.00"
    assert kept_open(db) == {}
    clean(db)


def test_credit_note_validation(manager, db, cid) -> None:
    post_ok(manager, "invoices", invoice("XI2", "100.00"))
    cases = [
        (credit_note("XN4", "NOPE", "1.00"), [("invoice_external_id", "unknown_reference")]),
        (credit_note("XN4", "XI2", "1.00", currency="USD"), [("currency", "currency_mismatch")]),
        (credit_note("XN4", "XI2", "1.00", issued_on=ago(30)), [("issued_on", "before_invoice")]),
    ]
    for record, expected in cases:
        assert details(manager.post("/api/v1/credit-notes", json=record)) == expected
    for bad in ({"amount": "0"}, {"amount": "-5.00"}, {"amount": "1.001"}, {"issued_on": "x"}):
        response = manager.post(
            "/api/v1/credit-notes", json={**credit_note("XN4", "XI2", "1"), **bad}
        )
        assert [f for f, _ in details(response)] == [next(iter(bad))]
    unknown_field = manager.post(
        "/api/v1/credit-notes", json={**credit_note("XN4", "XI2", "1.00"), "colour": "red"}
    )
    assert [f for f, _ in details(unknown_field)] == ["colour"]
    # Two notes in one batch that together exceed the open amount: the second row is named.
    batch = manager.post(
        "/api/v1/credit-notes/batch",
        json={"records": [credit_note("XN5", "XI2", "60.00"), credit_note("XN6", "XI2", "60.00")]},
    )
    assert details(batch) == [("amount", "exceeds_open_amount")]
    assert db.scalar(select(func.count()).select_from(InvoiceAdjustment)) == 0
    clean(db)


def test_invoice_adjustments_either_way(manager, db, cid) -> None:
    post_ok(manager, "invoices", invoice("XI3", "1000.00"))
    post_ok(manager, "payments", pay("XP3", "XI3", "1000.00"))
    assert exposure(manager, cid)["open_receivables"] == "0.00"
    assert kept_open(db) == {}
    # Adjusted up after it was settled: owed again, and kept again.
    post_ok(manager, "invoice-adjustments", adjust("XA1", "XI3", "150.00"))
    assert exposure(manager, cid)["open_receivables"] == "150.00"
    assert list(kept_open(db).values()) == [Decimal("150.00")]
    post_ok(manager, "invoice-adjustments", adjust("XA2", "XI3", "-50.00"))
    assert exposure(manager, cid)["open_receivables"] == "100.00"
    too_low = manager.post("/api/v1/invoice-adjustments", json=adjust("XA3", "XI3", "-100.01"))
    assert details(too_low) == [("amount", "exceeds_open_amount")]
    zero = manager.post("/api/v1/invoice-adjustments", json=adjust("XA3", "XI3", "0"))
    assert [f for f, _ in details(zero)] == ["amount"]
    # A credit note's key is the adjustments' key too: other content under it is refused.
    reused = manager.post("/api/v1/credit-notes", json=credit_note("XA2", "XI3", "50.00"))
    assert details(reused) == [("external_id", "idempotency_conflict")]
    again = manager.post("/api/v1/invoice-adjustments", json=adjust("XA2", "XI3", "-50.00"))
    assert again.json()["status"] == "duplicate"
    assert exposure(manager, cid)["open_receivables"] == "100.00"
    clean(db)


def test_payment_reversal_owes_the_invoice_again(manager, db, cid) -> None:
    post_ok(manager, "invoices", invoice("XI6", "800.00"))
    post_ok(manager, "payments", pay("XP6", "XI6", "800.00"))
    post_ok(manager, "payments", pay("XP7", "XI6", "100.00", overpayment=True))
    assert exposure(manager, cid)["open_receivables"] == "0.00"
    # Reversing the overpayment leaves it settled; reversing the payment owes it all again.
    post_ok(manager, "payment-reversals", reverse("XV1", "XP7"))
    assert exposure(manager, cid)["open_receivables"] == "0.00"
    done = post_ok(manager, "payment-reversals", reverse("XV2", "XP6"))
    assert exposure(manager, cid)["open_receivables"] == "800.00"
    assert list(kept_open(db).values()) == [Decimal("800.00")]
    stored = db.get(PaymentReversal, done["id"])
    assert stored is not None and stored.amount == Decimal("800.00")
    again = manager.post("/api/v1/payment-reversals", json=reverse("XV2", "XP6"))
    assert again.json()["status"] == "duplicate"
    conflict = manager.post("/api/v1/payment-reversals", json=reverse("XV2", "XP6", reason="x"))
    assert details(conflict) == [("external_id", "idempotency_conflict")]
    twice = manager.post("/api/v1/payment-reversals", json=reverse("XV3", "XP6"))
    assert details(twice) == [("payment_external_id", "already_reversed")]
    unknown = manager.post("/api/v1/payment-reversals", json=reverse("XV3", "NOPE"))
    assert details(unknown) == [("payment_external_id", "unknown_reference")]
    # The invoice is open again: it can be paid again.
    post_ok(manager, "payments", pay("XP8", "XI6", "800.00"))
    assert exposure(manager, cid)["open_receivables"] == "0.00"
    early = manager.post(
        "/api/v1/payment-reversals", json=reverse("XV4", "XP8", reversed_on=ago(6))
    )
    assert details(early) == [("reversed_on", "before_payment")]
    clean(db)


def test_a_failed_batch_writes_nothing(manager, db, cid) -> None:
    post_ok(manager, "invoices", invoice("XI7", "300.00"))
    post_ok(manager, "payments", pay("XP9", "XI7", "300.00"))
    batch = manager.post(
        "/api/v1/payment-reversals/batch",
        json={"records": [reverse("XV5", "XP9"), reverse("XV6", "NOPE")]},
    )
    assert details(batch) == [("payment_external_id", "unknown_reference")]
    assert db.scalar(select(func.count()).select_from(PaymentReversal)) == 0
    assert exposure(manager, cid)["open_receivables"] == "0.00"
    skipped = manager.post(
        "/api/v1/payment-reversals/batch",
        json={"records": [reverse("XV5", "XP9"), reverse("XV6", "NOPE")], "skip_invalid": True},
    )
    assert skipped.status_code == 200 and skipped.json()["created"] == 1
    assert exposure(manager, cid)["open_receivables"] == "300.00"
    clean(db)


def test_corrections_of_another_customers_events_are_refused(manager, db, cid) -> None:
    manager.post("/api/v1/customers", json=company("CX2"))
    post_ok(manager, "invoices", invoice("XI9", "100.00"))
    response = manager.post(
        "/api/v1/credit-notes",
        json=credit_note("XN9", "XI9", "10.00", customer_external_id="CX2"),
    )
    assert details(response) == [("customer_external_id", "customer_mismatch")]


# ---------------------------------------------------------------- what they move


def test_a_credit_note_frees_a_held_order(manager, db, cid) -> None:
    post_ok(manager, "invoices", invoice("XI10", "45000.00"))
    check = manager.post(
        "/api/v1/credit-checks",
        json={"source": "erp", "order_external_id": "XO10", "customer_external_id": "CX1",
              "customer_source": "erp", "amount": "10000.00", "currency": "CNY"},
    )  # fmt: skip
    assert check.json()["outcome"] == "hold"  # 45,000 + 10,000 over the limit of 50,000
    post_ok(manager, "credit-notes", credit_note("XN10", "XI10", "45000.00"))
    decision = manager.get(f"/api/v1/credit-decisions/{check.json()['decision']['id']}").json()
    assert decision["status"] == "approved"
    clean(db)


def test_indicators_read_the_corrected_events(manager, db, cid) -> None:
    post_ok(manager, "orders", order("XO11", "2000.00"))
    post_ok(manager, "orders", order("XO12", "700.00"))
    post_ok(manager, "invoices", invoice("XI11", "2000.00", "XO11"))
    post_ok(manager, "payments", pay("XP11", "XI11", "1500.00"))
    processed(db)
    values = indicator_service.get_snapshot(db, cid).values  # type: ignore[union-attr]
    assert values["ar_open_total"] == pytest.approx(500.0)
    assert values["orders_count_30d"] == 2
    post_ok(manager, "order-cancellations", cancel("XC11", "XO12"))
    post_ok(manager, "credit-notes", credit_note("XN11", "XI11", "200.00"))
    post_ok(manager, "payment-reversals", reverse("XV11", "XP11"))
    processed(db)
    db.expire_all()
    snapshot = indicator_service.get_snapshot(db, cid)
    assert snapshot is not None
    assert snapshot.values["orders_count_30d"] == 1
    assert snapshot.values["ar_open_total"] == pytest.approx(1800.0)
    # The kept state gives what the whole (corrected) record computes.
    want = compute(indicator_repo.load_frames(db, [cid]), snapshot.as_of).row(0, named=True)
    for name in ("orders_count_30d", "orders_amount_30d", "ar_open_total"):
        assert snapshot.values[name] == pytest.approx(want[name]), name
    # A later event of the customer merges into the rebuilt state, still corrected.
    post_ok(manager, "payments", pay("XP12", "XI11", "300.00"))
    processed(db)
    db.expire_all()
    assert indicator_service.get_snapshot(db, cid).values["ar_open_total"] == pytest.approx(1500.0)  # type: ignore[union-attr]
    clean(db)


# ---------------------------------------------------------------- files


def test_corrections_import_from_files(manager, db, factory, cid) -> None:
    post_ok(manager, "orders", order("XO20", "400.00"))
    post_ok(manager, "invoices", invoice("XI20", "1000.00"))
    post_ok(manager, "payments", pay("XP20", "XI20", "600.00"))
    db.commit()
    files = {
        "order_cancellations": (
            "source,external_id,order_external_id,cancelled_on,reason\n"
            f"erp,FC1,XO20,{ago(10)},客户取消\n"
        ),
        "credit_notes": (
            "source,external_id,invoice_external_id,amount,currency,issued_on\n"
            f"erp,FN1,XI20,100.00,CNY,{ago(3)}\n"
            f"erp,FN2,XI20,50.00,CNY,{ago(3)}\n"
        ),
        "invoice_adjustments": (
            "source,external_id,invoice_external_id,amount,currency,adjusted_on\n"
            f"erp,FA1,XI20,-20.00,CNY,{ago(3)}\n"
        ),
        "payment_reversals": (
            f"source,external_id,payment_external_id,reversed_on\nerp,FV1,XP20,{ago(2)}\n"
        ),
    }
    who = principal(db, "manager")
    for kind, text in files.items():
        result = intake.import_file(
            factory,
            lambda _s: who,
            kind=kind,
            content=text.encode(),
            filename=f"{kind}.csv",
            mapping=None,
            skip_invalid=False,
        )
        result = processed_import(factory, result)
        assert result.job.status == "done", (kind, result.job.errors)
        # The same file again: every row recognised, nothing changed.
        again = intake.import_file(
            factory,
            lambda _s: who,
            kind=kind,
            content=text.encode(),
            filename=f"{kind}.csv",
            mapping=None,
            skip_invalid=False,
        )
        assert again.job.status == "done" and again.job.duplicate_count == text.count("\n") - 1
    db.expire_all()
    e = exposure(manager, cid)
    # 1000 - 150 credited - 20 adjusted, the payment of 600 reversed.
    assert (e["open_orders"], e["open_receivables"]) == ("0.00", "830.00")
    # A file whose credit notes together exceed what is open is refused whole, naming the row.
    over = intake.import_file(
        factory,
        lambda _s: who,
        kind="credit_notes",
        content=(
            "source,external_id,invoice_external_id,amount,currency,issued_on\n"
            f"erp,FN3,XI20,800.00,CNY,{ago(3)}\nerp,FN4,XI20,800.00,CNY,{ago(3)}\n"
        ).encode(),
        filename="over.csv",
        mapping=None,
        skip_invalid=False,
    )
    assert over.job.status == "rejected"
    assert [(e["row"], e["field"], e["code"]) for e in over.job.errors] == [
        (3, "amount", "exceeds_open_amount")
    ]
    clean(db)


# ---------------------------------------------------------------- the credit file


def test_a_correction_recorded_from_the_credit_file(db, app, manager, cid) -> None:  # type: ignore[no-untyped-def]
    import re

    from fastapi.testclient import TestClient

    from tests.conftest import PASSWORD

    post_ok(manager, "invoices", invoice("XI30", "1000.00"))
    client = TestClient(app)
    login = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token is not None
    data = {"username": "manager", "password": PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303
    for lang, title in (("en", "Record a correction"), ("zh-CN", "登记更正")):
        page = client.get(f"/customers/{cid}", headers={"accept-language": lang})
        assert page.status_code == 200 and title in page.text
    page = client.get(f"/customers/{cid}", headers={"accept-language": "en"})
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    form = {
        "csrf_token": found.group(1),
        "kind": "credit_notes",
        "target": "XI30",
        "source": "erp",
        "external_id": "UI-N1",
        "amount": "250.00",
        "currency": "CNY",
        "day": ago(1),
        "reason": "折让",
    }
    # More than is open: the page answers with the error, naming the field; nothing written.
    refused = client.post(f"/customers/{cid}/corrections", data={**form, "amount": "1000.01"})
    assert refused.status_code == 422 and "超过发票的未结金额" in refused.text  # page's language
    assert db.scalar(select(func.count()).select_from(InvoiceAdjustment)) == 0
    unknown = client.post(f"/customers/{cid}/corrections", data={**form, "target": "NOPE"})
    assert unknown.status_code == 422 and "订单／发票／回款编号" in unknown.text  # the field, named
    done = client.post(f"/customers/{cid}/corrections", data=form, follow_redirects=False)
    assert done.status_code == 303 and "ok=saved" in done.headers["location"]
    again = client.post(f"/customers/{cid}/corrections", data=form, follow_redirects=False)
    assert "ok=nothing" in again.headers["location"]
    assert exposure(manager, cid)["open_receivables"] == "750.00"
    shown = client.get(f"/customers/{cid}", headers={"accept-language": "zh-CN"})
    assert "发票调整" in shown.text and "UI-N1" in shown.text
    assert ">credit_note<" not in shown.text  # the kind, translated (贷项通知单)
    clean(db)
