"""The audit log page says what changed in the reader's words: tables and columns by their
labels, objects by name and page, the entry number explained, channels on one line."""

from __future__ import annotations

import re

import pytest

from riskdesk.ui.i18n import LANG_COOKIE


def _cells(html: str, css_class: str) -> list[str]:
    found = re.findall(rf'<td class="{css_class}">(.*?)</td>', html, flags=re.S)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in found]


@pytest.mark.parametrize(
    ("locale", "what", "seq"),
    [
        ("zh-CN", "公司设置：修改 1 条（更新时间、值）", "记录号"),
        ("en", "Company settings: 1 changed (Updated at, Value)", "Entry no."),
    ],
)
def test_the_audit_page_names_tables_columns_and_objects(
    db,  # type: ignore[no-untyped-def]
    client_for,
    locale: str,
    what: str,
    seq: str,
) -> None:
    admin = client_for("admin")
    for zone in ("Asia/Shanghai", "Europe/Berlin"):  # made, then changed
        changed = admin.put("/api/v1/settings/time-zone", json={"time_zone": zone})
        assert changed.status_code == 200, changed.text
    auditor = client_for("auditor")
    auditor.cookies.set(LANG_COOKIE, locale)
    html = auditor.get("/audit", params={"action": "write"}).text
    details = _cells(html, "detail")
    assert any(d.startswith(what) for d in details), details[:5]
    shown = " ".join(details + _cells(html, "object"))
    # No raw table or column name reaches the reader.
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", shown), shown
    assert "company_settings" not in shown
    # The entry number says what it is, and a channel stays on one line.
    assert re.search(
        rf'<th id="audit-seq"><span class="nw"><abbr title="[^"]+">{re.escape(seq)}</abbr>', html
    )
    assert 'class="nw channel"' in html
