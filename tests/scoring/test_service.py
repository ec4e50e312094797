"""Scorecards through the API: drafts, four-eyes approval, versions; scoring runs over everyone,
one customer on demand, reason codes in both languages, scope by kind and segment."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest

from riskdesk.kit.timeutil import today
from riskdesk.scoring import service
from tests.conftest import ingest, principal
from tests.factories import company, resident_id
from tests.scoring.test_scorecard import RATINGS, TIERS
from tests.security.test_auth import login


def ago(n: int) -> str:
    return (today() - dt.timedelta(days=n)).isoformat()


def card(code: str = "b2b", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": code,
        "name": "B2B scorecard",
        "customer_kind": "company",
        "definition": {
            "base_points": 200,
            "factors": [
                {
                    "code": "dpd",
                    "source": "indicator",
                    "name": "dpd_max",
                    "bins": [
                        {"upper": 1, "points": 400},
                        {"lower": 1, "upper": 31, "points": 200},
                        {"lower": 31, "points": 0},
                    ],
                    "missing_points": 200,
                },
                {
                    "code": "bureau",
                    "source": "bureau",
                    "name": "bureau_score",
                    "weight": {"points": 250, "lower": 300, "upper": 900},
                    "missing_points": 100,
                },
                {
                    "code": "segment",
                    "source": "attribute",
                    "name": "segment",
                    "bins": [{"values": ["b2b_enterprise"], "points": 150}],
                    "missing_points": 50,
                },
            ],
            "ratings": RATINGS,
            "tiers": TIERS,
        },
    }
    return body | overrides


def test_draft_needs_a_second_person_and_a_new_version_retires_the_old(manager, client_for) -> None:  # type: ignore[no-untyped-def]
    created = manager.post("/api/v1/scorecards", json=card())
    assert created.status_code == 201, created.text
    v1 = created.json()["versions"][0]
    assert (v1["version"], v1["status"]) == (1, "draft")
    again = manager.post("/api/v1/scorecards", json=card())
    assert again.status_code == 200 and len(again.json()["versions"]) == 1
    clash = manager.post("/api/v1/scorecards", json=card(name="Other"))
    assert clash.status_code == 409 and clash.json()["error"]["field"] == "code"
    own = manager.post(f"/api/v1/scorecard-versions/{v1['id']}/approve", json={})
    assert own.status_code == 403 and own.json()["error"]["code"] == "four_eyes"
    manager2 = client_for("manager2")
    ok = manager2.post(f"/api/v1/scorecard-versions/{v1['id']}/approve", json={"comment": "ok"})
    assert ok.status_code == 200 and ok.json()["status"] == "active"
    twice = manager2.post(f"/api/v1/scorecard-versions/{v1['id']}/approve", json={})
    assert twice.status_code == 409
    analyst = client_for("analyst")
    body = {"definition": card()["definition"] | {"base_points": 150}, "note": "stricter"}
    v2 = analyst.post("/api/v1/scorecards/b2b/versions", json=body)
    assert v2.status_code == 201 and v2.json()["version"] == 2
    assert analyst.post("/api/v1/scorecards/b2b/versions", json=body).status_code == 200
    other = {"definition": card()["definition"] | {"base_points": 100}}
    assert analyst.post("/api/v1/scorecards/b2b/versions", json=other).status_code == 409
    # The analyst may draft but not approve; a manager who did not edit it may.
    denied = analyst.post(f"/api/v1/scorecard-versions/{v2.json()['id']}/approve", json={})
    assert denied.status_code == 403
    manager.put(f"/api/v1/scorecard-versions/{v2.json()['id']}", json=other)
    edited = manager.post(f"/api/v1/scorecard-versions/{v2.json()['id']}/approve", json={})
    assert edited.status_code == 403 and edited.json()["error"]["code"] == "four_eyes"
    assert (
        manager2.post(f"/api/v1/scorecard-versions/{v2.json()['id']}/approve", json={}).status_code
        == 200
    )
    versions = manager.get("/api/v1/scorecards/b2b").json()["versions"]
    assert [(v["version"], v["status"]) for v in versions] == [(2, "active"), (1, "retired")]
    assert versions[0]["definition"]["base_points"] == 100


def test_invalid_scorecard_names_the_field(manager) -> None:  # type: ignore[no-untyped-def]
    bad = card()
    bad["definition"]["ratings"] = RATINGS[1:]
    response = manager.post("/api/v1/scorecards", json=bad)
    assert response.status_code == 422
    detail = response.json()["error"]["details"][0]
    assert detail["field"] == "definition.ratings"
    assert "scores 900 to 1000 are in no band" in detail["reason"]
    unknown = card()
    unknown["definition"]["factors"][0]["name"] = "made_up"
    response = manager.post("/api/v1/scorecards", json=unknown)
    assert response.status_code == 422
    assert "unknown indicator 'made_up'" in response.text
    assert manager.get("/api/v1/scorecards").json() == []


def _active(db, client_for, manager, body: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    created = manager.post("/api/v1/scorecards", json=body)
    assert created.status_code == 201, created.text
    vid = created.json()["versions"][0]["id"]
    assert (
        client_for("manager2")
        .post(f"/api/v1/scorecard-versions/{vid}/approve", json={})
        .status_code
        == 200
    )


def _portfolio(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    p = principal(db, "manager")
    ingest(
        db,
        p,
        "customers",
        [
            company("GOOD", segment="b2b_enterprise"),
            company("LATE", segment="b2b_sme"),
            {
                "source": "erp",
                "external_id": "P1",
                "kind": "individual",
                "name": "张三",
                "national_id": resident_id(3),
            },
        ],
    )
    ingest(
        db,
        p,
        "invoices",
        [
            {
                "source": "erp",
                "external_id": "I-LATE",
                "customer_external_id": "LATE",
                "amount": "5000.00",
                "currency": "CNY",
                "issue_date": ago(90),
                "due_date": ago(45),
            }
        ],
    )
    ingest(
        db,
        p,
        "credit_reports",
        [
            {
                "customer_external_id": "GOOD",
                "customer_source": "erp",
                "source": "bureau",
                "external_id": "R1",
                "report_date": ago(10),
                "score": 840,
            }
        ],
    )
    db.commit()
    from riskdesk.customers import repository as customer_repo

    refs = customer_repo.customer_ids_by_ref(db, {("erp", x) for x in ("GOOD", "LATE", "P1")})
    return {ext: cid for (_, ext), cid in refs.items()}


def test_scoring_run_scores_everyone_with_reasons_in_both_languages(
    db, manager, client_for
) -> None:  # type: ignore[no-untyped-def]
    ids = _portfolio(db)
    _active(db, client_for, manager, card())
    run = manager.post("/api/v1/scoring-runs", json={})
    assert run.status_code == 201, run.text
    # Two companies scored; the individual fits no scorecard.
    assert (run.json()["customers"], run.json()["unscored"]) == (2, 1)
    good = manager.get(f"/api/v1/customers/{ids['GOOD']}/scores").json()
    late = manager.get(f"/api/v1/customers/{ids['LATE']}/scores").json()
    assert len(good) == 1 and len(late) == 1
    # GOOD: 200 + 400 (no dpd) + 250 * (840 - 300) / 600 + 150 = 975
    assert (good[0]["score"], good[0]["rating"], good[0]["risk_tier"]) == (975, "AAA", "low")
    assert good[0]["reasons"][0]["factor"] == "bureau"
    # LATE: 200 + 0 (45 days past due) + 100 (no bureau report) + 50 = 350
    assert (late[0]["score"], late[0]["rating"], late[0]["risk_tier"]) == (350, "C", "critical")
    first = late[0]["reasons"][0]
    assert first["factor"] == "dpd" and first["value"] == 45
    assert "45" in first["en"] and "0 of 400 points" in first["en"]
    assert "满分 400" in first["zh"]
    assert [r["factor"] for r in late[0]["reasons"]] == ["dpd", "bureau", "segment"]
    assert late[0]["factors"]["bureau"] == {"value": None, "points": 100.0}
    profile = manager.get(f"/api/v1/customers/{ids['LATE']}").json()["profile"]
    assert (profile["score"], profile["rating"], profile["risk_tier"]) == (350, "C", "critical")
    assert manager.get("/api/v1/scoring-runs").json()[0]["id"] == run.json()["id"]


def test_one_customer_on_demand_stores_a_score_only_when_it_changes(
    db, manager, client_for
) -> None:  # type: ignore[no-untyped-def]
    ids = _portfolio(db)
    none_yet = manager.post(f"/api/v1/customers/{ids['GOOD']}/score")
    assert none_yet.status_code == 409 and none_yet.json()["error"]["code"] == "no_active_scorecard"
    _active(db, client_for, manager, card())
    manager.post("/api/v1/scoring-runs", json={})
    again = manager.post(f"/api/v1/customers/{ids['LATE']}/score")
    assert again.status_code == 201 and again.json()["score"] == 350
    # Same inputs, same score: the batch run's score stands, nothing new is stored.
    assert len(manager.get(f"/api/v1/customers/{ids['LATE']}/scores").json()) == 1
    unfit = manager.post(f"/api/v1/customers/{ids['P1']}/score")
    assert unfit.status_code == 409 and unfit.json()["error"]["code"] == "no_scorecard_fits"


def test_batch_and_one_customer_agree(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _portfolio(db)
    _active(db, client_for, manager, card())
    manager.post("/api/v1/scoring-runs", json={})
    batch = {
        cid: manager.get(f"/api/v1/customers/{cid}/scores").json()[0]
        for cid in (ids["GOOD"], ids["LATE"])
    }
    # Rescore each alone from the stored indicators, storing every score.
    from riskdesk.scoring import repository as repo

    for cid, scored in batch.items():
        service.score_customers(db, [cid], trigger="test")
        alone = repo.latest_scores(db, [cid])[cid]
        assert (alone.score, alone.rating, alone.risk_tier) == (
            scored["score"],
            scored["rating"],
            scored["risk_tier"],
        )
        assert alone.reasons == scored["reasons"]


def test_scores_follow_row_level_visibility(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _portfolio(db)
    _active(db, client_for, manager, card())
    manager.post("/api/v1/scoring-runs", json={})
    sales = client_for("sales")
    assert sales.get(f"/api/v1/customers/{ids['LATE']}/scores").status_code == 404
    assert sales.post("/api/v1/scoring-runs", json={}).status_code == 403
    assert sales.post("/api/v1/scorecards", json=card("x")).status_code == 403


def test_company_ratios_from_the_latest_statement_are_factors(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _portfolio(db)
    p = principal(db, "manager")
    statement = {
        "customer_external_id": "GOOD",
        "customer_source": "erp",
        "currency": "CNY",
        "total_assets": "1000",
        "current_assets": "500",
        "current_liabilities": "200",
        "retained_earnings": "200",
        "ebit": "100",
        "equity": "600",
        "total_liabilities": "400",
        "revenue": "1500",
        "net_income": "60",
    }
    older = statement | {"period_end": ago(800), "ebit": "-500"}
    ingest(db, p, "statements", [statement | {"period_end": ago(400)}, older])
    db.commit()
    body = card("ratios")
    body["definition"] = {
        "base_points": 500,
        "factors": [
            {
                "code": "altman",
                "source": "ratio",
                "name": "altman_score",
                "bins": [
                    {"upper": 1.1, "points": 0},
                    {"lower": 1.1, "upper": 2.6, "points": 150},
                    {"lower": 2.6, "points": 300},
                ],
                "missing_points": 100,
            },
            {
                "code": "leverage",
                "source": "ratio",
                "name": "debt_to_assets",
                "weight": {"points": 200, "lower": 0, "upper": 1, "higher_is_better": False},
            },
        ],
        "ratings": RATINGS,
        "tiers": TIERS,
    }
    _active(db, client_for, manager, body)
    manager.post("/api/v1/scoring-runs", json={})
    good = manager.get(f"/api/v1/customers/{ids['GOOD']}/scores").json()[0]
    # Z'' (a non-manufacturer) = 6.56*0.3 + 3.26*0.2 + 6.72*0.1 + 1.05*1.5 = 4.867: safe
    assert good["factors"]["altman"]["value"] == pytest.approx(4.867)
    assert good["factors"]["leverage"]["value"] == pytest.approx(0.4)
    assert good["score"] == 500 + 300 + 120
    late = manager.get(f"/api/v1/customers/{ids['LATE']}/scores").json()[0]
    assert late["factors"]["altman"] == {"value": None, "points": 100.0}
    assert late["score"] == 500 + 100 + 0


def test_the_score_chart_has_a_point_per_date_scored_as_of(db, app, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    """A past quarter end rescored today is that quarter's point, not a second point today;
    the same date scored twice is one point (the newest)."""
    ids = _portfolio(db)
    _active(db, client_for, manager, card())
    quarter_end = today().replace(day=1) - dt.timedelta(days=1)
    for as_of in (quarter_end.isoformat(), None, None):
        body = {"as_of": as_of} if as_of else {}
        assert manager.post("/api/v1/scoring-runs", json=body).status_code == 201
    page = login(app, "manager").get(f"/customers/{ids['LATE']}")
    found = re.search(r"data-series='([^']+)'[^>]*id=\"score-chart\"", page.text)
    assert found is not None, "no score chart"
    chart = json.loads(found.group(1).replace("&#34;", '"').replace("&quot;", '"'))
    assert chart["dates"] == [quarter_end.isoformat(), today().isoformat()]
    assert len(next(iter(chart["series"].values()))) == 2
