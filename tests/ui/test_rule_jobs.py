"""The rules page's backtest and replay in a real browser: each button queues a job that the
server's job worker runs while the panel follows it, then the panel draws the result (the
backtest's chart, the replay's table), in English and in Chinese.

Set RISKDESK_SCREENSHOTS to a directory to keep screenshots."""

from __future__ import annotations

from playwright.sync_api import expect

from riskdesk.db import unit_of_work
from riskdesk.monitoring import service as monitoring_service
from riskdesk.monitoring.schemas import RuleIn
from riskdesk.security import service as security_service
from tests.ui.conftest import _FACTORIES, shot
from tests.ui.test_journey import sign_in

_DRAFTS: dict[str, int] = {}


def _draft(base: str) -> int:
    """A draft rule version of the manager's, to replay (one per live server)."""
    if base not in _DRAFTS:
        spec = RuleIn(
            code="ui_job_overdue",
            name_en="Overdue beyond 30 days",
            name_zh="逾期超过30天",
            category="payment",
            expression="dpd_max > 30",
            severity="medium",
        ).model_dump()
        with unit_of_work(_FACTORIES[base]) as session:
            user = security_service.get_user_by_username_or_raise(session, "manager")
            principal = security_service.system_principal(session, user)
            _, version, _ = monitoring_service.create_rule(session, principal, spec)
            _DRAFTS[base] = version.id
    return _DRAFTS[base]


def _backtest_and_replay(page, base: str, version_id: int, lang: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/rules")
    page.click("#rule-editor summary")
    page.fill("#rule-expression", "dpd_max >")
    page.click("#run-backtest")
    expect(page.locator("#backtest-error")).to_be_visible()  # at once, and nothing queued
    page.fill("#rule-expression", "dpd_max > 30")
    page.click("#run-backtest")
    # The panel follows the job (queued, then running) ...
    expect(page.locator("#backtest-job a.job-link")).to_be_visible()
    shot(page, f"rules-backtest-queued-{lang}")
    # ... then draws the result the job stored.
    expect(page.locator("#backtest-summary")).to_be_visible()
    expect(page.locator("#backtest-chart canvas")).to_have_count(1)
    expect(page.locator("#backtest-job")).to_have_count(0)
    page.locator(f"#rule-version-{version_id} button.replay").click()
    expect(page.locator(f"#replay-{version_id}-job a.job-link")).to_be_visible()
    shot(page, f"rules-replay-queued-{lang}")
    expect(page.locator(f"#replay-result-{version_id}")).to_be_visible()
    expect(page.locator(f"#replay-result-{version_id} tr.replay-type.mine")).to_have_count(1)
    shot(page, f"rules-backtest-replay-done-{lang}")


def test_a_backtest_and_a_replay_run_as_jobs_from_the_rules_page(
    page, zh_page, live_server: str
) -> None:  # type: ignore[no-untyped-def]
    version_id = _draft(live_server)
    sign_in(page, live_server, "analyst")
    _backtest_and_replay(page, live_server, version_id, "en")
    assert "later defaults" in page.inner_text("#backtest-summary")
    assert "recall" in page.inner_text(f"#replay-result-{version_id}")

    sign_in(zh_page, live_server, "analyst")
    _backtest_and_replay(zh_page, live_server, version_id, "zh")
    summary = zh_page.inner_text("#backtest-summary")
    table = zh_page.inner_text(f"#replay-result-{version_id}")
    for shown in (summary, table):
        assert "jobs." not in shown and "rules." not in shown
        assert not any(w in shown for w in ("caught", "recall", "queued", "done", "e+", "E+"))
