"""The display time zone in a real browser, in English and in Chinese: an administrator sets it
on the settings page (a wrong name is refused on its field), and an analyst sees a known alert's
raised and due times move to that clock in the queue and on its case, with the zone named in
the page's footer and the exact UTC instant in a title; the audit log shows both.

Set RISKDESK_SCREENSHOTS to a directory to keep screenshots."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from riskdesk.alerts import service as alert_service
from riskdesk.config import get_settings
from riskdesk.db import unit_of_work
from riskdesk.models import Alert
from riskdesk.pipeline import intake, processing
from riskdesk.security import service as security_service
from tests.monitoring.test_alerts import invoice
from tests.ui.conftest import _FACTORIES, nav_click, new_context, shot
from tests.ui.test_journey import sign_in

pytestmark = pytest.mark.browser
RAISED = dt.datetime(2026, 12, 7, 17, 30, tzinfo=dt.UTC)  # 01:30 on the 8th in Shanghai
DUE = RAISED + dt.timedelta(hours=4)
# (locale, zone set, raised as shown, due as shown, footer, saved banner)
CASES = (
    (
        "en-US",
        "Asia/Shanghai",
        "2026-12-08 01:30",
        "2026-12-08 05:30",
        "Times are shown in Asia/Shanghai (UTC+08:00)",
        "The display time zone is saved",
    ),
    (
        "zh-CN",
        "Europe/Berlin",
        "2026-12-07 18:30",
        "2026-12-07 22:30",
        "时间按 Europe/Berlin（UTC+0",
        "显示时区已保存",
    ),
)


@pytest.fixture(scope="module")
def known_alert(live_server: str) -> int:
    """An alert on W1 raised at a known instant, due four hours later."""
    factory = _FACTORIES[live_server]
    with unit_of_work(factory) as session:
        alert_service.install_default_pack(session)
        manager = security_service.get_user_by_username_or_raise(session, "manager")
        principal = security_service.system_principal(session, manager)
        intake.ingest(session, principal, "invoices", [invoice("TZ-1", "W1", "5000.00", 45)])
        processing.process_now(session, get_settings())
    with unit_of_work(factory) as session:
        alert = session.scalars(select(Alert).order_by(Alert.id)).first()
        assert alert is not None
        analyst = security_service.get_user_by_username_or_raise(session, "analyst")
        session.execute(
            update(Alert)
            .where(Alert.id == alert.id)
            .values(raised_at=RAISED, last_hit_at=RAISED, due_at=DUE, assigned_to_id=analyst.id)
        )
        return alert.id


def _set_zone(page, base: str, name: str, saved: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/home/admin")
    page.click("#time-zone-change")
    page.fill("#time-zone-input", "Asia/Beijing")  # not an IANA name
    page.click("#save-time-zone")
    expect(page.locator("#field-error-time_zone")).to_be_visible()
    expect(page.locator("#time-zone-input")).to_have_value("Asia/Beijing")
    page.fill("#time-zone-input", name)
    page.click("#save-time-zone")
    expect(page.locator("#settings-done")).to_contain_text(saved)
    expect(page.locator("#current-zone")).to_contain_text(name)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_an_admin_sets_the_zone_and_an_alerts_times_move(  # type: ignore[no-untyped-def]
    browser, live_server: str, known_alert: int, case: tuple[str, ...]
) -> None:
    locale, name, raised, due, footer, saved = case
    context = new_context(browser, locale)
    admin = context.new_page()
    sign_in(admin, live_server, "admin")
    _set_zone(admin, live_server, name, saved)
    shot(admin, f"settings-time-zone-{locale}")
    context.close()

    context = new_context(browser, locale)
    page = context.new_page()
    sign_in(page, live_server, "analyst")
    page.goto(f"{live_server}/alerts?status=any")
    row = page.locator(f"#alert-{known_alert}")
    expect(row.locator("td.stamp").first).to_have_text(raised)
    expect(row.locator("td.due")).to_have_text(due)
    expect(row.locator("td.due")).to_have_attribute("title", "2026-12-07 21:30:00 UTC")
    expect(page.locator("#time-zone-note")).to_contain_text(footer)
    shot(page, f"alerts-time-zone-{locale}")
    case_link = row.locator("a.case-link")
    if case_link.count():
        case_link.click()
        expect(page.locator("time.raised-at")).to_have_text(raised)
        expect(page.locator("time.raised-at")).to_have_attribute("title", "2026-12-07 17:30:00 UTC")
        shot(page, f"case-time-zone-{locale}")
    context.close()

    # The auditor reads the change itself on the zone's clock, with its exact UTC instant.
    context = new_context(browser, locale)
    page = context.new_page()
    sign_in(page, live_server, "auditor")
    page.goto(f"{live_server}/audit")
    expect(page.locator("#audit-when")).to_contain_text(name)
    expect(page.locator("#audit-entries td.when .utc").first).to_contain_text("UTC")
    shot(page, f"audit-time-zone-{locale}")
    context.close()


PAGES = (
    ("admin", "/home/admin", "home-admin"),
    ("admin", "/users", "users"),
    ("admin", "/tokens", "tokens"),
    ("manager", "/customers/1", "credit-file"),
    ("manager", "/customers/1/report", "credit-report"),
    ("analyst", "/home/analyst", "home-analyst"),
    ("auditor", "/home/auditor", "home-auditor"),
)


@pytest.mark.parametrize("locale", ("en-US", "zh-CN"))
def test_the_pages_with_times_name_their_clock(  # type: ignore[no-untyped-def]
    browser, live_server: str, known_alert: int, locale: str
) -> None:
    for username, path, name in PAGES:
        context = new_context(browser, locale)
        page = context.new_page()
        sign_in(page, live_server, username)
        answer = page.goto(f"{live_server}{path}")
        assert answer is not None and answer.status == 200, path
        if name != "credit-report":  # a printed page names the offset after each time instead
            expect(page.locator("#time-zone-note")).to_be_visible()
        shot(page, f"tz-{name}-{locale}")
        context.close()


@pytest.mark.parametrize("locale", ("en-US", "zh-CN"))
def test_a_user_picks_their_own_zone_and_only_their_times_move(  # type: ignore[no-untyped-def]
    browser, live_server: str, known_alert: int, locale: str
) -> None:
    context = new_context(browser, locale)
    page = context.new_page()
    sign_in(page, live_server, "analyst")
    page.goto(f"{live_server}/alerts?status=any")
    nav_click(page, "#my-settings")  # the user menu
    default = "Company default (" if locale == "en-US" else "公司默认（"
    expect(page.locator("#my-time-zone-select option").first).to_contain_text(default)
    page.select_option("#my-time-zone-select", "Asia/Tokyo")
    page.click("#save-my-time-zone")
    expect(page.locator("#my-settings-done")).to_be_visible()
    expect(page.locator("#my-zone-in-use")).to_contain_text("Asia/Tokyo")
    page.goto(f"{live_server}/alerts?status=any")
    row = page.locator(f"#alert-{known_alert}")
    expect(row.locator("td.stamp").first).to_have_text("2026-12-08 02:30")  # UTC+09:00
    own = "your own setting" if locale == "en-US" else "您的个人设置"
    expect(page.locator("#time-zone-note")).to_contain_text(
        "Asia/Tokyo (UTC+09:00)" if locale == "en-US" else "Asia/Tokyo（UTC+09:00）"
    )
    expect(page.locator("#time-zone-note")).to_contain_text(own)
    shot(page, f"alerts-own-time-zone-{locale}")
    # A colleague keeps the company's clock.
    other = new_context(browser, locale)
    theirs = other.new_page()
    sign_in(theirs, live_server, "manager")
    theirs.goto(f"{live_server}/alerts?status=any")
    expect(theirs.locator("#time-zone-note")).not_to_contain_text("Asia/Tokyo")
    other.close()
    # Back to the company default.
    page.goto(f"{live_server}/me/settings")
    page.select_option("#my-time-zone-select", "")
    page.click("#save-my-time-zone")
    expect(page.locator("#my-zone-in-use")).not_to_contain_text("Asia/Tokyo")
    context.close()
