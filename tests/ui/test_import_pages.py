"""The import pages in a real browser: a GBK file from Chinese Excel, and a lost import.

Set RISKDESK_SCREENSHOTS to a directory to keep screenshots."""

from __future__ import annotations

import datetime as dt
from typing import Any

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
