"""A user's own display time zone over the company's: read and set (or cleared) by the signed-in
person for their own record only, validated, idempotent, audited as a change of their user;
their pages show times on it while colleagues keep the company's clock."""

from __future__ import annotations

import datetime as dt
import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from riskdesk.company import service as company_service
from riskdesk.kit.errors import PermissionDenied, ValidationFailed
from riskdesk.models import Alert, AuditEntry, User
from riskdesk.security import service as security_service
from riskdesk.ui.i18n import LANG_COOKIE
from tests.conftest import ingest, principal
from tests.monitoring.test_alerts import _setup, invoice
from tests.security.test_auth import login

RAISED = dt.datetime(2026, 7, 7, 17, 30, tzinfo=dt.UTC)  # summer: Berlin is UTC+02:00 then


def _csrf(client: TestClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/me/settings").text)
    assert found is not None
    return found.group(1)


def _last_entry(db) -> int:  # type: ignore[no-untyped-def]
    return db.scalar(select(func.max(AuditEntry.id))) or 0


def _writes_since(db, last_id: int) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    db.expire_all()
    stmt = select(AuditEntry).where(AuditEntry.id > last_id, AuditEntry.action == "write")
    return list(db.scalars(stmt.order_by(AuditEntry.id)))


def _zone_of(db, username: str) -> str | None:  # type: ignore[no-untyped-def]
    db.expire_all()
    return db.scalar(select(User.time_zone).where(User.username == username))


def test_the_service_sets_clears_validates_and_refuses_tokens(db) -> None:  # type: ignore[no-untyped-def]
    company_service.set_time_zone(db, principal(db, "admin"), "Asia/Shanghai")
    analyst = principal(db, "analyst")
    assert company_service.time_zone_for(db, analyst.user, "UTC") == ("Asia/Shanghai", False)
    caller = company_service.set_my_time_zone(db, analyst, time_zone=" Europe/Berlin ")
    assert caller.time_zone == "Europe/Berlin" == _zone_of(db, "analyst")
    assert company_service.time_zone_for(db, caller, "UTC") == ("Europe/Berlin", True)
    assert _zone_of(db, "manager") is None  # another user is untouched
    try:
        company_service.set_my_time_zone(db, analyst, time_zone="Europe/Atlantis")
        raise AssertionError("an unknown zone was accepted")
    except ValidationFailed as exc:
        assert (exc.field, exc.code) == ("time_zone", "unknown_time_zone")
    cleared = company_service.set_my_time_zone(db, analyst, time_zone=None)
    assert cleared.time_zone is None and _zone_of(db, "analyst") is None
    assert company_service.time_zone_for(db, cleared, "UTC") == ("Asia/Shanghai", False)
    try:
        company_service.set_my_time_zone(
            db, principal(db, "analyst", scopes=["read"]), time_zone="UTC"
        )
        raise AssertionError("a token changed a person's zone")
    except PermissionDenied:
        pass
    # A stored name this machine's tz database no longer knows falls back to the company's.
    db.execute(update(User).where(User.username == "analyst").values(time_zone="Gone/Zone"))
    gone = security_service.Caller.of(security_service.get_user_by_username_or_raise(db, "analyst"))
    assert company_service.time_zone_for(db, gone, "UTC") == ("Asia/Shanghai", False)


def test_the_api_reads_and_sets_ones_own_zone_once_audited(db, app, client_for) -> None:  # type: ignore[no-untyped-def]
    company_service.set_time_zone(db, principal(db, "admin"), "Asia/Shanghai")
    db.commit()
    browser = login(app, "analyst")
    headers = {"X-CSRF-Token": _csrf(browser)}
    shown = browser.get("/api/v1/me/time-zone")
    assert shown.status_code == 200, shown.text
    assert shown.json() == {
        "time_zone": None,
        "effective": "Asia/Shanghai",
        "offset": "UTC+08:00",
        "is_own": False,
        "company_time_zone": "Asia/Shanghai",
        "company_offset": "UTC+08:00",
    }
    before = _last_entry(db)
    changed = browser.put(
        "/api/v1/me/time-zone", json={"time_zone": "Europe/Berlin"}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["time_zone"], body["effective"], body["is_own"]) == (
        "Europe/Berlin",
        "Europe/Berlin",
        True,
    )
    assert body["offset"] in ("UTC+01:00", "UTC+02:00")
    [entry] = _writes_since(db, before)
    analyst_id = security_service.get_user_by_username_or_raise(db, "analyst").id
    assert entry.request == "PUT /api/v1/me/time-zone" and entry.actor == "analyst"
    [change] = entry.detail["changes"]  # the caller's own user row, and nothing else
    assert (change["table"], change["op"], change["ids"]) == ("users", "update", [analyst_id])
    assert change["fields"] == ["time_zone"], change
    assert browser.get("/api/v1/me/time-zone").json() == body  # read back on a new request
    assert browser.get("/api/v1/me").json()["time_zone"] == "Europe/Berlin"
    # The same zone again: no write, no entry.
    before = _last_entry(db)
    again = browser.put(
        "/api/v1/me/time-zone", json={"time_zone": "Europe/Berlin"}, headers=headers
    )
    assert again.status_code == 200 and again.json() == body
    assert _writes_since(db, before) == []
    # Refused on the field; nothing changes.
    for wrong in ("Europe/Atlantis", "CET+1", "europe/berlin", "../../etc/passwd"):
        bad = browser.put("/api/v1/me/time-zone", json={"time_zone": wrong}, headers=headers)
        assert bad.status_code == 422, (wrong, bad.text)
        error = bad.json()["error"]
        assert error["field"] == "time_zone" and error["code"] == "unknown_time_zone", error
    for payload in ({}, {"time_zone": ""}, {"time_zone": 8}, {"time_zone": "x" * 65}):
        bad = browser.put("/api/v1/me/time-zone", json=payload, headers=headers)
        assert bad.status_code == 422, payload
        assert "time_zone" in bad.text
    assert _zone_of(db, "analyst") == "Europe/Berlin"
    # Others are untouched, and see the company's.
    assert _zone_of(db, "manager") is None
    assert client_for("manager").get("/api/v1/me/time-zone").json()["effective"] == (
        "Asia/Shanghai"
    )
    # A token may read its user's zone but not change it (no scope covers a person's
    # preferences), whatever its scopes.
    token = client_for("analyst")
    assert token.get("/api/v1/me/time-zone").json()["time_zone"] == "Europe/Berlin"
    refused = token.put("/api/v1/me/time-zone", json={"time_zone": None})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    # Back to the company's with null: one entry.
    before = _last_entry(db)
    cleared = browser.put("/api/v1/me/time-zone", json={"time_zone": None}, headers=headers)
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["time_zone"], cleared.json()["effective"]) == (None, "Asia/Shanghai")
    assert len(_writes_since(db, before)) == 1
    assert _zone_of(db, "analyst") is None
    assert browser.get("/api/v1/me").json()["time_zone"] is None
    # Without the CSRF token a browser session is refused.
    assert browser.put("/api/v1/me/time-zone", json={"time_zone": "UTC"}).status_code == 403


def _alert_row(html: str, alert_id: int) -> str:
    return html.split(f'id="alert-{alert_id}"', 1)[1].split("</tr>", 1)[0]


def test_a_users_own_zone_moves_their_times_only(db, app) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    ingest(db, principal(db, "manager"), "invoices", [invoice("I1", "A", "5000.00", 45)])
    company_service.set_time_zone(db, principal(db, "admin"), "Asia/Shanghai")
    db.commit()
    alert = db.scalars(select(Alert).where(Alert.customer_id == ids["A"])).first()
    assert alert is not None
    db.execute(
        update(Alert)
        .where(Alert.id == alert.id)
        .values(last_hit_at=RAISED, raised_at=RAISED, due_at=RAISED + dt.timedelta(hours=4))
    )
    db.commit()
    analyst = login(app, "analyst")
    manager = login(app, "manager")
    for locale, default_label, saved_text, own_footer, company_footer in (
        (
            "en",
            "Company default (Asia/Shanghai)",
            "Your time zone is saved",
            ("Times are shown in Europe/Berlin (UTC+0", "), your own setting"),
            "Times are shown in Asia/Shanghai (UTC+08:00), the company's time zone",
        ),
        (
            "zh-CN",
            "公司默认（Asia/Shanghai）",
            "您的时区已保存",
            ("时间按 Europe/Berlin（UTC+0", "）显示（您的个人设置）"),
            "时间按 Asia/Shanghai（UTC+08:00）显示（公司时区）",
        ),
    ):
        analyst.cookies.set(LANG_COOKIE, locale)
        manager.cookies.set(LANG_COOKIE, locale)
        page = analyst.get("/me/settings")
        assert page.status_code == 200 and 'id="my-time-zone-form"' in page.text
        assert f'<option value="" selected>{default_label}</option>' in page.text
        assert 'href="/me/settings" id="my-settings"' in page.text  # in the user menu
        assert "me." not in re.sub(r"<[^>]+>", " ", page.text.split("<main>", 1)[1])
        csrf = _csrf(analyst)
        # A name that is no zone is refused on the field, in the page's language.
        bad = analyst.post(
            "/me/settings/time-zone", data={"time_zone": "Mars/Olympus", "csrf_token": csrf}
        )
        assert bad.status_code == 422 and 'id="field-error-time_zone"' in bad.text
        assert ("Time zone" if locale == "en" else "时区") in bad.text.split('id="form-errors"')[1]
        assert '<option value="Mars/Olympus" selected>' in bad.text  # kept to correct
        # Without the CSRF token: refused.
        assert analyst.post("/me/settings/time-zone", data={"time_zone": "UTC"}).status_code == 403
        saved = analyst.post(
            "/me/settings/time-zone",
            data={"time_zone": "Europe/Berlin", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == "/me/settings?done=saved"
        done = analyst.get(saved.headers["location"]).text
        assert saved_text in done
        assert '<option value="Europe/Berlin" selected>' in done
        again = analyst.post(
            "/me/settings/time-zone",
            data={"time_zone": "Europe/Berlin", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert again.headers["location"] == "/me/settings?done=unchanged"
        # The analyst's pages: Berlin; the manager's: Shanghai.
        mine = analyst.get("/alerts", params={"status": "any"}).text
        row = _alert_row(mine, alert.id)
        assert '2026-07-07</span> <span class="nw">19:30' in row, row
        assert '2026-07-07</span> <span class="nw">23:30' in row  # due, 4 hours later
        footer = mine.split('id="time-zone-note">', 1)[1].split("</footer>", 1)[0]
        assert all(part in footer for part in own_footer), footer  # the offset of today
        theirs = manager.get("/alerts", params={"status": "any"}).text
        row = _alert_row(theirs, alert.id)
        assert '2026-07-08</span> <span class="nw">01:30' in row, row
        assert company_footer in html.unescape(theirs)
        # Back to the company's.
        cleared = analyst.post(
            "/me/settings/time-zone",
            data={"time_zone": "", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert cleared.headers["location"] == "/me/settings?done=saved"
        row = _alert_row(analyst.get("/alerts", params={"status": "any"}).text, alert.id)
        assert '2026-07-08</span> <span class="nw">01:30' in row
    assert _zone_of(db, "manager") is None
