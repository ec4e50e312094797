"""The customer list page: its columns in both languages, filters, sorts, the total, the
links that keep the view, and a sales user's scope (server-rendered, TestClient)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from riskdesk.kit.timeutil import today
from riskdesk.models import CreditProfile
from riskdesk.security import service as security_service
from riskdesk.ui.i18n import LANG_COOKIE
from tests.portfolio.seed import Book, _alert, seed


@pytest.fixture
def book(db) -> Book:  # type: ignore[no-untyped-def]
    """The portfolio seed, with scores and ratings, and a second open alert on A."""
    found = seed(db)
    for cid, score, rating in ((found.a, 612, "BB"), (found.b, 745, "A"), (found.c, 580, "B")):
        db.execute(
            update(CreditProfile)
            .where(CreditProfile.customer_id == cid)
            .values(score=score, rating=rating)
        )
    _alert(db, found.a, today(), "in_progress")
    db.commit()
    return found


def _codes(html: str) -> list[str]:
    return re.findall(r'<a href="/customers/\d+">(C\d{7})</a></td>', html)


def _cell(html: str, cid: int, cls: str) -> str:
    row = html.split(f'<tr id="customer-{cid}">', 1)[1].split("</tr>", 1)[0]
    found = re.search(rf'<td class="[^"]*\b{cls}\b[^"]*">([^<]*)</td>', row)
    assert found, (cid, cls)
    return found.group(1).strip()


def test_columns_formatted_in_both_languages(book: Book, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    for locale, words in (
        ("en", ("Score", "Rating", "Credit exposure", "Utilisation", "Open alerts", "High")),
        ("zh-CN", ("评分", "信用等级", "信用敞口", "额度使用率", "未关闭预警", "高")),
    ):
        manager.cookies.set(LANG_COOKIE, locale)
        page = manager.get("/customers")
        assert page.status_code == 200, page.text
        for word in words:
            assert word in page.text, (locale, word)
        html = page.text
        assert _cell(html, book.a, "score") == "612"
        assert _cell(html, book.a, "rating") == "BB"
        assert _cell(html, book.a, "limit") == "100,000.00 CNY"
        assert _cell(html, book.a, "exposure") == "80,000.00 CNY"  # consignment not counted
        assert _cell(html, book.a, "utilisation") == "80.00%"
        assert _cell(html, book.c, "utilisation") == "120.00%"
        assert _cell(html, book.a, "alerts") == "2"
        assert _cell(html, book.b, "alerts") == "1"
        assert _cell(html, book.d, "alerts") == "0"
        assert _cell(html, book.d, "utilisation") != "0.00%"  # no limit: no utilisation
        assert "customers." not in html.split("<main>")[1]
        assert "tier." not in html.split("<main>")[1]


def test_each_filter(book: Book, client_for, db) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    a, b, c, d = (f"C{x:07d}" for x in (book.a, book.b, book.c, book.d))
    get = lambda q: _codes(manager.get(f"/customers?{q}").text)  # noqa: E731
    assert get("tier=high") == [a]
    assert get("tier=unrated") == [d]
    assert get("region=North") == [c, d]
    assert get("segment=b2b_enterprise") == [b]
    sales2 = security_service.get_user_by_username_or_raise(db, "sales2").id
    assert get(f"owner_id={sales2}") == [b, c]
    assert get("region=East&tier=low") == [b]


def test_each_sort_ties_by_id(book: Book, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    a, b, c, d = (f"C{x:07d}" for x in (book.a, book.b, book.c, book.d))
    get = lambda s: _codes(manager.get(f"/customers?sort={s}").text)  # noqa: E731
    assert get("") == sorted([a, b, c, d])
    assert get("-score") == [b, a, c, d]  # unscored last
    assert get("score") == [c, a, b, d]
    assert get("-utilisation") == [c, a, b, d]  # no limit last
    assert get("utilisation") == [b, a, c, d]
    assert get("-exposure") == [a, c, b, d]
    assert get("exposure") == [d, b, c, a]
    assert get("-alerts") == [a, b, c, d]  # b and c tie on one: by id
    assert get("alerts") == [d, b, c, a]
    by_name = get("name")
    assert by_name[-1] == d  # a person's encrypted name: after the companies
    assert by_name[:3] == [c, b, a]  # 北方, 恒远零售, 杭州 in code-point order
    assert manager.get("/customers?sort=tax_id").status_code == 422


def test_total_and_links_keep_the_view(book: Book, client_for, db) -> None:  # type: ignore[no-untyped-def]
    from tests.portfolio.seed import _customer

    for i in range(30):
        _customer(
            db, name=f"Filler {i:02d}", region="West", segment="b2b_sme", industry=None,
            owner_id=None, group_id=None, tier="low", limit="1000", review=None,
            exposure={"open_receivables": str(i)},
        )  # fmt: skip
    db.commit()
    manager = client_for("manager")
    manager.cookies.set(LANG_COOKIE, "en")
    first = manager.get("/customers?region=West&tier=low&sort=-exposure")
    html = first.text
    assert "Page 1 of 2 · 30 in all" in html
    nxt = re.search(r'href="([^"]*)"[^>]*id="customers-next"', html)
    assert nxt
    assert nxt.group(1).replace("&amp;", "&") == (
        "/customers?region=West&tier=low&sort=-exposure&page=2"
    )
    export = re.search(r'href="(/customers/export\?[^"]*)"', html)
    assert export
    assert export.group(1).replace("&amp;", "&") == (
        "/customers/export?region=West&tier=low&format=xlsx"
    )
    second = manager.get("/customers?region=West&tier=low&sort=-exposure&page=2")
    codes = _codes(second.text)
    assert len(codes) == 5 and "customers-previous" in second.text
    body = second.text.split("<tbody>")[1]
    assert "Filler 04" in body and "Filler 05" not in body  # largest exposure first
    assert "Page 2 of 2 · 30 in all" in second.text
    # The export answers under the same filters.
    exported = manager.get("/customers/export?region=West&tier=low&format=csv")
    assert exported.status_code == 200 and exported.text.count("Filler") == 30


def test_a_sales_user_sees_only_their_scope(book: Book, client_for) -> None:  # type: ignore[no-untyped-def]
    manager_codes = set(_codes(client_for("manager").get("/customers").text))
    sales = client_for("sales")
    mine = _codes(sales.get("/customers").text)
    a, d = f"C{book.a:07d}", f"C{book.d:07d}"
    assert a in mine and d not in mine and set(mine) < manager_codes
    # No filter or sort widens it.
    for q in ("sort=-alerts", "tier=unrated", "region=North", "owner_id=1", "sort=-utilisation"):
        assert set(_codes(sales.get(f"/customers?{q}").text)) <= set(mine), q
