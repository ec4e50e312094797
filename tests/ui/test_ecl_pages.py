"""The expected credit loss pages in a real browser: a credit manager starts a run as a job
from /ecl, follows it to the report (matrix, roll rates, totals per segment, movement, the
chart of ECL by bucket), in English and in Chinese; readers without ecl:run get no button,
others no page.

Set RISKDESK_SCREENSHOTS to a directory to keep screenshots."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx2 as httpx
from playwright.sync_api import expect

from riskdesk.db import unit_of_work
from riskdesk.ecl import service as ecl_service
from riskdesk.ecl.schemas import AdjustmentIn
from riskdesk.models import Customer, Invoice, Payment
from riskdesk.security import service as security_service
from tests.ecl.test_matrix import INVOICES, PAYMENTS
from tests.ui.conftest import _FACTORIES, api_token, nav_click, new_context, shot
from tests.ui.test_journey import sign_in

SEGMENTS = {1: "b2b_sme", 2: "b2b_sme", 3: "b2b_enterprise", 4: "consumer", 5: "consumer"}


def _portfolio(base: str) -> None:
    """The hand-worked invoices of tests/ecl/test_matrix.py (every segment too small for
    rates of its own: all use the portfolio's)."""
    with unit_of_work(_FACTORIES[base]) as session:
        ids = {}
        for number, segment in SEGMENTS.items():
            customer = Customer(kind="company", company_name=f"测试客户{number}有限公司")
            customer.segment = segment
            session.add(customer)
            session.flush()
            ids[number] = customer.id
        invoices = {}
        for number, customer_no, issued, due, amount in INVOICES:
            invoice = Invoice(
                customer_id=ids[customer_no], source="erp", external_id=f"UI-ECL-I{number}",
                content_hash="0" * 64, amount=Decimal(str(amount)), currency="CNY",
                issue_date=issued, due_date=due,
            )  # fmt: skip
            session.add(invoice)
            session.flush()
            invoices[number] = invoice
        for n, (number, day, amount) in enumerate(PAYMENTS):
            invoice = invoices[number]
            session.add(
                Payment(
                    customer_id=invoice.customer_id, source="erp", external_id=f"UI-ECL-P{n}",
                    content_hash="0" * 64, invoice_id=invoice.id,
                    amount=Decimal(str(amount)), currency="CNY", paid_on=day,
                    method="bank_transfer",
                )
            )  # fmt: skip


def _approved_adjustment(base: str) -> None:
    """A consumer adjustment proposed by one credit manager and approved by the other."""
    with unit_of_work(_FACTORIES[base]) as session:
        author, approver = (
            security_service.system_principal(
                session, security_service.get_user_by_username_or_raise(session, name)
            )
            for name in ("manager", "manager2")
        )
        body = AdjustmentIn(
            segment="portfolio", multiplier=1.15, reason="Retail demand expected to weaken"
        )
        proposed = ecl_service.propose_adjustment(session, author, body)
        ecl_service.decide_adjustment(
            session, approver, proposed.id, approve=True, comment="agreed at the close meeting"
        )


def test_a_run_from_the_page_then_its_report_in_both_languages(  # type: ignore[no-untyped-def]
    page, browser, live_server: str
) -> None:
    _portfolio(live_server)
    sign_in(page, live_server, "manager")
    nav_click(page, "#nav-ecl")
    page.wait_for_url(f"{live_server}/ecl")
    expect(page.locator("#ecl-no-runs")).to_be_visible()
    page.fill("input[name=as_of]", "2026-06-30")
    page.fill("input[name=lookback_months]", "6")
    page.click("#run-ecl")
    page.wait_for_url(f"{live_server}/jobs/*")
    expect(page.locator("#job-status")).to_have_attribute("data-status", "done")
    page.click("#job-result-link")
    page.wait_for_url(re.compile(r".*/ecl/runs/\d+$"))
    first_url = page.url
    # 500 + 2,000 / 14 + 2,500
    expect(page.locator("#ecl-total")).to_have_text("3,142.86")
    expect(page.locator("#ecl-matrix")).to_contain_text("4.17%")  # 1/24, not yet due
    expect(page.locator("#ecl-no-previous")).to_be_visible()

    # A second run with an approved adjustment: its report shows the movement.
    _approved_adjustment(live_server)
    answer = httpx.post(
        f"{live_server}/api/v1/ecl/runs",
        json={"as_of": "2026-06-30", "lookback_months": 6},
        headers={"Authorization": f"Bearer {api_token(live_server, 'manager')}"},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    second = answer.json()["id"]
    page.goto(f"{live_server}/ecl/runs/{second}")
    expect(page.locator("#ecl-movement")).to_contain_text("+75.00")  # 91-180: 500 x 0.15
    chart = page.locator("#ecl-chart canvas")
    expect(chart).to_have_count(1)
    text = page.inner_text("main")
    assert "e+" not in text and "E+" not in text
    shot(page, "ecl-run-en")
    page.goto(f"{live_server}/ecl/runs/{second}?segment=consumer")
    expect(page.locator("#ecl-fallback")).to_be_visible()
    shot(page, "ecl-run-consumer-en")
    page.goto(f"{live_server}/ecl")
    expect(page.locator("#ecl-runs")).to_contain_text("3,142.86")
    shot(page, "ecl-en")
    assert first_url != page.url

    context = new_context(browser, "zh-CN")

    zh = context.new_page()
    try:
        sign_in(zh, live_server, "manager")
        zh.goto(f"{live_server}/ecl/runs/{second}")
        expect(zh.locator("#ecl-matrix")).to_contain_text("逾期 91–180 天")
        expect(zh.locator("#ecl-chart canvas")).to_have_count(1)
        body = zh.inner_text("main")
        for leak in ("ecl.", "over_180", "portfolio", "b2b_sme", "consumer", "approved"):
            assert leak not in body, leak
        shot(zh, "ecl-run-zh")
        zh.goto(f"{live_server}/ecl")
        body = zh.inner_text("main")
        assert "ecl." not in body and "approved" not in body
        expect(zh.locator("#ecl-adjustments")).to_contain_text("生效中")
        shot(zh, "ecl-zh")
    finally:
        context.close()


def test_readers_see_no_run_button_and_others_no_page(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server, "auditor")
    page.goto(f"{live_server}/ecl")
    expect(page.locator("h1")).to_have_text("Expected credit loss")
    expect(page.locator("#run-ecl")).to_have_count(0)
    expect(page.locator("#propose-adjustment")).to_have_count(0)
    page.context.clear_cookies()
    sign_in(page, live_server, "sales")
    expect(page.locator("#nav-ecl")).to_have_count(0)
    answer = page.goto(f"{live_server}/ecl")
    assert answer is not None and answer.status == 403
