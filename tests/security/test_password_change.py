"""A password an administrator set (a new user, a reset; browser, API or CLI) must be changed
at the next sign-in: until then a browser session reaches only the password page (and signing
out), the API answers 403 ``password_change_required``, tokens are not affected. The change
goes through the password policy, must differ from the current password, ends the user's
other sessions and is in the audit log. The tokens form offers only the scopes the chosen
owner may hold."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from riskdesk.alerts import playbooks
from riskdesk.demo.loader import DEMO_USERS, ensure_demo_users
from riskdesk.kit.errors import ValidationFailed
from riskdesk.models import AuditEntry
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Permission
from tests.conftest import PASSWORD
from tests.security.test_auth import login

ADMIN_SET = "Harbour-lantern-58"
OWN = "Quiet-otter-meadow-31"


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _stamp(page: str) -> str:
    found = re.search(r'name="form_key" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _sign_in(app, username: str, password: str) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    """A browser signed in, and where the sign-in sent it."""
    client = TestClient(app, raise_server_exceptions=False)
    token = _csrf(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/alerts"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client, answer.headers["location"]


# ---------------------------------------------------------------- service


def test_the_flag_follows_who_set_the_password(db) -> None:  # type: ignore[no-untyped-def]
    own = security_service.create_user(
        db, username="own", display_name="Own", role="sales", password=ADMIN_SET
    )
    assert own.password_change_required is False  # the operator's own account (CLI, demo)
    made = security_service.create_user(
        db,
        username="made",
        display_name="Made",
        role="sales",
        password=ADMIN_SET,
        password_change_required=True,
    )
    assert made.password_change_required is True
    security_service.reset_password(db, user_id=own.id, password="Lantern-quay-orchard-7")
    assert own.password_change_required is True  # a reset is an administrator's act
    security_service.reset_password(
        db, user_id=own.id, password=ADMIN_SET, password_change_required=False
    )
    assert own.password_change_required is False


def test_a_change_applies_the_policy_differs_and_clears_the_flag(db) -> None:  # type: ignore[no-untyped-def]
    user = security_service.get_user_by_username_or_raise(db, "analyst")
    security_service.reset_password(db, user_id=user.id, password=ADMIN_SET)
    kept = security_service.start_session(db, user=user, hours=8)
    other = security_service.start_session(db, user=user, hours=8)
    principal = security_service.principal_for(db, user, via="session", session_id=kept.id)
    assert principal.user.password_change_required
    for new, code in (
        (ADMIN_SET, "password_unchanged"),
        ("short-1", "password_too_short"),
        ("password1234", "password_too_common"),
        ("analyst-analyst-9", "password_contains_name"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            security_service.change_password(
                db, principal, current_password=ADMIN_SET, new_password=new
            )
        assert (caught.value.code, caught.value.field) == (code, "new_password"), new
        assert user.password_change_required
    with pytest.raises(ValidationFailed) as wrong:
        security_service.change_password(db, principal, current_password="nope", new_password=OWN)
    assert (wrong.value.code, wrong.value.field) == ("wrong_password", "current_password")
    db.refresh(user)
    assert user.failed_logins == 1  # counted like a wrong sign-in, as before
    security_service.change_password(db, principal, current_password=ADMIN_SET, new_password=OWN)
    assert user.password_change_required is False and user.failed_logins == 0
    db.expire_all()
    assert security_service.resolve_session(db, other.id) is None  # other sessions ended
    assert security_service.resolve_session(db, kept.id) is not None


def test_demo_users_keep_their_known_passwords(db) -> None:  # type: ignore[no-untyped-def]
    ensure_demo_users(db)
    for username, *_ in DEMO_USERS:
        user = security_service.get_user_by_username_or_raise(db, username)
        assert user.password_change_required is False, username


# ---------------------------------------------------------------- API


def test_api_create_and_reset_set_the_flag_and_sessions_get_403(app, db, client_for) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("admin")
    made = admin.post(
        "/api/v1/users",
        json={"username": "ops", "display_name": "Ops", "role": "sales", "password": ADMIN_SET},
    )
    assert made.status_code == 201, made.text
    listed = {u["username"]: u for u in admin.get("/api/v1/users").json()}
    assert listed["ops"]["password_change_required"] is True
    assert listed["manager"]["password_change_required"] is False

    browser, landing = _sign_in(app, "ops", ADMIN_SET)
    assert landing == "/me/password?next=/alerts"
    refused = browser.get("/api/v1/me")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "password_change_required"
    assert browser.get("/api/v1/customers").json()["error"]["code"] == "password_change_required"
    # A token is for a system: never stopped by the flag.
    ops = security_service.get_user_by_username_or_raise(db, "ops")
    _, raw = security_service.issue_token(db, user=ops, name="erp", scopes=["read"])
    db.commit()
    machine = TestClient(app, raise_server_exceptions=False)
    machine.headers["Authorization"] = f"Bearer {raw}"
    assert machine.get("/api/v1/me").status_code == 200
    assert machine.put(
        "/api/v1/me/password", json={"current_password": ADMIN_SET, "new_password": OWN}
    ).status_code == 403  # fmt: skip

    csrf = {"X-CSRF-Token": _csrf(browser.get("/me/password").text)}
    same = browser.put(
        "/api/v1/me/password",
        json={"current_password": ADMIN_SET, "new_password": ADMIN_SET},
        headers=csrf,
    )
    assert same.status_code == 422 and same.json()["error"]["code"] == "password_unchanged"
    weak = browser.put(
        "/api/v1/me/password",
        json={"current_password": ADMIN_SET, "new_password": "short-1"},
        headers=csrf,
    )
    assert weak.status_code == 422 and weak.json()["error"]["field"] == "new_password"
    done = browser.put(
        "/api/v1/me/password",
        json={"current_password": ADMIN_SET, "new_password": OWN},
        headers=csrf,
    )
    assert done.status_code == 204, done.text
    assert browser.get("/api/v1/me").status_code == 200
    db.expire_all()
    assert (
        security_service.get_user_by_username_or_raise(db, "ops").password_change_required is False
    )

    # A reset through the API sets it again.
    reset = admin.put(f"/api/v1/users/{ops.id}/password", json={"password": ADMIN_SET})
    assert reset.status_code == 200 and reset.json()["password_change_required"] is True
    assert browser.get("/api/v1/me").status_code == 401  # the reset ended the session
    again, _ = _sign_in(app, "ops", ADMIN_SET)
    assert again.get("/api/v1/me").json()["error"]["code"] == "password_change_required"


# ---------------------------------------------------------------- browser pages


def test_the_browser_is_held_on_the_password_page_until_changed(app, db) -> None:  # type: ignore[no-untyped-def]
    admin = login(app, "admin")
    admin.cookies.set("rd_lang", "en")
    csrf_admin = _csrf(admin.get("/users").text)
    sales = security_service.get_user_by_username_or_raise(db, "sales")
    page = admin.get(f"/users/{sales.id}").text
    reset = admin.post(
        f"/users/{sales.id}/password", data={"csrf_token": csrf_admin, "form_key": _stamp(page)}
    )
    password = re.search(r'<code id="new-password" data-raw>([^<]+)</code>', reset.text)
    assert password is not None
    assert 'id="user-must-change"' in reset.text
    assert "Must change password at next sign-in" in admin.get("/users").text
    admin.cookies.set("rd_lang", "zh-CN")
    assert "下次登录须修改密码" in admin.get("/users").text

    browser, landing = _sign_in(app, "sales", password.group(1))
    elsewhere, _ = _sign_in(app, "sales", password.group(1))  # a second browser
    # Held on the password page, which remembers where the browser was going.
    assert landing == "/me/password?next=/alerts"
    for path, going in (
        ("/", "/me/password"),
        ("/customers", "/me/password?next=/customers"),
        ("/customers?tier=high&page=2", "/me/password?next=/customers%3Ftier%3Dhigh%26page%3D2"),
        ("/users", "/me/password?next=/users"),
    ):
        held = browser.get(path, follow_redirects=False)
        assert (held.status_code, held.headers.get("location")) == (303, going), path
    htmx = browser.get(
        "/customers",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/alerts?status=open"},
        follow_redirects=False,
    )
    assert htmx.headers.get("HX-Redirect") == "/me/password?next=/alerts%3Fstatus%3Dopen"
    # Only a same-site path is kept (no open redirect through the password page).
    for elsewhere_url in ("//evil.example/x", "/\\evil.example", "https://evil.example"):
        page = browser.get(f"/me/password?next={elsewhere_url}").text
        assert 'name="next"' not in page, elsewhere_url
    # The language switch and the static files still work.
    switched = browser.get("/lang/zh-CN?next=/me/password", follow_redirects=False)
    assert switched.headers["location"] == "/me/password"
    assert browser.get("/static/app.css").status_code == 200
    browser.get("/lang/en", follow_redirects=False)
    shown = browser.get("/me/password?next=/alerts")
    assert shown.status_code == 200 and 'id="password-forced"' in shown.text
    assert '<input type="hidden" name="next" value="/alerts">' in shown.text
    assert shown.headers["cache-control"] == "no-store"
    csrf, stamp = _csrf(shown.text), _stamp(shown.text)
    form = {
        "csrf_token": csrf,
        "form_key": stamp,
        "current_password": password.group(1),
        "new_password": password.group(1),
        "confirm_password": password.group(1),
    }
    same = browser.post("/me/password", data=form)
    assert same.status_code == 422
    assert "<b>New password</b>: The new password must differ from the current one." in same.text
    browser.get("/lang/zh-CN", follow_redirects=False)
    same_zh = browser.post("/me/password", data=form)
    assert "<b>新密码</b>: 新密码不能与当前密码相同。" in same_zh.text
    wrong = browser.post("/me/password", data={**form, "current_password": "nope"})
    assert wrong.status_code == 422 and "<b>当前密码</b>: 当前密码不正确。" in wrong.text
    db.expire_all()
    assert security_service.get_user_by_username_or_raise(db, "sales").failed_logins == 1
    browser.get("/lang/en", follow_redirects=False)
    mismatch = browser.post("/me/password", data={**form, "new_password": OWN})
    assert mismatch.status_code == 422 and "<b>New password again</b>" in mismatch.text

    changed = {**form, "new_password": OWN, "confirm_password": OWN, "next": "/alerts"}
    done = browser.post("/me/password", data=changed, follow_redirects=False)
    # On to the page the user first asked for.
    assert (done.status_code, done.headers["location"]) == (303, "/alerts")
    home = browser.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] != "/me/password"
    assert browser.get("/customers").status_code == 200
    db.expire_all()
    user = security_service.get_user_by_username_or_raise(db, "sales")
    assert user.password_change_required is False and user.failed_logins == 0
    # The other browser was signed out.
    assert (
        elsewhere.get("/customers", follow_redirects=False).headers["location"].startswith("/login")
    )
    # Posted again (the back button): nothing changes, nothing is counted, no confusing error.
    again = browser.post("/me/password", data=changed, follow_redirects=False)
    assert (again.status_code, again.headers["location"]) == (303, "/me/password?changed=true")
    db.expire_all()
    assert security_service.get_user_by_username_or_raise(db, "sales").failed_logins == 0
    # Audited: who changed which user row, through the browser.
    entries = db.scalars(
        select(AuditEntry).where(
            AuditEntry.request == "POST /me/password", AuditEntry.actor_id == user.id
        )
    ).all()
    assert any("users" in str(e.detail) for e in entries)
    # Sign out and in again with the new password: straight to where it was going.
    assert _sign_in(app, "sales", OWN)[1] == "/alerts"
    assert _sign_in(app, "sales", password.group(1))[1].startswith("/login?error=failed")


def test_signing_out_works_while_held(app, db) -> None:  # type: ignore[no-untyped-def]
    user = security_service.get_user_by_username_or_raise(db, "analyst")
    security_service.reset_password(db, user_id=user.id, password=ADMIN_SET)
    db.commit()
    browser, _ = _sign_in(app, "analyst", ADMIN_SET)
    csrf = _csrf(browser.get("/me/password").text)
    out = browser.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert (
        browser.get("/me/password", follow_redirects=False).headers["location"].startswith("/login")
    )


def test_a_voluntary_change_stays_on_the_page(app, db) -> None:  # type: ignore[no-untyped-def]
    browser = login(app, "manager")
    browser.cookies.set("rd_lang", "en")
    assert 'id="my-password"' in browser.get("/customers").text  # the link in the user menu
    page = browser.get("/me/password").text
    assert 'id="password-forced"' not in page
    done = browser.post(
        "/me/password",
        data={
            "csrf_token": _csrf(page),
            "form_key": _stamp(page),
            "current_password": PASSWORD,
            "new_password": OWN,
            "confirm_password": OWN,
        },
        follow_redirects=False,
    )
    assert done.headers["location"] == "/me/password?changed=true"


# ---------------------------------------------------------------- the tokens form


def test_scope_choices_follow_the_owner(db) -> None:  # type: ignore[no-untyped-def]
    admin = security_service.get_user_by_username_or_raise(db, "admin")
    manager = security_service.get_user_by_username_or_raise(db, "manager")
    sales = security_service.get_user_by_username_or_raise(db, "sales")
    own = security_service.scope_choices_for(admin, issued_by=admin.id)
    assert Permission.USERS_MANAGE.value in own and Permission.TOKENS_MANAGE.value in own
    mine = security_service.scope_choices_for(manager, issued_by=manager.id)
    assert Permission.LIMIT_REQUESTS_APPROVE.value in mine
    assert Permission.USERS_MANAGE.value not in mine  # not the manager's role
    theirs = security_service.scope_choices_for(manager, issued_by=admin.id)
    assert Permission.LIMIT_REQUESTS_APPROVE.value not in theirs  # not delegable
    assert {"read", "intake", Permission.CUSTOMERS_READ.value} <= set(theirs)
    allowed = security_service.permissions_for(sales.role) & security_service.DELEGABLE_SCOPES
    offered = security_service.scope_choices_for(sales, issued_by=admin.id)
    assert {s for s in offered if ":" in s} == {p.value for p in allowed}
    # Everything offered is accepted by the service.
    security_service.issue_token(db, user=manager, name="all", scopes=theirs, issued_by=admin.id)
    security_service.issue_token(db, user=manager, name="own", scopes=mine, issued_by=manager.id)


def test_the_tokens_form_offers_the_owners_scopes_translated(app, db) -> None:  # type: ignore[no-untyped-def]
    browser = login(app, "admin")
    browser.cookies.set("rd_lang", "en")
    admin = security_service.get_user_by_username_or_raise(db, "admin")
    manager = security_service.get_user_by_username_or_raise(db, "manager")

    def offered(html: str) -> set[str]:
        box = re.search(r'<fieldset class="wide" id="token-scopes">.*?</fieldset>', html, re.S)
        assert box is not None
        return set(re.findall(r'name="scopes" value="([^"]+)"', box.group(0)))

    blank = browser.get("/tokens").text
    assert offered(blank) == set() and "Choose whose token it is first" in blank
    for_manager = browser.get(f"/tokens?user={manager.id}").text
    assert offered(for_manager) == set(
        security_service.scope_choices_for(manager, issued_by=admin.id)
    )
    assert "limit_requests:approve" not in offered(for_manager)
    assert "Read customers and credit files" in for_manager
    mine = browser.get(f"/tokens/scopes?user_id={admin.id}")
    assert mine.status_code == 200 and "users:manage" in offered(mine.text)
    assert "Your own token" in mine.text
    browser.cookies.set("rd_lang", "zh-CN")
    zh = browser.get(f"/tokens/scopes?user_id={manager.id}").text
    assert "查看客户与信用档案" in zh and "limit_requests:approve" not in offered(zh)
    assert offered(browser.get("/tokens/scopes?user_id=999999").text) == set()
    # Nothing is offered for an account that cannot be given a token.
    system = playbooks.system_principal(db)
    db.commit()
    assert offered(browser.get(f"/tokens/scopes?user_id={system.user_id}").text) == set()
    manager.is_active = False
    db.commit()
    assert offered(browser.get(f"/tokens/scopes?user_id={manager.id}").text) == set()
    manager.is_active = True
    db.commit()
    # The service stays the authority, its refusal in the reader's language.
    csrf = _csrf(blank)
    refused = browser.post(
        "/tokens",
        data={
            "csrf_token": csrf,
            "user_id": str(manager.id),
            "token_name": "stale",
            "scopes": ["limit_requests:approve"],
        },
    )
    assert refused.status_code == 422 and "只能包含只读和数据接入授权范围" in refused.text
    assert offered(refused.text) == offered(zh)  # the form again, for the same owner


def test_every_scope_has_a_label_in_both_languages() -> None:
    import json
    from pathlib import Path

    folder = Path(__file__).parents[2] / "src/riskdesk/ui/translations"
    for name in ("en.json", "zh-CN.json"):
        messages = json.loads((folder / name).read_text(encoding="utf-8"))
        missing = [
            s
            for s in security_service.scope_choices()
            if f"tokens.scope.{s}" not in messages and f"tokens.bundle.{s}" not in messages
        ]
        assert missing == [], name
