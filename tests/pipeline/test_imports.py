"""File imports: CSV and Excel, mappings, row-numbered errors, skip-invalid, re-import."""

from __future__ import annotations

import io

import polars as pl
import pytest
from sqlalchemy import func, select

from riskdesk.kit.tabular import ColumnMapping
from riskdesk.models import Customer, ImportJob, Order, OrderLine
from riskdesk.pipeline import intake
from tests.conftest import principal
from tests.factories import uscc

CUSTOMERS_CSV = """客户编号,名称,类型,税号,区域,额度,账期
K001,甲公司有限公司,company,{t1},East,50000,30
K002,乙公司有限公司,company,{t2},North,80000,45
K003,丙公司有限公司,company,{t3},South,,60
"""
MAPPING = """
columns:
  external_id: 客户编号
  name: 名称
  kind: 类型
  tax_id: 税号
  region: 区域
  credit_limit: 额度
  payment_terms_days: 账期
defaults:
  source: erp
  limit_currency: CNY
"""


def customers_csv() -> bytes:
    return CUSTOMERS_CSV.format(t1=uscc(), t2=uscc(), t3=uscc()).encode()


def run(
    factory,
    db,
    kind: str,
    content: bytes,
    filename: str = "f.csv",
    mapping: str | None = None,
    skip_invalid: bool = False,
):  # type: ignore[no-untyped-def]
    return intake.import_file(
        factory,
        lambda s: principal(s, "manager"),
        kind=kind,
        content=content,
        filename=filename,
        mapping=ColumnMapping.from_yaml(mapping) if mapping else None,
        skip_invalid=skip_invalid,
    )


def count(db, model) -> int:  # type: ignore[no-untyped-def]
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_csv_with_mapping_then_reimport_changes_nothing(factory, db) -> None:
    content = customers_csv()
    result = run(factory, db, "customers", content, mapping=MAPPING)
    assert result.job.status == "done", result.job.errors
    assert (result.job.created_count, result.job.total_rows) == (3, 3)
    before = count(db, Customer)
    again = run(factory, db, "customers", content, mapping=MAPPING)
    assert again.job.status == "done"
    assert (again.job.created_count, again.job.duplicate_count) == (0, 3)
    assert count(db, Customer) == before


def test_bad_rows_stop_the_file_and_are_reported(factory, db) -> None:
    content = (
        "external_id,name,kind,tax_id\n"
        f"Q1,好公司有限公司,company,{uscc()}\n"
        "Q2,坏公司有限公司,company,91330100XXXXXXXXXX\n"
        "Q3,,company,\n"
    ).encode()
    before = count(db, Customer)
    result = run(factory, db, "customers", content, mapping="defaults: {source: erp}")
    assert result.job.status == "rejected"
    assert count(db, Customer) == before
    rows = {(e["row"], e["field"]) for e in result.job.errors}
    assert (3, "tax_id") in rows and (4, "name") in rows
    assert result.job.invalid_rows == 2
    skipped = run(
        factory, db, "customers", content, mapping="defaults: {source: erp}", skip_invalid=True
    )
    assert skipped.job.status == "done"
    assert (skipped.job.created_count, skipped.job.invalid_rows) == (1, 2)
    assert count(db, Customer) == before + 1


def test_excel_orders_with_lines_grouped(factory, db) -> None:
    run(factory, db, "customers", customers_csv(), mapping=MAPPING)
    frame = pl.DataFrame(
        {
            "order_no": ["SO1", "SO1", "SO2"],
            "customer": ["K001", "K001", "K002"],
            "date": ["2026-01-05 10:00:00", "2026-01-05 10:00:00", "2026-01-06 11:00:00"],
            "total": ["300.00", "300.00", "50.00"],
            "category": ["electronics", "office", "food"],
            "line_amount": ["200.00", "100.00", "50.00"],
            "pay": ["credit", "credit", "cash_on_delivery"],
        }
    )
    buffer = io.BytesIO()
    frame.write_excel(buffer)
    mapping = """
columns: {external_id: order_no, customer_external_id: customer, ordered_at: date,
          amount: total, payment_method: pay}
defaults: {source: erp, currency: CNY}
"""
    result = run(factory, db, "orders", buffer.getvalue(), filename="orders.xlsx", mapping=mapping)
    assert result.job.status == "done", result.job.errors
    assert result.job.created_count == 2
    so1 = db.scalars(select(Order).where(Order.external_id == "SO1")).one()
    lines = db.scalars(
        select(OrderLine).where(OrderLine.order_id == so1.id).order_by(OrderLine.line_no)
    ).all()
    assert [(line.category, str(line.amount)) for line in lines] == [
        ("electronics", "200.00"),
        ("office", "100.00"),
    ]


def test_mapping_problems_are_clear(factory, db) -> None:
    result = run(factory, db, "customers", b"a,b\n1,2\n", mapping="columns: {external_id: missing}")
    assert result.job.status == "failed"
    assert result.job.errors[0]["code"] == "missing_column"
    unknown = run(factory, db, "customers", b"a\n1\n", mapping="columns: {nonsense: a}")
    assert unknown.job.errors[0]["code"] == "unknown_field"
    with pytest.raises(Exception, match="YAML"):
        ColumnMapping.from_yaml("columns: [unclosed")
    empty = run(factory, db, "customers", b"external_id,name\n")
    assert empty.job.status == "failed" and empty.job.errors[0]["code"] == "empty_file"
    binary = run(factory, db, "orders", b"\x00\x01\x02", filename="x.xlsx")
    assert binary.job.status == "failed" and binary.job.errors[0]["field"] == "file"


def test_import_job_recorded(factory, db) -> None:
    result = run(factory, db, "customers", customers_csv(), mapping=MAPPING)
    job = db.get(ImportJob, result.job.id)
    assert job is not None and job.file_sha256 and job.finished_at is not None


def test_import_over_the_api(manager, db) -> None:
    response = manager.post(
        "/api/v1/imports",
        data={"kind": "customers", "mapping": MAPPING},
        files={"file": ("c.csv", customers_csv(), "text/csv")},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["job"]["status"] == "done" and body["report"]["created"] == 3
    listed = manager.get("/api/v1/imports").json()
    assert listed[0]["id"] == body["job"]["id"]
    assert manager.get(f"/api/v1/imports/{body['job']['id']}").json()["status"] == "done"
    bad_kind = manager.post(
        "/api/v1/imports", data={"kind": "nope"}, files={"file": ("c.csv", b"x\n1\n", "text/csv")}
    )
    assert bad_kind.status_code == 422 and bad_kind.json()["error"]["field"] == "kind"


def test_sales_cannot_import(client_for) -> None:
    response = client_for("sales").post(
        "/api/v1/imports",
        data={"kind": "customers"},
        files={"file": ("c.csv", b"x\n1\n", "text/csv")},
    )
    assert response.status_code == 403
