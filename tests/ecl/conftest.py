"""The hand-worked portfolio of test_matrix, in the database."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from riskdesk.models import Customer, Invoice, Payment
from tests.ecl.test_matrix import INVOICES, PAYMENTS

SEGMENTS = {1: "b2b_sme", 2: "b2b_sme", 3: "b2b_sme", 4: "consumer", 5: "consumer"}


@pytest.fixture
def portfolio(db: Session) -> dict[int, int]:
    """The hand-worked invoices and payments; test customer number -> customer id."""
    ids = {}
    for number, segment in SEGMENTS.items():
        customer = Customer(
            kind="company", company_name=f"测试客户{number}有限公司", segment=segment
        )
        db.add(customer)
        db.flush()
        ids[number] = customer.id
    invoice_ids = {}
    for number, customer, issued, due, amount in INVOICES:
        invoice = Invoice(
            customer_id=ids[customer], source="erp", external_id=f"ECL-I{number}",
            content_hash="0" * 64, amount=Decimal(str(amount)), currency="CNY",
            issue_date=issued, due_date=due,
        )  # fmt: skip
        db.add(invoice)
        db.flush()
        invoice_ids[number] = invoice
    for n, (number, day, amount) in enumerate(PAYMENTS):
        invoice = invoice_ids[number]
        db.add(
            Payment(
                customer_id=invoice.customer_id, source="erp", external_id=f"ECL-P{n}",
                content_hash="0" * 64, invoice_id=invoice.id, amount=Decimal(str(amount)),
                currency="CNY", paid_on=day, method="bank_transfer",
            )
        )  # fmt: skip
    db.commit()
    return ids
