"""The Spark engine (local[2]) against in-process Polars: every indicator, one bucket and many,
and `riskdesk batch indicators` with both engines.

The tests share one Spark session (conftest) and run in one xdist group, so a test run starts
one JVM. They skip without pyspark or Java, and fail instead under CI=true."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from riskdesk.batch import frames as batch_frames
from riskdesk.batch import spark as spark_engine
from riskdesk.cli.main import app
from riskdesk.indicators.catalogue import NAMES
from riskdesk.indicators.compute import EventFrames, compute
from tests.batch.equality import bit_identical_share, differences
from tests.batch.population import AS_OF, event_count, generate

pytestmark = pytest.mark.xdist_group("spark")


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> tuple[EventFrames, Path]:
    frames = generate(3_000, 300_000, seed=11)
    directory = tmp_path_factory.mktemp("frames")
    batch_frames.write_frames(frames, directory)
    return frames, directory


@pytest.fixture(scope="module")
def in_process(population: tuple[EventFrames, Path]) -> pl.DataFrame:
    return compute(population[0], AS_OF)


def test_the_population_covers_what_the_indicators_read(
    population: tuple[EventFrames, Path], in_process: pl.DataFrame
) -> None:
    frames, _ = population
    assert 400_000 <= event_count(frames) <= 500_000
    no_events = in_process.filter(pl.col("orders_count_365d") == 0, pl.col("tenure_days").is_null())
    assert no_events.height >= 100  # a twentieth of the customers have no event at all
    assert frames.customers["segment"].null_count() > 0
    assert frames.complaints["resolved_at"].null_count() > 0
    assert set(frames.surveys["survey_type"]) == {"csat", "nps"}
    # Every indicator is known for some customer (none is null throughout).
    assert [n for n in NAMES if in_process[n].null_count() == in_process.height] == []


def test_spark_equals_in_process_for_every_indicator(
    spark: Any, population: tuple[EventFrames, Path], in_process: pl.DataFrame
) -> None:
    result, plan = spark_engine.indicators(spark, population[1], AS_OF)
    got = spark_engine.collect(result)
    assert plan.buckets == 2  # 4 MB of Parquet: one bucket per core
    assert got.height == 3_000
    assert differences(got, in_process) == {}
    # Most cells to the last bit; the rest are sums whose order the threads chose.
    assert bit_identical_share(got, in_process) > 0.9


def test_one_bucket_and_many_agree(
    spark: Any, population: tuple[EventFrames, Path], in_process: pl.DataFrame
) -> None:
    one = spark_engine.collect(spark_engine.indicators(spark, population[1], AS_OF, buckets=1)[0])
    many = spark_engine.collect(spark_engine.indicators(spark, population[1], AS_OF, buckets=16)[0])
    assert differences(one, many) == {}
    assert differences(many, in_process) == {}


def test_cli_both_engines_write_equal_files(spark: Any, tmp_path: Path) -> None:
    frames = generate(200, 12_000, seed=12)
    batch_frames.write_frames(frames, tmp_path / "frames")
    runner = CliRunner()
    args = ["batch", "indicators", "--frames", str(tmp_path / "frames"), "--as-of", "2026-06-30"]
    for engine in ("polars", "spark"):
        done = runner.invoke(app, [*args, "--engine", engine, "--out", str(tmp_path / engine)])
        assert done.exit_code == 0, done.output
    polars_file = batch_frames.read_result(tmp_path / "polars")
    spark_file = batch_frames.read_result(tmp_path / "spark")
    assert spark_file.height == 200
    assert differences(spark_file, polars_file) == {}
    # Spark wrote its parts in customer order already.
    unsorted = pl.read_parquet(sorted((tmp_path / "spark").glob("*.parquet")))
    assert unsorted["customer_id"].is_sorted()
    assert spark.sparkContext._jsc is not None  # the CLI left the caller's session running
