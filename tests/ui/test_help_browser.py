"""Help and training in a real Chromium: each screen's "?" leads to its help, the help pages
in both languages, and a practice step that turns done once the user has done it."""

from __future__ import annotations

import re

import pytest

from riskdesk.ui.help.content import SCREENS
from tests.conftest import PASSWORD
from tests.ui.conftest import landing, new_context, shot


def _sign_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation(url=landing(username)):
        page.click("button[type=submit]")


@pytest.mark.parametrize("username", ["manager", "sales", "auditor", "admin"])
def test_each_screen_help_link_leads_to_its_help(browser, live_server: str, username: str) -> None:  # type: ignore[no-untyped-def]
    context = new_context(browser)
    page = context.new_page()
    _sign_in(page, live_server, username)
    visited = 0
    for screen in SCREENS:
        for method, path in screen.views:
            if method != "GET" or "{" in path:
                continue
            answer = page.goto(f"{live_server}{path}")
            if answer is None or answer.status != 200:
                continue  # not this role's screen
            link = page.locator("#help-link")
            assert link.get_attribute("href") == f"/help/screens/{screen.key}", path
            link.click()
            page.wait_for_url(re.compile(rf".*/help/screens/{screen.key}$"))
            assert page.locator("#help-screen").get_attribute("data-screen") == screen.key
            visited += 1
    assert visited >= 8, visited
    context.close()


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_help_pages_in_both_languages(browser, live_server: str, locale: str) -> None:  # type: ignore[no-untyped-def]
    context = new_context(browser, "zh-CN" if locale == "zh-CN" else "en-US")
    page = context.new_page()
    _sign_in(page, live_server, "analyst")
    page.click("#help-link")  # from the analyst's home: the home pages' help
    page.wait_for_url(re.compile(r".*/help/screens/home$"))
    page.click("#help-nav a[href='/help']")
    heading = "帮助与培训" if locale == "zh-CN" else "Help and training"
    assert page.locator("#help-title").inner_text() == heading
    shot(page, f"help-index-{locale}")
    page.click("#screen-alerts a")
    page.wait_for_url(re.compile(r".*/help/screens/alerts$"))
    # The analyst works alerts: their role is among those who may move one on.
    row = page.locator(".help-action[data-route='POST /alerts/{alert_id}/move']")
    assert row.locator("[data-role=risk_analyst]").count() == 1
    assert row.locator("[data-role=auditor]").count() == 0
    shot(page, f"help-screen-alerts-{locale}")
    page.click("#help-nav-glossary")
    page.wait_for_url(re.compile(r".*/help/glossary$"))
    assert page.locator("#term-dso").is_visible()
    shot(page, f"help-glossary-{locale}")
    page.goto(f"{live_server}/help/start/risk_analyst")
    assert page.locator("#guide").is_visible()
    shot(page, f"help-start-{locale}")
    page.goto(f"{live_server}/help/practice/risk_analyst")
    assert page.locator(".practice-step").count() >= 4
    shot(page, f"help-practice-{locale}")
    context.close()


def test_a_practice_step_turns_done_after_the_user_does_it(browser, live_server: str) -> None:  # type: ignore[no-untyped-def]
    context = new_context(browser)
    page = context.new_page()
    _sign_in(page, live_server, "admin")
    page.goto(f"{live_server}/help/practice/admin")
    step = page.locator(".practice-step[data-check=notifications_saved]")
    assert step.get_attribute("data-done") == "no"
    step.locator(".step-link").click()
    page.wait_for_url(re.compile(r".*/me/notifications$"))
    page.click("#save-settings")
    page.wait_for_load_state()
    page.goto(f"{live_server}/help/practice/admin")
    step = page.locator(".practice-step[data-check=notifications_saved]")
    assert step.get_attribute("data-done") == "yes"
    context.close()
