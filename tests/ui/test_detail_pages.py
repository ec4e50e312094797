"""The detail pages behind three lists (TestClient): a customer group, a limit request and a
scorecard. Each is linked from its list, checks the list's permission, shows its record in
both languages without leaks, and answers 404 alike for an unknown record and for one the
caller may not see."""

from __future__ import annotations

import re
from typing import Any

from riskdesk.ui.i18n import LANG_COOKIE
from tests.factories import company
from tests.scoring.test_service import _active, card
from tests.security.test_auth import login
from tests.ui.visible_text import leaks


def _both_languages(client: Any, url: str) -> dict[str, str]:
    pages = {}
    for locale in ("zh-CN", "en"):
        client.cookies.set(LANG_COOKIE, locale)
        page = client.get(url)
        assert page.status_code == 200, (url, locale, page.text[:500])
        assert leaks(page.text, locale) == [], (url, locale, leaks(page.text, locale))
        pages[locale] = page.text
    return pages


def _row(html: str, row_id: str) -> str:
    return html.split(f'id="{row_id}"', 1)[1].split("</tr>", 1)[0]


def test_a_group_page_shows_members_limit_and_its_decisions(app, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = {}
    for ext, owner in (("GA1", "sales"), ("GA2", None)):
        extra = {"owner": owner} if owner else {}
        made = manager.post(
            "/api/v1/customers",
            json=company(
                ext, credit_limit="40000", group_code="GX", group_name="测试集团", **extra
            ),
        )
        assert made.status_code == 201, made.text
        ids[ext] = made.json()["id"]
    asked = manager.post(
        "/api/v1/customer-groups/GX/limit-changes",
        json={"credit_limit": "60000", "reason": "集团年度复审"},
    ).json()
    approved = client_for("manager2").post(
        f"/api/v1/group-limit-changes/{asked['id']}/approve", json={"comment": "授信充足"}
    )
    assert approved.status_code == 200, approved.text
    waiting = manager.post(
        "/api/v1/customer-groups/GX/limit-changes",
        json={"credit_limit": "80000", "reason": "新合同"},
    ).json()

    ui = client_for("manager2")
    assert 'href="/groups/GX"' in ui.get("/groups").text
    pages = _both_languages(ui, "/groups/GX")
    en, zh = pages["en"], pages["zh-CN"]
    assert "60,000.00 CNY" in en.split('id="group-limit"', 1)[1].split("</dd>", 1)[0]
    for ext in ("GA1", "GA2"):
        row = _row(en, f"member-{ids[ext]}")
        assert f'href="/customers/{ids[ext]}"' in row and "40,000.00" in row
    assert "Members" in en and "成员" in zh
    approved_row = _row(en, f"group-change-{asked['id']}")
    assert "approved and applied" in approved_row.lower() and "集团年度复审" in approved_row
    assert "60,000.00" in approved_row and "Comment: 授信充足" in approved_row
    pending_row = _row(zh, f"group-change-{waiting['id']}")
    assert "新合同" in pending_row and "/group-limit-changes/" in pending_row  # manager2 decides

    # Decided on the page with a comment (the form has a comment field), shown in the history.
    browser = login(app, "manager2")
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/groups/GX").text)
    assert token is not None
    decided = browser.post(
        f"/group-limit-changes/{waiting['id']}/reject",
        data={"csrf_token": token.group(1), "comment": "合同尚未签署"},
        follow_redirects=False,
    )
    assert decided.status_code == 303, decided.text
    rejected_row = _row(_both_languages(ui, "/groups/GX")["zh-CN"], f"group-change-{waiting['id']}")
    assert "意见：合同尚未签署" in rejected_row

    # Sales sees the group, but only its own member, and is told others are hidden.
    sales = client_for("sales")
    sales.cookies.set(LANG_COOKIE, "en")
    mine = sales.get("/groups/GX").text
    assert f'id="member-{ids["GA1"]}"' in mine and f'id="member-{ids["GA2"]}"' not in mine
    assert 'id="group-members-hidden"' in mine and "You see 1 of" in mine
    assert sales.get("/groups/NOPE").status_code == 404


def _limit_customers(manager) -> dict[str, int]:  # type: ignore[no-untyped-def]
    ids = {}
    for ext, owner in (("LR1", "sales"), ("LR2", "sales2")):
        made = manager.post(
            "/api/v1/customers", json=company(ext, credit_limit="10000.00", owner=owner)
        )
        assert made.status_code == 201, made.text
        ids[ext] = made.json()["id"]
    return ids


def test_a_limit_request_page_shows_the_request_and_its_decision(manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _limit_customers(manager)
    sales = client_for("sales")
    body = {"requested_limit": "15000.00", "reason": "新的分销合同"}
    req = sales.post(f"/api/v1/customers/{ids['LR1']}/limit-requests", json=body).json()
    other = (
        client_for("sales2")
        .post(f"/api/v1/customers/{ids['LR2']}/limit-requests", json=body)
        .json()
    )

    analyst = client_for("analyst")
    analyst.cookies.set(LANG_COOKIE, "en")
    assert f'href="/limit-requests/{req["id"]}"' in analyst.get("/limit-requests").text
    pending = _both_languages(analyst, f"/limit-requests/{req['id']}")
    assert f'action="/limit-requests/{req["id"]}/reject"' in pending["en"] or (
        f'formaction="/limit-requests/{req["id"]}/reject"' in pending["en"]
    )
    assert "10,000.00 CNY" in pending["en"] and "15,000.00 CNY" in pending["en"]
    assert "新的分销合同" in pending["zh-CN"]
    assert 'id="limit-request-status">Pending<' in pending["en"]

    done = analyst.post(
        f"/api/v1/limit-requests/{req['id']}/reject", json={"comment": "先收回逾期款"}
    )
    assert done.status_code == 200, done.text
    decided = _both_languages(analyst, f"/limit-requests/{req['id']}")
    decision = decided["en"].split('id="limit-request-decision"', 1)[1]
    assert "先收回逾期款" in decision and "analyst" in decision and "formaction" not in decision
    assert 'id="limit-request-status">Rejected<' in decided["en"]

    # The requester sees it; another team's salesperson gets what an unknown id gets.
    assert sales.get(f"/limit-requests/{req['id']}").status_code == 200
    hidden = sales.get(f"/limit-requests/{other['id']}")
    unknown = sales.get("/limit-requests/999999")
    assert hidden.status_code == unknown.status_code == 404
    assert "LR2" not in hidden.text
    assert re.sub(r"\d+", "N", hidden.text) == re.sub(r"\d+", "N", unknown.text)


def test_a_scorecard_page_shows_versions_bins_and_approver(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    _active(db, client_for, manager, card(name="企业评分卡"))
    ui = client_for("analyst")
    ui.cookies.set(LANG_COOKIE, "en")
    assert 'href="/scorecards/b2b"' in ui.get("/scorecards").text
    pages = _both_languages(ui, "/scorecards/b2b")
    en = pages["en"]
    version = en.split('class="card scorecard-version"', 1)[1]
    assert "Active" in version.split("</h2>", 1)[0]
    # Who approved it: the second manager (display name as the test users have it).
    decided = version.split('class="decided-by"', 1)[1].split("</dd>", 1)[0]
    assert "manager2" in decided
    bins = version.split('class="grid small factor-bins"', 1)[1].split("</table>", 1)[0]
    for shown in ("1–31", "≥ 31", ">400<", ">200<", ">0<"):
        assert shown in bins, shown
    assert ui.get("/scorecards/none-such").status_code == 404
    # The same permission as the list: everyone who reads customers.
    assert client_for("service").get("/scorecards/b2b").status_code == 200
