"""The portfolio page and the lists it links to, rendered by the server (the browser test is
tests/ui/test_portfolio_page.py)."""

from __future__ import annotations

import re

from riskdesk.kit.timeutil import today
from riskdesk.ui.i18n import LANG_COOKIE
from tests.portfolio.seed import Book, ecl_run


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


def _shown(html: str, *codes: str) -> set[str]:
    """Which of the codes the page's main part names."""
    main = html.split("<main>", 1)[1]
    return {c for c in codes if c in main}


def test_the_work_lists_take_the_portfolio_filters(book: Book, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    a, b, c = (f"C{x:07d}" for x in (book.a, book.b, book.c))
    assert _shown(manager.get("/worklist").text, a, c) == {a, c}
    north = manager.get("/worklist?region=North")
    assert _shown(north.text, a, c) == {c} and 'id="scope-note"' in north.text
    assert _shown(manager.get("/limit-requests?tier=high").text, a) == {a}
    assert _shown(manager.get("/limit-requests?tier=low").text, a) == set()
    assert _shown(manager.get("/reviews?region=East").text, a, b, c) == {a, b}
    assert _shown(manager.get("/reviews?region=North&horizon=60").text, a, b, c) == {c}
    # The alert funnel's steps.
    for query, count in (
        ("status=any", 7),  # the unfiltered queue has the product and merged ones too
        ("status=any&region=North", 2),
        ("status=worked", 3),
        ("status=closed", 2),
        ("status=any&outcome=false_alarm", 1),
        ("status=any&sla=breached", 2),
    ):
        page = manager.get(f"/alerts?{query}")
        assert page.status_code == 200, (query, page.text)
        assert page.text.count('<tr id="alert-') == count, query
    api = manager.get("/api/v1/alerts", params={"status": "worked", "sla": "breached"})
    assert api.status_code == 200 and len(api.json()) == 1
    assert manager.get("/api/v1/alerts", params={"outcome": "maybe"}).status_code == 422
    # The customer API takes the new filters too.
    listed = manager.get("/api/v1/customers", params={"group": "HY", "risk_tier": "high"})
    assert [x["id"] for x in listed.json()["items"]] == [book.a]
    unrated = manager.get("/api/v1/customers", params={"risk_tier": "unrated"})
    assert [x["id"] for x in unrated.json()["items"]] == [book.d]


def test_blank_filters_from_the_forms_are_no_filter(book: Book, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    blank = "region=&segment=&owner_id=&tier=&industry="
    for url in (f"/portfolio?{blank}&period_days=30", f"/customers?{blank}", f"/worklist?{blank}"):
        assert manager.get(url).status_code == 200, url
    assert manager.get("/portfolio?owner_id=abc").status_code == 422


def test_the_trend_cards_and_the_ecl_card(book: Book, db, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    for locale, words in (
        (
            "zh-CN",
            ("各月末应收账龄", "回款有效性指数", "平均逾期天数", "尚未保存任何预期信用损失计算"),
        ),
        ("en", ("Receivables ageing by month end", "best possible DSO", "No expected credit loss")),
    ):
        manager.cookies.set(LANG_COOKIE, locale)
        page = manager.get("/portfolio").text
        for word in words:
            assert word in page, (locale, word)
        for section in ("chart-ageing-trend", "chart-dso", "chart-cei", "kpi-cei", "section-ecl"):
            assert f'id="{section}"' in page, (locale, section)
        assert 'href="/ecl" id="ecl-link"' in page
        assert "portfolio." not in page.split("<main>")[1], locale
    # Only today's bar links, to the bucket's customers within the filters.
    north = manager.get("/portfolio?region=North").text
    assert north.count("/customers?region=North&amp;ageing=over_90") == 2  # the ageing card's too
    run = ecl_run(db, today(), "191000.00", "9550.00", {book.c: ("18000.00", "3600.00")})
    page = manager.get("/portfolio").text
    assert f'href="/ecl/runs/{run}"' in page and "9,550.00" in page and "5.00%" in page
    scoped = manager.get("/portfolio?region=North").text
    assert "3,600.00" in scoped and "20.00%" in scoped  # C's 3,600 of 18,000
    # Sales may read the dashboard but not ECL: no card.
    assert 'id="section-ecl"' not in client_for("sales").get("/portfolio").text
