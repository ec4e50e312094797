"""The credit file's change history says what changed in the reader's words: a statement's
figures by the form's labels with their period, amounts grouped with their currency, a bureau
by its name; in Chinese and English."""

from __future__ import annotations

import re

import pytest

from riskdesk.ui.i18n import LANG_COOKIE
from tests.customers.test_endpoints import create
from tests.factories import company


def _history(html: str) -> list[tuple[str, str, str]]:
    section = html[html.index('id="history"') :]
    rows = re.findall(
        r'<td class="field">(.*?)</td><td class="old">(.*?)</td><td class="new">(.*?)</td>',
        section,
        flags=re.S,
    )
    return [tuple(re.sub(r"<[^>]+>", "", cell).strip() for cell in row) for row in rows]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("locale", "revenue", "ebit", "bureau"),
    [
        (
            "zh-CN",
            "营业收入（年报 2025-12-31）",
            "息税前利润（年报 2025-12-31）",
            "征信报告 · 演示征信机构",
        ),
        (
            "en",
            "Revenue (Annual, 2025-12-31)",
            "EBIT (Annual, 2025-12-31)",
            "Credit report · Demo credit bureau",
        ),
    ],
)
def test_statement_and_bureau_changes_are_labelled_and_formatted(
    manager,  # type: ignore[no-untyped-def]
    locale: str,
    revenue: str,
    ebit: str,
    bureau: str,
) -> None:
    customer_id = create(manager, company("HIST1"))
    code = f"C{customer_id:07d}"
    statement = {
        "customer_code": code,
        "period_end": "2025-12-31",
        "currency": "CNY",
        "revenue": "4306275.53",
        "total_assets": "800000",
        "total_liabilities": "300000",
        "equity": "500000",
        "ebit": "120000.5",
    }
    assert manager.post("/api/v1/statements", json=statement).status_code == 201
    corrected = manager.post("/api/v1/statements", json={**statement, "revenue": "4406275.53"})
    assert corrected.status_code == 200, corrected.text
    report = {
        "customer_code": code,
        "source": "demo_bureau",
        "external_id": "HIST-BR-1",
        "report_date": "2026-01-05",
        "score": 712,
    }
    assert manager.post("/api/v1/credit-reports", json=report).status_code == 201
    manager.cookies.set(LANG_COOKIE, locale)
    page = manager.get(f"/customers/{customer_id}")
    assert page.status_code == 200, page.text[:500]
    rows = _history(page.text)
    assert (revenue, "4,306,275.53 CNY", "4,406,275.53 CNY") in rows
    assert any(r[0] == ebit and r[2] == "120,000.50 CNY" for r in rows), rows
    assert any(r[0] == bureau for r in rows), rows
    shown = " ".join(" ".join(r) for r in rows)
    assert not re.search(r"\b[a-z]+_[a-z_]+\b|statement\.|\d{5,}\.\d", shown), shown
    # The bureau's reports list it by name too.
    assert "demo_bureau" not in page.text
