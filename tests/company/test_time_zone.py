"""The company's display time zone: read by anyone signed in, set by an administrator (API and
page), validated against the IANA names, audited, idempotent; pages show times on its clock at
once (the process's cached copy is dropped on change, kept on rollback), while the API stays UTC."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import func, select, update

from riskdesk.company import service as company_service
from riskdesk.models import Alert, AuditEntry, CompanySetting
from riskdesk.security import service as security_service
from riskdesk.ui.i18n import LANG_COOKIE
from tests.conftest import ingest, principal
from tests.monitoring.test_alerts import _setup, invoice

RAISED = dt.datetime(2026, 12, 7, 17, 30, tzinfo=dt.UTC)  # 01:30 next day in Shanghai


def _last_entry(db) -> int:  # type: ignore[no-untyped-def]
    return db.scalar(select(func.max(AuditEntry.id))) or 0


def _writes_since(db, last_id: int) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    db.expire_all()
    stmt = select(AuditEntry).where(AuditEntry.id > last_id, AuditEntry.action == "write")
    return list(db.scalars(stmt.order_by(AuditEntry.id)))


def test_the_zone_is_read_set_once_audited_and_validated(db, client_for) -> None:  # type: ignore[no-untyped-def]
    sales = client_for("sales")
    shown = sales.get("/api/v1/settings/time-zone")
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert (body["time_zone"], body["is_set"], body["configured"]) == ("UTC", False, "UTC")
    assert body["offset"] == "UTC+00:00"
    # Only an administrator changes it.
    for who in ("sales", "manager", "auditor"):
        refused = client_for(who).put("/api/v1/settings/time-zone", json={"time_zone": "UTC"})
        assert refused.status_code == 403, who
    admin = client_for("admin")
    before = _last_entry(db)
    changed = admin.put("/api/v1/settings/time-zone", json={"time_zone": "Asia/Shanghai"})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    admin_id = security_service.get_user_by_username_or_raise(db, "admin").id
    assert (body["time_zone"], body["offset"], body["is_set"]) == (
        "Asia/Shanghai",
        "UTC+08:00",
        True,
    )
    assert body["updated_by_id"] == admin_id
    assert body["updated_at"].endswith(("Z", "+00:00"))  # the API keeps UTC, with its offset
    [entry] = _writes_since(db, before)
    assert entry.request == "PUT /api/v1/settings/time-zone" and entry.actor == "admin"
    assert entry.detail["changes"][0]["table"] == "company_settings"
    assert entry.detail["changes"][0]["ids"] == ["display_time_zone"]
    # The same zone again: no write, no entry.
    before = _last_entry(db)
    again = admin.put("/api/v1/settings/time-zone", json={"time_zone": "Asia/Shanghai"})
    assert again.status_code == 200 and again.json() == body
    assert _writes_since(db, before) == []
    # Unknown names are refused on the field, and nothing changes.
    for wrong in ("Asia/Beijing", "CST", "+08:00", "asia/shanghai", "../../etc/passwd"):
        bad = admin.put("/api/v1/settings/time-zone", json={"time_zone": wrong})
        assert bad.status_code == 422, (wrong, bad.text)
        error = bad.json()["error"]
        assert error["field"] == "time_zone" and error["code"] == "unknown_time_zone", error
    for payload in ({}, {"time_zone": ""}, {"time_zone": 8}, {"time_zone": "x" * 65}):
        bad = admin.put("/api/v1/settings/time-zone", json=payload)
        assert bad.status_code == 422, payload
        assert "time_zone" in bad.text
    assert sales.get("/api/v1/settings/time-zone").json()["time_zone"] == "Asia/Shanghai"
    # Summer time: Berlin's offset is the one in force now.
    moved = admin.put("/api/v1/settings/time-zone", json={"time_zone": "Europe/Berlin"})
    assert moved.json()["offset"] in ("UTC+01:00", "UTC+02:00")


def test_the_cached_zone_is_dropped_on_commit_and_on_rollback(db, factory) -> None:  # type: ignore[no-untyped-def]
    admin = principal(db, "admin")
    assert company_service.display_time_zone(db, "UTC") == "UTC"  # now cached
    company_service.set_time_zone(db, admin, "Asia/Shanghai")
    db.commit()
    assert company_service.display_time_zone(db, "UTC") == "Asia/Shanghai"
    company_service.set_time_zone(db, admin, "Europe/Berlin")
    assert company_service.display_time_zone(db, "UTC") == "Europe/Berlin"  # this transaction
    db.rollback()
    assert company_service.display_time_zone(db, "UTC") == "Asia/Shanghai"
    assert db.get(CompanySetting, "display_time_zone").value == "Asia/Shanghai"
    # A value written behind the process's back (another node) is read once the copy is old.
    db.execute(update(CompanySetting).values(value="Asia/Tokyo"))
    db.commit()
    assert company_service.display_time_zone(db, "UTC") == "Asia/Shanghai"  # still cached
    company_service.forget(db)
    assert company_service.display_time_zone(db, "UTC") == "Asia/Tokyo"
    # An unset zone reads the configured default (RISKDESK_TIME_ZONE).
    db.execute(CompanySetting.__table__.delete())
    db.commit()
    company_service.forget(db)
    assert company_service.display_time_zone(db, "Europe/London") == "Europe/London"


def _alert_row(html: str, alert_id: int) -> str:
    return html.split(f'id="alert-{alert_id}"', 1)[1].split("</tr>", 1)[0]


def test_the_page_changes_the_zone_and_an_alerts_times_move(db, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    ingest(db, principal(db, "manager"), "invoices", [invoice("I1", "A", "5000.00", 45)])
    db.commit()
    alert = db.scalars(select(Alert).where(Alert.customer_id == ids["A"])).first()
    assert alert is not None
    db.execute(
        update(Alert)
        .where(Alert.id == alert.id)
        .values(last_hit_at=RAISED, raised_at=RAISED, due_at=RAISED + dt.timedelta(hours=4))
    )
    db.commit()
    manager = client_for("manager")
    queue = manager.get("/alerts", params={"status": "any"}).text
    row = _alert_row(queue, alert.id)
    assert '2026-12-07</span> <span class="nw">17:30' in row
    assert 'title="2026-12-07 21:30:00 UTC"' in row  # the due time's exact instant
    assert "时间按 UTC（UTC+00:00）显示" in queue  # the footer names the clock
    # API answers carry their offset.
    api = manager.get("/api/v1/alerts", params={"customer_id": ids["A"]}).json()
    assert all(a["raised_at"].endswith(("Z", "+00:00")) for a in api)
    admin = client_for("admin")
    for locale, saved_text, footer in (
        ("en", "The display time zone is saved", "Times are shown in Asia/Shanghai (UTC+08:00)"),
        ("zh-CN", "显示时区已保存", "时间按 Asia/Shanghai（UTC+08:00）显示"),
    ):
        admin.cookies.set(LANG_COOKIE, locale)
        manager.cookies.set(LANG_COOKIE, locale)
        page = admin.get("/settings")
        assert page.status_code == 200 and 'id="time-zone-form"' in page.text
        assert "settings." not in page.text.split("<main>", 1)[1]  # no raw keys
        bad = admin.post("/settings/time-zone", data={"time_zone": "Mars/Olympus"})
        assert bad.status_code == 422 and 'id="field-error-time_zone"' in bad.text
        assert 'value="Mars/Olympus"' in bad.text
        assert ("Time zone" if locale == "en" else "时区") in bad.text.split('id="form-errors"')[1]
        saved = admin.post(
            "/settings/time-zone", data={"time_zone": "Asia/Shanghai"}, follow_redirects=False
        )
        assert saved.status_code == 303
        done = admin.get(saved.headers["location"]).text
        assert saved_text in done or "done=unchanged" in saved.headers["location"]
        queue = manager.get("/alerts", params={"status": "any"}).text
        row = _alert_row(queue, alert.id)
        assert '2026-12-08</span> <span class="nw">01:30' in row, row
        assert '2026-12-08</span> <span class="nw">05:30' in row  # due, 4 hours later
        assert footer in queue
        case = manager.get(f"/cases/{alert.case_id}").text if alert.case_id else ""
        if case:
            assert re.search(
                r'class="raised-at"[^>]*title="2026-12-07 17:30:00 UTC">2026-12-08 01:30', case
            )
        # The API does not move.
        api = manager.get("/api/v1/alerts", params={"customer_id": ids["A"]}).json()
        assert any(a["raised_at"].startswith("2026-12-07T17:30") for a in api)
    # Others may not open or post the page.
    assert manager.get("/settings").status_code == 403
    assert manager.post("/settings/time-zone", data={"time_zone": "UTC"}).status_code == 403
    # The audit page shows the zone's time and the exact UTC instant.
    auditor = client_for("auditor")
    audit = auditor.get("/audit").text
    assert 'id="audit-when"' in audit and "Asia/Shanghai" in audit
    assert re.search(r'class="muted utc">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC', audit)


def test_due_today_ends_at_the_display_zones_midnight(db) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.home import service as home_service
    from riskdesk.kit.timeutil import zone

    ids = _setup(db)
    ingest(db, principal(db, "manager"), "invoices", [invoice("I1", "A", "5000.00", 45)])
    db.commit()
    alert = db.scalars(select(Alert).where(Alert.customer_id == ids["A"])).first()
    analyst = principal(db, "analyst")
    day = dt.date(2026, 12, 7)
    # Due at 17:00 UTC on the 7th: still the 7th in London, already 01:00 on the 8th in Shanghai.
    db.execute(
        update(Alert)
        .where(Alert.id == alert.id)
        .values(
            assigned_to_id=analyst.user_id,
            status="open",
            due_at=dt.datetime(2026, 12, 7, 17, 0, tzinfo=dt.UTC),
        )
    )
    db.commit()
    london = home_service.analyst_home(db, analyst, as_of=day, tz=zone("Europe/London"))
    shanghai = home_service.analyst_home(db, analyst, as_of=day, tz=zone("Asia/Shanghai"))
    assert london.queue.due_today == shanghai.queue.due_today + 1


def test_the_audit_pages_typed_times_are_on_the_display_clock(db, client_for) -> None:  # type: ignore[no-untyped-def]
    company_service.set_time_zone(db, principal(db, "admin"), "Asia/Shanghai")
    db.commit()
    auditor = client_for("auditor")
    page = auditor.get("/audit", params={"since": "2026-12-08T01:30"}).text
    # Shown back as typed, and carried on as the UTC instant it means.
    assert 'name="since" value="2026-12-08T01:30"' in page
    assert "since=2026-12-07T17%3A30%3A00%2B00%3A00" in page
    # The API reads a time without an offset as UTC, as it always did.
    api = auditor.get("/api/v1/audit-log", params={"since": "2026-12-08T01:30"})
    assert api.status_code == 200
