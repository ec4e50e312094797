"""The browser journey: log in, search, open a credit file, change the limit, second user
approves; plus the language switch and a file import with its progress bar."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.ui.conftest import landing, nav_click

pytestmark = pytest.mark.browser


def sign_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    # Signing in lands on the role's home page; these tests start at the customer list.
    with page.expect_navigation(url=landing(username)):
        page.click("button[type=submit]")
    page.goto(f"{base}/customers")


def sign_out(page) -> None:  # type: ignore[no-untyped-def]
    nav_click(page, "#sign-out")
    page.wait_for_url(re.compile(r".*/login$"))


def test_change_limit_then_second_user_approves(page, live_server: str) -> None:
    sign_in(page, live_server, "analyst")
    page.fill("input[name=q]", "恒远")
    page.click("#search-button")
    expect(page.locator("#customers tbody tr")).to_have_count(1)
    page.click("#customers tbody tr a >> nth=1")
    page.wait_for_selector("#customer-name")
    assert page.inner_text("#customer-name") == "杭州恒远贸易有限公司"
    assert "100,000.00 CNY" in page.inner_text("#credit-limit")
    page.click("#edit-panel summary")
    page.fill("#credit_limit", "250000")
    page.fill("#change-reason", "annual review")
    page.click("#save-changes")
    page.wait_for_selector("#queued-message")
    assert "Credit limit" in page.inner_text("#queued-message")
    assert "100,000.00 CNY" in page.inner_text("#credit-limit")
    assert "250,000.00" in page.inner_text("#pending-changes")
    file_url = page.url.split("?")[0]
    sign_out(page)

    sign_in(page, live_server, "manager")
    nav_click(page, "#nav-approvals")
    card = page.locator(".pending-change", has_text="杭州恒远贸易有限公司")
    card.locator("input[name=comment]").fill("agreed")
    card.locator("button.approve").click()
    page.wait_for_selector("#approval-result")
    assert "approved" in page.inner_text("#approval-result").lower()
    page.goto(file_url)
    assert "250,000.00 CNY" in page.inner_text("#credit-limit")
    history = page.inner_text("#history")
    assert "Approved change" in history and "annual review" in history
    assert page.locator("#pending-changes").count() == 0


def test_own_change_cannot_be_approved_in_the_ui(page, live_server: str) -> None:
    sign_in(page, live_server, "manager2")
    page.fill("input[name=q]", "明达")
    page.click("#search-button")
    expect(page.locator("#customers tbody tr")).to_have_count(1)
    page.click("#customers tbody tr a >> nth=1")
    page.click("#edit-panel summary")
    page.fill("#credit_limit", "1")
    page.click("#save-changes")
    page.wait_for_selector("#queued-message")
    nav_click(page, "#nav-approvals")
    card = page.locator(".pending-change", has_text="上海明达科技有限公司")
    assert card.locator("button.approve").count() == 0
    assert "colleague" in card.inner_text()


def test_invalid_edit_names_the_field(page, live_server: str) -> None:
    sign_in(page, live_server, "analyst")
    page.goto(f"{live_server}/customers?q=明达")
    page.click("#customers tbody tr a >> nth=1")
    page.click("#edit-panel summary")
    page.fill("input[name=email]", "not-an-email")
    page.click("#save-changes")
    page.wait_for_selector("#form-errors")
    assert "Email" in page.inner_text("#form-errors")


def test_language_switch(page, live_server: str) -> None:
    sign_in(page, live_server, "analyst")
    assert page.inner_text("h1") == "Customers"
    page.click("#lang-switch")
    page.wait_for_selector("text=客户")
    assert page.inner_text("h1") == "客户"
    page.click("#lang-switch")
    expect(page.locator("h1")).to_have_text("Customers")


def test_import_page_with_progress(page, live_server: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import uscc

    rows = "\n".join(f"erp,IMP{i},company,导入测试{i}有限公司,{uscc()}" for i in range(50))
    csv = tmp_path / "customers.csv"
    csv.write_text("source,external_id,kind,name,tax_id\n" + rows + "\n", encoding="utf-8")
    sign_in(page, live_server, "manager")
    nav_click(page, "#nav-imports")
    page.select_option("#import-kind", "customers")
    page.set_input_files("#import-file", str(csv))
    page.click("#import-submit")
    page.wait_for_selector("#job-status[data-status=done]", timeout=30_000)
    assert page.inner_text("#count-created") == "50"
    assert page.get_attribute("#import-progress", "value") == "50"
    page.goto(f"{live_server}/customers?q=导入测试7有限公司")
    assert page.locator("#customers tbody tr").count() == 1


def test_add_contact_and_document_in_the_credit_file(page, live_server: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server, "analyst")
    page.goto(f"{live_server}/customers?q=明达")
    page.click("#customers tbody tr a >> nth=1")
    page.click("text=Add a contact")
    page.fill("#contact-form input[name=name]", "王五")
    page.fill("#contact-form input[name=phone]", "13900001111")
    page.click("#contact-form button[type=submit]")
    page.wait_for_selector("text=+8613900001111")
    pdf = tmp_path / "license.pdf"
    pdf.write_bytes(b"%PDF-1.4 licence")
    page.set_input_files("#document-form input[type=file]", str(pdf))
    page.fill("#document-form input[name=category]", "license")
    page.click("#document-form button[type=submit]")
    page.wait_for_selector("text=license.pdf")
    history = page.inner_text("#history")
    assert "Contact added" in history and "Document added" in history


def test_held_order_is_released_from_the_worklist(page, live_server: str) -> None:
    from tests.ui.conftest import api_token

    token = api_token(live_server, "analyst")
    import httpx2 as httpx

    response = httpx.post(
        f"{live_server}/api/v1/credit-checks",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "source": "erp",
            "order_external_id": "WL-1",
            "customer_external_id": "W2",
            "customer_source": "erp",
            "amount": "500000.00",
            "currency": "CNY",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["outcome"] == "hold"
    sign_in(page, live_server, "manager")
    nav_click(page, "#nav-worklist")
    card = page.locator(".held-order", has_text="WL-1")
    assert "exceeds the limit" in card.inner_text()
    card.locator("input[name=reason]").fill("strategic project approved by CFO")
    card.locator("button.release").click()
    page.wait_for_selector("#worklist-result")
    assert "released" in page.inner_text("#worklist-result").lower()
    page.goto(f"{live_server}/customers?q=明达")
    page.click("#customers tbody tr a >> nth=1")
    assert "WL-1" in page.inner_text("#decision-history")
    assert "500,000.00" in page.inner_text("#exposure-panel")
    page.wait_for_selector("#exposure-gauge canvas")


def test_group_limit_requested_then_approved_by_a_second_person(page, live_server: str) -> None:
    sign_in(page, live_server, "manager")
    nav_click(page, "#nav-groups")
    row = page.locator("#group-HY")
    assert "恒远集团" in row.inner_text()
    assert "no limit" in row.locator(".limit").inner_text()
    # Without a reason the request is refused, and the form says which field is missing.
    row.locator("input[name=credit_limit]").fill("800000")
    row.locator("button[type=submit]").click()
    assert "Reason" in page.inner_text("#form-errors")
    row = page.locator("#group-HY")
    assert row.locator("input[name=credit_limit]").input_value() == "800000"
    row.locator("input[name=reason]").fill("group accounts audited")
    row.locator("button[type=submit]").click()
    page.wait_for_selector("#groups-result")
    card = page.locator(".pending-group-change", has_text="恒远集团")
    assert "800,000.00" in card.inner_text()
    assert card.locator("button.approve").count() == 0  # not one's own
    sign_out(page)
    sign_in(page, live_server, "manager2")
    page.goto(f"{live_server}/groups")
    page.locator(".pending-group-change", has_text="恒远集团").locator("button.approve").click()
    page.wait_for_selector("#groups-result")
    assert "approved" in page.inner_text("#groups-result").lower()
    assert "800,000.00" in page.locator("#group-HY .limit").inner_text()
    assert page.locator("#group-changes-empty").is_visible()


def test_limit_request_from_the_credit_file_approved_by_a_colleague(page, live_server: str) -> None:
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/customers?q=恒远")
    page.click("#customers tbody tr a >> nth=1")
    panel = page.locator("#limit-panel")
    assert "no risk tier" in panel.inner_text()
    form = page.locator("#limit-request-form")
    form.locator("input[name=requested_limit]").fill("150000")
    form.locator("button").click()
    assert "Reason" in page.inner_text("#form-errors")  # a reason is required
    form = page.locator("#limit-request-form")
    form.locator("input[name=requested_limit]").fill("150000")
    form.locator("input[name=reason]").fill("annual contract signed")
    form.locator("button").click()
    page.wait_for_selector("#limit-requests")
    assert "pending" in page.inner_text("#limit-requests").lower()
    sign_out(page)
    sign_in(page, live_server, "manager2")
    nav_click(page, "#nav-limits")
    card = page.locator(".limit-request", has_text="annual contract signed")
    assert "150,000.00" in card.inner_text()
    card.locator("button.approve").click()
    page.wait_for_selector("#limits-result")
    assert "approved" in page.inner_text("#limits-result").lower()
    page.goto(f"{live_server}/customers?q=恒远")
    page.click("#customers tbody tr a >> nth=1")
    assert "150,000.00" in page.inner_text("#limit-current")


def test_overdue_review_is_signed_off_from_the_queue(page, live_server: str) -> None:
    import datetime as dt

    from sqlalchemy import update

    from riskdesk.db import unit_of_work
    from riskdesk.models import CreditProfile, CustomerExternalRef
    from tests.ui.conftest import _FACTORIES

    with unit_of_work(_FACTORIES[live_server]) as session:
        cid = (
            session.query(CustomerExternalRef.customer_id)
            .filter(CustomerExternalRef.external_id == "W2")
            .scalar()
        )
        session.execute(
            update(CreditProfile)
            .where(CreditProfile.customer_id == cid)
            .values(risk_tier="high", next_review_date=dt.date.today() - dt.timedelta(days=2))
        )
    sign_in(page, live_server, "analyst")
    nav_click(page, "#nav-reviews")
    row = page.locator(f"#due-{cid}")
    assert "overdue" in row.inner_text().lower()
    row.locator("button.start-review").click()
    page.wait_for_selector("#evidence")
    assert "Credit limit and policy" in page.inner_text("#evidence")
    page.click("#sign-off")
    assert "Comment" in page.inner_text("#form-errors")  # a comment is required
    page.fill("#review-comment", "raise it")
    page.select_option("#review-outcome", "limit_change")
    page.click("#sign-off")
    assert "new_limit is required" in page.inner_text("#form-errors")
    page.select_option("#review-outcome", "confirmed")
    page.fill("#review-comment", "paid on time all year")
    page.click("#sign-off")
    page.wait_for_selector("#review-signed")
    assert "paid on time all year" in page.inner_text("#review-signed")
    nav_click(page, "#nav-reviews")
    assert page.locator(f"#due-{cid}").count() == 0


def test_scorecard_draft_previewed_approved_and_run(page, live_server: str) -> None:
    import httpx2 as httpx

    from tests.scoring.test_service import card
    from tests.ui.conftest import api_token

    body = card("ui_card", name="UI scorecard", customer_kind=None)
    created = httpx.post(
        f"{live_server}/api/v1/scorecards",
        headers={"Authorization": f"Bearer {api_token(live_server, 'manager')}"},
        json=body,
    )
    assert created.status_code in (200, 201), created.text
    sign_in(page, live_server, "manager2")
    nav_click(page, "#nav-scorecards")
    section = page.locator("#scorecard-ui_card")
    assert "draft" in section.inner_text().lower()
    preview = section.locator(".preview")
    assert "customers under this draft" in preview.inner_text()
    section.locator("button.approve").click()
    page.wait_for_selector("#scorecards-result")
    assert "active" in page.inner_text("#scorecard-ui_card").lower()
    page.click("#run-scoring")
    # A background job: its page follows it until done, then links to the scorecards.
    page.wait_for_selector("#job-status[data-status=done]")
    assert "2" in page.inner_text("#job-figure-customers")
    page.click("#job-result-link")
    page.wait_for_selector("#last-run")
    assert "customers" in page.inner_text("#last-run")
    page.goto(f"{live_server}/customers?q=明达")
    page.click("#customers tbody tr a >> nth=1")
    assert "/ 1000" in page.inner_text("#score-panel")


def test_model_page_shows_validation_and_stability_and_promotes(page, live_server: str) -> None:
    import numpy as np
    import pandas as pd

    from riskdesk.db import unit_of_work
    from riskdesk.scoring import registry
    from riskdesk.security import service as security_service
    from tests.ui.conftest import _FACTORIES

    rng = np.random.default_rng(3)
    dpd = rng.integers(0, 120, 400).astype(float)
    paydex = rng.uniform(20, 100, 400)
    y = (rng.uniform(0, 1, 400) < 0.05 + dpd / 200).astype(int)
    with unit_of_work(_FACTORIES[live_server]) as session:
        analyst = security_service.get_user_by_username_or_raise(session, "analyst")
        version = registry.train(
            session,
            security_service.system_principal(session, analyst),
            name="ui_pd",
            family="lightgbm",
            X=pd.DataFrame({"dpd_max": dpd, "paydex": paydex}),
            y=y,
            data_source="test data",
            target="synthetic",
            folds=3,
        )
        vid = version.id
    sign_in(page, live_server, "analyst")
    nav_click(page, "#nav-models")
    assert "challenger" in page.inner_text(f"#model-{vid}").lower()
    # The family is named, not its code; a file or data source is shown as entered.
    assert "Gradient-boosted trees (LightGBM)" in page.inner_text(f"#model-{vid}")
    page.click(f"#model-{vid} a")
    assert "Fold 3" in page.inner_text("#model-metrics")
    page.wait_for_selector("#feature-psi tbody tr")
    page.click("#request-promotion")
    page.wait_for_selector("#promotion-pending")
    assert page.locator("#approve-promotion").count() == 0  # the analyst trained it
    sign_out(page)
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/models/{vid}")
    page.click("#approve-promotion")
    page.wait_for_selector("#model-result")
    assert "champion" in page.inner_text("#model-status").lower()


def test_overdue_invoice_alert_worked_from_the_queue(page, live_server: str) -> None:
    import datetime as dt

    import httpx2 as httpx

    from riskdesk.alerts import service as alert_service
    from riskdesk.db import unit_of_work
    from tests.ui.conftest import _FACTORIES, api_token

    with unit_of_work(_FACTORIES[live_server]) as session:
        alert_service.install_default_pack(session)
    day = dt.date.today()
    response = httpx.post(
        f"{live_server}/api/v1/invoices",
        headers={"Authorization": f"Bearer {api_token(live_server, 'analyst')}"},
        json={
            "source": "erp",
            "external_id": "ALERT-1",
            "customer_external_id": "W1",
            "customer_source": "erp",
            "amount": "3000.00",
            "currency": "CNY",
            "issue_date": (day - dt.timedelta(days=80)).isoformat(),
            "due_date": (day - dt.timedelta(days=50)).isoformat(),
        },
    )
    assert response.status_code in (200, 201), response.text
    sign_in(page, live_server, "analyst")
    page.click("text=Alerts")
    # The rule's code is the title's tooltip, not its text.
    new_overdue = page.locator(".alert-title[title='Rule code: new_overdue']")
    row = page.locator("#alert-queue tbody tr", has=new_overdue)
    assert "new_overdue" not in row.inner_text()
    assert "Days past due: the most overdue open invoice 50" in row.inner_text()
    row.locator("details.row-actions summary").click()  # the row's actions are in a menu
    row.locator("select[name=outcome]").select_option("false_alarm")
    row.locator("button.resolve").click()
    page.wait_for_selector("#alert-result")
    page.select_option("select[name=status]", "resolved")
    page.click("#alert-filters button")
    resolved = page.locator("#alert-queue tbody tr", has=new_overdue)
    assert "false alarm" in resolved.inner_text().lower()
    resolved.locator("a[href^='/customers/']").click()
    assert "Overdue beyond what is usual for the customer" in page.inner_text("#alert-panel")


def test_rule_editor_checks_backtests_and_a_colleague_approves(page, live_server: str) -> None:
    sign_in(page, live_server, "analyst")
    nav_click(page, "#nav-rules")
    page.click("#rule-editor summary")
    page.fill("input[name=code]", "ui_big_open")
    page.fill("input[name=name_en]", "Big open receivable")
    page.fill("input[name=name_zh]", "大额未收")
    page.fill("#rule-expression", "ar_open_totl > 1000")
    page.wait_for_selector("#check-error")
    assert "column 1" in page.inner_text("#check-error")
    page.fill("#rule-expression", "ar_open_total > 1000")
    page.wait_for_selector("#check-ok")
    assert "ar_open_total" in page.inner_text("#check-ok")
    page.click("#run-backtest")
    page.wait_for_selector("#backtest-summary")
    page.click("#save-rule")
    page.wait_for_selector("#rules-result")
    rule = page.locator("#rule-ui_big_open")
    assert "draft" in rule.inner_text().lower()
    assert rule.locator("button.approve").count() == 0  # the analyst wrote it
    sign_out(page)
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/rules")
    page.locator("#rule-ui_big_open button.approve").click()
    page.wait_for_selector("#rules-result")
    page.locator("#rule-ui_big_open button.activate").click()
    page.wait_for_selector("#rules-result")
    assert "active" in page.inner_text("#rule-ui_big_open").lower()


def test_case_page_complaint_desk_and_my_notification_settings(page, live_server: str) -> None:
    import datetime as dt

    import httpx2 as httpx

    from riskdesk.alerts import service as alert_service
    from riskdesk.customers import repository as customer_repo
    from riskdesk.db import unit_of_work
    from tests.ui.conftest import _FACTORIES, api_token

    with unit_of_work(_FACTORIES[live_server]) as session:
        alert_service.install_default_pack(session)
        w1 = customer_repo.customer_ids_by_ref(session, {("erp", "W1")})[("erp", "W1")]
    day = dt.date.today()
    response = httpx.post(
        f"{live_server}/api/v1/invoices",
        headers={"Authorization": f"Bearer {api_token(live_server, 'analyst')}"},
        json={"source": "erp", "external_id": "CASE-1", "customer_external_id": "W1",
              "amount": "3000.00", "currency": "CNY",
              "issue_date": (day - dt.timedelta(days=80)).isoformat(),
              "due_date": (day - dt.timedelta(days=50)).isoformat()},
    )  # fmt: skip
    assert response.status_code in (200, 201), response.text
    sign_in(page, live_server, "analyst")
    page.goto(f"{live_server}/alerts")
    page.locator("#alert-queue a.case-link[title='Rule code: new_overdue']").click()
    page.wait_for_url(re.compile(r".*/cases/\d+$"))
    alert = page.locator("article.alert-item", has_text="new_overdue")  # its reference line
    expect(alert.locator(".rule-ref")).to_have_text("Rule code: new_overdue")
    alert.locator("button.start").click()
    page.wait_for_url(re.compile(r".*/cases/\d+$"))
    expect(
        page.locator("article.alert-item", has_text="new_overdue").locator(".status")
    ).to_have_text("In progress")
    page.fill("#case-comment textarea[name=body]", "@manager please call them")
    page.click("#case-comment button[type=submit]")
    expect(page.locator("#timeline q.comment")).to_have_text("@manager please call them")
    assert "raised" in page.inner_text("#timeline").lower()

    # The complaint desk: a complaint taken on the phone, classified from its text, answered.
    page.click("a[href='/complaints']")
    page.click("#record-complaint summary")
    page.fill("#record-complaint input[name=customer_code]", f"C{w1}")
    page.fill("#record-complaint textarea[name=description]", "快递一周了还没收到，物流查不到")
    page.click("#record-complaint-submit")
    expect(page.locator("#complaint-result")).to_be_visible()
    row = page.locator("#complaint-desk tbody tr", has_text="快递一周")
    assert "Delivery" in row.inner_text()
    row.locator("input[name=response]").fill("已联系物流，明天送达")
    row.locator("button.respond").click()
    expect(
        page.locator("#complaint-desk tbody tr", has_text="快递一周").locator(".status")
    ).to_have_text("In progress")
    # The same form sent twice (a double click) records one complaint.
    fields = {
        name: page.locator(f"#record-complaint [name={name}]").input_value()
        for name in ("csrf_token", "form_key", "taken_at")
    }
    twice = fields | {"customer_code": f"C{w1}", "description": "发票金额多收了两次"}
    twice["severity"] = "low"
    for _ in range(2):
        sent = page.request.post(f"{live_server}/complaints/new", form=twice)
        assert sent.ok
    page.reload()
    assert page.locator("#complaint-desk tbody tr", has_text="发票金额多收了两次").count() == 1
    # A bad customer code is named.
    page.click("#record-complaint summary")
    page.fill("#record-complaint input[name=customer_code]", "C999999")
    page.fill("#record-complaint textarea[name=description]", "坏了")
    page.click("#record-complaint-submit")
    assert "Customer code" in page.inner_text("#form-errors")  # the field, by its label

    # A satisfaction answer taken on the phone: out of range is named, then recorded.
    page.click("#record-survey summary")
    page.fill("#record-survey input[name=customer_code]", f"C{w1}")
    page.fill("#record-survey input[name=score]", "9")
    page.click("#record-survey-submit")
    assert "between 1 and 5" in page.inner_text("#form-errors")
    page.fill("#record-survey input[name=score]", "2")
    page.fill("#record-survey textarea[name=comment]", "送货太慢")
    page.click("#record-survey-submit")
    expect(page.locator("#complaint-result")).to_have_text("Satisfaction answer recorded.")

    # My settings: e-mail needs an address; the rest is saved.
    nav_click(page, "#my-notifications")
    page.check("#notification-settings input[name=email]")
    page.click("#save-settings")
    assert "e-mail address" in page.inner_text("#form-errors")
    page.uncheck("#notification-settings input[name=email]")
    page.select_option("#notification-settings select[name=min_severity]", "high")
    page.click("#save-settings")
    expect(page.locator("#settings-saved")).to_be_visible()
    expect(page.locator("#notification-settings select[name=min_severity]")).to_have_value("high")

    # The credit file shows the complaint and the churn panel.
    page.goto(f"{live_server}/customers/{w1}")
    assert "Delivery" in page.inner_text("#customer-complaints")
    expect(page.locator("#csat-latest")).to_have_text("2")
    assert "送货太慢" in page.inner_text("#survey-answers")
    expect(page.locator("#churn-none")).to_be_visible()


def test_playbook_editor_changes_steps_and_names_bad_parameters(page, live_server: str) -> None:
    from riskdesk.alerts import playbooks as playbook_service
    from riskdesk.alerts import service as alert_service
    from riskdesk.db import unit_of_work
    from tests.ui.conftest import _FACTORIES

    with unit_of_work(_FACTORIES[live_server]) as session:
        alert_service.install_default_pack(session)
        playbook_service.install_defaults(session)
    sign_in(page, live_server, "analyst")
    page.goto(f"{live_server}/playbooks")
    page.locator("#playbook-ageing a.edit").click()
    page.wait_for_selector("#playbook-editor[open]")
    # The third step is the limit cut (30%); 150% is refused, naming the steps.
    page.fill("input[name=step_percent_2]", "150")
    page.click("#save-playbook")
    assert "between 1 and 100" in page.inner_text("#form-errors")
    page.fill("input[name=step_percent_2]", "20")
    page.select_option("select[name=step_action_3]", "shorten_terms")
    page.fill("input[name=step_days_3]", "10")
    page.click("#save-playbook")
    expect(page.locator("#playbook-saved")).to_be_visible()
    steps = page.inner_text("#playbook-ageing")
    assert "Reduce the limit (by 20%)" in steps and "Shorten terms (by 10 days)" in steps


def test_admin_registers_a_webhook_sees_its_secret_once_and_the_delivery_log(
    page, live_server: str
) -> None:
    sign_in(page, live_server, "admin")
    nav_click(page, "#nav-integrations")
    page.fill("#new-webhook input[name=url]", "ftp://nowhere")
    page.fill("#new-webhook input[name=name]", "erp")
    page.click("#add-webhook")
    assert "Address (URL)" in page.inner_text("#form-errors")
    # Loopback and private addresses are refused (the server's own services, its network).
    page.fill("#new-webhook input[name=url]", "http://127.0.0.1:9/hook")
    page.click("#add-webhook")
    assert "loopback" in page.inner_text("#form-errors")
    # A name that resolves nowhere (.invalid): the test call fails and waits for its retry.
    page.fill("#new-webhook input[name=url]", "http://erp.invalid/hook")
    page.click("#add-webhook")
    secret = page.inner_text("#webhook-secret code")
    assert len(secret) >= 40
    page.goto(f"{live_server}/integrations")
    assert secret not in page.content()
    page.locator("#webhooks tr", has_text="erp").locator("button.ping").click()
    expect(page.locator("#integration-result")).to_be_visible()
    assert "pending" in page.inner_text("#deliveries").lower()
    page.locator("#webhooks tr", has_text="erp").locator("button.disable").click()
    expect(page.locator("#webhooks tr", has_text="erp")).to_contain_text(
        re.compile("inactive", re.IGNORECASE)
    )


def test_sales_sees_masked_data_reveals_one_value_and_the_auditor_finds_it(
    page, live_server: str
) -> None:
    import httpx2 as httpx

    from tests.factories import person
    from tests.ui.conftest import api_token

    record = person(
        "UI-PII", phone="13912345671", owner="sales", address="上海市徐汇区漕溪北路88号"
    )
    made = httpx.post(
        f"{live_server}/api/v1/customers",
        json=record,
        headers={"Authorization": f"Bearer {api_token(live_server, 'manager')}"},
    )
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    sign_in(page, live_server, "sales")
    page.goto(f"{live_server}/customers/{cid}")
    expect(page.locator("#pii-phone")).to_have_text("+86139****5671")
    assert "13912345671" not in page.content()
    # The edit form does not carry the masked value back: saving it changes nothing.
    form = page.locator(".reveal-form", has=page.locator("input[value=phone]"))
    form.locator("input[name=reason]").fill("customer called back")
    form.locator("button").click()
    expect(page.locator("#pii-phone")).to_have_text("+8613912345671")
    expect(page.locator("#pii-address")).to_contain_text("****")
    sign_out(page)

    sign_in(page, live_server, "auditor")
    nav_click(page, "#nav-audit")
    page.select_option("#audit-filters select[name=action]", "reveal")
    page.click("#apply-filters")
    row = page.locator("#audit-entries tr.entry").first
    expect(row.locator(".actor")).to_have_text("sales")
    expect(row.locator(".detail")).to_contain_text("customer called back")
    page.click("#verify-chain")
    expect(page.locator("#verification")).to_contain_text("The chain is whole")
    with page.expect_download() as download:
        page.click("#export-csv")
    text = download.value.path().read_text(encoding="utf-8")
    assert text.startswith("seq,at,actor") and "reveal" in text and "13912345671" not in text


def test_privacy_panel_consent_hold_erasure_and_export(page, live_server: str) -> None:
    import json

    import httpx2 as httpx

    from tests.factories import person
    from tests.ui.conftest import api_token

    made = httpx.post(
        f"{live_server}/api/v1/customers",
        json=person("UI-DSR", phone="13912345699", consents=[]),
        headers={"Authorization": f"Bearer {api_token(live_server, 'manager')}"},
    )
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/customers/{cid}")
    expect(page.locator("#consent-credit_assessment .state")).to_contain_text("Not recorded")
    form = page.locator("#consent-form")
    form.locator("select[name=purpose]").select_option("credit_assessment")
    form.locator("input[name=notice_version]").fill("2026-03")
    page.click("#record-consent")
    expect(page.locator("#consent-credit_assessment .state")).to_have_text("Granted")
    with page.expect_download() as download:
        page.click("#subject-export")
    exported = json.loads(download.value.path().read_text(encoding="utf-8"))
    assert exported["tables"]["customers"][0]["phone"] == "+8613912345699"
    page.fill("#hold-form input[name=reason]", "dispute with the shop")
    page.click("#place-hold")
    from riskdesk.customers.repository import customer_code

    code = customer_code(cid)
    page.fill("#erasure-form input[name=reason]", "the person asked")
    page.fill("#erasure-confirm", code)
    page.click("#erase")
    expect(page.locator("#form-errors")).to_contain_text("legal hold")
    sign_out(page)  # a colleague lifts the hold
    sign_in(page, live_server, "manager2")
    page.goto(f"{live_server}/customers/{cid}")
    page.locator("#legal-holds button.release-hold").click()
    # Erasure cannot be undone: it needs the customer's code typed, checked by the server.
    page.fill("#erasure-form input[name=reason]", "the person asked")
    page.fill("#erasure-confirm", "C0000000")
    page.click("#erase")
    expect(page.locator("#form-errors")).to_contain_text("Customer code (confirmation)")
    expect(page.locator("#erased-note")).to_have_count(0)
    page.fill("#erasure-form input[name=reason]", "the person asked")
    page.fill("#erasure-confirm", code.lower())
    page.click("#erase")
    expect(page.locator("#erased-note")).to_be_visible()
    assert "13912345699" not in page.content()
