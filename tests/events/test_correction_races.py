"""Two writers at once on one order or invoice (each in its own transaction, the second sent
while the first is not committed): a check only one of them may pass is passed by one. On
PostgreSQL the writers lock the order or invoice they check against (``events.repository.
lock_by_key``); SQLite's one writer serialises them anyway."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.credit import service as credit_service
from riskdesk.db import begin_writing, make_sessionmaker
from riskdesk.kit.intake import Item
from riskdesk.models import Invoice, InvoiceAdjustment, OrderCancellation
from riskdesk.pipeline import intake
from tests.conftest import principal
from tests.events.test_corrections import cancel, credit_note
from tests.factories import company, invoice, order


def _write(session: Session, kind: str, record: dict[str, Any]) -> list[str]:
    """One record through the intake in ``session`` (not committed), as a request writes
    (its transaction writing from the start); its error codes."""
    begin_writing(session)
    report = intake.ingest_items(
        session, principal(session, "manager"), kind, [Item(row=1, raw=record)],
        skip_invalid=True, channel="test",
    )  # fmt: skip
    return [e["code"] for r in report.results for e in r.errors]


def _at_once(
    factory: sessionmaker[Session], first: tuple[str, dict[str, Any]],
    second: tuple[str, dict[str, Any]],
) -> tuple[list[str], list[str]]:  # fmt: skip
    """The first record written and held uncommitted while the second is sent from another
    thread; then the first commits. The error codes of each."""
    out: dict[str, list[str]] = {}
    failures: list[BaseException] = []

    def send_second() -> None:
        try:
            with factory() as other:
                out["second"] = _write(other, *second)
                other.commit()
        except BaseException as exc:  # reported below
            failures.append(exc)

    with factory() as session:
        out["first"] = _write(session, *first)
        session.flush()
        thread = threading.Thread(target=send_second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), (out, failures)  # it waits for the first writer
        session.commit()
    thread.join(30)
    assert not thread.is_alive() and failures == []
    return out["first"], out["second"]


@pytest.fixture
def book(own_backend: Any) -> sessionmaker[Session]:
    factory = make_sessionmaker(own_backend.engine)
    with factory() as session:
        who = principal(session, "manager")
        for kind, record in (
            ("customers", company("RC-C")),
            ("orders", order("RC-O1", "RC-C", "1000.00")),
            ("orders", order("RC-O2", "RC-C", "1000.00")),
            ("invoices", invoice("RC-I1", "RC-C", "1000.00")),
        ):
            intake.ingest(session, who, kind, [record])
        session.commit()
    return factory


def test_two_credit_notes_for_what_is_open_once(book: sessionmaker[Session]) -> None:
    first, second = _at_once(
        book,
        ("credit_notes", credit_note("RC-N1", "RC-I1", "600.00")),
        ("credit_notes", credit_note("RC-N2", "RC-I1", "600.00")),
    )
    assert (first, second) == ([], ["exceeds_open_amount"])
    with book() as session:
        assert session.scalar(select(func.count()).select_from(InvoiceAdjustment)) == 1
        assert credit_service.verify(session) == []


def test_an_invoice_and_a_cancellation_of_one_order(book: sessionmaker[Session]) -> None:
    first, second = _at_once(
        book,
        ("invoices", invoice("RC-I2", "RC-C", "1000.00", order_external_id="RC-O2")),
        ("order_cancellations", cancel("RC-X2", "RC-O2")),
    )
    assert (first, second) == ([], ["already_invoiced"])
    with book() as session:
        assert session.scalar(select(func.count()).select_from(OrderCancellation)) == 0
        assert session.scalar(select(func.count()).select_from(Invoice)) == 2
        assert credit_service.verify(session) == []
