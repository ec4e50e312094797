"""Injection and cross-site-scripting probes on search, import and free-text fields; login
throttling; secrets and personal data kept out of logs."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select, text

from riskdesk.main import ACCESS_LOG_FILTER, create_app
from riskdesk.models import Customer, LoginFailure
from riskdesk.security import service as security_service
from riskdesk.security.deps import SESSION_COOKIE
from tests.conftest import PASSWORD
from tests.factories import company, person

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
SQLI = ("' OR '1'='1", "1; DROP TABLE customers; --", "%' UNION SELECT password_hash FROM users --",
        "\\'; SELECT pg_sleep(5); --", "C0000001' --")  # fmt: skip


def _browser(app, db, username: str) -> TestClient:  # type: ignore[no-untyped-def]
    """A TestClient signed in with a session cookie, as a browser would be."""
    user = security_service.get_user_by_username_or_raise(db, username)
    row = security_service.start_session(db, user=user, hours=1)
    db.commit()
    client = TestClient(app, raise_server_exceptions=False)
    cookie = URLSafeSerializer(app.state.secret_key, salt="riskdesk-session").dumps(row.id)
    client.cookies.set(SESSION_COOKIE, cookie)
    return client


def test_sql_injection_in_search_and_filters_finds_nothing_and_breaks_nothing(
    db, client_for
) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    assert manager.post("/api/v1/customers", json=company("PR-1")).status_code == 201
    count = db.scalar(select(func.count()).select_from(Customer))
    for probe in SQLI:
        for params in ({"q": probe}, {"region": probe}, {"segment": probe}):
            got = manager.get("/api/v1/customers", params=params)
            assert got.status_code in (200, 422), (params, got.text)
            if got.status_code == 200:
                assert got.json()["total"] == 0, params
        audit = client_for("auditor").get("/api/v1/audit-log", params={"actor": probe})
        assert audit.status_code in (200, 422) and (
            audit.status_code == 422 or audit.json()["total"] == 0
        )
    assert db.scalar(select(func.count()).select_from(Customer)) == count
    assert db.execute(text("SELECT count(*) FROM users")).scalar()


def test_script_in_free_text_is_shown_as_text_everywhere(app, db, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    made = manager.post("/api/v1/customers", json=company("PR-2", name=f"恶意{XSS}有限公司"))
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    contact = {"name": XSS, "title": XSS}
    assert manager.post(f"/api/v1/customers/{cid}/contacts", json=contact).status_code == 201
    assert (
        manager.patch(f"/api/v1/customers/{cid}", json={"address": XSS, "reason": XSS}).status_code
        == 200
    )
    browser = _browser(app, db, "manager")
    for url in (f"/customers/{cid}", f"/customers?q={XSS}", "/approvals"):
        page = browser.get(url)
        assert page.status_code == 200, url
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, url
        assert "&lt;script&gt;" in page.text or url == "/approvals", url
        assert "script-src" in page.headers["content-security-policy"]
    # The name comes back from the API as the same text, not interpreted.
    assert XSS in manager.get(f"/api/v1/customers/{cid}").json()["name"]


def test_import_with_hostile_cells_is_refused_or_kept_as_text(db, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    rows = [
        person("PR-3", name=XSS[:60]),
        person("PR-4", name='=HYPERLINK("http://evil")'),
        person("PR-5", name=SQLI[1], national_id="' OR 1=1 --"),
    ]
    before = db.scalar(select(func.count()).select_from(Customer))
    refused = manager.post("/api/v1/customers/batch", json={"records": rows})
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0] == {
        "field": "national_id",
        "code": "invalid_length",
        "reason": "resident ID number must be 18 characters, got 11",
        "row": 3,
    }
    assert db.scalar(select(func.count()).select_from(Customer)) == before  # nothing half-done
    report = manager.post("/api/v1/customers/batch", json={"records": rows, "skip_invalid": True})
    assert report.status_code == 200, report.text
    results = {r["external_id"]: r for r in report.json()["results"]}
    assert results["PR-3"]["status"] == "created" and results["PR-4"]["status"] == "created"
    assert results["PR-5"]["status"] == "invalid"
    assert results["PR-5"]["errors"][0]["field"] == "national_id"
    found = manager.get("/api/v1/customers", params={"q": "PR-4"}).json()["items"]
    assert found and found[0]["name"].startswith("=HYPERLINK")
    assert db.execute(text("SELECT count(*) FROM customers")).scalar()


def test_failed_sign_ins_from_one_address_are_throttled(app, db, settings, factory) -> None:  # type: ignore[no-untyped-def]
    app.state.login_throttle.limit = 3
    browser = TestClient(app, raise_server_exceptions=False)

    def attempt(password: str, client: TestClient = browser):  # type: ignore[no-untyped-def]
        client.get("/login")
        token = client.cookies.get("rd_login_csrf") or ""
        return client.post(
            "/login",
            data={"username": "analyst", "password": password, "csrf_token": token},
            follow_redirects=False,
        )

    for _ in range(3):
        assert attempt("wrong-password-1A").status_code == 303
    refused = attempt(PASSWORD)  # even the right password waits
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in refused.text or "登录失败次数过多" in refused.text
    # Another API node on the same database counts the same failures.
    other = create_app(settings, session_factory=factory)
    other.state.login_throttle.limit = 3
    assert attempt(PASSWORD, TestClient(other, raise_server_exceptions=False)).status_code == 429
    # What is kept is a keyed hash of the address, not the address.
    keys = db.scalars(select(LoginFailure.address_key)).all()
    assert len(keys) == 3 and all(k != "testclient" and len(k) == 64 for k in keys)


def test_no_secret_or_personal_value_reaches_the_logs(
    app, db, client_for, caplog, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.customers import service as customer_service

    caplog.set_level(logging.DEBUG)
    manager = client_for("manager")
    token = manager.headers["Authorization"].removeprefix("Bearer ")
    made = manager.post("/api/v1/customers", json=person("PR-6", phone="13912340066"))
    assert made.status_code == 201
    manager.get("/api/v1/customers", params={"q": "13912340066"})
    browser = TestClient(app, raise_server_exceptions=False)
    browser.get("/login")
    browser.post(
        "/login",
        data={"username": "manager", "password": "Wrong-Secret-9", "csrf_token": "x"},
    )
    admin = client_for("admin")
    hook = admin.post(
        "/api/v1/webhooks",
        json={"name": "probe", "url": "https://crm.invalid/x", "events": ["alert.raised"]},
    ).json()

    # A request that fails in the database is logged without the statement's parameters.
    phone = made.json()["external_id"].replace("PR-6", "13912340066")  # not a literal here:
    # a traceback quotes source lines, and this test's source is not what is being checked

    def broken(session, *args, **kwargs):  # type: ignore[no-untyped-def]
        session.execute(text("SELECT * FROM no_such_table WHERE x = :v"), {"v": phone})

    monkeypatch.setattr(customer_service, "read_customer", broken)
    assert manager.get(f"/api/v1/customers/{made.json()['id']}").status_code in (500, 503)
    with pytest.raises(Exception) as failed:
        db.execute(text("SELECT * FROM no_such_table WHERE x = :v"), {"v": "13912340066"})
    db.rollback()
    assert "13912340066" not in str(failed.value)
    # The test's own HTTP client logs the URLs it calls; that is the caller's log, not ours.
    ours = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore", "asyncio"))]
    assert ours, "the app logged nothing at all: the check would prove nothing"
    logged = "\n".join(logging.Formatter().format(r) for r in ours)
    for secret in (token, "13912340066", "Wrong-Secret-9", hook["secret"], PASSWORD):
        assert secret not in logged
    # The access log keeps the path, not the query string.
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", "/api/v1/customers?q=13912340066", "1.1", 200), None,
    )  # fmt: skip
    ACCESS_LOG_FILTER.filter(record)
    assert "13912340066" not in record.getMessage()
