"""The Apache Spark engine: the in-process Polars code run per bucket of customers.

Customers are bucketed by a hash of customer_id; every frame's rows go to their customer's
bucket, and ``groupBy(bucket).applyInArrow`` hands each bucket, as one Arrow table, to
``compute_base``, unchanged. The population step (peer percentiles, RFM cut points) needs
everyone's REFERENCE_COLUMNS: one small row per customer, collected to the driver, summarised
there exactly as in process, and the summary broadcast to ``rank_population`` per partition.

Only the session setup imports pyspark's session machinery; pyspark and Java are optional
(the ``spark`` extra), and their absence is a clear ``SparkUnavailable``.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

import riskdesk
from riskdesk.batch.frames import FramesError, prepare_out
from riskdesk.indicators.catalogue import NAMES
from riskdesk.indicators.compute import (
    BASE_COLUMNS,
    REFERENCE_COLUMNS,
    SCHEMAS,
    EventFrames,
    Reference,
    compute_base,
    rank_population,
    summarise,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark import Broadcast
    from pyspark.sql import DataFrame, SparkSession

APP_NAME = "riskdesk-batch"
# A bucket's Arrow table and Polars' working space over it, per byte of Parquet read: Parquet
# compresses these frames some 3-4 times, and the computation holds a few copies of a column.
EXPANSION = 6.0
BUCKET_MB = 256  # memory target per bucket (one Python worker holds one bucket at a time)
MAX_RECORDS_PER_BATCH = 100_000
_PANDAS_WARNING = "PySpark does not yet fully support pandas >= 3"


class SparkUnavailable(RuntimeError):
    """pyspark or Java is missing, or Spark did not start."""


def unavailable_reason() -> str | None:
    """Why the Spark engine cannot run here, or None when it can."""
    try:
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as exc:
        return (
            f"{exc.name} is not installed: the Spark engine needs the spark extra "
            "(pip install --require-hashes -r requirements-spark.lock)"
        )
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and Path(java_home, "bin", "java").exists()):
        return (
            "Java is not installed: Spark needs a Java 17 or 21 runtime (openjdk-17-jre-headless)"
        )
    return None


def session(
    master: str = "local[2]",
    *,
    app_name: str = APP_NAME,
    python_memory: str | None = None,
    conf: dict[str, str] | None = None,
) -> SparkSession:
    """A Spark session set up for the batch: the driver's Python and Riskdesk's source for
    the Python workers (local masters), Arrow batches of a bounded size, UTC, quiet logs.

    ``python_memory`` (e.g. "2g") is ``spark.executor.pyspark.memory``: the Python worker's
    own memory per executor, which cluster managers add to the container."""
    reason = unavailable_reason()
    if reason:
        raise SparkUnavailable(reason)
    from pyspark.sql import SparkSession

    # On one machine the workers are forked from a daemon the JVM starts with this process's
    # environment: it must run this interpreter (Polars, Riskdesk installed) and find Riskdesk's
    # source. On a cluster the executors' Python is the one shipped to them (PYSPARK_PYTHON,
    # e.g. ./environment/bin/python from an archived venv: docs/spark.md), never this path.
    local = master.startswith("local")
    if local:
        source = str(Path(riskdesk.__file__).resolve().parents[1])
        os.environ["PYSPARK_PYTHON"] = sys.executable
        os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
        paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        if source not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join([source, *paths])
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(MAX_RECORDS_PER_BATCH))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.adaptive.enabled", "true")
    )
    # Spark runs one task a core: Polars in each should not start a thread per core too.
    builder = builder.config("spark.executorEnv.POLARS_MAX_THREADS", "1")
    if local:
        # One machine: stay on the loopback interface (no guessing at the host's address).
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.config("spark.driver.host", "127.0.0.1").config(
            "spark.executorEnv.PYTHONPATH", os.environ["PYTHONPATH"]
        )
    if python_memory:
        builder = builder.config("spark.executor.pyspark.memory", python_memory)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_PANDAS_WARNING)
            spark = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: say so, not a Py4J trace
        raise SparkUnavailable(f"Spark did not start on master {master!r}: {exc}") from exc
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def active_session() -> SparkSession | None:
    """The Spark session this process already runs, if any (its owner stops it)."""
    if unavailable_reason():
        return None
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


@dataclass(frozen=True)
class Plan:
    """How a run was cut: buckets and why."""

    buckets: int
    input_bytes: int
    bucket_mb: int


def bucket_count(input_bytes: int, *, bucket_mb: int, parallelism: int) -> int:
    """Enough buckets that each holds about ``bucket_mb`` in memory, and at least one per core
    so that every core has work."""
    by_size = math.ceil(input_bytes * EXPANSION / (bucket_mb * 1024 * 1024))
    return max(1, by_size, parallelism)


def _spark_type(dtype: pl.DataType) -> str:
    if dtype == pl.Int64():
        return "bigint"
    if dtype == pl.Float64():
        return "double"
    if dtype == pl.Date():
        return "date"
    if dtype == pl.String():
        return "string"
    if isinstance(dtype, pl.Datetime):
        return "timestamp"
    raise TypeError(f"no Spark type for {dtype}")


def _slots() -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Where each frame's columns travel in the long table: customer_id in a column of its own,
    the others in typed slots (``bigint_0``, ``date_1``, ...) that the frames share, so that the
    table is no wider than the widest frame (what crosses to Python is what costs)."""
    placement: dict[str, dict[str, str]] = {}
    slots: dict[str, str] = {}
    for name, schema in SCHEMAS.items():
        used: dict[str, int] = {}
        placement[name] = {}
        for column, dtype in schema.items():
            if column == "customer_id":
                continue
            kind = _spark_type(dtype)
            slot = f"{kind}_{used.get(kind, 0)}"
            used[kind] = used.get(kind, 0) + 1
            placement[name][column] = slot
            slots[slot] = kind
    return placement, slots


PLACEMENT, SLOTS = _slots()
FRAME_CODES = {name: code for code, name in enumerate(SCHEMAS)}


def _schema(columns: dict[str, str]) -> str:
    return ", ".join(f"`{name}` {dtype}" for name, dtype in columns.items())


BASE_SCHEMA = _schema(
    {"customer_id": "bigint", "segment": "string", **{n: "double" for n in BASE_COLUMNS[2:]}}
)
RESULT_SCHEMA = _schema({"customer_id": "bigint", **{n: "double" for n in NAMES}})


def read_long(spark: SparkSession, frames_dir: str, buckets: int | None) -> tuple[DataFrame, int]:
    """Every frame of a frames directory in one long table (a ``frame`` code, customer_id, the
    typed slots of PLACEMENT, the customer's ``bucket``), and the Parquet size read."""
    from pyspark.sql import functions as F

    parts = []
    size = 0
    for name, schema in SCHEMAS.items():
        path = f"{frames_dir.rstrip('/')}/{name}"
        try:
            frame = spark.read.parquet(path)
        except Exception as exc:
            raise FramesError(
                "--frames", f"frame {name!r} cannot be read at {path}: {exc}"
            ) from exc
        if set(frame.columns) != set(schema):
            missing = sorted(set(schema) - set(frame.columns))
            extra = sorted(set(frame.columns) - set(schema))
            raise FramesError(
                "--frames", f"frame {name!r}: missing columns {missing}, unexpected columns {extra}"
            )
        size += int(str(frame._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))
        column_in = {slot: column for column, slot in PLACEMENT[name].items()}
        parts.append(
            frame.select(
                F.lit(FRAME_CODES[name]).cast("tinyint").alias("frame"),
                F.col("customer_id").cast("bigint").alias("customer_id"),
                *[
                    (F.col(column_in[slot]) if slot in column_in else F.lit(None))
                    .cast(kind)
                    .alias(slot)
                    for slot, kind in SLOTS.items()
                ],
            )
        )
    long = parts[0]
    for part in parts[1:]:
        long = long.unionByName(part)
    count = buckets or 1
    return long.withColumn("bucket", F.pmod(F.xxhash64("customer_id"), F.lit(count))), size


def _frames_of(table: pa.Table) -> EventFrames:
    """A bucket's long table back into EventFrames, dtypes exactly as SCHEMAS."""
    long = pl.from_arrow(table)
    assert isinstance(long, pl.DataFrame)
    data = {}
    for name, schema in SCHEMAS.items():
        rows = long.filter(pl.col("frame") == FRAME_CODES[name])
        slot = {"customer_id": "customer_id", **PLACEMENT[name]}
        data[name] = rows.select(
            [
                (
                    pl.col(slot[c]).dt.convert_time_zone("UTC").cast(dtype)
                    if isinstance(dtype, pl.Datetime)
                    else pl.col(slot[c]).cast(dtype)
                ).alias(c)
                for c, dtype in schema.items()
            ]
        )
    return EventFrames(**data)


def _to_arrow(frame: pl.DataFrame) -> pa.Table:
    """A Polars frame as Arrow with Spark's types: Polars strings are large_string, Spark's
    string."""
    import pyarrow as pa

    table = frame.to_arrow()
    return table.cast(
        pa.schema(
            [
                pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type)
                for f in table.schema
            ]
        )
    )


def _base_of_bucket(as_of: dt.date) -> Any:
    def run(table: pa.Table) -> pa.Table:
        return _to_arrow(compute_base(_frames_of(table), as_of))

    return run


def _rank_batches(reference: Broadcast[dict[str, Any]]) -> Any:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        ref = Reference.from_json(reference.value)
        for batch in batches:
            base = pl.from_arrow(batch)
            assert isinstance(base, pl.DataFrame)
            if base.height:
                yield from _to_arrow(rank_population(base, ref)).to_batches()

    return run


def indicators(
    spark: SparkSession,
    frames_dir: str | Path,
    as_of: dt.date,
    *,
    out: str | Path | None = None,
    buckets: int | None = None,
    bucket_mb: int = BUCKET_MB,
) -> tuple[DataFrame, Plan]:
    """Every indicator of every customer in a frames directory, on Spark: the result as a
    Spark DataFrame sorted by customer (written to ``out`` as Parquet if given) and the plan."""
    base, plan = base_indicators(spark, frames_dir, as_of, buckets=buckets, bucket_mb=bucket_mb)
    return rank(spark, base, out), plan


def base_indicators(
    spark: SparkSession,
    frames_dir: str | Path,
    as_of: dt.date,
    *,
    buckets: int | None = None,
    bucket_mb: int = BUCKET_MB,
) -> tuple[DataFrame, Plan]:
    """Every customer's base row (BASE_SCHEMA: ``compute_base`` per bucket), not computed yet,
    and the plan; ``population`` ranks it."""
    long, plan = bucketed(spark, frames_dir, buckets=buckets, bucket_mb=bucket_mb)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING)
        base = long.groupBy("bucket").applyInArrow(_base_of_bucket(as_of), schema=BASE_SCHEMA)
    return base, plan


def bucketed(
    spark: SparkSession,
    frames_dir: str | Path,
    *,
    buckets: int | None = None,
    bucket_mb: int = BUCKET_MB,
) -> tuple[DataFrame, Plan]:
    """A frames directory's long table (``read_long``) with each customer's ``bucket``, the
    count chosen from the input's size unless given, and the plan."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING)
        frames = str(frames_dir)
        long, size = read_long(spark, frames, 1)
        count = buckets or bucket_count(
            size, bucket_mb=bucket_mb, parallelism=spark.sparkContext.defaultParallelism
        )
        if count < 1:
            raise FramesError("--buckets", f"must be at least 1, got {count}")
        long, _ = read_long(spark, frames, count)
        # One shuffle partition a bucket: a partition then holds one bucket's rows, no more.
        spark.conf.set("spark.sql.shuffle.partitions", str(count))
        return long, Plan(buckets=count, input_bytes=size, bucket_mb=bucket_mb)


def population(spark: SparkSession, base: DataFrame) -> DataFrame:
    """The population step over every customer's base row (BASE_SCHEMA, persisted by the
    caller: it is read twice): REFERENCE_COLUMNS collected and summarised on the driver,
    ``rank_population`` per partition against the broadcast summary. Every indicator of every
    customer (RESULT_SCHEMA), in no order."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING)
        reference = pl.from_arrow(base.select(*REFERENCE_COLUMNS).toArrow())
        assert isinstance(reference, pl.DataFrame)
        # Every customer's amount is in it (exact ranks): sent to each executor once.
        summary = spark.sparkContext.broadcast(summarise(reference, points=None).as_json())
        return base.mapInArrow(_rank_batches(summary), schema=RESULT_SCHEMA)


def write(result: DataFrame, out: str | Path) -> None:
    """A Spark result to a directory or URI as Parquet (a local directory made ready as the
    polars engine's: frames.prepare_out)."""
    target = str(out)
    if "://" not in target:
        prepare_out(Path(target))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING)
        result.write.mode("overwrite").parquet(target)


def rank(spark: SparkSession, base: DataFrame, out: str | Path | None) -> DataFrame:
    """The population step over every customer's base row (``population``); the result sorted
    by customer (written to ``out`` if given)."""
    base = base.persist()
    try:
        result = population(spark, base).orderBy("customer_id")
        if out is not None:
            write(result, out)
    finally:
        if out is not None:
            base.unpersist()
    return result


def collect(result: DataFrame) -> pl.DataFrame:
    """A Spark result as a Polars frame (for tests and small runs)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING)
        frame = pl.from_arrow(result.toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame.sort("customer_id")
