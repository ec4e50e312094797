"""The rules page's backtest and replay panels queue jobs: an error in the expression (or a
missing version) answers at once and queues nothing; the panel follows its job, then draws the
result the job stored, which is the synchronous API's answer; only rule managers, and only a
job of the panel's own kind. The tests run the worker's step themselves (job_workers=0)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from riskdesk.demo.loader import load_demo
from riskdesk.jobs import service as jobs
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Job, RuleVersion


@pytest.fixture
def history(db):  # type: ignore[no-untyped-def]
    load_demo(db, customers=40, months=14, seed=1)
    db.commit()
    return db


def _job_id(page: Any) -> int:
    found = re.search(r'data-job="(\d+)"', page.text)
    assert found is not None, page.text
    return int(found.group(1))


def _jobs(db: Any) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Job)) or 0


def test_the_backtest_panel_queues_a_job_and_draws_its_result(history, client_for, factory) -> None:  # type: ignore[no-untyped-def]
    analyst = client_for("analyst")
    analyst.headers["Accept-Language"] = "en"
    before = _jobs(history)
    bad = analyst.post("/rules/backtest", data={"expression": "dpd_max >"})
    assert bad.status_code == 200 and 'id="backtest-error"' in bad.text
    assert _jobs(history) == before  # nothing queued for a wrong expression
    queued = analyst.post("/rules/backtest", data={"expression": "dpd_max > 30"})
    assert queued.status_code == 200, queued.text
    job_id = _job_id(queued)
    assert f'hx-get="/rules/backtest/{job_id}" hx-trigger="every 1s"' in queued.text
    job = history.get(Job, job_id)
    assert job is not None and job.kind == "rule_backtest" and job.status == "queued"
    assert job.parameters["months"] == 12 and job.parameters["expression"] == "dpd_max > 30"
    waiting = analyst.get(f"/rules/backtest/{job_id}")
    assert waiting.status_code == 200 and "every 1s" in waiting.text
    assert "Waiting for a worker" in waiting.text and f'href="/jobs/{job_id}"' in waiting.text
    assert jobs.run_next(factory) == job_id
    done = analyst.get(f"/rules/backtest/{job_id}")
    assert done.status_code == 200 and "every 1s" not in done.text
    assert 'id="backtest-summary"' in done.text and 'id="backtest-chart"' in done.text
    sync = analyst.post("/api/v1/rules/backtest", json={"expression": "dpd_max > 30"}).json()
    defaults = "default" if sync["outcomes"] == 1 else "defaults"
    caught = f"caught {sync['caught']} of {sync['outcomes']} later {defaults}"
    assert caught in done.text
    assert sync["monthly"][-1]["month"] in done.text  # the chart's months
    # In Chinese, the same panel has no English left in it.
    zh = analyst.get(f"/rules/backtest/{job_id}", headers={"Accept-Language": "zh-CN"})
    assert "召回" in zh.text or "回测" in zh.text or "预警" in zh.text, zh.text
    assert "caught" not in zh.text and "jobs." not in zh.text and "rules." not in zh.text


def test_the_replay_panel_checks_the_version_before_queueing(history, client_for) -> None:  # type: ignore[no-untyped-def]
    analyst = client_for("analyst")
    before = _jobs(history)
    missing = analyst.post(
        "/rules/replay", data={"version_id": "999999"}, headers={"HX-Request": "true"}
    )
    assert missing.status_code == 404 and 'id="error-fragment"' in missing.text
    assert "未找到" in missing.text  # the app's one answer for missing and not yours
    wrong = analyst.post("/rules/replay", data={"version_id": "abc"})
    assert wrong.status_code == 422
    assert _jobs(history) == before
    version = history.scalars(select(RuleVersion.id).order_by(RuleVersion.id)).first()
    queued = analyst.post("/rules/replay", data={"version_id": str(version)})
    assert queued.status_code == 200 and f'id="replay-{version}-job"' in queued.text
    job = history.get(Job, _job_id(queued))
    assert job is not None and job.kind == "warning_replay"
    assert job.parameters["version_id"] == version and job.parameters["every"] == "month"


def test_who_may_see_a_panel_and_of_which_job(history, client_for, db) -> None:  # type: ignore[no-untyped-def]
    analyst, sales = client_for("analyst"), client_for("sales")
    before = _jobs(history)
    assert sales.post("/rules/backtest", data={"expression": "dpd_max > 30"}).status_code == 403
    assert _jobs(history) == before
    job_id = _job_id(analyst.post("/rules/backtest", data={"expression": "dpd_max > 30"}))
    assert sales.get(f"/rules/backtest/{job_id}").status_code == 403
    # A job of another kind (or none) is not this panel's: 404 alike.
    assert analyst.get(f"/rules/replay/{job_id}").status_code == 404
    assert analyst.get("/rules/backtest/999999").status_code == 404
    # A job that failed says why, in the user's language.
    job = db.get(Job, job_id)
    job.status, job.phase, job.attempts = "failed", "failed", 2
    job.error_code, job.error_message = "job_interrupted", jobs.INTERRUPTED
    job.finished_at = utcnow()
    db.commit()
    failed = analyst.get(f"/rules/backtest/{job_id}")
    assert 'id="backtest-job-error"' in failed.text and "every 1s" not in failed.text
    zh = analyst.get(f"/rules/backtest/{job_id}", headers={"Accept-Language": "zh-CN"})
    assert "进程在完成前停止" in zh.text
