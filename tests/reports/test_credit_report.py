"""The customer credit report: one document with every section, as a PDF with the Chinese
font embedded, masked as the credit file is, hidden as the credit file is, and audited."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from riskdesk.alerts import service as alert_service
from riskdesk.kit.messages import catalog
from riskdesk.kit.timeutil import today
from riskdesk.models import AuditEntry
from riskdesk.reports import credit_report as report_service
from riskdesk.reports import fonts, formatting, pdf
from riskdesk.reports.formatting import View, translator
from tests.conftest import ingest, principal
from tests.factories import company


def ago(n: int) -> str:
    return (today() - dt.timedelta(days=n)).isoformat()


def _rich_customer(db, manager, client_for) -> int:  # type: ignore[no-untyped-def]
    """A company with data in every section of the report."""
    from tests.scoring.test_service import card

    alert_service.install_default_pack(db)
    p = principal(db, "manager")
    record = company(
        "R",
        owner="sales",
        name="华东精密机械有限公司",
        industry="machinery manufacturing",
        phone="13812345678",
        email="finance@huadong.example.com",
        address="上海市浦东新区世纪大道100号",
        bank_account="6222 0210 0112 3456 789",
    )
    ingest(db, p, "customers", [record])
    invoices = [
        {"source": "erp", "external_id": f"INV{i}", "customer_external_id": "R",
         "amount": amount, "currency": "CNY", "issue_date": ago(due + 30), "due_date": ago(due)}
        for i, (amount, due) in enumerate([("125000.00", 45), ("38000.50", 10), ("9000.00", -20)])
    ]  # fmt: skip
    ingest(db, p, "invoices", invoices)
    ingest(
        db,
        p,
        "statements",
        [
            {"customer_external_id": "R", "customer_source": "erp", "currency": "CNY",
             "period_end": ago(400 + 365 * k), "total_assets": str(1_000_000 + 50_000 * k),
             "current_assets": "500000", "current_liabilities": "200000",
             "retained_earnings": "200000", "ebit": "100000", "equity": "600000",
             "total_liabilities": "400000", "revenue": "1500000", "net_income": "60000",
             "cash": "80000", "inventory": "120000", "interest_expense": "15000"}
            for k in range(2)
        ],
    )  # fmt: skip
    ingest(
        db,
        p,
        "credit_reports",
        [{"customer_external_id": "R", "customer_source": "erp", "source": "bureau",
          "external_id": "BR1", "report_date": ago(20), "score": 640,
          "recommended_limit": "150000.00",
          "payload": {"legal_representative": "李四", "lawsuits": 2,
                      "registered_capital": "500万"}}],
    )  # fmt: skip
    db.commit()
    draft = manager.post("/api/v1/scorecards", json=card()).json()["versions"][0]
    client_for("manager2").post(f"/api/v1/scorecard-versions/{draft['id']}/approve", json={})
    assert manager.post("/api/v1/scoring-runs", json={"as_of": ago(60)}).status_code == 201
    assert manager.post("/api/v1/scoring-runs", json={}).status_code == 201
    alert_service.evaluate(db, None)
    db.commit()
    customer_id = manager.get("/api/v1/customers", params={"q": "华东精密"}).json()["items"][0][
        "id"
    ]
    contact = {
        "name": "王经理",
        "title": "财务总监",
        "phone": "13900001111",
        "email": "w@huadong.example.com",
    }
    assert (
        manager.post(f"/api/v1/customers/{customer_id}/contacts", json=contact).status_code == 201
    )
    check = {"source": "erp", "order_external_id": "SO-9", "customer_external_id": "R",
             "customer_source": "erp", "amount": "250000.00", "currency": "CNY"}  # fmt: skip
    assert manager.post("/api/v1/credit-checks", json=check).status_code in (200, 201)
    asked = client_for("sales").post(
        f"/api/v1/customers/{customer_id}/limit-requests",
        json={"requested_limit": "180000.00", "reason": "旺季备货，订单增加"},
    )
    assert asked.status_code == 201, asked.text
    decided = manager.post(
        f"/api/v1/limit-requests/{asked.json()['id']}/approve", json={"comment": "同意，季度复审"}
    )
    assert decided.status_code == 200, decided.text
    db.commit()
    return int(customer_id)


def test_the_document_has_every_section(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    customer_id = _rich_customer(db, manager, client_for)
    report = report_service.build(db, principal(db, "manager"), customer_id)
    assert report.customer.name == "华东精密机械有限公司"
    assert report.customer.phone == "+8613812345678"  # a credit manager sees it in full
    assert [c.name for c in report.contacts] == ["王经理"]
    assert report.score is not None and report.score.reasons
    assert len(report.score_history) == 2
    assert report.exposure.counted > 0
    assert sum(b.amount or 0 for b in report.ageing) == pytest.approx(172000.5)
    names = {m.name for m in report.payment_behaviour}
    assert {"dpd_max", "dso_90d", "late_invoice_share_365d", "overdue_ratio"} <= names
    assert len(report.statements) == 2
    latest = report.statements[0]
    assert latest.altman_model == "z_prime"  # a private manufacturer
    # Z' = 0.717*0.3 + 0.847*0.2 + 3.107*0.1 + 0.420*1.5 + 0.998*1.5
    assert latest.altman_score == pytest.approx(0.2151 + 0.1694 + 0.3107 + 0.63 + 1.497)
    assert latest.ratios["current_ratio"] == pytest.approx(2.5)
    assert report.bureau[0].details and not report.bureau[0].masked
    assert report.alerts and report.cases
    assert report.alerts[0].case_id in {c.id for c in report.cases}
    assert report.decisions and report.decisions[0].order == "erp:SO-9"
    request = report.limit_requests[0]
    assert request.status == "approved" and request.decided_by and request.requested_by
    assert request.comment == "同意，季度复审"
    assert report.masked == []


def _text(body: bytes) -> str:
    # fpdf2 writes the CID font's encoding as an embedded two-byte CMap (codes <0000>-<FFFF>);
    # pypdf reads such codes a byte at a time, so each character comes out behind a NUL.
    pages = PdfReader(io.BytesIO(body)).pages
    return "\n".join(page.extract_text() for page in pages).replace("\x00", "")


def test_the_pdf_embeds_the_font_and_reads_in_both_languages(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    customer_id = _rich_customer(db, manager, client_for)
    zh = manager.get(f"/api/v1/customers/{customer_id}/report.pdf", params={"lang": "zh-CN"})
    assert zh.status_code == 200, zh.text
    assert zh.headers["content-type"] == "application/pdf"
    assert zh.content.startswith(b"%PDF-") and zh.content.rstrip().endswith(b"%%EOF")
    assert b"/FontFile3" in zh.content or b"/FontFile2" in zh.content
    disposition = zh.headers["content-disposition"]
    code = report_service.build(db, principal(db, "manager"), customer_id).customer.code
    assert f'filename="credit-report-{code}-' in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]).startswith(f"信用报告-{code}-")
    text = _text(zh.content)
    for expected in ("客户信用报告", "华东精密机械有限公司", "信用额度", "Altman", "138", "王经理"):
        assert expected in text, expected
    assert "e+" not in text and "E+" not in text  # no scientific notation
    en = manager.get(
        f"/api/v1/customers/{customer_id}/report.pdf",
        params={"lang": "en"},
    )
    assert en.status_code == 200
    assert en.headers["content-disposition"] == (
        f'attachment; filename="credit-report-{code}-{today().isoformat()}.pdf"'
    )
    if shots := os.environ.get("RISKDESK_SCREENSHOTS"):
        Path(shots).mkdir(parents=True, exist_ok=True)
        Path(shots, "rich-credit-report-zh-CN.pdf").write_bytes(zh.content)
        Path(shots, "rich-credit-report-en.pdf").write_bytes(en.content)
    text = _text(en.content)
    for expected in (
        "Customer credit report",
        "Credit limit",
        "华东精密机械有限公司",
        "125,000.00",
    ):
        assert expected in text, expected


def test_sales_sees_the_report_masked_as_the_credit_file(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    customer_id = _rich_customer(db, manager, client_for)
    sales = principal(db, "sales")
    report = report_service.build(db, sales, customer_id)
    screen = client_for("sales").get(f"/api/v1/customers/{customer_id}").json()
    for field in ("phone", "email", "address", "bank_account"):
        assert getattr(report.customer, field) == screen[field] != None  # noqa: E711
    assert report.customer.phone == "+86138****5678" or "****" in (report.customer.phone or "")
    assert {"phone", "email", "address", "bank_account"} <= set(report.masked)
    assert report.contacts[0].phone and "****" in report.contacts[0].phone
    assert report.bureau[0].masked and report.bureau[0].details == []
    body = client_for("sales").get(
        f"/api/v1/customers/{customer_id}/report.pdf", params={"lang": "zh-CN"}
    )
    assert body.status_code == 200
    text = _text(body.content)
    assert "13812345678" not in text and "李四" not in text
    assert "6222 0210" not in text and "finance@huadong" not in text


def test_hidden_customers_answer_404_and_missing_permission_403(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    customer_id = _rich_customer(db, manager, client_for)
    other = client_for("sales2").get(f"/api/v1/customers/{customer_id}/report.pdf")
    missing = client_for("sales2").get("/api/v1/customers/999999/report.pdf")
    assert other.status_code == missing.status_code == 404
    assert other.json()["error"]["code"] == missing.json()["error"]["code"]
    assert client_for("sales2").get(f"/api/v1/customers/{customer_id}").status_code == 404
    narrow = client_for("manager", scopes=["events:read"])
    refused = narrow.get(f"/api/v1/customers/{customer_id}/report.pdf")
    assert refused.status_code == 403
    assert "customers:read" in refused.json()["error"]["message"]
    bad = manager.get(f"/api/v1/customers/{customer_id}/report.pdf", params={"lang": "fr"})
    assert bad.status_code == 422 and "lang" in json.dumps(bad.json())


def test_every_report_is_audited(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    customer_id = _rich_customer(db, manager, client_for)
    before = db.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)) or 0
    assert manager.get(f"/api/v1/customers/{customer_id}/report.pdf?lang=en").status_code == 200
    db.expire_all()
    entries = db.scalars(
        select(AuditEntry).where(AuditEntry.id > before, AuditEntry.action == "credit_report")
    ).all()
    assert len(entries) == 1
    entry = entries[0]
    assert entry.actor == "manager" and entry.object_type == "customer"
    assert entry.object_id == str(customer_id)
    assert entry.detail["fields"] == ["format=pdf", "locale=en"]


def test_the_print_page_draws_the_same_document(db, manager, client_for) -> None:  # type: ignore[no-untyped-def]
    customer_id = _rich_customer(db, manager, client_for)
    before = db.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)) or 0
    zh = manager.get(f"/customers/{customer_id}/report", params={"lang": "zh-CN"})
    assert zh.status_code == 200
    assert "客户信用报告" in zh.text and "@media print" not in zh.text  # the CSS is a file
    assert "125,000.00 CNY" in zh.text and "Z′（非上市制造企业）" in zh.text
    en = manager.get(f"/customers/{customer_id}/report", params={"lang": "en"})
    assert "Customer credit report" in en.text and "Z′ (private manufacturer)" in en.text
    sales = client_for("sales").get(f"/customers/{customer_id}/report")
    assert sales.status_code == 200 and "13812345678" not in sales.text
    assert "6222 0210" not in sales.text and "李四" not in sales.text
    hidden = client_for("sales2").get(f"/customers/{customer_id}/report")
    assert hidden.status_code == 404
    db.expire_all()
    formats = db.scalars(
        select(AuditEntry.detail).where(
            AuditEntry.id > before, AuditEntry.action == "credit_report"
        )
    ).all()
    assert [d["fields"][0] for d in formats] == ["format=html"] * 3


class _Strict:
    """A translator that fails on any key missing from either catalogue."""

    def __init__(self, locale: str) -> None:
        self.inner = translator(locale)

    def __call__(self, key: str, **values: Any) -> str:
        for locale in ("en", "zh-CN"):
            assert key in catalog(locale), (locale, key)
        return self.inner(key, **values)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_every_label_of_the_pdf_is_translated(db, manager, client_for, locale, tmp_path) -> None:  # type: ignore[no-untyped-def]
    customer_id = _rich_customer(db, manager, client_for)
    report = report_service.build(db, principal(db, "manager"), customer_id)
    body = pdf.render(report, View(locale, _Strict(locale)), tmp_path)
    assert body.startswith(b"%PDF-")


def test_numbers_never_in_scientific_notation() -> None:
    assert formatting.number(1e21) == "1,000,000,000,000,000,000,000.00"
    assert formatting.number(1e-7) == "0.00"
    assert formatting.percent(0.1234) == "12.3%"
    assert formatting.money(1234567.891, "CNY") == "1,234,567.89 CNY"
    assert formatting.number(float("nan")) == formatting.NONE
    assert formatting.day(dt.date(2026, 12, 6), "zh-CN") == "2026年12月6日"
    assert formatting.day(dt.date(2026, 12, 6), "en") == "6 Dec 2026"


def test_the_working_face_covers_every_label_of_both_catalogues() -> None:
    # needs_full_face looks at the document's data only: the labels must never need more.
    covered = fonts.working_set()
    for locale in ("zh-CN", "en"):
        missing = {
            key: text
            for key, text in catalog(locale).items()
            if any(ord(ch) > 0x7E and ord(ch) not in covered for ch in text)
        }
        assert missing == {}, (locale, missing)
    assert all(ord(ch) in covered for ch in "客户信用报告逾期账龄★→′″（）：，。")


def test_a_rare_character_is_drawn_from_the_whole_face(db, manager) -> None:  # type: ignore[no-untyped-def]
    ingest(db, principal(db, "manager"), "customers", [company("Z", name="王喆贸易有限公司")])
    db.commit()
    found = manager.get("/api/v1/customers", params={"q": "贸易有限公司"}).json()["items"]
    customer_id = next(c["id"] for c in found if "喆" in c["name"])
    answer = manager.get(f"/api/v1/customers/{customer_id}/report.pdf", params={"lang": "en"})
    assert answer.status_code == 200
    assert "王喆贸易有限公司" in _text(answer.content)  # 喆 is not in GB 2312


def test_the_warm_up_writes_a_small_pdf(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pdf.warm_up(tmp_path)  # what `riskdesk serve` runs in the background at start
    assert fonts.working_face(tmp_path).exists()
