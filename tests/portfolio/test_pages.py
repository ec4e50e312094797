"""The portfolio page and the lists it links to, rendered by the server (the browser test is
tests/ui/test_portfolio_page.py)."""

from __future__ import annotations

import re

from riskdesk.ui.i18n import LANG_COOKIE
from tests.portfolio.seed import Book


def _codes(html: str) -> list[str]:
    return re.findall(r'<a href="/customers/\d+">(C\d{7})</a></td>', html)


def test_the_page_in_both_languages_and_its_drill_downs(book: Book, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    home = manager.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/portfolio"
    for locale, words in (
        ("zh-CN", ("信用组合总览", "逾期 90 天以上")),
        ("en", ("Credit portfolio",)),
    ):
        manager.cookies.set(LANG_COOKIE, locale)
        page = manager.get("/portfolio")
        assert page.status_code == 200, page.text
        for word in words:
            assert word in page.text, (locale, word)
        assert "portfolio." not in page.text.split("<main>")[1], locale  # no raw keys
        assert "191,000.00" in page.text  # thousands separators
    # The drill-downs: a utilisation band, an ageing bucket, a tier, a group.
    a, b, c, d = (f"C{x:07d}" for x in (book.a, book.b, book.c, book.d))
    assert _codes(manager.get("/customers?utilisation=over_100").text) == [c]
    assert _codes(manager.get("/customers?ageing=over_90").text) == [c]
    assert _codes(manager.get("/customers?ageing=overdue").text) == [a, c]
    assert _codes(manager.get("/customers?ageing=current&region=East").text) == [a, b]
    assert _codes(manager.get("/customers?tier=unrated").text) == [d]
    assert _codes(manager.get("/customers?group=HY").text) == [a, b]
    assert _codes(manager.get("/customers?industry=制造&utilisation=80_100").text) == [a]
    bad = manager.get("/customers?utilisation=lots")
    assert bad.status_code == 422


def test_other_roles_start_where_they_did(client_for) -> None:  # type: ignore[no-untyped-def]
    for user, target in (
        ("admin", "/portfolio"),
        ("analyst", "/customers"),
        ("sales", "/customers"),
    ):
        home = client_for(user).get("/", follow_redirects=False)
        assert home.headers["location"] == target, user
    assert client_for("service").get("/portfolio").status_code == 403
