"""Statistical models on synthetic labelled data whose signal is known: both families find it,
a shuffled label gives chance, models round-trip through JSON, monotone constraints hold, and
`riskdesk model evaluate` reports metrics or a one-line error with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskdesk.cli.main import app
from riskdesk.scoring import modelling
from riskdesk.scoring.modelling import FAMILIES, FittedModel, ModellingError

runner = CliRunner()
METRICS = ("auc", "ks", "gini", "brier", "fit_seconds")


def synthetic(rows: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Days late raise the risk, income lowers it, one region is worse; noise is noise."""
    rng = np.random.default_rng(seed)
    days_late = rng.poisson(6, rows).astype(float)
    income = rng.lognormal(10, 0.5, rows)
    region = rng.choice(["north", "south", "east", "west"], rows)
    noise = rng.normal(size=rows)
    log_odds = -5.0 + 0.6 * days_late - 3.5 * (np.log(income) - 10) + 2.5 * (region == "south")
    y = (rng.random(rows) < 1 / (1 + np.exp(-log_odds))).astype(int)
    income[rng.random(rows) < 0.1] = np.nan
    region = np.where(rng.random(rows) < 0.05, None, region)
    X = pd.DataFrame(
        {
            "days_late": days_late,
            "income": income,
            "region": pd.Categorical(region),
            "noise": noise,
        }
    )
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return synthetic()


@pytest.fixture(scope="module")
def labelled_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    X, y = synthetic(rows=900, seed=1)
    frame = X.assign(
        customer_id=[f"C{i:05d}" for i in range(len(y))], default=np.where(y == 1, "1", "0")
    )
    path = tmp_path_factory.mktemp("model") / "history.csv"
    frame.to_csv(path, index=False)
    return path


# --- reading ---------------------------------------------------------------------------------


def test_read_labelled_csv_matches_bad_as_text(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "amount,sector,outcome\n100,retail,1\n250,,0\n80,food, 1\n,retail,0\n40,food,\n",
        encoding="utf-8",
    )
    X, y = modelling.read_labelled_csv(path, "outcome", "1")
    assert list(X.columns) == ["amount", "sector"]
    assert y.tolist() == [1, 0, 1, 0]  # the unlabelled last row is dropped
    assert isinstance(X["sector"].dtype, pd.CategoricalDtype)
    assert X["amount"].isna().sum() == 1 and X["sector"].isna().sum() == 1


@pytest.mark.parametrize(
    ("content", "target", "bad", "field"),
    [
        (None, "outcome", "1", "data"),
        ("", "outcome", "1", "data"),
        ("a,outcome\n1,0\n2,1\n", "status", "1", "target"),
        ("a,outcome\n1,0\n2,1\n", "outcome", "bad", "bad"),
        ("a,outcome\n1,1\n2,1\n", "outcome", "1", "target"),
        ("outcome\n0\n1\n", "outcome", "1", "data"),
    ],
)
def test_read_labelled_csv_rejects_bad_input(
    tmp_path: Path, content: str | None, target: str, bad: str, field: str
) -> None:
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ModellingError) as caught:
        modelling.read_labelled_csv(path, target, bad)
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)


def test_folds_need_enough_rows_of_each_class() -> None:
    with pytest.raises(ModellingError, match="bad rows") as caught:
        modelling.stratified_folds(np.array([0] * 20 + [1] * 3), folds=5)
    assert caught.value.field == "folds"
    with pytest.raises(ModellingError):
        modelling.stratified_folds(np.array([0, 1] * 10), folds=1)


# --- the families ----------------------------------------------------------------------------


def test_both_families_find_the_signal_on_the_same_folds(
    data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = data
    results = modelling.evaluate(X, y, folds=3, seed=0)
    assert [r.family for r in results] == list(FAMILIES)
    for r in results:
        assert r.auc > 0.75, r
        assert 0 < r.ks <= 1 and 0 < r.brier < 0.25 and r.fit_seconds > 0
        assert r.gini == pytest.approx(2 * r.auc - 1)
        assert len(r.folds) == 3
        assert json.loads(json.dumps(r.as_dict()))["folds"][0].keys() == set(METRICS)


def test_shuffled_labels_give_chance(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    shuffled = np.random.default_rng(5).permutation(y)
    for r in modelling.evaluate(X, shuffled, folds=3, seed=0):
        assert abs(r.auc - 0.5) < 0.07, r


def test_metrics_on_a_hand_made_case() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.9])
    assert modelling.auc(y, p) == pytest.approx(0.75)
    assert modelling.ks(y, p) == pytest.approx(0.5)
    assert modelling.brier(y, p) == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trip_gives_identical_predictions(
    family: str, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = data
    model = modelling.fit(family, X, y, seed=3)
    saved = json.loads(json.dumps(model.to_dict(), allow_nan=False))
    restored = FittedModel.from_dict(saved)
    # New rows: an unseen region, missing values everywhere, text where a number was.
    new = pd.DataFrame(
        {
            "days_late": [0.0, 30.0, None, 5.0],
            "income": [None, 5000.0, 80000.0, 20000.0],
            "region": ["south", "mars", None, "north"],
            "noise": [0.0, 1.0, -1.0, None],
        }
    )
    for frame in (X, new):
        expected = model.predict_bad_probability(frame)
        assert np.array_equal(restored.predict_bad_probability(frame), expected)
        assert np.all((expected > 0) & (expected < 1))
    assert restored.features == ["days_late", "income", "region", "noise"]


def test_scorecard_points_run_0_to_1000_higher_is_safer(
    data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = data
    model = modelling.fit("scorecard", X, y)
    assert isinstance(model, modelling.ScorecardModel)
    table = model.to_dict()["points"]
    assert {row["feature"] for row in table} == set(X.columns)
    per_feature = pd.DataFrame(table).groupby("feature")["points"]
    assert per_feature.min().sum() == pytest.approx(0)
    assert per_feature.max().sum() == pytest.approx(1000)
    score = model.score(X)
    assert score.min() >= 0 and score.max() <= 1000
    # The score is an affine, falling function of the log-odds of bad.
    slope, _ = np.polyfit(model.log_odds(X), score, 1)
    assert slope < 0
    assert np.corrcoef(model.log_odds(X), score)[0, 1] == pytest.approx(-1)
    # Worse payers get fewer points: the days-late bins' points fall as days rise.
    days = [r["points"] for r in table if r["feature"] == "days_late" and r["bin"] != "missing"]
    assert days == sorted(days, reverse=True) and days[0] > days[-1]


def test_scorecard_bins_reproduce_optbinning_woe(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    from optbinning import OptimalBinning

    X, y = data
    for name, dtype in (("income", "numerical"), ("region", "categorical")):
        kind = modelling.NUMERIC if dtype == "numerical" else modelling.CATEGORICAL
        values = (
            modelling._numeric_values(X[name])
            if kind == modelling.NUMERIC
            else modelling._text_values(X[name])
        )
        binning = OptimalBinning(name, dtype=dtype).fit(values, y)
        ours = modelling._feature_bins(name, kind, binning).transform(X[name])
        theirs = binning.transform(values, metric="woe", metric_missing="empirical")
        assert np.allclose(ours, theirs)


@pytest.mark.parametrize(("family", "feature"), [("lightgbm", "noise"), ("scorecard", "income")])
def test_monotone_constraint_holds(
    family: str, feature: str, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = data
    model = modelling.fit(family, X, y, monotone={feature: -1})
    grid = np.linspace(X[feature].min(), X[feature].max(), 60)
    for row in range(0, 200, 20):
        frame = X.iloc[[row] * len(grid)].reset_index(drop=True)
        frame[feature] = grid
        p = model.predict_bad_probability(frame)
        assert np.all(np.diff(p) <= 1e-12), (row, p)


def test_monotone_needs_a_numeric_feature(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    with pytest.raises(ModellingError, match="text column") as caught:
        modelling.fit("lightgbm", X, y, monotone={"region": 1})
    assert caught.value.field == "monotone"
    with pytest.raises(ModellingError, match="no feature"):
        modelling.fit("scorecard", X, y, monotone={"salary": -1})


def test_unknown_family() -> None:
    X, y = synthetic(rows=100)
    with pytest.raises(ModellingError) as caught:
        modelling.fit("neural", X, y)
    assert caught.value.field == "family"


# --- the command line ------------------------------------------------------------------------


def test_evaluate_prints_json_for_both_families(labelled_csv: Path) -> None:
    result = runner.invoke(
        app,
        [
            *("model", "evaluate", "--data", str(labelled_csv), "--target", "default"),
            *("--bad", "1", "--folds", "3", "--seed", "1", "--format", "json"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows"] == 900 and report["folds"] == 3 and report["seed"] == 1
    assert 0 < report["bad_rate"] < 1
    assert [r["family"] for r in report["results"]] == list(FAMILIES)
    for r in report["results"]:
        assert set(METRICS) <= r.keys()
        assert r["auc"] > 0.7
        assert len(r["folds"]) == 3


def test_evaluate_prints_a_table_for_a_text_target(labelled_csv: Path) -> None:
    # "south" is bad, every other region good; rows without a region are left out.
    result = runner.invoke(
        app,
        [
            *("model", "evaluate", "--data", str(labelled_csv), "--target", "region"),
            *("--bad", "south", "--folds", "2", "--monotone", "days_late=1"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "scorecard" in result.stdout and "lightgbm" in result.stdout
    assert "AUC" in result.stdout


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--data", "{missing}", "--target", "default", "--bad", "1"], "--data"),
        (["--data", "{csv}", "--target", "status", "--bad", "1"], "--target"),
        (["--data", "{csv}", "--target", "default", "--bad", "yes"], "--bad"),
        (["--data", "{one_class}", "--target", "default", "--bad", "1"], "--target"),
        (["--data", "{csv}", "--target", "default", "--bad", "1", "--folds", "1"], "--folds"),
        (["--data", "{few}", "--target", "default", "--bad", "1", "--folds", "5"], "--folds"),
        (["--data", "{csv}", "--target", "default", "--bad", "1", "--monotone", "x"], "--monotone"),
        (["--data", "{csv}", "--target", "default", "--bad", "1", "--format", "xml"], "--format"),
    ],
)
def test_bad_input_exits_2_naming_the_option(
    tmp_path: Path, labelled_csv: Path, args: list[str], option: str
) -> None:
    one_class = tmp_path / "one.csv"
    one_class.write_text("a,default\n1,1\n2,1\n", encoding="utf-8")
    few = tmp_path / "few.csv"
    few.write_text("a,default\n" + "".join(f"{i},{int(i < 3)}\n" for i in range(40)), "utf-8")
    paths = {
        "missing": str(tmp_path / "absent.csv"),
        "csv": str(labelled_csv),
        "one_class": str(one_class),
        "few": str(few),
    }
    args = [a.format(**paths) for a in args]
    result = runner.invoke(app, ["model", "evaluate", *args])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {option}:"), result.stderr
