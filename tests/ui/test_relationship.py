"""The relationship view in a real browser, in both languages: a salesperson logs a call with
notes and a next step on a credit file, sees it on the timeline, finds it by a word of its
notes, and cannot find the notes of another team's customer. Contracts show on the file. Set
RISKDESK_SCREENSHOTS to a directory to keep the shots."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from riskdesk.config import get_settings
from riskdesk.customers import repository as customer_repo
from riskdesk.db import unit_of_work
from riskdesk.kit.timeutil import utcnow
from riskdesk.pipeline import intake, processing
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role
from tests.conftest import PASSWORD
from tests.factories import company
from tests.ui.conftest import _FACTORIES, landing, shot

pytestmark = pytest.mark.browser

_SEEDED: dict[str, dict[str, int]] = {}


@pytest.fixture
def seeded(live_server: str) -> dict[str, int]:
    """A customer of team east (sales) with a contract, one of team north (sales2) whose notes
    mention 扩产 (once per live server)."""
    if live_server in _SEEDED:
        return _SEEDED[live_server]
    with unit_of_work(_FACTORIES[live_server]) as session:
        security_service.create_user(
            session, username="sales2", display_name="sales2", role=Role.SALES,
            password=PASSWORD, team="north",
        )  # fmt: skip
        manager = security_service.get_user_by_username_or_raise(session, "manager")
        principal = security_service.system_principal(session, manager)
        intake.ingest(session, principal, "customers", [
            company("RL1", name="苏州远航机械有限公司", owner="sales"),
            company("RL2", name="青岛北辰物流有限公司", owner="sales2"),
        ])  # fmt: skip
        ids = customer_repo.customer_ids_by_ref(session, {("erp", "RL1"), ("erp", "RL2")})
        today = utcnow().date()
        records: list[dict[str, Any]] = [
            {"source": "erp", "external_id": "HT-2026-001", "customer_external_id": "RL1",
             "signed_on": (today - dt.timedelta(days=400)).isoformat(),
             "start_date": (today - dt.timedelta(days=380)).isoformat(),
             "end_date": (today - dt.timedelta(days=15)).isoformat(), "value": "1250000.00",
             "currency": "CNY", "payment_terms_days": 60, "fulfilment_status": "fulfilled"},
            {"source": "erp", "external_id": "HT-2026-014", "customer_external_id": "RL1",
             "signed_on": (today - dt.timedelta(days=20)).isoformat(),
             "start_date": (today - dt.timedelta(days=10)).isoformat(),
             "end_date": (today + dt.timedelta(days=355)).isoformat(), "value": "3600000.00",
             "currency": "CNY", "payment_terms_days": 45, "fulfilment_status": "in_progress"},
        ]  # fmt: skip
        intake.ingest(session, principal, "contracts", records)
        intake.ingest(session, principal, "interactions", [
            {"source": "crm", "external_id": "N-1", "customer_external_id": "RL2",
             "customer_source": "erp", "channel": "visit",
             "occurred_at": (utcnow() - dt.timedelta(days=1)).isoformat(),
             "kind": "account_review", "note": "北区客户计划扩产，需要追加额度 expansion"},
        ])  # fmt: skip
        processing.process_now(session, get_settings())
        found = {"east": ids[("erp", "RL1")], "north": ids[("erp", "RL2")]}
    _SEEDED[live_server] = found
    return found


def _sign_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation(url=landing(username)):
        page.click("button[type=submit]")


CASES = {
    "en": {
        "note": "Promised to pay the three open invoices on Friday; wants a statement",
        "word": "statement",
        "step": "Call the finance director on Friday morning",
        "type": "Call · Collection",
        "logged": "Interaction logged.",
        "in_force": "In force",
        "ended": "Ended",
        "none": "No interaction's notes hold these words.",
    },
    "zh": {
        "note": "客户承诺周五付清三张未结发票，并要求对账单",
        "word": "对账单",
        "step": "周五上午致电财务总监确认",
        "type": "电话 · 催收",
        "logged": "已登记沟通记录。",
        "in_force": "生效中",
        "ended": "已到期",
        "none": "没有沟通记录包含这些词语。",
    },
}


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_log_a_call_see_it_on_the_timeline_and_search_it(  # type: ignore[no-untyped-def]
    page, zh_page, live_server: str, seeded: dict[str, int], locale: str
) -> None:
    tab = zh_page if locale == "zh" else page
    words = CASES[locale]
    _sign_in(tab, live_server, "sales")
    tab.goto(f"{live_server}/customers/{seeded['east']}")
    contracts = tab.inner_text("#contracts")
    assert "HT-2026-014" in contracts and "3,600,000.00 CNY" in contracts
    assert words["in_force"] in contracts and words["ended"] in contracts

    tab.click("#log-interaction summary")
    tab.select_option("#interaction-channel", "phone")
    tab.select_option("#interaction-kind", "collection")
    tab.fill("#interaction-note", words["note"])
    tab.fill("#interaction-next-step", words["step"])
    tab.fill("#interaction-next-step-on", (utcnow() + dt.timedelta(days=4)).date().isoformat())
    shot(tab, f"relationship-log-form-{locale}")
    with tab.expect_navigation(url="**interaction=logged**"):
        tab.click("#log-interaction-submit")
    assert words["logged"] in tab.inner_text("#interaction-logged")
    first = tab.locator("#interaction-timeline li.interaction").first
    assert words["note"] in first.inner_text() and words["step"] in first.inner_text()
    assert words["type"] in first.inner_text() and "sales" in first.inner_text()
    tab.locator("#relationship-panel").scroll_into_view_if_needed()
    shot(tab, f"relationship-credit-file-{locale}")

    # Search the notes of this customer, then of all my customers.
    tab.goto(f"{live_server}/customers/{seeded['east']}")
    tab.fill("#interaction-search input[name=q]", words["word"])
    with tab.expect_navigation():
        tab.click("#interaction-search button")
    assert tab.locator("#interaction-timeline li.interaction").count() == 1
    assert words["note"] in tab.inner_text("#interaction-timeline")
    shot(tab, f"relationship-timeline-search-{locale}")

    tab.goto(f"{live_server}/interactions")
    tab.fill("#interaction-search input[name=q]", words["word"])
    with tab.expect_navigation():
        tab.click("#interaction-search button")
    assert "苏州远航机械有限公司" in tab.inner_text("#interaction-timeline")
    # Another team's customer's notes are not found, nor is its timeline open to sales.
    tab.fill("#interaction-search input[name=q]", "扩产")
    with tab.expect_navigation():
        tab.click("#interaction-search button")
    assert tab.locator("#interaction-timeline li.interaction").count() == 0
    assert words["none"] in tab.inner_text("#no-interactions")
    assert "青岛北辰物流有限公司" not in tab.content()
    shot(tab, f"relationship-search-scoped-{locale}")
    answer = tab.goto(f"{live_server}/customers/{seeded['north']}/interactions")
    assert answer is not None and answer.status == 404


def test_the_other_team_finds_its_own_notes(page, live_server: str, seeded: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    _sign_in(page, live_server, "sales2")
    page.goto(f"{live_server}/interactions?q=%E6%89%A9%E4%BA%A7")
    assert page.locator("#interaction-timeline li.interaction").count() == 1
    assert "青岛北辰物流有限公司" in page.inner_text("#interaction-timeline")
    shot(page, "relationship-search-north-en")
