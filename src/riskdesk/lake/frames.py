"""The lake's raw kinds as the indicators read them: corrections applied, merges folded.

Pure Polars (no database, no files), so an engine can call it on any slice of the lake, one
customer bucket at a time. It does what indicators/repository.py's statements do in SQL:
- a cancelled order and its lines are not read; a reversed payment is not read;
- an invoice's amount is its own plus its adjustments (credit notes are negative);
- a merged customer is not a customer, and events the lake holds under its id belong to the
  survivor (a merge moves the events in the database: the lake keeps them as written and
  folds them here, through the customers snapshot's merged_into_id);
- orders, lines and interactions are read by the UTC day of their timestamp;
- a complaint resolved after it was exported takes its resolution from complaint_resolutions.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from riskdesk.indicators.compute import SCHEMAS, EventFrames
from riskdesk.lake.schemas import RESOLUTIONS, SNAPSHOTS, schema_of

Frame = pl.LazyFrame | pl.DataFrame


def _lazy(tables: Mapping[str, Frame], kind: str) -> pl.LazyFrame:
    found = tables.get(kind)
    if found is None:
        return pl.LazyFrame(schema=schema_of(kind))
    return found.lazy()


def survivors(customers: pl.LazyFrame) -> pl.LazyFrame:
    """Each merged customer's final survivor: (customer_id, survivor_id). A merge repoints the
    earlier merges into the duplicate, but a chain is followed here all the same."""
    links = (
        customers.filter(pl.col("merged_into_id").is_not_null())
        .select(pl.col("id").alias("customer_id"), pl.col("merged_into_id").alias("survivor_id"))
        .collect()
    )
    for _ in range(64):  # a chain longer than this would be a cycle, which merges refuse
        step = links.join(
            links.rename({"customer_id": "survivor_id", "survivor_id": "next_id"}),
            on="survivor_id",
            how="left",
        )
        if step["next_id"].null_count() == step.height:
            break
        links = step.select(
            "customer_id", pl.coalesce("next_id", "survivor_id").alias("survivor_id")
        )
    return links.lazy()


def _folded(frame: pl.LazyFrame, merged: pl.LazyFrame) -> pl.LazyFrame:
    return (
        frame.join(merged, on="customer_id", how="left")
        .with_columns(pl.coalesce("survivor_id", "customer_id").alias("customer_id"))
        .drop("survivor_id")
    )


def _float(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64)


def frames_of(tables: Mapping[str, Frame], *, customer_ids: list[int] | None = None) -> EventFrames:
    """The raw kinds (as the lake stores them; a kind missing is empty) as EventFrames,
    optionally narrowed to some customers (after merges are folded)."""
    customers = _lazy(tables, "customers")
    merged = survivors(customers)

    def kind(name: str) -> pl.LazyFrame:
        return _folded(_lazy(tables, name), merged)

    cancelled = _lazy(tables, "order_cancellations").select("order_id")
    reversed_ = _lazy(tables, "payment_reversals").select(pl.col("payment_id").alias("id"))
    adjusted = (
        _lazy(tables, "invoice_adjustments")
        .group_by("invoice_id")
        .agg(pl.col("amount").sum().alias("adjusted"))
        .rename({"invoice_id": "id"})
    )
    resolved = (
        _lazy(tables, "complaint_resolutions")
        .group_by("complaint_id")
        .agg(pl.col("resolved_at").max().alias("resolved_later"))
        .rename({"complaint_id": "id"})
    )
    orders = kind("orders").join(cancelled.rename({"order_id": "id"}), on="id", how="anti")
    out: dict[str, pl.LazyFrame] = {
        "customers": customers.filter(pl.col("status") != "merged").select(
            pl.col("id").alias("customer_id"), "segment"
        ),
        "orders": orders.select(
            pl.col("id").alias("order_id"),
            "customer_id",
            pl.col("ordered_at").dt.date().alias("day"),
            _float("amount").alias("amount"),
            "payment_method",
        ),
        "order_lines": kind("order_lines")
        .join(cancelled, on="order_id", how="anti")
        .select(
            "order_id",
            "customer_id",
            pl.col("ordered_at").dt.date().alias("day"),
            "category",
            _float("quantity"),
            _float("amount"),
        ),
        "invoices": kind("invoices")
        .join(adjusted, on="id", how="left")
        .select(
            pl.col("id").alias("invoice_id"),
            "customer_id",
            "order_id",
            "issue_date",
            "due_date",
            # Summed as decimals, then made a float: what the database's numeric sum gives.
            (pl.col("amount") + pl.col("adjusted").fill_null(0)).cast(pl.Float64).alias("amount"),
        ),
        "payments": kind("payments")
        .join(reversed_, on="id", how="anti")
        .select("invoice_id", "customer_id", pl.col("paid_on").alias("day"), _float("amount")),
        "returns": kind("returns").select(
            "customer_id", pl.col("returned_on").alias("day"), _float("amount"), "reason"
        ),
        "complaints": kind("complaints")
        .join(resolved, on="id", how="left")
        .select(
            "customer_id",
            "opened_at",
            pl.coalesce("resolved_at", "resolved_later").alias("resolved_at"),
            "severity",
        ),
        "surveys": kind("surveys").select(
            "customer_id", "responded_at", "survey_type", _float("score")
        ),
        "interactions": kind("interactions").select(
            "customer_id", pl.col("occurred_at").dt.date().alias("day")
        ),
    }
    if customer_ids is not None:
        ids = pl.Series(customer_ids, dtype=pl.Int64()).implode()
        out = {n: f.filter(pl.col("customer_id").is_in(ids)) for n, f in out.items()}
    frames = pl.collect_all([out[name] for name in SCHEMAS])
    return EventFrames(
        **{
            name: frame.cast(SCHEMAS[name])  # type: ignore[arg-type]
            for name, frame in zip(SCHEMAS, frames, strict=True)
        }
    )


__all__ = ["RESOLUTIONS", "SNAPSHOTS", "frames_of", "survivors"]
