"""The top navigation: related pages sit in drop-down menus that open with the keyboard and
without a script, the whole bar fits one row at 1280 px in both languages for the roles with
the most pages, and each role sees a link only to pages it may open."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from riskdesk.models import User
from riskdesk.ui.i18n import LANG_COOKIE
from riskdesk.ui.nav import NAV, Link
from tests.conftest import TEST_USERS
from tests.ui.conftest import _FACTORIES, new_context, shot
from tests.ui.test_journey import sign_in

LINKS = [e for e in NAV if isinstance(e, Link)] + [
    link for e in NAV if not isinstance(e, Link) for link in e.links
]


def _nav(html: str) -> str:
    return html.split("<nav>", 1)[1].split("</nav>", 1)[0]


def test_each_role_sees_a_link_only_to_pages_it_may_open(client_for) -> None:  # type: ignore[no-untyped-def]
    for username, _, _ in TEST_USERS:
        client = client_for(username)
        answers = {link.id: client.get(link.href).status_code for link in LINKS}
        for locale in ("zh-CN", "en"):
            client.cookies.set(LANG_COOKIE, locale)
            nav = _nav(client.get("/customers").text)
            assert "nav." not in re.sub(r'id="[^"]*"', "", nav), (username, locale)  # no raw keys
            for link in LINKS:
                shown = f'id="{link.id}"' in nav
                if shown:
                    assert answers[link.id] == 200, (username, link.href, answers[link.id])
                if answers[link.id] == 403:
                    assert not shown, (username, link.href)
        # Related pages are grouped in drop-downs (<details>: no script needed to open them).
        nav = _nav(client.get("/customers").text)
        assert '<details class="nav-menu" id="menu-credit">' in nav, username
        assert re.search(r'id="menu-credit">\s*<summary', nav)
    # The administrator's system menu holds the administration, without the credit policy.
    admin = _nav(client_for("admin").get("/customers").text)
    system = admin.split('id="menu-system"', 1)[1].split("</details>", 1)[0]
    assert 'id="nav-users"' in system and 'id="nav-tokens"' in system
    assert 'id="nav-policy"' not in admin and 'id="nav-complaints"' not in admin
    # Sales and service are not offered the rules, playbooks, scorecards and models they may
    # read but not change (nor service the credit-file approvals); their maintainers and the
    # auditor are.
    policy_links = ("nav-rules", "nav-playbooks", "nav-scorecards", "nav-models")
    for username, shown_links in (
        ("sales", {"nav-approvals"}),
        ("service", set()),
        ("analyst", {*policy_links, "nav-approvals"}),
        ("auditor", {*policy_links, "nav-approvals"}),
    ):
        nav = _nav(client_for(username).get("/customers").text)
        offered = {i for i in (*policy_links, "nav-approvals") if f'id="{i}"' in nav}
        assert offered == shown_links, username
    # The page being shown is marked, and so is the menu holding it.
    page = _nav(client_for("analyst").get("/groups").text)
    assert re.search(r'id="menu-credit">\s*<summary class="active"', page)
    assert 'id="nav-groups" class="active" aria-current="page"' in page


# Display names as long as the demo's, so the measured bar is the one people see.
LONG_NAMES = {
    "admin": "管理员 Admin",
    "analyst": "风控专员 Chen Jing",
    "manager": "信用经理 Li Wei",
}


@pytest.mark.browser
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_navigation_fits_one_row_and_opens_with_the_keyboard(
    browser, live_server, locale
) -> None:  # type: ignore[no-untyped-def]
    with _FACTORIES[live_server]() as session:
        for username, name in LONG_NAMES.items():
            session.execute(update(User).where(User.username == username).values(display_name=name))
        session.commit()
    context = new_context(browser, locale)
    page = context.new_page()
    for username in LONG_NAMES:
        context.clear_cookies()
        sign_in(page, live_server, username)
        items = page.locator(".topbar nav > a, .topbar nav > details > summary")
        tops = {
            round(box["y"]) for box in (items.nth(i).bounding_box() for i in range(items.count()))
        }
        assert max(tops) - min(tops) < 8, (username, locale, tops)  # one row
        right = page.locator(".topbar .right").bounding_box()
        nav = page.locator(".topbar nav").bounding_box()
        assert right["height"] < 40 and nav["height"] < 40, (username, locale, right, nav)
        shot(page, f"nav-{username}-{locale}")
    # Keyboard: focus a menu's title, Enter opens it, Escape closes it, a link is followed.
    credit = page.locator("#menu-credit")
    worklist = page.locator("#nav-worklist")
    expect(worklist).to_be_hidden()
    page.focus("#menu-credit summary")
    page.keyboard.press("Enter")
    expect(worklist).to_be_visible()
    shot(page, f"nav-menu-open-{locale}")
    page.keyboard.press("Escape")
    expect(worklist).to_be_hidden()
    expect(credit.locator("summary")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(worklist).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/worklist$"))
    context.close()
