"""The alert queue in a real browser, in Chinese: pages with a total, two rows ticked and
acknowledged at once, "select all" on the page, and row actions in a menu whose buttons read
on one line. Set RISKDESK_SCREENSHOTS to a directory to keep the shots (both languages)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import delete, select

from riskdesk.alerts import service as alert_service
from riskdesk.customers import repository as customer_repo
from riskdesk.db import unit_of_work
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Alert
from tests.conftest import PASSWORD
from tests.ui.conftest import _FACTORIES, landing, new_context, shot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def queue(live_server: str) -> list[int]:
    """30 open alerts on the live server's two customers (ids, newest raised first)."""
    with unit_of_work(_FACTORIES[live_server]) as session:
        refs = customer_repo.customer_ids_by_ref(session, {("erp", "W1"), ("erp", "W2")})
        start = utcnow() - dt.timedelta(hours=2)
        for i in range(15):
            alert_service.raise_hits(
                session,
                [(cid, {"dpd_max": 30 + i}) for cid in sorted(refs.values())],
                source="rule",
                code=f"queue_test_{i}",
                category="payment",
                warning_type="payment_deterioration",
                severity=("low", "medium", "high", "critical")[i % 4],
                titles=("Queue test", "队列测试"),
                dedup_days=0,
                version_id=None,
                now=start + dt.timedelta(minutes=i),
            )
        session.flush()
        found = session.scalars(
            select(Alert.id)
            .where(Alert.rule_code.like("queue_test_%"))
            .order_by(Alert.raised_at.desc(), Alert.id.desc())
        )
        return list(found)


def _sign_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation(url=landing(username)):
        page.click("button[type=submit]")


def test_two_rows_ticked_and_acknowledged_at_once_in_chinese(
    zh_page, live_server: str, queue: list[int]
) -> None:
    page = zh_page
    _sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/alerts?code=&order=raised&size=25")
    assert re.search(r"共 \d+ 条预警，显示第 1–25 条", page.inner_text("#alert-total"))
    assert "第 1 / 2 页" in page.inner_text("#alerts-pager")
    shot(page, "alert-queue-zh")
    first, second = queue[0], queue[1]
    page.check(f"#alert-{first} input.pick-row")
    page.check(f"#alert-{second} input.pick-row")
    with page.expect_navigation():
        page.click("#bulk-acknowledge")
    result = page.inner_text("#bulk-result")
    assert "已完成 2 条" in result and f"#{first}" in result and f"#{second}" in result
    # Back on the same view, the same page and order.
    assert "order=raised" in page.url and "size=25" in page.url
    for alert_id in (first, second):
        assert "已确认" in page.inner_text(f"#alert-{alert_id} td.status")
    assert "新建" in page.inner_text(f"#alert-{queue[2]} td.status")  # not ticked, not touched
    shot(page, "alert-queue-zh-acknowledged")
    # The next page keeps the view.
    with page.expect_navigation():
        page.click(".queue-bar a.next-page")
    assert "order=raised" in page.url and "page=2" in page.url
    assert "显示第 26–" in page.inner_text("#alert-total")


def test_select_all_and_readable_row_actions(page, live_server: str, queue: list[int]) -> None:
    _sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/alerts?order=raised&size=25")
    page.check("#select-all")
    boxes = page.locator("#alert-queue input.pick-row")
    assert boxes.count() == 25
    assert all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    boxes.nth(0).uncheck()
    assert not page.is_checked("#select-all")
    # A row's actions open in a menu; each button reads on one line.
    row = page.locator(f"#alert-{queue[5]}")
    row.locator("details.row-actions summary").click()
    for button in ("button.ack", "button.start", "button.resolve", "button.dismiss"):
        box = row.locator(button).bounding_box()
        assert box is not None and box["width"] > box["height"] * 1.5, (button, box)
        assert box["height"] < 40, (button, box)
    # No outcome chosen beforehand.
    assert row.locator("select[name=outcome]").input_value() == ""
    shot(page, "alert-queue-en-menu")
    zh = new_context(page.context.browser, "zh-CN").new_page()
    _sign_in(zh, live_server, "manager")
    zh.goto(f"{live_server}/alerts?order=raised&size=25")
    zh.locator(f"#alert-{queue[5]} details.row-actions summary").click()
    shot(zh, "alert-queue-zh-menu")
    zh.context.close()


def test_the_approvals_list_pages_in_both_languages(browser, live_server: str) -> None:  # type: ignore[no-untyped-def]
    """Another work list's pager: 30 changes waiting, a page of 25 with the total, the order
    chosen in the sort form kept by the next page's link."""
    from riskdesk.models import PendingChange, PendingChangeItem
    from riskdesk.security import service as security_service

    with unit_of_work(_FACTORIES[live_server]) as session:
        refs = customer_repo.customer_ids_by_ref(session, {("erp", "W1"), ("erp", "W2")})
        asker = security_service.get_user_by_username_or_raise(session, "sales").id
        made = []
        for i in range(30):
            change = PendingChange(
                customer_id=sorted(refs.values())[i % 2], status="pending",
                requested_by_id=asker, requested_at=utcnow() - dt.timedelta(hours=30 - i),
                channel="ui", reason=f"paging {i}",
            )  # fmt: skip
            session.add(change)
            session.flush()
            session.add(PendingChangeItem(pending_change_id=change.id, field="region",
                                          old_value=None, new_value=f"R{i}"))  # fmt: skip
            made.append(change.id)
    for locale, total, newest in (
        ("en-US", "Page 1 of 2 · 30 in all", "Newest first"),
        ("zh-CN", "第 1 / 2 页 · 共 30 条", "最新在前"),
    ):
        page = new_context(browser, locale).new_page()
        _sign_in(page, live_server, "manager")
        page.goto(f"{live_server}/approvals")
        assert total in page.inner_text("#approvals-total")
        assert page.locator("section.pending-change").count() == 25
        assert page.locator("section.pending-change").first.get_attribute("id") == (
            f"change-{made[0]}"  # the longest waiting first
        )
        page.select_option("#approvals-sort-select", label=newest)
        with page.expect_navigation():
            page.click("#approvals-sort button[type=submit]")
        assert "sort=-requested" in page.url
        assert page.locator("section.pending-change").first.get_attribute("id") == (
            f"change-{made[-1]}"
        )
        shot(page, f"approvals-{locale}")
        with page.expect_navigation():
            page.click("#approvals-pager a.next-page")
        assert "sort=-requested" in page.url and "page=2" in page.url
        assert page.locator("section.pending-change").count() == 5
        assert page.locator("section.pending-change").last.get_attribute("id") == (
            f"change-{made[0]}"
        )
        page.context.close()
    with unit_of_work(_FACTORIES[live_server]) as session:  # the other tests see none of them
        session.execute(
            delete(PendingChangeItem).where(PendingChangeItem.pending_change_id.in_(made))
        )
        session.execute(delete(PendingChange).where(PendingChange.id.in_(made)))
