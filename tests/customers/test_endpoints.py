"""The credit file over the API: create, read, change with dual review, history, visibility."""

from __future__ import annotations

from tests.factories import company, person, resident_id, uscc


def create(client, record) -> int:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/customers", json=record)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_create_read_and_resend_is_duplicate(manager) -> None:
    record = company("A1", owner="sales", group_code="G1", group_name="恒远集团")
    customer_id = create(manager, record)
    again = manager.post("/api/v1/customers", json=record)
    assert again.status_code == 200
    assert again.json() == {
        "row": 1,
        "status": "duplicate",
        "id": customer_id,
        "external_id": "A1",
        "errors": [],
    }
    body = manager.get(f"/api/v1/customers/{customer_id}").json()
    assert body["code"] == f"C{customer_id:07d}"
    assert body["kind"] == "company"
    assert body["tax_id"] == record["tax_id"]
    assert body["owner"]["username"] == "sales"
    assert body["group"]["code"] == "G1"
    assert body["profile"]["credit_limit"] == "100000.00"
    assert body["profile"]["payment_terms_days"] == 30
    assert body["external_refs"] == [{"source": "erp", "external_id": "A1"}]
    assert body["version"] == 1
    history = manager.get(f"/api/v1/customers/{customer_id}/history").json()
    assert [v["action"] for v in history] == ["created"]


def test_individual_phone_is_normalised(manager) -> None:
    customer_id = create(manager, person("P1"))
    body = manager.get(f"/api/v1/customers/{customer_id}").json()
    assert body["phone"] == "+8613812345678"
    assert body["name"] == "张三"


def test_invalid_identifiers_name_the_field(manager) -> None:
    bad = company("A2", tax_id="91330100000000011X")
    response = manager.post("/api/v1/customers", json=bad)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["field"] == "tax_id"
    valid = resident_id(7)
    wrong_check = valid[:-1] + ("1" if valid[-1] != "1" else "2")
    bad_id = person("P2", national_id=wrong_check)
    response = manager.post("/api/v1/customers", json=bad_id)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "national_id"
    bad_phone = person("P3", phone="12345")
    assert manager.post("/api/v1/customers", json=bad_phone).json()["error"]["field"] == "phone"
    bad_mail = person("P4", email="not-an-email")
    assert manager.post("/api/v1/customers", json=bad_mail).json()["error"]["field"] == "email"


def test_kind_rules_and_blocked_needs_reason(manager) -> None:
    response = manager.post("/api/v1/customers", json=company("A3", national_id="x"))
    assert response.status_code == 422
    response = manager.post("/api/v1/customers", json=company("A4", blocked=True))
    assert response.status_code == 422
    assert "blocked_reason" in response.json()["error"]["message"]


def test_same_tax_id_is_refused(manager) -> None:
    tax_id = uscc()
    first = create(manager, company("A5", tax_id=tax_id))
    response = manager.post("/api/v1/customers", json=company("A6", tax_id=tax_id))
    assert response.status_code == 422
    detail = response.json()["error"]["details"][0]
    assert detail["field"] == "tax_id"
    assert detail["code"] == "duplicate_tax_id"
    assert f"C{first:07d}" in detail["reason"]


def test_unknown_owner_is_refused(manager) -> None:
    response = manager.post("/api/v1/customers", json=company("A7", owner="nobody"))
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "owner"


def test_non_critical_change_applies_and_is_versioned(manager) -> None:
    customer_id = create(manager, company("B1"))
    response = manager.patch(
        f"/api/v1/customers/{customer_id}",
        json={"region": "North", "industry": "retail", "reason": "moved office"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pending_change"] is None
    assert {c["field"] for c in body["applied"]} == {"region", "industry"}
    assert body["customer"]["region"] == "North"
    history = manager.get(f"/api/v1/customers/{customer_id}/history").json()
    latest = history[0]
    assert latest["action"] == "update"
    assert latest["reason"] == "moved office"
    assert latest["changed_by"]["username"] == "manager"
    assert {"field": "region", "old": "East", "new": "North"} in latest["changes"]


def test_critical_change_waits_for_second_person(manager, client_for) -> None:
    customer_id = create(manager, company("B2"))
    analyst = client_for("analyst")
    response = analyst.patch(
        f"/api/v1/customers/{customer_id}",
        json={"credit_limit": "250000", "region": "South", "reason": "annual review"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [c["field"] for c in body["applied"]] == ["region"]
    pending = body["pending_change"]
    assert pending["status"] == "pending"
    assert pending["changes"] == [{"field": "credit_limit", "old": "100000.00", "new": "250000.00"}]
    assert body["customer"]["profile"]["credit_limit"] == "100000.00"
    assert body["customer"]["pending_changes"] == 1
    # The same change sent again is not queued twice.
    again = analyst.patch(f"/api/v1/customers/{customer_id}", json={"credit_limit": "250000"})
    assert again.json()["pending_change"] is None
    queue = manager.get("/api/v1/pending-changes").json()
    assert [p["id"] for p in queue] == [pending["id"]]
    # Nobody approves their own change; an analyst cannot approve at all.
    own = analyst.post(f"/api/v1/pending-changes/{pending['id']}/approve", json={})
    assert own.status_code == 403
    approved = manager.post(
        f"/api/v1/pending-changes/{pending['id']}/approve", json={"comment": "ok"}
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["decided_by"]["username"] == "manager"
    customer = manager.get(f"/api/v1/customers/{customer_id}").json()
    assert customer["profile"]["credit_limit"] == "250000.00"
    assert customer["pending_changes"] == 0
    entry = manager.get(f"/api/v1/customers/{customer_id}/history").json()[0]
    assert entry["action"] == "approved_change"
    assert entry["changed_by"]["username"] == "analyst"
    assert entry["approved_by"]["username"] == "manager"
    assert entry["reason"] == "annual review"
    twice = manager.post(f"/api/v1/pending-changes/{pending['id']}/approve", json={})
    assert twice.status_code == 409


def test_approver_cannot_approve_own_change(manager, client_for) -> None:
    customer_id = create(manager, company("B3"))
    response = manager.patch(
        f"/api/v1/customers/{customer_id}",
        json={"blocked": True, "blocked_reason": "fraud suspicion"},
    )
    change_id = response.json()["pending_change"]["id"]
    own = manager.post(f"/api/v1/pending-changes/{change_id}/approve", json={})
    assert own.status_code == 403
    assert own.json()["error"]["code"] == "four_eyes"
    other = client_for("manager2").post(f"/api/v1/pending-changes/{change_id}/approve", json={})
    assert other.status_code == 200
    profile = manager.get(f"/api/v1/customers/{customer_id}").json()["profile"]
    assert profile["blocked"] is True
    assert profile["blocked_reason"] == "fraud suspicion"


def test_stale_change_cannot_be_approved(manager, client_for) -> None:
    customer_id = create(manager, company("B4"))
    analyst = client_for("analyst")
    first = analyst.patch(
        f"/api/v1/customers/{customer_id}", json={"payment_terms_days": 45}
    ).json()["pending_change"]
    second = analyst.patch(
        f"/api/v1/customers/{customer_id}", json={"payment_terms_days": 60}
    ).json()["pending_change"]
    assert (
        manager.post(f"/api/v1/pending-changes/{second['id']}/approve", json={}).status_code == 200
    )
    stale = manager.post(f"/api/v1/pending-changes/{first['id']}/approve", json={})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale_change"
    rejected = manager.post(
        f"/api/v1/pending-changes/{first['id']}/reject", json={"comment": "superseded"}
    )
    assert rejected.json()["status"] == "rejected"


def test_author_withdraws_own_change(manager, client_for) -> None:
    customer_id = create(manager, company("B5"))
    analyst = client_for("analyst")
    change = analyst.patch(
        f"/api/v1/customers/{customer_id}", json={"name": "新名称有限公司"}
    ).json()["pending_change"]
    response = analyst.post(f"/api/v1/pending-changes/{change['id']}/reject", json={})
    assert response.json()["status"] == "withdrawn"


def test_version_conflict(manager) -> None:
    customer_id = create(manager, company("B6"))
    response = manager.patch(
        f"/api/v1/customers/{customer_id}", json={"region": "West", "expected_version": 7}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "version_conflict"


def test_sales_see_only_their_teams_customers(manager, client_for) -> None:
    own = create(manager, company("S1", owner="sales"))
    team = create(manager, company("S2", owner="sales_east2"))
    other = create(manager, company("S3", owner="sales2"))
    sales = client_for("sales")
    listed = {c["id"] for c in sales.get("/api/v1/customers?size=200").json()["items"]}
    assert own in listed and team in listed and other not in listed
    assert sales.get(f"/api/v1/customers/{other}").status_code == 404
    assert sales.get(f"/api/v1/customers/{other}/history").status_code == 404
    assert sales.get("/api/v1/customers?q=S3").json()["total"] == 0
    # Sales cannot touch the credit profile.
    response = sales.patch(f"/api/v1/customers/{own}", json={"credit_limit": "1"})
    assert response.status_code == 403
    everyone = {c["id"] for c in manager.get("/api/v1/customers?size=200").json()["items"]}
    assert {own, team, other} <= everyone


def test_auditor_reads_but_cannot_write(manager, client_for) -> None:
    customer_id = create(manager, company("X1"))
    auditor = client_for("auditor")
    assert auditor.get(f"/api/v1/customers/{customer_id}").status_code == 200
    assert (
        auditor.patch(f"/api/v1/customers/{customer_id}", json={"region": "West"}).status_code
        == 403
    )
    assert auditor.post("/api/v1/customers", json=company("X2")).status_code == 403


def test_list_filters_search_and_paging(manager) -> None:
    # The hyphen keeps the references from matching a generated tax ID (they contain letters).
    ids = [
        create(manager, company(f"REF-L{i}", region="North" if i % 2 else "East")) for i in range(5)
    ]
    create(manager, person("LP1"))
    north = manager.get("/api/v1/customers?region=North").json()
    assert north["total"] == 2
    people = manager.get("/api/v1/customers?kind=individual").json()
    assert people["total"] >= 1 and all(c["kind"] == "individual" for c in people["items"])
    paged = manager.get("/api/v1/customers?size=2&page=2&kind=company").json()
    assert paged["page"] == 2 and len(paged["items"]) == 2
    by_code = manager.get(f"/api/v1/customers?q=C{ids[3]:07d}").json()
    assert [c["id"] for c in by_code["items"]] == [ids[3]]
    by_ref = manager.get("/api/v1/customers?q=REF-L4").json()
    assert [c["id"] for c in by_ref["items"]] == [ids[4]]
    by_name = manager.get("/api/v1/customers", params={"q": "贸易有限公司REF-L2"}).json()
    assert [c["id"] for c in by_name["items"]] == [ids[2]]
    bad = manager.get("/api/v1/customers?size=100000")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "query.size"


def test_contacts_are_versioned(manager) -> None:
    customer_id = create(manager, company("K1"))
    response = manager.post(
        f"/api/v1/customers/{customer_id}/contacts",
        json={"name": "李四", "title": "财务经理", "phone": "021-12345678", "is_primary": True},
    )
    assert response.status_code == 201, response.text
    contact = response.json()
    assert contact["phone"] == "+862112345678"
    listed = manager.get(f"/api/v1/customers/{customer_id}/contacts").json()
    assert [c["id"] for c in listed] == [contact["id"]]
    removed = manager.delete(
        f"/api/v1/customers/{customer_id}/contacts/{contact['id']}",
        params={"reason": "left the company"},
    )
    assert removed.status_code == 204
    actions = [v["action"] for v in manager.get(f"/api/v1/customers/{customer_id}/history").json()]
    assert actions[:2] == ["contact_removed", "contact_added"]


def test_statements_add_correct_and_resend(manager) -> None:
    customer_id = create(manager, company("F1"))
    statement = {
        "customer_code": f"C{customer_id:07d}",
        "period_end": "2025-12-31",
        "revenue": "1000000",
        "total_assets": "800000",
        "total_liabilities": "300000",
        "current_assets": "500000",
        "current_liabilities": "200000",
        "equity": "500000",
        "cash": "100000",
    }
    assert manager.post("/api/v1/statements", json=statement).status_code == 201
    assert manager.post("/api/v1/statements", json=statement).json()["status"] == "duplicate"
    corrected = manager.post("/api/v1/statements", json={**statement, "revenue": "1100000"})
    assert corrected.status_code == 200 and corrected.json()["status"] == "updated"
    rows = manager.get(f"/api/v1/customers/{customer_id}/statements").json()
    assert len(rows) == 1 and rows[0]["revenue"] == "1100000.00"
    entry = manager.get(f"/api/v1/customers/{customer_id}/history").json()[0]
    assert entry["action"] == "statement_corrected"
    assert entry["changes"] == [
        {"field": "statement.annual.2025-12-31.revenue", "old": "1000000.00", "new": "1100000.00"}
    ]
    bad = manager.post("/api/v1/statements", json={**statement, "cash": "900000"})
    assert bad.status_code == 422


def test_credit_reports(manager) -> None:
    customer_id = create(manager, company("R1"))
    report = {
        "customer_code": f"C{customer_id:07d}",
        "source": "bureau",
        "external_id": "BR-1",
        "report_date": "2026-01-05",
        "score": 712,
        "recommended_limit": "80000",
        "payload": {"grade": "B+", "lawsuits": 0},
    }
    assert manager.post("/api/v1/credit-reports", json=report).status_code == 201
    assert manager.post("/api/v1/credit-reports", json=report).json()["status"] == "duplicate"
    changed = manager.post("/api/v1/credit-reports", json={**report, "score": 600})
    assert changed.status_code == 422
    assert changed.json()["error"]["details"][0]["code"] == "idempotency_conflict"
    rows = manager.get(f"/api/v1/customers/{customer_id}/credit-reports").json()
    assert rows[0]["payload"] == {"grade": "B+", "lawsuits": 0}


def test_documents_upload_and_download(manager) -> None:
    customer_id = create(manager, company("D1"))
    response = manager.post(
        f"/api/v1/customers/{customer_id}/documents",
        files={"file": ("营业执照.pdf", b"%PDF-1.4 test", "application/pdf")},
        data={"category": "license"},
    )
    assert response.status_code == 201, response.text
    doc = response.json()
    assert doc["size_bytes"] == 13 and doc["filename"] == "营业执照.pdf"
    content = manager.get(f"/api/v1/customers/{customer_id}/documents/{doc['id']}/content")
    assert content.status_code == 200 and content.content == b"%PDF-1.4 test"
    bad = manager.post(
        f"/api/v1/customers/{customer_id}/documents",
        files={"file": ("run.exe", b"MZ", "application/octet-stream")},
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "file"


def test_duplicates_and_merge(manager, client_for) -> None:
    a = create(manager, company("M1", name="杭州恒远贸易有限公司"))
    b = create(manager, company("M2", name="杭州恒远贸易有限公司 "))
    c = create(manager, company("M3", name="完全不同的公司"))
    pairs = manager.get("/api/v1/duplicates").json()
    found = {(p["first"]["id"], p["second"]["id"]) for p in pairs}
    assert (a, b) in found
    assert not any(c in pair for pair in found)
    manager.post(
        "/api/v1/orders",
        json={
            "source": "erp",
            "external_id": "MO1",
            "customer_external_id": "M2",
            "ordered_at": "2026-01-10T08:00:00Z",
            "amount": "10.00",
            "currency": "CNY",
            "lines": [{"category": "x", "amount": "10.00"}],
        },
    )
    merged = manager.post(
        f"/api/v1/customers/{a}/merge", json={"duplicate_id": b, "reason": "same company"}
    )
    assert merged.status_code == 200, merged.text
    refs = {r["external_id"] for r in merged.json()["external_refs"]}
    assert refs == {"M1", "M2"}
    dup = manager.get(f"/api/v1/customers/{b}").json()
    assert dup["status"] == "merged" and dup["merged_into"] == f"C{a:07d}"
    events = manager.get(f"/api/v1/customers/{a}/events").json()
    assert [e["external_id"] for e in events] == ["MO1"]
    # Events for the old reference now land on the survivor.
    response = manager.post(
        "/api/v1/orders",
        json={
            "source": "erp",
            "external_id": "MO2",
            "customer_code": f"C{b:07d}",
            "ordered_at": "2026-01-11T08:00:00Z",
            "amount": "5.00",
            "currency": "CNY",
            "lines": [{"category": "x", "amount": "5.00"}],
        },
    )
    assert response.status_code == 201
    assert len(manager.get(f"/api/v1/customers/{a}/events").json()) == 2
    assert client_for("sales").get("/api/v1/duplicates").status_code == 403
    again = manager.post(
        f"/api/v1/customers/{a}/merge", json={"duplicate_id": b, "reason": "again"}
    )
    assert again.status_code == 409


def test_upsert_by_external_id_updates_and_queues(manager) -> None:
    record = company("U1")
    customer_id = create(manager, record)
    changed = {**record, "region": "West", "credit_limit": "5"}
    response = manager.post("/api/v1/customers", json=changed)
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    body = manager.get(f"/api/v1/customers/{customer_id}").json()
    assert body["region"] == "West"
    assert body["profile"]["credit_limit"] == "100000.00"
    assert body["pending_changes"] == 1


def test_similar_names_with_different_tax_ids_are_distinct(manager) -> None:
    a = create(manager, company("N1", name="上海明达科技实业有限公司"))
    b = create(manager, company("N2", name="上海明达科技实业一有限公司"))
    record = company("N3", name="上海明达科技实业一有限公司")
    del record["tax_id"]
    c = create(manager, record)
    found = {
        (p["first"]["id"], p["second"]["id"]): p["reason"]
        for p in manager.get("/api/v1/duplicates").json()
    }
    assert (a, b) not in found  # two different valid tax IDs: two legal entities
    assert found.get((a, c)) == "similar_name"  # no tax ID to tell them apart
