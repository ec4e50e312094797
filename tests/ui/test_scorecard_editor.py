"""The scorecard editor in Chromium, in English and in Chinese: an analyst opens a new draft of
the active scorecard, changes a bin and sees the preview move, is refused a bin that leaves a
gap (next to the field), saves and submits; a second manager approves it on the scorecards
page. Set RISKDESK_SCREENSHOTS to a directory to keep the shots."""

from __future__ import annotations

import re
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.ui.conftest import api_token, landing, nav_click, shot

pytestmark = pytest.mark.browser


def _definition() -> dict[str, Any]:
    # Both customers of the live server were filed today: 0 days, in the first bin.
    return {
        "base_points": 300,
        "factors": [
            {
                "code": "age",
                "source": "attribute",
                "name": "customer_age_days",
                "bins": [{"upper": 30, "points": 100}, {"lower": 30, "points": 500}],
                "missing_points": 100,
            }
        ],
        "ratings": [
            {"code": "C", "min": 0, "max": 499},
            {"code": "B", "min": 500, "max": 699},
            {"code": "A", "min": 700, "max": 1000},
        ],
        "tiers": [
            {"code": "high", "min": 0, "max": 499},
            {"code": "medium", "min": 500, "max": 699},
            {"code": "low", "min": 700, "max": 1000},
        ],
    }


def _active_scorecard(base: str, code: str) -> None:
    """A scorecard drafted by the manager, approved by manager2, and everyone scored by it."""
    manager = {"Authorization": f"Bearer {api_token(base, 'manager')}"}
    approver = {"Authorization": f"Bearer {api_token(base, 'manager2')}"}
    with httpx.Client(base_url=f"{base}/api/v1", timeout=60) as api:
        made = api.post(
            "/scorecards",
            headers=manager,
            json={
                "code": code,
                "name": "年限评分卡",
                "customer_kind": "company",
                # The Chinese test's scorecard comes second and goes first (the English one's
                # approved draft would score the customers otherwise).
                "priority": 2 if code.endswith("en") else 1,
                "definition": _definition(),
            },
        )
        assert made.status_code == 201, made.text
        vid = made.json()["versions"][0]["id"]
        assert api.post(f"/scorecard-versions/{vid}/approve", headers=approver, json={}).is_success
        assert api.post("/scoring-runs", headers=manager, json={}).status_code == 201


def _sign_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation(url=landing(username)):
        page.click("button[type=submit]")


def _sign_out(page) -> None:  # type: ignore[no-untyped-def]
    nav_click(page, "#sign-out")
    page.wait_for_url(re.compile(r".*/login$"))


def _journey(page, base: str, code: str, lang: str, said: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    _active_scorecard(base, code)
    _sign_in(page, base, "analyst")
    page.goto(f"{base}/scorecards")
    page.locator(f"#scorecard-{code} .new-draft button").click()
    page.wait_for_url(re.compile(r".*/scorecard-drafts/\d+\?done=copied$"))
    draft_id = re.search(r"/scorecard-drafts/(\d+)", page.url).group(1)  # type: ignore[union-attr]
    expect(page.locator("#editor-result")).to_contain_text(said["copied"])
    # The preview loads by itself: everyone is where they are now.
    expect(page.locator("#preview-moves li[data-moves=tier]")).to_contain_text(said["still"])
    shot(page, f"scorecard-editor-{lang}-opened")

    # A bin's points changed: the preview moves both customers to a safer tier (not saved).
    page.fill("input[name='factors.0.bins.0.points']", "450")
    page.locator("input[name='factors.0.bins.0.points']").blur()
    expect(page.locator("#preview-moves li[data-moves=tier]")).to_contain_text(said["moved"])
    expect(page.locator("#preview-tiers tr[data-tier=low] td.proposed")).to_have_text("2")
    shot(page, f"scorecard-editor-{lang}-preview")

    # A bin that leaves a gap: the save is refused next to the field, in the page's language.
    page.fill("input[name='factors.0.bins.1.lower']", "40")
    page.click("#save-draft")
    error = page.locator(".field-error[data-field='factors.0.bins.1.lower']")
    expect(error).to_contain_text(said["gap"])
    expect(page.locator("#form-errors")).to_be_visible()
    shot(page, f"scorecard-editor-{lang}-refused")

    # A bin added and removed again: rows come and go without saving.
    page.click("#add-bin-0")
    expect(page.locator("#bins-0 tr.bin")).to_have_count(3)
    page.locator("#bin-0-2 button[value='remove_bin:0:2']").click()
    expect(page.locator("#bins-0 tr.bin")).to_have_count(2)

    page.fill("input[name='factors.0.bins.1.lower']", "30")
    page.click("#save-draft")
    page.wait_for_url(re.compile(r".*\?done=saved$"))
    expect(page.locator("#editor-result")).to_contain_text(said["saved"])
    assert page.input_value("input[name='factors.0.bins.0.points']") == "450"
    page.click("#submit-draft")
    page.wait_for_url(re.compile(r".*/scorecards\?done=\d+&status=submitted.*"))
    expect(page.locator("#scorecards-result")).to_contain_text(said["submitted"])
    # The author's own draft has no approve button.
    expect(page.locator(f"#version-{draft_id} button.approve")).to_have_count(0)
    shot(page, f"scorecard-editor-{lang}-submitted")
    _sign_out(page)

    _sign_in(page, base, "manager2")
    page.goto(f"{base}/scorecards#version-{draft_id}")
    page.locator(f"#version-{draft_id} button.approve").click()
    page.wait_for_url(re.compile(r".*status=active.*"))
    expect(page.locator(f"#version-{draft_id} .status")).to_have_text(said["active"])
    shot(page, f"scorecard-editor-{lang}-approved")
    _sign_out(page)


def test_edit_preview_save_and_approve_in_english(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    _journey(
        page,
        live_server,
        "age_en",
        "en",
        {
            "copied": "copied from the active version",
            "still": "0 safer, 0 riskier, 2 unchanged",
            "moved": "2 safer, 0 riskier, 0 unchanged",
            "gap": "bin 2: must start where the bin before it ends (30)",
            "saved": "Draft saved",
            "submitted": "Submitted for approval",
            "active": "Active",
        },
    )


def test_edit_preview_save_and_approve_in_chinese(zh_page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    _journey(
        zh_page,
        live_server,
        "age_zh",
        "zh",
        {
            "copied": "已从生效版本复制出新草稿",
            "still": "0 位更安全，0 位更危险，2 位不变",
            "moved": "2 位更安全，0 位更危险，0 位不变",
            "gap": "分档 2：下限必须等于上一档的上限（30）",
            "saved": "草稿已保存",
            "submitted": "已提交审批",
            "active": "生效中",
        },
    )
