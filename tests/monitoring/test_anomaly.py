"""Anomaly detection: robust deviations from peers and from the customer's own history, the
multivariate detector and its drivers, and the alerts they raise on the demo population."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from riskdesk.demo.loader import load_demo
from riskdesk.monitoring import anomaly


def test_robust_z_ignores_a_single_extreme_peer() -> None:
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 1000.0], "g": ["a"] * 6}).with_columns(
        z=anomaly.robust_z(pl.col("x"), "g")
    )
    z = frame["z"].to_list()
    # median 3.5, MAD 1.5 -> scale 2.2239; 1000 stands far out, the others stay near 0
    assert z[2] == pytest.approx((3 - 3.5) / (1.5 * anomaly.MAD_SCALE))
    assert z[5] > 100 and all(abs(v) < 2 for v in z[:5])


def test_own_history_deviation() -> None:
    history = pl.DataFrame(
        {"customer_id": [1, 1, 1, 2, 2, 2], "dpd_max": [0.0, 2.0, 4.0, 10.0, 10.0, 10.0]}
    )
    current = pl.DataFrame({"customer_id": [1, 2], "dpd_max": [30.0, 10.0]})
    own = {
        r["customer_id"]: r["own_dpd_max"]
        for r in anomaly.own_deviations(history, current, ["dpd_max"]).to_dicts()
    }
    assert own[1] == pytest.approx((30 - 2) / (2 * anomaly.MAD_SCALE))
    assert own[2] == pytest.approx(0.0)


def test_isolation_forest_flags_the_outlier_and_names_its_drivers() -> None:
    rng = np.random.default_rng(0)
    n = 400
    data = {f: rng.normal(10, 1, n) for f in anomaly.FEATURES}
    data["dpd_max"][7] = 90.0
    data["return_rate_90d"][7] = 60.0
    frame = pl.DataFrame({"customer_id": np.arange(n), **data})
    out = anomaly.isolation(frame, contamination=0.01)
    row = out.filter(pl.col("customer_id") == 7).to_dicts()[0]
    assert row["anomalous"]
    assert set(row["drivers"][:2]) == {"dpd_max", "return_rate_90d"}
    assert row["anomaly_score"] == out["anomaly_score"].max()


def test_detectors_raise_alerts_with_their_drivers(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    load_demo(db, customers=150, months=24, seed=2)
    db.commit()
    run = client_for("analyst").post("/api/v1/anomaly-runs")
    assert run.status_code == 201, run.text
    assert run.json()["customers"] == 150 and run.json()["raised"] > 0
    alerts = [
        a for a in manager.get("/api/v1/alerts", params={"limit": 1000}).json()
        if a["source"] == "detector"
    ]  # fmt: skip
    assert {a["rule_code"] for a in alerts} <= {"anomaly_indicator", "anomaly_multivariate"}
    multivariate = [a for a in alerts if a["rule_code"] == "anomaly_multivariate"]
    assert multivariate and all(len(a["evidence"]) == 3 for a in multivariate)
    driver = next(iter(multivariate[0]["evidence"].values()))
    assert set(driver) == {"value", "peer_z", "own_z"}
    again = client_for("analyst").post("/api/v1/anomaly-runs").json()
    assert again["raised"] == 0 and again["refreshed"] == run.json()["raised"]


def test_equal_values_fall_back_to_the_mean_deviation_and_noise_is_no_departure() -> None:
    # Most values equal: the MAD is 0; the mean absolute deviation sets the scale instead of a
    # floor that would make any difference enormous.
    frame = pl.DataFrame({"x": [0.0] * 8 + [1.0, 2.0]})
    z = frame.select(anomaly.robust_z(pl.col("x")).alias("z"))["z"].to_list()
    assert z[:8] == [0.0] * 8 and abs(z[-1] - 2.0 / (0.3 * anomaly.MEAN_AD_SCALE)) < 1e-9
    # A float-noise difference is no departure, on peers and on own history alike.
    noisy = pl.DataFrame({"x": [1.0] * 9 + [1.0 + 1e-14]})
    assert noisy.select(anomaly.robust_z(pl.col("x")).alias("z"))["z"].to_list() == [0.0] * 10
    history = pl.DataFrame({"customer_id": [1] * 6, **{f: [5.0] * 6 for f in anomaly.FEATURES}})
    current = pl.DataFrame({"customer_id": [1], **{f: [5.0 + 1e-13] for f in anomaly.FEATURES}})
    own = anomaly.own_deviations(history, current)
    assert all(own[f"own_{f}"][0] == 0.0 for f in anomaly.FEATURES)
    # A real departure from a constant history is large but clipped.
    jump = current.with_columns(pl.lit(50.0).alias("dpd_max"))
    assert anomaly.own_deviations(history, jump)["own_dpd_max"][0] == 999
