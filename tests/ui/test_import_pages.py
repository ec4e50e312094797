"""The import pages in a real browser: a GBK file from Chinese Excel, and a lost import.

Set RISKDESK_SCREENSHOTS to a directory to keep screenshots."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import openpyxl
from playwright.sync_api import expect
from sqlalchemy import update

from riskdesk.db import unit_of_work
from riskdesk.models import ImportJob
from riskdesk.pipeline import intake
from riskdesk.security import service as security_service
from tests.factories import uscc
from tests.ui.conftest import _FACTORIES, shot
from tests.ui.test_journey import sign_in


def test_a_gbk_file_imports_with_its_chinese_names(zh_page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    page = zh_page
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/imports")
    expect(page.locator("#import-encoding")).to_contain_text("GBK")
    shot(page, "imports-form-zh")
    content = (
        f"external_id,name,kind,tax_id\r\nGBK1,广州市白云区粤秀五金制品厂,company,{uscc()}\r\n"
    ).encode("gbk")
    page.select_option("#import-kind", "customers")
    page.set_input_files(
        "#import-file", files=[{"name": "客户.csv", "mimeType": "text/csv", "buffer": content}]
    )
    page.fill("textarea[name=mapping]", "defaults:\n  source: erp")
    page.click("#import-submit")
    expect(page.locator("#job-status")).to_have_attribute("data-status", "done")
    expect(page.locator("#count-created")).to_have_text("1")
    page.goto(f"{live_server}/customers?q=粤秀")
    expect(page.locator("body")).to_contain_text("广州市白云区粤秀五金制品厂")


def _lost_job(factory: Any, content: bytes, **written: int) -> int:
    """An orders import whose process died ten minutes ago, having written ``written``
    (processed_rows, total_rows, counts); reaped, as the server's reaper would."""
    with unit_of_work(factory) as session:
        user = security_service.get_user_by_username_or_raise(session, "manager")
        job = intake.create_job(
            session,
            security_service.system_principal(session, user),
            kind="orders",
            filename="订单.csv",
            content=content,
            skip_invalid=False,
        )
        job_id = job.id
    with intake._PROGRESS_LOCK:
        intake._STARTING.discard(job_id)  # its process is gone
    with unit_of_work(factory) as session:
        session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10), **written)
        )
    assert job_id in intake.reap_interrupted(factory)
    return job_id


def test_a_lost_import_says_it_was_interrupted(zh_page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    job_id = _lost_job(_FACTORIES[live_server], b"lost")
    page = zh_page
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/imports/{job_id}")
    expect(page.locator("#job-status")).to_have_attribute("data-status", "failed")
    expect(page.locator("#import-message")).to_contain_text("中断")
    shot(page, "import-interrupted-zh")


def test_an_import_stopped_part_way_shows_what_it_wrote(zh_page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    # After 1,500 of 4,000 rows.
    job_id = _lost_job(
        _FACTORIES[live_server], b"part", processed_rows=1500, total_rows=4000,
        created_count=1500,
    )  # fmt: skip
    page = zh_page
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/imports/{job_id}")
    expect(page.locator("#job-status")).to_have_attribute("data-status", "interrupted")
    expect(page.locator("#job-status")).to_contain_text("部分已导入")
    expect(page.locator("#import-progress")).to_have_attribute("value", "1500")
    expect(page.locator("#count-created")).to_have_text("1,500")  # with thousands separators
    expect(page.locator("#import-status")).to_contain_text("1,500 / 4,000")
    expect(page.locator("#import-message")).to_contain_text("重新导入同一文件")
    shot(page, "import-stopped-part-way-zh")


def test_an_interrupted_import_in_english(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    lost = _lost_job(_FACTORIES[live_server], b"lost-en")
    part = _lost_job(
        _FACTORIES[live_server], b"part-en", processed_rows=1500, total_rows=4000,
        created_count=1500,
    )  # fmt: skip
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/imports/{lost}")
    expect(page.locator("#import-message")).to_contain_text("interrupted before it finished")
    shot(page, "import-interrupted-en")
    page.goto(f"{live_server}/imports/{part}")
    expect(page.locator("#job-status")).to_have_text("Interrupted: part imported")
    expect(page.locator("#import-status")).to_contain_text("1,500 of 4,000 rows (37%)")
    expect(page.locator("#count-created")).to_have_text("1,500")
    expect(page.locator("#import-message")).to_contain_text("Send the same file again")
    shot(page, "import-stopped-part-way-en")
    page.goto(f"{live_server}/imports")
    expect(page.locator("body")).to_contain_text("1,500")


# ---------------------------------------------------------------- templates, guide, mappings


def _filled_template(path: str, rows: list[dict[str, str]]) -> bytes:
    """The downloaded .xlsx template with its example row replaced by ``rows`` (each the
    example with some cells changed)."""
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    example = dict(zip(header, [c.value for c in sheet[2]], strict=True))
    sheet.delete_rows(2, sheet.max_row)
    for row in rows:
        sheet.append([{**example, **row}.get(h) for h in header])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_template_filled_in_chinese_imports_and_a_bad_file_says_why(
    zh_page, live_server: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    page = zh_page
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/imports")
    page.click("#guide-customers summary")
    guide = page.locator("#guide-customers")
    expect(guide).to_contain_text("企业 company")
    expect(guide).to_contain_text("必填")
    shot(page, "imports-guide-zh")
    with page.expect_download() as info:
        page.click("#template-customers-xlsx")
    path = tmp_path / "customers.xlsx"
    info.value.save_as(path)
    content = _filled_template(
        str(path),
        [
            {
                "external_id": "TPL-ZH-1",
                "name": "模板导入贸易有限公司",
                "kind": "企业",
                "segment": "小微企业",
            },
            {"external_id": "TPL-ZH-2", "name": "王五", "kind": "个人", "segment": "个人消费者"},
        ],
    )
    page.select_option("#import-kind", "customers")
    page.set_input_files(
        "#import-file",
        files=[
            {"name": "客户模板.xlsx", "mimeType": "application/octet-stream", "buffer": content}
        ],
    )
    page.click("#import-submit")
    expect(page.locator("#job-status")).to_have_attribute("data-status", "done")
    expect(page.locator("#count-created")).to_have_text("2")
    shot(page, "import-template-done-zh")
    page.goto(f"{live_server}/customers?q=模板导入")
    expect(page.locator("body")).to_contain_text("模板导入贸易有限公司")
    # Five rows whose columns are not the fields: which columns, which fields.
    bad = "客户编号,客户名称,客户类型\n" + "".join(f"B{i},坏文件{i},企业\n" for i in range(5))
    page.goto(f"{live_server}/imports")
    page.set_input_files(
        "#import-file", files=[{"name": "坏.csv", "mimeType": "text/csv", "buffer": bad.encode()}]
    )
    page.click("#import-submit")
    expect(page.locator("#job-status")).to_have_attribute("data-status", "failed")
    message = page.locator("#import-message")
    expect(message).to_contain_text("不对应")
    expect(page.locator("#unknown-columns")).to_contain_text("客户编号、客户名称、客户类型")
    expect(page.locator("#missing-fields")).to_contain_text("类型 (kind)")
    expect(page.locator("body")).not_to_contain_text("no data rows")
    shot(page, "import-mapping-needed-zh")
    # The same file with a mapping translating its values, saved for the source, then reused.
    page.goto(f"{live_server}/imports")
    bad_kinds = "客户编号,客户名称,客户类型\n" + "".join(f"M{i},映射客户{i},1\n" for i in range(5))
    page.set_input_files(
        "#import-file",
        files=[{"name": "金蝶.csv", "mimeType": "text/csv", "buffer": bad_kinds.encode()}],
    )
    page.fill(
        "#import-mapping",
        "columns: {external_id: 客户编号, name: 客户名称, kind: 客户类型}\n"
        "defaults: {source: kingdee}\nvalues: {kind: {'1': 企业}}\n",
    )
    page.fill("#import-mapping-name", "ERP-金蝶")
    page.click("#import-submit")
    expect(page.locator("#job-status")).to_have_attribute("data-status", "done")
    expect(page.locator("#count-created")).to_have_text("5")
    # The saved mapping reused; a value it does not know stops the file, row and field named.
    page.goto(f"{live_server}/imports")
    page.select_option("#import-saved-mapping", label="ERP-金蝶 · 客户")
    odd = "客户编号,客户名称,客户类型\nM9,映射客户9,1\nM10,映射客户10,3\n"
    page.set_input_files(
        "#import-file",
        files=[{"name": "金蝶2.csv", "mimeType": "text/csv", "buffer": odd.encode()}],
    )
    page.click("#import-submit")
    expect(page.locator("#job-status")).to_have_attribute("data-status", "rejected")
    expect(page.locator("#import-message")).to_contain_text("即使部分行有误，也导入其余有效行")
    expect(page.locator("#import-message")).not_to_contain_text("skip_invalid")
    errors = page.locator("#import-errors")
    expect(errors).to_contain_text("类型 (kind)")
    expect(errors).to_contain_text("企业 (company)")
    shot(page, "import-rejected-zh")
    page.goto(f"{live_server}/imports")
    expect(page.locator("#saved-mappings")).to_contain_text("ERP-金蝶")
    shot(page, "imports-saved-mapping-zh")
    page.locator("#saved-mappings button").first.click()
    expect(page.locator("#saved-mappings")).not_to_contain_text("ERP-金蝶")


def test_a_csv_template_in_english_and_a_saved_mapping_reused(
    page, live_server: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server}/imports")
    page.click("#guide-interactions summary")
    expect(page.locator("#guide-interactions")).to_contain_text("WeChat wechat")
    page.click("#guide-customers summary")
    with page.expect_download() as info:
        page.click("#template-customers-csv")
    path = tmp_path / "customers.csv"
    info.value.save_as(path)
    header, example = path.read_text(encoding="utf-8-sig").splitlines()[:2]
    assert "Company" in example
    rows = [
        header,
        example.replace("CUST-0001", "TPL-EN-1").replace(
            "Example Trading Ltd", "Template English Ltd"
        ),
    ]
    page.set_input_files(
        "#import-file",
        files=[
            {"name": "customers.csv", "mimeType": "text/csv", "buffer": "\n".join(rows).encode()}
        ],
    )
    page.fill("#import-mapping", "defaults: {segment: b2b_sme}")
    page.fill("#import-mapping-name", "CRM-EN")
    page.click("#import-submit")
    expect(page.locator("#job-status")).to_have_attribute("data-status", "done")
    expect(page.locator("#count-created")).to_have_text("1")
    # Reused: the saved mapping chosen, nothing typed.
    page.goto(f"{live_server}/imports")
    page.select_option("#import-saved-mapping", label="CRM-EN · Customers")
    rows[1] = (
        rows[1].replace("TPL-EN-1", "TPL-EN-2").replace("Template English Ltd", "Template Two Ltd")
    )
    page.set_input_files(
        "#import-file",
        files=[
            {"name": "customers.csv", "mimeType": "text/csv", "buffer": "\n".join(rows).encode()}
        ],
    )
    page.click("#import-submit")
    expect(page.locator("#job-status")).to_have_attribute("data-status", "done")
    # A bad value: the row, the field and the allowed values, and the checkbox by its name.
    page.goto(f"{live_server}/imports")
    bad = header + "\n" + rows[1].replace("Company", "Firm").replace("TPL-EN-2", "TPL-EN-3")
    page.set_input_files(
        "#import-file", files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": bad.encode()}]
    )
    page.click("#import-submit")
    expect(page.locator("#job-status")).to_have_attribute("data-status", "rejected")
    expect(page.locator("#import-message")).to_contain_text(
        "Import the valid rows even if some rows are invalid"
    )
    errors = page.locator("#import-errors")
    expect(errors).to_contain_text("kind")
    expect(errors).to_contain_text("Company (company)")
    shot(page, "import-rejected-en")
    page.goto(f"{live_server}/imports")
    shot(page, "imports-guide-en")
