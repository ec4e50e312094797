"""Error pages in a real browser: a forbidden and a missing page in both languages, an htmx
request that fails, and the API docs page (Swagger UI from the package, under the app's CSP).

Set RISKDESK_SCREENSHOTS to a directory to keep a screenshot of each error page."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.ui.conftest import landing

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("RISKDESK_SCREENSHOTS")
LISTED_OPERATIONS = """() => Array.from(document.querySelectorAll('.opblock-summary')).map(
  s => s.querySelector('.opblock-summary-method').textContent + ' ' +
       s.querySelector('.opblock-summary-path').dataset.path)"""

# (locale, status) -> what the page must say
EXPECTED = {
    ("zh-CN", 403): ("无权访问", "返回上一页"),
    ("zh-CN", 404): ("未找到", "返回上一页"),
    ("en", 403): ("Not allowed", "Go back"),
    ("en", 404): ("Not found", "Go back"),
}


def _context(browser, locale: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(
        locale="zh-CN" if locale == "zh-CN" else "en-US",
        extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9" if locale == "zh-CN" else "en"},
        viewport={"width": 1100, "height": 700},
    )
    context.set_default_timeout(30_000)
    return context


def _sign_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    # Signing in lands on the role's home page; these tests start at the customer list.
    with page.expect_navigation(url=landing(username)):
        page.click("button[type=submit]")
    page.goto(f"{base}/customers")


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_forbidden_and_missing_pages_in_the_users_language(
    browser, live_server: str, locale: str
) -> None:  # type: ignore[no-untyped-def]
    context = _context(browser, locale)
    page = context.new_page()
    _sign_in(page, live_server, "sales")
    for path, status in (("/audit", 403), ("/customers/999999", 404), ("/no/such/page", 404)):
        page.goto(f"{live_server}/customers")  # so "back" has somewhere to go
        response = page.goto(f"{live_server}{path}")
        assert response is not None and response.status == status, path
        assert response.headers["content-type"].startswith("text/html")
        title, back = EXPECTED[(locale, status)]
        expect(page.locator("#error-title")).to_have_text(title)
        expect(page.locator("#error-back")).to_have_text(back)
        text = page.inner_text("main")
        assert "{" not in text and "error." not in text  # no JSON, no untranslated key
        if locale == "zh-CN":
            assert not re.search(r"[A-Za-z]{4,}", text), text  # no English words
        # Still signed in: the page has the menu and the user's name.
        expect(page.locator("#current-user")).to_contain_text("sales")
        _shot(page, f"error-{status}-{locale}-{path.strip('/').replace('/', '-')}")
        page.click("#error-back")
        # page.goto sends no Referer, so the way back is the start page: sales' home.
        page.wait_for_url(landing("sales"))
    context.close()


def test_a_failing_htmx_request_shows_a_fragment_not_json(browser, live_server: str) -> None:  # type: ignore[no-untyped-def]
    context = _context(browser, "zh-CN")
    page = context.new_page()
    _sign_in(page, live_server, "analyst")
    # The customer list's pager is htmx: a page number out of range fails validation (422).
    page.evaluate("""() => htmx.ajax('GET', '/customers?page=0', {target: '#customer-table'})""")
    fragment = page.locator("#customer-table #error-fragment")
    expect(fragment).to_be_visible()
    assert fragment.get_attribute("data-status") == "422"
    assert "请检查输入" in fragment.inner_text()
    _shot(page, "error-htmx-422-zh-CN")
    context.close()


def test_api_docs_list_the_operations_offline(browser, live_server: str) -> None:  # type: ignore[no-untyped-def]
    context = _context(browser, "en")
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(live_server) else None,
    )
    response = page.goto(f"{live_server}/api/v1/docs")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe" not in csp
    spec = page.request.get(f"{live_server}/api/v1/openapi.json").json()
    operations = {f"{m.upper()} {path}" for path, ms in spec["paths"].items() for m in ms}
    assert len(operations) > 100
    # Swagger UI draws only the operations near the viewport: scroll to the end, collecting.
    page.wait_for_selector(".opblock")
    listed: set[str] = set()
    for _ in range(1000):
        listed |= set(page.evaluate(LISTED_OPERATIONS))
        if page.evaluate("scrollY + innerHeight >= document.body.scrollHeight - 2"):
            break
        page.evaluate("scrollBy(0, 600)")
        page.wait_for_timeout(20)
    assert listed == operations
    page.evaluate("scrollTo(0, 0)")
    # Try it out (GET /api/v1/me, not authorised): the call leaves from the page under the
    # policy (connect-src 'self') and its answer is shown.
    me = page.locator(".opblock", has=page.locator("[data-path='/api/v1/me']"))
    me.locator(".opblock-summary").click()
    me.locator("button.try-out__btn").click()
    me.locator("button.execute").click()
    expect(me.locator(".live-responses-table tbody .response-col_status")).to_contain_text("401")
    expect(page.locator("button.authorize")).to_be_visible()  # the declared security schemes
    page.click("button.authorize")
    dialog = page.locator(".dialog-ux")
    expect(dialog).to_contain_text("bearerToken")
    expect(dialog).to_contain_text("sessionCookie")
    _shot(page, "api-docs")
    assert outside == [], outside  # nothing from a CDN
    # No script error, no CSP violation ("Refused to ..."); the try-out's 401 is the browser
    # logging the answer it was asked to fetch.
    assert [p for p in problems if "status of 401" not in p] == [], problems
    context.close()
