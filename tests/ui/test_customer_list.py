"""The customer list in a real browser, in both languages: the score, rating, exposure,
utilisation and open-alert columns, and a sort chosen in the form kept in the address. Set
RISKDESK_SCREENSHOTS to a directory to keep the shots."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.ui.conftest import landing, shot

pytestmark = pytest.mark.browser


def _sign_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation(url=landing(username)):
        page.click("button[type=submit]")


@pytest.mark.parametrize(
    ("locale", "words"),
    [("en", ("Credit exposure", "Utilisation", "Open alerts")), ("zh", ("信用敞口", "未关闭预警"))],
)
def test_the_list_sorted_in_both_languages(  # type: ignore[no-untyped-def]
    page, zh_page, live_server: str, locale: str, words: tuple[str, ...]
) -> None:
    tab = zh_page if locale == "zh" else page
    _sign_in(tab, live_server, "manager")
    tab.goto(f"{live_server}/customers")
    tab.select_option("#customer-sort", "-exposure")
    tab.wait_for_url("**sort=-exposure**")
    header = tab.inner_text("#customers thead")
    for word in words:
        assert word in header, (locale, word)
    assert tab.locator("#customers tbody tr").count() >= 1
    shot(tab, f"customer-list-{locale}")
