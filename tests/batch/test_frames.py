"""The batch definition without Spark: the split of compute, frames and result directories,
bucket sizing, and `riskdesk batch indicators --engine polars`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from riskdesk.batch import frames as batch_frames
from riskdesk.batch import replay as batch_replay
from riskdesk.batch.spark import bucket_count
from riskdesk.cli.main import app
from riskdesk.indicators.compute import (
    REFERENCE_COLUMNS,
    SCHEMAS,
    compute,
    compute_base,
    rank_population,
    summarise,
)
from tests.batch.equality import differences
from tests.batch.population import AS_OF, generate

runner = CliRunner()


def test_buckets_computed_apart_and_ranked_together_equal_compute() -> None:
    # What the Spark engine does, in process: compute_base per bucket of customers, one
    # Reference from everyone's REFERENCE_COLUMNS, rank_population per bucket.
    frames = generate(600, 40_000, seed=3)
    ids = frames.customers["customer_id"].to_list()
    bases = [compute_base(frames.for_customers(ids[b::5]), AS_OF) for b in range(5)]
    reference = summarise(pl.concat(bases).select(REFERENCE_COLUMNS), points=None)
    got = pl.concat([rank_population(base, reference) for base in bases]).sort("customer_id")
    assert differences(got, compute(frames, AS_OF)) == {}


def test_frames_directory_round_trip_and_checks(tmp_path: Path) -> None:
    frames = generate(50, 2_000, seed=4)
    rows = batch_frames.write_frames(frames, tmp_path / "frames")
    assert rows["customers"] == 50
    back = batch_frames.read_frames(tmp_path / "frames")
    for name in SCHEMAS:
        assert_frame_equal(getattr(back, name), getattr(frames, name))
    # A frame with a column too many, or of another type, is refused naming the frame.
    frames.orders.with_columns(extra=pl.lit(1)).write_parquet(
        tmp_path / "frames" / "orders" / "part-00000.parquet"
    )
    with pytest.raises(batch_frames.FramesError, match=r"'orders'.*unexpected columns \['extra'\]"):
        batch_frames.read_frames(tmp_path / "frames")
    frames.orders.with_columns(pl.col("amount").cast(pl.Float32)).write_parquet(
        tmp_path / "frames" / "orders" / "part-00000.parquet"
    )
    with pytest.raises(batch_frames.FramesError, match="'amount' is Float32"):
        batch_frames.read_frames(tmp_path / "frames")


def test_bucket_count_follows_size_and_cores() -> None:
    assert bucket_count(0, bucket_mb=256, parallelism=2) == 2
    assert bucket_count(10 * 1024**3, bucket_mb=256, parallelism=2) == 240  # 10 GB x 6 / 256 MB
    assert bucket_count(10 * 1024**3, bucket_mb=1024, parallelism=2) == 60


def test_cli_polars_engine_writes_the_sorted_result(tmp_path: Path) -> None:
    frames = generate(80, 4_000, seed=5)
    batch_frames.write_frames(frames, tmp_path / "frames")
    args = ["batch", "indicators", "--frames", str(tmp_path / "frames"), "--as-of", "2026-06-30"]
    done = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    assert '"customers": 80' in done.output
    result = batch_frames.read_result(tmp_path / "out")
    assert differences(result, compute(frames, AS_OF)) == {}
    # Again into the same directory: the earlier result is replaced.
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "out")]).exit_code == 0
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["part-00000.parquet"]


def test_cli_refuses_bad_options_naming_them(tmp_path: Path) -> None:
    batch_frames.write_frames(generate(5, 100), tmp_path / "frames")
    base = ["batch", "indicators", "--frames", str(tmp_path / "frames"), "--out"]
    cases = [
        ([*base, str(tmp_path / "o"), "--as-of", "30/06/2026"], "--as-of"),
        ([*base, str(tmp_path / "o"), "--as-of", "2026-06-30", "--buckets", "4"], "--engine"),
        ([*base, str(tmp_path / "o"), "--as-of", "2026-06-30", "--buckets", "0"], "--buckets"),
        ([*base, str(tmp_path / "frames"), "--as-of", "2026-06-30"], "--out"),
        ([*base, "s3a://bucket/out", "--as-of", "2026-06-30"], "--engine"),
    ]
    for args, option in cases:
        done = runner.invoke(app, args)
        assert done.exit_code == 2, done.output
        assert f"error: {option}:" in done.output
    (tmp_path / "empty").mkdir()
    done = runner.invoke(
        app,
        [
            "batch",
            "indicators",
            "--frames",
            str(tmp_path / "empty"),
            "--out",
            str(tmp_path / "o"),
            "--as-of",
            "2026-06-30",
        ],
    )
    assert done.exit_code == 2 and "error: --frames: no Parquet files" in done.output
    assert not (tmp_path / "o").exists()  # no half-written result


def test_cli_frames_from_the_database_then_indicators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker, reading
    from riskdesk.indicators import service

    monkeypatch.setenv("RISKDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("RISKDESK_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        demo = runner.invoke(app, ["demo", "--customers", "40", "--months", "14", "--seed", "3"])
        assert demo.exit_code == 0, demo.output
        done = runner.invoke(app, ["batch", "frames", "--out", str(tmp_path / "frames")])
        assert done.exit_code == 0, done.output
        # The scoring config beside them (tests/batch/test_scores.py checks what scores it).
        config = runner.invoke(
            app, ["batch", "config", "--as-of", "2026-06-30", "--out", str(tmp_path / "config")]
        )
        assert config.exit_code == 0, config.output
        with reading(make_sessionmaker(make_engine(get_settings().database_url))) as session:
            history = service.load_history(session)
    finally:
        get_settings.cache_clear()
    written = batch_frames.read_frames(tmp_path / "frames")
    for name in SCHEMAS:
        assert_frame_equal(getattr(written, name), getattr(history, name))
    assert written.customers.height == 40 and written.orders.height > 0
    args = ["batch", "indicators", "--frames", str(tmp_path / "frames"), "--as-of", "2026-06-30"]
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "out")]).exit_code == 0
    result = batch_frames.read_result(tmp_path / "out")
    assert differences(result, compute(history, AS_OF)) == {}
    # Scores from the frames and the config, with no database.
    summary = json.loads(config.output)
    assert summary["scorecards"] == ["demo_default v1"] and summary["customers"] == 40
    args = ["batch", "scores", "--config", str(tmp_path / "config"), "--frames"]
    args += [str(tmp_path / "frames"), "--as-of", "2026-06-30", "--out", str(tmp_path / "scores")]
    assert runner.invoke(app, args).exit_code == 0
    scores = batch_frames.read_result(tmp_path / "scores")
    assert scores.height == 40 and scores["scorecard__demo_default__v1__score"].is_not_null().any()
    # A warning replay from the same config (its rules, the active pack), with no database.
    assert {"new_overdue", "paying_late"} <= set(summary["rules"])
    args = ["batch", "replay", "--config", str(tmp_path / "config"), "--frames"]
    args += [str(tmp_path / "frames"), "--from", "2026-04-01", "--to", "2026-06-30"]
    done = runner.invoke(app, [*args, "--out", str(tmp_path / "replay")])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["dates"] == 3
    replayed = batch_replay.read_result(tmp_path / "replay")
    assert set(replayed["rule_code"]) <= set(summary["rules"])
    assert set(replayed["as_of"]) <= {dt.date(2026, 4, 30), dt.date(2026, 5, 31), AS_OF}
