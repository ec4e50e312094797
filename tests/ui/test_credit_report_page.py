"""The credit report in a real browser: the button on the credit file offers the PDF and the
print view; the print view reads in both languages and prints without the menu.

Set RISKDESK_SCREENSHOTS to a directory to keep screenshots (and the PDFs)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from playwright.sync_api import expect

from riskdesk.config import get_settings
from riskdesk.customers import repository as customer_repo
from riskdesk.db import unit_of_work
from riskdesk.kit.timeutil import today
from riskdesk.pipeline import intake, processing
from riskdesk.security import service as security_service
from tests.ui.conftest import _FACTORIES, SHOTS, shot
from tests.ui.test_journey import sign_in


def ago(n: int) -> str:
    return (today() - dt.timedelta(days=n)).isoformat()


def _enriched(base: str) -> int:
    """W1 with invoices, statements and a bureau report; its id."""
    with unit_of_work(_FACTORIES[base]) as session:
        user = security_service.get_user_by_username_or_raise(session, "manager")
        principal = security_service.system_principal(session, user)
        ids = customer_repo.customer_ids_by_ref(session, {("erp", "W1")})
        invoices = [
            {"source": "erp", "external_id": f"WI{i}", "customer_external_id": "W1",
             "amount": amount, "currency": "CNY", "issue_date": ago(due + 30),
             "due_date": ago(due)}
            for i, (amount, due) in enumerate(
                [("86000.00", 50), ("24500.00", 5), ("12000.00", -25)]
            )
        ]  # fmt: skip
        intake.ingest(session, principal, "invoices", invoices)
        statement = {
            "customer_external_id": "W1", "customer_source": "erp", "currency": "CNY",
            "period_end": ago(300), "total_assets": "2400000", "current_assets": "1300000",
            "current_liabilities": "900000", "retained_earnings": "350000", "ebit": "210000",
            "equity": "1100000", "total_liabilities": "1300000", "revenue": "5200000",
            "net_income": "150000", "cash": "260000",
        }  # fmt: skip
        intake.ingest(session, principal, "statements", [statement])
        bureau = {
            "customer_external_id": "W1", "customer_source": "erp", "source": "bureau",
            "external_id": "WB1", "report_date": ago(15), "score": 702,
            "recommended_limit": "200000.00", "payload": {"lawsuits": 0, "rating": "BBB"},
        }  # fmt: skip
        intake.ingest(session, principal, "credit_reports", [bureau])
        processing.process_now(session, get_settings())
        return ids[("erp", "W1")]


def test_the_credit_file_offers_the_report_in_both_languages(
    page, zh_page, live_server: str
) -> None:  # type: ignore[no-untyped-def]
    customer_id = _enriched(live_server)
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/customers/{customer_id}")
    page.click("#credit-report-button")
    pdf_link = page.locator("#credit-report-pdf")
    expect(pdf_link).to_be_visible()
    shot(page, "credit-file-report-menu-en")
    answer = page.request.get(f"{live_server}{pdf_link.get_attribute('href')}")
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.body().startswith(b"%PDF-")
    with page.context.expect_page() as opened:
        page.click("#credit-report-print")
    report = opened.value
    report.wait_for_load_state()
    expect(report.locator("h1")).to_have_text("Customer credit report")
    expect(report.locator("#report-altman")).to_contain_text("Z″ (non-manufacturer)")
    expect(report.locator("#report-ageing")).to_contain_text("86,000.00 CNY")
    expect(report.locator(".topbar")).to_be_visible()
    shot(report, "credit-report-en")
    report.emulate_media(media="print")
    expect(report.locator(".topbar")).to_be_hidden()
    expect(report.locator("#report-tools")).to_be_hidden()
    shot(report, "credit-report-en-print")
    # Chromium's own print of the page: A4, a page per section (see report.css).
    printed = report.pdf(format="A4", print_background=True)
    assert printed.startswith(b"%PDF-")
    if SHOTS:
        Path(SHOTS, "credit-report-en-printed-by-chromium.pdf").write_bytes(printed)

    sign_in(zh_page, live_server, "manager")
    zh_page.goto(f"{live_server}/customers/{customer_id}")
    expect(zh_page.locator("#credit-report-button")).to_have_text("信用报告")
    zh_page.goto(f"{live_server}/customers/{customer_id}/report")
    expect(zh_page.locator("h1")).to_have_text("客户信用报告")
    body = zh_page.locator("#credit-report").inner_text()
    for english in ("non-manufacturer", "Not yet due", "annual", "Company"):
        assert english not in body, english
    assert "逾期 31-60 天" in body and "非制造企业" in body
    shot(zh_page, "credit-report-zh")
    if SHOTS:
        for lang in ("zh-CN", "en"):
            url = f"{live_server}/api/v1/customers/{customer_id}/report.pdf?lang={lang}"
            Path(SHOTS, f"credit-report-{lang}.pdf").write_bytes(zh_page.request.get(url).body())
