"""Export buttons on the list pages: a click downloads the list under the page's filters, in
the page's language."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl

from tests.ui.conftest import new_context, shot
from tests.ui.test_journey import sign_in

PAGES = ("/customers", "/alerts", "/worklist", "/limit-requests", "/reviews", "/complaints")


def _download(page, selector: str, tmp: Path) -> Path:  # type: ignore[no-untyped-def]
    with page.expect_download() as info:
        page.click(selector)
    download = info.value
    target = tmp / download.suggested_filename
    download.save_as(str(target))
    return target


def test_export_buttons_download_the_filtered_lists(page, live_server: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server, "manager")
    page.fill("input[name=q]", "恒远")
    with page.expect_response(lambda r: "/customers?" in r.url):
        page.click("#search-button")
    page.wait_for_selector("#customers-export-xlsx[href*='q=']")
    shot(page, "customers-en")
    saved = _download(page, "#customers-export-xlsx", tmp_path)
    assert saved.name.startswith("Customers-") and saved.suffix == ".xlsx"
    sheet = openpyxl.load_workbook(saved).worksheets[0]
    assert sheet["A1"].value == "Customer no." and sheet.max_row == 2
    assert sheet["B2"].value == "杭州恒远贸易有限公司"
    # The same customers' ageing and exposure, from the same page and filters.
    for name, title in (("ageing", "Receivables ageing-"), ("exposure", "Credit exposure-")):
        saved = _download(page, f"#{name}-export-xlsx", tmp_path)
        assert saved.name.startswith(title) and saved.suffix == ".xlsx", saved.name
        sheet = openpyxl.load_workbook(saved).worksheets[0]
        assert sheet["A1"].value == "Customer no." and sheet.max_row == 2, name
    page.goto(f"{live_server}/worklist")
    shot(page, "worklist-en")
    held = _download(page, "#held-orders-export-csv", tmp_path)
    assert held.name.startswith("Held orders-") and held.suffix == ".csv"
    text = held.read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    assert next(csv.reader(io.StringIO(text.decode("utf-8-sig"))))[0] == "ID"
    for path in PAGES[1:]:
        page.goto(f"{live_server}{path}")
        shot(page, f"{path.strip('/')}-en")


def test_export_buttons_in_chinese(browser, live_server: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    context = new_context(browser, "zh-CN")
    page = context.new_page()
    try:
        sign_in(page, live_server, "manager")
        assert page.inner_text("#customers-export-xlsx") == "导出 Excel"
        shot(page, "customers-zh")
        saved = _download(page, "#customers-export-csv", tmp_path)
        assert saved.suffix == ".csv"
        rows = list(csv.reader(io.StringIO(saved.read_bytes().decode("utf-8-sig"))))
        assert rows[0][:3] == ["客户编号", "名称", "类型"] and {r[2] for r in rows[1:]} == {"企业"}
        assert len(rows) == 3
        page.goto(f"{live_server}/complaints")
        assert page.inner_text("#complaints-export-csv") == "导出 CSV"
        book = _download(page, "#complaints-export-xlsx", tmp_path)
        assert openpyxl.load_workbook(book).worksheets[0]["B1"].value == "严重程度"
        for path in PAGES[1:]:
            page.goto(f"{live_server}{path}")
            shot(page, f"{path.strip('/')}-zh")
    finally:
        context.close()
