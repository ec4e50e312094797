"""Incremental indicator state = the batch formulas over the whole history.

Random event streams arrive in random order and late, some complaints are resolved later, and
processing days move forward; after every step the state (merged, trimmed) must give exactly
the indicators the whole history gives. ``load_changes`` here does in Polars what the
repository does in SQL: the new rows by id, and the rows they need (an invoice's payments and
order, a payment's invoice, an order's lines)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskdesk.indicators import state
from riskdesk.indicators.catalogue import RETURN_REASONS
from riskdesk.indicators.compute import SCHEMAS, EventFrames, compute

START = dt.date(2023, 1, 1)
SPAN = 1100  # days of history the events are spread over
UTC = dt.UTC


@dataclass
class World:
    """Every event with the processing step it arrives at; complaints may be resolved later."""

    rows: dict[str, list[dict[str, object]]] = field(
        default_factory=lambda: {s: [] for s in state.SOURCES}
    )
    arrives: dict[str, list[int]] = field(default_factory=lambda: {s: [] for s in state.SOURCES})
    resolutions: dict[int, tuple[int, dt.datetime]] = field(default_factory=dict)

    def add(self, source: str, row: dict[str, object], step: int) -> None:
        self.rows[source].append(row)
        self.arrives[source].append(step)

    def frames(self, step: int, customers: pl.DataFrame) -> EventFrames:
        """The database after ``step``."""
        out: dict[str, pl.DataFrame] = {}
        for source in state.SOURCES:
            rows = []
            for row, at in zip(self.rows[source], self.arrives[source], strict=True):
                if at > step:
                    continue
                row = dict(row)
                if source == "complaints":
                    resolution = self.resolutions.get(int(str(row["_id"])))
                    if resolution is not None and resolution[0] <= step:
                        row["resolved_at"] = resolution[1]
                rows.append(row)
            out[source] = pl.DataFrame(rows, schema=state.keyed_schema(source), orient="row")
        return EventFrames(customers=customers, **out)

    def changed(self, step: int) -> dict[str, set[int]]:
        """The refs a queue row carries for ``step``: ids of rows written or changed then."""
        refs: dict[str, set[int]] = {s: set() for s in state.SOURCES}
        for source in state.SOURCES:
            key = state.KEYS.get(source, "order_id")
            for row, at in zip(self.rows[source], self.arrives[source], strict=True):
                if at == step:
                    refs[source].add(int(str(row[key])))
        for cid, (at, _) in self.resolutions.items():
            if at == step:
                refs["complaints"].add(cid)
        return refs


def load_changes(db: EventFrames, refs: dict[str, set[int]]) -> EventFrames:
    """What the repository reads for a step's refs (see the module docstring)."""

    def having(frame: pl.DataFrame, col: str, ids: set[int] | pl.Series) -> pl.DataFrame:
        return frame.filter(pl.col(col).is_in(pl.Series(list(ids), dtype=pl.Int64).implode()))

    paid = having(db.payments, "_id", refs["payments"])
    invoice_ids = set(refs["invoices"]) | set(paid["invoice_id"].drop_nulls().to_list())
    invoices = having(db.invoices, "invoice_id", invoice_ids)
    payments = pl.concat([paid, having(db.payments, "invoice_id", invoice_ids)]).unique("_id")
    order_ids = set(refs["orders"]) | set(invoices["order_id"].drop_nulls().to_list())
    return EventFrames(
        customers=db.customers,
        orders=having(db.orders, "order_id", order_ids),
        order_lines=having(db.order_lines, "order_id", order_ids),
        invoices=invoices,
        payments=payments,
        returns=having(db.returns, "_id", refs["returns"]),
        complaints=having(db.complaints, "_id", refs["complaints"]),
        surveys=having(db.surveys, "_id", refs["surveys"]),
        interactions=having(db.interactions, "_id", refs["interactions"]),
    )


def at(day: int, seconds: int = 0) -> dt.datetime:
    return dt.datetime.combine(START + dt.timedelta(days=day), dt.time(), tzinfo=UTC) + (
        dt.timedelta(seconds=seconds)
    )


@st.composite
def worlds(draw: st.DrawFn) -> tuple[World, list[dt.date], pl.DataFrame]:
    steps = draw(st.integers(min_value=2, max_value=6))
    # Processing days move forward; events are dated anywhere up to a little after them.
    days = sorted(draw(st.lists(st.integers(300, SPAN), min_size=steps, max_size=steps)))
    as_of = [START + dt.timedelta(days=d) for d in days]
    n_customers = draw(st.integers(1, 3))
    customers = pl.DataFrame(
        {
            "customer_id": list(range(1, n_customers + 1)),
            "segment": [draw(st.sampled_from(["company", "consumer"])) for _ in range(n_customers)],
        },
        schema=SCHEMAS["customers"],
    )
    world = World()
    ids = iter(range(1, 100_000))
    step = st.integers(0, steps - 1)

    def when(limit: int) -> tuple[int, int]:
        """A day, and a step it arrives at (often late, sometimes before its day)."""
        return draw(st.integers(0, limit)), draw(step)

    for cid in range(1, n_customers + 1):
        for _ in range(draw(st.integers(0, 14))):
            oid, (day, s) = next(ids), when(SPAN)
            amount = float(draw(st.integers(1, 50)) * 100)
            method = draw(st.sampled_from(["bank_transfer", "cash_on_delivery"]))
            world.add(
                "orders",
                {
                    "order_id": oid,
                    "customer_id": cid,
                    "day": START + dt.timedelta(days=day),
                    "amount": amount,
                    "payment_method": method,
                },
                s,
            )
            for _line in range(draw(st.integers(1, 2))):
                world.add(
                    "order_lines",
                    {
                        "order_id": oid,
                        "customer_id": cid,
                        "day": START + dt.timedelta(days=day),
                        "category": draw(st.sampled_from("abc")),
                        "quantity": float(draw(st.integers(1, 9))),
                        "amount": amount / 2,
                    },
                    s,
                )
            if draw(st.booleans()):
                iid, issue = next(ids), day + draw(st.integers(0, 5))
                s_inv = max(s, draw(step))
                world.add(
                    "invoices",
                    {
                        "invoice_id": iid,
                        "customer_id": cid,
                        "order_id": oid,
                        "issue_date": START + dt.timedelta(days=issue),
                        "due_date": START + dt.timedelta(days=issue + 30),
                        "amount": amount,
                    },
                    s_inv,
                )
                left = amount
                for _pay in range(draw(st.integers(0, 3))):
                    part = min(left, float(draw(st.integers(1, 60)) * 100))
                    if part <= 0:
                        break
                    left -= part
                    world.add(
                        "payments",
                        {
                            "invoice_id": iid,
                            "customer_id": cid,
                            "day": START + dt.timedelta(days=issue + draw(st.integers(0, 200))),
                            "amount": part,
                            "_id": next(ids),
                        },
                        draw(step),
                    )
        for _ in range(draw(st.integers(0, 4))):
            day, s = when(SPAN)
            world.add(
                "returns",
                {
                    "customer_id": cid,
                    "day": START + dt.timedelta(days=day),
                    "amount": float(draw(st.integers(1, 30)) * 10),
                    "reason": draw(st.sampled_from(RETURN_REASONS)),
                    "_id": next(ids),
                },
                s,
            )
        for _ in range(draw(st.integers(0, 4))):
            (day, s), rid = when(SPAN), next(ids)
            world.add(
                "complaints",
                {
                    "customer_id": cid,
                    "opened_at": at(day, 3600),
                    "resolved_at": None,
                    "severity": draw(st.sampled_from(["low", "medium", "high", "critical"])),
                    "_id": rid,
                },
                s,
            )
            if draw(st.booleans()):
                resolved = at(day + draw(st.integers(0, 400)), 7200)
                world.resolutions[rid] = (max(s, draw(step)), resolved)
        for n in range(draw(st.integers(0, 9))):
            day, s = when(SPAN)
            kind = draw(st.sampled_from(["csat", "nps"]))
            score = float(draw(st.integers(1, 5) if kind == "csat" else st.integers(0, 10)))
            world.add(
                "surveys",
                {
                    "customer_id": cid,
                    "responded_at": at(day, 60 * n + cid),
                    "survey_type": kind,
                    "score": score,
                    "_id": next(ids),
                },
                s,
            )
        for _ in range(draw(st.integers(0, 6))):
            day, s = when(SPAN)
            world.add(
                "interactions",
                {"customer_id": cid, "day": START + dt.timedelta(days=day), "_id": next(ids)},
                s,
            )
    return world, as_of, customers


def assert_same(got: pl.DataFrame, want: pl.DataFrame, as_of: dt.date) -> None:
    assert got.columns == want.columns
    assert got["customer_id"].to_list() == want["customer_id"].to_list()
    for name in got.columns:
        for cid, a, b in zip(got["customer_id"], got[name], want[name], strict=True):
            same = (a is None and b is None) or (
                a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
            )
            assert same, (name, cid, a, b, as_of)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_incremental_state_gives_the_batch_values(
    case: tuple[World, list[dt.date], pl.DataFrame],
) -> None:
    world, as_of, customers = case
    current = state.empty()
    for step, day in enumerate(as_of):
        db = world.frames(step, customers)
        new = load_changes(db, world.changed(step))
        current = state.trim(state.merge(current, new), day)
        got = compute(state.without_keys(current), day)
        want = compute(state.without_keys(db), day)
        assert_same(got, want, day)
        # What is stored reads back the same.
        stored = state.from_blobs(state.to_blobs(current), customers)
        for source in state.SOURCES:
            assert (
                getattr(stored, source)
                .sort(pl.all())
                .equals(getattr(current, source).sort(pl.all()))
            ), source


def test_trim_drops_what_no_window_reaches() -> None:
    """The state stays bounded: old settled invoices, old returns and lines leave it."""
    customers = pl.DataFrame(
        {"customer_id": [1], "segment": ["company"]}, schema=SCHEMAS["customers"]
    )
    world = World()
    for n in range(40):  # an order a month for 40 months, invoiced and paid on time
        day = n * 30
        world.add(
            "orders",
            {
                "order_id": n + 1,
                "customer_id": 1,
                "day": START + dt.timedelta(days=day),
                "amount": 100.0,
                "payment_method": "bank_transfer",
            },
            0,
        )
        world.add(
            "order_lines",
            {
                "order_id": n + 1,
                "customer_id": 1,
                "day": START + dt.timedelta(days=day),
                "category": "a",
                "quantity": 1.0,
                "amount": 100.0,
            },
            0,
        )
        world.add(
            "invoices",
            {
                "invoice_id": 1000 + n,
                "customer_id": 1,
                "order_id": n + 1,
                "issue_date": START + dt.timedelta(days=day),
                "due_date": START + dt.timedelta(days=day + 30),
                "amount": 100.0,
            },
            0,
        )
        world.add(
            "payments",
            {
                "invoice_id": 1000 + n,
                "customer_id": 1,
                "day": START + dt.timedelta(days=day + 20),
                "amount": 100.0,
                "_id": 5000 + n,
            },
            0,
        )
        world.add(
            "returns",
            {
                "customer_id": 1,
                "day": START + dt.timedelta(days=day),
                "amount": 5.0,
                "reason": "damaged",
                "_id": 9000 + n,
            },
            0,
        )
    day = START + dt.timedelta(days=40 * 30)
    db = world.frames(0, customers)
    trimmed = state.trim(db, day)
    assert trimmed.orders.height == 24 + 1  # two years and the first order
    assert trimmed.invoices.height == 16  # dates within 457 days (the latest among them)
    assert trimmed.payments.height == trimmed.invoices.height
    assert trimmed.order_lines.height == 15
    assert trimmed.returns.height == 12
    assert_same(
        compute(state.without_keys(trimmed), day), compute(state.without_keys(db), day), day
    )
