"""Exports of every list, in Excel and CSV: the list's rows under its filters, typed cells,
formula-safe text, masking and visibility as on the screen, the list's permission, an audit
record of each export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import openpyxl
import pytest
from sqlalchemy import select, update

from riskdesk.alerts import service as alert_service
from riskdesk.kit.exports import BOM
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import AuditEntry, CreditProfile
from tests.conftest import ingest, principal
from tests.factories import company, invoice, person

EVIL = "=cmd|' /C calc'!A0"
LISTS = {
    "customers": "/api/v1/customers/export",
    "alerts": "/api/v1/alerts/export",
    "cases": "/api/v1/worklist/export",
    "held-orders": "/api/v1/credit-decisions/export?status=held",
    "credit-decisions": "/api/v1/credit-decisions/export",
    "limit-requests": "/api/v1/limit-requests/export",
    "reviews": "/api/v1/reviews/queue/export",
    "complaints": "/api/v1/complaints/export",
    "ageing": "/api/v1/ageing/export",
    "exposure": "/api/v1/exposure/export",
}


def _world(db, manager) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Customers of the east team (sales) and of north (sales2), one individual; a held and
    an approved order, an invoice, a complaint, a limit request, reviews due, an alert."""
    from riskdesk.customers import repository as customer_repo

    p = principal(db, "manager")
    ingest(
        db,
        p,
        "customers",
        [
            company("E1", owner="sales", name=EVIL, credit_limit="1000.00"),
            company(
                "E2", owner="sales", segment="b2b_enterprise", blocked=True, blocked_reason="fraud"
            ),
            company("N1", owner="sales2"),
            person("P1", owner="sales"),
        ],
    )
    refs = customer_repo.customer_ids_by_ref(
        db, {("erp", "E1"), ("erp", "E2"), ("erp", "N1"), ("shop", "P1")}
    )
    ids = {ext: cid for (_, ext), cid in refs.items()}
    ingest(
        db,
        p,
        "invoices",
        [invoice("I1", "E1", "600.00", issue_date="2025-12-01", due_date="2026-01-01")],
    )
    ingest(
        db,
        p,
        "complaints",
        [
            {
                "source": "erp",
                "external_id": "K1",
                "customer_external_id": "E1",
                "severity": "high",
                "opened_at": (utcnow() - dt.timedelta(hours=2)).isoformat(),
                "description": "+SUM(1,2) the drill broke",
            }
        ],
    )
    db.execute(
        update(CreditProfile)
        .where(CreditProfile.customer_id.in_([ids["E1"], ids["N1"]]))
        .values(next_review_date=today() - dt.timedelta(days=3), risk_tier="high")
    )
    alert_service.raise_hits(
        db,
        [(ids["E1"], {"day": today().isoformat(), "code": "late"})],
        source="rule",
        code="late",
        category="payment",
        warning_type="payment_deterioration",
        severity="high",
        titles=("Late payer", "付款延迟"),
        dedup_days=0,
        version_id=None,
        now=utcnow(),
    )
    db.commit()
    for ext, amount in (("EO1", "150000.00"), ("EO2", "10.00")):
        answer = manager.post(
            "/api/v1/credit-checks",
            json={
                "source": "erp",
                "order_external_id": ext,
                "customer_external_id": "N1",
                "customer_source": "erp",
                "amount": amount,
                "currency": "CNY",
            },
        )
        assert answer.status_code in (200, 201), answer.text
    made = manager.post(
        f"/api/v1/customers/{ids['E1']}/limit-requests",
        json={"requested_limit": "2000.00", "reason": "-1+1 seasonal stock"},
    )
    assert made.status_code in (200, 201), made.text
    return ids


def _csv(answer: Any) -> list[list[str]]:
    assert answer.status_code == 200, answer.text
    assert answer.content.startswith(BOM.encode("utf-8"))
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))


def _sheet(answer: Any) -> Any:
    assert answer.status_code == 200, answer.text
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    return book.worksheets[0]


def _with(path: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{path}{'&' if '?' in path else '?'}{query}"


def test_every_list_exports_in_both_formats(db, manager) -> None:  # type: ignore[no-untyped-def]
    _world(db, manager)
    day = today().isoformat()
    for name, path in LISTS.items():
        for fmt in ("csv", "xlsx"):
            answer = manager.get(_with(path, format=fmt, lang="en"))
            assert answer.status_code == 200, (name, fmt, answer.text)
            if (name, fmt) == ("alerts", "csv"):
                continue  # the alerts' field-named CSV of before (tests/alerts/test_listing.py)
            disposition = answer.headers["content-disposition"]
            assert f'filename="{name}-{day}.{fmt}"' in disposition, disposition
            assert "filename*=UTF-8''" in disposition
            total = int(answer.headers["x-total-count"])
            if fmt == "csv":
                assert len(_csv(answer)[1:]) == total, name
            else:
                sheet = _sheet(answer)
                assert sheet.max_row - 1 == total, name
                assert sheet.freeze_panes == "A2" and sheet["A1"].font.bold
            assert total >= 1, name
    # The local name is the caller's language, percent-encoded (RFC 5987).
    zh = manager.get("/api/v1/customers/export", params={"format": "xlsx", "lang": "zh-CN"})
    local = zh.headers["content-disposition"].split("filename*=UTF-8''")[1]
    assert unquote(local) == f"客户列表-{day}.xlsx"


def test_customer_export_is_the_filtered_list_every_page(db, manager) -> None:  # type: ignore[no-untyped-def]
    _world(db, manager)
    for params in ({}, {"segment": "b2b_enterprise"}, {"blocked": "false"}, {"kind": "company"}):
        listed = manager.get("/api/v1/customers", params={**params, "size": 1}).json()
        codes: list[str] = []
        page = 1
        while True:
            chunk = manager.get(
                "/api/v1/customers", params={**params, "size": 2, "page": page}
            ).json()
            codes += [c["code"] for c in chunk["items"]]
            if page * 2 >= chunk["total"]:
                break
            page += 1
        rows = _csv(manager.get("/api/v1/customers/export", params={**params, "lang": "en"}))
        assert [r[0] for r in rows[1:]] == codes and len(codes) == listed["total"], params
        sheet = _sheet(manager.get("/api/v1/customers/export", params={**params, "format": "xlsx"}))
        assert [c.value for c in sheet["A"][1:]] == codes
    # Bad filters are refused, naming the field.
    bad = manager.get("/api/v1/customers/export", params={"kind": "robot"})
    assert bad.status_code == 422 and bad.json()["error"]["field"].endswith("kind")
    assert manager.get("/api/v1/customers/export", params={"format": "pdf"}).status_code == 422


def test_decisions_requests_complaints_follow_their_list_filters(db, manager) -> None:  # type: ignore[no-untyped-def]
    _world(db, manager)
    for status in ("held", "approved"):
        listed = manager.get("/api/v1/credit-decisions", params={"status": status}).json()
        rows = _csv(manager.get("/api/v1/credit-decisions/export", params={"status": status}))
        assert [int(r[0]) for r in rows[1:]] == [d["id"] for d in listed] and listed
    listed = manager.get("/api/v1/limit-requests", params={"status": "approved"}).json()
    rows = _csv(manager.get("/api/v1/limit-requests/export", params={"status": "approved"}))
    assert len(rows) - 1 == len(listed)
    for status in ("open_any", "closed"):
        listed = manager.get("/api/v1/complaints", params={"status": status}).json()
        rows = _csv(manager.get("/api/v1/complaints/export", params={"status": status}))
        assert [int(r[0]) for r in rows[1:]] == [c["id"] for c in listed]


def test_xlsx_cells_are_typed(db, manager) -> None:  # type: ignore[no-untyped-def]
    ids = _world(db, manager)
    sheet = _sheet(manager.get("/api/v1/customers/export", params={"format": "xlsx", "lang": "en"}))
    header = [c.value for c in sheet[1]]
    limit_col = header.index("Credit limit") + 1
    review_col = header.index("Next review") + 1
    by_code = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    e1 = by_code[f"C{ids['E1']:07d}"]
    limit = e1[limit_col - 1]
    assert limit.data_type == "n" and limit.value == 1000 and limit.number_format == "#,##0.00"
    review = e1[review_col - 1]
    assert review.is_date and review.value.date() == today() - dt.timedelta(days=3)
    assert review.number_format == "yyyy-mm-dd"
    # Text stays text: the formula-looking name is a string cell, not a formula.
    assert e1[1].data_type == "s" and e1[1].value == EVIL
    exposure = _sheet(manager.get("/api/v1/exposure/export", params={"format": "xlsx"}))
    util = [c for c in exposure[1] if c.value in ("Limit utilisation", "额度使用率")]
    assert util
    cells = [r[util[0].column - 1] for r in exposure.iter_rows(min_row=2)]
    assert any(c.value is not None and c.number_format == "0.00%" for c in cells)


def test_csv_has_a_bom_and_neutralises_formulas(db, manager) -> None:  # type: ignore[no-untyped-def]
    _world(db, manager)
    rows = _csv(manager.get("/api/v1/customers/export", params={"lang": "en"}))
    names = [r[1] for r in rows[1:]]
    assert "'" + EVIL in names and EVIL not in names
    assert all(not n.startswith(("=", "+", "-", "@")) for r in rows for n in r if n[:1] != "'")
    complaints = _csv(manager.get("/api/v1/complaints/export", params={"lang": "en"}))
    assert complaints[1][-1] == "'+SUM(1,2) the drill broke"
    requests = _csv(manager.get("/api/v1/limit-requests/export", params={"lang": "en"}))
    assert "'-1+1 seasonal stock" in requests[1]
    # Numbers are plain: a money cell is 1000.00, never 1E+3, and a negative is not escaped.
    assert "1000.00" in [c for r in rows for c in r]
    exposure = _csv(manager.get("/api/v1/exposure/export", params={"lang": "en"}))
    header = exposure[0]
    available = [r[header.index("Available credit")] for r in exposure[1:]]
    assert all(re.fullmatch(r"-?\d+\.\d{2}", a) for a in available), available


def test_headers_and_values_in_the_callers_language(db, manager) -> None:  # type: ignore[no-untyped-def]
    _world(db, manager)
    zh = _csv(manager.get("/api/v1/customers/export", params={"lang": "zh-CN"}))
    en = _csv(manager.get("/api/v1/customers/export", params={"lang": "en"}))
    assert zh[0][:3] == ["客户编号", "名称", "类型"] and en[0][0] == "Customer no."
    assert {r[2] for r in zh[1:]} == {"企业", "个人"} and {r[2] for r in en[1:]} == {
        "Company",
        "Individual",
    }
    by_header = manager.get(
        "/api/v1/customers/export", headers={"Accept-Language": "zh-CN,zh;q=0.9"}
    )
    assert _csv(by_header)[0][0] == "客户编号"
    held = _csv(manager.get("/api/v1/credit-decisions/export?status=held&lang=zh-CN"))
    assert {r[7] for r in held[1:]} == {"已冻结"}
    assert all(not re.search(r"\d[eE][+-]?\d", c) for r in held for c in r if c[:1].isdigit())


def test_sales_see_their_customers_masked_as_on_the_screen(db, client_for, manager) -> None:  # type: ignore[no-untyped-def]
    ids = _world(db, manager)
    sales = client_for("sales")
    listed = sales.get("/api/v1/customers", params={"size": 100}).json()["items"]
    rows = _csv(sales.get("/api/v1/customers/export", params={"lang": "en"}))
    header = rows[0]
    exported = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert set(exported) == {c["code"] for c in listed}
    assert f"C{ids['N1']:07d}" not in exported
    for c in listed:
        row = exported[c["code"]]
        shown = c["name"] if c["name"] != EVIL else "'" + EVIL
        assert row["Name"] == shown and row["Tax ID (USCC)"] == (c["tax_id"] or "")
    # The list shows no identifier of a person; neither does its file, whoever asks.
    for client in (sales, manager):
        for fmt in ("csv", "xlsx"):
            body = client.get("/api/v1/customers/export", params={"format": fmt}).content
            text = body.decode("utf-8", "ignore") if fmt == "csv" else _cells(body)
            assert "13812345678" not in text and "zhang.san@example.com" not in text
    # Other lists: only the team's customers.
    for path in (
        "/api/v1/exposure/export",
        "/api/v1/ageing/export",
        "/api/v1/reviews/queue/export",
    ):
        codes = {r[0] for r in _csv(sales.get(path))[1:]}
        assert codes and f"C{ids['N1']:07d}" not in codes, path
    assert _csv(sales.get("/api/v1/credit-decisions/export"))[1:] == []


def _cells(body: bytes) -> str:
    book = openpyxl.load_workbook(io.BytesIO(body))
    return " ".join(str(c.value) for s in book.worksheets for r in s.iter_rows() for c in r)


@pytest.mark.parametrize("path", list(LISTS.values()))
def test_export_needs_the_lists_permission(db, client_for, path) -> None:  # type: ignore[no-untyped-def]
    narrow = client_for("analyst", scopes=["events:read"])
    assert narrow.get(path).status_code == 403
    assert narrow.get(_with(path, format="xlsx")).status_code == 403


def test_complaints_export_needs_the_desk(db, client_for, manager) -> None:  # type: ignore[no-untyped-def]
    _world(db, manager)
    sales = client_for("sales")
    assert sales.get("/api/v1/complaints").status_code == 403
    assert sales.get("/api/v1/complaints/export").status_code == 403


def test_every_export_is_in_the_audit_log(db, client_for, manager) -> None:  # type: ignore[no-untyped-def]
    _world(db, manager)
    analyst = client_for("analyst")
    answer = analyst.get(
        "/api/v1/customers/export",
        params={"format": "xlsx", "segment": "b2b_sme", "q": "13812345678"},
    )
    assert answer.status_code == 200
    total = answer.headers["x-total-count"]
    entries = db.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "export",
            AuditEntry.object_type == "export",
            AuditEntry.actor == "analyst",
        )
    ).all()
    assert len(entries) == 1 and entries[0].object_id == "customers"
    fields = entries[0].detail["fields"]
    assert {"format=xlsx", f"rows={total}", "filter.segment=b2b_sme"} <= set(fields)
    # The search text may be an ID or phone number: that it was given is kept, not what it was.
    assert "filter.q=(given)" in fields and not any("13812345678" in f for f in fields)
    analyst.get("/api/v1/credit-decisions/export", params={"status": "held"})
    held = db.scalars(
        select(AuditEntry).where(
            AuditEntry.object_id == "held-orders", AuditEntry.actor == "analyst"
        )
    ).all()
    assert len(held) == 1 and "filter.status=held" in held[0].detail["fields"]


def test_ageing_and_exposure_rows(db, manager) -> None:  # type: ignore[no-untyped-def]
    ids = _world(db, manager)
    exposure = _csv(manager.get("/api/v1/exposure/export", params={"lang": "en"}))
    header = exposure[0]
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in exposure[1:]}
    n1 = rows[f"C{ids['N1']:07d}"]
    api = manager.get(f"/api/v1/customers/{ids['N1']}/exposure").json()
    assert Decimal(n1["Exposure (counted)"]) == Decimal(api["counted"])
    assert Decimal(n1["Available credit"]) == Decimal(api["available"])
    ageing = _csv(manager.get("/api/v1/ageing/export", params={"lang": "en"}))
    header = ageing[0]
    e1 = dict(zip(header, next(r for r in ageing[1:] if r[0] == f"C{ids['E1']:07d}"), strict=True))
    assert Decimal(e1["Open receivables"]) == Decimal("600")


def test_a_drill_down_export_is_logged_by_its_fields_not_as_sql(db, app, manager) -> None:  # type: ignore[no-untyped-def]
    """The customer list opened from a dashboard figure (an ageing bucket, a utilisation
    band) narrows by a subquery: its download's audit record names the fields given."""
    from fastapi.testclient import TestClient

    from tests.conftest import PASSWORD

    _world(db, manager)
    client = TestClient(app)
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    data = {"username": "manager", "password": PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303
    drill = {"ageing": "overdue", "utilisation": "under_50", "format": "csv"}
    answer = client.get("/customers/export", params=drill)
    assert answer.status_code == 200
    logged = db.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "export", AuditEntry.actor == "manager")
        .order_by(AuditEntry.id)  # the newest last (PostgreSQL returns rows in any order)
    ).all()
    fields = logged[-1].detail["fields"]
    assert {"filter.ageing=overdue", "filter.utilisation=under_50", "format=csv"} <= set(fields)
    assert not any("SELECT" in f.upper() for f in fields), fields


def _signed_in(app, username: str):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from tests.conftest import PASSWORD

    client = TestClient(app)
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    data = {"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303
    return client


def test_work_list_exports_keep_the_portfolio_filters(db, app, manager) -> None:  # type: ignore[no-untyped-def]
    """Held orders, limit requests and reviews opened from a dashboard (of a region, a tier...)
    download what they list: the page's link carries the filters, and the UI's and the API's
    exports apply them."""
    from riskdesk.models import Customer

    ids = _world(db, manager)
    db.execute(update(Customer).where(Customer.id == ids["N1"]).values(region="North"))
    db.commit()
    api = {
        "held": "/api/v1/credit-decisions/export?status=held",
        "requests": "/api/v1/limit-requests/export?status=pending",
        "reviews": "/api/v1/reviews/queue/export?horizon_days=30",
    }
    codes = {r: f"C{ids[r]:07d}" for r in ("E1", "N1")}

    def customers(rows: list[list[str]]) -> set[str]:
        column = rows[0].index("Customer no.")
        return {r[column] for r in rows[1:]}

    expected = {
        ("held", "North"): {codes["N1"]},
        ("held", "East"): set(),
        ("requests", "North"): set(),
        ("requests", "East"): {codes["E1"]},
        ("reviews", "North"): {codes["N1"]},
        ("reviews", "East"): {codes["E1"]},
    }
    lists = {
        "held": "/api/v1/credit-decisions?status=held",
        "requests": "/api/v1/limit-requests?status=pending",
        "reviews": "/api/v1/reviews/queue?horizon_days=30",
    }
    for (name, region), want in expected.items():
        answer = manager.get(_with(api[name], region=region, lang="en"))
        rows = _csv(answer)
        assert customers(rows) == want, (name, region)
        # The API's list takes the same filters: the file holds what it lists.
        listed = manager.get(_with(lists[name], region=region))
        assert listed.status_code == 200, listed.text
        assert len(listed.json()) == len(rows) - 1 == int(answer.headers["x-total-count"])
    for tier, held in (("high", 1), ("low", 0)):
        sheet = _sheet(manager.get(_with(api["held"], region="North", tier=tier, format="xlsx")))
        assert sheet.max_row - 1 == held, tier
    client = _signed_in(app, "manager")
    pages = {"held": "/worklist", "requests": "/limit-requests", "reviews": "/reviews"}
    for name, page in pages.items():
        html = client.get(page, params={"region": "North"}).text
        link = re.search(rf'href="({page}/export\?[^"]*format=csv)"', html)
        assert link is not None and "region=North" in link.group(1), name
        answer = client.get(link.group(1).replace("&amp;", "&"), headers={"Accept-Language": "en"})
        assert customers(_csv(answer)) == expected[(name, "North")], name
    logged = db.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "export", AuditEntry.actor == "manager")
        .order_by(AuditEntry.id)  # the newest last (PostgreSQL returns rows in any order)
    ).all()
    assert "filter.region=North" in logged[-1].detail["fields"]


def test_ageing_and_exposure_download_from_the_customer_list(db, app, manager) -> None:  # type: ignore[no-untyped-def]
    """The customer list offers its customers' ageing and exposure under its filters, typed
    in .xlsx and in the page's language; a drill-down is logged by its fields."""
    ids = _world(db, manager)
    client = _signed_in(app, "manager")
    html = client.get("/customers", params={"segment": "b2b_enterprise"}).text
    for name in ("ageing", "exposure"):
        for fmt in ("xlsx", "csv"):
            link = re.search(rf'id="{name}-export-{fmt}"', html)
            assert link is not None, (name, fmt)
        href = re.search(rf'href="(/{name}/export\?[^"]*format=xlsx)"', html)
        assert href is not None and "segment=b2b_enterprise" in href.group(1), name
        sheet = _sheet(
            client.get(href.group(1).replace("&amp;", "&"), headers={"Accept-Language": "en"})
        )
        assert [c.value for c in sheet["A"][1:]] == [f"C{ids['E2']:07d}"], name
        assert sheet["A1"].value == "Customer no."
    sheet = _sheet(client.get("/exposure/export", params={"format": "xlsx", "q": "E1"}))
    assert sheet.max_row == 2  # the search, as on the list
    limit = sheet.cell(row=2, column=4)  # the credit limit: a number, formatted as money
    assert limit.value == 1000 and limit.number_format == "#,##0.00"
    drill = client.get("/ageing/export", params={"ageing": "overdue", "format": "csv"})
    assert drill.status_code == 200
    logged = db.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "export", AuditEntry.actor == "manager")
        .order_by(AuditEntry.id)  # the newest last (PostgreSQL returns rows in any order)
    ).all()
    fields = logged[-1].detail["fields"]
    assert "filter.ageing=overdue" in fields and not any("SELECT" in f.upper() for f in fields)
