"""The rating migration matrix on hand-made scores (tests/portfolio/scores.py), worked out by
hand; the quarter arithmetic and the matrix's counting without a database."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from riskdesk.kit.errors import ValidationFailed
from riskdesk.portfolio import migration
from riskdesk.ui.i18n import LANG_COOKIE
from tests.portfolio.scores import seed_scores
from tests.portfolio.seed import Book

URL = "/api/v1/portfolio/migration"
SCALE = ["AAA", "AA", "A", "BBB", "BB", "B", "CCC", "C", "not_rated"]


@pytest.fixture
def scored(book: Book, db) -> Book:  # type: ignore[no-untyped-def]
    seed_scores(db, book)
    db.commit()
    return book


def _cells(m: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {
        (row["rating"], m["ratings"][j]): n
        for row in m["rows"]
        for j, n in enumerate(row["counts"])
        if n
    }


def test_the_quarter_of_the_whole_book(scored: Book, manager) -> None:  # type: ignore[no-untyped-def]
    answer = manager.get(URL, params={"quarter": "2026Q3"})
    assert answer.status_code == 200, answer.text
    m = answer.json()
    assert (m["quarter"], m["start"], m["end"]) == ("2026Q3", "2026-06-30", "2026-09-30")
    assert m["ratings"] == SCALE  # the scorecard's order, best first
    assert _cells(m) == {("BBB", "A"): 1, ("AA", "AA"): 1, ("A", "CCC"): 1, ("not_rated", "B"): 1}
    assert m["customers"] == 4  # the merged customer never counts
    assert (m["upgraded"], m["unchanged"], m["downgraded"]) == (1, 1, 1)
    assert (m["newly_rated"], m["no_longer_rated"], m["rated_both"]) == (1, 0, 3)
    assert m["upgraded_share"] == pytest.approx(1 / 3)
    assert m["downgraded_share"] == pytest.approx(1 / 3)
    rows = {r["rating"]: r for r in m["rows"]}
    assert set(rows["A"]) == {"rating", "counts", "total"}  # no per-cell tier: links use ratings
    assert rows["A"]["total"] == 1 and rows["C"]["total"] == 0


def test_scope_and_the_sales_view(scored: Book, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    east = manager.get(URL, params={"quarter": "2026Q3", "region": "East"}).json()
    assert _cells(east) == {("BBB", "A"): 1, ("AA", "AA"): 1}
    own = client_for("sales").get(URL, params={"quarter": "2026Q3"}).json()
    assert _cells(own) == {("BBB", "A"): 1}  # sales see their own customers only
    # This quarter so far: a is BB now (A at the end of Q3), the rest unchanged.
    now = manager.get(URL).json()
    assert now["end"] == dt.date.today().isoformat() or now["quarter"] != "2026Q4"
    if now["quarter"] == "2026Q4":
        assert _cells(now) == {
            ("A", "BB"): 1, ("AA", "AA"): 1, ("CCC", "CCC"): 1, ("B", "B"): 1,
        }  # fmt: skip


def test_bad_quarters_name_the_field(manager, client_for) -> None:  # type: ignore[no-untyped-def]
    for bad in ("2026Q5", "Q3", "2999Q1"):
        answer = manager.get(URL, params={"quarter": bad})
        assert answer.status_code == 422, bad
        assert answer.json()["error"]["field"] == "quarter"
    assert client_for("analyst").get(URL).status_code in (200, 403)


def test_the_portfolio_page_shows_the_matrix(scored: Book, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    for locale, words in (("zh-CN", ("评级迁移", "上调", "未评级")), ("en", ("Rating migration",))):
        manager.cookies.set(LANG_COOKIE, locale)
        page = manager.get("/portfolio?quarter=2026Q3")
        assert page.status_code == 200, page.text
        for word in words:
            assert word in page.text, (locale, word)
        assert "migration." not in page.text.split("<main>")[1]
        # A -> CCC: the cell opens its customers
        assert 'href="/customers?rating_from=A&amp;rating=CCC&amp;quarter=2026Q3"' in page.text
        assert 'id="migration-upgraded">33.3%' in page.text


def test_quarter_ends() -> None:
    assert migration.period("2026Q1", dt.date(2026, 12, 6))[1:] == (
        dt.date(2025, 12, 31), dt.date(2026, 3, 31),
    )  # fmt: skip
    assert migration.period(None, dt.date(2026, 12, 6)) == (
        "2026Q4", dt.date(2026, 9, 30), dt.date(2026, 12, 6),
    )  # fmt: skip
    assert migration.period("2026Q2", dt.date(2026, 12, 6))[2] == dt.date(2026, 6, 30)
    with pytest.raises(ValidationFailed):
        migration.period("2027Q2", dt.date(2026, 12, 6))


def test_the_matrix_counts_moves_by_the_scale() -> None:
    cells = [("A", "B", 2), ("B", "A", 1), ("not_rated", "A", 1),
             ("B", "not_rated", 1), ("A", "A", 5), ("ZZ", "A", 1)]  # fmt: skip
    m = migration.matrix("2026Q3", dt.date(2026, 6, 30), dt.date(2026, 9, 30), ["A", "B"], cells)
    assert m.ratings == ["A", "B", "ZZ", "not_rated"]  # unknown codes after the scale
    assert (m.upgraded, m.unchanged, m.downgraded) == (2, 5, 2)
    assert (m.newly_rated, m.no_longer_rated) == (1, 1)
    assert m.customers == 11


def _codes(page: str) -> set[str]:
    table = page.split('id="customer-table"', 1)[1]
    return set(re.findall(r">(C\d{7})<", table))


def test_a_cell_opens_the_customers_it_counts(scored: Book, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    code = {name: f"C{getattr(scored, name):07d}" for name in ("a", "b", "c", "d", "merged")}
    cells = {
        ("A", "CCC", "2026Q3"): {code["c"]},  # c: A in March, CCC on 30 September
        ("BBB", "A", "2026Q3"): {code["a"]},
        ("AA", "AA", "2026Q3"): {code["b"]},  # the unfinished run's C is not read
        ("not_rated", "B", "2026Q3"): {code["d"]},
        ("AAA", "C", "2026Q3"): set(),  # the merged customer never counts
        ("BBB", "CCC", "2026Q3"): set(),
    }
    for (before, after, quarter), expected in cells.items():
        params = {"rating_from": before, "rating": after, "quarter": quarter}
        page = manager.get("/customers", params=params)
        assert page.status_code == 200, page.text
        assert _codes(page.text) == expected, (before, after)
        note = page.text.split('id="drilldown-rating"', 1)[1].split("</span>", 1)[0]
        assert after in note and quarter in note
    # The column alone: rated CCC at the end of Q3, whatever before.
    column = manager.get("/customers", params={"rating": "CCC", "quarter": "2026Q3"}).text
    assert _codes(column) == {code["c"]}
    # The filters narrow it as they narrow the matrix: c is in the North.
    east = {"rating_from": "A", "rating": "CCC", "quarter": "2026Q3", "region": "East"}
    assert _codes(manager.get("/customers", params=east).text) == set()
    # Sales see their own customers only (a is theirs, c is not).
    sales = client_for("sales")
    assert (
        _codes(sales.get("/customers", params={"rating": "CCC", "quarter": "2026Q3"}).text) == set()
    )
    assert _codes(sales.get("/customers", params={"rating": "A", "quarter": "2026Q3"}).text) == {
        code["a"]
    }
    # The export takes the same filter.
    rows = (
        manager.get(
            "/customers/export", params={"rating": "CCC", "quarter": "2026Q3", "format": "csv"}
        )
        .text.strip()
        .splitlines()
    )
    assert len(rows) == 2 and code["c"] in rows[1]
    bad = manager.get("/customers", params={"rating": "A", "quarter": "2026Q5"})
    assert bad.status_code == 422
