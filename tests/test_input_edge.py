"""What enters at the edge: business dates in range, no control characters in any text, free-form
JSON bounded in depth and size; over the API, in batches, in files and in forms."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import time
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel

from riskdesk.config import Settings
from riskdesk.kit.validation import (
    BODY_MAX_DEPTH,
    JSON_MAX_DEPTH,
    InputModel,
    json_body_too_deep,
)
from tests.factories import company, invoice, order
from tests.security.test_auth import login

NUL = "\x00"


@pytest.fixture
def customer(manager) -> int:  # type: ignore[no-untyped-def]
    response = manager.post("/api/v1/customers", json=company("EDGE1"))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _detail(response: Any, field: str) -> dict[str, Any]:
    """The error detail about one field; fails when the answer names no such field."""
    assert response.status_code == 422, response.text
    details = response.json()["error"].get("details") or []
    found = [d for d in details if d["field"] == field]
    assert found, (field, response.text)
    return found[0]  # type: ignore[no-any-return]


# ---------------------------------------------------------------- business dates


def test_an_order_dated_year_one_is_refused_and_the_credit_file_still_opens(
    manager, customer
) -> None:
    response = manager.post(
        "/api/v1/orders", json=order("OLD1", "EDGE1", ordered_at="0001-01-01T00:00:00Z")
    )
    detail = _detail(response, "ordered_at")
    assert detail["code"] == "date_out_of_range"
    assert "1970-01-01" in detail["reason"]  # the range is named
    assert response.json()["error"]["field"] == "ordered_at"
    assert manager.get(f"/api/v1/customers/{customer}").status_code == 200
    assert manager.get(f"/api/v1/customers/{customer}/events").json() == []


TODAY = dt.date.today()
PAST_DATES = ("0001-01-01", "1899-12-30", "1969-12-31")  # year one, Excel's epoch, before 1970
FAR_AHEAD = (TODAY + dt.timedelta(days=366 * 11)).isoformat()  # beyond the ten years allowed

# (method, path, field, is a timestamp, may lie ahead)
DATE_FIELDS = [
    ("POST", "/api/v1/orders", "ordered_at", True, False),
    ("POST", "/api/v1/invoices", "issue_date", False, False),
    ("POST", "/api/v1/invoices", "due_date", False, True),
    ("POST", "/api/v1/payments", "paid_on", False, False),
    ("POST", "/api/v1/returns", "returned_on", False, False),
    ("POST", "/api/v1/complaints", "opened_at", True, False),
    ("POST", "/api/v1/complaints", "resolved_at", True, False),
    ("POST", "/api/v1/survey-responses", "responded_at", True, False),
    ("POST", "/api/v1/interactions", "occurred_at", True, False),
    ("POST", "/api/v1/contracts", "signed_on", False, False),
    ("POST", "/api/v1/contracts", "start_date", False, True),
    ("POST", "/api/v1/contracts", "end_date", False, True),
    ("POST", "/api/v1/statements", "period_end", False, False),
    ("POST", "/api/v1/credit-reports", "report_date", False, False),
    ("POST", "/api/v1/customers", "limit_valid_from", False, True),
    ("POST", "/api/v1/customers", "limit_valid_to", False, True),
    ("POST", "/api/v1/customers", "last_review_date", False, False),
    ("POST", "/api/v1/customers", "next_review_date", False, True),
    ("PATCH", "/api/v1/customers/{id}", "limit_valid_to", False, True),
    ("PATCH", "/api/v1/customers/{id}", "next_review_date", False, True),
    ("POST", "/api/v1/customers/{id}/consents", "given_at", True, False),
    ("POST", "/api/v1/approval-delegations", "valid_from", False, True),
    ("POST", "/api/v1/approval-delegations", "valid_to", False, True),
    ("POST", "/api/v1/scoring-runs", "as_of", False, False),
    ("POST", "/api/v1/models/train-from-history", "observation_date", False, False),
]


@pytest.mark.parametrize(("method", "path", "field", "timestamp", "ahead"), DATE_FIELDS)
def test_every_business_date_that_enters_is_kept_in_range(
    manager, customer, method: str, path: str, field: str, timestamp: bool, ahead: bool
) -> None:
    url = path.replace("{id}", str(customer))
    too_far = [*PAST_DATES, FAR_AHEAD, "9999-12-31"]
    for day in too_far:
        value = f"{day}T00:00:00+08:00" if timestamp else day
        body = {field: value}
        if field == "given_at":
            body = {"purpose": "marketing", "granted": True, "notice_version": "1", field: value}
        response = manager.request(method, url, json=body)
        detail = _detail(response, field)
        assert detail["code"] in ("date_out_of_range", "future_date"), (value, detail)
        assert "1970-01-01" in detail["reason"], detail  # names the range
    if ahead:  # due or planned: some years ahead is fine
        fine = (TODAY + dt.timedelta(days=400)).isoformat()
        response = manager.request(method, url, json={field: fine})
        details = response.json().get("error", {}).get("details") or []
        assert not [d for d in details if d["field"] == field], response.text


def test_a_batch_names_the_row_with_the_absurd_date(manager, customer) -> None:
    records = [
        order("B1", "EDGE1"),
        order("B2", "EDGE1", ordered_at="0001-01-01T00:00:00Z"),
        order("B3", "EDGE1"),
    ]
    response = manager.post("/api/v1/orders/batch", json={"records": records})
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert [(d["row"], d["field"], d["code"]) for d in details] == [
        (2, "ordered_at", "date_out_of_range")
    ]
    assert manager.get(f"/api/v1/customers/{customer}/events").json() == []


def test_a_file_import_names_the_row_with_the_absurd_date(manager, customer) -> None:
    rows = [invoice("F1", "EDGE1"), invoice("F2", "EDGE1", due_date="9999-12-31")]
    header = list(rows[0])
    content = ",".join(header) + "\n" + "\n".join(",".join(str(r[h]) for h in header) for r in rows)
    response = manager.post(
        "/api/v1/imports",
        data={"kind": "invoices"},
        files={"file": ("invoices.csv", io.BytesIO(content.encode()), "text/csv")},
    )
    assert response.status_code == 200, response.text
    job = response.json()["job"]
    assert job["status"] == "rejected"
    assert [(e["row"], e["field"], e["code"]) for e in job["errors"]] == [
        (3, "due_date", "date_out_of_range")  # file row 3: the header is row 1
    ]
    assert manager.get(f"/api/v1/customers/{customer}/events").json() == []


def test_the_date_range_is_configurable(manager, customer, monkeypatch) -> None:
    settings = Settings(
        database_url="sqlite://",
        business_date_min=dt.date(2020, 1, 1),
        business_date_max_years_ahead=1,
    )
    monkeypatch.setattr("riskdesk.config.get_settings", lambda: settings)
    old = manager.post(
        "/api/v1/orders", json=order("CFG1", "EDGE1", ordered_at="2019-06-30T00:00:00Z")
    )
    assert "2020-01-01" in _detail(old, "ordered_at")["reason"]
    ahead = (TODAY + dt.timedelta(days=800)).isoformat()
    late = manager.post("/api/v1/invoices", json=invoice("CFG2", "EDGE1", due_date=ahead))
    assert _detail(late, "due_date")["code"] == "date_out_of_range"
    fine = manager.post(
        "/api/v1/orders", json=order("CFG3", "EDGE1", ordered_at="2020-01-02T00:00:00Z")
    )
    assert fine.status_code == 201, fine.text


def test_audit_search_bounds_are_kept_in_range(client_for) -> None:
    auditor = client_for("auditor")
    response = auditor.get("/api/v1/audit-log", params={"since": "0001-01-01T00:00:00+08:00"})
    assert _detail(response, "query.since")["code"] == "date_out_of_range"


# ---------------------------------------------------------------- control characters


def _models_of_json_bodies(app) -> dict[str, type[BaseModel]]:  # type: ignore[no-untyped-def]
    found: dict[str, type[BaseModel]] = {}

    def walk(routes: Any) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                for param in route.dependant.body_params:
                    annotation = param.field_info.annotation
                    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                        found[f"{sorted(route.methods)[0]} {route.path}"] = annotation
            walk(getattr(route, "routes", []) or [])
            router = getattr(route, "router", None) or getattr(route, "original_router", None)
            if router is not None and router is not route:
                walk(getattr(router, "routes", []))

    walk(app.router.routes)
    return found


def test_every_json_body_model_refuses_control_characters(app) -> None:
    """No schema can forget: every request body model is an InputModel."""
    models = _models_of_json_bodies(app)
    assert len(models) >= 60, sorted(models)
    plain = sorted(name for name, model in models.items() if not issubclass(model, InputModel))
    assert plain == []


def _string_properties(spec: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    names = []
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf", [prop])
        if any(
            o.get("type") == "string" and not {"enum", "const", "format"} & set(o) for o in options
        ):
            names.append(name)
    return names


def test_a_nul_byte_in_any_text_field_is_refused_naming_the_field(client_for) -> None:
    """Every text field of every JSON body, on both databases: refused, the field named
    (SQLite used to store it, PostgreSQL to refuse it with an error naming nothing)."""
    manager, admin = client_for("manager"), client_for("admin")
    spec = manager.get("/api/v1/openapi.json").json()
    checked: list[str] = []
    missed: list[str] = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            url = re.sub(r"\{[^}]+\}", "1", path)
            for name in _string_properties(spec, content["application/json"]["schema"]):
                body = {name: f"a{NUL}b"}
                response = manager.request(method.upper(), url, json=body)
                if response.status_code in (403, 404):
                    response = admin.request(method.upper(), url, json=body)
                if response.status_code in (403, 404):
                    continue  # refused before the body is read: nothing reaches the database
                details = (response.json().get("error") or {}).get("details") or []
                if response.status_code == 422 and any(d["field"] == name for d in details):
                    checked.append(f"{method.upper()} {path} {name}")
                else:
                    missed.append(f"{method.upper()} {path} {name}: {response.status_code}")
    assert missed == []
    assert len(checked) >= 100, checked


def test_nul_and_control_characters_in_nested_and_multi_line_text(manager, customer) -> None:
    record = order("N1", "EDGE1")
    record["lines"][0]["category"] = f"office{NUL}"
    assert _detail(manager.post("/api/v1/orders", json=record), "lines.0.category")["code"] == (
        "control_character"
    )
    # A note may span lines (tab, newline, carriage return), but holds no other control.
    note = {"source": "erp", "external_id": "I1", "customer_external_id": "EDGE1"}
    note |= {"occurred_at": "2026-01-02T09:00:00Z", "channel": "phone", "kind": "support"}
    fine = manager.post("/api/v1/interactions", json={**note, "note": "one\r\n\ttwo"})
    assert fine.status_code == 201, fine.text
    bell = manager.post("/api/v1/interactions", json={**note, "external_id": "I2", "note": "\a"})
    assert "U+0007" in _detail(bell, "note")["reason"]
    # A name is one line.
    renamed = manager.patch(f"/api/v1/customers/{customer}", json={"name": "Two\nLines Ltd"})
    assert _detail(renamed, "name")["code"] == "control_character"


def test_a_batch_names_the_row_with_the_nul_byte(manager) -> None:
    records = [company("NB1"), company("NB2", name=f"坏{NUL}公司有限公司")]
    response = manager.post("/api/v1/customers/batch", json={"records": records})
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert [(d["row"], d["field"], d["code"]) for d in details] == [
        (2, "name", "control_character")
    ]
    assert manager.get("/api/v1/customers", params={"q": "NB1"}).json()["items"] == []


def test_a_file_import_names_the_row_with_the_nul_byte(manager) -> None:
    good, bad = company("NF1"), company("NF2", industry=f"steel{NUL}")
    header = ["source", "external_id", "kind", "name", "tax_id", "industry"]
    lines = [",".join(header)] + [",".join(str(r.get(h, "")) for h in header) for r in (good, bad)]
    response = manager.post(
        "/api/v1/imports",
        data={"kind": "customers"},
        files={"file": ("c.csv", io.BytesIO("\n".join(lines).encode()), "text/csv")},
    )
    job = response.json()["job"]
    assert job["status"] == "rejected", job
    assert [(e["row"], e["field"], e["code"]) for e in job["errors"]] == [
        (3, "industry", "control_character")
    ]


def test_query_path_and_form_values_are_checked_too(manager, customer, app, db) -> None:
    search = manager.get("/api/v1/customers", params={"q": f"C{NUL}1"})
    assert _detail(search, "query.q")["code"] == "control_character"
    path = manager.put(
        "/api/v1/playbooks/ab%00c",
        json={"name_en": "x", "name_zh": "x", "steps": [{"action": "escalate"}]},
    )
    assert _detail(path, "path.code")["code"] == "control_character"
    upload = manager.post(
        "/api/v1/imports",
        data={"kind": "customers", "mapping": f"columns:\n  name: 名称{NUL}"},
        files={"file": ("c.csv", io.BytesIO(b"a,b\n1,2\n"), "text/csv")},
    )
    assert _detail(upload, "mapping")["code"] == "control_character"
    # A browser form: the edit form of the credit file.
    browser = login(app, "manager")
    page = browser.get(f"/customers/{customer}")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    edited = browser.post(
        f"/customers/{customer}/edit",
        data={"csrf_token": csrf.group(1), "name": f"新名字{NUL}", "reason": "rename"},
        follow_redirects=False,
    )
    assert edited.status_code == 422
    # The page names the field by its label and says why, in the user's language.
    assert "法定名称" in edited.text and "控制字符" in edited.text
    assert manager.get(f"/api/v1/customers/{customer}").json()["name"] == "测试贸易有限公司EDGE1"


# ---------------------------------------------------------------- free-form JSON


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def _report(code: str, external_id: str, payload: Any) -> dict[str, Any]:
    return {
        "customer_external_id": code,
        "customer_source": "erp",
        "source": "bureau",
        "external_id": external_id,
        "report_date": "2026-01-05",
        "payload": payload,
    }


def test_a_deeply_nested_payload_is_refused_naming_the_field(manager, customer) -> None:
    ok = manager.post("/api/v1/credit-reports", json=_report("EDGE1", "R0", _nested(8)))
    assert ok.status_code == 201, ok.text
    deep = manager.post(
        "/api/v1/credit-reports", json=_report("EDGE1", "R1", _nested(JSON_MAX_DEPTH + 1))
    )
    assert _detail(deep, "payload")["code"] == "json_too_deep"
    # 256 to 999 levels used to answer 500 (or 400 from the parser); a body 100,000 deep too.
    for depth in (256, 999, 100_000):
        head = json.dumps(_report("EDGE1", f"R{depth}", None))[: -len("null}")]
        body = head + '{"a": ' * depth + "1" + "}" * depth + "}"
        response = manager.post(
            "/api/v1/credit-reports",
            content=body.encode(),
            headers={"content-type": "application/json"},
        )
        assert _detail(response, "payload")["code"] == "json_too_deep", depth
    stored = manager.get(f"/api/v1/customers/{customer}/credit-reports").json()
    assert [r["external_id"] for r in stored] == ["R0"]


def test_a_batch_names_the_row_with_the_deep_payload(manager, customer) -> None:
    records = [
        _report("EDGE1", "RB1", {"score": 1}),
        _report("EDGE1", "RB2", _nested(JSON_MAX_DEPTH + 3)),
    ]
    response = manager.post("/api/v1/credit-reports/batch", json={"records": records})
    details = response.json()["error"]["details"]
    assert [(d["row"], d["field"], d["code"]) for d in details] == [(2, "payload", "json_too_deep")]


def test_a_huge_payload_is_refused(manager, customer) -> None:
    wide = {f"k{i}": i for i in range(25_000)}
    response = manager.post("/api/v1/credit-reports", json=_report("EDGE1", "RW", wide))
    assert _detail(response, "payload")["code"] == "json_too_large"
    nul = manager.post("/api/v1/credit-reports", json=_report("EDGE1", "RN", {"a": [f"x{NUL}"]}))
    assert "a.0" in _detail(nul, "payload")["reason"]


def test_the_raw_body_guard_is_linear_and_names_where() -> None:
    assert json_body_too_deep(json.dumps({"p": _nested(BODY_MAX_DEPTH - 1)}).encode()) is None
    where = json_body_too_deep(json.dumps({"x": "[[[{", "r": [1, {"p": _nested(80)}]}).encode())
    assert where is not None and where[:4] == ["r", 1, "p", "a"]
    # Brackets inside strings do not count; hostile input costs linear time.
    assert json_body_too_deep(json.dumps({"s": "[" * 10_000}).encode()) is None
    started = time.perf_counter()
    hostile = b'"' + b'\\"' * 1_000_000 + b"[" * 100
    json_body_too_deep(hostile)
    json_body_too_deep(b'{"a":' * 500_000)
    assert time.perf_counter() - started < 5
