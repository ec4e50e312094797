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
        {
            "customer_id": [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3],
            "dpd_max": [0.0, 2.0, 4.0, 6.0, 10.0, 10.0, 10.0, 10.0, 0.0, 5.0, 9.0],
        }
    )
    current = pl.DataFrame({"customer_id": [1, 2, 3], "dpd_max": [30.0, 40.0, 90.0]})
    own = {
        r["customer_id"]: r["own_dpd_max"]
        for r in anomaly.own_deviations(history, current, ["dpd_max"]).to_dicts()
    }
    # median 3, absolute deviations 3, 1, 1, 3: MAD 2
    assert own[1] == pytest.approx((30 - 3) / (2 * anomaly.MAD_SCALE))
    # A history of one value has no spread to measure a departure by; three month ends are
    # too few to be a yardstick. Neither customer is judged.
    assert own[2] is None and own[3] is None


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
    run = client_for("analyst").post("/api/v1/anomaly-runs", params={"z_threshold": 3, "top": 5})
    assert run.status_code == 201, run.text
    body = run.json()
    assert body["customers"] == 150 and body["raised"] > 0
    alerts = [
        a for a in manager.get("/api/v1/alerts", params={"limit": 1000}).json()
        if a["source"] == "detector"
    ]  # fmt: skip
    # Only the single-indicator detector raises; each alert names the far indicators.
    assert {a["rule_code"] for a in alerts} == {"anomaly_indicator"}
    assert {a["warning_type"] for a in alerts} == {"anomaly"}
    for alert in alerts:
        assert alert["evidence"] and all(
            set(v) == {"value", "peer_z", "own_z"} and v["peer_z"] >= 3 and v["own_z"] >= 3
            for v in alert["evidence"].values()
        )
    # The multivariate detector ranks, most unusual first, with three drivers each.
    ranked = body["ranking"]
    assert len(ranked) == 5 and all(len(r["drivers"]) == 3 for r in ranked)
    scores = [r["anomaly_score"] for r in ranked]
    assert scores == sorted(scores, reverse=True)
    again = client_for("analyst").post("/api/v1/anomaly-runs", params={"z_threshold": 3}).json()
    assert again["raised"] == 0 and again["refreshed"] == body["raised"]


def test_without_spread_nobody_is_judged_and_noise_is_no_departure() -> None:
    # Most values equal: the MAD is 0 and the indicator says nothing about who is far (one
    # complaint where most peers have none is not an anomaly).
    frame = pl.DataFrame({"x": [0.0] * 8 + [1.0, 2.0]})
    z = frame.select(anomaly.robust_z(pl.col("x")).alias("z"))["z"].to_list()
    assert z == [None] * 10
    # A float-noise difference is no departure.
    noisy = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 3.0 + 1e-14]})
    assert noisy.select(anomaly.robust_z(pl.col("x")).alias("z"))["z"].to_list()[5] == 0.0
    history = pl.DataFrame(
        {"customer_id": [1] * 6, **{f: [1.0, 2.0, 3.0, 4.0, 5.0, 3.0] for f in anomaly.FEATURES}}
    )
    current = pl.DataFrame({"customer_id": [1], **{f: [3.0 + 1e-13] for f in anomaly.FEATURES}})
    own = anomaly.own_deviations(history, current)
    assert all(own[f"own_{f}"][0] == 0.0 for f in anomaly.FEATURES)
    # A real departure is large but clipped.
    jump = current.with_columns(pl.lit(5000.0).alias("dpd_max"))
    assert anomaly.own_deviations(history, jump)["own_dpd_max"][0] == 999
