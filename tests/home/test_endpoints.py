"""The home API and pages: who may read which, where / and signing in lead, the pages in both
languages, and the lists their figures link to (the browser test is tests/ui/test_home_pages.py)."""

from __future__ import annotations

import datetime as dt
import html
import re
from urllib.parse import unquote

from riskdesk.customers import repository as customer_repo
from riskdesk.kit.timeutil import utcnow
from riskdesk.ui.i18n import LANG_COOKIE
from tests.conftest import PASSWORD, ingest, principal
from tests.factories import company, order
from tests.home.seed import HomeBook

HOMES = {
    "analyst": "/home/analyst",
    "sales": "/home/sales",
    "service": "/home/service",
    "auditor": "/home/auditor",
    "admin": "/home/admin",
}


def test_each_role_starts_at_its_home(client_for) -> None:  # type: ignore[no-untyped-def]
    for user, target in {**HOMES, "manager": "/portfolio", "sales2": "/home/sales"}.items():
        home = client_for(user).get("/", follow_redirects=False)
        assert home.status_code == 303 and home.headers["location"] == target, user
    # A token without the home's permission starts at the customer list.
    narrow = client_for("auditor", scopes=["customers:read"])
    assert narrow.get("/", follow_redirects=False).headers["location"] == "/customers"


def test_signing_in_lands_on_the_role_home_unless_asked_elsewhere(app) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    for wanted, expected in ((None, "/"), ("/alerts?status=any", "/alerts?status=any")):
        client = TestClient(app)
        form = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        data = {"username": "analyst", "password": PASSWORD, "csrf_token": token.group(1)}
        if wanted:
            data["next"] = wanted
        signed = client.post("/login", data=data, follow_redirects=False)
        assert signed.status_code == 303 and signed.headers["location"] == expected
        if wanted is None:
            assert re.search(r'name="next" value="/"', form.text)
            assert client.get("/", follow_redirects=False).headers["location"] == "/home/analyst"


def test_each_home_api_needs_its_permission(home_book: HomeBook, client_for) -> None:  # type: ignore[no-untyped-def]
    allowed = {
        "analyst": {"analyst", "sales", "service", "manager"},
        "sales": {"sales", "analyst", "auditor", "admin", "manager"},
        "service": {"service", "analyst", "manager"},
        "auditor": {"auditor"},
        "admin": {"admin"},
    }
    for home, users in allowed.items():
        for user in ("analyst", "sales", "service", "auditor", "admin", "manager"):
            answer = client_for(user).get(f"/api/v1/home/{home}")
            assert answer.status_code == (200 if user in users else 403), (home, user)
            page = client_for(user).get(f"/home/{home}")
            assert page.status_code == (200 if user in users else 403), (home, user)


def test_the_api_answers_the_figures(home_book: HomeBook, client_for) -> None:  # type: ignore[no-untyped-def]
    analyst = client_for("analyst").get("/api/v1/home/analyst").json()
    assert analyst["queue"] == {"open": 3, "due_today": 2, "overdue": 1, "team_open": None}
    assert analyst["sla"]["on_time"] == 1 and analyst["sla"]["late"] == 2
    sales = client_for("sales").get("/api/v1/home/sales").json()
    assert (sales["customers"], sales["exposure"], sales["overdue"]) == (1, "80000.00", "30000.00")
    service = client_for("service").get("/api/v1/home/service").json()
    assert service["complaints"]["open_breached"] == 2
    auditor = client_for("auditor").get("/api/v1/home/auditor").json()
    assert auditor["reveals"] == [
        {"actor": "sales", "views": 2, "reveals": 2},
        {"actor": "analyst", "views": 3, "reveals": 0},
        {"actor": "service", "views": 0, "reveals": 1},
    ]
    admin = client_for("admin").get("/api/v1/home/admin").json()
    assert {c["key"]: c["count"] for c in admin["jobs"]}["failed"] == 1
    bad = client_for("analyst").get("/api/v1/home/analyst?period_days=0")
    assert bad.status_code == 422


def test_the_pages_in_both_languages(home_book: HomeBook, client_for) -> None:  # type: ignore[no-untyped-def]
    words = {
        "analyst": ("我的预警工作台", "My alert desk"),
        "sales": ("我的客户", "My customers"),
        "service": ("客服工作台", "Customer service desk"),
        "auditor": ("审计概览", "Audit overview"),
        "admin": ("系统概览", "System overview"),
    }
    for user, (zh, en) in words.items():
        client = client_for(user)
        for locale, word in (("zh-CN", zh), ("en", en)):
            client.cookies.set(LANG_COOKIE, locale)
            page = client.get(HOMES[user])
            assert page.status_code == 200, (user, page.text)
            main = page.text.split("<main>", 1)[1]
            assert word in main, (user, locale)
            text = re.sub(r"<[^>]+>|data-series='[^']*'|href=\"[^\"]*\"", " ", main)
            assert not re.search(r"\bhome\.\w", text), (user, locale)  # no raw keys
            assert not re.search(r"\d[eE][+-]?\d", text), (user, locale)  # no 1e+05
            if locale == "zh-CN":
                assert not re.search(
                    r"\b(open_within|open_breached|closed_late|pending|delivered|queued|reveal|write)\b",
                    text,
                ), (user, text)
            assert 'data-chart="' in main, user
            nav = page.text.split("<nav>", 1)[1]
            assert 'id="nav-home"' in nav and ("首页" in nav or "Home" in nav)


def test_the_links_open_the_lists_behind_the_figures(home_book: HomeBook, client_for) -> None:  # type: ignore[no-untyped-def]
    analyst = client_for("analyst")
    page = analyst.get("/home/analyst").text
    assert 'href="/alerts?assigned=me"' in page
    mine = analyst.get("/alerts?assigned=me").text
    # The queue filtered to me: three open alerts, the manager's not among them.
    ids = set(re.findall(r'id="alert-(\d+)"', mine))
    assert len(ids) == 3, ids
    late = set(
        re.findall(r'id="alert-(\d+)"', analyst.get("/alerts?assigned=me&sla=breached").text)
    )
    assert len(late) == 1 and late <= ids
    by_code = analyst.get("/alerts?code=utilisation_high&status=any").text
    assert len(set(re.findall(r'id="alert-(\d+)"', by_code))) == 8
    note = by_code.split('id="scope-note"', 1)[1].split("</p>", 1)[0]
    assert "预警规则: 额度接近用尽且付款变差" in note  # the rule by its name, not its code
    export = re.search(r'href="(/alerts/export\?[^"]*format=csv[^"]*)"', by_code)
    assert export is not None and "code=utilisation_high" in export.group(1)
    rows = analyst.get(export.group(1).replace("&amp;", "&")).text.strip().splitlines()
    assert len(rows) == 1 + 8  # the header and the rule's alerts
    assert analyst.get("/alerts?assigned=someone").status_code == 422
    service = client_for("service").get("/home/service").text
    assert "/complaints?product=P-A&amp;status=open_any" in service
    auditor = client_for("auditor").get("/home/auditor").text
    assert "/audit?action=reveal&amp;actor=sales&amp;since=" in auditor
    assert "/audit?action=view&amp;actor=analyst&amp;since=" in auditor


def _at(days_ago: int) -> str:
    return (utcnow() - dt.timedelta(days=days_ago)).replace(microsecond=0).isoformat()


def test_churn_risks_among_my_customers(db, client_for) -> None:  # type: ignore[no-untyped-def]
    p = principal(db, "manager")
    names = [f"R{i}" for i in range(4)] + ["GONE", "THEIRS"]
    ingest(
        db,
        p,
        "customers",
        [company(n, owner="sales2" if n == "THEIRS" else "sales") for n in names],
    )
    orders = []
    for i in range(4):  # regular buyers up to last week
        orders += [order(f"R{i}-{k}", f"R{i}", ordered_at=_at(7 + k * (14 + i))) for k in range(20)]
    for name in ("GONE", "THEIRS"):  # bought as often, then nothing for eight months
        orders += [order(f"{name}-{k}", name, ordered_at=_at(240 + k * 14)) for k in range(10)]
    ingest(db, p, "orders", orders)
    db.commit()
    refs = customer_repo.customer_ids_by_ref(db, {("erp", n) for n in names})
    ids = {ext: cid for (_, ext), cid in refs.items()}
    service = client_for("service")
    before = service.get("/api/v1/home/service").json()
    assert (before["churn_fitted"], before["churn"]) == (False, [])
    assert client_for("manager").post("/api/v1/churn-fits").status_code == 201
    after = service.get("/api/v1/home/service").json()
    assert after["churn_fitted"] is True
    listed = [r["customer_id"] for r in after["churn"]]
    assert listed[0] == ids["GONE"] and ids["THEIRS"] not in listed  # sales2's: not the east team's
    assert sorted(listed) == sorted(ids[n] for n in ("R0", "R1", "R2", "R3", "GONE"))
    risks = [r["risk"] for r in after["churn"]]
    assert risks == sorted(risks, reverse=True) and 0 <= risks[-1] <= risks[0] <= 1
    page = service.get("/home/service").text
    assert f'href="/customers/{ids["GONE"]}"' in page


def test_filters_narrow_the_homes_and_live_in_the_address(home_book: HomeBook, client_for) -> None:  # type: ignore[no-untyped-def]
    sales = client_for("sales")
    # Sales' one customer is in the East: the North has none of theirs.
    north = sales.get("/api/v1/home/sales", params={"region": "North"}).json()
    assert (north["customers"], north["held_orders"], north["limit_requests"]) == (0, 0, 0)
    assert north["held"] == [] and north["requests"] == []
    east = sales.get("/api/v1/home/sales", params={"region": "East"}).json()
    assert (east["customers"], east["exposure"], east["held_orders"]) == (1, "80000.00", 1)
    assert sales.get("/api/v1/home/sales", params={"owner_id": 0}).status_code == 422
    page = sales.get("/home/sales", params={"region": "East", "tier": "high"}).text
    form = page.split('id="home-filters"', 1)[1].split("</form>", 1)[0]
    assert '<option value="East" selected>' in form
    # The figures' links carry the filters to the lists behind them.
    assert 'href="/customers?region=East&amp;tier=high&amp;ageing=overdue"' in page
    assert 'href="/worklist?region=East&amp;tier=high"' in page
    empty = sales.get("/home/sales", params={"region": "North"}).text
    assert 'id="held-orders"' in empty and customer_code_of(home_book.book.a) not in empty
    # The other homes take the period of their flow figures.
    for user, path in (
        ("analyst", "/home/analyst"),
        ("service", "/home/service"),
        ("auditor", "/home/auditor"),
    ):
        client = client_for(user)
        answer = client.get(path, params={"period_days": 7})
        assert answer.status_code == 200, (user, answer.text)
        form = answer.text.split('id="home-filters"', 1)[1].split("</form>", 1)[0]
        assert '<option value="7" selected>' in form, user
        assert client.get(path, params={"period_days": 0}).status_code in (400, 422), user


def customer_code_of(customer_id: int) -> str:
    return f"C{customer_id:07d}"


def _alert_ids(page: str) -> set[str]:
    return set(re.findall(r'id="alert-(\d+)"', page))


def test_region_and_segment_on_the_other_homes_and_their_links(
    home_book: HomeBook, client_for
) -> None:  # type: ignore[no-untyped-def]
    analyst = client_for("analyst")
    api = analyst.get("/api/v1/home/analyst", params={"region": "North"}).json()
    assert api["queue"]["open"] == 1 and api["filters"]["region"] == "North"
    assert api["not_narrowed"] == ["models"]
    page = analyst.get("/home/analyst", params={"region": "North", "period_days": 7}).text
    form = page.split('id="home-filters"', 1)[1].split("</form>", 1)[0]
    assert '<option value="North" selected>' in form and '<option value="7" selected>' in form
    assert 'href="/alerts?region=North&amp;assigned=me"' in page
    assert 'id="models-not-narrowed"' in page
    assert 'id="models-not-narrowed"' not in analyst.get("/home/analyst").text
    # The week's bar of a rule opens the same alerts as the figure counts: c's three.
    links = re.findall(r'"(/alerts\?region=North&code=utilisation_high[^"]*)"', html.unescape(page))
    assert len(links) == 12  # a bar per week; this week's is the last
    listed = analyst.get(links[-1]).text
    assert len(_alert_ids(listed)) == 3 and 'id="scope-note"' in listed

    manager = client_for("manager")
    service = manager.get("/api/v1/home/service", params={"segment": "b2b_enterprise"}).json()
    assert service["complaints"]["open_within"] == 1
    page = manager.get("/home/service", params={"segment": "b2b_enterprise"}).text
    assert 'href="/complaints?segment=b2b_enterprise&amp;product=P-A&amp;status=open_any"' in page
    desk = manager.get(
        "/complaints", params={"segment": "b2b_enterprise", "product": "P-A", "status": "open_any"}
    ).text
    assert len(re.findall(r'id="complaint-\d+"', desk)) == 1 and 'id="scope-note"' in desk
    # The filter form of the desk keeps the segment.
    form = desk.split('id="complaint-filters"', 1)[1].split("</form>", 1)[0]
    assert 'name="segment" value="b2b_enterprise"' in form
    # Its export link keeps the segment: the file holds that one complaint too.
    export = re.search(r'href="(/complaints/export\?[^"]*format=csv[^"]*)"', desk)
    assert export is not None and "segment=b2b_enterprise" in export.group(1)
    rows = manager.get(html.unescape(export.group(1))).text.strip().splitlines()
    assert len(rows) == 1 + 1
    api = manager.get(
        "/api/v1/complaints/export", params={"segment": "b2b_enterprise", "format": "csv"}
    )
    assert len(api.text.strip().splitlines()) == 1 + 1
    unfiltered = manager.get("/complaints", params={"product": "P-A", "status": "open_any"}).text
    assert len(re.findall(r'id="complaint-\d+"', unfiltered)) == 3

    auditor = client_for("auditor")
    east = auditor.get("/api/v1/home/auditor", params={"region": "East"}).json()
    whole = auditor.get("/api/v1/home/auditor").json()
    assert east["reveals"] == whole["reveals"] and east["not_narrowed"] == [
        "activity",
        "approvers",
        "reveals",
    ]
    for locale, words in (
        ("zh-CN", "区域和客户分群不对其筛选"),
        ("en", "region and segment do not narrow"),
    ):
        auditor.cookies.set(LANG_COOKIE, locale)
        page = auditor.get("/home/auditor", params={"region": "East"}).text
        note = page.split('id="auditor-not-narrowed"', 1)[1].split("</p>", 1)[0]
        assert words in note, locale
        form = page.split('id="home-filters"', 1)[1].split("</form>", 1)[0]
        assert 'name="region"' in form and 'name="owner_id"' not in form
    assert 'id="auditor-not-narrowed"' not in auditor.get("/home/auditor").text


def test_the_failed_jobs_tile_opens_the_jobs_it_counts(home_book: HomeBook, client_for) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("admin")
    # Two failed jobs: one an hour ago (counted), one two days ago (not).
    assert {c["key"]: c["count"] for c in admin.get("/api/v1/home/admin").json()["jobs"]}[
        "failed"
    ] == 1
    page = admin.get("/home/admin").text
    tile = re.search(r'href="(/jobs\?status=failed&amp;since=[^"]+)" id="kpi-jobs-failed"', page)
    assert tile is not None
    listed = admin.get(html.unescape(tile.group(1))).text
    rows = listed.split('id="jobs"', 1)[1].split("</tbody>", 1)[0]
    assert len(re.findall(r'<a href="/jobs/\d+">', rows)) == 1
    assert 'id="jobs-since"' in listed
    # The API the same; without ``since`` both failed jobs; queued and running jobs are
    # listed whenever they started.
    since = unquote(html.unescape(tile.group(1)).split("since=", 1)[1])
    failed = admin.get("/api/v1/jobs", params={"status": "failed", "since": since}).json()
    assert failed["total"] == 1
    assert admin.get("/api/v1/jobs", params={"status": "failed"}).json()["total"] == 2
    waiting = admin.get("/api/v1/jobs", params={"since": since}).json()
    assert sorted(j["status"] for j in waiting["items"]) == ["failed", "queued", "running"]
    assert admin.get("/api/v1/jobs", params={"since": "not a time"}).status_code == 422


def test_a_pending_requests_current_limit_shows_its_currency(
    home_book: HomeBook, client_for
) -> None:  # type: ignore[no-untyped-def]
    """Both limits of a pending request are amounts in the request's currency, said so."""
    client = client_for("sales")
    for locale in ("zh-CN", "en"):
        client.cookies.set(LANG_COOKIE, locale)
        main = client.get(HOMES["sales"]).text.split("<main>", 1)[1]
        shown = re.findall(r'<td class="num current-limit">([^<]*)</td>', main)
        assert shown and all(re.fullmatch(r"[\d,]+\.\d\d CNY", s.strip()) for s in shown), shown
