"""An administrator in Chromium, in Chinese and in English: creates a user (the first password
shown once), changes their role, disables the account (the user can no longer sign in); resets
a password, which the user must replace with their own at the next sign-in; issues an API token
for a user (the form offers the scopes that user may hold; the secret shown once, then never
again) and revokes it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.ui.conftest import landing, nav_click, new_context, shot

pytestmark = pytest.mark.browser

WORDS = {
    "en": {
        "created": "The user is created.",
        "once": "it will not be shown again",
        "role": "Risk analyst",
        "disabled": "Disabled",
        "token_once": "Copy it now: it will not be shown again.",
        "revoked": "The token is revoked",
        "sales": "Sales",
        "must_change": "Must change password at next sign-in",
        "forced": "Your password was set by an administrator.",
        "unchanged": "The new password must differ from the current one.",
        "new_field": "New password",
        "delegated": "A token for sales (Sales), issued by you",
        "scope_label": "Read customers and credit files",
    },
    "zh-CN": {
        "created": "用户已创建。",
        "once": "此密码之后不会再显示",
        "role": "风控专员",
        "disabled": "已停用",
        "token_once": "请立即复制：此密钥之后不会再显示。",
        "revoked": "令牌已吊销",
        "sales": "销售",
        "must_change": "下次登录须修改密码",
        "forced": "您的密码由管理员设置。",
        "unchanged": "新密码不能与当前密码相同。",
        "new_field": "新密码",
        "delegated": "由您为 sales（销售）签发的令牌",
        "scope_label": "查看客户与信用档案",
    },
}


def _sign_in(page, base: str, username: str, password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation(url=landing(username)):
        page.click("button[type=submit]")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_an_administrator_creates_changes_and_disables_a_user(  # type: ignore[no-untyped-def]
    browser, live_server: str, locale: str
) -> None:
    words = WORDS[locale]
    tag = "zh" if locale == "zh-CN" else "en"
    context = new_context(browser, "zh-CN" if locale == "zh-CN" else "en-US")
    page = context.new_page()
    _sign_in(page, live_server, "admin")
    nav_click(page, "#nav-users")
    page.click("#create-user-card summary")
    page.fill("#create-user input[name=username]", f"ops-{tag}")
    page.fill("#create-user input[name=display_name]", "运营专员" if tag == "zh" else "Ops clerk")
    page.fill("#create-user input[name=email]", f"ops-{tag}@example.com")
    page.select_option("#create-user select[name=role]", "sales")
    page.fill("#create-user input[name=team]", "east")
    shot(page, f"admin-users-create-form-{tag}")
    page.click("#create-user-submit")
    expect(page.locator("#users-result")).to_have_text(words["created"])
    expect(page.locator("#one-time-password")).to_contain_text(words["once"])
    password = page.inner_text("#new-password").strip()
    assert re.fullmatch(r"([a-z2-9]{5}-){3}[a-z2-9]{5}", password)
    shot(page, f"admin-user-created-{tag}")

    page.select_option("#user-role-select", "risk_analyst")
    page.click("#save-user")
    expect(page.locator("#user-role")).to_have_text(words["role"])
    expect(page.locator("#one-time-password")).to_have_count(0)  # shown once, never again
    assert password not in page.content()

    page.click("#disable-user")
    expect(page.locator("#user-state")).to_have_text(words["disabled"])
    expect(page.locator("#enable-user")).to_be_visible()
    shot(page, f"admin-user-disabled-{tag}")
    nav_click(page, "#nav-users")
    expect(page.locator(f"#user-ops-{tag} .state")).to_have_text(words["disabled"])

    # The disabled user cannot sign in, with the right password.
    other = new_context(browser, "zh-CN" if locale == "zh-CN" else "en-US").new_page()
    other.goto(f"{live_server}/login")
    other.fill("input[name=username]", f"ops-{tag}")
    other.fill("input[name=password]", password)
    with other.expect_navigation(url=re.compile(r".*/login\?error=failed.*")):
        other.click("button[type=submit]")
    other.context.close()
    context.close()


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_an_administrator_issues_a_token_shown_once_and_revokes_it(  # type: ignore[no-untyped-def]
    browser, live_server: str, locale: str
) -> None:
    words = WORDS[locale]
    tag = "zh" if locale == "zh-CN" else "en"
    context = new_context(browser, "zh-CN" if locale == "zh-CN" else "en-US")
    page = context.new_page()
    _sign_in(page, live_server, "admin")
    nav_click(page, "#nav-tokens")
    page.click("#issue-token summary")
    page.select_option("#token-owner", label=f"sales · {words['sales']}")
    page.fill("input[name=token_name]", f"ERP {tag}")
    page.fill("input[name=expires_in_days]", "30")
    # Choosing the owner redraws the scopes: only what a token for sales may carry.
    expect(page.locator("#token-scopes-note")).to_contain_text(words["delegated"])
    expect(page.locator("#token-scopes")).to_contain_text(words["scope_label"])
    expect(page.locator("#token-scopes input[value='limit_requests:approve']")).to_have_count(0)
    expect(page.locator("#token-scopes input[value='users:manage']")).to_have_count(0)
    page.check("#token-scopes input[value=intake]")
    shot(page, f"admin-token-form-{tag}")
    page.click("#issue-token-submit")
    expect(page.locator("#token-once")).to_contain_text(words["token_once"])
    secret = page.inner_text("#token-secret").strip()
    assert secret.startswith("rd_")
    shot(page, f"admin-token-issued-{tag}")
    me = page.request.get(f"{live_server}/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.ok and me.json()["username"] == "sales"

    nav_click(page, "#nav-tokens")  # the list again: the secret is gone for good
    expect(page.locator("#issued-token")).to_have_count(0)
    assert secret not in page.content()
    row = page.locator("tr.token", has_text=f"ERP {tag}")
    expect(row).to_have_count(1)
    row.locator("button.revoke").click()
    expect(page.locator("#tokens-result")).to_contain_text(words["revoked"])
    expect(page.locator("tr.token", has_text=f"ERP {tag}").locator("button.revoke")).to_have_count(
        0
    )
    shot(page, f"admin-token-revoked-{tag}")
    refused = page.request.get(
        f"{live_server}/api/v1/me", headers={"Authorization": f"Bearer {secret}"}
    )
    assert refused.status == 401
    context.close()


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_a_reset_password_is_replaced_at_the_next_sign_in(  # type: ignore[no-untyped-def]
    browser, live_server: str, locale: str
) -> None:
    words = WORDS[locale]
    tag = "zh" if locale == "zh-CN" else "en"
    browser_locale = "zh-CN" if locale == "zh-CN" else "en-US"
    context = new_context(browser, browser_locale)
    page = context.new_page()
    _sign_in(page, live_server, "admin")
    nav_click(page, "#nav-users")
    page.click("#create-user-card summary")
    page.fill("#create-user input[name=username]", f"pw-{tag}")
    page.fill("#create-user input[name=display_name]", "Li Wei")
    page.select_option("#create-user select[name=role]", "risk_analyst")
    page.click("#create-user-submit")
    first = page.inner_text("#new-password").strip()
    page.click("#reset-password")
    expect(page.locator("#one-time-password")).to_contain_text(words["once"])
    password = page.inner_text("#new-password").strip()
    assert password != first
    expect(page.locator("#user-must-change")).to_have_text(words["must_change"])
    nav_click(page, "#nav-users")
    expect(page.locator(f"#user-pw-{tag} .must-change")).to_contain_text(words["must_change"])
    shot(page, f"admin-user-must-change-{tag}")
    context.close()

    user = new_context(browser, browser_locale).new_page()
    user.goto(f"{live_server}/login")
    user.fill("input[name=username]", f"pw-{tag}")
    user.fill("input[name=password]", password)
    with user.expect_navigation(url=re.compile(r"^http://[^/]+/me/password$")):
        user.click("button[type=submit]")
    expect(user.locator("#password-forced")).to_contain_text(words["forced"])
    shot(user, f"password-forced-{tag}")
    # Any other page leads back here until the password is changed.
    user.goto(f"{live_server}/customers")
    expect(user).to_have_url(re.compile(r"^http://[^/]+/me/password\?next=/customers$"))
    user.fill("input[name=current_password]", password)
    user.fill("input[name=new_password]", password)
    user.fill("input[name=confirm_password]", password)
    user.click("#change-password")
    expect(user.locator("#form-errors")).to_contain_text(words["new_field"])
    expect(user.locator("#form-errors")).to_contain_text(words["unchanged"])
    own = f"Quiet-otter-meadow-{tag}-31"
    user.fill("input[name=current_password]", password)
    user.fill("input[name=new_password]", own)
    user.fill("input[name=confirm_password]", own)
    # On to the page asked for before the change.
    with user.expect_navigation(url=re.compile(r"^http://[^/]+/customers$")):
        user.click("#change-password")

    # Signed out and in again with the new password: straight to the home page.
    with user.expect_navigation(url=re.compile(r"^http://[^/]+/login$")):
        nav_click(user, "#sign-out")
    user.fill("input[name=username]", f"pw-{tag}")
    user.fill("input[name=password]", own)
    with user.expect_navigation(url=landing("analyst")):
        user.click("button[type=submit]")
    user.context.close()
