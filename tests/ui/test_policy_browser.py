"""The credit policy editors in a real browser, in English and in Chinese: a credit manager
changes a tier's policy (a wrong field is named next to it), keeps the approval matrix and
lends their authority to a colleague, who sees it when they sign in; an analyst adds and
removes an alert route next to the SLA table and changes an SLA (sales only read it); the
review queue's horizon is chosen on the page.

None of these changes waits for a second person in the API (no four-eyes step), so none does
here: each is in force at once. Set RISKDESK_SCREENSHOTS to a directory to keep screenshots."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from riskdesk.kit.timeutil import today
from tests.ui.conftest import nav_click, new_context, shot
from tests.ui.test_journey import sign_in

pytestmark = pytest.mark.browser
LOCALES = ("en-US", "zh-CN")
WORDS = {
    "en-US": {"months": "every {n} months", "saved": "Saved.", "in_force": "In force"},
    "zh-CN": {"months": "每 {n} 个月", "saved": "已保存", "in_force": "有效"},
}


@pytest.mark.parametrize("locale", LOCALES)
def test_a_tier_policy_edited_in_the_page(browser, live_server: str, locale: str) -> None:  # type: ignore[no-untyped-def]
    context = new_context(browser, locale)
    page = context.new_page()
    words = WORDS[locale]
    tier, months = ("high", "2") if locale == "en-US" else ("medium", "5")
    sign_in(page, live_server, "manager")
    nav_click(page, "#nav-policy")
    page.wait_for_url(re.compile(r".*/policy/tiers$"))
    page.click(f"#edit-{tier} summary")
    form = page.locator(f"#tier-form-{tier}")
    # A wrong value: named next to its field, in the page's language; nothing saved.
    form.locator("input[name=review_months]").fill("0")
    form.locator("input[name=limit_multiplier]").fill("abc")
    form.locator("button.save-tier").click()
    expect(page.locator("#form-errors")).to_be_visible()
    expect(form.locator("#field-error-review_months")).to_be_visible()
    expect(form.locator("#field-error-limit_multiplier")).to_be_visible()
    shot(page, f"policy-tiers-error-{locale}")
    form = page.locator(f"#tier-form-{tier}")
    form.locator("input[name=limit_multiplier]").fill("0.8")
    form.locator("input[name=review_months]").fill(months)
    form.locator("button.save-tier").click()
    expect(page.locator("#policy-result")).to_contain_text(words["saved"])
    row = page.locator(f"#tier-{tier}")
    expect(row.locator(".review_months")).to_have_text(words["months"].format(n=months))
    expect(row.locator(".limit_multiplier")).to_have_text("0.8")
    shot(page, f"policy-tiers-{locale}")
    context.close()


@pytest.mark.parametrize("locale", LOCALES)
def test_the_approval_matrix_and_a_delegation_the_colleague_sees(  # type: ignore[no-untyped-def]
    browser, live_server: str, locale: str
) -> None:
    context = new_context(browser, locale)
    page = context.new_page()
    words = WORDS[locale]
    amount = "150000" if locale == "en-US" else "160000"
    tier = "low" if locale == "en-US" else "medium"
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/policy/approvals")
    new = page.locator("#new-authority")
    new.locator("select[name=username]").select_option("analyst")
    new.locator("select[name=tier]").select_option(tier)
    new.locator("input[name=max_limit]").fill(amount)
    new.locator("#add-authority").click()
    expect(page.locator("#policy-result")).to_be_visible()
    row = page.locator("#authority-table tr", has_text=f"{int(amount):,}.00")
    expect(row).to_have_count(1)
    # Both a role and a person: refused, named on the person's field.
    new = page.locator("#new-authority")
    new.locator("select[name=role]").select_option("sales")
    new.locator("select[name=username]").select_option("analyst")
    new.locator("input[name=max_limit]").fill("1")
    new.locator("#add-authority").click()
    expect(page.locator("#new-authority #field-error-username")).to_be_visible()
    # A delegation to the second credit manager for a fortnight.
    start = today() + dt.timedelta(days=1 if locale == "en-US" else 2)
    deleg = page.locator("#new-delegation")
    deleg.locator("select[name=to_username]").select_option("manager2")
    deleg.locator("input[name=valid_from]").fill(start.isoformat())
    deleg.locator("input[name=valid_to]").fill((start + dt.timedelta(days=14)).isoformat())
    deleg.locator("input[name=reason]").fill(f"holiday {locale}")
    deleg.locator("#add-delegation").click()
    mine = page.locator("#delegation-table tr", has_text=f"holiday {locale}")
    expect(mine.locator(".status")).to_have_text(words["in_force"])
    shot(page, f"policy-approvals-{locale}")
    # The colleague sees the delegation they hold (and cannot revoke it).
    other = new_context(browser, locale).new_page()
    sign_in(other, live_server, "manager2")
    nav_click(other, "#nav-policy")
    other.click("#policy-tabs a[href='/policy/approvals']")
    theirs = other.locator("#delegation-table tr", has_text=f"holiday {locale}")
    expect(theirs).to_have_count(1)
    expect(theirs.locator("button.revoke-delegation")).to_have_count(0)
    shot(other, f"policy-approvals-colleague-{locale}")
    other.context.close()
    # The giver revokes it; the authority row goes too.
    page.locator("#delegation-table tr", has_text=f"holiday {locale}").locator(
        "button.revoke-delegation"
    ).click()
    expect(
        page.locator("#delegation-table tr", has_text=f"holiday {locale}").locator(".status")
    ).not_to_have_text(words["in_force"])
    page.locator("#authority-table tr", has_text=f"{int(amount):,}.00").locator(
        "button.remove-authority"
    ).click()
    expect(page.locator("#authority-table tr", has_text=f"{int(amount):,}.00")).to_have_count(0)
    context.close()


@pytest.mark.parametrize("locale", LOCALES)
def test_an_alert_route_added_and_removed_beside_the_slas(  # type: ignore[no-untyped-def]
    browser, live_server: str, locale: str
) -> None:
    context = new_context(browser, locale)
    page = context.new_page()
    position = "7" if locale == "en-US" else "8"
    sign_in(page, live_server, "analyst")
    nav_click(page, "#nav-policy")
    page.click("#policy-tabs a[href='/policy/alert-routes']")
    expect(page.locator("#sla-critical")).to_contain_text("4")
    new = page.locator("#new-route")
    new.locator("input[name=position]").fill("-3")
    new.locator("#add-route").click()
    expect(page.locator("#new-route #field-error-position")).to_be_visible()
    new = page.locator("#new-route")
    new.locator("input[name=position]").fill(position)
    new.locator("select[name=category]").select_option("payment")
    new.locator("select[name=min_severity]").select_option("high")
    new.locator("select[name=escalate_to]").select_option("manager")
    new.locator("#add-route").click()
    expect(page.locator("#policy-result")).to_be_visible()
    row = page.locator("#route-table tbody tr", has=page.locator(f"td.num >> text='{position}'"))
    expect(row).to_have_count(1)
    shot(page, f"policy-routes-{locale}")
    row.locator("button.remove-route").click()
    expect(
        page.locator("#route-table tbody tr", has=page.locator(f"td.num >> text='{position}'"))
    ).to_have_count(0)
    context.close()


SLA_WORDS = {
    "en-US": {"critical": "Critical", "hours": "{n} hours", "field": "Time to act (hours)"},
    "zh-CN": {"critical": "严重", "hours": "{n} 小时", "field": "处理时限（小时）"},
}


@pytest.mark.parametrize("locale", LOCALES)
def test_an_sla_changed_in_the_page_and_read_by_others(  # type: ignore[no-untyped-def]
    browser, live_server: str, locale: str
) -> None:
    context = new_context(browser, locale)
    page = context.new_page()
    words, done = SLA_WORDS[locale], WORDS[locale]
    english = locale == "en-US"
    severity, shipped, hours = ("low", "168", "120") if english else ("medium", "72", "48")
    sign_in(page, live_server, "analyst")
    nav_click(page, "#nav-policy")
    page.click("#policy-tabs a[href='/policy/alert-routes']")
    expect(page.locator("#sla-critical .severity")).to_have_text(words["critical"])
    form = page.locator(f"#sla-form-{severity}")
    expect(form.locator("input[name=hours]")).to_have_value(shipped)
    # A wrong value: named on its row's field and in the summary, in the page's language.
    form.locator("input[name=hours]").fill("0")
    form.locator("button.save-sla").click()
    expect(page.locator("#form-errors")).to_contain_text(words["field"])
    expect(page.locator(f"#sla-form-{severity} #field-error-hours")).to_be_visible()
    expect(page.locator(f"#sla-{severity} .hours")).to_have_text(words["hours"].format(n=shipped))
    page.locator(f"#sla-form-{severity}").scroll_into_view_if_needed()
    shot(page, f"policy-sla-error-{locale}")
    form = page.locator(f"#sla-form-{severity}")
    form.locator("input[name=hours]").fill(hours)
    form.locator("button.save-sla").click()
    expect(page.locator("#policy-result")).to_contain_text(done["saved"])
    expect(page.locator(f"#sla-{severity} .hours")).to_have_text(words["hours"].format(n=hours))
    expect(page.locator(f"#sla-form-{severity} input[name=hours]")).to_have_value(hours)
    shot(page, f"policy-sla-{locale}")
    # Sales read the times in force, with no form to change them.
    other = new_context(browser, locale).new_page()
    sign_in(other, live_server, "sales")
    other.goto(f"{live_server}/policy/alert-routes")
    expect(other.locator(f"#sla-{severity} .hours")).to_have_text(words["hours"].format(n=hours))
    expect(other.locator(".sla-form")).to_have_count(0)
    expect(other.locator("#sla-read-only")).to_be_visible()
    shot(other, f"policy-sla-read-only-{locale}")
    other.context.close()
    # Back to the shipped hours, for the other tests on this server.
    form = page.locator(f"#sla-form-{severity}")
    form.locator("input[name=hours]").fill(shipped)
    form.locator("button.save-sla").click()
    expect(page.locator(f"#sla-{severity} .hours")).to_have_text(words["hours"].format(n=shipped))
    context.close()


@pytest.mark.parametrize("locale", LOCALES)
def test_the_review_horizon_is_chosen_on_the_page(browser, live_server: str, locale: str) -> None:  # type: ignore[no-untyped-def]
    context = new_context(browser, locale)
    page = context.new_page()
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/reviews")
    expect(page.locator("#horizon-days")).to_have_value("60")
    page.click("#horizon-90")
    page.wait_for_url(re.compile(r".*/reviews\?horizon=90$"))
    expect(page.locator("#horizon-90")).to_have_class(re.compile("active"))
    page.fill("#horizon-days", "45")
    page.click("#horizon-apply")
    page.wait_for_url(re.compile(r".*horizon=45$"))
    expect(page.locator("#horizon-days")).to_have_value("45")
    shot(page, f"reviews-horizon-{locale}")
    context.close()
