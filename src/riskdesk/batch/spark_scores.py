"""Scoring on Spark: the indicators as ``batch.spark`` computes them (``compute_base`` per
bucket, then the population step), joined with the config's customers, and
``batch.scoring.score_joined`` per partition with the config broadcast (the model artifacts
travel once per executor, not per row)."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from riskdesk.batch import scoring
from riskdesk.batch.spark import (
    _PANDAS_WARNING,
    BUCKET_MB,
    Plan,
    _schema,
    _spark_type,
    _to_arrow,
    base_indicators,
    population,
    write,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark import Broadcast
    from pyspark.sql import DataFrame, SparkSession


def _score_batches(config: Broadcast[dict[str, Any]]) -> Any:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        found = scoring.ScoringConfig.from_json(config.value)
        for batch in batches:
            joined = pl.from_arrow(batch)
            assert isinstance(joined, pl.DataFrame)
            if joined.height:
                yield from _to_arrow(scoring.score_joined(found, joined)).to_batches()

    return run


def scores(
    spark: SparkSession,
    config_dir: str | Path,
    as_of: dt.date,
    *,
    frames_dir: str | Path | None = None,
    lake_uri: str | Path | None = None,
    out: str | Path | None = None,
    buckets: int | None = None,
    bucket_mb: int = BUCKET_MB,
) -> tuple[DataFrame, Plan]:
    """Every live customer's scores on Spark, from a frames directory or a lake: the result
    sorted by customer (written to ``out`` as Parquet if given) and the plan. ``config_dir``:
    its config.json is read here, on the driver; its customers by Spark (a path or URI)."""
    config = scoring.checked(scoring.read_config(config_dir), as_of)
    if frames_dir is not None:
        base, plan = base_indicators(spark, frames_dir, as_of, buckets=buckets, bucket_mb=bucket_mb)
    else:
        from riskdesk.batch import spark_lake

        assert lake_uri is not None
        base, plan = spark_lake.base_indicators(
            spark, lake_uri, as_of, buckets=buckets, bucket_mb=bucket_mb
        )
    schema = _schema({c: _spark_type(t) for c, t in scoring.result_schema(config).items()})
    base = base.persist()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_PANDAS_WARNING)
            indicators = population(spark, base)
            customers = spark.read.parquet(scoring.customers_path(config_dir))
            joined = customers.join(indicators, on="customer_id", how="left")
            shared = spark.sparkContext.broadcast(config.as_json())
            result = joined.mapInArrow(_score_batches(shared), schema=schema).orderBy("customer_id")
        if out is not None:
            write(result, out)
    finally:
        if out is not None:
            base.unpersist()
    return result, plan
