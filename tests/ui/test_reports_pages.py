"""The rating migration on the portfolio page and the reports page in a real browser: the
matrix drawn and its cells linking to the customer list, the committee pack downloaded as PDF
and .xlsx from the page's form, and a subscription taken and dropped. Set RISKDESK_SCREENSHOTS
to a directory to keep full-page shots (and the downloaded pack)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from riskdesk.db import unit_of_work
from riskdesk.models.customers import customer_code
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role
from tests.conftest import PASSWORD
from tests.portfolio.scores import seed_scores
from tests.portfolio.seed import Book, seed
from tests.reports.pack_seed import seed_pack
from tests.ui.conftest import _FACTORIES, nav_click, new_context, shot
from tests.ui.test_error_pages import _sign_in

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("RISKDESK_SCREENSHOTS")


@pytest.fixture(scope="module")
def book(live_server: str) -> Book:
    """The hand-made portfolio with its scores, alerts and ECL runs, written once."""
    with unit_of_work(_FACTORIES[live_server]) as session:
        security_service.create_user(
            session,
            username="sales2",
            display_name="sales2",
            role=Role.SALES,
            password=PASSWORD,
            team="north",
        )
        found = seed(session)
        seed_scores(session, found)
        seed_pack(session, found)
        return found


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_migration_and_reports(browser, live_server: str, book: Book, locale: str) -> None:  # type: ignore[no-untyped-def]
    context = new_context(browser, "zh-CN" if locale == "zh-CN" else "en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in(page, live_server, "manager")

    page.goto(f"{live_server}/portfolio?quarter=2026Q3")
    section = page.locator("#section-migration")
    assert section.is_visible()
    title = {"zh-CN": "评级迁移", "en": "Rating migration"}[locale]
    assert section.locator("h2").inner_text() == title
    assert page.inner_text("#migration-upgraded") == "33.3%"
    cell = page.locator('#migration-matrix td[data-from="A"][data-to="CCC"]')
    assert cell.inner_text().strip() == "1"
    assert "rgba(176,42,55" in (cell.get_attribute("style") or "")  # a downgrade: red
    section.scroll_into_view_if_needed()
    shot(page, f"migration-{locale}")
    with page.expect_navigation(
        url=re.compile(r".*/customers\?rating_from=A&rating=CCC&quarter=2026Q3$")
    ):
        cell.locator("a").click()
    # The cell's one customer: c, A at the end of Q2 and CCC at the end of Q3.
    codes = page.locator("#customer-table tbody td:first-child a").all_inner_texts()
    assert codes == [customer_code(book.c)]
    assert page.locator("#drilldown-rating").count() == 1
    shot(page, f"migration-cell-{locale}")

    nav_click(page, "#nav-reports")
    page.wait_for_url(f"{live_server}/reports")
    assert page.inner_text("h1") == {"zh-CN": "报表", "en": "Reports"}[locale]
    shot(page, f"reports-{locale}")
    month = page.locator("#pack-month option").nth(0).get_attribute("value")  # this month
    page.select_option("#pack-month", month)
    for button, suffix in (("#pack-pdf", "pdf"), ("#pack-xlsx", "xlsx")):
        with page.expect_download() as info:
            page.click(button)
        download = info.value
        stem = "授信委员会月度报告" if locale == "zh-CN" else "credit-committee-pack"
        assert download.suggested_filename == f"{stem}-{month}.{suffix}"
        if SHOTS:
            saved = Path(SHOTS) / f"committee-pack-{locale}.{suffix}"
            download.save_as(str(saved))
            if suffix == "pdf":  # Chromium's own viewer draws the pages: a look at each
                viewer = context.new_page()
                for number in range(1, 6):
                    viewer.goto(f"file://{saved}#page={number}")
                    viewer.wait_for_timeout(1500)
                    viewer.screenshot(path=str(saved.with_name(f"{saved.stem}-p{number}.png")))
                viewer.close()
        head = Path(download.path()).read_bytes()[:4]
        assert head == (b"%PDF" if suffix == "pdf" else b"PK\x03\x04")

    page.click("#subscription-committee-pack button[value=subscribe]")
    page.wait_for_url(re.compile(r".*/reports\?done=subscribed$"))
    assert page.locator("#subscribed-committee-pack").is_visible()
    shot(page, f"reports-subscribed-{locale}")
    page.click("#subscription-committee-pack button[value=unsubscribe]")
    page.wait_for_url(re.compile(r".*/reports\?done=unsubscribed$"))
    assert page.locator("#subscription-committee-pack button[value=subscribe]").is_visible()
    main = page.inner_text("main")
    assert not re.search(r"\b(reports|pack|migration)\.[a-z_]+", main)
    assert errors == []
    context.close()
