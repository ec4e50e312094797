"""lake.frames_of without a database: corrections, merges, resolutions and days."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
from polars.testing import assert_frame_equal

from riskdesk.lake import frames_of
from riskdesk.lake.schemas import EVENTS, RESOLUTIONS, SNAPSHOTS

UTC = dt.UTC


def table(kind: str, rows: list[dict[str, object]]) -> pl.DataFrame:
    schema = {**EVENTS, **SNAPSHOTS, "complaint_resolutions": RESOLUTIONS}[kind]
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


def customer(i: int, merged_into: int | None = None) -> dict[str, object]:
    return {
        "id": i,
        "kind": "company",
        "segment": "smb",
        "status": "merged" if merged_into else "active",
        "merged_into_id": merged_into,
    }


TABLES = {
    # 3 was merged into 2, then 2 into 1: the events of both fold into 1.
    "customers": table("customers", [customer(1), customer(2, 1), customer(3, 1), customer(4)]),
    "orders": table(
        "orders",
        [
            # 23:30 UTC on the 1st is the 1st, whatever the local time.
            {
                "id": 10,
                "customer_id": 3,
                "ordered_at": dt.datetime(2026, 3, 1, 23, 30, tzinfo=UTC),
                "amount": Decimal("100.10"),
                "payment_method": "credit",
            },
            {
                "id": 11,
                "customer_id": 4,
                "ordered_at": dt.datetime(2026, 3, 2, tzinfo=UTC),
                "amount": Decimal("5.00"),
                "payment_method": "credit",
            },
        ],
    ),
    "order_lines": table(
        "order_lines",
        [
            {
                "id": 1,
                "order_id": 10,
                "customer_id": 3,
                "category": "a",
                "quantity": Decimal("1"),
                "amount": Decimal("100.10"),
                "ordered_at": dt.datetime(2026, 3, 1, 23, 30, tzinfo=UTC),
            },
            {
                "id": 2,
                "order_id": 11,
                "customer_id": 4,
                "category": "b",
                "quantity": Decimal("1"),
                "amount": Decimal("5.00"),
                "ordered_at": dt.datetime(2026, 3, 2, tzinfo=UTC),
            },
        ],
    ),
    "order_cancellations": table(
        "order_cancellations", [{"id": 1, "customer_id": 4, "order_id": 11}]
    ),
    "invoices": table(
        "invoices",
        [
            {
                "id": 20,
                "customer_id": 2,
                "order_id": 10,
                "issue_date": dt.date(2026, 3, 2),
                "due_date": dt.date(2026, 4, 1),
                "amount": Decimal("100.10"),
            }
        ],
    ),
    "invoice_adjustments": table(
        "invoice_adjustments",
        [
            {"id": 1, "customer_id": 2, "invoice_id": 20, "amount": Decimal("-0.10")},
            {"id": 2, "customer_id": 2, "invoice_id": 20, "amount": Decimal("-0.20")},
        ],
    ),
    "payments": table(
        "payments",
        [
            {
                "id": 30,
                "customer_id": 2,
                "invoice_id": 20,
                "paid_on": dt.date(2026, 3, 9),
                "amount": Decimal("50.00"),
            },
            {
                "id": 31,
                "customer_id": 2,
                "invoice_id": 20,
                "paid_on": dt.date(2026, 3, 10),
                "amount": Decimal("49.80"),
            },
        ],
    ),
    "payment_reversals": table(
        "payment_reversals", [{"id": 1, "customer_id": 2, "payment_id": 31, "invoice_id": 20}]
    ),
    "complaints": table(
        "complaints",
        [
            {
                "id": 40,
                "customer_id": 4,
                "severity": "high",
                "opened_at": dt.datetime(2026, 3, 3, tzinfo=UTC),
            }
        ],
    ),
    "complaint_resolutions": table(
        "complaint_resolutions",
        [
            {
                "complaint_id": 40,
                "customer_id": 4,
                "resolved_at": dt.datetime(2026, 3, 5, tzinfo=UTC),
            }
        ],
    ),
}


def test_corrections_merges_and_resolutions() -> None:
    f = frames_of(TABLES)
    assert f.customers["customer_id"].to_list() == [1, 4]
    assert f.orders.rows() == [(10, 1, dt.date(2026, 3, 1), 100.10, "credit")]
    assert f.order_lines["order_id"].to_list() == [10]
    assert f.order_lines["customer_id"].to_list() == [1]
    # 100.10 - 0.10 - 0.20 summed as decimals: exactly 99.80, not 99.79999999999998.
    assert f.invoices["amount"].to_list() == [99.8]
    assert f.invoices["customer_id"].to_list() == [1]
    assert f.payments.rows() == [(20, 1, dt.date(2026, 3, 9), 50.0)]
    assert f.complaints["resolved_at"].to_list() == [dt.datetime(2026, 3, 5, tzinfo=UTC)]
    assert f.interactions.height == 0  # a kind missing reads as empty


def test_lazy_frames_and_narrowing() -> None:
    eager = frames_of(TABLES, customer_ids=[1])
    lazy = frames_of({k: v.lazy() for k, v in TABLES.items()}, customer_ids=[1])
    for name in ("customers", "orders", "invoices", "payments", "complaints"):
        assert_frame_equal(getattr(eager, name), getattr(lazy, name))
    assert eager.complaints.height == 0 and eager.invoices.height == 1
