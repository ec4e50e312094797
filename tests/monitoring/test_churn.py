"""BG/NBD: parameters recovered from data simulated by the model itself, predictions that beat
naive baselines on such data, and the `riskdesk churn backtest` command."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from riskdesk.cli.main import app
from riskdesk.monitoring import churn

START = dt.date(2024, 1, 1)


def simulate(n: int = 2500, weeks: int = 78, seed: int = 1) -> pl.DataFrame:
    """Purchases from the BG/NBD story: Gamma rates, Beta dropout after each purchase."""
    rng = np.random.default_rng(seed)
    r, alpha, a, b = 0.6, 4.0, 0.8, 2.5
    rates = rng.gamma(r, 1 / alpha, n)
    drop = rng.beta(a, b, n)
    rows: list[tuple[int, dt.date]] = []
    for c in range(n):  # test data only
        t = rng.uniform(0, 12)
        first = True
        while t < weeks:
            rows.append((c, START + dt.timedelta(days=int(t * 7))))
            # Dropout follows repeat purchases only, as in the model.
            if not first and rng.uniform() < drop[c]:
                break
            first = False
            t += rng.exponential(1 / rates[c])
    return pl.DataFrame(rows, schema={"customer": pl.Int64, "day": pl.Date}, orient="row")


def test_summary_counts_repeat_purchase_days() -> None:
    frame = pl.DataFrame(
        {
            "customer": [1, 1, 1, 2],
            "day": [
                dt.date(2024, 1, 1),
                dt.date(2024, 1, 1),
                dt.date(2024, 1, 15),
                dt.date(2024, 1, 8),
            ],
        }
    )
    out = {r["customer"]: r for r in churn.summarise(frame, dt.date(2024, 1, 29)).to_dicts()}
    assert (out[1]["x"], out[1]["t_x"], out[1]["T"]) == (1.0, 2.0, 4.0)
    assert (out[2]["x"], out[2]["t_x"], out[2]["T"]) == (0.0, 0.0, 3.0)


def test_the_same_purchases_in_any_order_fit_the_same_parameters() -> None:
    data = simulate(n=400)
    cutoff = START + dt.timedelta(weeks=52)
    fits = []
    for seed in (1, 2, 3):
        shuffled = data.sample(fraction=1.0, shuffle=True, seed=seed)
        summary = churn.summarise(shuffled, cutoff)
        fits.append(churn.fit(*(summary[c].to_numpy() for c in ("x", "t_x", "T"))))
    assert fits[0] == fits[1] == fits[2]


def test_fit_recovers_the_simulated_population_and_beats_naive() -> None:
    data = simulate()
    cutoff = START + dt.timedelta(weeks=52)
    result = churn.backtest(data, cutoff, START + dt.timedelta(weeks=78))
    p = result["parameters"]
    # simulated with r 0.6, alpha 4, a 0.8, b 2.5
    assert 0.45 < p["r"] < 0.75 and 3 < p["alpha"] < 5.5
    assert 0.6 < p["a"] < 1.0 and 1.8 < p["b"] < 3.3
    assert result["bgnbd"]["mae"] < result["naive_own_rate"]["mae"]
    assert result["bgnbd"]["mae"] < result["naive_average_rate"]["mae"]
    assert result["bgnbd"]["total_predicted"] == pytest.approx(
        result["bgnbd"]["total_actual"], rel=0.2
    )
    assert result["bgnbd"]["correlation"] > 0.5
    assert 0 < result["mean_p_alive"] < 1
    # Someone who bought often and recently is likelier alive than someone who went quiet.
    model = churn.BgNbd(**p)
    alive = model.p_alive(np.array([10.0, 10.0]), np.array([50.0, 10.0]), np.array([52.0, 52.0]))
    assert alive[0] > 0.8 > alive[1]


def test_churn_backtest_command(tmp_path: Path) -> None:
    data = (
        simulate(n=800)
        .with_columns(amount=pl.lit(10.0))
        .rename({"customer": "cust", "day": "date"})
    )
    path = tmp_path / "tx.csv"
    data.write_csv(path)
    runner = CliRunner()
    args = ["churn", "backtest", "--transactions", str(path), "--customer-col", "cust",
            "--date-col", "date", "--amount-col", "amount", "--cutoff", "2024-12-29",
            "--until", "2025-06-29"]  # fmt: skip
    ok = runner.invoke(app, [*args, "--format", "json"])
    assert ok.exit_code == 0, ok.output
    out = json.loads(ok.output)
    assert out["customers"] > 500
    assert {"mae", "rmse", "correlation", "total_predicted", "total_actual"} <= set(out["bgnbd"])
    assert "naive_own_rate" in out and "naive_average_rate" in out
    bad = runner.invoke(app, [*args[:6], "--date-col", "when", *args[8:]])
    assert bad.exit_code == 2 and "--date-col" in bad.output
    backwards = runner.invoke(app, [*args[:12], "--until", "2024-01-01"])
    assert backwards.exit_code == 2 and "--until" in backwards.output
