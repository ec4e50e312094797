"""Lock-out after wrong passwords: it lasts a while (longer each time), an administrator can end
it (CLI in tests/cli, API and UI here), and a failed sign-in never tells whether the account
exists or is locked. Changing and resetting passwords keeps to the password policy."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from riskdesk.kit.errors import NotAuthenticated
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import AuditEntry
from riskdesk.security import passwords
from riskdesk.security import service as security_service
from riskdesk.security.service import LockoutPolicy
from tests.conftest import PASSWORD
from tests.security.test_auth import login


def _lock(db, username: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(security_service.DEFAULT_LOCKOUT.failures):
        with pytest.raises(NotAuthenticated):
            security_service.authenticate(db, username=username, password="Not-the-password-1")
    db.commit()


def _failure(db, username: str, password: str, policy: LockoutPolicy) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(NotAuthenticated) as caught:
        security_service.authenticate(db, username=username, password=password, policy=policy)
    return caught.value.status_code, caught.value.code, caught.value.message


def test_a_lockout_ends_by_itself_and_grows_when_repeated(db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    policy = LockoutPolicy(failures=3, minutes=15, max_minutes=40)
    clock = [utcnow()]
    monkeypatch.setattr(security_service, "utcnow", lambda: clock[0])

    def fail_until_locked() -> dt.timedelta:
        for _ in range(policy.failures):
            _failure(db, "analyst", "Wrong-guess-2026", policy)
        user = security_service.get_user_by_username_or_raise(db, "analyst")
        until = security_service.locked_until(user, clock[0])
        assert until is not None
        return until - clock[0]

    assert fail_until_locked() == dt.timedelta(minutes=15)
    # While locked, the right password gets nowhere (and the answer is the usual one).
    assert _failure(db, "analyst", PASSWORD, policy)[1] == "invalid_credentials"
    clock[0] += dt.timedelta(minutes=16)  # the lock-out is over: no administrator needed
    user = security_service.get_user_by_username_or_raise(db, "analyst")
    assert security_service.account_state(user, clock[0]) == "active"
    # A second lock-out in a row lasts twice as long, a third is capped at the maximum.
    assert fail_until_locked() == dt.timedelta(minutes=30)
    clock[0] += dt.timedelta(minutes=31)
    assert fail_until_locked() == dt.timedelta(minutes=40)
    clock[0] += dt.timedelta(minutes=41)
    signed_in = security_service.authenticate(
        db, username="analyst", password=PASSWORD, policy=policy
    )
    assert (signed_in.failed_logins, signed_in.lockouts, signed_in.locked_until) == (0, 0, None)
    # After a successful sign-in the next lock-out is a first one again.
    assert fail_until_locked() == dt.timedelta(minutes=15)


def test_every_failed_sign_in_reads_alike_and_costs_one_hash(db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    policy = LockoutPolicy(failures=2)
    for _ in range(policy.failures):
        _failure(db, "sales_east2", "Wrong-guess-2026", policy)
    service_user = security_service.get_user_by_username_or_raise(db, "service")
    service_user.is_active = False
    db.flush()
    verified: list[str] = []
    real_verify = passwords.verify_password

    def counting(password_hash: str, password: str) -> bool:
        verified.append(password_hash)
        return real_verify(password_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    answers = {}
    for case, username, password in (
        ("unknown user", "nobody-here", PASSWORD),
        ("wrong password", "manager2", "Wrong-guess-2026"),
        ("locked, right password", "sales_east2", PASSWORD),
        ("locked, wrong password", "sales_east2", "Wrong-guess-2026"),
        ("disabled, right password", "service", PASSWORD),
    ):
        verified.clear()
        answers[case] = _failure(db, username, password, policy)
        # One argon2 verification on every path, so the time taken tells nothing either.
        assert len(verified) == 1, case
    assert set(answers.values()) == {(401, "invalid_credentials", "wrong username or password")}


def test_the_sign_in_page_answers_alike_for_unknown_locked_and_wrong(app, db) -> None:  # type: ignore[no-untyped-def]
    _lock(db, "sales2")
    answers = {}
    for case, username, password in (
        ("unknown user", "nobody-here", PASSWORD),
        ("wrong password", "manager2", "Wrong-guess-2026"),
        ("locked, right password", "sales2", PASSWORD),
    ):
        client = TestClient(app, raise_server_exceptions=False)
        client.get("/login")
        answer = client.post(
            "/login",
            data={"username": username, "password": password, "next": "/customers",
                  "csrf_token": client.cookies.get("rd_login_csrf") or ""},
            follow_redirects=False,
        )  # fmt: skip
        page = client.get(answer.headers["location"]).text
        page = re.sub(r'name="csrf_token" value="[^"]+"', "", page)  # new on every visit
        answers[case] = (answer.status_code, answer.headers["location"], page)
        assert "rd_session" not in client.cookies, case
    assert len(set(answers.values())) == 1, {k: v[:2] for k, v in answers.items()}
    assert answers["unknown user"][0] == 303
    # The locked-account page of before is gone: asking for it shows the one message.
    client = TestClient(app, raise_server_exceptions=False)
    assert "locked. Ask" not in client.get("/login?error=locked").text


def test_an_administrator_unlocks_over_the_api_and_the_audit_log_says_who(  # type: ignore[no-untyped-def]
    app, db, client_for
) -> None:
    _lock(db, "sales2")
    admin, manager = client_for("admin"), client_for("manager")
    users = {u["username"]: u for u in admin.get("/api/v1/users").json()}
    locked = users["sales2"]
    assert locked["state"] == "locked" and locked["locked_until"]
    assert users["manager"]["state"] == "active" and users["manager"]["locked_until"] is None
    assert manager.post(f"/api/v1/users/{locked['id']}/unlock").status_code == 403
    assert admin.post("/api/v1/users/999999/unlock").status_code == 404
    unlocked = admin.post(f"/api/v1/users/{locked['id']}/unlock")
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["state"] == "active" and unlocked.json()["failed_logins"] == 0
    entry = db.scalars(
        select(AuditEntry).where(AuditEntry.request == "POST /api/v1/users/{user_id}/unlock")
    ).one()
    assert (entry.actor, entry.channel, entry.object_type) == ("admin", "api", "user")
    assert entry.object_id == str(locked["id"])
    change = entry.detail["changes"][0]
    assert change["table"] == "users" and "locked_until" in change["fields"]
    assert login(app, "sales2").get("/api/v1/me").json()["username"] == "sales2"


def test_the_users_page_shows_states_and_unlocks_in_both_languages(app, db) -> None:  # type: ignore[no-untyped-def]
    _lock(db, "sales2")
    browser = login(app, "admin")
    page = browser.get("/users")
    assert page.status_code == 200
    row = re.search(r'<tr id="user-sales2".*?</tr>', page.text, re.S)
    assert row is not None and ("Locked until" in row.group(0) or "锁定至" in row.group(0))
    browser.cookies.set("rd_lang", "zh-CN")
    chinese = browser.get("/users").text
    assert "锁定至" in chinese and "解除锁定" in chinese
    browser.cookies.set("rd_lang", "en")
    english = browser.get("/users").text
    assert "Locked until" in english and ">Unlock<" in english
    user_id = security_service.get_user_by_username_or_raise(db, "sales2").id
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    assert browser.post(f"/users/{user_id}/unlock").status_code == 403  # no CSRF token
    done = browser.post(
        f"/users/{user_id}/unlock", data={"csrf_token": csrf.group(1)}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/users?done=unlocked"
    after = browser.get("/users?done=unlocked").text
    row = re.search(r'<tr id="user-sales2".*?</tr>', after, re.S)
    assert row is not None and "Active" in row.group(0) and "Unlock" not in row.group(0)
    assert "The account is unlocked." in after
    # Only those who manage users may unlock; the page is not in their menu either.
    _lock(db, "sales2")
    manager = login(app, "manager")
    menu = manager.get("/customers").text
    assert 'href="/users"' not in menu
    token = re.search(r'name="csrf_token" value="([^"]+)"', menu)
    assert token is not None
    refused = manager.post(
        f"/users/{user_id}/unlock", data={"csrf_token": token.group(1)}, follow_redirects=False
    )
    assert refused.status_code != 303
    still = security_service.get_user_by_username_or_raise(db, "sales2")
    db.refresh(still)
    assert security_service.account_state(still) == "locked"


def test_changing_ones_password_keeps_to_the_policy(app, db) -> None:  # type: ignore[no-untyped-def]
    browser = login(app, "analyst")
    other_browser = login(app, "analyst")
    page = browser.get("/me/password")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    headers = {"X-CSRF-Token": csrf.group(1)}

    def change(current: str, new: str):  # type: ignore[no-untyped-def]
        return browser.put(
            "/api/v1/me/password",
            json={"current_password": current, "new_password": new},
            headers=headers,
        )

    wrong = change("Not-my-password-1", "Harbour-lantern-58")
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "current_password"
    counted = security_service.get_user_by_username_or_raise(db, "analyst")
    db.refresh(counted)
    assert counted.failed_logins == 1  # a wrong current password counts towards a lock-out
    for new, code in (
        ("Rk7#qz!Lm2", "password_too_short"),
        ("Password123!", "password_too_common"),
        ("analyst-lantern-58", "password_contains_name"),
    ):
        refused = change(PASSWORD, new)
        assert refused.status_code == 422, new
        assert refused.json()["error"] == {
            "code": code,
            "message": refused.json()["error"]["message"],
            "field": "new_password",
        }
    assert change(PASSWORD, "Harbour-lantern-58").status_code == 204
    assert browser.get("/api/v1/me").status_code == 200  # this session goes on
    assert other_browser.get("/api/v1/me").status_code == 401  # the others end
    assert login(app, "analyst", "Harbour-lantern-58").get("/api/v1/me").status_code == 200
    assert login(app, "analyst").get("/api/v1/me").status_code == 401


def test_the_password_form_names_the_problem_in_the_users_language(app, db) -> None:  # type: ignore[no-untyped-def]
    browser = login(app, "analyst")
    browser.cookies.set("rd_lang", "zh-CN")
    page = browser.get("/me/password")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None and "修改密码" in page.text

    def submit(current: str, new: str, again: str):  # type: ignore[no-untyped-def]
        return browser.post(
            "/me/password",
            data={"csrf_token": csrf.group(1), "current_password": current,
                  "new_password": new, "confirm_password": again},
            follow_redirects=False,
        )  # fmt: skip

    common = submit(PASSWORD, "Password123!", "Password123!")
    assert common.status_code == 422 and "太容易被猜到" in common.text
    differ = submit(PASSWORD, "Harbour-lantern-58", "Harbour-lantern-59")
    assert differ.status_code == 422 and "不一致" in differ.text
    short = submit(PASSWORD, "Rk7#qz!Lm2", "Rk7#qz!Lm2")
    assert short.status_code == 422 and "至少需要 12 个字符" in short.text
    done = submit(PASSWORD, "Harbour-lantern-58", "Harbour-lantern-58")
    assert done.status_code == 303 and done.headers["location"] == "/me/password?changed=true"
    assert "密码已修改" in browser.get(done.headers["location"]).text


def test_tokens_cannot_change_passwords_and_admins_reset_them(app, db, client_for) -> None:  # type: ignore[no-untyped-def]
    analyst = client_for("analyst")
    by_token = analyst.put(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "Harbour-lantern-58"},
    )
    assert by_token.status_code == 403
    _lock(db, "sales2")
    signed_in = login(app, "sales_east2")
    target = security_service.get_user_by_username_or_raise(db, "sales2").id
    admin = client_for("admin")
    weak = admin.put(f"/api/v1/users/{target}/password", json={"password": "Rk7#qz!Lm2"})
    assert weak.status_code == 422 and weak.json()["error"]["code"] == "password_too_short"
    assert client_for("manager").put(
        f"/api/v1/users/{target}/password", json={"password": "Harbour-lantern-58"}
    ).status_code == 403  # fmt: skip
    reset = admin.put(f"/api/v1/users/{target}/password", json={"password": "Harbour-lantern-58"})
    assert reset.status_code == 200 and reset.json()["state"] == "active"
    assert reset.json()["password_change_required"] is True
    # Signed in with the administrator's password: nothing but choosing one's own until done.
    refused = login(app, "sales2", "Harbour-lantern-58").get("/api/v1/me")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "password_change_required"
    assert signed_in.get("/api/v1/me").status_code == 200  # someone else's session is untouched
