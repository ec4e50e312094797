"""`riskdesk batch scores`: the polars engine against the product's own scoring run
(``plan_rescore``) on the same data, and Spark local[2] against the polars engine.

The data is a demo history in the database (customers with statements, bureau reports and
consents; the demo scorecard), a model trained on it (the champion, and a second version as a
challenger), a scorecard that reads the champion's score and a ratio and goes first for large
companies, and individuals who withdrew consent to credit assessment. The scoring inputs live
in the database, so the population is the demo's, loaded once for the module."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from riskdesk.batch import frames as batch_frames
from riskdesk.batch import local, submit
from riskdesk.batch import scoring as batch_scoring
from riskdesk.cli.main import app
from riskdesk.demo.loader import load_demo
from riskdesk.indicators import service as indicator_service
from riskdesk.models import ModelVersion
from riskdesk.privacy import consent
from riskdesk.privacy.schemas import ConsentIn
from riskdesk.scoring import registry
from riskdesk.scoring import service as scoring_service
from riskdesk.scoring.schemas import ScorecardCreate
from tests.batch.equality import score_differences
from tests.conftest import Backend, principal
from tests.scoring.test_scorecard import RATINGS, TIERS

END = dt.date(2026, 6, 30)
runner = CliRunner()
# The whole module on one worker (the Spark one): its scenario (a demo history, and for scores
# trained models) is built once per backend, not once per worker that runs one of its tests.
pytestmark = pytest.mark.xdist_group("spark")

WITH_MODEL = {
    "code": "large-with-model",
    "name": "Large companies, with the model",
    "customer_kind": "company",
    "segments": ["b2b_enterprise"],
    "priority": 1,
    "definition": {
        "base_points": 100,
        "factors": [
            {
                "code": "pd",
                "source": "model",
                "name": "pd",
                "weight": {"points": 500, "lower": 0, "upper": 1000},
                "missing_points": 120,
            },
            {
                "code": "altman",
                "source": "ratio",
                "name": "altman_score",
                "bins": [
                    {"upper": 1.8, "points": 0},
                    {"lower": 1.8, "upper": 3, "points": 150},
                    {"lower": 3, "points": 250},
                ],
                "missing_points": 60,
            },
            {
                "code": "dpd",
                "source": "indicator",
                "name": "dpd_max",
                "bins": [
                    {"upper": 1, "points": 150},
                    {"lower": 1, "upper": 31, "points": 80},
                    {"lower": 31, "points": 0},
                ],
                "missing_points": 80,
            },
        ],
        "ratings": RATINGS,
        "tiers": TIERS,
    },
}


@dataclass(frozen=True)
class Scenario:
    frames: Path
    config: Path
    product: pl.DataFrame  # what plan_rescore computed, in the batch's columns
    withdrawn: list[int]


def _train(session: Session, family: str, seed: int) -> ModelVersion:
    observation = END - dt.timedelta(days=365)
    X, y, _ = registry.history_dataset(session, observation, 365, as_of=END)
    return registry.train(
        session,
        principal(session, "analyst"),
        name="pd",
        family=family,
        X=X,
        y=y,
        data_source="history",
        target="default_90dpd_365d",
        observation=observation,
        horizon_days=365,
        folds=3,
        seed=seed,
    )


def _set_up(session: Session) -> list[int]:
    """The demo, two models, a second scorecard, withdrawn consents; those individuals."""
    load_demo(session, customers=160, months=24, seed=1, end_date=END)
    champion = _train(session, "scorecard", 0)
    _train(session, "lightgbm", 1)  # a challenger: scored beside, never read by a card
    champion.status = "champion"  # promotion's four eyes are tested in tests/scoring
    _, draft, _ = scoring_service.create_scorecard(
        session, principal(session, "manager"), ScorecardCreate.model_validate(WITH_MODEL)
    )
    scoring_service.approve(session, principal(session, "manager2"), draft.id, "test")
    customers = scoring_service.repo.customer_attributes(session, None, END)
    individuals = customers.filter(pl.col("attribute.kind") == "individual")["customer_id"]
    withdrawn = sorted(individuals.to_list())[:3]
    consent.record_many(
        session,
        [
            (cid, ConsentIn(purpose="credit_assessment", granted=False, notice_version="2026-01"))
            for cid in withdrawn
        ],
        recorded_by=None,
        channel="test",
    )
    session.flush()
    return withdrawn


def product_columns(plan: scoring_service.RescorePlan, config: Any, ids: list[int]) -> pl.DataFrame:
    """What plan_rescore computed, in the batch result's columns (RESULT COLUMNS)."""
    schema = batch_scoring.result_schema(config)
    cards = {c.version_id: c for c in config.cards}
    models = {m.version_id: m for m in config.models}
    rows: dict[int, dict[str, Any]] = {cid: {"customer_id": cid} for cid in ids}
    for r in plan.scores.rows:
        card = cards[r["scorecard_version_id"]]
        stem = f"scorecard__{card.code}__v{card.version}__"
        rows[r["customer_id"]] |= {
            "scorecard_version_id": card.version_id,
            f"{stem}score": r["score"],
            f"{stem}rating": r["rating"],
            f"{stem}tier": r["risk_tier"],
            f"{stem}reasons": ",".join(reason["factor"] for reason in r["reasons"]),
        }
    for found in plan.models:
        model = models[found.version_id]
        stem = f"model__{model.name}__v{model.version}__"
        for cid, p, s in zip(found.customer_ids, found.bad_probability, found.score, strict=True):
            rows[cid] |= {f"{stem}score": int(s), f"{stem}bad_probability": float(p)}
    return pl.DataFrame(
        [{c: row.get(c) for c in schema} for row in rows.values()], schema=schema
    ).sort("customer_id")


@pytest.fixture(scope="module")
def scenario(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """The data set up once (in a transaction rolled back after the module), its frames and
    config directories written, and the product's own scoring run planned over it."""
    directory = tmp_path_factory.mktemp("scores")
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
                withdrawn = _set_up(session)
                batch_frames.write_frames(
                    indicator_service.load_history(session), directory / "frames"
                )
                inputs = scoring_service.batch_inputs(session, as_of=END)
                config = batch_scoring.ScoringConfig(inputs.as_of, inputs.cards, inputs.models)
                batch_scoring.write_config(config, inputs.customers, directory / "config")
                plan = scoring_service.plan_rescore(session, as_of=END)
                ids = inputs.customers["customer_id"].to_list()
                product = product_columns(plan, config, ids)
            yield Scenario(directory / "frames", directory / "config", product, withdrawn)
        finally:
            outer.rollback()


def test_the_scenario_exercises_every_path(scenario: Scenario) -> None:
    config = batch_scoring.read_config(scenario.config)
    assert [(c.code, c.version) for c in config.cards] == [
        ("large-with-model", 1),
        ("demo_default", 1),
    ]
    assert [(m.name, m.version, m.champion) for m in config.models] == [
        ("pd", 1, True),
        ("pd", 2, False),
    ]
    product = scenario.product
    by_card = product.group_by("scorecard_version_id").len()
    assert by_card.height == 3  # each card scored someone, and someone was not scored
    # The customers who withdrew consent get nothing, from a card or a model.
    assert product.filter(pl.col("customer_id").is_in(scenario.withdrawn)).select(
        pl.exclude("customer_id").is_not_null().any()
    ).row(0) == (False,) * (product.width - 1)
    # The model-reading card scored its customers apart (the champion's score, a ratio).
    model_card = product["scorecard__large-with-model__v1__score"].drop_nulls()
    assert model_card.len() > 5 and model_card.n_unique() > 3


def test_the_polars_engine_is_the_products_scoring_run(scenario: Scenario, tmp_path: Path) -> None:
    result = local.scores(scenario.config, END, frames_dir=scenario.frames, out=tmp_path / "out")
    assert score_differences(result, scenario.product) == {}
    assert score_differences(batch_frames.read_result(tmp_path / "out"), scenario.product) == {}
    # The file spark-submit runs takes `scores` too (here with the polars engine, no JVM).
    done = subprocess.run(
        [sys.executable, submit.__file__, "scores", "--config", str(scenario.config),
         "--frames", str(scenario.frames), "--as-of", "2026-06-30", "--out", str(tmp_path / "s")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert score_differences(batch_frames.read_result(tmp_path / "s"), scenario.product) == {}


def test_config_as_of_another_day_is_refused(scenario: Scenario, tmp_path: Path) -> None:
    args = ["batch", "scores", "--frames", str(scenario.frames), "--config", str(scenario.config)]
    done = runner.invoke(app, [*args, "--as-of", "2026-07-01", "--out", str(tmp_path / "o")])
    assert done.exit_code == 2 and "--as-of" in done.output and "2026-06-30" in done.output
    elsewhere = [*args[:-1], str(tmp_path), "--as-of", "2026-06-30"]
    missing = runner.invoke(app, [*elsewhere, "--out", str(tmp_path / "o")])
    assert missing.exit_code == 2 and "--config" in missing.output


def test_spark_equals_the_polars_engine_for_every_score(
    files_once: None, spark: Any, scenario: Scenario, tmp_path: Path
) -> None:
    from riskdesk.batch import spark as spark_engine
    from riskdesk.batch import spark_scores

    want = local.scores(scenario.config, END, frames_dir=scenario.frames)
    # Many buckets here; the command below runs the default (one a core).
    result, plan = spark_scores.scores(
        spark, scenario.config, END, frames_dir=scenario.frames, buckets=7
    )
    assert plan.buckets == 7
    assert score_differences(spark_engine.collect(result), want) == {}
    # The command, both engines, writing files that compare equal.
    args = ["batch", "scores", "--frames", str(scenario.frames), "--config", str(scenario.config)]
    for engine in ("polars", "spark"):
        done = runner.invoke(
            app,
            [*args, "--as-of", "2026-06-30", "--engine", engine, "--out", str(tmp_path / engine)],
        )
        assert done.exit_code == 0, done.output
    written = batch_frames.read_result(tmp_path / "spark")
    assert score_differences(written, batch_frames.read_result(tmp_path / "polars")) == {}
    assert score_differences(written, scenario.product) == {}
