"""Each customer's indicator state: the events any indicator can still read, kept up to date
from the events as they arrive, so that processing an event never reads the whole history.

The state is the customer's events, trimmed of those no window reaches any more (``trim``),
merged with the new and changed ones by key (``merge``); ``compute`` then runs on it as on the
whole history, so the batch formulas stay the one definition and the two agree exactly. Late and
out-of-order events simply join the set: nothing depends on the order they arrive in.

What an indicator can reach, as of a date A (age = A - day, in days):
- orders: the last 730 days (order gaps), the year before the last order (the usual size, the
  silence a year ago), the first order (tenure), and the orders of invoices kept;
- order lines, interactions: the last 455 days ("usual" is the year before the last 90 days),
  and the first and the latest interaction (its span, the days since);
- invoices: while open, or while their issue, due or settlement date is within 455 days;
  payments go with their invoice (a payment whose invoice has not arrived is kept);
- returns: 365 days; complaints: while open, opened within 455 or resolved within 365 days;
- surveys: 730 days, and the last five and the latest of each type, however old;
- from every source, the customer's latest row dated by A (having one at all can matter).

A is the processing date and only moves forward, so what is dropped at A is dropped for every
later date too. Every bound keeps two days more than the formula reads (a safety margin).
The key of each source is its database id (``_id``; an order's and its lines' is ``order_id``).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping

import polars as pl

from riskdesk.indicators.compute import BEFORE_END, SCHEMAS, EventFrames, settlement_days

MARGIN = 2  # days kept beyond each window's reach
ORDER_REACH = 730 + MARGIN
EVENT_REACH = BEFORE_END + MARGIN
YEAR_REACH = 365 + MARGIN
SURVEY_REACH = 730 + MARGIN
SURVEYS_KEPT = 5  # the satisfaction trend reads the last five answers

ID = "_id"
SRC = "_src"
# The state's sources (the customers' own attributes are read fresh every time) and their keys.
SOURCES = (
    "orders",
    "order_lines",
    "invoices",
    "payments",
    "returns",
    "complaints",
    "surveys",
    "interactions",
)
KEYED = ("payments", "returns", "complaints", "surveys", "interactions")
KEYS = {"orders": "order_id", "invoices": "invoice_id", **{s: ID for s in KEYED}}


def keyed_schema(source: str) -> dict[str, pl.DataType]:
    """A state source's columns: the formulas' columns, and the row's id where they lack one."""
    schema = dict(SCHEMAS[source])
    if source in KEYED:
        schema[ID] = pl.Int64()
    return schema


# One long frame holds every source of a customer in storage: the union of their columns.
_LONG: dict[str, pl.DataType] = {SRC: pl.String()}
for _source in SOURCES:
    _LONG.update(keyed_schema(_source))


def empty() -> EventFrames:
    """A state with no events (the customers frame is the formulas' own)."""
    return EventFrames(
        customers=pl.DataFrame(schema=SCHEMAS["customers"]),
        **{s: pl.DataFrame(schema=keyed_schema(s)) for s in SOURCES},
    )


def without_keys(frames: EventFrames) -> EventFrames:
    """The frames as the formulas read them (the state's extra id columns dropped)."""
    return EventFrames(
        customers=frames.customers,
        **{s: getattr(frames, s).select(list(SCHEMAS[s])) for s in SOURCES},
    )


def concat(*parts: EventFrames) -> EventFrames:
    """The union of states of different customers."""
    return EventFrames(
        customers=pl.concat([p.customers for p in parts]),
        **{s: pl.concat([getattr(p, s) for p in parts]) for s in SOURCES},
    )


def merge(state: EventFrames, new: EventFrames) -> EventFrames:
    """The state with new and changed events put in: a row replaces the one with its key, and an
    order's lines are replaced with the order's new ones."""
    out: dict[str, pl.DataFrame] = {}
    for source in SOURCES:
        old, fresh = getattr(state, source), getattr(new, source)
        if source == "order_lines":
            replaced = new.orders["order_id"].implode()
            old = old.filter(~pl.col("order_id").is_in(replaced))
            out[source] = pl.concat([old, fresh])
            continue
        key = KEYS[source]
        out[source] = pl.concat([old.filter(~pl.col(key).is_in(fresh[key].implode())), fresh])
    return EventFrames(customers=new.customers, **out)


def _days_ago(col: str, as_of: dt.date) -> pl.Expr:
    return (pl.lit(as_of) - pl.col(col)).dt.total_days()


def _latest_past(col: str, as_of: dt.date | dt.datetime) -> pl.Expr:
    """The customer's latest row dated by ``as_of``: kept from every source, because whether a
    customer has any such row at all decides between 0 and "undefined" in some formulas."""
    return pl.col(col) == pl.col(col).filter(pl.col(col) <= as_of).max().over("customer_id")


def trim(frames: EventFrames, as_of: dt.date) -> EventFrames:
    """The frames without the events no indicator reaches on ``as_of`` or any later date
    (vectorised over every customer in them)."""
    end = dt.datetime.combine(as_of, dt.time.max, tzinfo=dt.UTC)
    recent = _days_ago("day", as_of) < EVENT_REACH  # future days included: their age is < 0

    # Invoices: open ones, and those whose dates are within reach; payments go with them.
    invoices = frames.invoices.join(
        settlement_days(frames, as_of).collect(), on="invoice_id", how="left"
    )
    keep_invoice = (
        pl.col("settled_on").is_null()
        | _latest_past("issue_date", as_of)
        | (_days_ago("settled_on", as_of) < EVENT_REACH)
        | (_days_ago("due_date", as_of) < EVENT_REACH)
        | (_days_ago("issue_date", as_of) < EVENT_REACH)
    )
    invoices = invoices.filter(keep_invoice).select(frames.invoices.columns)
    known = frames.invoices["invoice_id"].implode()
    payments = frames.payments.filter(
        pl.col("invoice_id").is_in(invoices["invoice_id"].implode())
        | ~pl.col("invoice_id").is_in(known)
        | pl.col("invoice_id").is_null()
    )

    # Orders: two years, the year before the last order, the first order, and invoices' orders.
    past = pl.col("day") <= as_of
    orders = frames.orders.with_columns(
        _last=pl.col("day").filter(past).max().over("customer_id"),
        _first=pl.col("day").min().over("customer_id"),
    ).filter(
        (_days_ago("day", as_of) < ORDER_REACH)
        | ((pl.col("_last") - pl.col("day")).dt.total_days() <= 365 + MARGIN)
        | (pl.col("day") == pl.col("_first"))
        | pl.col("order_id").is_in(invoices["order_id"].drop_nulls().implode())
    )
    orders = orders.drop("_last", "_first")

    # The first interaction gives the span, the latest the days since.
    interactions = frames.interactions.filter(
        recent
        | (pl.col("day") == pl.col("day").min().over("customer_id"))
        | _latest_past("day", as_of)
    )

    opened = pl.col("opened_at").dt.date()
    complaints = frames.complaints.filter(
        pl.col("resolved_at").is_null()
        | _latest_past("opened_at", end)
        | (pl.col("resolved_at") > end)
        | ((pl.lit(as_of) - pl.col("resolved_at").dt.date()).dt.total_days() < YEAR_REACH)
        | ((pl.lit(as_of) - opened).dt.total_days() < EVENT_REACH)
    )

    # Surveys: two years, the last five answered by now (and any answered later), and the
    # latest of each type. Ties at the cut are all kept.
    answered = pl.col("responded_at") <= end
    surveys = frames.surveys.with_columns(
        _nth=pl.when(answered)
        .then(pl.col("responded_at"))
        .rank("min", descending=True)
        .over("customer_id"),
        _type_latest=pl.when(answered)
        .then(pl.col("responded_at"))
        .max()
        .over("customer_id", "survey_type"),
    ).filter(
        ~answered
        | ((pl.lit(as_of) - pl.col("responded_at").dt.date()).dt.total_days() < SURVEY_REACH)
        | (pl.col("_nth") <= SURVEYS_KEPT)
        | (pl.col("responded_at") == pl.col("_type_latest"))
    )
    surveys = surveys.drop("_nth", "_type_latest")

    return EventFrames(
        customers=frames.customers,
        orders=orders,
        order_lines=frames.order_lines.filter(recent | _latest_past("day", as_of)),
        invoices=invoices,
        payments=payments,
        returns=frames.returns.filter(
            (_days_ago("day", as_of) < YEAR_REACH) | _latest_past("day", as_of)
        ),
        complaints=complaints,
        surveys=surveys,
        interactions=interactions,
    )


# ---------------------------------------------------------------- storage


def to_blobs(frames: EventFrames) -> dict[int, bytes]:
    """Each customer's state as one Arrow IPC document (every customer in ``frames.customers``
    gets one, empty or not)."""
    long = pl.concat(
        [getattr(frames, s).with_columns(pl.lit(s).alias(SRC)) for s in SOURCES],
        how="diagonal",
    ).select(list(_LONG))
    parts = long.partition_by("customer_id", as_dict=True, maintain_order=False)
    out: dict[int, bytes] = {}
    for cid in frames.customers["customer_id"].to_list():
        part = parts.get((cid,), long.clear())
        buffer = io.BytesIO()
        part.write_ipc_stream(buffer, compression="lz4")
        out[cid] = buffer.getvalue()
    return out


def from_blobs(blobs: Mapping[int, bytes], customers: pl.DataFrame) -> EventFrames:
    """The state of the customers in ``customers`` from their stored documents."""
    if blobs:
        long = pl.concat([pl.read_ipc_stream(io.BytesIO(b)) for b in blobs.values()])
    else:
        long = pl.DataFrame(schema=_LONG)
    by_source = long.partition_by(SRC, as_dict=True)
    return EventFrames(
        customers=customers,
        **{
            s: by_source[(s,)].select(list(keyed_schema(s)))
            if (s,) in by_source
            else pl.DataFrame(schema=keyed_schema(s))
            for s in SOURCES
        },
    )
