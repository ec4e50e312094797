"""File imports at the edges: encodings, size limits, chunked processing, lost jobs."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.db import make_sessionmaker, unit_of_work
from riskdesk.kit.encodings import to_utf8
from riskdesk.kit.errors import PayloadTooLarge, ValidationFailed
from riskdesk.kit.intake import Item
from riskdesk.kit.tabular import ColumnMapping, FileLimits, read_table
from riskdesk.models import Customer, ImportJob, Order, OrderLine
from riskdesk.pipeline import intake
from riskdesk.pipeline import repository as import_repo
from tests.conftest import principal
from tests.factories import uscc

NAMES = ("华东精密机械有限公司", "深圳市鑫达电子科技有限公司", "北京·中关村（海淀）商贸")


def customers_text() -> str:
    lines = ["external_id,name,kind,tax_id,region"]
    lines += [f"G{i},{name},company,{uscc()},East" for i, name in enumerate(NAMES, start=1)]
    return "\r\n".join(lines) + "\r\n"  # as Excel on Windows writes it


def run(factory, content: bytes, *, filename: str = "c.csv", kind: str = "customers", **kw):  # type: ignore[no-untyped-def]
    return intake.import_file(
        factory,
        lambda s: principal(s, "manager"),
        kind=kind,
        content=content,
        filename=filename,
        mapping=ColumnMapping.from_yaml("defaults: {source: erp}"),
        skip_invalid=False,
        **kw,
    )


# ---------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    "encoding", ["gbk", "gb18030", "utf-16", "utf-16-le", "utf-16-be", "utf-8-sig", "utf-8"]
)
def test_csv_in_common_encodings_keeps_chinese_names(factory, db, encoding) -> None:
    """GBK is what Excel on Chinese Windows saves; UTF-16 is Excel's 'Unicode text'."""
    content = customers_text().encode(encoding)
    result = run(factory, content)
    assert result.job.status == "done", result.job.errors
    assert result.job.created_count == 3
    assert result.report is not None
    names = {db.get(Customer, r.id).name for r in result.report.results}  # type: ignore[union-attr]
    assert names == set(NAMES), names


def test_named_encoding_is_used_and_a_wrong_one_is_refused_with_its_name(factory, db) -> None:
    content = customers_text().encode("gbk")
    assert run(factory, content, encoding="GBK").job.status == "done"
    wrong = run(factory, customers_text().encode("gbk"), encoding="utf-8")
    assert wrong.job.status == "failed"
    error = wrong.job.errors[0]
    # Chinese Excel's CSV sent as UTF-8: the reason names the encoding it really is.
    assert error["field"] == "file" and error["code"] == "gb18030_not_utf8"
    assert "utf-8" in error["reason"] and "line 2" in error["reason"]
    assert "GBK/GB18030" in error["reason"]
    with pytest.raises(ValidationFailed) as unknown:
        to_utf8(b"a,b\n", "klingon")
    assert unknown.value.field == "encoding"
    with pytest.raises(ValidationFailed):
        to_utf8(b"a,b\n", "rot13")  # a codec, not a text encoding


def test_bytes_of_no_known_encoding_are_refused_not_garbled(factory) -> None:
    latin = "external_id,name,kind\nL1,Café Müller Großhandel,company\n".encode("cp1252")
    result = run(factory, latin)
    assert result.job.status == "failed"
    assert result.job.errors[0]["code"] == "unknown_file_encoding"
    assert to_utf8(latin, "cp1252").data.decode().startswith("external_id")


def test_encoding_over_the_api(manager, db) -> None:
    content = customers_text().encode("gbk")
    ok = manager.post(
        "/api/v1/imports",
        data={"kind": "customers", "mapping": "defaults: {source: erp}"},
        files={"file": ("gbk.csv", content, "text/csv")},
    )
    assert ok.status_code == 200 and ok.json()["job"]["status"] == "done", ok.text
    bad = manager.post(
        "/api/v1/imports",
        data={"kind": "customers", "encoding": "no-such"},
        files={"file": ("c.csv", content, "text/csv")},
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "encoding"


# ---------------------------------------------------------------- limits


def orders_frame(rows: int, prefix: str = "LM") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source": ["erp"] * rows,
            "external_id": [f"{prefix}{i:06d}" for i in range(rows)],
            "customer_external_id": ["C-LIMIT"] * rows,
            "ordered_at": ["2026-01-05T10:00:00+00:00"] * rows,
            "amount": ["100.00"] * rows,
            "currency": ["CNY"] * rows,
            "category": ["office"] * rows,
        }
    )


def test_csv_over_the_row_limit_is_refused_with_413_naming_it(factory, db) -> None:
    limits = FileLimits(max_rows=10)
    content = orders_frame(11).write_csv().encode()
    with pytest.raises(PayloadTooLarge) as too_many:
        read_table(content, "o.csv", limits=limits)
    assert "10" in too_many.value.message and "RISKDESK_IMPORT_MAX_ROWS" in too_many.value.message
    assert read_table(orders_frame(10).write_csv().encode(), "o.csv", limits=limits).height == 10
    with pytest.raises(PayloadTooLarge):
        run(factory, content, kind="orders", filename="o.csv", limits=limits)
    job = db.scalars(select(ImportJob).order_by(ImportJob.id.desc())).first()
    assert job is not None and job.status == "failed"
    assert job.errors[0]["code"] == "too_many_rows"


def test_excel_is_measured_before_it_is_unpacked(monkeypatch) -> None:
    buffer = io.BytesIO()
    orders_frame(2000).write_excel(buffer)
    workbook = buffer.getvalue()

    def never(*_a, **_k):  # type: ignore[no-untyped-def]
        raise AssertionError("the sheet was read")

    monkeypatch.setattr(pl, "read_excel", never)
    with pytest.raises(PayloadTooLarge) as rows:
        read_table(workbook, "o.xlsx", limits=FileLimits(max_rows=1999))
    assert "RISKDESK_IMPORT_MAX_ROWS" in rows.value.message
    with pytest.raises(PayloadTooLarge) as unpacked:
        read_table(workbook, "o.xlsx", limits=FileLimits(max_uncompressed_mb=0))
    assert "RISKDESK_IMPORT_MAX_UNCOMPRESSED_MB" in unpacked.value.message
    monkeypatch.undo()
    assert read_table(workbook, "o.xlsx", limits=FileLimits(max_rows=2000)).height == 2000


def test_api_answers_413_for_a_file_over_the_limit(app, manager, db) -> None:
    app.state.settings = app.state.settings.model_copy(update={"import_max_rows": 5})
    response = manager.post(
        "/api/v1/imports",
        data={"kind": "orders"},
        files={"file": ("o.csv", orders_frame(6).write_csv().encode(), "text/csv")},
    )
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["field"] == "file" and "RISKDESK_IMPORT_MAX_ROWS" in error["message"]


# ---------------------------------------------------------------- chunks


def add_customer(factory: sessionmaker[Session], name: str) -> None:
    """The company C-LIMIT that the order files name."""
    record = {
        "source": "erp",
        "external_id": "C-LIMIT",
        "kind": "company",
        "name": name,
        "tax_id": uscc(),
    }
    with unit_of_work(factory) as session:
        intake.ingest_items(
            session,
            principal(session, "manager"),
            "customers",
            [Item(row=1, raw=record)],
            skip_invalid=False,
            channel="test",
        )


@pytest.fixture
def limit_customer(factory) -> None:  # type: ignore[no-untyped-def]
    add_customer(factory, "分块导入测试有限公司")


def test_chunks_keep_an_orders_lines_together_wherever_they_stand(
    factory, db, limit_customer, monkeypatch
) -> None:
    monkeypatch.setattr(intake, "CHUNK_ROWS", 2)
    content = (
        b"source,external_id,customer_external_id,ordered_at,amount,currency,category,line_amount\n"
        b"erp,K1,C-LIMIT,2026-01-05,300,CNY,food,100\n"
        b"erp,K2,C-LIMIT,2026-01-05,50,CNY,food,50\n"
        b"erp,K3,C-LIMIT,2026-01-05,70,CNY,food,70\n"
        b"erp,K1,C-LIMIT,2026-01-05,300,CNY,office,200\n"
    )
    result = run(factory, content, kind="orders", filename="o.csv")
    assert result.job.status == "done", result.job.errors
    assert result.job.created_count == 3
    k1 = db.scalars(select(Order).where(Order.external_id == "K1")).one()
    lines = db.scalars(select(OrderLine).where(OrderLine.order_id == k1.id)).all()
    assert sorted(str(line.amount) for line in lines) == ["100.00", "200.00"]


def test_an_invalid_row_in_a_late_chunk_leaves_nothing_written(
    factory, db, limit_customer, monkeypatch
) -> None:
    monkeypatch.setattr(intake, "CHUNK_ROWS", 3)
    frame = orders_frame(10, "IV").with_columns(
        pl.when(pl.int_range(pl.len()).is_in([8, 9]))
        .then(pl.lit("-5"))
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    before = int(db.scalar(select(func.count()).select_from(Order)) or 0)
    result = run(factory, frame.write_csv().encode(), kind="orders", filename="o.csv")
    assert result.job.status == "rejected"
    assert {e["row"] for e in result.job.errors} == {10, 11}  # both, though in two chunks
    assert result.report is not None and result.report.created == 0
    assert int(db.scalar(select(func.count()).select_from(Order)) or 0) == before
    skipped = intake.import_file(
        factory,
        lambda s: principal(s, "manager"),
        kind="orders",
        content=frame.write_csv().encode(),
        filename="o.csv",
        mapping=None,
        skip_invalid=True,
    )
    assert (skipped.job.created_count, skipped.job.invalid_rows) == (8, 2)


def test_a_large_files_report_keeps_counts_first_rows_and_errors(
    factory, limit_customer, monkeypatch
) -> None:
    monkeypatch.setattr(intake, "CHUNK_ROWS", 4)
    monkeypatch.setattr(intake, "RESULTS_KEPT", 5)
    frame = orders_frame(12, "RK")
    result = run(factory, frame.write_csv().encode(), kind="orders", filename="o.csv")
    report = result.report
    assert report is not None and report.created == 12 and report.total == 12
    assert len(report.results) == 5 and not report.results_complete
    again = run(factory, frame.write_csv().encode(), kind="orders", filename="o.csv")
    assert again.report is not None and again.report.duplicates == 12


# ---------------------------------------------------------------- lost jobs


def _old_running_job(factory: sessionmaker[Session]) -> int:
    with unit_of_work(factory) as session:
        job = intake.create_job(
            session,
            principal(session, "manager"),
            kind="orders",
            filename="lost.csv",
            content=b"x",
            skip_invalid=False,
        )
        job_id = job.id
    with intake._PROGRESS_LOCK:
        intake._STARTING.discard(job_id)  # as if its process had gone
    with unit_of_work(factory) as session:
        session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
        )
    return job_id


def test_a_running_job_without_a_live_lease_is_marked_failed(factory, db) -> None:
    lost = _old_running_job(factory)
    alive = _old_running_job(factory)
    with import_repo.job_lease(factory.kw["bind"], alive):
        reaped = intake.reap_interrupted(factory, grace_seconds=60)
    assert lost in reaped and alive not in reaped
    db.expire_all()
    job = db.get(ImportJob, lost)
    assert job is not None and job.status == "failed"
    assert job.errors[0]["code"] == "import_interrupted" and job.finished_at is not None
    assert db.get(ImportJob, alive).status == "running"  # type: ignore[union-attr]
    young = _old_running_job(factory)
    with unit_of_work(factory) as session:
        session.execute(
            update(ImportJob)
            .where(ImportJob.id == young)
            .values(created_at=dt.datetime.now(dt.UTC))
        )
    assert young not in intake.reap_interrupted(factory, grace_seconds=60)


CHILD = textwrap.dedent(
    """
    import sys
    from sqlalchemy import text
    from riskdesk import bootstrap
    from riskdesk.db import make_engine, make_sessionmaker
    from riskdesk.pipeline import intake
    from riskdesk.security import keys
    from riskdesk.security import service as security_service

    keys.use(keys.generate().to_json())
    bootstrap.install()  # as every entry point: the import's writes are audited
    url, schema, path = sys.argv[1:4]
    extra = {"connect_args": {"options": f"-csearch_path={schema}"}} if schema else {}
    factory = make_sessionmaker(make_engine(url, **extra))

    def load(session):
        user = security_service.get_user_by_username_or_raise(session, "manager")
        return security_service.system_principal(session, user)

    intake.import_file(factory, load, kind="orders", content=open(path, "rb").read(),
                       filename="big.csv", mapping=None, skip_invalid=False)
    """
)


def test_an_import_killed_part_way_is_interrupted_and_a_resend_completes_it(
    own_backend, tmp_path
) -> None:
    """kill -9 while the import writes its chunks: its lease dies with it, the reaper marks it
    interrupted with the rows its committed chunks wrote, and the same file sent again imports
    the rest, every order once."""
    engine = own_backend.engine
    factory = make_sessionmaker(engine)
    add_customer(factory, "中断导入测试有限公司")
    big = tmp_path / "big.csv"
    rows = 40_000
    orders_frame(rows, "KL").write_csv(big)
    schema = ""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, engine.url.render_as_string(False), schema, str(big)],
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        job_id = None
        written = 0
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and child.poll() is None:
            with factory() as session:
                found = session.execute(
                    select(ImportJob.id, ImportJob.processed_rows).where(
                        ImportJob.status == "running"
                    )
                ).first()
            if found is not None:
                job_id, written = found
                if written >= 2 * intake.WRITE_ROWS:  # some chunks are committed
                    break
            time.sleep(0.05)
        assert job_id is not None and written and child.poll() is None, "no chunk was written"
    finally:
        child.kill()
        child.wait()
    deadline = time.monotonic() + 30
    while import_repo.lease_held(engine, job_id) and time.monotonic() < deadline:
        time.sleep(0.1)  # PostgreSQL ends the dead client's session on its own
    assert intake.reap_interrupted(factory, grace_seconds=0) == [job_id]
    with factory() as session:
        job = session.get(ImportJob, job_id)
        assert job is not None and job.status == "interrupted"
        assert job.errors[0]["code"] == "import_interrupted_partway"
        stored = session.scalar(select(func.count()).select_from(Order))
        assert 0 < job.processed_rows < rows
        assert stored == job.processed_rows == job.created_count  # the cursor is exact
    again = run(factory, big.read_bytes(), kind="orders", filename="big.csv")
    assert again.job.status == "done", again.job.errors
    assert again.job.duplicate_count == stored and again.job.created_count == rows - stored
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == rows


@pytest.mark.parametrize("streamed", [True, False])
def test_a_workbook_is_read_row_by_row_with_calamines_text(tmp_path, monkeypatch, streamed) -> None:
    """A large .xlsx goes through openpyxl's read-only mode: numbers, dates and blanks read as
    the calamine path reads them, and a blank row between data keeps the rows' numbers."""
    import xlsxwriter

    from riskdesk.kit import tabular

    monkeypatch.setattr(tabular, "STREAM_CELLS", 0 if streamed else 10**9)
    if not streamed:
        monkeypatch.setattr(tabular, "_stream_workbook", None)  # would fail if called

    path = tmp_path / "w.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["external_id", "amount", "ordered_at", "note"])
    sheet.write_row(1, 0, ["A1", 100, "2026-01-05", "x"])
    sheet.write_number(2, 1, 12.5)
    sheet.write_string(2, 0, "A2")
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet.write_datetime(2, 2, dt.datetime(2026, 1, 6, 9, 30), stamp)
    sheet.write_row(4, 0, ["A3", 7, "2026-01-07", None])  # row 4 (index 3) left blank
    sheet.write_row(8, 0, [None, None, None, None])  # formatting below the data
    book.close()
    frame = read_table(path.read_bytes(), "w.xlsx")
    assert frame.columns == ["external_id", "amount", "ordered_at", "note"]
    assert frame.get_column("external_id").to_list() == ["A1", "A2", None, "A3"]
    assert frame.get_column("amount").to_list() == ["100", "12.5", None, "7"]
    assert frame.get_column("ordered_at").to_list()[1] == "2026-01-06 09:30:00"
    with pytest.raises(PayloadTooLarge):
        read_table(path.read_bytes(), "w.xlsx", limits=FileLimits(max_rows=3))


def test_a_lease_file_replaced_while_locking_is_locked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder deletes its lock file as it lets go: a process that opened the old file
    just before must not hold a lock on it (a third would lock the new file meanwhile, and
    both would think they hold the lease). It locks the file at the path instead."""
    import fcntl
    import os

    from riskdesk.pipeline import repository as leases

    path = tmp_path / "lease.lock"
    path.write_bytes(b"")
    real = fcntl.flock
    calls: list[int] = []

    def letting_go(fd: int, op: int) -> None:
        if not calls:  # the old holder lets go between our open and our lock
            path.unlink()
        calls.append(op)
        real(fd, op)

    monkeypatch.setattr(leases.fcntl, "flock", letting_go)
    fd = leases._locked_file(path, wait=False)
    assert fd is not None and len(calls) == 2
    assert os.fstat(fd).st_ino == os.stat(path).st_ino
    # Held: another descriptor of the same file cannot take it.
    monkeypatch.setattr(leases.fcntl, "flock", real)
    assert leases._locked_file(path, wait=False) is None
    os.close(fd)
    again = leases._locked_file(path, wait=False)
    assert again is not None
    os.close(again)
