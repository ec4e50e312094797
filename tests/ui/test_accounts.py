"""Accounts in the browser: a locked-out user gets the usual message, the administrator sees
the lock-out on the users page and ends it, and a user changes their own password."""

from __future__ import annotations

import contextlib
import re

import pytest
from playwright.sync_api import expect

from riskdesk.db import unit_of_work
from riskdesk.kit.errors import NotAuthenticated
from riskdesk.security import service as security_service
from tests.conftest import PASSWORD
from tests.ui.conftest import _FACTORIES, landing, nav_click
from tests.ui.test_journey import sign_in, sign_out

pytestmark = pytest.mark.browser


def _try(page, base: str, username: str, password: str) -> str:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation(url=re.compile(r".*/login\?error=failed.*")):
        page.click("button[type=submit]")
    return str(page.inner_text("[role=alert]"))


def test_a_locked_out_user_is_unlocked_by_the_administrator(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(_FACTORIES[live_server]) as session:
        for _ in range(security_service.DEFAULT_LOCKOUT.failures):
            with contextlib.suppress(NotAuthenticated):
                security_service.authenticate(session, username="sales", password="Wrong-guess-1")
    # Locked, unknown or wrong: the sign-in page says the same.
    locked = _try(page, live_server, "sales", PASSWORD)
    assert locked == _try(page, live_server, "no-such-user", PASSWORD)
    assert locked == _try(page, live_server, "manager", "Wrong-guess-1")
    assert "Wrong username or password" in locked

    sign_in(page, live_server, "admin")
    nav_click(page, "#nav-users")
    row = page.locator("#user-sales")
    expect(row.locator(".state")).to_contain_text("Locked until")
    expect(page.locator("#user-manager .state")).to_contain_text("Active · 1 wrong password")
    row.locator("button.unlock").click()
    expect(page.locator("#users-result")).to_be_visible()
    expect(page.locator("#user-sales .state")).to_have_text("Active")
    page.click("#lang-switch")
    expect(page.locator("#user-sales .state")).to_have_text("正常")
    page.click("#lang-switch")
    sign_out(page)
    sign_in(page, live_server, "sales")


def test_a_user_changes_their_password(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server, "auditor")
    nav_click(page, "#my-password")
    page.fill("input[name=current_password]", PASSWORD)
    page.fill("input[name=new_password]", "Password123!")
    page.fill("input[name=confirm_password]", "Password123!")
    page.click("#change-password")
    expect(page.locator("#form-errors")).to_contain_text("too easy to guess")
    page.fill("input[name=current_password]", PASSWORD)
    page.fill("input[name=new_password]", "Harbour-lantern-58")
    page.fill("input[name=confirm_password]", "Harbour-lantern-58")
    page.click("#change-password")
    expect(page.locator("#password-changed")).to_be_visible()
    sign_out(page)
    assert "Wrong username or password" in _try(page, live_server, "auditor", PASSWORD)
    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", "auditor")
    page.fill("input[name=password]", "Harbour-lantern-58")
    with page.expect_navigation(url=landing("auditor")):
        page.click("button[type=submit]")
