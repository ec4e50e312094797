"""The export facility as pure logic: CSV cells, formula injection, the .xlsx parts, names."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from urllib.parse import unquote

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskdesk.kit import exports
from riskdesk.kit.exports import (
    BOM,
    Column,
    content_disposition,
    csv_chunks,
    neutralise,
    write_xlsx,
)
from riskdesk.kit.messages import translator

COLUMNS = (
    Column("name", "customers.name"),
    Column("limit", "customers.limit", "money"),
    Column("count", "alerts.hits", "integer"),
    Column("share", "credit.utilisation", "percent"),
    Column("due", "reviews.due", "date"),
    Column("at", "alerts.raised", "datetime"),
    Column("kind", "customers.kind", "enum", "kind."),
    Column("blocked", "customers.blocked", "boolean"),
)
ROW = {
    "name": '=HYPERLINK("http://x")',
    "limit": Decimal("1E+3"),
    "count": 7,
    "share": 0.1234,
    "due": dt.date(2026, 3, 1),
    "at": dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    "kind": "company",
    "blocked": True,
}


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_starts_get_an_apostrophe(start: str) -> None:
    assert neutralise(f"{start}cmd|' /C calc'!A0") == f"'{start}cmd|' /C calc'!A0"


@given(st.text())
def test_neutralised_text_never_starts_a_formula(text: str) -> None:
    assert neutralise(text)[:1] not in exports.FORMULA_STARTS


def test_csv_cells_are_plain_and_localised() -> None:
    body = b"".join(csv_chunks(COLUMNS, [ROW, {}], translator("zh-CN")))
    assert body.startswith(BOM.encode("utf-8"))
    header, row, empty = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert header[0] == "名称" and header[-2:] == ["类型", "冻结"]
    assert row == [
        '\'=HYPERLINK("http://x")',
        "1000",  # never 1E+3
        "7",
        "12.34%",
        "2026-03-01",
        "2026-03-01 00:30:00",  # UTC
        "企业",
        "是",
    ]
    assert empty == [""] * len(COLUMNS)


def test_xlsx_cells_are_typed_and_the_sheet_is_laid_out() -> None:
    target = io.BytesIO()
    assert (
        write_xlsx(
            target, COLUMNS, [ROW, {"name": "a\x00b\x0bc <&>"}], translator("en"), title="A:B"
        )
        == 2
    )
    sheet = openpyxl.load_workbook(target).worksheets[0]
    assert sheet.title == "A_B" and sheet.freeze_panes == "A2" and sheet["A1"].font.bold
    assert sheet.auto_filter.ref == "A1:H3"
    name, limit, count, share, due, at, kind, blocked = sheet[2]
    assert name.data_type == "s" and name.value == ROW["name"]
    assert (limit.value, limit.number_format) == (1000, "#,##0.00")
    assert (count.value, count.number_format) == (7, "0")
    assert (share.value, share.number_format) == (0.1234, "0.00%")
    assert (
        due.is_date and due.value == dt.datetime(2026, 3, 1) and due.number_format == "yyyy-mm-dd"
    )
    assert at.is_date and at.value == dt.datetime(2026, 3, 1, 0, 30)
    assert (kind.value, blocked.value) == ("Company", "Yes")
    assert sheet["A3"].value == "abc <&>" and sheet["B3"].value is None
    assert sheet.column_dimensions["A"].width >= 10


def test_rows_past_excels_limit_go_on_another_sheet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 3)
    target = io.BytesIO()
    write_xlsx(
        target, COLUMNS[:1], [{"name": str(i)} for i in range(5)], translator("en"), title="客户"
    )
    book = openpyxl.load_workbook(target)
    assert book.sheetnames == ["客户", "客户 (2)", "客户 (3)"]
    values = [c.value for s in book.worksheets for (c,) in s.iter_rows(min_row=2)]
    assert values == ["0", "1", "2", "3", "4"]


def test_an_empty_list_is_a_header_row() -> None:
    target = io.BytesIO()
    write_xlsx(target, COLUMNS, [], translator("zh-CN"), title="空")
    sheet = openpyxl.load_workbook(target).worksheets[0]
    assert sheet.max_row == 1 and sheet["A1"].value == "名称"


def test_the_file_name_says_the_list_and_day_in_both_forms() -> None:
    header = content_disposition("customers", "客户列表", dt.date(2026, 12, 6), "xlsx")
    assert header.startswith('attachment; filename="customers-2026-12-06.xlsx"; ')
    encoded = header.split("filename*=UTF-8''")[1]
    assert encoded.isascii() and unquote(encoded) == "客户列表-2026-12-06.xlsx"
