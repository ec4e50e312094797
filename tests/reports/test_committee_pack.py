"""The monthly credit committee pack on the hand-made portfolio: the PDF's text (pypdf) in
Chinese and English, the workbook read back (openpyxl) with its types, no individual's name,
and who may have it."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import openpyxl
import pytest
from pypdf import PdfReader

from riskdesk.kit.timeutil import today
from riskdesk.reports import committee
from tests.portfolio.scores import seed_scores
from tests.portfolio.seed import Book, seed
from tests.reports.pack_seed import seed_pack

PDF = "/api/v1/reports/committee-pack.pdf"
XLSX = "/api/v1/reports/committee-pack.xlsx"
SHOTS = os.environ.get("RISKDESK_SCREENSHOTS")
MONTH = committee.month_of(today())  # this month: the book's dates are relative to today


@pytest.fixture
def packed(db) -> Book:  # type: ignore[no-untyped-def]
    book = seed(db)
    seed_scores(db, book)
    seed_pack(db, book)
    db.commit()
    return book


def _text(body: bytes) -> str:
    # The subset font maps glyphs through two-byte codes: pypdf reads them a byte at a time, so
    # each character comes out behind a NUL, and past the 255th distinct glyph of the document
    # (the later pages) as two wrong ones: what is checked here is on the first pages.
    pages = PdfReader(io.BytesIO(body)).pages
    return "\n".join(page.extract_text() for page in pages).replace("\x00", "")


def test_the_pdf_in_chinese(packed: Book, manager) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    answer = manager.get(PDF, params={"month": MONTH, "lang": "zh-CN"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''" in answer.headers["content-disposition"]
    text = _text(answer.content)
    print(f"pdf in {time.perf_counter() - started:.2f} s")
    if SHOTS:  # kept to look at
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        (Path(SHOTS) / "committee-pack-zh.pdf").write_bytes(answer.content)
    for words in (
        "授信委员会月度报告", "信用组合概况", "评级迁移", "主要风险", "预警有效性", "预期信用损失",
        "191,000.00 CNY",  # exposure
        "350,000.00 CNY",  # limits
        "48,000.00 CNY",  # overdue (the dashboard's figure)
        "上调", "33.3%",  # a of a, b, c upgraded (Q4 so far: a A -> BB is a downgrade)
        "pack_pay", "违约风险", "流失",  # rules and warning types in words
        "1,500.00 CNY", "500.00 CNY",  # ECL and its change against the previous run
        "未评级",
    ):  # fmt: skip
        assert words in text, words
    assert "default_risk" not in text and "not_rated" not in text  # no English enum
    assert "E+" not in text and "e+" not in text  # no scientific notation
    # Individuals never appear by name (d is 王五, an individual with an open alert); the
    # companies among the top exposures do.
    assert "王五" not in text and "杭州恒远制造有限公司" in text


def test_the_figures_of_the_pack(packed: Book, db) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import principal

    pack = committee.build(db, principal(db, "manager"), month=MONTH)
    rules = {e.rule_code: e for e in pack.warnings}
    pay = rules["pack_pay"]
    assert (pay.warning_type, pay.raised, pay.worked, pay.confirmed, pay.false_alarm) == (
        "default_risk", 3, 3, 1, 1,
    )  # fmt: skip
    assert pay.sla_breached >= 1 and pay.precision == 0.5
    assert (rules["pack_churn"].raised, rules["pack_churn"].open) == (1, 1)
    assert pack.ecl is not None and str(pack.ecl.total_ecl) == "1500.00"
    assert str(pack.ecl.previous_total_ecl) == "1000.00"
    assert {m.bucket: str(m.ecl_change) for m in pack.ecl.movement} == {
        "current": "100.00", "1_30": "400.00",
    }  # fmt: skip
    # The customers with money overdue, riskiest tier first: a (high) before c (medium).
    assert [w.code for w in pack.worst] == [f"C{packed.a:07d}", f"C{packed.c:07d}"]
    assert all(w.name is None or "个人" not in w.name for w in pack.worst)
    assert pack.migration.quarter.endswith("Q4") and pack.migration.end == pack.end


def test_the_workbook(packed: Book, manager) -> None:  # type: ignore[no-untyped-def]
    answer = manager.get(XLSX, params={"month": MONTH, "lang": "zh-CN"})
    assert answer.status_code == 200, answer.text
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == [
        "信用组合概况", "集中度", "评级迁移", "最大敞口", "高风险逾期客户", "预警有效性",
        "预期信用损失",
    ]  # fmt: skip
    summary = book["信用组合概况"]
    rows = {r[0]: r[1:] for r in summary.iter_rows(min_row=2, values_only=True)}
    exposure = rows["信用敞口"]
    assert exposure[0] == 4 and exposure[1] == 191000 and isinstance(exposure[1], float | int)
    assert summary.cell(row=3, column=3).number_format == "#,##0.00"
    assert summary.cell(row=3, column=4).number_format == "0%" or "%" in str(
        summary.cell(row=3, column=4).number_format
    )
    migration = book["评级迁移"]
    header = [c.value for c in migration[1]]
    assert header[:4] == ["期初 \\ 期末", "AAA", "AA", "A"] and header[-2:] == ["未评级", "合计"]
    warnings = book["预警有效性"]
    found = {r[1]: r for r in warnings.iter_rows(min_row=2, values_only=True)}
    assert found["pack_pay"][0] == "逾期/违约风险" and found["pack_pay"][3:7] == (3, 3, 1, 1)
    assert found["pack_pay"][2] == "pack_pay"  # no rule of that code: the code, as the name
    assert found["pack_pay"][7] == 0.5
    ecl = book["预期信用损失"]
    last = list(ecl.iter_rows(values_only=True))[-1]
    assert last[0] == "合计" and last[3] == 1500 and last[5] == 500
    cells = [str(c) for ws in book for r in ws.iter_rows(values_only=True) for c in r]
    assert "王五" not in cells and "个人客户" in cells  # d by code only


def test_rules_by_their_names_in_the_packs_language(packed: Book, db, manager) -> None:  # type: ignore[no-untyped-def]
    """A committee reads a rule by its name, in the pack's language; the workbook keeps the
    code beside it."""
    from riskdesk.models import WarningRule

    db.add(
        WarningRule(
            code="pack_pay",
            name_en="Paying later than agreed",
            name_zh="付款晚于约定",
            category="payment",
            warning_type="default_risk",
        )
    )
    db.commit()
    for lang, name, other in (
        ("zh-CN", "付款晚于约定", "Paying later than agreed"),
        ("en", "Paying later than agreed", "付款晚于约定"),
    ):
        text = _text(manager.get(PDF, params={"month": MONTH, "lang": lang}).content)
        assert name in text and other not in text and "pack_pay" not in text, lang
        book = openpyxl.load_workbook(
            io.BytesIO(manager.get(XLSX, params={"month": MONTH, "lang": lang}).content)
        )
        rows = {r[1]: r for r in book.worksheets[5].iter_rows(min_row=2, values_only=True)}
        assert rows["pack_pay"][2] == name, lang
        # the churn alerts' code names no rule: shown as it is
        assert rows["pack_churn"][2] == "pack_churn"


def test_who_may_have_it_and_bad_months(packed: Book, client_for) -> None:  # type: ignore[no-untyped-def]
    assert client_for("service").get(PDF).status_code == 403
    sales = client_for("sales").get(XLSX, params={"month": MONTH, "lang": "en"})
    assert sales.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(sales.content))
    assert "Expected credit loss" not in book.sheetnames  # sales lack ecl:read
    for bad in ("2026-13", "11-2026", "2999-01"):
        answer = client_for("manager").get(PDF, params={"month": bad})
        assert answer.status_code == 422, bad
        assert answer.json()["error"]["field"] == "month"


def test_english_pdf(packed: Book, manager) -> None:  # type: ignore[no-untyped-def]
    body = manager.get(PDF, params={"month": MONTH, "lang": "en"}).content
    if SHOTS:  # kept to look at
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        (Path(SHOTS) / "committee-pack-en.pdf").write_bytes(body)
    text = _text(body)
    for words in ("Credit committee monthly pack", "Rating migration", "default risk", "Churn"):
        assert words in text, words
    for tier in ("Low", "Medium", "High", "Unrated"):  # in words, capitalised alike
        assert tier in text, tier


def test_a_filtered_pack_says_its_ecl_is_the_whole_books(packed: Book, manager) -> None:  # type: ignore[no-untyped-def]
    note = "an ECL run is not split by the pack's filters"
    whole = _text(manager.get(PDF, params={"month": MONTH, "lang": "en"}).content)
    east = _text(manager.get(PDF, params={"month": MONTH, "lang": "en", "region": "East"}).content)
    assert "Expected credit loss" in whole and note not in whole
    assert note in " ".join(east.split())


def test_the_warning_table_keeps_its_words_on_one_line() -> None:
    """Every warning type and heading of the early-warning table fits its column, in both
    languages ("Payment deterioration" and "SLA breached" used to wrap)."""
    from fpdf import FPDF

    from riskdesk.kit.messages import translate
    from riskdesk.monitoring.warning_types import TYPES
    from riskdesk.reports import committee_pdf, fonts

    document = FPDF(unit="mm", format="A4")
    document.set_margins(16, 18, 16)  # the pack's page
    document.add_font("face", fname=str(fonts.SOURCE))
    document.set_font("face", size=8.5)  # pdf.Writer.table's text, 1 mm padding either side
    widths = committee_pdf.WARNING_WIDTHS
    unit = (document.w - document.l_margin - document.r_margin) / sum(widths)
    headings = (
        "pack.warning_type", "pack.rule", "portfolio.alerts.raised", "portfolio.alerts.worked",
        "portfolio.alerts.confirmed", "portfolio.alerts.false_alarm", "pack.precision",
        "portfolio.alerts.sla_breached",
    )  # fmt: skip
    for locale in ("en", "zh-CN"):
        columns = [[translate(locale, key)] for key in headings]
        columns[0] += [translate(locale, f"warning_type.{kind.code}") for kind in TYPES]
        for width, words in zip(widths, columns, strict=True):
            for text in words:
                assert document.get_string_width(text) + 2 <= width * unit, (locale, text)


def test_industries_in_the_packs_language(packed: Book, db, manager) -> None:  # type: ignore[no-untyped-def]
    """An industry of the catalogue is named in the pack's words, in the PDF and the workbook
    (the Chinese pack said "retail"); one outside it shows as stored."""
    from sqlalchemy import update

    from riskdesk.models import Customer

    db.execute(update(Customer).where(Customer.industry == "零售").values(industry="retail"))
    db.commit()
    for lang, word in (("zh-CN", "零售"), ("en", "Retail")):
        text = _text(manager.get(PDF, params={"month": MONTH, "lang": lang}).content)
        assert f"{word} " in text and "retail " not in text, lang
        assert "制造" in text  # not a catalogue code: as stored
        book = openpyxl.load_workbook(
            io.BytesIO(manager.get(XLSX, params={"month": MONTH, "lang": lang}).content)
        )
        largest = {r[1] for r in book.worksheets[1].iter_rows(min_row=2, values_only=True)}
        assert word in largest and "retail" not in largest, lang
