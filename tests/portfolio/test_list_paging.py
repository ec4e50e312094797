"""The review queue, the complaints desk and the approvals list page, count and sort like
the other work lists: in the service (on both databases), the API and the page."""

from __future__ import annotations

import datetime as dt
import re

from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import today
from riskdesk.policy import service as policy_service
from riskdesk.security import service as security_service
from riskdesk.ui.i18n import LANG_COOKIE
from tests.conftest import principal
from tests.portfolio.seed import Book, _customer

# -- The review queue -------------------------------------------------------------------------


def _due_customers(db) -> dict[int, int]:  # type: ignore[no-untyped-def]
    """30 more customers due for review, on days 1..19 and 21..31 from today (the seed's b is
    due on day 20, a a day ago, c on day 40): with a, b and c, 33 in the default horizon.
    The even ones are sales', the odd ones sales2's. Customer id -> days ahead."""
    users = {
        name: security_service.get_user_by_username_or_raise(db, name).id
        for name in ("sales", "sales2")
    }
    days = [n for n in range(1, 32) if n != 20]
    made = {}
    for i, n in enumerate(days):
        cid = _customer(
            db, name=f"复核客户{n}", region="East" if i % 3 else "North", segment="b2b_sme",
            industry="制造", owner_id=users["sales" if i % 2 == 0 else "sales2"], group_id=None,
            tier="medium", limit="1000", review=today() + dt.timedelta(days=n), exposure={},
        )  # fmt: skip
        made[cid] = n
    db.commit()
    return made


def test_the_review_queue_pages_counts_and_sorts(book: Book, db) -> None:  # type: ignore[no-untyped-def]
    made = _due_customers(db)
    manager = principal(db, "manager")

    def queue(page: int = 1, sort: str = "due", user=manager, size: int = 25):  # type: ignore[no-untyped-def]
        rows, total = policy_service.page_queue(
            db, user, horizon_days=60, within=None, page=PageParams(page, size), sort=sort
        )
        return [r["customer_id"] for r in rows], total

    first, total = queue()
    assert total == 33 and len(first) == 25
    assert first[0] == book.a  # overdue first
    by_day = sorted(made, key=lambda cid: made[cid])
    second, _ = queue(page=2)
    assert second == [cid for cid in by_day if made[cid] >= 25] + [book.c]
    latest, _ = queue(sort="-due", size=3)
    assert latest == [book.c, by_day[-1], by_day[-2]]
    everyone = sorted([*made, book.a, book.b, book.c])
    assert queue(sort="customer", size=50)[0] == everyone
    assert queue(sort="-customer", size=50)[0] == everyone[::-1]
    # A sales user sees only its own customers', and the count says so.
    sales = principal(db, "sales")
    mine = sorted([book.a, *(cid for i, cid in enumerate(by_day) if i % 2 == 0)])
    rows, total = queue(user=sales, sort="customer", size=10)
    assert total == len(mine) == 16 and rows == mine[:10]
    assert queue(user=sales, sort="customer", page=2, size=10)[0] == mine[10:]


def test_the_review_queue_api_and_page(book: Book, db, client_for) -> None:  # type: ignore[no-untyped-def]
    made = _due_customers(db)
    manager = client_for("manager")
    api = manager.get(
        "/api/v1/reviews/queue",
        params={"horizon_days": 60, "sort": "-due", "size": 5, "page": 2},
    )
    assert api.status_code == 200 and api.headers["X-Total-Count"] == "33"
    by_day = sorted(made, key=lambda cid: made[cid], reverse=True)
    assert [e["customer_id"] for e in api.json()] == by_day[4:9]  # after c
    # No paging parameters: the whole queue, as before.
    assert len(manager.get("/api/v1/reviews/queue", params={"horizon_days": 60}).json()) == 33
    bad = manager.get("/api/v1/reviews/queue", params={"sort": "name"})
    assert bad.status_code == 422 and "sort" in bad.text
    sales = client_for("sales")
    mine = sales.get("/api/v1/reviews/queue", params={"horizon_days": 60, "size": 1})
    assert mine.headers["X-Total-Count"] == "16" and len(mine.json()) == 1
    # The page: its total, its pages keeping the horizon, the scope and the order.
    manager.cookies.set(LANG_COOKIE, "en")
    page = manager.get("/reviews")
    assert page.status_code == 200
    assert page.text.count('<tr id="due-') == 25
    assert "Page 1 of 2 · 33 in all" in page.text and "Due soonest first" in page.text
    assert 'href="/reviews?horizon=60&amp;sort=due&amp;page=2"' in page.text
    assert manager.get("/reviews?page=2").text.count('<tr id="due-') == 8
    manager.cookies.set(LANG_COOKIE, "zh-CN")
    east = manager.get("/reviews?region=East&horizon=40&sort=-customer")
    assert "到期日最近在前" in east.text and "按客户编号倒序" in east.text
    rows = [int(x) for x in re.findall(r'<tr id="due-(\d+)"', east.text)]
    assert rows == sorted(rows, reverse=True) and book.a in rows and book.c not in rows
    assert '<input type="hidden" name="region" value="East">' in east.text
    assert '<input type="hidden" name="horizon" value="40">' in east.text
    # The horizon's choices keep the order.
    assert 'href="/reviews?region=East&amp;sort=-customer&amp;horizon=90"' in east.text
    assert manager.get("/reviews?sort=name").status_code == 422
    assert manager.get("/reviews?page=0").status_code == 422
