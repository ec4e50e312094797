"""Administering users and API tokens: the service, the API (`PATCH /users/{id}`, another user's
token) and the browser pages (tests/ui/test_admin_users.py drives them in Chromium). Disabling
stops sign-in, sessions and tokens; no change leaves the system without an active administrator;
a form posted again changes nothing."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from riskdesk.kit.errors import Conflict, NotAuthenticated
from riskdesk.models import ApiToken, AuditEntry
from riskdesk.security import passwords
from riskdesk.security import repository as users_repo
from riskdesk.security import service as security_service
from riskdesk.security.schemas import UserUpdate
from tests.conftest import PASSWORD
from tests.security.test_auth import login


def _id(db, username: str) -> int:  # type: ignore[no-untyped-def]
    return security_service.get_user_by_username_or_raise(db, username).id


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


# ---------------------------------------------------------------- service


def test_disabling_stops_sign_in_sessions_and_tokens_until_enabled(db) -> None:  # type: ignore[no-untyped-def]
    analyst = security_service.get_user_by_username_or_raise(db, "analyst")
    _, raw = security_service.issue_token(db, user=analyst, name="erp", scopes=["read"])
    browser = security_service.start_session(db, user=analyst, hours=8)
    security_service.update_user(db, user_id=analyst.id, changes=UserUpdate(is_active=False))
    assert security_service.account_state(analyst) == "disabled"
    with pytest.raises(NotAuthenticated):
        security_service.authenticate(db, username="analyst", password=PASSWORD)
    assert security_service.resolve_token(db, raw) is None
    assert security_service.resolve_session(db, browser.id) is None
    db.refresh(browser)
    assert browser.revoked_at is not None  # ended, so enabling does not bring it back
    security_service.update_user(db, user_id=analyst.id, changes=UserUpdate(is_active=True))
    assert security_service.resolve_token(db, raw) is not None  # not revoked: works again
    assert security_service.resolve_session(db, browser.id) is None
    assert security_service.authenticate(db, username="analyst", password=PASSWORD).id == analyst.id


def test_only_the_fields_sent_change(db) -> None:  # type: ignore[no-untyped-def]
    sales = security_service.get_user_by_username_or_raise(db, "sales")
    security_service.update_user(
        db,
        user_id=sales.id,
        changes=UserUpdate(role="risk_analyst", team="north", email="Li.Na@Example.com"),
    )
    assert (sales.role, sales.team, sales.email) == ("risk_analyst", "north", "Li.Na@example.com")
    security_service.update_user(db, user_id=sales.id, changes=UserUpdate(display_name="李娜"))
    assert (sales.display_name, sales.role, sales.team) == ("李娜", "risk_analyst", "north")
    security_service.update_user(db, user_id=sales.id, changes=UserUpdate(team=None, email=None))
    assert (sales.team, sales.email, sales.is_active) == (None, None, True)


def test_no_change_leaves_the_system_without_an_active_administrator(db) -> None:  # type: ignore[no-untyped-def]
    admin = _id(db, "admin")
    for changes, field in (
        (UserUpdate(is_active=False), "is_active"),
        (UserUpdate(role="auditor"), "role"),
        (UserUpdate(role="auditor", is_active=False), "is_active"),
    ):
        with pytest.raises(Conflict) as caught:
            security_service.update_user(db, user_id=admin, changes=changes)
        assert (caught.value.code, caught.value.field) == ("last_admin", field)
    with pytest.raises(Conflict):  # the CLI's set-role keeps the same rule
        security_service.set_role(db, username="admin", role="auditor")
    # A disabled administrator does not count; an enabled second one does.
    security_service.update_user(db, user_id=_id(db, "manager"), changes=UserUpdate(role="admin"))
    security_service.update_user(
        db, user_id=_id(db, "manager"), changes=UserUpdate(is_active=False)
    )
    with pytest.raises(Conflict):
        security_service.update_user(db, user_id=admin, changes=UserUpdate(is_active=False))
    security_service.update_user(db, user_id=_id(db, "manager"), changes=UserUpdate(is_active=True))
    security_service.update_user(db, user_id=admin, changes=UserUpdate(is_active=False))
    assert users_repo.active_admin_ids(db) == [_id(db, "manager")]
    # Renaming the last administrator, or saving their role unchanged, is no demotion.
    security_service.update_user(
        db, user_id=_id(db, "manager"), changes=UserUpdate(role="admin", display_name="王管理")
    )


def test_the_automatic_user_and_disabled_users_get_no_changes_or_tokens(db) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.alerts.playbooks import SYSTEM_USER, system_principal

    system_principal(db)  # creates it
    system = security_service.get_user_by_username_or_raise(db, SYSTEM_USER)
    assert SYSTEM_USER == security_service.SYSTEM_USERNAME
    with pytest.raises(Conflict) as caught:
        security_service.update_user(db, user_id=system.id, changes=UserUpdate(is_active=True))
    assert caught.value.code == "system_user"
    with pytest.raises(Conflict) as caught:
        security_service.issue_token(db, user=system, name="x", scopes=["read"])
    assert caught.value.code == "user_disabled"


def test_a_token_name_taken_by_a_live_token_is_refused_when_asked(db) -> None:  # type: ignore[no-untyped-def]
    sales = security_service.get_user_by_username_or_raise(db, "sales")
    first, _ = security_service.issue_token(db, user=sales, name="erp", scopes=["read"])
    with pytest.raises(Conflict) as caught:
        security_service.issue_token(db, user=sales, name="erp", scopes=["read"], unique_name=True)
    assert (caught.value.code, caught.value.field) == ("token_name_taken", "name")
    security_service.revoke_token(db, token_id=first.id)
    again, _ = security_service.issue_token(
        db, user=sales, name="erp", scopes=["read"], unique_name=True
    )
    assert again.id != first.id


def test_generated_passwords_pass_the_policy_and_the_stamp_follows_the_password(db) -> None:  # type: ignore[no-untyped-def]
    made = {security_service.generate_password() for _ in range(5)}
    assert len(made) == 5
    for password in made:
        assert re.fullmatch(r"([a-z2-9]{5}-){3}[a-z2-9]{5}", password)
        assert passwords.check_password(password) is None
    user = security_service.get_user_by_username_or_raise(db, "sales2")
    before = security_service.password_stamp(user)
    security_service.reset_password(db, user_id=user.id, password=made.pop())
    assert security_service.password_stamp(user) != before


# ---------------------------------------------------------------- API


def test_the_api_changes_disables_and_enables_a_user(app, db, client_for) -> None:  # type: ignore[no-untyped-def]
    admin, manager = client_for("admin"), client_for("manager")
    sales = _id(db, "sales")
    sales_token = client_for("sales")
    assert sales_token.get("/api/v1/me").status_code == 200
    assert manager.patch(f"/api/v1/users/{sales}", json={"role": "auditor"}).status_code == 403
    assert admin.patch("/api/v1/users/999999", json={"role": "auditor"}).status_code == 404
    bad = admin.patch(f"/api/v1/users/{sales}", json={"role": "boss"})
    assert bad.status_code == 422 and bad.json()["error"]["field"].endswith("role")
    bad_mail = admin.patch(f"/api/v1/users/{sales}", json={"email": "not-an-address"})
    assert bad_mail.status_code == 422 and bad_mail.json()["error"]["field"] == "email"
    changed = admin.patch(f"/api/v1/users/{sales}", json={"team": "north", "is_active": False})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["team"], body["is_active"], body["state"]) == ("north", False, "disabled")
    assert sales_token.get("/api/v1/me").status_code == 401  # the token stopped working
    assert login(app, "sales").get("/api/v1/me").status_code == 401  # and sign-in fails
    enabled = admin.patch(f"/api/v1/users/{sales}", json={"is_active": True})
    assert enabled.json()["state"] == "active"
    assert sales_token.get("/api/v1/me").status_code == 200
    last = admin.patch(f"/api/v1/users/{_id(db, 'admin')}", json={"role": "auditor"})
    assert last.status_code == 409 and last.json()["error"]["code"] == "last_admin"
    entry = db.scalars(
        select(AuditEntry)
        .where(AuditEntry.request == "PATCH /api/v1/users/{user_id}")
        .order_by(AuditEntry.id)
    ).first()
    assert entry is not None
    assert (entry.actor, entry.channel, entry.object_type, entry.object_id) == (
        "admin",
        "api",
        "user",
        str(sales),
    )
    changes = {c["table"]: set(c["fields"]) for c in entry.detail["changes"]}
    assert {"team", "is_active"} <= changes["users"] and "revoked_at" in changes["user_sessions"]
    spec = admin.get("/api/v1/openapi.json").json()
    assert "patch" in spec["paths"]["/api/v1/users/{user_id}"]


def test_an_administrator_issues_a_token_for_another_user(app, db, client_for) -> None:  # type: ignore[no-untyped-def]
    browser = login(app, "admin")
    headers = {"X-CSRF-Token": _csrf(browser.get("/users").text)}
    sales = _id(db, "sales")
    issued = browser.post(
        "/api/v1/tokens",
        json={"name": "erp", "scopes": ["intake"], "user_id": sales},
        headers=headers,
    )
    assert issued.status_code == 201, issued.text
    assert issued.json()["user_id"] == sales
    machine = TestClient(app, raise_server_exceptions=False)
    machine.headers["Authorization"] = f"Bearer {issued.json()['token']}"
    assert machine.get("/api/v1/me").json()["username"] == "sales"
    analyst = login(app, "analyst")
    refused = analyst.post(
        "/api/v1/tokens",
        json={"name": "x", "scopes": ["read"], "user_id": sales},
        headers={"X-CSRF-Token": _csrf(analyst.get("/customers").text)},
    )
    assert refused.status_code == 403
    missing = browser.post(
        "/api/v1/tokens", json={"name": "x", "scopes": ["read"], "user_id": 999999}, headers=headers
    )
    assert missing.status_code == 404
    # A credit manager's approvals cannot be minted by the administrator (the token's acts are
    # recorded as its owner's); for oneself any scope the role has still goes.
    decide = browser.post(
        "/api/v1/tokens",
        json={"name": "y", "scopes": ["limit_requests:approve"], "user_id": _id(db, "manager")},
        headers=headers,
    )
    assert decide.status_code == 422 and decide.json()["error"]["field"] == "scopes"
    own = browser.post("/api/v1/tokens", json={"name": "y", "scopes": ["users:manage"]},
                       headers=headers)  # fmt: skip
    assert own.status_code == 201, own.text
    created = client_for("admin").post(
        "/api/v1/users",
        json={
            "username": "erp-bot",
            "display_name": "ERP",
            "role": "sales",
            "email": "erp@example.com",
            "password": security_service.generate_password(),
        },
    )
    assert created.status_code == 201, created.text
    assert security_service.get_user_by_username_or_raise(db, "erp-bot").email == "erp@example.com"


# ---------------------------------------------------------------- pages


def test_the_users_pages_create_change_disable_and_reset(app, db) -> None:  # type: ignore[no-untyped-def]
    browser = login(app, "admin")
    browser.cookies.set("rd_lang", "en")
    csrf = _csrf(browser.get("/users").text)
    form = {
        "csrf_token": csrf,
        "username": "li.na",
        "display_name": "李娜",
        "email": "li.na@example.com",
        "role": "sales",
        "team": "east",
    }
    created = browser.post("/users", data=form)
    assert created.status_code == 200, created.text
    assert created.headers["cache-control"] == "no-store"
    password = re.search(r'<code id="new-password" data-raw>([^<]+)</code>', created.text)
    assert password is not None and "will not be shown again" in created.text
    user = security_service.get_user_by_username_or_raise(db, "li.na")
    assert (user.display_name, user.role, user.team) == ("李娜", "sales", "east")
    assert user.password_change_required  # the administrator's password: changed at sign-in
    first = login(app, "li.na", password.group(1)).get("/api/v1/me")
    assert first.status_code == 403 and first.json()["error"]["code"] == "password_change_required"
    assert password.group(1) not in browser.get(f"/users/{user.id}").text  # shown once
    # Posting the same form again creates nothing, and says which field is wrong.
    again = browser.post("/users", data=form)
    assert again.status_code == 409
    assert "<b>User name</b>: user &#39;li.na&#39; already exists" in again.text
    browser.cookies.set("rd_lang", "zh-CN")
    again_zh = browser.post("/users", data=form)
    assert "<b>用户名</b>: 该用户名已存在" in again_zh.text
    bad = browser.post("/users", data={**form, "username": "x y", "role": "boss", "email": "no"})
    assert bad.status_code == 422 and "<b>角色</b>" in bad.text and "<b>用户名</b>" in bad.text
    browser.cookies.set("rd_lang", "en")
    # Role and team, then disable: no sign-in any more.
    saved = browser.post(
        f"/users/{user.id}",
        data={"csrf_token": csrf, "display_name": "李娜", "role": "risk_analyst", "team": ""},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"/users/{user.id}?done=saved"
    db.refresh(user)
    assert (user.role, user.team, user.email) == ("risk_analyst", None, "li.na@example.com")
    off = browser.post(f"/users/{user.id}/disable", data={"csrf_token": csrf})
    assert "The account is disabled" in off.text and 'id="enable-user"' in off.text
    assert "rd_session" not in login(app, "li.na", password.group(1)).cookies
    # Reset: a new password shown once; the same form posted again changes nothing.
    page = browser.get(f"/users/{user.id}").text
    stamp = re.search(r'name="form_key" value="([^"]+)"', page)
    assert stamp is not None
    reset = browser.post(
        f"/users/{user.id}/password", data={"csrf_token": csrf, "form_key": stamp.group(1)}
    )
    new = re.search(r'<code id="new-password" data-raw>([^<]+)</code>', reset.text)
    assert reset.status_code == 200 and new is not None and new.group(1) != password.group(1)
    db.refresh(user)
    hashed = user.password_hash
    twice = browser.post(
        f"/users/{user.id}/password", data={"csrf_token": csrf, "form_key": stamp.group(1)}
    )
    assert twice.status_code == 409 and "already reset" in twice.text
    db.refresh(user)
    assert user.password_hash == hashed
    browser.post(f"/users/{user.id}/enable", data={"csrf_token": csrf})
    db.refresh(user)
    assert user.password_change_required
    assert login(app, "li.na", new.group(1)).get("/api/v1/me").status_code == 403
    # The last administrator: refused with the reason, nothing changed.
    admin = _id(db, "admin")
    last = browser.post(f"/users/{admin}/disable", data={"csrf_token": csrf})
    assert last.status_code == 409 and "no active administrator" in last.text
    browser.cookies.set("rd_lang", "zh-CN")
    last_zh = browser.post(
        f"/users/{admin}", data={"csrf_token": csrf, "display_name": "管理员", "role": "auditor"}
    )
    assert (
        last_zh.status_code == 409 and "<b>角色</b>: 此操作会导致没有在用的管理员" in last_zh.text
    )
    assert security_service.get_user_by_username_or_raise(db, "admin").role == "admin"
    entries = db.scalars(
        select(AuditEntry.request).where(
            AuditEntry.channel == "ui", AuditEntry.object_id == str(user.id)
        )
    ).all()
    assert {"POST /users/{user_id}", "POST /users/{user_id}/disable"} <= set(entries)


def test_the_tokens_page_issues_once_and_revokes(app, db) -> None:  # type: ignore[no-untyped-def]
    browser = login(app, "admin")
    browser.cookies.set("rd_lang", "en")
    page = browser.get("/tokens")
    assert page.status_code == 200 and 'id="issue-token-form"' in page.text
    csrf = _csrf(page.text)
    sales = _id(db, "sales")
    form = {
        "csrf_token": csrf,
        "user_id": str(sales),
        "token_name": "ERP sync",
        "scopes": ["intake", "customers:read"],
        "expires_in_days": "90",
    }
    issued = browser.post("/tokens", data=form)
    assert issued.status_code == 200, issued.text
    assert issued.headers["cache-control"] == "no-store"
    secret = re.search(r'<code id="token-secret" data-raw>(rd_[^<]+)</code>', issued.text)
    assert secret is not None and "it will not be shown again" in issued.text
    machine = TestClient(app, raise_server_exceptions=False)
    machine.headers["Authorization"] = f"Bearer {secret.group(1)}"
    assert machine.get("/api/v1/me").json()["username"] == "sales"
    listing = browser.get("/tokens").text
    assert secret.group(1) not in listing and "ERP sync" in listing
    token = db.scalars(select(ApiToken).where(ApiToken.name == "ERP sync")).one()
    assert token.user_id == sales and token.expires_at is not None
    # Posted again: refused by name, no second token.
    again = browser.post("/tokens", data=form)
    assert again.status_code == 409 and "<b>Token name</b>" in again.text
    assert len(db.scalars(select(ApiToken).where(ApiToken.name == "ERP sync")).all()) == 1
    browser.cookies.set("rd_lang", "zh-CN")
    bad = browser.post(
        "/tokens", data={"csrf_token": csrf, "user_id": str(sales), "token_name": ""}
    )
    assert (
        bad.status_code == 422 and "<b>令牌名称</b>" in bad.text and "<b>授权范围</b>" in bad.text
    )
    unknown = browser.post("/tokens", data={**form, "token_name": "x", "scopes": ["root"]})
    assert unknown.status_code == 422 and "<b>授权范围</b>: 未知的授权范围" in unknown.text
    # For another user, the integration bundles at most: never a decision in their name.
    manager = _id(db, "manager")
    approvals = {**form, "token_name": "z", "user_id": str(manager),
                 "scopes": ["read", "limit_requests:approve"]}  # fmt: skip
    refused = browser.post("/tokens", data=approvals)
    assert refused.status_code == 422 and "只能包含只读和数据接入授权范围" in refused.text
    assert db.scalars(select(ApiToken).where(ApiToken.name == "z")).all() == []
    nobody = browser.post("/tokens", data={**form, "token_name": "y", "user_id": "999999"})
    assert nobody.status_code == 404 and "<b>用户</b>" in nobody.text
    revoked = browser.post(
        f"/tokens/{token.id}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert revoked.status_code == 303 and revoked.headers["location"] == "/tokens?done=revoked"
    assert machine.get("/api/v1/me").status_code == 401
    row = re.search(rf'<tr id="token-{token.id}".*?</tr>', browser.get("/tokens").text, re.S)
    assert row is not None and "已于" in row.group(0) and '/revoke"' not in row.group(0)
    assert browser.post(f"/tokens/{token.id}/revoke", data={"csrf_token": csrf}).status_code == 200
    assert browser.post("/tokens/999999/revoke", data={"csrf_token": csrf}).status_code == 404


def test_only_administrators_reach_the_pages(app, db) -> None:  # type: ignore[no-untyped-def]
    manager = login(app, "manager")
    csrf = _csrf(manager.get("/users").text)  # users:read: the list, without the create form
    listing = manager.get("/users").text
    assert 'id="create-user"' not in listing and "/users/" not in listing.split('id="users"')[1]
    sales = _id(db, "sales")
    for method, path, data in (
        ("GET", f"/users/{sales}", None),
        ("GET", "/tokens", None),
        ("POST", "/users", {"csrf_token": csrf, "username": "x1", "role": "admin"}),
        ("POST", f"/users/{sales}/disable", {"csrf_token": csrf}),
        ("POST", f"/users/{sales}/password", {"csrf_token": csrf}),
        ("POST", "/tokens", {"csrf_token": csrf}),
    ):
        answer = manager.request(method, path, data=data)
        assert answer.status_code == 403, (method, path)
    assert security_service.get_user_by_username_or_raise(db, "sales").is_active
