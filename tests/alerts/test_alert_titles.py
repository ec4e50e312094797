"""An alert's title is its rule's name in the reader's language: the rule's code is a tooltip,
and a muted reference line on the case, never part of the title in either language."""

from __future__ import annotations

import re

from riskdesk.ui.i18n import LANG_COOKIE
from tests.conftest import ingest, principal
from tests.monitoring.test_alerts import _setup, invoice

CODE = "new_overdue"


def _shown(html: str) -> str:
    """The page's text as read on screen: without attribute values (tooltips), scripts, and
    the case's reference line, which is where the code belongs."""
    html = html.split("<main", 1)[-1]
    html = re.sub(r"<script\b.*?</script>", " ", html, flags=re.S)
    html = re.sub(r'<p class="[^"]*\brule-ref\b[^"]*">.*?</p>', " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_the_rule_code_is_a_tooltip_and_a_reference_never_the_title(db, manager) -> None:  # type: ignore[no-untyped-def]
    ids = _setup(db)
    ingest(db, principal(db, "manager"), "invoices", [invoice("I1", "A", "5000.00", 45)])
    db.commit()
    alert = next(
        a
        for a in manager.get("/api/v1/alerts", params={"customer_id": ids["A"]}).json()
        if a["rule_code"] == CODE
    )
    assert alert["case_id"] is not None
    pages = ("/alerts", f"/cases/{alert['case_id']}", f"/customers/{ids['A']}")
    for locale, title, ref in (
        ("zh-CN", alert["title_zh"], f"规则代码：{CODE}"),
        ("en", alert["title_en"], f"Rule code: {CODE}"),
    ):
        manager.cookies.set(LANG_COOKIE, locale)
        for path in pages:
            html = manager.get(path).text
            shown = _shown(html)
            assert title in shown, (locale, path)
            assert CODE not in shown, (locale, path)  # neither beside the title nor elsewhere
            # Whoever needs the code finds it on the title's tooltip.
            tooltip = rf'class="[^"]*alert-title[^"]*" title="{ref}">{re.escape(title)}<'
            assert re.search(tooltip, html), (locale, path)
        case = manager.get(f"/cases/{alert['case_id']}").text
        line = re.search(r'<p class="[^"]*rule-ref[^"]*">(.*?)</p>', case, flags=re.S)
        assert line is not None and f"<code>{CODE}</code>" in line.group(1), locale
