"""An import a person can use: the field guide and templates come from the kinds' models,
enumerated values may be given in Chinese (or through a mapping's value table), mappings are
saved per source, and a file that fails before its rows are read says why."""

from __future__ import annotations

import io
import typing
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select

from riskdesk.customers.schemas import CustomerCreate, CustomerKind
from riskdesk.events.schemas import ComplaintIn, OrderIn, ReturnIn
from riskdesk.kit.messages import LOCALES, catalog
from riskdesk.kit.tabular import ColumnMapping
from riskdesk.models import Customer, ImportMapping, Interaction, Order
from riskdesk.pipeline import guide, intake
from tests.conftest import principal
from tests.factories import uscc


def run(factory, content: bytes, kind: str = "customers", filename: str = "f.csv", **kw: Any):  # type: ignore[no-untyped-def]
    mapping = kw.pop("mapping", None)
    return intake.import_file(
        factory,
        lambda s: principal(s, "manager"),
        kind=kind,
        content=content,
        filename=filename,
        mapping=ColumnMapping.from_yaml(mapping) if mapping else None,
        skip_invalid=kw.pop("skip_invalid", False),
        **kw,
    )


# ---------------------------------------------------------------- the guide, from the models


def test_every_field_and_value_of_every_kind_is_named_in_both_languages() -> None:
    for kind in intake.KINDS:
        for g in guide.fields_of(kind):
            for locale in LOCALES:
                assert g.label(locale) != g.name or g.name in ("ebit",), (kind, g.name, locale)
                for code in g.choices if g.value_prefix else ():
                    assert g.value_prefix + code in catalog(locale), (kind, g.name, code, locale)
                assert guide.TYPE_KEYS[g.type] in catalog(locale)


def test_the_guide_follows_the_models() -> None:
    kinds = {g.name: g for g in guide.fields_of("customers")}
    assert kinds["kind"].choices == tuple(k.value for k in CustomerKind)
    assert kinds["kind"].required and kinds["name"].required and not kinds["region"].required
    assert "merged" not in kinds["status"].choices  # set only by a merge
    assert {g.name for g in guide.fields_of("customers") if g.required} == {
        n for n, f in CustomerCreate.model_fields.items() if f.is_required()
    }
    reasons = {g.name: g for g in guide.fields_of("returns")}["reason"]
    assert reasons.choices == typing.get_args(ReturnIn.model_fields["reason"].annotation)
    severity = {g.name: g for g in guide.fields_of("complaints")}["severity"]
    assert set(severity.choices) == set(
        typing.get_args(ComplaintIn.model_fields["severity"].annotation)
    )
    assert {g.name: g for g in guide.fields_of("statements")}["period_type"].choices == (
        "annual",
        "half_year",
        "quarter",
    )
    orders = guide.required_fields("orders")
    assert "category" in orders and "lines" not in orders
    assert set(orders) >= {n for n, f in OrderIn.model_fields.items() if f.is_required()} - {
        "lines"
    }


def test_labels_read_as_codes() -> None:
    assert guide.read_value("customers", "kind", "企业") == "company"
    assert guide.read_value("customers", "kind", " 个 人 ") == "individual"
    assert guide.read_value("customers", "kind", "Company") == "company"
    assert guide.read_value("customers", "segment", "小微企业") == "b2b_sme"
    assert guide.read_value("customers", "blocked", "否") == "false"
    assert guide.read_value("interactions", "channel", "微信") == "wechat"
    assert guide.read_value("interactions", "kind", "催收") == "collection"
    assert guide.read_value("complaints", "severity", "高") == "high"
    assert guide.read_value("returns", "reason", "质量问题") == "defective"
    assert guide.read_value("customers", "kind", "公司") == "公司"  # unknown: left to refuse
    assert guide.read_value("customers", "name", "企业") == "企业"  # not enumerated


# ---------------------------------------------------------------- Chinese values in files


def test_chinese_enum_values_are_imported(factory, db) -> None:
    content = (
        "source,external_id,kind,name,tax_id,segment,status,blocked\n"
        f"erp,ZH-1,企业,中文贸易有限公司,{uscc()},小微企业,正常,否\n"
        "erp,ZH-2,个人,张三,,个人消费者,潜在,\n"
    ).encode()
    result = run(factory, content)
    assert result.job.status == "done", result.job.errors
    rows = sorted(
        (str(c.kind), str(c.segment), str(c.status))
        for c in db.scalars(select(Customer))
        if c.name in ("中文贸易有限公司", "张三")
    )
    assert rows == [
        ("company", "b2b_sme", "active"),
        ("individual", "consumer", "prospect"),
    ]
    again = run(factory, content)  # the same file again changes nothing
    assert again.job.status == "done" and again.job.duplicate_count == 2


def test_a_mapping_translates_values_and_stays_compatible(factory, db) -> None:
    content = f"编号,名称,类型,税号\nVM-1,映射贸易有限公司,1,{uscc()}\nVM-2,李四,2,\n".encode()
    mapping = """{"columns": {"external_id": "编号", "name": "名称", "kind": "类型",
                              "tax_id": "税号"},
                  "defaults": {"source": "erp"},
                  "values": {"kind": {"1": "企业", "2": "individual"}}}"""
    result = run(factory, content, mapping=mapping)
    assert result.job.status == "done", result.job.errors
    kinds = {c.name: c.kind for c in db.scalars(select(Customer))}
    assert {k: str(kinds[k]) for k in ("映射贸易有限公司", "李四")} == {
        "映射贸易有限公司": "company",
        "李四": "individual",
    }
    # The old format (YAML, columns and defaults) reads as before.
    old = ColumnMapping.from_yaml("columns:\n  external_id: 编号\ndefaults:\n  source: erp\n")
    assert old.values == {} and old.columns == {"external_id": "编号"}
    with pytest.raises(Exception, match="values"):
        ColumnMapping.from_yaml("values: [1, 2]")
    unknown = run(factory, content, mapping='{"values": {"nonsense": {"1": "x"}}}')
    assert unknown.job.status == "failed" and unknown.job.errors[0]["code"] == "unknown_field"


def test_a_value_not_allowed_is_refused_on_its_row_and_field(factory) -> None:
    content = (
        "source,external_id,kind,name\nerp,BAD-1,企业,好的贸易有限公司\nerp,BAD-2,公司,坏的\n"
    ).encode()
    result = run(factory, content)
    assert result.job.status == "rejected"
    (error,) = result.job.errors
    assert (error["row"], error["field"]) == (3, "kind")
    assert "skip_invalid" in (result.job.message or "")  # the API's word; the page names its box


# ---------------------------------------------------------------- files that fail before any row


def test_five_rows_without_a_mapping_say_which_columns_and_fields(factory) -> None:
    content = "客户编号,客户名称,客户类型\n" + "".join(f"K{i},名称{i},企业\n" for i in range(5))
    result = run(factory, content.encode())
    assert result.job.status == "failed"
    assert "no data rows" not in (result.job.message or "")
    by_code: dict[str, list[str]] = {}
    for e in result.job.errors:
        by_code.setdefault(e["code"], []).append(e["field"])
    assert by_code["unknown_column"] == ["客户编号", "客户名称", "客户类型"]
    assert set(by_code["required_column"]) == {"source", "external_id", "kind", "name"}
    assert "客户编号" in (result.job.message or "")


def test_a_file_without_a_header_row_needs_a_mapping(factory) -> None:
    result = run(factory, "erp,NH-1,company,无标题有限公司\n".encode())
    assert result.job.status == "failed"
    assert {e["code"] for e in result.job.errors} == {"unknown_column", "required_column"}


def test_empty_files_say_so(factory) -> None:
    for content in (b"", b"\xef\xbb\xbf", b"  \n"):
        result = run(factory, content)
        assert result.job.status == "failed" and result.job.errors[0]["code"] == "empty_file"
    header_only = run(factory, b"source,external_id,kind,name\n")
    assert header_only.job.errors[0]["code"] == "empty_file"


def test_gbk_files_are_recognised_or_named(factory) -> None:
    content = f"source,external_id,kind,name,tax_id\nerp,GB-1,企业,国标编码有限公司,{uscc()}\n"
    gbk = content.encode("gb18030")
    assert run(factory, gbk).job.status == "done"
    wrong = run(factory, gbk, encoding="utf-8")
    assert wrong.job.status == "failed" and wrong.job.errors[0]["code"] == "gb18030_not_utf8"


# ---------------------------------------------------------------- templates


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_each_template_has_the_fields_and_an_example(fmt: str) -> None:
    for kind in intake.KINDS:
        data = guide.template_bytes(kind, fmt, "zh-CN")
        frame = intake.read_file_table(kind, data, f"t.{fmt}", None)
        assert frame.height == 1
        assert set(guide.required_fields(kind)) <= set(frame.frame.columns)
    book = openpyxl.load_workbook(io.BytesIO(guide.template_bytes("customers", "xlsx", "zh-CN")))
    assert len(book.worksheets) == 2
    rows = list(book.worksheets[1].iter_rows(values_only=True))
    by_field = {r[0]: r for r in rows[1:]}
    assert "企业 (company)" in by_field["kind"][6] and "Company (company)" in by_field["kind"][7]
    assert by_field["kind"][3].startswith("是") and by_field["region"][3].startswith("否")


def test_the_zh_templates_import_one_after_the_other(factory, db) -> None:
    """Customers, then orders, invoices and payments: each template's example as it comes,
    its enumerated values in Chinese."""
    customers = guide.template_bytes("customers", "csv", "zh-CN")
    assert "企业".encode() in customers
    for kind in ("customers", "orders", "invoices", "payments", "interactions"):
        result = run(factory, guide.template_bytes(kind, "xlsx", "zh-CN"), kind, "t.xlsx")
        assert result.job.status == "done", (kind, result.job.errors, result.job.message)
        assert result.job.created_count == 1, kind
    assert (
        db.scalar(select(func.count()).select_from(Order).where(Order.external_id == "SO-0001"))
        == 1
    )
    interaction = db.scalars(select(Interaction)).one()
    assert (interaction.channel, interaction.kind) == ("phone", "sales_call")
    again = run(factory, guide.template_bytes("orders", "csv", "zh-CN"), "orders")
    assert again.job.duplicate_count == 1 and again.job.created_count == 0


# ---------------------------------------------------------------- the API


def test_templates_and_guide_through_the_api(manager) -> None:  # type: ignore[no-untyped-def]
    listed = manager.get("/api/v1/imports/templates")
    assert listed.status_code == 200, listed.text
    customers = next(k for k in listed.json() if k["kind"] == "customers")
    kind = next(f for f in customers["fields"] if f["name"] == "kind")
    assert kind["required"] and {c["code"]: c["labels"]["zh-CN"] for c in kind["choices"]} == {
        "company": "企业",
        "individual": "个人",
    }
    xlsx = manager.get("/api/v1/imports/templates/customers.xlsx?lang=zh-CN")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    csv = manager.get("/api/v1/imports/templates/orders.csv", headers={"Accept-Language": "en"})
    assert csv.status_code == 200 and csv.text.lstrip("\ufeff").startswith("source,external_id")
    assert manager.get("/api/v1/imports/templates/nonsense.csv").status_code == 422
    assert manager.get("/api/v1/imports/templates/customers.pdf").status_code == 404


def test_saved_mappings_through_the_api(manager, client_for, db) -> None:  # type: ignore[no-untyped-def]
    body = {
        "name": "ERP-金蝶",
        "kind": "customers",
        "mapping": "columns:\n  external_id: 编号\n  name: 名称\n  kind: 类型\n"
        "defaults:\n  source: kingdee\nvalues:\n  kind: {'1': 企业, '2': 个人}\n",
    }
    saved = manager.put("/api/v1/imports/mappings", json=body)
    assert saved.status_code == 200, saved.text
    again = manager.put("/api/v1/imports/mappings", json=body)  # a repeat changes nothing
    assert again.json() == saved.json()
    assert db.scalar(select(func.count()).select_from(ImportMapping)) == 1
    listed = manager.get("/api/v1/imports/mappings").json()
    assert [(m["name"], m["kind"]) for m in listed] == [("ERP-金蝶", "customers")]
    bad = manager.put(
        "/api/v1/imports/mappings", json={**body, "mapping": "columns: {nonsense: a}"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "mapping"
    content = "编号,名称,类型\nKD-1,金蝶客户,2\n".encode()
    imported = manager.post(
        "/api/v1/imports",
        data={"kind": "customers", "mapping_name": "ERP-金蝶"},
        files={"file": ("k.csv", content, "text/csv")},
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["job"]["status"] == "done", imported.json()
    (person,) = [c for c in db.scalars(select(Customer)) if c.name == "金蝶客户"]
    assert str(person.kind) == "individual"
    unknown = manager.post(
        "/api/v1/imports",
        data={"kind": "customers", "mapping_name": "nobody"},
        files={"file": ("k.csv", content, "text/csv")},
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "mapping_name"
    gone = manager.delete(f"/api/v1/imports/mappings/{saved.json()['id']}")
    assert gone.status_code == 204
    assert manager.delete(f"/api/v1/imports/mappings/{saved.json()['id']}").status_code == 204
    assert manager.get("/api/v1/imports/mappings").json() == []
    sales = client_for("sales")
    assert sales.get("/api/v1/imports/mappings").status_code == 403
    assert sales.get("/api/v1/imports/templates/customers.csv").status_code == 403
