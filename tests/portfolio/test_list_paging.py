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


# -- The complaints desk ----------------------------------------------------------------------

SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


def _complaints(db) -> None:  # type: ignore[no-untyped-def]
    """30 open complaints, opened 1..30 hours ago, of A (sales', every third) and C0, C1, at
    every severity in turn."""
    from tests.complaints.test_desk import _customers, complaint
    from tests.conftest import ingest

    _customers(db)
    owners = ("A", "C0", "C1")
    severities = tuple(SEVERITY_RANK)
    rows = [
        complaint(f"P{i}", owners[i % 3], i + 1, severity=severities[i % 4], category="billing")
        for i in range(30)
    ]
    assert ingest(db, principal(db, "manager"), "complaints", rows).created == 30
    db.commit()


def test_the_complaints_desk_pages_counts_and_sorts(db) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.complaints import service as complaints_service

    _complaints(db)
    manager = principal(db, "manager")

    def desk(page: int = 1, sort: str = "-opened", user=manager, size: int = 25):  # type: ignore[no-untyped-def]
        rows, total = complaints_service.page_desk(db, user, page=PageParams(page, size), sort=sort)
        return [r.complaint for r in rows], total

    first, total = desk()
    assert total == 30 and [c.external_id for c in first] == [f"P{i}" for i in range(25)]
    second, _ = desk(page=2)
    assert [c.external_id for c in second] == [f"P{i}" for i in range(25, 30)]
    oldest, _ = desk(sort="opened", size=2)
    assert [c.external_id for c in oldest] == ["P29", "P28"]
    for deadline in ("respond_by", "resolve_by"):
        rows, _ = desk(sort=deadline, size=30)
        dates = [getattr(c, deadline) for c in rows]
        assert None not in dates and dates == sorted(dates), deadline
    # The SLAs differ by severity, so the response deadlines are not the opening order.
    by_deadline = [c.id for c in desk(sort="respond_by", size=30)[0]]
    assert by_deadline != [c.id for c in desk(sort="opened", size=30)[0]]
    severe, _ = desk(sort="-severity", size=30)
    ranks = [SEVERITY_RANK[c.severity] for c in severe]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] == 4
    # Within a severity, the newest first.
    criticals = [c.external_id for c in severe if c.severity == "critical"]
    assert criticals == sorted(criticals, key=lambda e: int(e[1:]))
    # A sales user sees only its customer A's, every third, and the count says so.
    mine, total = desk(user=principal(db, "sales"), size=4, page=2)
    assert total == 10 and [c.external_id for c in mine] == ["P12", "P15", "P18", "P21"]


def test_the_complaints_desk_api_and_page(db, client_for) -> None:  # type: ignore[no-untyped-def]
    _complaints(db)
    manager = client_for("manager")
    api = manager.get("/api/v1/complaints", params={"sort": "opened", "size": 10, "page": 3})
    assert api.status_code == 200 and api.headers["X-Total-Count"] == "30"
    assert [c["external_id"] for c in api.json()] == [f"P{i}" for i in range(9, -1, -1)]
    # No paging parameters: the newest 200, as before; the old ``limit`` still works.
    assert len(manager.get("/api/v1/complaints").json()) == 30
    old = manager.get("/api/v1/complaints", params={"limit": 3})
    assert [c["external_id"] for c in old.json()] == ["P0", "P1", "P2"]
    bad = manager.get("/api/v1/complaints", params={"sort": "customer"})
    assert bad.status_code == 422 and "sort" in bad.text
    # Customer service of the east team sees its team's customer A's only.
    service = client_for("service")
    mine = service.get("/api/v1/complaints", params={"size": 1})
    assert mine.headers["X-Total-Count"] == "10" and len(mine.json()) == 1
    # The page: its total, and page links that keep the filters and the order.
    manager.cookies.set(LANG_COOKIE, "en")
    page = manager.get("/complaints?category=billing&sort=-severity")
    assert page.status_code == 200
    assert page.text.count('<tr id="complaint-') == 25
    assert "Page 1 of 2 · 30 in all" in page.text and "Most severe first" in page.text
    assert (
        'href="/complaints?status=open_any&amp;category=billing&amp;sort=-severity&amp;page=2"'
        in page.text
    )
    assert '<input type="hidden" name="category" value="billing">' in page.text
    second = manager.get("/complaints?category=billing&sort=-severity&page=2")
    assert second.text.count('<tr id="complaint-') == 5
    manager.cookies.set(LANG_COOKIE, "zh-CN")
    breached = manager.get("/complaints?breached=true&sort=respond_by")
    assert "响应期限最近在前" in breached.text and "共" in breached.text
    assert '<input type="hidden" name="breached" value="true">' in breached.text
    assert manager.get("/complaints?sort=name").status_code == 422


# -- The approvals list -----------------------------------------------------------------------


def _changes(db, book: Book) -> list[int]:  # type: ignore[no-untyped-def]
    """30 changes waiting, asked 30..1 hours ago (so the first made waits longest), of a
    (sales') and c (sales2's) in turn, asked by sales2: ids in the order made."""
    from riskdesk.kit.timeutil import utcnow
    from riskdesk.models import PendingChange, PendingChangeItem

    asker = security_service.get_user_by_username_or_raise(db, "sales2").id
    made = []
    for i in range(30):
        change = PendingChange(
            customer_id=book.a if i % 2 == 0 else book.c, status="pending",
            requested_by_id=asker, requested_at=utcnow() - dt.timedelta(hours=30 - i),
            channel="ui", reason=f"变更{i}",
        )  # fmt: skip
        db.add(change)
        db.flush()
        db.add(PendingChangeItem(pending_change_id=change.id, field="region",
                                 old_value="East", new_value=f"R{i}"))  # fmt: skip
        made.append(change.id)
    db.commit()
    return made


def test_the_approvals_list_pages_counts_and_sorts(book: Book, db) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.customers import service as customer_service

    made = _changes(db, book)
    manager = principal(db, "manager")

    def queue(page: int = 1, sort: str = "requested", user=manager, size: int = 25):  # type: ignore[no-untyped-def]
        rows, total = customer_service.page_pending(
            db, user, page=PageParams(page, size), sort=sort
        )
        return [r.id for r in rows], total

    first, total = queue()
    assert total == 30 and first == made[:25]
    assert queue(page=2)[0] == made[25:]
    assert queue(sort="-requested", size=3)[0] == made[::-1][:3]
    by_customer = queue(sort="customer", size=30)[0]
    assert by_customer == made[0::2] + made[1::2]  # a before c, the oldest first in each
    assert queue(sort="-customer", size=2)[0] == [made[29], made[27]]
    # A sales user sees only its own customer a's changes, and the count says so.
    mine, total = queue(user=principal(db, "sales"), size=10, page=2)
    assert total == 15 and mine == made[0::2][10:]


def test_the_approvals_api_and_page(book: Book, db, client_for) -> None:  # type: ignore[no-untyped-def]
    made = _changes(db, book)
    manager = client_for("manager")
    api = manager.get("/api/v1/pending-changes", params={"sort": "-requested", "size": 5,
                                                         "page": 2})  # fmt: skip
    assert api.status_code == 200 and api.headers["X-Total-Count"] == "30"
    assert [c["id"] for c in api.json()] == made[::-1][5:10]
    assert [c["id"] for c in manager.get("/api/v1/pending-changes").json()] == made  # as before
    bad = manager.get("/api/v1/pending-changes", params={"sort": "amount"})
    assert bad.status_code == 422 and "sort" in bad.text
    sales = client_for("sales")
    mine = sales.get("/api/v1/pending-changes", params={"size": 1})
    assert mine.headers["X-Total-Count"] == "15" and len(mine.json()) == 1
    manager.cookies.set(LANG_COOKIE, "en")
    page = manager.get("/approvals")
    assert page.status_code == 200
    assert page.text.count('class="card pending-change"') == 25
    assert "Page 1 of 2 · 30 in all" in page.text and "Oldest first (waiting longest)" in page.text
    assert 'href="/approvals?sort=requested&amp;page=2"' in page.text
    manager.cookies.set(LANG_COOKIE, "zh-CN")
    newest = manager.get("/approvals?sort=-requested&page=2")
    assert newest.text.count('class="card pending-change"') == 5
    assert "第 2 / 2 页 · 共 30 条" in newest.text and "最新在前" in newest.text
    assert 'href="/approvals?sort=-requested&amp;page=1"' in newest.text
    assert f'id="change-{made[0]}"' in newest.text
    assert manager.get("/approvals?sort=amount").status_code == 422
