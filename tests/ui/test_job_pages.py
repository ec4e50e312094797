"""Job pages in a real browser: a scoring run started from the scorecards page runs in the
server's job worker while its page follows the progress, then shows the result; a failed job
reads as a sentence in the user's language; the list page for operators.

Set RISKDESK_SCREENSHOTS to a directory to keep screenshots."""

from __future__ import annotations

from playwright.sync_api import expect

from riskdesk.db import unit_of_work
from riskdesk.jobs import service as job_service
from riskdesk.kit.timeutil import utcnow
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Permission
from tests.ui.conftest import _FACTORIES, shot
from tests.ui.test_journey import sign_in


def _failed_job(base: str) -> int:
    """A job whose process died on its last attempt, as the reaper leaves it."""
    with unit_of_work(_FACTORIES[base]) as session:
        user = security_service.get_user_by_username_or_raise(session, "manager")
        job = job_service.enqueue(
            session,
            security_service.system_principal(session, user),
            kind="model_training",
            permission=Permission.SCORING_MANAGE,
            parameters={"name": "pd", "family": "scorecard"},
        )
        job.status, job.phase, job.attempts = "failed", "failed", 2
        job.error_code, job.error_message = "job_interrupted", job_service.INTERRUPTED
        job.finished_at = utcnow()
        session.flush()
        return job.id


def test_a_scoring_run_job_shows_progress_then_its_result(page, zh_page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/scorecards")
    page.click("#run-scoring")
    page.wait_for_url(f"{live_server}/jobs/*")
    expect(page.locator("#job-status")).to_have_attribute("data-status", "done")
    # No scorecard is active on this server: nobody is scored (the API tests check figures).
    expect(page.locator("#job-figure-customers")).to_have_text("0")
    shot(page, "job-done-en")
    job_url = page.url
    failed = _failed_job(live_server)
    page.goto(f"{live_server}/jobs/{failed}")
    expect(page.locator("#job-error")).to_contain_text("stopped before it finished")
    shot(page, "job-failed-en")
    page.goto(f"{live_server}/jobs")
    expect(page.locator("#jobs")).to_contain_text("Scoring run")
    shot(page, "jobs-en")
    zh = zh_page
    sign_in(zh, live_server, "manager")
    zh.goto(job_url)
    expect(zh.locator("#job-status")).to_have_text("已完成")
    body = zh.inner_text("main") if zh.locator("main").count() else zh.inner_text("body")
    assert "jobs." not in body and "scoring_run" not in body
    shot(zh, "job-done-zh")
    zh.goto(f"{live_server}/jobs/{failed}")
    expect(zh.locator("#job-error")).to_contain_text("进程在完成前停止")
    shot(zh, "job-failed-zh")
    zh.goto(f"{live_server}/jobs")
    expect(zh.locator("#jobs")).to_contain_text("批量评分")
    assert "done" not in zh.inner_text("#jobs") and "failed" not in zh.inner_text("#jobs")
    shot(zh, "jobs-zh")


def test_a_queued_job_is_cancelled_from_its_page_and_others_cannot_see_it(
    page, live_server: str
) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(_FACTORIES[live_server]) as session:
        user = security_service.get_user_by_username_or_raise(session, "manager")
        # A kind no worker here runs stays queued until cancelled.
        job = job_service.enqueue(
            session,
            security_service.system_principal(session, user),
            kind="not_here",
            permission=Permission.SCORING_MANAGE,
            parameters={},
        )
        job_id = job.id
    sign_in(page, live_server, "sales")
    hidden = page.goto(f"{live_server}/jobs/{job_id}")
    assert hidden is not None and hidden.status == 404
    page.context.clear_cookies()
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/jobs/{job_id}")
    expect(page.locator("#job-phase")).to_have_text("Waiting for a worker")
    shot(page, "job-queued-en")
    page.click("#job-cancel")
    expect(page.locator("#job-status")).to_have_attribute("data-status", "cancelled")
