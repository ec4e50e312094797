"""Sign-in, sessions with CSRF, API tokens and scopes, and that every route checks who calls."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from riskdesk.security import service as security_service
from riskdesk.security.passwords import password_problem
from tests.conftest import PASSWORD

PUBLIC_ROUTES = {("GET", "/api/v1/health"), ("GET", "/api/v1/ready")}


def login(app, username: str, password: str = PASSWORD) -> TestClient:  # type: ignore[no-untyped-def]
    client = TestClient(app, raise_server_exceptions=False)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": token.group(1),
            "next": "/customers",
        },
        follow_redirects=False,
    )
    return client


def test_every_api_route_needs_authentication(app) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    spec = client.get("/api/v1/openapi.json").json()
    checked = 0
    for path, methods in spec["paths"].items():
        for method in methods:
            if (method.upper(), path) in PUBLIC_ROUTES:
                continue
            url = re.sub(r"\{[^}]+\}", "1", path)
            response = client.request(method.upper(), url)
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.json()["error"]["code"] == "not_authenticated"
            checked += 1
    assert checked > 30


def test_login_sets_http_only_cookie_and_logout_revokes(app) -> None:
    client = login(app, "manager")
    cookie = client.cookies.get("rd_session")
    assert cookie
    assert client.get("/api/v1/me").json()["username"] == "manager"
    page = client.get("/customers")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    # A form post without the CSRF token is refused.
    assert client.post("/logout").status_code == 403
    out = client.post("/logout", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
    assert out.status_code == 303
    stale = TestClient(app, raise_server_exceptions=False)
    stale.cookies.set("rd_session", cookie)
    assert stale.get("/api/v1/me").status_code == 401


def test_set_cookie_flags(app) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    response = client.post(
        "/login",
        data={"username": "manager", "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    header = next(
        v
        for k, v in response.headers.multi_items()
        if k == "set-cookie" and v.startswith("rd_session=")
    ).lower()
    assert "httponly" in header and "samesite=lax" in header


def test_wrong_password_and_forged_login(app) -> None:
    client = login(app, "manager", "wrong-password")
    assert client.get("/api/v1/me").status_code == 401
    forged = TestClient(app, raise_server_exceptions=False)
    response = forged.post(
        "/login",
        data={"username": "manager", "password": PASSWORD, "csrf_token": "guess"},
        follow_redirects=False,
    )
    assert "rd_session" not in response.cookies


def test_session_api_writes_need_csrf_header(app) -> None:
    client = login(app, "manager")
    response = client.post("/api/v1/customers", json={"source": "x"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"


def test_tampered_cookie_is_rejected(app) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    client.cookies.set("rd_session", "forged.value")
    assert client.get("/api/v1/me").status_code == 401
    page = client.get("/customers", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_token_scopes_narrow_the_role(client_for) -> None:
    reader = client_for("manager", scopes=["customers:read"])
    me = reader.get("/api/v1/me").json()
    assert me["permissions"] == ["customers:read"] and me["via"] == "token"
    assert reader.get("/api/v1/customers").status_code == 200
    response = reader.post("/api/v1/customers", json={"source": "erp"})
    assert response.status_code == 403


def test_scopes_never_exceed_the_role(client_for) -> None:
    auditor = client_for("auditor", scopes=["customers:write", "customers:read"])
    assert auditor.get("/api/v1/me").json()["permissions"] == ["customers:read"]


def test_revoked_and_unknown_tokens(app, db) -> None:
    user = security_service.get_user_by_username_or_raise(db, "manager")
    token, raw = security_service.issue_token(db, user=user, name="t", scopes=["read"])
    db.commit()
    client = TestClient(app, raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {raw}"
    assert client.get("/api/v1/me").status_code == 200
    security_service.revoke_token(db, token_id=token.id)
    db.commit()
    assert client.get("/api/v1/me").status_code == 401
    client.headers["Authorization"] = "Bearer rd_nothing_here"
    assert client.get("/api/v1/me").json()["error"]["code"] == "invalid_token"


def test_tokens_over_the_api(app, client_for) -> None:
    session_client = login(app, "analyst")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', session_client.get("/customers").text)
    assert csrf is not None
    headers = {"X-CSRF-Token": csrf.group(1)}
    created = session_client.post(
        "/api/v1/tokens", json={"name": "erp", "scopes": ["intake"]}, headers=headers
    )
    assert created.status_code == 201, created.text
    raw = created.json()["token"]
    machine = TestClient(app, raise_server_exceptions=False)
    machine.headers["Authorization"] = f"Bearer {raw}"
    assert machine.get("/api/v1/me").json()["username"] == "analyst"
    # A token cannot mint tokens.
    assert machine.post("/api/v1/tokens", json={"name": "x", "scopes": ["read"]}).status_code == 403
    listed = session_client.get("/api/v1/tokens").json()
    assert [t["name"] for t in listed] == ["erp"] and "token" not in listed[0]
    revoked = session_client.delete(f"/api/v1/tokens/{listed[0]['id']}", headers=headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert machine.get("/api/v1/me").status_code == 401
    bad = session_client.post(
        "/api/v1/tokens", json={"name": "x", "scopes": ["root"]}, headers=headers
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "scopes"


def test_users_endpoints_need_admin(client_for) -> None:
    admin = client_for("admin")
    created = admin.post(
        "/api/v1/users",
        json={
            "username": "newbie",
            "display_name": "N",
            "role": "sales",
            "password": "Ledger-otter-quay-58",
        },
    )
    assert created.status_code == 201, created.text
    weak = admin.post(
        "/api/v1/users",
        json={"username": "weak", "display_name": "W", "role": "sales", "password": "short"},
    )
    assert weak.status_code == 422 and weak.json()["error"]["field"] == "password"
    # Ten characters (the old minimum), a common one, the user's own name: all refused.
    for password, code in (
        ("Rk7#qz!Lm2", "password_too_short"),
        ("Password123!", "password_too_common"),
        ("qwertyuiop1234", "password_too_common"),
        ("weakling-Otter-58", "password_contains_name"),
    ):
        refused = admin.post(
            "/api/v1/users",
            json={"username": "weakling", "display_name": "W", "role": "sales",
                  "password": password},
        )  # fmt: skip
        assert refused.status_code == 422, password
        assert refused.json()["error"]["field"] == "password", password
        assert refused.json()["error"]["code"] == code, password
    taken = admin.post(
        "/api/v1/users",
        json={
            "username": "newbie",
            "display_name": "N",
            "role": "sales",
            "password": "Ledger-otter-quay-58",
        },
    )
    assert taken.status_code == 409
    assert client_for("manager").post("/api/v1/users", json={}).status_code in (403, 422)
    assert client_for("sales").get("/api/v1/users").status_code == 403


def test_lockout_after_repeated_failures(app, db) -> None:
    policy = security_service.DEFAULT_LOCKOUT
    for _ in range(policy.failures):
        with pytest.raises(Exception, match="wrong username or password"):
            security_service.authenticate(db, username="sales2", password="nope")
    # Locked: even the right password gets the same answer as a wrong one.
    with pytest.raises(Exception, match="wrong username or password"):
        security_service.authenticate(db, username="sales2", password=PASSWORD)
    user = security_service.get_user_by_username_or_raise(db, "sales2")
    assert security_service.account_state(user) == "locked"


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("short1!", False),
        ("Rk7#qz!Lm2", False),  # ten characters: the old minimum, below the documented 12
        ("Password123!", False),  # composition rules met, but a common password
        ("iloveyou2026", False),
        ("1q2w3e4r5t6y", False),
        ("aaaaaaaaaaaaaaaa", False),
        ("abcdefghijklmnop", False),
        ("alllowercaseletters", True),  # no composition rules: long and uncommon is enough
        ("Lowercase-and-1", True),
        ("harbour lantern cobalt", True),
    ],
)
def test_password_policy(password: str, ok: bool) -> None:
    assert (password_problem(password) is None) == ok


def test_password_may_not_hold_the_users_name() -> None:
    names = ("wangfang", "Wang Fang")
    assert password_problem("WangFang-lantern-58", names=names) is not None
    assert password_problem("harbour-wang fang-58", names=names) is not None
    assert password_problem("harbour-lantern-58", names=names) is None


def test_security_headers(app) -> None:
    client = TestClient(app)
    response = client.get("/login")
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_unknown_route_and_method_use_the_error_shape(app) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = client.put("/api/v1/health")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


def test_a_read_request_is_not_failed_by_recording_token_use(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SQLite: a GET whose read began before another writer committed cannot start writing
    (SQLITE_BUSY_SNAPSHOT, no waiting). Recording the token's use must not fail the request."""
    from sqlalchemy import select

    from riskdesk.db import make_engine, make_sessionmaker, unit_of_work
    from riskdesk.migrations import runner
    from riskdesk.models import ApiToken, User

    engine = make_engine(f"sqlite:///{tmp_path / 'busy.db'}")
    runner.upgrade(engine)
    factory = make_sessionmaker(engine)
    with unit_of_work(factory) as session:
        user = security_service.create_user(
            session, username="m", display_name="m", role="credit_manager", password=PASSWORD
        )
        token, raw = security_service.issue_token(session, user=user, name="t", scopes=[])
    reader, writer = factory(), factory()
    try:
        reader.scalar(select(User.id))  # the read transaction (and its snapshot) starts here
        with writer.begin():  # someone else commits meanwhile
            writer.get(User, user.id).display_name = "changed"  # type: ignore[union-attr]
        found = security_service.resolve_token(reader, raw)
        assert found is not None and found[1].username == "m"
        reader.rollback()
        # A later request, on a fresh snapshot, records the use.
        assert security_service.resolve_token(reader, raw) is not None
        reader.commit()
        with factory() as fresh:
            assert fresh.get(ApiToken, token.id).last_used_at is not None  # type: ignore[union-attr]
    finally:
        reader.close()
        writer.close()
        engine.dispose()


def test_openapi_declares_how_to_authenticate_on_each_operation(app) -> None:  # type: ignore[no-untyped-def]
    """Swagger UI's Authorize and generated clients read these: a bearer token or the UI's
    session cookie, on every operation that needs a caller, and on none that is public."""
    from riskdesk.main import API_PREFIX, API_ROUTERS
    from riskdesk.security.matrix import operations

    spec = TestClient(app).get("/api/v1/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerToken"] | {"description": ""} == {
        "type": "http",
        "scheme": "bearer",
        "description": "",
    }
    assert {k: schemes["sessionCookie"][k] for k in ("type", "in", "name")} == {
        "type": "apiKey",
        "in": "cookie",
        "name": "rd_session",
    }
    either = [{"bearerToken": []}, {"sessionCookie": []}]
    ops = operations(API_ROUTERS, API_PREFIX)
    assert len(ops) > 100
    for op in ops:
        declared = spec["paths"][op.path][op.method.lower()].get("security")
        assert declared == (either if op.signed_in else None), (op.method, op.path)


def test_api_docs_page_is_served_from_the_package(app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "connect-src 'self'" in csp
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert client.get(asset).status_code == 200, asset
