"""Hysteresis: a rule with a clear expression raises on its condition and clears only once
the clear expression holds, live and in replays alike."""

from __future__ import annotations

import datetime as dt

import polars as pl
from sqlalchemy import select

from riskdesk.monitoring import measure, pack
from tests.alerts.test_clearing import alerts_of, payment
from tests.conftest import ingest, principal
from tests.monitoring.test_alerts import _setup, invoice

DAYS = [dt.date(2026, m, 28) for m in range(1, 7)]


def _hits(rows: list[tuple[int, int, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(DAYS[d], cid, code, "payment_deterioration") for d, cid, code in rows],
        schema=measure.HITS_SCHEMA,
        orient="row",
    )


def test_a_replayed_alert_is_held_until_its_clear_expression_holds() -> None:
    # "drop" fires for customer 1 in months 0-1, not after; its clear expression first holds
    # in month 4. "plain" (no clear expression) fires in month 0 only.
    hits = _hits([(0, 1, "drop"), (1, 1, "drop"), (0, 2, "plain"), (3, 3, "drop")])
    clears = pl.DataFrame(
        {"day": [DAYS[4], DAYS[0], DAYS[4]], "customer_id": [1, 1, 3], "code": ["drop"] * 3}
    )
    held = measure.held_open(hits, clears, DAYS, ["drop"])
    episodes = measure.episodes(held, DAYS).sort("customer_id")
    assert episodes.select("customer_id", "code", "opened", "cleared").rows() == [
        (1, "drop", DAYS[0], DAYS[4]),  # held through months 2 and 3
        (2, "plain", DAYS[0], DAYS[1]),  # clears as soon as it is quiet
        (3, "drop", DAYS[3], DAYS[4]),
    ]
    # Without clear expressions nothing changes.
    assert measure.held_open(hits, clears, DAYS, []).equals(hits)


def test_recovery_measures_read_the_best_of_the_last_180_days() -> None:
    history = pl.DataFrame(
        {
            "customer_id": [1, 1, 1, 2, 2],
            "as_of": [
                dt.date(2026, 1, 1),
                dt.date(2026, 4, 1),
                dt.date(2026, 6, 1),
                dt.date(2025, 6, 1),
                dt.date(2026, 6, 1),
            ],
            "seq": [1, 2, 3, 1, 2],
            "score": [700.0, 560.0, 650.0, 800.0, 600.0],
            "version_id": [1, 1, 1, 1, 1],
            "rank": [2, 5, 3, 1, 4],
            "risk_tier": ["low", "high", "high", "low", "medium"],
        }
    )
    moves = pack.score_moves(history, dt.date(2026, 6, 2)).sort("customer_id")
    # 1: best 700 within 180 days, now 650 (50 below, one notch below its best rating).
    # 2: its 800 is a year old: only the latest counts, so nothing to recover from.
    assert moves.select("customer_id", "score_below_peak", "rating_notches_below_best").rows() == [
        (1, 50.0, 1.0),
        (2, 0.0, 0.0),
    ]
    # Risk tiers against 90 days before: 1 went from low (1 January) to high, two steps; 2 from
    # low to medium.
    assert moves["tier_steps_worse"].to_list() == [2.0, 1.0]


def test_a_live_alert_waits_for_its_clear_expression(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    analyst = client_for("analyst")
    body = {
        "code": "big_receivable",
        "name_en": "Large open receivable",
        "name_zh": "大额未收",
        "category": "receivables",
        "severity": "medium",
        "expression": "ar_open_total > 5000",
        "clear_expression": "ar_open_total < 1000",
        "dedup_days": 7,
    }
    bad = analyst.post("/api/v1/rules", json={**body, "clear_expression": "ar_open_totl < 1"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "clear_expression"
    created = analyst.post("/api/v1/rules", json=body)
    assert created.status_code == 201, created.text
    version = created.json()["versions"][0]
    assert version["clear_expression"] == "ar_open_total < 1000"
    manager.post(f"/api/v1/rule-versions/{version['id']}/approve")
    assert analyst.post(f"/api/v1/rule-versions/{version['id']}/activate").status_code == 200
    p = principal(db, "manager")
    ingest(db, p, "invoices", [invoice("H1", "B", "10000.00", -10)])
    db.commit()
    [raised] = alerts_of(db, ids["B"], "big_receivable")
    assert raised.status == "open"
    # 4,000 left: the rule no longer fires, but the receivable has not come down enough.
    ingest(db, p, "payments", [payment("HP1", "H1", "6000.00", 1)])
    db.commit()
    [held] = alerts_of(db, ids["B"], "big_receivable")
    assert held.status == "open"
    ingest(db, p, "payments", [payment("HP2", "H1", "4000.00", 0)])
    db.commit()
    [cleared] = alerts_of(db, ids["B"], "big_receivable")
    assert (cleared.status, cleared.cleared_reason) == ("resolved", "condition_cleared")
    assert cleared.evidence["cleared_with"] == {"ar_open_total": 0.0}


def test_an_older_install_gets_drafts_of_the_shipped_pack(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from riskdesk.models import RuleVersion, WarningRule

    _setup(db)
    # As installed by an older release: score_drop without its clear expression, medium.
    rule_id = db.scalar(select(WarningRule.id).where(WarningRule.code == "score_drop"))
    db.execute(
        update(RuleVersion)
        .where(RuleVersion.rule_id == rule_id)
        .values(clear_expression=None, severity="medium")
    )
    db.commit()
    analyst = client_for("analyst")
    made = analyst.post("/api/v1/rules/pack-updates")
    assert made.status_code == 200, made.text
    [drafted] = made.json()["drafted"]
    assert drafted["code"] == "score_drop"
    version = drafted["version"]
    assert (version["status"], version["severity"], version["clear_expression"]) == (
        "draft",
        "high",
        "score_below_peak < 50",
    )
    # The same again drafts nothing; the draft waits for a second person.
    assert analyst.post("/api/v1/rules/pack-updates").json() == {"drafted": [], "waiting": []}
    assert analyst.post(f"/api/v1/rule-versions/{version['id']}/approve").status_code == 403
    assert manager.post(f"/api/v1/rule-versions/{version['id']}/approve").status_code == 200
    assert client_for("sales").post("/api/v1/rules/pack-updates").status_code == 403
