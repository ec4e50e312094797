"""`riskdesk batch replay`: the polars engine against the product's own warning replay
(``monitoring.replay.replay`` over the database) on the same population and dates, and Spark
local[2] against the polars engine, with one bucket and several.

The data is a demo history in the database (the default warning pack active, scores, bureau
reports, limit changes), its frames and the config directory's replay inputs written from it,
loaded once for the module."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from riskdesk.batch import frames as batch_frames
from riskdesk.batch import replay as batch_replay
from riskdesk.cli.main import app
from riskdesk.demo.loader import load_demo
from riskdesk.indicators import service as indicator_service
from riskdesk.lake import service as lake_service
from riskdesk.models import CreditReport
from riskdesk.monitoring import replay as monitoring_replay
from riskdesk.monitoring.rules import compile_rule, fires
from tests.conftest import Backend

START = dt.date(2026, 1, 1)
END = dt.date(2026, 6, 30)
DAYS = monitoring_replay.replay_dates(START, END, "month")
runner = CliRunner()
# The whole module on one worker (the Spark one): its scenario (a demo history, and for scores
# trained models) is built once per backend, not once per worker that runs one of its tests.
pytestmark = pytest.mark.xdist_group("spark")


@dataclass(frozen=True)
class Scenario:
    frames: Path
    lake: Path
    config: Path
    product: pl.DataFrame  # the database replay's hits: day, customer_id, code, warning_type
    severities: dict[str, str]
    held: list[int]  # customers whose bureau-drop alert is held open in March


def _held_open(session: Session, buyers: list[int]) -> list[int]:
    """Two buying customers without bureau reports get three: the score falls by 100 (the
    drop rule fires in January and February), then wins back 60 (in March it no longer fires,
    but the score is still 40 below its best: the clear expression does not hold, the alert is
    held open; in April the best falls out of the window and it clears)."""
    reported = set(session.scalars(select(CreditReport.customer_id)))
    chosen = [c for c in buyers if c not in reported][:2]
    reports = ((dt.date(2025, 10, 5), 800), (dt.date(2026, 1, 4), 700), (dt.date(2026, 3, 20), 760))
    for cid in chosen:
        for n, (day, score) in enumerate(reports):
            session.add(
                CreditReport(
                    customer_id=cid,
                    source="test",
                    external_id=f"held-{cid}-{n}",
                    report_date=day,
                    score=score,
                    content_hash="0" * 64,
                )
            )
    session.flush()
    return chosen


@pytest.fixture(scope="module")
def scenario(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """The demo set up once (in a transaction rolled back after the module), its frames and
    config directories written, and the product's replay run over it."""
    directory = tmp_path_factory.mktemp("replay")
    with backend.engine.connect() as connection:
        outer = connection.begin()
        factory = sessionmaker(
            bind=connection,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="create_savepoint",
        )
        try:
            with factory() as session:
                load_demo(session, customers=160, months=24, seed=1, end_date=END)
                frames = indicator_service.load_history(session)
                held = _held_open(session, sorted(set(frames.orders["customer_id"].to_list())))
                batch_frames.write_frames(frames, directory / "frames")
                assert lake_service.export(session, str(directory / "lake")).wrote
                # What `riskdesk batch config` writes for a replay.
                rules = monitoring_replay.active_pack(session)
                severities = monitoring_replay.active_severities(session)
                batch_replay.write_inputs(
                    directory / "config",
                    END,
                    monitoring_replay.load_history(session, END, frames=False),
                    rules,
                    severities,
                )
                hits, _ = monitoring_replay.replay(
                    monitoring_replay.load_history(session, END),
                    {"pack": rules},
                    DAYS,
                    detectors=False,
                )
            yield Scenario(
                directory / "frames",
                directory / "lake",
                directory / "config",
                hits["pack"],
                severities,
                held,
            )
        finally:
            outer.rollback()


def _keys(result: pl.DataFrame) -> pl.DataFrame:
    return result.select(
        day=pl.col("as_of"),
        customer_id="customer_id",
        code="rule_code",
        warning_type="warning_type",
    ).sort("day", "customer_id", "code")


def _same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    """Two replay results agree: every key, warning type, severity and held flag exactly, the
    trigger values to the last printed digit but one (a sum's last bits differ by engine)."""
    assert got.schema == want.schema
    assert got.drop("trigger_values").equals(want.drop("trigger_values"))
    for a, b in zip(got["trigger_values"], want["trigger_values"], strict=True):
        if a is None or b is None:
            assert a == b
            continue
        x, y = json.loads(a), json.loads(b)
        assert x.keys() == y.keys()
        for name in x:
            if isinstance(x[name], float) and isinstance(y[name], float):
                assert x[name] == pytest.approx(y[name], rel=1e-9, abs=2e-6)
            else:
                assert x[name] == y[name]


def test_the_polars_engine_is_the_products_replay(scenario: Scenario, tmp_path: Path) -> None:
    result = batch_replay.local_replay(scenario.config, DAYS, frames_dir=scenario.frames)
    product = scenario.product.sort("day", "customer_id", "code")
    # The scenario exercises the replay: rules fire on several dates, for several rules.
    assert product.height > 20
    assert product["day"].n_unique() >= 3 and product["code"].n_unique() >= 3
    assert _keys(result).equals(product)
    # Sorted and keyed: one row per (as_of, customer_id, rule_code).
    assert result.equals(result.sort(*batch_replay.KEYS))
    assert result.select(batch_replay.KEYS).is_unique().all()
    # Each row carries its rule's severity; a fired row, the values that fired it.
    assert result["severity"].to_list() == [scenario.severities[c] for c in result["rule_code"]]
    texts = {s["code"]: s["expression"] for s in batch_replay.read_inputs(scenario.config).specs}
    fired = result.filter(~pl.col("held"))
    assert fired.height > 0 and fired["trigger_values"].is_not_null().all()
    for row in fired.head(200).iter_rows(named=True):
        rule = compile_rule(texts[row["rule_code"]])
        values: dict[str, Any] = json.loads(row["trigger_values"])
        assert set(values) == set(rule.reads)
        assert fires(rule, values), row
    # An alert held open by its clear expression: a row of its own, nothing fired it.
    held = result.filter(pl.col("held"))
    assert held["trigger_values"].is_null().all()
    assert held.filter(pl.col("rule_code") == "bureau_score_drop").select(
        "as_of", "customer_id"
    ).rows() == [(dt.date(2026, 3, 31), c) for c in sorted(scenario.held)]
    # Written and read back, the same; and from the lake, the same.
    batch_replay.write_result(result, tmp_path / "out")
    _same(batch_replay.read_result(tmp_path / "out"), result)
    from_lake = batch_replay.local_replay(scenario.config, DAYS, lake_uri=str(scenario.lake))
    _same(from_lake, result)


def test_bad_dates_and_a_config_of_another_date_are_refused(
    scenario: Scenario, tmp_path: Path
) -> None:
    args = ["batch", "replay", "--frames", str(scenario.frames), "--config", str(scenario.config)]
    out = ["--out", str(tmp_path / "o")]

    def run(*more: str) -> Any:
        return runner.invoke(app, [*args, *more, *out])

    bad_from = run("--from", "2026-13-01", "--to", "2026-06-30")
    assert bad_from.exit_code == 2 and "--from" in bad_from.output
    bad_to = run("--from", "2026-01-01", "--to", "30/06/2026")
    assert bad_to.exit_code == 2 and "--to" in bad_to.output
    backwards = run("--from", "2026-07-01", "--to", "2026-06-30")
    assert backwards.exit_code == 2 and "--from" in backwards.output
    assert "starts after it ends" in backwards.output
    too_many = run("--from", "2010-01-01", "--to", "2026-06-30", "--every", "month")
    assert too_many.exit_code == 2 and "--every" in too_many.output
    other_day = run("--from", "2026-01-01", "--to", "2026-05-31")
    assert other_day.exit_code == 2 and "--to" in other_day.output
    assert "2026-06-30" in other_day.output
    # A config directory without replay inputs (one written for scores before replays).
    empty = tmp_path / "config"
    empty.mkdir()
    elsewhere = ["batch", "replay", "--frames", str(scenario.frames), "--config", str(empty)]
    missing = runner.invoke(app, [*elsewhere, "--from", "2026-01-01", "--to", "2026-06-30", *out])
    assert missing.exit_code == 2 and "--config" in missing.output


def test_spark_equals_the_polars_engine(
    files_once: None, spark: Any, scenario: Scenario, tmp_path: Path
) -> None:
    from riskdesk.batch import spark_replay

    want = batch_replay.local_replay(scenario.config, DAYS, frames_dir=scenario.frames)
    # One bucket here; several through the command below.
    result, plan = spark_replay.replay(
        spark, scenario.config, DAYS, frames_dir=scenario.frames, buckets=1
    )
    assert plan.buckets == 1
    _same(spark_replay.collect(result), want)
    # The command, both engines, writing files that compare equal: polars from the frames,
    # Spark from the lake in several buckets.
    args = ["batch", "replay", "--config", str(scenario.config)]
    dates = ["--from", START.isoformat(), "--to", END.isoformat(), "--every", "month"]
    for engine, more in (
        ("polars", ["--frames", str(scenario.frames)]),
        ("spark", ["--lake", str(scenario.lake), "--buckets", "5"]),
    ):
        done = runner.invoke(
            app, [*args, *dates, "--engine", engine, *more, "--out", str(tmp_path / engine)]
        )
        assert done.exit_code == 0, done.output
        assert json.loads(done.output).get("buckets") == (5 if engine == "spark" else None)
    written = batch_replay.read_result(tmp_path / "spark")
    _same(written, batch_replay.read_result(tmp_path / "polars"))
    _same(written, want)
