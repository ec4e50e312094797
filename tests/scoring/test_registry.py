"""The model registry on a demo history: training from the company's own data, champion and
challenger scoring, promotion with four eyes, the champion feeding a scorecard, and monitoring
(PSI, AUC and KS on matured outcomes)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from riskdesk.demo.loader import load_demo
from riskdesk.kit.timeutil import today
from riskdesk.scoring.modelling import bin_shares, psi, reference_bins
from tests.scoring.test_scorecard import RATINGS, TIERS


def test_psi_is_zero_for_the_same_distribution_and_grows_with_shift() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(500, 100, 5000)
    ref = reference_bins(train)
    assert len(ref["edges"]) == 9 and sum(ref["shares"]) == pytest.approx(1.0)
    assert psi(ref["shares"], bin_shares(train, ref["edges"])) == pytest.approx(0.0)
    small = psi(ref["shares"], bin_shares(rng.normal(510, 100, 5000), ref["edges"]))
    large = psi(ref["shares"], bin_shares(rng.normal(600, 100, 5000), ref["edges"]))
    assert 0 < small < 0.1 < large
    with_missing = np.concatenate([train, [np.nan] * 500])
    assert bin_shares(with_missing, ref["edges"])[-1] == pytest.approx(500 / 5500)


def test_the_training_scores_for_psi_are_rounded_as_stored_scores_are() -> None:
    # A model whose scores crowd near 1000 (a low bad rate): unrounded training scores against
    # the stored whole points would read as a large shift of the very same customers.
    from riskdesk.scoring.registry import model_score

    rng = np.random.default_rng(0)
    p = rng.beta(0.5, 60, 5000)  # most PDs under 1%
    stored = model_score(p)
    assert stored.dtype.kind == "i" and stored.max() <= 1000
    unrounded = reference_bins((1.0 - p) * 1000)
    assert psi(unrounded["shares"], bin_shares(stored, unrounded["edges"])) > 0.1
    rounded = reference_bins(model_score(p))
    assert psi(rounded["shares"], bin_shares(stored, rounded["edges"])) == pytest.approx(0.0)


@pytest.fixture
def history(db):  # type: ignore[no-untyped-def]
    load_demo(db, customers=120, months=24, seed=1)
    db.commit()
    return db


def test_train_promote_score_and_monitor(history, client_for, manager) -> None:  # type: ignore[no-untyped-def]
    analyst = client_for("analyst")
    late = analyst.post(
        "/api/v1/models/train-from-history",
        json={"name": "pd", "family": "lightgbm", "observation_date": today().isoformat()},
    )
    assert late.status_code == 422 and late.json()["error"]["field"] == "observation"
    assert (
        client_for("sales")
        .post("/api/v1/models/train-from-history", json={"name": "pd", "family": "lightgbm"})
        .status_code
        == 403
    )
    trained = analyst.post(
        "/api/v1/models/train-from-history",
        json={"name": "pd", "family": "scorecard", "folds": 3},
    )
    assert trained.status_code == 201, trained.text
    v1 = trained.json()
    assert (v1["version"], v1["status"], v1["family"]) == (1, "challenger", "scorecard")
    assert 0 < v1["bad_rate"] < 1 and v1["rows"] > 50
    # Valid, not "good": 120 demo customers give about 7 bads at a year's horizon, and the
    # cross-validated AUC of that sample ranges from 0.47 to 0.92 with the calendar day the
    # demo ends on (it failed CI on one day). Model quality is tested on data with a known signal.
    assert 0 <= v1["metrics"]["auc"] <= 1 and len(v1["metrics"]["folds"]) == 3
    assert v1["points_table"] and {"feature", "bin", "points"} <= set(v1["points_table"][0])
    assert "dpd_max" in v1["features"]
    # PSI's training reference is of the scores as stored (whole points) of the training rows.
    from riskdesk.scoring import registry
    from riskdesk.scoring.modelling import FittedModel

    stored = registry.get_model(history, v1["id"])
    X, _, _ = registry.history_dataset(history, stored.observation_date, 365)
    p = FittedModel.from_dict(stored.artifact).predict_bad_probability(X)
    assert stored.reference["score"] == reference_bins(registry.model_score(p))

    # A scorecard that reads the champion's score: no champion yet, so missing points.
    body = {
        "code": "with_model",
        "name": "With model",
        "priority": 1,
        "definition": {
            "base_points": 0,
            "factors": [
                {
                    "code": "pd",
                    "source": "model",
                    "name": "pd",
                    "weight": {"points": 1000, "lower": 0, "upper": 1000},
                    "missing_points": 123,
                }
            ],
            "ratings": RATINGS,
            "tiers": TIERS,
        },
    }
    draft = manager.post("/api/v1/scorecards", json=body).json()["versions"][0]
    client_for("manager2").post(f"/api/v1/scorecard-versions/{draft['id']}/approve", json={})
    assert manager.post("/api/v1/scoring-runs", json={}).status_code == 201
    customer = manager.get("/api/v1/customers", params={"page_size": 1}).json()["items"][0]
    cid = customer["id"]
    first = manager.get(f"/api/v1/customers/{cid}/model-scores").json()
    assert [(s["model"], s["status"]) for s in first] == [("pd", "challenger")]
    assert 0 <= first[0]["score"] <= 1000
    # No champion yet: the model factor reads nothing and gives its missing points.
    assert manager.get(f"/api/v1/customers/{cid}/scores").json()[0]["score"] == 123

    # Promotion: asked for by the analyst, approved by a manager who neither asked nor trained.
    ask = analyst.post(f"/api/v1/models/{v1['id']}/promote")
    assert ask.status_code == 200 and ask.json()["promotion_requested_by_id"] is not None
    assert analyst.post(f"/api/v1/models/{v1['id']}/approve-promotion").status_code == 403
    ok = manager.post(f"/api/v1/models/{v1['id']}/approve-promotion")
    assert ok.status_code == 200 and ok.json()["status"] == "champion"
    manager.post("/api/v1/scoring-runs", json={})
    latest = manager.get(f"/api/v1/customers/{cid}/model-scores").json()[0]
    assert latest["status"] == "champion"
    # Now the champion decides: the scorecard's one factor is the champion's score.
    scored = manager.get(f"/api/v1/customers/{cid}/scores").json()[0]
    assert scored["score"] == latest["score"]
    assert scored["factors"]["pd"]["value"] == latest["score"]

    # A second version becomes champion; the first retires.
    v2 = analyst.post(
        "/api/v1/models/train-from-history",
        json={"name": "pd", "family": "lightgbm", "folds": 3},
    ).json()
    assert v2["version"] == 2
    analyst.post(f"/api/v1/models/{v2['id']}/promote")
    manager.post(f"/api/v1/models/{v2['id']}/approve-promotion")
    statuses = {m["version"]: m["status"] for m in manager.get("/api/v1/models").json()}
    assert statuses == {1: "retired", 2: "champion"}

    monitoring = manager.get(f"/api/v1/models/{v1['id']}/monitoring", params={"months": 4})
    assert monitoring.status_code == 200, monitoring.text
    m = monitoring.json()
    assert m["score_psi"] is not None and m["score_psi"] >= 0
    assert "dpd_max" in m["feature_psi"]
    months = [p["month"] for p in m["performance"]]
    assert len(months) == 4 and months == sorted(months)
    last_matured = (today() - dt.timedelta(days=365)).replace(day=1) - dt.timedelta(days=1)
    assert months[-1] == last_matured.strftime("%Y-%m")
    assert any(p["auc"] is not None for p in m["performance"])
    # Trained on the latest matured window: every matured month precedes its snapshot.
    assert not any(p["out_of_time"] for p in m["performance"])


def test_a_months_first_scoring_run_keeps_the_matured_performance(  # type: ignore[no-untyped-def]
    history, client_for, manager, monkeypatch
) -> None:
    from riskdesk.scoring import registry

    analyst = client_for("analyst")
    v1 = analyst.post(
        "/api/v1/models/train-from-history", json={"name": "pd", "family": "scorecard", "folds": 3}
    ).json()
    assert (v1["matured_performance"], v1["matured_as_of"]) == (None, None)
    health = analyst.get("/api/v1/home/analyst").json()["models"]
    assert [(m["version_id"], m["matured_auc"]) for m in health] == [(v1["id"], None)]

    computed: list[list[int]] = []
    real = registry.matured_performances

    def counted(session, versions, day, months=12, **kwargs):  # type: ignore[no-untyped-def]
        computed.append([v.id for v in versions])
        return real(session, versions, day, months, **kwargs)

    monkeypatch.setattr(registry, "matured_performances", counted)
    assert manager.post("/api/v1/scoring-runs", json={}).status_code == 201
    assert computed == [[v1["id"]]]
    kept = manager.get(f"/api/v1/models/{v1['id']}").json()
    assert kept["matured_as_of"] == today().isoformat()
    # The same figures the model's page computes afresh.
    fresh = manager.get(f"/api/v1/models/{v1['id']}/monitoring").json()["performance"]
    assert kept["matured_performance"] == fresh
    assert len(fresh) == 12 and any(p["auc"] is not None for p in fresh)
    newest = [p for p in fresh if p["auc"] is not None][-1]
    (shown,) = analyst.get("/api/v1/home/analyst").json()["models"]
    assert shown["matured_auc"] == pytest.approx(newest["auc"])
    assert (shown["matured_month"], shown["matured_out_of_time"]) == (newest["month"], False)

    # The month's next run reuses them; a run dated last month never overwrites them.
    computed.clear()  # the monitoring page's own computation above
    assert manager.post("/api/v1/scoring-runs", json={}).status_code == 201
    earlier = (today().replace(day=1) - dt.timedelta(days=1)).isoformat()
    assert manager.post("/api/v1/scoring-runs", json={"as_of": earlier}).status_code == 201
    assert computed == [[], []]
    assert manager.get(f"/api/v1/models/{v1['id']}").json()["matured_as_of"] == today().isoformat()

    # A month later the months whose labels were final when kept are reused; the others (an
    # invoice due near a window's end is bad only once 90 days late) and the month that
    # matured since are computed.
    from riskdesk.kit.timeutil import month_ends

    starts: list[dt.date] = []
    real_compute = registry.compute

    def compute(frames, start, *args, **kwargs):  # type: ignore[no-untyped-def]
        starts.append(start)
        return real_compute(frames, start, *args, **kwargs)

    monkeypatch.setattr(registry, "compute", compute)
    monkeypatch.setattr(registry, "matured_performances", real)
    history.expire_all()
    later = today().replace(day=1) + dt.timedelta(days=40)
    found = registry.matured_due(history, later)[v1["id"]]
    window = month_ends(later - dt.timedelta(days=365), 12)
    settled = [r for r in kept["matured_performance"] if r["settled"]]
    assert 0 < len(settled) < 12
    assert all(
        dt.date.fromisoformat(r["month"] + "-01") + dt.timedelta(days=365 + 90) <= today()
        for r in settled
    )
    assert sorted(starts) == [w for w in window if w.strftime("%Y-%m") not in
                              {r["month"] for r in settled}]  # fmt: skip
    assert [r["month"] for r in found] == [w.strftime("%Y-%m") for w in window]
    in_window = [r for r in settled if r["month"] >= found[0]["month"]]
    assert [r for r in found if r in settled] == in_window
