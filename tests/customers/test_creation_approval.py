"""Dual control holds when a customer is created: credit values beyond the creator's own
approval authority start at the safe defaults and wait for a second person, the same through
the API, a batch and a file import; master data applies at once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select, update

from riskdesk.demo.generator import generate
from riskdesk.demo.loader import DEMO_OWNERS, load_demo
from riskdesk.kit.tabular import ColumnMapping
from riskdesk.models import (
    ApprovalAuthority,
    CreditFileVersion,
    CreditProfile,
    Customer,
    CustomerExternalRef,
    PendingChange,
)
from riskdesk.pipeline import intake
from tests.conftest import principal
from tests.factories import company, uscc

HUGE = "1000000000000.00"  # 1,000,000,000,000 CNY, as in the report


def profile_of(client, cid: int) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return client.get(f"/api/v1/customers/{cid}").json()["profile"]


def waiting(client, cid: int) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    return client.get("/api/v1/pending-changes", params={"customer_id": cid}).json()


def test_analyst_creates_with_a_huge_limit_and_a_colleague_approves(  # type: ignore[no-untyped-def]
    manager, client_for
) -> None:
    analyst = client_for("analyst")
    record = company("CA-1", credit_limit=HUGE, name="巨额有限公司")
    created = analyst.post("/api/v1/customers", json=record)
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["status"] == "pending" and body["id"] is not None
    cid = body["id"]
    customer = manager.get(f"/api/v1/customers/{cid}").json()
    # Master data applies at once; the credit values are the safe defaults until approved.
    assert (customer["name"], customer["tax_id"]) == ("巨额有限公司", record["tax_id"])
    assert customer["profile"]["credit_limit"] == "0.00"
    assert customer["profile"]["payment_terms_days"] == 0
    assert customer["pending_changes"] == 1
    [change] = waiting(manager, cid)
    assert change["requested_by"]["username"] == "analyst"
    assert {(c["field"], c["old"], c["new"]) for c in change["changes"]} == {
        ("credit_limit", "0.00", HUGE),
        ("payment_terms_days", "0", "30"),
    }
    # Meanwhile a credit check sees no limit.
    decision = manager.post(
        "/api/v1/credit-checks",
        json={
            "source": "erp",
            "order_external_id": "CA-SO1",
            "customer_code": customer["code"],
            "amount": "1000.00",
            "currency": "CNY",
        },
    ).json()
    assert decision["outcome"] != "approve"
    # The analyst may not approve; a colleague with changes:approve does.
    assert (
        analyst.post(f"/api/v1/pending-changes/{change['id']}/approve", json={}).status_code == 403
    )
    approved = manager.post(f"/api/v1/pending-changes/{change['id']}/approve", json={})
    assert approved.status_code == 200, approved.text
    assert profile_of(manager, cid)["credit_limit"] == HUGE
    assert profile_of(manager, cid)["payment_terms_days"] == 30
    history = manager.get(f"/api/v1/customers/{cid}/history").json()
    assert [v["action"] for v in history] == ["approved_change", "created"]
    assert history[0]["changed_by"]["username"] == "analyst"
    assert history[0]["approved_by"]["username"] == "manager"
    # Sending the record again queues nothing new.
    again = analyst.post("/api/v1/customers", json=record)
    assert again.json()["status"] == "duplicate"
    assert waiting(manager, cid) == []


def test_the_creator_cannot_approve_their_own(manager, client_for) -> None:  # type: ignore[no-untyped-def]
    # Beyond the credit manager's own authority (5 million for an unrated customer).
    cid = manager.post("/api/v1/customers", json=company("CA-2", credit_limit=HUGE)).json()["id"]
    [change] = waiting(manager, cid)
    own = manager.post(f"/api/v1/pending-changes/{change['id']}/approve", json={})
    assert own.status_code == 403 and own.json()["error"]["code"] == "four_eyes"
    assert profile_of(manager, cid)["credit_limit"] == "0.00"
    other = client_for("manager2").post(f"/api/v1/pending-changes/{change['id']}/approve", json={})
    assert other.status_code == 200
    assert profile_of(manager, cid)["credit_limit"] == HUGE


def test_within_the_creators_authority_it_applies_at_once(manager, client_for) -> None:  # type: ignore[no-untyped-def]
    created = manager.post("/api/v1/customers", json=company("CA-3", credit_limit="5000000"))
    assert created.status_code == 201 and created.json()["status"] == "created"
    cid = created.json()["id"]
    assert (profile_of(manager, cid)["credit_limit"], waiting(manager, cid)) == ("5000000.00", [])
    # A rating override sets the scorecard aside: no authority covers it.
    rated = manager.post(
        "/api/v1/customers", json=company("CA-4", credit_limit="1000", rating_override="AA")
    ).json()
    assert rated["status"] == "pending"
    assert profile_of(manager, rated["id"])["credit_limit"] == "1000.00"
    [change] = waiting(manager, rated["id"])
    assert [c["field"] for c in change["changes"]] == ["rating_override"]
    # The same manager through a token without limit_requests:approve has no authority.
    token = client_for(
        "manager", scopes=["customers:read", "customers:write", "credit_profile:write"]
    )
    scoped = token.post("/api/v1/customers", json=company("CA-5", credit_limit="1000")).json()
    assert scoped["status"] == "pending"
    assert profile_of(manager, scoped["id"])["credit_limit"] == "0.00"
    # The analyst has no authority for an unrated customer at all: even a small limit waits.
    small = client_for("analyst").post("/api/v1/customers", json=company("CA-6", credit_limit="1"))
    assert small.json()["status"] == "pending"


def test_batch_and_file_import_behave_like_the_api(factory, db, client_for) -> None:  # type: ignore[no-untyped-def]
    analyst = client_for("analyst")
    batch = analyst.post(
        "/api/v1/customers/batch",
        json={
            "records": [
                company("CB-1", credit_limit=HUGE),
                company("CB-2", credit_limit=None, payment_terms_days=None),
            ]
        },
    )
    assert batch.status_code == 200, batch.text
    report = batch.json()
    assert [r["status"] for r in report["results"]] == ["pending", "created"]
    assert (report["created"], report["pending"]) == (1, 1)
    content = (
        "external_id,name,kind,tax_id,credit_limit,payment_terms_days\n"
        f"CF-1,文件公司有限公司,company,{uscc()},{HUGE},60\n"
    ).encode()
    result = intake.import_file(
        factory,
        lambda s: principal(s, "analyst"),
        kind="customers",
        content=content,
        filename="customers.csv",
        mapping=ColumnMapping.from_yaml("defaults:\n  source: erp\n"),
        skip_invalid=False,
    )
    assert result.job.status == "done", result.job.errors
    assert result.report is not None
    assert [r.status for r in result.report.results] == ["pending"]
    cid = result.report.results[0].id
    assert db.get(CreditProfile, cid).credit_limit == Decimal("0")
    change = db.scalars(select(PendingChange).where(PendingChange.customer_id == cid)).one()
    assert (change.status, change.channel) == ("pending", "import")


def test_the_demo_still_loads_its_limits_with_an_honest_history(db) -> None:  # type: ignore[no-untyped-def]
    # Lower the loading manager's own authority so that some demo limits must be approved.
    db.execute(
        update(ApprovalAuthority)
        .where(ApprovalAuthority.role == "credit_manager")
        .values(max_limit=Decimal("50000"))
    )
    end = dt.date(2026, 10, 31)
    load_demo(db, customers=40, months=6, seed=11, end_date=end)
    generated = generate(customers=40, months=6, seed=11, end_date=end, owners=DEMO_OWNERS)
    limits = dict(
        db.execute(
            select(CustomerExternalRef.external_id, CreditProfile.credit_limit)
            .join(CreditProfile, CreditProfile.customer_id == CustomerExternalRef.customer_id)
            .where(CustomerExternalRef.source == "demo")
        ).all()
    )
    assert {c["external_id"]: Decimal(c["credit_limit"]) for c in generated.customers} == {
        k: Decimal(v) for k, v in limits.items()
    }
    assert any(Decimal(c["credit_limit"]) > 50000 for c in generated.customers)
    still = db.scalar(
        select(func.count()).select_from(PendingChange).where(PendingChange.status == "pending")
    )
    assert still == 0
    # Those beyond the manager's authority were approved by the second demo approver.
    approvals = db.execute(
        select(CreditFileVersion.changed_by_id, CreditFileVersion.approved_by_id).where(
            CreditFileVersion.action == "approved_change"
        )
    ).all()
    big = sum(1 for c in generated.customers if Decimal(c["credit_limit"]) > 50000)
    assert len(approvals) == big
    assert all(by != approver and approver is not None for by, approver in approvals)
    assert db.scalar(select(func.count()).select_from(Customer)) >= 40
