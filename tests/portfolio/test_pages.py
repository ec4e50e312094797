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


def test_other_roles_start_at_their_own_home(client_for) -> None:  # type: ignore[no-untyped-def]
    for user, target in (
        ("admin", "/home/admin"),
        ("analyst", "/home/analyst"),
        ("sales", "/home/sales"),
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


def test_the_work_lists_page_count_and_sort(book: Book, db, client_for) -> None:  # type: ignore[no-untyped-def]
    from tests.portfolio.seed import _decision

    # 30 more held orders of a (100 .. 3,000): with the seed's a, c and the merged customer's,
    # 33 held orders, two pages of 25.
    for n in range(1, 31):
        _decision(db, book.a, str(n * 100), "held")
    db.commit()
    manager = client_for("manager")
    manager.cookies.set(LANG_COOKIE, "en")
    first = manager.get("/worklist")
    assert first.status_code == 200
    assert first.text.count('class="card held-order"') == 25
    assert "Page 1 of 2 · 33 in all" in first.text
    assert 'href="/worklist?sort=-created&amp;page=2"' in first.text
    second = manager.get("/worklist?sort=-created&page=2")
    assert second.text.count('class="card held-order"') == 8
    # By amount, largest first: the seed's 7,000 of a, then the merged customer's 4,000.
    manager.cookies.set(LANG_COOKIE, "zh-CN")
    by_amount = manager.get("/worklist?sort=-amount")
    amounts = re.findall(r"<b>([\d,]+\.\d\d) CNY</b>", by_amount.text)
    assert amounts[:3] == ["7,000.00", "4,000.00", "3,000.00"]
    assert "第 1 / 2 页 · 共 33 条" in by_amount.text
    # The scope stays in the sort form and the page links.
    north = manager.get("/worklist?region=North&sort=amount")
    assert north.text.count('class="card held-order"') == 1
    assert '<input type="hidden" name="region" value="North">' in north.text
    assert manager.get("/worklist?sort=name").status_code == 422
    # The API pages and counts the same list.
    api = manager.get(
        "/api/v1/credit-decisions",
        params={"status": "held", "sort": "amount", "size": 10, "page": 2},
    )
    assert api.status_code == 200 and api.headers["X-Total-Count"] == "33"
    assert [float(d["amount"]) for d in api.json()] == [n * 100.0 for n in range(11, 21)]
    assert manager.get("/api/v1/credit-decisions", params={"sort": "x"}).status_code == 422
    # Limit requests: by expiry, the lapsed one first; pending ones only on the page.
    requests = manager.get("/api/v1/limit-requests", params={"sort": "expires"})
    assert requests.headers["X-Total-Count"] == "3"
    assert requests.json()[0]["customer_id"] == book.c
    manager.cookies.set(LANG_COOKIE, "en")
    page = manager.get("/limit-requests?sort=-amount")
    assert "Page 1 of 1 · 1 in all" in page.text and "Largest requested limit first" in page.text
    sales = client_for("sales")  # sees only its own customers: a and the merged one
    mine = sales.get("/api/v1/credit-decisions", params={"status": "held", "size": 1})
    assert mine.headers["X-Total-Count"] == "32" and len(mine.json()) == 1
