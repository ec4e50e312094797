"""Warning replays: the pack run as of past dates into a result of its own, alerts raised and
cleared as live would, and each warning type judged against its outcome or labels."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest
from sqlalchemy import func, select

from riskdesk.demo.loader import load_demo
from riskdesk.jobs import service as jobs
from riskdesk.kit.errors import ValidationFailed
from riskdesk.models import Alert
from riskdesk.monitoring import measure, replay
from riskdesk.monitoring import repository as monitoring_repo

D = [dt.date(2026, m, 28) for m in range(1, 7)]


def _hits(rows: list[tuple[int, int, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(D[i], c, code, kind) for i, c, code, kind in rows],
        schema=measure.HITS_SCHEMA,
        orient="row",
    )


def test_episodes_open_on_the_first_hit_and_clear_on_the_first_miss() -> None:
    hits = _hits(
        [
            (0, 1, "a", "churn"),
            (1, 1, "a", "churn"),
            (3, 1, "a", "churn"),  # again after a miss: a second alert
            (5, 2, "b", "resale"),  # on the last date: still open
            (1, 2, "a", "churn"),
        ]
    )
    alerts = measure.episodes(hits, D).sort("customer_id", "code", "opened")
    assert alerts.select("customer_id", "code", "opened", "cleared").rows() == [
        (1, "a", D[0], D[2]),
        (1, "a", D[3], D[4]),
        (2, "a", D[1], D[2]),
        (2, "b", D[5], None),
    ]


def test_outcomes_judge_precision_recall_and_lead_time() -> None:
    alerts = measure.episodes(
        _hits(
            [(0, 1, "x", "default_risk"), (2, 2, "x", "default_risk"), (1, 3, "x", "default_risk")]
        ),
        D,
    )
    outcomes = pl.DataFrame(
        {
            "customer_id": [1, 2, 4],
            "outcome_date": [D[0] + dt.timedelta(days=40), D[2] - dt.timedelta(days=5), D[4]],
        }
    )
    got = measure.by_outcome(
        alerts, outcomes, ["default_risk"], start=D[0], end=D[5], horizon_days=180
    )
    # 1 warned 40 days ahead; 2 flagged after its default (right, but no lead); 3 a false
    # alarm; 4 missed.
    assert (got["flagged_customers"], got["true_warnings"]) == (3, 2)
    assert got["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert (got["outcomes"], got["caught"]) == (3, 1) and got["median_lead_days"] == 40.0


def test_replay_dates() -> None:
    assert replay.replay_dates(dt.date(2026, 1, 15), dt.date(2026, 4, 10), "month") == [
        dt.date(2026, 1, 31),
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 10),
    ]
    weeks = replay.replay_dates(dt.date(2026, 3, 2), dt.date(2026, 3, 31), "week")
    assert weeks[0] == dt.date(2026, 3, 8) and weeks[-1] == dt.date(2026, 3, 31)
    assert all(d.weekday() == 6 for d in weeks[:-1])
    with pytest.raises(ValidationFailed) as late:
        replay.replay_dates(dt.date(2026, 5, 1), dt.date(2026, 4, 1), "month")
    assert late.value.field == "from"
    with pytest.raises(ValidationFailed) as long:
        replay.replay_dates(dt.date(2020, 1, 1), dt.date(2026, 4, 1), "week")
    assert long.value.field == "every"


END = dt.date(2026, 6, 30)


@pytest.fixture
def demo(db):  # type: ignore[no-untyped-def]
    load_demo(db, customers=150, months=24, seed=4, end_date=END)
    db.commit()
    return db


def test_a_replay_of_the_demo_finds_its_behaviours_and_touches_no_live_alert(demo) -> None:  # type: ignore[no-untyped-def]
    before = demo.scalar(select(func.count()).select_from(Alert))
    report = replay.run(
        demo,
        start=dt.date(2025, 7, 1),
        end=END,
        labels=monitoring_repo.demo_labels(demo),
    )
    assert demo.scalar(select(func.count()).select_from(Alert)) == before
    assert len(report["dates"]) == 12 and report["dates"][-1] == END.isoformat()
    deteriorating = report["labels"]["behaviours"]["deteriorating"]
    assert deteriorating["customers"] > 0 and deteriorating["recall"] >= 0.8
    assert deteriorating["precision"] >= 0.5 and deteriorating["median_lead_days"] >= 30
    resale = report["labels"]["behaviours"]["reseller"]
    assert resale["precision"] is None or resale["precision"] >= 0.8
    # The queue can be worked: most customers have no open alert on the last date.
    assert report["open_at_end"]["share"] <= 0.3
    # Every type is reported, with its hits per replay date.
    assert set(report["types"]) >= {"default_risk", "churn", "resale", "anomaly"}
    assert all(len(t["hits_per_period"]) == 12 for t in report["types"].values())
    assert report["types"]["default_risk"]["recall"] >= 0.8


def test_a_draft_is_replayed_beside_the_active_pack_before_approval(
    demo, client_for, factory
) -> None:  # type: ignore[no-untyped-def]
    analyst = client_for("analyst")
    draft = analyst.post(
        "/api/v1/rules/resale_frequency/versions",
        json={"expression": "line_units_peer_ratio_90d >= 1 and orders_count_90d >= 1",
              "severity": "high", "dedup_days": 30},
    )  # fmt: skip
    assert draft.status_code == 201, draft.text
    version_id = draft.json()["id"]
    got = analyst.post(
        "/api/v1/warning-replays",
        json={"from": "2026-01-01", "to": END.isoformat(), "version_id": version_id},
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["rule"] == "resale_frequency" and body["warning_type"] == "resale"
    now, then = body["current"]["types"]["resale"], body["candidate"]["types"]["resale"]
    assert then["customers_flagged"] > now["customers_flagged"]  # a far looser rule
    # The other types are the same either way.
    assert body["current"]["types"]["default_risk"] == body["candidate"]["types"]["default_risk"]
    # Nothing was approved or activated by looking.
    rules = {r["code"]: r for r in analyst.get("/api/v1/rules").json()}
    statuses = {v["id"]: v["status"] for v in rules["resale_frequency"]["versions"]}
    assert statuses[version_id] == "draft" and "active" in statuses.values()
    # The rules page queues the replay as a job; its panel follows the job, then draws it.
    queued = analyst.post("/rules/replay", data={"version_id": str(version_id)})
    assert queued.status_code == 200 and 'hx-trigger="every 1s"' in queued.text
    job_id = int(re.search(r'data-job="(\d+)"', queued.text).group(1))  # type: ignore[union-attr]
    assert jobs.run_next(factory) == job_id
    page = analyst.get(f"/rules/replay/{job_id}")
    assert page.status_code == 200 and "every 1s" not in page.text
    # The rule's own type is the row that stands out.
    assert 'class="replay-type mine" data-type="resale"' in page.text
    assert page.text.count("replay-type mine") == 1
    # Errors name the field; sales may not replay.
    bad = analyst.post("/api/v1/warning-replays", json={"from": "2026-05-01", "to": "2026-01-01"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "from"
    missing = analyst.post(
        "/api/v1/warning-replays", json={"from": "2026-01-01", "version_id": 999999}
    )
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "version_id"
    assert (
        client_for("sales").post("/api/v1/warning-replays", json={"from": "2026-01-01"}).status_code
        == 403
    )
