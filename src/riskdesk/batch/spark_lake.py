"""The Spark engine reading the lake: raw kinds bucketed by customer, ``lake.frames_of`` per
bucket, then ``compute_base`` and the population step as for a frames directory.

Corrections and merges are applied by ``frames_of`` in each bucket, never in Spark SQL: one
definition for every engine. What Spark does is put together what ``frames_of`` needs:
- every kind is read from the files the manifest lists (a failed export leaves files no
  manifest lists: a directory listing would read them);
- each row's customer is mapped to its final survivor through the merged customers (a few rows
  beside the events, chains followed by ``lake.frames.survivors``, broadcast to the join);
- every row goes to the bucket of that survivor, the customers snapshot rows too, so a bucket
  holds a survivor's events, those still under its duplicates' ids, the duplicates' customers
  rows that fold them, and the corrections of those events. A correction carries the customer
  of the event it corrects (intake refuses another customer's: ``customer_mismatch``, and a
  merge moves both), order lines carry their order's customer (the export joins it in).
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from riskdesk.batch.frames import FramesError
from riskdesk.batch.spark import (
    _PANDAS_WARNING,
    BASE_SCHEMA,
    BUCKET_MB,
    Plan,
    _to_arrow,
    bucket_count,
    rank,
)
from riskdesk.indicators.compute import compute_base
from riskdesk.lake.frames import frames_of, survivors
from riskdesk.lake.schemas import schema_of
from riskdesk.lake.store import Lake

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

# The columns of each raw kind that frames_of reads (only these cross to Python: what crosses
# is what costs). tests/batch/test_lake_engines.py checks frames_of gives the same frames from
# these columns as from every column, so a column it starts reading fails there, not silently.
READS: dict[str, tuple[str, ...]] = {
    "customers": ("id", "status", "segment", "merged_into_id"),
    "orders": ("id", "customer_id", "ordered_at", "amount", "payment_method"),
    "order_lines": ("order_id", "customer_id", "ordered_at", "category", "quantity", "amount"),
    "invoices": ("id", "customer_id", "order_id", "issue_date", "due_date", "amount"),
    "payments": ("id", "customer_id", "invoice_id", "paid_on", "amount"),
    "returns": ("customer_id", "returned_on", "amount", "reason"),
    "complaints": ("id", "customer_id", "opened_at", "resolved_at", "severity"),
    "surveys": ("customer_id", "responded_at", "survey_type", "score"),
    "interactions": ("customer_id", "occurred_at"),
    "order_cancellations": ("customer_id", "order_id"),
    "invoice_adjustments": ("customer_id", "invoice_id", "amount"),
    "payment_reversals": ("customer_id", "payment_id"),
    "complaint_resolutions": ("complaint_id", "customer_id", "resolved_at"),
}
# The column naming a row's customer: the customers snapshot's own id, else customer_id.
KEY = {kind: ("id" if kind == "customers" else "customer_id") for kind in READS}
KIND_CODES = {kind: code for code, kind in enumerate(READS)}


def _spark_type(dtype: Any) -> str:
    """The Spark type a lake column is read as (the types need no cast: lake/schemas.py)."""
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision},{dtype.scale})"
    if isinstance(dtype, pl.Datetime) or dtype == pl.Datetime:
        return "timestamp"
    names = {pl.Int64: "bigint", pl.String: "string", pl.Date: "date", pl.Boolean: "boolean"}
    for polars_type, name in names.items():
        if dtype == polars_type:
            return name
    raise TypeError(f"no Spark type for {dtype}")


def _slots() -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Each kind's columns (its key aside) in typed slots the kinds share, as for frames."""
    placement: dict[str, dict[str, str]] = {}
    slots: dict[str, str] = {}
    for kind, columns in READS.items():
        schema = schema_of(kind)
        used: dict[str, int] = {}
        placement[kind] = {}
        for column in columns:
            if column == KEY[kind]:
                continue
            spark_type = _spark_type(schema[column])
            # Slot names are plain identifiers: decimal(18,2) becomes decimal_18_2_0.
            stem = spark_type.replace("(", "_").replace(",", "_").rstrip(")")
            slot = f"{stem}_{used.get(stem, 0)}"
            used[stem] = used.get(stem, 0) + 1
            placement[kind][column] = slot
            slots[slot] = spark_type
    return placement, slots


PLACEMENT, SLOTS = _slots()


def _files(lake_uri: str) -> dict[str, list[str]]:
    """Each kind's files as the manifest lists them, as URIs Spark reads; FramesError naming
    --lake for a lake never exported to."""
    try:
        lake = Lake(lake_uri)
        manifest = lake.manifest()
    except (ValueError, ImportError, OSError) as exc:
        raise FramesError("--lake", f"cannot open the lake at {lake_uri}: {exc}") from exc
    if manifest is None:
        raise FramesError("--lake", f"no lake at {lake_uri} (no _manifest.json)")
    root = lake_uri.rstrip("/")
    kinds: dict[str, Any] = manifest.get("kinds", {})
    return {kind: [f"{root}/{f}" for f in kinds.get(kind, {}).get("files", [])] for kind in READS}


def _owners(spark: SparkSession, customers: DataFrame | None) -> DataFrame | None:
    """(customer_id, survivor_id) of every merged customer, chains followed by the same
    ``survivors`` as frames_of; None when nobody is merged."""
    if customers is None:
        return None
    from pyspark.sql import functions as F

    merged = pl.from_arrow(
        customers.where(F.col("merged_into_id").isNotNull())
        .select(F.col("id").cast("bigint"), F.col("merged_into_id").cast("bigint"))
        .toArrow()
    )
    assert isinstance(merged, pl.DataFrame)
    if merged.is_empty():
        return None
    links = survivors(merged.lazy()).collect()
    return spark.createDataFrame(links.to_arrow(), schema="customer_id bigint, survivor_id bigint")


def read_long(spark: SparkSession, lake_uri: str) -> tuple[DataFrame, int]:
    """Every raw kind of the lake in one long table (a ``kind`` code, the row's customer as
    written, its survivor ``owner``, the typed slots of PLACEMENT), and the Parquet size read."""
    from pyspark.sql import functions as F

    files = _files(lake_uri)
    read: dict[str, DataFrame] = {}
    size = 0
    for kind, paths in files.items():
        if not paths:  # never written (no such event yet): frames_of reads it as empty
            continue
        try:
            frame = spark.read.parquet(*paths)
        except Exception as exc:
            raise FramesError("--lake", f"kind {kind!r} cannot be read: {exc}") from exc
        missing = sorted(set(READS[kind]) - set(frame.columns))
        if missing:
            raise FramesError("--lake", f"kind {kind!r}: missing columns {missing}")
        size += int(str(frame._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))
        read[kind] = frame
    if "customers" not in read:
        raise FramesError("--lake", f"no customers snapshot in the lake at {lake_uri}")
    owners = _owners(spark, read["customers"])
    parts = []
    for kind, frame in read.items():
        keyed = frame.select(
            F.col(KEY[kind]).cast("bigint").alias("customer_id"),
            *[F.col(c) for c in READS[kind] if c != KEY[kind]],
        )
        if owners is None:
            keyed = keyed.withColumn("owner", F.col("customer_id"))
        else:
            keyed = (
                keyed.join(F.broadcast(owners), on="customer_id", how="left")
                .withColumn("owner", F.coalesce("survivor_id", "customer_id"))
                .drop("survivor_id")
            )
        column_in = {slot: column for column, slot in PLACEMENT[kind].items()}
        parts.append(
            keyed.select(
                F.lit(KIND_CODES[kind]).cast("tinyint").alias("kind"),
                "customer_id",
                "owner",
                *[
                    (F.col(column_in[slot]) if slot in column_in else F.lit(None))
                    .cast(spark_type)
                    .alias(slot)
                    for slot, spark_type in SLOTS.items()
                ],
            )
        )
    long = parts[0]
    for part in parts[1:]:
        long = long.unionByName(part)
    return long, size


def _column(frame: pl.DataFrame, slot: str, dtype: Any) -> pl.Expr:
    """A slot back as the lake's dtype: Spark hands timestamps over in the session's zone
    (UTC here) or naive on older versions; both are read as UTC."""
    if isinstance(dtype, pl.Datetime):
        found = frame.schema[slot]
        zoned = isinstance(found, pl.Datetime) and found.time_zone is not None
        expr = (
            pl.col(slot).dt.convert_time_zone("UTC")
            if zoned
            else pl.col(slot).dt.replace_time_zone("UTC")
        )
        return expr.cast(dtype)
    return pl.col(slot).cast(dtype)


def tables_of(table: pa.Table) -> dict[str, pl.DataFrame]:
    """A bucket's long table back into the raw kinds, with the lake's dtypes (Decimal money,
    Date, UTC microsecond timestamps), as frames_of reads them from the lake's files."""
    long = pl.from_arrow(table)
    assert isinstance(long, pl.DataFrame)
    tables: dict[str, pl.DataFrame] = {}
    for kind, columns in READS.items():
        schema = schema_of(kind)
        rows = long.filter(pl.col("kind") == KIND_CODES[kind])
        slot = {KEY[kind]: "customer_id", **PLACEMENT[kind]}
        tables[kind] = rows.select([_column(rows, slot[c], schema[c]).alias(c) for c in columns])
    return tables


def _base_of_bucket(as_of: dt.date) -> Any:
    def run(table: pa.Table) -> pa.Table:
        return _to_arrow(compute_base(frames_of(tables_of(table)), as_of))

    return run


def indicators(
    spark: SparkSession,
    lake_uri: str | Path,
    as_of: dt.date,
    *,
    out: str | Path | None = None,
    buckets: int | None = None,
    bucket_mb: int = BUCKET_MB,
) -> tuple[DataFrame, Plan]:
    """Every indicator of every customer in a lake, on Spark: the result sorted by customer
    (written to ``out`` as Parquet if given) and the plan."""
    base, plan = base_indicators(spark, lake_uri, as_of, buckets=buckets, bucket_mb=bucket_mb)
    return rank(spark, base, out), plan


def base_indicators(
    spark: SparkSession,
    lake_uri: str | Path,
    as_of: dt.date,
    *,
    buckets: int | None = None,
    bucket_mb: int = BUCKET_MB,
) -> tuple[DataFrame, Plan]:
    """Every customer's base row from a lake (``spark.base_indicators``), and the plan."""
    long, plan = bucketed(spark, lake_uri, buckets=buckets, bucket_mb=bucket_mb)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING)
        base = long.groupBy("bucket").applyInArrow(_base_of_bucket(as_of), schema=BASE_SCHEMA)
    return base, plan


def bucketed(
    spark: SparkSession,
    lake_uri: str | Path,
    *,
    buckets: int | None = None,
    bucket_mb: int = BUCKET_MB,
) -> tuple[DataFrame, Plan]:
    """A lake's long table (``read_long``) with each row's ``bucket`` (its survivor's), the
    count chosen from the input's size unless given, and the plan."""
    from pyspark.sql import functions as F

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING)
        long, size = read_long(spark, str(lake_uri))
        count = buckets or bucket_count(
            size, bucket_mb=bucket_mb, parallelism=spark.sparkContext.defaultParallelism
        )
        if count < 1:
            raise FramesError("--buckets", f"must be at least 1, got {count}")
        long = long.withColumn("bucket", F.pmod(F.xxhash64("owner"), F.lit(count))).drop("owner")
        spark.conf.set("spark.sql.shuffle.partitions", str(count))
        return long, Plan(buckets=count, input_bytes=size, bucket_mb=bucket_mb)
