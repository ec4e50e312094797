"""The reports page, rendered by the server in both languages: the pack's form, the
subscriptions' buttons, the links elsewhere (the browser test is tests/ui/test_reports_pages.py)."""

from __future__ import annotations

import re

from riskdesk.ui.i18n import LANG_COOKIE


def test_the_page_and_its_subscription_forms(client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    for locale, words in (
        ("zh-CN", ("报表", "授信委员会月度报告", "每周信用组合摘要", "下载 PDF", "订阅")),
        ("en", ("Reports", "Credit committee monthly pack", "Download Excel", "Subscribe")),
    ):
        manager.cookies.set(LANG_COOKIE, locale)
        page = manager.get("/reports")
        assert page.status_code == 200, page.text
        main = page.text.split("<main>")[1]
        for word in words:
            assert word in main, (locale, word)
        assert re.search(r">[^<]*\b(reports|pack|migration)\.[a-z_]+", main) is None  # no keys
        assert 'id="nav-reports"' in page.text and 'href="/ecl"' in main
        # Where the rest live: every list's export (ageing and exposure on the customer
        # list) and the BI views.
        for link in ("link-ageing-export", "link-exposure-export", "report-bi"):
            assert f'id="{link}"' in main, link
        # A business user is told whom to ask, not which command to run.
        assert "bi_customers" in main and "riskdesk" not in main
        assert ("请向系统管理员申请" if locale == "zh-CN" else "Ask your administrator") in main
    done = manager.post(
        "/reports/subscriptions",
        data={"kind": "weekly_summary", "language": "en", "action": "subscribe"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/reports?done=subscribed"
    page = manager.get("/reports?done=subscribed").text
    assert 'id="subscribed-weekly-summary"' in page and "Subscribed (English)" in page
    assert manager.get("/api/v1/me/subscriptions/weekly_summary").json()["language"] == "en"
    manager.post(
        "/reports/subscriptions",
        data={"kind": "weekly_summary", "action": "unsubscribe"},
        follow_redirects=False,
    )
    assert manager.get("/api/v1/me/subscriptions").json() == []
    bad = manager.post("/reports/subscriptions", data={"kind": "poems"}, follow_redirects=False)
    assert bad.status_code == 422
    sales = client_for("sales").get("/reports")
    assert sales.status_code == 200 and 'href="/ecl"' not in sales.text.split("<main>")[1]
    assert client_for("service").get("/reports").status_code == 403


def test_only_an_administrator_is_shown_the_commands(client_for) -> None:  # type: ignore[no-untyped-def]
    """Commands run on the server: the reports page and the empty models page name them to
    an administrator only; everyone else reads what to do in plain words."""
    for who in ("manager", "analyst", "sales", "admin"):
        client = client_for(who)
        for locale, ask in (("zh-CN", "管理员"), ("en", "administrator")):
            client.cookies.set(LANG_COOKIE, locale)
            for path, command in (
                ("/reports", "riskdesk bi grant"),
                ("/models", "riskdesk model train"),
            ):
                page = client.get(path)
                assert page.status_code == 200, (who, path, page.text[:300])
                main = page.text.split("<main>")[1]
                assert ask in main, (who, path, locale)
                assert (command in main) == (who == "admin"), (who, path, locale)
