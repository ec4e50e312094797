"""Both engines reading the lake: a demo population with corrections, a merge chain made after
the first export (so the lake holds events under the merged customers' ids) and a complaint
resolved later, exported twice; Spark --lake (one bucket and many) = polars --lake = the
indicators computed from the database.

The database side runs on the test backends (SQLite; PostgreSQL too when configured): what is
tested here is the lake's reading, which tests/lake compares with the database on both."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from riskdesk.batch import frames as batch_frames
from riskdesk.batch import local, spark_lake
from riskdesk.batch import scoring as batch_scoring
from riskdesk.batch.spark import collect
from riskdesk.cli.main import app
from riskdesk.customers import service as customer_service
from riskdesk.demo.loader import load_demo
from riskdesk.indicators import service as indicator_service
from riskdesk.indicators.compute import SCHEMAS, compute
from riskdesk.kit.timeutil import utcnow
from riskdesk.lake import frames_of
from riskdesk.lake import service as lake_service
from riskdesk.models import Complaint, Customer
from riskdesk.scoring import service as scoring_service
from tests.batch.equality import differences, score_differences
from tests.conftest import principal
from tests.lake.test_lake import correct

pytestmark = pytest.mark.xdist_group("spark")

END = dt.date(2026, 6, 30)


def build_lake(db: Session, target: str, customers: int = 40) -> list[int]:
    """Export, then merge a into b and b into c, correct again, resolve a complaint, export
    again; the merged ids (whose events the lake holds as written)."""
    load_demo(db, customers=customers, months=6, seed=11, end_date=END)
    correct(db, "1")
    assert lake_service.export(db, target, chunk_rows=500, file_rows=1500).wrote
    a, b, c = db.scalars(
        select(Customer.id).where(Customer.kind == "company").order_by(Customer.id).limit(3)
    ).all()
    manager = principal(db, "manager")
    customer_service.merge_customers(db, manager, survivor_id=b, duplicate_id=a, reason="dup")
    customer_service.merge_customers(db, manager, survivor_id=c, duplicate_id=b, reason="dup")
    correct(db, "2", offset=3)
    open_one = db.scalars(select(Complaint).where(Complaint.resolved_at.is_(None))).first()
    if open_one is not None:
        open_one.resolved_at, open_one.status = utcnow(), "resolved"
    db.flush()
    assert lake_service.export(db, target, chunk_rows=500, file_rows=1500).wrote
    return [a, b]


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


def test_spark_lake_equals_polars_lake_equals_the_database(
    spark: Any, db: Session, tmp_path: Path
) -> None:
    target = str(tmp_path / "lake")
    merged = build_lake(db, target)
    tables = lake_service.read_tables(target)
    # The folding matters: the lake holds events under the merged ids, and corrections.
    assert tables["orders"].filter(pl.col("customer_id").is_in(merged)).height > 0
    assert tables["order_cancellations"].height == 2 and tables["payment_reversals"].height == 2
    # What a failed third export would leave: files no manifest lists (here a copy of every
    # orders file). Read from the manifest, never by listing, they change nothing.
    listed = sorted(Path(target).glob("orders/month=*/part-000001-*.parquet"))
    assert listed
    for path in listed:
        shutil.copy(path, path.with_name(path.name.replace("000001", "000003")))
    want = compute(indicator_service.load_history(db), END).sort("customer_id")
    assert not set(merged) & set(want["customer_id"])

    polars_lake = local.indicators_from_lake(target, END).sort("customer_id")
    assert differences(polars_lake, want) == {}

    result, plan = spark_lake.indicators(spark, target, END)
    assert plan.buckets == 2  # a few hundred KB: one bucket per core
    spark_default = collect(result)
    assert differences(spark_default, want) == {}
    one = collect(spark_lake.indicators(spark, target, END, buckets=1)[0])
    many = collect(spark_lake.indicators(spark, target, END, buckets=16)[0])
    assert differences(one, many) == {}
    assert differences(many, polars_lake) == {}


def test_the_columns_spark_sends_are_all_frames_of_reads(db: Session, tmp_path: Path) -> None:
    """READS guards what crosses to Python: frames_of on those columns alone, with the dtypes
    a bucket rebuilds, gives what it gives on the whole lake."""
    import pyarrow as pa

    target = str(tmp_path / "lake")
    build_lake(db, target, customers=12)
    tables = lake_service.read_tables(target)
    whole = frames_of(tables)
    # A bucket as the long table Spark hands over: kind code, customer_id, slots.
    parts = []
    for kind, columns in spark_lake.READS.items():
        table = tables[kind]
        key = spark_lake.KEY[kind]
        parts.append(
            table.select(
                pl.lit(spark_lake.KIND_CODES[kind], pl.Int8).alias("kind"),
                pl.col(key).alias("customer_id"),
                *[pl.col(c).alias(spark_lake.PLACEMENT[kind][c]) for c in columns if c != key],
            )
        )
    long = pl.concat(parts, how="diagonal_relaxed")
    narrow = frames_of(spark_lake.tables_of(pa.table(long.to_arrow())))
    for name in SCHEMAS:
        assert_frame_equal(_sorted(getattr(narrow, name)), _sorted(getattr(whole, name)))


def test_cli_lake_with_both_engines(spark: Any, db: Session, tmp_path: Path) -> None:
    target = tmp_path / "lake"
    build_lake(db, str(target), customers=12)
    runner = CliRunner()
    args = ["batch", "indicators", "--as-of", END.isoformat()]
    # Spark reads the manifest through fsspec and the files through Hadoop: both take file://.
    for engine, lake in (("polars", str(target)), ("spark", f"file://{target}")):
        done = runner.invoke(
            app, [*args, "--lake", lake, "--engine", engine, "--out", str(tmp_path / engine)]
        )
        assert done.exit_code == 0, done.output
        assert '"input": "lake"' in done.output
    polars_file = batch_frames.read_result(tmp_path / "polars")
    spark_file = batch_frames.read_result(tmp_path / "spark")
    assert differences(spark_file, polars_file) == {}
    # Scores from the lake too (the merged customers are not scored: only the survivors).
    inputs = scoring_service.batch_inputs(db, as_of=END)
    config = batch_scoring.ScoringConfig(inputs.as_of, inputs.cards, inputs.models)
    batch_scoring.write_config(config, inputs.customers, tmp_path / "config")
    scores = ["batch", "scores", "--as-of", END.isoformat(), "--config", str(tmp_path / "config")]
    for engine, lake in (("polars", str(target)), ("spark", f"file://{target}")):
        out = str(tmp_path / f"scores-{engine}")
        done = runner.invoke(app, [*scores, "--lake", lake, "--engine", engine, "--out", out])
        assert done.exit_code == 0, done.output
    polars_scores = batch_frames.read_result(tmp_path / "scores-polars")
    assert polars_scores.height == 10  # 12 customers, 2 merged away
    assert polars_scores["scorecard__demo_default__v1__score"].null_count() == 0
    spark_scores = batch_frames.read_result(tmp_path / "scores-spark")
    assert score_differences(spark_scores, polars_scores) == {}
    # Exactly one input, named in the error.
    both = runner.invoke(
        app, [*args, "--lake", str(target), "--frames", str(tmp_path), "--out", str(tmp_path / "x")]
    )
    assert both.exit_code == 2 and "--lake" in both.output and "exactly one" in both.output
    neither = runner.invoke(app, [*args, "--out", str(tmp_path / "x")])
    assert neither.exit_code == 2 and "--frames" in neither.output
    empty = tmp_path / "empty"
    empty.mkdir()
    none = runner.invoke(app, [*args, "--lake", str(empty), "--out", str(tmp_path / "x")])
    assert none.exit_code == 2 and "--lake" in none.output and "_manifest.json" in none.output
