"""What a browser gets when something goes wrong (in process, no browser): an HTML page in the
user's language with the right status and a way back; the API keeps its JSON errors."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from riskdesk.db import make_engine
from riskdesk.models import Customer
from tests.conftest import PG_URL, ingest, principal
from tests.factories import company
from tests.security.test_auth import login

ZH = {"accept-language": "zh-CN,zh;q=0.9"}
EN = {"accept-language": "en"}


def _text(page: str) -> str:
    main = page.split("<main>", 1)[-1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)).strip()


def _csrf(client: TestClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/customers").text)
    assert found is not None
    return found.group(1)


def test_the_reported_cases_answer_pages_not_500(app, db) -> None:  # type: ignore[no-untyped-def]
    """Issue 12, defect 3: each of these was a 500 with raw JSON."""
    manager = principal(db, "manager")
    ingest(db, manager, "customers", [company("N1", owner="sales2")])
    db.commit()
    north = db.scalars(select(Customer.id).order_by(Customer.id.desc())).first()
    sales = login(app, "sales")
    for path, status, zh in (
        (f"/customers/{north}", 404, "该页面或记录不存在"),  # another team's customer
        ("/imports", 403, "无权"),
        ("/audit", 403, "无权"),
        ("/integrations", 403, "无权"),
    ):
        page = sales.get(path, headers=ZH)
        assert page.status_code == status, (path, page.text[:200])
        assert page.headers["content-type"].startswith("text/html")
        assert zh in _text(page.text) and "返回首页" in page.text
        assert 'id="current-user"' in page.text  # still shown as signed in, with the menu
    boss = login(app, "manager")
    missing = boss.get("/customers/999999", headers=EN)
    assert missing.status_code == 404 and "Not found" in _text(missing.text)
    assert "999999" not in _text(missing.text)  # says nothing about which records exist
    # Releasing a held order without a reason: a 422 that names the field, in Chinese.
    refused = boss.post("/worklist/1/release", data={"csrf_token": _csrf(boss)}, headers=ZH)
    assert refused.status_code in (404, 422)
    blank = boss.post(
        "/worklist/999999/release", data={"csrf_token": _csrf(boss), "reason": ""}, headers=ZH
    )
    assert blank.status_code == 422, blank.text[:300]
    assert "理由：必填" in _text(blank.text).replace(" ", "") and "请检查输入" in blank.text


def test_unknown_addresses_and_bad_ids_are_404_pages(app) -> None:  # type: ignore[no-untyped-def]
    anonymous = TestClient(app, raise_server_exceptions=False)
    page = anonymous.get("/no/such/page", headers=EN)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Not found" in _text(page.text) and 'href="/"' in page.text
    signed = login(app, "analyst")
    for path in ("/no/such/page", "/customers/abc", "/customers/99999999999999999999"):
        found = signed.get(path, headers=ZH)
        assert found.status_code == 404, path
        assert "未找到" in _text(found.text) and 'id="current-user"' in found.text, path
    api = signed.get("/api/v1/no/such/thing")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_back_goes_where_the_person_came_from(app) -> None:  # type: ignore[no-untyped-def]
    sales = login(app, "sales")

    def back(referer: str) -> str:
        page = sales.get("/audit", headers={**EN, "referer": referer})
        found = re.search(r'<a href="([^"]*)" id="error-back"', page.text)
        assert found is not None
        return found.group(1)

    assert back("http://testserver/alerts?status=open") == "/alerts?status=open"
    assert back("https://elsewhere.example/x") == "/"  # only pages of this site
    assert back("http://testserver/audit") == "/"  # not the page that failed


def test_405_names_every_allowed_method(app, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    api = manager.put("/api/v1/customers")
    assert api.status_code == 405 and api.json()["error"]["code"] == "method_not_allowed"
    assert api.headers["allow"] == "GET, POST"
    page = login(app, "manager").delete("/imports", headers=EN)  # GET and POST are two routes
    assert page.status_code == 405 and page.headers["allow"] == "GET, POST"
    assert page.headers["content-type"].startswith("text/html")


def test_htmx_gets_a_fragment_and_a_redirect_to_sign_in(app) -> None:  # type: ignore[no-untyped-def]
    analyst = login(app, "analyst")
    hx = {**ZH, "HX-Request": "true", "HX-Current-URL": "http://testserver/customers?q=x"}
    fragment = analyst.get("/customers?page=0", headers=hx)
    assert fragment.status_code == 422
    assert fragment.text.lstrip().startswith('<div class="alert error htmx-error"')
    assert "页码" in fragment.text and 'href="/customers?q=x"' in fragment.text
    anonymous = TestClient(app, raise_server_exceptions=False)
    gone = anonymous.get("/customers", headers=hx)
    assert gone.status_code == 401 and gone.headers["HX-Redirect"] == "/login?next=/customers"
    browser = anonymous.get("/customers", follow_redirects=False)
    assert browser.status_code == 303 and browser.headers["location"] == "/login?next=/customers"


def test_unexpected_errors_and_an_unavailable_database_are_friendly_pages(app: FastAPI) -> None:
    def boom() -> None:
        raise RuntimeError("secret internals: /srv/riskdesk/db.py line 12")

    def down() -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    app.add_api_route("/boom", boom)
    app.add_api_route("/down", down)
    app.add_api_route("/api/v1/boom", boom)
    client = login(app, "manager")
    page = client.get("/boom", headers=ZH)
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "系统出错" in _text(page.text) and "secret" not in page.text
    assert "RuntimeError" not in page.text and "Traceback" not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["cache-control"] == "no-store"
    busy = client.get("/down", headers=EN)
    assert busy.status_code == 503 and "Temporarily unavailable" in _text(busy.text)
    api = client.get("/api/v1/boom")
    assert api.status_code == 500 and api.json()["error"]["code"] == "internal_error"


@pytest.mark.skipif(PG_URL is None, reason="needs PostgreSQL (RISKDESK_TEST_DATABASE_URL)")
def test_postgresql_sessions_read_timestamps_in_utc_whatever_the_zone(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """In a session zone east of UTC, 9999-12-31T23:59:59Z reads as year 10000, which Python
    cannot hold: a page showing such a stored value failed on PostgreSQL only."""
    monkeypatch.setenv("PGTZ", "Asia/Shanghai")  # as a client in China would be configured
    engine = make_engine(PG_URL or "")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW TimeZone")).scalar() == "UTC"
            last = conn.execute(text("SELECT '9999-12-31 23:59:59+00'::timestamptz")).scalar()
            first = conn.execute(text("SELECT '0001-01-01 00:00:00+00'::timestamptz")).scalar()
            conn.rollback()
        with engine.connect() as conn:  # a pooled connection keeps it after a rollback
            assert conn.execute(text("SHOW TimeZone")).scalar() == "UTC"
    finally:
        engine.dispose()
    assert last.year == 9999 and first.year == 1
