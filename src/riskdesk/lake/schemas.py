"""What the lake holds: its kinds, their columns and types, and the manifest's shape.

Types are chosen so Polars and Spark both read them without a cast: ids Int64, business dates
Date, timestamps microseconds in UTC (Spark's TimestampType), money Decimal(18, 2) as in the
database (Parquet's DECIMAL: exact, so an invoice's amount plus its adjustments sums to what
PostgreSQL's numeric gives; Float64 would drift a cent's fraction on long sums).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

FORMAT_VERSION = 1
MANIFEST = "_manifest.json"
MONEY = pl.Decimal(18, 2)
TS = pl.Datetime("us", "UTC")

# Event kinds: append-only, exported by row id, partitioned by the month of ``month_of``.
EVENTS: dict[str, dict[str, Any]] = {
    "orders": {
        "id": pl.Int64, "customer_id": pl.Int64, "ordered_at": TS, "amount": MONEY,
        "currency": pl.String, "channel": pl.String, "payment_method": pl.String,
        "received_at": TS,
    },
    "order_lines": {
        "id": pl.Int64, "order_id": pl.Int64, "customer_id": pl.Int64, "ordered_at": TS,
        "line_no": pl.Int64, "category": pl.String, "product": pl.String,
        "quantity": MONEY, "amount": MONEY,
    },
    "invoices": {
        "id": pl.Int64, "customer_id": pl.Int64, "order_id": pl.Int64, "issue_date": pl.Date,
        "due_date": pl.Date, "amount": MONEY, "currency": pl.String, "received_at": TS,
    },
    "payments": {
        "id": pl.Int64, "customer_id": pl.Int64, "invoice_id": pl.Int64, "paid_on": pl.Date,
        "amount": MONEY, "currency": pl.String, "method": pl.String,
        "overpayment": pl.Boolean, "received_at": TS,
    },
    "returns": {
        "id": pl.Int64, "customer_id": pl.Int64, "order_id": pl.Int64,
        "returned_on": pl.Date, "amount": MONEY, "currency": pl.String, "reason": pl.String,
        "received_at": TS,
    },
    "complaints": {
        "id": pl.Int64, "customer_id": pl.Int64, "category": pl.String, "product": pl.String,
        "severity": pl.String, "opened_at": TS, "resolved_at": TS, "received_at": TS,
    },
    "surveys": {
        "id": pl.Int64, "customer_id": pl.Int64, "survey_type": pl.String, "score": pl.Int64,
        "responded_at": TS, "received_at": TS,
    },
    "interactions": {
        "id": pl.Int64, "customer_id": pl.Int64, "occurred_at": TS, "channel": pl.String,
        "kind": pl.String, "next_step_on": pl.Date, "received_at": TS,
    },
    "order_cancellations": {
        "id": pl.Int64, "customer_id": pl.Int64, "order_id": pl.Int64,
        "cancelled_on": pl.Date, "received_at": TS,
    },
    "invoice_adjustments": {
        "id": pl.Int64, "customer_id": pl.Int64, "invoice_id": pl.Int64, "kind": pl.String,
        "amount": MONEY, "currency": pl.String, "adjusted_on": pl.Date, "received_at": TS,
    },
    "payment_reversals": {
        "id": pl.Int64, "customer_id": pl.Int64, "payment_id": pl.Int64,
        "invoice_id": pl.Int64, "amount": MONEY, "currency": pl.String,
        "reversed_on": pl.Date, "received_at": TS,
    },
}  # fmt: skip

# The column whose month names an event's partition: its business date.
MONTH_OF = {
    "orders": "ordered_at",
    "order_lines": "ordered_at",
    "invoices": "issue_date",
    "payments": "paid_on",
    "returns": "returned_on",
    "complaints": "opened_at",
    "surveys": "responded_at",
    "interactions": "occurred_at",
    "order_cancellations": "cancelled_on",
    "invoice_adjustments": "adjusted_on",
    "payment_reversals": "reversed_on",
    "complaint_resolutions": "resolved_at",
}

# The one change the record makes to an event after the fact: the complaint desk resolves a
# complaint (complaints/service.py). Each export appends the resolutions it has not written.
RESOLUTIONS: dict[str, Any] = {"complaint_id": pl.Int64, "customer_id": pl.Int64, "resolved_at": TS}

# Current state, written whole by every export (small beside the events).
SNAPSHOTS: dict[str, dict[str, Any]] = {
    "customers": {
        "id": pl.Int64, "kind": pl.String, "company_name": pl.String, "tax_id": pl.String,
        "segment": pl.String, "industry": pl.String, "region": pl.String,
        "status": pl.String, "owner_id": pl.Int64, "group_id": pl.Int64,
        "merged_into_id": pl.Int64, "erased": pl.Boolean, "created_at": TS, "updated_at": TS,
    },
    "profiles": {
        "customer_id": pl.Int64, "score": pl.Int64, "rating": pl.String,
        "rating_override": pl.String, "risk_tier": pl.String, "scored_at": TS,
        "credit_limit": MONEY, "limit_currency": pl.String, "limit_valid_from": pl.Date,
        "limit_valid_to": pl.Date, "payment_terms_days": pl.Int64,
        "prepayment_required": pl.Boolean, "blocked": pl.Boolean,
        "last_review_date": pl.Date, "next_review_date": pl.Date,
    },
}  # fmt: skip

ALL_EVENTS = (*EVENTS, "complaint_resolutions")


def schema_of(kind: str) -> dict[str, Any]:
    """The columns of a kind, events or snapshots."""
    if kind == "complaint_resolutions":
        return RESOLUTIONS
    return EVENTS.get(kind) or SNAPSHOTS[kind]


@dataclass
class ExportReport:
    """What one export wrote."""

    seq: int
    target: str
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    wrote: bool = False  # False: nothing new, the lake was left as it was

    @property
    def event_rows(self) -> int:
        """New event rows (snapshots not counted)."""
        return sum(n for k, n in self.rows.items() if k not in SNAPSHOTS)
