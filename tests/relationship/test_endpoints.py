"""The relationship view's API and pages: interactions posted with notes and a next step (sales
among those who may), read back on a customer's timeline, found by a search of the notes within
the caller's customers; contracts; and the credit file's log form, idempotent on its key."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from riskdesk.kit.timeutil import utcnow
from riskdesk.ui.i18n import LANG_COOKIE
from tests.factories import company
from tests.security.test_auth import login


def _customers(manager) -> dict[str, int]:  # type: ignore[no-untyped-def]
    ids = {}
    for key, ext, owner in (("east", "RE-E", "sales"), ("north", "RE-N", "sales2")):
        made = manager.post("/api/v1/customers", json=company(ext, owner=owner))
        assert made.status_code == 201, made.text
        ids[key] = int(made.json()["id"])
    return ids


def _call(ext: str, customer: str, note: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": "crm",
        "external_id": ext,
        "customer_external_id": customer,
        "customer_source": "erp",
        "occurred_at": (utcnow() - dt.timedelta(hours=1)).isoformat(),
        "channel": "phone",
        "kind": "sales_call",
        "note": note,
        **extra,
    }


def test_sales_log_and_read_their_customers_interactions(manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(manager)
    sales = client_for("sales")
    due = (utcnow() + dt.timedelta(days=7)).date().isoformat()
    record = _call("A1", "RE-E", "谈了续约，价格待定", next_step="发报价", next_step_on=due)
    made = sales.post("/api/v1/interactions", json=record)
    assert made.status_code == 201, made.text
    again = sales.post("/api/v1/interactions", json=record)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    # Another team's customer is unknown to sales, on the way in and out.
    other = sales.post("/api/v1/interactions", json=_call("A2", "RE-N", "不该记上"))
    assert other.status_code == 422
    assert other.json()["error"]["details"][0]["code"] == "unknown_reference"
    assert sales.get(f"/api/v1/customers/{ids['north']}/interactions").status_code == 404
    assert sales.get(f"/api/v1/customers/{ids['north']}/contracts").status_code == 404

    page = sales.get(f"/api/v1/customers/{ids['east']}/interactions").json()
    assert page["total"] == 1
    item = page["items"][0]
    assert (item["note"], item["next_step"], item["next_step_on"]) == (
        "谈了续约，价格待定",
        "发报价",
        due,
    )
    assert item["recorded_by"] and item["channel"] == "phone" and item["kind"] == "sales_call"
    # The auditor reads notes; nobody without a write permission logs one.
    assert (
        client_for("auditor").get(f"/api/v1/customers/{ids['east']}/interactions").json()["total"]
        == 1
    )
    refused = client_for("auditor").post("/api/v1/interactions", json=_call("A3", "RE-E", "x"))
    assert refused.status_code == 403


def test_the_search_of_notes_is_scoped_and_checked(manager, client_for) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(manager)
    for ext, customer, note in (
        ("B1", "RE-E", "客户提到 扩产 计划"),
        ("B2", "RE-N", "北区 扩产 暂停"),
    ):
        assert (
            manager.post("/api/v1/interactions", json=_call(ext, customer, note)).status_code == 201
        )
    everyone = manager.get("/api/v1/interactions", params={"q": "扩产"}).json()
    assert {i["external_id"] for i in everyone["items"]} == {"B1", "B2"}
    mine = client_for("sales").get("/api/v1/interactions", params={"q": "扩产"}).json()
    assert [(i["external_id"], i["customer_id"]) for i in mine["items"]] == [("B1", ids["east"])]
    assert mine["items"][0]["customer_code"].startswith("C")
    assert (
        client_for("sales2").get("/api/v1/interactions", params={"q": "客户提到"}).json()["total"]
        == 0
    )
    assert manager.get("/api/v1/interactions").status_code == 422  # q is required
    blank = manager.get("/api/v1/interactions", params={"q": "  "})
    assert blank.status_code == 422 and blank.json()["error"]["field"] == "q"
    assert manager.get("/api/v1/interactions", params={"q": "x" * 201}).status_code == 422


def test_contracts_with_terms_on_the_api(manager) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(manager)
    made = manager.post("/api/v1/contracts", json={
        "source": "erp", "external_id": "KC-1", "customer_external_id": "RE-E",
        "signed_on": "2026-01-05", "start_date": "2026-02-01", "end_date": "2030-01-31",
        "value": "880000.00", "currency": "CNY", "payment_terms_days": 45,
    })  # fmt: skip
    assert made.status_code == 201, made.text
    bad = manager.post("/api/v1/contracts", json={
        "source": "erp", "external_id": "KC-2", "customer_external_id": "RE-E",
        "signed_on": "2026-01-05", "payment_terms_days": 400,
    })  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "payment_terms_days"
    rows = manager.get(f"/api/v1/customers/{ids['east']}/contracts").json()
    assert [(r["external_id"], r["term"], r["payment_terms_days"], r["value"]) for r in rows] == [
        ("KC-1", "active", 45, "880000.00")
    ]


def _csrf(client) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/customers").text)
    assert found is not None
    return found.group(1)


def _log_form(page: str) -> dict[str, str]:
    key = re.search(r'name="form_key" value="([0-9a-f]{16})"', page)
    when = re.search(r'name="occurred_at" id="interaction-when" value="([^"]+)"', page)
    assert key is not None and when is not None
    return {"form_key": key.group(1), "occurred_at": when.group(1)}


def test_logging_a_call_from_the_credit_file(app, manager, db) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(manager)
    client = login(app, "sales")
    csrf = _csrf(client)
    file = client.get(f"/customers/{ids['east']}")
    assert file.status_code == 200 and 'id="interaction-form"' in file.text
    form = {
        **_log_form(file.text),
        "csrf_token": csrf,
        "channel": "phone",
        "kind": "collection",
        "note": "客户承诺 周五 付清 3 张发票\n并要求对账单",
        "next_step": "周五上午再打电话确认",
        "next_step_on": (utcnow() + dt.timedelta(days=4)).date().isoformat(),
    }
    done = client.post(f"/customers/{ids['east']}/interactions", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"].endswith("?interaction=logged#relationship-panel")
    again = client.post(f"/customers/{ids['east']}/interactions", data=form, follow_redirects=False)
    assert again.headers["location"].endswith("?interaction=duplicate#relationship-panel")
    timeline = manager.get(f"/api/v1/customers/{ids['east']}/interactions").json()
    assert timeline["total"] == 1
    item = timeline["items"][0]
    assert item["source"] == "ui" and item["external_id"] == f"ui-{form['form_key']}"
    assert item["note"] == "客户承诺 周五 付清 3 张发票\n并要求对账单"
    shown = client.get(f"/customers/{ids['east']}?interaction=logged")
    assert 'id="interaction-logged"' in shown.text and "周五上午再打电话确认" in shown.text
    # The same key with other words: refused, what was typed kept, under a fresh key.
    changed = client.post(f"/customers/{ids['east']}/interactions", data={**form, "note": "改了"})
    assert changed.status_code == 422 and "改了" in changed.text
    assert _log_form(changed.text)["form_key"] != form["form_key"]
    # Another team's customer answers as a missing one; nothing is written.
    hidden = client.post(
        f"/customers/{ids['north']}/interactions", data={**form, "form_key": "0" * 16}
    )
    assert hidden.status_code == 404
    assert manager.get(f"/api/v1/customers/{ids['north']}/interactions").json()["total"] == 0


def test_a_refused_log_names_the_field_in_the_users_language(app, manager) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(manager)
    client = login(app, "service")  # customer service of team east
    client.cookies.set(LANG_COOKIE, "zh-CN")
    csrf = _csrf(client)
    file = client.get(f"/customers/{ids['east']}")
    base = {**_log_form(file.text), "csrf_token": csrf, "channel": "visit", "kind": "support"}
    late = client.post(
        f"/customers/{ids['east']}/interactions",
        data={**base, "note": "上门", "next_step": "复查", "next_step_on": "2001-01-01"},
    )
    assert late.status_code == 422
    assert "下一步日期" in late.text and "<b>下一步日期</b>" in late.text
    assert "上门" in late.text and 'id="log-interaction" open' in late.text
    no_step = client.post(
        f"/customers/{ids['east']}/interactions",
        data={**base, "next_step_on": (utcnow() + dt.timedelta(days=1)).date().isoformat()},
    )
    assert no_step.status_code == 422 and "请填写此日期对应的下一步" in no_step.text
    future = client.post(
        f"/customers/{ids['east']}/interactions",
        data={**base, "occurred_at": "2999-01-01T10:00"},
    )
    assert future.status_code == 422 and "<b>联系时间</b>" in future.text
    odd = client.post(f"/customers/{ids['east']}/interactions", data={**base, "channel": "fax"})
    assert odd.status_code == 422 and "不是允许的值" in odd.text
    client.cookies.set(LANG_COOKIE, "en")
    english = client.post(
        f"/customers/{ids['east']}/interactions",
        data={**base, "next_step": "x", "next_step_on": "2001-01-01"},
    )
    assert english.status_code == 422 and "<b>Next step due</b>" in english.text
    assert manager.get(f"/api/v1/customers/{ids['east']}/interactions").json()["total"] == 0
    # Whoever may not log sees no form, and a post is refused.
    auditor = login(app, "auditor")
    assert 'id="interaction-form"' not in auditor.get(f"/customers/{ids['east']}").text
    refused = auditor.post(
        f"/customers/{ids['east']}/interactions", data={**base, "csrf_token": _csrf(auditor)}
    )
    assert refused.status_code == 403


def test_the_timeline_and_search_pages(app, manager) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(manager)
    for n in range(12):
        record = _call(f"P{n}", "RE-E", f"第 {n} 次 沟通 关于 账期")
        assert manager.post("/api/v1/interactions", json=record).status_code == 201
    assert (
        manager.post("/api/v1/interactions", json=_call("PN", "RE-N", "北区 账期 谈判")).status_code
        == 201
    )
    sales = login(app, "sales")
    file = sales.get(f"/customers/{ids['east']}").text
    assert file.count('class="interaction"') == 10 and 'id="more-interactions"' in file
    full = sales.get(f"/customers/{ids['east']}/interactions").text
    assert full.count('class="interaction"') == 12
    found = sales.get(f"/customers/{ids['east']}/interactions", params={"q": "第 11 次"}).text
    assert found.count('class="interaction"') == 1 and "第 11 次" in found
    everywhere = sales.get("/interactions", params={"q": "账期"}).text
    assert everywhere.count('class="interaction"') == 12 and "北区" not in everywhere
    assert 'id="search-prompt"' in sales.get("/interactions").text
    assert sales.get(f"/customers/{ids['north']}/interactions").status_code == 404
    north = login(app, "sales2").get("/interactions", params={"q": "账期"}).text
    assert north.count('class="interaction"') == 1 and "北区 账期 谈判" in north
