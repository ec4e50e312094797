"""A warning replay on Spark (``batch.replay``): ``replay_rows`` per bucket of customers.

1. ``compute_base`` per bucket for every replay date (one pass over the events), persisted.
2. The population steps, once per date, on the driver: the indicators' summary from everyone's
   REFERENCE_COLUMNS (as ``batch.spark.population``), and BG/NBD fitted on everyone's purchase
   summary up to the quarter (``churn.summarise`` per bucket, collected sorted by customer, as
   in process). Both travel to the executors once (a broadcast, a closure).
3. Each bucket's base rows cogrouped with its customers' histories (the config directory's
   tables in one long table of typed slots), and ``replay_rows`` run over them.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from riskdesk.batch import replay as batch_replay
from riskdesk.batch.frames import FramesError
from riskdesk.batch.spark import (
    _PANDAS_WARNING,
    BASE_SCHEMA,
    BUCKET_MB,
    Plan,
    _frames_of,
    _schema,
    _to_arrow,
    write,
)
from riskdesk.indicators.compute import (
    REFERENCE_COLUMNS,
    EventFrames,
    Reference,
    compute_base,
    rank_population,
    summarise,
)
from riskdesk.monitoring import churn
from riskdesk.monitoring.replay import fit_of, quarter_of

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark import Broadcast
    from pyspark.sql import DataFrame, SparkSession

DATED_BASE_SCHEMA = f"`as_of` date, {BASE_SCHEMA}"
SUMMARY_SCHEMA = "`quarter` date, `customer_id` bigint, `x` double, `t_x` double, `T` double"
RESULT_SCHEMA = _schema(
    {
        "as_of": "date",
        "customer_id": "bigint",
        "rule_code": "string",
        "warning_type": "string",
        "severity": "string",
        "held": "boolean",
        "trigger_values": "string",
    }
)


def _bases_of_bucket(from_lake: bool, days: Sequence[dt.date]) -> Any:
    def run(table: pa.Table) -> pa.Table:
        if from_lake:
            from riskdesk.batch.spark_lake import tables_of
            from riskdesk.lake.frames import frames_of

            frames: EventFrames = frames_of(tables_of(table))
        else:
            frames = _frames_of(table)
        parts = [
            compute_base(frames, day).select(pl.lit(day, pl.Date).alias("as_of"), pl.all())
            for day in days
        ]
        return _to_arrow(pl.concat(parts))

    return run


def _summaries_of_bucket(quarters: Sequence[dt.date]) -> Any:
    def run(table: pa.Table) -> pa.Table:
        days = pl.from_arrow(table)
        assert isinstance(days, pl.DataFrame)
        parts = [
            churn.summarise(days, quarter, customer="customer_id", day="day").select(
                pl.lit(quarter, pl.Date).alias("quarter"),
                pl.col("customer").alias("customer_id"),
                "x",
                "t_x",
                "T",
            )
            for quarter in quarters
        ]
        return _to_arrow(pl.concat(parts))

    return run


def _placement(
    tables: dict[str, dict[str, str]],
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Where each table's columns travel in the long table of histories (as
    ``batch.spark._slots``): customer_id in a column of its own, the others in typed slots."""
    placement: dict[str, dict[str, str]] = {}
    slots: dict[str, str] = {}
    for name in batch_replay.TABLES:
        used: dict[str, int] = {}
        placement[name] = {}
        for column, kind in tables[name].items():
            if column == "customer_id":
                continue
            slot = f"{kind}_{used.get(kind, 0)}"
            used[kind] = used.get(kind, 0) + 1
            placement[name][column] = slot
            slots[slot] = kind
    return placement, slots


def _histories(
    spark: SparkSession, config_dir: str, inputs: batch_replay.ReplayInputs, count: int
) -> DataFrame:
    """Every table of the config directory in one long table (a ``table`` code, customer_id,
    the typed slots), with each customer's ``bucket``."""
    from pyspark.sql import functions as F

    placement, slots = _placement(inputs.tables)
    parts = []
    for code, name in enumerate(batch_replay.TABLES):
        path = batch_replay.table_path(config_dir, name)
        try:
            frame = spark.read.parquet(path)
        except Exception as exc:
            raise FramesError(
                "--config", f"table {name!r} cannot be read at {path}: {exc}"
            ) from exc
        column_in = {slot: column for column, slot in placement[name].items()}
        parts.append(
            frame.select(
                F.lit(code).cast("tinyint").alias("table"),
                F.col("customer_id").cast("bigint").alias("customer_id"),
                *[
                    (F.col(column_in[slot]) if slot in column_in else F.lit(None))
                    .cast(kind)
                    .alias(slot)
                    for slot, kind in slots.items()
                ],
            )
        )
    long = parts[0]
    for part in parts[1:]:
        long = long.unionByName(part)
    return long.withColumn("bucket", F.pmod(F.xxhash64("customer_id"), F.lit(count)))


def _tables_of(table: pa.Table, tables: dict[str, dict[str, str]]) -> dict[str, pl.DataFrame]:
    """A bucket's long table of histories back into the config directory's tables."""
    placement, _ = _placement(tables)
    long = pl.from_arrow(table)
    assert isinstance(long, pl.DataFrame)
    out = {}
    for code, name in enumerate(batch_replay.TABLES):
        rows = long.filter(pl.col("table") == code)
        slot = {"customer_id": "customer_id", **placement[name]}
        out[name] = rows.select(
            pl.col(slot[c]).cast(batch_replay._KINDS[k]).alias(c) for c, k in tables[name].items()
        )
    return out


def _replay_bucket(
    inputs: dict[str, Any],
    days: Sequence[dt.date],
    references: Broadcast[dict[str, Any]],
    fits: dict[str, tuple[float, float, float, float] | None],
) -> Any:
    def run(base_table: pa.Table, history_table: pa.Table) -> pa.Table:
        found = batch_replay.ReplayInputs.from_json(inputs)
        base = pl.from_arrow(base_table)
        assert isinstance(base, pl.DataFrame)
        if base.height == 0:  # customers with histories but no events: no indicators
            return _to_arrow(pl.DataFrame(schema=batch_replay.RESULT))
        base = base.drop("bucket")
        refs: dict[dt.date, Reference] = {}

        def indicators_at(day: dt.date) -> pl.DataFrame:
            if day not in refs:
                refs[day] = Reference.from_json(references.value[day.isoformat()])
            return rank_population(base.filter(pl.col("as_of") == day).drop("as_of"), refs[day])

        def fit_at(day: dt.date) -> churn.BgNbd | None:
            params = fits[quarter_of(day).isoformat()]
            return churn.BgNbd(*params) if params is not None else None

        history = batch_replay.history_of(
            EventFrames.empty(), _tables_of(history_table, found.tables)
        )
        result = batch_replay.replay_rows(
            history, found, days, indicators_at=indicators_at, fit_at=fit_at
        )
        return _to_arrow(result)

    return run


def replay(
    spark: SparkSession,
    config_dir: str | Path,
    days: Sequence[dt.date],
    *,
    frames_dir: str | Path | None = None,
    lake_uri: str | Path | None = None,
    out: str | Path | None = None,
    buckets: int | None = None,
    bucket_mb: int = BUCKET_MB,
) -> tuple[DataFrame, Plan]:
    """The replay on Spark from a frames directory or a lake and a config directory: the result
    sorted by KEYS (written to ``out`` as Parquet if given) and the plan."""
    from pyspark.sql import functions as F

    config = str(config_dir)
    inputs = batch_replay.checked(batch_replay.read_inputs(config), days)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING)
        if frames_dir is not None:
            from riskdesk.batch import spark as spark_engine

            long, plan = spark_engine.bucketed(
                spark, frames_dir, buckets=buckets, bucket_mb=bucket_mb
            )
        else:
            from riskdesk.batch import spark_lake

            assert lake_uri is not None
            long, plan = spark_lake.bucketed(spark, lake_uri, buckets=buckets, bucket_mb=bucket_mb)
        count = plan.buckets
        base = (
            long.groupBy("bucket")
            .applyInArrow(_bases_of_bucket(frames_dir is None, days), schema=DATED_BASE_SCHEMA)
            .persist()
        )
        try:
            # The indicators' population step, once per date.
            reference = pl.from_arrow(base.select("as_of", *REFERENCE_COLUMNS).toArrow())
            assert isinstance(reference, pl.DataFrame)
            summaries = {
                day.isoformat(): summarise(
                    reference.filter(pl.col("as_of") == day).drop("as_of"), points=None
                ).as_json()
                for day in days
            }
            shared = spark.sparkContext.broadcast(summaries)
            # The churn model's fit on everyone's purchases, once per quarter.
            quarters = sorted({quarter_of(day) for day in days})
            purchases = spark.read.parquet(
                batch_replay.table_path(config, "purchase_days")
            ).withColumn("bucket", F.pmod(F.xxhash64("customer_id"), F.lit(count)))
            collected = pl.from_arrow(
                purchases.groupBy("bucket")
                .applyInArrow(_summaries_of_bucket(quarters), schema=SUMMARY_SCHEMA)
                .toArrow()
            )
            assert isinstance(collected, pl.DataFrame)
            fits: dict[str, tuple[float, float, float, float] | None] = {}
            for quarter in quarters:
                model = fit_of(collected.filter(pl.col("quarter") == quarter).sort("customer_id"))
                fits[quarter.isoformat()] = (
                    (model.r, model.alpha, model.a, model.b) if model is not None else None
                )
            # Each bucket's base rows with its customers' histories.
            keyed = base.withColumn("bucket", F.pmod(F.xxhash64("customer_id"), F.lit(count)))
            histories = _histories(spark, config, inputs, count)
            result = (
                keyed.groupBy("bucket")
                .cogroup(histories.groupBy("bucket"))
                .applyInArrow(
                    _replay_bucket(inputs.as_json(), list(days), shared, fits),
                    schema=RESULT_SCHEMA,
                )
                .orderBy(*batch_replay.KEYS)
            )
            if out is not None:
                write(result, out)
        finally:
            if out is not None:
                base.unpersist()
    return result, plan


def collect(result: DataFrame) -> pl.DataFrame:
    """A Spark replay result as a Polars frame, sorted by KEYS."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING)
        frame = pl.from_arrow(result.toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame.sort(*batch_replay.KEYS)
