"""Valid records for tests, with real check characters."""

from __future__ import annotations

import itertools
from typing import Any

from riskdesk.kit import identifiers

_seq = itertools.count(1)


def uscc(n: int | None = None) -> str:
    """A valid unified social credit code, different for each n."""
    n = next(_seq) if n is None else n
    body = f"{n:08d}"
    base = "91" + "330100" + body + identifiers.org_code_check_char(body)
    return base + identifiers.uscc_check_char(base)


def resident_id(n: int = 1) -> str:
    """A valid resident ID number."""
    body = f"11010119800101{n % 1000:03d}"
    return body + identifiers.resident_id_check_char(body)


def company(external_id: str, **extra: Any) -> dict[str, Any]:
    """A company customer record."""
    return {
        "source": "erp",
        "external_id": external_id,
        "kind": "company",
        "name": f"测试贸易有限公司{external_id}",
        "tax_id": uscc(),
        "segment": "b2b_sme",
        "region": "East",
        "credit_limit": "100000.00",
        "limit_currency": "CNY",
        "payment_terms_days": 30,
        **extra,
    }


def person(external_id: str, **extra: Any) -> dict[str, Any]:
    """An individual customer record."""
    return {
        "source": "shop",
        "external_id": external_id,
        "kind": "individual",
        "name": "张三",
        "national_id": resident_id(),
        "phone": "13812345678",
        "email": "zhang.san@example.com",
        "segment": "consumer",
        "consents": [
            {"purpose": "credit_assessment", "granted": True, "notice_version": "2026-01"},
            {"purpose": "behaviour_monitoring", "granted": True, "notice_version": "2026-01"},
        ],
        **extra,
    }


def order(
    external_id: str, customer_external_id: str, amount: str = "1000.00", **extra: Any
) -> dict[str, Any]:
    """A one-line order."""
    return {
        "source": "erp",
        "external_id": external_id,
        "customer_external_id": customer_external_id,
        "ordered_at": "2026-01-10T08:00:00Z",
        "amount": amount,
        "currency": "CNY",
        "channel": "sales_rep",
        "payment_method": "credit",
        "lines": [{"category": "electronics", "product": "E-1", "quantity": 1, "amount": amount}],
        **extra,
    }


def invoice(
    external_id: str, customer_external_id: str, amount: str = "1000.00", **extra: Any
) -> dict[str, Any]:
    """An invoice due in 30 days."""
    return {
        "source": "erp",
        "external_id": external_id,
        "customer_external_id": customer_external_id,
        "amount": amount,
        "currency": "CNY",
        "issue_date": "2026-01-10",
        "due_date": "2026-02-09",
        **extra,
    }


def payment(
    external_id: str, invoice_external_id: str, amount: str = "400.00", **extra: Any
) -> dict[str, Any]:
    """A payment against an invoice."""
    return {
        "source": "erp",
        "external_id": external_id,
        "invoice_external_id": invoice_external_id,
        "amount": amount,
        "currency": "CNY",
        "paid_on": "2026-02-01",
        "method": "bank_transfer",
        **extra,
    }
