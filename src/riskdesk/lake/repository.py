"""SQL of the lake: the event rows past a mark, the complaints resolved since, the current
customers and credit profiles, each streamed in id order, ``chunk`` rows at a time.

No personal data and no free text is selected: individuals' names, ID numbers, phones,
addresses and bank accounts (the ciphertext columns of customers) nor their blind indexes;
nor notes, descriptions, comments and reasons, which erasure clears later (privacy/repository.py,
FREE_TEXT) and a copy outside the database would keep.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Numeric,
    String,
    and_,
    case,
    cast,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from riskdesk.lake.schemas import EVENTS
from riskdesk.models import (
    Complaint,
    CreditProfile,
    Customer,
    Interaction,
    Invoice,
    InvoiceAdjustment,
    Order,
    OrderCancellation,
    OrderLine,
    Payment,
    PaymentReversal,
    Return,
    SurveyResponse,
)
from riskdesk.models.types import UTCDateTime


def _stream(session: Session, stmt: Any, chunk: int) -> Iterator[list[Any]]:
    """``db.stream_columns`` a chunk at a time: rows come as lists of ``chunk``, without a
    generator step per row (a third of the export's time on half a million rows)."""
    result = session.connection().execute(stmt.execution_options(yield_per=chunk))
    for part in result.partitions(chunk):
        yield list(part)


def textual(session: Session) -> bool:
    """True when dates and timestamps come as the text SQLite stores (the caller parses them)."""
    return session.get_bind().dialect.name == "sqlite"


def _wire(session: Session, stmt: Any) -> Any:
    """The statement with its columns as they are cheapest to read in bulk: money as text
    (exact on both databases: PostgreSQL's numeric, SQLite's REAL printed to 15 digits), and
    on SQLite dates and timestamps as their stored text. Polars parses a column of text at once;
    SQLAlchemy's per-value processing took half the export's time."""
    sqlite = textual(session)

    def wired(column: Any) -> Any:
        kind = column.type
        if isinstance(kind, Numeric) and kind.scale:
            return cast(column, String)
        if isinstance(kind, UTCDateTime):
            return type_coerce(column, String if sqlite else DateTime(timezone=True))
        if sqlite and isinstance(kind, Date):
            return type_coerce(column, String)
        return column

    return stmt.with_only_columns(*[wired(c) for c in stmt.selected_columns])


# Each event kind's table. Its columns are schemas.EVENTS' names, in that order (so what the lake
# may hold is reviewed there); an order line's customer and time are its order's.
_EVENT_TABLES: dict[str, Any] = {
    "orders": Order,
    "order_lines": OrderLine,
    "invoices": Invoice,
    "payments": Payment,
    "returns": Return,
    "complaints": Complaint,
    "surveys": SurveyResponse,
    "interactions": Interaction,
    "order_cancellations": OrderCancellation,
    "invoice_adjustments": InvoiceAdjustment,
    "payment_reversals": PaymentReversal,
}
# Kinds that read some columns off a joined table: (table, join condition, those columns).
_JOINED: dict[str, tuple[Any, Any, tuple[str, ...]]] = {
    "order_lines": (Order, Order.id == OrderLine.order_id, ("customer_id", "ordered_at")),
}


def _events(kind: str) -> tuple[Any, Any]:
    """A kind's SELECT (columns in schemas.EVENTS order) and its id column."""
    table = _EVENT_TABLES[kind]
    joined, on, from_joined = _JOINED.get(kind, (None, None, ()))
    stmt = select(
        *[getattr(joined if name in from_joined else table, name) for name in EVENTS[kind]]
    )
    if joined is not None:
        stmt = stmt.join(joined, on)
    return stmt, table.id


def event_rows(
    session: Session, kind: str, *, after: int, ranges: list[tuple[int, int]], chunk: int
) -> Iterator[list[Any]]:
    """A kind's rows with an id above ``after`` or inside one of ``ranges`` (ids a previous
    export found missing: transactions then still open), in id order."""
    stmt, id_col = _events(kind)
    wanted = id_col > after
    for lo, hi in ranges:
        wanted = wanted | and_(id_col >= lo, id_col <= hi)
    return _stream(session, _wire(session, stmt.where(wanted).order_by(id_col)), chunk)


def max_id(session: Session, kind: str) -> int:
    """The highest id of a kind's table (0 when empty)."""
    from sqlalchemy import func

    _, id_col = _events(kind)
    return int(session.scalar(select(func.max(id_col))) or 0)


def resolutions(
    session: Session, *, up_to: int, since: dt.datetime, chunk: int
) -> Iterator[list[Any]]:
    """Complaints an earlier export wrote (id up to ``up_to``) resolved at ``since`` or after."""
    c = Complaint
    stmt = (
        select(c.id, c.customer_id, c.resolved_at)
        .where(c.id <= up_to, c.resolved_at.is_not(None), c.resolved_at >= since)
        .order_by(c.id)
    )
    return _stream(session, _wire(session, stmt), chunk)


def snapshot_rows(session: Session, kind: str, *, chunk: int) -> Iterator[list[Any]]:
    """Every customer (merged ones too: their events point at them until the lake's reader
    folds them into the survivor) or every credit profile, in id order."""
    if kind == "customers":
        c = Customer
        company = c.kind == "company"
        stmt = select(
            c.id, c.kind,
            # A company's legal name and tax number are not personal data; an individual's
            # would be (only companies have them, but the lake does not rely on it).
            case((company, c.company_name), else_=None),
            case((company, c.tax_id), else_=None),
            c.segment, c.industry, c.region, c.status, c.owner_id, c.group_id,
            c.merged_into_id, type_coerce(c.erased_at.is_not(None), Boolean), c.created_at,
            c.updated_at,
        ).order_by(c.id)  # fmt: skip
    elif kind == "profiles":
        p = CreditProfile
        stmt = select(
            p.customer_id, p.score, p.rating, p.rating_override, p.risk_tier, p.scored_at,
            p.credit_limit, p.limit_currency, p.limit_valid_from, p.limit_valid_to,
            p.payment_terms_days, p.prepayment_required, p.blocked, p.last_review_date,
            p.next_review_date,
        ).order_by(p.customer_id)  # fmt: skip
    else:
        raise KeyError(kind)
    return _stream(session, _wire(session, stmt), chunk)
